// The keripy mailbox read as server-sent events (keripy-surface §5): POST /
// with a signed qry r=mbx answers text/event-stream. Independent truth: the
// stream format of §5.3 (keripy's MailboxIterable), events and signatures
// made by the keri-client corpus generator and its signify-ts library, the
// receipts checked with `kc.mjs verify-receipt`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, scratch, start, writeYaml, SLOW } from './harness.mjs';

const SHARED = process.env.KD_SHARED_DIR || '/work/shared';
const KC_DIR = path.join(SHARED, 'tools', 'keri-client');
const KC = path.join(KC_DIR, 'kc.mjs');
const SEED = 'ArwXoACJgOleVZ2PY7kXn7rA0II0mHYDhc6WrBH8fDAc';
const PREFIX = 'BJq7UABlttINuWJh1Xl2lkqZG4NTdUdqnbFJDa6ZyxCC';
const CORPUS_SEED = 'kerid-mailbox-sse';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const K = await import(path.join(KC_DIR, 'lib', 'keri.mjs'));
await K.init();

// One controller witnessed by PREFIX: icp then ixns, from the corpus generator.
function corpus(dir) {
  const out = path.join(dir, 'corpus.jsonl');
  execFileSync('node', [KC, 'gen', '--controllers', '1', '--events', '4', '--witnesses', PREFIX,
    '--toad', '1', '--rot-ratio', '0', '--seed', CORPUS_SEED, '--out', out], { stdio: 'pipe' });
  const lines = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const events = lines.filter((l) => l.type === 'event');
  assert.equal(events[0].t, 'icp');
  assert.ok(events.slice(1).every((e) => e.t === 'ixn' && e.ks === 0));
  // the controller's key, derived as the corpus README documents
  const raw = crypto.createHash('sha256').update(`keri-client/sha256-v1|${CORPUS_SEED}|key|0|0|0`).digest();
  const signer = K.signerFromRaw(raw);
  assert.deepEqual(JSON.parse(events[0].raw).k, [signer.verfer.qb64]);
  return { aid: events[0].i, events, signer };
}

async function witness(dir) {
  const port = await freePort();
  writeYaml(dir, 'witness.yml', `db_path: "db/"\nhttp_port: ${port}\n` +
    `public_url: "http://127.0.0.1:${port}/"\nseed: "${SEED}"\nlisten_address: "127.0.0.1"\n`);
  const k = await start(['--role', 'witness', '-c', 'witness.yml'], { cwd: dir });
  k.port = port;
  k.base = `http://127.0.0.1:${port}`;
  return k;
}

async function processEvent(k, e) {
  const r = await fetch(k.base + '/process', { method: 'POST', body: e.raw + e.atc });
  assert.equal(r.status, 200, await r.text());
}

// The mailbox qry as kli's Poller builds it (keripy-surface §5.2).
function mbxQry({ aid, topics, i = aid, noI = false }) {
  const q = noI ? { pre: aid, topics, src: PREFIX } : { pre: aid, topics, i, src: PREFIX };
  return K.makeQry({ route: 'mbx', dt: '2026-01-01T00:00:00.000000+00:00', q }).raw;
}
// -VAj-HAB<aid>-AAB<sig>: the signer's last establishment keys
const transAtc = (raw, aid, signer) => K.pipelined('-HAB' + aid + '-AAB' + signer.sign(K.bytes(raw), 0).qb64);
// -VAi-CAB<pre><sig>: a non-transferable requester
const nonTransAtc = (raw, nt) => K.pipelined(K.couplesAtc([{ pre: nt.verfer.qb64, sig: nt.sign(K.bytes(raw)).qb64 }]));

// Parses "field: value" blocks separated by a blank line (the SSE format).
function parseSse(text) {
  const blocks = text.split('\n\n');
  const rest = blocks.pop();
  const events = blocks.map((b) => {
    const ev = {};
    for (const line of b.split('\n')) {
      const i = line.indexOf(': ');
      const [name, value] = i < 0 ? [line, ''] : [line.slice(0, i), line.slice(i + 2)];
      ev[name] = name === 'data' && ev.data !== undefined ? ev.data + '\n' + value : value;
    }
    return ev;
  });
  return { events, rest };
}

