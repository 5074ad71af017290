/**
 * importOnnx on synthetic models shaped like the exports users bring
 * (models.ts), run through the public API (loadModel(bytes) → run) and
 * checked against the naive NCHW interpreter (naive.ts), plus the IR and
 * metadata the importer produces for them.
 */

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { convertToIwm } from "../../../src/format/iwm.js";
import type { Graph } from "../../../src/graph/ir.js";
import { importOnnx } from "../../../src/import/onnx/import.js";
import { parseOnnx } from "../../../src/import/onnx/model.js";
import { loadModel, type LoadOptions } from "../../../src/index.js";
import { compileKernels } from "../../../src/runtime/engine.js";
import { attr, GraphBuilder, rawI64, rng } from "./graphs.js";
import { flattenGemmModel, kerasModel, opsModel, torchvisionModel } from "./models.js";
import { runNaive, toNhwc, type Tensor } from "./naive.js";

const kernels = compileKernels("auto");

async function load(bytes: Uint8Array, opts: LoadOptions = {}) {
  const { module, build } = await kernels;
  return loadModel(bytes, { threads: 1, module, moduleBuild: build, normalization: "tf", ...opts });
}

function importBytes(bytes: Uint8Array): Graph {
  return importOnnx(parseOnnx(bytes, { source: "test.onnx" }), { source: "test.onnx" });
}

function randomTensor(dims: number[], seed: number): Tensor {
  const r = rng(seed);
  return { dims, data: Float64Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => 2 * r()) };
}

