// A message's reactions (one toggle per emoji) and the picker that adds one.
//
// Reactions are data from other people: every emoji, count and name goes in as text. A custom
// `:name:` shows as its name until custom emoji images exist.

import { h } from '../dom.js';
import { nameList } from '../format.js';
import { searchEmoji, noteUsed } from '../emoji.js';
import { modal } from './dialogs.js';

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
    }, h('span', { class: 'reaction-emoji', text: r.emoji }), h('span', { class: 'reaction-count', text: String(r.count) })));
  }
  return bar;
}

/** Opens the picker; `pick(emoji)` is called with the chosen one. */
export function reactionPicker({ pick }) {
  const search = h('input', { type: 'search', class: 'picker-search', placeholder: 'Search, e.g. :thumbsup:', 'aria-label': 'Search emoji' });
  const grid = h('div', { class: 'picker-grid', role: 'listbox', 'aria-label': 'Emoji' });
  const empty = h('p', { class: 'hint', text: 'No emoji match.', hidden: true });
  let dlg = null;
  const fill = () => {
    const found = searchEmoji(search.value);
    grid.replaceChildren(...found.map(({ emoji, name }) => h('button', {
      type: 'button',
      class: 'picker-emoji',
      role: 'option',
      'aria-label': `:${name}:`,
      title: `:${name}:`,
      text: emoji,
      onClick: () => {
        noteUsed(emoji);
        dlg.close();
        pick(emoji);
      },
    })));
    empty.hidden = found.length > 0;
  };
  search.addEventListener('input', fill);
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      grid.querySelector('button')?.click();
    }
  });
  fill();
  dlg = modal({ title: 'Add a reaction', className: 'picker', content: [search, grid, empty] });
  search.focus();
  return dlg;
}
