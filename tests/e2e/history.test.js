// Long histories: the newest page first, older pages as you scroll up, a reply's quote that
// brings its original into view even when it is many pages back, and a permalink that opens the
// room at its message.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import * as ui from './helpers/ui.js';

const COUNT = 130;

let server;
let browser;
let page;
let room;

before(async () => {
  // The fixture posts 130 messages over HTTP at once: past the per-user send rate.
  server = await startServer({ env: { CONFAB_SEND_BURST: '1000', CONFAB_SEND_RATE: '1000' } });
  browser = await launchBrowser();
  const ana = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  const bo = await ApiClient.register(server.url, 'bob', 'Bo Chen');
  room = await ana.createRoom('archive');
  await ana.addMember(room.id, bo.user.id);
  const sent = [];
  for (let i = 1; i <= COUNT; i++) {
    const who = i % 3 === 0 ? bo : ana;
    sent.push(await who.send(room.id, `message ${i}`));
  }
  await bo.send(room.id, 'about that second one', { reply_to: sent[1].id });
  page = await newPage(browser, server);
  await ui.signIn(page, 'bob');
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

function shown() {
  return page.locator('.messages li.msg .msg-body').allTextContents();
}

function expected(from, to) {
  return Array.from({ length: to - from + 1 }, (_, i) => `message ${from + i}`);
}

test('scrolling up loads older pages until the beginning, in order and without repeats', async () => {
  await ui.openRoom(page, 'archive');
  await ui.expectDelivered(page, 'about that second one');
  // The newest page: the last 50 messages, scrolled to the bottom.
  await ui.eventually(async () => assert.deepEqual(await shown(), [...expected(COUNT - 48, COUNT), 'about that second one']));
  const scroller = page.locator('.timeline');
  await ui.eventually(async () => assert.ok(await scroller.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 80)));

  // Scroll to the top, again and again, until the beginning shows.
  await ui.eventually(async () => {
    await scroller.evaluate((el) => { el.scrollTop = 0; });
    await page.getByText('This is the beginning of #archive.').waitFor({ timeout: 500 });
  }, { timeout: 15_000 });
  await ui.eventually(async () => assert.deepEqual(await shown(), [...expected(1, COUNT), 'about that second one']));
  // The view stayed where the reader was instead of jumping to the newest message.
  assert.ok(await scroller.evaluate((el) => el.scrollTop < el.scrollHeight / 2));
  assertClean(page);
});

test('clicking a quote loads history back to the original and focuses it', async () => {
  await page.reload();
  await page.locator('#room-title', { hasText: '#archive' }).waitFor();
  await ui.eventually(async () => assert.equal((await shown()).length, 50));
  const reply = await ui.expectDelivered(page, 'about that second one');
  await reply.locator('.msg-quote', { hasText: 'message 2' }).click();
  const original = ui.messages(page, 'message 2');
  await ui.eventually(async () => assert.equal(await original.evaluate((el) => el === document.activeElement), true), { timeout: 15_000 });
  assert.ok(await original.isVisible());
  const box = await original.boundingBox();
  const view = await page.locator('.timeline').boundingBox();
  assert.ok(box.y >= view.y && box.y + box.height <= view.y + view.height, 'the original is in view');
  assert.equal((await shown()).length, COUNT + 1);
  assertClean(page);
});

test('a permalink opens the room at its message, loading the history around it', async () => {
  const asked = [];
  const note = (req) => asked.push(new URL(req.url()).search);
  page.on('request', note);
  await page.goto(`/#/room/${room.id}/5`);
  const target = ui.messages(page, 'message 5');
  await ui.eventually(async () => assert.equal(await target.evaluate((el) => el === document.activeElement), true), { timeout: 15_000 });
  const box = await target.boundingBox();
  const view = await page.locator('.timeline').boundingBox();
  assert.ok(box.y >= view.y && box.y + box.height <= view.y + view.height, 'the message is in view');
  // The address becomes the room's; the history is one run from the start to the newest.
  assert.equal(new URL(page.url()).pathname, `/r/${room.id}`);
  assert.equal(new URL(page.url()).hash, '');
  await ui.eventually(async () => assert.deepEqual(await shown(), [...expected(1, COUNT), 'about that second one']));
  page.off('request', note);
  assert.ok(asked.some((q) => /[?&]around=5\b/.test(q)), `history around the message was asked for: ${asked}`);

  // Every message's time is its permalink; following one moves there.
  const link = ui.messages(page, 'message 7').locator('a.msg-permalink');
  assert.equal(await link.getAttribute('href'), `#/room/${room.id}/7`);
  await link.click();
  const seventh = ui.messages(page, 'message 7');
  await ui.eventually(async () => assert.equal(await seventh.evaluate((el) => el === document.activeElement), true));
  assertClean(page);
});
