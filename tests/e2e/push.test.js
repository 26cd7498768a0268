// Web Push in the browser: the settings switch registers the service worker at /sw.js with the
// notification permission granted, and the worker turns a push from the server into a
// notification naming the room and the sender.
//
// Headless Chromium has no reachable push service, so `PushManager.subscribe` cannot succeed
// here. The server side is still real: the test plays the browser's push service (a local HTTP
// server), subscribes with its own P-256 keys, lets the real server push a DM, decrypts what it
// received (RFC 8291, as the browser would), and delivers those bytes to the page's service
// worker as a push event through Chromium's DevTools protocol.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import { startServer } from './helpers/server.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import { ApiClient } from './helpers/api.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let pushService;
const pushed = [];
let waiting = null;

before(async () => {
  server = await startServer({ env: { CONFAB_PUSH_ALLOW_INSECURE_ENDPOINTS: 'true' } });
  browser = await launchBrowser();
  pushService = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      pushed.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      waiting?.();
      res.writeHead(201).end();
    });
  });
  await new Promise((r) => pushService.listen(0, '127.0.0.1', r));
});

after(async () => {
  await browser?.close();
  await server?.dispose();
  pushService?.close();
});

/** The next push the test push service receives. */
async function nextPush(timeout = 10_000) {
  const deadline = Date.now() + timeout;
  while (!pushed.length) {
    if (Date.now() > deadline) throw new Error('no push arrived');
    await new Promise((r) => {
      waiting = r;
      setTimeout(r, 100);
    });
  }
  return pushed.shift();
}

/** RFC 8291 `aes128gcm`, decrypted with the subscription's key pair and auth secret. */
function decrypt(body, ecdh, auth) {
  const salt = body.subarray(0, 16);
  const idlen = body[20];
  const senderKey = body.subarray(21, 21 + idlen);
  const sealed = body.subarray(21 + idlen);
  const shared = ecdh.computeSecret(senderKey);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ecdh.getPublicKey(), senderKey]);
  const ikm = Buffer.from(crypto.hkdfSync('sha256', shared, auth, keyInfo, 32));
  const cek = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  const padded = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end > 0 && padded[end] === 0) end -= 1;
  assert.equal(padded[end], 2, 'the last record ends with the 0x02 delimiter');
  return padded.subarray(0, end);
}

test('the settings switch registers /sw.js, and a push the server sent shows as a notification with room and sender', async () => {
  const context = await browser.newContext({ baseURL: server.url });
  await context.grantPermissions(['notifications'], { origin: server.url });
  const nina = await newPage(browser, server, { context });
  await ui.signUp(nina, 'nina', 'Nina');
  await nina.getByRole('button', { name: 'Settings' }).click();
  const settings = nina.getByRole('dialog', { name: 'Settings' });
  const toggle = settings.getByRole('switch', { name: /Notify me of DMs, mentions and calls/ });
  const withText = settings.getByRole('switch', { name: 'Include message text in these notifications' });
  await toggle.waitFor();
  await ui.eventually(async () => assert.equal(await toggle.isDisabled(), false));
  assert.equal(await toggle.isChecked(), false);
  assert.equal(await withText.isChecked(), false, 'text is off by default');

  await toggle.check().catch(() => {});
  // The worker is registered at the root, whatever the push service then says.
  const registration = await ui.eventually(async () => {
    const r = await nina.evaluate(async () => {
      const reg = await navigator.serviceWorker.getRegistration('/');
      return reg?.active ? { script: reg.active.scriptURL, scope: reg.scope } : null;
    });
    assert.ok(r, 'an active service worker');
    return r;
  });
  assert.equal(registration.script, `${server.url}/sw.js`);
  assert.equal(registration.scope, `${server.url}/`);
  assert.equal(await nina.evaluate(() => Notification.permission), 'granted');
  // Offline, headless Chromium's PushManager cannot reach its push service: the switch says so
  // and stays off. (Were it to succeed, the server would list the subscription.)
  const outcome = await ui.eventually(async () => {
    const error = (await settings.getByRole('alert').filter({ hasText: /push service/ }).count()) > 0;
    const on = await toggle.isChecked() && !(await toggle.isDisabled());
    assert.ok(error || on, 'the switch settled');
    return error ? 'refused' : 'subscribed';
  }, { timeout: 20_000 });
  console.log(`PushManager.subscribe in headless Chromium: ${outcome}`);
  const me = await ApiClient.login(server.url, 'nina');
  const listed = await me.call('GET', '/push');
  if (outcome === 'subscribed') assert.equal(listed.subscriptions.length, 1);
  else {
    assert.equal(await toggle.isChecked(), false);
    assert.deepEqual(listed.subscriptions, []);
  }

  // The test's own subscription for Nina, then Nina closes her tab: offline, a DM pushes.
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  await me.call('POST', '/push/subscriptions', {
    endpoint: `http://127.0.0.1:${pushService.address().port}/push/nina`,
    keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') },
  });
  await nina.close();
  const bob = await ApiClient.register(server.url, 'bob', 'Bob');
  const dm = await bob.call('POST', '/dms', { user_id: me.user.id });
  const sent = await ui.eventually(async () => {
    const m = await bob.send(dm.id, 'are you there?');
    const got = await nextPush(2_000);
    return { m, got };
  }, { timeout: 20_000 });
  assert.equal(sent.got.headers['content-encoding'], 'aes128gcm');
  const payload = decrypt(sent.got.body, ecdh, auth);
  const note = JSON.parse(payload.toString('utf8'));
  assert.deepEqual(note, {
    type: 'message', room_id: dm.id, room_kind: 'dm', room_name: 'Bob', sender: 'Bob', seq: sent.m.seq,
  });

  // Those bytes, as a push event to the worker; the notification it shows.
  const page = await context.newPage();
  await page.goto('/sw.js');
  const cdp = await context.newCDPSession(page);
  const registrationId = await new Promise((resolve) => {
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
      const r = registrations.find((x) => x.scopeURL === `${server.url}/` && !x.isDeleted);
      if (r) resolve(r.registrationId);
    });
    cdp.send('ServiceWorker.enable');
  });
  await cdp.send('ServiceWorker.deliverPushMessage', {
    origin: server.url, registrationId, data: payload.toString('utf8'),
  });
  const shown = await ui.eventually(async () => {
    const list = await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.getRegistration('/');
      return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, url: n.data?.url }));
    });
    assert.equal(list.length, 1);
    return list[0];
  });
  assert.deepEqual(shown, {
    title: 'Bob', body: 'New message', tag: dm.id, url: `/#/room/${dm.id}/${sent.m.seq}`,
  });
  assertClean(page);
  await context.close();
});

