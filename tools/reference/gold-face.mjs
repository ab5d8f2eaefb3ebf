// tools/reference/gold-face.mjs — goldens of the face networks and of the face pipeline.
//
//   node tools/reference/gold-face.mjs [--show photo...]
//
// Writes, with the ORIGINAL tfjs models (cpu backend):
//   tests/golden/blazeface-dNN.hsw       BlazeFace short range: input 128x128x3 in [-1,1] (f16),
//                                        cls1 [1,512,1], reg1 [1,512,16], cls2 [1,384,1], reg2 [1,384,16]
//   tests/golden/blazeface-back-dNN.hsw  BlazeFace back camera, the same at 256x256
//   tests/golden/facemesh-dNN.hsw        FaceMesh: input 192x192x3 in [0,1] (f16), mesh [1,1404], flag [1,1]
//   tests/golden/face-dNN.hsw            the whole pipeline on the photo tests/data/dNN.*:
//                                        det [n,17] = score, x, y, w, h, 6 keypoints (x, y),
//                                        flag [n], landmarks [n,468,3] (image pixels)
// The network inputs are the crops the pipeline makes from the photos, so the raw-network
// tests see real faces. --show prints the pipeline's result for any photos instead.
//
// The pre- and post-processing below is a line-by-line twin of src/detect.c and
// src/landmarks.c (crop with box prefilter + bilinear, anchors, decoding, weighted NMS, the
// detector policy, ROI rules, re-crop loop); only the networks differ (tfjs float32 here, our
// runtime with f16/i8 weights there). One more difference: the networks here run on the
// f16-rounded inputs that the raw goldens store (under 0.07 grey levels from the C inputs).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initTf, loadGraph, runGraph, roundF16, writeGolden, decodeImage, MODELS, REPO, GOLDEN_DIR } from './lib.mjs';

// ======================================================================== crops ===

// Bilinear sample of an RGB buffer (w x h, any array type) at index coordinates (x, y),
// pixel centres on integers, zero outside. Adds weight * value into out[0..2].
function bilinear(src, w, h, x, y, out) {
  const x0 = Math.floor(x), y0 = Math.floor(y);
  const fx = x - x0, fy = y - y0;
  for (let dy = 0; dy < 2; dy++) {
    const yy = y0 + dy;
    if (yy < 0 || yy >= h) continue;
    for (let dx = 0; dx < 2; dx++) {
      const xx = x0 + dx;
      if (xx < 0 || xx >= w) continue;
      const k = (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy);
      const p = (yy * w + xx) * 3;
      out[0] += k * src[p]; out[1] += k * src[p + 1]; out[2] += k * src[p + 2];
    }
  }
}

/** Crop of ROI {cx, cy, size, angle} (image pixels, radians) to n x n, values 0..255: output
 * pixel (u, v) samples the image point centre + R(angle) * ((u+.5)/n - .5, (v+.5)/n - .5) * size,
 * zero outside the image. When one output pixel spans s = size/n >= 2 image pixels, the image
 * is first averaged over k x k blocks (k = floor(s)) around the ROI, then sampled bilinearly. */
export function cropRoi(img, roi, n) {
  const { width: W, height: H, data } = img;
  const s = roi.size / n;
  const k = s >= 2 ? Math.floor(s) : 1;
  const cs = Math.cos(roi.angle), sn = Math.sin(roi.angle);
  let src = data, sw = W, sh = H, ox = 0, oy = 0;
  if (k > 1) {
    const e = 0.5 * roi.size * (Math.abs(cs) + Math.abs(sn));
    const bx0 = Math.max(0, Math.floor((roi.cx - e) / k) - 1), bx1 = Math.min(Math.ceil(W / k), Math.ceil((roi.cx + e) / k) + 1);
    const by0 = Math.max(0, Math.floor((roi.cy - e) / k) - 1), by1 = Math.min(Math.ceil(H / k), Math.ceil((roi.cy + e) / k) + 1);
    sw = Math.max(0, bx1 - bx0); sh = Math.max(0, by1 - by0);
    src = new Float32Array(sw * sh * 3);
    for (let j = 0; j < sh; j++) {
      for (let y = (by0 + j) * k; y < Math.min((by0 + j + 1) * k, H); y++) {
        for (let x = bx0 * k; x < Math.min(bx1 * k, W); x++) {
          const o = (j * sw + Math.floor(x / k) - bx0) * 3, p = (y * W + x) * 3;
          src[o] += data[p]; src[o + 1] += data[p + 1]; src[o + 2] += data[p + 2];
        }
      }
    }
    for (let i = 0; i < src.length; i++) src[i] /= k * k;
    ox = bx0; oy = by0;
  }
  const out = new Float32Array(n * n * 3);
  const px = new Float64Array(3);
  for (let v = 0; v < n; v++) {
    for (let u = 0; u < n; u++) {
      const a = ((u + 0.5) / n - 0.5) * roi.size, b = ((v + 0.5) / n - 0.5) * roi.size;
      const x = roi.cx + a * cs - b * sn, y = roi.cy + a * sn + b * cs;
      px.fill(0);
      bilinear(src, sw, sh, x / k - 0.5 - ox, y / k - 0.5 - oy, px);
      out.set(px, (v * n + u) * 3);
    }
  }
  return out;
}

