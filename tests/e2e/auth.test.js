// Accounts and tokens: sign-in errors, transparent refresh of short-lived tokens shared by two
// tabs (single-flight: a reused refresh token would revoke the login), the socket kept open across
// refreshes, and sign-out reaching every tab.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import * as ui from './helpers/ui.js';

const TTL_SECS = 10; // the server's minimum: tokens refresh every ~8 s

let server;
let browser;

before(async () => {
  server = await startServer({ env: { CONFAB_ACCESS_TOKEN_TTL_SECS: String(TTL_SECS) } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

function session(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem('confab.session') || 'null'));
}

test('sign-up and sign-in report problems in words', async () => {
  const page = await newPage(browser, server);
  await ui.signUp(page, 'cleo', 'Cleo');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('status').getByText('You signed out.').waitFor();
  assert.equal(await session(page), null);

  await page.getByLabel('Username').fill('cleo');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('alert').getByText('wrong username or password').waitFor();

  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill('Cleo');
  await page.getByLabel('Password').fill(ui.PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('alert').getByText('that username is taken').waitFor();

  await page.getByRole('button', { name: 'Sign in', exact: true }).first().click();
  await page.getByLabel('Username').fill('CLEO');
  await page.getByLabel('Password').fill(ui.PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('banner').getByText('Cleo').waitFor();
  assertClean(page);
  await page.context().close();
});

test('two tabs share one login; tokens refresh once for both and sockets stay up', async () => {
  const tab1 = await newPage(browser, server);
  await ui.signUp(tab1, 'dana', 'Dana');
  await ui.createRoom(tab1, 'notes');
  const tab2 = await newPage(browser, server, { context: tab1.context() });
  const sockets = new Map([[tab1, 0], [tab2, 0]]);
  for (const tab of [tab1, tab2]) tab.on('websocket', () => sockets.set(tab, sockets.get(tab) + 1));
  await tab2.goto('/');
  await ui.openRoom(tab2, 'notes');
  await ui.send(tab2, 'from the second tab');
  await ui.expectDelivered(tab1, 'from the second tab');

  // Outlive the first access token by a comfortable margin: at least one refresh happens.
  const first = await session(tab1);
  await ui.eventually(async () => {
    const now = await session(tab1);
    assert.notEqual(now.refresh_token, first.refresh_token);
    assert.ok(Date.now() > first.expires_at + 1500, 'past the first token\'s expiry');
  }, { timeout: (TTL_SECS + 8) * 1000, interval: 250 });

  // Both tabs still work, on the sockets they opened (re-authenticated in place, no 4001).
  await ui.send(tab1, 'still here after a refresh');
  await ui.expectDelivered(tab2, 'still here after a refresh');
  await ui.send(tab2, 'me too');
  await ui.expectDelivered(tab1, 'me too');
  assert.equal(sockets.get(tab1), 0, 'tab 1 kept its socket');
  assert.equal(sockets.get(tab2), 1, 'tab 2 opened one socket');
  // A reused refresh token would have revoked the login: both tabs are still signed in.
  for (const tab of [tab1, tab2]) assert.ok(await tab.locator('.topbar').isVisible());

  // Signing out in one tab signs out the other.
  await tab1.getByRole('button', { name: 'Sign out' }).click();
  await tab2.getByText('You signed out in another tab.').waitFor();
  await tab2.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  assertClean(tab1, tab2);
  await tab1.context().close();
});
