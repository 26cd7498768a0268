// The sidebar: group rooms and DMs, newest activity first, with unread counts, the last
// message's preview and time, and presence dots for DM partners.
//
// Items are real links (`/r/<id>`), so they work with middle-click and screen readers' link
// lists; a plain click is routed inside the app.

import { h, icon, avatar, iconButton } from '../dom.js';
import { listTime, fullTime, preview, presenceLabel, attachmentsSummary } from '../format.js';

export class RoomList {
  constructor({ store, open, newRoom, newDm, browse }) {
    this.store = store;
    this.open = open;
    this.groups = h('ul', { class: 'room-list', 'aria-labelledby': 'rooms-heading' });
    this.dms = h('ul', { class: 'room-list', 'aria-labelledby': 'dms-heading' });
    this.el = h('nav', { class: 'sidebar', 'aria-label': 'Rooms and direct messages' },
      h('div', { class: 'sidebar-section' },
        h('div', { class: 'sidebar-head' },
          h('h2', { id: 'rooms-heading', text: 'Rooms' }),
          iconButton('hash', 'Browse rooms', browse, { class: 'browse-rooms' }),
          iconButton('plus', 'Create a room', newRoom, { class: 'new-room' })),
        this.groups),
      h('div', { class: 'sidebar-section' },
        h('div', { class: 'sidebar-head' },
          h('h2', { id: 'dms-heading', text: 'Direct messages' }),
          iconButton('plus', 'New direct message', newDm, { class: 'new-dm' })),
        this.dms));
    this.unsubscribe = [
      store.on('rooms', () => this.render()),
      store.on('presence', () => this.render()),
      store.on('current', () => this.render()),
      store.on('voice', () => this.render()),
    ];
    this.render();
  }

  destroy() {
    this.unsubscribe.forEach((u) => u());
  }

  render() {
    const { store } = this;
    const focused = this.el.contains(document.activeElement) ? document.activeElement.dataset.roomId : null;
    const rooms = store.roomList();
    const groups = rooms.filter((r) => r.kind !== 'dm');
    const dms = rooms.filter((r) => r.kind === 'dm');
    this.groups.replaceChildren(...(groups.length ? groups.map((r) => this.item(r)) : [h('li', { class: 'empty-note', text: 'No rooms yet. Create one with +.' })]));
    this.dms.replaceChildren(...(dms.length ? dms.map((r) => this.item(r)) : [h('li', { class: 'empty-note', text: 'No conversations yet.' })]));
    if (focused) this.el.querySelector(`a[data-room-id="${CSS.escape(focused)}"]`)?.focus();
  }

  item(room) {
    const { store } = this;
    const current = store.state.currentRoomId === room.id;
    const name = store.roomName(room);
    const last = room.last_message;
    const unread = current ? 0 : store.shownUnread(room);
    const mentions = current || room.notify === 'none' ? 0 : room.mention_count || 0;
    const when = last ? new Date(last.created_at) : null;
    let lead;
    if (room.kind === 'dm') {
      const p = room.dm_user && store.state.presence.get(room.dm_user.id);
      lead = h('span', { class: 'avatar-wrap' },
        avatar(room.dm_user || { id: room.id, display_name: name }, 'sm'),
        h('span', { class: ['presence-dot', `status-${p?.status || 'offline'}`], title: presenceLabel(p), 'aria-hidden': 'true' }));
    } else {
      lead = h('span', { class: 'room-hash', 'aria-hidden': 'true' }, icon('hash', 'icon-sm'));
    }
    const presence = room.kind === 'dm' ? `, ${presenceLabel(store.state.presence.get(room.dm_user?.id))}` : '';
    const link = h('a', {
      href: `/r/${room.id}`,
      class: ['room-item', current && 'active', unread > 0 && 'unread'],
      'aria-current': current ? 'page' : false,
      dataset: { roomId: room.id },
      onClick: (e) => {
        if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        this.open(room.id);
      },
    },
    lead,
    h('span', { class: 'room-item-main' },
      h('span', { class: 'room-item-top' },
        h('span', { class: 'room-item-name', text: name }),
        this.distinction(room),
        h('span', { class: 'visually-hidden', text: presence }),
        this.callMark(room),
        when ? h('time', { class: 'room-item-time', datetime: last.created_at, title: fullTime(when), text: listTime(when) }) : null),
      h('span', { class: 'room-item-bottom' },
        h('span', { class: 'room-item-preview', text: this.previewText(room) }),
        mentions > 0 ? h('span', { class: 'badge mention-badge', text: '@', title: `${mentions} unread ${mentions === 1 ? 'mention' : 'mentions'}`, 'aria-label': `${mentions} unread ${mentions === 1 ? 'mention' : 'mentions'}` }) : null,
        unread > 0 ? h('span', { class: 'badge', text: unread > 99 ? '99+' : String(unread), 'aria-label': `${unread} unread` }) : null)));
    return h('li', {}, link);
  }

  /** Beside a name another room shares: what tells them apart. */
  distinction(room) {
    const text = this.store.roomDistinction(room);
    return text ? h('span', { class: 'room-item-detail', text: `· ${text}` }) : null;
  }

  /** A speaker when the room's call has people in it. */
  callMark(room) {
    const n = this.store.callParticipants(room.id).length;
    if (!n) return null;
    const text = `${n} in the call`;
    return h('span', { class: 'room-item-call', title: text },
      icon('volume', 'icon-sm'), h('span', { class: 'visually-hidden', text: `, ${text}` }));
  }

  previewText(room) {
    const { store } = this;
    const m = room.last_message;
    if (!m) return room.topic || 'No messages yet';
    if (m.deleted) return 'Message deleted';
    const who = m.sender_id === store.me?.id ? 'You: ' : room.kind === 'dm' ? '' : `${store.displayName(m.sender_id)}: `;
    const text = m.body ? preview(m.body, 80) : attachmentsSummary(m.attachments);
    return `${who}${m.forwarded_from ? 'Forwarded: ' : ''}${text}`;
  }
}
