// keripy's POST /ext/oobi (oobiing.OobiResource) and demo routes (ending.py)
// on the real kerid binary: two witnesses on 127.0.0.1 with fixed seeds. w1
// resolves w2's own OOBI and a controller's witness OOBI served by w2, in the
// background; independent truth: w2's own answers (byte comparison), the
// keri-client (signify-ts) OOBI checker, and the outcome rows read from w1's
// database with the sqlite3 CLI.
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { SLOW, freePort, get, scratch, start, writeYaml } from './harness.mjs';

const SHARED = process.env.KD_SHARED_DIR || '/work/shared';
const KC_DIR = path.join(SHARED, 'tools', 'keri-client');
const KC = path.join(KC_DIR, 'kc.mjs');
const K = await import(path.join(KC_DIR, 'lib', 'keri.mjs'));
const { parseStream } = await import(path.join(KC_DIR, 'lib', 'cesr.mjs'));
const { checkOobiStream } = await import(path.join(KC_DIR, 'lib', 'oobi.mjs'));
await K.init();

const seedOf = (label) => Buffer.concat([Buffer.alloc(1),
  crypto.createHash('sha256').update(`kerid-extoobi-test|${label}`).digest()]).toString('base64url');

const W = [];
let dir;

async function startWitness(w) {
  w.k = await start(['--role', 'witness', '-c', 'witness.yml'], { cwd: w.dir });
  assert.match(w.k.stdout(), new RegExp(`^Witness ${w.prefix} is listening on port ${w.port}$`, 'm'));
}

before(async () => {
  dir = scratch();
  for (let i = 0; i < 2; i++) {
    const seed = seedOf(`w${i + 1}`);
    const w = { dir: path.join(dir, `w${i + 1}`), port: await freePort(), seed };
    w.prefix = K.signerFromSeed(seed, { transferable: false, lax: false }).verfer.qb64;
    w.base = `http://127.0.0.1:${w.port}`;
    w.db = path.join(w.dir, 'db', 'kerid.sqlite3');
    fs.mkdirSync(w.dir);
    writeYaml(w.dir, 'witness.yml', `db_path: "db"\nhttp_port: ${w.port}\n` +
      `public_url: "http://127.0.0.1:${w.port}/"\nseed: "${seed}"\nlisten_address: "127.0.0.1"\n`);
    W.push(w);
  }
  await Promise.all(W.map(startWitness));
});

after(async () => {
  for (const w of W.filter((x) => x.k)) assert.equal((await w.k.stop()).code, 0, 'exits 0 (no sanitizer report)');
  fs.rmSync(dir, { recursive: true, force: true });
});

function kc(args) {
  const r = spawnSync(process.execPath, [KC, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 300000 });
  let json = null;
  try { json = JSON.parse(r.stdout); } catch { /* reported by the caller */ }
  return { code: r.status, json, stdout: r.stdout, stderr: r.stderr };
}

async function req(w, method, route, body, headers = {}) {
  const r = await fetch(w.base + route, { method, headers, body });
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
}

const postOobi = (w, obj, headers = { 'Content-Type': 'application/json' }) =>
  req(w, 'POST', '/ext/oobi', typeof obj === 'string' ? obj : JSON.stringify(obj), headers);

