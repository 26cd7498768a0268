// Presentation of times, names and message text. Pure functions of their inputs (and `now`).
//
// `richText` turns a message body into nodes: plain text as text nodes, http(s) URLs as links built
// with createElement, mentions of the viewer highlighted. It never parses markup.

import { h } from './dom.js';

const MINUTE = 60_000;
const DAY = 86_400_000;

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const weekday = new Intl.DateTimeFormat(undefined, { weekday: 'long' });
const shortWeekday = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const dayMonth = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long' });
const dayMonthYear = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'long', year: 'numeric' });
const shortDate = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });

function startOfDay(d) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

/** Whole local days between two instants (0: same day, 1: `d` was yesterday). */
export function daysAgo(d, now = new Date()) {
  return Math.round((startOfDay(now) - startOfDay(d)) / DAY);
}

/** A key for the local day of an instant, for day separators. */
export function dayKey(d) {
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

/** "Today", "Yesterday", "Monday", "Friday, 3 October", "3 October 2024". */
export function dayLabel(d, now = new Date()) {
  const ago = daysAgo(d, now);
  if (ago === 0) return 'Today';
  if (ago === 1) return 'Yesterday';
  if (ago > 1 && ago < 7) return weekday.format(d);
  if (d.getFullYear() === now.getFullYear()) return dayMonth.format(d);
  return dayMonthYear.format(d);
}

/** A message's time: "just now", "5 min ago" within the hour, then the clock time. */
export function messageTime(d, now = new Date()) {
  const diff = now - d;
  if (diff < MINUTE) return 'just now';
  if (diff < 60 * MINUTE) return `${Math.floor(diff / MINUTE)} min ago`;
  return clock.format(d);
}

/** A room list time: relative within the hour, clock today, "Yesterday", weekday, date. */
export function listTime(d, now = new Date()) {
  const diff = now - d;
  if (diff < MINUTE) return 'now';
  if (diff < 60 * MINUTE) return `${Math.floor(diff / MINUTE)} min`;
  const ago = daysAgo(d, now);
  if (ago === 0) return clock.format(d);
  if (ago === 1) return 'Yesterday';
  if (ago < 7) return shortWeekday.format(d);
  return shortDate.format(d);
}

/** The full date and time, for tooltips. */
export function fullTime(d) {
  return full.format(d);
}

/** "last seen 5 min ago", "last seen today at 14:05", "last seen 3 October". */
export function lastSeen(iso, now = new Date()) {
  if (!iso) return 'offline';
  const d = new Date(iso);
  const diff = now - d;
  if (diff < MINUTE) return 'last seen just now';
  if (diff < 60 * MINUTE) return `last seen ${Math.floor(diff / MINUTE)} min ago`;
  const ago = daysAgo(d, now);
  if (ago === 0) return `last seen today at ${clock.format(d)}`;
  if (ago === 1) return `last seen yesterday at ${clock.format(d)}`;
  return `last seen ${shortDate.format(d)}`;
}

/** What a presence status reads as. */
export function presenceLabel(p, now = new Date()) {
  switch (p?.status) {
    case 'online': return 'online';
    case 'away': return 'away';
    case 'dnd': return 'do not disturb';
    case 'offline': return lastSeen(p.last_seen, now);
    default: return 'offline';
  }
}

/** "Ana", "Ana and Bo", "Ana, Bo and Cy", "Ana, Bo and 3 others". */
export function nameList(names, max = 3) {
  if (names.length <= 1) return names.join('');
  if (names.length <= max) return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
  const rest = names.length - (max - 1);
  return `${names.slice(0, max - 1).join(', ')} and ${rest} others`;
}

/** The typing line: "Ana is typing…", "Ana and Bo are typing…", "3 people are typing…". */
export function typingText(names) {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

/**
 * A byte count for people, in the binary units the server's limits are set in (KiB, MiB, GiB),
 * so a file and the limit it is held to read in the same unit: "1.5 MiB", "25 MiB".
 */
export function fileSize(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = value < 10 ? value.toFixed(1).replace(/\.0$/, '') : String(Math.round(value));
  return `${shown} ${units[unit]}`;
}

/** A length of time for players: "0:07", "12:30", "1:02:03". */
export function duration(ms) {
  const total = Math.max(0, Math.round((ms || 0) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** What kind of file a content type is, in a word or two ("PNG image", "PDF", "Text"). */
export function fileKind(type = '') {
  const [main, sub = ''] = type.split(';')[0].trim().toLowerCase().split('/');
  const known = {
    'application/pdf': 'PDF',
    'application/zip': 'ZIP archive',
    'application/json': 'JSON',
    'text/plain': 'Text',
    'text/csv': 'CSV',
    'application/octet-stream': 'File',
  };
  if (known[`${main}/${sub}`]) return known[`${main}/${sub}`];
  const name = sub.replace(/^x-/, '').split(/[.+]/)[0].toUpperCase();
  if (main === 'image') return `${name} image`;
  if (main === 'audio') return `${name} audio`;
  if (main === 'video') return `${name} video`;
  if (main === 'text') return 'Text';
  return name || 'File';
}

/** A message without text, as a preview: what it carries. */
export function attachmentsSummary(attachments = []) {
  if (!attachments.length) return '';
  if (attachments.length > 1) return `${attachments.length} files`;
  const [a] = attachments;
  if (a.content_type?.startsWith('audio/')) return 'Voice note';
  if (a.thumbnail_url) return 'Photo';
  return a.name || 'File';
}

/** One line of a body, for previews: whitespace collapsed, cut to `max` characters. */
export function preview(body, max = 120) {
  const line = (body || '').replace(/\s+/g, ' ').trim();
  const chars = Array.from(line);
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : line;
}

// URLs: a scheme, then anything but whitespace and a few delimiters. Trailing punctuation that
// usually ends a sentence is trimmed afterwards, keeping balanced parentheses.
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;

/** A URL that may become a link: only http and https, parsed by the browser's URL parser. */
export function safeHref(raw) {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

function trimUrl(raw) {
  let url = raw;
  for (;;) {
    const last = url[url.length - 1];
    if ('.,;:!?\'"*'.includes(last)) {
      url = url.slice(0, -1);
    } else if (last === ')' && count(url, '(') < count(url, ')')) {
      url = url.slice(0, -1);
    } else {
      return url;
    }
  }
}

function count(s, ch) {
  return s.split(ch).length - 1;
}

/**
 * The nodes of a message body: text, safe links, and highlighted mentions of `mentionNames`
 * (lowercase names without the @).
 */
export function richText(body, mentionNames = []) {
  const nodes = [];
  let last = 0;
  for (const match of body.matchAll(URL_RE)) {
    const url = trimUrl(match[0]);
    const href = safeHref(url);
    if (!href) continue;
    nodes.push(...mentions(body.slice(last, match.index), mentionNames));
    nodes.push(h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow', text: url }));
    last = match.index + url.length;
  }
  nodes.push(...mentions(body.slice(last), mentionNames));
  return nodes;
}

function mentions(text, names) {
  if (!text) return [];
  if (!names.length) return [text];
  const out = [];
  const re = /@([\p{L}\p{N}_.-]+)/gu;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (!names.includes(m[1].toLowerCase())) continue;
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(h('mark', { class: 'mention-tag', text: m[0] }));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** Whether a body mentions one of `names` (lowercase, without @). */
export function mentionsAny(body, names) {
  if (!body || !names.length) return false;
  for (const m of body.matchAll(/@([\p{L}\p{N}_.-]+)/gu)) {
    if (names.includes(m[1].toLowerCase())) return true;
  }
  return false;
}