/** |got - want| <= 1e-4 * max(1, |want|) element-wise. */
function assertClose(got: Float32Array, want: Float32Array, what: string): void {
  assert.is(got.length, want.length, `${what}: ${got.length} values, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= 1e-4 * Math.max(1, Math.abs(want[i]!)))) assert.unreachable(`${what}[${i}] = ${got[i]}, expected ${want[i]}`);
  }
}

/**
 * Feeds one random input (NCHW [N,C,H,W], or as given with `nhwc`) to our
 * model and to the naive interpreter, and compares the outputs and the
 * intermediate tensors `tensors` (kept at load). 4-D references are
 * transposed to NHWC, our layout.
 */
async function compare(bytes: Uint8Array, dims: number[], opts: { nhwc?: boolean; tensors?: string[]; seed?: number } = {}): Promise<void> {
  const parsed = parseOnnx(bytes);
  const name = parsed.inputs[0]!.name;
  const x = randomTensor(dims, opts.seed ?? 1);
  const reference = runNaive(parsed, { [name]: x });
  const model = await load(bytes, { keep: opts.tensors });
  try {
    const [n, c, h, w] = dims;
    const feed = opts.nhwc || dims.length !== 4 ? { data: Float32Array.from(x.data), dims } : { data: toNhwc(x), dims: [n!, h!, w!, c!] };
    const names = [...model.outputs.map((o) => o.name), ...(opts.tensors ?? [])];
    const out = await model.run({ [name]: feed }, { outputs: names });
    for (const t of names) {
      const want = reference.get(t)!;
      assertClose(out[t]!.data, want.dims.length === 4 ? toNhwc(want) : Float32Array.from(want.data), t);
    }
  } finally {
    model.dispose();
  }
}

// ---------------------------------------------------------------------------

const Torchvision = suite("torchvision-shaped export");

Torchvision("matches the naive NCHW computation, at the output and at every block", async () => {
  await compare(torchvisionModel({ prologue: true }), [2, 3, 19, 19], { tensors: ["stem", "mixed0", "mixed1", "pool"] });
  await compare(torchvisionModel({ prologue: false }), [3, 3, 19, 19], { seed: 2 });
});

Torchvision("metadata: blocks, embedding, and torch normalization from the transform_input prologue", () => {
  const g = importBytes(torchvisionModel({ prologue: true }));
  assert.equal(g.metadata.blocks, [
    { name: "stem", tensor: "stem" }, { name: "mixed0", tensor: "mixed0" }, { name: "mixed1", tensor: "mixed1" }, { name: "head", tensor: "logits" },
  ]);
  assert.is(g.metadata.embedding, "pool");
  assert.is(g.metadata.normalization, "torch");
  assert.is(g.metadata.source, "test.onnx");
  assert.equal(g.outputs, ["logits"]);
  assert.equal(g.nodes[0], { op: "input", name: "x", inputs: [], shape: [19, 19, 3] });
  // The prologue is one per-channel affine map of the input, nothing else touches it.
  const prologue = g.nodes.filter((n) => n.inputs.includes("x"));
  assert.equal(prologue.map((n) => n.op), ["batchnorm"]);
  const bn = prologue[0]!;
  if (bn.op !== "batchnorm") throw new Error("unreachable");
  assert.equal([...bn.gamma!], [0.229, 0.224, 0.225].map((s) => Math.fround(s / 0.5)));
  assert.equal([...bn.beta!], [0.485, 0.456, 0.406].map((m) => Math.fround((m - 0.5) / 0.5)));
  assert.equal([...bn.mean, ...bn.variance, bn.epsilon], [0, 0, 0, 1, 1, 1, 0]);
  // The Pad + AveragePool branch is one average pool counting the padding.
  const padded = g.nodes.filter((n) => n.op === "avgpool" && n.inputs[0] === "stem");
  assert.equal(padded.map((n) => n.op === "avgpool" && [n.pads, n.countIncludePad]), [[{ top: 1, left: 1, bottom: 1, right: 1 }, true]]);
});

Torchvision("the auxiliary head, which no output reads, is not converted (its Sigmoid is no error)", () => {
  const g = importBytes(torchvisionModel({ prologue: true }));
  assert.not.ok(g.nodes.some((n) => n.name === "aux"));
  assert.is(g.nodes.filter((n) => n.inputs.includes("mixed0")).length, 3, "the three branches of mixed1 only");
});

Torchvision("without the prologue, the normalization is unknown", async () => {
  const bytes = torchvisionModel({ prologue: false });
  assert.is(importBytes(bytes).metadata.normalization, undefined);
  const { module, build } = await kernels;
  try {
    await loadModel(bytes, { threads: 1, module, moduleBuild: build });
    assert.unreachable("loaded without a normalization");
  } catch (error) {
    assert.match((error as Error).message, /ONNX model bytes does not say how its input is normalized/);
  }
});

const Keras = suite("tf2onnx-shaped export of Keras InceptionV3");

Keras("matches the naive computation on the NHWC input, with GlobalAveragePool + Squeeze or ReduceMean", async () => {
  await compare(kerasModel({ head: "squeeze" }), [2, 15, 15, 3], { nhwc: true, tensors: ["mixed0", "avg_pool"] });
  await compare(kerasModel({ head: "reducemean" }), [1, 15, 15, 3], { nhwc: true, seed: 3 });
});

Keras("the input transpose is cancelled: the IR input is the NHWC image itself", () => {
  const g = importBytes(kerasModel({ head: "squeeze" }));
  assert.equal(g.nodes[0], { op: "input", name: "input_1", inputs: [], shape: [15, 15, 3] });
  assert.equal(g.nodes.filter((n) => n.inputs.includes("input_1")).map((n) => n.op), ["conv2d"]);
  assert.equal(g.metadata.blocks?.map((b) => b.name), ["stem", "mixed0", "head"]);
  assert.is(g.metadata.embedding, "avg_pool");
  assert.is(g.metadata.normalization, undefined);
  assert.equal(g.nodes.at(-1)!.op, "softmax");
});

const Flatten = suite("Flatten of a multi-pixel tensor into Gemm");

Flatten("Flatten and PyTorch's Shape → Gather → Unsqueeze → Concat → Reshape: Gemm rows follow the NCHW order", async () => {
  await compare(flattenGemmModel({ flatten: "op" }), [2, 2, 5, 4]);
  await compare(flattenGemmModel({ flatten: "reshape" }), [3, 2, 5, 4], { seed: 4 });
});

Flatten("as a graph output it comes out in ONNX's CHW order, loaded directly and from a converted .iwm", async () => {
  const g = new GraphBuilder();
  g.init("W", [4, 3, 3, 3]);
  g.op("Conv", ["x", "W"], [attr.ints("pads", [1, 1, 1, 1])], { out: "c" });
  g.op("Relu", ["c"], [], { out: "r" });
  g.op("Flatten", ["r"], [attr.int("axis", 1)], { out: "y" });
  const bytes = g.bytes([["x", ["N", 3, 5, 6]]], [["y", ["N", 120]]]);
  await compare(bytes, [2, 3, 5, 6]);
  const x = randomTensor([2, 3, 5, 6], 7);
  const want = runNaive(parseOnnx(bytes), { x }).get("y")!;
  const iwm = await convertToIwm(importBytes(bytes));
  const model = await load(iwm);
  try {
    const out = await model.run({ x: { data: toNhwc(x), dims: [2, 5, 6, 3] } });
    assertClose(out.y!.data, Float32Array.from(want.data), "y from the .iwm");
  } finally {
    model.dispose();
  }
});

Flatten("the shape arithmetic is folded: one IR flatten feeding the dense layer", () => {
  const g = importBytes(flattenGemmModel({ flatten: "reshape" }));
  assert.equal(g.nodes.map((n) => n.op), ["input", "conv2d", "relu", "maxpool", "flatten", "dense", "relu", "dense"]);
});

const Ops = suite("other ops on activations");

Ops("Slice/Mul by channel, Sub/Div after Conv, Clip, channel Softmax, Pad before MaxPool, Cast, ReduceMean, 1x1 Conv of a pooled vector", async () => {
  await compare(opsModel(), [2, 4, 6, 6]);
  // Sub and Div fold into the conv's weights; the channel selection is a 1x1 conv; the Pad before the MaxPool a pad node.
  const g = importBytes(opsModel());
  assert.equal(g.nodes.map((n) => n.op), ["input", "conv2d", "conv2d", "relu", "pad", "maxpool", "globalavgpool", "dense", "softmax", "softmax"]);
});

Ops("legacy attribute forms (opset 9): Clip min/max, Unsqueeze/Squeeze axes, Slice starts/ends, Pad pads, Softmax over [N,C]", async () => {
  const g = new GraphBuilder(rng(9));
  const clipped = g.op("Clip", ["x"], [attr.float("min", 0), attr.float("max", 3.4028234663852886e38)]);
  const roundTrip = g.op("Squeeze", [g.op("Unsqueeze", [clipped], [attr.ints("axes", [4])])], [attr.ints("axes", [4])]);
  const sliced = g.op("Slice", [roundTrip], [attr.ints("starts", [1]), attr.ints("ends", [3]), attr.ints("axes", [1])]);
  const padded = g.op("Pad", [sliced], [attr.string("mode", "constant"), attr.ints("pads", [0, 0, 1, 2, 0, 0, 2, 1]), attr.float("value", 0)]);
  const conv = g.op("Conv", [padded, g.init("w", [4, 2, 3, 3])], [attr.ints("kernel_shape", [3, 3])]);
  const pooled = g.op("Flatten", [g.op("GlobalAveragePool", [conv])]);
  g.op("Softmax", [pooled], [attr.int("axis", 1)], { out: "y" });
  await compare(g.bytes([["x", [null, 3, 5, 5]]], [["y", [null, 4]]], 9), [2, 3, 5, 5]);
});

Ops("Sigmoid and LogSoftmax: on an image (channel axis), after a Conv, and LogSoftmax over [N,C] in opset 11 form", async () => {
  const g = new GraphBuilder(rng(21));
  const conv = g.op("Conv", ["x", g.init("w", [5, 3, 3, 3])], [attr.ints("kernel_shape", [3, 3]), attr.ints("pads", [1, 1, 1, 1])]);
  g.op("Sigmoid", [conv], [], { out: "s" });
  g.op("LogSoftmax", [conv], [attr.int("axis", 1)], { out: "ls" });
  const pooled = g.op("Flatten", [g.op("GlobalAveragePool", [g.op("Sigmoid", ["x"])])]);
  g.op("LogSoftmax", [pooled], [attr.int("axis", 1)], { out: "lf" });
  const bytes13 = g.bytes([["x", [null, 3, 5, 5]]], [["s", null], ["ls", null], ["lf", null]]);
  await compare(bytes13, [2, 3, 5, 5]);
  assert.equal(importBytes(bytes13).nodes.map((n) => n.op), ["input", "conv2d", "sigmoid", "logsoftmax", "sigmoid", "globalavgpool", "logsoftmax"]);
  const h = new GraphBuilder(rng(22));
  const flat = h.op("Flatten", [h.op("GlobalAveragePool", ["x"])]);
  h.op("LogSoftmax", [h.op("Sigmoid", [flat])], [attr.int("axis", 1)], { out: "y" });
  await compare(h.bytes([["x", [null, 3, 5, 5]]], [["y", [null, 3]]], 11), [2, 3, 5, 5]);
});

Ops("dilated, grouped and depthwise Conv: explicit and SAME_UPPER padding, strides, into the IR's dilations and groups", async () => {
  const g = new GraphBuilder(rng(31));
  const a = g.op("Conv", ["x", g.init("wa", [6, 4, 3, 3]), g.init("ba", [6])], [
    attr.ints("kernel_shape", [3, 3]), attr.ints("dilations", [2, 3]), attr.ints("pads", [2, 1, 1, 3]),
  ]);
  const b = g.op("Conv", [a, g.init("wb", [9, 2, 3, 2])], [attr.int("group", 3), attr.ints("strides", [2, 1]), attr.string("auto_pad", "SAME_UPPER"), attr.ints("dilations", [1, 2])]);
  const c = g.op("Conv", [b, g.init("wc", [18, 1, 3, 3]), g.init("bc", [18])], [attr.int("group", 9), attr.ints("pads", [1, 1, 1, 1]), attr.ints("strides", [2, 2])]);
  g.op("Relu", [c], [], { out: "y" });
  const bytes = g.bytes([["x", [null, 4, 11, 12]]], [["y", null]]);
  await compare(bytes, [2, 4, 11, 12]);
  const convs = importBytes(bytes).nodes.filter((n) => n.op === "conv2d");
  assert.equal(convs.map((n) => n.op === "conv2d" && [n.dilations, n.groups, n.kernelShape]), [
    [[2, 3], undefined, [3, 3, 4, 6]], [[1, 2], 3, [3, 2, 2, 9]], [undefined, 9, [3, 3, 1, 18]],
  ]);
});

Ops("weights computed from initializers are folded: Transpose, Reshape by a Constant shape, Add, Mul, Cast, Identity", async () => {
  const g = new GraphBuilder(rng(13));
  const w = g.op("Reshape", [g.init("w_flat", [4 * 3 * 2 * 2]), g.op("Constant", [], [attr.tensor("value", rawI64("", [4], [4, 3, 2, 2]))])]);
  const b = g.op("Cast", [g.op("Add", [g.init("b1", [4]), g.op("Mul", [g.init("b2", [4]), g.init("two", [], [2])])])], [attr.int("to", 1)]);
  const conv = g.op("Conv", ["x", w, b], [attr.ints("kernel_shape", [2, 2]), attr.ints("strides", [2, 2])]);
  const flat = g.op("Flatten", [g.op("GlobalAveragePool", [conv])]);
  const fc = g.op("Transpose", [g.op("Identity", [g.init("fc", [5, 4])])], [attr.ints("perm", [1, 0])]);
  g.op("MatMul", [flat, fc], [], { out: "y" });
  const bytes = g.bytes([["x", ["N", 3, 4, 6]]], [["y", ["N", 5]]]);
  await compare(bytes, [2, 3, 4, 6]);
  assert.equal(importBytes(bytes).nodes.map((n) => n.op), ["input", "conv2d", "globalavgpool", "dense"]);
});

Ops("a Pad that no Conv/AveragePool absorbs is made concrete once, however many views read it", async () => {
  const g = new GraphBuilder();
  const padded = g.op("Pad", ["x", g.initI64("pads", [8], [0, 0, 1, 1, 0, 0, 1, 1])]);
  g.op("MaxPool", [padded], [attr.ints("kernel_shape", [2, 2])], { out: "a" });
  g.op("MaxPool", [g.op("Identity", [padded])], [attr.ints("kernel_shape", [3, 3])], { out: "b" });
  const bytes = g.bytes([["x", [1, 2, 5, 5]]], [["a", null], ["b", null]]);
  assert.equal(importBytes(bytes).nodes.map((n) => n.op), ["input", "pad", "maxpool", "maxpool"]);
  await compare(bytes, [1, 2, 5, 5]);
});

Ops("an AveragePool over the whole input is a global pooling; an unused graph input is left out", async () => {
  const g = new GraphBuilder();
  const pooled = g.op("AveragePool", ["x"], [attr.ints("kernel_shape", [4, 3])]);
  g.op("Flatten", [pooled], [], { out: "y" });
  const bytes = g.bytes([["x", [1, 2, 4, 3]], ["unused", [1, 2]]], [["y", [1, 2]]]);
  const graph = importBytes(bytes);
  assert.equal(graph.nodes.map((n) => n.op), ["input", "globalavgpool"]);
  assert.equal(graph.outputs, ["y"]);
  assert.equal(graph.nodes[1]!.name, "y");
  await compare(bytes, [1, 2, 4, 3]);
});

Ops("graph outputs keep their ONNX names: an input or a shared tensor goes through an identity", () => {
  const g = new GraphBuilder();
  const relu = g.op("Relu", ["x"], [], { out: "r" });
  g.op("Identity", [relu], [], { out: "same" });
  g.op("Identity", ["x"], [], { out: "passthrough" });
  const graph = importBytes(g.bytes([["x", [1, 2, 3, 3]]], [["r", null], ["same", null], ["passthrough", null], ["x", null]]));
  assert.equal(graph.outputs, ["r", "same", "passthrough", "x"]);
  assert.equal(graph.nodes.map((n) => [n.op, n.name, n.inputs]), [
    ["input", "x", []], ["relu", "r", ["x"]], ["identity", "same", ["r"]], ["identity", "passthrough", ["x"]],
  ]);
});

const Pad = suite("Pad in constant, reflect and edge modes");

/** x [N,3,5,6] → Pad (opset 13 input form) → 3x3 Conv → y: a pad that is not zero stays a pad node in front of the Conv. */
function padConvModel(mode: string, pads: number[], value?: number): Uint8Array {
  const g = new GraphBuilder(rng(31));
  const inputs = ["x", g.initI64("pads", [8], pads), ...(value === undefined ? [] : [g.init("value", [], [value])])];
  const padded = g.op("Pad", inputs, [attr.string("mode", mode)], { out: "padded" });
  g.op("Conv", [padded, g.init("w", [4, 3, 3, 3])], [attr.ints("kernel_shape", [3, 3])], { out: "y" });
  return g.bytes([["x", [null, 3, 5, 6]]], [["y", null]]);
}

Pad("reflect, edge and a nonzero constant, asymmetric with zero sides, before a Conv: a pad node each, matching the naive NCHW loops", async () => {
  for (const [mode, pads, value] of [
    ["reflect", [0, 0, 2, 0, 0, 0, 4, 3], undefined],
    ["edge", [0, 0, 0, 3, 0, 0, 6, 1], undefined],
    ["constant", [0, 0, 1, 2, 0, 0, 0, 1], -1.5],
    // The fill is ignored outside constant mode.
    ["edge", [0, 0, 1, 1, 0, 0, 1, 1], 7],
  ] as const) {
    const bytes = padConvModel(mode, [...pads], value);
    await compare(bytes, [2, 3, 5, 6], { tensors: ["padded"] });
    const pad = importBytes(bytes).nodes.find((n) => n.op === "pad");
    assert.equal(pad && pad.op === "pad" && [pad.mode, pad.value, pad.pads],
      [mode, mode === "constant" ? value : 0, { top: pads[2], left: pads[3], bottom: pads[6], right: pads[7] }], `${mode} ${pads}`);
  }
});

Pad("a zero constant pad still merges into the Conv (its pads), with no pad node", () => {
  const g = importBytes(padConvModel("constant", [0, 0, 1, 2, 0, 0, 0, 1], 0));
  assert.equal(g.nodes.map((n) => n.op), ["input", "conv2d"]);
  const conv = g.nodes[1]!;
  assert.equal(conv.op === "conv2d" && conv.pads, { top: 1, left: 2, bottom: 0, right: 1 });
});

Pad("opset 2 attribute form (mode, pads, value), after pending zero padding and a channel map, read by a MaxPool", async () => {
  const g = new GraphBuilder(rng(32));
  const zero = g.op("Pad", ["x"], [attr.string("mode", "constant"), attr.ints("pads", [0, 0, 1, 0, 0, 0, 0, 1])]);
  const scaled = g.op("Mul", [zero, g.init("s", [1, 3, 1, 1], [2, -1, 0.5])]);
  const reflected = g.op("Pad", [scaled], [attr.string("mode", "reflect"), attr.ints("pads", [0, 0, 2, 1, 0, 0, 1, 2])]);
  const filled = g.op("Pad", [reflected], [attr.string("mode", "constant"), attr.ints("pads", [0, 0, 0, 1, 0, 0, 1, 0]), attr.float("value", 3)], { out: "filled" });
  g.op("MaxPool", [filled], [attr.ints("kernel_shape", [2, 2])], { out: "y" });
  await compare(g.bytes([["x", [null, 3, 4, 5]]], [["y", null]], 9), [2, 3, 4, 5], { tensors: ["filled"] });
});

Pad("on a tf2onnx NHWC input transposed to NCHW, and on an image whose H and W a Transpose swapped", async () => {
  const g = new GraphBuilder(rng(33));
  const nchw = g.op("Transpose", ["x"], [attr.ints("perm", [0, 3, 1, 2])]);
  const edged = g.op("Pad", [nchw, g.initI64("p1", [8], [0, 0, 1, 0, 0, 0, 2, 3])], [attr.string("mode", "edge")], { out: "edged" });
  const swapped = g.op("Transpose", [edged], [attr.ints("perm", [0, 1, 3, 2])]);
  const reflected = g.op("Pad", [swapped, g.initI64("p2", [8], [0, 0, 3, 0, 0, 0, 1, 2])], [attr.string("mode", "reflect")]);
  const unswapped = g.op("Transpose", [reflected], [attr.ints("perm", [0, 1, 3, 2])]);
  g.op("Conv", [unswapped, g.init("w", [2, 4, 2, 3])], [attr.ints("kernel_shape", [2, 3])], { out: "y" });
  await compare(g.bytes([["x", [null, 4, 5, 4]]], [["y", null]]), [2, 4, 5, 4], { nhwc: true, tensors: ["edged"] });
});

Torchvision.run();
Keras.run();
Flatten.run();
Ops.run();
Pad.run();
