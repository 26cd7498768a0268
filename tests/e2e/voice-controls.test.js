// A caller's own controls in real browsers against a real server and its SFU, three people in a
// call with Chromium's fake microphone playing a voice-like WAV: push to talk (nothing leaves
// the microphone while the key is up, sound flows while it is held, and a page that loses the
// focus lets go), each other person's volume and local mute (what the listener plays: Chrome's
// audioLevel of the stream, measured after the element's volume, and above 100 % the app's Web
// Audio gain, which the test taps with an AnalyserNode; the others still hear them), remembered
// after a reload, and the browser's noise suppression, echo cancellation and auto gain per input
// device, seen in the microphone track's getSettings() and remembered after a reload.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './helpers/server.js';
import { ApiClient } from './helpers/api.js';
import { launchBrowser, newPage, assertClean } from './helpers/browser.js';
import { writeVoiceWav } from './helpers/media.js';
import { instrument, expectAudioFlowing, steady, participant, heard, expectHearing, expectNotHearing, packetsFrom } from './helpers/voice.js';
import * as ui from './helpers/ui.js';

let server;
let browser;
let tmp;
let ana;
let bo;
let cleo;
const ids = {};

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'confab-voice-controls-'));
  const wav = join(tmp, 'voice.wav');
  writeVoiceWav(wav);
  server = await startServer();
  browser = await launchBrowser({ args: [`--use-file-for-fake-audio-capture=${wav}`] });
  const anaApi = await ApiClient.register(server.url, 'ana', 'Ana Lima');
  for (const [username, name] of [['bob', 'Bo Chen'], ['cleo', 'Cleo Martin']]) {
    ids[username] = (await ApiClient.register(server.url, username, name)).user.id;
  }
  ids.ana = anaApi.user.id;
  const room = await anaApi.createRoom('standup');
  await anaApi.addMember(room.id, ids.bob);
  await anaApi.addMember(room.id, ids.cleo);
  const pages = [];
  for (const username of ['ana', 'bob', 'cleo']) {
    const page = await newPage(browser, server);
    await instrument(page);
    await ui.signIn(page, username);
    await ui.openRoom(page, 'standup');
    pages.push(page);
  }
  [ana, bo, cleo] = pages;
  for (const page of [ana, bo, cleo]) {
    await page.getByRole('button', { name: /^Join voice call/ }).click();
    await panel(page).getByText('You are in the call').waitFor();
  }
  for (const page of [ana, bo, cleo]) await expectAudioFlowing(page);
});

