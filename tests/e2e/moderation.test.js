// Moderation in the browser: the menu on a member (time out, lift it, ban with a reason) as its
// target sees it happen, and a suspended account signed out at once.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import { ApiClient } from './helpers/api.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let root;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  // The first account administers the server; the people below are plain members.
  root = await ApiClient.register(server.url, 'root', 'Root');
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

test('the moderation menu on a member times them out, lifts it and bans them', async () => {
  const owner = await ApiClient.register(server.url, 'olive', 'Olive');
  const bob = await ApiClient.register(server.url, 'bob', 'Bob');
  const room = await owner.createRoom('town');
  await owner.addMember(room.id, bob.user.id);
  const mod = await newPage(browser, server);
  await ui.signIn(mod, 'olive');
  await ui.openRoom(mod, 'town');
  const target = await newPage(browser, server);
  await ui.signIn(target, 'bob');
  await ui.openRoom(target, 'town');
  await ui.online(target);

  await mod.getByRole('button', { name: 'Members' }).click();
  await mod.getByRole('dialog', { name: 'Members' }).getByRole('button', { name: 'Moderate Bob' }).click();
  const menu = mod.getByRole('dialog', { name: 'Moderate Bob' });
  await menu.getByLabel('Time out for').selectOption('600');
  await menu.getByRole('button', { name: 'Time out', exact: true }).click();
  await menu.getByRole('status').getByText(/^Bob is timed out until/).waitFor();

  await ui.send(target, 'can I talk?');
  await target.getByRole('alert').getByText(/you are timed out in this room/).waitFor();

  await menu.getByRole('button', { name: 'Lift timeout' }).click();
  await menu.getByRole('status').getByText('Bob can post again.').waitFor();
  await ui.send(target, 'back again');
  await ui.expectDelivered(mod, 'back again');

  await menu.getByLabel(/Reason/).fill('flooding the room');
  await menu.getByRole('button', { name: 'Ban from room' }).click();
  await mod.getByRole('dialog', { name: 'Ban Bob?' }).getByRole('button', { name: 'Ban' }).click();
  await menu.waitFor({ state: 'detached' });
  // Bob's open session loses the room at once.
  await ui.eventually(async () => assert.equal(await ui.roomLink(target, 'town').count(), 0));
  await target.getByRole('heading', { name: 'Welcome to Confab' }).waitFor();
  const audit = await owner.call('GET', `/rooms/${room.id}/audit`);
  assert.deepEqual(audit.entries.map((e) => e.action), ['member.ban', 'member.untimeout', 'member.timeout']);
  assert.equal(audit.entries[0].reason, 'flooding the room');
  const { code } = await owner.call('POST', `/rooms/${room.id}/invites`, {});
  await assert.rejects(bob.call('POST', `/invites/${code}/accept`), /403 .*banned/);
  assertClean(mod, target);
  await mod.context().close();
  await target.context().close();
});

test('a suspended account is signed out at once and told why', async () => {
  const cleo = await ApiClient.register(server.url, 'cleo', 'Cleo');
  const page = await newPage(browser, server);
  await ui.signIn(page, 'cleo');
  await ui.online(page);
  await root.call('POST', `/admin/users/${cleo.user.id}/suspend`);
  await page.getByRole('status').getByText('Your account was suspended by the server’s admins.').waitFor();
  await page.getByLabel('Username').fill('cleo');
  await page.getByLabel('Password').fill(ui.PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('alert').getByText('this account was suspended by the server\'s admins').waitFor();
  assertClean(page);
  await page.context().close();
});
