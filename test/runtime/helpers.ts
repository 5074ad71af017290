/**
 * Shared helpers for the runtime tests: deterministic random data, the kernel
 * build/thread configurations, a session wrapper, tolerant comparison, and a
 * naive float64 reference for every IR op (plain loops written here, with no
 * code from src/ besides the IR types) plus a tiny interpreter that evaluates
 * an *unoptimized* graph node by node with them.
 */
import * as assert from "uvu/assert";
import { weightValues, type Graph, type Node, type PadMode, type Pads } from "../../src/graph/ir.js";
import { nodePlatform } from "../../src/platform/node.js";
import { Session } from "../../src/runtime/session.js";

export function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

export function randomArray(n: number, r: () => number, scale = 1, offset = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * scale + offset;
  return a;
}

export const configs = [
  { build: "relaxed", threads: 1 },
  { build: "plain", threads: 1 },
  { build: "relaxed", threads: 2 },
  { build: "plain", threads: 2 },
] as const;

export type Config = (typeof configs)[number];

export const cfgName = (cfg: Config): string => `${cfg.build}, ${cfg.threads}T`;

export const pads0: Pads = { top: 0, left: 0, bottom: 0, right: 0 };
export const pads1: Pads = { top: 1, left: 1, bottom: 1, right: 1 };

export function graphOf(nodes: Node[], outputs: string[]): Graph {
  return { nodes, outputs, metadata: { source: "test" } };
}

/** Creates a session, runs `body`, always disposes (workers must not outlive a test). */
export async function withSession<T>(graph: Graph, cfg: Config, body: (s: Session) => Promise<T>, keep: string[] = []): Promise<T> {
  const session = await Session.create(graph, { threads: cfg.threads, build: cfg.build, platform: nodePlatform, keep });
  try {
    return await body(session);
  } finally {
    session.dispose();
  }
}

/**
 * |got - want| <= tol * max(1, |want|) element-wise (relative for large values,
 * absolute near zero), no NaN, same length; the message names the first bad element.
 */
