// Presence in a large room is by subscription: with a limit of two members, a room of three is
// large, so ana's session hears nothing of her fellow members' presence until she opens the
// room's member list, which subscribes to the people it shows (again after a reconnection) and
// ends the subscription when it closes.

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
  server = await startServer({ env: { CONFAB_PRESENCE_ROOM_LIMIT: '2' } });
  browser = await launchBrowser();
  ana = await newPage(browser, server);
  others = await newPage(browser, server);
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

/** Frames of ana's page's sockets, both ways, as parsed JSON. */
function record(page) {
  const frames = { sent: [], received: [] };
  page.on('websocket', (ws) => {
    ws.on('framesent', ({ payload }) => frames.sent.push(JSON.parse(payload)));
    ws.on('framereceived', ({ payload }) => frames.received.push(JSON.parse(payload)));
  });
  return frames;
}

/** Every user id a presence frame in `frames` speaks of. */
function presenceOf(frames) {
  return frames.flatMap((f) => (f.type === 'presence' ? [f.user_id] : f.type === 'presence.batch' ? f.presences.map((p) => p.user_id) : []));
}

/** The status a member's row in the open member list shows. */
async function shown(name) {
  const row = ana.getByRole('dialog', { name: 'Members' }).locator('.person').filter({ hasText: name });
  const cls = await row.locator('.presence-dot').getAttribute('class');
  return cls.match(/status-(\w+)/)?.[1];
}

test('the member list of a large room subscribes to the presence it shows', async (t) => {
  let bo;
  let cy;
  const frames = record(ana);
  await t.test('bo and cy, members of ana\'s town of three, are online before she signs in', async () => {
    const me = await ApiClient.register(server.url, 'ana', 'Ana Lima');
    bo = await ApiClient.register(server.url, 'bob', 'Bo Chen');
    cy = await ApiClient.register(server.url, 'cyd', 'Cy Park');
    const town = await me.createRoom('town');
    await me.addMember(town.id, bo.user.id);
    await me.addMember(town.id, cy.user.id);
    await others.goto('/');
    const wsUrl = server.url.replace(/^http/, 'ws') + '/api/v1/ws';
    await others.evaluate(async ({ wsUrl, tokens }) => {
      window.sockets = await Promise.all(tokens.map((token) => new Promise((resolve, reject) => {
        const ws = new WebSocket(wsUrl);
        ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', id: 'a', token }));
        ws.onmessage = (e) => { if (JSON.parse(e.data).type === 'ack') resolve(ws); };
        ws.onerror = () => reject(new Error('socket failed'));
      })));
    }, { wsUrl, tokens: [bo.token, cy.token] });
  });

  await t.test('ana opens the town: no presence of its members comes unasked', async () => {
    await ui.signIn(ana, 'ana');
    await ui.openRoom(ana, 'town');
    await ui.online(ana);
    await ana.waitForTimeout(500);
    assert.deepEqual(presenceOf(frames.received).filter((id) => id === bo.user.id || id === cy.user.id), []);
  });

  await t.test('her member list subscribes to bo and cy and shows them online', async () => {
    await ana.getByRole('button', { name: 'Members' }).click();
    await ui.eventually(async () => assert.deepEqual([await shown('Bo Chen'), await shown('Cy Park')], ['online', 'online']));
    const subscribe = frames.sent.filter((f) => f.type === 'presence.subscribe').at(-1);
    assert.deepEqual([...subscribe.user_ids].sort(), [bo.user.id, cy.user.id].sort());
  });

  await t.test('bo steps away: the open list follows', async () => {
    await others.evaluate(() => window.sockets[0].send(JSON.stringify({ type: 'presence.set', status: 'away' })));
    await ui.eventually(async () => assert.equal(await shown('Bo Chen'), 'away'));
  });

  await t.test('after a reconnection the list subscribes again and still follows', async () => {
    const before = frames.sent.filter((f) => f.type === 'presence.subscribe').length;
    await ana.context().setOffline(true);
    await ana.locator('.conn-banner[data-state="offline"]').waitFor({ timeout: 3000 });
    await ana.context().setOffline(false);
    await ui.online(ana);
    await ui.eventually(() => assert.ok(frames.sent.filter((f) => f.type === 'presence.subscribe').length > before));
    await others.evaluate(() => window.sockets[1].send(JSON.stringify({ type: 'presence.set', status: 'dnd' })));
    await ui.eventually(async () => assert.equal(await shown('Cy Park'), 'dnd'));
  });

  await t.test('closing the list ends the subscription', async () => {
    await ana.getByRole('dialog', { name: 'Members' }).getByRole('button', { name: 'Close' }).click();
    await ui.eventually(() => assert.deepEqual(frames.sent.filter((f) => f.type === 'presence.subscribe').at(-1).user_ids, []));
    const heard = frames.received.length;
    await others.evaluate(() => window.sockets[0].send(JSON.stringify({ type: 'presence.set', status: 'online' })));
    await ana.waitForTimeout(700);
    assert.deepEqual(presenceOf(frames.received.slice(heard)), []);
    assertClean(ana);
  });
});
