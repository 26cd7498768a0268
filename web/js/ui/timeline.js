// A room's message list: rendering, scrolling, paging back, read marking, keyboard navigation.
//
// Rendering is keyed: each message, pending send and separator has a key and a version string;
// an element is rebuilt only when its version changes and moved only when its place changes, so
// focus and scroll position survive live updates. Scrolling keeps the first visible message in
// place when older pages are prepended and follows new messages only while you are at the bottom.
//
// The DOM is bounded: only a window of the loaded messages is rendered (at most MAX_RENDERED
// messages and a step more, about 4,500 elements, however long the history). Scrolling near
// either edge of the window renders the next WINDOW_STEP messages there (from the store, or the
// server when the store has no more) and drops as many from the far side; the first visible message keeps its place on screen
// through both, so nothing jumps. A window that does not reach the newest message no longer
// follows live ones: "Jump to latest" brings the newest window back.
//
// Keyboard: the list is one tab stop (roving tabindex); ↑/↓, Home/End move between messages;
// R replies, F forwards, E edits, Delete deletes; Tab reaches the focused message's actions.

import { h, icon } from '../dom.js';
import { dayKey, dayLabel, messageTime } from '../format.js';
import { messageView, seenText, revealed } from './message.js';

const GROUP_WITHIN = 5 * 60_000;
const NEAR_BOTTOM = 80;
/** The most messages rendered at once, and how many a step of the window adds or drops. */
const MAX_RENDERED = 150;
const WINDOW_STEP = 50;
/** How close (px) to an edge of the rendered window scrolling must come to move the window. */
const NEAR_EDGE = 800;

