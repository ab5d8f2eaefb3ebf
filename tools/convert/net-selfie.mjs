// tools/convert/net-selfie.mjs — MediaPipe selfie segmentation (human-models selfie.json)
// -> weights/selfie.hsw, the layers of src/matte.c.
//
// The graph is a MobileNetV3-style encoder (8 inverted-residual blocks), an LR-ASPP head and
// three decoder stages ending in a 2x2 stride-2 transposed conv. Every conv, depthwise conv
// and transposed conv is followed by an Add of its bias; there are no batch norms left to
// fold. The layers are taken in graph order and named after the block table below, which
// mirrors matte_blocks[] / matte_stages[] in src/matte.c; every shape is checked.
//
// Storage: weights f16, biases f32. The source weights are float16, so this is lossless and
// costs 230 KB. i8 ({ i8: true }, 139 KB) passes the golden test too (mask mean abs diff 0.002
// and 0.004 vs 0.00004 with f16) but moves the 0.5 contour on 0.26-0.29% of the mask pixels,
// i.e. the hair and shoulder outline, which is what matting is about; 91 KB buys that back.
import path from 'node:path';

export const name = 'selfie';

// Encoder blocks: cin, expanded channels, cout, depthwise kernel, squeeze-excite channels.
const BLOCKS = [
  [16, 16, 16, 3, 8], [16, 72, 24, 3, 0], [24, 88, 24, 3, 0], [24, 96, 32, 5, 24],
  [32, 128, 32, 5, 32], [32, 128, 32, 5, 32], [32, 96, 32, 5, 24], [32, 96, 32, 5, 24],
];
// Decoder stages: channels coming up from below, channels of the stage (= its skip).
const STAGES = [[128, 24], [24, 16], [16, 16]];

// Our layer list in graph order: [name, kind, kh, kw, cin, cout].
function layerList() {
  const L = [['stem', 'conv', 3, 3, 3, 16]];
  BLOCKS.forEach(([cin, exp, cout, k, se], i) => {
    L.push([`b${i}.expand`, 'conv', 1, 1, cin, exp], [`b${i}.dw`, 'dw', k, k, exp, exp]);
    if (se) L.push([`b${i}.se1`, 'conv', 1, 1, exp, se], [`b${i}.se2`, 'conv', 1, 1, se, exp]);
    L.push([`b${i}.project`, 'conv', 1, 1, exp, cout]);
  });
  L.push(['head.conv', 'conv', 1, 1, 32, 128], ['head.gate', 'conv', 1, 1, 32, 128]);
  STAGES.forEach(([cup, c], i) => {
    L.push([`d${i}.up`, 'conv', 1, 1, cup, c], [`d${i}.se1`, 'conv', 1, 1, c, c], [`d${i}.se2`, 'conv', 1, 1, c, c],
      [`d${i}.conv`, 'conv', 1, 1, c, c], [`d${i}.dw`, 'dw', 3, 3, c, c]);
  });
  L.push(['out', 'deconv', 2, 2, 16, 1]);
  return L;
}

const KIND = { Conv2D: 'conv', DepthwiseConv2dNative: 'dw', Conv2DBackpropInput: 'deconv' };
const bare = (s) => s.replace(/^\^/, '').replace(/:\d+$/, '');

export async function convert(lib, modelsDir, { i8 = false } = {}) {
  const g = lib.loadGraphModel(path.join(modelsDir, lib.MODEL_DIRS.human, 'selfie.json'));
  const input = g.nodes.find((n) => n.op === 'Placeholder');
  if (!input || String(input.attr.shape) !== '1,256,256,3') throw new Error(`selfie: input shape [${input && input.attr.shape}], matte.c wants [1,256,256,3]`);
  const consumers = new Map();
  for (const n of g.nodes) for (const i of n.inputs) {
    const k = bare(i);
    if (!consumers.has(k)) consumers.set(k, []);
    consumers.get(k).push(n);
  }
  const only = (n) => {
    const c = consumers.get(n.name) || [];
    if (c.length !== 1) throw new Error(`selfie: ${n.name} has ${c.length} consumers, expected 1`);
    return c[0];
  };
  // The bias is the constant operand of the Add after the conv. Grappler rewrote one
  // residual (b2) as AddN(conv, skip) followed by AddV2(bias, .): the bias is then there,
  // which is the same sum in another order.
  const biasOf = (n) => {
    let a = only(n);
    if (a.op === 'AddN') a = only(a);
    const k = a.inputs.map(bare).find((i) => g.weights.has(i));
    if (!/^Add(V2)?$/.test(a.op) || !k) throw new Error(`selfie: no bias Add after ${n.name}`);
    return g.weights.get(k).data;
  };

  const convs = g.nodes.filter((n) => KIND[n.op]);
  const want = layerList();
  if (convs.length !== want.length) throw new Error(`selfie: ${convs.length} conv nodes, expected ${want.length}`);
  const c = new lib.Container(name);
  const dtype = i8 ? 'i8' : 'f16';
  convs.forEach((n, i) => {
    const [lname, kind, kh, kw, cin, cout] = want[i];
    const f = g.weights.get(bare(n.inputs[1]));   // Conv2DBackpropInput: (sizes, filter, x)
    if (KIND[n.op] !== kind) throw new Error(`selfie: ${n.name} is ${n.op}, expected ${kind} for ${lname}`);
    const b = biasOf(n);
    if (kind === 'conv') {
      check(f.shape, [kh, kw, cin, cout], n.name, lname);
      c.addLayer(lname, lib.hwioToOhwi(f.data, kh, kw, cin, cout), [cout, kh, kw, cin], b, dtype);
    } else if (kind === 'dw') {
      check(f.shape, [kh, kw, cin, 1], n.name, lname);
      c.addLayer(lname, lib.depthwiseToC(f.data, kh, kw, cin), [cin, kh, kw, 1], b, dtype);
    } else {
      check(f.shape, [kh, kw, cout, cin], n.name, lname);
      if (n.attr.padding !== 'SAME' || n.attr.strides[1] !== 2) throw new Error(`selfie: ${n.name} is not a SAME stride-2 deconv`);
      c.addLayer(lname, lib.deconvToOhwi(f.data, kh, kw, cout, cin), [cout, kh, kw, cin], b, dtype);
    }
  });
  return c;
}

function check(got, want, node, lname) {
  if (got.join() !== want.join()) throw new Error(`selfie: ${node} -> ${lname}: shape [${got}], expected [${want}]`);
}
