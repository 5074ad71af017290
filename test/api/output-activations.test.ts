/**
 * classify() reads probabilities according to the model's output op: softmax
 * and sigmoid (multi-label) outputs as they are, log-softmax through exp.
 * Tiny Sequential tfjs models (global pool → dense head) on a constant-colour
 * image, so the expected values are computed here by hand.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadModel } from "../../src/index.js";

const W = [0.5, -1, 2, 1, 0.25, -0.5, -2, 1.5, 0.75]; // [3 inputs][3 classes]
const B = [0.1, -0.2, 0.3];
const PIXEL = [51, 102, 204]; // unit-normalized: 0.2, 0.4, 0.8

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

function model(activation: string) {
  const layers = [
    { class_name: "GlobalAveragePooling2D", config: { name: "pool", batch_input_shape: [null, 4, 4, 3] } },
    { class_name: "Dense", config: { name: "out", units: 3, activation, use_bias: true } },
  ];
  const weightData = new Uint8Array([...f32Bytes(W), ...f32Bytes(B)]);
  return {
    modelTopology: { class_name: "Sequential", config: { name: "head", layers } },
    weightsManifest: [{ paths: ["w"], weights: [
      { name: "out/kernel", shape: [3, 3], dtype: "float32" },
      { name: "out/bias", shape: [3], dtype: "float32" },
    ] }],
    weightData,
  };
}

const image = { data: new Uint8Array(4 * 4 * 3).map((_, i) => PIXEL[i % 3]!), width: 4, height: 4, channels: 3 as const };
const x = PIXEL.map((p) => p / 255);
const logits = [0, 1, 2].map((j) => B[j]! + x.reduce((s, v, i) => s + v * W[i * 3 + j]!, 0));

for (const [activation, expected] of [
  ["sigmoid", logits.map((z) => 1 / (1 + Math.exp(-z)))],
  ["softmax", logits.map((z) => Math.exp(z) / logits.reduce((s, v) => s + Math.exp(v), 0))],
] as const) {
  test(`classify on a ${activation} head reports ${activation} probabilities`, async () => {
    const m = await loadModel(model(activation), { threads: 1, normalization: "unit", labels: ["a", "b", "c"] });
    try {
      const top = await m.classify(image, { topK: 3 });
      for (const t of top) {
        assert.ok(Math.abs(t.probability - expected[t.index]!) < 1e-5, `${t.label}: ${t.probability} vs ${expected[t.index]}`);
      }
      assert.equal(top.map((t) => t.index), [...expected.keys()].sort((a, b) => expected[b]! - expected[a]!));
    } finally {
      m.dispose();
    }
  });
}

test.run();
