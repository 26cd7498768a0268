// The caller's own voice controls, loaded when a call starts or the voice settings open (so a
// cold load does not pay for them): this browser's preferences and what applies them to a call.
//
// - Push to talk (push-to-talk.js): while the key is up the microphone track leaves the sender
//   (replaceTrack(null)), so no packet goes out and the server hears silence (it turns
//   `speaking` off); no frame is sent, so a key press costs the room no `voice.state` and nobody
//   sees a "muted" badge flicker. Mute and deafen work as before on top of it.
// - Each other person's volume (0 to 200 %) and a mute for this listener only (call-audio.js,
//   a Web Audio gain per person), remembered by user id.
// - Noise suppression, echo cancellation and auto gain, the browser's own getUserMedia
//   constraints, remembered per input device; changed on the live track when the browser can
//   (applyConstraints), else (Chrome keeps the processing a device was opened with) by opening
//   the device again and replacing the sender's track, without renegotiation.
// - The input device: listed (enumerateDevices), switched in place the same way.
//
// Preferences live in localStorage; everything read back is checked here, once, so the rest of
// the client sees only valid values. The store keeps a copy (`voicePrefs`) for the views, which
// change them only through a VoiceControls.

import { microphoneError, stopStream } from './calls.js';

/** Where the chosen microphone's device id is kept. */
const MIC_KEY = 'confab.voice.microphone';
const MODE_KEY = 'confab.voice.mode';
const PTT_KEY = 'confab.voice.pttKey';
const PROCESSING_KEY = 'confab.voice.processing';
const LEVELS_KEY = 'confab.voice.levels';

/**
 * The default push-to-talk key: backquote, left of 1 on most layouts, which a chat rarely needs
 * (it is Markdown's code mark, so it can be changed).
 */
export const DEFAULT_PTT_KEY = 'Backquote';

/** The three `getUserMedia` processing constraints; each is on unless turned off. */
export const PROCESSING = ['noiseSuppression', 'echoCancellation', 'autoGainControl'];

/** Per-person volume, in percent: 0 to 200 (Web Audio gain 0 to 2). */
export const MAX_VOLUME = 200;

/** The key a device's processing is remembered under (browsers name the default "default"). */
export function deviceKey(deviceId) {
  return deviceId || 'default';
}

/** All voice preferences: `{mode, pttKey, processing: {device: {...}}, levels: {user: {volume, muted}}}`. */
export function loadVoicePrefs() {
  return {
    mode: read(MODE_KEY) === 'ptt' ? 'ptt' : 'voice',
    pttKey: validKey(read(PTT_KEY)) || DEFAULT_PTT_KEY,
    processing: validMap(readJson(PROCESSING_KEY), validProcessing),
    levels: validMap(readJson(LEVELS_KEY), validLevel),
  };
}

/** Stores all voice preferences (as `loadVoicePrefs` returns them). */
export function saveVoicePrefs(prefs) {
  try {
    localStorage.setItem(MODE_KEY, prefs.mode);
    localStorage.setItem(PTT_KEY, prefs.pttKey);
    localStorage.setItem(PROCESSING_KEY, JSON.stringify(prefs.processing));
    localStorage.setItem(LEVELS_KEY, JSON.stringify(prefs.levels));
  } catch {
    // Storage full or refused: the preferences hold for this page only.
  }
}

/** A device's processing settings, defaults (all on) filled in. */
export function processingFor(prefs, deviceId) {
  return { ...Object.fromEntries(PROCESSING.map((k) => [k, true])), ...prefs.processing[deviceKey(deviceId)] };
}

/** A person's level: `{volume, muted}`, 100 % and not muted unless set. */
export function levelFor(prefs, userId) {
  return { volume: 100, muted: false, ...prefs.levels[userId] };
}

/** A key code as people read it: "`" for Backquote, "X" for KeyX, "5" for Digit5, else the code. */
export function keyName(code) {
  const named = { Backquote: '`', Space: 'Space', Backslash: '\\', BracketLeft: '[', BracketRight: ']', Semicolon: ';', Quote: '\'', Comma: ',', Period: '.', Slash: '/', Minus: '-', Equal: '=' };
  if (named[code]) return named[code];
  const m = /^(?:Key|Digit|Numpad)(.+)$/.exec(code);
  return m ? m[1] : code;
}

