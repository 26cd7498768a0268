// What conversations are made of besides text: reactions with the picker (search by shortcode,
// recently used first), pins with their panel, and mentions: autocomplete after `@`, the
// highlight and the sidebar's mention badge, and the per-room notification level; and the
// Markdown subset, which a body of <script> and javascript: links cannot turn into script.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let ana;
let bo;

before(async () => {
  // The last test posts a screenful of messages over HTTP at once: past the per-user send rate.
  server = await startServer({ env: { CONFAB_SEND_BURST: '1000', CONFAB_SEND_RATE: '1000' } });
  browser = await launchBrowser();
  const a = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  const b = await ApiClient.register(server.url, 'bob', 'Bo Chen');
  const room = await a.createRoom('general');
  await a.addMember(room.id, b.user.id);
  await a.send(room.id, 'shall we ship it?');
  await a.createRoom('random');
  ana = await newPage(browser, server);
  bo = await newPage(browser, server);
  await ui.signIn(ana, 'ana');
  await ui.signIn(bo, 'bob');
  for (const page of [ana, bo]) {
    await ui.openRoom(page, 'general');
    await ui.online(page);
  }
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

/** The reaction toggle of `emoji` under message `text`. */
function reaction(page, text, emoji) {
  return ui.messages(page, text).locator('.reaction', { has: page.locator('.reaction-emoji', { hasText: emoji }) });
}

async function expectReaction(page, text, emoji, count, mine) {
  const r = reaction(page, text, emoji);
  await ui.eventually(async () => {
    assert.equal(await r.locator('.reaction-count').textContent(), String(count));
    assert.equal(await r.getAttribute('aria-pressed'), mine ? 'true' : 'false');
  });
}

test('reactions', async (t) => {
  await t.test('bo picks 👍 by searching its shortcode; ana sees it live', async () => {
    await ui.messageAction(bo, 'shall we ship it?', 'Add reaction');
    const picker = bo.getByRole('dialog', { name: 'Add a reaction' });
    await picker.getByLabel('Search emoji').fill(':thumbs');
    const options = picker.getByRole('option');
    await ui.eventually(async () => assert.deepEqual(await options.allTextContents(), ['👍', '👎']));
    await options.first().click();
    await picker.waitFor({ state: 'detached' });
    await expectReaction(bo, 'shall we ship it?', '👍', 1, true);
    await expectReaction(ana, 'shall we ship it?', '👍', 1, false);
  });

  await t.test('ana joins the reaction with one click, and bo takes his back', async () => {
    await reaction(ana, 'shall we ship it?', '👍').click();
    await expectReaction(ana, 'shall we ship it?', '👍', 2, true);
    await expectReaction(bo, 'shall we ship it?', '👍', 2, true);
    await reaction(bo, 'shall we ship it?', '👍').click();
    await expectReaction(bo, 'shall we ship it?', '👍', 1, false);
    await expectReaction(ana, 'shall we ship it?', '👍', 1, true);
    assert.match(await reaction(bo, 'shall we ship it?', '👍').getAttribute('title'), /^Ana Lima reacted/);
  });

  await t.test('the picker lists what bo used recently first', async () => {
    await ui.messageAction(bo, 'shall we ship it?', 'Add reaction');
    const picker = bo.getByRole('dialog', { name: 'Add a reaction' });
    await picker.getByRole('option', { name: ':rocket:' }).click();
    await expectReaction(ana, 'shall we ship it?', '🚀', 1, false);
    await ui.messageAction(bo, 'shall we ship it?', 'Add reaction');
    const options = bo.getByRole('dialog', { name: 'Add a reaction' }).getByRole('option');
    assert.deepEqual((await options.allTextContents()).slice(0, 2), ['🚀', '👍']);
    await bo.keyboard.press('Escape');
  });

  await t.test('reactions survive a reload, from history', async () => {
    await ana.reload();
    await ui.openRoom(ana, 'general');
    await expectReaction(ana, 'shall we ship it?', '👍', 1, true);
    await expectReaction(ana, 'shall we ship it?', '🚀', 1, false);
  });

  assertClean(ana, bo);
});

test('pins', async (t) => {
  const text = 'the plan: ship on friday';
  await t.test('the owner pins a message; bo, a member, sees it pinned live but cannot pin', async () => {
    await ui.send(ana, text);
    await ui.expectDelivered(bo, text);
    await ui.messageAction(ana, text, 'Pin');
    await ui.messages(bo, text).locator('.msg-pinned', { hasText: 'Pinned' }).waitFor();
    await ui.messages(bo, text).hover();
    assert.equal(await ui.messages(bo, text).getByRole('button', { name: 'Pin', exact: true }).count(), 0);
  });

  await t.test('the pins panel lists it and jumps to it', async () => {
    await bo.getByRole('button', { name: 'Pinned messages' }).click();
    const panel = bo.getByRole('dialog', { name: 'Pinned messages' });
    const item = panel.locator('.pin-item');
    await ui.eventually(async () => assert.equal(await item.count(), 1));
    assert.equal(await item.locator('.pin-body').textContent(), text);
    assert.equal(await item.getByRole('button', { name: 'Unpin' }).count(), 0);
    await item.getByRole('button', { name: 'Jump' }).click();
    await panel.waitFor({ state: 'detached' });
    await ui.eventually(async () => assert.equal(await ui.messages(bo, text).evaluate((el) => el === document.activeElement), true));
  });

  await t.test('the owner unpins it from the panel; bo sees the mark go', async () => {
    await ana.getByRole('button', { name: 'Pinned messages' }).click();
    const panel = ana.getByRole('dialog', { name: 'Pinned messages' });
    await panel.locator('.pin-item').getByRole('button', { name: 'Unpin' }).click();
    await panel.getByText('Nothing is pinned yet.').waitFor();
    await ana.keyboard.press('Escape');
    await ui.eventually(async () => assert.equal(await ui.messages(bo, text).locator('.msg-pinned').count(), 0));
  });

  assertClean(ana, bo);
});

test('mentions', async (t) => {
  await t.test('bo types @an and picks Ana from the suggestions', async () => {
    await ui.openRoom(ana, 'random');
    await ui.composer(bo).fill('');
    await ui.composer(bo).pressSequentially('@an');
    const list = bo.getByRole('listbox', { name: 'People to mention' });
    await list.getByRole('option', { name: /@ana/ }).waitFor();
    assert.equal(await list.getByRole('option').count(), 1);
    await ui.composer(bo).press('Enter');
    assert.equal(await ui.composer(bo).inputValue(), '@ana ');
    assert.equal(await list.isVisible(), false);
    await ui.composer(bo).pressSequentially('can you review?');
    await ui.composer(bo).press('Enter');
    await ui.expectDelivered(bo, '@ana can you review?');
  });

  await t.test('ana, in another room, gets a mention badge; the message is highlighted for her', async () => {
    await ui.roomLink(ana, 'general').locator('.mention-badge').waitFor();
    await ui.openRoom(ana, 'general');
    const m = await ui.expectDelivered(ana, '@ana can you review?');
    assert.match(await m.getAttribute('class'), /\bmention\b/);
    const plain = ui.messages(ana, 'shall we ship it?');
    assert.doesNotMatch(await plain.getAttribute('class'), /\bmention\b/);
    await ui.openRoom(ana, 'random');
    await ui.eventually(async () => assert.equal(await ui.roomLink(ana, 'general').locator('.badge').count(), 0));
  });

  await t.test('with notifications set to "Nothing", new messages show no badge', async () => {
    await ui.openRoom(ana, 'general');
    await ana.getByRole('button', { name: 'Notifications for this room' }).click();
    const dialog = ana.getByRole('dialog', { name: 'Notifications for this room' });
    assert.equal(await dialog.getByRole('radio', { name: /All messages/ }).isChecked(), true);
    await dialog.getByRole('radio', { name: /Nothing/ }).check();
    const asAna = await ApiClient.login(server.url, 'ana');
    await ui.eventually(async () => assert.equal((await asAna.rooms()).find((r) => r.name === 'general').notify, 'none'));
    await ana.keyboard.press('Escape');
    await ui.openRoom(ana, 'random');
    await ui.send(bo, 'quiet news');
    await ui.expectDelivered(bo, 'quiet news');
    await ui.roomLink(ana, 'general').getByText('Bo Chen: quiet news').waitFor();
    assert.equal(await ui.roomLink(ana, 'general').locator('.badge').count(), 0);
  });

  assertClean(ana, bo);
});


test('formatting', async (t) => {
  const body = [
    'a **bold** move, *really* _quite_ ~~not~~ `code **here**` and ||the ending||',
    '```',
    '<script>alert(1)</script> **not bold**',
    '```',
    '> quoted <img src=x onerror=alert(2)>',
    '- first',
    '- [x](javascript:alert(3)) javascript:alert(4)',
    '3. third',
    '4. fourth https://example.com/a_b_c_',
    'snake_case_name stays',
  ].join('\n');
  let msg;
  await t.test('the subset renders as elements built from text', async () => {
    await ui.openRoom(ana, 'general');
    await ui.composer(bo).fill(body);
    await ui.composer(bo).press('Enter');
    msg = ana.locator('.messages li.msg').filter({ has: ana.locator('.md-code') }).last();
    await msg.waitFor();
    const shape = await msg.locator('.msg-body').evaluate((el) => ({
      strong: [...el.querySelectorAll(':scope > .md-text strong')].map((x) => x.textContent),
      em: [...el.querySelectorAll('em')].map((x) => x.textContent),
      del: [...el.querySelectorAll('del')].map((x) => x.textContent),
      code: [...el.querySelectorAll('.md-inline-code')].map((x) => x.textContent),
      pre: el.querySelector('pre code')?.textContent,
      quote: el.querySelector('blockquote')?.textContent,
      bullets: [...el.querySelectorAll('ul > li')].map((x) => x.textContent),
      numbered: [...el.querySelectorAll('ol > li')].map((x) => x.textContent),
      start: el.querySelector('ol')?.getAttribute('start'),
      links: [...el.querySelectorAll('a')].map((a) => [a.textContent, a.href, a.target, a.rel]),
      last: el.lastElementChild.textContent,
      injected: el.querySelectorAll('script, img, [onerror]').length,
    }));
    assert.deepEqual(shape, {
      strong: ['bold'],
      em: ['really', 'quite'],
      del: ['not'],
      code: ['code **here**'],
      pre: '<script>alert(1)</script> **not bold**',
      quote: 'quoted <img src=x onerror=alert(2)>',
      bullets: ['first', '[x](javascript:alert(3)) javascript:alert(4)'],
      numbered: ['third', 'fourth https://example.com/a_b_c_'],
      start: '3',
      links: [['https://example.com/a_b_c_', 'https://example.com/a_b_c_', '_blank', 'noopener noreferrer nofollow']],
      last: 'snake_case_name stays',
      injected: 0,
    });
  });

  await t.test('a spoiler hides its text until activated', async () => {
    const spoiler = msg.locator('.spoiler');
    assert.equal(await spoiler.getAttribute('aria-pressed'), 'false');
    assert.equal(await spoiler.evaluate((el) => getComputedStyle(el).color), 'rgba(0, 0, 0, 0)');
    await spoiler.click();
    assert.equal(await spoiler.getAttribute('aria-pressed'), 'true');
    assert.notEqual(await spoiler.evaluate((el) => getComputedStyle(el).color), 'rgba(0, 0, 0, 0)');
  });

  await t.test('an edit re-renders', async () => {
    const mine = bo.locator('.messages li.msg.own').filter({ has: bo.locator('.md-code') }).last();
    await mine.hover();
    await mine.getByRole('button', { name: 'Edit', exact: true }).click();
    await bo.getByLabel('Edit message').fill('now **just** this');
    await bo.getByLabel('Edit message').press('Enter');
    const edited = ana.locator('.messages li.msg').filter({ has: ana.locator('.msg-body strong', { hasText: 'just' }) });
    await edited.waitFor();
    assert.equal(await edited.locator('.md-code').count(), 0);
  });

  assertClean(ana, bo);
});

test('the unread marker, grouping and jump to latest', async () => {
  await ui.openRoom(ana, 'random');
  await ui.send(bo, 'unread one');
  await ui.expectDelivered(bo, 'unread one');
  await ui.send(bo, 'unread two');
  await ui.expectDelivered(bo, 'unread two');
  await ui.roomLink(ana, 'general').getByText('Bo Chen: unread two').waitFor();
  await ui.openRoom(ana, 'general');
  await ui.expectDelivered(ana, 'unread two');
  // The marker sits at ana's read position: right before the first message she had not read.
  const order = await ana.locator('.messages > li').evaluateAll((lis) => lis.map((li) => (li.classList.contains('new-sep') ? 'NEW' : li.querySelector('.msg-body')?.textContent)));
  const at = order.indexOf('NEW');
  assert.deepEqual(order.slice(at, at + 3), ['NEW', 'unread one', 'unread two']);
  assert.equal(await ana.locator('.day-sep').count(), 1, 'one day, one separator');
  // Bo's two messages a moment apart are one group: the second shows no name of its own.
  assert.equal(await ui.messages(ana, 'unread two').locator('.msg-sender').count(), 0);
  assert.match(await ui.messages(ana, 'unread two').getAttribute('class'), /\bgrouped\b/);

  // Scrolled up, "Jump to latest" appears and brings the newest back.
  const asBo = await ApiClient.login(server.url, 'bob');
  const general = (await asBo.rooms()).find((r) => r.name === 'general');
  for (let i = 1; i <= 40; i++) await asBo.send(general.id, `filler ${i}`);
  await ui.expectDelivered(ana, 'filler 40');
  const scroller = ana.locator('.timeline');
  await scroller.evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
  const jump = ana.getByRole('button', { name: 'Jump to latest' });
  await jump.waitFor();
  await jump.click();
  await ui.eventually(async () => assert.ok(await scroller.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 80)));
  await jump.waitFor({ state: 'hidden' });
  assertClean(ana, bo);
});
