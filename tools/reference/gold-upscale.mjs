// tools/reference/gold-upscale.mjs — goldens for src/upscale.c: the original UpscalerJS
// ESRGAN-slim x4 and ESRGAN-medium x4 Keras models (TF.js 4.22.0 layers, cpu backend) on a
// 64x64 face crop of d01.jpg and of d03.png.
//
// Input `input`: the crop's RGB bytes as floats in [0, 255] (the models' inputRange; integers,
// so f16 storage is exact), 64x64x3. Output `output`: the raw model output (no clipping),
// 256x256x3, rounded to f16 (a step of at most 0.125 at 255, far below the test's need).
//   node tools/reference/gold-upscale.mjs
//     -> tests/golden/esrgan_slim_x4-d01.hsw, -d03, esrgan_medium_x4-d01.hsw, -d03
import path from 'node:path';
import { initTf, loadLayers, runLayers, roundF16, writeGolden, decodeImage, MODELS, REPO, GOLDEN_DIR } from './lib.mjs';

const SIZE = 64;
const NETS = [['esrgan_slim_x4', MODELS.esrganSlim], ['esrgan_medium_x4', MODELS.esrganMedium]];
// Top-left corners of the crops: between the eyes and the nose (glasses, wrinkles; d01) and
// eyes to mouth (d03): the detail an upscaler must not smear.
const CROPS = [['d01.jpg', 230, 175], ['d03.png', 192, 88]];

await initTf('cpu');
for (const [network, dir] of NETS) {
  const model = await loadLayers(path.join(dir, 'x4/model.json'));
  for (const [photo, x0, y0] of CROPS) {
    const img = decodeImage(path.join(REPO, 'tests/data', photo));
    const input = new Float32Array(SIZE * SIZE * 3);
    for (let y = 0; y < SIZE; y++)
      for (let i = 0; i < SIZE * 3; i++) input[y * SIZE * 3 + i] = img.data[((y0 + y) * img.width + x0) * 3 + i];
    const [out] = await runLayers(model, input, [SIZE, SIZE, 3]);
    if (out.shape.join() !== `1,${4 * SIZE},${4 * SIZE},3`) throw new Error(`${network} output is [${out.shape}]`);
    let min = Infinity, max = -Infinity;
    for (const v of out.data) { min = Math.min(min, v); max = Math.max(max, v); }
    const file = path.join(GOLDEN_DIR, `${network}-${photo.replace(/\..*$/, '')}.hsw`);
    const bytes = writeGolden(file, network, [
      { name: 'input', data: input, shape: [SIZE, SIZE, 3], dtype: 'f16' },
      { name: 'output', data: roundF16(out.data), shape: [4 * SIZE, 4 * SIZE, 3], dtype: 'f16' },
    ]);
    console.log(`${path.relative(REPO, file)}: ${bytes} bytes, crop ${x0},${y0} ${SIZE}x${SIZE} -> output range [${min.toFixed(2)}, ${max.toFixed(2)}]`);
  }
}
