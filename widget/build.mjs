// Minify src/widget.js into the file the Flask extension serves.
// `node build.mjs --check` rebuilds in memory and fails if the served file is stale;
// `node build.mjs --out FILE` writes the build elsewhere (the Python test compares it).
import { buildSync } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';

const served = new URL('../src/flask_urgentaction/static/widget.js', import.meta.url).pathname;
const at = process.argv.indexOf('--out');
const out = at > 0 && process.argv[at + 1] ? process.argv[at + 1] : served;
const { outputFiles } = buildSync({
  entryPoints: [new URL('src/widget.js', import.meta.url).pathname],
  minify: true,
  target: 'es2017',
  charset: 'utf8',
  legalComments: 'none',
  banner: { js: '/*! flask-urgentaction widget | BSD-3-Clause */' },
  write: false,
});
const code = outputFiles[0].contents;

if (process.argv.includes('--check')) {
  let old = null;
  try { old = readFileSync(out); } catch {}
  if (!old || !old.equals(Buffer.from(code))) {
    console.error('static/widget.js is stale: run `npm run build` in widget/');
    process.exit(1);
  }
  console.log('static/widget.js is up to date');
} else {
  writeFileSync(out, code);
  console.log(`wrote ${out} (${code.length} bytes)`);
}
