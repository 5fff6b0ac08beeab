// A witness network: four kerid witnesses (N = 3f+1, f = 1) on 127.0.0.1, each
// with its own seed, database and ephemeral port, driven by the independent
// client keri-client (shared/tools/keri-client, on signify-ts): corpora of
// icp/rot/ixn events (single-key with invalid variants, 2-of-3 multi-sig,
// weighted) listing all four witnesses with a toad of 3, sent over keriox's
// protocol (POST /process + signed mailbox queries) and keripy's (POST
// /receipts, GET /receipts, POST / with rct). The test then plays the
// controller: it gives every witness the other witnesses' receipts, so each
// event is fully witnessed everywhere, and checks the KELs (keriox logs
// queries, OOBIs) with the client's own verification. Also: a witness killed
// mid-way and restarted on its database goes on at the right sn; a
// duplicitous event gets no receipt, is recorded as evidence (read from the
// store) and counted (GET /metrics); forged receipts are refused.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { SLOW, freePort, scratch, start, writeYaml } from './harness.mjs';

const SHARED = process.env.KD_SHARED_DIR || '/work/shared';
const KCDIR = path.join(SHARED, 'tools', 'keri-client');
const KC = path.join(KCDIR, 'kc.mjs');
const lib = (f) => import(path.join(KCDIR, 'lib', f));
const K = await lib('keri.mjs');
const { genOptions, keySigners, writeCorpus } = await lib('gen.mjs');
const { mbxQuery, parseKerioxMailbox } = await lib('send.mjs');
const { parseStream, parseCounter, indexerSize, matterSize } = await lib('cesr.mjs');
const { checkOobiStream, resolveOobi } = await lib('oobi.mjs');
await K.init();

const N = 4;
const TOAD = 3;
const SWEEP_MS = 200; // the metrics' KEL counters are published at each sweep tick

// ---------------------------------------------------------------- witnesses

// Canonical CESR Ed25519 seed ("A" + 43 chars: a zero pad byte, then 32 bytes).
const seedOf = (label) => Buffer.concat([Buffer.alloc(1),
  crypto.createHash('sha256').update(`kerid-network-test|${label}`).digest()]).toString('base64url');

const W = []; // {i, dir, port, seed, prefix, base, k}
let dir;

async function startWitness(w) {
  w.k = await start(['--role', 'witness', '-c', 'witness.yml'], { cwd: w.dir });
  // the prefix comes from the seed (signify-ts), kerid must print the same
  assert.match(w.k.stdout(), new RegExp(`^Witness ${w.prefix} is listening on port ${w.port}$`, 'm'));
}

before(async () => {
  dir = scratch();
  for (let i = 0; i < N; i++) {
    const seed = seedOf(`witness-${i + 1}`);
    assert.equal(seed.length, 44);
    const w = { i, dir: path.join(dir, `w${i + 1}`), port: await freePort(), seed };
    w.prefix = K.signerFromSeed(seed, { transferable: false, lax: false }).verfer.qb64;
    w.base = `http://127.0.0.1:${w.port}`;
    fs.mkdirSync(w.dir);
    writeYaml(w.dir, 'witness.yml', `db_path: "db"\nhttp_port: ${w.port}\n` +
      `public_url: "http://127.0.0.1:${w.port}/"\nseed: "${seed}"\nlisten_address: "127.0.0.1"\n` +
      `sweep_interval_ms: ${SWEEP_MS}\n`);
    W.push(w);
  }
  assert.equal(new Set(W.map((w) => w.prefix)).size, N, 'four distinct prefixes');
  await Promise.all(W.map(startWitness));
});

