// Attention: the tab title's unread count and optional desktop notifications.
//
// Desktop notifications are for DMs and mentions of you (as the server found them: `@you` of a
// member, `@room` from an owner or admin), never in a room set to "nothing", only while you are not looking at that
// room, never while your status is "do not disturb", and only if you turned them on: the
// permission is asked from a button press (browsers refuse it otherwise).

import { attachmentsSummary, preview } from './format.js';

const PREF = 'confab.notifications';

export function notificationsSupported() {
  return 'Notification' in window;
}

/** On: supported, permitted, and chosen. */
export function notificationsEnabled() {
  return notificationsSupported() && Notification.permission === 'granted' && localStorage.getItem(PREF) === 'on';
}

/** Turns notifications on (asking permission; call from a click) or off. Resolves to the new state. */
export async function setNotifications(on) {
  if (!on) {
    localStorage.setItem(PREF, 'off');
    return false;
  }
  if (!notificationsSupported()) return false;
  const permission = Notification.permission === 'default' ? await Notification.requestPermission() : Notification.permission;
  localStorage.setItem(PREF, permission === 'granted' ? 'on' : 'off');
  return permission === 'granted';
}

/** Keeps `document.title` as "(unread) room · Confab". */
export function updateTitle(store) {
  const n = store.totalUnread();
  const room = store.room(store.state.currentRoomId);
  const base = room ? `${room.kind === 'dm' ? '' : '#'}${store.roomName(room)} · Confab` : 'Confab';
  document.title = n > 0 ? `(${n}) ${base}` : base;
}

/** Names that count as a mention of the viewer: @username and @display-name (one word). */
export function mentionNames(me) {
  if (!me) return [];
  const names = [me.username.toLowerCase()];
  const display = me.display_name?.toLowerCase();
  if (display && !display.includes(' ') && !names.includes(display)) names.push(display);
  return names;
}

/** Shows a desktop notification for a new message if it deserves one. */
export function maybeNotify(store, message, openRoom) {
  const me = store.me;
  if (!me || message.sender_id === me.id || message.deleted) return;
  if (!notificationsEnabled() || store.state.myStatus === 'dnd') return;
  const room = store.room(message.room_id);
  if (!room) return;
  const looking = document.visibilityState === 'visible' && document.hasFocus() && store.state.currentRoomId === room.id;
  if (looking) return;
  // Replays after a long disconnection are history, not news.
  if (Date.now() - Date.parse(message.created_at) > 120_000) return;
  const isDm = room.kind === 'dm';
  if (room.notify === 'none') return;
  if (!store.mentionsMe(message) && (!isDm || room.notify === 'mentions')) return;
  const sender = store.displayName(message.sender_id);
  const title = isDm ? sender : `${sender} in #${store.roomName(room)}`;
  try {
    const n = new Notification(title, { body: preview(message.body, 160) || attachmentsSummary(message.attachments), tag: room.id });
    n.onclick = () => {
      window.focus();
      openRoom(room.id);
      n.close();
    };
  } catch {
    // Some platforms only allow notifications from a service worker.
  }
}
