// Media the tests make for themselves, so nothing binary lives in the repository: a WAV of a
// voice-like sound for Chromium's fake microphone, and PNG pictures to upload.

import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

/**
 * Writes a mono 16-bit 48 kHz WAV of a voice-like sound: a 160 Hz buzz with harmonics whose
 * pitch wanders and whose loudness swings at syllable rate but never falls silent, so the
 * server's speaker detector (which wants most 20 ms frames loud) sees someone talking all the
 * time, and the browser's noise suppression does not take it for a steady hum.
 */
export function writeVoiceWav(path, seconds = 6) {
  const rate = 48_000;
  const n = rate * seconds;
  const data = Buffer.alloc(n * 2);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const pitch = 160 + 40 * Math.sin(2 * Math.PI * 0.7 * t) + 15 * Math.sin(2 * Math.PI * 3.1 * t);
    phase += (2 * Math.PI * pitch) / rate;
    let v = 0;
    for (let k = 1; k <= 8; k++) v += Math.sin(k * phase) / k;
    const envelope = 0.65 + 0.35 * Math.sin(2 * Math.PI * 4 * t);
    data.writeInt16LE(Math.round(Math.max(-1, Math.min(1, 0.45 * v * envelope)) * 32767), i * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  writeFileSync(path, Buffer.concat([header, data]));
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, body) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([len, typed, crc]);
}

/**
 * An RGB PNG of `width`×`height`: a soft diagonal gradient between two colours with a sun-like
 * disc, so it reads as a picture in screenshots. Returns the bytes.
 */
export function pngImage(width, height, { from = [66, 87, 214], to = [232, 121, 149], disc = [255, 214, 102] } = {}) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  const cx = width * 0.7;
  const cy = height * 0.35;
  const r = Math.min(width, height) * 0.16;
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    raw[row] = 0;
    for (let x = 0; x < width; x++) {
      const f = (x / width + y / height) / 2;
      let px = from.map((c, i) => Math.round(c + (to[i] - c) * f));
      const d = Math.hypot(x - cx, y - cy);
      if (d < r) px = disc;
      else if (y > height * 0.72 + Math.sin(x / width * 6) * height * 0.05) px = px.map((c) => Math.round(c * 0.55));
      raw.set(px, row + 1 + x * 3);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
