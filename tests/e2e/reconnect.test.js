// The server stops and comes back (same address, same data) in the middle of a conversation:
// both clients show the connection banner, reconnect on their own, resume without losing or
// doubling anything, and messages sent while the server was down are delivered exactly once.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let ana;
let bo;
let room;
let anaApi;
let boId;
// Ana's socket runs through the test, which can refuse it or filter its frames.
let socketBlocked = false;
let socketFilter = null;

async function routeSocket(page) {
  await page.routeWebSocket(/\/api\/v1\/ws$/, (ws) => {
    if (socketBlocked) {
      ws.close({ code: 1011, reason: 'test: no socket' });
      return;
    }
    const upstream = ws.connectToServer();
    ws.onMessage((m) => {
      socketFilter?.fromClient(JSON.parse(m));
      upstream.send(m);
    });
    upstream.onMessage((m) => {
      if (!socketFilter || socketFilter.fromServer(JSON.parse(m), ws)) ws.send(m);
    });
    upstream.onClose((code, reason) => ws.close({ code, reason }));
  });
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  anaApi = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  const boApi = await ApiClient.register(server.url, 'bob', 'Bo Chen');
  boId = boApi.user.id;
  room = await anaApi.createRoom('ops', 'Keeping the lights on');
  await anaApi.addMember(room.id, boApi.user.id);
  for (let i = 1; i <= 3; i++) await anaApi.send(room.id, `before ${i}`);
  ana = await newPage(browser, server);
  bo = await newPage(browser, server);
  await routeSocket(ana);
  await ui.signIn(ana, 'ana');
  await ui.signIn(bo, 'bob');
  await ui.openRoom(ana, 'ops');
  await ui.openRoom(bo, 'ops');
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

function banner(page) {
  return page.locator('.conn-banner');
}

test('a server restart mid-conversation loses and doubles nothing', async (t) => {
  await t.test('they talk before the restart', async () => {
    await ui.send(ana, 'are you there?');
    await ui.expectDelivered(bo, 'are you there?');
    await ui.send(bo, 'yes');
    await ui.expectDelivered(ana, 'yes');
  });

  await t.test('the server stops: both see the banner, sends wait as pending', async () => {
    await server.stop();
    await banner(ana).filter({ hasText: 'Connection lost' }).waitFor();
    await banner(bo).filter({ hasText: 'Connection lost' }).waitFor();
    await ui.send(ana, 'sent while down 1');
    await ui.send(ana, 'sent while down 2');
    await ui.send(bo, 'bo while down');
    const pending = ana.locator('.messages li.msg.pending');
    await ui.eventually(async () => assert.equal(await pending.count(), 2));
    await pending.first().getByText('Sending…').waitFor();
  });

  await t.test('the server comes back: clients reconnect and deliver pending sends once', async () => {
    await server.start();
    // Someone posts right away; the clients pick it up by resume or live.
    await (await ApiClient.login(server.url, 'bob')).send(room.id, 'posted during reconnection');
    await ui.eventually(async () => assert.equal(await banner(ana).isVisible(), false), { timeout: 30_000 });
    await ui.eventually(async () => assert.equal(await banner(bo).isVisible(), false), { timeout: 30_000 });
    for (const page of [ana, bo]) {
      for (const text of ['sent while down 1', 'sent while down 2', 'bo while down', 'posted during reconnection']) {
        await ui.expectDelivered(page, text, 15_000);
      }
      await ui.eventually(async () => assert.equal(await page.locator('.messages li.msg.pending').count(), 0));
    }
  });

  await t.test('they keep talking after the restart', async () => {
    await ui.send(bo, 'back to normal');
    await ui.expectDelivered(ana, 'back to normal');
    await ui.send(ana, 'great');
    await ui.expectDelivered(bo, 'great');
  });

  await t.test('both timelines and the server hold every message exactly once, in order', async () => {
    const stored = (await anaApi.allMessages(room.id)).map((m) => m.body);
    const seqs = (await anaApi.allMessages(room.id)).map((m) => m.seq);
    assert.deepEqual(seqs, stored.map((_, i) => i + 1), 'gap-free seqs');
    for (const text of new Set(stored)) assert.equal(stored.filter((b) => b === text).length, 1, `"${text}" stored once`);
    assert.equal(stored.length, 11);
    // Pending sends keep their order per sender.
    assert.ok(stored.indexOf('sent while down 1') < stored.indexOf('sent while down 2'));
    for (const page of [ana, bo]) {
      await ui.eventually(async () => assert.deepEqual(await ui.bodies(page), stored));
    }
    // A reload shows the same.
    await bo.reload();
    await ui.eventually(async () => assert.deepEqual(await ui.bodies(bo), stored));
  });

  assertClean(ana, bo);
});

test('a send whose ack is lost is retried with the same client_id and stored once', async () => {
  // Swallow the ack and the echo of one send, then cut the connection, as a network failure at
  // the worst moment would.
  let cut = false;
  const sends = [];
  socketFilter = {
    fromClient: (f) => {
      if (f.type === 'message.send' && f.body === 'ack gets lost') sends.push(f.client_id);
    },
    fromServer: (f, ws) => {
      const ours = (f.type === 'ack' || f.type === 'message.new') && f.message?.body === 'ack gets lost';
      if (!ours || cut) return true;
      if (f.type === 'ack') {
        cut = true;
        ws.close({ code: 4009, reason: 'test cut' });
      }
      return false;
    },
  };
  await ui.send(ana, 'ack gets lost');
  await ui.eventually(async () => assert.ok(cut, 'the connection was cut after the send'));
  await ui.expectDelivered(ana, 'ack gets lost', 15_000);
  await ui.expectDelivered(bo, 'ack gets lost');
  const stored = (await anaApi.allMessages(room.id)).filter((m) => m.body === 'ack gets lost');
  assert.equal(stored.length, 1);
  assert.match(stored[0].client_id, /^c-[0-9a-f]{32}$/);
  // It was sent twice, with one client_id: the server kept the first.
  assert.deepEqual(sends, [stored[0].client_id, stored[0].client_id]);
  socketFilter = null;
  assertClean(ana, bo);
});

test('pending sends survive a reload while the socket cannot connect', async () => {
  socketBlocked = true;
  await ana.reload();
  await banner(ana).filter({ hasText: 'Connection lost' }).waitFor();
  await ui.send(ana, 'kept across a reload');
  await ana.locator('.messages li.msg.pending').getByText('Sending…').waitFor();
  await ana.reload();
  await ana.locator('#room-title', { hasText: '#ops' }).waitFor();
  await ana.locator('.messages li.msg.pending', { hasText: 'kept across a reload' }).waitFor();
  socketBlocked = false;
  await ana.locator('.conn-banner').getByRole('button', { name: 'Retry now' }).click();
  await ui.expectDelivered(ana, 'kept across a reload', 15_000);
  await ui.expectDelivered(bo, 'kept across a reload');
  const stored = (await anaApi.allMessages(room.id)).filter((m) => m.body === 'kept across a reload');
  assert.equal(stored.length, 1);
  assertClean(ana, bo);
});

test('a room joined while the client starts up shows without a reconnection', async () => {
  // Bo is added to a room after his client fetched its room list and before its socket is up:
  // the `member.joined` goes out before the session hears the room, so only the auth ack's
  // `unknown_rooms` can tell the client of it.
  const late = await anaApi.createRoom('late-join');
  const page = await newPage(browser, server);
  let added = false;
  await page.route(/\/api\/v1\/rooms$/, async (route) => {
    const response = await route.fetch();
    if (!added) {
      added = true;
      await anaApi.addMember(late.id, boId);
    }
    await route.fulfill({ response });
  });
  const frames = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(String(f.payload))));
  await ui.signIn(page, 'bob');
  await ui.online(page);
  await ui.roomLink(page, 'late-join').waitFor();
  const ack = frames.map((f) => JSON.parse(f)).find((f) => f.type === 'ack' && f.session_id);
  assert.deepEqual(ack.unknown_rooms, [late.id]);
  await anaApi.send(late.id, 'heard in the late room');
  await ui.openRoom(page, 'late-join');
  await ui.expectDelivered(page, 'heard in the late room');
  assertClean(page);
  await page.context().close();
});
