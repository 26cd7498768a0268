// The message box of a room: drafts, reply banner, typing signals, Enter to send.
//
// Enter sends, Shift+Enter starts a new line, Esc drops the reply, ↑ in an empty box edits your
// last message. Typing is announced while the text changes (renewed every ~3 s by chat.typing)
// and withdrawn on send, on blur and when the box empties. Drafts survive switching rooms, and so
// do files being attached (they live in the store). Files pasted into the box, dropped on the
// room or picked with the paperclip go to the upload tray (uploads.js) and leave with the next
// message, which may then have no text. Typing `@` offers the room's members (mentions.js).

import { h, icon } from '../dom.js';
import { preview } from '../format.js';
import { autoGrow } from './message.js';
import { UploadTray } from './uploads.js';
import { MentionSuggest } from './mentions.js';

const drafts = new Map();

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
      maxlength: '4000',
      placeholder: `${label}`,
      'aria-label': label,
      autocomplete: 'off',
    });
    this.input.value = drafts.get(roomId) || '';
    this.replyBox = h('div', { class: 'reply-banner', hidden: true });
    this.uploads = new UploadTray(ctx);
    this.attachmentSlot = h('div', { class: 'attachment-slot' }, this.uploads.buttons);
    this.suggest = new MentionSuggest(ctx, this.input);
    this.sendButton = h('button', { type: 'submit', class: 'send-button', 'aria-label': 'Send', title: 'Send (Enter)' }, icon('send'));
    this.el = h('form', { class: 'composer', 'aria-label': 'Send a message', onSubmit: (e) => this.submit(e) },
      this.replyBox,
      this.suggest.el,
      this.uploads.el,
      h('div', { class: 'composer-row' }, this.attachmentSlot, this.input, this.sendButton));

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
    queueMicrotask(() => autoGrow(this.input));
    this.renderReply();
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
    drafts.set(roomId, this.input.value);
    autoGrow(this.input);
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
    if (Array.from(body).length > 4000) {
      this.ctx.actions.toast('A message can hold at most 4,000 characters.');
      return;
    }
    chat.typing(roomId, false);
    chat.send(roomId, body.trim() ? body : '', store.state.replyTo.get(roomId), files.attachments);
    store.removeUploads(roomId, files.keys);
    this.input.value = '';
    drafts.delete(roomId);
    autoGrow(this.input);
    this.ctx.actions.scrollToBottom();
    this.focus();
  }
}

/** Forgets every draft (sign out). */
export function clearDrafts() {
  drafts.clear();
}
