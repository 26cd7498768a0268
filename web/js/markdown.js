// A safe Markdown subset for message bodies, built as DOM nodes (never as markup).
//
// Blocks: fenced code (```), block quotes (>), bullet (- * +) and numbered (1.) lists; every
// other line is text, with its line breaks kept (the body's CSS is pre-wrap). Inline: `code`,
// ||spoilers||, **bold** / __bold__, *italic* / _italic_ (underscores only at word edges, so
// snake_case stays), ~~strikethrough~~, http(s) URLs as links, highlighted mentions. Code is
// literal; nothing but http(s) becomes a link, and every piece of the body goes in as text, so a
// body full of <script> or javascript: shows as exactly that.

import { h } from './dom.js';
import { richText } from './format.js';

const FENCE = /^\s*```/;
const QUOTE = /^\s*> ?/;
const BULLET = /^\s*[-*+]\s+/;
const NUMBERED = /^\s*(\d{1,9})[.)]\s+/;

/** The nodes of a body. `inline` is true when it is a single run of text (no blocks). */
export function renderMarkdown(body, mentionNames = []) {
  const lines = body.split('\n');
  const blocks = [];
  let text = [];
  const flushText = () => {
    if (text.length) blocks.push({ kind: 'text', nodes: inline(text.join('\n'), mentionNames) });
    text = [];
  };
  for (let i = 0; i < lines.length;) {
    const line = lines[i];
    let end = i + 1;
    let block = null;
    if (FENCE.test(line)) {
      while (end < lines.length && !FENCE.test(lines[end])) end += 1;
      if (end < lines.length) {
        block = h('pre', { class: 'md-code' }, h('code', { text: lines.slice(i + 1, end).join('\n') }));
        end += 1;
      } else {
        end = i + 1;
      }
    } else if (QUOTE.test(line)) {
      while (end < lines.length && QUOTE.test(lines[end])) end += 1;
      const inner = lines.slice(i, end).map((l) => l.replace(QUOTE, '')).join('\n');
      block = h('blockquote', { class: 'md-quote' }, inline(inner, mentionNames));
    } else if (BULLET.test(line) || NUMBERED.test(line)) {
      const re = BULLET.test(line) ? BULLET : NUMBERED;
      while (end < lines.length && re.test(lines[end])) end += 1;
      const items = lines.slice(i, end).map((l) => h('li', {}, inline(l.replace(re, ''), mentionNames)));
      const start = re === NUMBERED ? Number(NUMBERED.exec(line)[1]) : null;
      block = re === NUMBERED ? h('ol', { class: 'md-list', start: start === 1 ? null : String(start) }, items) : h('ul', { class: 'md-list' }, items);
    }
    if (block) {
      flushText();
      blocks.push({ kind: 'block', node: block });
      i = end;
    } else {
      text.push(line);
      i += 1;
    }
  }
  flushText();
  if (blocks.length === 1 && blocks[0].kind === 'text') return { inline: true, nodes: blocks[0].nodes };
  // Text between blocks: its own line, without the line break the block already gives.
  const nodes = blocks.map((b) => (b.kind === 'block' ? b.node : h('div', { class: 'md-text' }, trimBreaks(b.nodes))));
  return { inline: false, nodes };
}

function trimBreaks(nodes) {
  const out = [...nodes];
  if (typeof out[0] === 'string') out[0] = out[0].replace(/^\n+/, '');
  const last = out.length - 1;
  if (typeof out[last] === 'string') out[last] = out[last].replace(/\n+$/, '');
  return out.filter((n) => n !== '');
}

// Inline spans, earliest first: [pattern, build(inner)]. Code and spoilers come before
// emphasis so that `**` inside code stays literal.
const SPANS = [
  [/`([^`\n]+)`/, (inner) => h('code', { class: 'md-inline-code', text: inner })],
  [/\|\|(.+?)\|\|/s, (inner, names) => spoiler(inline(inner, names))],
  [/\*\*(?=\S)(.+?)(?<=\S)\*\*/s, (inner, names) => h('strong', {}, inline(inner, names))],
  [/(?<![\p{L}\p{N}_])__(?=\S)(.+?)(?<=\S)__(?![\p{L}\p{N}_])/su, (inner, names) => h('strong', {}, inline(inner, names))],
  [/~~(?=\S)(.+?)(?<=\S)~~/s, (inner, names) => h('del', {}, inline(inner, names))],
  [/(?<![*\\])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?!\*)/s, (inner, names) => h('em', {}, inline(inner, names))],
  [/(?<![\p{L}\p{N}_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\p{L}\p{N}_])/su, (inner, names) => h('em', {}, inline(inner, names))],
];

// URLs are found before emphasis, so an underscore or asterisk in a link stays in the link.
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;

/** Inline nodes of `text`: code spans, then URLs, then emphasis on what is left. */
function inline(text, names) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    out.push(...emphasis(text.slice(last, m.index), names));
    // richText trims the sentence's punctuation and makes only safe links.
    const linked = richText(m[0], names);
    out.push(...linked);
    last = m.index + m[0].length;
  }
  out.push(...emphasis(text.slice(last), names));
  return out;
}

function emphasis(text, names) {
  if (!text) return [];
  let best = null;
  for (const [re, build] of SPANS) {
    const m = re.exec(text);
    if (m && (!best || m.index < best.m.index)) best = { m, build };
  }
  if (!best) return richText(text, names);
  const { m, build } = best;
  return [
    ...richText(text.slice(0, m.index), names),
    build(m[1], names),
    ...emphasis(text.slice(m.index + m[0].length), names),
  ];
}

function spoiler(children) {
  const el = h('span', { class: 'spoiler', role: 'button', tabindex: '0', 'aria-label': 'Spoiler: activate to reveal', 'aria-pressed': 'false' }, children);
  const reveal = (e) => {
    e.preventDefault();
    e.stopPropagation();
    el.classList.add('revealed');
    el.setAttribute('aria-pressed', 'true');
    el.removeAttribute('aria-label');
  };
  el.addEventListener('click', reveal);
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') reveal(e);
  });
  return el;
}
