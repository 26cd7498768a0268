// One person's sound in our call, for us alone: their volume (0 to 200 %) and a mute that only we
// hear, remembered by user id in this browser (voice-controls.js keeps and applies it). Opened
// from the volume button on their tile in the call panel; loaded then.

import { h } from '../dom.js';
import { modal } from './dialogs.js';

/** Opens the dialog for `userId`; `onClose` runs after it closes. */
export function open({ store, controls, userId, onClose }) {
  const name = store.displayName(userId);
  const level = controls.level(userId);
  const slider = h('input', {
    id: 'participant-volume', type: 'range', min: '0', max: String(controls.maxVolume), step: '5', value: String(level.volume),
  });
  const shown = h('output', { for: slider.id, class: 'level-value' });
  const mute = h('input', { id: 'participant-mute', type: 'checkbox', checked: level.muted });
  const show = () => {
    const text = `${slider.value} %`;
    shown.textContent = text;
    slider.setAttribute('aria-valuetext', text);
  };
  slider.addEventListener('input', () => {
    show();
    controls.setLevel(userId, { volume: Number(slider.value) });
  });
  mute.addEventListener('change', () => controls.setLevel(userId, { muted: mute.checked }));
  show();
  const reset = h('button', {
    type: 'button', class: 'button small ghost', text: 'Reset to 100 %',
    onClick: () => {
      slider.value = '100';
      show();
      controls.setLevel(userId, { volume: 100 });
    },
  });
  const m = modal({
    title: name,
    className: 'modal-small',
    content: [
      h('div', { class: 'stack' },
        h('label', { for: slider.id, text: `Volume of ${name}` }),
        h('div', { class: 'level-row' }, slider, shown),
        h('label', { class: 'check-row' }, mute, `Mute ${name} for me`),
        h('p', { class: 'hint', text: 'Only you hear the difference; the others hear them as before.' }),
        h('div', { class: 'modal-actions' }, reset,
          h('button', { type: 'button', class: 'button primary small', text: 'Done', onClick: () => m.close() }))),
    ],
    onClose,
  });
  slider.focus();
}
