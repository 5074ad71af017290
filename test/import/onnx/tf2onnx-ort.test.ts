/**
 * tf2onnx-shaped NHWC models written here with the protobuf encoder, run in
 * onnxruntime-node and through loadModel(bytes, { normalization: "tf" }) +
 * run, on one batch of [a preprocessed photo, two random NHWC inputs]:
 * - models.ts's small Keras-shaped model (15x15, one mixed block);
 * - a larger one built below (75x75, Keras InceptionV3's smallest input):
 *   a stem, a 5x5/3x3-double block, a stride-2 reduction block, a 1x7/7x1
 *   block and one with an inner 1x3/3x1 concat; every conv without bias then
 *   an unfolded BatchNormalization (random gamma) then Relu; SAME average
 *   pooling without the padding in the divisor; GlobalAveragePool + Squeeze,
 *   MatMul + Add, Softmax.
 * Outputs (softmax and the global pool) agree within 1e-4 of the largest
 * |value|, with the same argmax per sample; optimized and `optimize: false`.
 */
import { readFileSync } from "node:fs";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import * as ort from "onnxruntime-node";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ModelProtoSchema } from "../../../src/import/onnx/gen/onnx_pb.js";
import { loadModel } from "../../../src/index.js";
import { preprocess, loadImageDecoders } from "../../../src/preprocess/index.js";
import { compileKernels } from "../../../src/runtime/engine.js";
import { DataType, valueInfo } from "./build.js";
import { attr, GraphBuilder, rng } from "./graphs.js";
import { KERAS, kerasModel } from "./models.js";

// PNG/JPEG decoding below is synchronous once the decoders are loaded.
await loadImageDecoders();

const PHOTO = new Uint8Array(readFileSync(new URL("../../../fixtures/images/chelsea.png", import.meta.url)));
const TOLERANCE = 1e-4;
const kernels = compileKernels("auto");

// ---------------------------------------------------------------------------
// The larger tf2onnx-shaped model

const LARGE = { size: 75, classes: 10 };

type Pads = [number, number, number, number];

/** Conv (no bias) → BatchNormalization (all four statistics random) → Relu, as tf2onnx writes Keras's conv2d_bn. */
function convBn(g: GraphBuilder, r: () => number, x: string, cin: number, cout: number, k: [number, number], name: string, opts: { stride?: number; pads?: Pads } = {}): string {
  const conv = g.op("Conv", [x, g.init(`${name}/kernel`, [cout, cin, ...k], undefined, 4 / Math.sqrt(cin * k[0] * k[1]))], [
    attr.ints("dilations", [1, 1]), attr.ints("kernel_shape", k), attr.ints("pads", opts.pads ?? [0, 0, 0, 0]),
    attr.ints("strides", [opts.stride ?? 1, opts.stride ?? 1]),
  ], { name: `${name}/Conv2D` });
  const stats = (f: () => number) => Array.from({ length: cout }, f);
  const bn = g.op("BatchNormalization", [
    conv,
    g.init(`${name}/gamma`, [cout], stats(() => 0.75 + r() * 0.5)),
    g.init(`${name}/beta`, [cout], stats(() => r() * 0.4)),
    g.init(`${name}/moving_mean`, [cout], stats(() => r() * 0.4)),
    g.init(`${name}/moving_variance`, [cout], stats(() => 1 + r())),
  ], [attr.float("epsilon", 1e-3)], { name: `${name}/FusedBatchNormV3` });
  return g.op("Relu", [bn], [], { name: `${name}/Relu` });
}

