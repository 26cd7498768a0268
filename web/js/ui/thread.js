// A thread's side panel (full screen on phones) and the room's list of followed threads.
//
// Loaded on first use (room.js imports it when a thread is opened): nothing here is needed for
// the first paint. The panel shows the root, the thread's replies (fetched with
// `GET /messages/{id}/thread`, then kept live by the store from `message.new`, edits, deletions
// and `thread.updated`) and a composer that sends `message.send` with `thread_root`. Opening the
// panel, and each reply arriving while it is open and visible, marks the thread read.

import { h, iconButton } from '../dom.js';
import { messageTime } from '../format.js';
import { messageView, autoGrow } from './message.js';
import { modal } from './dialogs.js';

/** Pages of replies fetched when a thread opens (100 each). */
const MAX_PAGES = 10;

let styled = null;
/**
 * Adds the panel's stylesheet once, beside this module's version of the client; resolves when
 * it applies (or failed), so the panel never shows unstyled.
 */
export function threadStyles() {
  if (!styled) {
    styled = new Promise((resolve) => {
      const link = h('link', { rel: 'stylesheet', href: new URL('../../css/thread.css', import.meta.url).href });
      link.addEventListener('load', resolve);
      link.addEventListener('error', resolve);
      document.head.append(link);
    });
  }
  return styled;
}

export class ThreadPanel {
  /**
   * `roomCtx` is the room view's context (store, chat, api, permissions, actions); `root` the
   * thread's root message; `onClose` runs when the reader closes the panel; `highlightId` a
   * reply to scroll to and flash once loaded (a permalink's or a search hit's).
   */
  constructor(roomCtx, root, onClose, highlightId = null) {
    const { store, roomId } = roomCtx;
    this.store = store;
    this.roomId = roomId;
    this.rootId = root.id;
    this.rootFallback = root;
    this.replyTo = null;
    this.readSent = 0;
    this.ctx = {
      ...roomCtx,
      actions: {
        ...roomCtx.actions,
        openThread: null,
        reply: (m) => this.setReply(m),
        edit: (m) => store.setEditing(m.id, roomId),
        cancelEdit: () => store.setEditing(null, roomId),
        saveEdit: async (m, body) => {
          await roomCtx.chat.edit(m, body);
          store.setEditing(null, roomId);
        },
        jump: (targetRoom, messageId) => this.jump(targetRoom, messageId, roomCtx),
      },
    };

    this.title = h('h2', { id: `thread-title-${root.id}`, class: 'thread-title', text: 'Thread' });
    this.followButton = h('button', { type: 'button', class: 'button ghost small', text: 'Follow thread', onClick: () => this.toggleFollow() });
    this.rootList = h('ol', { class: 'messages thread-root', 'aria-label': 'Thread root' });
    this.countLine = h('p', { class: 'thread-count' });
    this.list = h('ol', { class: 'messages thread-replies', 'aria-label': 'Replies' });
    this.scroller = h('div', { class: 'thread-scroll' }, this.rootList, this.countLine, this.list);
    this.replyLine = h('div', { class: 'thread-replying', hidden: true });
    this.input = h('textarea', { class: 'composer-input', rows: '1', maxlength: '4000', 'aria-label': 'Reply in thread', placeholder: 'Reply in thread…' });
    this.error = h('p', { class: 'form-error', role: 'alert' });
    this.form = h('form', { class: 'thread-composer', onSubmit: (e) => { e.preventDefault(); this.send(); } },
      this.replyLine,
      h('div', { class: 'thread-composer-row' }, this.input, h('button', { type: 'submit', class: 'button primary small', text: 'Send reply' })),
      this.error);
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      } else if (e.key === 'Escape' && this.replyTo) {
        e.stopPropagation();
        this.setReply(null);
      }
    });
    this.input.addEventListener('input', () => autoGrow(this.input));
    this.el = h('aside', { class: 'thread-panel', 'aria-labelledby': this.title.id },
      h('header', { class: 'thread-header' }, this.title, this.followButton, iconButton('close', 'Close thread', () => onClose())),
      this.scroller,
      this.form);
    this.el.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !e.defaultPrevented && e.target !== this.input) onClose();
    });

    this.unsubscribe = [
      store.on(`thread:${root.id}`, () => this.render()),
      store.on(`room:${roomId}`, () => this.render()),
    ];
    this.onVisible = () => this.markRead();
    document.addEventListener('visibilitychange', this.onVisible);
    this.render();
    this.load(roomCtx).then(() => this.highlight(highlightId));
  }

  /** Scrolls to a loaded reply and flashes it (or says it is gone). */
  highlight(messageId) {
    if (!messageId) return;
    const m = this.store.threadMessages(this.rootId).find((r) => r.id === messageId);
    const el = m && this.list.querySelector(`li.msg[data-seq="${m.seq}"]`);
    if (!el || m.deleted) {
      this.ctx.actions.toast('That message is no longer available.');
      return;
    }
    el.scrollIntoView({ block: 'center' });
    el.classList.remove('flash');
    void el.offsetWidth;
    el.classList.add('flash');
  }

  destroy() {
    this.unsubscribe.forEach((u) => u());
    document.removeEventListener('visibilitychange', this.onVisible);
  }

  focus() {
    this.input.focus();
  }

  /** The root as the room's timeline has it now (else as it was opened, or as the server sent it). */
  root() {
    return this.store.message(this.roomId, this.rootId) || this.rootFallback;
  }

  async load(roomCtx) {
    const { api } = roomCtx;
    try {
      let after = 0;
      for (let page = 0; page < MAX_PAGES; page++) {
        const res = await api.thread(this.rootId, { after, limit: 100 });
        this.rootFallback = res.root;
        this.store.addThreadPage(this.rootId, res.messages, res.has_more);
        if (!res.has_more || !res.messages.length) break;
        after = res.messages[res.messages.length - 1].seq;
      }
      const followed = await api.threads(this.roomId);
      this.following = followed.threads.some((t) => t.root.id === this.rootId);
      this.render();
    } catch (e) {
      this.error.textContent = `Could not load the thread: ${e.message}`;
    }
  }

  render() {
    const { store } = this;
    const root = this.root();
    const replies = store.threadMessages(this.rootId);
    const editingId = store.state.editingId;
    const view = (m) => messageView(this.ctx, { message: m, grouped: false, editing: editingId === m.id });
    this.rootList.replaceChildren(view({ ...root, thread: null }));
    const n = root.thread?.reply_count ?? replies.filter((m) => !m.deleted).length;
    this.countLine.textContent = `${n} ${n === 1 ? 'reply' : 'replies'}`;
    const atBottom = this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 40;
    this.list.replaceChildren(
      ...replies.map(view),
      ...store.pending(this.roomId, this.rootId).map((p) => messageView(this.ctx, { pending: p, grouped: false })),
    );
    if (atBottom) this.scroller.scrollTop = this.scroller.scrollHeight;
    this.followButton.textContent = this.following ? 'Unfollow thread' : 'Follow thread';
    this.followButton.hidden = this.following == null;
    if (this.replyTo) {
      const who = store.displayName(this.replyTo.sender_id);
      this.replyLine.replaceChildren(
        h('span', { text: `Replying to ${who}` }),
        iconButton('close', 'Cancel reply', () => this.setReply(null)));
    }
    this.replyLine.hidden = !this.replyTo;
    this.markRead();
  }

  /** Tells the server how far the thread is read, once per newer reply seen. */
  markRead() {
    if (document.visibilityState !== 'visible' || !this.el.isConnected) return;
    const replies = this.store.threadMessages(this.rootId);
    const newest = replies.length ? replies[replies.length - 1].seq : 0;
    if (newest <= this.readSent) return;
    this.readSent = newest;
    this.ctx.api.readThread(this.rootId, newest).catch(() => { this.readSent = 0; });
  }

  setReply(m) {
    this.replyTo = m;
    this.render();
    if (m) this.input.focus();
  }

  send() {
    const body = this.input.value;
    if (!body.trim()) return;
    if (this.root().deleted) {
      this.error.textContent = 'The thread\'s first message was deleted: no new replies.';
      return;
    }
    this.error.textContent = '';
    this.ctx.chat.send(this.roomId, body, this.replyTo, [], this.rootId);
    this.following = true;
    this.input.value = '';
    autoGrow(this.input);
    this.setReply(null);
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  async toggleFollow() {
    const on = !this.following;
    try {
      await this.ctx.api.followThread(this.rootId, on);
      this.following = on;
      this.render();
      this.ctx.actions.toast(on ? 'You follow this thread.' : 'You no longer follow this thread.');
    } catch (e) {
      this.ctx.actions.toast(`Could not change following: ${e.message}`);
    }
  }

  /** A quote's original: in this thread it is shown here; elsewhere, the room's timeline. */
  jump(targetRoom, messageId, roomCtx) {
    const li = this.el.querySelector(`li.msg[data-id="${CSS.escape(messageId)}"]`);
    if (li) {
      li.scrollIntoView({ block: 'center' });
      li.focus();
      return;
    }
    roomCtx.actions.jump(targetRoom, messageId);
  }
}

