/**
 * The tfjs graph reference (createTfjsGraphReference): small synthetic graphs
 * against naive float64 loops written here (every padding path: TF "same",
 * "valid", explicit asymmetric pads; average pools with and without padded
 * cells in the divisor; pads in each mode; every other IR op), on the wasm and the cpu backend;
 * then the nsfwjs InceptionV3's imported graph against tfjs-layers running
 * the original model, which validates the executor on a real network.
 */
import * as tf from "@tensorflow/tfjs-core";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { weightValues, type Graph, type Node, type Pads } from "../../src/graph/ir.js";
import { importTfjsLayers } from "../../src/import/tfjs-layers.js";
import { readNsfwjsInceptionV3 } from "../../src/platform/node-files.js";
import { createTfjsReference, type TfjsReference } from "../../src/reference/tfjs.js";
import { createTfjsGraphReference } from "../../src/reference/tfjs-graph.js";
import { rejects } from "../support.js";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function randomArray(n: number, r: () => number, scale = 1, offset = 0): Float32Array {
  return Float32Array.from({ length: n }, () => r() * scale + offset);
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** |got - want| <= tol * max(1, |want|) element-wise, no NaN. */
function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 1e-5): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (!(Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)))) {
      assert.unreachable(`${what}: element ${i} is ${g}, expected ${w}`);
    }
  }
}

// ---------------------------------------------------------------------------
// Naive float64 interpreter of the IR (batch-major NHWC), written from the IR's
// definitions only.

interface T {
  shape: number[]; // per sample
  data: Float64Array; // batch-major
}

function naiveConv(x: T, n: Node & { op: "conv2d" }, B: number): T {
  const [H, W, C] = x.shape as [number, number, number];
  const [kh, kw, cinG, cout] = n.kernelShape;
  const kernel = weightValues(n.kernel);
  const [sh, sw] = n.strides;
  const [dh, dw] = n.dilations ?? [1, 1];
  const coutG = cout / (n.groups ?? 1);
  const p = n.pads;
  const OH = Math.floor((H + p.top + p.bottom - ((kh - 1) * dh + 1)) / sh) + 1;
  const OW = Math.floor((W + p.left + p.right - ((kw - 1) * dw + 1)) / sw) + 1;
  const y = new Float64Array(B * OH * OW * cout);
  for (let b = 0; b < B; b++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) for (let co = 0; co < cout; co++) {
    let acc = n.bias ? n.bias[co]! : 0;
    const c0 = Math.floor(co / coutG) * cinG;
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const iy = oy * sh - p.top + ky * dh, ix = ox * sw - p.left + kx * dw;
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
      for (let ci = 0; ci < cinG; ci++) acc += x.data[((b * H + iy) * W + ix) * C + c0 + ci]! * kernel[((ky * kw + kx) * cinG + ci) * cout + co]!;
    }
    y[((b * OH + oy) * OW + ox) * cout + co] = n.activation === "relu" ? Math.max(0, acc) : acc;
  }
  return { shape: [OH, OW, cout], data: y };
}

/**
 * Padding never takes part in a max; an average divides the sum of the valid
 * cells by their number (countIncludePad false) or by the number of window
 * cells inside the padded input (true).
 */
function naivePool(x: T, n: Node & { op: "maxpool" | "avgpool" }, B: number): T {
  const [H, W, C] = x.shape as [number, number, number];
  const [kh, kw] = n.window;
  const [sh, sw] = n.strides;
  const p = n.pads;
  const OH = Math.floor((H + p.top + p.bottom - kh) / sh) + 1;
  const OW = Math.floor((W + p.left + p.right - kw) / sw) + 1;
  const y = new Float64Array(B * OH * OW * C);
  for (let b = 0; b < B; b++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) for (let c = 0; c < C; c++) {
    let max = -Infinity, sum = 0, valid = 0, inPadded = 0;
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const iy = oy * sh - p.top + ky, ix = ox * sw - p.left + kx;
      if (iy >= -p.top && iy < H + p.bottom && ix >= -p.left && ix < W + p.right) inPadded++;
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
      const v = x.data[((b * H + iy) * W + ix) * C + c]!;
      max = Math.max(max, v);
      sum += v;
      valid++;
    }
    y[((b * OH + oy) * OW + ox) * C + c] = n.op === "maxpool" ? max : sum / (n.countIncludePad ? inPadded : valid);
  }
  return { shape: [OH, OW, C], data: y };
}

