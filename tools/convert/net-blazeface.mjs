// tools/convert/net-blazeface.mjs — BlazeFace short range (human-models blazeface-front.json,
// 128x128) -> weights/blazeface.hsw, the layers of src/detect.c. Also exports the graph walk
// shared with net-blazeface_back.mjs and net-facemesh.mjs (same BlazeBlock family).
//
// The graphs are chains of BlazeBlocks:  y = act(pw1x1(dw3x3(x, stride)) + shortcut(x)),
// shortcut = x, MaxPool 2x2 when stride 2, then a channel zero-Pad when cout > cin. walkBack()
// follows one output back to the input and returns the layers met on the way, in forward
// order, with every shape, stride, padding and activation read from the graph; the modules
// then compare that list against the tables that mirror the C code and name the layers.
//
// Storage: every weight tensor f16 (biases f32). Measured with tests/test_detect.c: i8 per
// output channel costs up to 0.055 in score and 0.885 box IoU on the d01 golden (0.937 end to
// end), and no small set of layers fixes it (the error builds up along the 1x1 convs of all
// blocks); f16 gives score diff < 1e-4 for 80 KB (front) and 100 KB (back) more.
import path from 'node:path';

export const name = 'blazeface';

// BlazeBlocks of the short-range model: cin, cout, stride (all residual, ReLU).
export const FRONT_BLOCKS = [
  [24, 24, 1], [24, 28, 1], [28, 32, 2], [32, 36, 1], [36, 42, 1], [42, 48, 2], [48, 56, 1],
  [56, 64, 1], [64, 72, 1], [72, 80, 1], [80, 88, 1],                 // -> 16x16x88: head 1
  [88, 96, 2], [96, 96, 1], [96, 96, 1], [96, 96, 1], [96, 96, 1],    // -> 8x8x96: head 2
];

const bare = (s) => s.replace(/^\^/, '').replace(/:\d+$/, '');

/** Index of a tfjs graph: node by name, consumers, weights of a node's const inputs. */
export function graphIndex(g, what) {
  const byName = new Map(g.nodes.map((n) => [n.name, n]));
  const fail = (m) => { throw new Error(`${what}: ${m}`); };
  const node = (nm) => byName.get(bare(nm)) || fail(`no node ${nm}`);
  const weight = (n, i) => {
    const k = bare(n.inputs[i] || '');
    return g.weights.get(k) || fail(`${n.name}: input ${i} is not a constant`);
  };
  const isConst = (nm) => g.weights.has(bare(nm));
  return { node, weight, isConst, fail };
}

