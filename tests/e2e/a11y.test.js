// Accessibility and small screens: a whole flow with the keyboard alone (sign up, create a room,
// send, reply, edit, delete), landmarks and labels, visible focus, announcements of new messages,
// and a 360 px wide phone where one pane shows at a time and nothing overflows.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import * as ui from './helpers/ui.js';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

/** What has focus: tag, id, accessible-ish label and text, and whether focus is visible. */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const ring = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== 'none';
    const row = el.closest('.composer-row, .status-picker');
    const rowRing = row ? getComputedStyle(row).boxShadow !== 'none' || getComputedStyle(row).outlineStyle !== 'none' : false;
    return {
      tag: el.tagName.toLowerCase(),
      id: el.id,
      label: el.getAttribute('aria-label') || el.textContent.trim().slice(0, 60),
      cls: el.className,
      visible: ring || rowRing,
    };
  });
}

/** Presses Tab (or Shift+Tab) until focus is on what `match` accepts; fails after `max` presses. */
async function tabTo(page, match, { back = false, max = 40 } = {}) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    const f = await focused(page);
    if (match(f)) {
      assert.ok(f.visible, `focus on ${f.tag}#${f.id} "${f.label}" is visible`);
      return f;
    }
  }
  throw new Error('focus never reached the target');
}

test('the whole flow works with the keyboard alone, with visible focus', async () => {
  const page = await newPage(browser, server);
  await page.goto('/');
  await page.locator('#auth-username:focus').waitFor();
  await tabTo(page, (f) => f.label === 'Create an account');
  await page.keyboard.press('Enter');
  await page.locator('#auth-username:focus').waitFor();
  await page.keyboard.type('kim');
  await page.keyboard.press('Tab');
  await page.keyboard.type('Kim Park');
  await page.keyboard.press('Tab');
  await page.keyboard.type(ui.PASSWORD);
  await page.keyboard.press('Enter');
  await page.getByRole('banner').getByText('Kim Park').waitFor();

  // Landmarks, and every control has a name.
  await page.getByRole('banner').waitFor();
  await page.getByRole('navigation', { name: 'Rooms and direct messages' }).waitFor();
  await page.getByRole('main').waitFor();

  await tabTo(page, (f) => f.label === 'Create a room');
  await page.keyboard.press('Enter');
  await page.getByRole('dialog', { name: 'Create a room' }).waitFor();
  assert.equal((await focused(page)).id, 'new-room-name');
  await page.keyboard.type('keyboard');
  await page.keyboard.press('Enter');
  await page.locator('#room-title', { hasText: '#keyboard' }).waitFor();
  await ui.eventually(async () => assert.equal((await focused(page)).id, 'composer-input'));

  await page.keyboard.type('first line');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('second line');
  await page.keyboard.press('Enter');
  await ui.expectDelivered(page, 'first line\nsecond line');
  await page.keyboard.type('another message');
  await page.keyboard.press('Enter');
  await ui.expectDelivered(page, 'another message');

  // Shift+Tab from the composer lands on the newest message; arrows move between messages.
  const last = await tabTo(page, (f) => f.tag === 'li', { back: true, max: 3 });
  assert.match(last.label, /another message/);
  await page.keyboard.press('ArrowUp');
  assert.match((await focused(page)).label, /first line/);

  // R replies to the focused message.
  await page.keyboard.press('r');
  await page.locator('.reply-banner', { hasText: 'Replying to Kim Park' }).waitFor();
  assert.equal((await focused(page)).id, 'composer-input');
  await page.keyboard.type('a reply');
  await page.keyboard.press('Enter');
  const reply = await ui.expectDelivered(page, 'a reply');
  await reply.locator('.msg-quote', { hasText: 'first line' }).waitFor();

  // ↑ in the empty composer edits the last message in place; Enter saves.
  await page.keyboard.press('ArrowUp');
  await page.getByRole('textbox', { name: 'Edit message' }).waitFor();
  assert.equal((await focused(page)).label, 'Edit message');
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.type('an edited reply');
  await page.keyboard.press('Enter');
  await ui.expectDelivered(page, 'an edited reply');
  await ui.eventually(async () => assert.match((await focused(page)).label, /an edited reply/));

  // Tab reaches the focused message's actions; Delete asks first, then deletes.
  const action = await tabTo(page, (f) => f.label === 'Forward', { max: 6 });
  assert.equal(action.tag, 'button');
  await tabTo(page, (f) => f.tag === 'li', { back: true, max: 5 });
  await page.keyboard.press('Delete');
  await page.getByRole('dialog', { name: 'Delete message?' }).waitFor();
  assert.equal((await focused(page)).label, 'Delete');
  await page.keyboard.press('Enter');
  await page.locator('.msg-tombstone').waitFor();
  await ui.expectCount(page, 'an edited reply', 0);
  await page.keyboard.press('Escape');
  await ui.eventually(async () => assert.equal((await focused(page)).id, 'composer-input'));

  // Names and labels for every control on the page.
  const unnamed = await page.evaluate(() => [
    ...[...document.querySelectorAll('button')].filter((b) => !(b.getAttribute('aria-label') || b.textContent.trim())).map((b) => b.outerHTML.slice(0, 80)),
    ...[...document.querySelectorAll('input, textarea, select')].filter((i) => !(i.labels?.length || i.getAttribute('aria-label'))).map((i) => i.outerHTML.slice(0, 80)),
  ]);
  assert.deepEqual(unnamed, []);
  assertClean(page);
  await page.context().close();
});

