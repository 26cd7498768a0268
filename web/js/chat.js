// Actions: what the views ask for, turned into HTTP calls, socket frames and store changes.
//
// Server events come in through `handleFrames` and become store changes. Sends go through the
// outbox: each gets a `client_id` once, is shown as pending at once, and is (re)sent over the
// socket whenever it is connected until the server acknowledges it. The server deduplicates by
// `client_id`, so a send retried after a lost ack is stored once; the echo and the ack are
// matched to the pending entry by `client_id` and to the timeline by seq, so it shows once.
// Pending sends are kept in localStorage, so a reload while offline does not lose them.
//
// Files for a message are uploaded first (`upload`), each tracked in the store with its progress,
// and sent with the message once up.
//
// Extension point: `onFrame(prefix, fn)` hands other modules (voice) the server events they own.

import { SignedOut } from './session.js';
import { Socket } from './socket.js';
import { ApiError } from './api.js';
import { fileSize } from './format.js';

const TYPING_RENEW = 3000;
const TYPING_SHOWN = 7000;
const PAGE = 50;
/** How far back the first view of a room may load to reach its first unread message. */
const MARKER_REACH = 2000;
/** The most files one message may carry (the server's limit). */
export const MAX_ATTACHMENTS = 10;
/** The longest message body, in characters (code points), as the server counts them. */
export const MAX_BODY_CHARS = 4000;

export class Chat {
  constructor({ store, api, session, onSignedOut, onEvent }) {
    Object.assign(this, { store, api, session, onSignedOut, onEvent });
    this.handlers = [];
    this.membersLoading = new Map();
    this.typingSent = new Map();
    this.readSent = new Map();
    this.typingTimer = null;
    this.uploadTasks = new Map();
    this.socket = new Socket({
      session,
      resume: () => this.resumePoints(),
      onFrames: (frames) => this.handleFrames(frames),
      onReady: (ack) => this.ready(ack),
      onStatus: (s) => store.setConnection(s),
      onSignedOut: (why) => this.onSignedOut?.(why),
    });
    this.unsubscribeSession = session.onChange(() => {
      if (session.get()) this.socket.reauth();
    });
    this.unsubscribeOutbox = store.on('outbox', () => this.saveOutbox());
  }

  /** Registers `fn(frame)` for server events whose type starts with `prefix` (e.g. `voice.`). */
  onFrame(prefix, fn) {
    this.handlers.push({ prefix, fn });
  }

  // ---- lifecycle ----

  /** Signed in: load who we are and our rooms, then go live. */
  async start() {
    // The limits are a courtesy (the server enforces them anyway): without them, files are
    // checked by the server alone.
    const config = this.api.config().catch(() => null);
    const me = await this.api.me();
    this.limits = await config;
    this.store.setMe(me);
    this.store.setMyStatus(localStorage.getItem(`confab.status.${me.id}`) || 'online');
    this.loadOutbox();
    this.store.setRooms(await this.api.rooms());
    this.store.setBlocked(await this.api.blocks());
    for (const room of this.store.state.rooms.values()) {
      if (room.last_message) this.ensureUser(room.id, room.last_message.sender_id);
    }
    this.socket.start();
  }

  stop() {
    for (const task of this.uploadTasks.values()) task.abort();
    this.socket.stop();
    this.unsubscribeSession();
    this.unsubscribeOutbox();
    clearInterval(this.typingTimer);
  }

  /** Per room, the newest seq we have: the newest loaded message, or the summary's. */
  resumePoints() {
    const resume = {};
    for (const room of this.store.state.rooms.values()) {
      const tl = this.store.state.timelines.get(room.id);
      const newest = tl?.loaded ? this.store.newestSeq(room.id) : 0;
      resume[room.id] = Math.max(newest, tl?.loaded ? 0 : room.last_seq);
    }
    return resume;
  }

