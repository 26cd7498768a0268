// One message of the timeline, as an element built from data (text only ever as text).
//
// `messageView(ctx, item)` builds an <li> for a stored message or a pending send. `ctx` carries
// what the element needs to know and do: the store (names, rooms), the viewer, the room's
// permissions and the action callbacks. The timeline decides grouping, "seen by" and editing.

import { h, avatar, icon, srOnly } from '../dom.js';
import { renderMarkdown } from '../markdown.js';
import { messageTime, fullTime, preview, nameList } from '../format.js';
import { mentionNames } from '../notify.js';
import { renderAttachments } from './attachments.js';
import { renderEmbeds } from './embeds.js';
import { permalinkOf } from '../router.js';
import { reactionBar } from './reactions.js';
import { profileCard } from './dialogs.js';

/**
 * `item`: `{message, pending, grouped, seenBy, editing}` where `pending` is an outbox entry
 * (then `message` is null).
 */
/** Ids of messages by blocked users that the reader chose to show anyway (for this session). */
export const revealed = new Set();

export function messageView(ctx, item) {
  const { store } = ctx;
  const me = store.me;
  const m = item.message || item.pending;
  const pending = item.pending;
  const own = m.sender_id === me.id || !!pending;
  const senderId = pending ? me.id : m.sender_id;
  const sender = store.displayName(senderId);
  const created = new Date(m.created_at);
  const mentioned = !own && !pending && store.mentionsMe(m);

  const li = h('li', {
    class: ['msg', item.grouped && 'grouped', own && 'own', pending && 'pending', pending?.state === 'failed' && 'failed', m.deleted && 'deleted', mentioned && 'mention'],
    tabindex: '-1',
    'aria-keyshortcuts': own ? 'R F E Delete' : 'R F',
    dataset: pending ? { clientId: pending.client_id } : { id: m.id, seq: String(m.seq) },
  });

  const stamp = h('time', { datetime: m.created_at, title: fullTime(created), dataset: { rel: 'message' }, text: messageTime(created) });
  // The time is the message's permalink (copy it to link here).
  const time = pending ? stamp : h('a', { class: 'msg-permalink', tabindex: '-1', href: permalinkOf(m.room_id, m.seq), 'aria-label': `${messageTime(created)}, link to this message` }, stamp);
  const gutter = h('div', { class: 'msg-gutter' }, item.grouped ? null : avatar(store.user(senderId) || { id: senderId, display_name: sender }));
  const main = h('div', { class: 'msg-main' });
  if (item.grouped) {
    main.append(srOnly(`${sender}, `));
  } else {
    const who = h('button', { type: 'button', class: 'msg-sender link-button', text: sender, 'aria-label': `Profile of ${sender}` });
    who.addEventListener('click', () => profileCard(store.user(senderId) || { id: senderId, display_name: sender, username: '' }));
    main.append(h('div', { class: 'msg-meta' }, who, time));
  }

  if (m.pinned && !m.deleted) main.append(h('p', { class: 'msg-pinned' }, icon('pin', 'icon-sm'), 'Pinned'));
  const forwarded = m.forwarded_from;
  if (forwarded && !m.deleted) main.append(forwardedLabel(ctx, forwarded));
  if (m.reply_to && !m.deleted) main.append(quote(ctx, m.reply_to));

  if (item.editing && !pending) {
    main.append(editForm(ctx, m));
  } else if (m.deleted) {
    main.append(h('p', { class: 'msg-body msg-tombstone', text: 'This message was deleted.' }));
  } else if (!own && store.isBlocked(senderId) && !revealed.has(m.id)) {
    main.append(h('p', { class: 'msg-body msg-blocked' }, 'Message from someone you blocked. ',
      h('button', { type: 'button', class: 'link-button', text: 'Show', 'aria-label': `Show the message from ${sender}`, onClick: () => { revealed.add(m.id); ctx.store.emit(`room:${m.room_id}`); } })));
  } else {
    // A message may carry only files: then there is no text line, unless an edit emptied it.
    if (m.body || m.edited_at || !m.attachments?.length) {
      // A plain line stays a paragraph; blocks (code, quotes, lists) need a block container.
      const md = renderMarkdown(m.body || '', mentionNames(me));
      const body = h(md.inline ? 'p' : 'div', { class: ['msg-body', !md.inline && 'md'] }, md.nodes);
      if (m.edited_at) body.append(' ', h('span', { class: 'msg-edited', title: `Edited ${fullTime(new Date(m.edited_at))}`, text: '(edited)' }));
      main.append(body);
    }
    if (m.attachments?.length) main.append(renderAttachments(ctx, m.attachments));
    const embeds = renderEmbeds(ctx, m.embeds);
    if (embeds) main.append(embeds);
    const reactions = pending ? null : reactionBar(ctx, m);
    if (reactions) main.append(reactions);
  }
  if (m.thread && !pending && ctx.actions.openThread) main.append(threadSummary(ctx, m));
  if (item.grouped) main.append(h('span', { class: 'msg-hover-time' }, time));

  if (pending) main.append(pendingStatus(ctx, pending));
  else if (item.seenBy) main.append(h('p', { class: 'msg-seen', text: item.seenBy }));

  li.append(gutter, main);
  if (!pending && !m.deleted && !item.editing) {
    // The toolbar is built the first time the message is pointed at or focused, not for every
    // message of the window: it is most of a message's elements, and shows on one at a time.
    const withActions = () => {
      if (!li.querySelector(':scope > .msg-actions')) li.append(actions(ctx, m, own));
    };
    li.addEventListener('pointerenter', withActions);
    li.addEventListener('focusin', withActions);
  }
  return li;
}

