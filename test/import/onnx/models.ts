/**
 * Small synthetic ONNX models shaped like the Inception v3 exports users
 * bring, built node by node the way the exporters write them:
 * - torchvision's (PyTorch exporter): NCHW, transform_input prologue, Conv
 *   with BN folded and the bias through an Identity, Pad + AveragePool and
 *   AveragePool with count_include_pad, mixed blocks (one with an inner
 *   concat like Mixed_7b/7c), a dangling auxiliary head, GlobalAveragePool →
 *   Dropout → Flatten → Gemm(transB=1);
 * - tf2onnx's of Keras InceptionV3: NHWC input transposed to NCHW, Conv
 *   without bias + BatchNormalization, SAME average pooling without the
 *   padding in the divisor, GlobalAveragePool + Squeeze (or ReduceMean),
 *   MatMul + Add, Softmax;
 * - a Flatten (or PyTorch's `x.view(x.size(0), -1)`: Shape → Gather →
 *   Unsqueeze → Concat → Reshape) of a multi-pixel NCHW tensor into a Gemm;
 * - a grab bag of the other supported ops on activations.
 */

import { rawF32 } from "./build.js";
import { attr, GraphBuilder, rawI64, rng } from "./graphs.js";

export const TORCHVISION_MEAN = [0.485, 0.456, 0.406];
export const TORCHVISION_STD = [0.229, 0.224, 0.225];

/** A Conv (weights scaled to keep activations O(1)) with its bias read through an Identity, then Relu. */
function convRelu(g: GraphBuilder, x: string, cin: number, cout: number, k: [number, number], opts: { stride?: number; pads?: number[]; name: string }): string {
  const w = g.init(`${opts.name}.weight`, [cout, cin, ...k], undefined, 2 / Math.sqrt(cin * k[0] * k[1]));
  const b = g.op("Identity", [g.init(`${opts.name}.bias`, [cout], undefined, 0.2)]);
  const conv = g.op("Conv", [x, w, b], [
    attr.ints("dilations", [1, 1]), attr.int("group", 1), attr.ints("kernel_shape", k),
    attr.ints("pads", opts.pads ?? [0, 0, 0, 0]), attr.ints("strides", [opts.stride ?? 1, opts.stride ?? 1]),
  ], { name: `/${opts.name}/conv/Conv` });
  return g.op("Relu", [conv], [], { name: `/${opts.name}/Relu` });
}

/** A scalar float Constant node, as the PyTorch exporter writes literals. */
function scalar(g: GraphBuilder, value: number): string {
  return g.op("Constant", [], [attr.tensor("value", rawF32("", [], [value]))]);
}

export const TORCHVISION = { size: 19, classes: 5, features: 14 };

/**
 * The torchvision-shaped model: input `x` [batch,3,19,19], output `logits`
 * [batch,5]. Tensor names of interest: `stem` (the max pool before the first
 * mixed block), `mixed0`, `mixed1`, `pool` (the global average pooling).
 */