  /** (Re)connected and authenticated: restore status, send what is pending, catch up. */
  async ready(ack) {
    const status = this.store.state.myStatus;
    if (status !== 'online') this.socket.send({ type: 'presence.set', status });
    this.flushOutbox();
    for (const [roomId, seq] of this.readSent) this.socket.send({ type: 'read', room_id: roomId, seq });
    if (!this.everReady) {
      this.everReady = true;
      // Rooms joined since start() listed them (a failure waits for the next reconnection).
      if (ack?.unknown_rooms) this.api.rooms().then((r) => this.store.setRooms(r), () => {});
      return;
    }
    // A reconnection: edits and deletions while away are not replayed, and rooms may have been
    // added or changed. Refetch the list and the open room's newest page.
    this.store.markTimelinesStale();
    try {
      this.store.setRooms(await this.api.rooms());
      for (const [roomId, tl] of this.store.state.timelines) {
        if (tl.loaded && this.store.room(roomId) && this.store.newestSeq(roomId) < this.store.room(roomId).last_seq) {
          this.fillGap(roomId);
        }
      }
      const current = this.store.state.currentRoomId;
      if (current) await this.refreshLatest(current);
    } catch {
      // The next reconnection tries again.
    }
  }

  // ---- server events ----

  handleFrames(frames) {
    const s = this.store;
    for (const f of frames) {
      switch (f.type) {
        case 'message.new': {
          const m = f.message;
          const tl = s.state.timelines.get(m.room_id);
          const newest = tl?.loaded ? s.newestSeq(m.room_id) : 0;
          const fresh = s.messageNew(m);
          this.ensureUser(m.room_id, m.sender_id);
          if (tl?.loaded && newest && m.seq > newest + 1) this.fillGap(m.room_id);
          if (fresh) this.announceMessage(m);
          break;
        }
        case 'message.edited':
          s.messageEdited(f.message);
          break;
        case 'message.deleted':
          s.messageDeleted(f.room_id, f.message_id, f.seq);
          break;
        case 'message.embeds':
          s.embeds(f.room_id, f.message_id, f.embeds);
          break;
        case 'reaction.added':
        case 'reaction.removed':
          s.reaction(f.room_id, f.message_id, f.emoji, f.user_id, f.type === 'reaction.added');
          break;
        case 'thread.updated':
          s.threadUpdated(f.room_id, f.message_id, f.thread);
          break;
        case 'pin.added':
        case 'pin.removed':
          s.pinned(f.room_id, f.message_id, f.type === 'pin.added');
          break;
        case 'typing':
          s.typing(f.room_id, f.user_id, f.active, Date.now() + TYPING_SHOWN);
          if (f.active) this.watchTyping();
          break;
        case 'receipt':
          s.receipt(f.room_id, f.user_id, f.seq);
          break;
        case 'presence':
          s.presence([f]);
          break;
        case 'presence.batch':
          s.presence(f.presences);
          break;
        case 'room.updated':
          s.upsertRoom(f.room);
          if (s.state.members.has(f.room.id)) this.loadMembers(f.room.id);
          break;
        case 'user.updated':
          s.userUpdated(f.user);
          break;
        case 'member.joined':
          s.memberJoined(f.room_id, f.user);
          break;
        case 'member.left':
          if (f.user_id === s.me?.id) {
            s.removeRoom(f.room_id);
            this.onEvent?.('left', f.room_id);
          } else {
            s.memberLeft(f.room_id, f.user_id);
          }
          break;
        case 'error':
          // Errors of requests without an id (typing, read): nothing to do but note them.
          console.warn('server error', f.code, f.message);
          break;
        default:
          break;
      }
      for (const { prefix, fn } of this.handlers) if (f.type.startsWith(prefix)) fn(f);
    }
  }

  /** Expires typing indicators of people who went quiet without saying so. */
  watchTyping() {
    if (this.typingTimer) return;
    this.typingTimer = setInterval(() => {
      if (!this.store.expireTyping(Date.now())) {
        clearInterval(this.typingTimer);
        this.typingTimer = null;
      }
    }, 1000);
  }

  // ---- rooms and history ----

  /** Shows a room: loads its newest page and members the first time. */
  openRoom(roomId) {
    const s = this.store;
    s.setCurrentRoom(roomId);
    if (!roomId || !s.room(roomId)) return;
    const tl = s.timeline(roomId);
    if (!tl.loaded && !tl.loading) this.loadLatest(roomId);
    else if (tl.stale) this.refreshLatest(roomId);
    if (!s.state.members.has(roomId)) this.loadMembers(roomId);
  }

