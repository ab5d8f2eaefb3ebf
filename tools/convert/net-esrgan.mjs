// tools/convert/net-esrgan.mjs — UpscalerJS ESRGAN-slim x4 (@upscalerjs/esrgan-slim 1.0.0,
// models/x4) -> weights/esrgan_slim_x4.hsw, the layers of src/upscale.c. Also exports
// convertRdn(), shared with net-esrgan-medium.mjs (and usable for the x2/x3/x8 files).
//
// Despite the package name these are RDN networks (Residual Dense Network, idealo ISR;
// package meta: architecture "rdn", C = 1 conv per dense block). Keras layers, in file order:
//   LR                  input h x w x 3, RGB in [0, 255] (UpscalerJS inputRange [0, 255])
//   F_m1, F_0           conv 3x3 3 -> 64, conv 3x3 64 -> 64 (linear)
//   k = 1..D:           dense block (slim D = 2, G = 4; medium D = 10, G = 64)
//     F_k_1 + _Relu     conv 3x3 64 -> G, relu
//     RDB_Concat_k_1    concat(block input, F_k_1)        64 + G
//     LFF_k             conv 1x1 64 + G -> 64 (valid)
//     LRL_k             add(LFF_k, block input)
//   LRLs_Concat         concat(LRL_1 .. LRL_D)            64 D
//   GFF_1, GFF_2        conv 1x1 64 D -> 64, conv 3x3 64 -> 64
//   FDF                 add(GFF_2, F_m1)
//   UPN1, UPN2, UPN3    conv 5x5 64 -> 64 relu, 3x3 64 -> 32 relu, 3x3 32 -> 3 s^2 (linear)
//   UPsample            UpSampling2D nearest, size s
//   SR                  conv 3x3 3 s^2 -> 3 (linear) at the high resolution: RGB ~[0, 255]
// Every conv has a bias, padding 'same' (1x1 'valid' is the same thing), stride 1, dilation 1.
// No Lambda / depth_to_space / MultiplyBeta layers (those belong to the non-RDN UpscalerJS
// models). The converter checks this list layer by layer.
//
// Two exact rewrites (float-identical maths, checked by the goldens):
//   GFF_1 is split by input rows into D convs GFF_1_k (64 -> 64, bias on GFF_1_1 only), so
//     GFF_1(concat(LRL_1..D)) = sum_k GFF_1_k(LRL_k) and the D block outputs need not be kept.
//   UPsample + SR becomes one low-resolution conv 3x3 3 s^2 -> 3 s^2 followed by depth_to_space:
//     output pixel (s i + a, s j + b) reads upsampled pixels (s i + a + dy, s j + b + dx),
//     dy, dx in -1..1, i.e. low-res pixels (i + floor((a + dy) / s), j + floor((b + dx) / s)),
//     so phase (a, b) is a 3x3 conv whose taps are sums of SR taps; the zero padding matches
//     at the borders too. Same MACs, but no 3 s^2-channel tensor at the high resolution.
//
// Storage: every weight i8 per output channel, biases f32.
import path from 'node:path';

export const name = 'esrgan_slim_x4';

export async function convert(lib, modelsDir) {
  return convertRdn(lib, path.join(modelsDir, lib.MODEL_DIRS.esrganSlim, 'x4/model.json'), name);
}

const G0 = 64;   // feature channels of every RDN here

