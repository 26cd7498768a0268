// The client's state, and the only place it changes.
//
// Every change is a named method here; views never write state, they call actions (chat.js),
// which call these. After a change the store names what changed as topics: `rooms` (the list and
// its counts), `room:<id>` (a room's timeline, members, receipts, pending sends, reply/edit
// state), `typing:<id>`, `presence`, `connection`, `me`, `current`, `voice` and `voice:<id>`
// (who is in a room's call, and our own call), `voicePrefs` (push to talk, volumes, audio
// processing), `uploads:<id>` (files being attached in a room's
// composer). Listeners run once per microtask however many changes happened, so a burst of
// frames renders once.
//
// Timelines hold a contiguous run of a room's messages by seq, from the oldest page loaded to the
// newest; the socket keeps them current. A room whose timeline was never opened keeps only its
// summary (last message, unread count).

export function newTimeline() {
  return { bySeq: new Map(), seqOf: new Map(), sorted: null, loaded: false, loading: false, hasMore: true, stale: false };
}

export class Store {
  constructor() {
    this.listeners = new Map();
    this.dirty = new Set();
    this.scheduled = false;
    this.reset();
  }

  /** Forgets everything (sign out). */
  reset() {
    this.state = {
      me: null,
      rooms: new Map(),
      users: new Map(),
      // Ids of the users you blocked: their messages show collapsed.
      blocked: new Set(),
      members: new Map(),
      timelines: new Map(),
      receipts: new Map(),
      typing: new Map(),
      presence: new Map(),
      myStatus: 'online',
      outbox: [],
      connection: { state: 'connecting' },
      currentRoomId: null,
      replyTo: new Map(),
      // Threads opened in this session, by root id: their replies by seq (`{bySeq, loaded, hasMore}`).
      threads: new Map(),
      editingId: null,
      unreadMarker: new Map(),
      // Voice: per room, who is in its call (`[{user_id, muted, speaking}]`, from voice.state);
      // our own call (`{roomId, status, muted, audioBlocked}` or null); the last failure to show
      // (`{roomId, message}`); the microphones we may pick from; this browser's voice
      // preferences once voice-controls.js loaded them (`{mode, pttKey, processing, levels}`).
      voice: new Map(),
      call: null,
      callError: null,
      ring: null,
      microphones: [],
      voicePrefs: null,
      // Per room, files picked in the composer: `{key, name, size, type, progress, state, attachment, error}`.
      uploads: new Map(),
    };
    this.emit('me', 'rooms', 'presence', 'connection', 'current', 'voice', 'call');
  }

  // ---- subscriptions ----

  /** Calls `fn()` after changes to `topic`; returns the unsubscribe function. */
  on(topic, fn) {
    if (!this.listeners.has(topic)) this.listeners.set(topic, new Set());
    this.listeners.get(topic).add(fn);
    return () => this.listeners.get(topic)?.delete(fn);
  }

