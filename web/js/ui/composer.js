// The message box of a room: drafts, reply banner, typing signals, Enter to send.
//
// Enter sends, Shift+Enter starts a new line, Esc drops the reply, ↑ in an empty box edits your
// last message. Typing is announced while the text changes (renewed every ~3 s by chat.typing)
// and withdrawn on send, on blur and when the box empties. Drafts survive switching rooms and
// reloads (localStorage, per user), and files being attached survive switching rooms (they live
// in the store). The box grows with its text up to 40% of the screen. Files pasted into the box, dropped on the
// room or picked with the paperclip go to the upload tray (uploads.js) and leave with the next
// message, which may then have no text. Typing `@` offers the room's members (mentions.js).

import { h, icon } from '../dom.js';
import { preview } from '../format.js';
import { autoGrow } from './message.js';
import { UploadTray } from './uploads.js';
import { MAX_BODY_CHARS } from '../chat.js';
import { MentionSuggest } from './mentions.js';

/** The counter shows from this many characters on, so the limit never comes as a surprise. */
const COUNT_FROM = MAX_BODY_CHARS - 500;

export class Composer {
  constructor(ctx) {
    this.ctx = ctx;
    const { store, roomId } = ctx;
    const room = store.room(roomId);
    const label = room.kind === 'dm' ? `Message ${store.roomName(room)}` : `Message #${store.roomName(room)}`;
    this.input = h('textarea', {
      id: 'composer-input',
      class: 'composer-input',
      rows: '1',
      placeholder: `${label}`,
      'aria-label': label,
      autocomplete: 'off',
    });
    this.input.value = drafts(store).get(roomId);
    this.replyBox = h('div', { class: 'reply-banner', hidden: true });
    this.uploads = new UploadTray(ctx);
    this.attachmentSlot = h('div', { class: 'attachment-slot' }, this.uploads.buttons);
    this.suggest = new MentionSuggest(ctx, this.input);
    this.sendButton = h('button', { type: 'submit', class: 'send-button', 'aria-label': 'Send', title: 'Send (Enter)' }, icon('send'));
    // No maxlength: it would cut a long paste silently. The counter says how far over it is.
    this.counter = h('p', { id: 'composer-count', class: 'composer-count', 'aria-live': 'polite', hidden: true });
    this.el = h('form', { class: 'composer', 'aria-label': 'Send a message', onSubmit: (e) => this.submit(e) },
      this.replyBox,
      this.suggest.el,
      this.uploads.el,
      h('div', { class: 'composer-row' }, this.attachmentSlot, this.input, this.sendButton),
      this.counter);

    this.input.addEventListener('keydown', (e) => this.onKey(e));
    this.input.addEventListener('input', () => this.onInput());
    this.input.addEventListener('blur', () => {
      ctx.chat.typing(roomId, false);
      this.suggest.close();
    });
    this.input.addEventListener('click', () => this.suggest.update());
    this.input.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData?.files || [])];
      if (!files.length) return;
      e.preventDefault();
      this.attach(files);
    });
    this.renderReply();
    this.renderCount();
  }

  /** Sizes the box to its text; called once it is in the document (a detached box measures 0). */
  attached() {
    autoGrow(this.input);
  }

  /** Near the limit, how many characters there are; past it, that the message cannot be sent. */
  renderCount(refused = false) {
    const n = Array.from(this.input.value).length;
    const over = n > MAX_BODY_CHARS;
    this.counter.hidden = n < COUNT_FROM;
    // Described by the count only while it shows: far from the limit it is noise.
    if (this.counter.hidden) this.input.removeAttribute('aria-describedby');
    else this.input.setAttribute('aria-describedby', 'composer-count');
    this.counter.classList.toggle('over', over);
    this.counter.classList.toggle('refused', refused && over);
    this.input.setAttribute('aria-invalid', String(over));
    const count = `${n.toLocaleString('en')} / ${MAX_BODY_CHARS.toLocaleString('en')}`;
    this.counter.textContent = over
      ? `${count}: ${(n - MAX_BODY_CHARS).toLocaleString('en')} characters too long to send.`
      : count;
    return !over;
  }

  focus() {
    this.input.focus();
  }

  destroy() {
    this.uploads.destroy();
  }

  /** Files for the next message (picked, pasted or dropped). */
  attach(files) {
    this.uploads.add(files);
  }

  renderReply() {
    const { store, roomId } = this.ctx;
    const reply = store.state.replyTo.get(roomId);
    if (!reply) {
      this.replyBox.hidden = true;
      this.replyBox.replaceChildren();
      this.shownReply = null;
      return;
    }
    if (this.shownReply === reply) return;
    this.shownReply = reply;
    const who = store.displayName(reply.sender_id);
    this.replyBox.hidden = false;
    this.replyBox.replaceChildren(
      icon('reply', 'icon-sm'),
      h('div', { class: 'reply-text' },
        h('span', { class: 'reply-label' }, 'Replying to ', h('strong', { text: who })),
        h('span', { class: 'reply-preview', text: preview(reply.body, 120) })),
      h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Cancel reply', title: 'Cancel reply (Esc)', onClick: () => this.cancelReply() }, icon('close')));
  }

  cancelReply() {
    this.ctx.store.setReply(this.ctx.roomId, null);
    this.focus();
  }

  onInput() {
    const { chat, roomId } = this.ctx;
    drafts(this.ctx.store).set(roomId, this.input.value);
    autoGrow(this.input);
    this.renderCount();
    chat.typing(roomId, this.input.value.trim().length > 0);
    this.suggest.update();
  }

  onKey(e) {
    if (this.suggest.onKey(e)) return;
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      this.submit(e);
    } else if (e.key === 'Escape' && this.ctx.store.state.replyTo.get(this.ctx.roomId)) {
      e.preventDefault();
      this.cancelReply();
    } else if (e.key === 'ArrowUp' && this.input.value === '') {
      const mine = this.ctx.store.messages(this.ctx.roomId).filter((m) => m.sender_id === this.ctx.store.me.id && !m.deleted && !m.forwarded_from);
      if (mine.length) {
        e.preventDefault();
        this.ctx.actions.edit(mine[mine.length - 1]);
      }
    }
  }

  submit(e) {
    e.preventDefault();
    const { store, chat, roomId } = this.ctx;
    const body = this.input.value;
    const files = this.uploads.ready();
    if (!files) {
      this.uploads.say('Wait until the files are uploaded, then send.');
      return;
    }
    if (!body.trim() && !files.attachments.length) return;
    if (!this.renderCount(true)) {
      this.counter.setAttribute('role', 'alert');
      return;
    }
    this.counter.removeAttribute('role');
    chat.typing(roomId, false);
    chat.send(roomId, body.trim() ? body : '', store.state.replyTo.get(roomId), files.attachments);
    store.removeUploads(roomId, files.keys);
    this.input.value = '';
    drafts(store).set(roomId, '');
    autoGrow(this.input);
    this.renderCount();
    this.ctx.actions.scrollToBottom();
    this.focus();
  }
}

