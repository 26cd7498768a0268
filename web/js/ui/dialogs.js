// Modal dialogs: new room, find people (add to room / start a DM), members, forward, confirm.
//
// Each is a native <dialog> opened with showModal(), so focus is trapped inside and Esc closes it;
// on close it leaves the DOM and focus returns to whatever opened it.

import { h, avatar, icon } from '../dom.js';
import { preview } from '../format.js';

let nextId = 0;

/** Opens a modal; `content` is a node or list of nodes. Returns `{dialog, close}`. */
export function modal({ title, content, className, onClose }) {
  const opener = document.activeElement;
  const titleId = `dialog-title-${++nextId}`;
  const close = () => dialog.close();
  const dialog = h('dialog', { class: ['modal', className], 'aria-labelledby': titleId },
    h('div', { class: 'modal-head' },
      h('h2', { id: titleId, text: title }),
      h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close', title: 'Close', onClick: close }, icon('close'))),
    h('div', { class: 'modal-body' }, content));
  dialog.addEventListener('close', () => {
    const active = document.activeElement;
    const lost = !active || active === document.body || dialog.contains(active);
    dialog.remove();
    onClose?.();
    // Give focus back to the opener, unless what the dialog did already moved it somewhere useful.
    if (lost && opener instanceof HTMLElement && opener.isConnected) opener.focus();
  });
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) close();
  });
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, close };
}

/** Asks a yes/no question; resolves to true when confirmed. */
export function confirmDialog({ title, message, confirmLabel, danger = false }) {
  return new Promise((resolve) => {
    let answer = false;
    const yes = h('button', { type: 'button', class: ['button', danger ? 'danger' : 'primary'], text: confirmLabel, onClick: () => { answer = true; m.close(); } });
    const m = modal({
      title,
      className: 'modal-small',
      content: [
        h('p', { class: 'confirm-text', text: message }),
        h('div', { class: 'modal-actions' },
          h('button', { type: 'button', class: 'button ghost', text: 'Cancel', onClick: () => m.close() }),
          yes),
      ],
      onClose: () => resolve(answer),
    });
    yes.focus();
  });
}

/**
 * New room: name, topic and whether the directory lists it. `create(name, topic, visibility)`
 * resolves to the room.
 */
export function createRoomDialog({ create, created }) {
  const name = h('input', { id: 'new-room-name', name: 'name', required: true, maxlength: '80', autocomplete: 'off' });
  const topic = h('input', { id: 'new-room-topic', name: 'topic', maxlength: '500', autocomplete: 'off' });
  const listed = h('input', { id: 'new-room-public', name: 'public', type: 'checkbox' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'button primary', text: 'Create room' });
  const form = h('form', { class: 'stack' },
    h('label', { for: 'new-room-name', text: 'Name' }), name,
    h('label', { for: 'new-room-topic' }, 'Topic ', h('span', { class: 'optional', text: '(optional)' })), topic,
    h('label', { for: 'new-room-public', class: 'checkbox' }, listed, 'Public: listed in “Browse rooms”, anyone can join'),
    error,
    h('div', { class: 'modal-actions' }, submit));
  const m = modal({ title: 'Create a room', content: form, className: 'modal-small' });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    error.textContent = '';
    try {
      const room = await create(name.value, topic.value.trim(), listed.checked ? 'public' : 'private');
      m.close();
      created(room);
    } catch (err) {
      error.textContent = err.message;
      submit.disabled = false;
      name.focus();
    }
  });
  name.focus();
}

/**
 * Finds people by name. `status(user)` returns null (pickable) or a label why not (e.g. "Member");
 * `pick(user)` does the thing and resolves to a message for the live region, or throws.
 */
