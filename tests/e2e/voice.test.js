// Voice calls in real browsers against a real server and its SFU: Chromium's fake microphone
// plays a generated voice-like WAV, so the server's speaker detector hears people talking. Audio
// is checked where it lands, in each page's RTCPeerConnection.getStats(): packets arriving and a
// non-zero level, and packets stopping when the other side mutes or when we deafen. Also: who
// is in a call before you join, switching microphones (in the voice settings), the call bar in other rooms, rejoining
// after a dropped connection or a reload, a second tab taking the call over, clean leaving, a
// refused microphone, sound held back by the autoplay policy, and a DM call that rings.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import { writeVoiceWav } from './helpers/media.js';
import { instrument, callStats, expectAudioFlowing, steady, participant } from './helpers/voice.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let tmp;
let ana;
let bo;
let cleo;
let anaApi;
let boId;
let room;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'confab-voice-'));
  const wav = join(tmp, 'voice.wav');
  writeVoiceWav(wav);
  server = await startServer();
  browser = await launchBrowser({ args: [`--use-file-for-fake-audio-capture=${wav}`] });
  anaApi = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  const boApi = await ApiClient.register(server.url, 'bob', 'Bo Chen');
  boId = boApi.user.id;
  const cleoApi = await ApiClient.register(server.url, 'cleo', 'Cleo Martin');
  await ApiClient.register(server.url, 'dev', 'Dev Patel');
  room = await anaApi.createRoom('standup', 'Daily, 9:30');
  await anaApi.createRoom('notes');
  await anaApi.addMember(room.id, boApi.user.id);
  await anaApi.addMember(room.id, cleoApi.user.id);
  const pages = [];
  for (const username of ['ana', 'bob', 'cleo']) {
    const page = await newPage(browser, server);
    await instrument(page);
    await ui.signIn(page, username);
    await ui.openRoom(page, 'standup');
    pages.push(page);
  }
  [ana, bo, cleo] = pages;
});

