// Voice calls: the WebRTC side of a room's call (docs/protocol.md, "Voice"), the call engine.
// calls.js loads it (and screenshare.js) on the first join or answer, and keeps what matters
// before that: who is in which call, the ring, the call to rejoin after a reload.
//
// One call at a time. Joining takes the microphone first, so a refusal costs nothing on the
// server; then `voice.join`, whose ack carries the ICE servers (TURN credentials included); then
// the server, always the offerer, sends `voice.offer`, answered on one RTCPeerConnection for the
// life of the call, renegotiations included. In every offer the first audio m-line is our
// microphone; each further one carries one other participant, named by its `a=msid` stream id
// (their user id); inactive ones (`msid:-`) are parked slots. Remote audio plays through one
// <audio> element per participant, in a hidden container that outlives the room views.
//
// What the views show (who is in which call, our call's status, errors, the microphones) lives in
// the store and changes only through its methods; this module owns the PeerConnection, the
// microphone stream and the audio elements, and releases them on leave, on `voice.ended` and at
// sign-out. When the socket drops the server ends our part in the call; once it is back we join
// again with the same microphone and mute state. The caller's own controls (push to talk,
// volumes, audio processing, the input device) are voice-controls.js, loaded with the first call.

import { forgetCall, microphoneError, rememberCall, stopStream } from './calls.js';

const MAX_ICE_RETRIES = 2;

/**
 * The m-lines of an SDP in order: `{mid, kind, direction, stream}` where `stream` is the `a=msid`
 * stream id ('-' or null when none).
 */
export function mediaSections(sdp) {
  return sdp.split(/\r?\nm=/).slice(1).map((section) => {
    const lines = section.split(/\r?\n/);
    const attr = (name) => lines.find((l) => l.startsWith(`a=${name}`));
    const msid = attr('msid:');
    return {
      kind: lines[0].split(' ')[0],
      mid: attr('mid:')?.slice(6).trim() ?? null,
      direction: ['sendrecv', 'sendonly', 'recvonly', 'inactive'].find((d) => lines.includes(`a=${d}`)) || 'sendrecv',
      stream: msid ? msid.slice(7).trim().split(/\s+/)[0] : null,
    };
  });
}

export class Voice {
  /**
   * `chat`: the socket and requests; `store`: where call state goes; `toast(text)`: notices;
   * `screen`: our screen share and the ones we watch (screenshare.js, loaded with this module).
   */
  constructor({ chat, store, toast, screen }) {
    this.chat = chat;
    this.store = store;
    this.toast = toast;
    this.call = null;
    /** The VoiceControls (voice-controls.js) once `controls()` loaded them. */
    this.loaded = null;
    this.loading = null;
    this.leaving = null;
    // Loaded on a first join, maybe while the socket is down: then its return rejoins.
    this.offline = store.state.connection.state !== 'online';
    this.audioBox = document.createElement('div');
    this.audioBox.className = 'call-audio';
    this.audioBox.hidden = true;
    document.body.append(this.audioBox);
    this.screen = screen;
    this.onPageHide = () => this.rememberCall(Date.now());
    window.addEventListener('pagehide', this.onPageHide);
    this.unsubscribe = store.on('connection', () => this.onConnection());
    this.onDeviceChange = () => this.loaded?.listMicrophones();
    navigator.mediaDevices?.addEventListener?.('devicechange', this.onDeviceChange);
  }

  /** Sign-out: leave the call and let go of everything. */
  stop() {
    this.leave();
    this.unsubscribe();
    window.removeEventListener('pagehide', this.onPageHide);
    navigator.mediaDevices?.removeEventListener?.('devicechange', this.onDeviceChange);
    this.audioBox.remove();
  }

  // ---- server events ----

  /** The frames of a call (calls.js keeps the others). */
  handleFrame(f) {
    switch (f.type) {
      case 'voice.offer':
        if (this.call?.roomId === f.room_id) this.offer(this.call, f.sdp);
        break;
      case 'voice.candidate':
        if (this.call?.roomId === f.room_id) this.remoteCandidate(this.call, f.candidate);
        break;
      case 'voice.ended':
        if (this.call?.roomId === f.room_id && this.call.joined) this.ended(f.reason);
        break;
      case 'voice.ring_ended':
        this.ringEnded(f.room_id, f.reason);
        break;
      default:
        break;
    }
  }