export function torchvisionModel(opts: { prologue: boolean }): Uint8Array {
  const g = new GraphBuilder(rng(7));
  let x = "x";
  if (opts.prologue) {
    const channels = [0, 1, 2].map((c) => {
      const picked = g.op("Gather", ["x", g.initI64(`index${c}`, [], [c])], [attr.int("axis", 1)], { name: `/Gather_${c}` });
      const unsqueezed = g.op("Unsqueeze", [picked, g.initI64(`axes${c}`, [1], [1])]);
      const scaled = g.op("Mul", [unsqueezed, scalar(g, TORCHVISION_STD[c] / 0.5)]);
      return g.op("Add", [scaled, scalar(g, (TORCHVISION_MEAN[c] - 0.5) / 0.5)]);
    });
    x = g.op("Concat", channels, [attr.int("axis", 1)], { name: "/Concat" });
  }
  const c1 = convRelu(g, x, 3, 8, [3, 3], { stride: 2, name: "Conv2d_1a_3x3" });
  const c2 = convRelu(g, c1, 8, 8, [3, 3], { pads: [1, 1, 1, 1], name: "Conv2d_2a_3x3" });
  const stem = g.op("MaxPool", [c2], [attr.ints("kernel_shape", [3, 3]), attr.ints("strides", [2, 2])], { out: "stem", name: "/maxpool1/MaxPool" });

  // Mixed_5b-like: the pooling branch as older exports write it, an explicit Pad then AveragePool.
  const a1 = convRelu(g, stem, 8, 4, [1, 1], { name: "Mixed_5b.branch1x1" });
  const a2 = convRelu(g, convRelu(g, stem, 8, 4, [1, 1], { name: "Mixed_5b.branch3x3_1" }), 4, 6, [3, 3], { pads: [1, 1, 1, 1], name: "Mixed_5b.branch3x3_2" });
  const pads = g.op("Constant", [], [attr.tensor("value", rawI64("", [8], [0, 0, 1, 1, 0, 0, 1, 1]))]);
  const padded = g.op("Pad", [stem, pads], [attr.string("mode", "constant")]);
  const avg = g.op("AveragePool", [padded], [attr.ints("kernel_shape", [3, 3]), attr.ints("strides", [1, 1])]);
  const a3 = convRelu(g, avg, 8, 4, [1, 1], { name: "Mixed_5b.branch_pool" });
  const mixed0 = g.op("Concat", [a1, a2, a3], [attr.int("axis", 1)], { out: "mixed0", name: "/Mixed_5b/Concat" });

  // Mixed_7b-like: count_include_pad pooling, an unfolded BatchNormalization, and an inner concat.
  const b1 = convRelu(g, mixed0, 14, 4, [1, 1], { name: "Mixed_7b.branch1x1" });
  const pooled = g.op("AveragePool", [mixed0], [attr.int("count_include_pad", 1), attr.ints("kernel_shape", [3, 3]), attr.ints("pads", [1, 1, 1, 1]), attr.ints("strides", [1, 1])]);
  const bnConv = g.op("Conv", [pooled, g.init("Mixed_7b.branch_pool.weight", [4, 14, 1, 1], undefined, 0.5)], [attr.ints("kernel_shape", [1, 1])]);
  const bn = g.op("BatchNormalization", [
    bnConv, g.init("bn.scale", [4], [1, 0.5, 2, 1.5]), g.init("bn.bias", [4], [0.1, -0.2, 0.3, 0]),
    g.init("bn.mean", [4], [0.05, -0.1, 0, 0.2]), g.init("bn.var", [4], [1, 0.25, 2, 0.5]),
  ], [attr.float("epsilon", 1e-3)]);
  const b2 = g.op("Relu", [bn]);
  const t = convRelu(g, mixed0, 14, 4, [1, 1], { name: "Mixed_7b.branch3x3_1" });
  const u = convRelu(g, t, 4, 3, [1, 3], { pads: [0, 1, 0, 1], name: "Mixed_7b.branch3x3_2a" });
  const v = convRelu(g, t, 4, 3, [3, 1], { pads: [1, 0, 1, 0], name: "Mixed_7b.branch3x3_2b" });
  const inner = g.op("Concat", [u, v], [attr.int("axis", 1)]);
  const mixed1 = g.op("Concat", [b1, b2, inner], [attr.int("axis", 1)], { out: "mixed1", name: "/Mixed_7b/Concat" });

  // An auxiliary head that no output reads, with an op the importer does not support.
  const aux = g.op("AveragePool", [mixed0], [attr.ints("kernel_shape", [2, 2]), attr.ints("strides", [2, 2])]);
  g.op("Sigmoid", [aux], [], { out: "aux" });

  const pool = g.op("GlobalAveragePool", [mixed1], [], { out: "pool", name: "/avgpool/GlobalAveragePool" });
  const dropped = g.op("Dropout", [pool], [], { name: "/dropout/Dropout" });
  const flat = g.op("Flatten", [dropped], [attr.int("axis", 1)]);
  const fc = g.init("fc.weight", [TORCHVISION.classes, 14], undefined, 0.5);
  g.op("Gemm", [flat, fc, g.init("fc.bias", [TORCHVISION.classes], undefined, 0.2)], [attr.float("alpha", 1), attr.float("beta", 1), attr.int("transB", 1)], { out: "logits", name: "/fc/Gemm" });
  return g.bytes([["x", ["batch", 3, TORCHVISION.size, TORCHVISION.size]]], [["logits", ["batch", TORCHVISION.classes]]], 13, "pytorch");
}

