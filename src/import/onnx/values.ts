/**
 * What an ONNX tensor is while the importer walks the graph: a constant
 * (folded at import time) or an activation, i.e. data computed at run time
 * from the graph input and held, in our layout, by a tensor of the IR.
 *
 * ONNX activations are NCHW and carry the batch axis; IR tensors are NHWC and
 * per sample. An activation therefore records both views and how they
 * correspond, so that Transpose, Squeeze, Unsqueeze and most Reshapes are pure
 * bookkeeping and the layout is only checked where an op needs it (a Conv
 * needs an [N,C,H,W] view of an IR [H,W,C] tensor).
 */

import type { Pads } from "../../graph/ir.js";
import type { Const } from "./constant.js";
import { strides } from "./constant.js";

/**
 * How an activation's data derives from an IR tensor. Besides the tensor
 * itself, two transformations are kept pending rather than turned into IR
 * nodes at once, because what follows usually absorbs them:
 * - zero padding (Pad), absorbed by a following Conv or AveragePool;
 * - a per-channel affine map of selected channels (Gather/Slice on the
 *   channel axis, then Mul/Add/Sub/Div by constants), which a following
 *   Concat may reassemble into one map of the whole tensor (torchvision's
 *   transform_input prologue), or which folds into the Conv/Gemm that
 *   produced the tensor (a bias Add, an unfused BatchNorm as Mul+Add).
 * Whatever else reads such a value makes it concrete first (see
 * Importer.tensor).
 */
export type Source =
  | { kind: "tensor"; tensor: string }
  | { kind: "pad"; tensor: string; pads: Pads }
  | {
      kind: "affine";
      tensor: string;
      /** Output channel j is channel channels[j] of the tensor (its last IR axis)… */
      channels: number[];
      /** …times scale[j] plus shift[j]. */
      scale: Float64Array;
      shift: Float64Array;
    };

export interface Act {
  kind: "act";
  /** The ONNX tensor this value was made for; names the IR node if it has to be made concrete. */
  name: string;
  /** ONNX dims without the leading batch axis (which every activation keeps first). */
  dims: number[];
  /**
   * For each ONNX axis in `dims`: the IR axis holding it, or null when the
   * axis has size 1. Size-1 axes do not affect element order, so tracking
   * only the others is enough; every IR axis of size > 1 is held by exactly
   * one ONNX axis.
   */
  axes: (number | null)[];
  /** Per-sample IR shape of the value (after the pending transformation of `src`). */
  shape: number[];
  /**
   * Only for flat values, whose ONNX element order differs from the IR's
   * (Flatten of a [C,H,W] value with H*W > 1 is in CHW order, the IR flattens
   * HWC): perm[onnxIndex] = irIndex. A following Gemm/MatMul permutes its
   * weight rows instead of anything moving data.
   */
  perm: Int32Array | null;
  src: Source;
  /**
   * Whether every read of src.tensor goes through the chain of values that
   * led here, so that folding into the tensor's producer cannot change what
   * another reader sees.
   */
  exclusive: boolean;
  /** The IR tensor holding this value once it was made concrete. */
  materialized?: string;
}

export type Value = Const | Act;

/**
 * An [N,C,S1] or [N,C,S1,S2] view (1-D or 2-D spatial data) of an IR [H,W,C]
 * tensor, spatial axis i held by IR axis `spatial[i]` (0 or 1). Images are
 * [N,C,H,W] with spatial [0, 1]; sequences [N,C,L] are IR [1,L,C], spatial [1].
 */
export function spatialAct(name: string, tensor: string, shape: readonly number[], spatial: readonly number[]): Act {
  const c = shape[2];
  return {
    kind: "act", name, dims: [c, ...spatial.map((a) => shape[a])], axes: [unit(c, 2), ...spatial.map((a) => unit(shape[a], a))],
    shape: [...shape], perm: null, src: { kind: "tensor", tensor }, exclusive: true,
  };
}