/**
 * Output pixel (oy, ox) is input pixel (oy - top, ox - left) when it exists;
 * otherwise the value (constant), the mirror image about the edge pixel
 * (reflect), or the nearest edge pixel (edge).
 */
function naivePad(x: T, n: Node & { op: "pad" }, B: number): T {
  const [H, W, C] = x.shape as [number, number, number];
  const p = n.pads;
  const OH = H + p.top + p.bottom, OW = W + p.left + p.right;
  const source = (i: number, size: number) =>
    n.mode === "reflect" ? (i < 0 ? -i : i >= size ? 2 * size - 2 - i : i) : Math.min(size - 1, Math.max(0, i));
  const y = new Float64Array(B * OH * OW * C);
  for (let b = 0; b < B; b++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) for (let c = 0; c < C; c++) {
    const iy = oy - p.top, ix = ox - p.left;
    const filled = n.mode === "constant" && (iy < 0 || iy >= H || ix < 0 || ix >= W);
    y[((b * OH + oy) * OW + ox) * C + c] = filled ? n.value : x.data[((b * H + source(iy, H)) * W + source(ix, W)) * C + c]!;
  }
  return { shape: [OH, OW, C], data: y };
}

/** Applies `f` to each row of the last axis (length `last`), per sample and pixel. */
function rows(x: T, last: number, f: (row: Float64Array) => ArrayLike<number>): Float64Array {
  const out: number[] = [];
  for (let i = 0; i < x.data.length; i += last) out.push(...Array.from(f(x.data.subarray(i, i + last))));
  return Float64Array.from(out);
}

function naiveNode(n: Node, xs: T[], B: number): T {
  const x = xs[0]!;
  const C = x.shape.at(-1)!;
  switch (n.op) {
    case "input":
      throw new Error("inputs are fed, not computed");
    case "conv2d":
      return naiveConv(x, n, B);
    case "maxpool":
    case "avgpool":
      return naivePool(x, n, B);
    case "pad":
      return naivePad(x, n, B);
    case "batchnorm":
      return {
        shape: x.shape,
        data: rows(x, C, (r) => r.map((v, c) => ((v - n.mean[c]!) / Math.sqrt(n.variance[c]! + n.epsilon)) * (n.gamma?.[c] ?? 1) + (n.beta?.[c] ?? 0))),
      };
    case "relu":
      return { shape: x.shape, data: x.data.map((v) => Math.max(0, v)) };
    case "globalavgpool": {
      const pixels = x.shape[0]! * x.shape[1]!;
      const y = new Float64Array(B * C);
      for (let i = 0; i < x.data.length; i++) y[Math.floor(i / (pixels * C)) * C + (i % C)] += x.data[i]! / pixels;
      return { shape: [C], data: y };
    }
    case "concat": {
      const pixels = x.data.length / C;
      const out: number[] = [];
      for (let i = 0; i < pixels; i++) for (const t of xs) out.push(...t.data.subarray(i * t.shape.at(-1)!, (i + 1) * t.shape.at(-1)!));
      return { shape: [...x.shape.slice(0, -1), xs.reduce((s, t) => s + t.shape.at(-1)!, 0)], data: Float64Array.from(out) };
    }
    case "flatten":
      return { shape: [size(x.shape)], data: x.data };
    case "dense": {
      const [cin, cout] = n.kernelShape;
      const kernel = weightValues(n.kernel);
      return {
        shape: [cout],
        data: rows(x, cin, (r) => Array.from({ length: cout }, (_, o) => {
          let acc = n.bias ? n.bias[o]! : 0;
          for (let i = 0; i < cin; i++) acc += r[i]! * kernel[i * cout + o]!;
          return n.activation === "relu" ? Math.max(0, acc) : acc;
        })),
      };
    }
    case "softmax":
      return {
        shape: x.shape,
        data: rows(x, C, (r) => {
          const m = Math.max(...r);
          const e = r.map((v) => Math.exp(v - m));
          const s = e.reduce((a, b) => a + b, 0);
          return e.map((v) => v / s);
        }),
      };
    case "logsoftmax":
      return {
        shape: x.shape,
        data: rows(x, C, (r) => {
          const m = Math.max(...r);
          const lse = Math.log(r.reduce((a, v) => a + Math.exp(v - m), 0));
          return r.map((v) => v - m - lse);
        }),
      };
    case "sigmoid":
      return { shape: x.shape, data: x.data.map((v) => 1 / (1 + Math.exp(-v))) };
    case "identity":
      return x;
  }
}

