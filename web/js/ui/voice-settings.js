// Voice settings: the input mode (voice activity or push to talk, and its key, captured from the
// next key pressed), the input device, and the browser's noise suppression, echo cancellation and
// automatic gain control for that device (remembered per device, applied to a call at once).
// Shown in the settings dialog and, from the call panel's settings button, in a dialog of its own;
// loaded on first use. Every change goes through the VoiceControls (voice-controls.js), which
// stores and applies it.

import { h } from '../dom.js';
import { modal } from './dialogs.js';

const PROCESSING_LABELS = {
  noiseSuppression: 'Noise suppression',
  echoCancellation: 'Echo cancellation',
  autoGainControl: 'Automatic gain control',
};
const PROCESSING = Object.keys(PROCESSING_LABELS);

let nextId = 0;

/** The form, kept current with the store until it leaves the page. */
export function voiceSettings({ store, controls }) {
  const keyName = (code) => controls.keyName(code);
  const id = `voice-settings-${++nextId}`;
  const status = h('p', { class: 'hint', role: 'status' });

  const radios = ['voice', 'ptt'].map((mode) => h('input', { type: 'radio', name: `${id}-mode`, value: mode, id: `${id}-${mode}` }));
  for (const r of radios) r.addEventListener('change', () => r.checked && controls.setInputMode(r.value));
  const keyButton = h('button', { type: 'button', class: 'button small', id: `${id}-key` });
  let capturing = false;
  const stopCapture = () => {
    capturing = false;
    render();
  };
  keyButton.addEventListener('click', () => {
    capturing = true;
    render();
  });
  keyButton.addEventListener('blur', () => capturing && stopCapture());
  keyButton.addEventListener('keydown', (e) => {
    if (!capturing) return;
    if (e.code === 'Tab') {
      stopCapture();
      return;
    }
    e.preventDefault();
    e.stopPropagation();
    if (e.code !== 'Escape') {
      controls.setPttKey(e.code);
      status.textContent = `Push to talk: hold ${keyName(e.code)}.`;
    }
    stopCapture();
  });
  const mode = h('fieldset', { class: 'settings-fieldset' },
    h('legend', { text: 'Input mode' }),
    h('label', { class: 'check-row', for: radios[0].id }, radios[0], 'Voice activity (your microphone is on while you are not muted)'),
    h('label', { class: 'check-row', for: radios[1].id }, radios[1], 'Push to talk (your microphone is on only while you hold a key in this page)'),
    h('div', { class: 'level-row' }, h('span', { text: 'Push-to-talk key' }), keyButton),
    h('p', { class: 'hint', text: 'In a call with push to talk, this key talks instead of typing.' }));

  const device = h('select', { id: `${id}-device` });
  device.addEventListener('change', () => {
    controls.setMicrophone(device.value);
    render();
  });
  const checks = Object.fromEntries(PROCESSING.map((k) => [k, h('input', { type: 'checkbox', id: `${id}-${k}` })]));
  for (const [k, box] of Object.entries(checks)) {
    box.addEventListener('change', async () => {
      await controls.setProcessing(selectedDevice(), { [k]: box.checked });
      status.textContent = `${PROCESSING_LABELS[k]} ${box.checked ? 'on' : 'off'} for this microphone.`;
    });
  }
  const input = h('fieldset', { class: 'settings-fieldset' },
    h('legend', { text: 'Microphone' }),
    h('label', { for: device.id, text: 'Input device' }), device,
    ...PROCESSING.map((k) => h('label', { class: 'check-row', for: checks[k].id }, checks[k], PROCESSING_LABELS[k])),
    h('p', { class: 'hint', text: 'Remembered for each microphone; a call in progress changes at once.' }));

  const el = h('div', { class: 'stack voice-settings' }, mode, input, status);
  let micKey = null;

  function selectedDevice() {
    return device.value || controls.preferredMicrophone() || 'default';
  }

  function renderDevices() {
    const mics = store.state.microphones;
    const key = mics.map((m) => `${m.deviceId}:${m.label}`).join('|');
    if (key !== micKey) {
      micKey = key;
      const options = mics.length ? mics : [{ deviceId: 'default', label: 'Default microphone' }];
      device.replaceChildren(...options.map((m) => h('option', { value: m.deviceId, text: m.label })));
    }
    const want = controls.preferredMicrophone() || 'default';
    if ([...device.options].some((o) => o.value === want) && device.value !== want) device.value = want;
  }

  function render() {
    const prefs = store.state.voicePrefs;
    for (const r of radios) r.checked = r.value === prefs.mode;
    const label = capturing ? 'Press a key… (Esc cancels)' : keyName(prefs.pttKey);
    keyButton.textContent = label;
    keyButton.setAttribute('aria-label', capturing ? 'Press the new push-to-talk key, or Escape to cancel' : `Push-to-talk key: ${keyName(prefs.pttKey)}. Change`);
    renderDevices();
    const processing = controls.processing(selectedDevice());
    for (const k of PROCESSING) checks[k].checked = processing[k];
  }

  const unsubscribe = [store.on('voicePrefs', () => update()), store.on('call', () => update())];
  function update() {
    if (!el.isConnected || !store.state.voicePrefs) {
      unsubscribe.forEach((u) => u());
      return;
    }
    render();
  }
  controls.listMicrophones();
  render();
  return el;
}

/** The voice settings in a dialog of their own (from the call panel). */
export function open({ store, controls }) {
  const form = voiceSettings({ store, controls });
  const m = modal({ title: 'Voice settings', className: 'modal-voice', content: [form] });
  m.dialog.querySelector('input[type="radio"]:checked')?.focus();
}
