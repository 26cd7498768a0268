// The emoji the reaction picker offers, with the shortcodes people search them by, and the
// viewer's recently used ones (kept in localStorage, newest first).
//
// A small, common set rather than the whole Unicode list: the picker is for quick reactions, and
// the server accepts any single emoji (a message's own reactions show whatever people used).

/** `[emoji, shortcodes…]`, in the order the picker shows them. */
export const EMOJI = [
  ['👍', 'thumbsup', '+1', 'yes'], ['👎', 'thumbsdown', '-1', 'no'], ['❤️', 'heart', 'love'],
  ['😂', 'joy', 'laugh'], ['🎉', 'tada', 'party'], ['😮', 'open_mouth', 'wow'], ['😢', 'cry', 'sad'],
  ['🙏', 'pray', 'thanks'], ['🔥', 'fire', 'lit'], ['👀', 'eyes', 'look'], ['✅', 'white_check_mark', 'done'],
  ['❌', 'x', 'cross'], ['🚀', 'rocket', 'ship'], ['💯', '100', 'hundred'], ['👏', 'clap', 'applause'],
  ['🙌', 'raised_hands', 'hooray'], ['😀', 'grinning', 'smile'], ['😄', 'smile', 'happy'],
  ['😅', 'sweat_smile'], ['🤣', 'rofl'], ['😊', 'blush'], ['😍', 'heart_eyes'], ['🤔', 'thinking'],
  ['😬', 'grimacing'], ['🙃', 'upside_down'], ['😎', 'sunglasses', 'cool'], ['😴', 'sleeping'],
  ['🤯', 'exploding_head', 'mind_blown'], ['🥳', 'partying_face'], ['😡', 'rage', 'angry'],
  ['👋', 'wave', 'hello'], ['💪', 'muscle', 'strong'], ['🤝', 'handshake', 'deal'], ['👌', 'ok_hand'],
  ['✨', 'sparkles'], ['⭐', 'star'], ['💡', 'bulb', 'idea'], ['⚠️', 'warning'], ['🐛', 'bug'],
  ['☕', 'coffee'], ['🍕', 'pizza'], ['🍻', 'beers', 'cheers'], ['🎂', 'birthday', 'cake'],
  ['🌮', 'taco'], ['🐶', 'dog'], ['🐱', 'cat'], ['🌈', 'rainbow'], ['☀️', 'sunny', 'sun'],
];

const RECENT_KEY = 'confab.recentEmoji';
const RECENT_MAX = 8;

/** The emoji matching `query` (a shortcode prefix, with or without colons), recent first. */
export function searchEmoji(query) {
  const q = query.trim().toLowerCase().replace(/^:|:$/g, '');
  const recent = recentEmoji();
  // Recent custom emoji (`:name:`) are listed with the custom ones, not here.
  const all = [...recent.filter((e) => !customName(e)).map((e) => EMOJI.find(([x]) => x === e) || [e]), ...EMOJI.filter(([e]) => !recent.includes(e))];
  if (!q) return all.map(([e, name]) => ({ emoji: e, name: name || e }));
  return all
    .filter(([, ...names]) => names.some((n) => n.startsWith(q)))
    .map(([e, name]) => ({ emoji: e, name }));
}

/** The viewer's recently used emoji, newest first. */
export function recentEmoji() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
    return Array.isArray(list) ? list.filter((e) => typeof e === 'string').slice(0, RECENT_MAX) : [];
  } catch {
    return [];
  }
}

/** Notes that the viewer used `emoji`. */
export function noteUsed(emoji) {
  const list = [emoji, ...recentEmoji().filter((e) => e !== emoji)].slice(0, RECENT_MAX);
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify(list));
  } catch {
    // Private mode or full storage: recents are a nicety.
  }
}

// ---- custom emoji ----
// The server's own emoji (`GET /emoji`: `{name, url, …}`, images fetched with the token), kept
// for the session: fetched when first needed, and again whenever the picker opens or an admin
// changes them. A reaction names one as `:name:`.

let customList = null;
let customPending = null;

/** The name in a `:name:` reaction, or null for a Unicode emoji. */
export function customName(emoji) {
  return /^:([a-z0-9_+-]{1,32}):$/.exec(emoji)?.[1] ?? null;
}

/** The server's custom emoji (a promise); `fresh` asks the server again. */
export function customEmoji(api, { fresh = false } = {}) {
  if (!fresh && customList) return Promise.resolve(customList);
  if (!fresh && customPending) return customPending;
  const pending = api.customEmoji().then(({ emoji }) => {
    if (customPending === pending) customList = Array.isArray(emoji) ? emoji : [];
    return customList || [];
  }).finally(() => {
    if (customPending === pending) customPending = null;
  });
  customPending = pending;
  return pending;
}

/** The custom emoji of `list` matching `query` (a name prefix or part, colons allowed), recent first. */
export function searchCustom(list, query) {
  const q = query.trim().toLowerCase().replace(/^:|:$/g, '');
  const recent = recentEmoji();
  const rank = (e) => {
    const i = recent.indexOf(`:${e.name}:`);
    return i < 0 ? recent.length : i;
  };
  return list.filter((e) => !q || e.name.includes(q)).sort((a, b) => rank(a) - rank(b));
}

/** Forgets the custom emoji (sign out). */
export function clearCustomEmoji() {
  customList = null;
  customPending = null;
}