  /** A ring of ours stopped: a decline, or no answer, is told to the caller. */
  ringEnded(roomId, reason) {
    const s = this.store;
    if (this.call?.roomId !== roomId || this.store.callParticipants(roomId).length > 1) return;
    const room = s.room(roomId);
    const who = room ? s.roomName(room) : 'They';
    if (reason === 'declined') this.toast(`${who} declined the call.`);
    else if (reason === 'timeout') this.toast(`${who} did not answer.`);
  }

  // ---- joining and leaving ----

  /**
   * Joins a room's call (leaving any other). Resolves when the request is done or failed.
   * `restore` carries the mute and deafen state of a call this tab was in before a reload.
   */
  async join(roomId, restore = {}) {
    if (this.call?.roomId === roomId) return;
    if (this.call) await this.leave();
    const s = this.store;
    s.setCallError(null);
    const call = { roomId, pc: null, sender: null, mic: null, audio: null, ptt: null, joined: false, offers: Promise.resolve(), senderSync: Promise.resolve(), pendingOffer: null, iceRetries: 0 };
    this.call = call;
    s.startCall(roomId, { status: 'joining', muted: !!restore.muted, deafened: !!restore.deafened });
    let controls;
    try {
      controls = await this.controls();
      call.mic = await this.openMicrophone(controls.preferredMicrophone(), { fallback: true });
      if (this.call === call) await controls.attach(call, { deafened: !!restore.deafened });
    } catch (e) {
      if (this.call === call) this.fail(roomId, microphoneError(e));
      else stopStream(call.mic);
      return;
    }
    if (this.call !== call) {
      stopStream(call.mic);
      controls.detach(call);
      return;
    }
    await this.connect(call);
  }

