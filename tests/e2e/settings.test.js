// The settings dialog: a profile change others see live, the sessions list signing one out, a
// password change that keeps this session and ends the others, and deleting the account.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import { ApiClient } from './helpers/api.js';
import * as ui from './helpers/ui.js';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  await ApiClient.register(server.url, 'root', 'Root');
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

async function openSettings(page) {
  await page.getByRole('button', { name: 'Settings' }).click();
  return page.getByRole('dialog', { name: 'Settings' });
}

test('a profile change shows at once to someone in the same room', async () => {
  const nina = await newPage(browser, server);
  await ui.signUp(nina, 'nina', 'Nina');
  const bob = await ApiClient.register(server.url, 'bobby', 'Bobby');
  await ui.createRoom(nina, 'studio');
  await ui.addPerson(nina, 'bobby', 'Bobby');
  await ui.send(nina, 'hello from nina');
  const peer = await newPage(browser, server);
  await ui.signIn(peer, 'bobby');
  await ui.openRoom(peer, 'studio');
  await ui.expectDelivered(peer, 'hello from nina');
  await peer.locator('.messages').getByText('Nina', { exact: true }).first().waitFor();

  const settings = await openSettings(nina);
  await settings.getByLabel('Display name').fill('Nina Ray');
  await settings.getByLabel(/Status/).fill('on holiday');
  await settings.getByRole('button', { name: 'Save profile' }).click();
  await settings.getByRole('status').getByText('Profile saved.').waitFor();
  await nina.getByRole('banner').getByText('Nina Ray').waitFor();
  await peer.locator('.messages').getByText('Nina Ray', { exact: true }).first().waitFor();
  await peer.getByRole('button', { name: 'Profile of Nina Ray' }).first().click();
  const card = peer.getByRole('dialog', { name: 'Nina Ray' });
  await card.getByText('on holiday').waitFor();
  await card.getByText('@nina').waitFor();
  await card.getByRole('button', { name: 'Close' }).click();

  // A picture: uploaded, cropped square by the server, shown to her and to the room.
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
  await settings.getByLabel(/Avatar/).setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: png });
  await settings.getByRole('status').getByText('Avatar updated.').waitFor();
  await nina.locator('.topbar .avatar-img').waitFor();
  await peer.locator('.messages .avatar-img').first().waitFor();
  // And in the room's member list.
  await peer.getByRole('button', { name: 'Members' }).click();
  await peer.locator('dialog .people-results .avatar-img').first().waitFor();
  await peer.keyboard.press('Escape');
  const shown = await bob.call('GET', `/users/${(await bob.call('GET', '/rooms'))
    .rooms[0].last_message.sender_id}`);
  assert.equal(shown.status_text, 'on holiday');
  assertClean(nina, peer);
  await nina.context().close();
  await peer.context().close();
});

test('sessions are listed, one is signed out, and a password change ends the others', async () => {
  const page = await newPage(browser, server);
  await ui.signUp(page, 'sam', 'Sam');
  const other = await ApiClient.login(server.url, 'sam');
  let settings = await openSettings(page);
  const sessions = settings.getByRole('list', { name: 'Your sessions' });
  await ui.eventually(async () => assert.equal(await sessions.getByRole('listitem').count(), 2));
  await sessions.getByText('This session').waitFor();
  await sessions.getByRole('button', { name: /^Sign out / }).click();
  await ui.eventually(async () => assert.equal(await sessions.getByRole('listitem').count(), 1));
  await assert.rejects(other.call('GET', '/me'), /401 .*token_revoked/);

  const third = await ApiClient.login(server.url, 'sam');
  await settings.getByLabel('Current password').fill('not my password');
  await settings.getByLabel('New password').fill('a brand new phrase');
  await settings.getByRole('button', { name: 'Change password' }).click();
  await settings.getByRole('alert').getByText('wrong password').waitFor();
  await settings.getByLabel('Current password').fill(ui.PASSWORD);
  await settings.getByRole('button', { name: 'Change password' }).click();
  await settings.getByRole('status').getByText('Password changed. Your other sessions were signed out.').waitFor();
  await assert.rejects(third.call('GET', '/me'), /401 .*token_revoked/);
  await settings.getByRole('button', { name: 'Close' }).click();
  // This session goes on.
  await ui.createRoom(page, 'still-here');
  await ui.send(page, 'after the change');
  await ui.expectDelivered(page, 'after the change');
  await ApiClient.login(server.url, 'sam', 'a brand new phrase');
  assertClean(page);
  await page.context().close();
});

test('deleting the account signs out and keeps the messages under a tombstone', async () => {
  const owner = await ApiClient.register(server.url, 'keeper', 'Keeper');
  const room = await owner.createRoom('archive');
  const page = await newPage(browser, server);
  await ui.signUp(page, 'leaver', 'Leaver');
  const me = await page.evaluate(() => JSON.parse(localStorage.getItem('confab.session')).user.id);
  await owner.addMember(room.id, me);
  await ui.openRoom(page, 'archive');
  await ui.send(page, 'my last words');
  await ui.expectDelivered(page, 'my last words');
  const settings = await openSettings(page);
  const removal = settings.getByRole('region', { name: 'Delete account' });
  await removal.getByLabel('Password').fill('not my password');
  await settings.getByRole('button', { name: 'Delete account' }).click();
  await page.getByRole('dialog', { name: 'Delete your account?' }).getByRole('button', { name: 'Delete account' }).click();
  await removal.getByRole('alert').getByText('wrong password').waitFor();
  await removal.getByLabel('Password').fill(ui.PASSWORD);
  await settings.getByRole('button', { name: 'Delete account' }).click();
  await page.getByRole('dialog', { name: 'Delete your account?' }).getByRole('button', { name: 'Delete account' }).click();
  await page.getByRole('status').getByText('Your account was deleted.').waitFor();
  const kept = await owner.allMessages(room.id);
  assert.equal(kept.at(-1).body, 'my last words');
  const author = await owner.call('GET', `/users/${me}`);
  assert.equal(author.display_name, 'Deleted user');
  await assert.rejects(ApiClient.login(server.url, 'leaver'), /401/);
  assertClean(page);
  await page.context().close();
});