after(async () => {
  const codes = await Promise.all(W.filter((w) => w.k).map((w) => w.k.stop()));
  for (const r of codes) assert.equal(r.code, 0, 'each witness exits 0 on SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
});

const WITS = () => W.map((w) => w.prefix);

// ---------------------------------------------------------------- client

// Runs a command asynchronously (the kerid children keep being drained) with a
// bound; stdout is parsed as JSON when it is JSON.
function run(cmd, args, { timeoutMs = 120000 * SLOW } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd} ${args[0]} timed out\n${stderr}`)); }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      let json = null;
      try { json = JSON.parse(stdout); } catch { /* left null */ }
      resolve({ code, stdout, stderr, json });
    });
  });
}

const kc = (args, opts) => run(process.execPath, [KC, ...args], opts);

// The duplicity records in w's store (table kel_dups, written by
// kd_store_dup_add), read with python3's sqlite3 in read-only mode while kerid runs.
async function dupRecords(w) {
  const py = 'import json, sqlite3, sys\n' +
    'c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)\n' +
    't = lambda v: v.decode() if isinstance(v, bytes) else v\n' +
    'print(json.dumps([dict(said=s, prefix=p, sn=n, ilk=i, raw=t(r), att=t(a)) for s, p, n, i, r, a in ' +
    'c.execute("SELECT said, prefix, sn, ilk, raw, att FROM kel_dups ORDER BY said")]))';
  const r = await run('python3', ['-c', py, path.join(w.dir, 'db', 'kerid.sqlite3')], { timeoutMs: 20000 * SLOW });
  assert.equal(r.code, 0, r.stderr);
  return r.json;
}

// A corpus listing the four witnesses with toad 3 → {file, header, blocks:
// [{controller, events}]}. The first one is made by the `kc gen` command; the
// others by the same generator (keri-client's gen library) in this process,
// to spare a client start-up (~2 s of CPU) each.
async function gen(name, o, { seed = name, cli = false } = {}) {
  const file = path.join(dir, `${name}.jsonl`);
  if (cli) {
    const flags = { controllers: '--controllers', events: '--events', keys: '--keys', threshold: '--threshold',
      rotRatio: '--rot-ratio', anchors: '--anchors', invalid: '--invalid', invalidRate: '--invalid-rate' };
    const args = ['gen', '--witnesses', WITS().join(','), '--toad', String(TOAD), '--seed', seed, '--out', file, '--max-seconds', '60'];
    for (const [k, v] of Object.entries(o)) args.push(flags[k], String(v));
    const r = await kc(args);
    assert.equal(r.code, 0, `kc gen ${name}: ${r.stderr}`);
  } else {
    const sum = writeCorpus(genOptions({ ...o, seed, witnesses: WITS(), toad: TOAD }), file);
    assert.equal(sum.complete, true);
  }
  return readCorpus(file);
}

function readCorpus(file) {
  const c = { file, blocks: [] };
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const o = JSON.parse(line);
    if (o.type === 'header') c.header = o;
    else if (o.type === 'controller') c.blocks.push({ controller: o, events: [] });
    else if (o.type === 'event') c.blocks[c.blocks.length - 1].events.push(o);
    else if (o.type === 'trailer') c.trailer = o;
  }
  return c;
}

// Writes a corpus holding only the events pick(block) of each block.
function subCorpus(c, name, pick) {
  const file = path.join(dir, `${name}.jsonl`);
  const lines = [JSON.stringify(c.header)];
  let controllers = 0, events = 0, nvalid = 0;
  for (const b of c.blocks) {
    const evs = pick(b);
    if (!evs.length) continue;
    controllers++;
    lines.push(JSON.stringify({ ...b.controller, events: evs.length }));
    for (const e of evs) { lines.push(JSON.stringify(e)); events++; if (e.expect === 'valid') nvalid++; }
  }
  lines.push(JSON.stringify({ type: 'trailer', controllers, events, valid: nvalid, invalid: {}, complete: true }));
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return readCorpus(file);
}

const valid = (b) => b.events.filter((e) => e.expect === 'valid');
const countValid = (c) => c.blocks.reduce((n, b) => n + valid(b).length, 0);

// kc send of corpus c to witness w; returns the report after checking it.
async function send(w, c, protocol, { expectExit = 0, extra = [] } = {}) {
  const args = ['send', '--url', `${w.base}/`, '--protocol', protocol, '--corpus', c.file,
    '--witness', w.prefix, '--concurrency', '3', '--max-seconds', String(60 * SLOW),
    '--timeout-ms', String(10000 * SLOW), '--quiet', ...extra];
  if (protocol === 'keripy') args.push('--route', 'receipts');
  const r = await kc(args);
  assert.ok(r.json, `kc send printed no report: ${r.stderr}`);
  assert.equal(r.code, expectExit, `kc send ${protocol} to w${w.i + 1}: ${JSON.stringify(r.json.errors)} ${JSON.stringify(r.json.error_examples)}`);
  return r.json;
}

// The report of a corpus whose every valid event must be receipted and verified.
function assertAllReceipted(rep, c) {
  const nv = countValid(c);
  assert.equal(rep.stopped_by, 'complete');
  assert.equal(rep.sent, nv + c.blocks.reduce((n, b) => n + b.events.length - valid(b).length, 0));
  assert.equal(rep.accepted, nv);
  assert.equal(rep.receipts.verified, nv, 'one verified receipt per valid event');
  assert.equal(rep.receipts.invalid, 0);
  assert.equal(rep.receipts.missing, 0);
  assert.equal(rep.receipts.unmatched, 0);
  assert.equal(rep.accepted_invalid, 0);
  assert.equal(rep.rejected.unexpected, 0);
}

// ---------------------------------------------------------------- HTTP

async function http(w, route, { method = 'GET', body, headers } = {}) {
  const r = await fetch(w.base + route, { method, body, headers, signal: AbortSignal.timeout(10000 * SLOW) });
  return { status: r.status, type: r.headers.get('content-type'), headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

// The signers of a controller's current keys (key set of its last valid event).
function signersOf(c, b) {
  const ev = valid(b);
  return keySigners(c.header.seed, b.controller.c, ev[ev.length - 1].ks, c.header.keys)
    .slice(0, c.header.sign_count ?? c.header.keys);
}

// A qry signed by the controller (-HAB prefix -A## sigs), as keriox clients send it.
function signedQry(c, b, route, q) {
  const qry = K.makeQry({ route, q, dt: K.nowStamp() });
  return qry.raw + K.counter(K.S.CtrDex.TransLastIdxSigGroups, 1) + b.controller.pre +
    K.ctrlSigsAtc(K.signIndexed(signersOf(c, b), qry.raw));
}

// keriox mailbox read: Map(event SAID → [receipt texts]).
async function mailbox(w, c, b) {
  const q = mbxQuery({ pre: b.controller.pre, witness: w.prefix, signers: signersOf(c, b) });
  const r = await http(w, '/query', { method: 'POST', body: q.body });
  assert.equal(r.status, 200, `mbx query at w${w.i + 1}: ${r.body}`);
  return parseKerioxMailbox(r.body);
}

// keriox logs query: the KEL as [{raw, sad, atc, groups}] in replay form.
async function logs(w, c, b) {
  const r = await http(w, '/query', { method: 'POST', body: signedQry(c, b, 'logs', { i: b.controller.pre, src: w.prefix }) });
  assert.equal(r.status, 200, `logs query at w${w.i + 1}: ${r.body}`);
  return parseStream(r.body).map((m) => ({ ...m, groups: groups(m.atc) }));
}

// The count groups of an attachment text, in order: [{code, count, items}].
function groups(atc) {
  const out = [];
  let off = 0;
  while (off < atc.length) {
    const g = parseCounter(atc, off);
    off += g.len;
    const items = [];
    for (let n = 0; n < g.count; n++) {
      if (g.code === '-A' || g.code === '-B') {
        const len = indexerSize(atc, off);
        items.push(atc.slice(off, off + len));
        off += len;
      } else if (g.code === '-C') {
        const pl = matterSize(atc, off);
        const sl = matterSize(atc, off + pl);
        items.push({ pre: atc.slice(off, off + pl), sig: atc.slice(off + pl, off + pl + sl) });
        off += pl + sl;
      } else {
        throw new Error(`unexpected group ${g.code} in ${atc}`);
      }
    }
    out.push({ code: g.code, count: g.count, items });
  }
  return out;
}

// Checks a witness's keriox KEL of controller b: the corpus's valid events in
// order, each with its controller signatures and exactly `receipts` -CAB
// groups, one per witness, each signature verified over the event's bytes.
function checkReplay(kel, b, receipts, where) {
  const evs = valid(b);
  assert.deepEqual(kel.map((m) => m.sad.d), evs.map((e) => e.d), `${where}: the KEL is the corpus's valid events`);
  for (const [n, m] of kel.entries()) {
    assert.equal(m.raw, evs[n].raw, `${where}: event bytes as sent`);
    assert.equal(m.sad.s, evs[n].s);
    const [sigs, ...rest] = m.groups;
    assert.equal(sigs.code, '-A');
    assert.equal(rest.length, receipts, `${where} sn ${n}: one -C group per receipt`);
    const pres = [];
    for (const g of rest) {
      assert.equal(g.code, '-C');
      assert.equal(g.count, 1);
      const { pre, sig } = g.items[0];
      assert.ok(b.controller.wits.includes(pre), `${where}: receipt by a listed witness`);
      const cig = K.parseCigar(sig);
      assert.ok(cig && K.verifyRawSig(pre, cig.raw, m.raw), `${where} sn ${n}: receipt of ${pre} verifies`);
      pres.push(pre);
    }
    assert.equal(new Set(pres).size, receipts, `${where} sn ${n}: receipts by distinct witnesses`);
  }
}

