// Looking inside a page's voice call: its RTCPeerConnections and their getStats(), its sockets,
// and a microphone that can be made to refuse. Installed with `instrument(page)` before the app
// loads; the app itself has no test hooks.

import assert from 'node:assert/strict';
import { eventually } from './ui.js';

/**
 * Wraps RTCPeerConnection (to keep every instance and the configuration the app gave it, count
 * remote descriptions and, with `relay`, force `iceTransportPolicy: 'relay'`), WebSocket (to keep every instance),
 * getUserMedia (which rejects with NotAllowedError while `window.__denyMicrophone` is true) and
 * Web Audio: every MediaStream source the app connects to a GainNode gets an AnalyserNode on
 * that gain's output, kept in `window.__gains` as `{stream, gain, analyser}`, so a test hears
 * what the listener would.
 */
export async function instrument(page, { relay = false } = {}) {
  await page.addInitScript((forceRelay) => {
    window.__pcs = [];
    window.__configs = [];
    window.__remoteDescriptions = 0;
    window.__sockets = [];
    window.__denyMicrophone = false;
    const PC = window.RTCPeerConnection;
    window.RTCPeerConnection = class extends PC {
      constructor(config = {}) {
        super(forceRelay ? { ...config, iceTransportPolicy: 'relay' } : config);
        window.__pcs.push(this);
        window.__configs.push(JSON.parse(JSON.stringify(config)));
      }

      setRemoteDescription(description) {
        window.__remoteDescriptions += 1;
        return super.setRemoteDescription(description);
      }
    };
    const WS = window.WebSocket;
    window.WebSocket = class extends WS {
      constructor(...args) {
        super(...args);
        window.__sockets.push(this);
      }
    };
    const media = navigator.mediaDevices;
    const getUserMedia = media.getUserMedia.bind(media);
    media.getUserMedia = (constraints) => (window.__denyMicrophone
      ? Promise.reject(new DOMException('Permission denied', 'NotAllowedError'))
      : getUserMedia(constraints));
    window.__gains = [];
    const createSource = AudioContext.prototype.createMediaStreamSource;
    AudioContext.prototype.createMediaStreamSource = function keepStream(stream) {
      const node = createSource.call(this, stream);
      node.__stream = stream;
      return node;
    };
    const connect = AudioNode.prototype.connect;
    AudioNode.prototype.connect = function listenIn(target, ...rest) {
      if (this.__stream && target instanceof GainNode) {
        const analyser = this.context.createAnalyser();
        analyser.fftSize = 2048;
        connect.call(target, analyser);
        window.__gains.push({ stream: this.__stream, gain: target, analyser });
      }
      return connect.call(this, target, ...rest);
    };
  }, relay);
}

/**
 * The newest PeerConnection's audio figures: packets received and the loudest audio level over
 * its inbound streams, packets sent, its state, and the selected pair's local candidate type.
 */
export function callStats(page) {
  return page.evaluate(async () => {
    const pc = window.__pcs[window.__pcs.length - 1];
    if (!pc) return null;
    const report = await pc.getStats();
    const out = { state: pc.connectionState, packetsReceived: 0, audioLevel: 0, packetsSent: 0, inbound: 0, localCandidateType: null };
    let pairId = null;
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.inbound += 1;
        out.packetsReceived += s.packetsReceived || 0;
        out.audioLevel = Math.max(out.audioLevel, s.audioLevel || 0);
      } else if (s.type === 'outbound-rtp' && s.kind === 'audio') {
        out.packetsSent += s.packetsSent || 0;
      } else if (s.type === 'transport' && s.selectedCandidatePairId) {
        pairId = s.selectedCandidatePairId;
      }
    });
    const pair = pairId && report.get(pairId);
    const local = pair && report.get(pair.localCandidateId);
    out.localCandidateType = local?.candidateType || null;
    return out;
  });
}

/** Waits until the page's call receives audio: packets keep arriving and are not silent. */
export async function expectAudioFlowing(page, { timeout = 15_000 } = {}) {
  const first = await eventually(async () => {
    const s = await callStats(page);
    assert.ok(s && s.packetsReceived > 0, `packets received: ${JSON.stringify(s)}`);
    return s;
  }, { timeout });
  await eventually(async () => {
    const s = await callStats(page);
    assert.ok(s.packetsReceived >= first.packetsReceived + 25, `packets keep arriving: ${first.packetsReceived} → ${s.packetsReceived}`);
    assert.ok(s.audioLevel > 0, `audio level ${s.audioLevel}`);
  }, { timeout });
}

/**
 * Waits until `read()` has returned the same value for `quiet` ms in a row (something stopped),
 * and returns it.
 */
export async function steady(read, { quiet = 1500, timeout = 15_000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let value = await read();
  let since = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, interval));
    const next = await read();
    if (next !== value) {
      value = next;
      since = Date.now();
    } else if (Date.now() - since >= quiet) {
      return value;
    }
    if (Date.now() > deadline) throw new Error(`value kept changing for ${timeout} ms (last ${value})`);
  }
}

/** The call panel's participant entry of a person (by display name). */
export function participant(page, name) {
  return page.locator('.call-panel .call-person', { hasText: name });
}

/**
 * What a page's call plays of one person (by user id): `level`, the loudest getStats()
 * audioLevel of their stream over `ms` (Chrome measures it after the <audio> element's volume),
 * `rms`, the loudest RMS after their Web Audio gain (0 when the app has none), `gain` (null when
 * none), the element's `volume`, and the packets received on their stream.
 */
export function heard(page, userId, { ms = 600 } = {}) {
  return page.evaluate(async ({ id, ms: span }) => {
    const el = document.querySelector(`.call-audio audio[data-user-id="${CSS.escape(id)}"]`);
    const stream = el?.srcObject;
    if (!stream) return null;
    const track = stream.getAudioTracks()[0];
    const entry = window.__gains.filter((g) => g.stream === stream).at(-1);
    const data = new Float32Array(2048);
    const pc = window.__pcs[window.__pcs.length - 1];
    const out = { level: 0, rms: 0, gain: entry ? entry.gain.gain.value : null, volume: el.volume, muted: el.muted, packets: 0 };
    const until = performance.now() + span;
    do {
      if (entry) {
        entry.analyser.getFloatTimeDomainData(data);
        out.rms = Math.max(out.rms, Math.sqrt(data.reduce((sum, v) => sum + v * v, 0) / data.length));
      }
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.trackIdentifier === track.id) {
          out.level = Math.max(out.level, s.audioLevel || 0);
          out.packets = s.packetsReceived || 0;
        }
      });
      await new Promise((r) => { setTimeout(r, 100); });
    } while (performance.now() < until);
    return out;
  }, { id: userId, ms });
}

/** Waits until a page plays someone's sound (by the element or, boosted, by Web Audio). */
export async function expectHearing(page, userId, { timeout = 15_000 } = {}) {
  return eventually(async () => {
    const h = await heard(page, userId);
    assert.ok(h && (h.level > 0 || h.rms > 0.005), `hears ${userId}: ${JSON.stringify(h)}`);
    return h;
  }, { timeout });
}

/** Waits until a page plays nothing of someone, whether or not their packets arrive. */
export async function expectNotHearing(page, userId) {
  return eventually(async () => {
    const h = await heard(page, userId, { ms: 1000 });
    assert.ok(h && h.level === 0 && h.rms < 0.0005, `silent ${userId}: ${JSON.stringify(h)}`);
    return h;
  });
}

/** The packets a page's call has received on one person's stream. */
export async function packetsFrom(page, userId) {
  return (await heard(page, userId, { ms: 0 }))?.packets ?? 0;
}