/** Conv without bias + BatchNormalization (Keras scale=False: gamma = 1) + Relu, as tf2onnx writes a Keras conv2d_bn. */
function convBn(g: GraphBuilder, x: string, cin: number, cout: number, k: [number, number], opts: { stride?: number; pads?: number[]; name: string }): string {
  const r = rng(cout * 31 + cin);
  const conv = g.op("Conv", [x, g.init(`${opts.name}/kernel`, [cout, cin, ...k], undefined, 2 / Math.sqrt(cin * k[0] * k[1]))], [
    attr.ints("kernel_shape", k), attr.ints("pads", opts.pads ?? [0, 0, 0, 0]), attr.ints("strides", [opts.stride ?? 1, opts.stride ?? 1]),
  ]);
  const bn = g.op("BatchNormalization", [
    conv, g.init(`${opts.name}/gamma`, [cout], new Array<number>(cout).fill(1)), g.init(`${opts.name}/beta`, [cout], undefined, 0.4),
    g.init(`${opts.name}/mean`, [cout], undefined, 0.2), g.init(`${opts.name}/variance`, [cout], Array.from({ length: cout }, () => 0.5 + r() + 0.5)),
  ], [attr.float("epsilon", 1e-3)]);
  return g.op("Relu", [bn]);
}

export const KERAS = { size: 15, classes: 4 };

/**
 * The tf2onnx-shaped model: input `input_1` [unk__0,15,15,3] (NHWC), output
 * `predictions` [unk__0,4] (softmax). `head` picks how the global pooling is
 * written: GlobalAveragePool + Squeeze, or ReduceMean over H and W.
 */
export function kerasModel(opts: { head: "squeeze" | "reducemean" }): Uint8Array {
  const g = new GraphBuilder(rng(11));
  const nchw = g.op("Transpose", ["input_1"], [attr.ints("perm", [0, 3, 1, 2])], { name: "input_1/transpose" });
  const c1 = convBn(g, nchw, 3, 6, [3, 3], { stride: 2, name: "conv2d" });
  const b1 = convBn(g, c1, 6, 4, [1, 1], { name: "conv2d_1" });
  const avg = g.op("AveragePool", [c1], [attr.string("auto_pad", "SAME_UPPER"), attr.int("count_include_pad", 0), attr.ints("kernel_shape", [3, 3]), attr.ints("strides", [1, 1])]);
  const b2 = convBn(g, avg, 6, 3, [1, 1], { name: "conv2d_2" });
  const b3 = convBn(g, c1, 6, 5, [3, 3], { pads: [1, 1, 1, 1], name: "conv2d_3" });
  const mixed = g.op("Concat", [b1, b2, b3], [attr.int("axis", 1)], { out: "mixed0" });
  const features =
    opts.head === "squeeze"
      ? g.op("Squeeze", [g.op("GlobalAveragePool", [mixed], [], { out: "avg_pool" }), g.initI64("squeeze_axes", [2], [2, 3])])
      : g.op("ReduceMean", [mixed], [attr.ints("axes", [2, 3]), attr.int("keepdims", 0)], { out: "avg_pool" });
  const logits = g.op("MatMul", [features, g.init("predictions/kernel", [12, KERAS.classes], undefined, 0.6)]);
  const biased = g.op("Add", [logits, g.init("predictions/bias", [KERAS.classes], undefined, 0.3)]);
  g.op("Softmax", [biased], [attr.int("axis", -1)], { out: "predictions" });
  return g.bytes([["input_1", ["unk__0", KERAS.size, KERAS.size, 3]]], [["predictions", ["unk__0", KERAS.classes]]], 13, "tf2onnx");
}

/**
 * Conv → Relu → MaxPool(ceil_mode) to [N,3,2,2], flattened in NCHW order into
 * Gemm(transB=1, alpha, beta) → Relu → Gemm: output `out` [N,3]. `flatten`
 * picks Flatten or the Shape → Gather → Unsqueeze → Concat → Reshape chain.
 */