/**
 * Unsent text per room, kept in localStorage under the user's id so that it survives a reload
 * (and a session that ended), in memory where storage is unavailable. Only signing out (this tab
 * or another) forgets it.
 */
class Drafts {
  constructor(userId) {
    this.key = `confab.drafts.${userId}`;
    this.memory = null;
  }

  all() {
    if (this.memory) return this.memory;
    try {
      const parsed = JSON.parse(localStorage.getItem(this.key) || '{}');
      return parsed && typeof parsed === 'object' ? parsed : {};
    } catch {
      return {};
    }
  }

  get(roomId) {
    const text = this.all()[roomId];
    return typeof text === 'string' ? text : '';
  }

  set(roomId, text) {
    const all = this.all();
    if (text) all[roomId] = text;
    else delete all[roomId];
    try {
      if (Object.keys(all).length) localStorage.setItem(this.key, JSON.stringify(all));
      else localStorage.removeItem(this.key);
    } catch {
      this.memory = all;
    }
  }

  clear() {
    this.memory = null;
    try {
      localStorage.removeItem(this.key);
    } catch {
      // Nothing was stored.
    }
  }
}

const draftsByUser = new Map();

function drafts(store) {
  const id = store.me?.id;
  if (!draftsByUser.has(id)) draftsByUser.set(id, new Drafts(id));
  return draftsByUser.get(id);
}

/** Forgets every draft of a user (they signed out). */
export function forgetDrafts(userId) {
  (draftsByUser.get(userId) || new Drafts(userId)).clear();
  draftsByUser.delete(userId);
}
