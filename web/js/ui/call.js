// Voice calls on screen: the call button in every room's header, the call panel under it (who is
// in the call, shown before you join too; speaking rings; mute, deafen, voice settings, leave;
// the push-to-talk hint; a volume button on each other person) and the call bar under the top
// bar while the call's room is not the one open; the ring bar while a DM call rings (accept,
// decline). What only a call shows (the panel's in-call buttons, the push-to-talk hint, the
// shared screen, the call bar) is ui/in-call.js, loaded with the first call as the engine is; the
// voice settings and volume dialogs load on first use.
//
// This module registers itself as an extension (extensions.js): per signed-in session it starts
// a Calls (calls.js, which loads the call engine, voice.js, on the first join), hands it the
// `voice.*` frames and listens for the mute shortcut, Alt+Shift+M. (Not Ctrl+Shift+M: Chrome
// keeps that for switching profiles and Firefox for its responsive design mode.) Everything
// shown is read from the store; clicks call the Calls.

import { h, icon, iconButton, avatar, srOnly, replaceChildren } from '../dom.js';
import { nameList } from '../format.js';
import { registerExtension } from '../extensions.js';
import { Calls } from '../calls.js';
import { roomActionProviders, roomPanelProviders } from './room.js';

/** The mute shortcut, as aria-keyshortcuts spells it (and as tooltips show it). */
export const MUTE_SHORTCUT = 'Alt+Shift+M';
/** The deafen shortcut. */
export const DEAFEN_SHORTCUT = 'Alt+Shift+D';

/** What a participant's `quality` means, for the tile's title and screen readers. */
const QUALITY_TEXT = { good: 'good connection', fair: 'unsteady connection', poor: 'poor connection' };

/** The session's Calls while signed in. */
let voice = null;

/** The session's Calls (null when signed out), for the settings dialog. */
export const sessionVoice = () => voice;

registerExtension(({ chat, store, toast, shell, openRoom }) => {
  const mine = new Calls({ chat, store, toast });
  voice = mine;
  chat.onFrame('voice.', (f) => mine.handleFrame(f));
  const onKey = (e) => {
    if (!['KeyM', 'KeyD'].includes(e.code) || !e.altKey || !e.shiftKey || e.ctrlKey || e.metaKey || !store.state.call) return;
    e.preventDefault();
    if (e.code === 'KeyD') {
      mine.toggleDeafen();
      toast(store.state.call.deafened ? 'Deafened: you hear nothing and your microphone is off.' : 'Sound on.');
      return;
    }
    mine.toggleMute();
    toast(store.state.call.muted ? 'Microphone muted.' : 'Microphone on.');
  };
  document.addEventListener('keydown', onKey);
  const ringing = shell ? new RingBar({ store, voice: mine, openRoom }) : null;
  if (ringing) shell.dock.append(ringing.el);
  // The call bar joins the dock, before the ring bar, with the first call.
  let bar = null;
  let stopped = false;
  const unsubscribeCall = shell ? store.on('call', () => {
    if (!store.state.call || bar) return;
    bar = loadInCall().then((m) => {
      if (stopped) return null;
      const b = new m.CallBar({ store, voice: mine, openRoom });
      ringing.el.before(b.el);
      return b;
    }, () => (bar = null));
  }) : null;
  return () => {
    stopped = true;
    document.removeEventListener('keydown', onKey);
    unsubscribeCall?.();
    bar?.then((b) => {
      b?.destroy();
      b?.el.remove();
    });
    ringing?.destroy();
    ringing?.el.remove();
    mine.stop();
    if (voice === mine) voice = null;
  };
});

roomActionProviders.push((ctx) => (voice ? callButton(ctx, voice) : null));
roomPanelProviders.push((ctx) => (voice ? new CallPanel(ctx, voice) : null));

/** What only a call shows (ui/in-call.js), loaded once. */
function loadInCall() {
  return import('./in-call.js');
}

/** What our call is doing, in a few words. */
export function statusText(call) {
  switch (call.status) {
    case 'joining': return 'Waiting for your microphone…';
    case 'connecting': return 'Connecting…';
    case 'reconnecting': return 'Reconnecting to the call…';
    default: return 'You are in the call';
  }
}

