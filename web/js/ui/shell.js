// The signed-in frame: top bar (you, your status, notifications, settings, sign out), the connection
// banner, the dock (where features put bars that outlive the open room, e.g. your call), the
// sidebar and the main pane.

import { h, icon, avatar, srOnly } from '../dom.js';
import { notificationsEnabled, notificationsSupported, setNotifications } from '../notify.js';

const STATUSES = [
  ['online', 'Online'],
  ['away', 'Away'],
  ['dnd', 'Do not disturb'],
];

export class Shell {
  constructor({ store, chat, sidebar, signOut, openSettings }) {
    this.store = store;
    this.chat = chat;
    this.meBox = h('div', { class: 'me' });
    this.statusSelect = h('select', { id: 'status-select', class: 'status-select' },
      STATUSES.map(([value, label]) => h('option', { value, text: label })));
    this.statusSelect.addEventListener('change', () => chat.setStatus(this.statusSelect.value));
    this.statusDot = h('span', { class: 'presence-dot', 'aria-hidden': 'true' });
    this.notifyButton = h('button', { type: 'button', class: 'icon-button notify-button', onClick: () => this.toggleNotifications() }, icon('bell'));
    this.banner = h('div', { class: 'conn-banner', role: 'status', hidden: true });
    this.dock = h('div', { class: 'dock' });
    this.main = h('main', { id: 'main', class: 'main-pane', tabindex: '-1' });
    this.el = h('div', { class: 'shell' },
      h('header', { class: 'topbar' },
        h('div', { class: 'brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, icon('message')), h('span', { text: 'Confab' })),
        h('div', { class: 'topbar-tools' },
          this.meBox,
          h('div', { class: 'status-picker' },
            this.statusDot,
            h('label', { class: 'visually-hidden', for: 'status-select', text: 'Your status' }),
            this.statusSelect),
          notificationsSupported() ? this.notifyButton : null,
          h('button', { type: 'button', class: 'icon-button settings', 'aria-label': 'Settings', title: 'Settings', onClick: openSettings }, icon('settings')),
          h('button', { type: 'button', class: 'icon-button sign-out', 'aria-label': 'Sign out', title: 'Sign out', onClick: signOut }, icon('logout')))),
      this.banner,
      this.dock,
      h('div', { class: 'layout' }, sidebar.el, this.main));
    this.unsubscribe = [
      store.on('me', () => this.renderMe()),
      store.on('connection', () => this.renderConnection()),
    ];
    this.renderMe();
    this.renderNotify();
    this.renderConnection();
  }

  /** Puts a feature's control at the start of the top bar's tools (search does). */
  addTool(el) {
    this.el.querySelector('.topbar-tools').prepend(el);
  }

  destroy() {
    this.unsubscribe.forEach((u) => u());
    clearInterval(this.countdown);
  }

  renderMe() {
    const { me, myStatus } = this.store.state;
    if (!me) return;
    this.meBox.replaceChildren(avatar(me, 'sm'), h('span', { class: 'me-name', text: me.display_name }));
    this.statusSelect.value = myStatus;
    this.statusDot.className = `presence-dot status-${myStatus}`;
  }

  renderNotify() {
    const on = notificationsEnabled();
    this.notifyButton.setAttribute('aria-pressed', String(on));
    const label = on ? 'Desktop notifications on (DMs and mentions)' : 'Turn on desktop notifications for DMs and mentions';
    this.notifyButton.setAttribute('aria-label', label);
    this.notifyButton.title = label;
    this.notifyButton.classList.toggle('on', on);
  }

  async toggleNotifications() {
    await setNotifications(!notificationsEnabled());
    this.renderNotify();
  }

  renderConnection() {
    const c = this.store.state.connection;
    clearInterval(this.countdown);
    this.banner.dataset.state = c.state;
    if (c.state === 'online' || c.state === 'connecting') {
      this.banner.hidden = true;
      this.banner.replaceChildren();
      return;
    }
    this.banner.hidden = false;
    if (c.state === 'reconnecting') {
      this.banner.replaceChildren(h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Connection lost. Reconnecting…');
      return;
    }
    // The countdown is for the eyes; screen readers hear one stable sentence, not a tick a second.
    const text = h('span', { 'aria-hidden': 'true' });
    const update = () => {
      const s = Math.max(0, Math.ceil((c.retryAt - Date.now()) / 1000));
      text.textContent = s > 0 ? `Connection lost. Reconnecting in ${s} s…` : 'Connection lost. Reconnecting…';
    };
    update();
    this.countdown = setInterval(update, 1000);
    this.banner.replaceChildren(icon('alert', 'icon-sm'), text, srOnly('Connection lost. Reconnecting automatically.'),
      h('button', { type: 'button', class: 'link-button', text: 'Retry now', onClick: () => this.chat.socket.reconnectNow() }));
  }
}
