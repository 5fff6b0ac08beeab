// The keripy witness surface (spec/keripy-surface.md §2-§4, §6-§8) of the
// real kerid binary on 127.0.0.1. Independent truth: the keri-client
// (signify-ts) corpus generator, sender and OOBI checker, its KERI library
// for building and signing messages, and the spec's error bodies. Mailbox
// contents are read from the database with the sqlite3 command-line tool.
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { exchange, freePort, get, scratch, start, writeYaml } from './harness.mjs';

const SHARED = process.env.KD_SHARED_DIR || '/work/shared';
const KC_DIR = path.join(SHARED, 'tools', 'keri-client');
const KC = path.join(KC_DIR, 'kc.mjs');
const K = await import(path.join(KC_DIR, 'lib', 'keri.mjs'));
const { parseStream } = await import(path.join(KC_DIR, 'lib', 'cesr.mjs'));
await K.init();
const S = K.S;

const SEED = 'ArwXoACJgOleVZ2PY7kXn7rA0II0mHYDhc6WrBH8fDAc';
const WIT = 'BJq7UABlttINuWJh1Xl2lkqZG4NTdUdqnbFJDa6ZyxCC';
const CESR_JSON = 'application/cesr+json';
const JSON_CESR = 'application/json+cesr';

async function witness(dir, port) {
  port = port || await freePort();
  writeYaml(dir, 'witness.yml', `db_path: "db/"\nhttp_port: ${port}\n` +
    `public_url: "http://127.0.0.1:${port}/"\nseed: "${SEED}"\nlisten_address: "127.0.0.1"\n`);
  const k = await start(['--role', 'witness', '-c', 'witness.yml'], { cwd: dir });
  k.port = port;
  k.base = `http://127.0.0.1:${port}`;
  k.db = path.join(dir, 'db', 'kerid.sqlite3');
  return k;
}

// POST a message the keripy way: body + CESR-ATTACHMENT header.
async function cesr(k, route, body, atc, { type = CESR_JSON, method = 'POST' } = {}) {
  const headers = { 'CESR-DESTINATION': WIT };
  if (type !== null) headers['Content-Type'] = type;
  if (atc !== null) headers['CESR-ATTACHMENT'] = atc;
  const r = await fetch(k.base + route, { method, headers, body });
  return { status: r.status, type: r.headers.get('content-type'), headers: r.headers, text: await r.text() };
}

// fetch sends "Accept: */*", which gets the keriox answer on the paths both
// surfaces share (/oobi/{id}, /oobi/{cid}/{role}/{eid}): ask for keripy's.
async function fetchGet(k, route, headers = { Accept: JSON_CESR }) {
  const r = await fetch(k.base + route, { headers });
  return { status: r.status, type: r.headers.get('content-type'), headers: r.headers, text: await r.text() };
}

function kc(args) {
  const r = spawnSync(process.execPath, [KC, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 300000 });
  let json = null;
  try { json = JSON.parse(r.stdout); } catch { /* reported below */ }
  return { code: r.status, json, stdout: r.stdout, stderr: r.stderr };
}

