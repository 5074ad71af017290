import { test } from "uvu";
import * as assert from "uvu/assert";

import { weightValues, type BatchNormNode, type Conv2DNode, type DenseNode, type Node, type PoolNode } from "../../src/graph/ir.js";
import { inferShapes } from "../../src/graph/shapes.js";
import { importTfjsLayers, type TfjsLayersArtifacts } from "../../src/import/tfjs-layers.js";
import { concatBytes, errorOf, f32Bytes, ModelBuilder, ramp, u16Bytes } from "./helpers.js";

function node<T extends Node>(graph: { nodes: Node[] }, name: string): T {
  const found = graph.nodes.find((n) => n.name === name);
  if (!found) throw new Error(`no node ${name}`);
  return found as T;
}

const f32 = (values: readonly number[]): number[] => Array.from(Float32Array.from(values));

test("same/valid padding with stride 2 on odd and even sizes follows the TF rule", () => {
  const m = new ModelBuilder().input("in", [7, 8, 2]);
  const conv = (name: string, kernel: [number, number], strides: number, padding: string, useBias: boolean) => {
    m.layer("Conv2D", name, { filters: 3, kernel_size: kernel, strides: [strides, strides], padding, data_format: "channels_last", dilation_rate: [1, 1], activation: "relu", use_bias: useBias }, ["in"]);
    const kernelValues = m.f32(`${name}/kernel`, [...kernel, 2, 3], 1);
    const biasValues = useBias ? m.f32(`${name}/bias`, [3], 2) : null;
    return { kernelValues, biasValues };
  };
  const same = conv("c_same", [3, 3], 2, "same", true);
  conv("c_valid", [3, 2], 2, "valid", false);
  conv("c_1x1", [1, 1], 2, "same", false);
  conv("c_s1", [5, 4], 1, "same", false);
  m.layer("MaxPooling2D", "p_same", { pool_size: [3, 3], strides: [2, 2], padding: "same" }, ["in"]);
  m.layer("AveragePooling2D", "a_same", { pool_size: [2, 3], strides: [2, 2], padding: "same" }, ["in"]);
  m.layer("AveragePooling2D", "a_valid", { pool_size: [2, 2], strides: null, padding: "valid" }, ["in"]);
  const outputs = ["c_same", "c_valid", "c_1x1", "c_s1", "p_same", "a_same", "a_valid"];
  const graph = importTfjsLayers(m.functional(outputs));
  const shapes = inferShapes(graph);

  // H=7, k=3, s=2: out=ceil(7/2)=4, total=(4-1)*2+3-7=2 → 1/1.
  // W=8, k=3, s=2: out=4, total=(4-1)*2+3-8=1 → 0/1.
  const cSame = node<Conv2DNode>(graph, "c_same");
  assert.equal(cSame.pads, { top: 1, bottom: 1, left: 0, right: 1 });
  assert.equal(shapes.get("c_same"), [4, 4, 3]);
  assert.equal(cSame.kernelShape, [3, 3, 2, 3]);
  assert.equal(cSame.strides, [2, 2]);
  assert.is(cSame.activation, "relu");
  assert.equal(Array.from(weightValues(cSame.kernel)), same.kernelValues);
  assert.equal(Array.from(cSame.bias!), same.biasValues);

  // valid: H floor((7-3)/2)+1=3, W floor((8-2)/2)+1=4.
  assert.equal(node<Conv2DNode>(graph, "c_valid").pads, { top: 0, bottom: 0, left: 0, right: 0 });
  assert.is(node<Conv2DNode>(graph, "c_valid").bias, null);
  assert.equal(shapes.get("c_valid"), [3, 4, 3]);

  // k=1, s=2: H total=(4-1)*2+1-7=0, W total=max((4-1)*2+1-8, 0)=0.
  assert.equal(node<Conv2DNode>(graph, "c_1x1").pads, { top: 0, bottom: 0, left: 0, right: 0 });
  assert.equal(shapes.get("c_1x1"), [4, 4, 3]);

  // s=1: H total=6+5-7=4 → 2/2, W total=7+4-8=3 → 1/2.
  assert.equal(node<Conv2DNode>(graph, "c_s1").pads, { top: 2, bottom: 2, left: 1, right: 2 });
  assert.equal(shapes.get("c_s1"), [7, 8, 3]);

  const pSame = node<PoolNode>(graph, "p_same");
  assert.is(pSame.op, "maxpool");
  assert.equal(pSame.pads, { top: 1, bottom: 1, left: 0, right: 1 });
  assert.equal(shapes.get("p_same"), [4, 4, 2]);

  // 2x3 window, s=2: H total=6+2-7=1 → 0/1, W total=6+3-8=1 → 0/1.
  const aSame = node<PoolNode>(graph, "a_same");
  assert.is(aSame.op, "avgpool");
  assert.equal(aSame.window, [2, 3]);
  assert.equal(aSame.pads, { top: 0, bottom: 1, left: 0, right: 1 });
  assert.is(aSame.countIncludePad, false);

  // strides null means strides = pool_size; H floor((7-2)/2)+1=3, W 4.
  const aValid = node<PoolNode>(graph, "a_valid");
  assert.equal(aValid.strides, [2, 2]);
  assert.equal(shapes.get("a_valid"), [3, 4, 2]);
  assert.equal(graph.outputs, outputs);
});

