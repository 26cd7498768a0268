// Threads: one person replies in a thread from its panel; the other sees "1 reply" under the root
// (and not the reply in the main timeline), opens the panel and reads it, answers live; the
// room's thread list shows the followed thread; on a phone the thread takes the whole screen.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean, PHONE } from './helpers/browser.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let ana;
let bo;

const ROOT = 'shall we ship on friday?';
const REPLY = 'friday works for me';
const ANSWER = 'great, friday it is';

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const a = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  const b = await ApiClient.register(server.url, 'bob', 'Bo Chen');
  const room = await a.createRoom('release');
  await a.addMember(room.id, b.user.id);
  await a.send(room.id, ROOT);
  ana = await newPage(browser, server);
  bo = await newPage(browser, server);
  await ui.signIn(ana, 'ana');
  await ui.signIn(bo, 'bob');
  await ui.openRoom(ana, 'release');
  await ui.openRoom(bo, 'release');
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

/** The open thread panel of `page`. */
const panel = (page) => page.getByRole('complementary', { name: 'Thread' });
/** Messages of the main timeline (not of a thread panel) whose body is `text`. */
const inTimeline = (page, text) => page.locator('.timeline li.msg').filter({ has: page.locator('.msg-body', { hasText: text }) });
/** Delivered messages of the thread panel whose body is `text`. */
const inPanel = (page, text) => panel(page).locator('li.msg[data-seq]').filter({ has: page.locator('.msg-body', { hasText: text }) });

test('a reply in a thread shows as "1 reply" under its root and in the thread panel', async (t) => {
  await t.test('bo replies in a thread from the message toolbar', async () => {
    await ui.messageAction(bo, ROOT, 'Reply in thread');
    await panel(bo).waitFor();
    // The root heads the panel.
    await panel(bo).locator('.thread-root .msg-body', { hasText: ROOT }).waitFor();
    const input = panel(bo).getByRole('textbox', { name: 'Reply in thread' });
    await ui.eventually(async () => assert.equal(await input.evaluate((el) => el === document.activeElement), true));
    await input.fill(REPLY);
    await input.press('Enter');
    await inPanel(bo, REPLY).waitFor();
    await panel(bo).getByText('1 reply', { exact: true }).waitFor();
  });

  await t.test('ana sees "1 reply" under the root, not the reply in the timeline', async () => {
    const summary = ana.getByRole('button', { name: /^1 reply, last reply .*\. Open the thread$/ });
    await summary.waitFor();
    assert.match(await summary.textContent(), /1 reply · last reply/);
    // One avatar: Bo's.
    assert.equal(await summary.locator('.avatar').count(), 1);
    assert.equal(await inTimeline(ana, REPLY).count(), 0, 'the reply stays in its thread');
    assert.equal(await inTimeline(bo, REPLY).count(), 0, 'also for its author');
    await ui.expectDelivered(ana, ROOT);
  });

  await t.test('ana opens the thread, reads the reply and answers; bo sees it live', async () => {
    await ana.getByRole('button', { name: /^1 reply/ }).click();
    await inPanel(ana, REPLY).waitFor();
    const input = panel(ana).getByRole('textbox', { name: 'Reply in thread' });
    await input.fill(ANSWER);
    await panel(ana).getByRole('button', { name: 'Send reply' }).click();
    await inPanel(ana, ANSWER).waitFor();
    await inPanel(bo, ANSWER).waitFor();
    await bo.getByRole('button', { name: /^2 replies/ }).waitFor();
    assert.equal(await inTimeline(bo, ANSWER).count(), 0);
    // The panel sits beside the timeline on a wide screen.
    const box = await panel(ana).boundingBox();
    const timeline = await ana.locator('.timeline').boundingBox();
    assert.ok(box.x >= timeline.x + timeline.width - 1, `panel ${JSON.stringify(box)} beside ${JSON.stringify(timeline)}`);
  });

  await t.test('the room\'s threads list shows the followed thread', async () => {
    await bo.getByRole('button', { name: 'Threads', exact: true }).click();
    const dialog = bo.getByRole('dialog', { name: 'Threads' });
    const item = dialog.getByRole('button', { name: new RegExp(`^Thread of Ana Lima: ${ui.escape(ROOT)}\\. 2 replies`) });
    await item.waitFor();
    // bo's panel is open and visible: ana's answer is read already.
    assert.doesNotMatch(await item.getAttribute('aria-label'), /unread/);
    await dialog.getByRole('button', { name: 'Close' }).click();
  });

  await t.test('closing the panel gives the timeline its width back', async () => {
    await panel(ana).getByRole('button', { name: 'Close thread' }).click();
    await panel(ana).waitFor({ state: 'detached' });
    await ana.getByRole('button', { name: /^2 replies/ }).waitFor();
  });

  await t.test('on a phone the thread takes the whole screen', async () => {
    await ana.setViewportSize(PHONE);
    await ana.getByRole('button', { name: /^2 replies/ }).click();
    await inPanel(ana, ANSWER).waitFor();
    await ui.eventually(async () => {
      const box = await panel(ana).boundingBox();
      assert.deepEqual([box.x, box.y, box.width, box.height].map(Math.round), [0, 0, PHONE.width, PHONE.height]);
    });
    await panel(ana).getByRole('button', { name: 'Close thread' }).click();
    await panel(ana).waitFor({ state: 'detached' });
    await ui.expectDelivered(ana, ROOT);
  });

  assertClean(ana, bo);
});

test('a permalink or a search hit on a thread reply opens its thread with the reply flashed', async () => {
  const cy = await ApiClient.register(server.url, 'cyd', 'Cy Doe');
  const room = await cy.createRoom('far-threads');
  const root = await cy.send(room.id, 'the plan for the lighthouse');
  const reply = await cy.send(room.id, 'the lamp needs a new wick', { thread_root: root.id });
  for (let i = 0; i < 5; i++) await cy.send(room.id, `later chatter ${i}`);
  const page = await newPage(browser, server);
  await ui.signIn(page, 'cyd');

  // The permalink of the reply: the room opens at the root, and the thread with the reply.
  await page.goto(`/#/room/${room.id}/${reply.seq}`);
  await inPanel(page, 'the lamp needs a new wick').waitFor();
  await ui.eventually(async () => assert.match(await inPanel(page, 'the lamp needs a new wick').getAttribute('class'), /\bflash\b/));
  await inTimeline(page, 'the plan for the lighthouse').waitFor();
  assert.equal(await inTimeline(page, 'the lamp needs a new wick').count(), 0, 'the reply stays out of the timeline');
  assert.equal(await page.getByText('That message is no longer available.').count(), 0);
  await panel(page).getByRole('button', { name: 'Close thread' }).click();
  await panel(page).waitFor({ state: 'detached' });

  // A search hit on it does the same.
  await page.locator('.timeline').click();
  await page.keyboard.press('Control+k');
  const input = page.getByRole('searchbox', { name: 'Search messages' });
  await input.fill('wick');
  const hits = page.locator('.search-results .search-result');
  await ui.eventually(async () => assert.equal(await hits.count(), 1));
  await hits.first().click();
  await inPanel(page, 'the lamp needs a new wick').waitFor();
  await ui.eventually(async () => assert.match(await inPanel(page, 'the lamp needs a new wick').getAttribute('class'), /\bflash\b/));
  assertClean(page);
  await page.context().close();
});