function readCorpus(file) {
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

// Mailbox rows of (prefix, topic), read with the sqlite3 CLI.
function mailbox(k, prefix, topic) {
  const out = execFileSync('sqlite3', ['-readonly', '-json', k.db,
    `SELECT idx, CAST(message AS TEXT) AS m FROM mailbox WHERE prefix='${prefix}' AND topic='${topic}' ORDER BY idx`],
  { encoding: 'utf8' }).trim();
  return out ? JSON.parse(out).map((r) => r.m) : [];
}

// Keys and witnesses made with signify-ts.
const signer = (n, transferable = true) => K.signerFromRaw(Buffer.alloc(32, n), transferable);
const W2 = signer(200, false);
const W3 = signer(201, false);

// A one-key self-addressing controller with witnesses wits and toad.
function controller(n, wits, toad) {
  const sg = signer(n);
  const nx = signer(n + 100);
  const icp = K.makeIcp({ keys: [sg.verfer.qb64], isith: '1', ndigs: [K.nextDigest(nx.verfer.qb64)], nsith: '1', wits, toad });
  const atc = K.ctrlSigsAtc(K.signIndexed([sg], icp.raw));
  const pre = icp.sad.i;
  return {
    sg, pre, icp, atc,
    ixn(sn, dig, data = []) {
      const e = K.makeIxn({ pre, dig, sn, data });
      return { ...e, atc: K.ctrlSigsAtc(K.signIndexed([sg], e.raw)) };
    },
  };
}

const parseOne = (text) => {
  const m = parseStream(text);
  assert.equal(m.length, 1, `one message expected in ${text}`);
  return m[0];
};

test('kc send --protocol keripy --route receipts: multi-sig and weighted corpora with every invalid kind', async () => {
  const dir = scratch();
  const k = await witness(dir);
  try {
    for (const [name, extra] of [['ms', ['--keys', '3', '--threshold', '2']],
      ['wt', ['--keys', '3', '--threshold', '["1/2","1/2","1/2"]']]]) {
      const corpus = path.join(dir, `${name}.jsonl`);
      const g = kc(['gen', '--controllers', '12', '--events', '6', '--witnesses', `${WIT},${W2.verfer.qb64}`,
        '--toad', '1', '--seed', `kp-${name}`, '--invalid', 'all', '--invalid-rate', '0.3', '--out', corpus, ...extra]);
      assert.equal(g.code, 0, g.stderr);
      const lines = readCorpus(corpus);
      const trailer = lines.at(-1);
      const invalid = Object.values(trailer.invalid).reduce((a, b) => a + b, 0);
      assert.ok(invalid > 0, 'the corpus holds invalid events');
      const r = kc(['send', '--url', `${k.base}/`, '--protocol', 'keripy', '--route', 'receipts',
        '--corpus', corpus, '--concurrency', '4', '--quiet']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const rep = r.json;
      assert.equal(rep.witness, WIT);
      assert.equal(rep.sent, trailer.events);
      assert.equal(rep.accepted, trailer.valid);
      assert.equal(rep.receipts.verified, trailer.valid);
      assert.equal(rep.receipts.invalid, 0);
      assert.equal(rep.accepted_invalid, 0);
      assert.equal(rep.rejected.expected, invalid);
      assert.equal(rep.rejected.unexpected, 0);
      assert.deepEqual(rep.errors, {});
      // a second pass: every event is a duplicate now, receipted again (valid) or refused
      const again = kc(['send', '--url', `${k.base}/`, '--protocol', 'keripy', '--route', 'receipts',
        '--corpus', corpus, '--concurrency', '2', '--quiet']);
      assert.equal(again.code, 0, again.stdout);
      assert.equal(again.json.receipts.verified, trailer.valid);
    }
  } finally {
    assert.equal((await k.stop()).code, 0, "kerid exits cleanly (no sanitizer report)");
  }
});

test('kc send --route root: 2xx for valid events; receipts then served by GET /receipts', async () => {
  const dir = scratch();
  const k = await witness(dir);
  try {
    const corpus = path.join(dir, 'root.jsonl');
    const g = kc(['gen', '--controllers', '6', '--events', '4', '--witnesses', WIT, '--seed', 'kp-root',
      '--keys', '2', '--out', corpus]);
    assert.equal(g.code, 0, g.stderr);
    const r = kc(['send', '--url', `${k.base}/`, '--protocol', 'keripy', '--route', 'root', '--corpus', corpus, '--quiet']);
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(r.json.http_status, { 204: r.json.sent });
    for (const ev of readCorpus(corpus).filter((l) => l.type === 'event')) {
      const byNum = await fetchGet(k, `/receipts?pre=${ev.i}&sn=${parseInt(ev.s, 16)}`);
      assert.equal(byNum.status, 200);
      assert.equal(byNum.type, JSON_CESR);
      const v = K.verifyReceipt({ eventRaw: ev.raw, receipt: byNum.text, witness: WIT, wits: [WIT] });
      assert.ok(v.ok, JSON.stringify(v));
      const bySaid = await fetchGet(k, `/receipts?pre=${ev.i}&said=${ev.d}`);
      assert.equal(bySaid.text, byNum.text, 'said= and sn= give the same receipt (real s, not "0")');
    }
  } finally {
    assert.equal((await k.stop()).code, 0, "kerid exits cleanly (no sanitizer report)");
  }
});

test('CESR over HTTP: 406, 400, 412 with falcon bodies, nothing stored', async () => {
  const dir = scratch();
  const k = await witness(dir);
  try {
    const c = controller(1, [WIT], 1);
    const none = async () => (await fetchGet(k, `/query?typ=kel&pre=${c.pre}`)).status;
    for (const route of ['/', '/receipts']) {
      for (const type of ['application/json', 'application/cesr+json; charset=utf-8', null]) {
        const r = await cesr(k, route, c.icp.raw, c.atc, { type });
        assert.equal(r.status, 406, `${route} ${type}`);
        assert.deepEqual(JSON.parse(r.text), { title: 'Content type error', description: 'Unacceptable content type.' });
      }
      let r = await cesr(k, route, c.icp.raw.slice(0, -1), c.atc);
      assert.equal(r.status, 400);
      assert.deepEqual(JSON.parse(r.text), { title: 'Malformed JSON',
        description: 'Could not decode the request body. The JSON was incorrect.' });
      for (const bad of ['{"a":1} x', '{"a":01}', '['.repeat(100) + ']'.repeat(100), '{"a":"\x01"}',
        '{"a":"\\q"}', '{"a":1,}', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])]) {
        const b = await cesr(k, route, bad, c.atc);
        assert.equal(b.status, 400, String(bad));
        assert.equal(JSON.parse(b.text).title, 'Malformed JSON');
      }
      r = await cesr(k, route, c.icp.raw, null);
      assert.equal(r.status, 412);
      assert.deepEqual(JSON.parse(r.text), { title: 'Attachment error', description: 'Missing required attachment header.' });
      // JSON but not one framed message; attachments that hold a message
      r = await cesr(k, route, '{"a":1}', c.atc);
      assert.equal(r.status, 400);
      assert.equal(JSON.parse(r.text).title, 'Invalid message');
      r = await cesr(k, route, c.icp.raw, c.atc + c.icp.raw + c.atc);
      assert.equal(r.status, 400);
      r = await cesr(k, route, c.icp.raw, '-AAB');
      assert.equal(r.status, 400);
      assert.equal(await none(), 404);
    }
    // bad controller signature: 403, nothing stored (keripy would answer a blind 204)
    const bad = K.ctrlSigsAtc([new S.Siger({ qb64: K.corruptSiger(K.signIndexed([c.sg], c.icp.raw)[0].qb64) })]);
    for (const route of ['/', '/receipts']) {
      const r = await cesr(k, route, c.icp.raw, bad);
      assert.equal(r.status, 403, r.text);
      assert.equal(JSON.parse(r.text).title, 'Invalid event');
    }
    assert.equal(await none(), 404);
    assert.equal((await fetchGet(k, `/receipts?pre=${c.pre}&sn=0`)).status, 404);
    assert.deepEqual(mailbox(k, c.pre, 'receipt'), []);
    // the valid one goes in
    const ok = await cesr(k, '/', c.icp.raw, c.atc);
    assert.equal(ok.status, 204);
    assert.equal(ok.text, '');
    assert.equal(await none(), 200);
    assert.equal(mailbox(k, c.pre, 'receipt').length, 1);
  } finally {
    assert.equal((await k.stop()).code, 0, "kerid exits cleanly (no sanitizer report)");
  }
});