test("BatchNormalization: scale/center flags decide which weights exist", () => {
  const m = new ModelBuilder().input("in", [2, 2, 4]);
  m.layer("BatchNormalization", "bn_full", { axis: 3, epsilon: 0.01 }, ["in"]);
  m.layer("BatchNormalization", "bn_noscale", { axis: -1, epsilon: 0.001, scale: false, center: true }, ["bn_full"]);
  m.layer("BatchNormalization", "bn_none", { axis: 3, scale: false, center: false }, ["bn_noscale"]);
  // tfjs sorts manifests by name; order must not matter.
  const beta = m.f32("bn_full/beta", [4], 1);
  const gamma = m.f32("bn_full/gamma", [4], 2);
  const mean = m.f32("bn_full/moving_mean", [4], 3);
  const variance = m.f32("bn_full/moving_variance", [4], 4);
  const beta2 = m.f32("bn_noscale/beta", [4], 5);
  m.f32("bn_noscale/moving_mean", [4], 6);
  m.f32("bn_noscale/moving_variance", [4], 7);
  const mean3 = m.f32("bn_none/moving_mean", [4], 8);
  const variance3 = m.f32("bn_none/moving_variance", [4], 9);
  const graph = importTfjsLayers(m.functional(["bn_none"]));

  const full = node<BatchNormNode>(graph, "bn_full");
  assert.equal(Array.from(full.gamma!), gamma);
  assert.equal(Array.from(full.beta!), beta);
  assert.equal(Array.from(full.mean), mean);
  assert.equal(Array.from(full.variance), variance);
  assert.is(full.epsilon, 0.01);

  const noScale = node<BatchNormNode>(graph, "bn_noscale");
  assert.is(noScale.gamma, null);
  assert.equal(Array.from(noScale.beta!), beta2);

  const none = node<BatchNormNode>(graph, "bn_none");
  assert.is(none.gamma, null);
  assert.is(none.beta, null);
  assert.equal(Array.from(none.mean), mean3);
  assert.equal(Array.from(none.variance), variance3);
  // Keras's default epsilon.
  assert.is(none.epsilon, 1e-3);
});