// POST / with the keripy headers (§3); resolves at the answer's head. For a
// stream, .events fills as blocks arrive; .ended resolves when it ends.
function openMailbox(k, raw, atc, headers = {}, { paused = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: k.port, path: '/', method: 'POST', agent: false,
      headers: { 'Content-Type': 'application/cesr+json', 'CESR-ATTACHMENT': atc,
        'CESR-DESTINATION': PREFIX, 'Content-Length': Buffer.byteLength(raw), ...headers } });
    req.on('error', reject);
    req.on('response', (res) => {
      const s = { res, status: res.statusCode, headers: res.headers, text: '', blocks: [], chunks: [] };
      let pending = '';
      s.ended = new Promise((r) => { res.on('end', () => r('end')); res.on('close', () => r('close')); });
      s.ended.then(() => (s.done = true));
      res.setEncoding('utf8');
      res.on('data', (d) => {
        s.chunks.push(d);
        s.text += d;
        pending += d;
        const { events, rest } = parseSse(pending);
        s.blocks.push(...events);
        pending = rest;
      });
      res.on('error', () => {});
      if (paused) res.pause();
      s.events = () => s.blocks.filter((b) => b.id !== undefined);
      s.waitEvents = async (n, ms = 5000 * SLOW) => {
        const end = Date.now() + ms;
        while (s.events().length < n && !s.done && Date.now() < end) await sleep(10);
        return s.events();
      };
      s.close = () => { res.destroy(); req.destroy(); };
      resolve(s);
    });
    req.end(raw);
  });
}

async function body(s) {
  await s.ended;
  return s.text;
}

// The receipt data of an event checked by the keri-client: its command line
// once (a process start costs seconds on a busy machine), its library after.
let cliChecked = false;
function verifyReceipt(event, data) {
  if (!cliChecked) {
    execFileSync('node', [KC, 'verify-receipt', '--event', event.raw, '--receipt', data, '--witness', PREFIX],
      { stdio: 'pipe' });
    cliChecked = true;
    return;
  }
  const r = K.verifyReceipt({ eventRaw: event.raw, receipt: data, witness: PREFIX });
  if (!r.ok) throw new Error(`receipt does not verify: ${r.errors.join(', ')}`);
}

// One metrics series, read on a connection of its own (closed afterwards).
function metric(k, series) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: k.port, path: '/metrics', agent: false,
      headers: { connection: 'close' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        const line = text.split('\n').find((l) => l.startsWith(series + ' '));
        resolve(line === undefined ? undefined : Number(line.slice(series.length + 1)));
      });
    }).on('error', reject);
  });
}

// One witness for the tests below, with the controller's icp processed and a
// stream opened first that sees nothing new (the last test checks its end).
let c, k, idle, idleStart, idleOpen, idleEndedAt;
before(async () => {
  const dir = scratch();
  c = corpus(dir);
  k = await witness(dir);
  await processEvent(k, c.events[0]);
  const idleRaw = mbxQry({ aid: c.aid, topics: { '/multisig': 0 } });
  idle = await openMailbox(k, idleRaw, transAtc(idleRaw, c.aid, c.signer));
  idleStart = Date.now();
  idleOpen = true;
  idle.ended.then(() => {
    idleOpen = false;
    idleEndedAt = Date.now();
  });
});
after(async () => {
  if (k) assert.equal((await k.stop()).code, 0);
});

