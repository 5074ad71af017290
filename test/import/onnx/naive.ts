/**
 * A naive float64 ONNX interpreter for the importer tests: NCHW as ONNX
 * defines it, plain loops written from the operator specifications, sharing
 * no code with the importer (only the parser's decoded model). Covers the ops
 * the synthetic test models use, with the attribute forms they use.
 */

import type { OnnxAttribute, OnnxModel, OnnxNode, OnnxTensor } from "../../../src/import/onnx/model.js";

export interface Tensor {
  dims: number[];
  data: Float64Array;
}

const prod = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

/** Calls f(index, flat) for every multi-index of `dims` in row-major order. */
function each(dims: readonly number[], f: (index: number[], flat: number) => void): void {
  const index = new Array<number>(dims.length).fill(0);
  const n = prod(dims);
  for (let i = 0; i < n; i++) {
    f(index, i);
    for (let d = dims.length - 1; d >= 0 && ++index[d] === dims[d]; d--) index[d] = 0;
  }
}

function fromOnnx(t: OnnxTensor): Tensor {
  return { dims: [...t.dims], data: t.data instanceof BigInt64Array ? Float64Array.from(t.data, Number) : Float64Array.from(t.data) };
}

function attr<T>(n: OnnxNode, name: string, fallback: T): T {
  const a: OnnxAttribute | undefined = n.attributes.get(name);
  return a === undefined ? fallback : (a.value as T);
}

function broadcast(a: Tensor, b: Tensor, f: (x: number, y: number) => number): Tensor {
  const rank = Math.max(a.dims.length, b.dims.length);
  const pad = (d: number[]) => [...new Array<number>(rank - d.length).fill(1), ...d];
  const da = pad(a.dims);
  const db = pad(b.dims);
  const dims = da.map((x, i) => Math.max(x, db[i]));
  const sa = stridesOf(da);
  const sb = stridesOf(db);
  const data = new Float64Array(prod(dims));
  each(dims, (idx, i) => {
    let ia = 0;
    let ib = 0;
    idx.forEach((v, d) => {
      ia += (da[d] === 1 ? 0 : v) * sa[d];
      ib += (db[d] === 1 ? 0 : v) * sb[d];
    });
    data[i] = f(a.data[ia], b.data[ib]);
  });
  return { dims, data };
}

/** Elements at `indices` along `axis`. */
function take(t: Tensor, axis: number, indices: number[]): Tensor {
  const dims = [...t.dims];
  dims[axis] = indices.length;
  const s = stridesOf(t.dims);
  const data = new Float64Array(prod(dims));
  each(dims, (idx, i) => {
    let src = 0;
    idx.forEach((v, d) => (src += (d === axis ? indices[v] : v) * s[d]));
    data[i] = t.data[src];
  });
  return { dims, data };
}

interface Window {
  k: [number, number];
  s: [number, number];
  /** top, left, bottom, right */
  p: [number, number, number, number];
  out: [number, number];
}

function window(n: OnnxNode, H: number, W: number, k: [number, number]): Window {
  const s = attr<number[]>(n, "strides", [1, 1]) as [number, number];
  const autoPad = attr<string>(n, "auto_pad", "NOTSET");
  const ceil = attr<number>(n, "ceil_mode", 0) === 1;
  let p = attr<number[]>(n, "pads", [0, 0, 0, 0]) as [number, number, number, number];
  if (autoPad === "VALID") p = [0, 0, 0, 0];
  if (autoPad.startsWith("SAME")) {
    const total = [H, W].map((size, i) => Math.max((Math.ceil(size / s[i]) - 1) * s[i] + k[i] - size, 0));
    const small = total.map((t) => Math.floor(t / 2));
    p = autoPad === "SAME_UPPER" ? [small[0], small[1], total[0] - small[0], total[1] - small[1]] : [total[0] - small[0], total[1] - small[1], small[0], small[1]];
  }
  const out = [H, W].map((size, i) => {
    const span = size + p[i] + p[i + 2] - k[i];
    if (!ceil) return Math.floor(span / s[i]) + 1;
    let o = Math.ceil(span / s[i]) + 1;
    if ((o - 1) * s[i] >= size + p[i]) o--;
    return o;
  }) as [number, number];
  return { k, s, p, out };
}

