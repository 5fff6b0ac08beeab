// Transaction event logs on the witness (keriox-surface §1.1, §4.4, §6 E,
// §9 24): POST /process/tel and POST /query/tel with the real kerid binary.
// The issuer KEL, the TEL events and their SAIDs are made here with the
// keri-client library (signify-ts), independently of kerid: a keripy
// registry (i == d, both dummied for the digest), iss/rev, each anchored by
// an ixn whose `a` holds the TEL event's seal {i, s, d}.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { freePort, scratch, start, writeYaml, SLOW } from './harness.mjs';

const SHARED = process.env.KD_SHARED_DIR || '/work/shared';
const SEED = 'ArwXoACJgOleVZ2PY7kXn7rA0II0mHYDhc6WrBH8fDAc';
const K = await import(path.join(SHARED, 'tools', 'keri-client', 'lib', 'keri.mjs'));
await K.init();

async function witness(dir, port, extra = '') {
  writeYaml(dir, 'witness.yml', `db_path: "db/"\nhttp_port: ${port}\n` +
    `public_url: "http://localhost:3232/"\nseed: "${SEED}"\nlisten_address: "127.0.0.1"\n${extra}`);
  const k = await start(['--role', 'witness', '-c', 'witness.yml'], { cwd: dir });
  k.base = `http://127.0.0.1:${port}`;
  return k;
}

async function post(k, route, body) {
  const r = await fetch(k.base + route, { method: 'POST', body });
  return { status: r.status, type: r.headers.get('content-type'), body: Buffer.from(await r.arrayBuffer()).toString() };
}

const seed = (label) => crypto.createHash('sha256').update(`kerid-tel|${label}`).digest();
const sigOf = (signer, raw) => signer.sign(K.bytes(raw), 0).qb64;
const DT = '2026-01-01T00:00:00.000000+00:00';
const D44 = '#'.repeat(44);

// `0A` + 22 chars: the sn of a seal source couple (16 bytes, big-endian).
function snQb64(n) {
  const b = Buffer.alloc(18);
  b.writeBigUInt64BE(BigInt(n), 10);
  return '0A' + b.toString('base64url').slice(2);
}
const gab = (sn, said) => `-GAB${snQb64(sn)}${said}`;

// A keripy registry inception: i and d both dummied, both get the digest.
function vcp(issuer, nonce) {
  const s = { v: 'KERI10JSON000000_', t: 'vcp', d: D44, i: D44, ii: issuer, s: '0', c: ['NB'], bt: '0', b: [], n: nonce };
  const said = K.digest(K.sizeify(s).raw);
  return K.sizeify({ ...s, d: said, i: said });
}
const iss = (vc, ri) => K.saidify({ v: 'KERI10JSON000000_', t: 'iss', d: '', i: vc, s: '0', ri, dt: DT });
const rev = (vc, ri, p, dt = DT) => K.saidify({ v: 'KERI10JSON000000_', t: 'rev', d: '', i: vc, s: '1', ri, p, dt });

// A one-key transferable issuer and its KEL, event by event.
function issuer(label) {
  const sg = K.signerFromRaw(seed(label));
  const nx = K.signerFromRaw(seed(label + '/next'));
  const icp = K.makeIcp({ keys: [sg.verfer.qb64], isith: '1', ndigs: [K.nextDigest(nx.verfer.qb64)], nsith: '1' });
  const pre = icp.sad.i;
  let last = icp.sad.d;
  let sn = 0;
  return {
    sg, pre,
    icp: icp.raw + K.ctrlSigsAtc(K.signIndexed([sg], icp.raw)),
    // the next ixn anchoring the given TEL bodies: { raw (with sigs), said, sn }
    anchor(...tels) {
      sn += 1;
      const data = tels.map((t) => ({ i: t.sad.i, s: t.sad.s, d: t.sad.d }));
      const e = K.makeIxn({ pre, dig: last, sn, data });
      last = e.sad.d;
      return { raw: e.raw + K.ctrlSigsAtc(K.signIndexed([sg], e.raw)), said: e.sad.d, sn };
    },
  };
}

// A tels query signed -HAB by signer for prefix pre.
function telsQuery(q, signer, pre) {
  const { raw } = K.makeQry({ route: 'tels', q, dt: DT });
  return raw + '-HAB' + pre + '-AAB' + sigOf(signer, raw);
}

