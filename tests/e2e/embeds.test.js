// Link previews: a message with a link to a local test page shows a preview card (site name,
// title as a link that opens in a new tab without referrer, description, picture), live on
// `message.embeds` for the sender and the other member; the picture comes from Confab, so the
// readers' browsers never contact the linked site.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import * as ui from './helpers/ui.js';

// A 2×1 red PNG (its chunks' CRCs and its zlib stream's checksum intact: a picture the server
// cannot decode is dropped from the preview). Small enough that the card shows it at its size.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAADUlEQVR4nGP4z8AARAAI/gH/xp559wAAAABJRU5ErkJggg==',
  'base64',
);

const TITLE = 'Lighthouse keepers & their lamps';

let site;
let siteUrl;
const siteHits = [];
let server;
let browser;
let ana;
let bo;
// Every request either reader's browser made, from the first page load on.
const requests = [];

before(async () => {
  site = http.createServer((req, res) => {
    siteHits.push(req.url);
    if (req.url === '/article') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html><head><title>plain</title>
        <meta property="og:title" content="Lighthouse keepers &amp; their lamps">
        <meta property="og:description" content="A short history of a lonely trade.">
        <meta property="og:site_name" content="Coastal Gazette">
        <meta property="og:image" content="/cover.png"></head><body>story</body></html>`);
    } else if (req.url === '/cover.png') {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(PNG);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => site.listen(0, '127.0.0.1', r));
  siteUrl = `http://127.0.0.1:${site.address().port}`;
  server = await startServer({
    env: {
      // Testing only: the fetcher may reach this page server on loopback.
      CONFAB_TEST_LINK_PREVIEW_ALLOW: '127.0.0.1/32',
      CONFAB_TEST_LINK_PREVIEW_PORTS: String(site.address().port),
    },
  });
  browser = await launchBrowser();
  const a = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  const b = await ApiClient.register(server.url, 'bob', 'Bo Chen');
  const room = await a.createRoom('general');
  await a.addMember(room.id, b.user.id);
  ana = await newPage(browser, server);
  bo = await newPage(browser, server);
  for (const page of [ana, bo]) page.on('request', (r) => requests.push(r.url()));
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
  site?.close();
});

test('a link shows a preview card whose picture Confab serves', async () => {
  const text = `read this: ${siteUrl}/article`;
  await ui.send(ana, text);
  for (const page of [ana, bo]) {
    // The send does not wait for the preview: the card arrives later, on `message.embeds`,
    // under the message already shown. The fetch has a 5 s deadline; a busy machine adds more.
    await ui.expectDelivered(page, text, 20_000);
    const card = ui.messages(page, text).getByRole('article', { name: `Preview: ${TITLE}` });
    await card.waitFor({ timeout: 30_000 });
    assert.equal(await card.locator('.embed-site').textContent(), 'Coastal Gazette');
    assert.equal(await card.locator('.embed-description').textContent(), 'A short history of a lonely trade.');
    const link = card.getByRole('link', { name: TITLE, exact: true });
    assert.equal(await link.getAttribute('href'), `${siteUrl}/article`);
    assert.equal(await link.getAttribute('target'), '_blank');
    assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
    const img = card.getByRole('img', { name: `Picture of ${TITLE}`, exact: true });
    assert.equal(await img.getAttribute('width'), '2');
    assert.equal(await img.getAttribute('height'), '1');
    const source = await img.getAttribute('data-src');
    assert.match(source, /^\/api\/v1\/embeds\/[0-9a-f-]+\/image$/);
    await ui.eventually(async () => {
      assert.ok(await img.evaluate((el) => el.complete && el.naturalWidth === 2 && el.naturalHeight === 1), 'the picture loaded');
    }, { timeout: 20_000 });
  }
  // The picture came from Confab's origin; the browsers never asked the linked site for anything.
  const origin = new URL(server.url).origin;
  assert.ok(requests.some((u) => u.startsWith(`${origin}/api/v1/embeds/`)), requests.join('\n'));
  assert.deepEqual(requests.filter((u) => u.startsWith(siteUrl)), []);
  // And the server fetched the page and its picture once each.
  assert.deepEqual(siteHits.filter((u) => u === '/article' || u === '/cover.png').sort(), ['/article', '/cover.png']);
  assertClean(ana, bo);
});
