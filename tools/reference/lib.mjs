// tools/reference/lib.mjs — run the original TF.js models from disk and write golden files.
//
// Development tool only. The gold-*.mjs scripts next to this file (one per network) use it to
// produce tests/golden/*.hsw: the original model, run by TF.js 4.22.0 on a fixed input, is the
// oracle our C networks are tested against. Run them all with tools/reference/run-all.sh.
//
// Golden file convention (the .hsw container of docs/WEIGHTS.md, tensors in this order):
//   input            the exact network input, HWC ([h, w, c]). If it is stored as f16, the model
//                    must have been RUN on the f16-rounded values (roundF16), so that the file
//                    is self-consistent; writeGolden refuses an f16 input that is not exact.
//   out0, out1, ...  outputs in the model's output order (or meaningful names), shapes as
//                    the model returns them (batch dim included), usually f32.
//
// Exports
//   tf, tfconv, tfl, REPO, MODELS, GOLDEN_DIR
//   initTf(backend)                    'cpu' | 'wasm' -> { backend, tfjs }
//   loadGraph(jsonPath), loadLayers(jsonPath)          from disk, no network
//   runGraph(model, input, [h,w,c], outputNames?)      -> [{ name, shape, data }]
//   runLayers(model, input, [h,w,c])                   -> [{ name, shape, data }]
//   roundF16(data) -> Float32Array, writeGolden(path, network, tensors), readGolden(path)
//   decodeImage(file) -> { width, height, data: Uint8Array RGB }
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { Container, readContainer, f32ToF16, f16ToF32, MODEL_DIRS } from '../convert/lib.mjs';

const require = createRequire(import.meta.url);
export const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfwasm = require('@tensorflow/tfjs-backend-wasm');
export const tfconv = require('@tensorflow/tfjs-converter');
export const tfl = require('@tensorflow/tfjs-layers');

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '../..');
export const GOLDEN_DIR = path.join(REPO, 'tests/golden');
const MODELS_ROOT = process.env.HEADSHOT_MODELS || path.join(REPO, 'tools/models');
/** Absolute model folders: MODELS.human, .faceapi, .esrganSlim, .esrganMedium. */
export const MODELS = Object.fromEntries(Object.entries(MODEL_DIRS).map(([k, v]) => [k, path.join(MODELS_ROOT, v)]));

// ========================================================================== backend ===

/** Starts a TF.js backend: 'cpu' (pure JS, the slow but simple oracle) or 'wasm' (XNNPACK,
 * single thread in Node). Call once, before loading models. */
export async function initTf(backend = 'cpu') {
  if (backend !== 'cpu' && backend !== 'wasm') throw new Error(`initTf: unknown backend ${backend}`);
  if (backend === 'wasm') tfwasm.setWasmPaths(path.join(HERE, 'node_modules/@tensorflow/tfjs-backend-wasm/dist') + path.sep);
  if (!(await tf.setBackend(backend))) throw new Error(`initTf: backend ${backend} failed to start`);
  await tf.ready();
  return { backend: tf.getBackend(), tfjs: tf.version_core };
}

// =========================================================================== models ===

// model.json + its shards as tfjs ModelArtifacts, read from disk (no fetch, no file:// URLs).
function readArtifacts(jsonPath) {
  const dir = path.dirname(jsonPath);
  const j = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  const weightSpecs = [];
  const bufs = [];
  for (const group of j.weightsManifest || []) {
    for (const p of group.paths) bufs.push(fs.readFileSync(path.join(dir, p)));
    weightSpecs.push(...group.weights);
  }
  const all = Buffer.concat(bufs);
  return {
    modelTopology: j.modelTopology,
    format: j.format,
    generatedBy: j.generatedBy,
    convertedBy: j.convertedBy,
    signature: j.signature,
    userDefinedMetadata: j.userDefinedMetadata,
    modelInitializer: j.modelInitializer,
    weightSpecs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
  };
}

