// What a page's HTTP traffic cost on the wire, from Chromium's own network log (the DevTools
// protocol): per request its URL, status, encoding, whether a cache answered it, and the bytes
// that crossed the network (headers and body as sent, compressed). WebSocket frames are not
// HTTP requests and are not counted.

/** Starts recording a page's requests; `stop()` returns them. */
export async function recordWire(page) {
  const cdp = await page.context().newCDPSession(page);
  const requests = new Map();
  const entry = (id) => {
    if (!requests.has(id)) requests.set(id, { url: '', status: 0, encoding: null, cached: false, bytes: 0, done: false });
    return requests.get(id);
  };
  cdp.on('Network.requestWillBeSent', (e) => { entry(e.requestId).url = e.request.url; });
  cdp.on('Network.requestServedFromCache', (e) => { entry(e.requestId).cached = true; });
  cdp.on('Network.responseReceived', (e) => {
    const r = entry(e.requestId);
    r.status = e.response.status;
    r.cached ||= !!e.response.fromDiskCache || !!e.response.fromPrefetchCache;
    const headers = Object.fromEntries(Object.entries(e.response.headers || {}).map(([k, v]) => [k.toLowerCase(), v]));
    r.encoding = headers['content-encoding'] || null;
  });
  cdp.on('Network.loadingFinished', (e) => {
    const r = entry(e.requestId);
    r.bytes = e.encodedDataLength;
    r.done = true;
  });
  await cdp.send('Network.enable');
  // The cache stays on: a warm load is measured through it.
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
  return {
    async stop() {
      await cdp.detach();
      return [...requests.values()].filter((r) => r.url.startsWith('http'));
    },
  };
}

/** The requests that reached the network (a cache did not answer them). */
export function fromNetwork(requests) {
  return requests.filter((r) => !r.cached);
}

/** Bytes on the wire over requests. */
export function wireBytes(requests) {
  return fromNetwork(requests).reduce((n, r) => n + r.bytes, 0);
}

/** Whether a URL is one of the client's static files (not the API, not the page itself). */
export function isStatic(url) {
  const { pathname } = new URL(url);
  return !pathname.startsWith('/api/') && /\.[a-z0-9]+$/i.test(pathname);
}
