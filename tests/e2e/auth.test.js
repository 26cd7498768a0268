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

test('a tab that has not yet seen another tab’s refresh takes its tokens instead of reusing the spent one', async () => {
  // What a loaded machine does to two tabs: tab A refreshes and lets the lock go, and tab B takes
  // it before A's localStorage write has reached B's process. Here the "other tab" is the test
  // itself: it spends the page's refresh token and leaves only the hand-off record behind.
  const page = await newPage(browser, server);
  await ui.signUp(page, 'eli', 'Eli');
  await ui.createRoom(page, 'handoff');
  const before = await session(page);
  const handed = await page.evaluate(async (s) => {
    const res = await fetch('/api/v1/auth/refresh', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: s.refresh_token }),
    });
    const t = await res.json();
    const next = {
      user: t.user,
      access_token: t.access_token,
      refresh_token: t.refresh_token,
      expires_at: Date.now() + t.expires_in * 1000,
      ttl_ms: t.expires_in * 1000,
    };
    await new Promise((resolve, reject) => {
      const open = indexedDB.open('confab-session', 1);
      open.onupgradeneeded = () => open.result.createObjectStore('handoff');
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const tx = open.result.transaction('handoff', 'readwrite');
        tx.objectStore('handoff').put({ spent: s.refresh_token, session: next }, 'last');
        tx.oncomplete = () => { open.result.close(); resolve(); };
        tx.onerror = () => reject(tx.error);
      };
    });
    return next;
  }, before);
  assert.equal((await session(page)).refresh_token, before.refresh_token, 'localStorage still has the spent token');

  // The page's own refresh comes due: it adopts the hand-off (spending the old token again would
  // revoke the login), and refreshes from there on.
  await ui.eventually(async () => {
    const now = await session(page);
    assert.ok(now, 'still signed in');
    assert.notEqual(now.refresh_token, before.refresh_token);
  }, { timeout: (TTL_SECS + 8) * 1000, interval: 250 });
  await ui.eventually(async () => {
    const now = await session(page);
    assert.ok(now, 'still signed in');
    assert.notEqual(now.refresh_token, handed.refresh_token, 'and refreshed once more from the handed tokens');
  }, { timeout: (TTL_SECS + 8) * 1000, interval: 250 });
  await ui.send(page, 'after the hand-off');
  await ui.expectDelivered(page, 'after the hand-off');
  assert.ok(await page.locator('.topbar').isVisible());
  assertClean(page);
  await page.context().close();
});