/** "3 replies · last reply 14:02" with the repliers' avatars: opens the thread. */
function threadSummary(ctx, m) {
  const { store } = ctx;
  const t = m.thread;
  const count = `${t.reply_count} ${t.reply_count === 1 ? 'reply' : 'replies'}`;
  const last = messageTime(new Date(t.last_reply_at));
  const faces = t.participant_ids.map((id) => avatar(store.user(id) || { id, display_name: store.displayName(id) }, 'sm'));
  return h('button', {
    type: 'button',
    class: 'msg-thread',
    'aria-label': `${count}, last reply ${last}. Open the thread`,
    onClick: () => ctx.actions.openThread(m),
  }, h('span', { class: 'msg-thread-faces', 'aria-hidden': 'true' }, faces),
  h('span', { class: 'msg-thread-count', text: count }),
  h('span', { class: 'msg-thread-last', text: ` · last reply ${last}` }));
}

function forwardedLabel(ctx, f) {
  const { store } = ctx;
  const room = store.room(f.room_id);
  const origin = store.displayName(f.sender_id);
  const label = h('p', { class: 'msg-forwarded' }, icon('forward', 'icon-sm'), 'Forwarded from ');
  if (room) {
    label.append(h('button', {
      type: 'button',
      class: 'link-button',
      onClick: () => ctx.actions.jump(f.room_id, f.message_id),
      text: `${room.kind === 'dm' ? '' : '#'}${store.roomName(room)}`,
    }));
  } else {
    label.append('another room');
  }
  if (store.user(f.sender_id)) label.append(` · ${origin}`);
  return label;
}

function quote(ctx, reply) {
  const who = ctx.store.displayName(reply.sender_id);
  const text = reply.deleted ? 'Deleted message' : preview(reply.body, 140);
  return h('button', {
    type: 'button',
    class: 'msg-quote',
    'aria-label': `Reply to ${who}: ${text}. Show the original message`,
    onClick: () => ctx.actions.jump(ctx.roomId, reply.id),
  }, h('span', { class: 'quote-sender', text: who }), h('span', { class: 'quote-body', text }));
}

