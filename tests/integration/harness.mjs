// Integration harness: starts the real kerid binary on 127.0.0.1 with free
// ports in a scratch directory, waits for its "is listening" lines, and talks
// to it over raw sockets. Every wait is bounded in time.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const KERID = process.env.KERID_BIN;
if (!KERID) throw new Error('KERID_BIN is not set (run through meson test)');
// Optional wrapper, e.g. "valgrind --error-exitcode=99 --leak-check=full"
const WRAPPER = (process.env.KERID_WRAPPER || '').split(' ').filter(Boolean);
export const SLOW = WRAPPER.length > 0 ? 20 : 1; // time multiplier under valgrind

export function scratch() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'kerid-it-'));
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Runs kerid to completion (for commands that exit by themselves).
export function runOnce(args, { cwd, env = {}, timeoutMs = 10000 * SLOW } = {}) {
  return new Promise((resolve, reject) => {
    const argv = [...WRAPPER, KERID, ...args];
    const child = spawn(argv[0], argv.slice(1), { cwd, env: { ...cleanEnv(), ...env } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timeout: kerid ${args.join(' ')}`)); }, timeoutMs);
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(WITNESS_|WATCHER_)/i.test(k)) env[k] = v;
  }
  return env;
}

// Starts kerid and resolves once `listening` lines ("is listening on port")
// have been printed. Returns { child, stdout(), stderr(), stop() }.
export async function start(args, { cwd, env = {}, listening = 1, timeoutMs = 10000 * SLOW } = {}) {
  const argv = [...WRAPPER, KERID, ...args];
  const child = spawn(argv[0], argv.slice(1), { cwd, env: { ...cleanEnv(), ...env } });
  let out = '', err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`kerid did not start in time\nstdout:\n${out}\nstderr:\n${err}`)); }, timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      const n = out.split('\n').filter((l) => / is listening on port \d+$/.test(l)).length;
      // wait for the oobi line that follows the last listening line
      if (n >= listening && /'s oobi: .*\n$/.test(out.slice(out.lastIndexOf('is listening')))) {
        clearTimeout(timer);
        resolve();
      }
    });
    exited.then(({ code }) => { clearTimeout(timer); reject(new Error(`kerid exited ${code} before listening\n${err}`)); });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs2 = 10000 * SLOW) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs2);
      const r = await exited;
      clearTimeout(t);
      // a sanitizer or valgrind report at exit says why the status is not 0
      if (r.code !== 0) console.error(`kerid exited ${r.code} (${r.signal}); stderr:\n${err}`);
      return r;
    },
  };
}

// One raw HTTP exchange: writes `data` (string/Buffer or array of chunks with
// delays), collects everything until the server closes or `untilResponses`
// complete responses have arrived. Returns { raw, responses, closed }.
export function exchange(port, data, { untilResponses = 1, timeoutMs = 5000 * SLOW, chunkDelayMs = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let raw = Buffer.alloc(0);
    let done = false;
    let closed = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ raw: raw.toString('latin1'), responses: parseResponses(raw), closed });
    };
    const timer = setTimeout(finish, timeoutMs);
    sock.on('data', (d) => {
      raw = Buffer.concat([raw, d]);
      if (untilResponses > 0 && parseResponses(raw).length >= untilResponses) finish();
    });
    sock.on('end', () => { closed = true; finish(); });
    sock.on('close', () => { closed = true; finish(); });
    sock.on('error', (e) => { if (!done) { closed = true; finish(); } });
    sock.on('connect', async () => {
      const chunks = Array.isArray(data) ? data : [data];
      for (const c of chunks) {
        if (done) return;
        sock.write(c);
        if (chunkDelayMs) await new Promise((r) => setTimeout(r, chunkDelayMs));
      }
    });
  });
}

// Parses a byte stream of HTTP/1.1 responses (Content-Length framed).
export function parseResponses(buf) {
  const out = [];
  let off = 0;
  const s = buf.toString('latin1');
  while (off < s.length) {
    const end = s.indexOf('\r\n\r\n', off);
    if (end < 0) break;
    const head = s.slice(off, end).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) /.exec(head[0]);
    if (!m) break;
    const headers = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const len = parseInt(headers['content-length'] || '0', 10);
    if (end + 4 + len > s.length) break;
    out.push({ status: +m[1], headers, body: s.slice(end + 4, end + 4 + len) });
    off = end + 4 + len;
  }
  return out;
}

// GET as keriox's clients send it (reqwest adds "Accept: */*"); pass an
// Accept line in extra to replace it, or accept: null for none (kli's hio).
export function get(port, p, extra = '', { accept = '*/*' } = {}) {
  const acc = accept === null || /^accept:/im.test(extra) ? '' : `Accept: ${accept}\r\n`;
  return exchange(port, `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\n${acc}${extra}\r\n`).then((r) => r.responses[0]);
}

export function writeYaml(dir, name, text) {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}