/** An [N,C,H,W] view of an IR [H,W,C] tensor. */
export function imageAct(name: string, tensor: string, shape: readonly number[]): Act {
  return spatialAct(name, tensor, shape, [0, 1]);
}

/** An [N,K] view of an IR [K] tensor. */
export function flatAct(name: string, tensor: string, k: number): Act {
  return { kind: "act", name, dims: [k], axes: [unit(k, 0)], shape: [k], perm: null, src: { kind: "tensor", tensor }, exclusive: true };
}

/** An [N,C,1,1] (or [N,C,1] after 1-D pooling) view of an IR [C] tensor: the output of a global pooling. */
export function pooledAct(name: string, tensor: string, c: number, spatialRank = 2): Act {
  const ones = new Array<number>(spatialRank).fill(1);
  return { kind: "act", name, dims: [c, ...ones], axes: [unit(c, 0), ...ones.map(() => null)], shape: [c], perm: null, src: { kind: "tensor", tensor }, exclusive: true };
}

function unit(size: number, axis: number): number | null {
  return size === 1 ? null : axis;
}

/**
 * For an [N,C,S1] or [N,C,S1,S2] view of an IR [H,W,C] tensor, as Conv and
 * pooling need: the IR axis (0 or 1) holding each spatial axis; null when
 * `act` is not such a view. Size-1 spatial axes take an IR axis of size 1
 * (their own position for images, W for sequences, when free), so
 * an [N,C,L,1] view of a sequence (PyTorch's 1-D pooling as 2-D) runs with H
 * and W swapped.
 */
export function spatialLayout(act: Act): number[] | null {
  const { dims, shape, axes } = act;
  const rank = dims.length - 1;
  if ((rank !== 1 && rank !== 2) || shape.length !== 3 || act.perm || shape[2] !== dims[0] || !isChannelAxis(act, 0)) return null;
  const held = axes.slice(1);
  if (held.some((a, i) => a !== null && (a > 1 || shape[a] !== dims[i + 1]))) return null;
  const free = [0, 1].filter((a) => !held.includes(a) && shape[a] === 1);
  const preferred = rank === 2 ? [0, 1] : [1];
  const layout = held.map((a, i) => a ?? (free.includes(preferred[i]) ? preferred[i] : free.find((f) => !held.includes(f) && f !== preferred[i])));
  // Two size-1 axes may have picked the same free axis.
  if (layout.some((a) => a === undefined) || new Set(layout).size !== rank) return null;
  return layout as number[];
}

/** Whether ONNX axis `axis` (of `dims`) is the IR channel (last) axis, as per-channel ops need. */
export function isChannelAxis(act: Act, axis: number): boolean {
  const last = act.shape.length - 1;
  return act.dims[axis] > 1 ? act.axes[axis] === last : act.shape[last] === 1;
}

/** Position in the IR tensor of each element of `act`, in ONNX row-major order; null when the orders agree. */
export function elementOrder(act: Act): Int32Array | null {
  if (act.perm) return act.perm;
  const irStrides = strides(act.shape);
  const count = act.dims.reduce((a, b) => a * b, 1);
  const order = new Int32Array(count);
  const index = new Array<number>(act.dims.length).fill(0);
  let identity = true;
  for (let i = 0; i < count; i++) {
    let ir = 0;
    act.axes.forEach((axis, d) => {
      if (axis !== null) ir += index[d] * irStrides[axis];
    });
    order[i] = ir;
    if (ir !== i) identity = false;
    for (let d = act.dims.length - 1; d >= 0 && ++index[d] === act.dims[d]; d--) index[d] = 0;
  }
  return identity ? null : order;
}

/** An activation's ONNX shape for messages: the batch axis as N, then `dims`. */
export function fmtDims(dims: readonly number[]): string {
  return `[${["N", ...dims].join(",")}]`;
}