function largeModel(): Uint8Array {
  const g = new GraphBuilder(rng(23));
  const r = rng(29);
  const cat = (inputs: string[], out: string) => g.op("Concat", inputs, [attr.int("axis", 1)], { out, name: `${out}/concat` });
  const avgSame = (x: string) => g.op("AveragePool", [x], [
    attr.string("auto_pad", "SAME_UPPER"), attr.int("count_include_pad", 0), attr.ints("kernel_shape", [3, 3]), attr.ints("strides", [1, 1]),
  ]);
  const maxS2 = (x: string) => g.op("MaxPool", [x], [attr.ints("kernel_shape", [3, 3]), attr.ints("strides", [2, 2])]);

  const nchw = g.op("Transpose", ["input_1"], [attr.ints("perm", [0, 3, 1, 2])], { name: "input_1/transpose" });
  let x = convBn(g, r, nchw, 3, 16, [3, 3], "conv2d", { stride: 2 }); // 37
  x = convBn(g, r, x, 16, 16, [3, 3], "conv2d_1"); // 35
  x = convBn(g, r, x, 16, 24, [3, 3], "conv2d_2", { pads: [1, 1, 1, 1] });
  x = maxS2(x); // 17

  // mixed0: 1x1, 1x1 → 5x5, 1x1 → 3x3 → 3x3, SAME avg pool → 1x1.
  const a1 = convBn(g, r, x, 24, 8, [1, 1], "m0_1x1");
  const a5 = convBn(g, r, convBn(g, r, x, 24, 6, [1, 1], "m0_5x5a"), 6, 8, [5, 5], "m0_5x5b", { pads: [2, 2, 2, 2] });
  let a3 = convBn(g, r, x, 24, 8, [1, 1], "m0_dbl_a");
  a3 = convBn(g, r, a3, 8, 12, [3, 3], "m0_dbl_b", { pads: [1, 1, 1, 1] });
  a3 = convBn(g, r, a3, 12, 12, [3, 3], "m0_dbl_c", { pads: [1, 1, 1, 1] });
  const ap = convBn(g, r, avgSame(x), 24, 6, [1, 1], "m0_pool");
  x = cat([a1, a5, a3, ap], "mixed0"); // 34 x 17x17

  // mixed1: reduction to 8x8.
  const b3 = convBn(g, r, x, 34, 16, [3, 3], "m1_3x3", { stride: 2 });
  let bd = convBn(g, r, x, 34, 8, [1, 1], "m1_dbl_a");
  bd = convBn(g, r, bd, 8, 12, [3, 3], "m1_dbl_b", { pads: [1, 1, 1, 1] });
  bd = convBn(g, r, bd, 12, 12, [3, 3], "m1_dbl_c", { stride: 2 });
  x = cat([b3, bd, maxS2(x)], "mixed1"); // 62 x 8x8

  // mixed2: factorized 7x7.
  const h7: Pads = [0, 3, 0, 3];
  const v7: Pads = [3, 0, 3, 0];
  const c1 = convBn(g, r, x, 62, 12, [1, 1], "m2_1x1");
  let c7 = convBn(g, r, x, 62, 8, [1, 1], "m2_7a");
  c7 = convBn(g, r, c7, 8, 8, [1, 7], "m2_7b", { pads: h7 });
  c7 = convBn(g, r, c7, 8, 12, [7, 1], "m2_7c", { pads: v7 });
  let cd = convBn(g, r, x, 62, 8, [1, 1], "m2_dbl_a");
  cd = convBn(g, r, cd, 8, 8, [7, 1], "m2_dbl_b", { pads: v7 });
  cd = convBn(g, r, cd, 8, 8, [1, 7], "m2_dbl_c", { pads: h7 });
  cd = convBn(g, r, cd, 8, 8, [7, 1], "m2_dbl_d", { pads: v7 });
  cd = convBn(g, r, cd, 8, 12, [1, 7], "m2_dbl_e", { pads: h7 });
  const cp = convBn(g, r, avgSame(x), 62, 12, [1, 1], "m2_pool");
  x = cat([c1, c7, cd, cp], "mixed2"); // 48 x 8x8

  // mixed3: an inner concat of 1x3 and 3x1.
  const e1 = convBn(g, r, x, 48, 8, [1, 1], "m3_1x1");
  const e3 = convBn(g, r, x, 48, 8, [1, 1], "m3_3x3");
  const inner = cat([
    convBn(g, r, e3, 8, 8, [1, 3], "m3_3x3_1", { pads: [0, 1, 0, 1] }),
    convBn(g, r, e3, 8, 8, [3, 1], "m3_3x3_2", { pads: [1, 0, 1, 0] }),
  ], "concat");
  x = cat([e1, inner], "mixed3"); // 24 x 8x8

  const pooled = g.op("GlobalAveragePool", [x], [], { out: "avg_pool" });
  const features = g.op("Squeeze", [pooled, g.initI64("squeeze_axes", [2], [2, 3])]);
  const logits = g.op("MatMul", [features, g.init("predictions/kernel", [24, LARGE.classes], undefined, 4)]);
  const biased = g.op("Add", [logits, g.init("predictions/bias", [LARGE.classes], undefined, 0.3)]);
  g.op("Softmax", [biased], [attr.int("axis", -1)], { out: "predictions" });
  return g.bytes([["input_1", ["unk__0", LARGE.size, LARGE.size, 3]]], [["predictions", ["unk__0", LARGE.classes]]], 13, "tf2onnx");
}

