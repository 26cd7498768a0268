// The WebSocket session: connect, authenticate with resume, request/ack, reconnect.
//
// One connection at a time. After `open` the first frame is `auth` with, per known room, the
// newest seq this client has (`resume`), so the server replays exactly what was missed. Drops are
// retried with exponential backoff and jitter (0.5–1 s, 1–2 s, … up to 15–30 s), at once when the
// browser comes back online or the tab becomes visible. Close 4001 means the token was refused:
// refresh it, then reconnect (unless the reason is "signed out": the login was revoked, and the
// session ends). A fresh token from the session is re-sent as `auth` on the open
// socket before the old one expires.
//
// A connection that is gone is noticed at once when the browser says it went offline, and
// otherwise by its silence: the server pings every 30 s (and the client pings when the socket has
// been quiet for a while, since browsers hide WebSocket pings from scripts), so a socket that has
// heard nothing for SILENCE_LIMIT is given up on and the reconnection starts.
//
// Frames are handed on in arrival order, a batch at a time (`onFrames`), so a replay of a hundred
// messages causes one render, not a hundred.

import { SignedOut } from './session.js';

const BASE_DELAY = 1000;
const MAX_DELAY = 30_000;
/** A socket that heard nothing (frame, ack or pong) for this long is dead. */
const SILENCE_LIMIT = 35_000;
/** A quiet socket is pinged after this long, so a live one always has something to hear. */
const PING_WHEN_QUIET = 15_000;
/** How often the silence is measured. */
const SILENCE_CHECK = 2_500;
const REQUEST_TIMEOUT = 15_000;

/** A request that failed: the server's error frame, or `disconnected`/`timeout`. */
export class SocketError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'SocketError';
    this.code = code;
    Object.assign(this, extra);
  }
}

export class Socket {
  /**
   * `session`: tokens. `resume()`: `{room_id: last_seq}`. `onFrames(frames)`: server events.
   * `onReady(ack)`: authenticated (after each (re)connect). `onStatus(status)`: connection state.
   * `onSignedOut()`: the tokens were refused for good.
   */
  constructor({ session, resume, onFrames, onReady, onStatus, onSignedOut }) {
    Object.assign(this, { session, resume, onFrames, onReady, onStatus, onSignedOut });
    this.ws = null;
    this.ready = false;
    this.stopped = true;
    this.attempt = 0;
    this.unauthorizedInARow = 0;
    this.nextId = 0;
    this.pending = new Map();
    this.queue = [];
    this.drainTimer = null;
    this.retryTimer = null;
    this.pingTimer = null;
    this.status = { state: 'connecting' };
    this.everReady = false;
    this.onOnline = () => this.reconnectNow();
    this.onOffline = () => this.giveUp('offline');
    this.onVisible = () => { if (document.visibilityState === 'visible' && !this.ws) this.reconnectNow(); };
  }

