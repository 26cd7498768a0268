// The files of a message: image thumbnails that open a viewer, voice notes that play inline, and
// download cards for everything else.
//
// Files need the Authorization header, which <img src> and <audio src> cannot send, so their
// bytes are fetched with the token and shown through blob: URLs (the CSP allows img-src and
// media-src blob:). Thumbnails are cached by URL for the session, so a message rebuilt by the
// timeline shows its picture at once; voice-note players live in a registry by file id, so a
// note keeps playing, and its view keeps up, when its message is rebuilt.

import { h, icon } from '../dom.js';
import { duration, fileKind, fileSize } from '../format.js';
import { modal } from './dialogs.js';

const THUMB_BOX = { width: 320, height: 240 };
const MAX_CACHED = 200;

/** URL → {promise, url}: object URLs of fetched files and thumbnails. */
const blobs = new Map();
/** File id → voice note player state. */
const players = new Map();

/** The files of a message. */
export function renderAttachments(ctx, attachments) {
  return h('ul', { class: 'attachments', 'aria-label': attachments.length === 1 ? 'Attachment' : `${attachments.length} attachments` },
    attachments.map((file) => {
      const view = attachmentView(ctx, file);
      // Pictures sit side by side; cards and voice notes take a line each.
      return h('li', { class: ['attachment-item', !view.classList.contains('attachment-image') && 'wide'] }, view);
    }));
}

function attachmentView(ctx, file) {
  const type = file.content_type || '';
  if (file.thumbnail_url && type.startsWith('image/')) return imageTile(ctx, file);
  if (type.startsWith('audio/')) return voiceNote(ctx, file);
  return fileCard(ctx, file);
}

/** Forgets cached files and stops voice notes (sign out). */
export function clearMediaCache() {
  for (const p of players.values()) p.audio?.pause();
  players.clear();
  for (const entry of blobs.values()) if (entry.url) URL.revokeObjectURL(entry.url);
  blobs.clear();
}

/** An object URL for a file URL (or an avatar's), fetched once with the token. */
export function objectUrl(api, url) {
  let entry = blobs.get(url);
  if (!entry) {
    entry = { url: null, promise: null };
    entry.promise = api.fileBlob(url).then((blob) => {
      entry.url = URL.createObjectURL(blob);
      return entry.url;
    });
    entry.promise.catch(() => blobs.delete(url));
    blobs.set(url, entry);
    if (blobs.size > MAX_CACHED) {
      const [oldest, old] = blobs.entries().next().value;
      blobs.delete(oldest);
      if (old.url) URL.revokeObjectURL(old.url);
    }
  }
  return entry;
}

/** Sets an image's source from a file URL: at once when cached, else once fetched. */
function loadInto(img, api, url, onError) {
  const entry = objectUrl(api, url);
  if (entry.url) {
    img.src = entry.url;
    return;
  }
  entry.promise.then((src) => { img.src = src; }, onError);
}

// ---- images ----

