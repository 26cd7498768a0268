// Ways into a community: an invite link that lets a visitor register (or a signed-in user join
// with one click), the moderator's invite dialog, the directory of public rooms, and a server
// that takes no registrations.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import { ApiClient } from './helpers/api.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let owner;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  owner = await ApiClient.register(server.url, 'olga', 'Olga');
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

function invite(roomId, body = {}) {
  return owner.call('POST', `/rooms/${roomId}/invites`, body);
}

test('an invite link lets a visitor create an account and lands them in the room', async () => {
  const room = await owner.createRoom('book-club', 'one chapter a week');
  const { code } = await invite(room.id);
  const page = await newPage(browser, server);
  await page.goto(`/invite/${code}`);
  const card = page.getByRole('region', { name: 'Invitation' });
  await card.getByText('#book-club').waitFor();
  await card.getByText('one chapter a week · 1 member').waitFor();
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByRole('heading', { name: 'Create an account to join' }).waitFor();
  await page.getByLabel('Username').fill('vera');
  await page.getByLabel('Password').fill(ui.PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { level: 1, name: '#book-club' }).waitFor();
  assert.equal(new URL(page.url()).pathname, `/r/${room.id}`);
  await ui.online(page);
  await owner.send(room.id, 'welcome, vera');
  await ui.expectDelivered(page, 'welcome, vera');
  assertClean(page);
  await page.context().close();
});

test('a signed-in visitor joins with one click, and a spent link says so', async () => {
  const room = await owner.createRoom('chess');
  const once = await invite(room.id, { max_uses: 1 });
  const page = await newPage(browser, server);
  await ui.signUp(page, 'wim', 'Wim');
  await page.goto(`/invite/${once.code}`);
  await page.getByRole('region', { name: 'Invitation' }).getByText('#chess').waitFor();
  await page.getByRole('button', { name: 'Join room' }).click();
  await page.getByRole('heading', { level: 1, name: '#chess' }).waitFor();
  await ui.roomLink(page, 'chess').waitFor();

  // The one use is taken: the next visitor is told, in words, and offered no Join button.
  const late = await newPage(browser, server);
  await ui.signUp(late, 'lou', 'Lou');
  await late.goto(`/invite/${once.code}`);
  await late.getByRole('alert').getByText('This invite has expired, was used up or was revoked.').waitFor();
  assert.equal(await late.getByRole('button', { name: 'Join room' }).isVisible(), false);
  await late.getByRole('button', { name: 'Not now' }).click();
  await late.getByRole('heading', { name: 'Welcome to Confab' }).waitFor();
  assertClean(page, late);
  await page.context().close();
  await late.context().close();
});

test('a moderator makes, copies and revokes invite links from the room header', async () => {
  const page = await newPage(browser, server);
  await ui.signUp(page, 'mod', 'Mod');
  await ui.createRoom(page, 'garden');
  await page.getByRole('button', { name: 'Invite people' }).click();
  const dialog = page.getByRole('dialog', { name: 'Invite people to #garden' });
  await dialog.getByLabel('Expires after').selectOption('86400');
  await dialog.getByLabel('Uses').selectOption('5');
  await dialog.getByRole('button', { name: 'Create invite link' }).click();
  const link = dialog.getByRole('textbox', { name: 'Invite link' });
  await ui.eventually(async () => assert.match(await link.inputValue(), /^http:\/\/.+\/invite\/[A-Za-z0-9_-]{16}$/));
  const url = await link.inputValue();
  await dialog.getByText('0 of 5 used', { exact: false }).waitFor();

  // The link works for someone else.
  const guest = await newPage(browser, server);
  await guest.goto(url);
  await guest.getByRole('region', { name: 'Invitation' }).getByText('#garden').waitFor();

  await dialog.getByRole('button', { name: `Revoke ${url}` }).click();
  await dialog.getByText('No working invite links.').waitFor();
  await guest.reload();
  await guest.getByRole('alert').getByText('This invite has expired, was used up or was revoked.').waitFor();
  assertClean(page, guest);
  await page.context().close();
  await guest.context().close();
});

test('browse rooms lists public rooms only and joins one', async () => {
  await owner.call('POST', '/rooms', { name: 'Open Lounge', topic: 'say hi', visibility: 'public' });
  await owner.createRoom('Hidden Lounge');
  const page = await newPage(browser, server);
  await ui.signUp(page, 'pia', 'Pia');
  await page.getByRole('button', { name: 'Browse rooms' }).click();
  const dialog = page.getByRole('dialog', { name: 'Browse rooms' });
  await dialog.getByLabel('Search public rooms').fill('lounge');
  await dialog.getByText('say hi · 1 member').waitFor();
  assert.equal(await dialog.getByText('#Hidden Lounge').count(), 0, 'a private room is not listed');
  await dialog.getByRole('button', { name: 'Join #Open Lounge' }).click();
  await page.getByRole('heading', { level: 1, name: '#Open Lounge' }).waitFor();
  await ui.roomLink(page, 'Open Lounge').waitFor();

  // A room created public from the dialog is listed for others.
  await page.getByRole('button', { name: 'Create a room' }).click();
  const create = page.getByRole('dialog', { name: 'Create a room' });
  await create.getByLabel('Name').fill('Pia Public');
  await create.getByLabel(/Public/).check();
  await create.getByRole('button', { name: 'Create room' }).click();
  await page.getByRole('heading', { level: 1, name: '#Pia Public' }).waitFor();
  const listed = await owner.call('GET', '/rooms/public?q=pia');
  assert.deepEqual(listed.rooms.map((r) => r.name), ['Pia Public']);
  assertClean(page);
  await page.context().close();
});

test('a closed server says so to whoever tries to sign up', async () => {
  const closed = await startServer({ env: { CONFAB_REGISTRATION: 'closed' } });
  try {
    const page = await newPage(browser, closed);
    await page.goto('/');
    await page.getByRole('button', { name: 'Create an account' }).click();
    await page.getByLabel('Username').fill('walkin');
    await page.getByLabel('Password').fill(ui.PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('alert').getByText('this server does not take new accounts; ask its operator for one').waitFor();
    assertClean(page);
    await page.context().close();
  } finally {
    await closed.dispose();
  }
});