test('POST /receipts: one -CAB couple, 202 when escrowed, 400 for a non-witness or a non-event', async () => {
  const dir = scratch();
  const k = await witness(dir);
  try {
    const c = controller(2, [WIT, W2.verfer.qb64], 2);
    let r = await cesr(k, '/receipts', c.icp.raw, c.atc);
    assert.equal(r.status, 200);
    assert.equal(r.type, JSON_CESR);
    const m = parseOne(r.text);
    assert.equal(m.sad.t, 'rct');
    assert.equal(m.atc.length, 4 + 44 + 88, 'exactly one couple, no -V, nothing else');
    assert.ok(m.atc.startsWith('-CAB' + WIT));
    assert.ok(K.verifyReceipt({ eventRaw: c.icp.raw, receipt: r.text, witness: WIT }).ok);
    // duplicate: the same receipt
    const r2 = await cesr(k, '/receipts', c.icp.raw, c.atc);
    assert.equal(r2.status, 200);
    assert.equal(r2.text, r.text);
    // an ixn two ahead: out of order, escrowed → 202 empty
    const ixn1 = c.ixn(1, c.icp.sad.d);
    const ixn2 = c.ixn(2, ixn1.sad.d);
    r = await cesr(k, '/receipts', ixn2.raw, ixn2.atc);
    assert.equal(r.status, 202);
    assert.equal(r.text, '');
    r = await cesr(k, '/receipts', ixn1.raw, ixn1.atc);
    assert.equal(r.status, 200);
    // ixn2 was released from escrow by ixn1: now a duplicate, receipted
    r = await cesr(k, '/receipts', ixn2.raw, ixn2.atc);
    assert.equal(r.status, 200);
    assert.ok(K.verifyReceipt({ eventRaw: ixn2.raw, receipt: r.text, witness: WIT, wits: [WIT, W2.verfer.qb64] }).ok);
    // an unknown AID's ixn: escrowed, 202
    const u = controller(3, [WIT], 1);
    r = await cesr(k, '/receipts', u.ixn(1, u.icp.sad.d).raw, u.ixn(1, u.icp.sad.d).atc);
    assert.equal(r.status, 202);
    // not a witness of it: an inception that does not list this witness
    // (refused before anything is stored), an accepted KEL without witnesses
    const o = controller(4, [W2.verfer.qb64], 1);
    r = await cesr(k, '/receipts', o.icp.raw, o.atc);
    assert.equal(r.status, 400);
    assert.match(JSON.parse(r.text).description, new RegExp(`${WIT} is not a valid witness for ${o.pre} event at 0`));
    assert.equal((await fetchGet(k, `/query?typ=kel&pre=${o.pre}`)).status, 404);
    const nw = controller(19, [], 0);
    r = await cesr(k, '/receipts', nw.icp.raw, nw.atc);
    assert.equal(r.status, 400);
    assert.match(JSON.parse(r.text).description, new RegExp(`is not a valid witness for ${nw.pre} event at 0`));
    assert.equal((await fetchGet(k, `/query?typ=kel&pre=${nw.pre}`)).status, 200, 'processed, not receipted');
    // not a key event
    const rpy = K.makeRpy({ route: '/loc/scheme', a: { eid: W2.verfer.qb64, scheme: 'http', url: 'http://127.0.0.1:1/' }, dt: K.nowStamp() });
    r = await cesr(k, '/receipts', rpy.raw, K.couplesAtc([{ pre: W2.verfer.qb64, sig: W2.sign(K.bytes(rpy.raw)).qb64 }]));
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.text).description, 'invalid event type (rpy)for receipting');
  } finally {
    assert.equal((await k.stop()).code, 0, "kerid exits cleanly (no sanitizer report)");
  }
});

test('rct with -B wigs and with -C couples merge; OOBI 404 until fully witnessed; GET /receipts', async () => {
  const dir = scratch();
  const k = await witness(dir);
  try {
    const wits = [WIT, W2.verfer.qb64, W3.verfer.qb64];
    const c = controller(5, wits, 3);
    assert.equal((await cesr(k, '/', c.icp.raw, c.atc)).status, 204);
    const oobi = `/oobi/${c.pre}/witness/${WIT}`;
    assert.equal((await fetchGet(k, oobi)).status, 404, 'only 1 of 3 receipts');
    const rct = K.makeRct({ pre: c.pre, sn: 0, said: c.icp.sad.d });
    // W2 as an indexed witness signature (-B, index 1)
    const wig = W2.sign(K.bytes(c.icp.raw), 1, false);
    let r = await cesr(k, '/', rct.raw, K.witSigsAtc([wig]));
    assert.equal(r.status, 204);
    assert.equal((await fetchGet(k, oobi)).status, 404, '2 of 3');
    // a forged couple is refused and not stored
    const forged = { pre: W3.verfer.qb64, sig: W3.sign(K.bytes(c.icp.raw + ' ')).qb64 };
    r = await cesr(k, '/', rct.raw, K.couplesAtc([forged]));
    assert.equal(r.status, 403);
    assert.equal((await fetchGet(k, oobi)).status, 404);
    // W3 as a couple (-C), -V wrapped as keripy sends it
    r = await cesr(k, '/', rct.raw, K.pipelined(K.couplesAtc([{ pre: W3.verfer.qb64, sig: W3.sign(K.bytes(c.icp.raw)).qb64 }])));
    assert.equal(r.status, 204);
    const g = await fetchGet(k, `/receipts?pre=${c.pre}&sn=0`);
    assert.equal(g.status, 200);
    const m = parseOne(g.text);
    assert.deepEqual(m.sad, { v: m.sad.v, t: 'rct', d: c.icp.sad.d, i: c.pre, s: '0' });
    assert.ok(m.atc.startsWith('-BAD'));
    const v = K.verifyReceipt({ eventRaw: c.icp.raw, receipt: g.text, wits });
    assert.ok(v.ok, JSON.stringify(v));
    assert.deepEqual(v.signatures.map((s) => s.pre), wits);
    // now fully witnessed: the OOBI verifies with the independent client
    const o = kc(['oobi', '--url', k.base + oobi]);
    assert.equal(o.code, 0, o.stdout);
    assert.equal(o.json.content_type_ok_for_kli, true);
    assert.equal(o.json.keri_aid, c.pre);
    // GET /receipts errors
    for (const [q, st] of [['', 400], [`pre=${c.pre}`, 400], [`pre=${c.pre}&sn=x1`, 400], [`pre=${c.pre}&sn=-1`, 400],
      [`sn=0`, 400], [`pre=${c.pre}&sn=7`, 404], [`pre=${c.pre}&said=EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`, 404]]) {
      const e = await fetchGet(k, `/receipts?${q}`);
      assert.equal(e.status, st, q);
      assert.equal(typeof JSON.parse(e.text).title, 'string');
    }
    const other = controller(6, [], 0);
    assert.equal((await cesr(k, '/', other.icp.raw, other.atc)).status, 204);
    assert.equal((await fetchGet(k, `/receipts?pre=${other.pre}&sn=0`)).status, 400, 'not a witness of it');
  } finally {
    assert.equal((await k.stop()).code, 0, "kerid exits cleanly (no sanitizer report)");
  }
});