async function until(fn, ms = 8000 * SLOW) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const jsonErr = (r, status, fault) => {
  assert.equal(r.status, status, r.body);
  assert.equal(r.type, 'application/json');
  const j = JSON.parse(r.body);
  assert.equal(typeof j.error, 'string');
  assert.equal(typeof j.message, 'string');
  if (fault) assert.equal(j.fault, fault, r.body);
  return j;
};

test('TEL: vcp escrowed until its anchoring ixn, iss/rev, queries, refusals, restart (§9 24)', async () => {
  const dir = scratch();
  const port = await freePort();
  let k = await witness(dir, port);
  const A = issuer('issuer');
  const stranger = issuer('stranger');
  const reg = vcp(A.pre, '0AAxyHwW6htOZ_rANOaZb2N2');
  const REG = reg.sad.i;
  assert.equal(REG, reg.sad.d);
  const VC = K.digest('credential one');
  const VC2 = K.digest('credential two');
  const i1 = iss(VC, REG);
  const r1 = rev(VC, REG, i1.sad.d);
  const qry = (q) => telsQuery(q, A.sg, A.pre);
  let full = null; // the registry's and the credential's TELs, as served
  try {
    assert.equal((await post(k, '/process', A.icp)).status, 200);
    // the vcp before its anchoring ixn: escrowed, answered 200 without Content-Type
    const x1 = A.anchor(reg);
    let r = await post(k, '/process/tel', reg.raw + gab(x1.sn, x1.said));
    assert.equal(r.status, 200, r.body);
    assert.equal(r.type, null);
    assert.equal(r.body, '');
    r = await post(k, '/query/tel', qry({ ri: REG }));
    assert.equal(r.status, 200);
    assert.equal(r.type, 'text/plain; charset=utf-8');
    assert.equal(r.body, '');
    // the ixn arrives: the escrow sweep releases the vcp
    assert.equal((await post(k, '/process', x1.raw)).status, 200);
    const vcpStream = reg.raw + gab(x1.sn, x1.said);
    r = await until(async () => {
      const q = await post(k, '/query/tel', qry({ ri: REG }));
      return q.body === vcpStream ? q : null;
    });
    assert.ok(r, 'the escrowed vcp was released once its anchor arrived');
    assert.equal(r.type, 'text/plain; charset=utf-8');
    // again: a duplicate, 200
    assert.equal((await post(k, '/process/tel', vcpStream)).status, 200);

    // iss, anchored first this time
    const x2 = A.anchor(i1);
    assert.equal((await post(k, '/process', x2.raw)).status, 200);
    r = await post(k, '/process/tel', i1.raw + gab(x2.sn, x2.said));
    assert.equal(r.status, 200, r.body);
    assert.equal(r.type, null);
    r = await post(k, '/query/tel', qry({ i: VC, ri: REG }));
    assert.equal(r.status, 200);
    assert.equal(r.body, vcpStream + i1.raw + gab(x2.sn, x2.said));

    // a revocation whose ixn does not seal it (it seals another event): refused
    const other = rev(VC, REG, i1.sad.d, '2026-02-02T00:00:00.000000+00:00');
    const x3 = A.anchor(other);
    assert.equal((await post(k, '/process', x3.raw)).status, 200);
    r = await post(k, '/process/tel', r1.raw + gab(x3.sn, x3.said));
    const j = jsonErr(r, 400, 'ANCHOR');
    assert.equal(j.t, 'rev');
    assert.equal(j.d, r1.sad.d);
    // a seal naming an ixn SAID that is not the one at that sn: refused
    r = await post(k, '/process/tel', r1.raw + gab(x2.sn, x3.said));
    jsonErr(r, 400, 'ANCHOR');
    // the right one
    const x4 = A.anchor(r1);
    assert.equal((await post(k, '/process', x4.raw)).status, 200);
    assert.equal((await post(k, '/process/tel', r1.raw + gab(x4.sn, x4.said))).status, 200);
    const vcStream = i1.raw + gab(x2.sn, x2.said) + r1.raw + gab(x4.sn, x4.said);
    r = await post(k, '/query/tel', qry({ i: VC }));
    assert.equal(r.body, vcStream);
    full = vcpStream + vcStream;
    // the other revocation, now properly anchored: another event at sn 1
    r = await post(k, '/process/tel', other.raw + gab(x3.sn, x3.said));
    jsonErr(r, 409, 'DUPLICITOUS');

    // malformed bodies: nothing stored
    const i2 = iss(VC2, REG);
    const x5 = A.anchor(i2);
    assert.equal((await post(k, '/process', x5.raw)).status, 200);
    jsonErr(await post(k, '/process/tel', i2.raw), 400, 'SEAL'); // no -GAB
    const tampered = i2.raw.replace(VC2, K.digest('credential three'));
    jsonErr(await post(k, '/process/tel', tampered + gab(x5.sn, x5.said)), 400, 'BODY'); // SAID
    jsonErr(await post(k, '/process/tel', '{"v":"KERI10JSON0000ff_"'), 400, 'CESR');
    jsonErr(await post(k, '/process/tel', A.icp), 400, 'BODY'); // a KEL event
    // all or nothing: a good iss followed by a bad one stores neither
    const bad = rev(VC2, REG, K.digest('nothing'));
    r = await post(k, '/process/tel', i2.raw + gab(x5.sn, x5.said) + bad.raw + gab(x5.sn, x5.said));
    jsonErr(r, 400);
    r = await post(k, '/query/tel', qry({ i: VC2 }));
    assert.equal(r.status, 200);
    assert.equal(r.body, '');
    assert.equal((await post(k, '/process/tel', Buffer.from([0xff, 0xfe]))).status, 400);

    // queries: bad signature, unknown signer, no signature, not a tels query
    const { raw: qraw } = K.makeQry({ route: 'tels', q: { ri: REG }, dt: DT });
    jsonErr(await post(k, '/query/tel', qraw + '-HAB' + A.pre + '-AAB' + sigOf(stranger.sg, qraw)), 403, 'SIGNATURE');
    jsonErr(await post(k, '/query/tel', telsQuery({ ri: REG }, stranger.sg, stranger.pre)), 403, 'SIGNER');
    jsonErr(await post(k, '/query/tel', qraw), 403, 'SIGNATURE');
    jsonErr(await post(k, '/query/tel', telsQuery({}, A.sg, A.pre)), 400, 'ARGS');
    const { raw: kraw } = K.makeQry({ route: 'ksn', q: { i: A.pre }, dt: DT });
    jsonErr(await post(k, '/query/tel', kraw + '-HAB' + A.pre + '-AAB' + sigOf(A.sg, kraw)), 400, 'ROUTE');
    jsonErr(await post(k, '/query/tel', 'hello'), 400);
    jsonErr(await post(k, '/query/tel', ''), 400);
    // keriox's example stream (its issuer's KEL is not here): accepted into
    // the escrows, 200 without Content-Type, nothing served yet
    const ex = fs.readFileSync(path.join(SHARED, 'spec', 'keriox-examples', 'tel-vcp-bis-brv-stream.cesr'))
      .toString().trim();
    r = await post(k, '/process/tel', ex);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.type, null);
    r = await post(k, '/query/tel', qry({ i: 'ENdJge-nCgyIC42MGYXQddvL9nm5ml-ZFOWq-WuDGp4k',
      ri: 'EEJeOc0HPZScDMKD-L9RsJ9K5-j73IZkMA2tui5gYEpH' }));
    assert.equal(r.status, 200);
    assert.equal(r.body, '');
    // its vcp with one character of the registry prefix changed: refused
    jsonErr(await post(k, '/process/tel', ex.replace('EEJeOc0HPZ', 'EEJeOc0HPz')), 400, 'BODY');
    // unknown ids: empty
    r = await post(k, '/query/tel', qry({ i: VC2, ri: K.digest('no registry') }));
    assert.equal(r.status, 200);
    assert.equal(r.body, '');
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
  // the TELs survive a restart
  k = await witness(dir, port);
  try {
    const r = await post(k, '/query/tel', qry({ i: VC, ri: REG }));
    assert.equal(r.status, 200);
    assert.ok(full);
    assert.equal(r.body, full);
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

test('TEL: an out-of-order event is dropped after escrow_timeout.out_of_order_timeout', async () => {
  const dir = scratch();
  const k = await witness(dir, await freePort(), 'escrow_timeout:\n  out_of_order_timeout: 1\n');
  const A = issuer('timeout');
  const reg = vcp(A.pre, '0AAtimeoutHwW6htOZ_rANOa');
  const VC = K.digest('credential timeout');
  const i1 = iss(VC, reg.sad.i);
  const qry = (q) => telsQuery(q, A.sg, A.pre);
  try {
    assert.equal((await post(k, '/process', A.icp)).status, 200);
    const x1 = A.anchor(reg);
    const x2 = A.anchor(i1);
    assert.equal((await post(k, '/process', x1.raw + x2.raw)).status, 200);
    // the iss before its registry: escrowed out of order
    assert.equal((await post(k, '/process/tel', i1.raw + gab(x2.sn, x2.said))).status, 200);
    // after the timeout (and a sweep) it is gone: the vcp releases nothing
    await new Promise((r) => setTimeout(r, 2600 * SLOW));
    assert.equal((await post(k, '/process/tel', reg.raw + gab(x1.sn, x1.said))).status, 200);
    let r = await post(k, '/query/tel', qry({ i: VC, ri: reg.sad.i }));
    assert.equal(r.body, reg.raw + gab(x1.sn, x1.said));
    // sent again now, in order: stored
    assert.equal((await post(k, '/process/tel', i1.raw + gab(x2.sn, x2.said))).status, 200);
    r = await post(k, '/query/tel', qry({ i: VC }));
    assert.equal(r.body, i1.raw + gab(x2.sn, x2.said));
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});

// keriox's flow (§6 E, the example stream's form): a registry whose prefix
// is the digest of keriox's "dummy event" {v,i,s,ii,c,bt,b}, then bis/brv
// with a registry anchor ra, each published after its anchoring ixn.
function vcpKeriox(issuerPre) {
  const dummy = (size) => `{"v":"KERI10JSON${size.toString(16).padStart(6, '0')}_","i":"${D44}","s":"0",` +
    `"ii":"${issuerPre}","c":["NB"],"bt":"0","b":[]}`;
  const i = K.digest(dummy(dummy(0).length));
  return K.saidify({ v: 'KERI10JSON000000_', t: 'vcp', d: '', i, s: '0', ii: issuerPre, c: ['NB'], bt: '0', b: [] });
}

test('TEL: keriox registry prefix, bis/brv with ra (§6 E)', async () => {
  // the derivation reproduces the example stream's registry prefix
  assert.equal(vcpKeriox('EL2KqdbeSkemPII22qQ9dNglhBYa2YaQL7ePjN-3aTGg').sad.i,
    'EEJeOc0HPZScDMKD-L9RsJ9K5-j73IZkMA2tui5gYEpH');
  const dir = scratch();
  const k = await witness(dir, await freePort());
  const A = issuer('keriox');
  const reg = vcpKeriox(A.pre);
  const REG = reg.sad.i;
  assert.notEqual(REG, reg.sad.d);
  const VC = K.digest('credential keriox');
  const ra = { i: REG, s: '0', d: reg.sad.d };
  const bis = K.saidify({ v: 'KERI10JSON000000_', t: 'bis', d: '', i: VC, s: '0', ii: A.pre, ra, dt: DT });
  const brv = K.saidify({ v: 'KERI10JSON000000_', t: 'brv', d: '', i: VC, s: '1', p: bis.sad.d, ra, dt: DT });
  const qry = (q) => telsQuery(q, A.sg, A.pre);
  try {
    assert.equal((await post(k, '/process', A.icp)).status, 200);
    let stream = '';
    for (const ev of [reg, bis, brv]) {
      const x = A.anchor(ev);
      assert.equal((await post(k, '/process', x.raw)).status, 200);
      const r = await post(k, '/process/tel', ev.raw + gab(x.sn, x.said));
      assert.equal(r.status, 200, r.body);
      stream += ev.raw + gab(x.sn, x.said);
    }
    const r = await post(k, '/query/tel', qry({ i: VC, ri: REG }));
    assert.equal(r.status, 200);
    assert.equal(r.body, stream);
    // a bis whose ra names a management event that is not there: refused
    const bad = K.saidify({ v: 'KERI10JSON000000_', t: 'bis', d: '', i: K.digest('other'), s: '0', ii: A.pre,
      ra: { i: REG, s: '0', d: bis.sad.d }, dt: DT });
    const x = A.anchor(bad);
    assert.equal((await post(k, '/process', x.raw)).status, 200);
    jsonErr(await post(k, '/process/tel', bad.raw + gab(x.sn, x.said)), 400, 'RA');
  } finally {
    assert.equal((await k.stop()).code, 0);
  }
});
