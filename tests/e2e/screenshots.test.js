// Screenshots of the main screens, light and dark, desktop (1280×800) and phone (390×844), into
// artifacts/ (git-ignored) for people to look at; the test also checks that each theme really is
// light or dark and that nothing overflows sideways. The room has a picture and a file in it and
// a voice call going on: Bo talks (the fake microphone plays a voice-like WAV), Ana is muted.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean, DESKTOP, PHONE } from './helpers/browser.js';
import { pngImage, writeVoiceWav } from './helpers/media.js';
import * as ui from './helpers/ui.js';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');

let server;
let browser;
let bo;
let tmp;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  tmp = mkdtempSync(join(tmpdir(), 'confab-shots-'));
  writeVoiceWav(join(tmp, 'voice.wav'));
  server = await startServer();
  browser = await launchBrowser({ args: [`--use-file-for-fake-audio-capture=${join(tmp, 'voice.wav')}`] });
  await seed(server.url);
  // Cleo was here a while ago; Bo is online and typing.
  const cleo = await newPage(browser, server);
  await ui.signIn(cleo, 'cleo');
  await cleo.context().close();
  bo = await newPage(browser, server);
  await ui.signIn(bo, 'bob');
  await ui.openRoom(bo, 'design');
  await bo.getByRole('button', { name: /^Join voice call/ }).click();
  await bo.locator('.call-panel').getByText('You are in the call').waitFor();
});

