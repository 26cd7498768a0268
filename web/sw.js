// Confab's service worker: shows Web Push notifications while no Confab tab is open.
//
// Served at /sw.js (not under the versioned path) so its scope is the whole app. It caches
// nothing: it only turns a push (JSON from the server, see docs/protocol.md "Web Push") into a
// notification naming the room and the sender, with the text only if the user chose to include
// it, and opens the message's permalink when the notification is clicked. Notifications show
// text only (never markup).

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

/** Title, options and the URL to open for one push payload. */
function describe(push) {
  const room = push.room_kind === 'dm' ? push.sender : `#${push.room_name}`;
  if (push.type === 'ring') {
    return {
      title: `${push.sender} is calling`,
      options: { body: 'Incoming call', tag: `ring-${push.room_id}`, requireInteraction: true },
      url: `/r/${push.room_id}`,
    };
  }
  const title = push.room_kind === 'dm' ? push.sender : `${push.sender} in ${room}`;
  return {
    title,
    options: { body: push.body || 'New message', tag: push.room_id },
    url: `/#/room/${push.room_id}/${push.seq}`,
  };
}

self.addEventListener('push', (event) => {
  let push;
  try {
    push = event.data.json();
  } catch {
    return;
  }
  if (!push || typeof push.room_id !== 'string') return;
  const { title, options, url } = describe(push);
  event.waitUntil(self.registration.showNotification(title, { ...options, data: { url } }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL(event.notification.data?.url || '/', self.location.origin).href;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const w of windows) {
      try {
        await w.focus();
        await w.navigate(url);
        return;
      } catch {
        // Not ours to steer (uncontrolled): open a new one below.
      }
    }
    await self.clients.openWindow(url);
  })());
});
