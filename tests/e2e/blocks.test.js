// Blocking someone: their messages in a shared room collapse (and can be shown), and they can no
// longer write to you in a DM.

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

test('a blocked user’s messages collapse and their DMs are refused', async () => {
  const ana = await ApiClient.register(server.url, 'ana', 'Ana');
  const eve = await ApiClient.register(server.url, 'eve', 'Eve');
  const room = await ana.createRoom('plaza');
  await ana.addMember(room.id, eve.user.id);
  const dm = await eve.call('POST', '/dms', { user_id: ana.user.id });
  await eve.send(room.id, 'first from eve');
  const page = await newPage(browser, server);
  await ui.signIn(page, 'ana');
  await ui.openRoom(page, 'plaza');
  await ui.expectDelivered(page, 'first from eve');

  await page.getByRole('button', { name: 'Members' }).click();
  const members = page.getByRole('dialog', { name: 'Members' });
  await members.getByRole('button', { name: 'Block Eve' }).click();
  await members.getByRole('button', { name: 'Unblock Eve' }).waitFor();
  await members.getByRole('button', { name: 'Close' }).click();

  await page.getByText('Message from someone you blocked.').first().waitFor();
  assert.equal(await ui.messages(page, 'first from eve').count(), 0, 'collapsed');
  await ui.online(page);
  await eve.send(room.id, 'second from eve');
  await ui.eventually(async () => assert.equal(await page.getByText('Message from someone you blocked.').count(), 2));
  await page.getByRole('button', { name: 'Show the message from Eve' }).first().click();
  await ui.messages(page, 'first from eve').waitFor();
  await assert.rejects(eve.send(dm.id, 'let me in'), /403 .*blocked/);

  await page.getByRole('button', { name: 'Members' }).click();
  await page.getByRole('dialog', { name: 'Members' }).getByRole('button', { name: 'Unblock Eve' }).click();
  await page.getByRole('dialog', { name: 'Members' }).getByRole('button', { name: 'Block Eve' }).waitFor();
  await page.getByRole('dialog', { name: 'Members' }).getByRole('button', { name: 'Close' }).click();
  await ui.messages(page, 'second from eve').waitFor();
  await eve.send(dm.id, 'friends again');
  assertClean(page);
  await page.context().close();
});
