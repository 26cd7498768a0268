// What only a call shows, loaded with the first call (as the engine, voice.js, is), so a cold
// load does not pay for it: in the call panel of the call's room the mute, deafen, share, voice
// settings and leave buttons, the push-to-talk hint, the note when the browser held back the
// call's sound and the shared screen's stage (ui/screen.js); the volume dialog of each other
// person; and the call bar under the top bar while the call's room is not the one open.
// ui/call.js shows the rest and hands each panel's render here.

import { h, icon, iconButton } from '../dom.js';
import { DEAFEN_SHORTCUT, MUTE_SHORTCUT, statusText } from './call.js';

/** Opens a lazy dialog module's `open({store, controls, ...})`. */
async function openDialog(store, v, load, props) {
  const [controls, m] = await Promise.all([v.controls(), load()]);
  m.open({ store, controls, ...props });
}

/** A call panel's in-call part: `panel` is ui/call.js's CallPanel, whose elements it joins. */
export class CallControls {
  constructor(panel) {
    const { store, roomId, voice: v } = panel;
    this.panel = panel;
    this.store = store;
    this.roomId = roomId;
    this.voice = v;
    this.muteButton = h('button', { type: 'button', class: 'button small call-mute', 'aria-keyshortcuts': MUTE_SHORTCUT, onClick: () => v.toggleMute() });
    this.deafenButton = h('button', { type: 'button', class: 'button small call-deafen', 'aria-keyshortcuts': DEAFEN_SHORTCUT, onClick: () => v.toggleDeafen() });
    this.settingsButton = iconButton('settings', 'Voice settings', () => openDialog(store, v, () => import('./voice-settings.js')));
    this.leaveButton = h('button', { type: 'button', class: 'button danger small', onClick: () => v.leave() }, icon('phoneOff', 'icon-sm'), 'Leave');
    this.shareButton = h('button', { type: 'button', class: 'button small call-share', onClick: () => (v.screen.active ? v.screen.stop() : v.screen.start(roomId)) });
    panel.controls.append(this.muteButton, this.deafenButton, this.shareButton, this.settingsButton, this.leaveButton);
    this.ptt = h('p', { class: 'call-ptt' });
    this.audioNote = h('p', { class: 'call-note' },
      'Your browser held back the call\u2019s sound. ',
      h('button', { type: 'button', class: 'link-button', text: 'Turn on sound', onClick: () => v.resumeAudio() }));
    panel.controls.after(this.ptt, this.audioNote);
    // The volume buttons are on the tiles, which the panel rebuilds on every change.
    panel.people.addEventListener('click', (e) => {
      const userId = e.target.closest('[data-level-for]')?.dataset.levelFor;
      if (userId) openDialog(store, v, () => import('./participant-level.js'), { userId, onClose: () => panel.levelButton(userId)?.focus() });
    });
    // A call has the engine, so its screen share is there.
    this.unsubscribe = v.screen.on(() => panel.render());
  }

  destroy() {
    this.unsubscribe();
    this.stage?.then((s) => s.destroy());
  }

  /** `call`: our call when it is this room's, else null. */
  render(call) {
    this.renderScreen(call);
    for (const el of [this.muteButton, this.deafenButton, this.settingsButton, this.leaveButton]) el.hidden = !call;
    const prefs = this.store.state.voicePrefs;
    const key = this.voice.loaded?.keyName(prefs?.pttKey);
    this.ptt.hidden = !call || prefs?.mode !== 'ptt';
    this.ptt.textContent = call?.talking ? `Talking: release ${key} to stop` : `Push to talk: hold ${key}`;
    this.ptt.classList.toggle('talking', !!call?.talking);
    this.renderDeafen(!!call?.deafened);
    const muted = !!call?.muted || !!call?.deafened;
    const label = muted ? 'Unmute' : 'Mute';
    this.muteButton.replaceChildren(icon(muted ? 'micOff' : 'mic', 'icon-sm'), label);
    this.muteButton.setAttribute('aria-pressed', String(muted));
    this.muteButton.title = `${label} your microphone (${MUTE_SHORTCUT})`;
    this.muteButton.classList.toggle('muted', muted);
    this.audioNote.hidden = !call?.audioBlocked;
  }

  /** The share button, and the stage (ui/screen.js, loaded when a screen is first shown). */
  renderScreen(call) {
    const { screen } = this.voice;
    this.shareButton.hidden = !call || !navigator.mediaDevices?.getDisplayMedia;
    const label = screen.active ? 'Stop sharing' : 'Share screen';
    if (this.shareButton.textContent !== label) this.shareButton.replaceChildren(icon('monitor', 'icon-sm'), label);
    this.shareButton.setAttribute('aria-pressed', String(screen.active));
    if (!this.stage && call && (screen.active || screen.remote.size)) {
      this.stage = import('./screen.js').then((m) => m.mountStage({ store: this.store, roomId: this.roomId, screen, container: this.panel.stageBox }));
    }
  }

  renderDeafen(deafened) {
    const label = deafened ? 'Undeafen' : 'Deafen';
    this.deafenButton.replaceChildren(icon(deafened ? 'headphonesOff' : 'headphones', 'icon-sm'), label);
    this.deafenButton.setAttribute('aria-pressed', String(deafened));
    this.deafenButton.title = `${deafened ? 'Hear the call again' : 'Hear nothing and mute your microphone'} (${DEAFEN_SHORTCUT})`;
    this.deafenButton.classList.toggle('muted', deafened);
  }
}

/** The bar under the top bar while you are in a call of a room you are not looking at. */
export class CallBar {
  constructor({ store, voice: v, openRoom }) {
    this.store = store;
    this.text = h('span', { class: 'call-bar-text' });
    this.roomButton = h('button', { type: 'button', class: 'link-button call-bar-room', text: 'the call\u2019s room', onClick: () => openRoom(store.state.call?.roomId) });
    this.mute = iconButton('mic', 'Mute', () => v.toggleMute(), { 'aria-keyshortcuts': MUTE_SHORTCUT });
    this.el = h('div', { class: 'call-bar', role: 'region', 'aria-label': 'Your call', hidden: true },
      h('span', { class: 'call-icon', 'aria-hidden': 'true' }, icon('volume', 'icon-sm')),
      this.text, this.roomButton,
      h('span', { class: 'call-bar-tools' },
        this.mute,
        iconButton('phoneOff', 'Leave voice call', () => v.leave(), { class: 'danger' })));
    this.unsubscribe = [store.on('call', () => this.render()), store.on('current', () => this.render()), store.on('rooms', () => this.render())];
    this.render();
  }

  destroy() {
    this.unsubscribe.forEach((u) => u());
  }

  render() {
    const { store } = this;
    const call = store.state.call;
    const room = call && store.room(call.roomId);
    this.el.hidden = !call || !room || store.state.currentRoomId === call.roomId;
    if (this.el.hidden) return;
    this.text.textContent = call.status === 'connected' ? 'In a call in' : `${statusText(call)} ·`;
    this.roomButton.textContent = `${room.kind === 'dm' ? '' : '#'}${store.roomName(room)}`;
    const label = `${call.muted ? 'Unmute' : 'Mute'} your microphone (${MUTE_SHORTCUT})`;
    this.mute.replaceChildren(icon(call.muted ? 'micOff' : 'mic'));
    this.mute.setAttribute('aria-label', call.muted ? 'Unmute' : 'Mute');
    this.mute.setAttribute('aria-pressed', String(!!call.muted));
    this.mute.title = label;
  }
}