export function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 1e-5): void {
  assert.is(got.length, want.length, `${what}: length ${got.length}, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (!(Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)))) {
      assert.unreachable(`${what}: element ${i} is ${g}, expected ${w} (diff ${Math.abs(g - w)})`);
    }
  }
}

// ---------------------------------------------------------------------------
// Naive reference (float64, NHWC, batch-major).

/** A batch of tensors: `shape` is per sample ([H,W,C] or [C]). */
export interface T {
  B: number;
  shape: number[];
  data: Float64Array;
}

export function tensor(B: number, shape: number[], data: ArrayLike<number>): T {
  const size = B * shape.reduce((a, b) => a * b, 1);
  assert.is(data.length, size, "tensor data length");
  return { B, shape: [...shape], data: Float64Array.from(data) };
}

const perSample = (t: T): number => t.shape.reduce((a, b) => a * b, 1);

/** Convolution; `ks[2]` is the input channels per group, the kernel [kh][kw][cin/groups][cout]. */
export function naiveConv(x: T, kernel: ArrayLike<number>, ks: [number, number, number, number], bias: ArrayLike<number> | null,
  s: readonly [number, number], p: Pads, relu: boolean, d: readonly [number, number] = [1, 1], groups = 1): T {
  const [H, W, C] = x.shape as [number, number, number];
  const [kh, kw, cinG, cout] = ks;
  assert.is(cinG * groups, C, "naiveConv: channel mismatch");
  const coutG = cout / groups;
  const OH = Math.floor((H + p.top + p.bottom - ((kh - 1) * d[0] + 1)) / s[0]) + 1;
  const OW = Math.floor((W + p.left + p.right - ((kw - 1) * d[1] + 1)) / s[1]) + 1;
  const y = new Float64Array(x.B * OH * OW * cout);
  for (let n = 0; n < x.B; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) for (let co = 0; co < cout; co++) {
    let acc = bias ? bias[co]! : 0;
    const c0 = Math.floor(co / coutG) * cinG;
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const iy = oy * s[0] - p.top + ky * d[0], ix = ox * s[1] - p.left + kx * d[1];
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
      for (let ci = 0; ci < cinG; ci++) acc += x.data[((n * H + iy) * W + ix) * C + c0 + ci]! * kernel[((ky * kw + kx) * cinG + ci) * cout + co]!;
    }
    y[((n * OH + oy) * OW + ox) * cout + co] = relu ? Math.max(0, acc) : acc;
  }
  return { B: x.B, shape: [OH, OW, cout], data: y };
}

/**
 * Max / average pooling. Padding never takes part in a max; an average sums
 * the valid cells and divides by the number of valid cells (countIncludePad
 * false, Keras) or by the number of window cells inside the padded input
 * (true, PyTorch / ONNX).
 */
export function naivePool(x: T, isMax: boolean, k: readonly [number, number], s: readonly [number, number], p: Pads, countIncludePad: boolean): T {
  const [H, W, C] = x.shape as [number, number, number];
  const OH = Math.floor((H + p.top + p.bottom - k[0]) / s[0]) + 1;
  const OW = Math.floor((W + p.left + p.right - k[1]) / s[1]) + 1;
  const y = new Float64Array(x.B * OH * OW * C);
  for (let n = 0; n < x.B; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) for (let c = 0; c < C; c++) {
    let max = -Infinity, sum = 0, valid = 0, inPadded = 0;
    for (let ky = 0; ky < k[0]; ky++) for (let kx = 0; kx < k[1]; kx++) {
      const iy = oy * s[0] - p.top + ky, ix = ox * s[1] - p.left + kx;
      if (iy >= -p.top && iy < H + p.bottom && ix >= -p.left && ix < W + p.right) inPadded++;
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
      const v = x.data[((n * H + iy) * W + ix) * C + c]!;
      max = Math.max(max, v);
      sum += v;
      valid++;
    }
    y[((n * OH + oy) * OW + ox) * C + c] = isMax ? max : sum / (countIncludePad ? inPadded : valid);
  }
  return { B: x.B, shape: [OH, OW, C], data: y };
}

/**
 * Spatial padding: output pixel (oy, ox) is input pixel (oy - top, ox - left)
 * when that exists; otherwise `value` (constant), the pixel as far inside the
 * edge as this one is outside, not counting the edge twice (reflect), or the
 * nearest edge pixel (edge).
 */
export function naivePad(x: T, p: Pads, mode: PadMode, value: number): T {
  const [H, W, C] = x.shape as [number, number, number];
  const OH = H + p.top + p.bottom, OW = W + p.left + p.right;
  const inside = (i: number, size: number): number => {
    if (mode === "reflect") return i < 0 ? -i : i >= size ? size - 1 - (i - (size - 1)) : i;
    return Math.min(Math.max(i, 0), size - 1);
  };
  const y = new Float64Array(x.B * OH * OW * C);
  for (let n = 0; n < x.B; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) for (let c = 0; c < C; c++) {
    const iy = oy - p.top, ix = ox - p.left;
    const outside = iy < 0 || iy >= H || ix < 0 || ix >= W;
    y[((n * OH + oy) * OW + ox) * C + c] = outside && mode === "constant"
      ? value
      : x.data[((n * H + inside(iy, H)) * W + inside(ix, W)) * C + c]!;
  }
  return { B: x.B, shape: [OH, OW, C], data: y };
}

export function naiveGlobalAvgPool(x: T): T {
  const [H, W, C] = x.shape as [number, number, number];
  const y = new Float64Array(x.B * C);
  for (let n = 0; n < x.B; n++) for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let i = 0; i < H * W; i++) sum += x.data[(n * H * W + i) * C + c]!;
    y[n * C + c] = sum / (H * W);
  }
  return { B: x.B, shape: [C], data: y };
}

/** Softmax (or log-softmax) over the last axis, in float64 with the row max subtracted. */
function naiveRowSoftmax(x: T, log: boolean): T {
  const C = x.shape.at(-1)!;
  const y = new Float64Array(x.data.length);
  for (let r = 0; r < x.data.length / C; r++) {
    let m = -Infinity;
    for (let j = 0; j < C; j++) m = Math.max(m, x.data[r * C + j]!);
    let sum = 0;
    for (let j = 0; j < C; j++) sum += Math.exp(x.data[r * C + j]! - m);
    for (let j = 0; j < C; j++) {
      const z = x.data[r * C + j]! - m;
      y[r * C + j] = log ? z - Math.log(sum) : Math.exp(z) / sum;
    }
  }
  return { B: x.B, shape: [...x.shape], data: y };
}

export function naiveSoftmax(x: T): T {
  return naiveRowSoftmax(x, false);
}

/** x - max - log(sum(exp(x - max))). */
export function naiveLogSoftmax(x: T): T {
  return naiveRowSoftmax(x, true);
}

/** Logistic sigmoid in float64, by cases so neither branch overflows. */
export function naiveSigmoid(x: T): T {
  const data = x.data.map((v) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v))));
  return { B: x.B, shape: [...x.shape], data };
}

/** Batch normalization computed the textbook way: (x - mean) / sqrt(var + eps) * gamma + beta. */
export function naiveBatchNorm(x: T, gamma: ArrayLike<number> | null, beta: ArrayLike<number> | null,
  mean: ArrayLike<number>, variance: ArrayLike<number>, epsilon: number): T {
  const C = x.shape.at(-1)!;
  const y = new Float64Array(x.data.length);
  for (let i = 0; i < y.length; i++) {
    const c = i % C;
    y[i] = ((x.data[i]! - mean[c]!) / Math.sqrt(variance[c]! + epsilon)) * (gamma ? gamma[c]! : 1) + (beta ? beta[c]! : 0);
  }
  return { B: x.B, shape: [...x.shape], data: y };
}

export function naiveRelu(x: T): T {
  return { B: x.B, shape: [...x.shape], data: x.data.map((v) => Math.max(0, v)) };
}

export function naiveDense(x: T, kernel: ArrayLike<number>, ks: [number, number], bias: ArrayLike<number> | null, relu: boolean): T {
  const [K, N] = ks;
  assert.equal(x.shape, [K], "naiveDense: input shape");
  const y = new Float64Array(x.B * N);
  for (let n = 0; n < x.B; n++) for (let j = 0; j < N; j++) {
    let acc = bias ? bias[j]! : 0;
    for (let k = 0; k < K; k++) acc += x.data[n * K + k]! * kernel[k * N + j]!;
    y[n * N + j] = relu ? Math.max(0, acc) : acc;
  }
  return { B: x.B, shape: [N], data: y };
}

/** Concatenation along the last axis. */
export function naiveConcat(parts: T[]): T {
  const B = parts[0]!.B;
  const lead = parts[0]!.shape.slice(0, -1);
  const pixels = lead.reduce((a, b) => a * b, 1);
  const C = parts.reduce((n, t) => n + t.shape.at(-1)!, 0);
  const y = new Float64Array(B * pixels * C);
  for (let p = 0; p < B * pixels; p++) {
    let o = 0;
    for (const t of parts) {
      assert.equal(t.shape.slice(0, -1), lead, "naiveConcat: leading dims");
      const c = t.shape.at(-1)!;
      for (let j = 0; j < c; j++) y[p * C + o + j] = t.data[p * c + j]!;
      o += c;
    }
  }
  return { B, shape: [...lead, C], data: y };
}

export function naiveFlatten(x: T): T {
  return { B: x.B, shape: [perSample(x)], data: x.data };
}

/** Evaluates every node of an (unoptimized) graph with the naive ops above; returns every tensor. */
export function naiveRun(graph: Graph, inputs: Map<string, T>): Map<string, T> {
  const values = new Map<string, T>();
  const get = (name: string): T => {
    const v = values.get(name);
    if (!v) throw new Error(`naiveRun: ${name} not computed yet`);
    return v;
  };
  for (const node of graph.nodes) {
    const x = node.inputs.length ? get(node.inputs[0]!) : null!;
    let y: T;
    switch (node.op) {
      case "input":
        y = inputs.get(node.name)!;
        assert.equal(y.shape, node.shape, `naiveRun: input ${node.name} shape`);
        break;
      case "conv2d":
        y = naiveConv(x, weightValues(node.kernel), node.kernelShape, node.bias, node.strides, node.pads, node.activation === "relu",
          node.dilations, node.groups);
        break;
      case "maxpool":
      case "avgpool":
        y = naivePool(x, node.op === "maxpool", node.window, node.strides, node.pads, node.countIncludePad);
        break;
      case "pad":
        y = naivePad(x, node.pads, node.mode, node.value);
        break;
      case "globalavgpool":
        y = naiveGlobalAvgPool(x);
        break;
      case "softmax":
        y = naiveSoftmax(x);
        break;
      case "logsoftmax":
        y = naiveLogSoftmax(x);
        break;
      case "sigmoid":
        y = naiveSigmoid(x);
        break;
      case "batchnorm":
        y = naiveBatchNorm(x, node.gamma, node.beta, node.mean, node.variance, node.epsilon);
        break;
      case "relu":
        y = naiveRelu(x);
        break;
      case "dense":
        y = naiveDense(x, weightValues(node.kernel), node.kernelShape, node.bias, node.activation === "relu");
        break;
      case "concat":
        y = naiveConcat(node.inputs.map(get));
        break;
      case "flatten":
        y = naiveFlatten(x);
        break;
      case "identity":
        y = x;
        break;
    }
    values.set(node.name, y);
  }
  return values;
}

/** Float32 copy of a reference tensor's data, to feed the session. */
export const f32 = (t: T): Float32Array => Float32Array.from(t.data);

/**
 * Runs `graph` through a session and through naiveRun on the same inputs
 * and checks every requested tensor (graph outputs by default) against the
 * reference, including its dims.
 */
export async function checkGraph(session: Session, graph: Graph, inputs: Map<string, T>, names?: string[], tol = 1e-5): Promise<void> {
  const B = [...inputs.values()][0]!.B;
  const want = naiveRun(graph, inputs);
  const fed = new Map([...inputs].map(([k, v]) => [k, f32(v)]));
  const got = await session.run(fed, B, names);
  for (const name of names ?? graph.outputs) {
    const g = got.get(name);
    assert.ok(g, `no output ${name}`);
    const w = want.get(name)!;
    assert.equal(g!.dims, [B, ...w.shape], `${name}: dims`);
    assertClose(g!.data, w.data, name, tol);
  }
}

// Node builders (short, with defaults) ----------------------------------------

export function input(name: string, shape: number[]): Node {
  return { op: "input", name, inputs: [], shape };
}

export function conv(name: string, from: string, r: () => number, ks: [number, number, number, number],
  opts: { strides?: [number, number]; pads?: Pads; relu?: boolean; bias?: boolean; dilations?: [number, number]; groups?: number } = {}): Node {
  const [kh, kw, cin, cout] = ks;
  return {
    op: "conv2d", name, inputs: [from], kernel: randomArray(kh * kw * cin * cout, r), kernelShape: ks,
    bias: opts.bias === false ? null : randomArray(cout, r), strides: opts.strides ?? [1, 1],
    pads: opts.pads ?? (kh === 1 && kw === 1 ? pads0 : { top: kh >> 1, bottom: kh >> 1, left: kw >> 1, right: kw >> 1 }),
    activation: opts.relu ? "relu" : "linear",
    ...(opts.dilations ? { dilations: opts.dilations } : {}),
    ...(opts.groups ? { groups: opts.groups } : {}),
  };
}

export function pool(name: string, from: string, op: "maxpool" | "avgpool", window: [number, number], strides: [number, number],
  pads: Pads, countIncludePad = false): Node {
  return { op, name, inputs: [from], window, strides, pads, countIncludePad };
}

export function dense(name: string, from: string, r: () => number, K: number, N: number, opts: { relu?: boolean; bias?: boolean } = {}): Node {
  return {
    op: "dense", name, inputs: [from], kernel: randomArray(K * N, r), kernelShape: [K, N],
    bias: opts.bias === false ? null : randomArray(N, r), activation: opts.relu ? "relu" : "linear",
  };
}

export function batchnorm(name: string, from: string, r: () => number, C: number, opts: { gamma?: boolean; beta?: boolean } = {}): Node {
  return {
    op: "batchnorm", name, inputs: [from],
    gamma: opts.gamma === false ? null : randomArray(C, r, 1, 1),
    beta: opts.beta === false ? null : randomArray(C, r),
    mean: randomArray(C, r),
    variance: randomArray(C, r, 1, 0.6), // in [0.1, 1.1)
    epsilon: 1e-3,
  };
}

export function op1(op: "relu" | "softmax" | "logsoftmax" | "sigmoid" | "globalavgpool" | "flatten" | "identity", name: string, from: string): Node {
  return { op, name, inputs: [from] } as Node;
}

export function pad(name: string, from: string, pads: Pads, mode: PadMode, value = 0): Node {
  return { op: "pad", name, inputs: [from], pads, mode, value };
}

export function concat(name: string, inputs: string[]): Node {
  return { op: "concat", name, inputs };
}