export class Timeline {
  constructor(ctx) {
    this.ctx = ctx;
    this.roomId = ctx.roomId;
    this.records = new Map();
    this.activeKey = null;
    this.visible = new Set();
    this.firstRender = true;
    this.focusAfter = null;
    // The rendered window, by seq: from `windowFrom` to `windowTo`, or to the newest (following
    // live messages) while `windowTo` is null.
    this.windowFrom = null;
    this.windowTo = null;

    const room = ctx.store.room(this.roomId);
    this.topNote = h('p', { class: 'history-note' });
    this.olderButton = h('button', { type: 'button', class: 'button ghost small', text: 'Load older messages', onClick: () => this.extendUp() });
    this.top = h('div', { class: 'history-top' }, this.topNote, this.olderButton);
    this.list = h('ol', { class: 'messages', 'aria-label': `Messages in ${ctx.store.roomName(room)}` });
    // Below the list while the window stops short of the newest message.
    this.bottom = h('div', { class: 'history-bottom', hidden: true }, h('p', { class: 'history-note', text: 'Newer messages below…' }));
    this.scroller = h('div', { class: 'timeline' }, this.top, this.list, this.bottom);
    this.latestLabel = h('span', { text: 'Jump to latest' });
    this.latestButton = h('button', { type: 'button', class: 'jump-latest', hidden: true, onClick: () => this.jumpToLatest() }, icon('down', 'icon-sm'), this.latestLabel);
    this.el = h('div', { class: 'timeline-wrap' }, this.scroller, this.latestButton);

    this.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.list.addEventListener('keydown', (e) => this.onKey(e));
    this.list.addEventListener('focusin', (e) => {
      const li = e.target.closest('li.msg');
      if (li) this.setActive(keyOf(li));
    });
    this.topObserver = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.extendUp();
    }, { root: this.scroller, rootMargin: '300px 0px 0px 0px' });
    this.topObserver.observe(this.top);
    this.readObserver = new IntersectionObserver((entries) => this.onVisibility(entries), { root: this.scroller, threshold: 0.5 });
    // Kept at the bottom while what is there grows (pictures, fonts, a rebuilt message), until the
    // reader scrolls up: `stuck` is set by scrolling to the bottom and cleared by scrolling up.
    this.stuck = false;
    this.lastTop = 0;
    this.resizeObserver = new ResizeObserver(() => {
      if (this.stuck && !this.isAtBottom(1)) this.scroller.scrollTop = this.scroller.scrollHeight;
    });
    this.resizeObserver.observe(this.list);
    this.onPageVisible = () => this.markRead();
    document.addEventListener('visibilitychange', this.onPageVisible);
    window.addEventListener('focus', this.onPageVisible);
  }

  destroy() {
    this.topObserver.disconnect();
    this.readObserver.disconnect();
    this.resizeObserver.disconnect();
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
      if (messages[i].sender_id === me && !messages[i].deleted && !messages[i].thread_root) {
        lastOwn = messages[i];
        break;
      }
    }
    const seen = lastOwn && room ? seenText(store, room, store.readers(this.roomId, lastOwn.seq)) : '';
    const items = [];
    const [from, to] = this.windowRange(messages);
    let prev = from > 0 ? messages[from - 1] : null;
    let day = prev ? dayKey(new Date(prev.created_at)) : null;
    let markerPlaced = marker == null || (from > 0 && messages[from - 1].seq > marker);
    const now = new Date();
    const pushDay = (d) => {
      const key = dayKey(d);
      if (key === day) return false;
      day = key;
      const label = dayLabel(d, now);
      items.push({ key: `day:${key}`, version: label, build: () => h('li', { class: 'day-sep', dataset: { day: key } }, h('span', { text: label })) });
      return true;
    };
    for (const m of messages.slice(from, to)) {
      // Thread replies live in their thread's panel; the root shows "N replies".
      if (m.thread_root) continue;
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
    // Pending sends come after the newest message: shown only while the window reaches it.
    for (const p of this.windowTo == null ? store.pending(this.roomId) : []) {
      if (pushDay(new Date(p.created_at))) prev = null;
      const item = { pending: p, grouped: false };
      items.push({ key: `p:${p.client_id}`, version: `${p.state}|${p.error || ''}`, build: () => messageView(this.ctx, item) });
    }
    return items;
  }

  /** The indexes `[from, to)` of `messages` the window covers. */
  windowRange(messages) {
    const indexOf = (seq) => {
      const i = messages.findIndex((m) => m.seq >= seq);
      return i < 0 ? messages.length : i;
    };
    let to = this.windowTo == null ? messages.length : Math.min(messages.length, indexOf(this.windowTo + 1));
    let from = this.windowFrom == null ? Math.max(0, to - MAX_RENDERED) : Math.min(indexOf(this.windowFrom), to);
    if (to - from > MAX_RENDERED + WINDOW_STEP || (this.stuck && this.windowTo == null && to - from > MAX_RENDERED)) {
      if (this.stuck && this.windowTo == null) {
        // Following live messages at the bottom: the oldest rendered make way for new ones.
        from = to - MAX_RENDERED;
        this.windowFrom = messages[from].seq;
      } else {
        // Grown at the top (older pages) or below the reader: the far end goes.
        to = from + MAX_RENDERED;
        this.windowTo = messages[to - 1].seq;
      }
    }
    return [from, to];
  }

  /** Sets the window to `[from, to)` of `messages` (to the newest when `to` reaches it). */
  setWindow(messages, from, to) {
    from = Math.max(0, from);
    to = Math.min(messages.length, to);
    // A window from the oldest loaded message takes older pages in as they arrive (seq 0 is
    // below every message), so they render in the same pass that keeps the view in place.
    this.windowFrom = from === 0 ? 0 : messages[from]?.seq ?? null;
    this.windowTo = to >= messages.length ? null : messages[to - 1]?.seq ?? null;
  }

  /** Renders older messages above (from the store, else the server); drops far newer ones. */
  async extendUp() {
    const messages = this.ctx.store.messages(this.roomId);
    const [from, to] = this.windowRange(messages);
    // At the oldest loaded: what the server sends next renders as it arrives.
    if (from === 0) return this.loadOlder();
    const start = Math.max(0, from - WINDOW_STEP);
    this.setWindow(messages, start, Math.min(to, start + MAX_RENDERED));
    this.render();
    return true;
  }

  /** Renders newer messages below; drops far older ones. */
  extendDown() {
    if (this.windowTo == null) return false;
    const messages = this.ctx.store.messages(this.roomId);
    const [from, to] = this.windowRange(messages);
    const end = Math.min(messages.length, to + WINDOW_STEP);
    this.setWindow(messages, Math.max(from, end - MAX_RENDERED), end);
    this.stuck = false;
    this.anchorNext = true;
    this.render();
    return true;
  }

  /** The first view: at the first unread message when there is one, else the newest. */
  openWindow(messages, marker) {
    const first = marker == null ? -1 : messages.findIndex((m) => m.seq > marker);
    if (first < 0) {
      this.setWindow(messages, messages.length - MAX_RENDERED, messages.length);
    } else {
      const from = Math.max(0, first - WINDOW_STEP / 2);
      this.setWindow(messages, from, from + MAX_RENDERED);
    }
  }

  /** Centres the window on a message of the store. */
  showAround(messageId) {
    const messages = this.ctx.store.messages(this.roomId);
    const i = messages.findIndex((m) => m.id === messageId);
    if (i < 0) return;
    const from = Math.max(0, i - MAX_RENDERED / 2);
    this.setWindow(messages, from, from + MAX_RENDERED);
  }

  version(item) {
    const { store, canModerate } = this.ctx;
    const m = item.message;
    return [
      m.seq, m.edited_at, m.deleted, m.body.length, item.grouped, item.editing, item.seenBy, canModerate(), !!m.pinned,
      store.displayName(m.sender_id), store.user(m.sender_id)?.avatar_url || '', store.isBlocked(m.sender_id) && !revealed.has(m.id),
      m.reply_to ? `${store.displayName(m.reply_to.sender_id)}:${m.reply_to.deleted}:${m.reply_to.body}` : '',
      m.forwarded_from ? `${store.roomName(store.room(m.forwarded_from.room_id))}:${store.displayName(m.forwarded_from.sender_id)}` : '',
      m.attachments?.length || 0,
      (m.embeds || []).map((e) => `${e.url}:${e.title || ''}:${e.image?.url || ''}`).join(' '),
      (m.reactions || []).map((r) => `${r.emoji}${r.count}:${r.user_ids.join(',')}`).join(' '),
      m.thread ? `${m.thread.reply_count}:${m.thread.last_reply_at}:${m.thread.participant_ids.join(',')}` : '',
    ].join('|');
  }

  render() {
    const { store } = this.ctx;
    const tl = store.timeline(this.roomId);
    const sc = this.scroller;
    // A moved window keeps the reader's message in place, even at the bottom of what was shown.
    const atBottom = !this.anchorNext && (this.stuck || this.isAtBottom());
    this.anchorNext = false;
    const anchor = this.firstVisible();
    const anchorKey = anchor && keyOf(anchor);
    const anchorOffset = anchor ? anchor.offsetTop - sc.scrollTop : 0;
    const focusedEl = this.list.contains(document.activeElement) ? document.activeElement : null;
    const hadFocus = focusedEl ? keyOf(focusedEl.closest('li')) : null;
    const hadFocusIn = focusedEl?.tagName === 'TEXTAREA' ? 'textarea' : null;

    if (this.firstRender && tl.loaded) this.openWindow(store.messages(this.roomId), store.state.unreadMarker.get(this.roomId));
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
    const atOldest = !(this.windowFrom > store.oldestSeq(this.roomId));
    const olderLeft = tl.hasMore || !atOldest;
    this.olderButton.hidden = !tl.loaded || !olderLeft;
    this.olderButton.disabled = tl.loading;
    this.olderButton.textContent = tl.loading ? 'Loading…' : 'Load older messages';
    this.topNote.textContent = !tl.loaded
      ? 'Loading messages…'
      : olderLeft ? '' : room ? `This is the beginning of ${room.kind === 'dm' ? 'your conversation with ' : '#'}${store.roomName(room)}.` : '';
    this.bottom.hidden = this.windowTo == null;

    // Scroll: first view at the unread marker or bottom; then keep the anchor or follow new ones.
    if (this.firstRender && tl.loaded) {
      this.firstRender = false;
      // Open at the first unread message, or at the bottom when that shows it too.
      const marker = this.list.querySelector('.new-sep');
      if (marker && marker.offsetTop < sc.scrollHeight - sc.clientHeight) {
        this.stuck = false;
        sc.scrollTop = marker.offsetTop - 8;
      } else {
        this.scrollToBottom();
      }
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
    if (tl.loaded && olderLeft && !tl.loading && sc.scrollHeight <= sc.clientHeight + 20) this.extendUp();
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

  isAtBottom(within = NEAR_BOTTOM) {
    const sc = this.scroller;
    return sc.scrollHeight - sc.scrollTop - sc.clientHeight < within;
  }

  scrollToBottom(smooth = false) {
    this.stuck = true;
    this.scroller.scrollTo({ top: this.scroller.scrollHeight, behavior: smooth ? 'smooth' : 'auto' });
    this.updateLatestButton();
  }

  /** Back to the newest messages: the newest window, scrolled to its bottom. */
  jumpToLatest() {
    if (this.windowTo == null) {
      this.scrollToBottom(true);
      return;
    }
    const messages = this.ctx.store.messages(this.roomId);
    this.setWindow(messages, messages.length - MAX_RENDERED, messages.length);
    this.stuck = true;
    this.render();
    this.scrollToBottom();
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
    // Growth below never lowers scrollTop; only the reader scrolling up does.
    const top = this.scroller.scrollTop;
    if (this.isAtBottom(2)) this.stuck = true;
    else if (top < this.lastTop - 2) this.stuck = false;
    this.lastTop = top;
    this.updateLatestButton();
    this.moveWindow();
  }

  /** Near an edge of the rendered window, renders the next messages there. */
  moveWindow() {
    if (this.moving) return;
    const sc = this.scroller;
    let step = null;
    const tl = this.ctx.store.timeline(this.roomId);
    if (sc.scrollTop < NEAR_EDGE && (this.windowFrom > 0 || (tl.hasMore && !tl.loading))) step = () => this.extendUp();
    else if (sc.scrollHeight - sc.scrollTop - sc.clientHeight < NEAR_EDGE && this.windowTo != null) step = () => this.extendDown();
    if (!step) return;
    // One step per frame: a fling past many pages moves the window as it goes, not all at once.
    this.moving = true;
    requestAnimationFrame(async () => {
      try {
        await step();
      } finally {
        this.moving = false;
      }
    });
  }

  updateLatestButton() {
    const sc = this.scroller;
    this.latestButton.hidden = this.windowTo == null && sc.scrollHeight - sc.scrollTop - sc.clientHeight < 400;
    const unread = this.ctx.store.room(this.roomId)?.unread_count || 0;
    const text = unread ? `Jump to latest · ${unread.toLocaleString('en')} new` : 'Jump to latest';
    if (this.latestLabel.textContent !== text) this.latestLabel.textContent = text;
  }

  /** Fetches an older page into the store; resolves to whether it brought any. */
  async loadOlder() {
    const tl = this.ctx.store.timeline(this.roomId);
    if (!tl.loaded || tl.loading || !tl.hasMore) return false;
    return this.ctx.chat.loadOlder(this.roomId);
  }

  /** Scrolls to a message (loading history as needed), highlights and focuses it. */
  async jumpTo(messageId) {
    const found = await this.ctx.chat.reveal(this.roomId, messageId);
    this.show(found ? messageId : null);
  }

  /** Scrolls to the message at `seq` (a permalink's), loading the history around it. */
  async jumpToSeq(seq) {
    this.show(await this.ctx.chat.revealSeq(this.roomId, seq));
  }

  /** Highlights a message; a thread reply (not in the timeline) opens its thread at it. */
  show(id) {
    const root = id && this.ctx.store.message(this.roomId, id)?.thread_root;
    if (root) this.ctx.actions.openThread(this.ctx.store.message(this.roomId, root) || { id: root }, id);
    else this.highlight(id);
  }

  /** Scrolls to a loaded message, flashes and focuses it (or says it is gone). */
  highlight(messageId) {
    const found = !!messageId;
    // The window of rendered messages moves to hold it (see `showAround`).
    if (found) this.showAround(messageId);
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
      // The time's permalink stays out of the tab order: Shift+Tab from the composer lands on
      // the message itself.
      for (const c of el.querySelectorAll('button, a:not(.msg-permalink), textarea')) c.tabIndex = on ? 0 : -1;
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
        else if (await this.extendUp()) {
          const again = this.messageEls();
          this.focusMessage(again[again.indexOf(li) - 1]);
        }
        break;
      case 'ArrowDown':
        e.preventDefault();
        if (i < els.length - 1) this.focusMessage(els[i + 1]);
        else if (this.extendDown()) {
          const again = this.messageEls();
          this.focusMessage(again[again.indexOf(li) + 1]);
        } else this.ctx.actions.focusComposer();
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