after(async () => {
  await browser?.close();
  await server?.dispose();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function joinButton(page) {
  return page.getByRole('button', { name: /^Join voice call/ });
}

function panel(page) {
  return page.locator('.call-panel');
}

test('voice calls', async (t) => {
  await t.test('people who have not joined see who is in the call, also after connecting or being added', async () => {
    await joinButton(ana).click();
    await panel(ana).getByText('You are in the call').waitFor();
    await participant(ana, 'Ana Lima (you)').waitFor();
    for (const page of [bo, cleo]) {
      await panel(page).getByText('Ana Lima is in the call').waitFor();
      await page.getByRole('button', { name: 'Join voice call (1 in the call)' }).waitFor();
      await ui.roomLink(page, 'standup').locator('.room-item-call').waitFor();
    }
    // A session that connects now learns it from the server right after authenticating.
    await cleo.reload();
    await panel(cleo).getByText('Ana Lima is in the call').waitFor();
    // So does someone added to the room while the call runs.
    const dev = await newPage(browser, server);
    await instrument(dev);
    await ui.signIn(dev, 'dev');
    await anaApi.addMember(room.id, (await ApiClient.login(server.url, 'dev')).user.id);
    await ui.roomLink(dev, 'standup').locator('.room-item-call').waitFor();
    await ui.openRoom(dev, 'standup');
    await panel(dev).getByText('Ana Lima is in the call').waitFor();
    assertClean(dev);
    await dev.context().close();
  });

  await t.test('two people talk: audio flows both ways and both speaking rings show', async () => {
    await panel(bo).getByRole('button', { name: 'Join the call' }).click();
    await participant(ana, 'Bo Chen').waitFor();
    await participant(bo, 'Ana Lima').waitFor();
    await expectAudioFlowing(ana);
    await expectAudioFlowing(bo);
    for (const page of [ana, bo]) {
      await participant(page, 'Ana Lima').and(page.locator('.speaking')).waitFor({ timeout: 15_000 });
      await participant(page, 'Bo Chen').and(page.locator('.speaking')).waitFor({ timeout: 15_000 });
      assert.equal(await page.locator('.call-audio audio').count(), 1, 'one <audio> for the other person');
      assert.equal(await page.locator('.call-audio audio').evaluate((el) => !el.paused), true, 'it plays');
    }
    // Cleo, not in the call, sees both.
    await panel(cleo).getByText('Ana Lima and Bo Chen are in the call').waitFor();
  });

  await t.test('muting stops the other side receiving; the shortcut unmutes', async () => {
    await panel(bo).getByRole('button', { name: 'Mute', exact: true }).click();
    await panel(bo).getByRole('button', { name: 'Unmute', exact: true }).waitFor();
    await participant(ana, 'Bo Chen').and(ana.locator('.muted')).waitFor();
    await participant(ana, 'Bo Chen').and(ana.locator('.speaking')).waitFor({ state: 'detached' });
    const frozen = await steady(async () => (await callStats(ana)).packetsReceived);
    // Bo still hears Ana.
    await expectAudioFlowing(bo);
    assert.equal((await callStats(ana)).packetsReceived, frozen, 'nothing from Bo while he is muted');

    await bo.keyboard.press('Alt+Shift+M');
    await panel(bo).getByRole('button', { name: 'Mute', exact: true }).waitFor();
    await bo.locator('.toast', { hasText: 'Microphone on.' }).waitFor();
    await participant(ana, 'Bo Chen').and(ana.locator('.muted')).waitFor({ state: 'detached' });
    await expectAudioFlowing(ana);
    assert.match(await panel(bo).getByRole('button', { name: 'Mute', exact: true }).getAttribute('title'), /Alt\+Shift\+M/);
  });

  await t.test('deafening stops all inbound audio and mutes; the shortcut undeafens', async () => {
    await panel(bo).getByRole('button', { name: 'Deafen', exact: true }).click();
    await panel(bo).getByRole('button', { name: 'Undeafen', exact: true }).waitFor();
    await participant(ana, 'Bo Chen').and(ana.locator('.deafened.muted')).waitFor();
    const toBo = await steady(async () => (await callStats(bo)).packetsReceived);
    const toAna = await steady(async () => (await callStats(ana)).packetsReceived);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await callStats(bo)).packetsReceived, toBo, 'nothing reaches Bo while deafened');
    assert.equal((await callStats(ana)).packetsReceived, toAna, 'and nothing of Bo is forwarded');
    assert.equal(await bo.locator('.call-audio audio').evaluate((el) => el.muted), true, 'his speaker is muted too');

    await bo.keyboard.press('Alt+Shift+D');
    await panel(bo).getByRole('button', { name: 'Deafen', exact: true }).waitFor();
    await participant(ana, 'Bo Chen').and(ana.locator('.deafened')).waitFor({ state: 'detached' });
    await expectAudioFlowing(bo);
    await expectAudioFlowing(ana);
    // Each tile shows the connection's quality, judged by the server; loopback is good.
    assert.equal(await participant(ana, 'Bo Chen').locator('.call-quality').getAttribute('title'), 'Call quality: good connection');
  });

  await t.test('switching microphones keeps the call without a new offer', async () => {
    const before = await bo.evaluate(() => window.__remoteDescriptions);
    await panel(bo).getByRole('button', { name: 'Voice settings' }).click();
    const settings = bo.getByRole('dialog', { name: 'Voice settings' });
    const select = settings.getByRole('combobox', { name: 'Input device' });
    await select.locator('option').nth(1).waitFor({ state: 'attached' });
    const options = await select.locator('option').allTextContents();
    assert.ok(options.length >= 2, `microphones offered: ${options}`);
    const other = options.find((o) => o !== 'Fake Default Audio Input') || options[1];
    await select.selectOption({ label: other });
    await ui.eventually(async () => assert.equal(
      await bo.evaluate(() => window.__pcs.at(-1).getTransceivers()[0].sender.track?.label),
      other,
    ));
    await expectAudioFlowing(ana);
    assert.equal(await bo.evaluate(() => window.__remoteDescriptions), before, 'no renegotiation');
    await settings.getByRole('button', { name: 'Close' }).click();
  });

  await t.test('the call goes on while another room is open, with a bar to mute or go back', async () => {
    await ui.openRoom(ana, 'notes');
    const bar = ana.getByRole('region', { name: 'Your call' });
    await bar.getByText('In a call in').waitFor();
    await expectAudioFlowing(ana);
    await bar.getByRole('button', { name: 'Mute' }).click();
    await participant(bo, 'Ana Lima').and(bo.locator('.muted')).waitFor();
    await bar.getByRole('button', { name: 'Unmute' }).click();
    await participant(bo, 'Ana Lima').and(bo.locator('.muted')).waitFor({ state: 'detached' });
    await bar.getByRole('button', { name: '#standup' }).click();
    await ana.locator('#room-title', { hasText: '#standup' }).waitFor();
    await bar.waitFor({ state: 'hidden' });
    await panel(ana).getByText('You are in the call').waitFor();
  });

  await t.test('a dropped connection rejoins the call by itself', async () => {
    const pcsBefore = await ana.evaluate(() => window.__pcs.length);
    await ana.evaluate(() => window.__sockets.at(-1).close());
    await ana.locator('.conn-banner').waitFor();
    await ana.locator('.conn-banner').waitFor({ state: 'hidden' });
    await ui.eventually(async () => assert.ok(await ana.evaluate(() => window.__pcs.length) > pcsBefore, 'a new PeerConnection'));
    await ana.evaluate(() => window.__pcs.slice(0, -1).every((pc) => pc.signalingState === 'closed')).then((closed) => assert.ok(closed, 'the old one is closed'));
    await panel(ana).getByText('You are in the call').waitFor();
    await participant(bo, 'Ana Lima').waitFor();
    await expectAudioFlowing(ana);
    await expectAudioFlowing(bo);
  });

  await t.test('reloading mid-call rejoins it, and the others never see a leave', async () => {
    await ana.evaluate(() => {
      window.__boLeft = false;
      window.__boWatch = setInterval(() => {
        const names = [...document.querySelectorAll('.call-panel .call-person')].map((el) => el.textContent);
        if (!names.some((n) => n.includes('Bo Chen'))) window.__boLeft = true;
      }, 20);
    });
    await bo.reload();
    await panel(bo).getByText('You are in the call').waitFor();
    await participant(bo, 'Ana Lima').waitFor();
    await expectAudioFlowing(bo);
    await expectAudioFlowing(ana);
    const left = await ana.evaluate(() => {
      clearInterval(window.__boWatch);
      return window.__boLeft;
    });
    assert.equal(left, false, 'Bo never left Ana\u2019s list');
  });

  await t.test('joining from another tab ends the call in the first, cleanly', async () => {
    const second = await newPage(browser, server, { context: bo.context() });
    await instrument(second);
    await second.goto(`/r/${room.id}`);
    await panel(second).getByRole('button', { name: 'Join the call' }).click();
    await panel(second).getByText('You are in the call').waitFor();
    await bo.locator('.toast', { hasText: 'You joined this call from another tab' }).waitFor();
    await panel(bo).getByText('You are in the call').waitFor({ state: 'detached' });
    await joinButton(bo).waitFor();
    assert.equal(await bo.evaluate(() => window.__pcs.every((pc) => pc.signalingState === 'closed')), true, 'first tab closed its PeerConnection');
    assert.equal(await bo.locator('.call-audio audio').count(), 0);
    await expectAudioFlowing(second);
    await expectAudioFlowing(ana);
    assertClean(second);
    // Leaving says so at once; only a tab that vanishes keeps its place for the rejoin grace.
    await panel(second).getByRole('button', { name: 'Leave' }).click();
    await participant(ana, 'Bo Chen').waitFor({ state: 'detached' });
    await second.close();
  });

  await t.test('leaving releases the microphone and the connection', async () => {
    await panel(ana).getByRole('button', { name: 'Leave' }).click();
    await joinButton(ana).waitFor();
    const state = await ana.evaluate(() => ({
      closed: window.__pcs.every((pc) => pc.signalingState === 'closed'),
      tracksLive: window.__pcs.flatMap((pc) => pc.getSenders().map((s) => s.track)).filter((t) => t && t.readyState === 'live').length,
      audios: document.querySelectorAll('.call-audio audio').length,
    }));
    assert.deepEqual(state, { closed: true, tracksLive: 0, audios: 0 });
    await panel(cleo).waitFor({ state: 'hidden' });
    await ui.eventually(async () => assert.equal(await ui.roomLink(cleo, 'standup').locator('.room-item-call').count(), 0));
  });

  await t.test('a refused microphone says so, and joining works once it is allowed', async () => {
    await cleo.evaluate(() => { window.__denyMicrophone = true; });
    await joinButton(cleo).click();
    const alert = panel(cleo).getByRole('alert');
    await alert.getByText('Confab may not use your microphone').waitFor();
    await joinButton(cleo).waitFor();
    assert.equal(await cleo.evaluate(() => window.__pcs.length), 0, 'no PeerConnection');
    assert.equal(await panel(ana).isVisible(), false, 'the server never heard of it');
    await cleo.evaluate(() => { window.__denyMicrophone = false; });
    await joinButton(cleo).click();
    await panel(cleo).getByText('You are in the call').waitFor();
    await alert.waitFor({ state: 'hidden' });
    await panel(ana).getByText('Cleo Martin is in the call').waitFor();
  });

  await t.test('sound the browser holds back is turned on with one click', async () => {
    await ana.evaluate(() => {
      const play = HTMLMediaElement.prototype.play;
      window.__blockPlay = true;
      HTMLMediaElement.prototype.play = function playUnlessBlocked() {
        return window.__blockPlay ? Promise.reject(new DOMException('play() needs a user gesture', 'NotAllowedError')) : play.call(this);
      };
    });
    await panel(ana).getByRole('button', { name: 'Join the call' }).click();
    const note = panel(ana).locator('.call-note');
    await note.getByText('Your browser held back the call\u2019s sound.').waitFor();
    await ana.evaluate(() => { window.__blockPlay = false; });
    await note.getByRole('button', { name: 'Turn on sound' }).click();
    await note.waitFor({ state: 'hidden' });
    assert.equal(await ana.locator('.call-audio audio').evaluate((el) => !el.paused), true);
    await expectAudioFlowing(ana);
    await cleo.getByRole('button', { name: 'Leave voice call' }).click();
    await ana.getByRole('button', { name: 'Leave voice call' }).click();
    await panel(bo).waitFor({ state: 'hidden' });
  });

  await t.test('a DM call rings the other person, who can decline or answer it', async () => {
    await anaApi.call('POST', '/dms', { user_id: boId });
    await ui.openRoom(ana, 'Bo Chen');
    const ringBar = bo.getByRole('region', { name: 'Incoming call' });

    await joinButton(ana).click();
    await ringBar.getByText('Ana Lima is calling you').waitFor();
    await ringBar.getByRole('button', { name: 'Decline' }).click();
    await ringBar.waitFor({ state: 'hidden' });
    await ana.locator('.toast', { hasText: 'declined the call' }).waitFor();
    await ana.getByRole('button', { name: 'Leave voice call' }).click();

    await joinButton(ana).click();
    await ringBar.getByText('Ana Lima is calling you').waitFor();
    await ringBar.getByRole('button', { name: 'Accept' }).click();
    await ringBar.waitFor({ state: 'hidden' });
    await bo.locator('#room-title', { hasText: 'Ana Lima' }).waitFor();
    await panel(bo).getByText('You are in the call').waitFor();
    await participant(ana, 'Bo Chen').waitFor();
    await expectAudioFlowing(ana);
    await expectAudioFlowing(bo);
    await bo.getByRole('button', { name: 'Leave voice call' }).click();
    await ana.getByRole('button', { name: 'Leave voice call' }).click();
  });

  assertClean(ana, bo, cleo);
});
