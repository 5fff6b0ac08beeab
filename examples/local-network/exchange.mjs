#!/usr/bin/env node
// The controller's last step after its events were receipted: collect every
// witness's receipt of every event, verify it, and give each witness the other
// witnesses' receipts, so that each event is fully witnessed on every witness
// (what kli does after incept/rotate/interact). Built on keri-client's library
// (signify-ts), not on kerid.
//
//   node exchange.mjs --kc <keri-client dir> --corpus <kc gen output> --protocol keriox|keripy \
//        --witness http://127.0.0.1:5641/=B... [--witness ...] [--timeout-ms 5000]
//
// keriox: receipts from each witness's mailbox (POST /query, r "mbx", signed by
//         the controller's current keys), then POST /process of an rct with the
//         other witnesses' -C## couples.
// keripy: receipts from GET /receipts?pre=&sn= (rct + -B## indexed witness
//         signatures), then POST / of an rct with the other witnesses' -B## wigs
//         (Content-Type application/cesr+json, attachments in CESR-ATTACHMENT).
// Then every witness's copy is read back (keriox: logs query; keripy:
// GET /receipts) and every event must carry a verified signature of every
// witness. Prints a JSON summary; exit 0 if all of it held, 1 otherwise,
// 2 on a usage error. Loopback URLs only (keri-client refuses others).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

let args;
try {
  args = parseArgs({
    options: {
      kc: { type: 'string' }, corpus: { type: 'string' }, protocol: { type: 'string' },
      witness: { type: 'string', multiple: true }, 'timeout-ms': { type: 'string', default: '5000' },
    },
  }).values;
  if (!args.kc || !args.corpus || !['keriox', 'keripy'].includes(args.protocol) || !args.witness?.length) throw new Error('missing option');
} catch (e) {
  console.error(`exchange.mjs: ${e.message}\nusage: node exchange.mjs --kc DIR --corpus FILE --protocol keriox|keripy --witness URL=PREFIX...`);
  process.exit(2);
}
const lib = (f) => import(path.join(path.resolve(args.kc), 'lib', f));
const K = await lib('keri.mjs');
const { keySigners } = await lib('gen.mjs');
const { mbxQuery, parseKerioxMailbox } = await lib('send.mjs');
const { parseStream } = await lib('cesr.mjs');
const { assertLocalUrl, request } = await lib('net.mjs');
await K.init();

const timeoutMs = Number(args['timeout-ms']);
const witnesses = args.witness.map((s) => {
  const i = s.lastIndexOf('=');
  const url = new URL(s.slice(0, i));
  assertLocalUrl(url.toString());
  return { url, prefix: s.slice(i + 1) };
});

// corpus: header, then per controller its valid events (invalid ones were never receipted)
const corpus = { blocks: [] };
for (const line of fs.readFileSync(args.corpus, 'utf8').split('\n')) {
  if (!line) continue;
  const o = JSON.parse(line);
  if (o.type === 'header') corpus.header = o;
  else if (o.type === 'controller') corpus.blocks.push({ controller: o, events: [] });
  else if (o.type === 'event' && o.expect === 'valid') corpus.blocks[corpus.blocks.length - 1].events.push(o);
}

const summary = { protocol: args.protocol, corpus: args.corpus, witnesses: witnesses.length, controllers: corpus.blocks.length,
  events: 0, receipts_collected: 0, receipts_verified: 0, receipts_posted: 0, fully_witnessed: 0, errors: [] };
const fail = (what) => { if (summary.errors.length < 20) summary.errors.push(what); };

const url = (w, route) => new URL(route, w.url);
const signersOf = (b) => {
  const ks = b.events[b.events.length - 1].ks;
  return keySigners(corpus.header.seed, b.controller.c, ks, corpus.header.keys).slice(0, corpus.header.sign_count ?? corpus.header.keys);
};
const signedQry = (b, route, q) => {
  const qry = K.makeQry({ route, q, dt: K.nowStamp() });
  return qry.raw + K.counter(K.S.CtrDex.TransLastIdxSigGroups, 1) + b.controller.pre + K.ctrlSigsAtc(K.signIndexed(signersOf(b), qry.raw));
};
const cesrHeaders = (w, atc) => ({ 'Content-Type': 'application/cesr+json', 'CESR-ATTACHMENT': atc, 'CESR-DESTINATION': w.prefix });