test('OOBIs: own OOBI stable across restarts, KERI-AID, 404/406, and the keriox answers for Accept: */*', async () => {
  const dir = scratch();
  let k = await witness(dir);
  let own;
  try {
    const o = kc(['oobi', '--url', `${k.base}/oobi/${WIT}/controller`]);
    assert.equal(o.code, 0, o.stdout);
    assert.equal(o.json.content_type_ok_for_kli, true);
    assert.deepEqual(o.json.messages.map((x) => x.r ?? x.t), ['icp', '/loc/scheme', '/end/role/add']);
    assert.deepEqual(o.json.kels[WIT].keys, [WIT]);
    assert.deepEqual(o.json.end_roles.map((e) => [e.cid, e.role, e.eid]), [[WIT, 'controller', WIT]]);
    own = await fetchGet(k, `/oobi/${WIT}/controller`);
    assert.equal(own.type, JSON_CESR);
    assert.equal(own.headers.get('keri-aid'), WIT);
    const [icp] = parseStream(own.text);
    assert.deepEqual({ ...icp.sad, v: 0, d: 0 }, { v: 0, t: 'icp', d: 0, i: WIT, s: '0', kt: '1', k: [WIT], nt: '0',
      n: [], bt: '0', b: [], c: [], a: [] });
    assert.ok(K.checkBody(icp.raw).ok);
    for (const p of ['/oobi', `/oobi/${WIT}`, `/oobi/${WIT}/witness`]) {
      const r = await get(k.port, p, '', { accept: null }); // kli's hio client: no Accept
      assert.equal(r.status, 200, p);
      assert.equal(r.headers['content-type'], JSON_CESR);
      assert.equal(r.body, own.text, p);
    }
    // the keriox answers, unchanged for keriox's clients (Accept: */*)
    const kx = await get(k.port, `/oobi/${WIT}`);
    assert.equal(kx.status, 200);
    assert.equal(kx.headers['content-type'], 'text/plain; charset=utf-8');
    const [loc] = parseStream(kx.body);
    assert.equal(loc.sad.r, '/loc/scheme');
    assert.equal(loc.atc, '-CAB' + WIT + loc.atc.slice(48));
    assert.equal(parseStream(kx.body).length, 1);
    const kj = await get(k.port, `/oobi/${WIT}`, 'Accept: text/html, application/json+cesr;q=0.9\r\n');
    assert.equal(kj.headers['content-type'], JSON_CESR, 'Accept naming application/json+cesr');
    // unknown aid, bad aid, role, eid
    const c = controller(7, [WIT], 1);
    assert.equal((await fetchGet(k, `/oobi/${c.pre}`)).status, 404);
    assert.equal((await fetchGet(k, `/oobi/${c.pre}/witness/${WIT}`)).status, 404);
    assert.equal((await fetchGet(k, '/oobi/garbage/witness')).status, 404);
    assert.equal((await fetchGet(k, `/oobi/${WIT}/watcher`)).status, 404);
    assert.equal((await cesr(k, '/', c.icp.raw, c.atc)).status, 204);
    const w = await fetchGet(k, `/oobi/${c.pre}/witness`);
    assert.equal(w.status, 200);
    assert.equal(w.headers.get('keri-aid'), c.pre);
    assert.equal((await fetchGet(k, `/oobi/${c.pre}/notarole`)).status, 404);
    // a KEL without witnesses is fully witnessed, but this node is not its witness: 406
    const nw = controller(8, [], 0);
    assert.equal((await cesr(k, '/', nw.icp.raw, nw.atc)).status, 204);
    const r406 = await fetchGet(k, `/oobi/${nw.pre}`);
    assert.equal(r406.status, 406);
    assert.equal(typeof JSON.parse(r406.text).description, 'string');
    // keriox's /oobi/{cid}/witness/{eid} for Accept: */* is the keriox KEL replay + loc
    const kxr = await get(k.port, `/oobi/${c.pre}/witness/${WIT}`);
    assert.equal(kxr.headers['content-type'], 'text/plain; charset=utf-8');
    const kxm = parseStream(kxr.body);
    assert.deepEqual(kxm.map((x) => x.sad.t), ['icp', 'rpy']);
    assert.ok(kxm[0].atc.startsWith('-AAB'), 'keriox replay form: no -V');
  } finally {
    assert.equal((await k.stop()).code, 0, "kerid exits cleanly (no sanitizer report)");
  }
  k = await witness(dir, k.port);
  try {
    const again = await fetchGet(k, `/oobi/${WIT}/controller`);
    assert.equal(again.text, own.text, 'byte-stable across restarts');
  } finally {
    assert.equal((await k.stop()).code, 0, "kerid exits cleanly (no sanitizer report)");
  }
});

