// tools/convert/convert.mjs — step 2 of 3 of docs/MODELS.md: TF.js models -> weights/*.hsw.
//
//   node tools/convert/convert.mjs [--models tools/models] [--out weights] [--top N] [NAME...]
//
// Imports every tools/convert/net-*.mjs (in file-name order), writes weights/<name>.hsw for
// each (or only the NAMEs given), re-reads every file with readContainer() as a check, then
// prints each network's quantisation report (worst relative RMS error first; --top N keeps
// the N worst lines per network) and a size table.
//
// Contract of a network module tools/convert/net-<something>.mjs:
//   export const name = 'blazeface';            // file weights/<name>.hsw, <= 16 characters
//   export async function convert(lib, modelsDir) { ... return container; }
//     lib:       this directory's lib.mjs (loadGraphModel, layout helpers, Container, ...)
//     modelsDir: the unpacked packages (tools/fetch-models.sh); model folders are
//                path.join(modelsDir, lib.MODEL_DIRS.human), ... .faceapi, .esrganSlim, ...
//     returns    a lib.Container whose network name equals `name`.
//   It must be deterministic (no dates, random numbers or Map-order surprises): running the
//   converter twice gives byte-identical files.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as lib from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');

function parseArgs(argv) {
  const o = { models: path.join(REPO, 'tools/models'), out: path.join(REPO, 'weights'), top: Infinity, only: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--models') o.models = path.resolve(val());
    else if (a === '--out') o.out = path.resolve(val());
    else if (a === '--top') o.top = Number(val());
    else if (a === '-h' || a === '--help') o.help = true;
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else o.only.push(a);
  }
  return o;
}

const fmtE = (x) => x.toExponential(2).padStart(9);
const kb = (n) => (n / 1024).toFixed(1).padStart(9);

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  if (opt.help) {
    console.log('usage: node tools/convert/convert.mjs [--models DIR] [--out DIR] [--top N] [NAME...]');
    return 0;
  }
  if (!fs.existsSync(opt.models)) throw new Error(`${opt.models} does not exist: run tools/fetch-models.sh first`);
  const files = fs.readdirSync(HERE).filter((f) => /^net-.*\.mjs$/.test(f)).sort();
  if (!files.length) throw new Error(`no network modules (net-*.mjs) in ${HERE}`);
  fs.mkdirSync(opt.out, { recursive: true });
  const done = [];
  const seen = new Set();
  for (const f of files) {
    const mod = await import(pathToFileURL(path.join(HERE, f)).href);
    if (typeof mod.name !== 'string' || typeof mod.convert !== 'function')
      throw new Error(`${f}: must export name (string) and async convert(lib, modelsDir)`);
    if (seen.has(mod.name)) throw new Error(`${f}: network name ${mod.name} used twice`);
    seen.add(mod.name);
    if (opt.only.length && !opt.only.includes(mod.name)) continue;
    const c = await mod.convert(lib, opt.models);
    if (!(c instanceof lib.Container)) throw new Error(`${f}: convert() did not return a Container`);
    if (c.network !== mod.name) throw new Error(`${f}: container network '${c.network}' != name '${mod.name}'`);
    const bytes = c.bytes();
    const back = lib.readContainer(bytes);   // the same checks as nn_model_parse
    if (back.tensors.length !== c.report().length) throw new Error(`${f}: tensor count changed on re-read`);
    const file = path.join(opt.out, `${mod.name}.hsw`);
    fs.writeFileSync(file, bytes);
    done.push({ name: mod.name, file, bytes, report: c.report() });
  }
  for (const n of opt.only) if (!seen.has(n)) throw new Error(`no network module exports name '${n}'`);

  for (const d of done) {
    console.log(`\n== ${d.name}: quantisation error per tensor, worst first (relRms = rms(err) / rms(w))`);
    console.log(`   relRms    maxAbs dtype shape                name`);
    const rows = d.report.slice().sort((a, b) => b.relRmsErr - a.relRmsErr || b.maxAbsErr - a.maxAbsErr || (a.name < b.name ? -1 : 1));
    for (const r of rows.slice(0, opt.top))
      console.log(`${fmtE(r.relRmsErr)} ${fmtE(r.maxAbsErr)} ${r.dtype.padEnd(5)} ${`[${r.shape.join(',')}]`.padEnd(20)} ${r.name}`);
    if (rows.length > opt.top) console.log(`   ... ${rows.length - opt.top} more`);
  }
  console.log('\nnetwork          tensors       KiB   i8 KiB  f16 KiB  f32 KiB  sha256');
  let total = 0;
  for (const d of done) {
    const by = { i8: 0, f16: 0, f32: 0 };
    const size = { i8: 1, f16: 2, f32: 4 };
    for (const r of d.report) by[r.dtype] += r.shape.reduce((a, b) => a * b, 1) * size[r.dtype];
    total += d.bytes.length;
    const sha = crypto.createHash('sha256').update(d.bytes).digest('hex');
    console.log(`${d.name.padEnd(16)} ${String(d.report.length).padStart(7)} ${kb(d.bytes.length)}${kb(by.i8)}${kb(by.f16)}${kb(by.f32)}  ${sha.slice(0, 16)}  ${path.relative(process.cwd(), d.file)}`);
  }
  console.log(`${'total'.padEnd(16)} ${''.padStart(7)} ${kb(total)}`);
  return 0;
}

main().then((rc) => process.exit(rc), (e) => {
  console.error(`convert: ${e.message}`);
  process.exit(1);
});
