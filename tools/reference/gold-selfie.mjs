// tools/reference/gold-selfie.mjs — goldens for src/matte.c: the original MediaPipe selfie
// segmentation (human-models selfie.json, TF.js 4.22.0 cpu backend) on d01.jpg and d03.png.
//
// Input: the photo resized to 256x256 exactly as matte_input() does (area averaging when
// shrinking, bilinear half-pixel when enlarging; the devset photos are 512x512, so each value
// is the mean of a 2x2 block), divided by 255, stored f16; the model runs on those f16 values.
// Output `mask`: 256x256x1 sigmoid probability, f32.
//   node tools/reference/gold-selfie.mjs   -> tests/golden/selfie-d01.hsw, selfie-d03.hsw
import path from 'node:path';
import { initTf, loadGraph, runGraph, roundF16, writeGolden, decodeImage, MODELS, REPO, GOLDEN_DIR } from './lib.mjs';

const SIZE = 256;

// One axis of matte__axis() in src/matte.c: [first, weights] per output sample.
function axis(nin, nout) {
  const s = nin / nout;
  const taps = Math.min(s > 1 ? Math.ceil(s) + 1 : 2, nin);
  const out = [];
  for (let i = 0; i < nout; i++) {
    const w = new Float64Array(taps);
    let f;
    if (s > 1) {
      const lo = i * s, hi = (i + 1) * s;
      const j0 = Math.floor(lo), j1 = Math.min(Math.ceil(hi), nin);
      f = Math.min(j0, nin - taps);
      for (let j = j0; j < j1; j++) w[j - f] = (Math.min(hi, j + 1) - Math.max(lo, j)) / s;
    } else {
      const x = Math.min(Math.max((i + 0.5) * s - 0.5, 0), nin - 1);
      f = Math.min(Math.floor(x), nin - taps);
      w[0] = 1 - (x - f);
      if (taps > 1) w[1] = x - f;
    }
    out.push([f, w]);
  }
  return out;
}

// RGB bytes (w x h) -> SIZE x SIZE x 3 floats in [0,1]; horizontal pass, then vertical.
function networkInput({ width: w, height: h, data }) {
  const ax = axis(w, SIZE), ay = axis(h, SIZE);
  const tmp = new Float64Array(h * SIZE * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < SIZE; x++)
      for (let c = 0; c < 3; c++) {
        const [f, wt] = ax[x];
        let s = 0;
        for (let t = 0; t < wt.length; t++) s += wt[t] * (data[(y * w + f + t) * 3 + c] / 255);
        tmp[(y * SIZE + x) * 3 + c] = s;
      }
  const out = new Float32Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++) {
    const [f, wt] = ay[y];
    for (let k = 0; k < SIZE * 3; k++) {
      let s = 0;
      for (let t = 0; t < wt.length; t++) s += wt[t] * tmp[(f + t) * SIZE * 3 + k];
      out[y * SIZE * 3 + k] = s;
    }
  }
  return out;
}

await initTf('cpu');
const model = await loadGraph(path.join(MODELS.human, 'selfie.json'));
const shape = model.inputs[0].shape;
if (shape.join() !== `1,${SIZE},${SIZE},3`) throw new Error(`selfie input is [${shape}], expected [1,${SIZE},${SIZE},3]`);
for (const photo of ['d01.jpg', 'd03.png']) {
  const img = decodeImage(path.join(REPO, 'tests/data', photo));
  const input = roundF16(networkInput(img));
  const [mask] = await runGraph(model, input, [SIZE, SIZE, 3]);
  if (mask.shape.join() !== `1,${SIZE},${SIZE},1`) throw new Error(`selfie output is [${mask.shape}]`);
  let mean = 0, min = 1, max = 0;
  for (const v of mask.data) { mean += v / mask.data.length; min = Math.min(min, v); max = Math.max(max, v); }
  const file = path.join(GOLDEN_DIR, `selfie-${photo.replace(/\..*$/, '')}.hsw`);
  const bytes = writeGolden(file, 'selfie', [
    { name: 'input', data: input, shape: [SIZE, SIZE, 3], dtype: 'f16' },
    { name: 'mask', data: mask.data, shape: [SIZE, SIZE, 1], dtype: 'f32' },
  ]);
  console.log(`${path.relative(REPO, file)}: ${bytes} bytes, ${img.width}x${img.height} -> mask mean ${mean.toFixed(4)} range [${min.toFixed(4)}, ${max.toFixed(4)}]`);
}