test('stored receipt from 0, then a receipt stored while the stream is open', async () => {
  const raw = mbxQry({ aid: c.aid, topics: { '/receipt': 0, '/replay': 0, '/reply': 0 } });
  const s = await openMailbox(k, raw, transAtc(raw, c.aid, c.signer), { connection: 'close' });
  try {
    assert.equal(s.status, 200);
    assert.equal(s.headers['content-type'], 'text/event-stream');
    assert.equal(s.headers['cache-control'], 'no-cache');
    assert.equal(s.headers['transfer-encoding'], 'chunked');
    assert.equal(s.headers['content-length'], undefined);
    let evs = await s.waitEvents(1);
    assert.ok(s.text.startsWith('retry: 5000\n\n'), JSON.stringify(s.text.slice(0, 40)));
    assert.equal(evs.length, 1);
    assert.deepEqual(Object.keys(evs[0]), ['id', 'event', 'retry', 'data']);
    assert.equal(evs[0].id, '0');
    assert.equal(evs[0].event, '/receipt');
    assert.equal(evs[0].retry, '5000');
    assert.ok(!evs[0].data.includes('\n'));
    verifyReceipt(c.events[0], evs[0].data);
    // an ixn stored now arrives on the open stream, with the next ordinal
    const t0 = Date.now();
    await processEvent(k, c.events[1]);
    evs = await s.waitEvents(2);
    assert.equal(evs.length, 2, s.text);
    assert.ok(Date.now() - t0 < 3000 * SLOW);
    assert.equal(evs[1].id, '1');
    assert.equal(evs[1].event, '/receipt');
    verifyReceipt(c.events[1], evs[1].data);
    assert.throws(() => verifyReceipt(c.events[0], evs[1].data), 'a receipt of another event');
    await sleep(300);
    assert.equal(s.events().length, 2, 'nothing sent twice');
  } finally {
    s.close();
  }
});

test('requested ordinal N returns only N.., per topic in request order', async () => {
  await processEvent(k, c.events[2]);
  await processEvent(k, c.events[3]);
  const raw = mbxQry({ aid: c.aid, topics: { '/replay': 0, '/receipt': 2, '/multisig': 0 } });
  const s = await openMailbox(k, raw, transAtc(raw, c.aid, c.signer));
  try {
    const evs = await s.waitEvents(2);
    await sleep(300);
    assert.deepEqual(s.events().map((e) => [e.id, e.event]), [['2', '/receipt'], ['3', '/receipt']]);
    verifyReceipt(c.events[2], evs[0].data);
    verifyReceipt(c.events[3], evs[1].data);
  } finally {
    s.close();
  }
  // past the end: silent until something new arrives
  const raw2 = mbxQry({ aid: c.aid, topics: { '/receipt': 4 } });
  const s2 = await openMailbox(k, raw2, transAtc(raw2, c.aid, c.signer));
  try {
    assert.equal(s2.status, 200);
    await sleep(400);
    assert.equal(s2.text, 'retry: 5000\n\n');
  } finally {
    s2.close();
  }
});

test('non-transferable requester (-C couple); unknown q.i stays silent', async () => {
  const nt = K.signerFromRaw(crypto.randomBytes(32), false);
  const raw = mbxQry({ aid: c.aid, topics: { '/receipt': 3 } });
  const s = await openMailbox(k, raw, nonTransAtc(raw, nt));
  try {
    assert.equal(s.status, 200);
    const evs = await s.waitEvents(1);
    assert.equal(evs[0].id, '3');
    verifyReceipt(c.events[3], evs[0].data);
  } finally {
    s.close();
  }
  const unknown = 'E' + crypto.randomBytes(32).toString('base64url').slice(0, 43);
  const raw2 = mbxQry({ aid: c.aid, i: unknown, topics: { '/receipt': 0 } });
  const s2 = await openMailbox(k, raw2, transAtc(raw2, c.aid, c.signer));
  try {
    assert.equal(s2.status, 200);
    assert.equal(s2.headers['content-type'], 'text/event-stream');
    await sleep(400);
    assert.equal(s2.text, 'retry: 5000\n\n');
  } finally {
    s2.close();
  }
});

