// What loading the client costs on the wire: a first visit gets every static file compressed
// (brotli) and stays under 100 KB, and a later visit asks the network for no static file at all
// (they are versioned and immutable), only for the page (a 304) and the API.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean, DESKTOP } from './helpers/browser.js';
import { recordWire, fromNetwork, wireBytes, isStatic } from './helpers/wire.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let room;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const ana = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  room = await ana.createRoom('lobby');
  await ana.send(room.id, 'welcome');
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

test('a first visit is compressed and small; the next one asks for no static file', async () => {
  const context = await browser.newContext({ baseURL: server.url, viewport: DESKTOP });
  const page = await newPage(browser, server, { context });

  const cold = await recordWire(page);
  await ui.signIn(page, 'ana');
  await ui.openRoom(page, 'lobby');
  await ui.expectDelivered(page, 'welcome');
  const first = await cold.stop();
  const statics = first.filter((r) => isStatic(r.url));
  assert.ok(statics.length >= 25, `the client's files: ${statics.length}`);
  for (const r of statics) {
    assert.match(new URL(r.url).pathname, /^\/v\/[0-9a-f]{16}\//, `versioned: ${r.url}`);
    assert.equal(r.encoding, 'br', `compressed: ${r.url}`);
  }
  const total = wireBytes(first);
  // 83 KiB when issue 20 set the 100 KB budget (30 files); issues 14 and 16 added reactions,
  // emoji, Markdown, mentions, invites, moderation and settings (105 KiB with every module
  // preloaded); the dialogs no first screen needs now load when first opened (99.5 KiB). Threads,
  // link previews, screen share and Web Push took it to 105 KiB; the call engine (voice.js,
  // screenshare.js) and what only a call shows (ui/in-call.js, css/screen.css) now load with the
  // first call (99.7 KiB); threads opened from a permalink, 99.9 KiB; presence batches, 100.04
  // KiB, and index.html at brotli's best instead of the on-the-fly quality 4 (-140 B), 99.87 KiB.
  assert.ok(total <= 100 * 1024, `a cold load is ${total} bytes on the wire`);

  const warm = await recordWire(page);
  await page.goto(`/r/${room.id}`);
  await ui.expectDelivered(page, 'welcome');
  const again = await warm.stop();
  const fetched = fromNetwork(again).filter((r) => isStatic(r.url)).map((r) => r.url);
  assert.deepEqual(fetched, [], 'no static file went to the network');
  assert.ok(again.filter((r) => isStatic(r.url)).length >= 25, 'the files came from the cache');
  const pageLoad = again.find((r) => new URL(r.url).pathname === `/r/${room.id}`);
  assert.ok([200, 304].includes(pageLoad?.status), `the page itself is always asked for (${pageLoad?.status})`);
  assertClean(page);
  await context.close();
});
