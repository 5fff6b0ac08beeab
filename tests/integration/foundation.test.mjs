// Foundation integration tests: the real kerid binary on 127.0.0.1.
// Known answers come from spec/keriox-surface.md (§3.2 seeds, §5.2 start-up lines).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { exchange, freePort, get, runOnce, scratch, SLOW, start, writeYaml } from './harness.mjs';

const SEED = 'ArwXoACJgOleVZ2PY7kXn7rA0II0mHYDhc6WrBH8fDAc';
const PREFIX = 'BJq7UABlttINuWJh1Xl2lkqZG4NTdUdqnbFJDa6ZyxCC';
const WATCHER_SEED = 'Alntkt3u6dDgiQxTATr01dy8M72uuaZEf9eTdM-70Gk8';
const WATCHER_PREFIX = 'BF2t2NPc1bwptY1hYV0YCib1JjQ11k9jtuaZemecPF5b';

function witnessYaml(port, extra = '') {
  return `db_path: "db/"\nhttp_port: ${port}\npublic_url: "http://localhost:${port}/"\nseed: "${SEED}"\n` +
    `listen_address: "127.0.0.1"\nescrow_config:\n  default_timeout: 60\n${extra}`;
}

test('witness prints the keriox start-up lines exactly', async () => {
  const dir = scratch();
  const port = await freePort();
  writeYaml(dir, 'witness.yml', witnessYaml(port));
  const k = await start(['--role', 'witness', '-c', 'witness.yml'], { cwd: dir });
  try {
    assert.equal(k.stdout(),
      'Using config file "witness.yml"\n\n' +
      `Witness ${PREFIX} is listening on port ${port}\n` +
      `Witness's oobi: {"eid":"${PREFIX}","scheme":"http","url":"http://localhost:${port}/"}\n`);
    // keriox needs db_path to exist; kerid creates it
    assert.ok(fs.statSync(path.join(dir, 'db')).isDirectory());
  } finally {
    const r = await k.stop();
    assert.equal(r.code, 0);
  }
});

