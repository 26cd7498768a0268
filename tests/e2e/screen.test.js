// Screen share in real browsers through the server's SFU. Headless Chromium has no screen to
// capture (--auto-select-desktop-capture-source needs a desktop), so each page's
// getDisplayMedia is a moving canvas's captureStream(), installed before the app loads; the
// app itself is unchanged. One page shares, the other must decode the frames
// (getStats framesDecoded) and show the screen large, with the people beside it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import { instrument } from './helpers/voice.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let ana;
let bo;

/** getDisplayMedia as a 640x360 canvas that changes every frame; `window.__screens` counts calls. */
async function fakeScreen(page) {
  await page.addInitScript(() => {
    window.__screens = 0;
    navigator.mediaDevices.getDisplayMedia = async () => {
      window.__screens += 1;
      const canvas = document.createElement('canvas');
      canvas.width = 640;
      canvas.height = 360;
      const g = canvas.getContext('2d');
      let n = 0;
      const draw = () => {
        n += 1;
        g.fillStyle = `hsl(${(n * 7) % 360} 70% 50%)`;
        g.fillRect(0, 0, 640, 360);
        g.fillStyle = '#fff';
        g.font = '48px sans-serif';
        g.fillText(`frame ${n}`, 40, 120);
      };
      draw();
      const timer = setInterval(draw, 50);
      const stream = canvas.captureStream(20);
      stream.getVideoTracks()[0].addEventListener('ended', () => clearInterval(timer));
      return stream;
    };
  });
}

/** The newest PeerConnection's video figures. */
function videoStats(page) {
  return page.evaluate(async () => {
    const pc = window.__pcs[window.__pcs.length - 1];
    const out = { framesDecoded: 0, framesSent: 0, inbound: 0 };
    if (!pc) return out;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        out.inbound += 1;
        out.framesDecoded += s.framesDecoded || 0;
      }
      if (s.type === 'outbound-rtp' && s.kind === 'video') out.framesSent += s.framesSent || 0;
    });
    return out;
  });
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const anaApi = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  const boApi = await ApiClient.register(server.url, 'bob', 'Bo Chen');
  const room = await anaApi.createRoom('design');
  await anaApi.addMember(room.id, boApi.user.id);
  [ana, bo] = await Promise.all(['ana', 'bob'].map(async (username) => {
    const page = await newPage(browser, server);
    await instrument(page);
    await fakeScreen(page);
    await ui.signIn(page, username);
    await ui.openRoom(page, 'design');
    return page;
  }));
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

test('screen share', async (t) => {
  for (const page of [ana, bo]) {
    await page.getByRole('button', { name: /^Join voice call/ }).first().click();
    await page.locator('.call-panel').getByText('You are in the call').waitFor();
  }
  await ui.eventually(async () => (await ana.locator('.call-person').count()) === 2);

  await t.test('one shares; the other decodes frames and sees the screen large beside the people', async () => {
    await ana.getByRole('button', { name: 'Share screen' }).click();
    await ana.getByRole('button', { name: 'Stop sharing' }).waitFor();
    assert.equal(await ana.evaluate(() => window.__screens), 1);
    await ui.eventually(async () => (await videoStats(ana)).framesSent > 0, { timeout: 15_000 });
    await ui.eventually(async () => (await videoStats(bo)).framesDecoded > 10, { timeout: 15_000 });
    const stage = bo.getByRole('region', { name: 'Shared screen' });
    await stage.getByText('Ana Lima\u2019s screen').waitFor();
    await ui.eventually(() => bo.evaluate(() => {
      const v = document.querySelector('.screen-video');
      return v && v.videoWidth === 640 && v.videoHeight === 360 && !v.paused;
    }), { timeout: 15_000 });
    await stage.getByRole('list', { name: 'Speakers' }).getByText('Bo Chen').waitFor();
    await stage.getByRole('button', { name: 'Full screen' }).waitFor();
    // The sharer sees a preview of what it shares.
    await ana.getByRole('region', { name: 'Shared screen' }).getByText('Your screen').waitFor();
  });

  await t.test('fullscreen shows the screen alone', async () => {
    const stage = bo.getByRole('region', { name: 'Shared screen' });
    await stage.getByRole('button', { name: 'Full screen' }).click();
    await ui.eventually(() => bo.evaluate(() => document.fullscreenElement?.classList.contains('screen-frame')));
    await bo.evaluate(() => document.exitFullscreen());
    await ui.eventually(() => bo.evaluate(() => !document.fullscreenElement));
  });

  await t.test('stopping ends the screen for the viewer; sharing again shows it again', async () => {
    await ana.getByRole('button', { name: 'Stop sharing' }).click();
    await ana.getByRole('button', { name: 'Share screen' }).waitFor();
    await bo.getByRole('region', { name: 'Shared screen' }).waitFor({ state: 'hidden' });
    const before = (await videoStats(bo)).framesDecoded;
    await ana.getByRole('button', { name: 'Share screen' }).click();
    await bo.getByRole('region', { name: 'Shared screen' }).getByText('Ana Lima\u2019s screen').waitFor();
    await ui.eventually(async () => (await videoStats(bo)).framesDecoded > before + 10, { timeout: 15_000 });
  });

  assertClean(ana, bo);
});