function naiveRun(graph: Graph, input: Float32Array, B: number): Map<string, T> {
  const values = new Map<string, T>();
  for (const n of graph.nodes) {
    values.set(n.name, n.op === "input" ? { shape: n.shape, data: Float64Array.from(input) } : naiveNode(n, n.inputs.map((i) => values.get(i)!), B));
  }
  return values;
}

// ---------------------------------------------------------------------------
// Synthetic graphs.

const pads0: Pads = { top: 0, left: 0, bottom: 0, right: 0 };
const pads1: Pads = { top: 1, left: 1, bottom: 1, right: 1 };

const graphOf = (nodes: Node[], outputs: string[]): Graph => ({ nodes, outputs, metadata: { source: "synthetic" } });

function pool(name: string, input: string, op: "maxpool" | "avgpool", window: [number, number], strides: [number, number], pads: Pads, countIncludePad = false): Node {
  return { op, name, inputs: [input], window, strides, pads, countIncludePad };
}

function conv(name: string, input: string, r: () => number, kernelShape: [number, number, number, number], strides: [number, number], pads: Pads, bias: boolean, relu: boolean): Node {
  return {
    op: "conv2d", name, inputs: [input], kernelShape, strides, pads,
    kernel: randomArray(size(kernelShape), r), bias: bias ? randomArray(kernelShape[3], r) : null, activation: relu ? "relu" : "linear",
  };
}

const H = 9, W = 7, C = 5;

/**
 * On a 9x7 input, 3x3 windows: pads1 is TF "same" at stride 1 and 2, pads0
 * "valid", the rest only explicit; 2x2 stride 2 with bottom/right 1 is TF
 * "same" although asymmetric. Each pool also exists with countIncludePad on.
 */
function windowGraph(): Graph {
  const r = rng(3);
  const cases: [string, Pads][] = [
    ["same", pads1],
    ["valid", pads0],
    ["asymBR", { top: 0, left: 0, bottom: 1, right: 1 }],
    ["asymMix", { top: 1, left: 0, bottom: 0, right: 1 }],
    ["asym2", { top: 2, left: 0, bottom: 1, right: 2 }],
  ];
  const nodes: Node[] = [{ op: "input", name: "x", inputs: [], shape: [H, W, C] }];
  for (const [tag, pads] of cases) {
    for (const s of [1, 2]) {
      nodes.push(pool(`max_${tag}_s${s}`, "x", "maxpool", [3, 3], [s, s], pads));
      nodes.push(pool(`avg_${tag}_s${s}`, "x", "avgpool", [3, 3], [s, s], pads, false));
      nodes.push(pool(`avgcip_${tag}_s${s}`, "x", "avgpool", [3, 3], [s, s], pads, true));
      nodes.push(conv(`conv_${tag}_s${s}`, "x", r, [3, 3, C, 4], [s, s], pads, s === 1, tag !== "valid"));
    }
  }
  const tfSame: Pads = { top: 0, left: 0, bottom: 1, right: 1 };
  nodes.push(
    pool("max_2x2_same", "x", "maxpool", [2, 2], [2, 2], tfSame),
    pool("avg_2x2_same", "x", "avgpool", [2, 2], [2, 2], tfSame, false),
    pool("avgcip_2x2_same", "x", "avgpool", [2, 2], [2, 2], tfSame, true),
    pool("max_3x2_s21", "x", "maxpool", [3, 2], [2, 1], { top: 1, left: 0, bottom: 1, right: 1 }),
    pool("avg_1x3_s12", "x", "avgpool", [1, 3], [1, 2], { top: 0, left: 2, bottom: 0, right: 1 }, false),
    conv("conv_1x3_s21", "x", r, [1, 3, C, 3], [2, 1], { top: 0, left: 2, bottom: 1, right: 0 }, true, false),
  );
  return graphOf(nodes, nodes.slice(1).map((n) => n.name));
}