test("quantized uint8/uint16/float16 and int32 weights decode from unaligned bytes without touching the caller's buffer", () => {
  const m = new ModelBuilder().input("in", [4]);
  m.layer("Dense", "d1", { units: 3, activation: "relu", use_bias: true }, ["in"]);
  m.layer("Dense", "d2", { units: 2, activation: "linear", use_bias: true }, ["d1"]);
  m.layer("Dense", "d3", { units: 1, activation: "linear", use_bias: false }, ["d2"]);

  const q8 = [0, 1, 2, 255, 4, 5, 6, 7, 8, 9, 10, 11];
  m.raw({ name: "d1/kernel", shape: [4, 3], dtype: "float32", quantization: { dtype: "uint8", min: -1, scale: 0.5, original_dtype: "float32" } }, Uint8Array.from(q8));
  const q16 = [0, 1, 65535];
  m.raw({ name: "d1/bias", shape: [3], dtype: "float32", quantization: { dtype: "uint16", min: 10, scale: 0.25 } }, u16Bytes(q16));
  // IEEE binary16: 1, -2, 0.5, 65504 (largest finite), 2^-24 (smallest subnormal), -0.
  m.raw({ name: "d2/kernel", shape: [3, 2], dtype: "float32", quantization: { dtype: "float16" } }, u16Bytes([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000]));
  const int32 = new Uint8Array(8);
  new DataView(int32.buffer).setInt32(0, -3, true);
  new DataView(int32.buffer).setInt32(4, 7, true);
  m.raw({ name: "d2/bias", shape: [2], dtype: "int32" }, int32);
  // Starts at byte 12+6+12+8 = 38, not a multiple of 4.
  m.raw({ name: "d3/kernel", shape: [2, 1], dtype: "float32" }, f32Bytes([1.5, -0.25]));

  const artifacts = m.functional(["d3"]);
  // Hand the importer a view at an odd offset into a larger buffer.
  const backing = new Uint8Array(artifacts.weightData.byteLength + 3);
  backing.set(artifacts.weightData, 1);
  const before = backing.slice();
  const graph = importTfjsLayers({ ...artifacts, weightData: backing.subarray(1, 1 + artifacts.weightData.byteLength) });

  const d1 = node<DenseNode>(graph, "d1");
  assert.equal(Array.from(weightValues(d1.kernel)), f32(q8.map((q) => -1 + q * 0.5)));
  assert.equal(Array.from(d1.bias!), [10, 10.25, 16393.75]);
  const d2 = node<DenseNode>(graph, "d2");
  assert.equal(Array.from(weightValues(d2.kernel)), [1, -2, 0.5, 65504, 2 ** -24, -0]);
  assert.ok(Object.is(weightValues(d2.kernel)[5], -0));
  assert.equal(Array.from(d2.bias!), [-3, 7]);
  assert.equal(Array.from(weightValues(node<DenseNode>(graph, "d3").kernel)), [1.5, -0.25]);
  assert.is(node<DenseNode>(graph, "d3").bias, null);

  assert.equal(backing, before, "importer must not mutate the weight bytes");
  // Kernels are decoded when read, each time into a new array: a reader that modifies its copy changes nothing.
  weightValues(node<DenseNode>(graph, "d3").kernel).fill(0);
  assert.equal(Array.from(weightValues(node<DenseNode>(graph, "d3").kernel)), [1.5, -0.25], "each read decodes a fresh copy");
});

test("Sequential models (Keras 2.2 dict and older list config) get an implied or explicit input", () => {
  const conv = { class_name: "Conv2D", config: { name: "conv", batch_input_shape: [null, 5, 5, 1], filters: 2, kernel_size: [3, 3], strides: [1, 1], padding: "valid", activation: "relu", use_bias: true } };
  const rest = [
    { class_name: "Flatten", config: { name: "flat" } },
    { class_name: "Dropout", config: { name: "drop", rate: 0.5 } },
    { class_name: "Dense", config: { name: "out", units: 2, activation: "softmax", use_bias: false } },
  ];
  const weightData = concatBytes([f32Bytes(ramp(18, 1)), f32Bytes(ramp(2, 2)), f32Bytes(ramp(36, 3))]);
  const weightsManifest = [{ paths: ["w"], weights: [
    { name: "conv/kernel", shape: [3, 3, 1, 2], dtype: "float32" },
    { name: "conv/bias", shape: [2], dtype: "float32" },
    { name: "out/kernel", shape: [18, 2], dtype: "float32" },
  ] }];

  const implied = importTfjsLayers({ modelTopology: { class_name: "Sequential", config: { name: "s", layers: [conv, ...rest] } }, weightsManifest, weightData });
  assert.equal(implied.nodes.map((n) => `${n.name}:${n.op}`), ["conv_input:input", "conv:conv2d", "flat:flatten", "drop:identity", "out/logits:dense", "out:softmax"]);
  assert.equal(implied.outputs, ["out"]);
  const shapes = inferShapes(implied);
  // valid 3x3 on 5x5 → 3x3x2 → 18.
  assert.equal(shapes.get("conv_input"), [5, 5, 1]);
  assert.equal(shapes.get("flat"), [18]);
  assert.equal(shapes.get("out"), [2]);
  assert.equal(Array.from(weightValues(node<DenseNode>(implied, "out/logits").kernel)), ramp(36, 3));
  assert.is(node<DenseNode>(implied, "out/logits").activation, "linear");
  assert.equal(node(implied, "out").inputs, ["out/logits"]);

  const input = { class_name: "InputLayer", config: { name: "pixels", batch_input_shape: [null, 5, 5, 1] } };
  const listForm = importTfjsLayers({ modelTopology: { keras_version: "2.1.6", backend: "tensorflow", model_config: { class_name: "Sequential", config: [input, conv, ...rest] } }, weightsManifest, weightData });
  assert.equal(listForm.nodes.map((n) => n.name), ["pixels", "conv", "flat", "drop", "out/logits", "out"]);
  assert.equal(node(listForm, "conv").inputs, ["pixels"]);
});

