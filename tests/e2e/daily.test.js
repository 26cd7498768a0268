// What a new user hit in the first days, each fixed and held here: who is offered Delete, pictures
// that push the newest messages below the fold, quotes that go stale, going offline unnoticed,
// long pastes cut silently, two toolbars at once, and the "new messages" line of a room with a
// thousand unread.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import { pngImage } from './helpers/media.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let anaApi;
let boApi;
let plaza;
let ana;
let bo;

before(async () => {
  // The fixtures post a thousand messages over HTTP: past the per-user send rate.
  server = await startServer({ env: { CONFAB_SEND_BURST: '2000', CONFAB_SEND_RATE: '2000' } });
  browser = await launchBrowser();
  anaApi = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  boApi = await ApiClient.register(server.url, 'bob', 'Bo Chen');
  plaza = await anaApi.createRoom('plaza', 'Ana’s room');
  await anaApi.addMember(plaza.id, boApi.user.id);
  [ana, bo] = await Promise.all(['ana', 'bob'].map(async (username) => {
    const page = await newPage(browser, server);
    await ui.signIn(page, username);
    await ui.online(page);
    return page;
  }));
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

/** The action buttons a message offers when hovered. */
async function offered(page, text) {
  const m = ui.messages(page, text).first();
  await m.hover();
  await m.locator('.msg-actions').waitFor();
  return m.locator('.msg-actions button').evaluateAll((bs) => bs.map((b) => b.getAttribute('aria-label')));
}

test('a plain member is offered Delete on their own messages only; the owner on everyone’s', async () => {
  await anaApi.send(plaza.id, 'ana says hi');
  await boApi.send(plaza.id, 'bo says hi');
  await ui.openRoom(bo, 'plaza');
  await ui.expectDelivered(bo, 'bo says hi');
  // Everyone may react (issue 14); only the owner may pin.
  assert.deepEqual(await offered(bo, 'ana says hi'), ['Add reaction', 'Reply', 'Reply in thread', 'Forward']);
  assert.deepEqual(await offered(bo, 'bo says hi'), ['Add reaction', 'Reply', 'Reply in thread', 'Forward', 'Edit', 'Delete']);
  await ui.openRoom(ana, 'plaza');
  assert.deepEqual(await offered(ana, 'bo says hi'), ['Add reaction', 'Reply', 'Reply in thread', 'Forward', 'Pin', 'Delete']);
  assertClean(ana, bo);
});

test('a reply’s quote follows its original when it is edited and when it is deleted', async () => {
  const original = await anaApi.send(plaza.id, 'we meet at noon');
  await boApi.send(plaza.id, 'see you there', { reply_to: original.id });
  await ui.openRoom(bo, 'plaza');
  const reply = await ui.expectDelivered(bo, 'see you there');
  await reply.locator('.msg-quote', { hasText: 'we meet at noon' }).waitFor();
  await anaApi.call('PATCH', `/messages/${original.id}`, { body: 'we meet at one' });
  await reply.locator('.msg-quote', { hasText: 'we meet at one' }).waitFor();
  await anaApi.call('DELETE', `/messages/${original.id}`);
  await reply.locator('.msg-quote', { hasText: 'Deleted message' }).waitFor();
  assertClean(bo);
});

test('only one message shows its toolbar: the one under the pointer wins over a focused one', async () => {
  await ui.openRoom(bo, 'plaza');
  const target = await anaApi.send(plaza.id, 'look at this');
  await boApi.send(plaza.id, 'pointing back', { reply_to: target.id });
  const reply = await ui.expectDelivered(bo, 'pointing back');
  // Jumping to the quoted message focuses it, and so shows its toolbar.
  await reply.locator('.msg-quote').click();
  const original = ui.messages(bo, 'look at this');
  await ui.eventually(async () => assert.ok(await original.evaluate((el) => el === document.activeElement)));
  const shown = () => bo.locator('.msg-actions:visible').count();
  assert.equal(await shown(), 1);
  // The pointer moves on to another message: its toolbar replaces the focused one's.
  await ui.messages(bo, 'bo says hi').hover();
  await ui.messages(bo, 'bo says hi').locator('.msg-actions').waitFor();
  assert.equal(await shown(), 1, 'one toolbar at a time');
  assertClean(bo);
});

test('the composer counts characters near the limit and refuses to send past it', async () => {
  await ui.openRoom(bo, 'plaza');
  const box = ui.composer(bo);
  await box.focus();
  // A paste of 4,500 characters is kept whole, and the counter says what is wrong.
  await bo.keyboard.insertText('x'.repeat(4500));
  assert.equal(await box.evaluate((el) => el.value.length), 4500, 'nothing was cut silently');
  const counter = bo.locator('.composer-count');
  await counter.getByText('4,500 / 4,000: 500 characters too long to send.').waitFor();
  assert.equal(await box.getAttribute('aria-describedby'), 'composer-count', 'screen readers hear it too');
  assert.equal(await box.getAttribute('aria-invalid'), 'true');
  await box.press('Enter');
  await counter.and(bo.getByRole('alert')).waitFor();
  assert.equal(await bo.locator('.messages li.msg.pending').count(), 0, 'nothing was sent');
  assert.equal(await box.evaluate((el) => el.value.length), 4500, 'the text is still there to shorten');
  // Shortened within the limit, it shows how close it is, and sends.
  const text = `fits ${'y'.repeat(3695)}`;
  await box.fill(text);
  await counter.getByText('3,700 / 4,000', { exact: true }).waitFor();
  await box.press('Enter');
  await ui.expectDelivered(bo, text);
  await counter.waitFor({ state: 'hidden' });
  assert.equal(await box.getAttribute('aria-describedby'), null);
  assertClean(bo);
});

test('pictures keep their place while they load, and the newest message stays in view', async () => {
  const room = await anaApi.createRoom('gallery');
  await anaApi.addMember(room.id, boApi.user.id);
  for (let i = 1; i <= 12; i++) await anaApi.send(room.id, `caption ${i}`);
  for (const [w, h] of [[640, 400], [300, 600], [800, 200]]) {
    const file = await anaApi.upload(`${w}x${h}.png`, 'image/png', pngImage(w, h));
    await anaApi.send(room.id, '', { attachments: [file.id] });
  }
  const newest = await anaApi.send(room.id, 'the newest line');
  // Read elsewhere already: the room opens at its bottom (not at a "New messages" line).
  await boApi.call('POST', `/rooms/${room.id}/read`, { seq: newest.seq });
  // Thumbnails are held back until the room has opened, as on a slow connection.
  let release;
  const held = new Promise((r) => { release = r; });
  await bo.route('**/thumbnail', async (route) => {
    await held;
    await route.continue();
  });
  await ui.openRoom(bo, 'gallery');
  await ui.expectDelivered(bo, 'the newest line');
  const scroller = bo.locator('.timeline');
  const gap = () => scroller.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
  const thumbs = bo.locator('.attachment-thumb');
  await ui.eventually(async () => assert.equal(await thumbs.count(), 3));
  // Each picture's box is there before its bytes, at its own shape.
  const boxes = await thumbs.evaluateAll((imgs) => imgs.map((i) => [i.getBoundingClientRect().width, i.getBoundingClientRect().height]));
  assert.deepEqual(boxes.map(([w, h]) => Math.round((w / h) * 10) / 10), [1.6, 0.5, 4], `boxes ${JSON.stringify(boxes)}`);
  await ui.eventually(async () => assert.ok(await gap() < 2, 'at the bottom'));
  release();
  await ui.eventually(async () => assert.ok(await thumbs.evaluateAll((imgs) => imgs.every((i) => i.complete && i.naturalWidth > 0))));
  await ui.eventually(async () => assert.ok(await gap() < 2, `still at the bottom once the pictures are in (${await gap()} px below)`));
  assert.ok(await ui.messages(bo, 'the newest line').isVisible());
  await bo.unroute('**/thumbnail');
  assertClean(bo);
});

test('a room with a thousand unread opens at the first unread, and "jump to latest" counts them', async () => {
  const room = await anaApi.createRoom('backlog');
  await anaApi.addMember(room.id, boApi.user.id);
  let twentieth;
  for (let i = 1; i <= 1000; i++) {
    const m = await anaApi.send(room.id, `backlog ${i}`);
    if (i === 20) twentieth = m;
  }
  await boApi.call('POST', `/rooms/${room.id}/read`, { seq: twentieth.seq });
  await bo.reload();
  await ui.online(bo);
  await ui.openRoom(bo, 'backlog');
  const line = bo.locator('.messages .new-sep');
  await line.waitFor();
  const neighbours = await line.evaluate((el) => [el.previousElementSibling, el.nextElementSibling].map((li) => li?.querySelector('.msg-body')?.textContent));
  assert.deepEqual(neighbours, ['backlog 20', 'backlog 21'], 'the line sits at the read position');
  await ui.eventually(async () => {
    const [line_, view] = [await line.boundingBox(), await bo.locator('.timeline').boundingBox()];
    assert.ok(line_.y >= view.y && line_.y < view.y + view.height, `the line is in view (${line_.y} in ${view.y}–${view.y + view.height})`);
  });
  const latest = bo.getByRole('button', { name: /^Jump to latest · [\d,]+ new$/ });
  await latest.waitFor();
  const count = Number((await latest.textContent()).match(/([\d,]+) new/)[1].replace(/,/g, ''));
  assert.ok(count > 900 && count <= 980, `${count} new`);
  await latest.click();
  await ui.eventually(async () => assert.ok(await ui.messages(bo, 'backlog 1000').isVisible()));
  assertClean(bo);
});

test('going offline shows at once, and coming back reconnects', async () => {
  await ui.openRoom(bo, 'plaza');
  await bo.context().setOffline(true);
  await bo.locator('.conn-banner[data-state="offline"]').waitFor({ timeout: 3000 });
  await anaApi.send(plaza.id, 'sent while bo was away');
  await bo.context().setOffline(false);
  await ui.online(bo);
  await ui.expectDelivered(bo, 'sent while bo was away');
  assertClean(bo);
});

test('a socket that falls silent is given up on after 35 s and the client reconnects', async () => {
  const context = await browser.newContext({ baseURL: server.url, viewport: { width: 1280, height: 800 } });
  await context.clock.install();
  // A socket that can be made deaf and mute, as a half-open connection is.
  await context.addInitScript(() => {
    window.__silent = false;
    const WS = window.WebSocket;
    window.WebSocket = class extends WS {
      set onmessage(fn) {
        super.onmessage = (e) => { if (!window.__silent) fn(e); };
      }

      send(data) {
        if (!window.__silent) super.send(data);
      }
    };
  });
  const cy = await newPage(browser, server, { context });
  await ui.signIn(cy, 'bob');
  await ui.online(cy);
  await cy.evaluate(() => { window.__silent = true; });
  await cy.clock.fastForward(20_000);
  assert.equal(await cy.locator('.conn-banner').getAttribute('data-state'), 'online', 'a quiet socket is not yet dead');
  await cy.clock.fastForward(16_000);
  await cy.locator('.conn-banner[data-state="offline"]').waitFor({ timeout: 3000 });
  await cy.evaluate(() => { window.__silent = false; });
  await ui.online(cy);
  assertClean(cy);
  await context.close();
});
