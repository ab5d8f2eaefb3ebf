// tools/convert/net-esrgan-medium.mjs — UpscalerJS ESRGAN-medium x4 (@upscalerjs/esrgan-medium
// 1.0.0, models/x4; RDN with D = 10 blocks, G = 64) -> weights/esrgan_medium_x4.hsw. The layer
// list, the two rewrites and the storage are those of net-esrgan.mjs.
import path from 'node:path';
import { convertRdn } from './net-esrgan.mjs';

export const name = 'esrgan_medium_x4';

export async function convert(lib, modelsDir) {
  return convertRdn(lib, path.join(modelsDir, lib.MODEL_DIRS.esrganMedium, 'x4/model.json'), name);
}
