// tools/convert/net-blazeface_back.mjs — BlazeFace back camera (human-models blazeface-back.json,
// 256x256, for small and far faces) -> weights/blazeface_back.hsw, the layers of src/detect.c.
// Same family and storage as net-blazeface.mjs (which holds the shared graph walk).
import path from 'node:path';
import { convertBlazeFace } from './net-blazeface.mjs';

export const name = 'blazeface_back';

// BlazeBlocks: cin, cout, stride, residual (ReLU everywhere). The last one has no shortcut.
const rep = (n, b) => Array.from({ length: n }, () => b);
export const BACK_BLOCKS = [
  ...rep(7, [24, 24, 1]), [24, 24, 2], ...rep(7, [24, 24, 1]),      // -> 64x64x24
  [24, 48, 2], ...rep(7, [48, 48, 1]),                              // -> 32x32x48
  [48, 96, 2], ...rep(7, [96, 96, 1]),                              // -> 16x16x96: head 1
  [96, 96, 2, false],                                               // -> 8x8x96: head 2
];

export async function convert(lib, modelsDir, opt) {
  const file = path.join(modelsDir, lib.MODEL_DIRS.human, 'blazeface-back.json');
  return convertBlazeFace(lib, file, name, BACK_BLOCKS, 31, [2, 6], opt);
}
