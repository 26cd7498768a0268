// A room's message list: rendering, scrolling, paging back, read marking, keyboard navigation.
//
// Rendering is keyed: each message, pending send and separator has a key and a version string;
// an element is rebuilt only when its version changes and moved only when its place changes, so
// focus and scroll position survive live updates. Scrolling keeps the first visible message in
// place when older pages are prepended and follows new messages only while you are at the bottom.
//
// Keyboard: the list is one tab stop (roving tabindex); ↑/↓, Home/End move between messages;
// R replies, F forwards, E edits, Delete deletes; Tab reaches the focused message's actions.

import { h, icon } from '../dom.js';
import { dayKey, dayLabel, messageTime } from '../format.js';
import { messageView, seenText, revealed } from './message.js';

const GROUP_WITHIN = 5 * 60_000;
const NEAR_BOTTOM = 80;

export class Timeline {
  constructor(ctx) {
    this.ctx = ctx;
    this.roomId = ctx.roomId;
    this.records = new Map();
    this.activeKey = null;
    this.visible = new Set();
    this.firstRender = true;
    this.focusAfter = null;

    const room = ctx.store.room(this.roomId);
    this.topNote = h('p', { class: 'history-note' });
    this.olderButton = h('button', { type: 'button', class: 'button ghost small', text: 'Load older messages', onClick: () => this.loadOlder() });
    this.top = h('div', { class: 'history-top' }, this.topNote, this.olderButton);
    this.list = h('ol', { class: 'messages', 'aria-label': `Messages in ${ctx.store.roomName(room)}` });
    this.scroller = h('div', { class: 'timeline' }, this.top, this.list);
    this.latestButton = h('button', { type: 'button', class: 'jump-latest', hidden: true, onClick: () => this.scrollToBottom(true) }, icon('down', 'icon-sm'), 'Jump to latest');
    this.el = h('div', { class: 'timeline-wrap' }, this.scroller, this.latestButton);

    this.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.list.addEventListener('keydown', (e) => this.onKey(e));
    this.list.addEventListener('focusin', (e) => {
      const li = e.target.closest('li.msg');
      if (li) this.setActive(keyOf(li));
    });
    this.topObserver = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.loadOlder();
    }, { root: this.scroller, rootMargin: '300px 0px 0px 0px' });
    this.topObserver.observe(this.top);
    this.readObserver = new IntersectionObserver((entries) => this.onVisibility(entries), { root: this.scroller, threshold: 0.5 });
    this.onPageVisible = () => this.markRead();
    document.addEventListener('visibilitychange', this.onPageVisible);
    window.addEventListener('focus', this.onPageVisible);
  }

  destroy() {
    this.topObserver.disconnect();
    this.readObserver.disconnect();
    document.removeEventListener('visibilitychange', this.onPageVisible);
    window.removeEventListener('focus', this.onPageVisible);
  }

  // ---- rendering ----

  items() {
    const { store } = this.ctx;
    const me = store.me.id;
    const room = store.room(this.roomId);
    const messages = store.messages(this.roomId);
    const marker = store.state.unreadMarker.get(this.roomId);
    const editingId = store.state.editingId;
    let lastOwn = null;
    for (let i = messages.length - 1; i >= 0; i--) {
      if (messages[i].sender_id === me && !messages[i].deleted) {
        lastOwn = messages[i];
        break;
      }
    }
    const seen = lastOwn && room ? seenText(store, room, store.readers(this.roomId, lastOwn.seq)) : '';
    const items = [];
    let prev = null;
    let day = null;
    let markerPlaced = marker == null;
    const now = new Date();
    const pushDay = (d) => {
      const key = dayKey(d);
      if (key === day) return false;
      day = key;
      const label = dayLabel(d, now);
      items.push({ key: `day:${key}`, version: label, build: () => h('li', { class: 'day-sep', dataset: { day: key } }, h('span', { text: label })) });
      return true;
    };
    for (const m of messages) {
      const d = new Date(m.created_at);
      if (pushDay(d)) prev = null;
      if (!markerPlaced && m.seq > marker && m.sender_id !== me) {
        markerPlaced = true;
        items.push({ key: 'new', version: 'new', build: () => h('li', { class: 'new-sep' }, h('span', { text: 'New messages' })) });
        prev = null;
      }
      const grouped = !!prev && prev.sender_id === m.sender_id && !prev.deleted && !m.forwarded_from && d - new Date(prev.created_at) < GROUP_WITHIN;
      const item = { message: m, grouped, editing: editingId === m.id, seenBy: m === lastOwn ? seen : '' };
      items.push({ key: m.id, version: this.version(item), build: () => messageView(this.ctx, item) });
      prev = m;
    }
    for (const p of store.pending(this.roomId)) {
      if (pushDay(new Date(p.created_at))) prev = null;
      const item = { pending: p, grouped: false };
      items.push({ key: `p:${p.client_id}`, version: `${p.state}|${p.error || ''}`, build: () => messageView(this.ctx, item) });
    }
    return items;
  }

  version(item) {
    const { store, canModerate } = this.ctx;
    const m = item.message;
    return [
      m.seq, m.edited_at, m.deleted, m.body.length, item.grouped, item.editing, item.seenBy, canModerate(),
      store.displayName(m.sender_id), store.user(m.sender_id)?.avatar_url || '', store.isBlocked(m.sender_id) && !revealed.has(m.id),
      m.reply_to ? `${store.displayName(m.reply_to.sender_id)}:${m.reply_to.deleted}` : '',
      m.forwarded_from ? `${store.roomName(store.room(m.forwarded_from.room_id))}:${store.displayName(m.forwarded_from.sender_id)}` : '',
      m.attachments?.length || 0,
    ].join('|');
  }

  render() {
    const { store } = this.ctx;
    const tl = store.timeline(this.roomId);
    const sc = this.scroller;
    const atBottom = this.isAtBottom();
    const anchor = this.firstVisible();
    const anchorKey = anchor && keyOf(anchor);
    const anchorOffset = anchor ? anchor.offsetTop - sc.scrollTop : 0;
    const focusedEl = this.list.contains(document.activeElement) ? document.activeElement : null;
    const hadFocus = focusedEl ? keyOf(focusedEl.closest('li')) : null;
    const hadFocusIn = focusedEl?.tagName === 'TEXTAREA' ? 'textarea' : null;

    const items = this.items();
    const next = new Map();
    for (const item of items) {
      const rec = this.records.get(item.key);
      if (rec && rec.version === item.version) {
        next.set(item.key, rec);
      } else {
        const el = item.build();
        if (el.dataset.seq) this.readObserver.observe(el);
        next.set(item.key, { el, version: item.version });
      }
    }
    for (const [key, rec] of this.records) {
      if (next.get(key) !== rec) {
        this.readObserver.unobserve(rec.el);
        if (rec.el.dataset.seq) this.visible.delete(Number(rec.el.dataset.seq));
        rec.el.remove();
      }
    }
    let cursor = this.list.firstChild;
    for (const { el } of next.values()) {
      if (el === cursor) cursor = cursor.nextSibling;
      else this.list.insertBefore(el, cursor);
    }
    this.records = next;
    this.applyActive();

    // Top of the history.
    const room = store.room(this.roomId);
    this.olderButton.hidden = !tl.loaded || !tl.hasMore;
    this.olderButton.disabled = tl.loading;
    this.olderButton.textContent = tl.loading ? 'Loading…' : 'Load older messages';
    this.topNote.textContent = !tl.loaded
      ? 'Loading messages…'
      : tl.hasMore ? '' : room ? `This is the beginning of ${room.kind === 'dm' ? 'your conversation with ' : '#'}${store.roomName(room)}.` : '';

    // Scroll: first view at the unread marker or bottom; then keep the anchor or follow new ones.
    if (this.firstRender && tl.loaded) {
      this.firstRender = false;
      // Open at the first unread message, or at the bottom when that shows it too.
      const marker = this.list.querySelector('.new-sep');
      if (marker && marker.offsetTop < sc.scrollHeight - sc.clientHeight) sc.scrollTop = marker.offsetTop - 8;
      else this.scrollToBottom();
    } else if (atBottom) {
      this.scrollToBottom();
    } else if (anchorKey && this.records.get(anchorKey)) {
      // The anchor may have been rebuilt (its grouping changed): find it by key.
      sc.scrollTop = this.records.get(anchorKey).el.offsetTop - anchorOffset;
    }
    if (hadFocus && !this.list.contains(document.activeElement) && this.records.get(hadFocus)) {
      const el = this.records.get(hadFocus).el;
      const target = (hadFocusIn && el.querySelector(hadFocusIn)) || el;
      target.focus({ preventScroll: true });
    }
    this.applyFocusAfter();
    this.updateLatestButton();
    // A short history leaves the top in view: keep paging until it fills the screen.
    if (tl.loaded && tl.hasMore && !tl.loading && sc.scrollHeight <= sc.clientHeight + 20) this.loadOlder();
    this.markRead();
  }

  /** Updates relative times without rebuilding anything. */
  tick() {
    const now = new Date();
    for (const t of this.list.querySelectorAll('time[data-rel="message"]')) {
      t.textContent = messageTime(new Date(t.dateTime), now);
    }
  }

  // ---- scrolling ----

  isAtBottom() {
    const sc = this.scroller;
    return sc.scrollHeight - sc.scrollTop - sc.clientHeight < NEAR_BOTTOM;
  }

  scrollToBottom(smooth = false) {
    this.scroller.scrollTo({ top: this.scroller.scrollHeight, behavior: smooth ? 'smooth' : 'auto' });
    this.updateLatestButton();
  }

  /** The first message at least partly in view: the anchor that must not move. */
  firstVisible() {
    const top = this.scroller.scrollTop;
    for (const el of this.list.children) {
      if (el.matches('li.msg') && el.offsetTop + el.offsetHeight > top) return el;
    }
    return null;
  }

  onScroll() {
    this.updateLatestButton();
  }

  updateLatestButton() {
    const sc = this.scroller;
    this.latestButton.hidden = sc.scrollHeight - sc.scrollTop - sc.clientHeight < 400;
  }

  async loadOlder() {
    const tl = this.ctx.store.timeline(this.roomId);
    if (!tl.loaded || tl.loading || !tl.hasMore) return;
    await this.ctx.chat.loadOlder(this.roomId);
  }

  /** Scrolls to a message (loading history as needed), highlights and focuses it. */
  async jumpTo(messageId) {
    const found = await this.ctx.chat.reveal(this.roomId, messageId);
    this.render();
    const rec = this.records.get(messageId);
    if (!found || !rec) {
      this.ctx.actions.toast('That message is no longer available.');
      return;
    }
    rec.el.scrollIntoView({ block: 'center' });
    rec.el.classList.remove('flash');
    void rec.el.offsetWidth;
    rec.el.classList.add('flash');
    this.setActive(messageId);
    rec.el.focus({ preventScroll: true });
  }

  // ---- reading ----

  onVisibility(entries) {
    for (const e of entries) {
      const seq = Number(e.target.dataset.seq);
      if (e.isIntersecting) this.visible.add(seq);
      else this.visible.delete(seq);
    }
    this.markRead();
  }

  markRead() {
    if (document.visibilityState !== 'visible' || !this.visible.size) return;
    if (this.ctx.store.state.currentRoomId !== this.roomId) return;
    this.ctx.chat.markRead(this.roomId, Math.max(...this.visible));
  }

  // ---- keyboard ----

  messageEls() {
    return [...this.list.querySelectorAll(':scope > li.msg')];
  }

  setActive(key) {
    if (this.activeKey === key) return;
    this.activeKey = key;
    this.applyActive();
  }

  applyActive() {
    const els = this.messageEls();
    if (!els.length) return;
    let active = this.activeKey && this.records.get(this.activeKey)?.el;
    if (!active || !active.isConnected || !active.matches('li.msg')) active = els[els.length - 1];
    for (const el of els) {
      const on = el === active;
      if (el.dataset.active === String(on)) continue;
      el.dataset.active = String(on);
      el.tabIndex = on ? 0 : -1;
      for (const c of el.querySelectorAll('button, a, textarea')) c.tabIndex = on ? 0 : -1;
    }
  }

  focusMessage(el) {
    if (!el) return;
    this.setActive(keyOf(el));
    el.focus();
  }

  /**
   * Focuses the message a key names (or an element in it), once it is rendered in the state the
   * caller just asked for. A wish older than two seconds is dropped, so it cannot steal focus later.
   */
  focusKey(key, selector) {
    this.focusAfter = { key, selector, until: Date.now() + 2000 };
    queueMicrotask(() => queueMicrotask(() => this.applyFocusAfter()));
  }

  applyFocusAfter() {
    if (!this.focusAfter) return;
    const { key, selector, until } = this.focusAfter;
    if (Date.now() > until) {
      this.focusAfter = null;
      return;
    }
    const rec = this.records.get(key);
    const target = rec && (selector ? rec.el.querySelector(selector) : rec.el);
    if (!target) return;
    this.focusAfter = null;
    this.setActive(key);
    target.focus();
    if (target.tagName === 'TEXTAREA') target.setSelectionRange(target.value.length, target.value.length);
  }

  async onKey(e) {
    const li = e.target;
    if (!(li instanceof HTMLElement) || !li.matches('li.msg')) return;
    const els = this.messageEls();
    const i = els.indexOf(li);
    const message = this.ctx.store.message(this.roomId, li.dataset.id);
    switch (e.key) {
      case 'ArrowUp':
        e.preventDefault();
        if (i > 0) this.focusMessage(els[i - 1]);
        else if (await this.ctx.chat.loadOlder(this.roomId)) {
          this.render();
          const again = this.messageEls();
          this.focusMessage(again[again.indexOf(li) - 1]);
        }
        break;
      case 'ArrowDown':
        e.preventDefault();
        if (i < els.length - 1) this.focusMessage(els[i + 1]);
        else this.ctx.actions.focusComposer();
        break;
      case 'Home':
        e.preventDefault();
        this.focusMessage(els[0]);
        break;
      case 'End':
        e.preventDefault();
        this.focusMessage(els[els.length - 1]);
        break;
      case 'Escape':
        this.ctx.actions.focusComposer();
        break;
      default:
        if (!message || message.deleted || e.ctrlKey || e.metaKey || e.altKey) return;
        if (e.key === 'r' || e.key === 'R') {
          e.preventDefault();
          this.ctx.actions.reply(message);
        } else if (e.key === 'f' || e.key === 'F') {
          e.preventDefault();
          this.ctx.actions.forward(message);
        } else if ((e.key === 'e' || e.key === 'E') && message.sender_id === this.ctx.store.me.id && !message.forwarded_from) {
          e.preventDefault();
          this.ctx.actions.edit(message);
        } else if (e.key === 'Delete' && (message.sender_id === this.ctx.store.me.id || this.ctx.canModerate())) {
          e.preventDefault();
          this.ctx.actions.remove(message);
        }
    }
  }
}

function keyOf(li) {
  if (!li) return null;
  if (li.dataset.id) return li.dataset.id;
  if (li.dataset.clientId) return `p:${li.dataset.clientId}`;
  return null;
}
