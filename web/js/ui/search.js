// Message search: a dialog opened from the top bar, with Ctrl/Cmd+K, or with `/` when no field
// has focus. Results come newest first from GET /search, with the matched words marked (<mark>
// elements built from the server's UTF-16 ranges: the body is never parsed as markup), the room
// and the date; choosing one opens its room scrolled to the message (loading history as needed).

import { h, icon } from '../dom.js';
import { registerExtension } from '../extensions.js';

registerExtension(({ store, api, shell, openRoom }) => {
  if (!shell) return null;
  // The dialog's module loads the first time it is opened (search-dialog.js).
  const open = () => import('./search-dialog.js').then((m) => m.searchDialog({ store, api, openRoom }));
  const button = h('button', { type: 'button', class: 'icon-button search-button', 'aria-label': 'Search messages (Ctrl+K)', title: 'Search messages (Ctrl+K)', 'aria-keyshortcuts': 'Control+K Meta+K /', onClick: open }, icon('search'));
  shell.addTool(button);
  const onKey = (e) => {
    if (document.querySelector('dialog[open]')) return;
    const combo = (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === 'k';
    const slash = e.key === '/' && !e.ctrlKey && !e.metaKey && !e.altKey && !typing(e.target);
    if (!combo && !slash) return;
    e.preventDefault();
    open();
  };
  document.addEventListener('keydown', onKey);
  return () => {
    document.removeEventListener('keydown', onKey);
    button.remove();
  };
});

/** True when the key went to something that takes text. */
function typing(target) {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
}
