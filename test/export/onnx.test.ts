/**
 * ONNX export (`graphToOnnx`), checked by running the exported model in
 * onnxruntime-node: a small synthetic graph that exercises every IR op (and
 * both layouts: image tensors go NCHW inside the model) against the naive
 * float64 interpreter, and the real nsfwjs InceptionV3 against TensorFlow.js
 * on the sample photos, which is what makes ORT an honest peer on our weights.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import * as ort from "onnxruntime-node";
import { suite } from "uvu";
import * as assert from "uvu/assert";

import { graphToOnnx } from "../../src/export/onnx.js";
import type { Graph } from "../../src/graph/ir.js";
import { importOnnx } from "../../src/import/onnx/import.js";
import { loadModel } from "../../src/index.js";
import { parseOnnx } from "../../src/import/onnx/model.js";
import { importTfjsLayers } from "../../src/import/tfjs-layers.js";
import { readNsfwjsInceptionV3 } from "../../src/platform/node-files.js";
import { preprocess, loadImageDecoders } from "../../src/preprocess/index.js";
import { createTfjsReference } from "../../src/reference/tfjs.js";
import {
  assertClose, batchnorm, concat, conv, dense, graphOf, input, naiveRun, op1, pad, pads0, pads1, pool, randomArray, rng, tensor,
} from "../runtime/helpers.js";

// PNG/JPEG decoding below is synchronous once the decoders are loaded.
await loadImageDecoders();

/** Runs exported bytes in onnxruntime-node (default CPU provider) on one NHWC input. */
async function runOrt(bytes: Uint8Array, inputName: string, data: Float32Array, dims: number[]): Promise<ort.InferenceSession.OnnxValueMapType> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    return await session.run({ [inputName]: new ort.Tensor("float32", data, dims) });
  } finally {
    await session.release();
  }
}

// ---------------------------------------------------------------------------

const Synthetic = suite("graphToOnnx: synthetic graph vs naive reference");

/**
 * Every op, both layouts, and the awkward cases: asymmetric pads and strides,
 * a 1x3 kernel, BN folded (after a conv) and kept (after a pool), fused ReLU,
 * average pools with and without padding in the divisor, a concat of image
 * tensors and one of flat tensors, flatten of a multi-pixel tensor (NHWC
 * order matters) and of a 1x1 one, softmax over image channels, and image
 * tensors as graph outputs (transposed back to NHWC).
 */
function syntheticGraph(): Graph {
  const r = rng(7);
  return graphOf([
    input("x", [7, 6, 3]),
    conv("c1", "x", r, [3, 3, 3, 4], { strides: [2, 1], pads: { top: 1, left: 0, bottom: 0, right: 2 }, relu: true }),
    conv("c2", "x", r, [1, 3, 3, 5], { bias: false }),
    batchnorm("bn2", "c2", r, 5, { gamma: false }),
    op1("relu", "r2", "bn2"),
    pool("p3", "r2", "maxpool", [3, 3], [2, 2], pads1),
    batchnorm("bnp", "p3", r, 5),
    pool("a4", "r2", "avgpool", [3, 3], [1, 1], pads1, false),
    pool("a5", "r2", "avgpool", [3, 3], [1, 1], pads1, true),
    concat("cat", ["a4", "a5", "r2"]),
    op1("flatten", "f", "bnp"),
    dense("d1", "f", r, 4 * 3 * 5, 8, { relu: true }),
    op1("globalavgpool", "g", "c1"),
    pool("gp", "c1", "avgpool", [3, 6], [1, 1], pads0),
    op1("flatten", "gf", "gp"),
    concat("cat2", ["d1", "g", "gf"]),
    dense("d2", "cat2", r, 8 + 4 + 4, 3, { bias: false }),
    op1("softmax", "sm", "d2"),
    op1("identity", "probs", "sm"),
    op1("softmax", "smi", "c1"),
  ], ["probs", "cat", "bnp", "smi"]);
}

Synthetic("ORT matches the naive reference on every output (batch 2)", async () => {
  const graph = syntheticGraph();
  const B = 2;
  const x = tensor(B, [7, 6, 3], randomArray(B * 7 * 6 * 3, rng(11), 2));
  const want = naiveRun(graph, new Map([["x", x]]));
  const got = await runOrt(graphToOnnx(graph), "x", Float32Array.from(x.data), [B, 7, 6, 3]);
  for (const name of graph.outputs) {
    const w = want.get(name)!;
    assert.equal(got[name]!.dims, [B, ...w.shape], `${name}: dims`);
    assertClose(got[name]!.data as Float32Array, w.data, name, 1e-4);
  }
});

