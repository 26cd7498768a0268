// Message search: Ctrl+K (or `/`) opens it, results mark the matched words and say where and
// when, markup in a body stays text, the room filter narrows, and choosing a result many pages
// back opens its room scrolled to the message.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let page;

before(async () => {
  // The fixture posts 120 messages over HTTP at once: past the per-user send rate.
  server = await startServer({ env: { CONFAB_SEND_BURST: '1000', CONFAB_SEND_RATE: '1000' } });
  browser = await launchBrowser();
  const ana = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  const bo = await ApiClient.register(server.url, 'bob', 'Bo Chen');
  const ops = await ana.createRoom('ops');
  const lounge = await ana.createRoom('lounge');
  for (const room of [ops, lounge]) await ana.addMember(room.id, bo.user.id);
  await ana.send(ops.id, 'We deployed the new build 🚀 this morning');
  await ana.send(ops.id, 'deploy <img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>');
  for (let i = 1; i <= 120; i++) await bo.send(ops.id, `filler ${i}`);
  await bo.send(lounge.id, 'lunch after the deployment?');
  page = await newPage(browser, server);
  await ui.signIn(page, 'bob');
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

const results = () => page.locator('.search-results .search-result');

test('Ctrl+K finds words by stem, marks them, and keeps markup as text', async () => {
  await ui.openRoom(page, 'lounge');
  await page.locator('.timeline').click();
  await page.keyboard.press('Control+k');
  const input = page.getByRole('searchbox', { name: 'Search messages' });
  await input.waitFor();
  assert.equal(await input.evaluate((el) => el === document.activeElement), true, 'the field has focus');
  await input.fill('deploy');
  await ui.eventually(async () => assert.equal(await results().count(), 3, (await results().allTextContents()).join(" // ")));
  // Newest first, each with its room, sender and the matched word marked.
  const first = results().first();
  assert.equal(await first.locator('.search-result-room').textContent(), '#lounge');
  assert.equal(await first.locator('.search-result-sender').textContent(), 'Bo Chen');
  assert.deepEqual(await first.locator('mark').allTextContents(), ['deployment']);
  const marks = await results().locator('mark').allTextContents();
  assert.deepEqual(marks, ['deployment', 'deploy', 'deployed']);
  await page.getByRole('status').filter({ hasText: '3 messages found' }).waitFor();
  // The markup is shown as the text it is, and nothing ran.
  const markup = results().nth(1);
  assert.match(await markup.textContent(), /<img src=x onerror="window.pwned=1"> <script>/);
  assert.equal(await page.locator('.search-results img, .search-results script').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);

  // Only this room.
  await page.getByLabel('Only #lounge').check();
  await ui.eventually(async () => assert.equal(await results().count(), 1));
  await page.keyboard.press('Escape');
  await page.locator('dialog.search-dialog').waitFor({ state: 'detached' });
  assertClean(page);
});

test('choosing a result many pages back opens its room at the message', async () => {
  await page.locator('.timeline').click();
  await page.keyboard.press('/');
  const input = page.getByRole('searchbox', { name: 'Search messages' });
  await input.fill('"new build"');
  await ui.eventually(async () => assert.equal(await results().count(), 1));
  await results().first().click();
  await page.locator('#room-title', { hasText: '#ops' }).waitFor();
  const target = ui.messages(page, 'We deployed the new build 🚀 this morning');
  await ui.eventually(async () => assert.equal(await target.evaluate((el) => el === document.activeElement), true), { timeout: 15_000 });
  const box = await target.boundingBox();
  const view = await page.locator('.timeline').boundingBox();
  assert.ok(box.y >= view.y && box.y + box.height <= view.y + view.height, 'the message is in view');
  assertClean(page);
});

test('`/` typed in the composer is text, not a shortcut', async () => {
  await ui.composer(page).click();
  await page.keyboard.type('a/b');
  assert.equal(await ui.composer(page).inputValue(), 'a/b');
  assert.equal(await page.locator('dialog.search-dialog').count(), 0);
  await ui.composer(page).fill('');
});
