// The message search dialog (opened by search.js): results come newest first from GET /search,
// with the matched words marked (<mark> elements built from the server's UTF-16 ranges: the body
// is never parsed as markup), the room and the date; choosing one opens its room scrolled to the
// message (loading history as needed).

import { h } from '../dom.js';
import { fullTime, listTime } from '../format.js';
import { modal } from './dialogs.js';

const DEBOUNCE_MS = 250;
const PAGE = 20;

/** `text` as nodes, with the `[start, end)` UTF-16 ranges in <mark>. */
export function markedText(text, ranges = []) {
  const out = [];
  let at = 0;
  for (const [start, end] of ranges) {
    if (start < at || end <= start || end > text.length) continue;
    if (start > at) out.push(document.createTextNode(text.slice(at, start)));
    out.push(h('mark', { text: text.slice(start, end) }));
    at = end;
  }
  if (at < text.length) out.push(document.createTextNode(text.slice(at)));
  return out;
}

export function searchDialog({ store, api, openRoom }) {
  const here = store.state.currentRoomId;
  const input = h('input', { type: 'search', id: 'search-input', name: 'q', autocomplete: 'off', placeholder: 'Words or "a phrase"', 'aria-describedby': 'search-status', maxlength: '256' });
  const has = h('select', { id: 'search-has', name: 'has', 'aria-label': 'Only messages with' },
    h('option', { value: '', text: 'Anything' }),
    h('option', { value: 'file', text: 'Files' }),
    h('option', { value: 'image', text: 'Images' }),
    h('option', { value: 'link', text: 'Links' }));
  const onlyHere = h('input', { type: 'checkbox', id: 'search-here', name: 'here' });
  const status = h('p', { id: 'search-status', class: 'search-status', role: 'status' });
  const list = h('ul', { class: 'search-results', 'aria-label': 'Results' });
  const more = h('button', { type: 'button', class: 'button ghost search-more', text: 'More results', hidden: true });
  let cursor = null;
  let generation = 0;
  let timer = null;

  const params = () => {
    const p = { q: input.value.trim(), limit: String(PAGE) };
    if (has.value) p.has = has.value;
    if (here && onlyHere.checked) p.room_id = here;
    return p;
  };
  const run = async (append) => {
    const p = params();
    if (!p.q && !p.has) {
      list.replaceChildren();
      status.textContent = '';
      more.hidden = true;
      return;
    }
    if (append && cursor) p.cursor = cursor;
    const mine = ++generation;
    status.textContent = 'Searching…';
    try {
      const r = await api.search(p);
      if (mine !== generation) return;
      if (!append) list.replaceChildren();
      list.append(...r.results.map((res) => resultItem(store, res, () => { m.close(); openRoom(res.message.room_id, res.message.id); })));
      cursor = r.next_cursor || null;
      more.hidden = !cursor;
      const n = list.children.length;
      status.textContent = n ? `${n}${cursor ? '+' : ''} message${n === 1 ? '' : 's'} found` : 'No messages found';
    } catch (e) {
      if (mine === generation) status.textContent = e.message || 'Search failed.';
    }
  };
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(() => run(false), DEBOUNCE_MS);
  };
  input.addEventListener('input', soon);
  has.addEventListener('change', () => run(false));
  onlyHere.addEventListener('change', () => run(false));
  more.addEventListener('click', () => run(true));
  const form = h('form', { class: 'search-form', role: 'search', onSubmit: (e) => { e.preventDefault(); clearTimeout(timer); run(false); } },
    h('label', { class: 'visually-hidden', for: 'search-input', text: 'Search messages' }),
    input,
    has,
    here ? h('label', { class: 'search-here', for: 'search-here' }, onlyHere, ` Only #${store.roomName(store.room(here))}`) : null);
  const m = modal({
    title: 'Search messages',
    className: 'search-dialog',
    content: [form, status, list, more],
    onClose: () => { clearTimeout(timer); generation++; },
  });
  input.focus();
}

function resultItem(store, { message, highlights }, choose) {
  const room = store.room(message.room_id);
  const where = room ? `${room.kind === 'dm' ? '' : '#'}${store.roomName(room)}` : 'a room';
  const when = new Date(message.created_at);
  const body = message.body ? markedText(message.body, highlights) : [h('em', { text: (message.attachments || []).map((a) => a.name).join(', ') })];
  return h('li', {},
    h('button', { type: 'button', class: 'search-result', onClick: choose },
      h('span', { class: 'search-result-meta' },
        h('span', { class: 'search-result-room', text: where }),
        h('span', { class: 'search-result-sender', text: store.displayName(message.sender_id) }),
        h('time', { datetime: message.created_at, title: fullTime(when), text: listTime(when) })),
      h('span', { class: 'search-result-body' }, ...body)));
}