  async loadLatest(roomId) {
    this.store.setLoading(roomId, true);
    try {
      const page = await this.historyFromMarker(roomId, await this.api.history(roomId, { limit: PAGE }));
      this.store.addPage(roomId, page.messages, { hasMore: page.has_more });
      const room = this.store.room(roomId);
      if (room && this.store.newestSeq(roomId) < room.last_seq) this.fillGap(roomId);
    } catch (e) {
      this.store.setLoading(roomId, false);
      this.onEvent?.('error', e);
    }
  }

  /**
   * The first view of a room opens at its first unread message: when the newest page does not
   * reach back to it, the pages before are fetched too (up to MARKER_REACH messages), so the
   * "New messages" line sits at the reader's real position rather than above the oldest loaded.
   */
  async historyFromMarker(roomId, page) {
    const marker = this.store.state.unreadMarker.get(roomId);
    const messages = [...page.messages];
    let hasMore = page.has_more;
    while (marker != null && hasMore && messages.length && messages[0].seq > marker + 1 && messages.length < MARKER_REACH) {
      const older = await this.api.history(roomId, { before: messages[0].seq, limit: 100 });
      messages.unshift(...older.messages);
      hasMore = older.has_more;
    }
    return { messages, has_more: hasMore };
  }

  async refreshLatest(roomId) {
    try {
      const page = await this.api.history(roomId, { limit: 100 });
      this.store.refreshPage(roomId, page.messages);
    } catch {
      // Stays stale; the next open tries again.
    }
  }

  /** Pages back once. Resolves to false when there is nothing older. */
  async loadOlder(roomId) {
    const tl = this.store.timeline(roomId);
    if (!tl.loaded || tl.loading || !tl.hasMore) return false;
    this.store.setLoading(roomId, true);
    try {
      const before = this.store.oldestSeq(roomId);
      const page = await this.api.history(roomId, { before, limit: PAGE });
      this.store.addPage(roomId, page.messages, { hasMore: page.has_more, older: true });
      return true;
    } catch (e) {
      this.store.setLoading(roomId, false);
      this.onEvent?.('error', e);
      return false;
    }
  }

  /** Fetches messages missing between the newest loaded and the room's newest. */
  async fillGap(roomId) {
    if (this.filling?.has(roomId)) return;
    this.filling ??= new Set();
    this.filling.add(roomId);
    try {
      for (let i = 0; i < 20; i++) {
        const after = this.store.newestSeq(roomId);
        const page = await this.api.history(roomId, { after, limit: 100 });
        this.store.refreshPage(roomId, page.messages);
        if (!page.has_more) break;
      }
    } catch {
      // Try again on the next gap or reconnection.
    } finally {
      this.filling.delete(roomId);
    }
  }

  /** Loads history until the message is in the timeline; resolves to whether it was found. */
  /**
   * Makes the message at `seq` loaded: the page around it (`?around=`), joined to what is loaded
   * when they touch, else in place of it and then filled forward to the newest, so the timeline
   * stays one unbroken run. Resolves to the message's id, or null if there is none.
   */
  async revealSeq(roomId, seq) {
    for (let i = 0; i < 200 && this.store.timeline(roomId).loading; i++) await new Promise((r) => setTimeout(r, 50));
    const known = this.store.timeline(roomId).bySeq.get(seq);
    if (known) return known.id;
    let page;
    try {
      page = await this.api.history(roomId, { around: seq, limit: PAGE });
    } catch (e) {
      this.onEvent?.('error', e);
      return null;
    }
    const target = page.messages.find((m) => m.seq === seq);
    if (!target) return null;
    const tl = this.store.timeline(roomId);
    const newest = page.messages[page.messages.length - 1].seq;
    if (tl.loaded && tl.bySeq.size && newest >= this.store.oldestSeq(roomId) - 1) {
      this.store.addPage(roomId, page.messages, { hasMore: page.has_more, older: true });
    } else {
      this.store.resetTimeline(roomId);
      this.store.addPage(roomId, page.messages, { hasMore: page.has_more, older: true });
      if (page.has_newer) await this.fillGap(roomId);
    }
    return target.id;
  }

