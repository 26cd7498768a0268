// Autocomplete of `@` mentions in the composer: members of the room whose username or display
// name starts with what follows the `@` (and `@room` for owners and admins of a group room).
//
// The list is a listbox under the composer's control: ↑/↓ move, Enter or Tab picks, Esc closes.
// Picking writes `@username ` in place of what was typed.

import { h } from '../dom.js';

const MAX_SHOWN = 6;
let nextId = 0;

export class MentionSuggest {
  constructor(ctx, input) {
    this.ctx = ctx;
    this.input = input;
    this.items = [];
    this.active = 0;
    this.id = `mention-suggest-${++nextId}`;
    this.el = h('ul', { id: this.id, class: 'mention-suggest', role: 'listbox', 'aria-label': 'People to mention', hidden: true });
    input.setAttribute('aria-autocomplete', 'list');
    input.setAttribute('aria-controls', this.id);
  }

  /** The `@word` being typed at the caret: `{start, query}`, or null. */
  token() {
    const caret = this.input.selectionStart ?? this.input.value.length;
    const before = this.input.value.slice(0, caret);
    const m = /(^|[^A-Za-z0-9_.\-@])@([A-Za-z0-9_.-]*)$/.exec(before);
    return m ? { start: caret - m[2].length - 1, query: m[2].toLowerCase() } : null;
  }

  /** Refreshes the list for what is typed now. */
  update() {
    const t = this.token();
    this.items = t ? this.candidates(t.query) : [];
    this.active = 0;
    this.render();
  }

  candidates(query) {
    const { store, roomId } = this.ctx;
    const members = store.state.members.get(roomId);
    const me = store.me.id;
    const out = [];
    for (const id of members ? members.keys() : []) {
      const u = store.user(id);
      if (!u || id === me) continue;
      if (u.username.toLowerCase().startsWith(query) || u.display_name.toLowerCase().startsWith(query)) {
        out.push({ name: u.username, label: u.display_name });
      }
    }
    out.sort((a, b) => a.name.localeCompare(b.name));
    const room = store.room(roomId);
    if (room?.kind === 'group' && this.ctx.canModerate() && 'room'.startsWith(query)) {
      out.push({ name: 'room', label: 'Everyone in the room' });
    }
    return out.slice(0, MAX_SHOWN);
  }

  render() {
    const open = this.items.length > 0;
    this.el.hidden = !open;
    this.input.setAttribute('aria-expanded', open ? 'true' : 'false');
    this.el.replaceChildren(...this.items.map((it, i) => h('li', {
      id: `${this.id}-${i}`,
      class: ['mention-option', i === this.active && 'active'],
      role: 'option',
      'aria-selected': i === this.active ? 'true' : 'false',
      dataset: { username: it.name },
      // mousedown, not click: the textarea keeps focus.
      onMousedown: (e) => {
        e.preventDefault();
        this.pick(i);
      },
    }, h('span', { class: 'mention-name', text: `@${it.name}` }), h('span', { class: 'mention-label', text: it.label }))));
    if (open) this.input.setAttribute('aria-activedescendant', `${this.id}-${this.active}`);
    else this.input.removeAttribute('aria-activedescendant');
  }

  /** Handles a key while the list is open; true if it was used. */
  onKey(e) {
    if (this.el.hidden) return false;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      const n = this.items.length;
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
      this.render();
    } else if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
      this.pick(this.active);
    } else if (e.key === 'Escape') {
      this.close();
    } else {
      return false;
    }
    e.preventDefault();
    e.stopPropagation();
    return true;
  }

  pick(i) {
    const it = this.items[i];
    const t = this.token();
    if (!it || !t) return this.close();
    const { value } = this.input;
    const caret = this.input.selectionStart ?? value.length;
    const insert = `@${it.name} `;
    this.input.value = value.slice(0, t.start) + insert + value.slice(caret);
    const at = t.start + insert.length;
    this.input.setSelectionRange(at, at);
    this.close();
    this.input.dispatchEvent(new Event('input'));
  }

  close() {
    this.items = [];
    this.render();
  }
}
