// Link previews under a message: the site's name, the page's title as a link, its description
// and its picture. The server fetched the page and the picture; the picture is served by Confab
// (`/api/v1/embeds/{id}/image`, for members only, so fetched with the token like attachments),
// and the reader's browser never contacts the linked site until the link is followed. Every
// piece goes in as text; only http(s) links are made.

import { h } from '../dom.js';
import { objectUrl } from './attachments.js';

const IMAGE_BOX = 400;

/** The previews of a message, or null when it has none. */
export function renderEmbeds(ctx, embeds) {
  const cards = (embeds || []).map((e) => card(ctx, e)).filter(Boolean);
  if (!cards.length) return null;
  return h('div', { class: 'embeds' }, cards);
}

function card(ctx, e) {
  if (!/^https?:\/\//i.test(e.url || '')) return null;
  const label = e.title || e.site_name || e.url;
  const parts = [];
  if (e.site_name) parts.push(h('p', { class: 'embed-site', text: e.site_name }));
  parts.push(h('a', { class: 'embed-title', href: e.url, target: '_blank', rel: 'noopener noreferrer', text: label }));
  if (e.description) parts.push(h('p', { class: 'embed-description', text: e.description }));
  const img = e.image ? picture(ctx, e.image, label) : null;
  return h('article', { class: 'embed', 'aria-label': `Preview: ${label}` },
    h('div', { class: 'embed-text' }, parts), img);
}

function picture(ctx, image, label) {
  const scale = Math.min(1, IMAGE_BOX / Math.max(image.width || 1, image.height || 1));
  const img = h('img', {
    class: 'embed-image',
    alt: `Picture of ${label}`,
    width: String(Math.max(1, Math.round((image.width || IMAGE_BOX) * scale))),
    height: String(Math.max(1, Math.round((image.height || IMAGE_BOX) * scale))),
    decoding: 'async',
    dataset: { src: image.url },
  });
  const entry = objectUrl(ctx.api, image.url);
  if (entry.url) img.src = entry.url;
  else entry.promise.then((src) => { img.src = src; }, () => img.remove());
  return img;
}
