// Presence that comes in batches: three people ana has DMs with are online before she signs
// in, so her session's presence arrives as one `presence.batch`; then they all step away at
// once and leave, and her room list follows each change.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import { ApiClient } from './helpers/api.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let ana;
let others;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  ana = await newPage(browser, server);
  others = await newPage(browser, server);
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

/** The dots of the DMs named `names` in ana's room list, as status classes. */
async function dots(names) {
  const out = [];
  for (const name of names) {
    const cls = await ui.roomLink(ana, name).locator('.presence-dot').getAttribute('class');
    out.push(cls.match(/status-(\w+)/)?.[1]);
  }
  return out;
}

test('presence of many people at once reaches the room list', async (t) => {
  const names = ['Bo Chen', 'Cy Park', 'Dee Okafor'];
  const friends = [];
  await t.test('three people open DMs with ana and come online', async () => {
    const me = await ApiClient.register(server.url, 'ana', 'Ana Lima');
    for (const [i, name] of names.entries()) {
      const c = await ApiClient.register(server.url, `friend${i}`, name);
      await c.call('POST', '/dms', { user_id: me.user.id });
      friends.push(c);
    }
    // Their sessions: plain WebSockets from another page, one per person, authenticated.
    await others.goto('/');
    const wsUrl = server.url.replace(/^http/, 'ws') + '/api/v1/ws';
    await others.evaluate(async ({ wsUrl, tokens }) => {
      window.friendSockets = await Promise.all(tokens.map((token) => new Promise((resolve, reject) => {
        const ws = new WebSocket(wsUrl);
        ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', id: 'a', token }));
        ws.onmessage = (e) => { if (JSON.parse(e.data).type === 'ack') resolve(ws); };
        ws.onerror = () => reject(new Error('socket failed'));
      })));
    }, { wsUrl, tokens: friends.map((f) => f.token) });
  });

  await t.test('ana signs in: one presence.batch tells her all three are online', async () => {
    const batches = [];
    ana.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => {
      const f = JSON.parse(payload);
      if (f.type === 'presence.batch') batches.push(f.presences.map((p) => p.user_id).sort());
    }));
    await ui.signIn(ana, 'ana');
    for (const name of names) await ui.roomLink(ana, name).waitFor();
    await ui.eventually(async () => assert.deepEqual(await dots(names), ['online', 'online', 'online']));
    assert.deepEqual(batches[0], friends.map((f) => f.user.id).sort());
  });

  await t.test('all three step away at once, then leave; her list follows', async () => {
    await others.evaluate(() => {
      for (const ws of window.friendSockets) ws.send(JSON.stringify({ type: 'presence.set', status: 'away' }));
    });
    await ui.eventually(async () => assert.deepEqual(await dots(names), ['away', 'away', 'away']));
    await others.evaluate(() => { for (const ws of window.friendSockets) ws.close(); });
    await ui.eventually(async () => assert.deepEqual(await dots(names), ['offline', 'offline', 'offline']));
    assertClean(ana);
  });
});
