// Headless Chromium through playwright-core (Debian's /usr/bin/chromium; Playwright's own
// browser downloads are not needed), and pages that fail the test on any script error or CSP
// violation.

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/**
 * Headless Chromium with a fake microphone (and camera) that needs no permission prompt. `args`
 * adds flags, e.g. `--use-file-for-fake-audio-capture=<wav>` for a microphone that talks.
 */
export function launchBrowser({ args = [] } = {}) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      ...args,
    ],
  });
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/**
 * A new browser context (its own storage: one signed-in person) and a page in it. Script errors,
 * failed assertions in the console and CSP violations are collected in `page.problems`.
 */
export async function newPage(browser, server, { viewport = DESKTOP, colorScheme = 'light', context } = {}) {
  const ctx = context || await browser.newContext({
    baseURL: server.url,
    viewport,
    colorScheme,
    deviceScaleFactor: 1,
    reducedMotion: 'reduce',
  });
  const page = await ctx.newPage();
  page.setDefaultTimeout(10_000);
  watch(page);
  return page;
}

function watch(page) {
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content Security Policy|Refused to/i.test(text)) page.problems.push(`csp: ${text}`);
    // Chromium's own transport notes during the outages the tests cause on purpose (a stopped
    // server, a cut connection) are not page problems: a frame that meets a socket already
    // closing is dropped by the browser, and the client resends by client_id.
    else if (msg.type() === 'error' && !/Failed to load resource|WebSocket connection|WebSocket is already in CLOSING or CLOSED state|ERR_CONNECTION_REFUSED|net::ERR/i.test(text)) {
      page.problems.push(`console: ${text}`);
    }
  });
  page.on('dialog', (d) => {
    page.problems.push(`unexpected native dialog: ${d.message()}`);
    d.dismiss();
  });
}

/** Throws if a page saw script errors or CSP violations. */
export function assertClean(...pages) {
  const problems = pages.flatMap((p) => p.problems || []);
  if (problems.length) throw new Error(`browser problems:\n${problems.join('\n')}`);
}
