// A small HTTP client of the Confab API, for seeding data and checking the server's view
// directly (e.g. that a message was stored exactly once).

export class ApiClient {
  constructor(baseUrl, token = null) {
    this.baseUrl = baseUrl;
    this.token = token;
  }

  async call(method, path, body) {
    const headers = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const res = await fetch(`${this.baseUrl}/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return data;
  }

  /** Registers a user and returns a client signed in as them (`.user` is the user). */
  static async register(baseUrl, username, displayName, password = 'correct horse battery') {
    const anon = new ApiClient(baseUrl);
    const t = await anon.call('POST', '/auth/register', { username, password, display_name: displayName });
    const client = new ApiClient(baseUrl, t.access_token);
    client.user = t.user;
    return client;
  }

  static async login(baseUrl, username, password = 'correct horse battery') {
    const anon = new ApiClient(baseUrl);
    const t = await anon.call('POST', '/auth/login', { username, password });
    const client = new ApiClient(baseUrl, t.access_token);
    client.user = t.user;
    return client;
  }

  createRoom(name, topic) {
    return this.call('POST', '/rooms', { name, topic });
  }

  addMember(roomId, userId) {
    return this.call('POST', `/rooms/${roomId}/members`, { user_id: userId });
  }

  send(roomId, body, extra = {}) {
    return this.call('POST', `/rooms/${roomId}/messages`, { body, ...extra });
  }

  /** Uploads a file (multipart field `file`) and returns the attachment object. */
  async upload(name, type, bytes) {
    const form = new FormData();
    form.append('file', new Blob([bytes], { type }), name);
    const res = await fetch(`${this.baseUrl}/api/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}` },
      body: form,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`POST /files: ${res.status} ${text}`);
    return JSON.parse(text);
  }

  rooms() {
    return this.call('GET', '/rooms').then((r) => r.rooms);
  }

  /** Every message of a room, oldest first. */
  async allMessages(roomId) {
    const out = [];
    let after = 0;
    for (;;) {
      const page = await this.call('GET', `/rooms/${roomId}/messages?after=${after}&limit=100`);
      out.push(...page.messages);
      if (!page.has_more || !page.messages.length) return out;
      after = page.messages[page.messages.length - 1].seq;
    }
  }
}