  async reveal(roomId, messageId) {
    for (let i = 0; i < 100; i++) {
      if (this.store.message(roomId, messageId)) return true;
      const tl = this.store.timeline(roomId);
      if (tl.loaded && !tl.hasMore) return false;
      if (!tl.loaded) {
        await this.loadLatest(roomId);
        continue;
      }
      if (tl.loading) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (!(await this.loadOlder(roomId)) && !tl.hasMore) return !!this.store.message(roomId, messageId);
    }
    return false;
  }

  /** Tells the app of a new message once its sender's name is known (or could not be learned),
   *  so announcements and notifications name people rather than say "Someone". */
  announceMessage(m) {
    const known = m.sender_id === this.store.me?.id || this.store.user(m.sender_id);
    const loading = known ? null : this.membersLoading.get(m.room_id);
    if (loading) loading.then(() => this.onEvent?.('message', m));
    else this.onEvent?.('message', m);
  }

  /** Loads a room's members once if a name in it is unknown (people who left stay unknown). */
  ensureUser(roomId, userId) {
    if (this.store.user(userId) || !this.store.room(roomId)) return;
    this.namesTried ??= new Set();
    if (this.namesTried.has(roomId)) return;
    this.namesTried.add(roomId);
    this.loadMembers(roomId);
  }

  loadMembers(roomId) {
    if (this.membersLoading.has(roomId)) return this.membersLoading.get(roomId);
    const p = this.api.members(roomId)
      .then((members) => this.store.setMembers(roomId, members))
      .catch(() => {})
      .finally(() => this.membersLoading.delete(roomId));
    this.membersLoading.set(roomId, p);
    return p;
  }

  async createRoom(name, topic, visibility) {
    const room = await this.api.createRoom(name, topic, visibility);
    this.store.upsertRoom(room);
    return room;
  }

  /** Joins the room of an invite code; resolves to the room. */
  async acceptInvite(code) {
    const room = await this.api.acceptInvite(code);
    this.store.upsertRoom(room);
    return room;
  }

  /** Joins a public room from the directory; resolves to the room. */
  async joinRoom(roomId) {
    const room = await this.api.joinRoom(roomId);
    this.store.upsertRoom(room);
    return room;
  }

  async openDm(userId) {
    const room = await this.api.openDm(userId);
    this.store.upsertRoom(room);
    return room;
  }

  async addMember(roomId, user) {
    await this.api.addMember(roomId, user.id);
    this.store.memberJoined(roomId, user);
  }

  async leaveRoom(roomId) {
    await this.api.removeMember(roomId, this.store.me.id);
    this.store.removeRoom(roomId);
  }

  /** Blocks (or with `on` false unblocks) a user. */
  async setBlocked(userId, on) {
    if (on) await this.api.block(userId);
    else await this.api.unblock(userId);
    const ids = new Set(this.store.state.blocked);
    if (on) ids.add(userId);
    else ids.delete(userId);
    this.store.setBlocked([...ids]);
  }

  searchUsers(q) {
    return this.api.searchUsers(q);
  }

  // ---- sending ----

  /**
   * Sends text (optionally answering `replyTo`), shown at once as pending. `attachments` are
   * uploaded file objects (`{id, name, …}`), for the attachments feature. With `threadRoot`
   * (a root message's id) the message is a reply in its thread.
   */
  send(roomId, body, replyTo, attachments = [], threadRoot = null) {
    const item = {
      client_id: newClientId(),
      room_id: roomId,
      body,
      attachments,
      reply_to: replyTo ? { id: replyTo.id, sender_id: replyTo.sender_id, body: replyTo.body } : null,
      created_at: new Date().toISOString(),
      state: 'pending',
    };
    if (threadRoot) item.thread_root = threadRoot;
    else this.store.setReply(roomId, null);
    this.enqueue(item);
  }

