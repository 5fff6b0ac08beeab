// Witness role integration tests: the real kerid binary on 127.0.0.1.
// Known answers: spec/keriox-examples (keriox-surface §3, §4) made with the
// witness seed below; independent checks with node's Ed25519 and the
// keri-client corpus generator (signify-ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { exchange, freePort, scratch, start, writeYaml } from './harness.mjs';

const SHARED = process.env.KD_SHARED_DIR || '/work/shared';
const EX = path.join(SHARED, 'spec', 'keriox-examples');
const KC = path.join(SHARED, 'tools', 'keri-client', 'kc.mjs');
const SEED = 'ArwXoACJgOleVZ2PY7kXn7rA0II0mHYDhc6WrBH8fDAc';
const PREFIX = 'BJq7UABlttINuWJh1Xl2lkqZG4NTdUdqnbFJDa6ZyxCC';
const AID = 'ED0B8wHGnhOV1z54fISjKxLWRF-gfMWPZ3l0ivp8CX26';

const ex = (name) => fs.readFileSync(path.join(EX, name));

async function witness(dir, { url } = {}) {
  const port = await freePort();
  writeYaml(dir, 'witness.yml', `db_path: "db/"\nhttp_port: ${port}\n` +
    `public_url: "${url || 'http://localhost:3232/'}"\nseed: "${SEED}"\nlisten_address: "127.0.0.1"\n`);
  const k = await start(['--role', 'witness', '-c', 'witness.yml'], { cwd: dir });
  k.base = `http://127.0.0.1:${port}`;
  return k;
}

async function post(k, route, body) {
  const r = await fetch(k.base + route, { method: 'POST', body });
  return { status: r.status, type: r.headers.get('content-type'), body: Buffer.from(await r.arrayBuffer()) };
}

async function get(k, route) {
  const r = await fetch(k.base + route);
  return { status: r.status, type: r.headers.get('content-type'), body: Buffer.from(await r.arrayBuffer()) };
}

// Ed25519 public key of a `B` prefix / `0B` signature, as raw bytes.
const b64 = (s) => Buffer.from(s, 'base64url');
const pubKey = (pre) => crypto.createPublicKey({ key: Buffer.concat([
  Buffer.from('302a300506032b6570032100', 'hex'), b64('A' + pre.slice(1)).subarray(1)]), format: 'der', type: 'spki' });
const sigRaw = (sig) => b64('AA' + sig.slice(2)).subarray(2);
const verify = (pre, msg, sig) => crypto.verify(null, Buffer.from(msg), pubKey(pre), sigRaw(sig));

// Splits "{json}{atc}{json}{atc}…" by the v size field.
function split(text) {
  const out = [];
  let i = 0;
  while (i < text.length && text[i] === '{') {
    const size = parseInt(text.slice(i + 16, i + 22), 16);
    const body = text.slice(i, i + size);
    let j = i + size;
    while (j < text.length && text[j] !== '{') j++;
    out.push({ body, json: JSON.parse(body), atc: text.slice(i + size, j) });
    i = j;
  }
  return out;
}