function pendingStatus(ctx, p) {
  if (p.state === 'failed') {
    return h('p', { class: 'msg-status msg-status-failed', role: 'alert' },
      icon('alert', 'icon-sm'),
      `Not sent: ${p.error || 'error'}. `,
      h('button', { type: 'button', class: 'link-button', onClick: () => ctx.actions.retry(p.client_id), text: 'Retry' }),
      ' · ',
      h('button', { type: 'button', class: 'link-button', onClick: () => ctx.actions.discard(p.client_id), text: 'Discard' }));
  }
  return h('p', { class: 'msg-status', text: p.forward_of ? 'Forwarding…' : 'Sending…' });
}

function actions(ctx, m, own) {
  const canDelete = own || ctx.canModerate();
  const bar = h('div', { class: 'msg-actions', role: 'toolbar', 'aria-label': 'Message actions' });
  const btn = (name, label, fn, cls) => h('button', {
    type: 'button', class: ['icon-button', cls], 'aria-label': label, title: label, dataset: { action: name }, onClick: fn,
  }, icon(name === 'delete' ? 'trash' : name));
  bar.append(btn('smile', 'Add reaction', () => ctx.actions.pickReaction(m)));
  bar.append(btn('reply', 'Reply', () => ctx.actions.reply(m)));
  if (ctx.actions.openThread && !m.thread_root) bar.append(btn('message', 'Reply in thread', () => ctx.actions.openThread(m)));
  bar.append(btn('forward', 'Forward', () => ctx.actions.forward(m)));
  if (ctx.canPin()) {
    bar.append(m.pinned
      ? btn('pin', 'Unpin', () => ctx.actions.pin(m, false))
      : btn('pin', 'Pin', () => ctx.actions.pin(m, true)));
  }
  if (own && !m.forwarded_from) bar.append(btn('edit', 'Edit', () => ctx.actions.edit(m)));
  if (canDelete) bar.append(btn('delete', 'Delete', () => ctx.actions.remove(m), 'danger'));
  return bar;
}

function editForm(ctx, m) {
  const input = h('textarea', { class: 'edit-input', 'aria-label': 'Edit message', rows: '1', maxlength: '4000' });
  // The draft outlives a rebuild of this message (a receipt or a neighbour can change it).
  const draft = ctx.editDraft?.id === m.id ? ctx.editDraft.value : m.body;
  input.value = draft;
  ctx.editDraft = { id: m.id, value: draft };
  input.addEventListener('input', () => { ctx.editDraft = { id: m.id, value: input.value }; });
  queueMicrotask(() => autoGrow(input));
  const error = h('p', { class: 'form-error', role: 'alert' });
  const save = async (e) => {
    e?.preventDefault();
    const body = input.value;
    if (!body.trim() && !m.attachments?.length) {
      error.textContent = 'A message needs some text. Delete it instead?';
      return;
    }
    if (body === m.body) return ctx.actions.cancelEdit(m);
    try {
      await ctx.actions.saveEdit(m, body);
    } catch (err) {
      error.textContent = err.message;
    }
  };
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) save(e);
    else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      ctx.actions.cancelEdit(m);
    }
  });
  input.addEventListener('input', () => autoGrow(input));
  return h('form', { class: 'edit-form', onSubmit: save },
    input,
    error,
    h('div', { class: 'edit-buttons' },
      h('span', { class: 'hint', text: 'Enter to save · Esc to cancel' }),
      h('button', { type: 'button', class: 'button ghost small', onClick: () => ctx.actions.cancelEdit(m), text: 'Cancel' }),
      h('button', { type: 'submit', class: 'button primary small', text: 'Save' })));
}

/** Grows a textarea with its content, up to its CSS max-height. */
export function autoGrow(el) {
  el.style.height = 'auto';
  el.style.height = `${el.scrollHeight}px`;
}

/** "Seen by Ana and Bo" for group rooms, "Seen" for a DM. */
export function seenText(store, room, readers) {
  if (!readers.length) return '';
  if (room.kind === 'dm') return 'Seen';
  return `Seen by ${nameList(readers.map((id) => store.displayName(id)))}`;
}