// A counter from GET /metrics.
async function metric(w, name, labels) {
  const r = await http(w, '/metrics');
  assert.equal(r.status, 200);
  const line = r.body.toString().split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  assert.ok(line, `metric ${name}{${labels}} at w${w.i + 1}`);
  return Number(line.split(' ')[1]);
}

// Polls metric until it reaches want (bounded), then returns its value.
async function metricReaches(w, name, labels, want) {
  let v;
  for (let n = 0; n < 50 * SLOW; n++) {
    v = await metric(w, name, labels);
    if (v >= want) return v;
    await new Promise((r) => setTimeout(r, SWEEP_MS / 2));
  }
  return v;
}

// Exchanges receipts over keriox: collects each witness's receipt of every
// valid event from its mailbox (verified), then posts to every witness, per
// event, an rct with the other witnesses' -C couples.
async function exchangeKeriox(c) {
  const couples = new Map(); // said → [{pre, sig}]
  for (const w of W) {
    for (const b of c.blocks) {
      const mb = await mailbox(w, c, b);
      for (const e of valid(b)) {
        const rcts = mb.get(e.d);
        assert.ok(rcts && rcts.length === 1, `w${w.i + 1} has one receipt of ${e.d}`);
        const v = K.verifyReceipt({ eventRaw: e.raw, receipt: rcts[0], witness: w.prefix, wits: b.controller.wits });
        assert.ok(v.ok, `receipt of w${w.i + 1} for ${e.d}: ${v.errors}`);
        const [m] = parseStream(rcts[0]);
        assert.equal(m.attachments.couples.length, 1);
        if (!couples.has(e.d)) couples.set(e.d, []);
        couples.get(e.d).push(m.attachments.couples[0]);
      }
    }
  }
  for (const w of W) {
    for (const b of c.blocks) {
      for (const e of valid(b)) {
        const others = couples.get(e.d).filter((x) => x.pre !== w.prefix);
        assert.equal(others.length, N - 1);
        const rct = K.makeRct({ pre: e.i, sn: e.s, said: e.d });
        const r = await http(w, '/process', { method: 'POST', body: rct.raw + K.couplesAtc(others) });
        assert.equal(r.status, 200, `rct to w${w.i + 1}: ${r.body}`);
      }
    }
  }
  return couples;
}