const diskHandler = (jsonPath) => ({ load: async () => readArtifacts(jsonPath) });
export const loadGraph = (jsonPath) => tfconv.loadGraphModel(diskHandler(jsonPath));
export const loadLayers = (jsonPath) => tfl.loadLayersModel(diskHandler(jsonPath));

async function collect(outs, names) {
  const list = Array.isArray(outs) ? outs : [outs];
  const res = [];
  for (let i = 0; i < list.length; i++) {
    res.push({ name: names[i], shape: list[i].shape.slice(), data: Float32Array.from(await list[i].data()) });
    list[i].dispose();
  }
  return res;
}

function inputTensor(input, hwc) {
  if (hwc.length !== 3 || input.length !== hwc[0] * hwc[1] * hwc[2])
    throw new Error(`input has ${input.length} values, shape [${hwc}]`);
  return tf.tensor4d(Float32Array.from(input), [1, ...hwc], 'float32');
}

/** Runs a graph model on one HWC input (batch 1). outputNames: tensor names such as
 * 'Identity_2:0' (default: the model's outputs, in its order). Returns [{ name, shape, data }]. */
export async function runGraph(model, input, hwc, outputNames) {
  const names = outputNames || model.outputNodes;
  const x = inputTensor(input, hwc);
  try {
    let outs;
    try {
      outs = model.execute(x, names);
    } catch (e) {   // graphs with control flow or dynamic shapes only run asynchronously
      if (!/executeAsync/.test(e.message)) throw e;
      outs = await model.executeAsync(x, names);
    }
    return await collect(outs, names);
  } finally {
    x.dispose();
  }
}

/** Runs a Keras layers model on one HWC input (batch 1); outputs named after the model's. */
export async function runLayers(model, input, hwc) {
  const x = inputTensor(input, hwc);
  try {
    return await collect(model.predict(x), model.outputNames);
  } finally {
    x.dispose();
  }
}

// =========================================================================== goldens ===

/** Values rounded to IEEE half (what an f16 golden input stores). */
export function roundF16(data) {
  return Float32Array.from(data, (v, i) => f16ToF32(f32ToF16(v, `value ${i}`)));
}

/** Writes a golden file: tensors [{ name, data, shape, dtype = 'f32' | 'f16' }] into a .hsw
 * container for NETWORK. Creates the folder. Returns the byte size. */
export function writeGolden(file, network, tensors) {
  const c = new Container(network);
  for (const t of tensors) {
    const dtype = t.dtype || 'f32';
    if (dtype !== 'f32' && dtype !== 'f16') throw new Error(`golden ${t.name}: dtype ${dtype} (f32 or f16 only)`);
    if (dtype === 'f16') {
      const r = roundF16(t.data);
      for (let i = 0; i < r.length; i++)
        if (r[i] !== Math.fround(t.data[i]))
          throw new Error(`golden ${t.name}: stored as f16 but value ${i} (${t.data[i]}) is not f16-exact; run the model on roundF16(input)`);
    }
    c.add(t.name, t.data, t.shape, dtype);
  }
  const bytes = c.bytes();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  return bytes.length;
}

/** Reads a golden (or any .hsw) file back: { network, tensors: [{ name, dtype, shape, data }] }. */
export function readGolden(file) {
  return readContainer(fs.readFileSync(file));
}

// ============================================================================ images ===

/** Decodes a JPEG or PNG (no EXIF handling) -> { width, height, data: Uint8Array RGB }. */
export function decodeImage(file) {
  const buf = fs.readFileSync(file);
  let rgba, width, height;
  if (buf[0] === 0x89 && buf[1] === 0x50) {
    const png = require('pngjs').PNG.sync.read(buf);
    ({ width, height } = png);
    rgba = png.data;
  } else {
    const img = require('jpeg-js').decode(buf, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
    ({ width, height } = img);
    rgba = img.data;
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    rgb[3 * i] = rgba[4 * i];
    rgb[3 * i + 1] = rgba[4 * i + 1];
    rgb[3 * i + 2] = rgba[4 * i + 2];
  }
  return { width, height, data: rgb };
}
