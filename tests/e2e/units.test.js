// The client's pure logic, run directly in Node: text formatting (typing line, names, links'
// safety, durations and file kinds), reading the server's SDP offers, the words for voice and
// upload failures, and the store's bookkeeping (dedupe by seq, unread counts, pending sends,
// calls, uploads).

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
const { typingText, nameList, safeHref, preview, messageTime, dayLabel, lastSeen, mentionsAny, presenceLabel, duration, fileKind, attachmentsSummary, fileSize } = await load('format.js');
const { Store } = await load('store.js');
const { mediaSections, endedText } = await load('voice.js');
const { microphoneError } = await load('calls.js');
const { uploadError, tooLarge } = await load('chat.js');
const { quotePreview } = await load('store.js');
const { loadVoicePrefs, saveVoicePrefs, processingFor, levelFor, keyName, validKey } = await load('voice-controls.js');

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

test('durations read like a player\'s clock', () => {
  assert.equal(duration(0), '0:00');
  assert.equal(duration(7_400), '0:07');
  assert.equal(duration(62_000), '1:02');
  assert.equal(duration(3_723_000), '1:02:03');
});

test('files are described by kind, and messages without text by what they carry', () => {
  assert.equal(fileKind('image/png'), 'PNG image');
  assert.equal(fileKind('audio/webm'), 'WEBM audio');
  assert.equal(fileKind('application/pdf'), 'PDF');
  assert.equal(fileKind('text/plain; charset=utf-8'), 'Text');
  assert.equal(fileKind('application/x-tar'), 'TAR');
  assert.equal(fileKind(''), 'File');
  assert.equal(attachmentsSummary([{ content_type: 'audio/webm', duration_ms: 3000 }]), 'Voice note');
  assert.equal(attachmentsSummary([{ content_type: 'image/png', thumbnail_url: '/t' }]), 'Photo');
  assert.equal(attachmentsSummary([{ content_type: 'text/plain', name: 'a.txt' }]), 'a.txt');
  assert.equal(attachmentsSummary([{}, {}]), '2 files');
  assert.equal(attachmentsSummary([]), '');
});

test('an offer\'s m-lines give the microphone slot and who each other slot carries', () => {
  const sdp = [
    'v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0 1 2', 'a=ice-lite',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:0', 'a=recvonly',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:1', 'a=msid:user-b track-b', 'a=sendonly',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:2', 'a=msid:- -', 'a=inactive', '',
  ].join('\r\n');
  assert.deepEqual(mediaSections(sdp), [
    { kind: 'audio', mid: '0', direction: 'recvonly', stream: null },
    { kind: 'audio', mid: '1', direction: 'sendonly', stream: 'user-b' },
    { kind: 'audio', mid: '2', direction: 'inactive', stream: '-' },
  ]);
});

test('sizes are said in the binary units the limits are set in', () => {
  assert.equal(fileSize(512), '512 B');
  assert.equal(fileSize(1536), '1.5 KiB');
  assert.equal(fileSize(700 * 1024), '700 KiB');
  assert.equal(fileSize(1024 * 1024), '1 MiB');
  assert.equal(fileSize(1.5 * 1024 * 1024), '1.5 MiB');
  assert.equal(fileSize(25 * 1024 * 1024), '25 MiB');
  assert.equal(fileSize(27 * 1000 * 1000), '26 MiB');
  assert.equal(fileSize(3 * 1024 ** 3), '3 GiB');
  assert.equal(tooLarge({ name: 'film.mov', size: 27 * 1024 * 1024 }, 25 * 1024 * 1024), 'film.mov is too large (27 MiB): files may be at most 25 MiB.');
});

test('a quote is its original cut to 200 characters, as the server cuts it', () => {
  assert.equal(quotePreview('short'), 'short');
  assert.equal(quotePreview('é'.repeat(250)), 'é'.repeat(200));
  assert.equal(quotePreview('😀'.repeat(201)).length, 400, 'counted in characters, not UTF-16 units');
  assert.equal(quotePreview(''), '');
});

test('voice and upload failures are said in words', () => {
  assert.match(microphoneError({ name: 'NotAllowedError' }), /may not use your microphone.*join again\.$/);
  assert.match(microphoneError({ name: 'NotAllowedError' }, 'record again'), /record again\.$/);
  assert.match(microphoneError({ name: 'NotFoundError' }), /No microphone was found/);
  assert.match(endedText('replaced by a newer join'), /another tab or device/);
  assert.equal(uploadError({ code: 'file_too_large', message: 'files may be at most 1 MiB' }, { name: 'big.bin' }), 'big.bin is too large: files may be at most 1 MiB.');
  assert.match(uploadError({ code: 'quota_exceeded', message: 'x' }, { name: 'a.png' }), /^a\.png does not fit in your storage quota/);
  assert.match(uploadError({ code: 'network', message: 'x' }, { name: 'a.png' }), /connection failed/);
});