test('rpy /loc/scheme and /end/role/add via POST /; BADA; bad signature refused', async () => {
  const dir = scratch();
  const k = await witness(dir);
  try {
    const c = controller(9, [WIT, W2.verfer.qb64], 1);
    assert.equal((await cesr(k, '/', c.icp.raw, c.atc)).status, 204);
    const url = 'http://127.0.0.1:5642/';
    const loc = K.makeRpy({ route: '/loc/scheme', a: { eid: W2.verfer.qb64, scheme: 'http', url }, dt: '2024-01-01T00:00:00.000000+00:00' });
    const sigLoc = (raw) => K.pipelined(K.couplesAtc([{ pre: W2.verfer.qb64, sig: W2.sign(K.bytes(raw)).qb64 }]));
    let r = await cesr(k, '/', loc.raw, K.couplesAtc([{ pre: W3.verfer.qb64, sig: W3.sign(K.bytes(loc.raw)).qb64 }]));
    assert.ok(r.status >= 400 && r.status < 500, 'signed by another identifier');
    r = await cesr(k, '/', loc.raw, sigLoc(loc.raw + 'x'));
    assert.equal(r.status, 403);
    let o = kc(['oobi', '--url', `${k.base}/oobi/${c.pre}/witness`]);
    assert.equal(o.code, 0, o.stdout);
    assert.deepEqual(o.json.locations.map((l) => l.eid), [WIT]);
    r = await cesr(k, '/', loc.raw, sigLoc(loc.raw));
    assert.equal(r.status, 204);
    o = kc(['oobi', '--url', `${k.base}/oobi/${c.pre}/witness`]);
    assert.equal(o.code, 0, o.stdout);
    assert.deepEqual(o.json.locations.map((l) => [l.eid, l.url]).sort(), [[W2.verfer.qb64, url], [WIT, `${k.base}/`]].sort());
    // eid filter
    o = kc(['oobi', '--url', `${k.base}/oobi/${c.pre}/witness/${W2.verfer.qb64}`]);
    assert.deepEqual(o.json.locations.map((l) => l.eid), [W2.verfer.qb64]);
    // stale (older dt) refused
    const old = K.makeRpy({ route: '/loc/scheme', a: { eid: W2.verfer.qb64, scheme: 'http', url: 'http://127.0.0.1:1/' }, dt: '2023-01-01T00:00:00.000000+00:00' });
    r = await cesr(k, '/', old.raw, sigLoc(old.raw));
    assert.equal(r.status, 400);
    // end role add by the controller (-FAB transferable), served under its role
    const end = K.makeRpy({ route: '/end/role/add', a: { cid: c.pre, role: 'watcher', eid: W3.verfer.qb64 }, dt: K.nowStamp() });
    const fab = K.counter(S.CtrDex.TransIdxSigGroups, 1) + c.pre + new S.Seqner({ sn: 0 }).qb64 + c.icp.sad.d +
      K.ctrlSigsAtc(K.signIndexed([c.sg], end.raw));
    r = await cesr(k, '/', end.raw, fab);
    assert.equal(r.status, 204, r.text);
    o = kc(['oobi', '--url', `${k.base}/oobi/${c.pre}/watcher`]);
    assert.equal(o.code, 0, o.stdout);
    assert.deepEqual(o.json.end_roles.map((e) => [e.cid, e.role, e.eid]), [[c.pre, 'watcher', W3.verfer.qb64]]);
  } finally {
    assert.equal((await k.stop()).code, 0, "kerid exits cleanly (no sanitizer report)");
  }
});

