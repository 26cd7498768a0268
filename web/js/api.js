// The HTTP API under /api/v1: one function per call, JSON in and out.
//
// Every authenticated call carries a fresh access token from the session; a 401 for an expired
// or invalid token triggers one refresh and one retry. Failures throw `ApiError` with the
// server's `code` and `message` (status 0 and code `network` when the server could not be reached).
// Files go up with XMLHttpRequest, the one browser API that reports upload progress, and come
// down as blobs (they need the Authorization header, which <img src> cannot send).

import { SignedOut } from './session.js';

const BASE = '/api/v1';

/** A failed call: `status`, stable `code`, human `message`. */
export class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    Object.assign(this, extra);
  }
}

export class Api {
  constructor(session) {
    this.session = session;
  }

  /** A fresh access token, as an ApiError when there is none to be had. */
  async token() {
    try {
      return await this.session.accessToken();
    } catch (e) {
      if (e instanceof SignedOut) throw new ApiError(401, 'signed_out', e.message);
      throw new ApiError(0, 'network', 'cannot reach the server');
    }
  }

  /** After a 401 with `token`: refreshes once; false when that answer was not about the token. */
  async refreshAfter(status, code, token) {
    if (status !== 401 || (code !== 'token_expired' && code !== 'invalid_token')) return false;
    try {
      await this.session.refresh(token);
    } catch (e) {
      if (e instanceof SignedOut) throw new ApiError(401, 'signed_out', e.message);
      throw new ApiError(0, 'network', 'cannot reach the server');
    }
    return true;
  }

  async request(method, path, { body, auth = true, retried = false } = {}) {
    const headers = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    let token;
    if (auth) {
      token = await this.token();
      headers.authorization = `Bearer ${token}`;
    }
    let res;
    try {
      res = await fetch(BASE + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, 'network', 'cannot reach the server');
    }
    if (res.status === 204) return null;
    const data = await res.json().catch(() => null);
    if (res.ok) return data;
    const err = data?.error || {};
    const code = err.code || `http_${res.status}`;
    if (auth && !retried && await this.refreshAfter(res.status, code, token)) {
      return this.request(method, path, { body, auth, retried: true });
    }
    throw new ApiError(res.status, code, err.message || res.statusText || 'request failed', {
      retryAfterMs: err.retry_after_ms,
    });
  }

  /** The server's limits (`{max_upload_bytes, max_message_chars, …}`); needs no sign-in. */
  config() {
    return this.request('GET', '/config', { auth: false });
  }

  // Accounts
  register(username, password, displayName, inviteCode) {
    const body = { username, password };
    if (displayName) body.display_name = displayName;
    if (inviteCode) body.invite_code = inviteCode;
    return this.request('POST', '/auth/register', { body, auth: false });
  }
  login(username, password) {
    return this.request('POST', '/auth/login', { body: { username, password }, auth: false });
  }
  logout(refreshToken) {
    return this.request('POST', '/auth/logout', { body: { refresh_token: refreshToken }, auth: false });
  }
  me() {
    return this.request('GET', '/me');
  }
  updateMe(change) {
    return this.request('PATCH', '/me', { body: change });
  }
  changePassword(currentPassword, newPassword) {
    return this.request('POST', '/me/password', { body: { current_password: currentPassword, new_password: newPassword } });
  }
  sessions() {
    return this.request('GET', '/me/sessions').then((r) => r.sessions);
  }
  signOutSession(id) {
    return this.request('DELETE', `/me/sessions/${enc(id)}`);
  }
  deleteMe(password) {
    return this.request('DELETE', '/me', { body: { password } });
  }
  blocks() {
    return this.request('GET', '/me/blocks').then((r) => r.user_ids);
  }
  block(userId) {
    return this.request('PUT', `/me/blocks/${enc(userId)}`);
  }
  unblock(userId) {
    return this.request('DELETE', `/me/blocks/${enc(userId)}`);
  }
  searchUsers(q) {
    return this.request('GET', `/users?q=${encodeURIComponent(q)}`).then((r) => r.users);
  }
  /** Message search: `params` are the query's fields (q, room_id, from, has, limit, cursor…). */
  search(params) {
    return this.request('GET', `/search?${new URLSearchParams(params)}`);
  }