// ---------------------------------------------------------------------------

/** The same model with `avg_pool` (the global pool, [N,C,1,1]) as an extra graph output, for ORT. */
function withPoolOutput(bytes: Uint8Array): Uint8Array {
  const proto = fromBinary(ModelProtoSchema, bytes);
  proto.graph!.output.push(valueInfo("avg_pool", DataType.FLOAT, null));
  return toBinary(ModelProtoSchema, proto);
}

/** [chelsea.png preprocessed "tf", then random NHWC values in [-1, 1)], flattened. */
function batch(size: number, randoms: number, seed: number): Float32Array {
  const per = size * size * 3;
  const x = new Float32Array((1 + randoms) * per);
  x.set(preprocess(PHOTO, { size, normalization: "tf" }, "chelsea.png"));
  const r = rng(seed);
  for (let i = per; i < x.length; i++) x[i] = 2 * r();
  return x;
}

function argmax(a: Float32Array | number[]): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

function check(name: string, got: Float32Array, want: Float32Array, rows: number): void {
  assert.is(got.length, want.length, `${name}: length`);
  const scale = Math.max(...want.map(Math.abs));
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / scale);
  assert.ok(worst <= TOLERANCE, `${name}: max error ${worst} of max |value| ${scale}`);
  const cols = want.length / rows;
  for (let n = 0; n < rows; n++) {
    assert.is(argmax(got.subarray(n * cols, (n + 1) * cols)), argmax(want.subarray(n * cols, (n + 1) * cols)), `${name}: argmax of sample ${n}`);
  }
}

const Ort = suite("tf2onnx-shaped NHWC models: loadModel + run vs onnxruntime-node");

const MODELS = [
  { name: `models.ts kerasModel (${KERAS.size}x${KERAS.size})`, bytes: () => kerasModel({ head: "squeeze" }), size: KERAS.size, classes: KERAS.classes, seed: 5 },
  { name: `larger Inception-like model (${LARGE.size}x${LARGE.size})`, bytes: largeModel, size: LARGE.size, classes: LARGE.classes, seed: 6 },
];

for (const m of MODELS) {
  Ort(`${m.name}: photo + 2 random inputs, optimized and optimize: false`, async () => {
    const bytes = m.bytes();
    const B = 3;
    const x = batch(m.size, B - 1, m.seed);
    const session = await ort.InferenceSession.create(withPoolOutput(bytes));
    let want: ort.InferenceSession.OnnxValueMapType;
    try {
      want = await session.run({ input_1: new ort.Tensor("float32", x, [B, m.size, m.size, 3]) });
    } finally {
      await session.release();
    }
    assert.equal(want.predictions!.dims, [B, m.classes]);
    const { module, build } = await kernels;
    for (const optimize of [true, false]) {
      const model = await loadModel(bytes, { threads: 2, module, moduleBuild: build, normalization: "tf", keep: ["avg_pool"], optimize });
      try {
        const got = await model.run({ input_1: { data: x, dims: [B, m.size, m.size, 3] } }, { outputs: ["predictions", "avg_pool"] });
        const label = `${m.name}${optimize ? "" : " (optimize: false)"}`;
        check(`${label} predictions`, got.predictions!.data, want.predictions!.data as Float32Array, B);
        check(`${label} avg_pool`, got.avg_pool!.data, want.avg_pool!.data as Float32Array, B);
      } finally {
        model.dispose();
      }
    }
  });
}

Ort.run();
