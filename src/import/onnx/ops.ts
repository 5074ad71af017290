/**
 * One converter per supported ONNX operator. A converter reads its node's
 * inputs (constants or activations, see values.ts), folds when everything is
 * constant and the op is shape or weight arithmetic, and otherwise records
 * what its output is: a new IR node, or a new view of an existing one.
 *
 * Attribute and input forms follow the operator set version where they
 * changed (Squeeze/Unsqueeze axes and Clip bounds became inputs in 13 and 11,
 * Pad's pads and value in 11, Slice's bounds in 10, Softmax's and
 * LogSoftmax's axis semantics in 13). Where a value cannot be expressed in the IR the converter fails
 * naming the attribute and its value.
 */

import { deferredWeights, type DeferredWeights, type Pads } from "../../graph/ir.js";
import type { NodeContext } from "./builder.js";
import {
  binaryConst, broadcastShapes, concatConst, constFromTensor, FLOAT_TYPES, gatherConst, makeConst, size, sliceIndices, toType,
  transposeConst, type Const,
} from "./constant.js";
import { TensorProto_DataType as DataType } from "./gen/onnx_pb.js";
import type { OnnxDataType } from "./model.js";
import { flatAct, fmtDims, isChannelAxis, pooledAct, spatialAct, spatialLayout, type Act, type Source } from "./values.js";

type Converter = (n: NodeContext) => void;
type Affine = Extract<Source, { kind: "affine" }>;

/**
 * Softmax and LogSoftmax: the IR runs both over one axis of its tensor, the
 * channels unless told otherwise. Before opset 13 the input is coerced to
 * 2-D at `axis`: the op then runs over all axes from it on, which is one IR
 * axis when the others are 1 (or when all of a flattened value's are).
 */
function softmax(op: "softmax" | "logsoftmax"): Converter {
  return (n: NodeContext) => {
    const x = n.act(0);
    const axis = n.int("axis", n.opset < 13 ? 1 : -1);
    const a = sampleAxis(n, x, axis, "axis");
    const reduced = n.opset < 13 ? range(x.dims.length).slice(a) : [a];
    const last = x.shape.length - 1;
    // The IR axis the reduced axes live on: the one held by the only reduced axis of size > 1,
    // or, when every reduced axis has size 1 (a softmax of one value), the channels if that has size 1 too.
    const held = new Set(reduced.filter((i) => x.dims[i] > 1).map((i) => x.axes[i]!));
    const irAxis = x.perm
      ? (reduced.length === x.dims.length ? last : -1)
      : held.size === 1 ? [...held][0] : held.size === 0 && x.shape[last] === 1 ? last : -1;
    if (irAxis < 0) {
      n.unsupported("axis", axis, `the IR's ${op} runs over one axis of its tensor; over ${fmtDims(x.dims)} from axis ${axis} on that is ${held.size} axes`);
    }
    n.set(sameLayout(n, x, n.im.add({ op, name: irName(n), inputs: [n.im.tensor(x)], ...(irAxis !== last ? { axis: irAxis } : {}) })));
  };
}

const ZERO: Pads = { top: 0, left: 0, bottom: 0, right: 0 };
/** Clip's default bounds before opset 11 (±FLT_MAX), which mean "unbounded". */
const FLT_MAX = 3.4028234663852886e38;

function addPads(a: Pads, b: Pads): Pads {
  return { top: a.top + b.top, left: a.left + b.left, bottom: a.bottom + b.bottom, right: a.right + b.right };
}

