// The client's pure logic, run directly in Node: text formatting (typing line, names, links'
// safety) and the store's bookkeeping (dedupe by seq, unread counts, pending sends).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// web/js has no package.json saying its files are ES modules (the browser needs none), so load a
// copy that has one: this works on every Node version, with or without module-type detection.
const copy = mkdtempSync(join(tmpdir(), 'confab-web-'));
cpSync(fileURLToPath(new URL('../../web/js/', import.meta.url)), join(copy, 'js'), { recursive: true });
writeFileSync(join(copy, 'package.json'), '{"type": "module"}');
after(() => rmSync(copy, { recursive: true, force: true }));
const load = (path) => import(pathToFileURL(join(copy, 'js', path)).href);
const { typingText, nameList, safeHref, preview, messageTime, dayLabel, lastSeen, mentionsAny, presenceLabel } = await load('format.js');
const { Store } = await load('store.js');

test('the typing line names one or two people and counts more', () => {
  assert.equal(typingText([]), '');
  assert.equal(typingText(['Ana']), 'Ana is typing…');
  assert.equal(typingText(['Ana', 'Bo']), 'Ana and Bo are typing…');
  assert.equal(typingText(['Ana', 'Bo', 'Cy']), '3 people are typing…');
});

test('name lists read naturally', () => {
  assert.equal(nameList(['Ana']), 'Ana');
  assert.equal(nameList(['Ana', 'Bo']), 'Ana and Bo');
  assert.equal(nameList(['Ana', 'Bo', 'Cy']), 'Ana, Bo and Cy');
  assert.equal(nameList(['Ana', 'Bo', 'Cy', 'Di', 'Ed']), 'Ana, Bo and 3 others');
});

test('only http and https URLs may become links', () => {
  assert.equal(safeHref('https://example.com/a b'), 'https://example.com/a%20b');
  assert.equal(safeHref('http://example.com'), 'http://example.com/');
  assert.equal(safeHref('javascript:alert(1)'), null);
  assert.equal(safeHref('data:text/html,<script>'), null);
  assert.equal(safeHref('not a url'), null);
});

test('previews collapse whitespace and cut long text', () => {
  assert.equal(preview('  a\n\n b  '), 'a b');
  assert.equal(preview('x'.repeat(10), 5), 'xxxx…');
  assert.equal(preview(null), '');
});

test('times are relative within the hour, days are named', () => {
  const now = new Date(2026, 10, 24, 15, 0, 0);
  assert.equal(messageTime(new Date(2026, 10, 24, 14, 59, 40), now), 'just now');
  assert.equal(messageTime(new Date(2026, 10, 24, 14, 55, 0), now), '5 min ago');
  assert.match(messageTime(new Date(2026, 10, 24, 9, 5, 0), now), /09[:.]05|9[:.]05/);
  assert.equal(dayLabel(new Date(2026, 10, 24, 1, 0), now), 'Today');
  assert.equal(dayLabel(new Date(2026, 10, 23, 23, 0), now), 'Yesterday');
  assert.equal(lastSeen(new Date(now - 3 * 60_000).toISOString(), now), 'last seen 3 min ago');
  assert.equal(presenceLabel({ status: 'dnd' }, now), 'do not disturb');
  assert.equal(presenceLabel(undefined, now), 'offline');
});

test('mentions match @username without case', () => {
  assert.ok(mentionsAny('hey @Ana, look', ['ana']));
  assert.ok(!mentionsAny('mail ana@example.com', ['ana']));
  assert.ok(!mentionsAny('hey @anabel', ['ana']));
});

function msg(seq, sender, extra = {}) {
  return { id: `m${seq}`, room_id: 'r1', seq, sender_id: sender, body: `body ${seq}`, created_at: new Date(2026, 0, 1, 0, seq).toISOString(), edited_at: null, deleted: false, client_id: null, reply_to: null, forwarded_from: null, attachments: [], ...extra };
}

