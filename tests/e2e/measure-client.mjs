// Measures the web client's weight, for docs/benchmarks.md (a measurement, not a test: it
// asserts nothing and is not a *.test.js, so the suite does not run it):
//
// - bytes on the wire for a cold load (a first visit: sign in, open a room) and a warm one (the
//   same address again), from Chromium's network log, split into the static files and the rest;
// - the timeline's element count after reading a 2,000-message room from the newest back to the
//   first and down again, the most it held on the way, and the whole page's.
//
//   cd tests/e2e && CONFAB_BIN=../../target/release/confab node measure-client.mjs
//
// Prints a Markdown table. Byte counts and DOM sizes do not depend on CPU speed or load.

import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, DESKTOP } from './helpers/browser.js';
import { recordWire, fromNetwork, wireBytes, isStatic } from './helpers/wire.js';
import * as ui from './helpers/ui.js';

const MESSAGES = 2000;

const server = await startServer({ env: { CONFAB_SEND_BURST: '5000', CONFAB_SEND_RATE: '5000' } });
const browser = await launchBrowser();
try {
  const ana = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  const bo = await ApiClient.register(server.url, 'bob', 'Bo Chen');
  const room = await ana.createRoom('annals', 'two thousand messages');
  await ana.addMember(room.id, bo.user.id);
  let last;
  for (let i = 1; i <= MESSAGES; i++) last = await (i % 4 === 0 ? bo : ana).send(room.id, `entry ${i}: ${'words '.repeat(i % 7)}`);
  await bo.call('POST', `/rooms/${room.id}/read`, { seq: last.seq });

  const context = await browser.newContext({ baseURL: server.url, viewport: DESKTOP });
  const page = await newPage(browser, server, { context });
  const rows = [];

  const cold = await recordWire(page);
  await ui.signIn(page, 'bob');
  await ui.openRoom(page, 'annals');
  await page.locator('.messages li.msg[data-seq]').last().waitFor();
  rows.push(['cold load (sign in, open a room)', summary(await cold.stop())]);

  const warm = await recordWire(page);
  await page.goto(`/r/${room.id}`);
  await page.locator('.messages li.msg[data-seq]').last().waitFor();
  await ui.online(page);
  rows.push(['warm load (the same address again)', summary(await warm.stop())]);

  const dom = await readThrough(page);

  console.log('| load | requests to the network | of which static files | bytes on the wire | static files\' bytes | static files from the cache |');
  console.log('|---|---|---|---|---|---|');
  for (const [name, s] of rows) {
    console.log(`| ${name} | ${s.requests} | ${s.staticRequests} | ${kb(s.bytes)} | ${kb(s.staticBytes)} | ${s.staticCached} |`);
  }
  console.log();
  console.log('| timeline after reading 2,000 messages | elements |');
  console.log('|---|---|');
  console.log(`| on opening the room | ${dom.opened} |`);
  console.log(`| most at any step, up to the first and down again | ${dom.most} |`);
  console.log(`| at the end (back at the newest) | ${dom.end} |`);
  console.log(`| whole page at the end | ${dom.page} |`);
  console.log(`| messages rendered at the end | ${dom.messages} |`);
} finally {
  await browser.close();
  await server.dispose();
}

function summary(requests) {
  const net = fromNetwork(requests);
  const statics = requests.filter((r) => isStatic(r.url));
  return {
    requests: net.length,
    staticRequests: net.filter((r) => isStatic(r.url)).length,
    bytes: wireBytes(requests),
    staticBytes: wireBytes(statics),
    staticCached: statics.filter((r) => r.cached).length,
  };
}

function kb(n) {
  return `${(n / 1024).toFixed(1)} KiB`;
}

/** Scrolls to the first message and back to the newest; the timeline's element counts. */
async function readThrough(page) {
  const count = () => page.locator('.timeline').evaluate((sc) => ({
    elements: sc.querySelectorAll('*').length,
    page: document.querySelectorAll('*').length,
    messages: sc.querySelectorAll('.messages > li.msg').length,
    first: sc.querySelector('.messages > li.msg .msg-body')?.textContent,
    last: [...sc.querySelectorAll('.messages > li.msg .msg-body')].pop()?.textContent,
  }));
  const opened = (await count()).elements;
  let most = opened;
  for (const edge of ['top', 'bottom']) {
    const goal = edge === 'top' ? /^entry 1:/ : new RegExp(`^entry ${MESSAGES}:`);
    for (let step = 0; step < 400; step++) {
      const now = await count();
      most = Math.max(most, now.elements);
      if (goal.test(edge === 'top' ? now.first : now.last)) break;
      await page.locator('.timeline').evaluate((sc, where) => { sc.scrollTop = where === 'top' ? 0 : sc.scrollHeight; }, edge);
      await ui.eventually(async () => {
        const after = await count();
        if (after.first === now.first && after.last === now.last && !goal.test(edge === 'top' ? after.first : after.last)) throw new Error('not moved yet');
      }, { timeout: 15_000 });
    }
  }
  const end = await count();
  return { opened, most: Math.max(most, end.elements), end: end.elements, page: end.page, messages: end.messages };
}