/** Every other op: BN without gamma and on flat tensors, flatten of a multi-pixel tensor, both concat, softmax, log-softmax and sigmoid ranks. */
function opsGraph(): Graph {
  const r = rng(5);
  const nodes: Node[] = [
    { op: "input", name: "x", inputs: [], shape: [4, 4, 3] },
    conv("c", "x", r, [3, 3, 3, 4], [2, 2], { top: 0, left: 0, bottom: 1, right: 1 }, true, false),
    { op: "batchnorm", name: "bn", inputs: ["c"], gamma: null, beta: randomArray(4, r), mean: randomArray(4, r), variance: randomArray(4, r, 1, 1), epsilon: 1e-3 },
    { op: "relu", name: "r", inputs: ["bn"] },
    { op: "flatten", name: "f", inputs: ["r"] },
    { op: "dense", name: "d1", inputs: ["f"], kernel: randomArray(16 * 6, r), kernelShape: [16, 6], bias: randomArray(6, r), activation: "relu" },
    { op: "globalavgpool", name: "g", inputs: ["x"] },
    { op: "concat", name: "cat", inputs: ["d1", "g"] },
    { op: "batchnorm", name: "bn2", inputs: ["cat"], gamma: randomArray(9, r), beta: null, mean: randomArray(9, r), variance: randomArray(9, r, 1, 1), epsilon: 1e-5 },
    { op: "dense", name: "d2", inputs: ["bn2"], kernel: randomArray(9 * 5, r, 4), kernelShape: [9, 5], bias: null, activation: "linear" },
    { op: "softmax", name: "sm", inputs: ["d2"] },
    { op: "identity", name: "probs", inputs: ["sm"] },
    { op: "softmax", name: "smi", inputs: ["c"] },
    { op: "concat", name: "cat2", inputs: ["c", "r", "c"] },
    { op: "logsoftmax", name: "lsm", inputs: ["d2"] },
    { op: "logsoftmax", name: "lsmi", inputs: ["c"] },
    { op: "sigmoid", name: "sg", inputs: ["d2"] },
    { op: "sigmoid", name: "sgi", inputs: ["c"] },
  ];
  return graphOf(nodes, ["probs", "smi", "cat2", "lsm", "lsmi", "sg", "sgi"]);
}

/** Runs every non-input tensor of `graph` through the reference and compares with the naive interpreter. */
async function checkAll(ref: TfjsReference, graph: Graph, input: Float32Array, B: number, what: string): Promise<void> {
  const inputShape = (graph.nodes[0] as Node & { op: "input" }).shape;
  const names = graph.nodes.slice(1).map((n) => n.name);
  const got = await ref.run(input, inputShape, names);
  const want = naiveRun(graph, input, B);
  for (const name of names) {
    assert.equal(got[name]!.shape, [B, ...want.get(name)!.shape], `${what} ${name}: shape`);
    assertClose(got[name]!.data, want.get(name)!.data, `${what} ${name}`);
  }
}

const Synthetic = suite("tfjs graph reference: synthetic graphs vs naive loops");