// ==================================================================== detection ===

// MediaPipe SsdAnchorsCalculator with fixed_anchor_size: per stride, one feature map of
// ceil(size/stride) cells, 2 anchors (aspect 1 + interpolated) per layer of that stride.
const DETECTORS = {
  blazeface: { file: 'blazeface-front.json', size: 128, strides: [8, 16, 16, 16] },
  blazeface_back: { file: 'blazeface-back.json', size: 256, strides: [16, 32, 32, 32] },
};
const MIN_SCORE = 0.5;    // TensorsToDetectionsCalculator min_score_thresh
const NMS_IOU = 0.3;      // NonMaxSuppressionCalculator WEIGHTED, IoU
const SMALL_FACE = 0.2;   // below this width / letterbox side the short-range model is unreliable

function anchors(strides, size) {
  const out = [];
  for (let l = 0; l < strides.length;) {
    let m = l;
    while (m < strides.length && strides[m] === strides[l]) m++;
    const f = Math.ceil(size / strides[l]);
    for (let y = 0; y < f; y++) for (let x = 0; x < f; x++) for (let a = 0; a < 2 * (m - l); a++) out.push([(x + 0.5) / f, (y + 0.5) / f]);
    l = m;
  }
  return out;
}

/** Letterbox ROI of a whole image: the centred square of side max(w, h). */
const letterbox = (img) => ({ cx: img.width / 2, cy: img.height / 2, size: Math.max(img.width, img.height), angle: 0 });

async function detectorInput(img, size) {
  const px = cropRoi(img, letterbox(img), size);
  return roundF16(px.map((v) => v / 127.5 - 1));
}

/** Decodes raw outputs ([cls1, cls2] logits, [reg1, reg2]) into detections in image pixels:
 * { score, box: [x, y, w, h], kp: [[x, y] x 6] }, above MIN_SCORE, before NMS. */
function decode(cls, reg, det, roi) {
  const anc = anchors(det.strides, det.size);
  const scores = [...cls[0], ...cls[1]];
  const regs = [reg[0], reg[1]];
  const out = [];
  const S = det.size;
  const map = (xn, yn) => [roi.cx + (xn - 0.5) * roi.size, roi.cy + (yn - 0.5) * roi.size];
  for (let i = 0; i < anc.length; i++) {
    const score = 1 / (1 + Math.exp(-Math.max(-100, Math.min(100, scores[i]))));
    if (score < MIN_SCORE) continue;
    const r = i < cls[0].length ? regs[0].subarray(i * 16, i * 16 + 16) : regs[1].subarray((i - cls[0].length) * 16, (i - cls[0].length) * 16 + 16);
    const [ax, ay] = anc[i];
    const [xc, yc] = map(r[0] / S + ax, r[1] / S + ay);
    const w = (r[2] / S) * roi.size, h = (r[3] / S) * roi.size;
    const kp = [];
    for (let k = 0; k < 6; k++) kp.push(map(r[4 + 2 * k] / S + ax, r[5 + 2 * k] / S + ay));
    out.push({ score, box: [xc - w / 2, yc - h / 2, w, h], kp });
  }
  return out;
}

function iou(a, b) {
  const x0 = Math.max(a[0], b[0]), y0 = Math.max(a[1], b[1]);
  const x1 = Math.min(a[0] + a[2], b[0] + b[2]), y1 = Math.min(a[1] + a[3], b[1] + b[3]);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const uni = a[2] * a[3] + b[2] * b[3] - inter;
  return uni > 0 ? inter / uni : 0;
}

/** MediaPipe WEIGHTED non-max suppression: the best remaining detection takes every other one
 * overlapping it by IoU > NMS_IOU; the result keeps its score and averages the boxes and
 * keypoints of the cluster weighted by score. */