/** Whether a key may be the push-to-talk key: not Escape or Tab, which leave the page usable. */
export function validKey(code) {
  return typeof code === 'string' && /^[A-Za-z][A-Za-z0-9]{0,31}$/.test(code) && !['Escape', 'Tab'].includes(code) ? code : null;
}

export function validProcessing(v) {
  if (!v || typeof v !== 'object') return null;
  const out = {};
  for (const k of PROCESSING) if (typeof v[k] === 'boolean') out[k] = v[k];
  return out;
}

export function validLevel(v) {
  if (!v || typeof v !== 'object') return null;
  const out = {};
  if (Number.isFinite(v.volume)) out.volume = Math.round(Math.min(MAX_VOLUME, Math.max(0, v.volume)));
  if (typeof v.muted === 'boolean') out.muted = v.muted;
  return out;
}

function validMap(v, valid) {
  const out = {};
  if (!v || typeof v !== 'object' || Array.isArray(v)) return out;
  for (const [k, x] of Object.entries(v)) {
    const ok = valid(x);
    if (ok) out[k] = ok;
  }
  return out;
}

function read(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function readJson(key) {
  try {
    return JSON.parse(read(key) || 'null');
  } catch {
    return null;
  }
}

/** The modules only a call needs. */
function callModules() {
  return Promise.all([import('./call-audio.js'), import('./push-to-talk.js')]);
}

/** Adds the controls' styles to the page once (from this module's own version of the client). */
function addStyles() {
  if (document.querySelector('link[data-voice-controls]')) return;
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = new URL('../css/voice-controls.css', import.meta.url).href;
  link.dataset.voiceControls = '';
  document.head.append(link);
}

export class VoiceControls {
  /** `voice`: the session's Voice (voice.js), whose call these controls act on. */
  constructor(voice) {
    this.voice = voice;
    this.store = voice.store;
    this.modules = null;
    this.store.setVoicePrefs(loadVoicePrefs());
    addStyles();
  }

  get prefs() {
    return this.store.state.voicePrefs;
  }

  // ---- a call's side ----

  /** A call has its microphone: its sound starts (call-audio.js) and so does push to talk. */
  async attach(call, { deafened }) {
    if (!this.modules) {
      const [audio, ptt] = await callModules();
      this.modules = { CallAudio: audio.CallAudio, PushToTalk: ptt.PushToTalk };
    }
    if (this.voice.call !== call) return;
    call.audio = new this.modules.CallAudio({
      box: this.voice.audioBox,
      onBlocked: (blocked) => {
        if (this.voice.call === call && !!this.store.state.call?.audioBlocked !== blocked) this.store.updateCall({ audioBlocked: blocked });
      },
    });
    call.audio.setDeafened(deafened);
    for (const [userId, level] of Object.entries(this.prefs.levels)) call.audio.setLevel(userId, level);
    this.syncInputMode(call);
    this.listMicrophones();
  }

  /** The call ended here: its sound and push to talk stop. */
  detach(call) {
    call.ptt?.stop();
    call.ptt = null;
    call.audio?.close();
    call.audio = null;
  }

  /** The getUserMedia audio constraints for a device (null: the default one). */
  constraints(deviceId) {
    const audio = processingFor(this.prefs, deviceId);
    if (deviceId) audio.deviceId = { exact: deviceId };
    return audio;
  }

  /**
   * Puts on the sender the track it should carry: the microphone, or nothing while the push to
   * talk key is up. In order, one at a time, each reading the state when it runs.
   */
  syncSender(call) {
    call.senderSync = call.senderSync.then(async () => {
      const sender = call.sender;
      if (!sender || !call.pc) return;
      const mic = call.mic?.getAudioTracks()[0] || null;
      const want = call.ptt && !call.ptt.held ? null : mic;
      if (sender.track !== want) await sender.replaceTrack(want);
    }).catch((e) => {
      if (call.pc) console.warn('voice: could not change the microphone track', e);
    });
    return call.senderSync;
  }

  // ---- preferences ----

  /** Changes preferences (a patch of loadVoicePrefs()'s shape), stores them, applies them. */
  update(patch) {
    const prefs = { ...this.prefs, ...patch };
    saveVoicePrefs(prefs);
    this.store.setVoicePrefs(prefs);
    if (this.voice.call?.audio) this.syncInputMode(this.voice.call);
  }

  /** "voice" (the microphone is open while unmuted) or "ptt" (while the key is held). */
  setInputMode(mode) {
    this.update({ mode: mode === 'ptt' ? 'ptt' : 'voice' });
  }

  /** The push-to-talk key, a KeyboardEvent.code. */
  setPttKey(code) {
    if (validKey(code)) this.update({ pttKey: code });
  }

  /** Starts or stops push to talk to match the preferences, and opens or closes the microphone. */
  syncInputMode(call) {
    const { mode, pttKey } = this.prefs;
    if (mode === 'ptt' && !call.ptt) {
      call.ptt = new this.modules.PushToTalk({
        key: pttKey,
        onChange: (held) => {
          if (this.voice.call !== call) return;
          this.store.updateCall({ talking: held });
          this.voice.enableMicrophone(call);
        },
      });
    } else if (mode !== 'ptt' && call.ptt) {
      call.ptt.stop();
      call.ptt = null;
      this.store.updateCall({ talking: false });
    }
    if (call.ptt && call.ptt.key !== pttKey) call.ptt.setKey(pttKey);
    this.voice.enableMicrophone(call);
  }

  /** Another person's level for this listener only: a patch of `{volume, muted}`. */
  setLevel(userId, patch) {
    const level = { ...levelFor(this.prefs, userId), ...validLevel(patch) };
    this.update({ levels: { ...this.prefs.levels, [userId]: level } });
    this.voice.call?.audio?.setLevel(userId, level);
  }

  level(userId) {
    return levelFor(this.prefs, userId);
  }

  /** A key code as people read it (for the views, which do not load this module themselves). */
  keyName(code) {
    return keyName(code);
  }

  /** The highest volume, in percent. */
  get maxVolume() {
    return MAX_VOLUME;
  }

  processing(deviceId) {
    return processingFor(this.prefs, deviceId);
  }

  /**
   * Turns a device's noise suppression, echo cancellation or auto gain on or off (a patch of
   * those names); applied at once if it is the microphone in use.
   */
  async setProcessing(deviceId, patch) {
    const key = deviceKey(deviceId);
    this.update({ processing: { ...this.prefs.processing, [key]: { ...processingFor(this.prefs, deviceId), ...validProcessing(patch) } } });
    const call = this.voice.call;
    const track = call?.mic?.getAudioTracks()[0];
    if (!track || deviceKey(track.getSettings().deviceId) !== key) return;
    const want = processingFor(this.prefs, deviceId);
    try {
      await track.applyConstraints({ ...track.getConstraints(), ...want });
    } catch {
      // Not changeable live: opened again below.
    }
    const got = track.getSettings();
    if (PROCESSING.every((k) => got[k] === undefined || got[k] === want[k])) return;
    if (this.voice.call === call) await this.setMicrophone(got.deviceId, { reopen: true });
  }

  // ---- the input device ----

  /**
   * Switches to another microphone in place (replaceTrack: no renegotiation), or with `reopen`
   * opens the one in use again with other processing. That one is stopped first: while a device
   * is open with echo cancellation, Chrome gives a second request for it the processing already
   * running, or refuses it.
   */
  async setMicrophone(deviceId, { reopen = false } = {}) {
    const { voice } = this;
    const call = voice.call;
    if (!reopen) localStorage.setItem(MIC_KEY, deviceId);
    if (!call?.mic) return;
    if (reopen) stopStream(call.mic);
    let stream;
    try {
      stream = await voice.openMicrophone(deviceId);
    } catch (e) {
      voice.toast(microphoneError(e));
      return;
    }
    if (voice.call !== call) {
      stopStream(stream);
      return;
    }
    const old = call.mic;
    call.mic = stream;
    voice.enableMicrophone(call);
    await call.senderSync;
    stopStream(old);
    this.listMicrophones();
  }

  /** The microphone to open: the one in use, else the one chosen last (null: the default). */
  preferredMicrophone() {
    return this.voice.call?.mic?.getAudioTracks()[0]?.getSettings().deviceId || localStorage.getItem(MIC_KEY);
  }

  async listMicrophones() {
    if (!navigator.mediaDevices?.enumerateDevices) return;
    try {
      const devices = await navigator.mediaDevices.enumerateDevices();
      const mics = devices.filter((d) => d.kind === 'audioinput' && d.deviceId)
        .map((d, i) => ({ deviceId: d.deviceId, label: d.label || `Microphone ${i + 1}` }));
      this.store.setMicrophones(mics);
    } catch {
      // No list: the selector stays as it was.
    }
  }
}