function conv(x: Tensor, w: Tensor, b: Tensor | undefined, n: OnnxNode): Tensor {
  const [N, C, H, W] = x.dims;
  const [O, Cg, kh, kw] = w.dims;
  const [dh, dw] = attr<number[]>(n, "dilations", [1, 1]);
  const group = attr<number>(n, "group", 1);
  const { s, p, out } = window(n, H, W, [(kh - 1) * dh + 1, (kw - 1) * dw + 1]);
  const [OH, OW] = out;
  const data = new Float64Array(N * O * OH * OW);
  for (let b0 = 0; b0 < N; b0++) for (let o = 0; o < O; o++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    let acc = b ? b.data[o] : 0;
    const c0 = Math.floor(o / (O / group)) * Cg;
    for (let c = 0; c < Cg; c++) for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const iy = oy * s[0] - p[0] + ky * dh;
      const ix = ox * s[1] - p[1] + kx * dw;
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
      acc += x.data[((b0 * C + c0 + c) * H + iy) * W + ix] * w.data[((o * Cg + c) * kh + ky) * kw + kx];
    }
    data[((b0 * O + o) * OH + oy) * OW + ox] = acc;
  }
  return { dims: [N, O, OH, OW], data };
}

/** PyTorch/ONNX pooling: with count_include_pad the divisor counts padding but not what ceil_mode adds beyond it. */
function pool(x: Tensor, n: OnnxNode, max: boolean): Tensor {
  const [N, C, H, W] = x.dims;
  const { k, s, p, out } = window(n, H, W, attr<number[]>(n, "kernel_shape", []) as [number, number]);
  const includePad = attr<number>(n, "count_include_pad", 0) === 1;
  const [OH, OW] = out;
  const data = new Float64Array(N * C * OH * OW);
  for (let b = 0; b < N * C; b++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    const y0 = oy * s[0] - p[0];
    const x0 = ox * s[1] - p[1];
    let acc = max ? -Infinity : 0;
    let count = 0;
    for (let iy = Math.max(y0, 0); iy < Math.min(y0 + k[0], H); iy++) for (let ix = Math.max(x0, 0); ix < Math.min(x0 + k[1], W); ix++) {
      const v = x.data[(b * H + iy) * W + ix];
      acc = max ? Math.max(acc, v) : acc + v;
      count++;
    }
    if (!max && includePad) count = (Math.min(y0 + k[0], H + p[2]) - y0) * (Math.min(x0 + k[1], W + p[3]) - x0);
    data[(b * OH + oy) * OW + ox] = max ? acc : acc / count;
  }
  return { dims: [N, C, OH, OW], data };
}

/** Per-channel (axis 1) map over an [N,C,...] tensor. */
function perChannel(x: Tensor, f: (v: number, c: number) => number): Tensor {
  const C = x.dims[1];
  const inner = prod(x.dims.slice(2));
  return { dims: x.dims, data: x.data.map((v, i) => f(v, Math.floor(i / inner) % C)) };
}

function softmax(x: Tensor, axis: number, opset: number, log = false): Tensor {
  const a = axis < 0 ? axis + x.dims.length : axis;
  // Before opset 13: softmax over the flattened axes a..end; since: over axis a alone.
  const dims = opset < 13 ? [prod(x.dims.slice(0, a)), prod(x.dims.slice(a)), 1] : [prod(x.dims.slice(0, a)), x.dims[a], prod(x.dims.slice(a + 1))];
  const [outer, len, inner] = dims;
  const data = new Float64Array(x.data.length);
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
    const at = (j: number) => (o * len + j) * inner + i;
    let m = -Infinity;
    for (let j = 0; j < len; j++) m = Math.max(m, x.data[at(j)]);
    let sum = 0;
    for (let j = 0; j < len; j++) sum += Math.exp(x.data[at(j)] - m);
    for (let j = 0; j < len; j++) data[at(j)] = log ? x.data[at(j)] - m - Math.log(sum) : Math.exp(x.data[at(j)] - m) / sum;
  }
  return { dims: x.dims, data };
}