export function weightedNms(dets) {
  const rest = dets.slice().sort((a, b) => b.score - a.score);
  const out = [];
  while (rest.length) {
    const top = rest[0];
    const cluster = rest.filter((d) => d === top || iou(top.box, d.box) > NMS_IOU);
    let tot = 0;
    const box = [0, 0, 0, 0], kp = top.kp.map(() => [0, 0]);
    for (const d of cluster) {
      tot += d.score;
      for (let j = 0; j < 4; j++) box[j] += d.score * d.box[j];
      d.kp.forEach((p, j) => { kp[j][0] += d.score * p[0]; kp[j][1] += d.score * p[1]; });
    }
    out.push({ score: top.score, box: box.map((v) => v / tot), kp: kp.map(([x, y]) => [x / tot, y / tot]) });
    for (let i = rest.length - 1; i >= 0; i--) if (cluster.includes(rest[i])) rest.splice(i, 1);
  }
  return out;
}

// ==================================================================== landmarks ===

const MESH_SIZE = 192;
const ROI_SCALE = 1.5;
const FLAG_MIN = 0.5;
const REFINE_MAX = 3;

const normAngle = (a) => a - 2 * Math.PI * Math.floor((a + Math.PI) / (2 * Math.PI));

/** MediaPipe detection -> face landmark ROI: box centre, rotation levelling the eyes
 * (keypoint 0 right eye -> 1 left eye), square of 1.5 x the longer box side. */
export function roiFromDetection(d) {
  const [re, le] = d.kp;
  return { cx: d.box[0] + d.box[2] / 2, cy: d.box[1] + d.box[3] / 2, size: Math.max(d.box[2], d.box[3]) * ROI_SCALE,
    angle: normAngle(Math.atan2(le[1] - re[1], le[0] - re[0])) };
}

/** Landmarks -> next ROI: bounding box centre, rotation 33 -> 263 (eye corners), 1.5 x the
 * longer side. */
export function roiFromMesh(pts) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const p of pts) { x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]); y0 = Math.min(y0, p[1]); y1 = Math.max(y1, p[1]); }
  const a = pts[33], b = pts[263];
  return { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, size: Math.max(x1 - x0, y1 - y0) * ROI_SCALE,
    angle: normAngle(Math.atan2(b[1] - a[1], b[0] - a[0])) };
}

function meshInput(img, roi) {
  return roundF16(cropRoi(img, roi, MESH_SIZE).map((v) => v / 255));
}

/** Raw mesh (192-pixel crop coordinates) -> image pixels; z scaled like x. */
function meshToImage(mesh, roi) {
  const cs = Math.cos(roi.angle), sn = Math.sin(roi.angle), k = roi.size / MESH_SIZE;
  const pts = [];
  for (let i = 0; i < 468; i++) {
    const a = (mesh[3 * i] / MESH_SIZE - 0.5) * roi.size, b = (mesh[3 * i + 1] / MESH_SIZE - 0.5) * roi.size;
    pts.push([roi.cx + a * cs - b * sn, roi.cy + a * sn + b * cs, mesh[3 * i + 2] * k]);
  }
  return pts;
}

const converged = (r, q) => Math.abs(normAngle(q.angle - r.angle)) < 0.02 && Math.abs(q.size / r.size - 1) < 0.02
  && Math.hypot(q.cx - r.cx, q.cy - r.cy) < 0.02 * r.size;

// ===================================================================== pipeline ===

export class Pipeline {
  async load() {
    this.det = {};
    for (const [k, d] of Object.entries(DETECTORS)) this.det[k] = await loadGraph(path.join(MODELS.human, d.file));
    this.mesh = await loadGraph(path.join(MODELS.human, 'facemesh.json'));
    return this;
  }

  async detectorRaw(which, input) {
    const d = DETECTORS[which];
    return runGraph(this.det[which], input, [d.size, d.size, 3], ['Identity:0', 'Identity_2:0', 'Identity_1:0', 'Identity_3:0']);
  }

  async detect(which, img) {
    const input = await detectorInput(img, DETECTORS[which].size);
    const [c1, r1, c2, r2] = await this.detectorRaw(which, input);
    return { input, raw: [c1, r1, c2, r2], dets: decode([c1.data, c2.data], [r1.data, r2.data], DETECTORS[which], letterbox(img)) };
  }

  async meshRaw(input) {
    const [mesh, flag] = await runGraph(this.mesh, input, [MESH_SIZE, MESH_SIZE, 3], ['Identity_2:0', 'Identity_1:0']);
    return { mesh, flag };
  }

  async landmarks(img, roi) {
    const input = meshInput(img, roi);
    const { mesh, flag } = await this.meshRaw(input);
    return { roi, input, raw: { mesh, flag }, flag: flag.data[0], pts: meshToImage(mesh.data, roi) };
  }