test('qry logs and ksn: answers in the querier\'s replay and reply mailboxes', async () => {
  const dir = scratch();
  const k = await witness(dir);
  try {
    const c = controller(10, [WIT], 1);
    const ixn = c.ixn(1, c.icp.sad.d);
    assert.equal((await cesr(k, '/', c.icp.raw, c.atc)).status, 204);
    assert.equal((await cesr(k, '/', ixn.raw, ixn.atc)).status, 204);
    const q = controller(11, [WIT], 1);
    assert.equal((await cesr(k, '/', q.icp.raw, q.atc)).status, 204);
    const signQ = (raw) => K.counter(S.CtrDex.TransLastIdxSigGroups, 1) + q.pre + K.ctrlSigsAtc(K.signIndexed([q.sg], raw));
    const logs = K.makeQry({ route: 'logs', q: { s: '0', fn: '0', i: c.pre, src: WIT }, dt: K.nowStamp() });
    // forged query signature: refused, nothing stored
    let r = await cesr(k, '/', logs.raw, signQ(logs.raw + ' '));
    assert.equal(r.status, 403);
    assert.deepEqual(mailbox(k, q.pre, 'replay'), []);
    r = await cesr(k, '/', logs.raw, signQ(logs.raw));
    assert.equal(r.status, 204, r.text);
    const replay = mailbox(k, q.pre, 'replay');
    assert.equal(replay.length, 2);
    const evs = replay.map(parseOne);
    assert.deepEqual(evs.map((m) => m.raw), [c.icp.raw, ixn.raw]);
    for (const m of evs) {
      assert.ok(m.atc.startsWith('-V'), 'clone form');
      assert.equal(m.attachments.sigs.length, 1);
      assert.equal(m.attachments.wigs.length, 1);
      assert.equal(m.attachments.firstSeen.length, 1);
      assert.ok(K.verifyReceipt({ eventRaw: m.raw, receipt: K.makeRct({ pre: c.pre, sn: m.sad.s, said: m.sad.d }).raw +
        K.witSigsAtc(m.attachments.wigs.map((w) => new S.Siger({ qb64: w }))), wits: [WIT] }).ok);
    }
    // anchor search: no event holds the anchor yet → escrowed (202), nothing in the mailbox
    const seal = { i: q.pre, s: '0', d: q.icp.sad.d };
    const anch = K.makeQry({ route: 'logs', q: { s: '0', fn: '0', i: c.pre, src: WIT, a: seal }, dt: K.nowStamp() });
    r = await cesr(k, '/', anch.raw, signQ(anch.raw));
    assert.equal(r.status, 202);
    assert.equal(JSON.parse(r.text).title, 'Query escrowed');
    assert.equal(mailbox(k, q.pre, 'replay').length, 2);
    // the anchoring event arrives: the escrowed query is answered with the KEL
    const ixn2 = c.ixn(2, ixn.sad.d, [seal]);
    assert.equal((await cesr(k, '/', ixn2.raw, ixn2.atc)).status, 204);
    assert.deepEqual(mailbox(k, q.pre, 'replay').map((m) => parseOne(m).raw), [c.icp.raw, ixn.raw, c.icp.raw, ixn.raw, ixn2.raw]);
    // an unknown identifier: escrowed until its inception arrives, then answered once
    const later = controller(20, [WIT], 1);
    const unk = K.makeQry({ route: 'logs', q: { i: later.pre, src: WIT }, dt: K.nowStamp() });
    assert.equal((await cesr(k, '/', unk.raw, signQ(unk.raw))).status, 202);
    assert.equal(mailbox(k, q.pre, 'replay').length, 5);
    assert.equal((await cesr(k, '/', later.icp.raw, later.atc)).status, 204);
    assert.equal((await cesr(k, '/', later.ixn(1, later.icp.sad.d).raw, later.ixn(1, later.icp.sad.d).atc)).status, 204);
    assert.deepEqual(mailbox(k, q.pre, 'replay').slice(5).map((m) => parseOne(m).raw), [later.icp.raw]);
    // at most 64 queries wait per identifier
    const never = 'EBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
    for (let n = 0; n < 64; n++) {
      const w = K.makeQry({ route: 'ksn', q: { i: never, src: WIT }, dt: `2024-01-01T00:00:${String(n).padStart(2, '0')}.000000+00:00` });
      assert.equal((await cesr(k, '/', w.raw, signQ(w.raw))).status, 202);
    }
    const over = K.makeQry({ route: 'ksn', q: { i: never, src: WIT }, dt: K.nowStamp() });
    assert.equal((await cesr(k, '/', over.raw, signQ(over.raw))).status, 503);
    // malformed q.i
    const badi = K.makeQry({ route: 'logs', q: { i: 'not an id', src: WIT }, dt: K.nowStamp() });
    assert.equal((await cesr(k, '/', badi.raw, signQ(badi.raw))).status, 400);
    // ksn, from a non-transferable querier (-C)
    const ksn = K.makeQry({ route: 'ksn', q: { i: c.pre, src: WIT }, dt: K.nowStamp() });
    r = await cesr(k, '/', ksn.raw, K.couplesAtc([{ pre: W3.verfer.qb64, sig: W3.sign(K.bytes(ksn.raw)).qb64 }]));
    assert.equal(r.status, 204, r.text);
    const [reply] = mailbox(k, W3.verfer.qb64, 'reply').map(parseOne);
    assert.equal(reply.sad.t, 'rpy');
    assert.equal(reply.sad.r, `/ksn/${WIT}`);
    assert.equal(reply.sad.a.i, c.pre);
    assert.equal(reply.sad.a.s, '2');
    assert.equal(reply.sad.a.d, ixn2.sad.d);
    assert.ok(K.checkBody(reply.raw).ok);
    assert.equal(reply.attachments.couples[0].pre, WIT);
    assert.ok(K.verifyRawSig(WIT, K.parseCigar(reply.attachments.couples[0].sig).raw, reply.raw));
    // a mailbox qry inside a PUT stream is refused
    const mbx = K.makeQry({ route: 'mbx', q: { pre: q.pre, topics: { '/receipt': 0 }, i: q.pre, src: WIT }, dt: K.nowStamp() });
    r = await cesr(k, '/', mbx.raw + signQ(mbx.raw), null, { type: 'application/cesr', method: 'PUT' });
    assert.equal(r.status, 400);
  } finally {
    assert.equal((await k.stop()).code, 0, "kerid exits cleanly (no sanitizer report)");
  }
});