/** Converts one UpscalerJS RDN layers model (any D, G, scale) into a Container NETWORK. */
export function convertRdn(lib, jsonPath, network) {
  const m = lib.loadLayersModel(jsonPath);
  const W = m.weights;
  const D = m.layers.filter((l) => /^LFF_\d+$/.test(l.name)).length;
  const kernel = (n) => {
    const t = W.get(`${n}/kernel`);
    if (!t || !W.get(`${n}/bias`)) throw new Error(`${network}: ${n} has no kernel/bias`);
    return t;
  };
  const G = kernel('F_1_1').shape[3];
  const s = Math.round(Math.sqrt(kernel('UPN3').shape[3] / 3));
  checkLayers(m, D, s, network);

  // [name, k, cin, cout] of every conv as Keras has it; shapes checked against the file.
  const convs = [['F_m1', 3, 3, G0], ['F_0', 3, G0, G0]];
  for (let k = 1; k <= D; k++) convs.push([`F_${k}_1`, 3, G0, G], [`LFF_${k}`, 1, G0 + G, G0]);
  convs.push(['GFF_1', 1, G0 * D, G0], ['GFF_2', 3, G0, G0], ['UPN1', 5, G0, G0], ['UPN2', 3, G0, 32],
    ['UPN3', 3, 32, 3 * s * s], ['SR', 3, 3 * s * s, 3]);
  for (const [n, k, cin, cout] of convs) {
    const sh = kernel(n).shape;
    if (sh.join() !== [k, k, cin, cout].join()) throw new Error(`${network}: ${n} kernel [${sh}], expected [${k},${k},${cin},${cout}]`);
  }

  const c = new lib.Container(network);
  const add = (n, data, k, cin, cout, bias) => c.addLayer(n, lib.hwioToOhwi(data, k, k, cin, cout), [cout, k, k, cin], bias);
  for (const [n, k, cin, cout] of convs) {
    if (n === 'GFF_1' || n === 'SR') continue;
    add(n, kernel(n).data, k, cin, cout, W.get(`${n}/bias`).data);
  }
  // GFF_1 [1,1,64 D,64]: input rows (k-1) 64 .. k 64 - 1 belong to LRL_k.
  const gff = kernel('GFF_1').data;
  for (let k = 1; k <= D; k++)
    add(`GFF_1_${k}`, gff.subarray((k - 1) * G0 * G0, k * G0 * G0), 1, G0, G0, k === 1 ? W.get('GFF_1/bias').data : null);
  // UPsample + SR -> SR [3 s^2 out (phase (a, b) then RGB: depth_to_space order), 3, 3, 3 s^2 in].
  const sr = kernel('SR').data, srb = W.get('SR/bias').data, cin = 3 * s * s, cout = 3 * s * s;
  const f = new Float32Array(9 * cin * cout);       // HWIO
  const fb = new Float32Array(cout);
  for (let a = 0; a < s; a++) for (let b = 0; b < s; b++) {
    for (let ch = 0; ch < 3; ch++) fb[(a * s + b) * 3 + ch] = srb[ch];
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const ky = Math.floor((a + dy) / s) + 1, kx = Math.floor((b + dx) / s) + 1;
      for (let i = 0; i < cin; i++) for (let ch = 0; ch < 3; ch++)
        f[((ky * 3 + kx) * cin + i) * cout + (a * s + b) * 3 + ch] += sr[(((dy + 1) * 3 + dx + 1) * cin + i) * 3 + ch];
    }
  }
  add('SR', f, 3, cin, cout, fb);
  return c;
}

// The exact Keras layer list above: class, inbound layers and the attributes we rely on.
function checkLayers(m, D, s, network) {
  const want = [['InputLayer', 'LR', []], ['Conv2D', 'F_m1', ['LR']], ['Conv2D', 'F_0', ['F_m1']]];
  let prev = 'F_0';
  for (let k = 1; k <= D; k++) {
    want.push(['Conv2D', `F_${k}_1`, [prev]], ['Activation', `F_${k}_1_Relu`, [`F_${k}_1`]],
      ['Concatenate', `RDB_Concat_${k}_1`, [prev, `F_${k}_1_Relu`]], ['Conv2D', `LFF_${k}`, [`RDB_Concat_${k}_1`]],
      ['Add', `LRL_${k}`, [`LFF_${k}`, prev]]);
    prev = `LRL_${k}`;
  }
  want.push(['Concatenate', 'LRLs_Concat', Array.from({ length: D }, (_, k) => `LRL_${k + 1}`)],
    ['Conv2D', 'GFF_1', ['LRLs_Concat']], ['Conv2D', 'GFF_2', ['GFF_1']], ['Add', 'FDF', ['GFF_2', 'F_m1']],
    ['Conv2D', 'UPN1', ['FDF']], ['Activation', 'UPN1_Relu', ['UPN1']], ['Conv2D', 'UPN2', ['UPN1_Relu']],
    ['Activation', 'UPN2_Relu', ['UPN2']], ['Conv2D', 'UPN3', ['UPN2_Relu']], ['UpSampling2D', 'UPsample', ['UPN3']],
    ['Conv2D', 'SR', ['UPsample']]);
  const fail = (l, why) => { throw new Error(`${network}: layer ${l.name} (${l.className}): ${why}`); };
  if (m.layers.length !== want.length) throw new Error(`${network}: ${m.layers.length} layers, expected ${want.length}`);
  if (m.inputs.join() !== 'LR' || m.outputs.join() !== 'SR') throw new Error(`${network}: inputs/outputs ${m.inputs} -> ${m.outputs}`);
  m.layers.forEach((l, i) => {
    const [cls, n, inbound] = want[i];
    if (l.className !== cls || l.name !== n) fail(l, `expected ${cls} ${n}`);
    if (l.inbound.join() !== inbound.join()) fail(l, `inputs ${l.inbound}, expected ${inbound}`);
    const c = l.config;
    if (cls === 'Conv2D') {
      const k = c.kernel_size[0];
      if (c.kernel_size[1] !== k || c.strides.join() !== '1,1' || c.dilation_rate.join() !== '1,1' || !c.use_bias ||
          c.activation !== 'linear' || (c.padding !== 'same' && k !== 1) || (c.groups || 1) !== 1 || c.data_format !== 'channels_last')
        fail(l, 'not a square stride-1 same-padded linear conv with bias');
    }
    if (cls === 'Activation' && c.activation !== 'relu') fail(l, `activation ${c.activation}`);
    if (cls === 'Concatenate' && c.axis !== -1 && c.axis !== 3) fail(l, `axis ${c.axis}`);
    if (cls === 'UpSampling2D' && (c.interpolation !== 'nearest' || c.size.join() !== `${s},${s}`)) fail(l, 'not nearest x scale');
  });
}