test('with message text allowed, the push carries it and the notification shows it', async () => {
  const context = await browser.newContext({ baseURL: server.url });
  await context.grantPermissions(['notifications'], { origin: server.url });
  const page = await newPage(browser, server, { context });
  await ui.signUp(page, 'olga', 'Olga');
  await page.getByRole('button', { name: 'Settings' }).click();
  const settings = page.getByRole('dialog', { name: 'Settings' });
  const withText = settings.getByRole('switch', { name: 'Include message text in these notifications' });
  await ui.eventually(async () => assert.equal(await withText.isDisabled(), false));
  await withText.check();
  await settings.getByText('Notifications include the message text').waitFor();
  const olga = await ApiClient.login(server.url, 'olga');
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  await olga.call('POST', '/push/subscriptions', {
    endpoint: `http://127.0.0.1:${pushService.address().port}/push/olga`,
    keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') },
  });
  assert.equal((await olga.call('GET', '/push')).include_text, true, 'saved on the account');
  // The worker as the notifications switch registers it.
  await page.evaluate(() => navigator.serviceWorker.register('/sw.js', { scope: '/' }));
  await page.close();

  const room = await olga.createRoom('plans');
  const pia = await ApiClient.register(server.url, 'pia', 'Pia');
  await olga.addMember(room.id, pia.user.id);
  pushed.length = 0;
  const m = await pia.send(room.id, '@olga the plan is on');
  const got = await nextPush();
  const payload = decrypt(got.body, ecdh, auth);
  const note = JSON.parse(payload.toString('utf8'));
  assert.equal(note.body, '@olga the plan is on');
  assert.equal(note.seq, m.seq);

  const worker = await context.newPage();
  await worker.goto('/sw.js');
  const cdp = await context.newCDPSession(worker);
  const registrationId = await new Promise((resolve) => {
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
      const r = registrations.find((x) => x.scopeURL === `${server.url}/` && !x.isDeleted);
      if (r) resolve(r.registrationId);
    });
    cdp.send('ServiceWorker.enable');
  });
  await ui.eventually(async () => {
    const active = await worker.evaluate(async () => Boolean((await navigator.serviceWorker.getRegistration('/'))?.active));
    assert.ok(active);
  });
  await cdp.send('ServiceWorker.deliverPushMessage', { origin: server.url, registrationId, data: payload.toString('utf8') });
  const shown = await ui.eventually(async () => {
    const list = await worker.evaluate(async () => {
      const reg = await navigator.serviceWorker.getRegistration('/');
      return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body }));
    });
    assert.equal(list.length, 1);
    return list[0];
  });
  assert.deepEqual(shown, { title: 'Pia in #plans', body: '@olga the plan is on' });
  await context.close();
});
