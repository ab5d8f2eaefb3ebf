// tools/reference/gold-identity.mjs — goldens of face-api's FaceRecognitionNet (the identity
// descriptor of src/identity.c).
//
//   node tools/reference/gold-identity.mjs [--show]
//
// For each photo: the face pipeline's JS twin (gold-face.mjs: BlazeFace, FaceMesh, re-crops)
// gives 468 landmarks; they become face-api's 68 points (MESH_TO_68), face-api's descriptor
// box (landmarks.align(null, { useDlibAlignment: true }) then clipAtImageBorders) and its
// 150x150 crop, made with the same TF.js ops face-api uses (slice, padToSquare centred,
// resizeBilinear without align_corners or half-pixel centres). The ORIGINAL network, run by
// TF.js (cpu backend) op for op as face-api's faceRecognitionNet/*.ts with the manifest's own
// (uint8-dequantised) weights, gives the descriptor. Writes tests/golden/identity-dNN.hsw:
//   input       [150,150,3]  the crop, 0..255 (before face-api's mean subtraction and /255), f32
//   pts68       [68,2]       the 68 points, image pixels
//   box         [4]          the descriptor box x, y, width, height (integers)
//   image       [2]          width and height of the (upright) photo
//   descriptor  [128]
// Photos: d01 and d03 (tests/data), and d02, the devset's 128x128 copy of d01 stored sideways
// with EXIF orientation 6 (read from tests/data if present, else /work/shared/devset or
// $HEADSHOT_DEVSET), turned upright here: the same person as d01, another person than d03.
// d03-cut is d03's top-left CUT_W x CUT_H pixels with d03's points: the box is clipped at the
// right and bottom borders, so it is not square and padToSquare pads it (by an odd amount).
// d03 is a PNG, so its crops are exact in C too (JPEG decoders differ by a few grey levels).
// --show prints boxes, descriptors' first values and the pairwise distances, writes nothing.
import fs from 'node:fs';
import path from 'node:path';
import { tf, initTf, writeGolden, decodeImage, MODELS, REPO, GOLDEN_DIR } from './lib.mjs';
import { Pipeline } from './gold-face.mjs';

const DEVSET = process.env.HEADSHOT_DEVSET || '/work/shared/devset';
const SIZE = 150;
const MEAN_RGB = [122.782, 117.001, 104.298];

// FaceMesh index of each iBUG/dlib 68 point (the usual MediaPipe -> dlib correspondence); the
// same table as id__mesh_to_68 in src/identity.c.
export const MESH_TO_68 = [162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389, 71, 63,
  105, 66, 107, 336, 296, 334, 293, 301, 168, 197, 5, 4, 75, 97, 2, 326, 305, 33, 160, 158, 133, 153, 144, 362, 385, 387,
  263, 373, 380, 61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181, 78, 82, 13, 312, 308, 317, 14, 87];

// ===================================================================== alignment ===

/** face-api FaceLandmarks.alignDlib() then Box.clipAtImageBorders(): a square from the
 * centres of the eyes (points 36-41, 42-47) and the mouth (48-67), side = mean eye-to-mouth
 * distance / 0.45, no rotation. Returns { x, y, width, height } (integers). */
export function alignDlib(p68, w, h) {
  const centre = (a, b) => {
    let x = 0, y = 0;
    for (let i = a; i < b; i++) { x += p68[i][0]; y += p68[i][1]; }
    return [x / (b - a), y / (b - a)];
  };
  const le = centre(36, 42), re = centre(42, 48), mo = centre(48, 68);
  const dist = (p) => Math.hypot(mo[0] - p[0], mo[1] - p[1]);
  const size = Math.floor((dist(le) + dist(re)) / 2 / 0.45);
  const cx = (le[0] + re[0] + mo[0]) / 3, cy = (le[1] + re[1] + mo[1]) / 3;
  const x0 = Math.floor(Math.max(0, cx - 0.5 * size)), y0 = Math.floor(Math.max(0, cy - 0.43 * size));
  const right = x0 + Math.min(size, w + x0), bottom = y0 + Math.min(size, h + y0);
  const x = Math.max(x0, 0), y = Math.max(y0, 0);
  return { x: Math.floor(x), y: Math.floor(y), width: Math.floor(Math.min(right - x, w - x)), height: Math.floor(Math.min(bottom - y, h - y)) };
}