// ---------------------------------------------------------------- tests

let A, M; // keriox corpora, shared by the next tests

test('keriox: every witness receipts every valid event of single-key and 2-of-3 corpora; invalid ones get none', async () => {
  A = await gen('net-a', { controllers: 6, events: 5, rotRatio: 0.3, invalid: 'all', invalidRate: 0.15 }, { cli: true });
  M = await gen('net-m', { controllers: 4, events: 4, keys: 3, threshold: '2', rotRatio: 0.4 });
  assert.ok(A.blocks.some((b) => b.events.some((e) => e.expect === 'invalid')), 'corpus A holds invalid events');
  assert.ok(A.blocks.some((b) => b.events.some((e) => e.t === 'rot')) && M.blocks.some((b) => b.events.some((e) => e.t === 'rot')));
  for (const c of [A, M]) {
    const reps = await Promise.all(W.map((w) => send(w, c, 'keriox')));
    for (const rep of reps) assertAllReceipted(rep, c);
  }
});

test('keriox: receipts exchanged through rct -C couples; every witness serves each event with 4 verified receipts', async () => {
  for (const c of [A, M]) await exchangeKeriox(c);
  for (const w of W) {
    for (const c of [A, M]) {
      for (const b of c.blocks) checkReplay(await logs(w, c, b), b, N, `w${w.i + 1} ${b.controller.pre}`);
    }
  }
  // the same receipts again change nothing (duplicates), still 200
  const b = A.blocks[0], e = valid(b)[1];
  const mb = await mailbox(W[1], A, b);
  const [m] = parseStream(mb.get(e.d)[0]);
  assert.equal((await http(W[0], '/process', { method: 'POST', body: K.makeRct({ pre: e.i, sn: e.s, said: e.d }).raw + K.couplesAtc(m.attachments.couples) })).status, 200);
  checkReplay(await logs(W[0], A, b), b, N, 'w1 after a repeated receipt');
});

