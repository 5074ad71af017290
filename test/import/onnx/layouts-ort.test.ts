/**
 * Layouts and axes beyond Inception's, on small graphs written here and run
 * in onnxruntime-node and through loadModel(bytes) + run (optimized and
 * `optimize: false`), outputs within 1e-4 of the largest |value|:
 * - 1-D data [N,C,L] (an IR image of one row): Conv with SAME padding,
 *   stride and dilation, BatchNormalization, Relu, MaxPool in ceil mode,
 *   AveragePool counting its padding, Pad merged into a Conv, Concat along C
 *   and along L, Softmax over L, GlobalAveragePool;
 * - an image with H and W swapped by a Transpose: Conv and MaxPool with
 *   asymmetric windows, strides and padding run on the swapped IR axes;
 * - Concat along H and along W, then a channel Concat of both (whose
 *   inputs the planner would otherwise place as strided views), Softmax
 *   over H feeding a channel Concat, LogSoftmax over W.
 * Our outputs are channels last: ORT's [N,C,H,W] and [N,C,L] are compared
 * as [N,H,W,C] and [N,L,C].
 */
import * as ort from "onnxruntime-node";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadModel } from "../../../src/index.js";
import { compileKernels } from "../../../src/runtime/engine.js";
import { attr, GraphBuilder, rng } from "./graphs.js";

const TOLERANCE = 1e-4;
const BATCH = 2;
const kernels = compileKernels("auto");

/** [N,C,...spatial] → [N,...spatial,C]. */
function channelsLast(data: Float32Array, dims: readonly number[]): Float32Array {
  const [n, c] = dims;
  const pixels = dims.slice(2).reduce((a, b) => a * b, 1);
  const out = new Float32Array(data.length);
  for (let b = 0; b < n!; b++) for (let k = 0; k < c!; k++) for (let p = 0; p < pixels; p++) out[(b * pixels + p) * c! + k] = data[(b * c! + k) * pixels + p]!;
  return out;
}

interface Case {
  bytes: Uint8Array;
  input: number[];
  outputs: string[];
}

async function compare({ bytes, input, outputs }: Case): Promise<void> {
  const r = rng(7);
  const nchw = Float32Array.from({ length: BATCH * input.reduce((a, b) => a * b, 1) }, () => r() * 4);
  const session = await ort.InferenceSession.create(bytes);
  const want = await session.run({ x: new ort.Tensor("float32", nchw, [BATCH, ...input]) });
  await session.release();
  const { module, build } = await kernels;
  for (const optimize of [true, false]) {
    const model = await loadModel(bytes, { threads: 2, module, moduleBuild: build, normalization: "torch", optimize });
    try {
      const [info] = model.inputs;
      const got = await model.run({ x: { data: channelsLast(nchw, [BATCH, ...input]), dims: [BATCH, ...info!.shape.slice(1)] } });
      for (const name of outputs) {
        const w = want[name]!;
        const expected = w.dims.length > 2 ? channelsLast(w.data as Float32Array, w.dims) : (w.data as Float32Array);
        const actual = got[name]!.data;
        assert.is(actual.length, expected.length, `${name}: length`);
        const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const err = actual.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i]!)), 0) / scale;
        assert.ok(err <= TOLERANCE, `${name} (optimize: ${optimize}): max relative error ${err}`);
      }
    } finally {
      model.dispose();
    }
  }
}

const Layouts = suite("layouts and axes vs onnxruntime-node");

