// Starts real Confab servers for the browser tests: the binary named by CONFAB_BIN (default
// ../../target/debug/confab), on port 0 with a temporary data directory, read back the address it
// prints, and stop it with SIGTERM. `restart()` brings the same server back on the same address
// with the same data, as an operator would.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The server binary under test. */
export const CONFAB_BIN = process.env.CONFAB_BIN
  ? resolve(process.env.CONFAB_BIN)
  : resolve(here, '../../../target/debug/confab');

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export class Server {
  constructor({ dataDir, env }) {
    this.dataDir = dataDir;
    this.env = env;
    this.child = null;
    this.addr = null;
    this.log = [];
  }

  get url() {
    return `http://${this.addr}`;
  }

  /** Starts the process on `listen` and resolves once it prints its address. */
  async spawn(listen) {
    const child = spawn(CONFAB_BIN, [], {
      env: {
        ...process.env,
        CONFAB_LISTEN: listen,
        CONFAB_DATA_DIR: this.dataDir,
        CONFAB_RTC_UDP_PORT: '0',
        CONFAB_LOG: process.env.CONFAB_LOG || 'warn',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    this.child = child;
    child.stderr.on('data', (d) => this.keep(d));
    const addr = await new Promise((resolvePromise, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`confab did not start in 30 s:\n${this.log.join('')}`)), 30_000);
      child.stdout.on('data', (d) => {
        out += d;
        this.keep(d);
        const m = /confab listening on http:\/\/(\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolvePromise(m[1]);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`confab exited with ${code} before listening:\n${this.log.join('')}`));
      });
    });
    child.once('exit', () => running.delete(child));
    this.addr = addr;
  }

  keep(chunk) {
    this.log.push(String(chunk));
    if (this.log.length > 400) this.log.splice(0, this.log.length - 400);
  }

  /** SIGTERM, then wait for a graceful exit (SIGKILL after 15 s). */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    this.child = null;
  }

  /** Starts again on the same address with the same data. Binding may need a moment. */
  async start() {
    let lastError;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        await this.spawn(this.addr);
        return;
      } catch (e) {
        lastError = e;
        if (!/in use|AddrInUse|Address already/i.test(e.message)) throw e;
        await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
      }
    }
    throw lastError;
  }

  async restart() {
    await this.stop();
    await this.start();
  }

  /** Stops and removes the data directory. */
  async dispose() {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** A fresh server on a free port; `env` adds CONFAB_* settings (e.g. a short token lifetime). */
export async function startServer({ env = {} } = {}) {
  const server = new Server({ dataDir: mkdtempSync(join(tmpdir(), 'confab-e2e-')), env });
  await server.spawn('127.0.0.1:0');
  return server;
}