function isZero(p: Pads): boolean {
  return p.top === 0 && p.left === 0 && p.bottom === 0 && p.right === 0;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** `axis` in [-rank, rank) as a non-negative axis. */
function normAxis(n: NodeContext, axis: number, rank: number, what: string): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) n.fail(`${what} ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** An axis of an activation (which has the batch axis first) as an index into its per-sample `dims`. */
function sampleAxis(n: NodeContext, x: Act, axis: number, what: string): number {
  const a = normAxis(n, axis, x.dims.length + 1, what);
  if (a === 0) n.unsupported(what, axis, "the batch axis must stay first and untouched");
  return a - 1;
}

/**
 * The IR axis holding each spatial axis of `x`, which must be 1-D [N,C,L] or
 * 2-D [N,C,H,W] data (see spatialLayout).
 */
function requireSpatial(n: NodeContext, x: Act): number[] {
  const layout = spatialLayout(x);
  if (!layout) {
    const why = x.dims.length > 3 ? " (3-D and higher convolution and pooling are not supported: the IR is 2-D)" : "";
    n.fail(`expects an [N,C,L] or [N,C,H,W] input, got ${fmtDims(x.dims)}${x.dims.length >= 2 && x.dims.length <= 3 ? ` laid out as IR [${x.shape.join(",")}]` : ""}${why}`);
  }
  return layout;
}

/**
 * ONNX conv weights [O, I, spatial…] as an IR HWIO kernel: spatial axis i is
 * IR axis layout[i] of a kernel `kw` taps wide. Deferred to packing, so the
 * import holds no second copy of the weights.
 */
function hwioKernel(weights: Float32Array, cout: number, cin: number, taps: number[], layout: number[], kw: number): DeferredWeights {
  const count = taps.reduce((a, b) => a * b, 1);
  return deferredWeights(weights.length, (out) => {
    for (let tap = 0; tap < count; tap++) {
      const at = [0, 0];
      let rest = tap;
      for (let i = taps.length - 1; i >= 0; i--) {
        at[layout[i]!] = rest % taps[i]!;
        rest = Math.floor(rest / taps[i]!);
      }
      const to = at[0]! * kw + at[1]!;
      for (let o = 0; o < cout; o++) {
        for (let i = 0; i < cin; i++) out[(to * cin + i) * cout + o] = weights[(o * cin + i) * count + tap]!;
      }
    }
  });
}

/** The output of a new IR node `tensor` computed elementwise from `x`: same view, new tensor. */
function sameLayout(n: NodeContext, x: Act, tensor: string): Act {
  return { ...x, name: n.name, shape: n.im.shapes.get(tensor)!, src: { kind: "tensor", tensor }, exclusive: true, materialized: undefined };
}

function irName(n: NodeContext): string {
  return n.im.freshName(n.name, true);
}

/** One positive integer per spatial axis (kernel_shape, strides, dilations); `fallback` for each when absent. */
function spatialInts(n: NodeContext, name: string, rank: number, fallback?: number): number[] {
  const v = n.ints(name) ?? (fallback === undefined ? undefined : new Array<number>(rank).fill(fallback));
  if (!v) n.fail(`attribute ${name} is missing`);
  if (v.length !== rank || !v.every((x) => Number.isInteger(x) && x >= 1)) {
    n.unsupported(name, v, `expected ${rank} positive integer(s), one per spatial axis of the ${rank}-D input`);
  }
  return v;
}

/** A sliding window in IR terms: [H, W] pairs, the IR axis that no spatial axis holds (1-D data) a plain 1-wide one. */
interface Window {
  kernel: [number, number];
  strides: [number, number];
  /** Explicit or auto_pad padding. */
  pads: Pads;
  /**
   * ceil_mode: cells beyond the bottom/right padding that the last window
   * overhangs (never counted by an average).
   */
  extra: [number, number];
  dilations: [number, number];
}

/**
 * The sliding-window attributes shared by Conv, MaxPool and AveragePool for
 * input `x` (spatial axis i held by IR axis layout[i]) and window `kernel`
 * (one size per spatial axis). `dilated`: whether the op takes dilations.
 */
function windowParams(n: NodeContext, x: Act, layout: number[], kernel: number[], ceilMode: boolean, dilated: boolean): Window {
  const rank = layout.length;
  const size = x.dims.slice(1);
  const strides = spatialInts(n, "strides", rank, 1);
  const dilations = spatialInts(n, "dilations", rank, 1);
  // AveragePool takes dilations from opset 19 on.
  if (!dilated && dilations.some((d) => d !== 1)) n.unsupported("dilations", dilations, "only 1 is supported (the IR has no dilated average pooling)");
  // A dilated window spans (k - 1) * d + 1 pixels.
  const span = kernel.map((k, i) => (k - 1) * dilations[i] + 1);
  const autoPad = n.string("auto_pad", "NOTSET");
  let before: number[];
  let after: number[];
  switch (autoPad) {
    case "NOTSET": {
      const p = n.ints("pads") ?? new Array<number>(2 * rank).fill(0);
      if (p.length !== 2 * rank || !p.every((v) => Number.isInteger(v) && v >= 0)) {
        n.unsupported("pads", p, `expected ${2 * rank} non-negative integers (${rank}-D window)`);
      }
      before = p.slice(0, rank);
      after = p.slice(rank);
      break;
    }
    case "VALID":
      before = new Array<number>(rank).fill(0);
      after = [...before];
      break;
    case "SAME_UPPER":
    case "SAME_LOWER": {
      // Output ceil(in / stride); the odd pixel of padding goes at the end (UPPER) or the start (LOWER).
      const total = size.map((length, i) => Math.max((Math.ceil(length / strides[i]) - 1) * strides[i] + span[i] - length, 0));
      const half = total.map((t) => Math.floor(t / 2));
      before = autoPad === "SAME_UPPER" ? half : total.map((t, i) => t - half[i]);
      after = total.map((t, i) => t - before[i]);
      break;
    }
    default:
      n.unsupported("auto_pad", autoPad, "expected NOTSET, VALID, SAME_UPPER or SAME_LOWER");
  }
  const extra = size.map((length, i) => {
    if (!ceilMode || autoPad !== "NOTSET") return 0;
    // Output ceil((in + pads - k) / s) + 1, minus a last window that would start in the end padding (PyTorch's rule).
    const s = strides[i];
    const total = length + before[i] + after[i];
    if (total < span[i]) return 0;
    let out = Math.ceil((total - span[i]) / s) + 1;
    if ((out - 1) * s >= length + before[i]) out--;
    return Math.max(0, (out - 1) * s + span[i] - total);
  });
  // Spatial axis i goes to IR axis layout[i]; an IR axis no spatial axis holds gets a 1-wide window.
  const ir = (values: number[], fallback: number): [number, number] => {
    const at = (a: number) => {
      const i = layout.indexOf(a);
      return i < 0 ? fallback : values[i];
    };
    return [at(0), at(1)];
  };
  const [top, left] = ir(before, 0);
  const [bottom, right] = ir(after, 0);
  return { kernel: ir(kernel, 1), strides: ir(strides, 1), pads: { top, left, bottom, right }, extra: ir(extra, 0), dilations: ir(dilations, 1) };
}

/** The pooling kernels read padding only within the window: each side must be smaller than it. */
function fitsWindow(p: Pads, [kh, kw]: [number, number]): boolean {
  return p.top < kh && p.bottom < kh && p.left < kw && p.right < kw;
}

/** `x` without its pending zero padding: the IR tensor to read and the padding still to apply. */
function unpadded(n: NodeContext, x: Act): { tensor: string; pending: Pads } {
  if (x.src.kind === "pad" && x.materialized === undefined) return { tensor: x.src.tensor, pending: x.src.pads };
  return { tensor: n.im.tensor(x), pending: ZERO };
}

/** `x` as a per-channel affine map of its IR tensor (the identity map when nothing is pending); `x` must have no pending padding. */
function affineOf(n: NodeContext, x: Act): Affine {
  if (x.materialized === undefined && x.src.kind === "affine") return x.src;
  const c = x.shape.at(-1)!;
  return { kind: "affine", tensor: n.im.tensor(x), channels: range(c), scale: new Float64Array(c).fill(1), shift: new Float64Array(c) };
}

/**
 * Picks channels `indices` of ONNX axis `axis` (Gather, Slice): a pending
 * channel selection, absorbed by what follows (see values.ts). `keep` false
 * removes the axis (a scalar Gather index).
 */
function selectAlong(n: NodeContext, x: Act, axis: number, indices: number[], keep: boolean): Act {
  const dims = [...x.dims];
  const axes = [...x.axes];
  if (x.dims[axis] === 1) {
    if (indices.length !== 1) n.fail(`repeats size-1 axis ${axis + 1} ${indices.length} times, which is not supported on activations`);
    if (!keep) {
      dims.splice(axis, 1);
      axes.splice(axis, 1);
    }
    return n.im.derive(x, n.name, { dims, axes });
  }
  if (indices.length === 0) n.fail(`selects no element of axis ${axis + 1}`);
  if (!isChannelAxis(x, axis) || x.perm) {
    n.fail(`selects along axis ${axis + 1} of ${fmtDims(x.dims)}, which is not the channel axis; activations can only be indexed by channel`);
  }
  const value = x.src.kind === "pad" ? n.im.concrete(x) : x;
  const base = affineOf(n, value);
  const last = value.shape.length - 1;
  if (keep) {
    dims[axis] = indices.length;
    axes[axis] = indices.length > 1 ? last : null;
  } else {
    dims.splice(axis, 1);
    axes.splice(axis, 1);
  }
  const src: Affine = {
    kind: "affine", tensor: base.tensor, channels: indices.map((i) => base.channels[i]),
    scale: Float64Array.from(indices, (i) => base.scale[i]), shift: Float64Array.from(indices, (i) => base.shift[i]),
  };
  return n.im.derive(value, n.name, { dims, axes, shape: [...value.shape.slice(0, -1), indices.length], src });
}

/**
 * The constant operand of an elementwise op with activation `x`, as one value
 * per IR channel of `x`. It may be a scalar or vary along the channel axis
 * only; it may not enlarge the activation by broadcasting.
 */
function channelVector(n: NodeContext, x: Act, c: Const): Float64Array {
  const rank = x.dims.length + 1;
  const shown = `constant of shape [${c.dims.join(",")}]`;
  if (!FLOAT_TYPES.has(c.dtype)) n.fail(`${shown} has element type ${c.dtype}; activations are float`);
  if (c.dims.length > rank) n.fail(`${shown} has more axes than the activation ${fmtDims(x.dims)}`);
  const dims = [...new Array<number>(rank - c.dims.length).fill(1), ...c.dims];
  if (dims[0] !== 1) n.fail(`${shown} varies along the batch axis`);
  let axis = -1;
  for (let i = 1; i < rank; i++) {
    if (dims[i] === 1) continue;
    if (dims[i] !== x.dims[i - 1]) n.fail(`${shown} does not broadcast to the activation ${fmtDims(x.dims)} without enlarging it`);
    if (axis >= 0) n.fail(`${shown} varies along more than one axis; only per-channel constants are supported`);
    axis = i - 1;
  }
  const k = x.shape.at(-1)!;
  if (axis < 0) return new Float64Array(k).fill(c.data[0]);
  if (!isChannelAxis(x, axis)) n.fail(`${shown} varies along axis ${axis + 1} of ${fmtDims(x.dims)}, which is not the channel axis`);
  if (!x.perm) return Float64Array.from(c.data);
  const out = new Float64Array(k);
  x.perm.forEach((ir, i) => (out[ir] = c.data[i]));
  return out;
}

/** y = x * scale + shift per channel, composed with what `x` already has pending. */
function applyAffine(n: NodeContext, x: Act, scale: Float64Array, shift: Float64Array): Act {
  // Padding then the map would turn padded zeros into `shift`: the padding is made concrete first.
  const value = x.src.kind === "pad" ? n.im.concrete(x) : x;
  const base = affineOf(n, value);
  const src: Affine = {
    kind: "affine", tensor: base.tensor, channels: base.channels,
    scale: base.scale.map((s, j) => s * scale[j]), shift: base.shift.map((b, j) => b * scale[j] + shift[j]),
  };
  return n.im.derive(value, n.name, { src });
}

function arithmetic(op: "Add" | "Sub" | "Mul" | "Div"): Converter {
  const fold: Record<typeof op, (a: number, b: number) => number> = {
    Add: (a, b) => a + b, Sub: (a, b) => a - b, Mul: (a, b) => a * b, Div: (a, b) => a / b,
  };
  return (n: NodeContext) => {
    // Before opset 7 a `broadcast` flag with an `axis` aligned the operands differently from numpy.
    if (n.hasAttr("axis")) n.unsupported("axis", n.int("axis", 0), "legacy (opset < 7) axis broadcasting is not supported");
    const a = n.value(0);
    const b = n.value(1);
    if (a.kind === "const" && b.kind === "const") {
      if (a.dtype !== b.dtype) n.fail(`operands have element types ${a.dtype} and ${b.dtype}`);
      const dims = broadcastShapes(a.dims, b.dims);
      if (!dims) n.fail(`shapes [${a.dims.join(",")}] and [${b.dims.join(",")}] do not broadcast`);
      // Folding never needs to grow constants much; a hostile file must not make it allocate without bound.
      if (size(dims) > Math.max(size(a.dims), size(b.dims), 2 ** 20)) n.fail(`folding would broadcast [${a.dims.join(",")}] and [${b.dims.join(",")}] to [${dims.join(",")}]`);
      const f = op === "Div" && !FLOAT_TYPES.has(a.dtype) ? (x: number, y: number) => Math.trunc(x / y) : fold[op];
      return n.set(binaryConst(a, b, f));
    }
    if (a.kind === "act" && b.kind === "act") n.fail(`both inputs are activations; the IR has no elementwise ${op} of two tensors`);
    const x = (a.kind === "act" ? a : b) as Act;
    const v = channelVector(n, x, (a.kind === "const" ? a : b) as Const);
    const ones = new Float64Array(v.length).fill(1);
    const zeros = new Float64Array(v.length);
    const actFirst = a.kind === "act";
    switch (op) {
      case "Add":
        return n.set(applyAffine(n, x, ones, v));
      case "Sub":
        return n.set(actFirst ? applyAffine(n, x, ones, v.map((c) => -c)) : applyAffine(n, x, ones.map(() => -1), v));
      case "Mul":
        return n.set(applyAffine(n, x, v, zeros));
      case "Div":
        if (!actFirst) n.fail("divides a constant by an activation, which the IR cannot express");
        return n.set(applyAffine(n, x, v.map((c) => 1 / c), zeros));
    }
  };
}

/** A pooling over all of H and W: an IR globalavgpool, whose [C] output is viewed as [N,C,1,1] (or [N,C,1] for 1-D data). */
function globalPool(n: NodeContext, tensor: string, spatialRank: number): Act {
  const t = n.im.add({ op: "globalavgpool", name: irName(n), inputs: [tensor] });
  return pooledAct(n.name, t, n.im.shapes.get(t)![0], spatialRank);
}

const ELEMENT_TYPES: ReadonlyMap<number, OnnxDataType> = new Map([
  [DataType.FLOAT, "float32"], [DataType.FLOAT16, "float16"], [DataType.DOUBLE, "float64"], [DataType.INT64, "int64"],
  [DataType.INT32, "int32"], [DataType.INT8, "int8"], [DataType.UINT8, "uint8"], [DataType.BOOL, "bool"],
]);

/** Input 0 as `type`: constants are converted; activations must stay float32, the only type on the activation path. */
function cast(n: NodeContext, type: OnnxDataType): void {
  const v = n.value(0);
  if (v.kind === "const") return n.set({ ...v, dtype: type, data: Float64Array.from(v.data, (x) => toType(x, type)) });
  if (type !== "float32") n.fail(`casts the activation to ${type}; only float32 is supported on the activation path`);
  n.set(n.im.derive(v, n.name, {}));
}

/** Squeeze/Unsqueeze axes: an attribute before opset 13, an optional input since. */
function axesOperand(n: NodeContext): number[] | undefined {
  return n.opset < 13 ? n.ints("axes") : n.has(1) ? n.integers(1) : undefined;
}

/** The dims of a Reshape of a tensor of dims `full` to `target` (0 = copy unless allowzero, -1 = infer). */
function reshapeDims(n: NodeContext, full: readonly number[], target: readonly number[], allowZero: boolean): number[] {
  const out = target.map((t, i) => {
    if (t === 0 && !allowZero) {
      if (i >= full.length) n.fail(`shape [${target.join(",")}] copies dim ${i}, which the input [${full.join(",")}] does not have`);
      return full[i];
    }
    return t;
  });
  const known = (dims: number[]) => dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const total = size(full);
  const inferred = out.indexOf(-1);
  if (inferred >= 0) {
    if (out.lastIndexOf(-1) !== inferred) n.fail(`shape [${target.join(",")}] has more than one -1`);
    const rest = known(out);
    if (rest === 0 || total % rest !== 0) n.fail(`cannot reshape [${full.join(",")}] to [${target.join(",")}]`);
    out[inferred] = total / rest;
  }
  if (out.some((d) => !Number.isInteger(d) || d < 0) || size(out) !== total) n.fail(`cannot reshape [${full.join(",")}] to [${target.join(",")}]`);
  return out;
}

/** A view of `x` with `dims` that differ from its own only by size-1 axes, or null when they differ otherwise. */
function relabel(x: Act, dims: number[]): Pick<Act, "dims" | "axes"> | null {
  const held = x.axes.filter((_, i) => x.dims[i] > 1);
  const before = x.dims.filter((d) => d > 1);
  const after = dims.filter((d) => d > 1);
  if (before.length !== after.length || before.some((d, i) => d !== after[i])) return null;
  let next = 0;
  return { dims, axes: dims.map((d) => (d > 1 ? held[next++] : null)) };
}

/** A Reshape target of an activation: the batch dim first, then the per-sample dims. */
function reshapeAct(n: NodeContext, x: Act, target: number[], allowZero: boolean): void {
  const batch = n.im.batch;
  const shown = `[${target.map((t) => (Number.isNaN(t) ? "N" : t)).join(",")}]`;
  const first = target[0];
  // The batch dim: copied (0), inferred (-1), the symbolic batch from Shape (NaN), or equal to a static batch.
  const isBatch = target.length > 0 && ((first === 0 && !allowZero) || first === -1 || Number.isNaN(first) || first === batch);
  if (!isBatch) n.fail(`reshapes to ${shown}, whose first dim is not the batch size (0, -1, or the batch from Shape)`);
  if (target.slice(1).some(Number.isNaN)) n.fail(`reshapes to ${shown}, which depends on the batch size beyond its first dim`);
  const rest = target.slice(1);
  if (first === -1 && rest.includes(-1)) n.fail(`reshapes to ${shown}: the batch dim and another are both -1`);
  // With the batch dim settled, the rest reshapes one sample.
  const dims = reshapeDims(n, [1, ...x.dims], [1, ...rest], allowZero).slice(1);
  if (dims.length === 1) return n.set(n.im.flatten(x, n.name));
  const view = relabel(x, dims);
  if (!view) {
    n.fail(`reshape of ${fmtDims(x.dims)} to ${fmtDims(dims)} is not supported: only flattening to [N,K] and adding or removing size-1 axes are`);
  }
  n.set(n.im.derive(x, n.name, view));
}

export const OPS: Record<string, Converter> = {
  Conv(n: NodeContext) {
    const x = n.act(0);
    // A globally pooled [N,C,1,1] value is an IR [C] tensor; anything else must be spatial.
    const pooled = x.shape.length === 1 && x.dims.length >= 2 && isChannelAxis(x, 0);
    const layout = pooled ? null : requireSpatial(n, x);
    const w = n.constant(1);
    const group = n.int("group", 1);
    const [cout, cin] = w.dims;
    const taps = w.dims.slice(2);
    if (w.dims.length !== x.dims.length + 1) n.fail(`weights have shape [${w.dims.join(",")}], which does not fit the input ${fmtDims(x.dims)}`);
    if (!Number.isInteger(group) || group < 1 || cout % group !== 0) {
      n.unsupported("group", group, `expected a positive integer dividing the ${cout} output channels`);
    }
    const shape = n.ints("kernel_shape");
    if (shape && (shape.length !== taps.length || shape.some((k, i) => k !== taps[i]))) n.unsupported("kernel_shape", shape, `the weights are ${taps.join("x")}`);
    // cin is the input channels per group.
    if (x.dims[0] !== cin * group) n.fail(`weights expect ${cin * group} input channels (${group} group(s) of ${cin}), the input is ${fmtDims(x.dims)}`);
    const weights = n.weights(1);
    const bias = n.has(2) ? n.weights(2, [cout]) : null;
    if (!layout) {
      if (group !== 1) n.unsupported("group", group, "a grouped convolution of a globally pooled [N,C,1,1] input is not supported");
      // A 1x1 convolution of a globally pooled [N,C,1,1] value is a dense layer on the pooled vector.
      const pads = n.ints("pads") ?? [];
      if (taps.some((k) => k !== 1) || pads.some((p) => p !== 0)) n.fail("on a globally pooled [N,C,1,1] input only a 1x1 kernel without padding is supported");
      const kernel = hwioKernel(weights, cout, cin, taps, taps.map((_, i) => i), 1);
      const t = n.im.add({ op: "dense", name: irName(n), inputs: [n.im.tensor(x)], kernel, kernelShape: [cin, cout], bias, activation: "linear" });
      return n.set(pooledAct(n.name, t, cout, x.dims.length - 1));
    }
    const { tensor, pending } = unpadded(n, x);
    const window = windowParams(n, x, layout, taps, false, true);
    const [kh, kw] = window.kernel;
    const kernel = hwioKernel(weights, cout, cin, taps, layout, kw);
    const [dh, dw] = window.dilations;
    const t = n.im.add({
      op: "conv2d", name: irName(n), inputs: [tensor], kernel, kernelShape: [kh, kw, cin, cout], bias,
      strides: window.strides, pads: addPads(window.pads, pending), activation: "linear",
      ...(dh !== 1 || dw !== 1 ? { dilations: [dh, dw] as [number, number] } : {}),
      ...(group !== 1 ? { groups: group } : {}),
    });
    n.set(spatialAct(n.name, t, n.im.shapes.get(t)!, layout));
  },

  MaxPool(n: NodeContext) {
    const x = n.act(0);
    const layout = requireSpatial(n, x);
    if (n.outputRead(1)) n.fail("the Indices output is not supported");
    // Padded zeros are data for a max: a pending Pad is made concrete.
    const tensor = n.im.tensor(x);
    const window = windowParams(n, x, layout, spatialInts(n, "kernel_shape", layout.length), n.int("ceil_mode", 0) !== 0, true);
    const { kernel, dilations } = window;
    const span = kernel.map((k, i) => (k - 1) * dilations[i] + 1) as [number, number];
    const pads = addPads(window.pads, { top: 0, left: 0, bottom: window.extra[0], right: window.extra[1] });
    if (!fitsWindow(pads, span)) n.unsupported("pads", Object.values(pads), `padding must be smaller than the ${span.join("x")} window`);
    const t = n.im.add({
      op: "maxpool", name: irName(n), inputs: [tensor], window: kernel, strides: window.strides, pads, countIncludePad: false,
      ...(dilations[0] !== 1 || dilations[1] !== 1 ? { dilations } : {}),
    });
    n.set(spatialAct(n.name, t, n.im.shapes.get(t)!, layout));
  },

  AveragePool(n: NodeContext) {
    const x = n.act(0);
    const layout = requireSpatial(n, x);
    const includePad = n.int("count_include_pad", 0) !== 0;
    const window = windowParams(n, x, layout, spatialInts(n, "kernel_shape", layout.length), n.int("ceil_mode", 0) !== 0, false);
    const { kernel } = window;
    let { tensor, pending } = unpadded(n, x);
    // Padding the divisor counts: a preceding Pad's zeros, and the pool's own pads with count_include_pad.
    // Padding it does not: the pool's pads without it, and what ceil_mode adds beyond them.
    const extra: Pads = { top: 0, left: 0, bottom: window.extra[0], right: window.extra[1] };
    let counted = includePad ? addPads(pending, window.pads) : pending;
    const uncounted = includePad ? extra : addPads(window.pads, extra);
    // The IR pools with one padding and one flag: when both kinds are present, or the counted
    // padding does not fit the window, the counted part is made concrete first.
    if (!isZero(counted) && (!isZero(uncounted) || !fitsWindow(counted, kernel))) {
      tensor = n.im.padded(tensor, counted, n.im.freshName(`${n.name}/pad`, false));
      counted = ZERO;
    }
    const countIncludePad = isZero(uncounted);
    const pads = countIncludePad ? counted : uncounted;
    if (!fitsWindow(pads, kernel)) n.unsupported("pads", Object.values(pads), `padding must be smaller than the ${kernel.join("x")} window`);
    const [h, w] = n.im.shapes.get(tensor)!;
    if (isZero(pads) && kernel[0] === h && kernel[1] === w) return n.set(globalPool(n, tensor, layout.length));
    const t = n.im.add({ op: "avgpool", name: irName(n), inputs: [tensor], window: kernel, strides: window.strides, pads, countIncludePad });
    n.set(spatialAct(n.name, t, n.im.shapes.get(t)!, layout));
  },

  GlobalAveragePool(n: NodeContext) {
    const x = n.act(0);
    const layout = requireSpatial(n, x);
    n.set(globalPool(n, n.im.tensor(x), layout.length));
  },

  /** A max pooling whose window is the whole (padding-free) input. */
  GlobalMaxPool(n: NodeContext) {
    const x = n.act(0);
    const layout = requireSpatial(n, x);
    // Padded zeros are data for a max: a pending Pad is made concrete.
    const tensor = n.im.tensor(x);
    const [h, w] = n.im.shapes.get(tensor)!;
    const t = n.im.add({ op: "maxpool", name: irName(n), inputs: [tensor], window: [h, w], strides: [1, 1], pads: ZERO, countIncludePad: false });
    n.set(spatialAct(n.name, t, n.im.shapes.get(t)!, layout));
  },

  ReduceMean(n: NodeContext) {
    const x = n.act(0);
    const list = n.opset < 18 ? n.ints("axes") : n.has(1) ? n.integers(1) : undefined;
    if (!list) n.fail("reduces over all axes, including the batch axis");
    const reduced = new Set(list.map((a) => sampleAxis(n, x, a, "axes")));
    // Only a mean over H and W: IR axes 0 and 1 of an [H,W,C] tensor, whatever the ONNX view.
    const spatial = x.shape.length === 3 && !x.perm && x.dims.every((d, i) => d === 1 || reduced.has(i) === (x.axes[i] === 0 || x.axes[i] === 1));
    if (!spatial) n.unsupported("axes", list, `only a mean over the spatial axes of an image is supported, the input is ${fmtDims(x.dims)}`);
    const pooled = globalPool(n, n.im.tensor(x), 2);
    const keep = n.int("keepdims", 1) !== 0;
    const c = pooled.shape[0];
    const dims = x.dims.map((d, i) => (reduced.has(i) ? 1 : d)).filter((_, i) => keep || !reduced.has(i));
    n.set({ ...pooled, dims, axes: dims.map((d) => (d > 1 ? 0 : null)), shape: [c] });
  },

  BatchNormalization(n: NodeContext) {
    const x = n.act(0);
    if (n.int("training_mode", 0) !== 0) n.unsupported("training_mode", 1, "only inference is supported");
    if (n.hasAttr("is_test") && n.int("is_test", 1) === 0) n.unsupported("is_test", 0, "only inference is supported");
    if (n.int("spatial", 1) !== 1) n.unsupported("spatial", 0, "only per-channel statistics (spatial=1) are supported");
    for (let i = 1; i < n.node.outputs.length; i++) if (n.outputRead(i)) n.fail(`output ${i} (a training statistic) is not supported`);
    if (x.dims.length === 0 || !isChannelAxis(x, 0)) n.fail(`axis 1 of ${fmtDims(x.dims)} is not the channel axis of the IR tensor`);
    const c = x.dims[0];
    const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => {
      const values = n.weights(i, [c]);
      if (!x.perm) return values;
      const out = new Float32Array(c);
      x.perm.forEach((ir, j) => (out[ir] = values[j]));
      return out;
    });
    const t = n.im.add({
      op: "batchnorm", name: irName(n), inputs: [n.im.tensor(x)], gamma, beta, mean, variance, epsilon: n.float("epsilon", 1e-5),
    });
    n.set(sameLayout(n, x, t));
  },

  Relu(n: NodeContext) {
    const x = n.act(0);
    n.set(sameLayout(n, x, n.im.add({ op: "relu", name: irName(n), inputs: [n.im.tensor(x)] })));
  },

  Sigmoid(n: NodeContext) {
    const x = n.act(0);
    n.set(sameLayout(n, x, n.im.add({ op: "sigmoid", name: irName(n), inputs: [n.im.tensor(x)] })));
  },

  Clip(n: NodeContext) {
    const x = n.act(0);
    const [min, max] =
      n.opset < 11
        ? [n.float("min", -Infinity), n.float("max", Infinity)]
        : [n.has(1) ? n.scalar(1) : -Infinity, n.has(2) ? n.scalar(2) : Infinity];
    const lo = min <= -FLT_MAX ? -Infinity : min;
    const hi = max >= FLT_MAX ? Infinity : max;
    if (lo === -Infinity && hi === Infinity) return n.set(n.im.derive(x, n.name, {}));
    const why = "only Clip(0, ∞), i.e. ReLU, is supported: the IR has no clipped activation";
    if (lo !== 0) n.unsupported("min", min, why);
    if (hi !== Infinity) n.unsupported("max", max, why);
    n.set(sameLayout(n, x, n.im.add({ op: "relu", name: irName(n), inputs: [n.im.tensor(x)] })));
  },

  Concat(n: NodeContext) {
    if (!n.hasAttr("axis")) n.fail("attribute axis is missing");
    const axis = n.int("axis", 0);
    const values = n.node.inputs.map((_, i) => n.value(i));
    if (values.length === 0) n.fail("has no inputs");
    if (values.every((v) => v.kind === "const")) {
      const parts = values as Const[];
      const a = normAxis(n, axis, parts[0].dims.length, "axis");
      const agree = parts.every((p) => p.dtype === parts[0].dtype && p.dims.length === parts[0].dims.length && p.dims.every((d, i) => i === a || d === parts[0].dims[i]));
      if (!agree) n.fail(`inputs ${parts.map((p) => `${p.dtype} [${p.dims.join(",")}]`).join(", ")} do not concatenate along axis ${axis}`);
      return n.set(concatConst(parts, a));
    }
    const constant = values.findIndex((v) => v.kind === "const");
    if (constant >= 0) n.fail(`input ${constant} is a constant; concatenating constants with activations is not supported`);
    const acts = values as Act[];
    const first = acts[0];
    const a = sampleAxis(n, first, axis, "axis");
    const agree = acts.every((x) => x.dims.length === first.dims.length && x.dims.every((d, i) => i === a || d === first.dims[i]));
    if (!agree) n.fail(`inputs ${acts.map((x) => fmtDims(x.dims)).join(", ")} do not concatenate along axis ${axis}`);
    if (acts.length === 1) return n.set(n.im.derive(first, n.name, {}));
    // The IR axis joined: the one holding the axis in inputs where it is longer than 1 (else the channels,
    // or any axis of size 1 in all). Every input must hold it there, with the other axes laid out alike.
    const last = first.shape.length - 1;
    const holding = acts.find((x) => x.dims[a] > 1);
    const unit = (k: number) => acts.every((x) => x.shape[k] === 1);
    const k = holding ? holding.axes[a]! : unit(last) ? last : range(first.shape.length).find(unit) ?? last;
    const aligned = acts.every((x) => !x.perm && x.shape.length === first.shape.length && (x.dims[a] > 1 ? x.axes[a] === k : x.shape[k] === 1) && x.axes.every((m, i) => i === a || m === first.axes[i]));
    if (!aligned) n.fail(`concatenates along axis ${axis}, which the inputs ${acts.map((x) => fmtDims(x.dims)).join(", ")} do not hold on the same axis of their IR tensors`);
    const total = acts.reduce((sum, x) => sum + x.dims[a], 0);
    const dims = first.dims.map((d, i) => (i === a ? total : d));
    const axes = first.axes.map((m, i) => (i === a ? (total > 1 ? k : null) : m));
    if (k !== last) {
      const t = n.im.add({ op: "concat", name: irName(n), inputs: acts.map((x) => n.im.tensor(x)), axis: k });
      return n.set({ kind: "act", name: n.name, dims, axes, shape: n.im.shapes.get(t)!, perm: null, src: { kind: "tensor", tensor: t }, exclusive: true });
    }
    // Channel selections of one tensor (torchvision's transform_input) reassemble into one pending map of it.
    const pending = acts.some((x) => x.materialized === undefined && x.src.kind === "affine");
    const sources = pending && acts.every((x) => x.src.kind !== "pad" || x.materialized !== undefined) ? acts.map((x) => affineOf(n, x)) : null;
    if (sources && sources.every((s) => s.tensor === sources[0].tensor)) {
      const src: Affine = {
        kind: "affine", tensor: sources[0].tensor, channels: sources.flatMap((s) => s.channels),
        scale: Float64Array.from(sources.flatMap((s) => [...s.scale])), shift: Float64Array.from(sources.flatMap((s) => [...s.shift])),
      };
      return n.set({ kind: "act", name: n.name, dims, axes, shape: [...first.shape.slice(0, -1), total], perm: null, src, exclusive: false });
    }
    const t = n.im.add({ op: "concat", name: irName(n), inputs: acts.map((x) => n.im.tensor(x)) });
    n.set({ kind: "act", name: n.name, dims, axes, shape: n.im.shapes.get(t)!, perm: null, src: { kind: "tensor", tensor: t }, exclusive: true });
  },

  Flatten(n: NodeContext) {
    const v = n.value(0);
    const axis = n.int("axis", 1);
    // Unlike other axes, Flatten's may equal the rank: [-rank, rank].
    const rank = v.dims.length + (v.kind === "act" ? 1 : 0);
    if (!Number.isInteger(axis) || axis < -rank || axis > rank) n.fail(`axis ${axis} is out of range for rank ${rank}`);
    const a = axis < 0 ? axis + rank : axis;
    if (v.kind === "const") return n.set({ ...v, dims: [size(v.dims.slice(0, a)), size(v.dims.slice(a))] });
    if (a === 0) n.unsupported("axis", axis, "flattening the batch axis into the features is not supported");
    if (size(v.dims.slice(0, a - 1)) !== 1) n.unsupported("axis", axis, `it would merge axes of ${fmtDims(v.dims)} into the batch axis`);
    n.set(n.im.flatten(v, n.name));
  },

  Reshape(n: NodeContext) {
    const v = n.value(0);
    const target = n.opset < 5 ? n.ints("shape") : [...n.constant(1).data];
    if (!target) n.fail("attribute shape is missing");
    const allowZero = n.int("allowzero", 0) !== 0;
    if (v.kind === "act") return reshapeAct(n, v, target, allowZero);
    if (target.some(Number.isNaN)) n.fail(`shape [${target.join(",")}] depends on the batch size`);
    n.set({ ...v, dims: reshapeDims(n, v.dims, target, allowZero) });
  },

  Squeeze(n: NodeContext) {
    const v = n.value(0);
    const given = axesOperand(n);
    if (v.kind === "const") {
      const drop = new Set((given ?? v.dims.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => normAxis(n, a, v.dims.length, "axes")));
      if ([...drop].some((a) => v.dims[a] !== 1)) n.fail(`squeezes an axis of [${v.dims.join(",")}] whose size is not 1`);
      return n.set({ ...v, dims: v.dims.filter((_, i) => !drop.has(i)) });
    }
    // Without axes every size-1 axis goes, the batch axis too when it is fixed at 1.
    if (!given && n.im.batch === 1) n.fail("squeezes every size-1 axis, which includes the batch axis of size 1; give axes");
    const drop = new Set(given ? given.map((a) => sampleAxis(n, v, a, "axes")) : v.dims.flatMap((d, i) => (d === 1 ? [i] : [])));
    if ([...drop].some((a) => v.dims[a] !== 1)) n.fail(`squeezes an axis of ${fmtDims(v.dims)} whose size is not 1`);
    n.set(n.im.derive(v, n.name, { dims: v.dims.filter((_, i) => !drop.has(i)), axes: v.axes.filter((_, i) => !drop.has(i)) }));
  },

  Unsqueeze(n: NodeContext) {
    const v = n.value(0);
    const given = axesOperand(n);
    if (!given) n.fail("axes are missing");
    const rank = v.dims.length + (v.kind === "act" ? 1 : 0) + given.length;
    const inserted = new Set(given.map((a) => normAxis(n, a, rank, "axes")));
    if (inserted.size !== given.length) n.fail(`axes [${given.join(",")}] repeat an axis`);
    if (v.kind === "const") {
      let next = 0;
      return n.set({ ...v, dims: range(rank).map((i) => (inserted.has(i) ? 1 : v.dims[next++])) });
    }
    if (inserted.has(0)) n.unsupported("axes", given, "an axis before the batch axis is not supported");
    const dims: number[] = [];
    const axes: (number | null)[] = [];
    let next = 0;
    for (let i = 1; i < rank; i++) {
      if (inserted.has(i)) {
        dims.push(1);
        axes.push(null);
      } else {
        dims.push(v.dims[next]);
        axes.push(v.axes[next++]);
      }
    }
    n.set(n.im.derive(v, n.name, { dims, axes }));
  },

  Transpose(n: NodeContext) {
    const v = n.value(0);
    const rank = v.dims.length + (v.kind === "act" ? 1 : 0);
    const perm = n.ints("perm") ?? range(rank).reverse();
    if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) n.unsupported("perm", perm, `expected a permutation of ${rank} axes`);
    if (v.kind === "const") return n.set(transposeConst(v, perm));
    if (perm[0] !== 0) n.unsupported("perm", perm, "the batch axis must stay first");
    const from = perm.slice(1).map((p) => p - 1);
    n.set(n.im.derive(v, n.name, { dims: from.map((p) => v.dims[p]), axes: from.map((p) => v.axes[p]) }));
  },

  Gemm(n: NodeContext) {
    const x = n.act(0);
    const transA = n.int("transA", 0);
    if (transA !== 0) n.unsupported("transA", transA, "the rows of A are the batch; a transposed A is not supported");
    if (x.dims.length !== 1) n.fail(`expects an [N,K] input, got ${fmtDims(x.dims)}`);
    const b = n.constant(1);
    const transB = n.int("transB", 0) !== 0;
    if (b.dims.length !== 2) n.fail(`B has shape [${b.dims.join(",")}], expected a matrix`);
    const [k, m] = transB ? [b.dims[1], b.dims[0]] : b.dims;
    if (k !== x.dims[0]) n.fail(`B has shape [${b.dims.join(",")}]${transB ? " (transposed)" : ""}, which does not multiply ${fmtDims(x.dims)}`);
    const alpha = n.float("alpha", 1);
    const beta = n.float("beta", 1);
    let bias: Float32Array | null = null;
    if (n.has(2)) {
      const c = n.constant(2);
      const shown = `C of shape [${c.dims.join(",")}]`;
      if (!FLOAT_TYPES.has(c.dtype)) n.fail(`${shown} has element type ${c.dtype}`);
      if (c.dims.length > 2 || (c.dims.length === 2 && c.dims[0] !== 1)) n.fail(`${shown} varies along the batch axis; only a bias per output is supported`);
      const cols = c.dims.at(-1) ?? 1;
      if (cols !== 1 && cols !== m) n.fail(`${shown} does not broadcast to [N,${m}]`);
      bias = Float32Array.from({ length: m }, (_, j) => beta * c.data[cols === 1 ? 0 : j]);
    }
    n.set(dense(n, x, b, transB, alpha, bias));
  },

  MatMul(n: NodeContext) {
    const x = n.act(0);
    if (x.dims.length !== 1) n.fail(`expects an [N,K] input, got ${fmtDims(x.dims)}; only a matrix product with constant weights is supported`);
    const b = n.constant(1);
    if (b.dims.length !== 2 || b.dims[0] !== x.dims[0]) n.fail(`B has shape [${b.dims.join(",")}], which does not multiply ${fmtDims(x.dims)}`);
    n.set(dense(n, x, b, false, 1, null));
  },

  Add: arithmetic("Add"),
  Sub: arithmetic("Sub"),
  Mul: arithmetic("Mul"),
  Div: arithmetic("Div"),

  Softmax: softmax("softmax"),
  LogSoftmax: softmax("logsoftmax"),

  Dropout(n: NodeContext) {
    if (n.outputRead(1)) n.fail("the mask output is not supported");
    if (n.opset >= 12 && n.has(2) && n.scalar(2) !== 0) n.unsupported("training_mode", true, "only inference is supported");
    const v = n.value(0);
    n.set(v.kind === "const" ? v : n.im.derive(v, n.name, {}));
  },

  Identity(n: NodeContext) {
    const v = n.value(0);
    n.set(v.kind === "const" ? v : n.im.derive(v, n.name, {}));
  },

  Cast(n: NodeContext) {
    const to = n.int("to", -1);
    const type = ELEMENT_TYPES.get(to);
    if (!type) n.unsupported("to", to, `element type ${DataType[to] ?? to} is not supported`);
    cast(n, type);
  },

  /** Cast to the element type of input 1 (the PyTorch dynamo exporter writes it for scalar literals). */
  CastLike(n: NodeContext) {
    const like = n.value(1);
    cast(n, like.kind === "const" ? like.dtype : "float32");
  },

  Shape(n: NodeContext) {
    const v = n.value(0);
    const full = v.kind === "const" ? v.dims : [n.im.batch, ...v.dims];
    const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + full.length : i, 0), full.length);
    const dims = full.slice(clamp(n.int("start", 0)), clamp(n.int("end", full.length)));
    n.set(makeConst("int64", [dims.length], dims));
  },

  Gather(n: NodeContext) {
    const v = n.value(0);
    const indexConst = n.constant(1);
    const indices = n.integers(1);
    const rank = v.dims.length + (v.kind === "act" ? 1 : 0);
    const a = normAxis(n, n.int("axis", 0), rank, "axis");
    if (v.kind === "act" && a === 0) n.unsupported("axis", 0, "gathering along the batch axis is not supported");
    const length = v.kind === "act" ? v.dims[a - 1] : v.dims[a];
    const normalized = indices.map((i) => {
      if (i < -length || i >= length) n.fail(`index ${i} is out of range for an axis of size ${length}`);
      return i < 0 ? i + length : i;
    });
    if (v.kind === "const") return n.set(gatherConst(v, a, normalized, indexConst.dims));
    if (indexConst.dims.length > 1) n.fail(`indices of shape [${indexConst.dims.join(",")}] are not supported on activations (a scalar or a list)`);
    n.set(selectAlong(n, v, a - 1, normalized, indexConst.dims.length === 1));
  },

  Slice(n: NodeContext) {
    let v = n.value(0);
    const [starts, ends, axesGiven, steps] =
      n.opset < 10
        ? [n.ints("starts"), n.ints("ends"), n.ints("axes"), undefined]
        : [n.integers(1), n.integers(2), n.has(3) ? n.integers(3) : undefined, n.has(4) ? n.integers(4) : undefined];
    if (!starts || !ends || starts.length !== ends.length) n.fail("starts and ends must be given, with one entry per sliced axis");
    const rank = v.dims.length + (v.kind === "act" ? 1 : 0);
    const axes = axesGiven ?? range(starts.length);
    if (axes.length !== starts.length || (steps && steps.length !== starts.length)) n.fail("axes and steps must have one entry per sliced axis");
    for (let j = 0; j < starts.length; j++) {
      const a = normAxis(n, axes[j], rank, "axes");
      const step = steps?.[j] ?? 1;
      if (step === 0) n.unsupported("steps", steps, "a step of 0 is invalid");
      if (v.kind === "const") {
        const indices = sliceIndices(v.dims[a], starts[j], ends[j], step);
        v = gatherConst(v, a, indices, [indices.length]);
        continue;
      }
      if (a === 0) {
        // The whole batch axis: from 0 to "the end" (a sentinel, or the static batch size).
        const end = ends[j];
        if (starts[j] !== 0 || step !== 1 || !(end >= 2 ** 31 - 1 || end >= n.im.batch)) n.fail("slices the batch axis, which is not supported");
        continue;
      }
      const length = v.dims[a - 1];
      const indices = sliceIndices(length, starts[j], ends[j], step);
      if (indices.length === length && indices.every((i, k) => i === k)) continue;
      v = selectAlong(n, v, a - 1, indices, true);
    }
    n.set(v.kind === "const" ? v : n.im.derive(v, n.name, {}));
  },

  Constant(n: NodeContext) {
    const value = n.node.attributes.get("value");
    if (value?.type === "tensor") return n.set(constFromTensor(value.value));
    if (n.hasAttr("value_float")) return n.set(makeConst("float32", [], [n.float("value_float", 0)]));
    const floats = n.floats("value_floats");
    if (floats) return n.set(makeConst("float32", [floats.length], floats.map(Math.fround)));
    if (n.hasAttr("value_int")) return n.set(makeConst("int64", [], [n.int("value_int", 0)]));
    const ints = n.ints("value_ints");
    if (ints) return n.set(makeConst("int64", [ints.length], ints));
    n.fail(`has no supported value attribute (${[...n.node.attributes.keys()].join(", ") || "none"})`);
  },

  Pad(n: NodeContext) {
    const mode = n.string("mode", "constant");
    if (mode !== "constant" && mode !== "reflect" && mode !== "edge") n.unsupported("mode", mode, "expected constant, reflect or edge");
    const x = n.act(0);
    const pads = n.opset < 11 ? n.ints("pads") : n.integers(1);
    if (!pads) n.fail("attribute pads is missing");
    // Only constant mode reads the fill (an attribute before opset 11, an optional input since).
    const value = mode !== "constant" ? 0 : n.opset < 11 ? n.float("value", 0) : n.has(2) ? n.scalar(2) : 0;
    const rank = x.dims.length + 1;
    const padded = n.opset >= 18 && n.has(3) ? n.integers(3).map((a) => normAxis(n, a, rank, "axes")) : range(rank);
    if (pads.length !== 2 * padded.length) n.unsupported("pads", pads, `expected ${2 * padded.length} values`);
    if (pads.some((p) => p < 0)) n.unsupported("pads", pads, "negative pads (cropping) are not supported");
    const before = new Array<number>(rank).fill(0);
    const after = new Array<number>(rank).fill(0);
    padded.forEach((a, j) => {
      before[a] = pads[j];
      after[a] = pads[j + padded.length];
    });
    if (before.every((p) => p === 0) && after.every((p) => p === 0)) return n.set(n.im.derive(x, n.name, {}));
    const layout = spatialLayout(x);
    if (!layout || before[0] !== 0 || after[0] !== 0 || before[1] !== 0 || after[1] !== 0) {
      n.unsupported("pads", pads, `only the spatial axes of an [N,C,L] or [N,C,H,W] input can be padded, the input is ${fmtDims(x.dims)}`);
    }
    if (mode === "reflect") {
      // Mirroring about the edge pixel without repeating it leaves size - 1 pixels to mirror on each side.
      for (let a = 2; a < rank; a++) {
        const size = x.dims[a - 1];
        if (before[a] >= size || after[a] >= size) n.unsupported("pads", pads, `reflect pads must be smaller than the padded axis: axis ${a} has size ${size}`);
      }
    }
    // Spatial axis i (ONNX axis i + 2) is IR axis layout[i]: H pads top/bottom, W left/right.
    const irPad = (a: number, side: number[]) => {
      const i = layout.indexOf(a);
      return i < 0 ? 0 : side[i + 2];
    };
    const added: Pads = { top: irPad(0, before), left: irPad(1, before), bottom: irPad(0, after), right: irPad(1, after) };
    if (mode !== "constant" || value !== 0) {
      // Only zero padding folds into what follows; the rest is a pad node, reading `x` with anything pending applied.
      const t = n.im.add({ op: "pad", name: irName(n), inputs: [n.im.tensor(x)], pads: added, mode, value });
      return n.set(spatialAct(n.name, t, n.im.shapes.get(t)!, layout));
    }
    // Zero padding commutes with nothing pending but more padding: a pending channel map is made concrete.
    const value0 = x.src.kind === "affine" ? n.im.concrete(x) : x;
    const { tensor, pending } = unpadded(n, value0);
    const [h, w, c] = value0.shape;
    const shape = [h + added.top + added.bottom, w + added.left + added.right, c];
    const { dims, axes } = spatialAct(n.name, tensor, shape, layout);
    n.set(n.im.derive(value0, n.name, { dims, axes, shape, src: { kind: "pad", tensor, pads: addPads(pending, added) } }));
  },
};

/** A Gemm/MatMul with constant B: an IR dense layer, its kernel rows permuted when the input's element order differs. */
function dense(n: NodeContext, x: Act, b: Const, transB: boolean, alpha: number, bias: Float32Array | null): Act {
  if (!FLOAT_TYPES.has(b.dtype)) n.fail(`B has element type ${b.dtype}; float weights are expected`);
  const flat = x.shape.length === 1 ? x : n.im.flatten(x, x.name, `${n.name}/flatten`);
  const [k, m] = transB ? [b.dims[1], b.dims[0]] : b.dims;
  const perm = flat.perm;
  // Deferred to packing, so the import holds no second copy of the weights.
  const kernel = deferredWeights(k * m, (out) => {
    for (let i = 0; i < k; i++) {
      const row = perm ? perm[i] : i;
      for (let j = 0; j < m; j++) out[row * m + j] = alpha * b.data[transB ? j * k + i : i * m + j];
    }
  });
  const t = n.im.add({ op: "dense", name: irName(n), inputs: [n.im.tensor(flat)], kernel, kernelShape: [k, m], bias, activation: "linear" });
  return flatAct(n.name, t, m);
}