Synthetic("dilated, grouped and depthwise convs: ORT matches the naive reference", async () => {
  const r = rng(9);
  const graph = graphOf([
    input("x", [9, 8, 4]),
    conv("dil", "x", r, [3, 3, 4, 6], { dilations: [2, 3], pads: { top: 2, left: 3, bottom: 1, right: 2 } }),
    conv("grp", "dil", r, [3, 3, 3, 8], { groups: 2, strides: [2, 1], relu: true }),
    conv("dw", "grp", r, [3, 3, 1, 16], { groups: 8, dilations: [1, 2], pads: { top: 1, left: 2, bottom: 1, right: 2 } }),
  ], ["dw"]);
  const B = 2;
  const x = tensor(B, [9, 8, 4], randomArray(B * 9 * 8 * 4, rng(12), 2));
  const w = naiveRun(graph, new Map([["x", x]])).get("dw")!;
  const got = await runOrt(graphToOnnx(graph), "x", Float32Array.from(x.data), [B, 9, 8, 4]);
  assert.equal(got.dw!.dims, [B, ...w.shape]);
  assertClose(got.dw!.data as Float32Array, w.data, "dw", 1e-4);
});

/** Pads in every mode, one a graph output, one zero pad that only a conv reads. */
function padGraph(): Graph {
  const r = rng(13);
  return graphOf([
    input("x", [5, 6, 3]),
    pad("refl", "x", { top: 2, left: 0, bottom: 1, right: 4 }, "reflect"),
    pad("edge", "refl", { top: 0, left: 3, bottom: 2, right: 1 }, "edge"),
    pad("const", "x", { top: 1, left: 2, bottom: 0, right: 1 }, "constant", -2.5),
    pad("zero", "x", { top: 1, left: 1, bottom: 1, right: 1 }, "constant"),
    conv("c", "zero", r, [3, 3, 3, 4], { pads: pads0 }),
  ], ["edge", "const", "c"]);
}

Synthetic("pads (reflect, edge, a nonzero and a zero constant): ORT matches the naive reference, and so does the model imported back", async () => {
  const graph = padGraph();
  const B = 2;
  const x = tensor(B, [5, 6, 3], randomArray(B * 5 * 6 * 3, rng(14), 2));
  const want = naiveRun(graph, new Map([["x", x]]));
  const bytes = graphToOnnx(graph);
  const got = await runOrt(bytes, "x", Float32Array.from(x.data), [B, 5, 6, 3]);
  const model = await loadModel(bytes, { threads: 1, normalization: "unit", optimize: false });
  try {
    const ours = await model.run({ x: { data: Float32Array.from(x.data), dims: [B, 5, 6, 3] } });
    for (const name of graph.outputs) {
      const w = want.get(name)!;
      assert.equal(got[name]!.dims, [B, ...w.shape], `${name}: dims`);
      assertClose(got[name]!.data as Float32Array, w.data, `ORT ${name}`, 1e-4);
      assertClose(ours[name]!.data, w.data, `imported back ${name}`, 1e-4);
    }
  } finally {
    model.dispose();
  }
  // The nonzero pads come back as the same pad nodes; the zero one merges into the conv's pads again.
  const back = importOnnx(parseOnnx(bytes), { source: "exported" }).nodes;
  const pads = back.flatMap((n) => (n.op === "pad" ? [[n.name, n.mode, n.value, n.pads]] : []));
  assert.equal(pads, [
    ["refl", "reflect", 0, { top: 2, left: 0, bottom: 1, right: 4 }],
    ["edge", "edge", 0, { top: 0, left: 3, bottom: 2, right: 1 }],
    ["const", "constant", -2.5, { top: 1, left: 2, bottom: 0, right: 1 }],
  ]);
  const c = back.find((n) => n.name === "c");
  assert.equal(c?.op === "conv2d" && c.pads, { top: 1, left: 1, bottom: 1, right: 1 });
});