/** Who is in a call you are not in here (you may be, from another tab). */
function whoIsIn(store, participants) {
  const me = store.me?.id;
  const others = participants.filter((p) => p.user_id !== me).map((p) => store.displayName(p.user_id));
  const meElsewhere = participants.length > others.length;
  if (meElsewhere && !others.length) return 'You are in this call in another tab';
  if (meElsewhere) return `You (in another tab) and ${nameList(others, 2)} are in the call`;
  if (!others.length) return '';
  return `${nameList(others)} ${others.length === 1 ? 'is' : 'are'} in the call`;
}

/** The header button: join this room's call, or leave it. */
function callButton({ store, roomId }, v) {
  const button = h('button', { type: 'button', class: 'icon-button call-button' });
  button.addEventListener('click', () => {
    if (store.state.call?.roomId === roomId) v.leave();
    else v.join(roomId);
  });
  const render = () => {
    const here = store.state.call?.roomId === roomId;
    const n = store.callParticipants(roomId).length;
    const label = here ? 'Leave voice call' : n ? `Join voice call (${n} in the call)` : 'Join voice call';
    replaceChildren(button, icon(here ? 'phoneOff' : 'phone'), !here && n ? h('span', { class: 'call-count', 'aria-hidden': 'true', text: String(n) }) : null);
    button.setAttribute('aria-label', label);
    button.title = label;
    button.classList.toggle('in-call', here);
    button.classList.toggle('live', !here && n > 0);
  };
  const unsubscribe = [store.on(`voice:${roomId}`, render), store.on('call', render)];
  render();
  return { el: button, destroy: () => unsubscribe.forEach((u) => u()) };
}

/** The panel under a room's header. */
class CallPanel {
  constructor({ store, roomId }, v) {
    this.store = store;
    this.roomId = roomId;
    this.voice = v;
    this.status = h('p', { class: 'call-status', role: 'status' });
    this.joinButton = h('button', { type: 'button', class: 'button primary small', onClick: () => v.join(roomId) }, icon('phone', 'icon-sm'), 'Join the call');
    this.people = h('ul', { class: 'call-people', 'aria-label': 'In the call' });
    this.controls = h('div', { class: 'call-controls' }, this.joinButton);
    this.stageBox = h('div', { class: 'call-stage' });
    /** The in-call part (ui/in-call.js's CallControls), once this room's call was ours. */
    this.inCall = null;
    this.loading = null;
    this.errorText = h('span');
    this.error = h('div', { class: 'call-error', role: 'alert' },
      icon('alert', 'icon-sm'), this.errorText,
      iconButton('close', 'Dismiss', () => store.setCallError(null), { class: 'call-error-close' }));
    this.el = h('section', { class: 'call-panel', 'aria-label': 'Voice call' },
      h('div', { class: 'call-head' },
        h('span', { class: 'call-icon', 'aria-hidden': 'true' }, icon('volume', 'icon-sm')),
        this.status),
      this.stageBox, this.people, this.controls, this.error);
    this.unsubscribe = [
      store.on(`voice:${roomId}`, () => this.render()),
      store.on('call', () => this.render()),
      store.on(`room:${roomId}`, () => this.render()),
    ];
    this.render();
  }

  destroy() {
    this.destroyed = true;
    this.unsubscribe.forEach((u) => u());
    this.inCall?.destroy();
  }

  render() {
    const { store, roomId } = this;
    const call = store.state.call?.roomId === roomId ? store.state.call : null;
    const participants = store.callParticipants(roomId);
    const error = store.state.callError?.roomId === roomId ? store.state.callError.message : null;
    this.el.hidden = !call && !participants.length && !error;
    this.el.classList.toggle('joined', !!call);

    const status = call ? statusText(call) : whoIsIn(store, participants);
    if (this.status.textContent !== status) this.status.textContent = status;
    this.joinButton.hidden = !!call || !participants.length;

    this.people.hidden = !participants.length;
    // Rebuilt on every change (speaking flips often): a focused volume button stays focused.
    const focused = document.activeElement?.dataset?.levelFor;
    this.people.replaceChildren(...participants.map((p) => this.person(p, call)));
    if (focused) this.levelButton(focused)?.focus();

    this.controls.hidden = !call && !participants.length;
    if (call) this.loadInCall();
    this.inCall?.render(call);
    this.error.hidden = !error;
    this.errorText.textContent = error || '';
  }

