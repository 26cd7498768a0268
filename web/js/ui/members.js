// A room's members with their roles and presence, loaded when first opened. In a large room the
// server sends presence only for the users a client asks for (`presence.subscribe`), so the
// dialog subscribes to the members it lists while it is open (again after a reconnection, whose
// new session knows of no subscription) and ends the subscription when it closes.

import { h, avatar, icon } from '../dom.js';
import { presenceLabel } from '../format.js';
import { modal } from './dialogs.js';

/** Most users one subscription names (the server's limit). */
const WATCH_MAX = 500;

/**
 * The members of a room with their roles and presence; moderators may add people, and open the
 * moderation menu (`onModerate(user)`) of a member they outrank. `watch(ids)` subscribes to the
 * presence of `ids` (`[]` ends it) and says whether it could be sent.
 */
export function membersDialog({ store, roomId, loadMembers, watch, onAdd, onModerate, onBlock }) {
  const list = h('ul', { class: 'people-results' });
  let watched = '';
  const render = () => {
    const members = store.state.members.get(roomId);
    if (!members) {
      list.replaceChildren(h('li', { class: 'hint', text: 'Loading…' }));
      return;
    }
    const myRole = members.get(store.me.id);
    const rank = { owner: 0, admin: 1, member: 2 };
    const rows = [...members.entries()].sort((a, b) => rank[a[1]] - rank[b[1]] || store.displayName(a[0]).localeCompare(store.displayName(b[0])));
    const others = rows.map(([id]) => id).filter((id) => id !== store.me.id).slice(0, WATCH_MAX);
    if (others.join() !== watched && watch(others)) watched = others.join();
    list.replaceChildren(...rows.map(([id, role]) => {
      const user = store.user(id) || { id, display_name: store.displayName(id), username: '' };
      const p = store.state.presence.get(id);
      const serverAdmin = store.me.server_role === 'admin' && role !== 'owner';
      const outranks = id !== store.me.id && (myRole === 'owner' || (myRole === 'admin' && role === 'member') || serverAdmin);
      return h('li', { class: 'person' },
        h('span', { class: 'avatar-wrap' }, avatar(user, 'sm'), h('span', { class: ['presence-dot', `status-${id === store.me.id ? store.state.myStatus : p?.status || 'offline'}`], 'aria-hidden': 'true' })),
        h('span', { class: 'person-names' },
          h('span', { class: 'person-name', text: id === store.me.id ? `${user.display_name} (you)` : user.display_name }),
          h('span', { class: 'person-username', text: `${role}${id === store.me.id ? '' : ` · ${presenceLabel(p)}`}` })),
        outranks && onModerate ? h('button', { type: 'button', class: 'button small ghost', text: 'Moderate', 'aria-label': `Moderate ${user.display_name}`, onClick: () => onModerate(user) }) : null,
        id !== store.me.id && onBlock ? blockButton(store, user, onBlock) : null);
    }));
  };
  const reconnected = () => {
    if (store.state.connection.state !== 'online') return;
    watched = '';
    render();
  };
  const unsubscribe = [store.on(`room:${roomId}`, render), store.on('presence', render), store.on('rooms', render), store.on('connection', reconnected)];
  const canAdd = onAdd && ['owner', 'admin'].includes(store.room(roomId)?.role);
  modal({
    title: 'Members',
    content: [canAdd ? h('div', { class: 'modal-actions start' }, h('button', { type: 'button', class: 'button', onClick: onAdd }, icon('userPlus', 'icon-sm'), 'Add people')) : null, list],
    onClose: () => {
      unsubscribe.forEach((u) => u());
      if (watched) watch([]);
    },
  });
  render();
  loadMembers();
}

/** Block or Unblock, for a member who is not you. */
function blockButton(store, user, onBlock) {
  const blocked = store.isBlocked(user.id);
  const label = `${blocked ? 'Unblock' : 'Block'} ${user.display_name}`;
  return h('button', { type: 'button', class: 'button small ghost', text: blocked ? 'Unblock' : 'Block', 'aria-label': label, onClick: () => onBlock(user, !blocked) });
}