test('the store keeps who is in each call, our call, and files being attached', () => {
  const store = new Store();
  store.setVoiceState('r1', [{ user_id: 'a', muted: false, speaking: false }, { user_id: 'b', muted: true, speaking: false }]);
  store.setSpeaking('r1', 'a', true);
  assert.deepEqual(store.callParticipants('r1').map((p) => [p.user_id, p.muted, p.speaking]), [['a', false, true], ['b', true, false]]);
  store.setVoiceState('r2', [{ user_id: 'c', muted: true, speaking: false, deafened: true, quality: 'poor' }, { user_id: 'd', quality: 'bogus' }]);
  assert.deepEqual(store.callParticipants('r2').map((p) => [p.deafened, p.quality]), [[true, 'poor'], [false, 'good']], 'unknown quality reads as good');
  store.startCall('r1', { status: 'connecting' });
  store.updateCall({ muted: true });
  assert.deepEqual({ ...store.state.call }, { roomId: 'r1', status: 'connecting', muted: true, deafened: false, audioBlocked: false });
  store.startCall('r2');
  assert.equal(store.state.call.muted, false, 'a new call starts unmuted');
  store.endCall();
  assert.equal(store.state.call, null);
  store.clearVoiceStates();
  assert.deepEqual(store.callParticipants('r1'), []);

  store.addUpload('r1', { key: 'k1', state: 'uploading', progress: 0 });
  store.addUpload('r1', { key: 'k2', state: 'uploading', progress: 0 });
  store.updateUpload('r1', 'k1', { state: 'done', progress: 1 });
  assert.deepEqual(store.uploads('r1').map((u) => u.state), ['done', 'uploading']);
  store.removeUploads('r1', ['k1', 'k2']);
  assert.deepEqual(store.uploads('r1'), []);
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

// Dialogs no first screen needs, loaded with import() when first opened (a cold load stays small).
test('voice preferences read back only valid values, with defaults for the rest', () => {
  const stored = new Map();
  globalThis.localStorage = {
    getItem: (k) => (stored.has(k) ? stored.get(k) : null),
    setItem: (k, v) => stored.set(k, String(v)),
  };
  try {
    const fresh = loadVoicePrefs();
    assert.deepEqual(fresh, { mode: 'voice', pttKey: 'Backquote', processing: {}, levels: {} });
    assert.deepEqual(processingFor(fresh, null), { noiseSuppression: true, echoCancellation: true, autoGainControl: true });
    assert.deepEqual(levelFor(fresh, 'u1'), { volume: 100, muted: false });

    saveVoicePrefs({ mode: 'ptt', pttKey: 'KeyV', processing: { default: { noiseSuppression: false } }, levels: { u1: { volume: 150, muted: true } } });
    const back = loadVoicePrefs();
    assert.equal(back.mode, 'ptt');
    assert.equal(back.pttKey, 'KeyV');
    assert.deepEqual(processingFor(back, 'default'), { noiseSuppression: false, echoCancellation: true, autoGainControl: true });
    assert.deepEqual(processingFor(back, 'other-device'), { noiseSuppression: true, echoCancellation: true, autoGainControl: true });
    assert.deepEqual(levelFor(back, 'u1'), { volume: 150, muted: true });

    // Hand-edited or broken entries fall back, value by value.
    stored.set('confab.voice.mode', 'loud');
    stored.set('confab.voice.pttKey', 'Escape');
    stored.set('confab.voice.processing', '{"default": {"noiseSuppression": "no", "autoGainControl": false}, "x": 3}');
    stored.set('confab.voice.levels', '{"u1": {"volume": 900}, "u2": {"volume": -4, "muted": 1}, "u3": "loud"}');
    const odd = loadVoicePrefs();
    assert.equal(odd.mode, 'voice');
    assert.equal(odd.pttKey, 'Backquote');
    assert.deepEqual(odd.processing, { default: { autoGainControl: false } });
    assert.deepEqual(odd.levels, { u1: { volume: 200 }, u2: { volume: 0 } });
    stored.set('confab.voice.levels', 'not json');
    assert.deepEqual(loadVoicePrefs().levels, {});
  } finally {
    delete globalThis.localStorage;
  }
  assert.equal(keyName('Backquote'), '`');
  assert.equal(keyName('KeyV'), 'V');
  assert.equal(keyName('Digit5'), '5');
  assert.equal(keyName('F8'), 'F8');
  assert.equal(validKey('Tab'), null);
  assert.equal(validKey('F8'), 'F8');
  assert.equal(validKey('<script>'), null);
});

const LOADED_ON_FIRST_USE = ['/js/recorder.js', '/js/call-audio.js', '/js/push-to-talk.js', '/js/voice.js', '/js/screenshare.js', '/js/voice-controls.js', '/js/ui/in-call.js', '/js/ui/invites.js', '/js/ui/members.js', '/js/ui/moderation.js', '/js/ui/participant-level.js', '/js/ui/push.js', '/js/ui/screen.js', '/js/ui/search-dialog.js', '/js/ui/settings.js', '/js/ui/thread.js', '/js/ui/voice-settings.js'];

test('index.html preloads every module but the dialogs loaded on first use, which nothing imports statically', async () => {
  const { readFileSync, readdirSync } = await import('node:fs');
  const web = new URL('../../web/', import.meta.url);
  const html = readFileSync(new URL('index.html', web), 'utf8');
  const files = readdirSync(new URL('js/', web), { recursive: true }).filter((f) => f.endsWith('.js'));
  const modules = files
    .map((f) => `/js/${f.split('\\').join('/')}`)
    .filter((m) => !LOADED_ON_FIRST_USE.includes(m))
    .sort();
  const preloaded = [...html.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)].map((m) => m[1]).sort();
  assert.deepEqual(preloaded, modules);
  for (const f of files) {
    const src = readFileSync(new URL(`js/${f}`, web), 'utf8');
    for (const lazy of LOADED_ON_FIRST_USE) {
      const name = lazy.split('/').pop();
      assert.doesNotMatch(src, new RegExp(`^import [^;]*from '[./]*(ui/)?${name.replace('.', '\\.')}'`, 'm'), `${f} imports ${name} statically`);
    }
  }
  assert.doesNotMatch(html, /\sstyle=|<script>|\son[a-z]+=/i, 'no inline styles, scripts or handlers');
});