test('exn /fwd (keripy form): embedded message and its pathed attachments into "<pre>/<topic>"', async () => {
  const dir = scratch();
  const k = await witness(dir);
  try {
    const sender = controller(12, [WIT], 1);
    const recipient = controller(13, [WIT], 1);
    assert.equal((await cesr(k, '/', sender.icp.raw, sender.atc)).status, 204);
    const inner = controller(14, [W2.verfer.qb64], 1); // a dip-like payload: any signed message
    const pathed = '5AACAA-e-evt' + inner.atc;
    const lgrp = K.counter('-L', pathed.length / 4) + pathed;
    const exn = (topic, evt = inner.icp.sad) => K.saidify({ v: S.versify(S.Protocols.KERI, S.Vrsn_1_0, S.Serials.JSON, 0), t: 'exn',
      d: '', i: sender.pre, rp: '', p: '', dt: K.nowStamp(), r: '/fwd', q: { pre: recipient.pre, topic }, a: {},
      e: { evt, d: K.digest(JSON.stringify(evt)) } });
    const fab = (raw) => K.counter(S.CtrDex.TransIdxSigGroups, 1) + sender.pre + new S.Seqner({ sn: 0 }).qb64 +
      sender.icp.sad.d + K.ctrlSigsAtc(K.signIndexed([sender.sg], raw));
    const x = exn('delegate');
    let r = await cesr(k, '/', x.raw, fab(x.raw + ' ') + lgrp);
    assert.equal(r.status, 403, r.text);
    assert.deepEqual(mailbox(k, recipient.pre, 'delegate'), []);
    const nt = exn('');
    r = await cesr(k, '/', nt.raw, fab(nt.raw) + lgrp);
    assert.equal(r.status, 400);
    r = await cesr(k, '/', x.raw, fab(x.raw) + lgrp);
    assert.equal(r.status, 204, r.text);
    assert.deepEqual(mailbox(k, recipient.pre, 'delegate'), [inner.icp.raw + inner.atc]);
    const y = exn('/multisig');
    r = await cesr(k, '/', y.raw, fab(y.raw) + lgrp);
    assert.equal(r.status, 204, r.text);
    assert.deepEqual(mailbox(k, recipient.pre, 'multisig'), [inner.icp.raw + inner.atc]);
    // an unknown sender
    const stranger = controller(15, [WIT], 1);
    const z = K.saidify({ ...x.sad, i: stranger.pre, d: '' });
    r = await cesr(k, '/', z.raw, K.counter(S.CtrDex.TransIdxSigGroups, 1) + stranger.pre + new S.Seqner({ sn: 0 }).qb64 +
      stranger.icp.sad.d + K.ctrlSigsAtc(K.signIndexed([stranger.sg], z.raw)) + lgrp);
    assert.ok(r.status >= 400 && r.status < 500, r.text);
    // a topic that is not a plain word; no pathed group: the bare message is kept
    const slash = exn('a/b');
    r = await cesr(k, '/', slash.raw, fab(slash.raw) + lgrp);
    assert.equal(r.status, 400);
    const bare = exn('challenge');
    r = await cesr(k, '/', bare.raw, fab(bare.raw));
    assert.equal(r.status, 204, r.text);
    assert.deepEqual(mailbox(k, recipient.pre, 'challenge'), [inner.icp.raw]);
    // pathed attachments that are not attachments of one message
    const broken = '5AACAA-e-evt-AAC' + inner.atc.slice(4); // claims two signatures, holds one
    r = await cesr(k, '/', x.raw, fab(x.raw) + K.counter('-L', broken.length / 4) + broken);
    assert.equal(r.status, 400, r.text);
    assert.equal(mailbox(k, recipient.pre, 'delegate').length, 1);
    // other exchange routes are not a witness's
    const other = K.saidify({ ...x.sad, r: '/challenge/response', d: '' });
    r = await cesr(k, '/', other.raw, fab(other.raw));
    assert.equal(r.status, 400);
    assert.equal(mailbox(k, recipient.pre, 'delegate').length, 1);
  } finally {
    assert.equal((await k.stop()).code, 0, "kerid exits cleanly (no sanitizer report)");
  }
});