  /** Starts connecting; keeps the session up until `stop()`. */
  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    document.addEventListener('visibilitychange', this.onVisible);
    this.connect();
  }

  /** Closes for good (sign out). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    document.removeEventListener('visibilitychange', this.onVisible);
    const ws = this.ws;
    this.detach(ws);
    if (ws) ws.close(1000, 'bye');
  }

  /** Retries now instead of waiting out the backoff. */
  reconnectNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  setStatus(status) {
    this.status = status;
    this.onStatus?.(status);
  }

  async connect() {
    if (this.stopped || this.ws) return;
    this.setStatus({ state: this.everReady ? 'reconnecting' : 'connecting', attempt: this.attempt });
    let token;
    try {
      token = await this.session.accessToken();
    } catch (e) {
      if (e instanceof SignedOut) return this.signedOut();
      return this.retryLater();
    }
    if (this.stopped || this.ws) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/ws`);
    this.ws = ws;
    this.token = token;
    this.authId = null;
    ws.onopen = () => {
      // A server shutting down may close right after accepting: by the time this runs the socket
      // can be closing already, and there is nothing to say on it.
      if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
      this.authId = `auth-${++this.nextId}`;
      ws.send(JSON.stringify({ type: 'auth', id: this.authId, token, resume: this.resume(), accepts: ['presence.batch'] }));
    };
    ws.onmessage = (e) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      let frame;
      try {
        frame = JSON.parse(e.data);
      } catch {
        return;
      }
      this.queue.push(frame);
      if (!this.drainTimer) this.drainTimer = setTimeout(() => this.drain(), 0);
    };
    ws.onclose = (e) => this.closed(ws, e.code, e.reason);
    ws.onerror = () => {};
  }

  /** Handles queued frames in order: acks settle requests, events go to `onFrames`. */
  drain() {
    clearTimeout(this.drainTimer);
    this.drainTimer = null;
    const frames = this.queue;
    this.queue = [];
    let events = [];
    const flush = () => {
      if (events.length) this.onFrames(events);
      events = [];
    };
    for (const frame of frames) {
      if ((frame.type === 'ack' || frame.type === 'error') && frame.id != null) {
        if (frame.id === this.authId && !this.ready) {
          if (frame.type === 'ack') {
            flush();
            this.authenticated(frame);
          }
          continue;
        }
        const req = this.pending.get(frame.id);
        if (req) {
          flush();
          this.pending.delete(frame.id);
          clearTimeout(req.timer);
          if (frame.type === 'ack') req.resolve(frame);
          else req.reject(new SocketError(frame.code, frame.message, { retryAfterMs: frame.retry_after_ms }));
        }
        continue;
      }
      events.push(frame);
    }
    flush();
  }

  authenticated(ack) {
    this.ready = true;
    this.everReady = true;
    this.attempt = 0;
    this.unauthorizedInARow = 0;
    this.setStatus({ state: 'online' });
    clearInterval(this.pingTimer);
    this.lastHeard = Date.now();
    this.pinging = false;
    this.pingTimer = setInterval(() => this.heartbeat(), SILENCE_CHECK);
    this.onReady?.(ack);
  }

  /** Measures the socket's silence: pings a quiet one, gives up on a silent one. */
  heartbeat() {
    const quiet = Date.now() - this.lastHeard;
    if (quiet >= SILENCE_LIMIT) {
      this.giveUp('silent');
    } else if (quiet >= PING_WHEN_QUIET && !this.pinging) {
      this.pinging = true;
      this.request({ type: 'ping' }, { timeout: SILENCE_LIMIT })
        .catch(() => {})
        .finally(() => { this.pinging = false; });
    }
  }

  /**
   * The connection is gone (the browser went offline, or it fell silent): drop it without
   * waiting for a closing handshake that cannot come, and start reconnecting.
   */
  giveUp(reason) {
    const ws = this.ws;
    if (!ws) return;
    this.closed(ws, 4000, reason);
    ws.onclose = null;
    ws.close();
  }

  detach(ws) {
    if (!ws || ws !== this.ws) return false;
    this.drain();
    this.ws = null;
    this.ready = false;
    clearInterval(this.pingTimer);
    for (const [id, req] of this.pending) {
      clearTimeout(req.timer);
      req.reject(new SocketError('disconnected', 'the connection closed'));
      this.pending.delete(id);
    }
    return true;
  }

  async closed(ws, code, reason) {
    if (!this.detach(ws) || this.stopped) return;
    if (code === 4001 && reason === 'signed out') return this.revoked();
    if (code === 4003) return this.revoked('suspended');
    if (code === 4001) {
      this.unauthorizedInARow += 1;
      try {
        await this.session.refresh(this.token);
      } catch (e) {
        if (e instanceof SignedOut) return this.signedOut();
      }
      if (this.unauthorizedInARow <= 2) {
        this.setStatus({ state: 'reconnecting', attempt: this.attempt, code, reason });
        return this.connect();
      }
    }
    this.retryLater(code, reason);
  }

  retryLater(code, reason) {
    if (this.stopped) return;
    const cap = Math.min(MAX_DELAY, BASE_DELAY * 2 ** this.attempt);
    const delay = Math.round(cap / 2 + Math.random() * (cap / 2));
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.setStatus({ state: 'offline', retryAt: Date.now() + delay, attempt: this.attempt, code, reason });
  }

  signedOut() {
    this.stop();
    this.onSignedOut?.();
  }

  /**
   * The server signed this login out (another tab signed out, or the password was reset): no
   * refresh can help. Another tab may be clearing the shared session this very moment; if so,
   * its change tells the app what happened, else the session ends here.
   */
  async revoked(why) {
    this.stop();
    if (this.session.get()) {
      await new Promise((resolve) => {
        const timer = setTimeout(done, 1000);
        const off = this.session.onChange(() => { if (!this.session.get()) done(); });
        function done() { clearTimeout(timer); off(); resolve(); }
      });
    }
    if (!this.session.get() && !why) return;
    this.session.clear();
    this.onSignedOut?.(why);
  }

  /** Authenticated and open: a closing socket (its close frame in, `onclose` not yet run) is not. */
  isOpen() {
    return this.ready && !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a request and resolves with its ack (rejects with SocketError). */
  request(frame, { timeout = REQUEST_TIMEOUT } = {}) {
    if (!this.isOpen()) {
      return Promise.reject(new SocketError('disconnected', 'not connected'));
    }
    const id = String(++this.nextId);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SocketError('timeout', 'the server did not answer'));
      }, timeout);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  /** Sends a frame that needs no answer; false if not connected. */
  send(frame) {
    if (!this.isOpen()) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Extends the open session with a fresh token (before the old one expires). */
  async reauth() {
    if (!this.ready) return;
    const ws = this.ws;
    try {
      const token = await this.session.accessToken();
      if (token === this.token || ws !== this.ws) return;
      await this.request({ type: 'auth', token });
      this.token = token;
    } catch (e) {
      if (e instanceof SignedOut) this.signedOut();
      // Otherwise the server closes with 4001 at expiry and the reconnect path refreshes.
    }
  }
}