test('keriox: a forged receipt is refused; a non-witness receipt is kept apart from the witnesses\' ones', async () => {
  const b = M.blocks[1], e = valid(b)[0];
  const rct = K.makeRct({ pre: e.i, sn: e.s, said: e.d }).raw;
  const w = W[2];
  // W[0]'s signature over another event, presented as its receipt of e
  const other = valid(b)[1];
  const forged = parseStream((await mailbox(W[0], M, b)).get(other.d)[0])[0].attachments.couples;
  assert.equal(forged[0].pre, W[0].prefix);
  let r = await http(w, '/process', { method: 'POST', body: rct + K.couplesAtc(forged) });
  assert.equal(r.status, 403, `forged receipt: ${r.body}`);
  assert.equal(r.body.toString(), '{"KeriError":"SignatureVerificationError"}');
  // a receipt of an event the witness does not have is not receipted into being
  // (keriox answers 200: such a receipt waits in an escrow until its event comes)
  const ghost = K.makeRct({ pre: e.i, sn: '9', said: 'E' + 'A'.repeat(43) }).raw;
  r = await http(w, '/process', { method: 'POST', body: ghost + K.couplesAtc([forged[0]]) });
  assert.equal(r.status, 200, `receipt of an unknown event: ${r.body}`);
  checkReplay(await logs(w, M, b), b, N, 'w3 after bad receipts');
  // a correctly signed receipt by a non-witness: a plain non-transferable receipt
  // (keripy keeps those apart from wigs); it is served after the four witness ones
  const outsider = K.signerFromRaw(crypto.createHash('sha256').update('kerid-network-test|outsider').digest(), false);
  const couple = { pre: outsider.verfer.qb64, sig: outsider.sign(K.bytes(e.raw)).qb64 };
  r = await http(w, '/process', { method: 'POST', body: rct + K.couplesAtc([couple]) });
  assert.equal(r.status, 200);
  const kel = await logs(w, M, b);
  const rest = kel[0].groups.slice(1);
  assert.equal(rest.length, N + 1);
  assert.deepEqual(rest[N].items, [couple], 'the non-witness receipt comes last, as received');
  assert.equal(rest.filter((g) => g.items[0].pre === outsider.verfer.qb64).length, 1);
  checkReplay(kel.slice(1), { ...b, events: valid(b).slice(1) }, N, 'w3 later events');
});

test('OOBIs: each witness\'s own, and each controller\'s KEL through each witness, resolve and verify', async () => {
  for (const w of W) {
    // keriox loc scheme (GET /oobi/{eid}), checked by keri-client's OOBI
    // resolver: the kc oobi command for w1, its library for the others
    const url = `${w.base}/oobi/${w.prefix}`;
    const res = w.i === 0 ? (await kc(['oobi', '--url', url, '--aid', w.prefix])).json : await resolveOobi(url, { aid: w.prefix });
    assert.equal(res.ok, true, `own OOBI of w${w.i + 1}: ${res.errors}`);
    assert.ok(res.locations.some((l) => l.eid === w.prefix && l.url === `http://127.0.0.1:${w.port}/` && l.verified));
  }
  // keriox form (Accept: */*, as fetch sends): KEL + receipt couples + loc reply of eid
  for (const w of W) {
    for (const b of [A.blocks[0], M.blocks[0]]) {
      const r = await http(w, `/oobi/${b.controller.pre}/witness/${w.prefix}`);
      assert.equal(r.status, 200);
      const chk = checkOobiStream(parseStream(r.body));
      const evs = chk.messages.filter((m) => m.t !== 'rpy');
      assert.equal(evs.length, valid(b).length);
      for (const m of evs) {
        assert.equal(m.verified, true, `${m.t} ${m.said}: ${m.reason}`);
        assert.equal(m.receipt_couples.length, N);
        assert.ok(m.receipt_couples.every((x) => x.valid));
      }
      assert.ok(chk.locations.some((l) => l.eid === w.prefix && l.verified));
    }
  }
});