test("Keras 3 functional form: dict inbound_nodes, batch_shape, prefixed weight names with :0", () => {
  const kt = (name: string) => ({ class_name: "__keras_tensor__", config: { shape: [null, 4, 4, 1], dtype: "float32", keras_history: [name, 0, 0] } });
  const layer = (class_name: string, name: string, config: object, args: unknown[]) => ({
    module: "keras.layers", class_name, name, config: { name, ...config }, inbound_nodes: [{ args, kwargs: {} }],
  });
  const topology = {
    class_name: "Functional",
    config: {
      name: "functional",
      // Deliberately out of order: Keras does not promise topological order.
      layers: [
        layer("Concatenate", "cat", { axis: -1 }, [[kt("a"), kt("b")]]),
        { module: "keras.layers", class_name: "InputLayer", name: "input_layer", config: { name: "input_layer", batch_shape: [null, 4, 4, 1] }, inbound_nodes: [] },
        layer("Conv2D", "a", { filters: 2, kernel_size: [1, 1], padding: "same", use_bias: false, activation: "linear" }, [kt("input_layer")]),
        layer("Activation", "b", { activation: "relu" }, [kt("input_layer")]),
      ],
      input_layers: [["input_layer", 0, 0]],
      output_layers: [["cat", 0, 0]],
    },
  };
  const graph = importTfjsLayers({
    modelTopology: topology,
    weightsManifest: [{ paths: ["w"], weights: [{ name: "functional/a/kernel:0", shape: [1, 1, 1, 2], dtype: "float32" }] }],
    weightData: f32Bytes([0.5, -1]),
  });
  assert.equal(graph.nodes.map((n) => n.name), ["input_layer", "a", "b", "cat"]);
  assert.equal(node(graph, "cat").inputs, ["a", "b"]);
  assert.equal(Array.from(weightValues(node<Conv2DNode>(graph, "a").kernel)), [0.5, -1]);
  assert.equal(inferShapes(graph).get("cat"), [4, 4, 3]);
});

test("metadata: InceptionV3-style blocks, GAP embedding, labels and normalization", () => {
  // in → conv_a → pool_b ⇒ branches c and d→e ⇒ mixed0 → f ⇒ mixed1(mixed0, f) → gap → head
  const m = new ModelBuilder().input("in", [9, 9, 1]);
  const conv = (name: string, input: string, cin: number, cout: number) => {
    m.layer("Conv2D", name, { filters: cout, kernel_size: [1, 1], padding: "valid", use_bias: false }, [input]);
    m.f32(`${name}/kernel`, [1, 1, cin, cout]);
  };
  conv("conv_a", "in", 1, 2);
  m.layer("MaxPooling2D", "pool_b", { pool_size: [3, 3], strides: [2, 2], padding: "valid" }, ["conv_a"]);
  conv("c", "pool_b", 2, 2);
  conv("d", "pool_b", 2, 2);
  conv("e", "d", 2, 3);
  m.layer("Concatenate", "mixed0", { axis: -1 }, ["c", "e"]);
  conv("f", "mixed0", 5, 1);
  m.layer("Concatenate", "mixed1", { axis: 3 }, ["mixed0", "f"]);
  m.layer("GlobalAveragePooling2D", "gap", {}, ["mixed1"]);
  m.layer("Dense", "head", { units: 2, activation: "softmax" }, ["gap"]);
  m.f32("head/kernel", [6, 2]);
  m.f32("head/bias", [2]);
  const graph = importTfjsLayers(m.functional(["head"]), { source: "mini", labels: ["x", "y"], normalization: "tf" });

  assert.equal(graph.metadata, {
    source: "mini",
    labels: ["x", "y"],
    normalization: "tf",
    blocks: [
      { name: "stem", tensor: "pool_b" },
      { name: "mixed0", tensor: "mixed0" },
      { name: "mixed1", tensor: "mixed1" },
      { name: "head", tensor: "head" },
    ],
    embedding: "gap",
  });
  assert.equal(inferShapes(graph).get("gap"), [6]);
});