for (const backend of ["wasm", "cpu"] as const) {
  Synthetic(`pools and convs: same / valid / asymmetric pads, avg with and without padded cells, batch 2 (${backend})`, async () => {
    const graph = windowGraph();
    const ref = await createTfjsGraphReference(graph, { backend });
    try {
      assert.is(ref.backend, backend);
      const B = 2, n = B * H * W * C;
      await checkAll(ref, graph, randomArray(n, rng(11), 4), B, "mixed-sign");
      // All strictly negative: a padded zero taking part in a max would show.
      await checkAll(ref, graph, randomArray(n, rng(12), 1, -1), B, "negative");
    } finally {
      ref.dispose();
    }
  });

  Synthetic(`batchnorm, relu, flatten, dense, globalavgpool, concat, softmax, logsoftmax, sigmoid, identity (${backend})`, async () => {
    const graph = opsGraph();
    const ref = await createTfjsGraphReference(graph, { backend });
    try {
      await checkAll(ref, graph, randomArray(3 * 48, rng(13), 2), 3, "ops");
    } finally {
      ref.dispose();
    }
  });
}

for (const backend of ["wasm", "cpu"] as const) {
  Synthetic(`dilated, grouped, depthwise and strided-dilated convs (${backend})`, async () => {
    const r = rng(21);
    const convNode = (name: string, from: string, ks: [number, number, number, number], strides: [number, number], pads: Pads,
      dilations: [number, number], groups: number): Node => ({
      op: "conv2d", name, inputs: [from], kernel: randomArray(ks[0] * ks[1] * ks[2] * ks[3], r), kernelShape: ks,
      bias: randomArray(ks[3], r), strides, pads, activation: "linear", dilations, groups,
    });
    const graph = graphOf([
      { op: "input", name: "x", inputs: [], shape: [9, 10, 4] },
      convNode("dil", "x", [3, 3, 4, 6], [1, 1], { top: 2, left: 2, bottom: 2, right: 2 }, [2, 2], 1),
      convNode("dils", "x", [3, 2, 4, 5], [2, 3], { top: 1, left: 0, bottom: 2, right: 1 }, [2, 3], 1),
      convNode("grp", "dil", [3, 3, 3, 4], [2, 1], { top: 1, left: 1, bottom: 1, right: 1 }, [1, 1], 2),
      convNode("dw", "x", [3, 3, 1, 8], [1, 2], { top: 0, left: 1, bottom: 1, right: 1 }, [1, 2], 4),
    ], ["grp", "dils", "dw"]);
    const ref = await createTfjsGraphReference(graph, { backend });
    try {
      await checkAll(ref, graph, randomArray(2 * 9 * 10 * 4, rng(22), 2), 2, "dilated/grouped");
    } finally {
      ref.dispose();
    }
  });
}

for (const backend of ["wasm", "cpu"] as const) {
  Synthetic(`pads: constant (nonzero), reflect (tf.mirrorPad) and edge (gathered), asymmetric with zero sides, a pad of a pad (${backend})`, async () => {
    const pad = (name: string, from: string, pads: Pads, mode: "constant" | "reflect" | "edge", value = 0): Node =>
      ({ op: "pad", name, inputs: [from], pads, mode, value });
    const graph = graphOf([
      { op: "input", name: "x", inputs: [], shape: [5, 6, 3] },
      pad("const", "x", { top: 2, left: 0, bottom: 1, right: 3 }, "constant", -1.5),
      pad("refl", "x", { top: 4, left: 1, bottom: 0, right: 5 }, "reflect"),
      pad("edge", "x", { top: 0, left: 3, bottom: 6, right: 1 }, "edge"),
      pad("both", "refl", { top: 1, left: 2, bottom: 2, right: 0 }, "edge"),
    ], ["const", "refl", "edge", "both"]);
    const ref = await createTfjsGraphReference(graph, { backend });
    try {
      await checkAll(ref, graph, randomArray(2 * 5 * 6 * 3, rng(23), 2), 2, "pads");
    } finally {
      ref.dispose();
    }
  });
}

Synthetic("average pools: the divisor choice changes border values (the test can tell them apart)", () => {
  const graph = windowGraph();
  const want = naiveRun(graph, randomArray(H * W * C, rng(14), 1, 2), 1);
  for (const tag of ["same_s1", "asymMix_s2", "2x2_same"]) {
    const excl = want.get(`avg_${tag}`)!.data, incl = want.get(`avgcip_${tag}`)!.data;
    assert.ok(excl.some((v, i) => Math.abs(v - incl[i]!) > 0.1), `${tag}: no difference`);
  }
});