  /** The detector policy of det_run(): the short-range model first; the back-camera model
   * only when that finds no face, or only faces narrower than SMALL_FACE x the letterboxed
   * side, and then its faces replace the short-range ones (when it finds any). */
  async detectFaces(img) {
    const front = await this.detect('blazeface', img);
    const back = await this.detect('blazeface_back', img);   // always run here: its golden
    let dets = weightedNms(front.dets);
    const side = letterbox(img).size;
    const backRuns = !dets.some((d) => d.box[2] >= SMALL_FACE * side);
    if (backRuns) {
      const b = weightedNms(back.dets);
      if (b.length) dets = b;
    }
    return { front, back, backRuns, dets };
  }

  /** Detection then landmarks, as det_run() + lmk_run(). */
  async run(img) {
    const { front, back, backRuns, dets } = await this.detectFaces(img);
    const faces = [];
    for (const d of dets) {
      let m = await this.landmarks(img, roiFromDetection(d));
      for (let i = 0; i < REFINE_MAX && m.flag >= FLAG_MIN; i++) {
        const roi = roiFromMesh(m.pts);
        const done = converged(m.roi, roi);
        const m2 = await this.landmarks(img, roi);
        if (m2.flag < FLAG_MIN) break;
        m = m2;
        if (done) break;
      }
      faces.push({ det: d, mesh: m });
    }
    return { front, back, backRuns, faces };
  }
}

// ========================================================================= main ===

const photo = (id) => {
  const f = ['jpg', 'png'].map((e) => path.join(REPO, `tests/data/${id}.${e}`)).find((p) => fs.existsSync(p));
  if (!f) throw new Error(`tests/data/${id}.jpg or .png is missing`);
  return f;
};
const f16 = (data, shape) => ({ data, shape, dtype: 'f16' });
const f32 = (data, shape) => ({ data: Float32Array.from(data), shape });

async function main() {
  const args = process.argv.slice(2);
  await initTf('cpu');
  const p = await new Pipeline().load();
  if (args[0] === '--show') {
    for (const f of args.slice(1)) {
      const img = decodeImage(f);
      const r = await p.run(img);
      console.log(`${f} ${img.width}x${img.height}${r.backRuns ? ' (back model used)' : ''}`);
      for (const w of ['front', 'back']) for (const d of weightedNms(r[w].dets)) console.log(`  ${w} score ${d.score.toFixed(3)} box ${d.box.map((v) => v.toFixed(1))}`);
      for (const fc of r.faces)
        console.log(`  score ${fc.det.score.toFixed(3)} box ${fc.det.box.map((v) => v.toFixed(1))} flag ${fc.mesh.flag.toFixed(3)} roi ${Object.values(fc.mesh.roi).map((v) => v.toFixed(2))}`);
    }
    return;
  }
  const save = (file, network, tensors) => {
    const n = writeGolden(path.join(GOLDEN_DIR, file), network, tensors);
    console.log(`  ${file} ${(n / 1024).toFixed(1)} KiB`);
  };
  const raw = (outs) => outs.map((o, i) => ({ name: ['cls1', 'reg1', 'cls2', 'reg2'][i], data: o.data, shape: o.shape }));
  for (const id of ['d01', 'd03', 'd05', 'd07']) {
    const img = decodeImage(photo(id));
    const r = await p.run(img);
    console.log(`${id} ${img.width}x${img.height}: ${r.faces.length} face(s)`);
    if (!r.faces.length) throw new Error(`${id}: no face found`);
    // (a) raw networks on this photo's crops
    if (id !== 'd07') {
      save(`blazeface-${id}.hsw`, 'blazeface', [{ name: 'input', ...f16(r.front.input, [128, 128, 3]) }, ...raw(r.front.raw)]);
      const m = r.faces[0].mesh;
      save(`facemesh-${id}.hsw`, 'facemesh', [{ name: 'input', ...f16(m.input, [192, 192, 3]) }, { ...m.raw.mesh, name: 'mesh' }, { ...m.raw.flag, name: 'flag' }]);
    }
    if (id === 'd01' || id === 'd05') save(`blazeface-back-${id}.hsw`, 'blazeface_back', [{ name: 'input', ...f16(r.back.input, [256, 256, 3]) }, ...raw(r.back.raw)]);
    // (b) end to end
    const n = r.faces.length;
    save(`face-${id}.hsw`, 'face', [
      { name: 'det', ...f32(r.faces.flatMap((f) => [f.det.score, ...f.det.box, ...f.det.kp.flat()]), [n, 17]) },
      { name: 'flag', ...f32(r.faces.map((f) => f.mesh.flag), [n]) },
      { name: 'landmarks', ...f32(r.faces.flatMap((f) => f.mesh.pts.flat()), [n, 468, 3]) },
    ]);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => { console.error(`gold-face: ${e.stack}`); process.exit(1); });
}