Synthetic("model structure: NHWC input with symbolic batch, opset 13, IR node names kept", () => {
  const model = parseOnnx(graphToOnnx(syntheticGraph()));
  assert.is(model.opsets.get(""), 13);
  assert.equal(model.inputs.map((i) => [i.name, i.elemType, i.shape]), [["x", "float32", ["N", 7, 6, 3]]]);
  assert.equal(model.outputs.map((o) => [o.name, o.shape]), [
    ["probs", ["N", 3]], ["cat", ["N", 7, 6, 15]], ["bnp", ["N", 4, 3, 5]], ["smi", ["N", 3, 6, 4]],
  ]);
  const first = model.nodes[0]!;
  assert.is(first.opType, "Transpose");
  assert.equal(first.attributes.get("perm"), { type: "ints", value: [0, 3, 1, 2] });
  const byName = new Map(model.nodes.map((n) => [n.name, n]));
  // conv → BN → ReLU is optimized into one conv named after the ReLU (a Conv node plus its Relu); BN after a pool stays.
  assert.is(byName.get("r2")?.opType, "Conv");
  assert.is(byName.get("r2/relu")?.opType, "Relu");
  assert.not.ok(byName.has("c2") || byName.has("bn2"));
  assert.is(byName.get("bnp")?.opType, "BatchNormalization");
  assert.equal(model.initializers.get(byName.get("r2")!.inputs[1]!)?.dims, [5, 3, 1, 3], "conv weights OIHW");
  assert.equal(model.initializers.get(byName.get("d1")!.inputs[1]!)?.dims, [60, 8], "Gemm B is the [in, out] kernel");
  assert.equal(byName.get("a4")?.attributes.get("count_include_pad"), { type: "int", value: 0 });
  assert.equal(byName.get("a5")?.attributes.get("count_include_pad"), { type: "int", value: 1 });
  assert.equal(byName.get("c1")?.attributes.get("pads"), { type: "ints", value: [1, 0, 0, 2] });
  // Only the multi-pixel flatten needs its input back in NHWC order.
  assert.is(model.nodes.filter((n) => n.opType === "Transpose" && n.name.startsWith("f/")).length, 1);
  assert.is(model.nodes.filter((n) => n.opType === "Transpose" && n.name.startsWith("gf/")).length, 0);
  for (const t of model.initializers.values()) assert.is(t.dataType, "float32");
});

Synthetic("refuses what it cannot write faithfully", () => {
  assert.throws(() => graphToOnnx(graphOf([input("x", [2, 2, 1])], ["x"])), /x \(input\): a graph input cannot also be a graph output/);
  // A graph whose weights were dropped (as a Session keeps it) must not export as zeros.
  const r = rng(3);
  const stripped = { ...conv("c", "x", r, [1, 1, 1, 2]), kernel: new Float32Array(0) };
  assert.throws(() => graphToOnnx(graphOf([input("x", [2, 2, 1]), stripped], ["c"])), /c \(conv2d\): kernel has 0 values, its shape needs 2/);
});

Synthetic.run();

// ---------------------------------------------------------------------------

const Nsfwjs = suite("graphToOnnx: nsfwjs InceptionV3 in onnxruntime-node vs TensorFlow.js");

const IMAGE_DIR = fileURLToPath(new URL("../../fixtures/images/", import.meta.url));
const PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"];
const SIDE = 299;

function argmax(p: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i]! > p[best]!) best = i;
  return best;
}

Nsfwjs("the four sample photos as one batch: probabilities within 1e-4, same top-1", async () => {
  const artifacts = await readNsfwjsInceptionV3();
  const graph = importTfjsLayers(artifacts, { source: artifacts.source });
  const per = SIDE * SIDE * 3;
  const batch = new Float32Array(PHOTOS.length * per);
  PHOTOS.forEach((name, i) => {
    const bytes = new Uint8Array(readFileSync(join(IMAGE_DIR, name)));
    batch.set(preprocess(bytes, { size: SIDE, normalization: "unit" }, name), i * per);
  });
  const inputName = graph.nodes[0]!.name;
  const outName = graph.outputs[0]!;
  const got = (await runOrt(graphToOnnx(graph), inputName, batch, [PHOTOS.length, SIDE, SIDE, 3]))[outName]!;
  assert.equal(got.dims, [PHOTOS.length, 5]);

  const reference = await createTfjsReference(artifacts);
  try {
    const want = (await reference.run(batch, [SIDE, SIDE, 3], [outName]))[outName]!;
    const ortProbs = got.data as Float32Array;
    PHOTOS.forEach((name, i) => {
      const o = ortProbs.subarray(i * 5, i * 5 + 5);
      const t = want.data.subarray(i * 5, i * 5 + 5);
      for (let c = 0; c < 5; c++) {
        assert.ok(Math.abs(o[c]! - t[c]!) <= 1e-4, `${name}: class ${c}: ORT ${o[c]}, TensorFlow.js ${t[c]}`);
      }
      assert.is(argmax(o), argmax(t), `${name}: top-1`);
    });
  } finally {
    reference.dispose();
  }
});

Nsfwjs.run();
