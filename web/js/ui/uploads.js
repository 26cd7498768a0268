// The composer's files: the attach and record buttons, and the tray of files picked for the next
// message with their upload progress.
//
// Files come from the file picker, from a drop on the room (room.js) or a paste into the message
// box (composer.js); each starts uploading at once (chat.upload), so it is usually up by the time
// the message is written. Voice notes are recorded here (recorder.js) and join the tray as files.
// The tray renders from the store's `uploads:<room>` topic, keyed by upload, so progress updates
// change a bar in place instead of rebuilding what may have focus.

import { h, icon, iconButton } from '../dom.js';
import { duration, fileKind, fileSize } from '../format.js';
import { MAX_ATTACHMENTS } from '../chat.js';
import { microphoneError } from '../calls.js';

export class UploadTray {
  constructor(ctx) {
    this.ctx = ctx;
    this.fileInput = h('input', { type: 'file', multiple: true, hidden: true, tabindex: '-1', 'aria-hidden': 'true', 'aria-label': 'Files to attach' });
    this.fileInput.addEventListener('change', () => {
      this.add([...this.fileInput.files]);
      this.fileInput.value = '';
    });
    this.attachButton = iconButton('paperclip', 'Attach files', () => this.fileInput.click(), { class: 'attach-button' });
    this.recordButton = canRecord()
      ? iconButton('mic', 'Record a voice note', () => this.toggleRecording(), { class: 'record-button', 'aria-pressed': 'false' })
      : null;
    this.buttons = [this.fileInput, this.attachButton, this.recordButton];

    this.clockText = h('span', { class: 'recording-time', 'aria-hidden': 'true', text: '0:00' });
    this.recordingRow = h('div', { class: 'recording', hidden: true },
      h('span', { class: 'recording-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'recording-label', text: 'Recording a voice note' }),
      this.clockText,
      h('button', { type: 'button', class: 'button ghost small', text: 'Cancel', onClick: () => this.cancelRecording() }),
      h('button', { type: 'button', class: 'button primary small', text: 'Stop and attach', onClick: () => this.stopRecording() }));
    this.list = h('ul', { class: 'upload-list', 'aria-label': 'Files to send' });
    this.note = h('p', { class: 'upload-note', role: 'status' });
    this.el = h('div', { class: 'upload-tray' }, this.recordingRow, this.list, this.note);

    this.rows = new Map();
    this.previews = new Map();
    // The recorder's module loads on the first recording (recorder.js).
    this.recorder = null;
    this.unsubscribe = ctx.store.on(`uploads:${ctx.roomId}`, () => this.render());
    this.render();
  }

  destroy() {
    this.unsubscribe();
    this.recorder?.cancel();
    clearInterval(this.clock);
    clearTimeout(this.noteTimer);
    for (const url of this.previews.values()) URL.revokeObjectURL(url);
  }

  /** Starts uploading files for the next message (as many as one message may carry). */
  add(files) {
    const { store, chat, roomId } = this.ctx;
    const room = MAX_ATTACHMENTS - store.uploads(roomId).length;
    if (files.length > room) this.say(`A message can carry at most ${MAX_ATTACHMENTS} files.`);
    for (const file of files.slice(0, Math.max(0, room))) chat.upload(roomId, file);
  }

  /** What to send: `{attachments, keys}` of the uploaded files, or null while some are still going up. */
  ready() {
    const uploads = this.ctx.store.uploads(this.ctx.roomId);
    if (uploads.some((u) => u.state === 'uploading')) return null;
    const done = uploads.filter((u) => u.state === 'done');
    return { attachments: done.map((u) => u.attachment), keys: done.map((u) => u.key) };
  }

  /** A short note under the tray, read out politely. */
  say(text) {
    this.note.textContent = text;
    this.el.hidden = false;
    clearTimeout(this.noteTimer);
    this.noteTimer = setTimeout(() => {
      this.note.textContent = '';
      this.render();
    }, 8000);
  }

  // ---- the tray ----

  render() {
    const uploads = this.ctx.store.uploads(this.ctx.roomId);
    const keys = new Set(uploads.map((u) => u.key));
    for (const [key, row] of this.rows) {
      if (keys.has(key)) continue;
      row.li.remove();
      this.rows.delete(key);
      if (this.previews.has(key)) {
        URL.revokeObjectURL(this.previews.get(key));
        this.previews.delete(key);
      }
    }
    let cursor = this.list.firstChild;
    for (const u of uploads) {
      let row = this.rows.get(u.key);
      if (!row) {
        row = this.row(u);
        this.rows.set(u.key, row);
      }
      this.update(row, u);
      if (row.li === cursor) cursor = cursor.nextSibling;
      else this.list.insertBefore(row.li, cursor);
    }
    this.list.hidden = !uploads.length;
    this.el.hidden = !uploads.length && !this.recorder?.recording && !this.note.textContent;
  }

  row(u) {
    const { chat, roomId } = this.ctx;
    let thumb;
    if (u.file && /^image\/(png|jpeg|gif|webp)$/.test(u.type)) {
      const url = URL.createObjectURL(u.file);
      this.previews.set(u.key, url);
      thumb = h('img', { class: 'upload-thumb', src: url, alt: '' });
    } else {
      thumb = h('span', { class: 'upload-thumb upload-icon', 'aria-hidden': 'true' }, icon(u.type.startsWith('audio/') ? 'mic' : 'file'));
    }
    const row = {
      state: null,
      li: h('li', { class: 'upload' }),
      meta: h('span', { class: 'upload-meta' }),
      bar: h('progress', { class: 'upload-progress', max: '1', value: '0', 'aria-label': `Uploading ${u.name}` }),
      error: h('p', { class: 'upload-error' }),
      retry: iconButton('retry', `Upload ${u.name} again`, () => chat.retryUpload(roomId, u.key), { hidden: true }),
      remove: iconButton('close', `Remove ${u.name}`, () => {
        chat.removeUpload(roomId, u.key);
        this.ctx.actions.focusComposer();
      }),
    };
    row.li.append(thumb,
      h('div', { class: 'upload-main' }, h('span', { class: 'upload-name', text: u.name, title: u.name }), row.meta, row.bar, row.error),
      row.retry, row.remove);
    return row;
  }

  update(row, u) {
    const pct = Math.floor((u.progress || 0) * 100);
    const size = fileSize(u.size);
    row.li.dataset.state = u.state;
    if (u.state === 'uploading') {
      row.meta.textContent = `${size} · uploading ${pct}%`;
      row.bar.value = u.progress || 0;
    } else if (u.state === 'done') {
      const a = u.attachment || {};
      const kind = a.duration_ms && a.content_type?.startsWith('audio/') ? 'Voice note' : fileKind(a.content_type || u.type);
      row.meta.textContent = `${size} · ${kind}${a.duration_ms ? ` · ${duration(a.duration_ms)}` : ''} · ready`;
      row.bar.value = 1;
    } else {
      row.meta.textContent = size;
    }
    row.bar.hidden = u.state !== 'uploading';
    row.retry.hidden = !(u.state === 'failed' && u.retryable);
    if (u.state === 'failed' && row.state !== 'failed') {
      // A fresh alert element, so the failure is announced once.
      const alert = h('p', { class: 'upload-error', role: 'alert', text: u.error });
      row.error.replaceWith(alert);
      row.error = alert;
    }
    row.state = u.state;
  }

  // ---- voice notes ----

  toggleRecording() {
    if (this.recorder?.recording) this.stopRecording();
    else this.startRecording();
  }

  async startRecording() {
    if (this.starting) return;
    this.starting = true;
    try {
      if (!this.recorder) {
        const { Recorder } = await import('../recorder.js');
        this.recorder = new Recorder({ onLimit: () => this.stopRecording() });
      }
      await this.recorder.start();
    } catch (e) {
      this.say(microphoneError(e, 'record again'));
      return;
    } finally {
      this.starting = false;
    }
    this.showRecording(true);
  }

  async stopRecording() {
    if (!this.recorder?.recording) return;
    this.showRecording(false);
    const file = await this.recorder.stop();
    if (file) this.add([file]);
    else this.say('Nothing was recorded.');
  }

  cancelRecording() {
    this.recorder?.cancel();
    this.showRecording(false);
    this.say('Voice note discarded.');
    this.recordButton?.focus();
  }

  showRecording(on) {
    clearInterval(this.clock);
    this.recordingRow.hidden = !on;
    if (this.recordButton) {
      this.recordButton.setAttribute('aria-pressed', String(on));
      const label = on ? 'Stop recording and attach the voice note' : 'Record a voice note';
      this.recordButton.setAttribute('aria-label', label);
      this.recordButton.title = label;
      this.recordButton.classList.toggle('active', on);
    }
    if (on) {
      const tick = () => { this.clockText.textContent = duration(this.recorder.elapsed()); };
      tick();
      this.clock = setInterval(tick, 250);
    }
    this.render();
  }
}

/** Whether this browser can record a voice note (recorder.js, loaded on first use, does it). */
function canRecord() {
  return typeof MediaRecorder !== 'undefined' && !!navigator.mediaDevices?.getUserMedia;
}