// One layer as walkBack() returns it:
//   { kind: 'conv', node, kh, kw, cin, cout, stride, pad, act: 'linear'|'relu'|'prelu', w, b, slope }
//   { kind: 'block', node (the activation), cin, cout, stride, residual, act, dw, pw, b, slope }
// w are TF layouts ([kh,kw,cin,cout]; depthwise [3,3,c,1]), slope null unless prelu.
export function walkBack(g, outName, what) {
  const { node, weight, isConst, fail } = graphIndex(g, what);
  const layers = [];
  const actOf = (n) => {
    const f = n.attr.fused_ops || [];
    if (f[0] !== 'BiasAdd' || f.length > 2) fail(`${n.name}: fused ops ${f}`);
    if (f[1] === 'Relu') return { act: 'relu', slope: null };
    if (f[1] === 'Prelu') return { act: 'prelu', slope: weight(n, 3).data };
    if (f[1]) fail(`${n.name}: fused ${f[1]}`);
    return { act: 'linear', slope: null };
  };
  const conv = (n) => {
    if (n.op !== '_FusedConv2D') fail(`${n.name}: expected _FusedConv2D, got ${n.op}`);
    const w = weight(n, 1);
    const [kh, kw, cin, cout] = w.shape;
    return { kind: 'conv', node: n.name, kh, kw, cin, cout, stride: n.attr.strides[1], pad: n.attr.padding,
      w: w.data, b: weight(n, 2).data, ...actOf(n) };
  };
  // A residual's shortcut: x itself, MaxPool 2x2/2 of x, and/or a channel-only Pad.
  const shortcutOf = (n, x) => {
    let pool = false;
    let cpad = 0;
    if (n.op === 'Pad') {
      const p = Array.from(weight(n, 1).data);
      if (p.slice(0, 7).some((v) => v !== 0)) fail(`${n.name}: padding ${p} is not channels-after only`);
      cpad = p[7];
      n = node(n.inputs[0]);
    }
    if (n.op === 'MaxPool') {
      if (n.attr.ksize[1] !== 2 || n.attr.strides[1] !== 2) fail(`${n.name}: not a 2x2/2 max pool`);
      pool = true;
      n = node(n.inputs[0]);
    }
    if (n.name !== x.name) fail(`shortcut ${n.name} does not start at the block input ${x.name}`);
    return { pool, cpad };
  };
  const blockOf = (dwNode, pw, act, slope, actNode, residualFrom) => {
    const dw = weight(dwNode, 1);
    const [kh, kw, c, mult] = dw.shape;
    if (kh !== 3 || kw !== 3 || mult !== 1 || dwNode.attr.padding !== 'SAME') fail(`${dwNode.name}: not a 3x3 SAME depthwise`);
    const p = conv(pw);
    if (p.kh !== 1 || p.kw !== 1 || p.stride !== 1 || p.cin !== c) fail(`${pw.name}: not a 1x1 conv of ${c} channels`);
    const x = node(dwNode.inputs[0]);
    const stride = dwNode.attr.strides[1];
    let residual = false;
    if (residualFrom) {
      const { pool, cpad } = shortcutOf(residualFrom, x);
      if (pool !== (stride === 2) || c + cpad !== p.cout) fail(`${actNode.name}: shortcut pool ${pool} pad ${cpad} for stride ${stride}, ${c} -> ${p.cout}`);
      residual = true;
    }
    return { x, layer: { kind: 'block', node: actNode.name, cin: c, cout: p.cout, stride, residual, act, dw: dw.data, pw: p.w, b: p.b, slope } };
  };
  const visit = (n) => {
    if (n.op === 'Placeholder') return;
    if (n.op === 'Identity' || n.op === 'Reshape') return visit(node(n.inputs[0]));
    if (n.op === 'Sigmoid') {   // the sigmoid is part of the layer before (nn_conv2d's act)
      const l = visit(node(n.inputs[0]));
      if (!l || l.kind !== 'conv' || l.act !== 'linear') fail(`${n.name}: sigmoid after ${l && l.node}`);
      l.act = 'sigmoid';
      return l;
    }
    if (n.op === 'Relu' || n.op === 'Prelu') {
      const add = node(n.inputs[0]);
      if (add.op !== 'AddV2') fail(`${n.name}: input is ${add.op}, expected AddV2`);
      const ins = add.inputs.map(node);
      const k = ins.findIndex((i) => i.op === '_FusedConv2D' && node(i.inputs[0]).op === 'DepthwiseConv2dNative');
      if (k < 0) fail(`${add.name}: no depthwise -> 1x1 branch`);
      const pw = ins[k];
      if ((pw.attr.fused_ops || []).length !== 1) fail(`${pw.name}: activation before the residual add`);
      const slope = n.op === 'Prelu' ? weight(n, 1).data : null;
      const { x, layer } = blockOf(node(pw.inputs[0]), pw, n.op.toLowerCase(), slope, n, ins[1 - k]);
      visit(x);
      layers.push(layer);
      return layer;
    }
    if (n.op === '_FusedConv2D') {
      const src = node(n.inputs[0]);
      if (src.op === 'DepthwiseConv2dNative') {   // a block without residual
        const { act, slope } = actOf(n);
        const { x, layer } = blockOf(src, n, act, slope, n, null);
        visit(x);
        layers.push(layer);
        return layer;
      }
      const layer = conv(n);
      visit(src);
      layers.push(layer);
      return layer;
    }
    if (isConst(n.name)) fail(`${n.name}: unexpected constant`);
    return fail(`${n.name}: op ${n.op} not handled`);
  };
  visit(node(outName));
  return layers;
}

/** The output node whose name contains `part` (e.g. 'regressors_2'), following Identity. */
export function outputNode(g, part, what) {
  const n = g.nodes.find((x) => x.op === 'Reshape' && x.name.includes(part));
  if (!n) throw new Error(`${what}: no Reshape named *${part}*`);
  return n.name;
}

