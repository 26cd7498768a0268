// The address bar: `/` is the room list, `/r/<room id>` a room, `/invite/<code>` an invite link.
// Uses the History API; the server answers any extensionless path with the app, so a reload lands
// where you were. A message's permalink is `#/room/<room id>/<seq>`: opening it opens the room at
// that message (the room's path then replaces the link, so following the same link again works).

const ROOM = /^\/r\/([0-9a-fA-F-]{36})\/?$/;
const INVITE = /^\/invite\/([A-Za-z0-9_-]{1,64})\/?$/;

/** The invite code in the current address, or null. */
export function currentInvite() {
  const m = INVITE.exec(location.pathname);
  return m ? m[1] : null;
}

/** The room id in the current address, or null. */
export function currentRoute() {
  const m = ROOM.exec(location.pathname);
  return m ? m[1] : null;
}

/** Goes to a room (or home with null); `replace` keeps the history entry. */
export function navigate(roomId, { replace = false } = {}) {
  const path = roomId ? `/r/${roomId}` : '/';
  if (location.pathname === path) return;
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
}

const PERMALINK = /^#\/room\/([0-9a-fA-F-]{36})\/(\d{1,15})$/;

/** The permalink of a message. */
export function permalinkOf(roomId, seq) {
  return `#/room/${roomId}/${seq}`;
}

/** The `{roomId, seq}` the address's permalink names, or null. */
export function currentPermalink() {
  const m = PERMALINK.exec(location.hash);
  return m ? { roomId: m[1], seq: Number(m[2]) } : null;
}

/** Calls `fn({roomId, seq})` when a permalink is followed within the page. */
export function onPermalink(fn) {
  window.addEventListener('hashchange', () => {
    const link = currentPermalink();
    if (link) fn(link);
  });
}

/** Calls `fn(roomId)` when the user moves through history. */
export function onRouteChange(fn) {
  window.addEventListener('popstate', () => fn(currentRoute()));
}
