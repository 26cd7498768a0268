// The ways into a room besides being added: the card an invite link shows, the dialog where a
// room's moderators make and revoke invite links, and the directory of public rooms.
//
// Room names and topics come from other people: they are only ever set as text.

import { h, icon } from '../dom.js';
import { modal } from './dialogs.js';

const EXPIRED = 'This invite has expired, was used up or was revoked.';
const UNKNOWN = 'This invite link is not valid.';

/** Words for why an invite cannot be used. */
export function inviteProblem(err) {
  if (err?.code === 'invite_expired') return EXPIRED;
  if (err?.code === 'invite_not_found') return UNKNOWN;
  return err?.message || 'Something went wrong.';
}

function count(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * What an invite leads to, loaded without signing in: the room's name, topic and size. `action`
 * (optional) is a node placed under it (the Join button of a signed-in visitor); `failed` says
 * why joining did not work, if it was tried.
 */
export function inviteCard({ api, code, action = null, failed = '' }) {
  const name = h('p', { class: 'invite-room', text: 'Loading the invite…' });
  const details = h('p', { class: 'invite-details' });
  const problem = h('p', { class: 'form-error', role: 'alert', text: failed });
  const el = h('section', { class: 'invite-card', 'aria-label': 'Invitation' },
    h('p', { class: 'invite-lead', text: 'You are invited to join' }), name, details, problem, action);
  api.invitePreview(code).then((room) => {
    name.textContent = `#${room.name}`;
    details.textContent = [room.topic, count(room.members_count, 'member', 'members')].filter(Boolean).join(' · ');
    el.dataset.ready = 'true';
  }).catch((err) => {
    name.textContent = 'This invite cannot be used';
    problem.textContent = failed || inviteProblem(err);
    if (action) action.hidden = true;
    el.dataset.ready = 'false';
  });
  return el;
}

/** A room's invite links: make one (lifetime, uses), copy it, revoke the ones still working. */
export function inviteDialog({ api, roomId, roomName }) {
  const expiry = h('select', { id: 'invite-expiry' },
    h('option', { value: '3600', text: '1 hour' }),
    h('option', { value: '86400', text: '1 day' }),
    h('option', { value: '604800', text: '7 days', selected: true }),
    h('option', { value: '2592000', text: '30 days' }));
  const uses = h('select', { id: 'invite-uses' },
    h('option', { value: '', text: 'No limit', selected: true }),
    ...[1, 5, 10, 25, 100].map((n) => h('option', { value: String(n), text: count(n, 'use', 'uses') })));
  const link = h('input', { id: 'invite-link', readonly: true, hidden: true, 'aria-label': 'Invite link' });
  const copy = h('button', { type: 'button', class: 'button small', text: 'Copy link', hidden: true });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const live = h('p', { class: 'visually-hidden', 'aria-live': 'polite' });
  const list = h('ul', { class: 'people-results', 'aria-label': 'Working invite links' });
  const absolute = (invite) => new URL(invite.url, location.origin).href;

  const render = async () => {
    try {
      const invites = await api.invites(roomId);
      list.replaceChildren(...invites.map((inv) => h('li', { class: 'person' },
        h('span', { class: 'person-names' },
          h('span', { class: 'person-name invite-code', text: absolute(inv) }),
          h('span', { class: 'person-username', text: `${inv.max_uses ? `${inv.uses} of ${inv.max_uses} used` : count(inv.uses, 'use', 'uses')} · until ${new Date(inv.expires_at).toLocaleString()}` })),
        h('button', {
          type: 'button', class: 'button small ghost', text: 'Revoke', 'aria-label': `Revoke ${absolute(inv)}`,
          onClick: async () => {
            try {
              await api.revokeInvite(inv.code);
              live.textContent = 'Invite revoked';
              await render();
            } catch (err) {
              error.textContent = err.message;
            }
          },
        }))));
      if (!invites.length) list.append(h('li', { class: 'hint', text: 'No working invite links.' }));
    } catch (err) {
      error.textContent = err.message;
    }
  };
  const create = h('button', { type: 'submit', class: 'button primary', text: 'Create invite link' });
  const form = h('form', { class: 'stack' },
    h('label', { for: 'invite-expiry', text: 'Expires after' }), expiry,
    h('label', { for: 'invite-uses', text: 'Uses' }), uses,
    h('div', { class: 'modal-actions' }, create),
    h('div', { class: 'invite-made' }, link, copy),
    error, live,
    h('h3', { class: 'invite-list-head', text: 'Working links' }), list);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    create.disabled = true;
    try {
      const inv = await api.createInvite(roomId, { expiresInSecs: Number(expiry.value), maxUses: Number(uses.value) || null });
      link.value = absolute(inv);
      link.hidden = false;
      copy.hidden = false;
      live.textContent = 'Invite link created';
      link.select();
      await render();
    } catch (err) {
      error.textContent = err.message;
    } finally {
      create.disabled = false;
    }
  });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(link.value);
      live.textContent = 'Link copied';
    } catch {
      link.select();
      live.textContent = 'Select the link and copy it';
    }
  });
  modal({ title: `Invite people to #${roomName}`, content: form });
  render();
  expiry.focus();
}

/** The directory: public rooms by name or topic, to join or open. */
export function browseRoomsDialog({ search, join, open, isMember }) {
  const input = h('input', { id: 'browse-search', type: 'search', autocomplete: 'off', placeholder: 'Name or topic' });
  const results = h('ul', { class: 'people-results', 'aria-label': 'Public rooms' });
  const live = h('p', { class: 'visually-hidden', 'aria-live': 'polite' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  let timer = null;
  let token = 0;
  const row = (room) => {
    const member = room.joined || isMember(room.id);
    const button = h('button', {
      type: 'button', class: ['button', 'small', member ? 'ghost' : null],
      text: member ? 'Open' : 'Join', 'aria-label': `${member ? 'Open' : 'Join'} #${room.name}`,
    });
    button.addEventListener('click', async () => {
      error.textContent = '';
      button.disabled = true;
      try {
        if (!member) await join(room.id);
        m.close();
        open(room.id);
      } catch (err) {
        button.disabled = false;
        error.textContent = err.message;
      }
    });
    return h('li', { class: 'person' },
      h('span', { class: 'room-hash', 'aria-hidden': 'true' }, icon('hash', 'icon-sm')),
      h('span', { class: 'person-names' },
        h('span', { class: 'person-name', text: `#${room.name}` }),
        h('span', { class: 'person-username', text: [room.topic, count(room.members_count, 'member', 'members')].filter(Boolean).join(' · ') })),
      button);
  };
  const run = async () => {
    const mine = ++token;
    try {
      const rooms = await search(input.value.trim());
      if (mine !== token) return;
      results.replaceChildren(...rooms.map(row));
      if (!rooms.length) results.append(h('li', { class: 'hint', text: 'No public room matches.' }));
      live.textContent = count(rooms.length, 'room found', 'rooms found');
    } catch (err) {
      error.textContent = err.message;
    }
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(run, 200);
  });
  const m = modal({
    title: 'Browse rooms',
    content: [h('label', { for: input.id, text: 'Search public rooms' }), input, error, results, live],
  });
  run();
  input.focus();
}
