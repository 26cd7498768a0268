// The HTTP API under /api/v1: one function per call, JSON in and out.
//
// Every authenticated call carries a fresh access token from the session; a 401 for an expired
// or invalid token triggers one refresh and one retry. Failures throw `ApiError` with the
// server's `code` and `message` (status 0 and code `network` when the server could not be reached).

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

  async request(method, path, { body, auth = true, retried = false } = {}) {
    const headers = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    let token;
    if (auth) {
      try {
        token = await this.session.accessToken();
      } catch (e) {
        if (e instanceof SignedOut) throw new ApiError(401, 'signed_out', e.message);
        throw new ApiError(0, 'network', 'cannot reach the server');
      }
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
    if (auth && !retried && res.status === 401 && (code === 'token_expired' || code === 'invalid_token')) {
      try {
        await this.session.refresh(token);
      } catch (e) {
        if (e instanceof SignedOut) throw new ApiError(401, 'signed_out', e.message);
        throw new ApiError(0, 'network', 'cannot reach the server');
      }
      return this.request(method, path, { body, auth, retried: true });
    }
    throw new ApiError(res.status, code, err.message || res.statusText || 'request failed', {
      retryAfterMs: err.retry_after_ms,
    });
  }

  // Accounts
  register(username, password, displayName) {
    const body = { username, password };
    if (displayName) body.display_name = displayName;
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
  searchUsers(q) {
    return this.request('GET', `/users?q=${encodeURIComponent(q)}`).then((r) => r.users);
  }

  // Rooms
  rooms() {
    return this.request('GET', '/rooms').then((r) => r.rooms);
  }
  room(id) {
    return this.request('GET', `/rooms/${enc(id)}`);
  }
  createRoom(name, topic) {
    return this.request('POST', '/rooms', { body: topic ? { name, topic } : { name } });
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
  history(roomId, { before, after, limit = 50 } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before != null) q.set('before', String(before));
    if (after != null) q.set('after', String(after));
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

  /** The bytes of an attachment (files need the Authorization header, so no plain links). */
  async fileBlob(url) {
    const token = await this.session.accessToken();
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, 'download failed');
    return res.blob();
  }
}

function enc(s) {
  return encodeURIComponent(s);
}
