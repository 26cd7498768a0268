// Attention: the tab title counts unread messages; desktop notifications, once turned on with a
// click, come for DMs and mentions in rooms you are not looking at, and never in do-not-disturb.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean, DESKTOP } from './helpers/browser.js';
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

test('DMs and mentions notify, other messages only count in the title', async () => {
  const bo = await ApiClient.register(server.url, 'bob', 'Bo Chen');
  const ana = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  const general = await bo.createRoom('general');
  await bo.addMember(general.id, ana.user.id);
  await ana.createRoom('quiet');

  // Record notifications instead of showing them.
  const context = await browser.newContext({ baseURL: server.url, viewport: DESKTOP });
  await context.addInitScript(() => {
    window.shownNotifications = [];
    window.Notification = class {
      static permission = 'default';
      static requestPermission() {
        window.Notification.permission = 'granted';
        return Promise.resolve('granted');
      }
      constructor(title, options) {
        window.shownNotifications.push({ title, body: options?.body });
      }
      close() {}
    };
  });
  const page = await newPage(browser, server, { context });
  const shown = () => page.evaluate(() => window.shownNotifications);
  await ui.signIn(page, 'ana');

  const bell = page.getByRole('button', { name: 'Turn on desktop notifications for DMs and mentions' });
  await bell.click();
  await page.getByRole('button', { name: 'Desktop notifications on (DMs and mentions)', pressed: true }).waitFor();

  await ui.openRoom(page, 'quiet');
  await bo.send(general.id, 'hello everyone');
  await ui.roomLink(page, 'general').locator('.badge', { hasText: '1' }).waitFor();
  await ui.eventually(async () => assert.equal(await page.title(), '(1) #quiet · Confab'));
  assert.deepEqual(await shown(), [], 'a plain room message does not notify');

  await bo.send(general.id, '@ana can you look at this?');
  await ui.eventually(async () => assert.deepEqual(await shown(), [{ title: 'Bo Chen in #general', body: '@ana can you look at this?' }]));
  await ui.eventually(async () => assert.equal(await page.title(), '(2) #quiet · Confab'));

  const dm = await bo.call('POST', '/dms', { user_id: ana.user.id });
  await bo.send(dm.id, 'psst');
  await ui.eventually(async () => assert.deepEqual((await shown()).at(-1), { title: 'Bo Chen', body: 'psst' }));

  // Do not disturb: messages still arrive and count, but stay quiet.
  await page.getByLabel('Your status').selectOption('dnd');
  await bo.send(dm.id, 'are you there?');
  await ui.roomLink(page, 'Bo Chen').locator('.badge', { hasText: '2' }).waitFor();
  assert.equal((await shown()).length, 2);

  // Reading everything clears the title.
  await ui.openRoom(page, 'general');
  await ui.openRoom(page, 'Bo Chen');
  await ui.eventually(async () => assert.equal(await page.title(), 'Bo Chen · Confab'));
  assertClean(page);
  await context.close();
});
