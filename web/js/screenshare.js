// Screen share in a call (docs/protocol.md, "Voice", 7): the WebRTC side.
//
// Sharing: `getDisplayMedia`, then `voice.screen {active: true}`; the server's next offer has a
// video m-line it receives on (`recvonly`), and the next answer attaches the screen track to
// that transceiver, found by mid. Stopping (the button, or the browser's own "Stop sharing",
// which ends the track) sends `voice.screen {active: false}`. Watching: every `sendonly` video
// m-line of an offer whose `a=msid` stream id is a user id carries that user's screen. The
// views (ui/screen.js, loaded on first use) read `local` and `remote` and listen with `on`.

export class ScreenShare {
  constructor({ chat, toast }) {
    this.chat = chat;
    this.toast = toast;
    /** Our shared screen while sharing. */
    this.local = null;
    /** The call's room while sharing. */
    this.roomId = null;
    /** Screens we watch: user id -> MediaStream. */
    this.remote = new Map();
    this.listeners = new Set();
  }

  /** Calls `fn()` on every change; returns the unsubscribe. */
  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed() {
    for (const fn of this.listeners) fn();
  }

  get active() {
    return !!this.local;
  }

  /** Shares a screen, window or tab in `roomId`'s call (which we are in). */
  async start(roomId) {
    if (this.local) return;
    if (!navigator.mediaDevices?.getDisplayMedia) {
      this.toast('This browser cannot share a screen here.');
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
    } catch (e) {
      if (e?.name !== 'NotAllowedError' && e?.name !== 'AbortError') this.toast(`The screen could not be shared: ${e?.message || 'unknown error'}.`);
      return;
    }
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    track.contentHint = 'detail';
    track.addEventListener('ended', () => this.stop());
    this.local = stream;
    this.roomId = roomId;
    this.changed();
    try {
      await this.chat.socket.request({ type: 'voice.screen', room_id: roomId, active: true });
    } catch (e) {
      this.dropLocal();
      this.toast(e?.code === 'screen_share_limit'
        ? 'Two people are already sharing their screen in this call. Try again when one stops.'
        : `The screen could not be shared: ${e?.message || 'unknown error'}.`);
    }
  }

  /** Stops sharing. */
  stop() {
    if (!this.local) return;
    const roomId = this.roomId;
    this.dropLocal();
    if (roomId && this.chat.socket.ready) this.chat.socket.request({ type: 'voice.screen', room_id: roomId, active: false }).catch(() => {});
  }

  dropLocal() {
    for (const t of this.local?.getTracks() || []) t.stop();
    this.local = null;
    this.roomId = null;
    this.changed();
  }

  /** Before answering an offer: our screen goes on the video m-line the server receives on. */
  async attach(pc, sections) {
    const m = sections.find((s) => s.kind === 'video' && s.direction === 'recvonly');
    if (!m) return;
    const t = pc.getTransceivers().find((x) => x.mid === m.mid);
    if (!t) return;
    const track = this.local?.getVideoTracks()[0] || null;
    if (t.sender.track !== track) await t.sender.replaceTrack(track);
    const direction = track ? 'sendonly' : 'inactive';
    if (t.direction !== direction) t.direction = direction;
  }

  /** After answering: the screens the offer sends us. */
  sync(pc, sections) {
    const remote = new Map();
    for (const m of sections) {
      if (m.kind !== 'video' || m.direction !== 'sendonly' || !m.stream || m.stream === '-') continue;
      const t = pc.getTransceivers().find((x) => x.mid === m.mid);
      if (!t?.receiver.track) continue;
      const old = this.remote.get(m.stream);
      remote.set(m.stream, old?.getTracks()[0] === t.receiver.track ? old : new MediaStream([t.receiver.track]));
    }
    const same = remote.size === this.remote.size && [...remote].every(([u, s]) => this.remote.get(u) === s);
    this.remote = remote;
    if (!same) this.changed();
  }

  /** The call ended here: stop sharing (the server ended it too) and forget the screens. */
  release() {
    if (this.local) this.dropLocal();
    if (this.remote.size) {
      this.remote = new Map();
      this.changed();
    }
  }
}