// The outcome row of url in w's meta table (sqlite3 CLI, read-only).
function outcome(w, url) {
  const q = url.replace(/'/g, "''");
  const out = execFileSync('sqlite3', ['-readonly', '-json', w.db,
    `SELECT key, CAST(value AS TEXT) AS v FROM meta WHERE key LIKE 'oobi/%' AND json_extract(CAST(value AS TEXT), '$.url') = '${q}'`],
  { encoding: 'utf8' }).trim();
  if (!out) return null;
  const rows = JSON.parse(out);
  assert.equal(rows.length, 1);
  // the key: "oobi/<url>", or for a URL too long for a meta key "oobi/E<digest>"
  if (5 + Buffer.byteLength(url) <= 128) assert.equal(rows[0].key, `oobi/${url}`);
  else assert.match(rows[0].key, /^oobi\/E[A-Za-z0-9_-]{43}$/);
  return JSON.parse(rows[0].v);
}

async function waitOutcome(w, url) {
  const end = Date.now() + 20000 * SLOW;
  for (;;) {
    const o = outcome(w, url);
    if (o) return o;
    assert.ok(Date.now() < end, `no outcome for ${url}\n${w.k.stdout()}\n${w.k.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('POST /ext/oobi: w1 resolves w2\'s own OOBI and then serves w2\'s signed location, byte-identical', async () => {
  const [w1, w2] = W;
  // before: w1 does not know w2's location
  const before = await get(w1.port, `/oobi/${w2.prefix}`);
  const own = await get(w2.port, `/oobi/${w2.prefix}`);
  assert.equal(own.status, 200);
  assert.notEqual(before.body.toString(), own.body.toString());
  const url = `${w2.base}/oobi/${w2.prefix}/controller`;
  const r = await postOobi(w1, { url, oobialias: 'w2' });
  assert.equal(r.status, 202);
  assert.equal(r.text, '');
  const o = await waitOutcome(w1, url);
  assert.equal(o.state, 'resolved', JSON.stringify(o));
  assert.equal(o.alias, 'w2');
  assert.equal(o.cid, w2.prefix);
  assert.match(o.dt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
  const got = await get(w1.port, `/oobi/${w2.prefix}`);
  assert.equal(got.status, 200);
  assert.equal(got.body.toString(), own.body.toString(), 'w2\'s own signed reply, as signed');
  // keri-client's OOBI checker on what w1 serves: w2's location, signed by w2
  const chk = checkOobiStream(parseStream(Buffer.from(got.body, 'latin1')));
  assert.deepEqual(chk.locations, [{ eid: w2.prefix, scheme: 'http', url: `${w2.base}/`, verified: true }]);
  // and kli's form of w2's own OOBI (what w1 fetched) verifies with kc
  const v = kc(['oobi', '--url', url]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  // posting it again is accepted (re-resolved, idempotent)
  assert.equal((await postOobi(w1, { url })).status, 202);
});

test('POST /ext/oobi: a controller KEL fully witnessed by w2 is resolved by w1', async () => {
  const [w1, w2] = W;
  const corpus = path.join(dir, 'c.jsonl');
  const g = kc(['gen', '--controllers', '1', '--events', '3', '--witnesses', w2.prefix, '--toad', '1',
    '--seed', 'extoobi', '--out', corpus]);
  assert.equal(g.code, 0, g.stderr);
  const lines = fs.readFileSync(corpus, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const pre = lines.find((l) => l.type === 'controller').pre;
  const s = kc(['send', '--url', `${w2.base}/`, '--protocol', 'keripy', '--route', 'receipts', '--corpus', corpus, '--quiet']);
  assert.equal(s.code, 0, s.stdout + s.stderr);
  assert.equal((await req(w1, 'GET', `/query?typ=kel&pre=${pre}`)).status, 404, 'unknown to w1 before');
  const url = `${w2.base}/oobi/${pre}/witness/${w2.prefix}`;
  const chk = kc(['oobi', '--url', url]);
  assert.equal(chk.code, 0, chk.stdout);
  assert.equal((await postOobi(w1, { url })).status, 202);
  const o = await waitOutcome(w1, url);
  assert.equal(o.state, 'resolved', JSON.stringify(o));
  assert.equal(o.cid, pre);
  assert.equal(o.alias, null);
  const kel1 = await req(w1, 'GET', `/query?typ=kel&pre=${pre}`);
  const kel2 = await req(w2, 'GET', `/query?typ=kel&pre=${pre}`);
  assert.equal(kel1.status, 200);
  // the same four events, in order, with the same SAIDs as the corpus
  const saids = (t) => [...t.matchAll(/"t":"(?:icp|ixn|rot)","d":"([^"]+)"/g)].map((m) => m[1]);
  const want = lines.filter((l) => l.type === 'event' && l.expect === 'valid').map((l) => l.d);
  assert.deepEqual(saids(kel1.text), want);
  assert.deepEqual(saids(kel2.text), want);
});

test('POST /ext/oobi: failures are recorded (closed port, 404, wrong content type, bad URL)', async () => {
  const [w1, w2] = W;
  const closed = await freePort();
  const cases = [
    [`http://127.0.0.1:${closed}/oobi/${w2.prefix}/controller`, /connection refused/],
    [`${w2.base}/oobi/EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/witness`, /HTTP status 404/],
    [`${w2.base}/health`, /unexpected content type "application\/json"/],
    [`https://127.0.0.1:${w2.port}/oobi`, /only http:\/\//],
    ['notaurl', /not an http/],
  ];
  for (const [url] of cases) assert.equal((await postOobi(w1, { url, oobialias: 'x' })).status, 202, url);
  for (const [url, why] of cases) {
    const o = await waitOutcome(w1, url);
    assert.equal(o.state, 'failed', url);
    assert.match(o.reason, why, url);
    assert.equal(o.alias, 'x');
  }
  assert.equal((await waitOutcome(w1, cases[0][0])).cid, w2.prefix, 'cid from the URL path');
  // a peer answering application/json+cesr with garbage, or with an event whose
  // signature does not verify: failed, nothing stored
  const http = await import('node:http');
  const sg = K.signerFromRaw(Buffer.alloc(32, 7), true);
  const other = K.signerFromRaw(Buffer.alloc(32, 8), true);
  const icp = K.makeIcp({ keys: [sg.verfer.qb64], isith: '1', ndigs: [K.nextDigest(other.verfer.qb64)], nsith: '1', wits: [], toad: 0 });
  const forged = icp.raw + K.ctrlSigsAtc(K.signIndexed([other], icp.raw));
  const peer = http.createServer((q, a) => {
    a.writeHead(200, { 'Content-Type': 'application/json+cesr' });
    a.end(q.url === '/garbage' ? '{"v":"KERI10JSON00002a_","t":"icp"' : forged);
  });
  await new Promise((r) => peer.listen(0, '127.0.0.1', r));
  try {
    const base = `http://127.0.0.1:${peer.address().port}`;
    for (const u of ['/garbage', '/forged']) assert.equal((await postOobi(w1, { url: base + u })).status, 202);
    assert.match((await waitOutcome(w1, `${base}/garbage`)).reason, /^not a CESR stream at byte 0/);
    const f = await waitOutcome(w1, `${base}/forged`);
    assert.equal(f.state, 'failed');
    assert.match(f.reason, /^nothing usable: 1 message\(s\) rejected/);
    assert.equal((await req(w1, 'GET', `/query?typ=kel&pre=${icp.sad.i}`)).status, 404);
  } finally {
    peer.close();
  }
});

test('POST /ext/oobi: request errors as keripy\'s falcon answers them', async () => {
  const [w1] = W;
  let r = await postOobi(w1, { oobialias: 'a' });
  assert.deepEqual([r.status, r.type, r.text],
    [400, 'application/json', "invalid OOBI request body, either 'rpy' or 'url' is required"]);
  r = await postOobi(w1, { rpy: { v: 'KERI10JSON' } });
  assert.deepEqual([r.status, r.text], [501, "'rpy' support not implemented yet'"]);
  r = await postOobi(w1, '{"url": ');
  assert.equal(r.status, 400);
  assert.deepEqual(JSON.parse(r.text), { title: 'Invalid JSON', description: 'Could not parse JSON body' });
  r = await postOobi(w1, '');
  assert.deepEqual(JSON.parse(r.text), { title: 'Invalid JSON', description: 'Could not parse an empty JSON body' });
  r = await postOobi(w1, '["url"]');
  assert.equal(r.status, 400);
  r = await postOobi(w1, { url: 5 });
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.text).description, 'url must be a string');
  r = await postOobi(w1, { url: 'http://127.0.0.1:1/', oobialias: [] });
  assert.equal(r.status, 400);
  r = await postOobi(w1, { url: 'http://127.0.0.1/' + 'a'.repeat(5000) });
  assert.equal(r.status, 400);
  r = await postOobi(w1, '{"url":"x"}', { 'Content-Type': 'text/plain' });
  assert.equal(r.status, 415);
  r = await postOobi(w1, '{"url":"x\\u0000"}');
  assert.equal(r.status, 400);
  r = await postOobi(w1, '  ');
  assert.deepEqual(JSON.parse(r.text), { title: 'Invalid JSON', description: 'Could not parse JSON body' });
  // falcon's other default media handler: application/x-www-form-urlencoded
  const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
  r = await postOobi(w1, 'oobialias=a', form);
  assert.deepEqual([r.status, r.text], [400, "invalid OOBI request body, either 'rpy' or 'url' is required"]);
  r = await postOobi(w1, 'rpy=x', form);
  assert.equal(r.status, 501);
  r = await postOobi(w1, 'url=a&url=b', form);
  assert.equal(JSON.parse(r.text).description, 'url must be a string');
  r = await postOobi(w1, 'url=a%00', form);
  assert.equal(r.status, 400);
  const closed = await freePort();
  const furl = `http://127.0.0.1:${closed}/oobi?name=f`;
  r = await postOobi(w1, `x=1&url=${encodeURIComponent(furl)}&oobialias=w+two%21`, form);
  assert.equal(r.status, 202);
  const fo = await waitOutcome(w1, furl);
  assert.deepEqual([fo.state, fo.alias, fo.reason], ['failed', 'w two!', 'connection refused']);
  // nothing of those was recorded
  const rows = execFileSync('sqlite3', ['-readonly', w1.db, "SELECT key FROM meta WHERE key LIKE 'oobi/%' AND (json_extract(CAST(value AS TEXT), '$.url') IN ('x', 'http://127.0.0.1:1/') OR json_extract(CAST(value AS TEXT), '$.url') LIKE 'http://127.0.0.1/aaa%')"],
    { encoding: 'utf8' });
  assert.equal(rows.trim(), '');
});

