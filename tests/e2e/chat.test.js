// Two people chat through two browsers against a real server: sign up, create a room, add the
// other, talk both ways, reply, forward, edit, delete, see typing, receipts, presence and unread
// counts, start a DM, reload and find the history, leave.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let ana;
let bo;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  ana = await newPage(browser, server);
  bo = await newPage(browser, server);
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

test('two people chat in a room and a DM', async (t) => {
  await t.test('both sign up', async () => {
    await ui.signUp(ana, 'ana', 'Ana Lima');
    await ui.signUp(bo, 'bob', 'Bo Chen');
  });

  await t.test('ana creates a room and adds bo, who sees it appear', async () => {
    await ui.createRoom(ana, 'general', 'Everything and nothing');
    await ui.addPerson(ana, 'bo', 'Bo Chen');
    await ui.roomLink(bo, 'general').waitFor();
    await ana.getByText('2 members').waitFor();
  });

  await t.test('a message arrives live with an unread count and title', async () => {
    await ui.send(ana, 'hello bo');
    await ui.expectDelivered(ana, 'hello bo');
    await ui.roomLink(bo, 'general').locator('.badge', { hasText: '1' }).waitFor();
    await ui.eventually(async () => assert.match(await bo.title(), /^\(1\) /));
    await ui.roomLink(bo, 'general').getByText('Ana Lima: hello bo').waitFor();
  });

  await t.test('opening the room reads it: the count clears and ana sees "Seen by"', async () => {
    await ui.openRoom(bo, 'general');
    await ui.expectDelivered(bo, 'hello bo');
    await ui.eventually(async () => assert.equal(await ui.roomLink(bo, 'general').locator('.badge').count(), 0));
    await ui.eventually(async () => assert.doesNotMatch(await bo.title(), /^\(/));
    await ana.locator('.msg-seen', { hasText: 'Seen by Bo Chen' }).waitFor();
  });

  await t.test('ana sees bo typing, and it stops when he sends', async () => {
    await ui.composer(bo).pressSequentially('hi an');
    await ana.locator('.typing-line', { hasText: 'Bo Chen is typing…' }).waitFor();
    await ui.composer(bo).pressSequentially('a');
    await ui.composer(bo).press('Enter');
    await ui.expectDelivered(ana, 'hi ana');
    await ui.eventually(async () => assert.equal(await ana.locator('.typing-line').textContent(), ''));
    await ui.expectDelivered(bo, 'hi ana');
  });

  await t.test('ana replies with a quote; clicking the quote shows the original', async () => {
    await ui.messageAction(ana, 'hi ana', 'Reply');
    await ana.locator('.reply-banner', { hasText: 'Replying to Bo Chen' }).waitFor();
    await ui.send(ana, 'glad you made it');
    const reply = await ui.expectDelivered(bo, 'glad you made it');
    const quote = reply.locator('.msg-quote');
    await assert.doesNotReject(quote.getByText('Bo Chen').waitFor());
    assert.equal(await quote.locator('.quote-body').textContent(), 'hi ana');
    assert.equal(await ana.locator('.reply-banner').isVisible(), false);
    await quote.click();
    const original = ui.messages(bo, 'hi ana');
    await ui.eventually(async () => assert.equal(await original.evaluate((el) => el === document.activeElement), true));
  });

  await t.test('ana edits her message in place and bo sees the new text', async () => {
    await ui.messageAction(ana, 'hello bo', 'Edit');
    const editor = ana.getByRole('textbox', { name: 'Edit message' });
    await editor.fill('hello again, bo');
    await editor.press('Enter');
    await ui.expectDelivered(ana, 'hello again, bo');
    const edited = await ui.expectDelivered(bo, 'hello again, bo');
    await edited.locator('.msg-edited').waitFor();
    await ui.expectCount(bo, 'hello bo', 0);
  });

  await t.test('ana deletes a message and it becomes a tombstone for both', async () => {
    await ui.send(ana, 'oops, wrong room');
    await ui.expectDelivered(bo, 'oops, wrong room');
    await ui.messageAction(ana, 'oops, wrong room', 'Delete');
    const confirm = ana.getByRole('dialog', { name: 'Delete message?' });
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await ui.expectCount(ana, 'oops, wrong room', 0);
    await ui.expectCount(bo, 'oops, wrong room', 0);
    await bo.locator('.msg-tombstone', { hasText: 'This message was deleted.' }).waitFor();
  });

  await t.test('ana forwards bo\'s message to another room; it shows where it came from', async () => {
    await ui.createRoom(ana, 'random');
    await ui.openRoom(ana, 'general');
    await ui.messageAction(ana, 'hi ana', 'Forward');
    const dialog = ana.getByRole('dialog', { name: 'Forward message' });
    await dialog.getByRole('button', { name: '#random' }).click();
    await ana.locator('.toast', { hasText: 'Forwarded to #random' }).waitFor();
    await ui.openRoom(ana, 'random');
    const fwd = await ui.expectDelivered(ana, 'hi ana');
    await fwd.locator('.msg-forwarded', { hasText: 'Forwarded from #general · Bo Chen' }).waitFor();
    // The origin link leads back to the original in its room.
    await fwd.getByRole('button', { name: '#general' }).click();
    await ana.locator('#room-title', { hasText: '#general' }).waitFor();
    await ui.eventually(async () => assert.equal(await ui.messages(ana, 'hi ana').evaluate((el) => el === document.activeElement), true));
  });

  await t.test('bo starts a DM; ana sees it with presence, and bo sees her status change', async () => {
    await bo.getByRole('button', { name: 'New direct message' }).click();
    const dialog = bo.getByRole('dialog', { name: 'New direct message' });
    await dialog.getByLabel('Search people').fill('ana');
    await dialog.getByRole('button', { name: 'Message Ana Lima' }).click();
    await bo.locator('#room-title', { hasText: 'Ana Lima' }).waitFor();
    await ui.send(bo, 'psst, a secret');
    await ui.expectDelivered(bo, 'psst, a secret');
    const dm = ui.roomLink(ana, 'Bo Chen');
    await dm.locator('.badge', { hasText: '1' }).waitFor();
    await ana.getByLabel('Your status').selectOption('away');
    await bo.locator('.room-subtitle', { hasText: 'away' }).waitFor();
    await ui.roomLink(bo, 'Ana Lima').locator('.presence-dot.status-away').waitFor();
    await ana.getByLabel('Your status').selectOption('online');
    await bo.locator('.room-subtitle', { hasText: 'online' }).waitFor();
  });

  await t.test('after a reload bo finds the whole history, once, in order', async () => {
    await ui.openRoom(bo, 'general');
    await bo.reload();
    await bo.locator('#room-title', { hasText: '#general' }).waitFor();
    // His reconnection is a presence change ana hears about.
    await ui.roomLink(ana, 'Bo Chen').locator('.presence-dot.status-online').waitFor();
    await ui.eventually(async () => assert.deepEqual(
      (await ui.bodies(bo)).map((b) => b.replace(/ \(edited\)$/, '')),
      ['hello again, bo', 'hi ana', 'glad you made it', 'This message was deleted.'],
    ));
    await bo.locator('.msg-quote', { hasText: 'hi ana' }).waitFor();
    await bo.locator('.day-sep', { hasText: 'Today' }).waitFor();
  });

  await t.test('bo leaves the room; it disappears for him and ana sees one member', async () => {
    await bo.getByRole('button', { name: 'Leave room' }).click();
    await bo.getByRole('dialog', { name: 'Leave #general?' }).getByRole('button', { name: 'Leave room' }).click();
    await ui.eventually(async () => assert.equal(await ui.roomLink(bo, 'general').count(), 0));
    await ana.getByText('1 member', { exact: false }).first().waitFor();
  });

  assertClean(ana, bo);
});