/** face-api extractFaceTensors + NetInput.toBatchTensor(150, isCenterInputs = true). */
function faceTensor(img, box) {
  return tf.tidy(() => {
    const full = tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
    let t = tf.expandDims(tf.cast(tf.slice3d(full, [box.y, box.x, 0], [box.height, box.width, 3]), 'float32'), 0);
    if (box.height !== box.width) {   // padToSquare(isCenterImage): round(diff / 2) after, the rest before
      const diff = Math.abs(box.height - box.width), after = Math.round(diff * 0.5), axis = box.height > box.width ? 2 : 1;
      const zeros = (n) => { const s = t.shape.slice(); s[axis] = n; return tf.zeros(s); };
      t = tf.concat([...(diff - after > 0 ? [zeros(diff - after)] : []), t, zeros(after)], axis);
    }
    return tf.image.resizeBilinear(t, [SIZE, SIZE], false, false);
  });
}

// ======================================================================= network ===

/** face-api FaceRecognitionNet (faceRecognitionNet/{convLayer,residualLayer}.ts and
 * FaceRecognitionNet.forwardInput), on a [1,150,150,3] tensor of 0..255 values. */
function recognitionNet() {
  const file = path.join(MODELS.faceapi, 'face_recognition_model-weights_manifest.json');
  const w = {};
  for (const g of JSON.parse(fs.readFileSync(file, 'utf8'))) {
    const buf = Buffer.concat(g.paths.map((p) => fs.readFileSync(path.join(path.dirname(file), p))));
    Object.assign(w, tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length), g.weights));
  }
  const convLayer = (x, p, stride, relu, padding = 'same') => {
    let y = tf.add(tf.conv2d(x, w[`${p}/conv/filters`], stride, padding), w[`${p}/conv/bias`]);
    y = tf.add(tf.mul(y, w[`${p}/scale/weights`]), w[`${p}/scale/biases`]);
    return relu ? tf.relu(y) : y;
  };
  const residual = (x, p) => tf.relu(tf.add(convLayer(convLayer(x, `${p}/conv1`, 1, true), `${p}/conv2`, 1, false), x));
  const residualDown = (x, p) => {
    let out = convLayer(convLayer(x, `${p}/conv1`, 2, true, 'valid'), `${p}/conv2`, 1, false);
    let pooled = tf.avgPool(x, 2, 2, 'valid');
    if (pooled.shape[1] !== out.shape[1] || pooled.shape[2] !== out.shape[2]) {   // one zero row and column
      out = tf.concat([out, tf.zeros([1, 1, out.shape[2], out.shape[3]])], 1);
      out = tf.concat([out, tf.zeros([1, out.shape[1], 1, out.shape[3]])], 2);
    }
    if (pooled.shape[3] !== out.shape[3]) pooled = tf.concat([pooled, tf.zeros(pooled.shape)], 3);
    return tf.relu(tf.add(pooled, out));
  };
  return (x) => tf.tidy(() => {
    let y = tf.div(tf.sub(x, tf.tensor1d(MEAN_RGB)), 255);
    y = tf.maxPool(convLayer(y, 'conv32_down', 2, true, 'valid'), 3, 2, 'valid');
    for (const p of ['conv32_1', 'conv32_2', 'conv32_3']) y = residual(y, p);
    y = residualDown(y, 'conv64_down');
    for (const p of ['conv64_1', 'conv64_2', 'conv64_3']) y = residual(y, p);
    y = residualDown(y, 'conv128_down');
    for (const p of ['conv128_1', 'conv128_2']) y = residual(y, p);
    y = residualDown(y, 'conv256_down');
    for (const p of ['conv256_1', 'conv256_2']) y = residual(y, p);
    y = residualDown(y, 'conv256_down_out');
    return tf.matMul(tf.mean(y, [1, 2]), w.fc);
  });
}