test('POST /ext/oobi: at most 64 pending; more get 503', async () => {
  const [w1] = W;
  // a server that accepts and never answers keeps the 4 resolution slots busy
  const net = await import('node:net');
  const socks = [];
  let release = false;
  const srv = net.createServer((s) => (release ? s.destroy() : socks.push(s)));
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const port = srv.address().port;
  try {
    const codes = [];
    for (let i = 0; i < 4 + 64 + 2; i++) codes.push((await postOobi(w1, { url: `http://127.0.0.1:${port}/q${i}` })).status);
    assert.deepEqual(codes.slice(0, 68), Array(68).fill(202));
    assert.deepEqual(codes.slice(68), [503, 503]);
    // a duplicate of a pending URL is not a new entry
    assert.equal((await postOobi(w1, { url: `http://127.0.0.1:${port}/q10` })).status, 202);
  } finally {
    release = true; // the slots fail now and the queue drains
    for (const s of socks) s.destroy();
  }
  let o;
  try {
    o = await waitOutcome(w1, `http://127.0.0.1:${port}/q67`);
  } finally {
    srv.close();
  }
  assert.equal(o.state, 'failed');
  assert.equal(outcome(w1, `http://127.0.0.1:${port}/q68`), null, 'refused, never queued');
  // requests still in flight and queued at shutdown: w1 stops at once, cleanly
  // (the after hook checks its exit status, a sanitizer report included)
  const hang = net.createServer(() => {});
  await new Promise((r) => hang.listen(0, '127.0.0.1', r));
  const hport = hang.address().port;
  try {
    for (let i = 0; i < 8; i++) assert.equal((await postOobi(w1, { url: `http://127.0.0.1:${hport}/h${i}` })).status, 202);
    const t0 = Date.now();
    assert.equal((await w1.k.stop()).code, 0);
    assert.ok(Date.now() - t0 < 5000 * SLOW, 'no wait for the hanging peer');
  } finally {
    hang.close();
  }
  // the outcomes survive a restart (read from the store by a new process)
  await startWitness(w1);
  assert.equal(outcome(w1, `http://127.0.0.1:${port}/q67`).state, 'failed');
  assert.equal(outcome(w1, `http://127.0.0.1:${hport}/h0`), null, 'cancelled: not recorded');
});