// Each witness's receipt of event e, as {w, couple} (keriox) or {w, wig} (keripy); null if none.
async function collect(w, b) {
  const got = new Map();
  if (args.protocol === 'keriox') {
    const q = mbxQuery({ pre: b.controller.pre, witness: w.prefix, signers: signersOf(b) });
    const r = await request(url(w, 'query'), { method: 'POST', body: q.body, timeoutMs });
    if (r.status !== 200) { fail(`${w.prefix}: mailbox query ${r.error ?? r.status}`); return got; }
    const mb = parseKerioxMailbox(r.body);
    for (const e of b.events) {
      const rct = mb.get(e.d)?.[0];
      if (!rct) { fail(`${w.prefix}: no receipt of ${e.d}`); continue; }
      got.set(e.d, { w, rct });
    }
  } else {
    for (const e of b.events) {
      const r = await request(url(w, `receipts?pre=${e.i}&sn=${parseInt(e.s, 16)}`), { timeoutMs });
      if (r.status !== 200) { fail(`${w.prefix}: GET /receipts ${e.d}: ${r.error ?? r.status}`); continue; }
      got.set(e.d, { w, rct: r.body.toString('utf8') });
    }
  }
  for (const [d, x] of got) {
    summary.receipts_collected++;
    const e = b.events.find((v) => v.d === d);
    const v = K.verifyReceipt({ eventRaw: e.raw, receipt: x.rct, witness: w.prefix, wits: b.controller.wits });
    if (!v.ok) { fail(`${w.prefix}: receipt of ${d}: ${v.errors.join(',')}`); got.delete(d); continue; }
    summary.receipts_verified++;
    const a = parseStream(x.rct)[0].attachments;
    x.couple = a.couples[0];
    x.wig = a.wigs[0];
  }
  return got;
}

// Reads back w's copy of b: the witness prefixes whose signatures verify, per event SAID.
async function readBack(w, b) {
  const out = new Map();
  if (args.protocol === 'keriox') {
    const r = await request(url(w, 'query'), { method: 'POST', body: signedQry(b, 'logs', { i: b.controller.pre, src: w.prefix }), timeoutMs });
    if (r.status !== 200) { fail(`${w.prefix}: logs query ${r.error ?? r.status}`); return out; }
    for (const m of parseStream(r.body)) {
      if (m.sad.t === 'rct') continue;
      const ok = m.attachments.couples.filter((c) => b.controller.wits.includes(c.pre) &&
        K.verifyRawSig(c.pre, K.parseCigar(c.sig)?.raw, m.raw)).map((c) => c.pre);
      out.set(m.sad.d, new Set(ok));
    }
  } else {
    for (const e of b.events) {
      const r = await request(url(w, `receipts?pre=${e.i}&sn=${parseInt(e.s, 16)}`), { timeoutMs });
      if (r.status !== 200) { fail(`${w.prefix}: GET /receipts ${e.d}: ${r.error ?? r.status}`); continue; }
      const v = K.verifyReceipt({ eventRaw: e.raw, receipt: r.body.toString('utf8'), wits: b.controller.wits });
      out.set(e.d, new Set(v.signatures.filter((s) => s.valid).map((s) => s.pre)));
    }
  }
  return out;
}

for (const b of corpus.blocks) {
  summary.events += b.events.length;
  const byWitness = [];
  for (const w of witnesses) byWitness.push(await collect(w, b));
  for (const w of witnesses) {
    for (const e of b.events) {
      const others = byWitness.map((m) => m.get(e.d)).filter((x) => x && x.w !== w);
      if (!others.length) continue;
      const rct = K.makeRct({ pre: e.i, sn: e.s, said: e.d });
      let r;
      if (args.protocol === 'keriox') {
        r = await request(url(w, 'process'), { method: 'POST', body: rct.raw + K.couplesAtc(others.map((x) => x.couple)), timeoutMs });
      } else {
        const atc = K.counter(K.S.CtrDex.WitnessIdxSigs, others.length) + others.map((x) => x.wig).join('');
        r = await request(url(w, ''), { method: 'POST', body: rct.raw, headers: cesrHeaders(w, atc), timeoutMs });
      }
      if (r.status >= 200 && r.status < 300) summary.receipts_posted += others.length;
      else fail(`${w.prefix}: posting receipts of ${e.d}: ${r.error ?? r.status} ${r.body?.toString('utf8').slice(0, 200) ?? ''}`);
    }
  }
  for (const w of witnesses) {
    const got = await readBack(w, b);
    for (const e of b.events) {
      const pres = got.get(e.d) ?? new Set();
      if (b.controller.wits.every((p) => pres.has(p))) summary.fully_witnessed++;
      else fail(`${w.prefix}: ${e.d} has ${pres.size}/${b.controller.wits.length} verified witness signatures`);
    }
  }
}
summary.expected_fully_witnessed = summary.events * witnesses.length;
summary.ok = summary.errors.length === 0 && summary.fully_witnessed === summary.expected_fully_witnessed;
console.log(JSON.stringify(summary));
process.exit(summary.ok ? 0 : 1);