test('watcher start-up lines, public_url normalised, default config file name', async () => {
  const dir = scratch();
  const port = await freePort();
  // dkms-demo style: no trailing slash (normalised to .../)
  writeYaml(dir, 'watcher.yml',
    `db_path: "db/"\ntel_storage_path: "db/tel_storage"\nhttp_port: ${port}\n` +
    `public_url: "http://172.17.0.1:${port}"\nseed: "${WATCHER_SEED}"\ninitial_oobis: []\nlisten_address: "127.0.0.1"\n`);
  const k = await start(['--role', 'watcher'], { cwd: dir });
  try {
    assert.equal(k.stdout(),
      'Using config file: "./watcher.yml"\n' +
      `Watcher ${WATCHER_PREFIX} is listening on port ${port}\n` +
      `Watcher's oobi: {"eid":"${WATCHER_PREFIX}","scheme":"http","url":"http://172.17.0.1:${port}/"}\n`);
    assert.ok(fs.statSync(path.join(dir, 'db', 'tel_storage')).isDirectory());
    const intro = await get(port, '/introduce');
    assert.equal(intro.status, 200);
    assert.equal(intro.headers['content-type'], 'application/json');
    assert.equal(intro.body, `{"eid":"${WATCHER_PREFIX}","scheme":"http","url":"http://172.17.0.1:${port}/"}`);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('environment overrides the file and flags override the environment', async () => {
  const dir = scratch();
  const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
  writeYaml(dir, 'witness.yml', witnessYaml(p1));
  let k = await start(['--role', 'witness'], { cwd: dir, env: { WITNESS_HTTP_PORT: String(p2) } });
  assert.match(k.stdout(), new RegExp(`is listening on port ${p2}\\n`));
  assert.equal((await get(p2, '/health')).status, 200);
  assert.equal((await k.stop()).code, 0);
  k = await start(['--role', 'witness', '-p', String(p3)], { cwd: dir, env: { WITNESS_HTTP_PORT: String(p2) } });
  assert.match(k.stdout(), new RegExp(`is listening on port ${p3}\\n`));
  assert.equal((await get(p3, '/health')).status, 200);
  assert.equal((await k.stop()).code, 0);
});

test('both roles in one process with one store; generated seeds are kept across restarts', async () => {
  const dir = scratch();
  const [pw, pr] = [await freePort(), await freePort()];
  const env = { WITNESS_HTTP_PORT: String(pw), WATCHER_HTTP_PORT: String(pr),
                WITNESS_LISTEN_ADDRESS: '127.0.0.1', WATCHER_LISTEN_ADDRESS: '127.0.0.1' };
  let k = await start(['--role', 'both'], { cwd: dir, env, listening: 2 });
  const first = k.stdout();
  const wp = /Witness (B[A-Za-z0-9_-]{43}) is listening/.exec(first)[1];
  const rp = /Watcher (B[A-Za-z0-9_-]{43}) is listening/.exec(first)[1];
  assert.notEqual(wp, rp);
  assert.equal((await get(pw, '/health')).status, 200);
  assert.equal((await get(pr, '/health')).status, 200);
  assert.equal(JSON.parse((await get(pw, '/introduce')).body).eid, wp);
  assert.equal(JSON.parse((await get(pr, '/introduce')).body).eid, rp);
  assert.equal((await k.stop()).code, 0);
  // one shared store in the embedded default's db_path
  assert.ok(fs.existsSync(path.join(dir, 'kerid-data', 'kerid.sqlite3')));
  k = await start([], { cwd: dir, env, listening: 2 }); // --role both is the default
  assert.match(k.stdout(), new RegExp(`Witness ${wp} is listening on port ${pw}\\n`));
  assert.match(k.stdout(), new RegExp(`Watcher ${rp} is listening on port ${pr}\\n`));
  assert.equal((await k.stop('SIGINT')).code, 0);
});

async function witness(extra = '') {
  const dir = scratch();
  const port = await freePort();
  writeYaml(dir, 'witness.yml', witnessYaml(port, extra));
  const k = await start(['--role', 'witness'], { cwd: dir });
  return { k, port, dir };
}

test('health, info and metrics', async () => {
  const { k, port } = await witness();
  try {
    const h = await get(port, '/health');
    assert.equal(h.status, 200);
    assert.equal(h.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(h.body), { status: 'ok', role: 'witness', eid: PREFIX });
    const info = await get(port, '/info');
    assert.equal(info.body, '{"version":"0.17.13"}');
    await get(port, '/health');
    await get(port, '/no/such/route');
    const m = await get(port, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    assert.match(m.body, /^kerid_http_requests_total\{server="witness",route="health",code="200"\} 2$/m);
    assert.match(m.body, /^kerid_http_requests_total\{server="witness",route="unmatched",code="404"\} 1$/m);
    assert.match(m.body, /^kerid_http_request_duration_seconds_count\{server="witness"\} \d+$/m);
    assert.match(m.body, /^kerid_http_connections_open\{server="witness"\} [1-9]\d*$/m);
    assert.match(m.body, /^kerid_store_commits_total \d+$/m);
    assert.match(m.body, /^kerid_store_batch_size_bucket\{le="\+Inf"\} \d+$/m);
    assert.match(m.body, /^kerid_process_resident_memory_bytes [1-9]\d*$/m);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('errors are JSON: 404, 405 with Allow, 400 on garbage', async () => {
  const { k, port } = await witness();
  try {
    const nf = await get(port, '/nope');
    assert.equal(nf.status, 404);
    assert.equal(JSON.parse(nf.body).error, 'not_found');
    const r = await exchange(port, 'POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    assert.equal(r.responses[0].status, 405);
    assert.match(r.responses[0].headers.allow, /GET/);
    assert.equal(JSON.parse(r.responses[0].body).error, 'method_not_allowed');
    const bad = await exchange(port, 'GARBAGE\x01\x02 / HTTP/9.9\r\n\r\n');
    assert.equal(bad.responses[0].status, 400);
    assert.equal(JSON.parse(bad.responses[0].body).error, 'bad_request');
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('body limit: 262,144 bytes pass the limit, one more is 413 with a JSON body', async () => {
  const { k, port } = await witness();
  try {
    const limit = 262144;
    const big = 'a'.repeat(limit + 1);
    const r = await exchange(port, `POST /process HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length}\r\n\r\n${big}`);
    assert.equal(r.responses[0].status, 413);
    assert.equal(JSON.parse(r.responses[0].body).error, 'payload_too_large');
    // chunked: the running total is checked too
    const chunk = 'b'.repeat(100000);
    const hex = chunk.length.toString(16);
    const body = `${hex}\r\n${chunk}\r\n`.repeat(3) + '0\r\n\r\n';
    const c = await exchange(port, `POST /process HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
    assert.equal(c.responses[0].status, 413);
    // exactly at the limit is not refused for its size
    const ok = await exchange(port, `POST /process HTTP/1.1\r\nHost: x\r\nContent-Length: ${limit}\r\n\r\n${'a'.repeat(limit)}`);
    assert.notEqual(ok.responses[0].status, 413);
    // the server is still healthy
    assert.equal((await get(port, '/health')).status, 200);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('a slow client that never finishes its headers is cut off (408)', async () => {
  const { k, port } = await witness('limits:\n  header_timeout_ms: 300\n');
  try {
    const t0 = Date.now();
    const r = await exchange(port, 'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ', { untilResponses: 0, timeoutMs: 8000 * SLOW });
    assert.ok(r.closed, 'connection closed by the server');
    assert.ok(Date.now() - t0 < 7000 * SLOW);
    assert.equal(r.responses[0].status, 408);
    assert.equal((await get(port, '/health')).status, 200);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('pipelined requests are answered in order on one connection', async () => {
  const { k, port } = await witness();
  try {
    const req = (p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const r = await exchange(port, req('/health') + req('/info') + req('/nope') + req('/introduce'), { untilResponses: 4 });
    assert.deepEqual(r.responses.map((x) => x.status), [200, 200, 404, 200]);
    assert.equal(r.responses[1].body, '{"version":"0.17.13"}');
    assert.equal(JSON.parse(r.responses[3].body).eid, PREFIX);
    assert.equal(r.closed, false);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('SIGTERM while a request is half sent: exit status 0', async () => {
  const { k, port } = await witness();
  const pending = exchange(port, ['GET /health HTTP/1.1\r\nHost: x\r\n'], { untilResponses: 1, timeoutMs: 4000 * SLOW });
  await new Promise((r) => setTimeout(r, 200));
  const r = await k.stop('SIGTERM');
  assert.equal(r.code, 0);
  await pending;
});

test('bad configurations stop start-up with exit 1 and one line naming the field', async () => {
  const cases = [
    ['http_port: "abc"', /http_port/],
    ['http_port: 70000', /http_port/],
    ['public_url: "not a url"', /public_url/],
    ['seed: "Bxx"', /seed/],
    [`seed: "A${'!'.repeat(43)}"`, /seed/],
    ['limits:\n  max_body_bytes: 0', /max_body_bytes/],
    ['log_format: xml', /log_format/],
  ];
  for (const [line, re] of cases) {
    const dir = scratch();
    const port = await freePort();
    const base = witnessYaml(port).split('\n').filter((l) => !l.startsWith(line.split(':')[0] + ':')).join('\n');
    writeYaml(dir, 'witness.yml', `${base}\n${line}\n`);
    const r = await runOnce(['--role', 'witness'], { cwd: dir });
    assert.equal(r.code, 1, `${line}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^Error: /);
    assert.match(lines[0], re);
    assert.equal(r.stdout, '');
  }
  // missing required field (keriox requires db_path)
  const dir = scratch();
  writeYaml(dir, 'witness.yml', 'http_port: 3232\npublic_url: "http://localhost:3232/"\n');
  const r = await runOnce(['--role', 'witness'], { cwd: dir });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /db_path/);
  // YAML syntax error
  writeYaml(dir, 'witness.yml', 'db_path: [unclosed\n');
  const y = await runOnce(['--role', 'witness'], { cwd: dir });
  assert.equal(y.code, 1);
  assert.match(y.stderr, /^Error: /);
  // unknown role
  const u = await runOnce(['--role', 'juggler'], { cwd: dir });
  assert.equal(u.code, 1);
  assert.match(u.stderr, /role/);
});

test('port already taken: exit 1 with a message', async () => {
  const { k, port, dir } = await witness();
  try {
    const r = await runOnce(['--role', 'witness'], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${port}`));
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('kerid seed prints a canonical seed whose prefix kerid then uses', async () => {
  const r = await runOnce(['seed']);
  assert.equal(r.code, 0);
  const seed = /^seed: (A[A-Za-z0-9_-]{43})$/m.exec(r.stdout)[1];
  const prefix = /^# prefix: (B[A-Za-z0-9_-]{43})$/m.exec(r.stdout)[1];
  // canonical CESR: the 2 pad bits of the 33-byte qb64 are zero
  const raw = Buffer.from(seed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  assert.equal(raw.length, 33);
  assert.equal(raw[0] & 0x03, 0);
  const dir = scratch();
  const port = await freePort();
  const k = await start(['--role', 'witness', '-s', seed, '-p', String(port), '-d', 'db', '-u', `http://127.0.0.1:${port}`],
    { cwd: dir, env: { WITNESS_LISTEN_ADDRESS: '127.0.0.1' } });
  try {
    assert.match(k.stdout(), new RegExp(`Witness ${prefix} is listening on port ${port}\\n`));
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('the escrow sweeper runs on its own interval and reports in /metrics', async () => {
  const { k, port } = await witness('sweep_interval_ms: 50\n');
  try {
    let m;
    const deadline = Date.now() + 10000 * SLOW;
    do {
      await new Promise((r) => setTimeout(r, 100));
      m = (await get(port, '/metrics')).body;
    } while (!/^kerid_escrow_sweeps_total [1-9]/m.test(m) && Date.now() < deadline);
    assert.match(m, /^kerid_escrow_sweeps_total [1-9]\d*$/m);
    assert.match(m, /^kerid_sweep_runs_total\{task="escrow"\} [1-9]\d*$/m);
    assert.match(m, /^kerid_escrow_sweep_failures_total 0$/m);
    assert.match(m, /^kerid_escrow_expired_total\{kind="out_of_order"\} 0$/m);
    // every sweep is a committed store write
    assert.match(m, /^kerid_store_commits_total [1-9]\d*$/m);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});