test('keripy: POST /receipts answers each valid event with a verified receipt; GET /receipts; receipts exchanged with -B wigs and -C couples; OOBIs', async () => {
  const P = await gen('net-p', { controllers: 4, events: 4, keys: 3, threshold: '["1/2","1/2","1/2"]', rotRatio: 0.3 });
  const reps = await Promise.all(W.map((w) => send(w, P, 'keripy')));
  for (const rep of reps) assertAllReceipted(rep, P);
  const b0 = P.blocks[0];
  // not fully witnessed anywhere yet (one wig each < toad 3): no keripy OOBI (§6.2 rule 3)
  let r = await kc(['oobi', '--url', `${W[0].base}/oobi/${b0.controller.pre}/witness/${W[0].prefix}`]);
  assert.equal(r.code, 1);
  assert.equal(r.json.status, 404);

  // collect: GET /receipts (rct + -B## own wig) for even controllers, the
  // -C couple of a repeated POST /receipts (duplicate event) for odd ones
  const wigs = new Map(), cps = new Map();
  for (const w of W) {
    for (const b of P.blocks) {
      for (const e of valid(b)) {
        if (b.controller.c % 2 === 0) {
          r = await http(w, `/receipts?pre=${e.i}&sn=${parseInt(e.s, 16)}`);
          assert.equal(r.status, 200, `GET /receipts at w${w.i + 1}: ${r.body}`);
          assert.equal(r.type, 'application/json+cesr');
          const v = K.verifyReceipt({ eventRaw: e.raw, receipt: r.body.toString(), witness: w.prefix, wits: b.controller.wits });
          assert.ok(v.ok, v.errors.join());
          const [m] = parseStream(r.body);
          assert.equal(m.attachments.wigs.length, 1);
          assert.equal(K.parseSiger(m.attachments.wigs[0]).index, b.controller.wits.indexOf(w.prefix));
          if (!wigs.has(e.d)) wigs.set(e.d, []);
          wigs.get(e.d).push({ w, wig: m.attachments.wigs[0] });
        } else {
          r = await http(w, '/receipts', { method: 'POST', body: e.raw, headers: { 'Content-Type': 'application/cesr+json', 'CESR-ATTACHMENT': e.atc, 'CESR-DESTINATION': w.prefix } });
          assert.equal(r.status, 200, `repeated POST /receipts at w${w.i + 1}: ${r.body}`);
          const v = K.verifyReceipt({ eventRaw: e.raw, receipt: r.body.toString(), witness: w.prefix, wits: b.controller.wits });
          assert.ok(v.ok, v.errors.join());
          const [m] = parseStream(r.body);
          assert.equal(m.attachments.couples.length, 1);
          if (!cps.has(e.d)) cps.set(e.d, []);
          cps.get(e.d).push({ w, couple: m.attachments.couples[0] });
        }
      }
    }
  }
  // distribute: POST / rct + the other witnesses' -B## wigs or -C## couples (kli §7.1 step 4, §7.2 step 3)
  for (const w of W) {
    for (const b of P.blocks) {
      for (const e of valid(b)) {
        const rct = K.makeRct({ pre: e.i, sn: e.s, said: e.d });
        const atc = b.controller.c % 2 === 0
          ? K.counter(K.S.CtrDex.WitnessIdxSigs, N - 1) + wigs.get(e.d).filter((x) => x.w !== w).map((x) => x.wig).join('')
          : K.couplesAtc(cps.get(e.d).filter((x) => x.w !== w).map((x) => x.couple));
        r = await http(w, '/', { method: 'POST', body: rct.raw, headers: { 'Content-Type': 'application/cesr+json', 'CESR-ATTACHMENT': atc, 'CESR-DESTINATION': w.prefix } });
        assert.ok(r.status === 200 || r.status === 204, `rct to w${w.i + 1}: ${r.status} ${r.body}`);
      }
    }
  }
  // every witness now holds all four wigs of every event
  for (const w of W) {
    for (const b of P.blocks) {
      for (const e of valid(b)) {
        r = await http(w, `/receipts?pre=${e.i}&sn=${parseInt(e.s, 16)}`);
        assert.equal(r.status, 200);
        const v = K.verifyReceipt({ eventRaw: e.raw, receipt: r.body.toString(), wits: b.controller.wits });
        assert.ok(v.ok, v.errors.join());
        assert.deepEqual(v.signatures.map((s) => s.pre).sort(), [...b.controller.wits].sort(), `w${w.i + 1} ${e.d}: all four wigs`);
      }
      // the keriox view agrees: each event with four -C groups
      checkReplay(await logs(w, P, b), b, N, `w${w.i + 1} keripy ${b.controller.pre}`);
    }
    // keripy OOBI (application/json+cesr, KERI-AID), checked by kc oobi: the clone-form KEL
    // with its wigs, and the witness's signed loc scheme
    // (the kc oobi command for w1, keri-client's resolver library for the others)
    for (const b of [P.blocks[0], P.blocks[1]]) {
      const url = `${w.base}/oobi/${b.controller.pre}/witness/${w.prefix}`;
      let res;
      if (w.i === 0) {
        r = await kc(['oobi', '--url', url, '--aid', b.controller.pre]);
        assert.equal(r.code, 0, `kc oobi keripy at w1: ${r.stdout}`);
        res = r.json;
      } else {
        res = await resolveOobi(url, { aid: b.controller.pre });
      }
      assert.equal(res.ok, true, `keripy OOBI at w${w.i + 1}: ${res.errors}`);
      assert.equal(res.content_type_ok_for_kli, true);
      assert.equal(res.keri_aid, b.controller.pre);
      const evs = res.messages.filter((m) => ['icp', 'rot', 'ixn'].includes(m.t));
      assert.deepEqual(evs.map((m) => m.said), valid(b).map((e) => e.d));
      for (const m of evs) assert.equal((m.witness_sigs ?? 0) + (m.receipt_couples?.length ?? 0) >= N, true, `${m.said}: four witness signatures`);
      assert.ok(res.locations.some((l) => l.eid === w.prefix && l.verified));
    }
  }
});

