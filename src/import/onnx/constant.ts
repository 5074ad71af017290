/**
 * Constant tensors during ONNX import: initializers, Constant nodes and what
 * the importer folds from them (shape arithmetic such as Shape → Gather →
 * Concat → Reshape, and weight preprocessing such as Identity, Cast,
 * Transpose or Mul on an initializer).
 *
 * Elements are read as plain numbers whatever the element type: float32 (and
 * float16, widened by the parser) tensors keep their Float32Array, which
 * matters for weights; everything else and every folded result is float64,
 * exact for every integer a shape can hold.
 */

import type { OnnxDataType, OnnxTensor } from "./model.js";

export interface Const {
  kind: "const";
  dtype: OnnxDataType;
  dims: number[];
  /**
   * Row-major elements. int64 values beyond ±2^53 are rounded (ONNX only uses
   * them as "unbounded" sentinels, e.g. Slice ends). In an integer tensor NaN
   * stands for the batch size, which is symbolic: Shape of an activation
   * yields it, and arithmetic on it stays NaN, so whatever consumes it can
   * tell that it is not known at import time.
   */
  data: Float32Array | Float64Array;
}

export const FLOAT_TYPES: ReadonlySet<OnnxDataType> = new Set<OnnxDataType>(["float32", "float16", "float64"]);

/** A parsed tensor as a constant; its float32 data is shared, not copied (folding never writes into `data`). */
export function constFromTensor(tensor: OnnxTensor): Const {
  const { data } = tensor;
  const values =
    data instanceof Float32Array ? data : data instanceof BigInt64Array ? Float64Array.from(data, Number) : Float64Array.from(data);
  return { kind: "const", dtype: tensor.dataType, dims: [...tensor.dims], data: values };
}

export function makeConst(dtype: OnnxDataType, dims: number[], data: ArrayLike<number>): Const {
  return { kind: "const", dtype, dims, data: Float64Array.from(data) };
}

export function size(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Row-major strides of `dims`. */
export function strides(dims: readonly number[]): number[] {
  const out = new Array<number>(dims.length);
  let stride = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    out[i] = stride;
    stride *= dims[i];
  }
  return out;
}

/**
 * `value` as an element of `dtype`: float32 (and float16, which folding only
 * meets in weight preprocessing) rounds to float32; integers truncate toward
 * zero like ONNX's Cast and integer Div; NaN (the symbolic batch) stays NaN.
 */
export function toType(value: number, dtype: OnnxDataType): number {
  switch (dtype) {
    case "float64":
      return value;
    case "float32":
    case "float16":
      return Math.fround(value);
    case "bool":
      return Number.isNaN(value) ? value : value !== 0 ? 1 : 0;
    default:
      return Math.trunc(value);
  }
}

/** numpy-style broadcast of two shapes, or null when they are incompatible. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Strides for reading a tensor of `dims` broadcast to `out` (0 along broadcast axes). */
function broadcastStrides(dims: readonly number[], out: readonly number[]): number[] {
  const own = strides(dims);
  return out.map((_, i) => {
    const j = dims.length - out.length + i;
    return j < 0 || dims[j] === 1 ? 0 : own[j];
  });
}

/** Elementwise `f(a, b)` with numpy broadcasting; the caller checked the shapes broadcast. */
export function binaryConst(a: Const, b: Const, f: (x: number, y: number) => number): Const {
  const dims = broadcastShapes(a.dims, b.dims)!;
  const sa = broadcastStrides(a.dims, dims);
  const sb = broadcastStrides(b.dims, dims);
  const count = size(dims);
  const data = new Float64Array(count);
  const index = new Array<number>(dims.length).fill(0);
  for (let i = 0; i < count; i++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < dims.length; d++) {
      ia += index[d] * sa[d];
      ib += index[d] * sb[d];
    }
    data[i] = toType(f(a.data[ia], b.data[ib]), a.dtype);
    for (let d = dims.length - 1; d >= 0 && ++index[d] === dims[d]; d--) index[d] = 0;
  }
  return { kind: "const", dtype: a.dtype, dims, data };
}

/**
 * Elements at `indices` along `axis` (Gather). The indices are already
 * normalized (non-negative, in range); `indexDims` replaces the axis in the
 * output shape ([] for a scalar index, which removes it).
 */
export function gatherConst(c: Const, axis: number, indices: readonly number[], indexDims: readonly number[]): Const {
  const outer = size(c.dims.slice(0, axis));
  const inner = size(c.dims.slice(axis + 1));
  const along = c.dims[axis];
  const data = new Float64Array(outer * indices.length * inner);
  let o = 0;
  for (let i = 0; i < outer; i++) {
    for (const index of indices) {
      const from = (i * along + index) * inner;
      for (let k = 0; k < inner; k++) data[o++] = c.data[from + k];
    }
  }
  return { kind: "const", dtype: c.dtype, dims: [...c.dims.slice(0, axis), ...indexDims, ...c.dims.slice(axis + 1)], data };
}

/**
 * The indices Slice selects along an axis of `length`, with ONNX's clamping:
 * negative starts/ends count from the end, and out-of-range bounds (such as
 * the INT64_MAX "to the end" sentinel) are clamped per step direction.
 */
export function sliceIndices(length: number, start: number, end: number, step: number): number[] {
  const norm = (v: number) => (v < 0 ? v + length : v);
  const out: number[] = [];
  if (step > 0) {
    const from = Math.min(Math.max(norm(start), 0), length);
    const to = Math.min(Math.max(norm(end), 0), length);
    for (let i = from; i < to; i += step) out.push(i);
  } else {
    const from = Math.min(Math.max(norm(start), -1), length - 1);
    const to = Math.min(Math.max(norm(end), -1), length - 1);
    for (let i = from; i > to; i += step) out.push(i);
  }
  return out;
}

export function transposeConst(c: Const, perm: readonly number[]): Const {
  const dims = perm.map((p) => c.dims[p]);
  const from = strides(c.dims);
  const count = size(dims);
  const data = new Float64Array(count);
  const index = new Array<number>(dims.length).fill(0);
  for (let i = 0; i < count; i++) {
    let src = 0;
    for (let d = 0; d < dims.length; d++) src += index[d] * from[perm[d]];
    data[i] = c.data[src];
    for (let d = dims.length - 1; d >= 0 && ++index[d] === dims[d]; d--) index[d] = 0;
  }
  return { kind: "const", dtype: c.dtype, dims, data };
}

/** Concatenation along `axis`; the caller checked that the other dims agree. */
export function concatConst(parts: readonly Const[], axis: number): Const {
  const first = parts[0];
  const outer = size(first.dims.slice(0, axis));
  const dims = [...first.dims];
  dims[axis] = parts.reduce((n, p) => n + p.dims[axis], 0);
  const data = new Float64Array(size(dims));
  let o = 0;
  for (let i = 0; i < outer; i++) {
    for (const p of parts) {
      const chunk = size(p.dims.slice(axis));
      data.set(p.data.subarray(i * chunk, (i + 1) * chunk), o);
      o += chunk;
    }
  }
  return { kind: "const", dtype: first.dtype, dims, data };
}
