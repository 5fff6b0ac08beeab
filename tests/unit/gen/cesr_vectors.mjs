// Prints the qb64 known answers used by tests/unit/test_cesr.c (the
// kd_tv_qb64 rows), computed with signify-ts's Matter (an implementation
// independent of kerid's cesr/). For every fixed-size code kerid's table shares
// with signify-ts, two raw inputs: a byte pattern and all 0xff bytes (which
// sets every bit next to the pad). Each row is also decoded back by signify-ts.
//
// Run (after `npm ci` in the keri-client directory):
//   node tests/unit/gen/cesr_vectors.mjs
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const clientDir = process.env.KERI_CLIENT_DIR ?? '/work/shared/tools/keri-client';
const signify = await import(
  pathToFileURL(path.join(clientDir, 'node_modules/signify-ts/dist/index.js')).href);
const { Matter } = signify;

// kerid's KD_CESR_CODES, in table order.
const CODES = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'M', 'N', 'Q', '0A', '0B', '0C',
               '0D', '0E', '0F', '0G', '0H', '0I', '1AAA', '1AAB', '1AAC', '1AAD', '1AAG', '1AAI',
               '1AAJ'];

const hex = (u8) => Buffer.from(u8).toString('hex');
const rows = [];
CODES.forEach((code, ci) => {
  const sz = Matter.Sizes.get(code);
  if (!sz || sz.fs === undefined || sz.ls !== 0) throw new Error(`signify-ts lacks fixed code ${code}`);
  const rawLen = Math.floor(((sz.fs - sz.hs - sz.ss) * 3) / 4) - sz.ls;
  const inputs = [
    Uint8Array.from({ length: rawLen }, (_, i) => (i * 37 + 11 + ci * 5) & 0xff),
    new Uint8Array(rawLen).fill(0xff),
  ];
  for (const raw of inputs) {
    const qb64 = new Matter({ raw, code }).qb64;
    const back = new Matter({ qb64 });
    if (back.code !== code || hex(back.raw) !== hex(raw)) throw new Error(`round trip ${code}`);
    if (qb64.length !== sz.fs) throw new Error(`size ${code}`);
    rows.push(`    {"${code}", "${hex(raw)}",\n     "${qb64}"},`);
  }
});
process.stdout.write(rows.join('\n') + '\n');