  /** Forwards a message to another room. */
  forward(message, targetRoomId) {
    this.enqueue({
      client_id: newClientId(),
      room_id: targetRoomId,
      body: message.body,
      forward_of: message.id,
      forwarded_from: message.forwarded_from || { message_id: message.id, room_id: message.room_id, sender_id: message.sender_id, created_at: message.created_at },
      created_at: new Date().toISOString(),
      state: 'pending',
    });
  }

  enqueue(item) {
    this.store.addPending(item);
    this.flushOutbox();
  }

  /**
   * Sends the oldest pending entry, and the next when it is acknowledged: one at a time, so
   * messages keep their order even when the server rate-limits a burst. Failed entries wait for
   * the user (retry or discard) and do not hold the others back.
   */
  flushOutbox() {
    if (!this.socket.ready || this.sending) return;
    const next = this.store.state.outbox.find((i) => i.state === 'pending');
    if (next) this.sendPending(next);
  }

  async sendPending(item) {
    this.sending = item.client_id;
    const frame = { type: 'message.send', room_id: item.room_id, client_id: item.client_id };
    if (item.forward_of) frame.forward_of = item.forward_of;
    else frame.body = item.body;
    if (item.reply_to) frame.reply_to = item.reply_to.id;
    if (item.thread_root) frame.thread_root = item.thread_root;
    if (item.attachments?.length) frame.attachments = item.attachments.map((a) => a.id);
    try {
      const ack = await this.socket.request(frame);
      this.sending = null;
      this.store.messageNew(ack.message);
      this.store.dropPending(item.client_id);
    } catch (e) {
      this.sending = null;
      if (e.code === 'disconnected') return; // sent again after the reconnection
      if (e.code === 'rate_limited') {
        setTimeout(() => this.flushOutbox(), e.retryAfterMs || 1000);
        return;
      }
      if (e.code !== 'timeout') this.store.updatePending(item.client_id, { state: 'failed', error: e.message });
    }
    this.flushOutbox();
  }

  retry(clientId) {
    this.store.updatePending(clientId, { state: 'pending', error: null });
    this.flushOutbox();
  }

  discard(clientId) {
    this.store.dropPending(clientId);
  }

  outboxKey() {
    return `confab.outbox.${this.store.me.id}`;
  }

  saveOutbox() {
    if (!this.store.me) return;
    const items = this.store.state.outbox;
    try {
      if (items.length) localStorage.setItem(this.outboxKey(), JSON.stringify(items));
      else localStorage.removeItem(this.outboxKey());
    } catch {
      // Storage full or unavailable: pending sends live in memory only.
    }
  }

  loadOutbox() {
    try {
      const items = JSON.parse(localStorage.getItem(this.outboxKey()) || '[]');
      this.store.setOutbox(Array.isArray(items) ? items : []);
    } catch {
      this.store.setOutbox([]);
    }
  }

  async edit(message, body) {
    const updated = await this.api.editMessage(message.id, body);
    this.store.messageEdited(updated);
    this.store.setEditing(null, message.room_id);
  }

  /** Adds or takes back the viewer's reaction; the store follows at once (the event echoes it). */
  async react(message, emoji, add) {
    await this.api.react(message.id, emoji, add);
    this.store.reaction(message.room_id, message.id, emoji, this.store.me.id, add);
  }

  /** Pins or unpins a message; the store follows at once (the event echoes it). */
  async pin(message, add) {
    await this.api.pin(message.room_id, message.id, add);
    this.store.pinned(message.room_id, message.id, add);
  }

  /** Sets the viewer's notification level for a room: `all`, `mentions` or `none`. */
  async setNotify(roomId, notify) {
    this.store.upsertRoom(await this.api.roomSettings(roomId, { notify }));
  }

  /** A room's pins, newest first. */
  async pins(roomId) {
    const { pins } = await this.api.pins(roomId);
    return pins;
  }

  async remove(message) {
    await this.api.deleteMessage(message.id);
    this.store.messageDeleted(message.room_id, message.id, message.seq);
  }

  // ---- files ----

