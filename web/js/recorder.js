// Voice notes: records the microphone with MediaRecorder, as Opus in WebM where the browser can
// (the server times WebM and Ogg audio and answers with `duration_ms`), and hands back a File to
// upload like any other. The microphone is held only while recording. Loaded on the first
// recording; whether the browser can record at all is asked in ui/uploads.js, before that.

const TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm'];
/** Recordings stop by themselves after this long. */
export const MAX_RECORDING_MS = 10 * 60_000;

export class Recorder {
  /** `onLimit()` runs when a recording reaches MAX_RECORDING_MS (and has been stopped). */
  constructor({ onLimit } = {}) {
    this.onLimit = onLimit;
    this.stream = null;
    this.recorder = null;
    this.chunks = [];
    this.startedAt = 0;
    this.limitTimer = null;
  }

  get recording() {
    return !!this.recorder;
  }

  /** Milliseconds recorded so far. */
  elapsed() {
    return this.recorder ? performance.now() - this.startedAt : 0;
  }

  /** Takes the microphone and starts recording; rejects as getUserMedia does. */
  async start() {
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
    const mimeType = TYPES.find((t) => MediaRecorder.isTypeSupported?.(t));
    this.recorder = new MediaRecorder(this.stream, mimeType ? { mimeType, audioBitsPerSecond: 32_000 } : {});
    this.chunks = [];
    this.recorder.addEventListener('dataavailable', (e) => {
      if (e.data.size) this.chunks.push(e.data);
    });
    this.recorder.start(1000);
    this.startedAt = performance.now();
    this.limitTimer = setTimeout(() => this.onLimit?.(), MAX_RECORDING_MS);
  }

  /** Stops and resolves to the recording as a File (null if nothing was recorded). */
  stop() {
    const recorder = this.recorder;
    if (!recorder) return Promise.resolve(null);
    return new Promise((resolve) => {
      recorder.addEventListener('stop', () => {
        const type = (recorder.mimeType || 'audio/webm').split(';')[0];
        const blob = new Blob(this.chunks, { type });
        this.release();
        if (!blob.size) return resolve(null);
        const ext = type.includes('ogg') ? 'ogg' : 'webm';
        resolve(new File([blob], `voice-note-${stamp(new Date())}.${ext}`, { type }));
      }, { once: true });
      recorder.stop();
    });
  }

  /** Stops without keeping anything. */
  cancel() {
    if (this.recorder?.state === 'recording') this.recorder.stop();
    this.release();
  }

  release() {
    clearTimeout(this.limitTimer);
    for (const t of this.stream?.getTracks() || []) t.stop();
    this.stream = null;
    this.recorder = null;
    this.chunks = [];
  }
}

function stamp(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}
