// tools/convert/net-face_recognition.mjs — face-api FaceRecognitionNet (face-api 1.7.15
// face_recognition_model, a dlib-style ResNet-34: 150x150x3 -> 128-d descriptor)
// -> weights/face_recognition.hsw, the layers of src/identity.c.
//
// The model ships as a bare weights manifest (no topology): face-api's code is the graph.
// Every conv is conv + bias followed by a "scale" layer (per-channel mul + add, a frozen batch
// norm); both are folded here: w' = w * s, b' = b * s + t per output channel. The residual
// blocks are listed in BLOCKS, which mirrors id__blocks[] in src/identity.c; the final fully
// connected layer (256 -> 128, no bias) is stored as a 1x1 conv. Tensor names keep face-api's
// (conv64_down/conv1 -> conv64_down.conv1) so a layer can be traced back to the original.
//
// Storage: every weight i8 per output channel (the source is uint8-quantised per tensor, or
// float32 for the conv64 blocks), biases f32: 5.5 MB. Measured with tests/test_identity.c on
// the 4 goldens: descriptor cosine 0.99987-0.99992 against TF.js (tolerance 0.99), euclidean
// distance 0.018-0.021 (the same-person threshold is 0.6), so no layer needs f16.
import path from 'node:path';

export const name = 'face_recognition';

// Residual blocks after the 7x7 stem: face-api name, cin, cout, 1 = residualDown (stride 2).
export const BLOCKS = [
  ['conv32_1', 32, 32, 0], ['conv32_2', 32, 32, 0], ['conv32_3', 32, 32, 0],
  ['conv64_down', 32, 64, 1], ['conv64_1', 64, 64, 0], ['conv64_2', 64, 64, 0], ['conv64_3', 64, 64, 0],
  ['conv128_down', 64, 128, 1], ['conv128_1', 128, 128, 0], ['conv128_2', 128, 128, 0],
  ['conv256_down', 128, 256, 1], ['conv256_1', 256, 256, 0], ['conv256_2', 256, 256, 0],
  ['conv256_down_out', 256, 256, 1],
];

export async function convert(lib, modelsDir) {
  const file = path.join(modelsDir, lib.MODEL_DIRS.faceapi, 'face_recognition_model-weights_manifest.json');
  const w = lib.loadWeightsManifest(file);
  const used = new Set();
  const get = (key, shape) => {
    const t = w.get(key);
    if (!t) throw new Error(`${name}: weight ${key} is missing`);
    if (t.shape.join() !== shape.join()) throw new Error(`${name}: ${key} has shape [${t.shape}], expected [${shape}]`);
    used.add(key);
    return t.data;
  };
  const c = new lib.Container(name);
  // face-api convLayer: conv(filters) + bias, then scale: * weights + biases. Folded.
  const conv = (src, dst, k, cin, cout) => {
    const f = lib.hwioToOhwi(get(`${src}/conv/filters`, [k, k, cin, cout]), k, k, cin, cout);
    const bias = get(`${src}/conv/bias`, [cout]);
    const s = get(`${src}/scale/weights`, [cout]), t = get(`${src}/scale/biases`, [cout]);
    const n = k * k * cin;
    const b = new Float32Array(cout);
    for (let o = 0; o < cout; o++) {
      for (let i = 0; i < n; i++) f[o * n + i] *= s[o];
      b[o] = bias[o] * s[o] + t[o];
    }
    c.addLayer(dst, f, [cout, k, k, cin], b);
  };
  conv('conv32_down', 'conv32_down', 7, 3, 32);
  for (const [blk, cin, cout] of BLOCKS) {
    conv(`${blk}/conv1`, `${blk}.conv1`, 3, cin, cout);
    conv(`${blk}/conv2`, `${blk}.conv2`, 3, cout, cout);
  }
  c.addLayer('fc', lib.denseToOhwi(get('fc', [256, 128]), 256, 128), [128, 1, 1, 256], null);
  const unused = [...w.keys()].filter((k) => !used.has(k));
  if (unused.length) throw new Error(`${name}: weights not used: ${unused.join(', ')}`);
  return c;
}