function checkLayer(l, want, what) {
  const got = l.kind === 'block' ? [l.kind, l.cin, l.cout, l.stride, l.residual, l.act]
    : [l.kind, l.kh, l.kw, l.cin, l.cout, l.stride, l.pad, l.act];
  if (got.join() !== want.join()) throw new Error(`${what}: ${l.node} is [${got}], expected [${want}]`);
}

/** Adds one walked layer under NAME: conv -> NAME.w/.b (+ NAME.slope); block -> NAME.dw.w,
 * NAME.pw.w/.b (+ NAME.slope). WANT is the table entry the layer must match; dtypeOf(prefix)
 * gives the storage of each weight tensor ('NAME', 'NAME.dw', 'NAME.pw'). */
export function addLayer(lib, c, lname, l, want, dtypeOf, what) {
  checkLayer(l, want, `${what} ${lname}`);
  if (l.kind === 'conv') {
    c.addLayer(lname, lib.hwioToOhwi(l.w, l.kh, l.kw, l.cin, l.cout), [l.cout, l.kh, l.kw, l.cin], l.b, dtypeOf(lname));
  } else {
    c.addLayer(`${lname}.dw`, lib.depthwiseToC(l.dw, 3, 3, l.cin), [l.cin, 3, 3, 1], null, dtypeOf(`${lname}.dw`));
    c.addLayer(`${lname}.pw`, lib.hwioToOhwi(l.pw, 1, 1, l.cin, l.cout), [l.cout, 1, 1, l.cin], l.b, dtypeOf(`${lname}.pw`));
  }
  if (l.slope) c.add(`${lname}.slope`, l.slope, [l.slope.length], 'f32');
}

/** dtypeOf(prefix) for addLayer: f16 true -> all 'f16', false -> all 'i8'; a function of the
 * prefix decides per tensor (to measure the cost of i8 layer by layer). */
export function storage(f16) {
  return (n) => ((typeof f16 === 'function' ? f16(n) : f16) ? 'f16' : 'i8');
}

/** Converts one BlazeFace variant: a 5x5/2 stem conv, BLOCKS, and two heads of 1x1 convs
 * (1 logit and 16 regressors per anchor): head 1 on the output of block split-1, head 2 on
 * the output of the last block. */
export function convertBlazeFace(lib, file, network, blocks, split, anchors, { f16 = true } = {}) {
  const what = network;
  const g = lib.loadGraphModel(file);
  const main = walkBack(g, outputNode(g, 'regressors_2', what), what);
  const early = walkBack(g, outputNode(g, 'regressors_1', what), what);
  if (main.length !== blocks.length + 2) throw new Error(`${what}: ${main.length} layers to the output, expected ${blocks.length + 2}`);
  if (early.length !== split + 2 || early[split].node !== main[split].node) throw new Error(`${what}: the first head does not follow block ${split - 1}`);
  const c = new lib.Container(network);
  const dt = storage(f16);
  addLayer(lib, c, 'stem', main[0], ['conv', 5, 5, 3, 24, 2, 'SAME', 'relu'], dt, what);
  blocks.forEach(([cin, cout, stride, residual = true], i) => {
    const n = `b${String(i).padStart(2, '0')}`;
    addLayer(lib, c, n, main[i + 1], ['block', cin, cout, stride, residual, 'relu'], dt, what);
  });
  // Heads: [node part, our name, channels in, anchors per cell x values per anchor].
  const heads = [
    ['classificators_1', 'head1.cls', blocks[split - 1][1], anchors[0]],
    ['regressors_1', 'head1.reg', blocks[split - 1][1], anchors[0] * 16],
    ['classificators_2', 'head2.cls', blocks[blocks.length - 1][1], anchors[1]],
    ['regressors_2', 'head2.reg', blocks[blocks.length - 1][1], anchors[1] * 16],
  ];
  for (const [part, hname, cin, cout] of heads) {
    const l = walkBack(g, outputNode(g, part, what), what).pop();
    addLayer(lib, c, hname, l, ['conv', 1, 1, cin, cout, 1, 'SAME', 'linear'], dt, what);
  }
  return c;
}

export async function convert(lib, modelsDir, opt) {
  const file = path.join(modelsDir, lib.MODEL_DIRS.human, 'blazeface-front.json');
  return convertBlazeFace(lib, file, name, FRONT_BLOCKS, 11, [2, 6], opt);
}