export function flattenGemmModel(opts: { flatten: "op" | "reshape" }): Uint8Array {
  const g = new GraphBuilder(rng(5));
  const conv = g.op("Conv", ["x", g.init("w", [3, 2, 2, 2]), g.init("b", [3], undefined, 0.2)], [attr.ints("kernel_shape", [2, 2])]);
  const pooled = g.op("MaxPool", [g.op("Relu", [conv])], [attr.int("ceil_mode", 1), attr.ints("kernel_shape", [2, 2]), attr.ints("strides", [2, 2])]);
  let flat: string;
  if (opts.flatten === "op") {
    flat = g.op("Flatten", [pooled], [attr.int("axis", 1)]);
  } else {
    const batch = g.op("Gather", [g.op("Shape", [pooled]), g.initI64("zero", [], [0])], [attr.int("axis", 0)]);
    const target = g.op("Concat", [g.op("Unsqueeze", [batch, g.initI64("axes0", [1], [0])]), g.initI64("minus1", [1], [-1])], [attr.int("axis", 0)]);
    flat = g.op("Reshape", [pooled, target]);
  }
  const fc1 = g.op("Gemm", [flat, g.init("fc1.weight", [6, 12]), g.init("fc1.bias", [6], undefined, 0.2)], [attr.float("alpha", 0.5), attr.float("beta", 2), attr.int("transB", 1)]);
  g.op("Gemm", [g.op("Relu", [fc1]), g.init("fc2.weight", [6, 3]), g.init("fc2.bias", [1, 3])], [], { out: "out" });
  return g.bytes([["x", ["N", 2, 5, 4]]], [["out", ["N", 3]]]);
}

/**
 * The other supported ops on activations: a channel Slice scaled by a
 * per-channel Mul, Conv, Sub and Div by constants (folded into the conv),
 * Clip(0, ∞) as ReLU, a channel Softmax on the image (output `channels`,
 * NHWC), a standalone Pad before a MaxPool, Cast to float, ReduceMean
 * keeping dims, a 1x1 Conv of the pooled vector, Squeeze, Softmax (output
 * `probs`). Input `x` [N,4,6,6].
 */
export function opsModel(): Uint8Array {
  const g = new GraphBuilder(rng(3));
  const sliced = g.op("Slice", ["x", g.initI64("starts", [1], [1]), g.initI64("ends", [1], [4]), g.initI64("axes", [1], [1]), g.initI64("steps", [1], [1])]);
  const scaled = g.op("Mul", [sliced, g.init("channel_scale", [1, 3, 1, 1], [0.5, -1, 2])]);
  const conv = g.op("Conv", [scaled, g.init("w", [5, 3, 3, 3], undefined, 0.5)], [attr.ints("kernel_shape", [3, 3]), attr.ints("pads", [1, 1, 1, 1])]);
  const shifted = g.op("Sub", [conv, g.init("shift", [5, 1, 1], [0.1, -0.2, 0.3, 0, 0.05])]);
  const halved = g.op("Div", [shifted, g.init("two", [], [2])]);
  const clipped = g.op("Clip", [halved, g.init("zero", [], [0])]);
  g.op("Softmax", [clipped], [attr.int("axis", 1)], { out: "channels" });
  const padded = g.op("Pad", [clipped, g.initI64("pads", [8], [0, 0, 1, 0, 0, 0, 0, 1])]);
  const pooled = g.op("MaxPool", [padded], [attr.ints("kernel_shape", [2, 2]), attr.ints("strides", [2, 2])]);
  const cast = g.op("Cast", [pooled], [attr.int("to", 1)]);
  const mean = g.op("ReduceMean", [cast], [attr.ints("axes", [2, 3]), attr.int("keepdims", 1)]);
  const fc = g.op("Conv", [mean, g.init("fc.w", [7, 5, 1, 1]), g.init("fc.b", [7], undefined, 0.1)], [attr.ints("kernel_shape", [1, 1])]);
  const squeezed = g.op("Squeeze", [fc, g.initI64("squeeze_axes", [2], [2, 3])]);
  g.op("Softmax", [squeezed], [attr.int("axis", 1)], { out: "probs" });
  return g.bytes([["x", ["N", 4, 6, 6]]], [["probs", ["N", 7]], ["channels", ["N", 5, 6, 6]]]);
}