// ========================================================================== main ===

/** EXIF orientation 6 (rotate 90 degrees clockwise) applied to an RGB image. */
function rotateCw(img) {
  const { width: W, height: H, data } = img;
  const out = new Uint8Array(W * H * 3);
  for (let y = 0; y < W; y++)
    for (let x = 0; x < H; x++) {
      const s = ((H - 1 - x) * W + y) * 3, d = (y * H + x) * 3;
      out[d] = data[s]; out[d + 1] = data[s + 1]; out[d + 2] = data[s + 2];
    }
  return { width: H, height: W, data: out };
}

function photo(id) {
  const dirs = [path.join(REPO, 'tests/data'), DEVSET];
  for (const d of dirs)
    for (const e of ['jpg', 'png']) {
      const f = path.join(d, `${id}.${e}`);
      if (fs.existsSync(f)) return f;
    }
  throw new Error(`${id}.jpg or .png not found in ${dirs.join(' or ')}`);
}

/** The top-left w x h pixels of an RGB image. */
function cut(img, w, h) {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) out.set(img.data.subarray(y * img.width * 3, (y * img.width + w) * 3), y * w * 3);
  return { width: w, height: h, data: out };
}
export const CUT_W = 275, CUT_H = 170;   // the same numbers are in tests/test_identity.c

// [golden id, photo, make it upright, take the points of this earlier golden instead of the pipeline's]
const PHOTOS = [['d01', 'd01', (img) => img], ['d02', 'd02', rotateCw], ['d03', 'd03', (img) => img],
  ['d03-cut', 'd03', (img) => cut(img, CUT_W, CUT_H), 'd03']];
const dist = (a, b) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0));

async function main() {
  const show = process.argv.includes('--show');
  await initTf('cpu');
  const pipe = await new Pipeline().load();
  const net = recognitionNet();
  const res = {}, points = {};
  for (const [id, file, upright, pointsOf] of PHOTOS) {
    const img = upright(decodeImage(photo(file)));
    let p68 = points[pointsOf];
    if (!p68) {
      const faces = (await pipe.run(img)).faces.filter((f) => f.mesh.flag >= 0.5);
      if (!faces.length) throw new Error(`${id}: no face`);
      const pts = faces[0].mesh.pts;
      p68 = points[id] = MESH_TO_68.map((i) => [Math.fround(pts[i][0]), Math.fround(pts[i][1])]);
    }
    const box = alignDlib(p68, img.width, img.height);
    const x = faceTensor(img, box);
    const y = net(x);
    const input = await x.data(), descriptor = await y.data();
    tf.dispose([x, y]);
    res[id] = descriptor;
    console.log(`${id} ${img.width}x${img.height}: box ${box.x},${box.y} ${box.width}x${box.height}, descriptor ${Array.from(descriptor.slice(0, 4), (v) => v.toFixed(5))}...`);
    if (show) continue;
    const n = writeGolden(path.join(GOLDEN_DIR, `identity-${id}.hsw`), 'identity', [
      { name: 'input', data: input, shape: [SIZE, SIZE, 3] },
      { name: 'pts68', data: Float32Array.from(p68.flat()), shape: [68, 2] },
      { name: 'box', data: Float32Array.of(box.x, box.y, box.width, box.height), shape: [4] },
      { name: 'image', data: Float32Array.of(img.width, img.height), shape: [2] },
      { name: 'descriptor', data: descriptor, shape: [128] },
    ]);
    console.log(`  identity-${id}.hsw ${(n / 1024).toFixed(1)} KiB`);
  }
  console.log(`distances: d01-d02 ${dist(res.d01, res.d02).toFixed(4)} (same person), d01-d03 ${dist(res.d01, res.d03).toFixed(4)}, d02-d03 ${dist(res.d02, res.d03).toFixed(4)}`);
}

main().catch((e) => { console.error(`gold-identity: ${e.stack}`); process.exit(1); });
