// The signed-in session: tokens in localStorage, shared by every tab of this origin.
//
// The refresh token rotates on each use and reusing an old one revokes the whole login, so a
// refresh must happen once, not once per tab: it runs under a Web Lock (`confab-refresh`) and
// re-reads storage inside the lock, so a tab that waited finds the tokens another tab already
// got. Without Web Locks (insecure contexts) refreshes are still single-flight within the tab.
// Other tabs learn about new tokens and sign-outs through the `storage` event.
//
// Inside the lock, localStorage may not yet show what the tab before wrote: browsers pass
// localStorage writes between tabs' processes asynchronously, and under load the next holder can
// read the spent token and revoke the login with it. IndexedDB is ordered across tabs, so the tab
// that refreshes also records `{spent, session}` there and waits for it to commit before it lets
// the lock go; the next holder reads that record first.

const KEY = 'confab.session';
const LOCK = 'confab-refresh';
const HANDOFF_DB = 'confab-session';
const HANDOFF_STORE = 'handoff';

/** Why a session ended: the tokens were refused, sign in again. */
export class SignedOut extends Error {
  constructor(message = 'signed out') {
    super(message);
    this.name = 'SignedOut';
  }
}

export class Session {
  constructor(storage = window.localStorage) {
    this.storage = storage;
    this.listeners = new Set();
    this.inflight = null;
    this.timer = null;
    window.addEventListener('storage', (e) => {
      if (e.key === KEY) {
        this.schedule();
        this.notify('external');
      }
    });
  }

  /** The stored session, or null: `{user, access_token, refresh_token, expires_at, ttl_ms}`. */
  get() {
    try {
      const raw = this.storage.getItem(KEY);
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  }

  get user() {
    return this.get()?.user || null;
  }

  /** Stores an answer of register, login or refresh. */
  save(tokens) {
    const ttl = tokens.expires_in * 1000;
    this.put({
      user: tokens.user,
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token,
      expires_at: Date.now() + ttl,
      ttl_ms: ttl,
    });
  }

  put(session) {
    this.storage.setItem(KEY, JSON.stringify(session));
    this.schedule();
    this.notify('tokens');
  }

  /** Forgets the tokens (here and, through storage, in every tab). */
  clear() {
    this.storage.removeItem(KEY);
    handoff('delete').catch(() => {});
    clearTimeout(this.timer);
    this.notify('cleared');
  }

  /** Calls `fn(reason)` whenever the session changes, here or in another tab. */
  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  notify(reason) {
    for (const fn of this.listeners) fn(reason);
  }

  /** How long before expiry a token is refreshed: a fifth of its life, at most a minute. */
  margin(s) {
    return Math.min(60_000, Math.max(2_000, (s.ttl_ms || 900_000) * 0.2));
  }

  /** A usable access token, refreshing first if the stored one is about to expire. */
  async accessToken() {
    const s = this.get();
    if (!s) throw new SignedOut();
    if (s.expires_at - Date.now() > this.margin(s) / 2) return s.access_token;
    return (await this.refresh(s.access_token)).access_token;
  }

  /**
   * Gets new tokens, once for all tabs. `staleAccess` is the access token the caller found
   * wanting; if storage already holds a different, fresh one, that is the answer.
   */
  refresh(staleAccess) {
    if (!this.inflight) {
      this.inflight = withLock(LOCK, () => this.refreshLocked(staleAccess))
        .finally(() => { this.inflight = null; });
    }
    return this.inflight;
  }

  async refreshLocked(staleAccess) {
    let s = this.get();
    if (!s) throw new SignedOut();
    const handed = await handoff('get').catch(() => null);
    if (handed?.spent === s.refresh_token) {
      // The tab before us spent this token; its localStorage write has not reached us yet.
      this.put(handed.session);
      s = handed.session;
    }
    const fresh = s.expires_at - Date.now() > this.margin(s);
    if (fresh && s.access_token !== staleAccess) return s;
    let res;
    try {
      res = await fetch('/api/v1/auth/refresh', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: s.refresh_token }),
      });
    } catch {
      throw new Error('network');
    }
    if (res.status === 401 || res.status === 400) {
      // Only forget the session if nobody replaced it meanwhile.
      if (this.get()?.refresh_token === s.refresh_token) this.clear();
      throw new SignedOut('your session ended; sign in again');
    }
    if (!res.ok) throw new Error(`refresh failed (${res.status})`);
    this.save(await res.json());
    await handoff('put', { spent: s.refresh_token, session: this.get() }).catch(() => {});
    return this.get();
  }

  /** Refreshes ahead of expiry so requests and the socket never carry an expired token. */
  schedule() {
    clearTimeout(this.timer);
    const s = this.get();
    if (!s) return;
    const due = Math.max(0, s.expires_at - this.margin(s) - Date.now());
    this.timer = setTimeout(() => {
      this.refresh(s.access_token).catch(() => {
        // Offline or the server is down: try again soon; a SignedOut already cleared the session.
        if (this.get()) this.timer = setTimeout(() => this.schedule(), 5_000);
      });
    }, Math.min(due, 2 ** 31 - 1));
  }
}

/** One operation on the hand-off record (`get`, `put` or `delete`), resolved once committed. */
function handoff(op, value) {
  if (!globalThis.indexedDB) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(HANDOFF_DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(HANDOFF_STORE);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction(HANDOFF_STORE, op === 'get' ? 'readonly' : 'readwrite');
      const store = tx.objectStore(HANDOFF_STORE);
      const req = op === 'get' ? store.get('last') : op === 'put' ? store.put(value, 'last') : store.delete('last');
      tx.oncomplete = () => { db.close(); resolve(op === 'get' ? req.result ?? null : null); };
      tx.onerror = () => { db.close(); reject(tx.error); };
      tx.onabort = () => { db.close(); reject(tx.error); };
    };
  });
}

function withLock(name, fn) {
  if (navigator.locks?.request) return navigator.locks.request(name, fn);
  return fn();
}