/** Width and height that fit `box` keeping the picture's shape. */
function fit(width, height, box) {
  if (!width || !height) return { width: box.height, height: box.height };
  const scale = Math.min(1, box.width / width, box.height / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

function imageTile(ctx, file) {
  const size = fit(file.width, file.height, THUMB_BOX);
  const img = h('img', { class: 'attachment-thumb', alt: file.name, width: String(size.width), height: String(size.height), decoding: 'async' });
  const button = h('button', {
    type: 'button',
    class: 'attachment-image',
    'aria-label': `Open image ${file.name}`,
    title: file.name,
    onClick: () => openViewer(ctx, file, img),
  }, img);
  loadInto(img, ctx.api, file.thumbnail_url, () => {
    button.replaceWith(fileCard(ctx, file));
  });
  return button;
}

/** The whole picture in a dialog; Esc or the close button returns to the thumbnail. */
function openViewer(ctx, file, thumb) {
  const img = h('img', { class: 'viewer-image', alt: file.name });
  if (file.width && file.height) {
    img.width = file.width;
    img.height = file.height;
  }
  if (thumb.src) img.src = thumb.src;
  const status = h('p', { class: 'viewer-status', role: 'status' });
  const facts = [file.width && file.height ? `${file.width} × ${file.height}` : null, fileSize(file.size), fileKind(file.content_type)].filter(Boolean).join(' · ');
  modal({
    title: file.name,
    className: 'modal-viewer',
    content: [
      h('figure', { class: 'viewer-figure' }, img),
      h('div', { class: 'viewer-foot' },
        h('span', { class: 'viewer-facts', text: facts }),
        status,
        h('button', { type: 'button', class: 'button small', onClick: () => download(ctx, file) }, icon('download', 'icon-sm'), 'Download')),
    ],
  });
  const entry = objectUrl(ctx.api, file.url);
  if (entry.url) img.src = entry.url;
  else {
    img.classList.add('loading');
    entry.promise.then((src) => {
      img.src = src;
      img.classList.remove('loading');
    }, (e) => { status.textContent = `Could not load the full picture: ${e.message}`; });
  }
}

// ---- other files ----

function fileCard(ctx, file) {
  const kind = fileKind(file.content_type);
  return h('button', {
    type: 'button',
    class: 'attachment-card',
    'aria-label': `Download ${file.name} (${fileSize(file.size)}, ${kind})`,
    title: `Download ${file.name}`,
    onClick: () => download(ctx, file),
  },
  h('span', { class: 'attachment-icon', 'aria-hidden': 'true' }, icon('file')),
  h('span', { class: 'attachment-text' },
    h('span', { class: 'attachment-name', text: file.name }),
    h('span', { class: 'attachment-meta', text: `${fileSize(file.size)} · ${kind}` })),
  h('span', { class: 'attachment-download', 'aria-hidden': 'true' }, icon('download', 'icon-sm')));
}

async function download(ctx, file) {
  try {
    const url = await objectUrl(ctx.api, file.url).promise;
    const a = h('a', { href: url, download: file.name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (e) {
    ctx.actions.toast(`Could not download ${file.name}: ${e.message}`);
  }
}

// ---- voice notes ----

function player(file) {
  let p = players.get(file.id);
  if (!p) {
    p = { audio: null, loading: false, error: null, views: new Set() };
    players.set(file.id, p);
  }
  return p;
}

function voiceNote(ctx, file) {
  const p = player(file);
  const total = () => file.duration_ms || (Number.isFinite(p.audio?.duration) ? p.audio.duration * 1000 : 0);
  const button = h('button', { type: 'button', class: 'voice-play' });
  const bar = h('progress', { class: 'voice-progress', max: '1', value: '0', 'aria-hidden': 'true' });
  const time = h('span', { class: 'voice-time' });
  const el = h('div', { class: 'voice-note', role: 'group', 'aria-label': `Voice note, ${spoken(file.duration_ms)}` },
    button, h('div', { class: 'voice-track' }, bar, time));
  let shown = false;
  const view = () => {
    // A view whose message was rebuilt or scrolled away stops listening.
    if (el.isConnected) shown = true;
    else if (shown) {
      p.views.delete(view);
      return;
    }
    const playing = !!p.audio && !p.audio.paused && !p.audio.ended;
    const at = p.audio ? p.audio.currentTime * 1000 : 0;
    button.replaceChildren(icon(playing ? 'pause' : 'play'));
    button.setAttribute('aria-label', playing ? 'Pause voice note' : 'Play voice note');
    button.disabled = p.loading;
    el.classList.toggle('playing', playing);
    const length = total();
    bar.value = length ? Math.min(1, at / length) : 0;
    time.textContent = p.error ? 'Could not play' : playing || at > 0 ? `${duration(at)} / ${duration(length)}` : duration(length);
  };
  p.views.add(view);
  button.addEventListener('click', () => toggle(ctx, file, p));
  view();
  return el;
}

async function toggle(ctx, file, p) {
  if (p.audio && !p.audio.paused) {
    p.audio.pause();
    return;
  }
  if (!p.audio) {
    p.error = null;
    p.loading = true;
    refresh(p);
    try {
      const src = await objectUrl(ctx.api, file.url).promise;
      p.audio = new Audio(src);
      for (const ev of ['play', 'pause', 'ended', 'timeupdate', 'loadedmetadata']) p.audio.addEventListener(ev, () => refresh(p));
      p.audio.addEventListener('ended', () => { p.audio.currentTime = 0; });
    } catch (e) {
      p.error = e.message;
      ctx.actions.toast(`Could not load the voice note: ${e.message}`);
      return;
    } finally {
      p.loading = false;
      refresh(p);
    }
  }
  for (const other of players.values()) if (other !== p) other.audio?.pause();
  try {
    await p.audio.play();
  } catch (e) {
    ctx.actions.toast(`Could not play the voice note: ${e.message}`);
  }
}

function refresh(p) {
  for (const view of [...p.views]) view();
}

function spoken(ms) {
  const s = Math.max(1, Math.round((ms || 0) / 1000));
  if (!ms) return 'length unknown';
  return s < 60 ? `${s} ${s === 1 ? 'second' : 'seconds'}` : duration(ms);
}