test('restart: a witness SIGKILLed mid-way and restarted on its database receipts the later events at the right sn', async () => {
  const R = await gen('net-r', { controllers: 4, events: 5, rotRatio: 0.3 });
  const half = 3;
  const R1 = subCorpus(R, 'net-r1', (b) => b.events.slice(0, half));
  assert.ok(R.blocks.every((b) => b.events.length > half), 'every controller has events after the kill');
  for (const rep of await Promise.all(W.map((w) => send(w, R1, 'keriox')))) assertAllReceipted(rep, R1);
  const w4 = W[3];
  const killed = await w4.k.stop('SIGKILL');
  assert.equal(killed.signal, 'SIGKILL');
  try {
    // the rest goes on with three witnesses (toad 3 still met); w4 is down. The
    // client sends each controller's whole KEL again (the first half as
    // duplicates: 200, no second receipt) and collects one receipt per event.
    for (const rep of await Promise.all(W.slice(0, 3).map((w) => send(w, R, 'keriox')))) assertAllReceipted(rep, R);
    await assert.rejects(http(w4, '/health'), 'w4 is down');
  } finally {
    await startWitness(w4); // same db, same port
  }
  // what w4 answered before the kill is still there, and only that
  for (const b of R1.blocks) {
    const kel = await logs(w4, R1, b);
    assert.deepEqual(kel.map((m) => m.sad.d), valid(b).map((e) => e.d));
  }
  assertAllReceipted(await send(w4, R, 'keriox'), R);
  for (const b of R.blocks) {
    const kel = await logs(w4, R, b);
    assert.deepEqual(kel.map((m) => m.sad.s), valid(b).map((e, n) => n.toString(16)), 'sn 0.. contiguous');
    checkReplay(kel, b, 1, `restarted w4 ${b.controller.pre}`);
    const mb = await mailbox(w4, R, b);
    for (const e of valid(b)) {
      const rcts = mb.get(e.d);
      assert.ok(rcts && rcts.length === 1, `w4 mailbox: one receipt of sn ${e.s}`);
      assert.ok(K.verifyReceipt({ eventRaw: e.raw, receipt: rcts[0], witness: w4.prefix, wits: b.controller.wits }).ok);
    }
  }
  // independent check of one receipt through the CLI
  const b = R.blocks[0], e = valid(b)[valid(b).length - 1];
  const rct = (await mailbox(w4, R, b)).get(e.d)[0];
  const v = await kc(['verify-receipt', '--event', e.raw, '--receipt', rct, '--witness', w4.prefix, '--wits', WITS().join(',')]);
  assert.equal(v.code, 0, v.stdout);
  assert.equal(v.json.ok, true);
});