  /** Starts uploading a file for a room's next message; the store follows its progress. */
  upload(roomId, file) {
    const key = newClientId();
    const item = {
      key, file, name: file.name || 'file', size: file.size, type: file.type, progress: 0, state: 'uploading', attachment: null, error: null,
    };
    const max = this.limits?.max_upload_bytes;
    if (max && file.size > max) {
      // Refused here rather than after every byte went up only to meet a 413.
      this.store.addUpload(roomId, { ...item, state: 'failed', error: tooLarge(file, max), retryable: false });
      return;
    }
    this.store.addUpload(roomId, item);
    const task = this.api.upload(file, (progress) => this.store.updateUpload(roomId, key, { progress }));
    this.uploadTasks.set(key, task);
    task.done
      .then((attachment) => this.store.updateUpload(roomId, key, { state: 'done', progress: 1, attachment }))
      .catch((e) => {
        if (e.code !== 'aborted') this.store.updateUpload(roomId, key, { state: 'failed', error: uploadError(e, file), retryable: !NOT_RETRYABLE.has(e.code) });
      })
      .finally(() => this.uploadTasks.delete(key));
  }

  /** Cancels an upload (or drops a finished one) from a room's composer. */
  removeUpload(roomId, key) {
    this.uploadTasks.get(key)?.abort();
    this.store.removeUploads(roomId, [key]);
  }

  retryUpload(roomId, key) {
    const item = this.store.uploads(roomId).find((u) => u.key === key);
    if (!item) return;
    this.store.removeUploads(roomId, [key]);
    this.upload(roomId, item.file);
  }

  // ---- ephemeral signals ----

  /** Tells the room we are typing (renewed every few seconds) or stopped. */
  typing(roomId, active) {
    const last = this.typingSent.get(roomId) || 0;
    const now = Date.now();
    if (active) {
      if (now - last < TYPING_RENEW) return;
      if (this.socket.send({ type: 'typing', room_id: roomId, active: true })) this.typingSent.set(roomId, now);
    } else if (last) {
      this.typingSent.delete(roomId);
      this.socket.send({ type: 'typing', room_id: roomId, active: false });
    }
  }

  /** We have seen the room up to `seq`. */
  markRead(roomId, seq) {
    if (!this.store.setRead(roomId, seq)) return;
    this.readSent.set(roomId, seq);
    this.socket.request({ type: 'read', room_id: roomId, seq })
      .then(() => { if (this.readSent.get(roomId) === seq) this.readSent.delete(roomId); })
      .catch(() => {});
  }

  setStatus(status) {
    this.store.setMyStatus(status);
    localStorage.setItem(`confab.status.${this.store.me.id}`, status);
    this.socket.send({ type: 'presence.set', status });
  }

  async signOut() {
    const s = this.session.get();
    this.stop();
    try {
      if (s) await this.api.logout(s.refresh_token);
    } catch (e) {
      if (!(e instanceof ApiError) && !(e instanceof SignedOut)) throw e;
    }
    this.session.clear();
  }
}

const NOT_RETRYABLE = new Set(['file_too_large', 'quota_exceeded', 'payload_too_large', 'empty_file', 'signed_out']);

/** A file over the server's upload limit, said in the limit's own unit. */
export function tooLarge(file, max) {
  return `${file.name || 'The file'} is too large (${fileSize(file.size)}): files may be at most ${fileSize(max)}.`;
}

/** Why an upload failed, in words for people. */
export function uploadError(e, file) {
  const name = file.name || 'The file';
  switch (e.code) {
    case 'file_too_large':
    case 'payload_too_large':
      return `${name} is too large: ${e.code === 'file_too_large' && e.message ? e.message : 'the server refused its size'}.`;
    case 'quota_exceeded':
      return `${name} does not fit in your storage quota. Delete messages with files to free space.`;
    case 'empty_file':
      return `${name} is empty.`;
    case 'network':
      return `${name} could not be uploaded: the connection failed.`;
    default:
      return `${name} could not be uploaded: ${e.message}.`;
  }
}

/** A fresh idempotency key (crypto.randomUUID needs a secure context; this does not). */
export function newClientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `c-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
