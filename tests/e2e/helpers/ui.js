// What a person does in the Confab client, as Playwright steps, and conditions to wait for.
//
// Waiting is always for a condition (a locator's state, or `eventually` polling an assertion),
// never a fixed sleep.

import assert from 'node:assert/strict';

export const PASSWORD = 'correct horse battery';

/** Retries `fn` (an assertion) until it passes or `timeout` ms pass; rethrows the last failure. */
export async function eventually(fn, { timeout = 10_000, interval = 50 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, interval));
    }
  }
}

export async function signUp(page, username, displayName, password = PASSWORD) {
  await page.goto('/');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Display name').fill(displayName);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('banner').getByText(displayName).waitFor();
}

export async function signIn(page, username, password = PASSWORD) {
  await page.goto('/');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.locator('.topbar').waitFor();
}

/** Waits until the page's socket is connected and authenticated, so live events reach it. */
export async function online(page) {
  await page.locator('.conn-banner[data-state="online"]').waitFor({ state: 'attached' });
}

export async function createRoom(page, name, topic = '') {
  await page.getByRole('button', { name: 'Create a room' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create a room' });
  await dialog.getByLabel('Name').fill(name);
  if (topic) await dialog.getByLabel('Topic').fill(topic);
  await dialog.getByRole('button', { name: 'Create room' }).click();
  await page.getByRole('heading', { level: 1, name: `#${name}` }).waitFor();
}

export async function addPerson(page, query, displayName) {
  await page.getByRole('button', { name: 'Add people' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add people' });
  await dialog.getByLabel('Search people').fill(query);
  await dialog.getByRole('button', { name: `Add ${displayName}` }).click();
  await dialog.getByRole('button', { name: `${displayName}: Added` }).waitFor();
  await dialog.getByRole('button', { name: 'Close' }).click();
}

/** The sidebar link of a room (by its visible name). */
export function roomLink(page, name) {
  return page.locator('.sidebar a.room-item').filter({ has: page.locator('.room-item-name', { hasText: new RegExp(`^${escape(name)}$`) }) });
}

export async function openRoom(page, name) {
  await roomLink(page, name).click();
  await page.locator('#room-title', { hasText: new RegExp(`^#?${escape(name)}$`) }).waitFor();
}

export function composer(page) {
  return page.locator('#composer-input');
}

export async function send(page, text) {
  await composer(page).fill(text);
  await composer(page).press('Enter');
}

/** Messages in the open room whose body is exactly `text` (stored or pending). */
export function messages(page, text) {
  return page.locator('.messages li.msg').filter({ has: page.locator('.msg-body', { hasText: new RegExp(`^${escape(text)}( \\(edited\\))?$`) }) });
}

/** Waits until exactly `n` messages with body `text` are shown. */
export async function expectCount(page, text, n, timeout = 10_000) {
  await eventually(async () => assert.equal(await messages(page, text).count(), n, `messages "${text}"`), { timeout });
}

/** Waits until exactly one confirmed (not pending) message `text` is shown, and returns it. */
export async function expectDelivered(page, text, timeout = 10_000) {
  const m = page.locator('.messages li.msg[data-seq]').filter({ has: page.locator('.msg-body', { hasText: new RegExp(`^${escape(text)}( \\(edited\\))?$`) }) });
  await eventually(async () => {
    assert.equal(await m.count(), 1, `delivered "${text}"`);
    assert.equal(await messages(page, text).count(), 1, `shown once "${text}"`);
  }, { timeout });
  return m;
}

/** The bodies of the messages shown in the open room, in order. */
export function bodies(page) {
  return page.locator('.messages li.msg .msg-body').allTextContents();
}

export async function messageAction(page, text, action) {
  const m = messages(page, text).first();
  await m.hover();
  await m.getByRole('button', { name: action, exact: true }).click();
}

export function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