  /** Asks the server for a place in the call and builds the PeerConnection. */
  async connect(call) {
    const s = this.store;
    call.joined = false;
    call.pendingOffer = null;
    s.updateCall({ status: 'connecting' });
    let ack;
    try {
      await this.leaving;
      if (this.call !== call) return;
      ack = await this.chat.socket.request({ type: 'voice.join', room_id: call.roomId });
    } catch (e) {
      if (this.call !== call) return;
      if (e.code === 'disconnected') {
        // Joined again when the socket is back (onConnection).
        s.updateCall({ status: 'reconnecting' });
        return;
      }
      this.fail(call.roomId, e.code === 'voice_full' ? 'This call is full.' : `Could not join the call: ${e.message}.`);
      return;
    }
    if (this.call !== call) return;
    call.joined = true;
    this.rememberCall(null);
    this.closePeer(call);
    const pc = new RTCPeerConnection({ iceServers: ack.ice_servers || [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    call.pc = pc;
    pc.onicecandidate = (e) => {
      if (e.candidate && e.candidate.candidate && this.call === call && call.pc === pc) {
        this.chat.socket.send({ type: 'voice.candidate', room_id: call.roomId, candidate: e.candidate.toJSON() });
      }
    };
    pc.onconnectionstatechange = () => this.onPeerState(call, pc);
    if (s.state.call?.muted) this.chat.socket.send({ type: 'voice.mute', room_id: call.roomId, muted: true });
    if (s.state.call?.deafened) this.chat.socket.send({ type: 'voice.deafen', room_id: call.roomId, deafened: true });
    if (call.pendingOffer) {
      const sdp = call.pendingOffer;
      call.pendingOffer = null;
      this.offer(call, sdp);
    }
  }

  /** Leaves the call (if any) and releases the microphone, connection and audio. */
  async leave() {
    const call = this.call;
    if (!call) return;
    this.release(call);
    this.store.endCall();
    if (call.joined) await this.sendLeave(call.roomId);
  }

  /**
   * Tells the server we left, and remembers the request until it is answered: a join sent before
   * then could be ended by the server's late goodbye to the old participation.
   */
  sendLeave(roomId) {
    this.leaving = this.chat.socket.request({ type: 'voice.leave', room_id: roomId }).catch(() => {});
    return this.leaving;
  }

  /** The server ended our part (another tab joined, we left the room, the server stops). */
  ended(reason) {
    const call = this.call;
    this.release(call);
    this.store.endCall();
    this.toast(endedText(reason));
  }

  fail(roomId, message) {
    const call = this.call;
    if (call) this.release(call);
    this.store.endCall();
    this.store.setCallError(roomId, message);
  }

  release(call) {
    if (this.call === call) {
      this.call = null;
      forgetCall();
    }
    this.closePeer(call);
    stopStream(call.mic);
    call.mic = null;
    this.loaded?.detach(call);
  }

  closePeer(call) {
    if (call.pc) {
      call.pc.onicecandidate = null;
      call.pc.onconnectionstatechange = null;
      call.pc.close();
      call.pc = null;
    }
    call.sender = null;
    call.audio?.sync(new Map());
    this.screen.release();
  }

  // ---- negotiation ----

  /** Answers an offer, one at a time in arrival order. */
  offer(call, sdp) {
    if (!call.pc) {
      call.pendingOffer = sdp;
      return;
    }
    const pc = call.pc;
    call.offers = call.offers.then(() => this.answer(call, pc, sdp)).catch((e) => {
      if (this.call !== call || call.pc !== pc) return;
      console.warn('voice negotiation failed', e);
      this.fail(call.roomId, `The call could not be set up: ${e.message}.`);
      this.sendLeave(call.roomId);
    });
  }

  async answer(call, pc, sdp) {
    if (call.pc !== pc) return;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const sections = mediaSections(sdp);
    const mine = this.micTransceiver(pc, sections);
    if (mine) {
      call.sender = mine.sender;
      await this.loaded.syncSender(call);
      if (mine.direction !== 'sendonly') mine.direction = 'sendonly';
    }
    await this.screen.attach(pc, sections);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    if (call.pc !== pc) return;
    this.chat.socket.send({ type: 'voice.answer', room_id: call.roomId, sdp: pc.localDescription.sdp });
    call.audio?.sync(this.remoteTracks(pc, sections));
    this.screen.sync(pc, sections);
  }

  /** The transceiver of the first audio m-line: our microphone. */
  micTransceiver(pc, sections) {
    const first = sections.find((m) => m.kind === 'audio');
    if (!first) return null;
    return pc.getTransceivers().find((t) => t.mid === first.mid) || null;
  }

  /** The other participants' tracks by user id, from the offer's live m-lines after the first. */
  remoteTracks(pc, sections) {
    const tracks = new Map();
    const audio = sections.filter((m) => m.kind === 'audio').slice(1);
    for (const m of audio) {
      if (!m.stream || m.stream === '-' || m.direction === 'inactive' || m.direction === 'recvonly') continue;
      const t = pc.getTransceivers().find((x) => x.mid === m.mid);
      if (t?.receiver.track) tracks.set(m.stream, t.receiver.track);
    }
    return tracks;
  }

  remoteCandidate(call, candidate) {
    const pc = call.pc;
    if (!pc) return;
    call.offers = call.offers.then(() => pc.addIceCandidate(candidate)).catch((e) => console.warn('voice candidate refused', e));
  }

  onPeerState(call, pc) {
    if (this.call !== call || call.pc !== pc) return;
    const state = pc.connectionState;
    if (state === 'connected') {
      call.iceRetries = 0;
      this.store.updateCall({ status: 'connected' });
    } else if (state === 'failed') {
      // The server drops us too; join again while that has a chance of working.
      if (call.iceRetries >= MAX_ICE_RETRIES) {
        this.fail(call.roomId, 'The call\'s audio could not get through your network.');
        this.sendLeave(call.roomId);
        return;
      }
      call.iceRetries += 1;
      this.rejoin(call);
    } else if (state === 'disconnected' || state === 'connecting') {
      if (this.store.state.call?.status === 'connected') this.store.updateCall({ status: 'reconnecting' });
    }
  }

  /** Joins again on a fresh PeerConnection, keeping the microphone and mute state. */
  async rejoin(call) {
    this.closePeer(call);
    this.store.updateCall({ status: 'reconnecting' });
    if (call.joined && this.chat.socket.ready) {
      call.joined = false;
      await this.sendLeave(call.roomId);
    }
    if (this.call === call && this.chat.socket.ready) await this.connect(call);
  }

  /** The socket dropped (the server ended our part) or came back (join again). */
  onConnection() {
    const state = this.store.state.connection.state;
    const call = this.call;
    if (state !== 'online') {
      this.offline = true;
      if (call) {
        call.joined = false;
        this.closePeer(call);
        this.store.updateCall({ status: 'reconnecting' });
      }
      return;
    }
    if (!this.offline) return;
    this.offline = false;
    if (call) this.connect(call);
  }

  /** Keeps this tab's call (and, when the page goes away, since when) for a reload. */
  rememberCall(at) {
    const c = this.store.state.call;
    if (this.call && c) rememberCall(c, at);
  }

  // ---- microphone ----

  /**
   * The microphone as a stream: `deviceId` exactly (Chrome passes over an `ideal` one while
   * another is open); a remembered device that is gone falls back to the default.
   */
  async openMicrophone(deviceId, { fallback = false } = {}) {
    if (!navigator.mediaDevices?.getUserMedia) throw new DOMException('no media devices', 'NotSupportedError');
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: this.loaded.constraints(deviceId) });
    } catch (e) {
      if (!deviceId || !fallback || !['OverconstrainedError', 'NotFoundError'].includes(e.name)) throw e;
      return this.openMicrophone(null);
    }
    const track = stream.getAudioTracks()[0];
    if (track) track.enabled = this.micOpen(this.call);
    return stream;
  }