Layouts("1-D data: Conv (SAME, stride, dilation), BatchNormalization, pooling, Pad, Concat along C and L, Softmax over L", async () => {
  const g = new GraphBuilder(rng(3));
  const C = 4;
  const conv = (x: string, cin: number, cout: number, k: number, attrs: ReturnType<typeof attr.int>[], name: string) =>
    g.op("Conv", [x, g.init(`${name}/W`, [cout, cin, k]), g.init(`${name}/B`, [cout])], [attr.ints("kernel_shape", [k]), ...attrs]);
  const a = conv("x", C, 6, 3, [attr.string("auto_pad", "SAME_UPPER"), attr.ints("strides", [2])], "a"); // [N,6,9]
  const bn = g.op("BatchNormalization", [a, g.init("g", [6]), g.init("b", [6]), g.init("m", [6]), g.init("v", [6], Array(6).fill(1.5))]);
  const relu = g.op("Relu", [bn]);
  const pooled = g.op("MaxPool", [relu], [attr.ints("kernel_shape", [2]), attr.ints("strides", [2]), attr.int("ceil_mode", 1)]); // [N,6,5]
  const padded = g.op("Pad", ["x", g.initI64("p", [6], [0, 0, 2, 0, 0, 0])]);
  const b = conv(padded, C, 6, 3, [attr.ints("dilations", [2]), attr.ints("strides", [3])], "b"); // [N,6,5]
  const avg = g.op("AveragePool", [b], [attr.ints("kernel_shape", [3]), attr.ints("pads", [1, 1]), attr.int("count_include_pad", 1)]);
  const channels = g.op("Concat", [pooled, avg], [attr.int("axis", 1)], { out: "channels" }); // [N,12,5]
  const length = g.op("Concat", [pooled, avg, relu], [attr.int("axis", 2)]); // [N,6,19]
  g.op("Softmax", [length], [attr.int("axis", -1)], { out: "softmax" });
  g.op("GlobalAveragePool", [channels], [], { out: "pooled" });
  const bytes = g.bytes([["x", ["N", C, 17]]], [["channels", null], ["softmax", null], ["pooled", null]]);
  await compare({ bytes, input: [C, 17], outputs: ["channels", "softmax", "pooled"] });
});

Layouts("an image with H and W swapped: Conv and MaxPool with asymmetric windows run on the swapped axes", async () => {
  const g = new GraphBuilder(rng(5));
  const swapped = g.op("Transpose", ["x"], [attr.ints("perm", [0, 1, 3, 2])]); // [N,3,9,7]
  const conv = g.op("Conv", [swapped, g.init("W", [5, 3, 3, 2]), g.init("B", [5])], [
    attr.ints("kernel_shape", [3, 2]), attr.ints("strides", [2, 1]), attr.ints("pads", [1, 0, 2, 1]),
  ]); // [N,5,5,8]
  const pool = g.op("MaxPool", [conv], [attr.ints("kernel_shape", [1, 3]), attr.ints("strides", [1, 2]), attr.ints("pads", [0, 1, 0, 1])]); // [N,5,5,4]
  g.op("Transpose", [pool], [attr.ints("perm", [0, 1, 3, 2])], { out: "y" });
  const bytes = g.bytes([["x", ["N", 3, 7, 9]]], [["y", null]]);
  await compare({ bytes, input: [3, 7, 9], outputs: ["y"] });
});

Layouts("Concat along H and W, a channel Concat of them; Softmax over H into a channel Concat; LogSoftmax over W", async () => {
  const g = new GraphBuilder(rng(9));
  const a = g.op("Conv", ["x", g.init("Wa", [4, 3, 1, 1])], [attr.ints("kernel_shape", [1, 1])]); // [N,4,5,6]
  const b = g.op("Relu", ["x"]); // [N,3,5,6]
  const c = g.op("Conv", ["x", g.init("Wc", [4, 3, 1, 1])], [attr.ints("kernel_shape", [1, 1])]);
  // Concats along H, then along C: the first ones' outputs are not channel slices of the last.
  const h = g.op("Concat", [a, c], [attr.int("axis", 2)]); // [N,4,10,6]
  const h3 = g.op("Concat", [b, b], [attr.int("axis", 2)]); // [N,3,10,6]
  g.op("Concat", [h, h3], [attr.int("axis", 1)], { out: "alongH" }); // [N,7,10,6]
  const w = g.op("Concat", [a, c, a], [attr.int("axis", 3)]); // [N,4,5,18]
  const w3 = g.op("Concat", [b, g.op("Sigmoid", [b]), b], [attr.int("axis", 3)]); // [N,3,5,18]
  g.op("Identity", [g.op("Concat", [w3, w], [attr.int("axis", 1)])], [], { out: "alongW" }); // [N,7,5,18]
  const soft = g.op("Softmax", [a], [attr.int("axis", 2)]);
  g.op("Concat", [soft, b], [attr.int("axis", 1)], { out: "probs" }); // [N,7,5,6]
  g.op("LogSoftmax", [c], [attr.int("axis", 3)], { out: "logp" });
  const bytes = g.bytes([["x", ["N", 3, 5, 6]]], [["alongH", null], ["alongW", null], ["probs", null], ["logp", null]]);
  await compare({ bytes, input: [3, 5, 6], outputs: ["alongH", "alongW", "probs", "logp"] });
});

Layouts.run();