test('new messages from others are announced to screen readers', async () => {
  const lee = await ApiClient.register(server.url, 'lee', 'Lee');
  const kim = await ApiClient.login(server.url, 'kim');
  const room = (await kim.rooms()).find((r) => r.name === 'keyboard');
  await kim.addMember(room.id, lee.user.id);
  const page = await newPage(browser, server);
  await ui.signIn(page, 'kim');
  await ui.openRoom(page, 'keyboard');
  // Announced are messages that arrive live, not ones loaded with the history.
  await ui.online(page);
  await lee.send(room.id, 'can you hear me?');
  await page.locator('#announcer', { hasText: 'Lee: can you hear me?' }).waitFor();
  assert.equal(await page.locator('.typing-line').getAttribute('aria-live'), 'polite');
  assertClean(page);
  await page.context().close();
});

test('at 360 px one pane shows at a time and nothing overflows', async () => {
  const kim = await ApiClient.login(server.url, 'kim');
  const room = (await kim.rooms()).find((r) => r.name === 'keyboard');
  await kim.send(room.id, `${'long'.repeat(80)} https://example.com/${'path/'.repeat(30)}`);
  const page = await newPage(browser, server, { viewport: { width: 360, height: 740 } });
  await ui.signIn(page, 'kim');
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

  // The list alone.
  await page.getByRole('navigation').waitFor();
  assert.equal(await page.getByRole('main').isVisible(), false);
  assert.ok(await overflow() <= 0, 'no sideways scrolling on the list');

  // A room alone, with a way back.
  await ui.openRoom(page, 'keyboard');
  assert.equal(await page.getByRole('navigation').isVisible(), false);
  const back = page.getByRole('button', { name: 'Back to rooms' });
  await back.waitFor();
  assert.ok(await overflow() <= 0, 'no sideways scrolling in the room');
  const widths = await page.locator('.timeline').evaluate((el) => [el.scrollWidth, el.clientWidth]);
  assert.ok(widths[0] <= widths[1], `long words wrap (${widths})`);
  const composerBox = await ui.composer(page).boundingBox();
  assert.ok(composerBox.y + composerBox.height <= 740 && composerBox.x >= 0 && composerBox.x + composerBox.width <= 360, 'the composer is on screen');

  // Sending works, and a message's actions fit on screen when it is focused.
  await ui.send(page, 'from a small phone');
  const msg = await ui.expectDelivered(page, 'from a small phone');
  await msg.click();
  const bar = await msg.locator('.msg-actions').boundingBox();
  assert.ok(bar && bar.x >= 0 && bar.x + bar.width <= 360, 'actions on screen');

  await back.click();
  await page.getByRole('navigation').waitFor();
  assert.equal(await page.getByRole('main').isVisible(), false);
  assertClean(page);
  await page.context().close();
});