test("metadata: Flatten of a 1x1 pooling is the embedding; no mixed blocks → head only", () => {
  const m = new ModelBuilder().input("in", [8, 8, 3]);
  m.layer("AveragePooling2D", "pool", { pool_size: [8, 8], strides: [8, 8], padding: "valid" }, ["in"]);
  m.layer("Flatten", "flat", {}, ["pool"]);
  m.layer("Dense", "fc", { units: 2, activation: "linear" }, ["flat"]);
  m.f32("fc/kernel", [3, 2]);
  m.f32("fc/bias", [2]);
  const graph = importTfjsLayers(m.functional(["fc"]));
  assert.is(graph.metadata.embedding, "flat");
  assert.equal(graph.metadata.blocks, [{ name: "head", tensor: "fc" }]);
  assert.is(graph.metadata.source, "tfjs layers model");
  assert.is(graph.metadata.labels, undefined);
});

test("sigmoid: Activation layer becomes a sigmoid node; a sigmoid Dense becomes <layer>/logits + <layer>", () => {
  const m = new ModelBuilder().input("in", [4, 4, 3]);
  m.layer("Activation", "act", { activation: "sigmoid" }, ["in"]);
  m.layer("GlobalAveragePooling2D", "gap", {}, ["act"]);
  m.layer("Dense", "out", { units: 2, activation: "sigmoid" }, ["gap"]);
  m.f32("out/kernel", [3, 2]);
  m.f32("out/bias", [2]);
  const graph = importTfjsLayers(m.functional(["out"]));
  assert.equal(graph.nodes.map((n) => `${n.name}:${n.op}`), ["in:input", "act:sigmoid", "gap:globalavgpool", "out/logits:dense", "out:sigmoid"]);
  assert.equal(graph.nodes[4]!.inputs, ["out/logits"]);
  assert.is((graph.nodes[3] as DenseNode).activation, "linear");
  assert.equal(graph.outputs, ["out"]);
  assert.equal(inferShapes(graph).get("act"), [4, 4, 3]);
});

// --- bad input -------------------------------------------------------------

function conv2dModel(config: Record<string, unknown>, kernelShape = [3, 3, 3, 4]): TfjsLayersArtifacts {
  const m = new ModelBuilder().input("in", [8, 8, 3]);
  m.layer("Conv2D", "conv", { filters: 4, kernel_size: [3, 3], padding: "same", use_bias: false, ...config }, ["in"]);
  m.f32("conv/kernel", kernelShape);
  return m.functional(["conv"]);
}

test("unsupported layers are all listed in one error", () => {
  const m = new ModelBuilder().input("in", [8, 8, 3]);
  m.layer("ZeroPadding2D", "zp", { padding: [1, 1] }, ["in"]);
  m.layer("LeakyReLU", "lrelu", { alpha: 0.1 }, ["zp"]);
  m.layer("Flatten", "flat", {}, ["lrelu"]);
  const message = errorOf(() => importTfjsLayers(m.functional(["flat"])));
  assert.match(message, "zp (ZeroPadding2D)");
  assert.match(message, "lrelu (LeakyReLU)");
  assert.not.match(message, "flat");
});

test("short weight data names the first short tensor and the byte counts", () => {
  const artifacts = conv2dModel({});
  // 3*3*3*4 float32 = 432 bytes expected; give 400.
  const message = errorOf(() => importTfjsLayers({ ...artifacts, weightData: artifacts.weightData.subarray(0, 400) }));
  assert.match(message, "conv/kernel");
  assert.match(message, "432");
  assert.match(message, "400");
});

test("missing weight names the layer and the weight", () => {
  const m = new ModelBuilder().input("in", [4]);
  m.layer("Dense", "fc", { units: 2, use_bias: true }, ["in"]);
  m.f32("fc/kernel", [4, 2]);
  const message = errorOf(() => importTfjsLayers(m.functional(["fc"])));
  assert.match(message, "fc (Dense)");
  assert.match(message, "fc/bias");
});

test("wrong kernel shape names the layer, expected and actual shapes", () => {
  const message = errorOf(() => importTfjsLayers(conv2dModel({}, [3, 3, 2, 4])));
  assert.match(message, "conv (Conv2D)");
  assert.match(message, "[3,3,2,4]");
  assert.match(message, "expected [3,3,3,4]");
});