  // Rooms
  rooms() {
    return this.request('GET', '/rooms').then((r) => r.rooms);
  }
  room(id) {
    return this.request('GET', `/rooms/${enc(id)}`);
  }
  createRoom(name, topic, visibility) {
    const body = { name };
    if (topic) body.topic = topic;
    if (visibility) body.visibility = visibility;
    return this.request('POST', '/rooms', { body });
  }

  // Invites and the directory
  /** What an invite leads to; needs no sign-in. */
  invitePreview(code) {
    return this.request('GET', `/invites/${enc(code)}`, { auth: false });
  }
  acceptInvite(code) {
    return this.request('POST', `/invites/${enc(code)}/accept`);
  }
  createInvite(roomId, { maxUses, expiresInSecs } = {}) {
    const body = {};
    if (maxUses) body.max_uses = maxUses;
    if (expiresInSecs) body.expires_in_secs = expiresInSecs;
    return this.request('POST', `/rooms/${enc(roomId)}/invites`, { body });
  }
  invites(roomId) {
    return this.request('GET', `/rooms/${enc(roomId)}/invites`).then((r) => r.invites);
  }
  revokeInvite(code) {
    return this.request('DELETE', `/invites/${enc(code)}`);
  }
  // Moderation
  banMember(roomId, userId, reason) {
    return this.request('PUT', `/rooms/${enc(roomId)}/bans/${enc(userId)}`, { body: reason ? { reason } : {} });
  }
  /** Times a member out until `until` (a Date), or lifts it with null. */
  timeoutMember(roomId, userId, until) {
    return this.request('PATCH', `/rooms/${enc(roomId)}/members/${enc(userId)}`, { body: { timeout_until: until ? until.toISOString() : null } });
  }
    publicRooms(q) {
    return this.request('GET', `/rooms/public?q=${encodeURIComponent(q)}`).then((r) => r.rooms);
  }
  joinRoom(roomId) {
    return this.request('POST', `/rooms/${enc(roomId)}/join`);
  }
  openDm(userId) {
    return this.request('POST', '/dms', { body: { user_id: userId } });
  }
  members(roomId) {
    return this.request('GET', `/rooms/${enc(roomId)}/members`).then((r) => r.members);
  }
  addMember(roomId, userId) {
    return this.request('POST', `/rooms/${enc(roomId)}/members`, { body: { user_id: userId } });
  }
  removeMember(roomId, userId) {
    return this.request('DELETE', `/rooms/${enc(roomId)}/members/${enc(userId)}`);
  }
  markRead(roomId, seq) {
    return this.request('POST', `/rooms/${enc(roomId)}/read`, { body: { seq } });
  }