/** The threads the viewer follows in a room, with their unread replies; `open(root)` opens one. */
export async function threadsDialog({ api, store, roomId, open, toast }) {
  let list;
  try {
    list = (await api.threads(roomId)).threads;
  } catch (e) {
    toast(`Could not load the threads: ${e.message}`);
    return;
  }
  const body = list.length
    ? h('ul', { class: 'threads-list' }, list.map((t) => {
      const root = t.root;
      const who = store.displayName(root.sender_id);
      const text = root.deleted ? 'Deleted message' : root.body;
      const n = root.thread?.reply_count || 0;
      const last = root.thread ? ` · last reply ${messageTime(new Date(root.thread.last_reply_at))}` : '';
      return h('li', {},
        h('button', {
          type: 'button',
          class: 'thread-item',
          'aria-label': `Thread of ${who}: ${text}. ${n} ${n === 1 ? 'reply' : 'replies'}${t.unread ? `, ${t.unread} unread` : ''}`,
          onClick: () => { dialog.close(); open(root); },
        },
        h('span', { class: 'thread-item-sender', text: who }),
        h('span', { class: 'thread-item-body', text }),
        h('span', { class: 'thread-item-meta', text: `${n} ${n === 1 ? 'reply' : 'replies'}${last}` }),
        t.unread ? h('span', { class: 'badge', text: String(t.unread) }) : null));
    }))
    : h('p', { class: 'hint', text: 'You follow no thread here yet: reply in one, or be mentioned in one.' });
  const dialog = modal({ title: 'Threads', className: 'threads', content: body });
}
