// Reads meson's testlog.json and prints "<passed> <failed>".
'use strict';
const fs = require('fs');
let passed = 0, failed = 0;
for (const line of fs.readFileSync(process.argv[2], 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const t = JSON.parse(line);
  const out = (t.stdout || '').split('\n');
  const ok = out.filter((x) => /^ok /.test(x)).length;
  const notOk = out.filter((x) => /^not ok /.test(x)).length;
  passed += ok;
  failed += notOk;
  if (!['OK', 'SKIP', 'EXPECTEDFAIL'].includes(t.result) && notOk === 0) failed += 1;
  if (t.result === 'OK' && ok === 0 && notOk === 0) passed += 1;
}
console.log(`${passed} ${failed}`);