test('bad or unverifiable signature, bad query: 4xx JSON, never a stream', async () => {
  const raw = mbxQry({ aid: c.aid, topics: { '/receipt': 0 } });
  const good = transAtc(raw, c.aid, c.signer);
  const refused = async (atc, status, rawBody = raw) => {
    const s = await openMailbox(k, rawBody, atc);
    const text = await body(s);
    assert.equal(s.status, status, text);
    assert.equal(s.headers['content-type'], 'application/json');
    const j = JSON.parse(text);
    assert.deepEqual(Object.keys(j), ['title', 'description']);
    assert.ok(!text.includes('retry:'));
    return j;
  };
  // one signature character changed
  const sigAt = good.length - 86;
  const flipped = good.slice(0, sigAt + 5) + (good[sigAt + 5] === 'A' ? 'B' : 'A') + good.slice(sigAt + 6);
  await refused(flipped, 403);
  // signed by another key under the controller's prefix
  const other = K.signerFromRaw(crypto.randomBytes(32));
  await refused(transAtc(raw, c.aid, other), 403);
  // a signer whose KEL this witness does not have
  const stranger = K.signerFromRaw(crypto.randomBytes(32));
  const sicp = K.makeIcp({ keys: [stranger.verfer.qb64], isith: '1' });
  const j = await refused(transAtc(raw, sicp.sad.i, stranger), 403);
  assert.match(j.description, /unknown/);
  // a non-transferable couple over other bytes
  const nt = K.signerFromRaw(crypto.randomBytes(32), false);
  await refused(nonTransAtc(mbxQry({ aid: c.aid, topics: { '/receipt': 1 } }), nt), 403);
  // no signature group, an attachment that is not CESR
  await refused(K.pipelined(K.ctrlSigsAtc(K.signIndexed([c.signer], raw))), 400);
  await refused('-HAB', 400);
  // topics that cannot be mailbox topics, a q.i that cannot be an identifier
  for (const q of [{ topics: { '/': 0 } }, { topics: { ['/' + 'a'.repeat(33)]: 0 } },
    { topics: { '/a b': 0 } }, { topics: { '/receipt': 0, receipt: 1 } },
    { topics: { '/receipt': 0 }, i: 'E!notqb64' }, { topics: { '/receipt': 0 }, noI: true }]) {
    const bad = mbxQry({ aid: c.aid, ...q });
    await refused(transAtc(bad, c.aid, c.signer), 400, bad);
  }
});

test('a client that goes away frees its stream; kerid keeps serving', async () => {
  const open = () => metric(k, 'kerid_http_connections_open{server="witness"}');
  const before = await open();
  const raw = mbxQry({ aid: c.aid, topics: { '/receipt': 0 } });
  const streams = [];
  for (let n = 0; n < 5; n++) streams.push(await openMailbox(k, raw, transAtc(raw, c.aid, c.signer)));
  for (const s of streams) assert.equal((await s.waitEvents(4)).length, 4);
  assert.ok((await open()) >= before + 5);
  for (const s of streams) s.close();
  // (the metrics request's own connection may still be counted once)
  const end = Date.now() + 3000 * SLOW;
  while ((await open()) > before && Date.now() < end) await sleep(20);
  assert.ok((await open()) <= before);
  const h = await fetch(k.base + '/health');
  assert.equal(h.status, 200);
  // and new messages still reach new streams
  const s = await openMailbox(k, raw, transAtc(raw, c.aid, c.signer));
  assert.equal((await s.waitEvents(4)).length, 4);
  s.close();
});