  emit(...topics) {
    for (const t of topics) this.dirty.add(t);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const topics = [...this.dirty];
      this.dirty.clear();
      const called = new Set();
      for (const t of topics) {
        for (const fn of this.listeners.get(t) || []) {
          if (called.has(fn)) continue;
          called.add(fn);
          try {
            fn();
          } catch (e) {
            console.error(e);
          }
        }
      }
    });
  }

  // ---- reads ----

  get me() {
    return this.state.me;
  }

  room(id) {
    return this.state.rooms.get(id);
  }

  /** Rooms, newest activity first. */
  roomList() {
    return [...this.state.rooms.values()].sort((a, b) => activity(b) - activity(a));
  }

  timeline(roomId) {
    let tl = this.state.timelines.get(roomId);
    if (!tl) {
      tl = newTimeline();
      this.state.timelines.set(roomId, tl);
    }
    return tl;
  }

  /** A room's loaded messages, oldest first. */
  messages(roomId) {
    const tl = this.state.timelines.get(roomId);
    if (!tl) return [];
    if (!tl.sorted) tl.sorted = [...tl.bySeq.keys()].sort((a, b) => a - b);
    return tl.sorted.map((s) => tl.bySeq.get(s));
  }

  message(roomId, id) {
    const tl = this.state.timelines.get(roomId);
    const seq = tl?.seqOf.get(id);
    return seq == null ? null : tl.bySeq.get(seq);
  }

  /** The newest and oldest seq loaded (0 when none). */
  newestSeq(roomId) {
    const list = this.messages(roomId);
    return list.length ? list[list.length - 1].seq : 0;
  }

  oldestSeq(roomId) {
    const list = this.messages(roomId);
    return list.length ? list[0].seq : 0;
  }

  user(id) {
    return this.state.users.get(id);
  }

  /** The name to show for a user id. */
  displayName(id) {
    if (id === this.state.me?.id) return this.state.me.display_name;
    const u = this.state.users.get(id);
    return u ? u.display_name || u.username : 'Someone';
  }

  roomName(room) {
    if (!room) return 'Unknown room';
    if (room.kind === 'dm') return room.dm_user?.display_name || room.name || 'Direct message';
    return room.name;
  }

  /**
   * What tells a group room from others of the same name, for lists and pickers: its topic,
   * else the day it was made. Empty when no other room shares its name (or for DMs).
   */
  roomDistinction(room) {
    if (!room || room.kind === 'dm') return '';
    const name = this.roomName(room).toLowerCase();
    let twins = 0;
    for (const r of this.state.rooms.values()) if (r.kind !== 'dm' && this.roomName(r).toLowerCase() === name) twins += 1;
    if (twins < 2) return '';
    if (room.topic) return room.topic;
    const day = new Date(room.created_at).toLocaleDateString('en', { day: 'numeric', month: 'short', year: 'numeric' });
    return `made ${day}`;
  }

  role(roomId, userId) {
    return this.state.members.get(roomId)?.get(userId);
  }

  /** Pending sends of a room's main timeline (or of the thread of `threadRoot`), in order. */
  pending(roomId, threadRoot = null) {
    return this.state.outbox.filter((p) => p.room_id === roomId && (p.thread_root || null) === threadRoot);
  }

  /** A thread's loaded replies, oldest first. */
  threadMessages(rootId) {
    const t = this.state.threads.get(rootId);
    if (!t) return [];
    return [...t.bySeq.keys()].sort((a, b) => a - b).map((s) => t.bySeq.get(s));
  }

  /** A thread's record, made on first use. */
  thread(rootId) {
    let t = this.state.threads.get(rootId);
    if (!t) {
      t = { bySeq: new Map(), loaded: false, hasMore: false };
      this.state.threads.set(rootId, t);
    }
    return t;
  }

  /** Adds a page of a thread's replies (from `GET /messages/{id}/thread`). */
  addThreadPage(rootId, messages, hasMore) {
    const t = this.thread(rootId);
    for (const m of messages) t.bySeq.set(m.seq, m);
    t.loaded = true;
    t.hasMore = hasMore;
    this.emit(`thread:${rootId}`);
  }

  /** A root's thread summary changed (`thread.updated`). */
  threadUpdated(roomId, rootId, thread) {
    const tl = this.state.timelines.get(roomId);
    const seq = tl?.seqOf.get(rootId);
    const m = seq != null ? tl.bySeq.get(seq) : null;
    if (m) this.put(tl, { ...m, thread });
    this.emit(`room:${roomId}`, `thread:${rootId}`);
  }

  /** A loaded thread reply by id (threads are few and short: a scan is fine). */
  threadReply(messageId) {
    for (const t of this.state.threads.values()) {
      for (const m of t.bySeq.values()) if (m.id === messageId) return m;
    }
    return null;
  }

  /** Patches a loaded thread reply, wherever it is loaded. */
  patchThreadReply(m) {
    const t = m.thread_root && this.state.threads.get(m.thread_root);
    if (t?.bySeq.has(m.seq)) {
      t.bySeq.set(m.seq, m);
      this.emit(`thread:${m.thread_root}`);
    }
  }

  totalUnread() {
    let n = 0;
    for (const r of this.state.rooms.values()) n += this.shownUnread(r);
    return n;
  }

  /** The unread count a room shows, by the viewer's level: all, only mentions, or nothing. */
  shownUnread(room) {
    if (room.notify === 'none') return 0;
    if (room.notify === 'mentions') return room.mention_count || 0;
    return room.unread_count || 0;
  }

  /** Whether message `m` (by someone else, live) mentions the viewer, by name or @room. */
  mentionsMe(m) {
    const me = this.state.me?.id;
    return !!me && m.sender_id !== me && !m.deleted && (!!m.mentions_room || (m.mentions || []).includes(me));
  }

  // ---- session ----

  setMe(user) {
    this.state.me = user;
    this.addUsers([user]);
    this.emit('me');
  }

  setMyStatus(status) {
    this.state.myStatus = status;
    this.emit('me');
  }

  setConnection(connection) {
    this.state.connection = connection;
    this.emit('connection');
  }

  setBlocked(ids) {
    this.state.blocked = new Set(ids);
    const current = this.state.currentRoomId;
    this.emit('rooms', ...(current ? [`room:${current}`] : []));
  }

  isBlocked(userId) {
    return this.state.blocked.has(userId);
  }

  addUsers(users) {
    for (const u of users) if (u?.id) this.state.users.set(u.id, u);
  }

  /** Someone's profile changed (or you changed yours elsewhere): names shown everywhere follow. */
  userUpdated(user) {
    if (user.id === this.state.me?.id) return this.setMe(user);
    this.addUsers([user]);
    const current = this.state.currentRoomId;
    this.emit('rooms', ...(current ? [`room:${current}`] : []));
  }

  // ---- rooms ----

  /** Merges the room list from HTTP: metadata from the server, counts from whichever is newer. */
  setRooms(list) {
    const seen = new Set();
    for (const room of list) {
      seen.add(room.id);
      this.mergeRoom(room);
    }
    for (const id of [...this.state.rooms.keys()]) if (!seen.has(id)) this.state.rooms.delete(id);
    this.emit('rooms', 'current');
  }

  /** A room as the server sent it (room.updated, create, open DM). */
  upsertRoom(room) {
    this.mergeRoom(room);
    this.emit('rooms', `room:${room.id}`);
  }

  mergeRoom(room) {
    if (room.dm_user) this.addUsers([room.dm_user]);
    const old = this.state.rooms.get(room.id);
    if (!old || room.last_seq >= old.last_seq) {
      const merged = { ...room };
      if (old) merged.last_read_seq = Math.max(old.last_read_seq, room.last_read_seq);
      if (old && merged.last_read_seq > room.last_read_seq) {
        merged.unread_count = Math.min(room.unread_count, Math.max(0, room.last_seq - merged.last_read_seq));
      }
      this.state.rooms.set(room.id, merged);
    } else {
      // Our copy has newer messages (from the socket): keep its counts, take the metadata.
      const { last_seq, last_message, unread_count, last_read_seq, ...meta } = room;
      this.state.rooms.set(room.id, { ...old, ...meta, last_read_seq: Math.max(old.last_read_seq, last_read_seq) });
    }
  }

  /** We left, or were removed from, a room. */
  removeRoom(roomId) {
    this.state.rooms.delete(roomId);
    this.state.timelines.delete(roomId);
    this.state.members.delete(roomId);
    this.state.outbox = this.state.outbox.filter((p) => p.room_id !== roomId);
    this.state.voice.delete(roomId);
    this.state.uploads.delete(roomId);
    this.emit('rooms', `room:${roomId}`, 'current', 'voice', `voice:${roomId}`, `uploads:${roomId}`);
  }

  setCurrentRoom(roomId) {
    if (this.state.currentRoomId === roomId) return;
    const prev = this.state.currentRoomId;
    if (prev) this.state.unreadMarker.delete(prev);
    this.state.currentRoomId = roomId;
    this.state.editingId = null;
    const room = roomId && this.state.rooms.get(roomId);
    if (room && room.unread_count > 0) this.state.unreadMarker.set(roomId, room.last_read_seq);
    this.emit('current', 'rooms');
  }

  setMembers(roomId, members) {
    const map = new Map();
    for (const m of members) {
      map.set(m.user.id, m.role);
      this.addUsers([m.user]);
      if (m.last_read_seq != null) this.bumpReceipt(roomId, m.user.id, m.last_read_seq);
    }
    this.state.members.set(roomId, map);
    this.emit(`room:${roomId}`, 'rooms');
  }

  memberJoined(roomId, user) {
    this.addUsers([user]);
    const map = this.state.members.get(roomId);
    const room = this.state.rooms.get(roomId);
    if (map) {
      if (!map.has(user.id)) map.set(user.id, 'member');
      if (room) room.members_count = map.size;
    } else if (room) {
      room.members_count += 1;
    }
    this.emit(`room:${roomId}`, 'rooms');
  }

  memberLeft(roomId, userId) {
    const map = this.state.members.get(roomId);
    const room = this.state.rooms.get(roomId);
    if (map) {
      map.delete(userId);
      if (room) room.members_count = map.size;
    } else if (room) {
      room.members_count = Math.max(1, room.members_count - 1);
    }
    this.state.typing.get(roomId)?.delete(userId);
    this.emit(`room:${roomId}`, `typing:${roomId}`, 'rooms');
  }

  // ---- messages ----

  /** Marks a room's timeline as loading (live messages are kept from now on). */
  setLoading(roomId, loading) {
    this.timeline(roomId).loading = loading;
    this.emit(`room:${roomId}`);
  }

  /** Adds a page of history. `hasMore` is about older messages when paging back. */
  addPage(roomId, messages, { hasMore, older }) {
    const tl = this.timeline(roomId);
    for (const m of messages) this.put(tl, m);
    if (older || !tl.loaded) tl.hasMore = hasMore;
    tl.loaded = true;
    tl.loading = false;
    tl.stale = false;
    this.emit(`room:${roomId}`);
  }

  /** Forgets a room's loaded messages, for a page far from them (a permalink's). */
  resetTimeline(roomId) {
    this.state.timelines.set(roomId, newTimeline());
  }

  /** Replaces a timeline's newest messages with a fresh page (after a reconnection). */
  refreshPage(roomId, messages) {
    const tl = this.timeline(roomId);
    for (const m of messages) this.put(tl, m);
    tl.stale = false;
    this.emit(`room:${roomId}`);
  }

  /** Marks loaded timelines as stale: edits made while we were away must be fetched. */
  markTimelinesStale() {
    for (const tl of this.state.timelines.values()) if (tl.loaded) tl.stale = true;
  }

  put(tl, m) {
    const old = tl.bySeq.get(m.seq);
    if (!old) tl.sorted = null;
    tl.bySeq.set(m.seq, m);
    tl.seqOf.set(m.id, m.seq);
  }

  /**
   * Replies quote a preview of their original, taken when they were sent: when the original is
   * edited or deleted, the loaded replies to it show the change at once, as a reload would.
   */
  requote(tl, originalId, patch) {
    for (const [seq, m] of tl.bySeq) {
      if (m.reply_to?.id !== originalId) continue;
      const quote = { ...m.reply_to, ...patch };
      if (quote.body === m.reply_to.body && !!quote.deleted === !!m.reply_to.deleted) continue;
      tl.bySeq.set(seq, { ...m, reply_to: quote });
    }
  }

  /** A message, live or replayed. Returns false if it was already known. */
  messageNew(m) {
    const me = this.state.me?.id;
    const room = this.state.rooms.get(m.room_id);
    let fresh = false;
    if (room) {
      if (m.seq > room.last_seq) {
        fresh = true;
        room.last_seq = m.seq;
        room.last_message = m;
        if (m.sender_id === me) {
          this.readUpTo(room, m.seq);
        } else if (!m.deleted && m.seq > room.last_read_seq) {
          // Thread replies stay out of the room's unread count; mentions in them count.
          if (!m.thread_root) room.unread_count = (room.unread_count || 0) + 1;
          if (this.mentionsMe(m)) room.mention_count = (room.mention_count || 0) + 1;
        }
      } else if (room.last_message?.id === m.id) {
        room.last_message = m;
      }
    }
    const tl = this.state.timelines.get(m.room_id);
    if (tl && (tl.loaded || tl.loading)) {
      const old = tl.bySeq.get(m.seq);
      if (!old) fresh = true;
      // A replay (the send's ack) must not wipe previews that came first.
      if (old?.id === m.id && old.embeds?.length && !m.embeds?.length) m = { ...m, embeds: old.embeds };
      this.put(tl, m);
    }
    if (m.thread_root) {
      const t = this.state.threads.get(m.thread_root);
      if (t && !t.bySeq.has(m.seq)) fresh = true;
      t?.bySeq.set(m.seq, m);
      this.emit(`thread:${m.thread_root}`);
    }
    if (m.sender_id === me && m.client_id) this.dropPending(m.client_id);
    this.state.typing.get(m.room_id)?.delete(m.sender_id);
    this.emit('rooms', `room:${m.room_id}`, `typing:${m.room_id}`);
    return fresh;
  }

  messageEdited(m) {
    const tl = this.state.timelines.get(m.room_id);
    if (tl?.bySeq.has(m.seq)) this.put(tl, m);
    this.patchThreadReply(m);
    if (tl) this.requote(tl, m.id, { body: quotePreview(m.body), deleted: false });
    const room = this.state.rooms.get(m.room_id);
    if (room?.last_message?.id === m.id) room.last_message = m;
    this.emit('rooms', `room:${m.room_id}`);
  }

  /**
   * Someone's reaction changed. Idempotent: our own change is applied when the call returns and
   * again when its event arrives. A reactor beyond the listed first 50 is only counted.
   */
  reaction(roomId, messageId, emoji, userId, added) {
    const tl = this.state.timelines.get(roomId);
    const seq = tl?.seqOf.get(messageId);
    const m = seq != null ? tl.bySeq.get(seq) : this.threadReply(messageId);
    if (!m || m.deleted) return;
    const list = (m.reactions || []).map((r) => ({ ...r, user_ids: [...r.user_ids] }));
    let r = list.find((x) => x.emoji === emoji);
    const listed = r?.user_ids.includes(userId);
    if (added) {
      if (listed) return;
      if (!r) list.push(r = { emoji, count: 0, user_ids: [] });
      r.count += 1;
      if (r.user_ids.length < 50) r.user_ids.push(userId);
    } else {
      if (!r || (!listed && r.count <= r.user_ids.length)) return;
      r.count -= 1;
      r.user_ids = r.user_ids.filter((id) => id !== userId);
    }
    const changed = { ...m, reactions: list.filter((x) => x.count > 0) };
    if (seq != null) this.put(tl, changed);
    this.patchThreadReply(changed);
    this.emit(`room:${roomId}`);
  }

  /** A message's link previews arrived (or changed after an edit). */
  embeds(roomId, messageId, embeds) {
    const tl = this.state.timelines.get(roomId);
    const seq = tl?.seqOf.get(messageId);
    const m = seq != null ? tl.bySeq.get(seq) : this.threadReply(messageId);
    if (!m || m.deleted) return;
    const changed = { ...m, embeds: embeds || [] };
    if (seq != null) this.put(tl, changed);
    this.patchThreadReply(changed);
    this.emit(`room:${roomId}`);
  }

  /** A message was pinned or unpinned. */
  pinned(roomId, messageId, pinned) {
    const tl = this.state.timelines.get(roomId);
    const seq = tl?.seqOf.get(messageId);
    const m = seq != null ? tl.bySeq.get(seq) : null;
    if (!m || !!m.pinned === pinned) return;
    this.put(tl, { ...m, pinned });
    this.emit(`room:${roomId}`);
  }

  messageDeleted(roomId, messageId, seq) {
    const tl = this.state.timelines.get(roomId);
    const old = tl?.bySeq.get(seq);
    const room = this.state.rooms.get(roomId);
    const known = old || (room?.last_message?.id === messageId ? room.last_message : null);
    if (old && !old.deleted) this.put(tl, { ...old, deleted: true, body: '', attachments: [], reactions: [], embeds: [], pinned: false, reply_to: null });
    for (const [rootId, t] of this.state.threads) {
      const reply = t.bySeq.get(seq);
      if (reply?.id !== messageId || reply.deleted) continue;
      t.bySeq.set(seq, { ...reply, deleted: true, body: '', attachments: [], reactions: [], embeds: [], reply_to: null });
      this.emit(`thread:${rootId}`);
    }
    if (tl) this.requote(tl, messageId, { body: '', deleted: true });
    if (room) {
      if (room.last_message?.id === messageId) room.last_message = { ...room.last_message, deleted: true, body: '' };
      if (known && !known.deleted && known.sender_id !== this.state.me?.id && seq > room.last_read_seq) {
        if (!known.thread_root) room.unread_count = Math.max(0, (room.unread_count || 0) - 1);
        if (this.mentionsMe(known)) room.mention_count = Math.max(0, (room.mention_count || 0) - 1);
      }
    }
    if (this.state.editingId === messageId) this.state.editingId = null;
    if (this.state.replyTo.get(roomId)?.id === messageId) this.state.replyTo.delete(roomId);
    this.emit('rooms', `room:${roomId}`);
  }

  // ---- reading ----

  /** Our read position moved (here, in another tab, or by sending). */
  setRead(roomId, seq) {
    const room = this.state.rooms.get(roomId);
    if (!room || seq <= room.last_read_seq) return false;
    this.readUpTo(room, seq);
    this.emit('rooms', `room:${roomId}`);
    return true;
  }

  readUpTo(room, seq) {
    room.last_read_seq = Math.max(room.last_read_seq, seq);
    const tl = this.state.timelines.get(room.id);
    const list = tl?.loaded ? this.messages(room.id) : [];
    const me = this.state.me?.id;
    if (room.last_read_seq >= room.last_seq) {
      room.unread_count = 0;
      room.mention_count = 0;
    } else if (list.length && list[0].seq <= room.last_read_seq + 1) {
      const unread = list.filter((m) => m.seq > room.last_read_seq && !m.deleted && m.sender_id !== me);
      room.unread_count = unread.length;
      room.mention_count = unread.filter((m) => this.mentionsMe(m)).length;
    } else {
      room.unread_count = Math.min(room.unread_count || 0, room.last_seq - room.last_read_seq);
      room.mention_count = Math.min(room.mention_count || 0, room.unread_count);
    }
  }

  receipt(roomId, userId, seq) {
    if (userId === this.state.me?.id) {
      this.setRead(roomId, seq);
      return;
    }
    this.bumpReceipt(roomId, userId, seq);
    this.emit(`room:${roomId}`);
  }

  bumpReceipt(roomId, userId, seq) {
    if (!this.state.receipts.has(roomId)) this.state.receipts.set(roomId, new Map());
    const map = this.state.receipts.get(roomId);
    map.set(userId, Math.max(map.get(userId) || 0, seq));
  }

  /** Who (other than us) has read up to at least `seq`. */
  readers(roomId, seq) {
    const map = this.state.receipts.get(roomId);
    if (!map) return [];
    const me = this.state.me?.id;
    return [...map.entries()].filter(([u, s]) => u !== me && s >= seq).map(([u]) => u);
  }

  // ---- typing and presence ----

  typing(roomId, userId, active, until) {
    if (userId === this.state.me?.id) return;
    if (!this.state.typing.has(roomId)) this.state.typing.set(roomId, new Map());
    const map = this.state.typing.get(roomId);
    if (active) map.set(userId, until);
    else map.delete(userId);
    this.emit(`typing:${roomId}`);
  }

  /** Drops typing entries past their time; returns whether any remain. */
  expireTyping(now) {
    let any = false;
    for (const [roomId, map] of this.state.typing) {
      for (const [userId, until] of map) {
        if (until <= now) {
          map.delete(userId);
          this.emit(`typing:${roomId}`);
        }
      }
      if (map.size) any = true;
    }
    return any;
  }

  typists(roomId) {
    return [...(this.state.typing.get(roomId)?.keys() || [])];
  }

  presence(entries) {
    for (const p of entries) this.state.presence.set(p.user_id, { status: p.status, last_seen: p.last_seen });
    this.emit('presence');
  }

  // ---- composing ----

  setReply(roomId, message) {
    if (message) this.state.replyTo.set(roomId, message);
    else this.state.replyTo.delete(roomId);
    this.emit(`room:${roomId}`);
  }

  setEditing(messageId, roomId) {
    this.state.editingId = messageId;
    if (roomId) this.emit(`room:${roomId}`);
  }

  // ---- pending sends ----

  addPending(item) {
    this.state.outbox.push(item);
    this.emitPending(item);
  }

  /** Tells the views that show a pending send (its room, or its thread) of a change. */
  emitPending(item) {
    this.emit(`room:${item.room_id}`, 'outbox');
    if (item.thread_root) this.emit(`thread:${item.thread_root}`);
  }

  setOutbox(items) {
    this.state.outbox = items;
    for (const i of items) this.emit(`room:${i.room_id}`);
    this.emit('outbox');
  }

  updatePending(clientId, patch) {
    const item = this.state.outbox.find((p) => p.client_id === clientId);
    if (!item) return;
    Object.assign(item, patch);
    this.emitPending(item);
  }

  dropPending(clientId) {
    const i = this.state.outbox.findIndex((p) => p.client_id === clientId);
    if (i < 0) return;
    const [item] = this.state.outbox.splice(i, 1);
    this.emitPending(item);
  }

  // ---- voice ----

  /** Who is in a room's call (voice.state). */
  setVoiceState(roomId, participants) {
    this.state.voice.set(roomId, participants.map((p) => ({
      user_id: p.user_id,
      muted: !!p.muted,
      speaking: !!p.speaking,
      deafened: !!p.deafened,
      quality: ['good', 'fair', 'poor'].includes(p.quality) ? p.quality : 'good',
    })));
    this.emit('voice', `voice:${roomId}`);
  }

  /**
   * Forgets who is in which call (the socket dropped): the server sends every call's state
   * again after reconnecting, but says nothing about calls that ended meanwhile.
   */
  clearVoiceStates() {
    const rooms = [...this.state.voice.keys()];
    this.state.voice.clear();
    for (const id of rooms) this.emit(`voice:${id}`);
    this.emit('voice');
  }

  /** One participant started or stopped speaking (voice.speaking). */
  setSpeaking(roomId, userId, speaking) {
    const p = this.state.voice.get(roomId)?.find((x) => x.user_id === userId);
    if (!p || p.speaking === speaking) return;
    p.speaking = speaking;
    this.emit(`voice:${roomId}`);
  }

  /** The people in a room's call (empty when nobody is). */
  callParticipants(roomId) {
    return this.state.voice.get(roomId) || [];
  }

  /** Our call starts (or moves to another room): `{roomId, status, muted, deafened}`. */
  startCall(roomId, fields = {}) {
    const old = this.state.call;
    this.state.call = { roomId, status: 'joining', muted: false, deafened: false, audioBlocked: false, ...fields };
    this.emitCall(old, this.state.call);
  }

  /** Changes our call's status, mute, deafen or audio state. */
  updateCall(patch) {
    if (!this.state.call) return;
    this.state.call = { ...this.state.call, ...patch };
    this.emitCall(this.state.call, this.state.call);
  }

  /** A DM call rings here (`{roomId, from}`), or stopped ringing (null). */
  setRing(ring) {
    this.state.ring = ring;
    this.emit('ring');
  }

  /** We are no longer in a call. */
  endCall() {
    const old = this.state.call;
    this.state.call = null;
    this.emitCall(old, null);
  }

  emitCall(old, next) {
    for (const id of new Set([old?.roomId, next?.roomId])) if (id) this.emit(`voice:${id}`);
    this.emit('call', 'voice');
  }

  /** A voice failure to show in the room's call panel (null clears it). */
  setCallError(roomId, message) {
    const old = this.state.callError;
    this.state.callError = message ? { roomId, message } : null;
    for (const id of new Set([old?.roomId, roomId])) if (id) this.emit(`voice:${id}`);
  }

  /** This browser's voice preferences changed (all of them). */
  setVoicePrefs(prefs) {
    this.state.voicePrefs = prefs;
    this.emit('voicePrefs');
    if (this.state.call) this.emit(`voice:${this.state.call.roomId}`);
  }

  setMicrophones(list) {
    this.state.microphones = list;
    this.emit('call');
    if (this.state.call) this.emit(`voice:${this.state.call.roomId}`);
  }

  // ---- uploads ----

  /** Files being attached in a room's composer, in the order picked. */
  uploads(roomId) {
    return this.state.uploads.get(roomId) || [];
  }

  addUpload(roomId, item) {
    this.state.uploads.set(roomId, [...this.uploads(roomId), item]);
    this.emit(`uploads:${roomId}`);
  }

  updateUpload(roomId, key, patch) {
    const item = this.uploads(roomId).find((u) => u.key === key);
    if (!item) return;
    Object.assign(item, patch);
    this.emit(`uploads:${roomId}`);
  }

  /** Drops uploads from the composer (sent, or removed by the user). */
  removeUploads(roomId, keys) {
    const left = this.uploads(roomId).filter((u) => !keys.includes(u.key));
    if (left.length) this.state.uploads.set(roomId, left);
    else this.state.uploads.delete(roomId);
    this.emit(`uploads:${roomId}`);
  }
}

/** The server's quote of a reply: the original's body cut to 200 characters. */
export function quotePreview(body) {
  const chars = Array.from(body || '');
  return chars.length > QUOTE_CHARS ? chars.slice(0, QUOTE_CHARS).join('') : body || '';
}

const QUOTE_CHARS = 200;

function activity(room) {
  const t = room.last_message?.created_at || room.created_at;
  return t ? Date.parse(t) : 0;
}
