// Attachments of a message: the extension point for the attachments feature.
//
// For now each file shows as a chip with its name and size that downloads it on click (files need
// the Authorization header, so the bytes are fetched and handed over as a blob URL). Image
// previews, upload in the composer and drag-and-drop plug in here and in `composer.js`
// (`attachmentSlot`).

import { h, icon } from '../dom.js';
import { fileSize } from '../format.js';

/** The files of a message. */
export function renderAttachments(ctx, attachments) {
  return h('ul', { class: 'attachments', 'aria-label': 'Attachments' },
    attachments.map((file) => h('li', {},
      h('button', {
        type: 'button',
        class: 'attachment',
        onClick: () => download(ctx, file),
      }, icon('paperclip', 'icon-sm'), h('span', { class: 'attachment-name', text: file.name }), h('span', { class: 'attachment-size', text: fileSize(file.size) })))));
}

async function download(ctx, file) {
  try {
    const blob = await ctx.api.fileBlob(file.url);
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: file.name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (e) {
    ctx.actions.toast(`Could not download ${file.name}: ${e.message}`);
  }
}