after(async () => {
  await browser?.close();
  await server?.dispose();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function panel(page) {
  return page.locator('.call-panel');
}

async function openVoiceSettings(page) {
  await panel(page).getByRole('button', { name: 'Voice settings' }).click();
  return page.getByRole('dialog', { name: 'Voice settings' });
}

/** Bo's microphone as his sender carries it (null while nothing is sent). */
function micSettings(page) {
  return page.evaluate(() => {
    const track = window.__pcs.at(-1).getTransceivers()[0].sender.track;
    if (!track) return null;
    const s = track.getSettings();
    return { deviceId: s.deviceId, label: track.label, noiseSuppression: s.noiseSuppression, echoCancellation: s.echoCancellation, autoGainControl: s.autoGainControl };
  });
}

/** Waits until Ana receives nothing more of Bo, and returns the count it stopped at. */
function anaGetsNothingFromBo() {
  return steady(() => packetsFrom(ana, ids.bob));
}

/** Waits until Ana receives Bo again: packets rising and sound after her gain. */
async function anaHearsBo() {
  const from = await packetsFrom(ana, ids.bob);
  await ui.eventually(async () => assert.ok(await packetsFrom(ana, ids.bob) >= from + 25, 'Bo\u2019s packets arrive'), { timeout: 15_000 });
  await expectHearing(ana, ids.bob);
}

test('call controls', async (t) => {
  await t.test('everyone hears everyone at 100 %', async () => {
    for (const [page, others] of [[ana, ['bob', 'cleo']], [bo, ['ana', 'cleo']], [cleo, ['ana', 'bob']]]) {
      for (const who of others) {
        const h = await expectHearing(page, ids[who]);
        assert.equal(h.volume, 1, 'the default volume is 100 %');
        assert.equal(h.gain, null, 'no Web Audio needed');
      }
    }
  });

  await t.test('push to talk: nothing is sent while the key is up, sound flows while it is held', async () => {
    const settings = await openVoiceSettings(bo);
    await settings.getByRole('radio', { name: /^Push to talk/ }).check();
    await settings.getByRole('button', { name: 'Close' }).click();
    const hint = panel(bo).locator('.call-ptt');
    await hint.getByText('Push to talk: hold `').waitFor();

    const frozen = await anaGetsNothingFromBo();
    await participant(ana, 'Bo Chen').and(ana.locator('.speaking')).waitFor({ state: 'detached', timeout: 15_000 });
    assert.equal(await participant(ana, 'Bo Chen').and(ana.locator('.muted')).count(), 0, 'push to talk is not shown as muted');
    assert.equal(await micSettings(bo), null, 'the sender carries no track');
    await expectHearing(ana, ids.cleo);
    assert.equal(await packetsFrom(ana, ids.bob), frozen, 'nothing from Bo while the key is up');

    await bo.keyboard.down('Backquote');
    await hint.getByText('Talking: release ` to stop').waitFor();
    await anaHearsBo();
    await participant(ana, 'Bo Chen').and(ana.locator('.speaking')).waitFor({ timeout: 15_000 });
    await expectHearing(cleo, ids.bob);

    await bo.keyboard.up('Backquote');
    await hint.getByText('Push to talk: hold `').waitFor();
    const again = await anaGetsNothingFromBo();
    await new Promise((r) => { setTimeout(r, 500); });
    assert.equal(await packetsFrom(ana, ids.bob), again, 'stopped after the release');
  });

  await t.test('push to talk lets go when the page loses the focus, and does not type the key', async () => {
    await bo.keyboard.down('Backquote');
    await anaHearsBo();
    await bo.evaluate(() => window.dispatchEvent(new Event('blur')));
    await panel(bo).locator('.call-ptt').getByText('Push to talk: hold `').waitFor();
    await anaGetsNothingFromBo();
    await bo.keyboard.up('Backquote');

    await ui.composer(bo).click();
    await bo.keyboard.type('a`b');
    assert.equal(await ui.composer(bo).inputValue(), 'ab', 'the talk key does not type');
    await ui.composer(bo).fill('');
  });

  await t.test('a key captured in the settings becomes the talk key', async () => {
    const settings = await openVoiceSettings(bo);
    await settings.getByRole('button', { name: 'Push-to-talk key: `. Change' }).click();
    await bo.keyboard.press('KeyV');
    await settings.getByRole('button', { name: 'Push-to-talk key: V. Change' }).waitFor();
    await settings.getByRole('button', { name: 'Close' }).click();
    await panel(bo).locator('.call-ptt').getByText('Push to talk: hold V').waitFor();
    await bo.keyboard.down('KeyV');
    await anaHearsBo();
    await bo.keyboard.up('KeyV');
    await anaGetsNothingFromBo();
  });

  await t.test('switching back to voice activity sends again', async () => {
    const settings = await openVoiceSettings(bo);
    await settings.getByRole('radio', { name: /^Voice activity/ }).check();
    await settings.getByRole('button', { name: 'Close' }).click();
    await panel(bo).locator('.call-ptt').waitFor({ state: 'hidden' });
    await anaHearsBo();
    assert.ok(await micSettings(bo), 'the microphone is back on the sender');
    // The pauses of push to talk are not taken for a bad connection (loopback is good).
    await ui.eventually(async () => assert.equal(await participant(ana, 'Bo Chen').getAttribute('data-quality'), 'good'), { timeout: 15_000 });
  });

  await t.test('a volume of 0 or a local mute silences one person for this listener only', async () => {
    const button = participant(ana, 'Bo Chen').getByRole('button', { name: 'Volume for Bo Chen' });
    await button.click();
    let dialog = ana.getByRole('dialog', { name: 'Bo Chen' });
    const slider = dialog.getByRole('slider', { name: 'Volume of Bo Chen' });
    assert.equal(await slider.inputValue(), '100');
    await slider.fill('0');
    await dialog.getByText('0 %', { exact: true }).waitFor();
    const silent = await expectNotHearing(ana, ids.bob);
    assert.equal(silent.volume, 0);
    // Bo's packets still reach Ana (the server still sends them); Ana still hears Cleo, and Cleo
    // still hears Bo.
    const from = silent.packets;
    await ui.eventually(async () => assert.ok(await packetsFrom(ana, ids.bob) > from + 25));
    await expectHearing(ana, ids.cleo);
    await expectHearing(cleo, ids.bob);

    // The keyboard moves it in steps of 5 %, up to 200 %.
    await slider.press('End');
    await dialog.getByText('200 %', { exact: true }).waitFor();
    await slider.press('ArrowLeft');
    await dialog.getByText('195 %', { exact: true }).waitFor();
    await slider.fill('150');
    const louder = await ui.eventually(async () => {
      const h = await heard(ana, ids.bob);
      assert.ok(h.gain === 1.5 && h.rms > 0.005 && h.volume === 0, `boosted through Web Audio: ${JSON.stringify(h)}`);
      return h;
    }, { timeout: 15_000 });
    assert.equal(louder.level, 0, 'the element is silent meanwhile, so nothing plays twice');

    await dialog.getByRole('checkbox', { name: 'Mute Bo Chen for me' }).check();
    assert.equal((await expectNotHearing(ana, ids.bob)).gain, 0);
    await expectHearing(cleo, ids.bob);
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'detached' });
    await participant(ana, 'Bo Chen').and(ana.locator('.silenced')).waitFor();
    assert.equal(await ana.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Volume for Bo Chen', 'focus is back on the tile');
    assert.equal((await heard(cleo, ids.bob)).volume, 1, 'Cleo\u2019s volume for Bo is untouched');

    // Remembered after a reload (which rejoins the call).
    await ana.reload();
    await panel(ana).getByText('You are in the call').waitFor();
    await participant(ana, 'Bo Chen').and(ana.locator('.silenced')).waitFor();
    await expectNotHearing(ana, ids.bob);
    await expectHearing(ana, ids.cleo);
    await participant(ana, 'Bo Chen').getByRole('button', { name: 'Volume for Bo Chen' }).click();
    dialog = ana.getByRole('dialog', { name: 'Bo Chen' });
    assert.equal(await dialog.getByRole('slider', { name: 'Volume of Bo Chen' }).inputValue(), '150');
    await dialog.getByRole('checkbox', { name: 'Mute Bo Chen for me' }).uncheck();
    await ui.eventually(async () => {
      const h = await heard(ana, ids.bob);
      assert.ok(h.gain === 1.5 && h.rms > 0.005, `unmuted at the remembered 150 %: ${JSON.stringify(h)}`);
    }, { timeout: 15_000 });
    await dialog.getByRole('button', { name: 'Reset to 100 %' }).click();
    const normal = await expectHearing(ana, ids.bob);
    assert.deepEqual([normal.volume, normal.gain], [1, 0], 'back on the element alone');
    await dialog.getByRole('button', { name: 'Done' }).click();
  });

  await t.test('noise suppression, echo cancellation and auto gain change the live microphone, per device', async () => {
    assert.deepEqual(
      { ...(await micSettings(bo)), label: undefined },
      { deviceId: 'default', label: undefined, noiseSuppression: true, echoCancellation: true, autoGainControl: true },
      'all on by default',
    );
    const before = await bo.evaluate(() => window.__remoteDescriptions);
    let settings = await openVoiceSettings(bo);
    await settings.getByRole('checkbox', { name: 'Noise suppression' }).uncheck();
    await settings.getByText('Noise suppression off for this microphone.').waitFor();
    await settings.getByRole('checkbox', { name: 'Automatic gain control' }).uncheck();
    await settings.getByText('Automatic gain control off for this microphone.').waitFor();
    await ui.eventually(async () => assert.deepEqual(
      await micSettings(bo),
      { deviceId: 'default', label: 'Fake Default Audio Input', noiseSuppression: false, echoCancellation: true, autoGainControl: false },
    ));
    await anaHearsBo();
    assert.equal(await bo.evaluate(() => window.__remoteDescriptions), before, 'no renegotiation');

    // Another microphone has its own settings, all on; back on the first, its own again.
    const device = settings.getByRole('combobox', { name: 'Input device' });
    await device.selectOption({ label: 'Fake Audio Input 1' });
    await ui.eventually(async () => assert.equal((await micSettings(bo)).label, 'Fake Audio Input 1'));
    assert.equal(await settings.getByRole('checkbox', { name: 'Noise suppression' }).isChecked(), true);
    assert.equal((await micSettings(bo)).noiseSuppression, true);
    await settings.getByRole('checkbox', { name: 'Echo cancellation' }).uncheck();
    await ui.eventually(async () => assert.equal((await micSettings(bo)).echoCancellation, false));
    await device.selectOption({ label: 'Fake Default Audio Input' });
    await ui.eventually(async () => assert.deepEqual(
      await micSettings(bo),
      { deviceId: 'default', label: 'Fake Default Audio Input', noiseSuppression: false, echoCancellation: true, autoGainControl: false },
    ));
    assert.equal(await settings.getByRole('checkbox', { name: 'Noise suppression' }).isChecked(), false);
    await settings.getByRole('button', { name: 'Close' }).click();

    // Remembered after a reload: the call comes back with the same processing.
    await bo.reload();
    await panel(bo).getByText('You are in the call').waitFor();
    await ui.eventually(async () => assert.deepEqual(
      await micSettings(bo),
      { deviceId: 'default', label: 'Fake Default Audio Input', noiseSuppression: false, echoCancellation: true, autoGainControl: false },
    ), { timeout: 15_000 });
    await anaHearsBo();
    settings = await openVoiceSettings(bo);
    assert.equal(await settings.getByRole('checkbox', { name: 'Noise suppression' }).isChecked(), false);
    assert.equal(await settings.getByRole('checkbox', { name: 'Echo cancellation' }).isChecked(), true);
    assert.equal(await settings.getByRole('checkbox', { name: 'Automatic gain control' }).isChecked(), false);
    await settings.getByRole('checkbox', { name: 'Noise suppression' }).check();
    await ui.eventually(async () => assert.equal((await micSettings(bo)).noiseSuppression, true));
    await settings.getByRole('button', { name: 'Close' }).click();
  });

  await t.test('the account settings have the same voice settings', async () => {
    await cleo.getByRole('button', { name: 'Settings', exact: true }).click();
    const dialog = cleo.getByRole('dialog', { name: 'Settings' });
    const voice = dialog.getByRole('region', { name: 'Voice' });
    await voice.getByRole('radio', { name: /^Voice activity/ }).waitFor();
    assert.equal(await voice.getByRole('radio', { name: /^Voice activity/ }).isChecked(), true);
    for (const name of ['Noise suppression', 'Echo cancellation', 'Automatic gain control']) {
      assert.equal(await voice.getByRole('checkbox', { name }).isChecked(), true, name);
    }
    await voice.getByRole('radio', { name: /^Push to talk/ }).check();
    await panel(cleo).locator('.call-ptt').getByText('Push to talk: hold `').waitFor();
    await voice.getByRole('radio', { name: /^Voice activity/ }).check();
    await panel(cleo).locator('.call-ptt').waitFor({ state: 'hidden' });
    await dialog.getByRole('button', { name: 'Close' }).click();
  });

  assertClean(ana, bo, cleo);
});
