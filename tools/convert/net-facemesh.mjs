// tools/convert/net-facemesh.mjs — MediaPipe FaceMesh (human-models facemesh.json, 192x192,
// input [0,1]) -> weights/facemesh.hsw, the layers of src/landmarks.c.
//
// A BlazeBlock trunk with PReLU (batch norms already folded into the 1x1 convs by the tfjs
// converter: Conv2D_weights + bn_offset), then three heads on the 6x6x128 features: the mesh
// (468 x 3 values), the face flag (one logit, sigmoid) and the lip/eye contours (266 values).
// We convert the mesh and the flag heads; the contours are not used and not stored. The
// layers are found by walking each output back to the input (net-blazeface.mjs walkBack) and
// checked against the tables below, which mirror src/landmarks.c.
//
// Storage: weights i8 per output channel, biases and PReLU slopes f32. Measured with
// tests/test_landmarks.c: max landmark error 0.28-0.39% of the face width on the raw goldens
// and 0.39-0.57% end to end (tolerance 1%); f16 for the 404K-weight mesh output conv would
// bring that to 0.12-0.16% / 0.18-0.42% for 400 KB more, which the pipeline does not need.
import path from 'node:path';
import { walkBack, addLayer, storage } from './net-blazeface.mjs';

export const name = 'facemesh';

// BlazeBlocks of the trunk: cin, cout, stride (residual, PReLU). 192 -> 96 (stem) -> ... -> 6.
export const TRUNK = [
  [16, 16, 1], [16, 16, 1], [16, 32, 2], [32, 32, 1], [32, 32, 1], [32, 64, 2], [64, 64, 1],
  [64, 64, 1], [64, 128, 2], [128, 128, 1], [128, 128, 1], [128, 128, 2], [128, 128, 1], [128, 128, 1],
];
// Heads on the 6x6x128 trunk output: [our name, table entry] in forward order.
const block = (cin, cout, stride) => ['block', cin, cout, stride, true, 'prelu'];
const MESH = [
  ['mesh.b0', block(128, 128, 2)], ['mesh.b1', block(128, 128, 1)], ['mesh.b2', block(128, 128, 1)],
  ['mesh.reduce', ['conv', 1, 1, 128, 32, 1, 'VALID', 'prelu']], ['mesh.b3', block(32, 32, 1)],
  ['mesh.out', ['conv', 3, 3, 32, 1404, 3, 'VALID', 'linear']],
];
const FLAG = [
  ['flag.b0', block(128, 128, 2)], ['flag.reduce', ['conv', 1, 1, 128, 32, 1, 'VALID', 'prelu']],
  ['flag.b1', block(32, 32, 1)], ['flag.out', ['conv', 3, 3, 32, 1, 3, 'VALID', 'sigmoid']],
];

export async function convert(lib, modelsDir, { f16 = false } = {}) {
  const what = name;
  const g = lib.loadGraphModel(path.join(modelsDir, lib.MODEL_DIRS.human, 'facemesh.json'));
  const out = (sig) => g.signature.outputs[sig].name;   // output_mesh -> Identity_2:0, ...
  const mesh = walkBack(g, out('output_mesh'), what);
  const flag = walkBack(g, out('output_faceflag'), what);
  const trunk = TRUNK.length + 1;
  if (mesh.length !== trunk + MESH.length || flag.length !== trunk + FLAG.length) throw new Error(`${what}: unexpected layer counts ${mesh.length}, ${flag.length}`);
  if (mesh[trunk - 1].node !== flag[trunk - 1].node) throw new Error(`${what}: mesh and flag heads do not share the trunk`);
  const c = new lib.Container(name);
  const dt = storage(f16);
  addLayer(lib, c, 'stem', mesh[0], ['conv', 3, 3, 3, 16, 2, 'SAME', 'prelu'], dt, what);
  TRUNK.forEach(([cin, cout, stride], i) => {
    const n = `b${String(i).padStart(2, '0')}`;
    addLayer(lib, c, n, mesh[i + 1], block(cin, cout, stride), dt, what);
  });
  MESH.forEach(([n, want], i) => addLayer(lib, c, n, mesh[trunk + i], want, dt, what));
  FLAG.forEach(([n, want], i) => addLayer(lib, c, n, flag[trunk + i], want, dt, what));
  return c;
}
