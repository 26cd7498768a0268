// Files in messages, in two browsers against a real server that accepts at most 1 MiB per file
// and 2 MiB per person:
// upload by the paperclip (with a progress bar, on a throttled connection), by drag and drop and
// by paste; pictures as thumbnails that open a viewer, other files as download cards, a voice
// note recorded from the fake microphone that plays inline; and a clear error for a file over
// the limits. Everything is fetched with the token into blob: URLs, which the CSP allows.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import { pngImage } from './helpers/media.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let ana;
let bo;

const PNG = pngImage(640, 400);
const NOTES = Buffer.from('Meeting notes\n'.padEnd(700 * 1024, 'lorem ipsum dolor sit amet '));

before(async () => {
  server = await startServer({ env: { CONFAB_MAX_UPLOAD_MB: '1', CONFAB_USER_QUOTA_MB: '2' } });
  browser = await launchBrowser();
  const anaApi = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  const boApi = await ApiClient.register(server.url, 'bob', 'Bo Chen');
  const room = await anaApi.createRoom('files');
  await anaApi.addMember(room.id, boApi.user.id);
  [ana, bo] = await Promise.all(['ana', 'bob'].map(async (username) => {
    const page = await newPage(browser, server);
    await ui.signIn(page, username);
    await ui.openRoom(page, 'files');
    return page;
  }));
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

function tray(page) {
  return page.locator('.upload-tray');
}

function upload(page, name) {
  return tray(page).locator('.upload', { hasText: name });
}

/** The newest message in the open room. */
function lastMessage(page) {
  return page.locator('.messages li.msg[data-seq]').last();
}

/** Files as a page builds them: `[{name, type, base64}]` → File objects, in the page. */
const FILES_IN_PAGE = `(specs) => specs.map((s) => new File([Uint8Array.from(atob(s.base64), (c) => c.charCodeAt(0))], s.name, { type: s.type }))`;

test('files in messages', async (t) => {
  await t.test('the paperclip uploads with a progress bar that reaches completion', async () => {
    // A slow uplink, so the bar can be seen moving.
    const cdp = await ana.context().newCDPSession(ana);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 256 * 1024 });
    const chooser = ana.waitForEvent('filechooser');
    await ana.getByRole('button', { name: 'Attach files' }).click();
    await (await chooser).setFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: NOTES });
    const row = upload(ana, 'notes.txt');
    const bar = row.getByRole('progressbar', { name: 'Uploading notes.txt' });
    await ui.eventually(async () => {
      const value = Number(await bar.evaluate((el) => el.value));
      assert.ok(value > 0 && value < 1, `part way: ${value}`);
    });
    await row.getByText(/uploading \d+%/).waitFor();
    await row.getByText('ready').waitFor({ timeout: 20_000 });
    assert.equal(await bar.count(), 0, 'the bar is gone once the file is up');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();

    await ui.send(ana, 'Notes from today');
    const m = await ui.expectDelivered(ana, 'Notes from today');
    await m.getByRole('button', { name: /^Download notes\.txt \(700 KiB, Text\)$/ }).waitFor();
    await tray(ana).waitFor({ state: 'hidden' });
  });

  await t.test('a picture dropped on the room shows as a thumbnail and opens in a viewer', async () => {
    await ana.evaluate(async ([make, specs]) => {
      const files = (0, eval)(make)(specs);
      const room = document.querySelector('.room');
      const dt = new DataTransfer();
      for (const f of files) dt.items.add(f);
      room.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
      if (document.querySelector('.drop-hint').hidden) throw new Error('no drop hint while dragging');
      room.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      room.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, [FILES_IN_PAGE, [{ name: 'sunset.png', type: 'image/png', base64: PNG.toString('base64') }]]);
    assert.equal(await ana.locator('.drop-hint').isVisible(), false);
    await upload(ana, 'sunset.png').getByText('ready').waitFor();
    // A message may carry only files.
    await ui.composer(ana).press('Enter');
    const thumb = lastMessage(ana).getByRole('button', { name: 'Open image sunset.png' });
    await expectImageLoaded(thumb.locator('img'));
    assert.match(await thumb.locator('img').getAttribute('src'), /^blob:/);
    assert.equal(await lastMessage(ana).locator('.msg-body').count(), 0, 'no empty text line');

    await thumb.click();
    const viewer = ana.getByRole('dialog', { name: 'sunset.png' });
    await viewer.waitFor();
    await ui.eventually(async () => assert.equal(await viewer.locator('img').evaluate((img) => img.naturalWidth), 640, 'the full picture'));
    await viewer.getByText('640 × 400').waitFor();
    await ana.keyboard.press('Escape');
    await viewer.waitFor({ state: 'detached' });
    assert.equal(await thumb.evaluate((el) => el === document.activeElement), true, 'focus returns to the thumbnail');
  });

  await t.test('a picture pasted into the message box is attached', async () => {
    await ui.composer(ana).fill('Pasted from the clipboard');
    await ui.composer(ana).evaluate((input, [make, specs]) => {
      const dt = new DataTransfer();
      for (const f of (0, eval)(make)(specs)) dt.items.add(f);
      input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    }, [FILES_IN_PAGE, [{ name: 'pasted.png', type: 'image/png', base64: pngImage(200, 300, { from: [30, 140, 120], to: [240, 200, 90] }).toString('base64') }]]);
    await upload(ana, 'pasted.png').getByText('ready').waitFor();
    assert.equal(await ui.composer(ana).inputValue(), 'Pasted from the clipboard', 'the text stays');
    await ui.composer(ana).press('Enter');
    const m = await ui.expectDelivered(ana, 'Pasted from the clipboard');
    await expectImageLoaded(m.getByRole('button', { name: 'Open image pasted.png' }).locator('img'));
  });

  await t.test('the other person sees the files, opens the picture and downloads the text', async () => {
    const m = await ui.expectDelivered(bo, 'Notes from today');
    const downloaded = bo.waitForEvent('download');
    await m.getByRole('button', { name: /^Download notes\.txt/ }).click();
    const file = await downloaded;
    assert.equal(file.suggestedFilename(), 'notes.txt');
    const { readFile } = await import('node:fs/promises');
    assert.ok((await readFile(await file.path())).equals(NOTES), 'the same bytes');

    const thumb = bo.getByRole('button', { name: 'Open image sunset.png' });
    await expectImageLoaded(thumb.locator('img'));
    await thumb.click();
    const viewer = bo.getByRole('dialog', { name: 'sunset.png' });
    await ui.eventually(async () => assert.equal(await viewer.locator('img').evaluate((img) => img.naturalWidth), 640));
    await viewer.getByRole('button', { name: 'Close' }).click();
    await viewer.waitFor({ state: 'detached' });
    await expectImageLoaded(bo.getByRole('button', { name: 'Open image pasted.png' }).locator('img'));
  });

  await t.test('a voice note is recorded, uploaded and played with its length', async () => {
    await ana.getByRole('button', { name: 'Record a voice note' }).click();
    const recording = ana.locator('.recording');
    await recording.getByText('Recording a voice note').waitFor();
    await recording.locator('.recording-time', { hasText: /^0:0[2-9]$/ }).waitFor();
    await recording.getByRole('button', { name: 'Stop and attach' }).click();
    const row = upload(ana, 'voice-note-');
    await row.getByText(/Voice note · 0:0[1-9] · ready/).waitFor();
    await ui.composer(ana).press('Enter');

    for (const page of [ana, bo]) {
      const note = lastMessage(page).getByRole('group', { name: /^Voice note, \d+ seconds?$/ });
      await note.waitFor();
      const shown = await note.locator('.voice-time').textContent();
      assert.match(shown, /^0:0[1-9]$/, `duration shown: ${shown}`);
    }
    const note = lastMessage(bo).locator('.voice-note');
    await note.getByRole('button', { name: 'Play voice note' }).click();
    await note.getByRole('button', { name: 'Pause voice note' }).waitFor();
    await note.locator('.voice-time', { hasText: /^0:0\d \/ 0:0[1-9]$/ }).waitFor();
    await ui.eventually(async () => assert.ok(Number(await note.locator('progress').evaluate((p) => p.value)) > 0, 'the progress moves'));
    // It plays to the end and is ready to play again.
    await note.getByRole('button', { name: 'Play voice note' }).waitFor({ timeout: 15_000 });
  });

  await t.test('a file over the limit is refused before it is sent, in the limit’s unit', async () => {
    const uploads = [];
    const watch = (r) => { if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/files') uploads.push(r.url()); };
    ana.on('request', watch);
    const chooser = ana.waitForEvent('filechooser');
    await ana.getByRole('button', { name: 'Attach files' }).click();
    await (await chooser).setFiles({ name: 'huge.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(1536 * 1024, 7) });
    const row = upload(ana, 'huge.bin');
    await row.getByRole('alert').getByText('huge.bin is too large (1.5 MiB): files may be at most 1 MiB.').waitFor();
    ana.off('request', watch);
    assert.deepEqual(uploads, [], 'not one byte went up');
    assert.equal(await row.getByRole('button', { name: /^Upload huge\.bin again/ }).isVisible(), false, 'no point retrying');
    // Nothing else is held up: text still sends, and the failed file can be removed.
    await ui.send(ana, 'too big, sorry');
    await ui.expectDelivered(ana, 'too big, sorry');
    await row.getByRole('button', { name: 'Remove huge.bin' }).click();
    await tray(ana).waitFor({ state: 'hidden' });
  });

  await t.test('a file past the storage quota is refused with a clear message', async () => {
    // About 0.8 MiB is used; 0.9 MiB more fits, another 0.9 MiB does not.
    for (const name of ['part-1.bin', 'part-2.bin']) {
      const chooser = ana.waitForEvent('filechooser');
      await ana.getByRole('button', { name: 'Attach files' }).click();
      await (await chooser).setFiles({ name, mimeType: 'application/octet-stream', buffer: Buffer.alloc(900 * 1024, 1) });
      // One after the other: the server checks the quota when an upload starts.
      await tray(ana).locator('.upload:is([data-state="done"], [data-state="failed"])', { hasText: name }).waitFor({ timeout: 15_000 });
    }
    await upload(ana, 'part-1.bin').getByText('ready').waitFor();
    await upload(ana, 'part-2.bin').getByRole('alert').getByText('part-2.bin does not fit in your storage quota. Delete messages with files to free space.').waitFor();
  });

  assertClean(ana, bo);
});

async function expectImageLoaded(img) {
  await img.waitFor();
  await ui.eventually(async () => assert.ok(await img.evaluate((el) => el.complete && el.naturalWidth > 0), 'picture loaded'));
}