function storeWithRoom() {
  const store = new Store();
  store.setMe({ id: 'me', username: 'me', display_name: 'Me' });
  store.setRooms([{ id: 'r1', kind: 'group', name: 'general', topic: '', created_at: '2026-01-01T00:00:00Z', last_seq: 2, last_read_seq: 2, unread_count: 0, last_message: msg(2, 'bo'), members_count: 2, role: 'owner', dm_user: null }]);
  store.addPage('r1', [msg(1, 'me'), msg(2, 'bo')], { hasMore: false });
  return store;
}

test('the store keeps each seq once and counts what others wrote as unread', () => {
  const store = storeWithRoom();
  assert.equal(store.messageNew(msg(3, 'bo')), true);
  assert.equal(store.messageNew(msg(3, 'bo')), false, 'a replayed message is not new');
  store.messageNew(msg(4, 'me'));
  store.messageNew(msg(5, 'bo'));
  assert.deepEqual(store.messages('r1').map((m) => m.seq), [1, 2, 3, 4, 5]);
  // Sending moved our read position to 4: only 5 is unread.
  assert.equal(store.room('r1').unread_count, 1);
  store.messageDeleted('r1', 'm5', 5);
  assert.equal(store.room('r1').unread_count, 0);
  assert.equal(store.room('r1').last_message.deleted, true);
});

test('reading, here or in another tab, recounts the unread messages', () => {
  const store = storeWithRoom();
  for (const seq of [3, 4, 5]) store.messageNew(msg(seq, 'bo'));
  assert.equal(store.room('r1').unread_count, 3);
  store.receipt('r1', 'me', 4);
  assert.equal(store.room('r1').unread_count, 1);
  store.receipt('r1', 'bo', 5);
  assert.deepEqual(store.readers('r1', 5), ['bo']);
  assert.equal(store.setRead('r1', 3), false, 'read positions never move back');
});

test('a pending send disappears when its echo or ack arrives, by client_id', () => {
  const store = storeWithRoom();
  store.addPending({ client_id: 'c-1', room_id: 'r1', body: 'hi', state: 'pending', created_at: new Date().toISOString() });
  assert.equal(store.pending('r1').length, 1);
  store.messageNew(msg(3, 'bo', { client_id: 'c-1' }));
  assert.equal(store.pending('r1').length, 1, 'someone else\'s client_id does not match');
  store.messageNew(msg(4, 'me', { client_id: 'c-1', body: 'hi' }));
  assert.equal(store.pending('r1').length, 0);
  store.messageNew(msg(4, 'me', { client_id: 'c-1', body: 'hi' }));
  assert.equal(store.messages('r1').filter((m) => m.body === 'hi').length, 1);
});

test('the room list from HTTP never rolls back what the socket already delivered', () => {
  const store = storeWithRoom();
  store.messageNew(msg(3, 'bo'));
  const stale = { ...store.room('r1'), last_seq: 2, last_message: msg(2, 'bo'), unread_count: 0, name: 'renamed' };
  store.setRooms([stale]);
  assert.equal(store.room('r1').last_seq, 3);
  assert.equal(store.room('r1').unread_count, 1);
  assert.equal(store.room('r1').name, 'renamed');
});

test('index.html preloads every module, so the graph loads in one round trip', async () => {
  const { readFileSync, readdirSync } = await import('node:fs');
  const web = new URL('../../web/', import.meta.url);
  const html = readFileSync(new URL('index.html', web), 'utf8');
  const modules = readdirSync(new URL('js/', web), { recursive: true })
    .filter((f) => f.endsWith('.js'))
    .map((f) => `/js/${f.split('\\').join('/')}`)
    .sort();
  const preloaded = [...html.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)].map((m) => m[1]).sort();
  assert.deepEqual(preloaded, modules);
  assert.doesNotMatch(html, /\sstyle=|<script>|\son[a-z]+=/i, 'no inline styles, scripts or handlers');
});