  /**
   * Mutes or unmutes: the track stops sending sound and the server stops forwarding it.
   * Unmuting while deafened undeafens too, as people expect of the one "talk" gesture.
   */
  setMuted(muted) {
    const call = this.call;
    if (!call) return;
    if (!muted && this.store.state.call?.deafened) this.setDeafened(false);
    this.store.updateCall({ muted });
    this.enableMicrophone(call);
    if (call.joined) this.chat.socket.send({ type: 'voice.mute', room_id: call.roomId, muted });
  }

  /**
   * Deafens or undeafens: the call's sound stops here at once (the audio elements are muted)
   * and the server stops sending it, and our microphone is off while deafened.
   */
  setDeafened(deafened) {
    const call = this.call;
    if (!call) return;
    this.store.updateCall({ deafened });
    this.enableMicrophone(call);
    call.audio?.setDeafened(deafened);
    if (call.joined) this.chat.socket.send({ type: 'voice.deafen', room_id: call.roomId, deafened });
  }

  toggleDeafen() {
    if (this.call) this.setDeafened(!this.store.state.call?.deafened);
  }

  /**
   * The microphone sends sound unless we are muted or deafened, or in push to talk with the key
   * up (then its track also leaves the sender).
   */
  enableMicrophone(call) {
    const open = this.micOpen(call);
    for (const t of call.mic?.getAudioTracks() || []) t.enabled = open;
    this.loaded?.syncSender(call);
  }

  micOpen(call) {
    const c = this.store.state.call;
    return !c?.muted && !c?.deafened && (!call?.ptt || call.ptt.held);
  }

  toggleMute() {
    if (this.call) this.setMuted(!this.store.state.call?.muted);
  }

  /** The caller's own controls (voice-controls.js), loaded on first use. */
  controls() {
    this.loading ??= import('./voice-controls.js').then((m) => {
      this.loaded = new m.VoiceControls(this);
      return this.loaded;
    }, (e) => {
      this.loading = null;
      throw e;
    });
    return this.loading;
  }

  /** After a click: starts audio the browser held back. */
  resumeAudio() {
    this.call?.audio?.resume();
  }
}

/** What `voice.ended` means for the person. */
export function endedText(reason = '') {
  if (/replaced/i.test(reason)) return 'You joined this call from another tab or device, so it ended here.';
  if (/left the room/i.test(reason)) return 'You left the room, and with it its call.';
  return reason ? `You are no longer in the call: ${reason}.` : 'You are no longer in the call.';
}
