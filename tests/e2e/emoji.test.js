// Custom emoji: a server admin adds one from the settings dialog, a member who is no admin finds
// it in the reaction picker by name and reacts with it, and both see its picture (an <img> whose
// alt is the name) under the message, as they do an emoji added after the page fetched the list.
// The settings section is for admins only.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let root;
let bo;
let admin;
let message;

// An 8×8 orange PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAYAAADED76LAAAAE0lEQVR4nGP4tYXhPz7MMDIUAABn0KtBEUwVDwAAAABJRU5ErkJggg==', 'base64');

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  // The first account is the server's admin.
  admin = await ApiClient.register(server.url, 'root', 'Root Admin');
  const member = await ApiClient.register(server.url, 'bob', 'Bo Chen');
  const room = await admin.createRoom('general');
  await admin.addMember(room.id, member.user.id);
  message = await admin.send(room.id, 'lunch at noon?');
  root = await newPage(browser, server);
  bo = await newPage(browser, server);
  await ui.signIn(root, 'root');
  await ui.signIn(bo, 'bob');
  for (const page of [root, bo]) {
    await ui.openRoom(page, 'general');
    await ui.online(page);
  }
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

async function openSettings(page) {
  await page.getByRole('button', { name: 'Settings' }).click();
  return page.getByRole('dialog', { name: 'Settings' });
}

/** Waits until the custom emoji picture `name` inside `scope` has loaded; returns it. */
async function loadedImage(scope, name) {
  const img = scope.locator(`img.custom-emoji[alt=":${name}:"]`);
  await ui.eventually(async () => {
    assert.equal(await img.count(), 1);
    assert.match(await img.getAttribute('src') || '', /^blob:/);
    assert.ok(await img.evaluate((el) => el.complete && el.naturalWidth > 0), 'the picture decoded');
  });
  return img;
}

test('an admin adds a custom emoji and a member reacts with it from the picker', async (t) => {
  await t.test('the custom emoji section is for server admins only', async () => {
    const settings = await openSettings(bo);
    await settings.getByLabel('Display name').waitFor();
    assert.equal(await settings.getByRole('heading', { name: 'Custom emoji' }).count(), 0);
    await bo.keyboard.press('Escape');
    await settings.waitFor({ state: 'detached' });
  });

  await t.test('root adds :party_parrot: in the settings', async () => {
    const settings = await openSettings(root);
    await settings.getByRole('heading', { name: 'Custom emoji' }).waitFor();
    await settings.getByLabel(/^Name/).fill('party_parrot');
    await settings.getByLabel(/^Image/).setInputFiles({ name: 'parrot.png', mimeType: 'image/png', buffer: PNG });
    await settings.getByRole('button', { name: 'Add emoji' }).click();
    await settings.getByRole('status').getByText(':party_parrot: added.').waitFor();
    await settings.getByRole('button', { name: 'Delete :party_parrot:' }).waitFor();
    await loadedImage(settings.getByRole('list', { name: 'Custom emoji' }), 'party_parrot');
    await root.keyboard.press('Escape');
    await settings.waitFor({ state: 'detached' });
  });

  await t.test('bo finds it by name in the picker, reacts, and both see its picture', async () => {
    await ui.messageAction(bo, 'lunch at noon?', 'Add reaction');
    const picker = bo.getByRole('dialog', { name: 'Add a reaction' });
    await picker.getByLabel('Search emoji').fill('parrot');
    const option = picker.getByRole('option', { name: ':party_parrot:' });
    await loadedImage(option, 'party_parrot');
    // Nothing of the Unicode set is called that.
    await ui.eventually(async () => assert.equal(await picker.getByRole('option').count(), 1));
    await option.click();
    await picker.waitFor({ state: 'detached' });
    for (const [page, mine] of [[bo, 'true'], [root, 'false']]) {
      const bar = ui.messages(page, 'lunch at noon?').locator('.reaction');
      await ui.eventually(async () => assert.equal(await bar.count(), 1));
      await loadedImage(bar, 'party_parrot');
      assert.equal(await bar.getAttribute('aria-pressed'), mine);
      assert.equal(await bar.locator('.reaction-count').textContent(), '1');
    }
  });

  await t.test('an emoji added after bo fetched the list still shows as its picture', async () => {
    const file = await admin.upload('ship.png', 'image/png', PNG);
    await admin.call('POST', '/emoji', { name: 'shipit', file_id: file.id });
    await admin.call('PUT', `/messages/${message.id}/reactions/${encodeURIComponent(':shipit:')}`);
    const bar = ui.messages(bo, 'lunch at noon?').locator('.reaction');
    await ui.eventually(async () => assert.equal(await bar.count(), 2));
    await loadedImage(bar.nth(1), 'shipit');
  });

  assertClean(root, bo);
});