test('duplicity: a second, different sn-1 event by the same keys gets no receipt, is recorded as evidence and counted', async () => {
  const o = { controllers: 2, events: 2, rotRatio: 0 };
  const DA = await gen('net-dup-a', { ...o, anchors: 1 }, { seed: 'net-dup' });
  const DB = await gen('net-dup-b', { ...o, anchors: 2 }, { seed: 'net-dup' });
  const [a0, b0] = [DA.blocks[0], DB.blocks[0]];
  assert.equal(a0.events[0].raw, b0.events[0].raw, 'same icp');
  assert.equal(a0.events[1].s, '1');
  assert.equal(b0.events[1].s, '1');
  assert.notEqual(a0.events[1].d, b0.events[1].d, 'different ixn at sn 1');

  for (const rep of await Promise.all(W.map((w) => send(w, DA, 'keriox')))) assertAllReceipted(rep, DA);
  await new Promise((r) => setTimeout(r, 3 * SWEEP_MS));
  const base = await Promise.all(W.map((w) => metric(w, 'kerid_kel_messages_total', 'verdict="duplicitous"')));
  const dup = b0.events[1];
  // w1 through kc: the client sees the event answered but never receipted
  const D1 = subCorpus(DB, 'net-dup-b1', (b) => (b.controller.c === 0 ? [dup] : []));
  const rep = await send(W[0], D1, 'keriox', { expectExit: 1 });
  assert.equal(rep.sent, 1);
  assert.equal(rep.accepted, 0);
  assert.equal(rep.receipts.received, 0);
  assert.equal(rep.rejected.unexpected, 1);
  // w2..w4 directly: keriox answers 200 (the body was processed), no receipt
  for (const w of W.slice(1)) {
    const r = await http(w, '/process', { method: 'POST', body: dup.raw + dup.atc });
    assert.equal(r.status, 200, `${r.body}`);
  }
  for (const [n, w] of W.entries()) {
    const mb = await mailbox(w, DA, a0);
    assert.equal(mb.has(dup.d), false, `w${w.i + 1}: no receipt of the duplicitous event`);
    assert.ok(mb.has(a0.events[1].d), `w${w.i + 1}: the first-seen sn-1 event keeps its receipt`);
    const kel = await logs(w, DA, a0);
    assert.deepEqual(kel.map((m) => m.sad.d), valid(a0).map((e) => e.d), 'the KEL is unchanged');
    assert.equal(await metricReaches(w, 'kerid_kel_messages_total', 'verdict="duplicitous"', base[n] + 1), base[n] + 1,
      `w${w.i + 1} counted one duplicitous event`);
  }
  // the evidence kept: the event's exact bytes and its verified signature, once per SAID
  for (const w of W) {
    const recs = await dupRecords(w);
    assert.deepEqual(recs.map((x) => [x.said, x.prefix, x.sn, x.ilk, x.raw]), [[dup.d, dup.i, 1, 'ixn', dup.raw]],
      `w${w.i + 1}: one duplicity record`);
    assert.ok(recs[0].att.includes(dup.atc.slice(4)), `w${w.i + 1}: the record keeps the controller signature`);
  }
  // sn 2 of the other branch cannot attach anywhere either: not receipted
  const r = await http(W[1], '/process', { method: 'POST', body: b0.events[2].raw + b0.events[2].atc });
  assert.equal(r.status, 200);
  assert.equal((await mailbox(W[1], DA, a0)).has(b0.events[2].d), false);
});
