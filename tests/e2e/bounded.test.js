// A room of 2,000 messages, read from the newest back to the first and down again: the timeline
// renders a bounded window of them, moves it as you scroll, and the message you are looking at
// never moves on screen when the window does.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import * as ui from './helpers/ui.js';

const COUNT = 2000;
/** Elements the timeline may hold, whatever the history's length (about 22 per message). */
const MAX_ELEMENTS = 5000;

let server;
let browser;
let ana;
let page;

before(async () => {
  server = await startServer({ env: { CONFAB_SEND_BURST: '5000', CONFAB_SEND_RATE: '5000' } });
  browser = await launchBrowser();
  ana = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  const bo = await ApiClient.register(server.url, 'bob', 'Bo Chen');
  const room = await ana.createRoom('annals');
  await ana.addMember(room.id, bo.user.id);
  let last;
  for (let i = 1; i <= COUNT; i++) last = await (i % 4 === 0 ? bo : ana).send(room.id, `entry ${i}`);
  await bo.call('POST', `/rooms/${room.id}/read`, { seq: last.seq });
  ana.roomId = room.id;
  page = await newPage(browser, server);
  await ui.signIn(page, 'bob');
  await ui.online(page);
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

/** The timeline's size and what it shows at its ends. */
function state() {
  return page.locator('.timeline').evaluate((sc) => {
    const msgs = sc.querySelectorAll('.messages > li.msg');
    const text = (li) => li?.querySelector('.msg-body')?.textContent;
    return { elements: sc.querySelectorAll('*').length, messages: msgs.length, first: text(msgs[0]), last: text(msgs[msgs.length - 1]) };
  });
}

/**
 * Scrolls to an edge of what is rendered and returns the message then at the top of the view with
 * its position on screen, read in the same task (before the window can move).
 */
function scrollToEdge(edge) {
  return page.locator('.timeline').evaluate((sc, where) => {
    sc.scrollTop = where === 'top' ? 0 : sc.scrollHeight;
    const top = sc.getBoundingClientRect().top;
    const li = [...sc.querySelectorAll('.messages > li.msg')].find((el) => el.getBoundingClientRect().bottom > top + 1);
    return { id: li.dataset.id, y: li.getBoundingClientRect().top };
  }, edge);
}

function positionOf(id) {
  return page.evaluate((key) => document.querySelector(`.messages li[data-id="${key}"]`)?.getBoundingClientRect().top ?? null, id);
}

/** Scrolls to one edge until `done(state)`, checking at each step that nothing jumps. */
async function scrollThrough(edge, done) {
  let steps = 0;
  let most = 0;
  for (;;) {
    const before = await state();
    most = Math.max(most, before.elements);
    if (done(before)) return { steps, most };
    const seen = await scrollToEdge(edge);
    // The window moves: the message at the top of the view stays where it was on screen.
    await ui.eventually(async () => {
      const now = await state();
      assert.ok(now.first !== before.first || now.last !== before.last || done(now), `the window moved at step ${steps} from ${JSON.stringify(before)}`);
    }, { timeout: 15_000 });
    const y = await positionOf(seen.id);
    assert.ok(y !== null && Math.abs(y - seen.y) <= 1, `no jump at step ${steps}: ${seen.y} → ${y}`);
    steps += 1;
    assert.ok(steps < 200, 'reached the end');
  }
}

test('2,000 messages are read back to the first and down again in a bounded DOM, with no jump', async () => {
  await ui.openRoom(page, 'annals');
  await ui.expectDelivered(page, `entry ${COUNT}`);
  const opened = await state();
  assert.ok(opened.elements <= MAX_ELEMENTS, `${opened.elements} elements on opening`);

  const up = await scrollThrough('top', (s) => s.first === 'entry 1');
  await page.getByText('This is the beginning of #annals.').waitFor();
  assert.ok(up.most <= MAX_ELEMENTS, `at most ${up.most} elements on the way up`);
  assert.ok((await state()).messages <= 200, "at most 200 messages rendered");

  // Going back down renders the newer messages again (from memory), the oldest making way.
  const down = await scrollThrough('bottom', (s) => s.last === `entry ${COUNT}`);
  assert.ok(down.most <= MAX_ELEMENTS, `at most ${down.most} elements on the way down`);

  // At the bottom again, the window follows live messages.
  await page.locator('.timeline').evaluate((sc) => { sc.scrollTop = sc.scrollHeight; });
  await ana.send(ana.roomId, 'and one more');
  await ui.expectDelivered(page, 'and one more');
  assert.ok((await state()).elements <= MAX_ELEMENTS);
  assertClean(page);
});

test('"Jump to latest" from deep in the history brings the newest window back', async () => {
  await page.locator('.timeline').evaluate((sc) => { sc.scrollTop = 0; });
  await scrollThrough('top', (s) => s.first === 'entry 1');
  const latest = page.getByRole('button', { name: /^Jump to latest/ });
  await latest.click();
  await ui.eventually(async () => assert.ok(await ui.messages(page, 'and one more').isVisible()));
  assert.ok((await state()).elements <= MAX_ELEMENTS);
  assertClean(page);
});