after(async () => {
  await browser?.close();
  await server?.dispose();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function seed(url) {
  const ana = await ApiClient.register(url, 'ana', 'Ana Lima');
  const bo = await ApiClient.register(url, 'bob', 'Bo Chen');
  const cleo = await ApiClient.register(url, 'cleo', 'Cleo Martin');
  const dev = await ApiClient.register(url, 'dev', 'Dev Patel');
  const release = await ana.createRoom('release-1.4', 'Shipping Friday');
  const random = await bo.createRoom('random', 'Cats, coffee and other emergencies');
  const design = await ana.createRoom('design', 'Pixels and the people who push them');
  for (const u of [bo, cleo, dev]) {
    await ana.addMember(design.id, u.user.id);
    await ana.addMember(release.id, u.user.id);
  }
  await bo.addMember(random.id, ana.user.id);
  await bo.addMember(random.id, cleo.user.id);

  await ana.send(release.id, 'Release notes draft is up, comments welcome.');
  const cut = await dev.send(release.id, 'Cutting the release branch at 15:00.');
  await cleo.send(random.id, 'Who finished the coffee and left the pot on? ☕');
  await bo.send(random.id, 'Not me. Probably the cat.');

  await cleo.send(design.id, 'Morning! I pushed the new sidebar spacing to the prototype.');
  const mock = await cleo.send(design.id, 'Mockups: https://example.com/confab/mockups-v3 (the dark theme is on page 4).');
  await bo.send(design.id, 'Looks great. The unread badges finally line up.');
  await bo.send(design.id, 'One nit: the presence dots are hard to see on the dark sidebar.');
  await ana.send(design.id, 'Agreed, I will bump the ring to 2px.', { reply_to: mock.id });
  const edited = await ana.send(design.id, 'Also: can we ship this with 1.4?');
  await ana.call('PATCH', `/messages/${edited.id}`, { body: 'Also: can we ship this with 1.4, @dev?' });
  await dev.send(design.id, '@ana yes, if it lands before the branch cut.');
  await dev.send(design.id, '', { forward_of: cut.id });
  const shot = await cleo.upload('sidebar-dark.png', 'image/png', pngImage(960, 600));
  await cleo.send(design.id, 'Dark sidebar with the thicker ring:', { attachments: [shot.id] });
  const checklist = await dev.upload('release-checklist.pdf', 'application/pdf', Buffer.from('%PDF-1.4\n% checklist\n'.padEnd(48 * 1024, ' ')));
  await dev.send(design.id, '', { attachments: [checklist.id] });
  await cleo.send(design.id, 'On it. I will have it ready by lunch.');

  const dmBo = await ana.call('POST', '/dms', { user_id: bo.user.id });
  await bo.send(dmBo.id, 'Coffee later?');
  await ana.send(dmBo.id, 'Sure, 16:00 at the usual place.');
  const dmCleo = await ana.call('POST', '/dms', { user_id: cleo.user.id });
  await cleo.send(dmCleo.id, 'Thanks for the review!');
}

/** Ana joins the call of the room open now, mutes, and waits for Bo's speaking ring. */
async function joinCall(page) {
  const panel = page.locator('.call-panel');
  await panel.getByRole('button', { name: 'Join the call' }).click();
  await panel.getByText('You are in the call').waitFor();
  await panel.getByRole('button', { name: 'Mute', exact: true }).click();
  await panel.locator('.call-person.muted', { hasText: 'Ana Lima' }).waitFor();
  await panel.locator('.call-person.speaking', { hasText: 'Bo Chen' }).waitFor({ timeout: 15_000 });
}

/** `call`: the room whose call Ana is in while the shot is taken (it may be another room). */
async function shoot(name, { viewport, colorScheme, room, list = false, typing = false, call = null }) {
  const page = await newPage(browser, server, { viewport, colorScheme });
  await ui.signIn(page, 'ana');
  if (call) {
    await ui.openRoom(page, call);
    await joinCall(page);
  }
  if (room) {
    if (room !== call) await ui.openRoom(page, room);
    await ui.expectDelivered(page, room === 'design' ? 'On it. I will have it ready by lunch.' : 'Sure, 16:00 at the usual place.');
    await page.locator('#composer-input').blur();
  }
  if (call && call !== room) await page.getByRole('region', { name: 'Your call' }).waitFor();
  if (room === 'design') {
    const thumb = page.getByRole('button', { name: 'Open image sidebar-dark.png' }).locator('img');
    await ui.eventually(async () => assert.ok(await thumb.evaluate((img) => img.complete && img.naturalWidth > 0), 'thumbnail loaded'));
    await page.locator('.messages').evaluate(() => document.querySelector('.timeline').scrollTo({ top: 1e6 }));
  }
  if (list) await page.getByRole('navigation').waitFor();
  if (typing) {
    await ui.composer(bo).fill('');
    await ui.composer(bo).pressSequentially('I can pair on it');
    await page.locator('.typing-line', { hasText: 'Bo Chen is typing…' }).waitFor();
  }
  // The theme is the one asked for.
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = bg.match(/\d+/g).map(Number);
  const light = (r + g + b) / 3 > 128;
  assert.equal(light, colorScheme === 'light', `${name}: body is ${bg}`);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `${name}: no sideways overflow`);
  await page.mouse.move(0, viewport.height - 1);
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
  assertClean(page);
  await page.context().close();
  if (typing) await ui.composer(bo).fill('');
}

test('screenshots of the main screens in both themes and sizes', async () => {
  for (const colorScheme of ['light', 'dark']) {
    const signin = await newPage(browser, server, { viewport: DESKTOP, colorScheme });
    await signin.goto('/');
    await signin.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
    await signin.screenshot({ path: join(ARTIFACTS, `desktop-${colorScheme}-signin.png`) });
    await signin.context().close();

    await shoot(`desktop-${colorScheme}-room`, { viewport: DESKTOP, colorScheme, room: 'design', typing: true, call: 'design' });
    await shoot(`desktop-${colorScheme}-dm`, { viewport: DESKTOP, colorScheme, room: 'Bo Chen', call: 'design' });
    await shoot(`phone-${colorScheme}-list`, { viewport: PHONE, colorScheme, list: true });
    await shoot(`phone-${colorScheme}-room`, { viewport: PHONE, colorScheme, room: 'design', typing: true, call: 'design' });
  }
  assertClean(bo);
});