export function peopleDialog({ title, actionLabel, search, status, pick, store, closeOnPick = false }) {
  const input = h('input', { id: `people-search-${++nextId}`, type: 'search', autocomplete: 'off', placeholder: 'Name or username', 'aria-describedby': `people-hint-${nextId}` });
  const hint = h('p', { id: `people-hint-${nextId}`, class: 'hint', text: 'Type at least one letter.' });
  const results = h('ul', { class: 'people-results', 'aria-label': 'People found' });
  const live = h('p', { class: 'visually-hidden', 'aria-live': 'polite' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  let timer = null;
  let token = 0;
  const run = async () => {
    const q = input.value.trim();
    const mine = ++token;
    if (!q) {
      results.replaceChildren();
      hint.textContent = 'Type at least one letter.';
      return;
    }
    try {
      const users = (await search(q)).filter((u) => u.id !== store.me.id);
      if (mine !== token) return;
      hint.textContent = users.length ? '' : 'Nobody found.';
      live.textContent = `${users.length} ${users.length === 1 ? 'person' : 'people'} found`;
      results.replaceChildren(...users.map(row));
    } catch (err) {
      error.textContent = err.message;
    }
  };
  const row = (user) => {
    const why = status(user);
    const button = h('button', {
      type: 'button',
      class: 'button small',
      disabled: !!why,
      text: why || actionLabel,
      'aria-label': why ? `${user.display_name}: ${why}` : `${actionLabel} ${user.display_name}`,
    });
    button.addEventListener('click', async () => {
      button.disabled = true;
      error.textContent = '';
      try {
        const said = await pick(user);
        if (closeOnPick) return m.close();
        button.textContent = said || 'Done';
        button.setAttribute('aria-label', `${user.display_name}: ${said || 'done'}`);
        live.textContent = `${user.display_name}: ${said || 'done'}`;
      } catch (err) {
        button.disabled = false;
        error.textContent = err.message;
      }
    });
    return h('li', { class: 'person' },
      avatar(user, 'sm'),
      h('span', { class: 'person-names' }, h('span', { class: 'person-name', text: user.display_name }), h('span', { class: 'person-username', text: `@${user.username}` })),
      button);
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(run, 200);
  });
  const m = modal({
    title,
    content: [h('label', { for: input.id, text: 'Search people' }), input, hint, error, results, live],
  });
  input.focus();
  return m;
}

/** A person's card: picture, names, status line and whether they run the server. */
export function profileCard(user) {
  modal({
    title: user.display_name,
    className: 'modal-small profile-card',
    content: [
      h('div', { class: 'profile-head' }, avatar(user, 'md'),
        h('span', { class: 'person-names' },
          h('span', { class: 'person-name', text: user.display_name }),
          user.username ? h('span', { class: 'person-username', text: `@${user.username}` }) : null)),
      user.status_text ? h('p', { class: 'profile-status', text: user.status_text }) : null,
      user.server_role === 'admin' ? h('p', { class: 'hint', text: 'Server admin' }) : null,
    ],
  });
}

/** Picks a room to forward a message to. */
function pickDetail(store, room) {
  const text = store.roomDistinction(room) || (room.kind === 'dm' ? '' : room.topic);
  return text ? h('span', { class: 'room-pick-detail', text: ` · ${text}` }) : null;
}

export function forwardDialog({ store, message, forward }) {
  const filter = h('input', { id: `forward-filter-${++nextId}`, type: 'search', autocomplete: 'off', placeholder: 'Filter rooms' });
  const list = h('ul', { class: 'room-picker', 'aria-label': 'Rooms' });
  const render = () => {
    const q = filter.value.trim().toLowerCase();
    const rooms = store.roomList().filter((r) => store.roomName(r).toLowerCase().includes(q));
    list.replaceChildren(...rooms.map((r) => h('li', {},
      h('button', {
        type: 'button',
        class: 'room-pick',
        onClick: () => {
          m.close();
          forward(r);
        },
      }, r.kind === 'dm' ? avatar(r.dm_user, 'sm') : h('span', { class: 'room-hash', 'aria-hidden': 'true' }, icon('hash', 'icon-sm')),
      h('span', { class: 'room-pick-text' },
        h('span', { class: 'room-pick-name', text: `${r.kind === 'dm' ? '' : '#'}${store.roomName(r)}` }),
        // The topic tells rooms apart, and two rooms of one name always get something that does.
        pickDetail(store, r))))));
    if (!rooms.length) list.append(h('li', { class: 'hint', text: 'No room matches.' }));
  };
  filter.addEventListener('input', render);
  const m = modal({
    title: 'Forward message',
    content: [
      h('blockquote', { class: 'forward-preview', text: preview(message.body, 200) }),
      h('label', { for: filter.id, text: 'Forward to' }), filter, list,
    ],
  });
  render();
  filter.focus();
}

/** A room's pinned messages, newest first: jump to one, or unpin it (owners, admins, DMs). */
export function pinsDialog({ store, pins, canUnpin, jump, unpin }) {
  const list = h('ul', { class: 'pins-list', 'aria-label': 'Pinned messages' });
  const render = () => {
    list.replaceChildren(...pins.map((p) => {
      const m = p.message;
      const item = h('li', { class: 'pin-item', dataset: { id: m.id } },
        h('p', { class: 'pin-meta' }, h('span', { class: 'msg-sender', text: store.displayName(m.sender_id) })),
        h('p', { class: 'pin-body', text: preview(m.body || (m.attachments?.length ? 'Attachment' : ''), 200) }),
        h('div', { class: 'pin-buttons' },
          h('button', { type: 'button', class: 'button ghost small', onClick: () => { dlg.close(); jump(m); }, text: 'Jump' }),
          canUnpin && h('button', {
            type: 'button',
            class: 'button ghost small',
            onClick: async () => {
              await unpin(m);
              pins = pins.filter((x) => x.message.id !== m.id);
              render();
            },
            text: 'Unpin',
          })));
      return item;
    }));
    if (!pins.length) list.append(h('li', { class: 'hint', text: 'Nothing is pinned yet.' }));
  };
  const dlg = modal({ title: 'Pinned messages', className: 'pins', content: list });
  render();
  return dlg;
}

/** Which of a room's messages count as unread and notify: all, only mentions, or nothing. */
export function notifyDialog({ current, choose }) {
  const levels = [
    ['all', 'All messages', 'Every new message counts as unread.'],
    ['mentions', 'Mentions only', 'Only messages that mention you (or @room) count.'],
    ['none', 'Nothing', 'No unread count and no notifications from this room.'],
  ];
  const name = `notify-${++nextId}`;
  const options = levels.map(([value, label, hint]) => {
    const input = h('input', { type: 'radio', name, value, checked: value === current });
    input.addEventListener('change', () => {
      if (input.checked) choose(value);
    });
    return h('label', { class: 'notify-option' }, input, h('span', {}, h('strong', { text: label }), h('span', { class: 'hint', text: hint })));
  });
  const group = h('div', { class: 'notify-options', role: 'radiogroup', 'aria-label': 'Notify me about' }, options);
  const dlg = modal({ title: 'Notifications for this room', content: group });
  group.querySelector('input:checked')?.focus();
  return dlg;
}
