// Web Push opt-in, in the settings dialog (loaded with it, on first use): notifications of DMs,
// mentions and calls while no Confab tab is open.
//
// Turning it on asks the browser's permission (from the click), registers the service worker at
// /sw.js, subscribes with the server's VAPID key and sends the subscription to the server;
// turning it off tells the server and unsubscribes. The second switch, the account's (it holds
// for every browser), chooses whether pushes carry the message text (off: only the room and the
// sender's name reach the device, encrypted either way).

import { h } from '../dom.js';

/** Web Push works in this browser. */
export function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/** base64url → bytes, for `applicationServerKey`. */
function keyBytes(b64url) {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

/** This browser's subscription, if it has one. */
async function currentSubscription() {
  const reg = await navigator.serviceWorker.getRegistration('/');
  return reg ? reg.pushManager.getSubscription() : null;
}

/** Asks permission, registers the worker, subscribes, and tells the server. */
async function subscribe(api, vapidKey) {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('Notifications are blocked for this site in your browser settings');
  await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  const reg = await navigator.serviceWorker.ready;
  let sub = await reg.pushManager.getSubscription();
  if (!sub) {
    try {
      sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(vapidKey) });
    } catch (err) {
      throw new Error(`The browser could not subscribe to its push service (${err.message})`);
    }
  }
  const { endpoint, keys } = sub.toJSON();
  await api.request('POST', '/push/subscriptions', { body: { endpoint, keys } });
}

/** Tells the server and unsubscribes this browser. */
async function unsubscribe(api) {
  const sub = await currentSubscription();
  if (!sub) return;
  try {
    await api.request('DELETE', '/push/subscriptions', { body: { endpoint: sub.endpoint } });
  } catch (err) {
    if (err.code !== 'push_subscription_not_found') throw err;
  }
  await sub.unsubscribe();
}

/** A labelled switch. */
function toggle(id, label) {
  const input = h('input', { id, type: 'checkbox', role: 'switch' });
  return { input, row: h('label', { for: id, class: 'checkbox' }, input, label) };
}

/** The controls of the "Notifications" section. */
export function pushControls({ api }) {
  const error = h('p', { class: 'form-error', role: 'alert' });
  const live = h('p', { class: 'hint', 'aria-live': 'polite' });
  if (!pushSupported()) {
    return [h('p', { class: 'hint', text: 'This browser cannot show notifications while Confab is closed.' })];
  }
  const on = toggle('settings-push', 'Notify me of DMs, mentions and calls while Confab is closed');
  const text = toggle('settings-push-text', 'Include message text in these notifications');
  let settings = null;
  const busy = (fn) => async () => {
    error.textContent = '';
    live.textContent = '';
    on.input.disabled = text.input.disabled = true;
    try {
      live.textContent = await fn();
    } catch (err) {
      error.textContent = err.message;
    } finally {
      on.input.disabled = text.input.disabled = false;
    }
  };
  on.input.addEventListener('change', busy(async () => {
    if (on.input.checked) {
      try {
        await subscribe(api, settings.vapid_public_key);
      } catch (err) {
        on.input.checked = false;
        throw err;
      }
      return 'Notifications are on in this browser';
    }
    await unsubscribe(api);
    return 'Notifications are off in this browser';
  }));
  text.input.addEventListener('change', busy(async () => {
    try {
      settings = await api.request('PATCH', '/push', { body: { include_text: text.input.checked } });
    } catch (err) {
      text.input.checked = !text.input.checked;
      throw err;
    }
    return settings.include_text ? 'Notifications include the message text' : 'Notifications show only the room and the sender';
  }));
  on.input.disabled = text.input.disabled = true;
  (async () => {
    try {
      settings = await api.request('GET', '/push');
      const sub = Notification.permission === 'granted' ? await currentSubscription() : null;
      on.input.checked = Boolean(sub && settings.subscriptions.some((s) => s.endpoint === sub.endpoint));
      text.input.checked = settings.include_text;
      on.input.disabled = text.input.disabled = false;
    } catch (err) {
      error.textContent = err.message;
    }
  })();
  return [on.row, text.row, error, live];
}