test('demo routes: /end/{aid}/{role}, /loc, /admin', async () => {
  const [w1] = W;
  let r = await req(w1, 'GET', '/loc');
  assert.deepEqual([r.status, r.type, r.text], [200, 'text/html', '\nKERI Service Endpoints\n\n']);
  r = await req(w1, 'PUT', '/loc', 'x');
  assert.deepEqual([r.status, r.type, r.text], [200, 'text/html', '\nKERI Service Endpoints\n\n']);
  r = await req(w1, 'GET', '/admin');
  assert.deepEqual([r.status, r.type, r.text], [200, 'text/html', '\nKERI Admin\n\n']);
  assert.equal((await req(w1, 'POST', '/admin')).status, 405);
  // GET/PUT: keripy's responders lack the route's parameters: falcon's 500
  for (const m of ['GET', 'PUT']) {
    r = await req(w1, m, '/end/Eabc/witness');
    assert.deepEqual([r.status, JSON.parse(r.text)], [500, { title: '500 Internal Server Error' }]);
  }
  const data = { seid: 'B1', name: 'n\u00e9\u0000\ud83d\ude00"\t/', dts: '2021', scheme: 'http', host: 'h', port: 5, path: '/', x: [1, { y: null }, true] };
  r = await req(w1, 'POST', '/end/Eabc/witness', JSON.stringify(data));
  assert.equal(r.status, 200);
  assert.equal(r.type, 'application/json');
  // Python json.dumps: ", " and ": " separators, non-ASCII escaped
  assert.equal(r.text, '{"aid": "Eabc", "role": "witness", "data": {"seid": "B1", "name": "n\\u00e9\\u0000\\ud83d\\ude00\\"\\t/", "dts": "2021", ' +
    '"scheme": "http", "host": "h", "port": 5, "path": "/", "x": [1, {"y": null}, true]}}');
  for (const [route, body, desc] of [
    ['/end/Eabc/witness', 'nope', 'Malformed JSON.'],
    ['/end/Eabc/boss', JSON.stringify(data), 'Invalid role.'],
    ['/end/Eabc/witness', JSON.stringify({ ...data, host: undefined }), 'Missing label.'],
    ['/end/Eabc/witness', JSON.stringify({ ...data, scheme: 'ftp' }), 'Invalid scheme.']]) {
    r = await req(w1, 'POST', route, body);
    assert.equal(r.status, 400, desc);
    assert.equal(JSON.parse(r.text).description, desc);
  }
});