function evaluate(n: OnnxNode, ins: (Tensor | undefined)[], opset: number): Tensor[] {
  const [x, y, z] = ins;
  const ints = (t: Tensor | undefined) => (t ? [...t.data] : undefined);
  const axesOf = () => (opset < 13 ? attr<number[] | undefined>(n, "axes", undefined) : ints(y));
  switch (n.opType) {
    case "Conv":
      return [conv(x!, y!, z, n)];
    case "MaxPool":
      return [pool(x!, n, true)];
    case "AveragePool":
      return [pool(x!, n, false)];
    case "GlobalAveragePool": {
      const [N, C, H, W] = x!.dims;
      const data = new Float64Array(N * C);
      for (let i = 0; i < N * C; i++) for (let j = 0; j < H * W; j++) data[i] += x!.data[i * H * W + j] / (H * W);
      return [{ dims: [N, C, 1, 1], data }];
    }
    case "ReduceMean": {
      const axes = new Set((attr<number[]>(n, "axes", [])).map((a) => (a < 0 ? a + x!.dims.length : a)));
      const keep = attr<number>(n, "keepdims", 1) === 1;
      const full = x!.dims.map((d, i) => (axes.has(i) ? 1 : d));
      const data = new Float64Array(prod(full));
      const count = prod(x!.dims.filter((_, i) => axes.has(i)));
      const s = stridesOf(full);
      each(x!.dims, (idx, i) => (data[idx.reduce((acc, v, d) => acc + (axes.has(d) ? 0 : v) * s[d], 0)] += x!.data[i] / count));
      return [{ dims: keep ? full : x!.dims.filter((_, i) => !axes.has(i)), data }];
    }
    case "BatchNormalization": {
      const [, scale, bias, mean, variance] = ins;
      const eps = attr(n, "epsilon", 1e-5);
      return [perChannel(x!, (v, c) => ((v - mean!.data[c]) / Math.sqrt(variance!.data[c] + eps)) * scale!.data[c] + bias!.data[c])];
    }
    case "Relu":
      return [{ dims: x!.dims, data: x!.data.map((v) => Math.max(v, 0)) }];
    case "Sigmoid":
      return [{ dims: x!.dims, data: x!.data.map((v) => 1 / (1 + Math.exp(-v))) }];
    case "Clip": {
      const lo = opset < 11 ? attr(n, "min", -Infinity) : (y?.data[0] ?? -Infinity);
      const hi = opset < 11 ? attr(n, "max", Infinity) : (z?.data[0] ?? Infinity);
      return [{ dims: x!.dims, data: x!.data.map((v) => Math.min(Math.max(v, lo), hi)) }];
    }
    case "Pad": {
      const mode = attr<string>(n, "mode", "constant");
      const pads = opset < 11 ? attr<number[]>(n, "pads", []) : ints(y)!;
      const value = opset < 11 ? attr(n, "value", 0) : (z?.data[0] ?? 0);
      const r = x!.dims.length;
      const dims = x!.dims.map((d, i) => d + pads[i] + pads[i + r]);
      const data = new Float64Array(prod(dims));
      const s = stridesOf(x!.dims);
      // The input index output index o of axis d reads, or -1 for the constant.
      const from = (o: number, d: number): number => {
        const i = o - pads[d];
        const size = x!.dims[d];
        if (i >= 0 && i < size) return i;
        if (mode === "reflect") return i < 0 ? -i : 2 * (size - 1) - i;
        if (mode === "edge") return i < 0 ? 0 : size - 1;
        return -1;
      };
      each(dims, (idx, k) => {
        const at = idx.map(from);
        data[k] = at.includes(-1) ? value : x!.data[at.reduce((acc, v, d) => acc + v * s[d], 0)];
      });
      return [{ dims, data }];
    }
    case "Concat": {
      const parts = ins as Tensor[];
      const a = (attr(n, "axis", 0) + parts[0].dims.length) % parts[0].dims.length;
      const dims = [...parts[0].dims];
      dims[a] = parts.reduce((acc, p) => acc + p.dims[a], 0);
      const data = new Float64Array(prod(dims));
      const s = stridesOf(dims);
      let offset = 0;
      for (const p of parts) {
        each(p.dims, (idx, i) => (data[idx.reduce((acc, v, d) => acc + (d === a ? v + offset : v) * s[d], 0)] = p.data[i]));
        offset += p.dims[a];
      }
      return [{ dims, data }];
    }
    case "Flatten": {
      const a = attr(n, "axis", 1);
      return [{ dims: [prod(x!.dims.slice(0, a)), prod(x!.dims.slice(a))], data: x!.data }];
    }
    case "Reshape": {
      const dims = ints(y)!.map((d, i) => (d === 0 ? x!.dims[i] : d));
      const known = prod(dims.filter((d) => d !== -1));
      return [{ dims: dims.map((d) => (d === -1 ? x!.data.length / known : d)), data: x!.data }];
    }
    case "Squeeze": {
      const axes = axesOf()!.map((a) => (a < 0 ? a + x!.dims.length : a));
      return [{ dims: x!.dims.filter((_, i) => !axes.includes(i)), data: x!.data }];
    }
    case "Unsqueeze": {
      const given = axesOf()!;
      const rank = x!.dims.length + given.length;
      const axes = given.map((a) => (a < 0 ? a + rank : a));
      let next = 0;
      return [{ dims: Array.from({ length: rank }, (_, i) => (axes.includes(i) ? 1 : x!.dims[next++])), data: x!.data }];
    }
    case "Transpose": {
      const perm = attr<number[]>(n, "perm", x!.dims.map((_, i) => x!.dims.length - 1 - i));
      const dims = perm.map((p) => x!.dims[p]);
      const s = stridesOf(x!.dims);
      const data = new Float64Array(x!.data.length);
      each(dims, (idx, i) => (data[i] = x!.data[idx.reduce((acc, v, d) => acc + v * s[perm[d]], 0)]));
      return [{ dims, data }];
    }
    case "Identity":
    case "Dropout":
      return [x!];
    case "Cast":
      return [{ dims: x!.dims, data: attr(n, "to", 1) === 1 ? x!.data : x!.data.map(Math.trunc) }];
    case "Shape":
      return [{ dims: [x!.dims.length], data: Float64Array.from(x!.dims) }];
    case "Gather": {
      const a = attr(n, "axis", 0);
      const indices = [...y!.data].map((i) => (i < 0 ? i + x!.dims[a] : i));
      const t = take(x!, a, indices);
      return [{ dims: [...x!.dims.slice(0, a), ...y!.dims, ...x!.dims.slice(a + 1)], data: t.data }];
    }
    case "Slice": {
      const [, starts, ends, axes, steps] = opset < 10 ? [undefined, attr<number[]>(n, "starts", []), attr<number[]>(n, "ends", []), attr<number[] | undefined>(n, "axes", undefined)] : ins.map(ints);
      let t = x!;
      starts!.forEach((start, j) => {
        const a = axes ? (axes[j] + t.dims.length) % t.dims.length : j;
        const len = t.dims[a];
        const step = steps ? steps[j] : 1;
        const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + len : v, lo), hi);
        const indices: number[] = [];
        if (step > 0) for (let i = clamp(start, 0, len); i < clamp(ends![j], 0, len); i += step) indices.push(i);
        else for (let i = clamp(start, -1, len - 1); i > clamp(ends![j], -1, len - 1); i += step) indices.push(i);
        t = take(t, a, indices);
      });
      return [t];
    }
    case "Constant": {
      const v = n.attributes.get("value")!;
      return [fromOnnx(v.value as OnnxTensor)];
    }
    case "Gemm": {
      const a = attr(n, "transA", 0) ? transpose2(x!) : x!;
      const b = attr(n, "transB", 0) ? transpose2(y!) : y!;
      const [M, K] = a.dims;
      const N = b.dims[1];
      const prodAB = { dims: [M, N], data: new Float64Array(M * N) };
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += a.data[i * K + k] * b.data[k * N + j];
        prodAB.data[i * N + j] = attr(n, "alpha", 1) * acc;
      }
      return [z ? broadcast(prodAB, z, (u, c) => u + attr(n, "beta", 1) * c) : prodAB];
    }
    case "MatMul": {
      const [M, K] = x!.dims;
      const N = y!.dims[1];
      const data = new Float64Array(M * N);
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) data[i * N + j] += x!.data[i * K + k] * y!.data[k * N + j];
      return [{ dims: [M, N], data }];
    }
    case "Add":
      return [broadcast(x!, y!, (a, b) => a + b)];
    case "Sub":
      return [broadcast(x!, y!, (a, b) => a - b)];
    case "Mul":
      return [broadcast(x!, y!, (a, b) => a * b)];
    case "Div":
      return [broadcast(x!, y!, (a, b) => a / b)];
    case "Softmax":
      return [softmax(x!, attr(n, "axis", opset < 13 ? 1 : -1), opset)];
    case "LogSoftmax":
      return [softmax(x!, attr(n, "axis", opset < 13 ? 1 : -1), opset, true)];
    case "Sigmoid":
      return [{ dims: x!.dims, data: x!.data.map((v) => 1 / (1 + Math.exp(-v))) }];
    default:
      throw new Error(`naive interpreter: no ${n.opType}`);
  }
}

function transpose2(t: Tensor): Tensor {
  const [r, c] = t.dims;
  const data = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) data[j * r + i] = t.data[i * c + j];
  return { dims: [c, r], data };
}

/** Evaluates every node of `model` in file order; returns every tensor by name. */
export function runNaive(model: OnnxModel, feeds: Record<string, Tensor>): Map<string, Tensor> {
  const env = new Map<string, Tensor>();
  for (const [name, t] of model.initializers) env.set(name, fromOnnx(t));
  for (const [name, t] of Object.entries(feeds)) env.set(name, t);
  const opset = model.opsets.get("") ?? 1;
  for (const n of model.nodes) {
    const outs = evaluate(n, n.inputs.map((name) => (name === "" ? undefined : env.get(name))), opset);
    outs.forEach((t, i) => env.set(n.outputs[i], t));
  }
  return env;
}

/** [N,C,H,W] → [N,H,W,C] as float32, the layout our graphs take and give. */
export function toNhwc(t: Tensor): Float32Array {
  const [N, C, H, W] = t.dims;
  const out = new Float32Array(t.data.length);
  for (let b = 0; b < N; b++) for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    out[((b * H + y) * W + x) * C + c] = t.data[((b * C + c) * H + y) * W + x];
  }
  return out;
}