test('POST /process then mbx: receipt in the mailbox when /process answered (§9 9-11, 20)', async () => {
  const dir = scratch();
  const k = await witness(dir);
  try {
    const icp = ex('controller-POST-process-icp.request.cesr');
    let r = await post(k, '/process', icp);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
    r = await post(k, '/query', ex('controller-POST-query-mbx.request.cesr'));
    assert.equal(r.status, 200);
    assert.equal(r.type, 'text/plain; charset=utf-8');
    assert.deepEqual(r.body, ex('witness-POST-query-mbx.response.json'));
    const mbx = JSON.parse(r.body);
    assert.deepEqual(Object.keys(mbx), ['receipt', 'multisig', 'delegate']);
    const [rct] = split(mbx.receipt);
    assert.deepEqual(Object.keys(rct.json), ['v', 't', 'd', 'i', 's']);
    assert.equal(rct.json.v, 'KERI10JSON000091_');
    assert.equal(rct.body.length, 0x91);
    assert.ok(rct.atc.startsWith('-CAB' + PREFIX));
    const icpBody = split(icp.toString())[0].body;
    assert.ok(verify(PREFIX, icpBody, rct.atc.slice(4 + 44)), 'witness receipt signature verifies');
    execFileSync('node', [KC, 'verify-receipt', '--event', icpBody, '--receipt', mbx.receipt,
      '--witness', PREFIX], { stdio: 'pipe' });
    // same icp again: 200, no second receipt
    r = await post(k, '/process', icp);
    assert.equal(r.status, 200);
    r = await post(k, '/query', ex('controller-POST-query-mbx.request.cesr'));
    assert.deepEqual(r.body, ex('witness-POST-query-mbx.response.json'));
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('405 on GET /process, bodies without Content-Type, mailbox topic index N returns N.. and keeps entries (§9 7, 8, 14)', async () => {
  const K = await import(path.join(SHARED, 'tools', 'keri-client', 'lib', 'keri.mjs'));
  await K.init();
  const seed = (label) => crypto.createHash('sha256').update(`kerid-mbx-index|${label}`).digest();
  const ctl = K.signerFromRaw(seed('ctl'));
  const icp = K.makeIcp({ keys: [ctl.verfer.qb64], isith: '1', wits: [PREFIX], toad: 1,
    ndigs: [K.nextDigest(K.signerFromRaw(seed('next')).verfer.qb64)], nsith: '1' });
  const pre = icp.sad.i;
  const sigOf = (raw) => ctl.sign(K.bytes(raw), 0).qb64;
  const events = [icp];
  for (let sn = 1; sn <= 2; sn++)
    events.push(K.makeIxn({ pre, dig: events[sn - 1].sad.d, sn }));
  const mbx = (n) => {
    const raw = K.saidify({ v: 'KERI10JSON000000_', t: 'qry', d: '', dt: K.nowStamp(), r: 'mbx', rr: '',
      q: { pre, topics: { '/receipt': n, '/multisig': 0, '/delegate': 0 }, i: pre, src: PREFIX } }).raw;
    return raw + '-HAB' + pre + '-AAB' + sigOf(raw);
  };
  const k = await witness(scratch());
  const port = Number(new URL(k.base).port);
  try {
    const g = await exchange(port, 'GET /process HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(g.responses[0].status, 405);
    assert.match(g.responses[0].headers.allow, /POST/);
    // raw HTTP, no Content-Type header at all
    for (const e of events) {
      const body = Buffer.from(e.raw + '-AAB' + sigOf(e.raw));
      const r = await exchange(port, Buffer.concat([Buffer.from(
        `POST /process HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
      assert.equal(r.responses[0].status, 200);
      assert.equal(r.responses[0].body.length, 0);
    }
    const said = (text) => split(text).map((m) => m.json.d);
    const all = JSON.parse((await post(k, '/query', mbx(0))).body).receipt;
    assert.deepEqual(said(all), events.map((e) => e.sad.d));
    assert.deepEqual(said(JSON.parse((await post(k, '/query', mbx(1))).body).receipt), events.slice(1).map((e) => e.sad.d));
    assert.deepEqual(said(JSON.parse((await post(k, '/query', mbx(2))).body).receipt), [events[2].sad.d]);
    assert.equal(JSON.parse((await post(k, '/query', mbx(3))).body).receipt, '');
    // reading removed nothing
    assert.equal(JSON.parse((await post(k, '/query', mbx(0))).body).receipt, all);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('logs (full and range) and ksn answers are keriox byte forms (§9 16-19)', async () => {
  const dir = scratch();
  const k = await witness(dir);
  try {
    // unknown AID first
    let r = await post(k, '/query', ex('watcher-to-witness-POST-query-logs-full.request.cesr'));
    assert.equal(r.status, 500);
    assert.equal(r.body.toString(), `{"QueryError":{"QueryError":{"UnknownId":{"id":"${AID}"}}}}`);
    r = await post(k, '/query', ex('watcher-to-witness-POST-query-ksn.request.cesr'));
    assert.equal(r.status, 500);
    assert.equal(r.body.toString(), `{"QueryError":{"QueryError":{"UnknownId":{"id":"${AID}"}}}}`);
    assert.equal((await post(k, '/process', ex('controller-POST-process-icp.request.cesr'))).status, 200);
    r = await post(k, '/query', ex('watcher-to-witness-POST-query-logs-full.request.cesr'));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, ex('witness-POST-query-logs-full.response.cesr'));
    r = await post(k, '/query', ex('controller-POST-query-logs-range.request.cesr'));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, ex('watcher-POST-query-logs-range.response.cesr'));
    r = await post(k, '/query', ex('watcher-to-witness-POST-query-ksn.request.cesr'));
    assert.equal(r.status, 200);
    const [ksn] = split(r.body.toString());
    assert.equal(ksn.json.r, `/ksn/${PREFIX}`);
    assert.deepEqual(Object.keys(ksn.json), ['v', 't', 'd', 'dt', 'r', 'a']);
    assert.deepEqual(Object.keys(ksn.json.a),
      ['v', 'i', 's', 'p', 'd', 'f', 'dt', 'et', 'kt', 'k', 'nt', 'n', 'bt', 'b', 'c', 'ee', 'di']);
    assert.equal(ksn.json.a.v, 'KERI10JSON000000_');
    assert.equal(ksn.json.a.s, '0');
    assert.equal(ksn.body, JSON.stringify(ksn.json), 'compact canonical JSON');
    assert.ok(ksn.atc.startsWith('-CAB' + PREFIX));
    assert.ok(verify(PREFIX, ksn.body, ksn.atc.slice(48)));
    // a tampered -HAB signature is refused with a JSON error
    const bad = ex('controller-POST-query-mbx.request.cesr').toString().replace(/-AABAA(.)/, (m, c) => `-AABAA${c === 'A' ? 'B' : 'A'}`);
    r = await post(k, '/query', bad);
    assert.equal(r.status, 500);
    assert.equal(r.body.toString(), '{"QueryError":"InvalidSignature"}');
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('bad signature 403, non-UTF-8 400, garbage tolerated (§9 12, §0.1-0.3)', async () => {
  const dir = scratch();
  const k = await witness(dir);
  try {
    const icp = ex('controller-POST-process-icp.request.cesr').toString();
    const i = icp.indexOf('-AAB') + 10;
    const bad = icp.slice(0, i) + (icp[i] === 'A' ? 'B' : 'A') + icp.slice(i + 1);
    let r = await post(k, '/process', bad);
    assert.equal(r.status, 403);
    assert.equal(r.body.toString(), '{"KeriError":"SignatureVerificationError"}');
    r = await post(k, '/process', Buffer.from([0x7b, 0xff, 0xfe]));
    assert.equal(r.status, 400);
    assert.equal(r.body.toString(), 'Can not decode body');
    r = await post(k, '/query', Buffer.from([0xc3, 0x28]));
    assert.equal(r.status, 400);
    r = await post(k, '/process', 'garbage that is not CESR');
    assert.equal(r.status, 200);
    r = await post(k, '/process', '{"v":"KERI10JSON000020_","t":"icp"}');
    assert.equal(r.status, 400);
    assert.match(r.body.toString(), /^\{"KeriError":\{"DeserializeError":\{"DeserializeError":"/);
    // nothing was accepted: the mailbox is empty
    assert.equal((await post(k, '/process', icp)).status, 200);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('sn gap: 200, then receipted once the missing event arrives (§9 13)', async () => {
  const dir = scratch();
  const corpus = path.join(dir, 'corpus.jsonl');
  execFileSync('node', [KC, 'gen', '--controllers', '1', '--events', '3', '--witnesses', PREFIX,
    '--toad', '1', '--seed', 'gap', '--out', corpus], { stdio: 'pipe' });
  const events = fs.readFileSync(corpus, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    .filter((e) => e.type === 'event');
  const pre = events[0].i;
  const k = await witness(dir);
  const kel = async () => split((await get(k, `/oobi/${pre}/witness/${PREFIX}`)).body.toString())
    .filter((m) => m.json.t !== 'rpy');
  try {
    assert.equal((await post(k, '/process', events[0].raw + events[0].atc)).status, 200);
    assert.equal((await post(k, '/process', events[2].raw + events[2].atc)).status, 200);
    assert.equal((await kel()).length, 1);
    assert.equal((await post(k, '/process', events[1].raw + events[1].atc)).status, 200);
    const got = await kel();
    assert.deepEqual(got.map((m) => m.json.s), ['0', '1', '2']);
    for (const m of got) {
      const cab = m.atc.slice(m.atc.indexOf('-CAB' + PREFIX) + 48, m.atc.indexOf('-CAB' + PREFIX) + 48 + 88);
      assert.ok(m.atc.includes('-CAB' + PREFIX), `sn ${m.json.s} receipted`);
      assert.ok(verify(PREFIX, m.body, cab));
    }
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('own loc-scheme reply: canonical, self-signed, stable across restarts, new dt on URL change (§9 4-7, 21)', async () => {
  const dir = scratch();
  let k = await witness(dir, { url: 'http://LocalHost:3235' });
  let first;
  try {
    const r = await get(k, `/oobi/${PREFIX}`);
    assert.equal(r.status, 200);
    assert.equal(r.type, 'text/plain; charset=utf-8');
    first = r.body.toString();
    const msgs = split(first);
    assert.equal(msgs.length, 1);
    const [loc] = msgs;
    assert.deepEqual(Object.keys(loc.json), ['v', 't', 'd', 'dt', 'r', 'a']);
    assert.deepEqual(loc.json.a, { eid: PREFIX, scheme: 'http', url: 'http://localhost:3235/' });
    assert.equal(loc.body, JSON.stringify(loc.json));
    assert.match(loc.json.dt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
    assert.equal(loc.json.v, `KERI10JSON${loc.body.length.toString(16).padStart(6, '0')}_`);
    assert.equal(loc.atc.length, 4 + 44 + 88);
    assert.ok(loc.atc.startsWith('-CAB' + PREFIX));
    assert.ok(verify(PREFIX, loc.body, loc.atc.slice(48)));
    // other eids: empty; bad ids and roles: 404
    assert.equal((await get(k, `/oobi/${AID}`)).body.length, 0);
    let g = await get(k, '/oobi/garbage');
    assert.equal(g.status, 404);
    assert.match(g.body.toString(), /^Path deserialize error: /);
    g = await get(k, `/oobi/${AID}/notarole/${PREFIX}`);
    assert.equal(g.status, 404);
    g = await get(k, `/oobi/${AID}/watcher/${PREFIX}`);
    assert.equal(g.status, 500);
    assert.equal(g.body.toString(), `{"MissingRole":{"role":"watcher","id":"${AID}"}}`);
    // role witness: KEL of cid then the own loc reply
    assert.equal((await post(k, '/process', ex('controller-POST-process-icp.request.cesr'))).status, 200);
    g = await get(k, `/oobi/${AID}/witness/${PREFIX}`);
    assert.equal(g.status, 200);
    assert.equal(g.body.toString(), ex('witness-POST-query-logs-full.response.cesr').toString() + first);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
  // restart: the same bytes, and the receipts are still there
  k = await witness(dir, { url: 'http://LocalHost:3235' });
  try {
    assert.equal((await get(k, `/oobi/${PREFIX}`)).body.toString(), first);
    const r = await post(k, '/query', ex('controller-POST-query-mbx.request.cesr'));
    assert.deepEqual(r.body, ex('witness-POST-query-mbx.response.json'));
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
  // URL changed: a new reply with a strictly newer dt
  k = await witness(dir, { url: 'http://127.0.0.1:4000/w/' });
  try {
    const [loc] = split((await get(k, `/oobi/${PREFIX}`)).body.toString());
    assert.equal(loc.json.a.url, 'http://127.0.0.1:4000/w/');
    assert.ok(loc.json.dt > split(first)[0].json.dt);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

// The controller of the examples (AID) is signer 0 of keripy's test salt
// (keri-client vectors); its end-role and loc replies are made here with the
// keri-client library (signify-ts), independently of kerid.
async function keriClient() {
  const K = await import(path.join(SHARED, 'tools', 'keri-client', 'lib', 'keri.mjs'));
  await K.init();
  const salter = new K.S.Salter({ raw: Uint8Array.from(Buffer.from('6715891a40a4a43707b951b818cd4a57', 'hex')) });
  const ctl = salter.signer(K.S.MtrDex.Ed25519_Seed, true, '0', K.S.Tier.low, false);
  assert.equal(ctl.verfer.qb64, 'DErocgXD2RGSyvn3MObcx59jeOsEQhv2TqHirVkzrp0Q');
  const seal = `-FAB${AID}0AAAAAAAAAAAAAAAAAAAAAAA${AID}`;
  const endRole = (route, eid, dt, role = 'watcher') => {
    const { raw } = K.makeRpy({ route, a: { cid: AID, role, eid }, dt });
    return raw + seal + K.ctrlSigsAtc(K.signIndexed([ctl], raw));
  };
  // a loc reply for eid signed by the controller (-FAB): not eid's signature
  const locByCtl = (eid, dt) => {
    const { raw } = K.makeRpy({ route: '/loc/scheme', a: { eid, scheme: 'http', url: 'http://x/' }, dt });
    return raw + seal + K.ctrlSigsAtc(K.signIndexed([ctl], raw));
  };
  const nt = K.signerFromRaw(crypto.randomBytes(32), false);
  const loc = (url, dt, signer = nt) => {
    const { raw } = K.makeRpy({ route: '/loc/scheme', a: { eid: nt.verfer.qb64, scheme: 'http', url }, dt });
    return raw + K.couplesAtc([{ pre: signer.verfer.qb64, sig: signer.sign(K.bytes(raw)).qb64 }]);
  };
  return { endRole, loc, locByCtl, ntPre: nt.verfer.qb64, other: K.signerFromRaw(crypto.randomBytes(32), false) };
}

test('POST /register: end role and loc scheme replies, served by the OOBI routes as received (§9 22, §7 7-8)', async () => {
  const dir = scratch();
  const k = await witness(dir);
  const kc = await keriClient();
  const WATCHER = 'BF2t2NPc1bwptY1hYV0YCib1JjQ11k9jtuaZemecPF5b';
  const reg = ex('controller-POST-register-end-role-watcher.request.cesr');
  const json = (r) => ({ status: r.status, type: r.type, body: r.body.toString() });
  const err = (body) => ({ status: 500, type: 'application/json', body });
  const loc = kc.loc('http://127.0.0.1:5631/', '2026-04-20T10:00:00.000000+00:00');
  try {
    // the controller's KEL is unknown: the seal's event is not found
    let r = await post(k, '/register', reg);
    assert.deepEqual(json(r), err('{"KeriError":{"VerificationError":{"MoreInfo":{"EventNotFound":' +
      `{"i":"${AID}","s":"0","d":"${AID}"}}}}}`));
    assert.equal((await post(k, '/process', ex('controller-POST-process-icp.request.cesr'))).status, 200);
    const kel = ex('witness-POST-query-logs-full.response.cesr').toString();
    let g = await get(k, `/oobi/${AID}/watcher/${WATCHER}`);
    assert.deepEqual(json(g), err(`{"MissingRole":{"role":"watcher","id":"${AID}"}}`));
    // a tampered signature
    const text = reg.toString();
    const bad = text.slice(0, -2) + (text.at(-2) === 'A' ? 'B' : 'A') + text.at(-1);
    r = await post(k, '/register', bad);
    assert.deepEqual(json(r), err('{"KeriError":{"VerificationError":"VerificationFailure"}}'));
    // no signature at all
    r = await post(k, '/register', text.slice(0, text.indexOf('-FAB')));
    assert.deepEqual(json(r), err('{"ParseError":{"AttachmentError":"Missing attachment"}}'));
    // a tampered body: the SAID no longer matches
    r = await post(k, '/register', text.replace('"watcher"', '"witness"'));
    assert.equal(r.status, 500);
    assert.match(r.body.toString(), /^\{"ParseError":\{"DeserializeError":/);
    assert.equal((await get(k, `/oobi/${AID}/watcher/${WATCHER}`)).status, 500);
    // the real one: 200 empty, then served byte-identical after the KEL
    r = await post(k, '/register', reg);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
    g = await get(k, `/oobi/${AID}/watcher/${WATCHER}`);
    assert.equal(g.status, 200);
    assert.equal(g.type, 'text/plain; charset=utf-8');
    assert.equal(g.body.toString(), kel + text);
    // an older dt for the same key: stale; an equal one is accepted again
    r = await post(k, '/register', kc.endRole('/end/role/add', WATCHER, '2026-04-20T10:00:05.000000+00:00'));
    assert.deepEqual(json(r), err('{"KeriError":{"SemanticError":"Got stale reply message"}}'));
    assert.equal((await post(k, '/register', reg)).status, 200);
    // the loc scheme of another eid, signed by that eid (-CAB)
    assert.equal((await post(k, '/register', loc)).status, 200);
    g = await get(k, `/oobi/${kc.ntPre}`);
    assert.equal(g.status, 200);
    assert.equal(g.body.toString(), loc);
    // signed by someone else: signer mismatch; stale dt refused, the old one kept
    r = await post(k, '/register', kc.loc('http://evil/', '2026-04-21T00:00:00.000000+00:00', kc.other));
    assert.deepEqual(json(r), err('{"KeriError":{"SemanticError":"signer ID mismatch"}}'));
    r = await post(k, '/register', kc.loc('http://old/', '2026-04-19T00:00:00.000000+00:00'));
    assert.deepEqual(json(r), err('{"KeriError":{"SemanticError":"Got stale reply message"}}'));
    assert.equal((await get(k, `/oobi/${kc.ntPre}`)).body.toString(), loc);
    // end role naming that eid: KEL + end roles + its loc
    const add2 = kc.endRole('/end/role/add', kc.ntPre, '2026-04-20T11:00:00.000000+00:00');
    assert.equal((await post(k, '/register', add2)).status, 200);
    g = await get(k, `/oobi/${AID}/watcher/${kc.ntPre}`);
    const roles = [[WATCHER, text], [kc.ntPre, add2]].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    assert.equal(g.body.toString(), kel + roles.map((x) => x[1]).join('') + loc);
    // a cut really revokes (keriox keeps serving it, §7 row 8)
    const cut = kc.endRole('/end/role/cut', WATCHER, '2026-04-20T12:00:00.000000+00:00');
    assert.equal((await post(k, '/register', cut)).status, 200);
    g = await get(k, `/oobi/${AID}/watcher/${WATCHER}`);
    assert.equal(g.body.toString(), kel + add2);
    const cut2 = kc.endRole('/end/role/cut', kc.ntPre, '2026-04-20T12:00:00.000000+00:00');
    assert.equal((await post(k, '/register', cut2)).status, 200);
    g = await get(k, `/oobi/${AID}/watcher/${WATCHER}`);
    assert.deepEqual(json(g), err(`{"MissingRole":{"role":"watcher","id":"${AID}"}}`));
    // re-adding with the old dt is stale against the cut
    r = await post(k, '/register', reg);
    assert.deepEqual(json(r), err('{"KeriError":{"SemanticError":"Got stale reply message"}}'));
    // -FAB by another signer than eid; a role keriox does not know; a bad dt
    r = await post(k, '/register', kc.locByCtl(kc.ntPre, '2026-04-22T00:00:00.000000+00:00'));
    assert.deepEqual(json(r), err('{"KeriError":{"SemanticError":"signer ID mismatch"}}'));
    r = await post(k, '/register', kc.endRole('/end/role/add', WATCHER, '2026-04-22T00:00:00.000000+00:00', 'judge'));
    assert.equal(r.status, 500);
    assert.match(r.body.toString(), /^\{"ParseError":\{"DeserializeError":"unknown variant/);
    r = await post(k, '/register', kc.endRole('/end/role/add', WATCHER, 'yesterday'));
    assert.equal(r.status, 500);
    assert.match(r.body.toString(), /^\{"ParseError":\{"DeserializeError":/);
    // not a reply; not UTF-8; empty
    r = await post(k, '/register', ex('controller-POST-process-icp.request.cesr'));
    assert.equal(r.status, 500);
    assert.match(r.body.toString(), /^\{"ParseError":\{"WrongEventType":/);
    assert.equal((await post(k, '/register', Buffer.from([0xff]))).status, 400);
    assert.equal((await post(k, '/register', '')).status, 200);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
  // registrations survive a restart
  const k2 = await witness(dir);
  try {
    assert.equal((await get(k2, `/oobi/${kc.ntPre}`)).body.toString(), loc);
    assert.deepEqual(json(await get(k2, `/oobi/${AID}/watcher/${WATCHER}`)),
      err(`{"MissingRole":{"role":"watcher","id":"${AID}"}}`));
  } finally {
    assert.equal((await k2.stop()).code, 0);
  }
});

// keriox /fwd exn (keriox-surface §1.1 /forward, §9 23): v,t,d,dt,r,q,a signed -HAB by a
// controller known here, the embedded event's -AAB sig inside -LA# with path 5AABAA-a
// (count = quadlets of path + content, keri-core §1.6).
test('POST /register: key-state notice replies verified by their signer and kept, newest dt wins (§1.1)', async () => {
  const K = await import(path.join(SHARED, 'tools', 'keri-client', 'lib', 'keri.mjs'));
  await K.init();
  const ksn = ex('witness-POST-query-ksn.response.cesr').toString();
  const db = (dir) => path.join(dir, 'db', 'kerid.sqlite3');
  const rows = (dir) => {
    const out = execFileSync('sqlite3', ['-readonly', '-json', db(dir),
      'SELECT aid, signer, sn, CAST(raw AS TEXT) || CAST(att AS TEXT) AS m FROM ksn_replies ORDER BY signer'],
    { encoding: 'utf8' }).trim();
    return out ? JSON.parse(out) : [];
  };
  const json = (r) => ({ status: r.status, body: r.body.toString() });
  // another witness's notice, re-signed by a signer of our own with dt of our choice
  const other = K.signerFromRaw(crypto.createHash('sha256').update('kerid-ksn').digest(), false);
  const a = JSON.parse(ksn.slice(0, ksn.indexOf('}-CAB') + 1)).a;
  const notice = (dt, signer = other, route = other.verfer.qb64) => {
    const { raw } = K.makeRpy({ route: `/ksn/${route}`, a, dt });
    return raw + K.couplesAtc([{ pre: signer.verfer.qb64, sig: signer.sign(K.bytes(raw)).qb64 }]);
  };
  const dir = scratch();
  // a witness with another identity: the notice is not its own
  const port = await freePort();
  writeYaml(dir, 'witness.yml', `db_path: "db/"\nhttp_port: ${port}\npublic_url: "http://127.0.0.1:${port}/"\n` +
    `listen_address: "127.0.0.1"\n`);
  const k = await start(['--role', 'witness', '-c', 'witness.yml'], { cwd: dir });
  k.base = `http://127.0.0.1:${port}`;
  try {
    // the keriox example notice, signed -CAB by BJq7…: stored as received
    let r = await post(k, '/register', ksn);
    assert.deepEqual(json(r), { status: 200, body: '' });
    assert.deepEqual(rows(dir), [{ aid: AID, signer: PREFIX, sn: 0, m: ksn }]);
    // tampered signature, a signer that is not the route's, no signature: refused, nothing stored
    const bad = ksn.slice(0, -2) + (ksn.at(-2) === 'A' ? 'B' : 'A') + ksn.at(-1);
    r = await post(k, '/register', bad);
    assert.deepEqual(json(r), { status: 500, body: '{"KeriError":{"VerificationError":"VerificationFailure"}}' });
    r = await post(k, '/register', notice('2026-05-01T00:00:00.000000+00:00', other, PREFIX));
    assert.deepEqual(json(r), { status: 500, body: '{"KeriError":{"SemanticError":"signer ID mismatch"}}' });
    r = await post(k, '/register', ksn.slice(0, ksn.indexOf('-CAB')));
    assert.deepEqual(json(r), { status: 500, body: '{"ParseError":{"AttachmentError":"Missing attachment"}}' });
    assert.equal(rows(dir).length, 1);
    // BADA per (aid, signer): a newer dt replaces, an older one is stale
    const newer = notice('2026-05-02T00:00:00.000000+00:00');
    assert.deepEqual(json(await post(k, '/register', notice('2026-05-01T00:00:00.000000+00:00'))), { status: 200, body: '' });
    assert.deepEqual(json(await post(k, '/register', newer)), { status: 200, body: '' });
    r = await post(k, '/register', notice('2026-04-30T00:00:00.000000+00:00'));
    assert.deepEqual(json(r), { status: 500, body: '{"KeriError":{"SemanticError":"Got stale reply message"}}' });
    const got = rows(dir);
    assert.equal(got.length, 2);
    assert.equal(got.find((x) => x.signer === other.verfer.qb64).m, newer);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('POST /forward: embedded event lands in the recipient mailbox topic (§9 23)', async () => {
  const K = await import(path.join(SHARED, 'tools', 'keri-client', 'lib', 'keri.mjs'));
  await K.init();
  const seed = (label) => crypto.createHash('sha256').update(`kerid-forward|${label}`).digest();
  const sender = K.signerFromRaw(seed('sender'));
  const other = K.signerFromRaw(seed('other'));
  const sicp = K.makeIcp({ keys: [sender.verfer.qb64], isith: '1' });
  const oicp = K.makeIcp({ keys: [other.verfer.qb64], isith: '1' });
  const sigOf = (signer, raw) => signer.sign(K.bytes(raw), 0).qb64;
  const dt = '2026-01-01T00:00:00.000000+00:00';
  const exn = (pre, topic) => K.saidify({ v: 'KERI10JSON000000_', t: 'exn', d: '', dt, r: '/fwd',
    q: { pre, topic }, a: oicp.sad }).raw;
  const inner = '-AAB' + sigOf(other, oicp.raw);
  const pathed = '5AABAA-a' + inner;
  assert.equal(pathed.length % 4, 0);
  const q = pathed.length / 4;
  const lgroup = '-LA' + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[q] + pathed;
  const fwd = (raw, signer, pre) => raw + '-HAB' + pre + '-AAB' + sigOf(signer, raw) + lgroup;
  const mbx = (aid) => {
    const raw = K.saidify({ v: 'KERI10JSON000000_', t: 'qry', d: '', dt, r: 'mbx', rr: '',
      q: { pre: aid, topics: { '/receipt': 0, '/multisig': 0, '/delegate': 0 }, i: aid, src: PREFIX } }).raw;
    return raw + '-HAB' + sicp.sad.i + '-AAB' + sigOf(sender, raw);
  };
  const dir = scratch();
  const k = await witness(dir);
  try {
    // unknown signer: the sender's KEL is not here yet
    const body = fwd(exn(oicp.sad.i, 'multisig'), sender, sicp.sad.i);
    let r = await post(k, '/forward', body);
    assert.equal(r.status, 500);
    assert.equal(r.body.toString(), `{"QueryError":{"KeriError":{"UnknownSigner":"${sicp.sad.i}"}}}`);
    assert.equal((await post(k, '/process', sicp.raw + '-AAB' + sigOf(sender, sicp.raw))).status, 200);
    // bad exn signature (signed by another key): refused, nothing stored
    r = await post(k, '/forward', fwd(exn(oicp.sad.i, 'multisig'), other, sicp.sad.i));
    assert.equal(r.status, 500);
    assert.equal(r.body.toString(), '{"KeriError":"SignatureVerificationError"}');
    // unknown topic, missing -L group
    r = await post(k, '/forward', fwd(exn(oicp.sad.i, 'receipt'), sender, sicp.sad.i));
    assert.equal(r.status, 500);
    assert.equal(r.body.toString(), '{"ParseError":{"DeserializeError":"unknown forward topic"}}');
    const noL = exn(oicp.sad.i, 'delegate');
    r = await post(k, '/forward', noL + '-HAB' + sicp.sad.i + '-AAB' + sigOf(sender, noL));
    assert.equal(r.status, 500);
    assert.equal(r.body.toString(), '{"ParseError":{"AttachmentError":"Missing attachment"}}');
    // pathed content that is not the embedded event's -A sigs and -C receipts
    const withL = (raw, content) => {
      const t = '5AABAA-a' + content;
      return raw + '-HAB' + sicp.sad.i + '-AAB' + sigOf(sender, raw) +
        '-LA' + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[t.length / 4] + t;
    };
    const good = exn(oicp.sad.i, 'multisig');
    r = await post(k, '/forward', withL(good, ''));
    assert.equal(r.body.toString(), '{"ParseError":{"AttachmentError":"forwarded event has no signatures"}}');
    r = await post(k, '/forward', withL(good, inner + '-BAB' + inner.slice(4)));
    assert.equal(r.body.toString(),
      '{"ParseError":{"AttachmentError":"forwarded event attachments are not -A or -C groups"}}');
    // not a /fwd exn; an embedded message that is not a key event
    const rpy = K.saidify({ v: 'KERI10JSON000000_', t: 'exn', d: '', dt, r: '/other', q: { pre: oicp.sad.i, topic: 'multisig' }, a: oicp.sad }).raw;
    r = await post(k, '/forward', withL(rpy, inner));
    assert.equal(r.body.toString(), '{"ParseError":{"DeserializeError":"not a /fwd exchange message"}}');
    const notEvent = K.saidify({ v: 'KERI10JSON000000_', t: 'exn', d: '', dt, r: '/fwd',
      q: { pre: oicp.sad.i, topic: 'multisig' }, a: { x: 1 } }).raw;
    r = await post(k, '/forward', withL(notEvent, inner));
    assert.equal(r.status, 500);
    assert.match(r.body.toString(), /^\{"ParseError":\{"DeserializeError":"/);
    // the mailbox of the recipient is still empty
    r = await post(k, '/query', mbx(oicp.sad.i));
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { receipt: '', multisig: '', delegate: '' });
    // good: 200, then the embedded event with its signature in multisig
    r = await post(k, '/forward', body);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
    r = await post(k, '/query', mbx(oicp.sad.i));
    assert.equal(r.status, 200);
    const box = JSON.parse(r.body);
    assert.equal(box.multisig, oicp.raw + inner);
    assert.equal(box.delegate, '');
    assert.ok(verify('B' + other.verfer.qb64.slice(1), oicp.raw, inner.slice(4)));
    // delegate topic
    assert.equal((await post(k, '/forward', fwd(exn(oicp.sad.i, 'delegate'), sender, sicp.sad.i))).status, 200);
    r = await post(k, '/query', mbx(oicp.sad.i));
    assert.equal(JSON.parse(r.body).delegate, oicp.raw + inner);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('dip without a delegator seal: escrowed and put in the delegator\'s delegate mailbox (§1.2, §6 F)', async () => {
  const K = await import(path.join(SHARED, 'tools', 'keri-client', 'lib', 'keri.mjs'));
  await K.init();
  const seed = (label) => crypto.createHash('sha256').update(`kerid-delegation|${label}`).digest();
  const dtor = K.signerFromRaw(seed('delegator'));
  const dtee = K.signerFromRaw(seed('delegate'));
  const dicp = K.makeIcp({ keys: [dtor.verfer.qb64], isith: '1',
    ndigs: [K.nextDigest(K.signerFromRaw(seed('delegator-next')).verfer.qb64)], nsith: '1' });
  const DI = dicp.sad.i;
  const dip = K.S.incept({ keys: [dtee.verfer.qb64], isith: '1', ndigs: [], wits: [PREFIX], toad: 1,
    delpre: DI, code: K.S.MtrDex.Blake3_256, intive: false });
  assert.equal(dip.sad.t, 'dip');
  const sigOf = (signer, raw) => signer.sign(K.bytes(raw), 0).qb64;
  const dipMsg = dip.raw + '-AAB' + sigOf(dtee, dip.raw);
  const dt = '2026-01-01T00:00:00.000000+00:00';
  const mbx = (aid) => {
    const raw = K.saidify({ v: 'KERI10JSON000000_', t: 'qry', d: '', dt, r: 'mbx', rr: '',
      q: { pre: aid, topics: { '/receipt': 0, '/multisig': 0, '/delegate': 0 }, i: aid, src: PREFIX } }).raw;
    return raw + '-HAB' + DI + '-AAB' + sigOf(dtor, raw);
  };
  const k = await witness(scratch());
  try {
    assert.equal((await post(k, '/process', dicp.raw + '-AAB' + sigOf(dtor, dicp.raw))).status, 200);
    // a bad signature on the dip: refused, not forwarded
    const bad = dip.raw + '-AAB' + sigOf(dtor, dip.raw);
    assert.equal((await post(k, '/process', bad)).status, 403);
    let box = JSON.parse((await post(k, '/query', mbx(DI))).body);
    assert.equal(box.delegate, '');
    // the request: 200, no receipt yet (nothing anchors it), the dip as received in delegate
    let r = await post(k, '/process', dipMsg);
    assert.equal(r.status, 200);
    box = JSON.parse((await post(k, '/query', mbx(DI))).body);
    assert.equal(box.delegate, dipMsg);
    assert.equal(box.receipt.includes(dip.sad.d), false);
    // sent again: the same escrow row, no second copy
    assert.equal((await post(k, '/process', dipMsg)).status, 200);
    box = JSON.parse((await post(k, '/query', mbx(DI))).body);
    assert.equal(box.delegate, dipMsg);
    // the delegator anchors it; the dip with its -G seal is then accepted and receipted
    const ixn = K.makeIxn({ pre: DI, dig: dicp.sad.d, sn: 1, data: [{ i: dip.sad.i, s: '0', d: dip.sad.d }] });
    r = await post(k, '/process', ixn.raw + '-AAB' + sigOf(dtor, ixn.raw));
    assert.equal(r.status, 200, r.body.toString());
    const gseal = '-GAB0AAAAAAAAAAAAAAAAAAAAAAB' + ixn.sad.d;
    r = await post(k, '/process', dip.raw + '-AAB' + sigOf(dtee, dip.raw) + gseal);
    assert.equal(r.status, 200);
    const q = K.saidify({ v: 'KERI10JSON000000_', t: 'qry', d: '', dt, r: 'mbx', rr: '',
      q: { pre: dip.sad.i, topics: { '/receipt': 0 }, i: dip.sad.i, src: PREFIX } }).raw;
    box = JSON.parse((await post(k, '/query', q + '-HAB' + dip.sad.i + '-AAB' + sigOf(dtee, q))).body);
    const rct = box.receipt;
    assert.ok(rct.includes(`"d":"${dip.sad.d}"`), rct);
    const out = execFileSync('node', [KC, 'verify-receipt', '--event', dip.raw, '--receipt', '-', '--witness', PREFIX],
      { input: rct });
    assert.equal(JSON.parse(out).ok, true);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('SIGKILL after answers: every answered event and receipt is still there after restart', async () => {
  const dir = scratch();
  const corpus = path.join(dir, 'corpus.jsonl');
  execFileSync('node', [KC, 'gen', '--controllers', '8', '--events', '3', '--witnesses', PREFIX,
    '--toad', '1', '--seed', 'sigkill', '--out', corpus], { stdio: 'pipe' });
  const events = fs.readFileSync(corpus, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    .filter((e) => e.type === 'event');
  const byAid = new Map();
  for (const e of events) {
    if (!byAid.has(e.i)) byAid.set(e.i, []);
    byAid.get(e.i).push(e);
  }
  let k = await witness(dir);
  const answered = new Map(); // aid -> number of its events answered 200, in order
  // one sequential stream per controller, all controllers at once: their writes share commits
  await Promise.all([...byAid.entries()].map(async ([aid, evs]) => {
    for (const e of evs) {
      const r = await post(k, '/process', e.raw + e.atc);
      assert.equal(r.status, 200);
      answered.set(aid, (answered.get(aid) || 0) + 1);
    }
  }));
  const killed = await k.stop('SIGKILL');
  assert.equal(killed.signal, 'SIGKILL');
  k = await witness(dir);
  try {
    for (const [aid, n] of answered) {
      const kel = split((await get(k, `/oobi/${aid}/witness/${PREFIX}`)).body.toString())
        .filter((m) => m.json.t !== 'rpy');
      assert.equal(kel.length, n, `${aid}: every answered event kept`);
      for (const m of kel) {
        const at = m.atc.indexOf('-CAB' + PREFIX);
        assert.ok(at >= 0, `${aid} sn ${m.json.s}: receipt kept`);
        assert.ok(verify(PREFIX, m.body, m.atc.slice(at + 48, at + 48 + 88)));
      }
    }
    assert.equal(answered.size, 8);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});