Synthetic("requests: bad shapes, unknown tensors, inputs as outputs; no tensor leaks; dispose", async () => {
  const graph = opsGraph();
  const before = tf.memory().numTensors;
  const ref = await createTfjsGraphReference(graph);
  const weights = tf.memory().numTensors - before;
  assert.ok(weights > 0);
  const x = randomArray(48, rng(15));
  await rejects(ref.run(x, [4, 4, 2], ["probs"]), /does not match model input/);
  await rejects(ref.run(x.subarray(1), [4, 4, 3], ["probs"]), /not a multiple/);
  await rejects(ref.run(x, [4, 4, 3], []), /no outputs/);
  await rejects(ref.run(x, [4, 4, 3], ["probs", "no_such_tensor"]), /no_such_tensor/);
  // Only what a request needs runs, whatever the graph outputs are.
  const out = await ref.run(x, [4, 4, 3], ["x", "g", "g"]);
  assert.equal(Object.keys(out).sort(), ["g", "x"]);
  assert.equal(out.x!.data, x);
  assert.is(tf.memory().numTensors, before + weights, "a run leaked tensors");
  ref.dispose();
  assert.is(tf.memory().numTensors, before);
  await rejects(ref.run(x, [4, 4, 3], ["probs"]), /after dispose/);
});

Synthetic("a graph with two inputs is refused", async () => {
  const graph = graphOf([
    { op: "input", name: "a", inputs: [], shape: [2, 2, 1] },
    { op: "input", name: "b", inputs: [], shape: [2, 2, 1] },
    { op: "concat", name: "c", inputs: ["a", "b"] },
  ], ["c"]);
  await rejects(createTfjsGraphReference(graph), /single-input graph, got 2 inputs/);
});

Synthetic.run();

// ---------------------------------------------------------------------------

const SIDE = 299;
const INPUT_SHAPE = [SIDE, SIDE, 3];

/** Deterministic image-like input in [0,1]: a smooth gradient plus seeded noise. */
function testImage(seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: SIDE * SIDE * 3 }, (_, i) => {
    const x = Math.floor(i / 3) % SIDE, y = Math.floor(i / 3 / SIDE);
    return 0.4 + 0.3 * Math.sin((x + 2 * y + 50 * (i % 3) + seed) / 23) + 0.2 * r();
  });
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.is(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const Nsfwjs = suite("tfjs graph reference vs tfjs-layers (nsfwjs InceptionV3)", {} as { layers: TfjsReference; graph: TfjsReference });

Nsfwjs.before(async (c) => {
  const artifacts = await readNsfwjsInceptionV3();
  c.layers = await createTfjsReference(artifacts);
  c.graph = await createTfjsGraphReference(importTfjsLayers(artifacts, { source: artifacts.source }));
});

Nsfwjs.after((c) => {
  c.graph.dispose();
  c.layers.dispose();
});

Nsfwjs("stem, mixed0, mixed5, mixed10 and dense_3 agree within 1e-4 (batch 2)", async ({ layers, graph }) => {
  const names = ["max_pooling2d_2", "mixed0", "mixed5", "mixed10", "dense_3"];
  const a = testImage(1), b = testImage(2);
  const batch = new Float32Array(a.length * 2);
  batch.set(a);
  batch.set(b, a.length);
  const want = await layers.run(batch, INPUT_SHAPE, names);
  const got = await graph.run(batch, INPUT_SHAPE, names);
  for (const name of names) {
    assert.equal(got[name]!.shape, want[name]!.shape, `${name}: shape`);
    const diff = maxAbsDiff(got[name]!.data, want[name]!.data);
    assert.ok(diff <= 1e-4, `${name}: max |graph - layers| = ${diff}`);
  }
  assert.equal(got.dense_3!.shape, [2, 5]);
  // Different images must give different outputs, or the comparison proves nothing.
  assert.ok(maxAbsDiff(got.mixed10!.data.subarray(0, 8 * 8 * 2048), got.mixed10!.data.subarray(8 * 8 * 2048)) > 1e-3);
});

Nsfwjs.run();
