// A message's reactions (one toggle per emoji) and the picker that adds one.
//
// Reactions are data from other people: every emoji, count and name goes in as text. A custom
// `:name:` shows as its image (an <img> whose alt is the name, fetched with the token) once the
// server's list names it, and as its name until then or when it was deleted since.

import { h } from '../dom.js';
import { nameList } from '../format.js';
import { searchEmoji, noteUsed, customEmoji, customName, searchCustom } from '../emoji.js';
import { modal } from './dialogs.js';
import { objectUrl } from './attachments.js';

/** The picture of a custom emoji `{name, url}`: an <img> with alt `:name:`, filled once fetched. */
export function customEmojiImage(api, emoji) {
  const img = h('img', { class: 'custom-emoji', alt: `:${emoji.name}:`, title: `:${emoji.name}:`, width: '20', height: '20' });
  const entry = objectUrl(api, emoji.url);
  if (entry.url) img.src = entry.url;
  else entry.promise.then((src) => { img.src = src; }, () => {});
  return img;
}

/** Custom names not in the list this client had, asked about once: added since, or deleted. */
const askedAgain = new Set();

/** What a reaction's emoji shows as: its text, which a custom emoji's image replaces when known. */
function reactionEmoji(ctx, emoji) {
  const el = h('span', { class: 'reaction-emoji', text: emoji });
  const name = customName(emoji);
  if (!name || !ctx.api) return el;
  const show = (list) => {
    const found = list.find((e) => e.name === name);
    if (found) el.replaceChildren(customEmojiImage(ctx.api, found));
    return found;
  };
  customEmoji(ctx.api).then((list) => {
    // An emoji added after the list was fetched: ask the server once more (once per name).
    if (show(list) || askedAgain.has(name)) return;
    askedAgain.add(name);
    customEmoji(ctx.api, { fresh: true }).then(show, () => {});
  }, () => {});
  return el;
}

/** The row of reaction toggles under a message, or null when it has none. */
export function reactionBar(ctx, m) {
  if (!m.reactions?.length) return null;
  const me = ctx.store.me.id;
  const bar = h('div', { class: 'reactions', role: 'group', 'aria-label': 'Reactions' });
  for (const r of m.reactions) {
    const mine = r.user_ids.includes(me);
    const names = r.user_ids.map((id) => (id === me ? 'you' : ctx.store.displayName(id)));
    const more = r.count - r.user_ids.length;
    const who = more > 0 ? `${names.join(', ')} and ${more} more` : nameList(names);
    bar.append(h('button', {
      type: 'button',
      class: ['reaction', mine && 'mine'],
      'aria-pressed': mine ? 'true' : 'false',
      'aria-label': `${r.emoji} ${r.count}: ${who}. ${mine ? 'Remove your reaction' : 'React too'}`,
      title: `${who} reacted with ${r.emoji}`,
      dataset: { emoji: r.emoji },
      onClick: () => ctx.actions.react(m, r.emoji, !mine),
    }, reactionEmoji(ctx, r.emoji), h('span', { class: 'reaction-count', text: String(r.count) })));
  }
  return bar;
}

/** Opens the picker; `pick(emoji)` is called with the chosen one. The server's custom emoji
 * (fetched afresh with `api`) follow the Unicode set, searched by name too. */
export function reactionPicker({ pick, api }) {
  const search = h('input', { type: 'search', class: 'picker-search', placeholder: 'Search, e.g. :thumbsup:', 'aria-label': 'Search emoji' });
  const grid = h('div', { class: 'picker-grid', role: 'listbox', 'aria-label': 'Emoji' });
  const customHeading = h('h3', { class: 'picker-heading', text: 'Custom', hidden: true });
  const customGrid = h('div', { class: 'picker-grid', role: 'listbox', 'aria-label': 'Custom emoji', hidden: true });
  const empty = h('p', { class: 'hint', text: 'No emoji match.', hidden: true });
  let custom = [];
  let dlg = null;
  const choose = (emoji) => {
    noteUsed(emoji);
    dlg.close();
    pick(emoji);
  };
  const option = (label, content, emoji) => h('button', {
    type: 'button',
    class: 'picker-emoji',
    role: 'option',
    'aria-label': label,
    title: label,
    onClick: () => choose(emoji),
  }, content);
  const fill = () => {
    const found = searchEmoji(search.value);
    grid.replaceChildren(...found.map(({ emoji, name }) => option(`:${name}:`, emoji, emoji)));
    const mine = api ? searchCustom(custom, search.value) : [];
    customGrid.replaceChildren(...mine.map((e) => option(`:${e.name}:`, customEmojiImage(api, e), `:${e.name}:`)));
    grid.hidden = found.length === 0;
    customGrid.hidden = mine.length === 0;
    customHeading.hidden = mine.length === 0;
    empty.hidden = found.length + mine.length > 0;
  };
  search.addEventListener('input', fill);
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      dlg.dialog.querySelector('.picker-emoji')?.click();
    }
  });
  fill();
  dlg = modal({ title: 'Add a reaction', className: 'picker', content: [search, grid, customHeading, customGrid, empty] });
  if (api) {
    customEmoji(api, { fresh: true }).then((list) => {
      custom = list;
      fill();
    }, () => {});
  }
  search.focus();
  return dlg;
}
