// The habits of a daily client: drafts that survive a reload, a composer that grows with its
// text, focus where typing goes after signing in and switching rooms, header actions that say
// what they do, and rooms of the same name told apart.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean, PHONE } from './helpers/browser.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let anaApi;
let notes;
let page;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  anaApi = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  notes = await anaApi.createRoom('notes');
  await anaApi.createRoom('errands');
  page = await newPage(browser, server);
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

const focusedId = () => page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
const height = () => ui.composer(page).evaluate((el) => el.getBoundingClientRect().height);

test('signing in on a room’s address lands in its composer', async () => {
  await page.goto(`/r/${notes.id}`);
  await page.getByLabel('Username').fill('ana');
  await page.getByLabel('Password').fill(ui.PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.locator('#room-title', { hasText: '#notes' }).waitFor();
  await ui.eventually(async () => assert.equal(await focusedId(), 'composer-input'));
  // Switching rooms puts typing in the new room's composer.
  await ui.openRoom(page, 'errands');
  await ui.eventually(async () => assert.equal(await focusedId(), 'composer-input'));
  assertClean(page);
});

test('a draft survives a reload and a room switch, and the box grows with it', async () => {
  await ui.openRoom(page, 'notes');
  const one = await height();
  const box = ui.composer(page);
  await box.pressSequentially('a list:');
  for (const item of ['eggs', 'milk', 'bread', 'tea']) {
    await box.press('Shift+Enter');
    await box.pressSequentially(item);
  }
  const grown = await height();
  assert.ok(grown > one * 2.5, `five lines are taller than one (${one} → ${grown})`);
  const draft = 'a list:\neggs\nmilk\nbread\ntea';
  await page.reload();
  await page.locator('#room-title', { hasText: '#notes' }).waitFor();
  await ui.eventually(async () => assert.equal(await box.inputValue(), draft));
  await ui.eventually(async () => assert.ok(Math.abs(await height() - grown) < 2, 'restored at its size'));
  await ui.eventually(async () => assert.equal(await focusedId(), 'composer-input'), { timeout: 3000 });
  // Another room has its own (empty) draft; coming back finds this one.
  await ui.openRoom(page, 'errands');
  assert.equal(await box.inputValue(), '');
  await ui.openRoom(page, 'notes');
  assert.equal(await box.inputValue(), draft);
  // Sent, it is gone, also after a reload.
  await box.press('Enter');
  await ui.expectDelivered(page, draft);
  await page.reload();
  await page.locator('#room-title', { hasText: '#notes' }).waitFor();
  await ui.expectDelivered(page, draft);
  assert.equal(await box.inputValue(), '');
  assertClean(page);
});

test('signing out forgets the drafts', async () => {
  await ui.openRoom(page, 'errands');
  await ui.composer(page).fill('private thought');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Username').waitFor();
  assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('confab.drafts.')).length), 0);
  await ui.signIn(page, 'ana');
  await ui.openRoom(page, 'errands');
  assert.equal(await ui.composer(page).inputValue(), '');
  assertClean(page);
});

test('the header’s actions say what they do: words on a desktop, tooltips on a phone', async () => {
  await ui.openRoom(page, 'notes');
  const header = page.locator('.room-header');
  const leave = header.getByRole('button', { name: 'Leave room' });
  assert.equal(await leave.innerText(), 'Leave');
  assert.equal(await header.getByRole('button', { name: 'Members' }).innerText(), 'Members');
  assert.equal(await header.getByRole('button', { name: 'Add people' }).innerText(), 'Add');
  await page.setViewportSize(PHONE);
  await ui.eventually(async () => assert.equal(await leave.innerText(), ''));
  assert.equal(await leave.getAttribute('title'), 'Leave room');
  assert.ok((await leave.boundingBox()).width <= 40, 'an icon button on a phone');
  await page.setViewportSize({ width: 1280, height: 800 });
  assertClean(page);
});

test('two rooms of the same name are told apart in the sidebar and the forward picker', async () => {
  await anaApi.createRoom('team', 'design');
  await anaApi.createRoom('team', 'ops');
  await page.reload();
  await ui.online(page);
  const details = page.locator('.sidebar .room-item .room-item-detail');
  await ui.eventually(async () => assert.deepEqual((await details.allTextContents()).sort(), ['· design', '· ops']));
  // A room whose name is its own carries no such note.
  assert.equal(await ui.roomLink(page, 'notes').locator('.room-item-detail').count(), 0);
  await ui.openRoom(page, 'notes');
  await ui.send(page, 'worth sharing');
  await ui.messageAction(page, 'worth sharing', 'Forward');
  const dialog = page.getByRole('dialog', { name: 'Forward message' });
  await dialog.getByRole('button', { name: '#team · design' }).waitFor();
  await dialog.getByRole('button', { name: '#team · ops' }).click();
  await page.getByText('Forwarded to #team.').waitFor();
  assertClean(page);
});
