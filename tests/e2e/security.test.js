// User text is only ever text: markup in messages, names and room names shows literally and never
// runs; only http(s) URLs become links, and those open safely. The page's CSP holds (any
// violation or script dialog fails the test through assertClean).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
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

const EVIL = [
  '<img src=x onerror=alert(1)>',
  '<script>alert(2)</script>',
  '"><svg onload=alert(3)>',
  '<a href="javascript:alert(4)">click</a>',
];

test('markup in user text shows as text and never runs', async () => {
  const mallory = await ApiClient.register(server.url, 'mallory', '<b onmouseover=alert(5)>Mal</b>');
  const victim = await ApiClient.register(server.url, 'victim', 'Vic');
  const room = await mallory.createRoom('<i>room</i><img src=x onerror=alert(6)>', '<script>alert(7)</script>');
  await mallory.addMember(room.id, victim.user.id);
  for (const body of EVIL) await mallory.send(room.id, body);
  await mallory.send(room.id, 'see javascript:alert(8) and https://example.com/a?b=c&d=%22x%22 (https://example.org/x).');
  await mallory.send(room.id, `quoted ${EVIL[0]}`, {});

  const page = await newPage(browser, server);
  await ui.signIn(page, 'victim');
  await page.locator('.room-item-name', { hasText: '<i>room</i><img src=x onerror=alert(6)>' }).click();
  await page.locator('#room-title', { hasText: '#<i>room</i><img src=x onerror=alert(6)>' }).waitFor();
  for (const body of EVIL) await ui.expectDelivered(page, body);
  // The sender's name and the topic are text too.
  await page.locator('.msg-sender', { hasText: '<b onmouseover=alert(5)>Mal</b>' }).first().waitFor();
  await page.locator('.room-subtitle', { hasText: '<script>alert(7)</script>' }).waitFor();

  // Nothing of it became elements.
  const injected = await page.evaluate(() => ({
    imgs: document.querySelectorAll('.messages img, .sidebar img, .room-header img').length,
    scripts: [...document.scripts].filter((s) => !s.src.endsWith('/js/main.js')).length,
    svgs: [...document.querySelectorAll('.messages svg')].filter((s) => !s.classList.contains('icon')).length,
    bold: document.querySelectorAll('.msg-sender b, .room-item b').length,
    italic: document.querySelectorAll('#room-title i, .room-item i').length,
    jsLinks: [...document.querySelectorAll('a[href]')].filter((a) => !/^https?:/.test(a.href)).length,
  }));
  assert.deepEqual(injected, { imgs: 0, scripts: 0, svgs: 0, bold: 0, italic: 0, jsLinks: 0 });

  // Links: http(s) only, trailing punctuation left out, opened without opener or referrer.
  const links = await page.locator('.msg-body a').evaluateAll((as) => as.map((a) => ({ href: a.getAttribute('href'), text: a.textContent, rel: a.rel, target: a.target })));
  assert.deepEqual(links, [
    { href: 'https://example.com/a?b=c&d=%22x%22', text: 'https://example.com/a?b=c&d=%22x%22', rel: 'noopener noreferrer nofollow', target: '_blank' },
    { href: 'https://example.org/x', text: 'https://example.org/x', rel: 'noopener noreferrer nofollow', target: '_blank' },
  ]);

  // Hover and click around the hostile content: still nothing runs.
  await page.locator('.msg-sender').first().hover();
  await ui.messages(page, EVIL[3]).click();

  // The same text typed into the composer, and shown in a reply quote, is text as well.
  await ui.messageAction(page, EVIL[0], 'Reply');
  await ui.send(page, EVIL[1]);
  const mine = page.locator('.messages li.msg.own').filter({ has: page.locator('.msg-body', { hasText: EVIL[1] }) });
  await mine.locator('.quote-body', { hasText: EVIL[0] }).waitFor();
  assert.equal(await page.locator('.messages img').count(), 0);

  // Headers say the same thing the page does.
  const res = await page.request.get('/');
  assert.match(res.headers()['content-security-policy'], /script-src 'self'/);
  assertClean(page);
  await page.context().close();
});
