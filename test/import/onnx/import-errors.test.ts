/**
 * importOnnx on models it must refuse: each error names the source, the node
 * (its name and op type) or graph input/output, and what is wrong;
 * unsupported ops are all listed in one error.
 */

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { importOnnx, type ImportOnnxOptions } from "../../../src/import/onnx/import.js";
import { parseOnnx } from "../../../src/import/onnx/model.js";
import { DataType, graph, modelBytes, node, tensor, valueInfo } from "./build.js";
import { attr, GraphBuilder } from "./graphs.js";
import { torchvisionModel } from "./models.js";

function importError(bytes: Uint8Array, opts: Partial<ImportOnnxOptions> = {}): string {
  try {
    importOnnx(parseOnnx(bytes, { source: "bad.onnx" }), { source: "bad.onnx", ...opts });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("the model was imported");
}

const IMAGE: [string, (number | string)[]] = ["x", ["N", 3, 5, 5]];

/** x [N,3,5,5] → one node `n` (op `opType`) → y. */
function single(opType: string, inputs: string[], attributes: Parameters<GraphBuilder["op"]>[2] = [], build?: (g: GraphBuilder) => void, opset = 13): Uint8Array {
  const g = new GraphBuilder();
  build?.(g);
  g.op(opType, inputs, attributes, { out: "y", name: "n" });
  return g.bytes([IMAGE], [["y", null]], opset);
}

const Unsupported = suite("unsupported ops");

Unsupported("are all listed at once, named or numbered, with their domain; branches no output reads do not count", () => {
  const g = new GraphBuilder();
  const a = g.op("LeakyRelu", ["x"], [], { name: "leaky" });
  const b = g.op("Selu", [a], [], { name: "" });
  const c = g.op("FusedConv", [b], [], { name: "fused" });
  g.nodes.at(-1)!.domain = "com.microsoft";
  g.op("Softplus", [c], [], { out: "y", name: "softplus" });
  g.op("Tanh", ["x"], [], { out: "dangling", name: "tanh" });
  assert.is(
    importError(g.bytes([IMAGE], [["y", null]])),
    "bad.onnx: unsupported ops: leaky (LeakyRelu), #1→t1 (Selu), fused (com.microsoft:FusedConv), softplus (Softplus)",
  );
});

const Attributes = suite("unsupported attribute values");

const W = (g: GraphBuilder) => g.init("W", [4, 3, 3, 3]);
const cases: [string, Uint8Array, string][] = [
  ["Conv group", single("Conv", ["x", "W"], [attr.int("group", 3)], W), "node n (Conv): unsupported group 3: expected a positive integer dividing the 4 output channels"],
  ["Conv dilations", single("Conv", ["x", "W"], [attr.ints("dilations", [2, 2, 2])], W), "node n (Conv): unsupported dilations [2,2,2]: expected 2 positive integer(s), one per spatial axis of the 2-D input"],
  ["Conv kernel_shape", single("Conv", ["x", "W"], [attr.ints("kernel_shape", [5, 5])], W), "node n (Conv): unsupported kernel_shape [5,5]: the weights are 3x3"],
  ["Conv auto_pad", single("Conv", ["x", "W"], [attr.string("auto_pad", "SAME")], W), 'node n (Conv): unsupported auto_pad "SAME": expected NOTSET, VALID, SAME_UPPER or SAME_LOWER'],
  ["AveragePool dilations (opset 19)", single("AveragePool", ["x"], [attr.ints("kernel_shape", [2, 2]), attr.ints("dilations", [1, 2])], undefined, 19), "node n (AveragePool): unsupported dilations [1,2]: only 1 is supported (the IR has no dilated average pooling)"],
  ["MaxPool dilated window overlapping padding", single("MaxPool", ["x"], [attr.ints("kernel_shape", [2, 2]), attr.ints("dilations", [2, 2]), attr.ints("pads", [3, 0, 0, 0])]), "node n (MaxPool): unsupported pads [3,0,0,0]: padding must be smaller than the 3x3 window"],
  ["MaxPool pads as large as the window", single("MaxPool", ["x"], [attr.ints("kernel_shape", [2, 2]), attr.ints("pads", [2, 0, 0, 0])]), "node n (MaxPool): unsupported pads [2,0,0,0]: padding must be smaller than the 2x2 window"],
  ["AveragePool 3-D kernel", single("AveragePool", ["x"], [attr.ints("kernel_shape", [2, 2, 2])]), "node n (AveragePool): unsupported kernel_shape [2,2,2]: expected 2 positive integer(s), one per spatial axis of the 2-D input"],
  ["Clip max 6 (ReLU6)", single("Clip", ["x", "lo", "hi"], [], (g) => { g.init("lo", [], [0]); g.init("hi", [], [6]); }), "node n (Clip): unsupported max 6: only Clip(0, ∞), i.e. ReLU, is supported: the IR has no clipped activation"],
  ["Clip min (opset 6 attribute)", single("Clip", ["x"], [attr.float("min", -1)], undefined, 6), "node n (Clip): unsupported min -1: only Clip(0, ∞), i.e. ReLU, is supported: the IR has no clipped activation"],
  ["Pad mode", single("Pad", ["x", "p"], [attr.string("mode", "wrap")], (g) => g.initI64("p", [8], [0, 0, 1, 1, 0, 0, 1, 1]), 19), 'node n (Pad): unsupported mode "wrap": expected constant, reflect or edge'],
  ["Pad reflecting as much as the axis", single("Pad", ["x", "p"], [attr.string("mode", "reflect")], (g) => g.initI64("p", [8], [0, 0, 1, 0, 0, 0, 1, 5])), "node n (Pad): unsupported pads [0,0,1,0,0,0,1,5]: reflect pads must be smaller than the padded axis: axis 3 has size 5"],
  ["Pad on channels", single("Pad", ["x", "p", "v"], [], (g) => { g.initI64("p", [8], [0, 1, 0, 0, 0, 0, 0, 0]); g.init("v", [], [2]); }), "node n (Pad): unsupported pads [0,1,0,0,0,0,0,0]: only the spatial axes of an [N,C,L] or [N,C,H,W] input can be padded, the input is [N,3,5,5]"],
  ["Pad on the batch (opset 2 attributes)", single("Pad", ["x"], [attr.string("mode", "edge"), attr.ints("pads", [0, 0, 1, 1, 1, 0, 1, 1])], undefined, 2), "node n (Pad): unsupported pads [0,0,1,1,1,0,1,1]: only the spatial axes of an [N,C,L] or [N,C,H,W] input can be padded, the input is [N,3,5,5]"],
  ["Pad cropping", single("Pad", ["x", "p"], [attr.string("mode", "edge")], (g) => g.initI64("p", [8], [0, 0, -1, 0, 0, 0, 1, 1])), "node n (Pad): unsupported pads [0,0,-1,0,0,0,1,1]: negative pads (cropping) are not supported"],
  ["Softmax over the batch", single("Softmax", ["x"], [attr.int("axis", 0)]), "node n (Softmax): unsupported axis 0: the batch axis must stay first and untouched"],
  ["Softmax over H,W (opset 11 coerces to 2-D)", single("Softmax", ["x"], [attr.int("axis", 2)], undefined, 11), "node n (Softmax): unsupported axis 2: the IR's softmax runs over one axis of its tensor; over [N,3,5,5] from axis 2 on that is 2 axes"],
  ["LogSoftmax over C,H,W (opset 11 coerces to 2-D)", single("LogSoftmax", ["x"], [attr.int("axis", 1)], undefined, 11), "node n (LogSoftmax): unsupported axis 1: the IR's logsoftmax runs over one axis of its tensor; over [N,3,5,5] from axis 1 on that is 3 axes"],
  ["BatchNormalization training", single("BatchNormalization", ["x", "s", "s", "s", "s"], [attr.int("training_mode", 1)], (g) => g.init("s", [3], [1, 1, 1])), "node n (BatchNormalization): unsupported training_mode 1: only inference is supported"],
  ["Transpose moving the batch", single("Transpose", ["x"], [attr.ints("perm", [1, 0, 2, 3])]), "node n (Transpose): unsupported perm [1,0,2,3]: the batch axis must stay first"],
  ["Concat along the batch", single("Concat", ["x", "x"], [attr.int("axis", 0)]), "node n (Concat): unsupported axis 0: the batch axis must stay first and untouched"],
  ["Flatten into the batch", single("Flatten", ["x"], [attr.int("axis", 2)]), "node n (Flatten): unsupported axis 2: it would merge axes of [N,3,5,5] into the batch axis"],
  ["Gather along H", single("Gather", ["x", "i"], [attr.int("axis", 2)], (g) => g.initI64("i", [], [1])), "node n (Gather): selects along axis 2 of [N,3,5,5], which is not the channel axis; activations can only be indexed by channel"],
  ["Cast to float16", single("Cast", ["x"], [attr.int("to", DataType.FLOAT16)]), "node n (Cast): casts the activation to float16; only float32 is supported on the activation path"],
];
for (const [what, bytes, message] of cases) {
  Attributes(what, () => assert.is(importError(bytes), `bad.onnx: ${message}`));
}

const Structure = suite("broken graphs");

Structure("a missing initializer", () => {
  assert.is(importError(single("Conv", ["x", "W"])), "bad.onnx: node n (Conv): reads 'W', which no node, graph input or initializer provides");
});

Structure("a cycle", () => {
  const g = new GraphBuilder();
  g.op("Relu", ["b"], [], { out: "a", name: "first" });
  g.op("Relu", ["a"], [], { out: "b", name: "second" });
  g.op("Relu", ["a"], [], { out: "y", name: "last" });
  assert.is(importError(g.bytes([IMAGE], [["y", null]])), "bad.onnx: the graph has a cycle: first (Relu) → second (Relu) → first (Relu)");
});

Structure("a tensor written twice", () => {
  const g = new GraphBuilder();
  g.op("Relu", ["x"], [], { out: "y", name: "one" });
  g.op("Relu", ["x"], [], { out: "y", name: "two" });
  assert.is(importError(g.bytes([IMAGE], [["y", null]])), "bad.onnx: tensor 'y' is produced by both one (Relu) and two (Relu)");
});

Structure("outputs that cannot be produced", () => {
  const g = new GraphBuilder();
  g.init("w", [2]);
  g.op("Relu", ["x"], [], { out: "y" });
  assert.is(importError(g.bytes([IMAGE], [["y", null], ["nowhere", null]])), "bad.onnx: graph output 'nowhere' is not produced by any node or graph input");
  assert.is(importError(g.bytes([IMAGE], [["w", null]])), "bad.onnx: graph output 'w' is a constant (an initializer)");
  assert.is(importError(single("Shape", ["x"])), "bad.onnx: graph output 'y' is a constant: it does not depend on the graph input");
  assert.is(importError(g.bytes([IMAGE], [])), "bad.onnx: the graph has no outputs");
});

Structure("weights fed as graph inputs", () => {
  const g = new GraphBuilder();
  g.op("Conv", ["x", "W"], [], { out: "y", name: "conv" });
  assert.is(
    importError(g.bytes([IMAGE, ["W", [4, 3, 3, 3]]], [["y", null]])),
    "bad.onnx: node conv (Conv): input 1 ('W') must be a constant (an initializer, or computed from initializers), but it depends on the graph input",
  );
});

Structure("elementwise ops between activations, and constants the IR cannot apply per channel", () => {
  assert.is(importError(single("Add", ["x", "x"])), "bad.onnx: node n (Add): both inputs are activations; the IR has no elementwise Add of two tensors");
  assert.is(importError(single("Div", ["c", "x"], [], (g) => g.init("c", [], [1]))), "bad.onnx: node n (Div): divides a constant by an activation, which the IR cannot express");
  assert.is(
    importError(single("Mul", ["x", "c"], [], (g) => g.init("c", [1, 1, 5, 1]))),
    "bad.onnx: node n (Mul): constant of shape [1,1,5,1] varies along axis 2 of [N,3,5,5], which is not the channel axis",
  );
  assert.is(importError(single("Mul", ["x", "c"], [], (g) => g.init("c", [2, 3, 1, 1]))), "bad.onnx: node n (Mul): constant of shape [2,3,1,1] varies along the batch axis");
  const enlarging = single("Add", ["p", "c"], [], (g) => {
    g.op("GlobalAveragePool", ["x"], [], { out: "p" });
    g.init("c", [1, 1, 1, 5]);
  });
  assert.is(importError(enlarging), "bad.onnx: node n (Add): constant of shape [1,1,1,5] does not broadcast to the activation [N,3,1,1] without enlarging it");
});

Structure("ops given the wrong layout", () => {
  const g = new GraphBuilder();
  g.op("Conv", ["v", g.init("W", [2, 10, 1, 1])], [], { out: "y", name: "conv" });
  assert.is(importError(g.bytes([["v", ["N", 10]]], [["y", null]])), "bad.onnx: node conv (Conv): expects an [N,C,L] or [N,C,H,W] input, got [N,10]");
  assert.is(importError(single("Gemm", ["x", "B"], [], (g2) => g2.init("B", [75, 2]))), "bad.onnx: node n (Gemm): expects an [N,K] input, got [N,3,5,5]");
  assert.is(
    importError(single("MaxPool", ["t"], [attr.ints("kernel_shape", [2, 2])], (g2) => g2.op("Transpose", ["x"], [attr.ints("perm", [0, 2, 1, 3])], { out: "t" }))),
    "bad.onnx: node n (MaxPool): expects an [N,C,L] or [N,C,H,W] input, got [N,5,3,5] laid out as IR [5,5,3]",
  );
});

const Types = suite("non-float element types on the activation path");

Types("an integer graph input, an integer constant operand, integer weights", () => {
  const g = new GraphBuilder();
  g.op("Relu", ["x"], [], { out: "y" });
  const bytes = modelBytes(graph({ name: "g", node: g.nodes, input: [valueInfo("x", DataType.INT64, [1, 3, 5, 5])], output: [valueInfo("y", DataType.INT64, null)] }));
  assert.is(importError(bytes), "bad.onnx: graph input 'x' has element type int64; only float32 inputs are supported");
  assert.is(importError(single("Add", ["x", "c"], [], (g2) => g2.initI64("c", [], [1]))), "bad.onnx: node n (Add): constant of shape [] has element type int64; activations are float");
  const int8 = tensor({ name: "W", dims: [4n, 3n, 1n, 1n], dataType: DataType.INT8, rawData: new Uint8Array(12) });
  const conv = modelBytes(graph({
    name: "g", node: [node("Conv", ["x", "W"], ["y"], [], { name: "conv" })], initializer: [int8],
    input: [valueInfo("x", DataType.FLOAT, [1, 3, 5, 5])], output: [valueInfo("y", DataType.FLOAT, null)],
  }));
  assert.is(importError(conv), "bad.onnx: node conv (Conv): input 1 ('W') has element type int8; float weights are expected");
});

const Shapes = suite("shapes that are not static enough");

Shapes("a symbolic or unknown input size", () => {
  const g = new GraphBuilder();
  g.op("Relu", ["x"], [], { out: "y" });
  assert.is(importError(g.bytes([["x", ["N", 3, "height", null]]], [["y", null]])), "bad.onnx: graph input 'x' has shape [N,3,height,?]: C, H and W must be static (only the batch dim may be symbolic)");
  assert.is(importError(g.bytes([["x", [1, 3, 5, 5, 5]]], [["y", null]])), "bad.onnx: graph input 'x' has shape [1,3,5,5,5]; expected an image [N,C,H,W] ([N,H,W,C] when a Transpose to NCHW follows), 1-D data [N,C,L], a flat [N,K] or [N] (3-D and higher spatial data are not supported: the IR is 2-D)");
  assert.is(importError(g.bytes([["x", ["N", 3, "length"]]], [["y", null]])), "bad.onnx: graph input 'x' has shape [N,3,length]: C and L must be static (only the batch dim may be symbolic)");
  const unknownRank = modelBytes(graph({ name: "g", node: g.nodes, input: [valueInfo("x", DataType.FLOAT, null)], output: [valueInfo("y", DataType.FLOAT, null)] }));
  assert.match(importError(unknownRank), "bad.onnx: graph input 'x' has shape unknown; expected an image");
});

Shapes("shape arithmetic that needs the batch size beyond the batch dim", () => {
  // Reshape to [N, N*75]: the batch size ends up in a per-sample dim.
  const g = new GraphBuilder();
  const batch = g.op("Gather", [g.op("Shape", ["x"]), g.initI64("zero", [], [0])]);
  const n = g.op("Unsqueeze", [batch, g.initI64("axes", [1], [0])]);
  const nTimes = g.op("Mul", [n, g.initI64("k", [1], [75])]);
  g.op("Reshape", ["x", g.op("Concat", [n, nTimes], [attr.int("axis", 0)])], [], { out: "y", name: "reshape" });
  assert.is(importError(g.bytes([IMAGE], [["y", null]])), "bad.onnx: node reshape (Reshape): reshapes to [N,N], which depends on the batch size beyond its first dim");
});

Shapes("a Reshape that fixes the batch size, or reorders axes", () => {
  const fixed = single("Reshape", ["x", "s"], [], (g) => g.initI64("s", [2], [1, -1]));
  assert.is(importError(fixed), "bad.onnx: node n (Reshape): reshapes to [1,-1], whose first dim is not the batch size (0, -1, or the batch from Shape)");
  const reorder = single("Reshape", ["x", "s"], [], (g) => g.initI64("s", [4], [0, 5, 3, 5]));
  assert.is(importError(reorder), "bad.onnx: node n (Reshape): reshape of [N,3,5,5] to [N,5,3,5] is not supported: only flattening to [N,K] and adding or removing size-1 axes are");
});

Shapes("sizes a hostile file could use to exhaust memory", () => {
  const g = new GraphBuilder();
  g.op("Relu", ["x"], [], { out: "y" });
  assert.is(importError(g.bytes([["x", [1, 3, 100000, 100000]]], [["y", null]])), "bad.onnx: graph input 'x' has shape [1,3,100000,100000], more than 2^28 values per sample");
  const huge = single("Add", ["x", "s"], [], (b) => {
    const outer = b.op("Add", [b.init("col", [4096, 1], new Array<number>(4096).fill(0)), b.init("row", [1, 4096], new Array<number>(4096).fill(0))], [], { name: "outer" });
    b.op("Gather", [outer, b.initI64("i", [], [0])], [], { out: "s" });
  });
  assert.is(importError(huge), "bad.onnx: node outer (Add): folding would broadcast [4096,1] and [1,4096] to [4096,4096]");
});

const Options = suite("options");

Options("labels must match a single flat output", () => {
  assert.is(importError(torchvisionModel({ prologue: false }), { labels: ["a", "b"] }), "bad.onnx: 2 labels given but the output shape is [5]");
});

Options("an explicit normalization wins over the prologue's", () => {
  const bytes = torchvisionModel({ prologue: true });
  const g = importOnnx(parseOnnx(bytes), { source: "m", normalization: "unit", labels: ["a", "b", "c", "d", "e"] });
  assert.is(g.metadata.normalization, "unit");
  assert.equal(g.metadata.labels, ["a", "b", "c", "d", "e"]);
});

Unsupported.run();
Attributes.run();
Structure.run();
Types.run();
Shapes.run();
Options.run();
