// The call's sound as this listener hears it: one <audio> element per participant, each with a
// volume of its own from 0 to 200 % and a mute for this listener alone; deafening silences all.
//
// Up to 100 % the element's own volume does it (and Chrome's getStats() audioLevel, measured
// after it, shows what is really played). Above 100 %, which an element cannot do, the element
// goes silent and the track plays through Web Audio instead: MediaStreamAudioSourceNode →
// GainNode → the speakers. The element keeps playing even then: Chrome feeds a remote WebRTC
// track to Web Audio only while a media element plays it. The AudioContext is made on the first
// boost, so a call where nobody is louder than 100 % never needs one. Loaded when a call starts.

export class CallAudio {
  /**
   * `box`: the hidden container of the audio elements; `onBlocked(blocked)`: the browser held
   * the sound back (autoplay policy) or let it play again.
   */
  constructor({ box, onBlocked }) {
    this.box = box;
    this.onBlocked = onBlocked;
    this.ctx = null;
    /** userId → {el, track, stream, gain} (gain: null until they are boosted) */
    this.people = new Map();
    this.levels = new Map();
    this.deafened = false;
  }

  /** Plays exactly these tracks (userId → MediaStreamTrack); others stop. */
  sync(tracks) {
    for (const [userId, p] of this.people) {
      if (tracks.get(userId) !== p.track) this.drop(userId);
    }
    for (const [userId, track] of tracks) {
      if (!this.people.has(userId)) this.add(userId, track);
    }
  }

  add(userId, track) {
    const stream = new MediaStream([track]);
    const el = document.createElement('audio');
    el.autoplay = true;
    el.dataset.userId = userId;
    el.srcObject = stream;
    this.box.append(el);
    const p = { el, track, stream, gain: null };
    this.people.set(userId, p);
    this.apply(userId);
    this.play(p);
  }

  drop(userId) {
    const p = this.people.get(userId);
    if (!p) return;
    p.gain?.disconnect();
    p.el.srcObject = null;
    p.el.remove();
    this.people.delete(userId);
  }

  /** A person's level here: `{volume}` in percent and `muted` for this listener only. */
  setLevel(userId, level) {
    this.levels.set(userId, level);
    this.apply(userId);
  }

  /** Deafened: every element is muted and every gain 0 until undeafened. */
  setDeafened(deafened) {
    this.deafened = deafened;
    for (const userId of this.people.keys()) this.apply(userId);
  }

  apply(userId) {
    const p = this.people.get(userId);
    if (!p) return;
    const level = this.levels.get(userId) || { volume: 100, muted: false };
    const volume = level.muted ? 0 : level.volume / 100;
    const boost = volume > 1;
    p.el.muted = this.deafened;
    p.el.volume = boost ? 0 : volume;
    if (boost && !p.gain) p.gain = this.boost(p.stream);
    if (p.gain) p.gain.gain.value = boost && !this.deafened ? volume : 0;
  }

  /** A gain on the Web Audio path of one stream, silent until set. */
  boost(stream) {
    if (!this.ctx) {
      this.ctx = new AudioContext();
      this.ctx.addEventListener('statechange', () => {
        if (this.ctx?.state === 'running') this.onBlocked(false);
      });
      this.startContext();
    }
    const gain = this.ctx.createGain();
    gain.gain.value = 0;
    this.ctx.createMediaStreamSource(stream).connect(gain).connect(this.ctx.destination);
    return gain;
  }

  /** Starts what the browser held back; call it after a click. */
  resume() {
    for (const p of this.people.values()) this.play(p);
    if (this.ctx) this.startContext();
  }

  play(p) {
    p.el.play().then(() => this.onBlocked(false), (e) => {
      if (e.name === 'NotAllowedError') this.onBlocked(true);
    });
  }

  /** A context made without a user gesture stays suspended: the sound counts as held back. */
  async startContext() {
    const ctx = this.ctx;
    if (ctx.state === 'running') return;
    const started = await Promise.race([
      ctx.resume().then(() => true, () => false),
      new Promise((r) => { setTimeout(() => r(false), 500); }),
    ]);
    if (!started && ctx === this.ctx && ctx.state !== 'running') this.onBlocked(true);
  }

  close() {
    for (const userId of [...this.people.keys()]) this.drop(userId);
    this.ctx?.close().catch(() => {});
    this.ctx = null;
  }
}