test("Conv2D dilation_rate and groups reach the IR; same padding spans the dilated window", () => {
  const dilated = importTfjsLayers(conv2dModel({ dilation_rate: [2, 3] })).nodes.find((n) => n.op === "conv2d")!;
  assert.ok(dilated.op === "conv2d");
  assert.equal(dilated.dilations, [2, 3]);
  assert.is(dilated.groups, undefined);
  // Effective window 5x7 at stride 1: 4 rows and 6 columns of padding, split evenly.
  assert.equal(dilated.pads, { top: 2, bottom: 2, left: 3, right: 3 });
  const m = new ModelBuilder().input("in", [8, 8, 4]);
  m.layer("Conv2D", "conv", { filters: 6, kernel_size: [3, 3], padding: "valid", use_bias: false, groups: 2 }, ["in"]);
  m.f32("conv/kernel", [3, 3, 2, 6]);
  const grouped = importTfjsLayers(m.functional(["conv"])).nodes.find((n) => n.op === "conv2d")!;
  assert.ok(grouped.op === "conv2d");
  assert.is(grouped.groups, 2);
  assert.equal(grouped.kernelShape, [3, 3, 2, 6]);
});

test("unsupported config values name layer, class, attribute and value", () => {
  const cases: [Record<string, unknown>, string[]][] = [
    [{ data_format: "channels_first" }, ["data_format", "channels_first"]],
    [{ groups: 2 }, ["groups", "2", "must divide the 3 input channels"]],
    [{ activation: "tanh" }, ["activation", "tanh"]],
    [{ activation: "softmax" }, ["activation", "softmax"]],
    [{ padding: "causal" }, ["padding", "causal"]],
  ];
  for (const [config, fragments] of cases) {
    const message = errorOf(() => importTfjsLayers(conv2dModel(config)));
    for (const fragment of ["conv (Conv2D)", ...fragments]) assert.match(message, fragment);
  }
});

test("Concatenate: bad axis and spatial mismatch are reported against the layer", () => {
  const badAxis = new ModelBuilder().input("in", [4, 4, 2]);
  badAxis.layer("Activation", "r", { activation: "relu" }, ["in"]);
  badAxis.layer("Concatenate", "cat", { axis: 1 }, ["in", "r"]);
  const axisMessage = errorOf(() => importTfjsLayers(badAxis.functional(["cat"])));
  assert.match(axisMessage, "cat (Concatenate)");
  assert.match(axisMessage, "axis 1");

  const mismatch = new ModelBuilder().input("in", [4, 4, 2]);
  mismatch.layer("MaxPooling2D", "pool", { pool_size: [2, 2], padding: "valid" }, ["in"]);
  mismatch.layer("Concatenate", "cat", { axis: -1 }, ["in", "pool"]);
  const shapeMessage = errorOf(() => importTfjsLayers(mismatch.functional(["cat"])));
  assert.match(shapeMessage, "cat (Concatenate)");
  assert.match(shapeMessage, "[4,4,2]");
  assert.match(shapeMessage, "[2,2,2]");
});

test("other structural errors: dynamic input shape, dense on images, unknown inbound layer, label count", () => {
  const dynamic = new ModelBuilder();
  dynamic.layers.push({ name: "in", class_name: "InputLayer", config: { name: "in", batch_input_shape: [null, null, null, 3] }, inbound_nodes: [] });
  assert.match(errorOf(() => importTfjsLayers(dynamic.functional(["in"]))), "in (InputLayer)");

  const denseOnImage = new ModelBuilder().input("in", [2, 2, 3]);
  denseOnImage.layer("Dense", "fc", { units: 2 }, ["in"]);
  assert.match(errorOf(() => importTfjsLayers(denseOnImage.functional(["fc"]))), /fc \(Dense\).*\[2,2,3\]/);

  const dangling = new ModelBuilder().input("in", [4]);
  dangling.layer("Dropout", "drop", {}, ["nowhere"]);
  assert.match(errorOf(() => importTfjsLayers(dangling.functional(["drop"]))), "nowhere");

  const labelled = new ModelBuilder().input("in", [4]);
  assert.match(errorOf(() => importTfjsLayers(labelled.functional(["in"]), { labels: ["a", "b"] })), "2 labels");

  const badQuant = conv2dModel({});
  badQuant.weightsManifest[0].weights[0] = { ...badQuant.weightsManifest[0].weights[0], quantization: { dtype: "int8", min: 0, scale: 1 } };
  assert.match(errorOf(() => importTfjsLayers(badQuant)), /conv\/kernel.*"int8"/);
});

test("inferShapes rejects a concat whose inputs disagree", () => {
  const graph = {
    nodes: [
      { op: "input", name: "a", inputs: [], shape: [2, 2, 1] },
      { op: "input", name: "b", inputs: [], shape: [3, 2, 1] },
      { op: "concat", name: "c", inputs: ["a", "b"] },
    ] as Node[],
    outputs: ["c"],
    metadata: { source: "t" },
  };
  assert.throws(() => inferShapes(graph), /node c \(concat\)/);
});

test.run();