test('PUT / streams, GET /query KEL replay in clone form, keep-alive over several POSTs', async () => {
  const dir = scratch();
  const k = await witness(dir);
  try {
    const c = controller(16, [WIT], 1);
    const ixn = c.ixn(1, c.icp.sad.d);
    let r = await cesr(k, '/', c.icp.raw + c.atc + ixn.raw + ixn.atc, null, { type: 'application/cesr', method: 'PUT' });
    assert.equal(r.status, 204);
    const q = await fetchGet(k, `/query?typ=kel&pre=${c.pre}`);
    assert.equal(q.status, 200);
    assert.equal(q.type, JSON_CESR);
    const kel = parseStream(q.text);
    assert.deepEqual(kel.map((m) => m.raw), [c.icp.raw, ixn.raw]);
    kel.forEach((m, i) => {
      assert.ok(m.atc.startsWith('-V'));
      assert.equal(Number(new S.Seqner({ qb64: m.attachments.firstSeen[0].fn }).sn), i);
      assert.match(m.attachments.firstSeen[0].dt, /^1AAG\d{4}-\d\d-\d\dT\d\dc\d\dc\d\dd\d{6}p00c00$/);
    });
    const from1 = await fetchGet(k, `/query?typ=kel&pre=${c.pre}&sn=1`);
    assert.deepEqual(parseStream(from1.text).map((m) => m.raw), [ixn.raw]);
    // the clone stream goes back in through PUT / (duplicates: 204) and verifies with kc
    r = await cesr(k, '/', q.text, null, { type: 'application/cesr', method: 'PUT' });
    assert.equal(r.status, 204);
    for (const [p, st] of [['', 400], ['typ=kel', 400], ['typ=kel&pre=', 400], [`typ=kel&pre=${c.pre}&sn=one`, 400],
      ['typ=tel', 400], ['typ=xyz&pre=x', 400], ['typ=kel&pre=EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 404]]) {
      const e = await fetchGet(k, `/query?${p}`);
      assert.equal(e.status, st, p);
      assert.equal(typeof JSON.parse(e.text).title, 'string');
    }
    // a refused message in a stream rolls the whole stream back
    const c2 = controller(17, [WIT], 1);
    const bad = K.ctrlSigsAtc([new S.Siger({ qb64: K.corruptSiger(K.signIndexed([c2.sg], c2.ixn(1, c2.icp.sad.d).raw)[0].qb64) })]);
    r = await cesr(k, '/', c2.icp.raw + c2.atc + c2.ixn(1, c2.icp.sad.d).raw + bad, null, { type: 'application/cesr', method: 'PUT' });
    assert.equal(r.status, 403);
    assert.equal((await fetchGet(k, `/query?typ=kel&pre=${c2.pre}`)).status, 404);
    r = await cesr(k, '/', 'garbage', null, { type: 'application/cesr', method: 'PUT' });
    assert.equal(r.status, 400);
    r = await cesr(k, '/', Buffer.from([0x7b, 0xff]), null, { type: 'application/cesr', method: 'PUT' });
    assert.equal(r.status, 400);
    r = await cesr(k, '/', '', null, { type: 'application/cesr', method: 'PUT' });
    assert.equal(r.status, 204);
    const tel = await fetchGet(k, '/query?typ=tel&reg=EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    assert.equal(tel.status, 404);
    // keep-alive: three POSTs on one connection, answered in order, connection left open
    const c3 = controller(18, [WIT], 1);
    const i1 = c3.ixn(1, c3.icp.sad.d);
    const i2 = c3.ixn(2, i1.sad.d);
    const req = (e) => `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: ${CESR_JSON}\r\nCESR-ATTACHMENT: ${e.atc}\r\n` +
      `Content-Length: ${Buffer.byteLength(e.raw)}\r\n\r\n${e.raw}`;
    const x = await exchange(k.port, [req({ raw: c3.icp.raw, atc: c3.atc }), req(i1), req(i2)],
      { untilResponses: 3, chunkDelayMs: 20 });
    assert.deepEqual(x.responses.map((s) => s.status), [204, 204, 204]);
    assert.equal(x.closed, false);
    assert.ok(x.responses.every((s) => !/close/i.test(s.headers.connection || '')));
    assert.equal(parseStream((await fetchGet(k, `/query?typ=kel&pre=${c3.pre}`)).text).length, 3);
  } finally {
    assert.equal((await k.stop()).code, 0, "kerid exits cleanly (no sanitizer report)");
  }
});

test('TELs: GET /query?typ=tel and keriox /oobi/{registry}/witness/{eid} serve the management TEL', async () => {
  const dir = scratch();
  const k = await witness(dir);
  try {
    const A = controller(21, [WIT], 1);
    assert.equal((await cesr(k, '/', A.icp.raw, A.atc)).status, 204);
    // a keripy registry inception (i and d both the digest), anchored by A's ixn
    const D44 = '#'.repeat(44);
    const s = { v: 'KERI10JSON000000_', t: 'vcp', d: D44, i: D44, ii: A.pre, s: '0', c: ['NB'], bt: '0', b: [], n: '0AAxyHwW6htOZ_rANOaZb2N2' };
    const said = K.digest(K.sizeify(s).raw);
    const reg = K.sizeify({ ...s, d: said, i: said });
    const x = A.ixn(1, A.icp.sad.d, [{ i: said, s: '0', d: said }]);
    assert.equal((await cesr(k, '/', x.raw, x.atc)).status, 204);
    const tel = reg.raw + '-GAB' + new S.Seqner({ sn: 1 }).qb64 + x.sad.d;
    const p = await fetch(`${k.base}/process/tel`, { method: 'POST', body: tel });
    assert.equal(p.status, 200, await p.text());
    const q = await fetchGet(k, `/query?typ=tel&reg=${said}`);
    assert.equal(q.status, 200);
    assert.equal(q.type, JSON_CESR);
    assert.equal(q.text, tel);
    const o = await get(k.port, `/oobi/${said}/witness/${WIT}`);
    assert.equal(o.status, 200);
    assert.equal(o.body, tel, 'the TEL only, not a KEL');
    // an issuer's KEL is still a KEL on that route
    const kel = parseStream((await get(k.port, `/oobi/${A.pre}/witness/${WIT}`)).body);
    assert.deepEqual(kel.map((m) => m.sad.t), ['icp', 'ixn', 'rpy']);
  } finally {
    assert.equal((await k.stop()).code, 0, 'kerid exits cleanly (no sanitizer report)');
  }
});

test('delegation the kli way: the delegate\'s dip is receipted on /receipts before the delegator anchors it', async () => {
  const dir = scratch();
  const k = await witness(dir);
  try {
    const dtor = controller(40, [], 0);
    assert.equal((await cesr(k, '/', dtor.icp.raw, dtor.atc)).status, 204);
    const sg = signer(41);
    const dip = S.incept({ keys: [sg.verfer.qb64], isith: '1', ndigs: [K.nextDigest(signer(141).verfer.qb64)],
      nsith: '1', wits: [WIT], toad: 1, delpre: dtor.pre, code: S.MtrDex.Blake3_256, intive: false });
    assert.equal(dip.sad.t, 'dip');
    const atc = K.ctrlSigsAtc(K.signIndexed([sg], dip.raw));
    // a bad controller signature is still refused
    const bad = K.ctrlSigsAtc(K.signIndexed([signer(42)], dip.raw));
    let r = await cesr(k, '/receipts', dip.raw, bad);
    assert.equal(r.status, 403);
    // no anchor anywhere yet: receipted all the same (keripy §4.6, §7.2)
    r = await cesr(k, '/receipts', dip.raw, atc);
    assert.equal(r.status, 200, r.text);
    assert.ok(K.verifyReceipt({ eventRaw: dip.raw, receipt: r.text, witness: WIT }).ok);
    // the keriox surface keeps keriox's rule: another unanchored dip waits
    const sg2 = signer(43);
    const dip2 = S.incept({ keys: [sg2.verfer.qb64], isith: '1', ndigs: [], wits: [WIT], toad: 1,
      delpre: dtor.pre, code: S.MtrDex.Blake3_256, intive: false });
    const res = await fetch(k.base + '/process', { method: 'POST', body: dip2.raw + K.ctrlSigsAtc(K.signIndexed([sg2], dip2.raw)) });
    assert.equal(res.status, 200);
    assert.equal((await fetchGet(k, `/query?typ=kel&pre=${dip2.sad.i}`)).status, 404);
    assert.equal((await fetchGet(k, `/query?typ=kel&pre=${dip.sad.i}`)).status, 200);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('long headers: a 40 kB CESR-ATTACHMENT-sized header is accepted (§8), 70 kB gets 431', async () => {
  const dir = scratch();
  const k = await witness(dir);
  try {
    const c = controller(50, [WIT], 1);
    const post = (filler) => fetch(k.base + '/', { method: 'POST', body: c.icp.raw,
      headers: { 'Content-Type': CESR_JSON, 'CESR-ATTACHMENT': c.atc, 'X-Filler': 'a'.repeat(filler) } });
    let r = await post(70000);
    assert.equal(r.status, 431);
    assert.equal((await r.json()).error, 'headers_too_large');
    assert.equal((await fetchGet(k, `/query?typ=kel&pre=${c.pre}`)).status, 404, 'nothing stored');
    r = await post(40000);
    assert.equal(r.status, 204);
    assert.equal((await fetchGet(k, `/query?typ=kel&pre=${c.pre}`)).status, 200);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});
