// coturn for the browser tests: the repository's production turn.conf, with command-line
// overrides that keep it on loopback, off the privileged paths (/var) and on free ports, and a
// fresh shared secret that Confab gets too.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** The relay under test (TURNSERVER names another binary). */
export const TURNSERVER = process.env.TURNSERVER || '/usr/bin/turnserver';
/** The production configuration this test proves. */
export const TURN_CONF = resolve(here, '../../../turn.conf');

/** A UDP port nobody is using right now. */
function freeUdpPort() {
  return new Promise((resolvePort, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts coturn; resolves once it has opened its listeners. Returns `{url, secret, stop()}`:
 * `url` is the `turn:` URL for CONFAB_TURN_URLS and `secret` goes to CONFAB_TURN_SECRET.
 */
export async function startTurn() {
  const dir = mkdtempSync(join(tmpdir(), 'confab-turn-'));
  const secret = randomBytes(24).toString('base64url').slice(0, 32);
  const port = await freeUdpPort();
  const minPort = 42000 + Math.floor(Math.random() * 900) * 20;
  const child = spawn(TURNSERVER, [
    '-c', TURN_CONF,
    '--listening-ip=127.0.0.1',
    '--relay-ip=127.0.0.1',
    `--listening-port=${port}`,
    `--min-port=${minPort}`,
    `--max-port=${minPort + 20}`,
    `--static-auth-secret=${secret}`,
    '--allowed-peer-ip=127.0.0.1',
    // coturn refuses loopback peers outright unless told otherwise; here the SFU is on loopback.
    '--allow-loopback-peers',
    '--no-tls',
    '--no-dtls',
    `--pidfile=${join(dir, 'turnserver.pid')}`,
    `--userdb=${join(dir, 'turndb')}`,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const log = [];
  const keep = (d) => {
    log.push(String(d));
    if (log.length > 300) log.splice(0, log.length - 300);
  };
  child.stderr.on('data', keep);
  await new Promise((resolveStart, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`coturn did not start in 15 s:\n${log.join('')}`)), 15_000);
    child.stdout.on('data', (d) => {
      keep(d);
      out += d;
      if (/Total General servers/.test(out)) {
        clearTimeout(timer);
        resolveStart();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`coturn exited with ${code}:\n${log.join('')}`));
    });
  });
  return {
    url: `turn:127.0.0.1:${port}?transport=udp`,
    secret,
    log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