  // Messages
  history(roomId, { before, after, around, limit = 50 } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before != null) q.set('before', String(before));
    if (after != null) q.set('after', String(after));
    if (around != null) q.set('around', String(around));
    return this.request('GET', `/rooms/${enc(roomId)}/messages?${q}`);
  }
  sendMessage(roomId, fields) {
    return this.request('POST', `/rooms/${enc(roomId)}/messages`, { body: fields });
  }
  editMessage(id, body) {
    return this.request('PATCH', `/messages/${enc(id)}`, { body: { body } });
  }
  deleteMessage(id) {
    return this.request('DELETE', `/messages/${enc(id)}`);
  }
  /** A thread's root and replies above `after`: `{root, messages, has_more}`. */
  thread(rootId, { after, limit = 50 } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (after != null) q.set('after', String(after));
    return this.request('GET', `/messages/${enc(rootId)}/thread?${q}`);
  }
  /** Follows (`on`) or unfollows a thread. */
  followThread(rootId, on) {
    return this.request(on ? 'PUT' : 'DELETE', `/messages/${enc(rootId)}/thread/follow`);
  }
  /** Marks a thread read up to `seq`. */
  readThread(rootId, seq) {
    return this.request('POST', `/messages/${enc(rootId)}/thread/read`, { body: { seq } });
  }
  /** The threads the viewer follows in a room: `{threads: [{root, unread, last_read_seq}]}`. */
  threads(roomId) {
    return this.request('GET', `/threads?room_id=${enc(roomId)}`);
  }
  /** The viewer's own settings for a room (`{notify}`); answers the room. */
  roomSettings(roomId, settings) {
    return this.request('PATCH', `/rooms/${enc(roomId)}/settings`, { body: settings });
  }
  /** A room's pins, newest first: `{pins: [{message, pinned_by, pinned_at}]}`. */
  pins(roomId) {
    return this.request('GET', `/rooms/${enc(roomId)}/pins`);
  }
  /** Pins a message of the room (`add`), or unpins it. */
  pin(roomId, messageId, add) {
    return this.request(add ? 'PUT' : 'DELETE', `/rooms/${enc(roomId)}/pins/${enc(messageId)}`);
  }
  /** The server's custom emoji: `{emoji: [{name, url, created_by, created_at}]}`. */
  customEmoji() {
    return this.request('GET', '/emoji');
  }
  /** A server admin makes the uploaded image `fileId` the emoji `:name:`. */
  addCustomEmoji(name, fileId) {
    return this.request('POST', '/emoji', { body: { name, file_id: fileId } });
  }
  /** A server admin deletes the emoji `:name:`. */
  deleteCustomEmoji(name) {
    return this.request('DELETE', `/emoji/${enc(name)}`);
  }
  /** Reacts to a message with `emoji` (`add`), or takes the reaction back. */
  react(id, emoji, add) {
    return this.request(add ? 'PUT' : 'DELETE', `/messages/${enc(id)}/reactions/${enc(emoji)}`);
  }

  /**
   * Uploads a file (`POST /files`, multipart field `file`). `onProgress(fraction)` follows the
   * bytes going up. Returns `{done, abort}`: `done` resolves to the attachment object or rejects
   * with an ApiError (code `aborted` after `abort()`).
   */
  upload(file, onProgress = () => {}) {
    let xhr = null;
    let aborted = false;
    const attempt = (token) => new Promise((resolve, reject) => {
      xhr = new XMLHttpRequest();
      xhr.open('POST', `${BASE}/files`);
      xhr.setRequestHeader('authorization', `Bearer ${token}`);
      xhr.upload.addEventListener('progress', (e) => {
        if (e.lengthComputable && e.total) onProgress(Math.min(1, e.loaded / e.total));
      });
      xhr.addEventListener('load', () => {
        let data = null;
        try {
          data = JSON.parse(xhr.responseText);
        } catch {
          // Not JSON: judged by the status alone.
        }
        resolve({ status: xhr.status, data });
      });
      xhr.addEventListener('error', () => reject(new ApiError(0, 'network', 'the connection failed')));
      xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'upload cancelled')));
      const form = new FormData();
      form.append('file', file, file.name || 'file');
      xhr.send(form);
    });
    const done = (async () => {
      for (let retried = false; ; retried = true) {
        const token = await this.token();
        if (aborted) throw new ApiError(0, 'aborted', 'upload cancelled');
        const { status, data } = await attempt(token);
        if (status >= 200 && status < 300 && data) return data;
        const err = data?.error || {};
        const code = err.code || `http_${status}`;
        if (!retried && await this.refreshAfter(status, code, token)) continue;
        throw new ApiError(status, code, err.message || 'upload failed');
      }
    })();
    return {
      done,
      abort: () => {
        aborted = true;
        xhr?.abort();
      },
    };
  }

  /** The bytes of a file or thumbnail URL (files need the Authorization header, so no plain links). */
  async fileBlob(url, retried = false) {
    const token = await this.token();
    let res;
    try {
      res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    } catch {
      throw new ApiError(0, 'network', 'cannot reach the server');
    }
    if (res.ok) return res.blob();
    const err = (await res.json().catch(() => null))?.error || {};
    const code = err.code || `http_${res.status}`;
    if (!retried && await this.refreshAfter(res.status, code, token)) return this.fileBlob(url, true);
    throw new ApiError(res.status, code, err.message || 'download failed');
  }
}

function enc(s) {
  return encodeURIComponent(s);
}
