// A session's calls before we join one: who is in which call, the DM call ringing here, the call
// to rejoin after a reload. Joining loads the call engine (voice.js, screenshare.js), so a cold
// load does not pay for WebRTC; the frames only a call has go to the engine, as do in-call clicks.
// The microphone's failure words and `stopStream` are here too: voice notes share them.

/** This tab's call, kept across a reload: `{roomId, muted, deafened, at}`. */
const CALL_KEY = 'confab.voice.call';
/** How long after leaving the page a reload still rejoins (the server keeps the place as long). */
const REJOIN_WITHIN_MS = 30_000;

export class Calls {
  /** `chat`: the socket and requests; `store`: where call state goes; `toast(text)`: notices. */
  constructor({ chat, store, toast }) {
    this.chat = chat;
    this.store = store;
    this.toast = toast;
    /** The call engine (voice.js) once loaded. */
    this.voice = null;
    this.loading = null;
    this.stopped = false;
    this.resume = rememberedCall();
    this.unsubscribe = store.on('connection', () => this.onConnection());
  }

  /** Sign-out: leave the call and let go of everything. */
  stop() {
    this.stopped = true;
    this.unsubscribe();
    this.voice?.stop();
  }

  handleFrame(f) {
    const s = this.store;
    switch (f.type) {
      case 'voice.state':
        s.setVoiceState(f.room_id, f.participants || []);
        break;
      case 'voice.speaking':
        s.setSpeaking(f.room_id, f.user_id, !!f.speaking);
        break;
      case 'voice.ring':
        if (this.voice?.call?.roomId !== f.room_id) s.setRing({ roomId: f.room_id, from: f.from });
        break;
      case 'voice.ring_ended':
        // Ours to drop if it rang here; else the engine tells the caller.
        if (s.state.ring?.roomId === f.room_id) s.setRing(null);
        else this.voice?.handleFrame(f);
        break;
      default:
        // Offers, candidates, `voice.ended`: only in a call, which has the engine.
        this.voice?.handleFrame(f);
        break;
    }
  }

  /** Declines the DM call that rings here; every session of ours stops ringing. */
  decline() {
    const ring = this.store.state.ring;
    if (!ring) return;
    this.store.setRing(null);
    this.chat.socket.request({ type: 'voice.decline', room_id: ring.roomId }).catch(() => {});
  }

  /** Answers the DM call that rings here: joins it. */
  accept() {
    const ring = this.store.state.ring;
    if (!ring) return Promise.resolve();
    this.store.setRing(null);
    return this.join(ring.roomId);
  }

  /** Joins a room's call (Voice.join), loading the engine first. */
  async join(roomId, restore = {}) {
    let voice;
    try {
      voice = await this.engine();
    } catch (e) {
      this.store.setCallError(roomId, `Could not join the call: ${e.message}.`);
      return;
    }
    await voice?.join(roomId, restore);
  }

  /** The call engine, loaded once (null after sign-out). */
  engine() {
    // Both modules at once: one round trip, not two in a row.
    this.loading ??= Promise.all([import('./voice.js'), import('./screenshare.js')]).then(([{ Voice }, { ScreenShare }]) => {
      if (this.stopped) return null;
      const { chat, store, toast } = this;
      this.voice = new Voice({ chat, store, toast, screen: new ScreenShare({ chat, toast }) });
      return this.voice;
    }, (e) => {
      this.loading = null;
      throw e;
    });
    return this.loading;
  }

  /** The socket dropped (call states are stale) or came back (a reload's call rejoins). */
  onConnection() {
    if (this.store.state.connection.state !== 'online') {
      this.store.clearVoiceStates();
      return;
    }
    const r = this.resume;
    this.resume = null;
    if (r && !this.store.state.call) this.join(r.roomId, r);
  }

  // Only a call uses these, and a call has the engine.

  leave() {
    return this.voice?.leave();
  }

  toggleMute() {
    this.voice?.toggleMute();
  }

  toggleDeafen() {
    this.voice?.toggleDeafen();
  }

  resumeAudio() {
    this.voice?.resumeAudio();
  }

  get screen() {
    return this.voice?.screen;
  }

  get loaded() {
    return this.voice?.loaded;
  }

  /** The caller's own controls (voice-controls.js), with the engine they act on. */
  async controls() {
    return (await this.engine())?.controls();
  }
}

/** Keeps this tab's call (and, when the page goes away, since when) for a reload. */
export function rememberCall(call, at) {
  sessionStorage.setItem(CALL_KEY, JSON.stringify({ roomId: call.roomId, muted: !!call.muted, deafened: !!call.deafened, at }));
}

/** This tab left its call: a reload joins none. */
export function forgetCall() {
  sessionStorage.removeItem(CALL_KEY);
}

/** The call this tab was in before a reload, if it left it less than 30 s ago. */
function rememberedCall() {
  try {
    const c = JSON.parse(sessionStorage.getItem(CALL_KEY) || 'null');
    forgetCall();
    if (c?.roomId && typeof c.at === 'number' && Date.now() - c.at < REJOIN_WITHIN_MS) return c;
  } catch {
    // Nothing usable remembered.
  }
  return null;
}

/** Why the microphone could not be used, in words for people; `retry` says what to do after. */
export function microphoneError(e, retry = 'join again') {
  switch (e?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `Confab may not use your microphone. Allow microphone access for this site in your browser (the icon in the address bar), then ${retry}.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No microphone was found. Connect one, then ${retry}.`;
    case 'NotReadableError':
    case 'AbortError':
      return 'Your microphone is busy or not working (another app may be using it). Try again, or pick another microphone.';
    default:
      return navigator.mediaDevices?.getUserMedia
        ? `The microphone could not be started: ${e?.message || 'unknown error'}.`
        : 'This browser cannot use a microphone here (voice needs HTTPS, or localhost).';
  }
}

/** Stops every track of a stream (null: nothing). */
export function stopStream(stream) {
  for (const t of stream?.getTracks() || []) t.stop();
}