// keriox /fwd exn (as in witness.test.mjs) carrying a large ixn into the
// sender's own multisig mailbox: 50 messages of ~200 KB, far more than the
// socket buffers hold, to a client that does not read for a while. The
// witness must hold back (its HTTP queue bound would cut the stream) and go
// on when the client reads; everything arrives whole and in order.
test('a large mailbox reaches a client that reads late, whole and in order', async () => {
  const sender = K.signerFromRaw(crypto.createHash('sha256').update('kerid-mailbox-sse|sender').digest());
  const sicp = K.makeIcp({ keys: [sender.verfer.qb64], isith: '1' });
  const sigOf = (raw) => sender.sign(K.bytes(raw), 0).qb64;
  await processEvent(k, { raw: sicp.raw, atc: '-AAB' + sigOf(sicp.raw) });
  const dt = '2026-01-01T00:00:00.000000+00:00';
  // anchors of no known seal kind, kept as they are: bulk for the test
  const seals = Array.from({ length: 4 }, (_, n) => ({ x: String(n).repeat(50000) }));
  const expected = [];
  for (let n = 0; n < 50; n++) {
    const ixn = K.makeIxn({ pre: sicp.sad.i, dig: sicp.sad.d, sn: n + 1, data: seals });
    const inner = '-AAB' + sigOf(ixn.raw);
    const pathed = '5AABAA-a' + inner;
    const lgroup = '-LA' + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[pathed.length / 4] + pathed;
    const exn = K.saidify({ v: 'KERI10JSON000000_', t: 'exn', d: '', dt, r: '/fwd',
      q: { pre: sicp.sad.i, topic: 'multisig' }, a: ixn.sad }).raw;
    const r = await fetch(k.base + '/forward', { method: 'POST',
      body: exn + '-HAB' + sicp.sad.i + '-AAB' + sigOf(exn) + lgroup });
    assert.equal(r.status, 200, await r.text());
    expected.push(ixn.raw + inner);
  }
  const total = expected.reduce((a, m) => a + m.length, 0);
  assert.ok(total > 9e6, `${total} bytes`);
  const raw = mbxQry({ aid: sicp.sad.i, topics: { '/multisig': 0 } });
  const s = await openMailbox(k, raw, transAtc(raw, sicp.sad.i, sender), {}, { paused: true });
  try {
    assert.equal(s.status, 200);
    await sleep(1500);
    s.res.resume();
    const evs = await s.waitEvents(50, 30000 * SLOW);
    assert.equal(evs.length, 50);
    evs.forEach((e, n) => {
      assert.equal(e.id, String(n));
      assert.equal(e.event, '/multisig');
      assert.ok(e.data === expected[n], `message ${n} arrived whole`);
    });
    await sleep(200);
    assert.equal(s.events().length, 50);
  } finally {
    s.close();
  }
});

test('a stream without news ends by itself after about 30 s, cleanly (§5.3)', async () => {
  assert.equal(idle.status, 200);
  const how = await Promise.race([idle.ended, sleep(45000 * SLOW).then(() => 'timeout')]);
  const took = idleEndedAt - idleStart;
  assert.equal(how, 'end');
  assert.ok(took >= 29000 && took < 40000 * SLOW, `ended after ${took} ms`);
  assert.equal(idle.text, 'retry: 5000\n\n');
});

test('open streams are bounded: one more is refused 503, then served again', async () => {
  const raw = mbxQry({ aid: c.aid, topics: { '/multisig': 0 } });
  const atc = transAtc(raw, c.aid, c.signer);
  const opened = [];
  assert.equal(idleOpen, false); /* the test before waited for its end */
  try {
    // 280 at once (in batches): exactly 256 fit under the bound, the rest
    // are refused
    for (let n = 0; n < 280; n += 40)
      opened.push(...await Promise.all(Array.from({ length: 40 }, () => openMailbox(k, raw, atc))));
    const ok = opened.filter((s) => s.status === 200);
    const refused = opened.filter((s) => s.status !== 200);
    assert.equal(ok.length, 256);
    assert.ok(refused.every((s) => s.status === 503));
    assert.equal(JSON.parse(await body(refused[0])).title, '503 Service Unavailable');
  } finally {
    for (const s of opened) s.close();
  }
  const end = Date.now() + 5000 * SLOW;
  let again;
  do {
    await sleep(50);
    again = await openMailbox(k, raw, atc);
    if (again.status !== 200) await body(again);
  } while (again.status !== 200 && Date.now() < end);
  assert.equal(again.status, 200);
  again.close();
});

test('SIGTERM with open mailbox streams: prompt exit 0, streams ended (§5.3)', async () => {
  const dir = scratch();
  const c = corpus(dir);
  const k = await witness(dir);
  await processEvent(k, c.events[0]);
  const raw = mbxQry({ aid: c.aid, topics: { '/receipt': 0 } });
  const a = await openMailbox(k, raw, transAtc(raw, c.aid, c.signer));
  const b = await openMailbox(k, raw, transAtc(raw, c.aid, c.signer), { connection: 'close' });
  assert.equal((await a.waitEvents(1)).length, 1);
  assert.equal((await b.waitEvents(1)).length, 1);
  const t0 = Date.now();
  const r = await k.stop('SIGTERM');
  assert.equal(r.code, 0);
  assert.ok(Date.now() - t0 < 3000 * SLOW, `exit took ${Date.now() - t0} ms`);
  // each stream got its end (the last chunk), not a cut connection
  assert.equal(await a.ended, 'end');
  assert.equal(await b.ended, 'end');
});