  /** The in-call buttons and views, loaded with the first call here. */
  loadInCall() {
    this.loading ??= loadInCall().then((m) => {
      if (this.destroyed) return;
      this.inCall = new m.CallControls(this);
      this.render();
    }, (e) => {
      this.loading = null;
      console.warn('the call controls did not load', e);
    });
  }

  levelButton(userId) {
    return this.people.querySelector(`[data-level-for="${CSS.escape(userId)}"]`);
  }

  /** A participant's tile; in our call, each other person's has a button for their volume here. */
  person(p, call) {
    const { store } = this;
    const me = p.user_id === store.me?.id;
    const level = store.state.voicePrefs?.levels[p.user_id];
    const silenced = !me && (level?.muted || level?.volume === 0);
    const name = me ? `${store.displayName(p.user_id)} (you)` : store.displayName(p.user_id);
    const user = store.user(p.user_id) || { id: p.user_id, display_name: store.displayName(p.user_id) };
    const quality = QUALITY_TEXT[p.quality] ? p.quality : 'good';
    const badge = p.deafened ? icon('headphonesOff') : p.muted ? icon('micOff') : null;
    return h('li', { class: ['call-person', p.speaking && 'speaking', p.muted && 'muted', p.deafened && 'deafened', silenced && 'silenced'], dataset: { userId: p.user_id, quality } },
      h('span', { class: 'call-avatar' }, avatar(user, 'sm'),
        badge ? h('span', { class: 'call-muted-badge', 'aria-hidden': 'true' }, badge) : null),
      h('span', { class: 'call-name', text: name }),
      h('span', { class: `call-quality quality-${quality}`, title: `Call quality: ${QUALITY_TEXT[quality]}`, 'aria-hidden': 'true' }),
      srOnly([p.deafened ? ', deafened' : p.muted && ', muted', p.speaking && ', speaking', quality !== 'good' && `, ${QUALITY_TEXT[quality]}`, silenced && ', muted for you'].filter(Boolean).join('')),
      call && !me ? iconButton(silenced ? 'micOff' : 'volume', `Volume for ${name}`, null, { class: 'call-level', 'aria-haspopup': 'dialog', dataset: { levelFor: p.user_id } }) : null);
  }
}

/** The bar that rings while someone calls you in a DM: accept (join, and open the DM) or decline. */
class RingBar {
  constructor({ store, voice: v, openRoom }) {
    this.store = store;
    this.text = h('span', { class: 'ring-bar-text' });
    const accept = h('button', { type: 'button', class: 'button primary small', onClick: () => {
      const roomId = store.state.ring?.roomId;
      if (roomId) openRoom(roomId);
      v.accept();
    } }, icon('phone', 'icon-sm'), 'Accept');
    const decline = h('button', { type: 'button', class: 'button danger small', onClick: () => v.decline() }, icon('phoneOff', 'icon-sm'), 'Decline');
    this.el = h('div', { class: 'call-bar ring-bar', role: 'region', 'aria-label': 'Incoming call', 'aria-live': 'assertive', hidden: true },
      h('span', { class: 'call-icon', 'aria-hidden': 'true' }, icon('phone', 'icon-sm')),
      this.text,
      h('span', { class: 'call-bar-tools' }, accept, decline));
    this.unsubscribe = [store.on('ring', () => this.render())];
    this.render();
  }

  destroy() {
    this.unsubscribe.forEach((u) => u());
  }

  render() {
    const ring = this.store.state.ring;
    this.el.hidden = !ring;
    if (ring) this.text.textContent = `${this.store.displayName(ring.from)} is calling you`;
  }
}
