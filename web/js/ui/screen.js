// The shared screen on screen (loaded on first use, when a screen is first shared or watched):
// the screen large in the call panel with the call's people beside it (speaking rings
// included), a picker when two people share, and a fullscreen button. Reads the call's
// ScreenShare (screenshare.js) and the store; nothing here talks to the server.

import { h, icon, avatar, replaceChildren } from '../dom.js';

/** Adds the stage's styles to the page once (from this module's own version of the client). */
function addStyles() {
  if (document.querySelector('link[data-screen-stage]')) return;
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = new URL('../../css/screen.css', import.meta.url).href;
  link.dataset.screenStage = '';
  document.head.append(link);
}

/** Mounts the stage into `container` (the call panel's); returns `{render, destroy}`. */
export function mountStage({ store, roomId, screen, container }) {
  addStyles();
  const video = h('video', { class: 'screen-video', autoplay: true, playsInline: true, muted: true });
  video.muted = true;
  const title = h('p', { class: 'screen-title' });
  const picker = h('div', { class: 'screen-picker', role: 'group', 'aria-label': 'Shared screens' });
  const people = h('ul', { class: 'screen-people', 'aria-label': 'Speakers' });
  const full = h('button', { type: 'button', class: 'icon-button screen-fullscreen', 'aria-label': 'Full screen', title: 'Show the shared screen full screen' }, icon('maximize'));
  const frame = h('div', { class: 'screen-frame' }, video, full);
  const el = h('section', { class: 'screen-stage', 'aria-label': 'Shared screen' },
    h('div', { class: 'screen-main' }, title, picker, frame), people);
  container.append(el);
  let chosen = null;

  full.addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen?.();
    else frame.requestFullscreen?.().catch(() => {});
  });

  const render = () => {
    const me = store.me?.id;
    const shown = [...screen.remote.keys()];
    if (screen.local) shown.push(me);
    el.hidden = !shown.length || store.state.call?.roomId !== roomId;
    if (el.hidden) {
      if (video.srcObject) video.srcObject = null;
      return;
    }
    if (!shown.includes(chosen)) chosen = shown.find((u) => u !== me) || shown[0];
    const stream = chosen === me ? screen.local : screen.remote.get(chosen);
    if (video.srcObject !== stream) {
      video.srcObject = stream;
      video.play?.().catch(() => {});
    }
    const name = chosen === me ? 'Your screen' : `${store.displayName(chosen)}\u2019s screen`;
    if (title.textContent !== name) title.textContent = name;
    picker.hidden = shown.length < 2;
    replaceChildren(picker, ...(shown.length < 2 ? [] : shown).map((u) => h('button', {
      type: 'button',
      class: 'button small',
      'aria-pressed': String(u === chosen),
      text: u === me ? 'Your screen' : `${store.displayName(u)}\u2019s screen`,
      onClick: () => { chosen = u; render(); },
    })));
    const participants = store.callParticipants(roomId);
    replaceChildren(people, ...participants.map((p) => {
      const user = store.user(p.user_id) || { id: p.user_id, display_name: store.displayName(p.user_id) };
      return h('li', { class: ['screen-person', p.speaking && 'speaking'], dataset: { userId: p.user_id } },
        avatar(user, 'sm'), h('span', { class: 'call-name', text: store.displayName(p.user_id) }),
        p.screen ? h('span', { class: 'screen-badge', title: 'Sharing their screen' }, icon('monitor', 'icon-sm')) : null);
    }));
  };
  const unsubscribe = [screen.on(render), store.on(`voice:${roomId}`, render), store.on('call', render)];
  render();
  return {
    render,
    destroy() {
      unsubscribe.forEach((u) => u());
      video.srcObject = null;
      el.remove();
    },
  };
}
