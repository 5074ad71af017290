import * as tf from "@tensorflow/tfjs-core";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readNsfwjsInceptionV3 } from "../../src/platform/node-files.js";
import { createTfjsReference, type TfjsModelArtifacts, type TfjsReference } from "../../src/reference/tfjs.js";
import { rejects } from "../support.js";

const SIDE = 299;
const INPUT_SHAPE = [SIDE, SIDE, 3];
const PIXELS = SIDE * SIDE * 3;

/** Deterministic image-like input in [0,1]: a smooth gradient plus seeded noise. */
function testImage(seed: number): Float32Array {
  const out = new Float32Array(PIXELS);
  let state = seed >>> 0;
  for (let i = 0; i < PIXELS; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const x = Math.floor(i / 3) % SIDE;
    const y = Math.floor(i / 3 / SIDE);
    const smooth = 0.5 + 0.4 * Math.sin((x + 2 * y + 50 * (i % 3) + seed) / 23);
    out[i] = 0.8 * smooth + 0.2 * (state / 2 ** 32);
  }
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.is(a.length, b.length, "compared arrays differ in length");
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

function allFinite(a: Float32Array): boolean {
  return a.every(Number.isFinite);
}

/** Weights live on the backend that was active at load; count them there. */
function dataIdsOn(backend: string): number {
  const instance = tf.findBackend(backend);
  assert.ok(instance, `backend ${backend} is not initialized`);
  return instance.numDataIds();
}

// InceptionV3 (Keras) has 94 conv kernels, 94 batch norms with 3 variables
// each (scale=False: beta, moving mean, moving variance); nsfwjs adds a
// 3-layer dense head (dense_1..dense_3), kernel + bias each.
const WEIGHT_COUNT = 94 + 94 * 3 + 3 * 2;

// Filled in by before(); uvu hands the same object to every test.
const Reference = suite("tfjs reference (nsfwjs InceptionV3)", {} as { artifacts: TfjsModelArtifacts; wasm: TfjsReference });

Reference.before(async (c) => {
  c.artifacts = await readNsfwjsInceptionV3();
  c.wasm = await createTfjsReference(c.artifacts);
});

Reference.after((c) => {
  c.wasm.dispose();
});

Reference("loads every weight onto the wasm backend", ({ artifacts, wasm }) => {
  assert.is(wasm.backend, "wasm");
  assert.is(artifacts.weightsManifest.flatMap((g) => g.weights).length, WEIGHT_COUNT);
  assert.ok(dataIdsOn("wasm") >= WEIGHT_COUNT, `only ${dataIdsOn("wasm")} tensors on wasm`);
});

Reference("dense_3 is a [1,5] probability vector", async ({ wasm }) => {
  const { dense_3 } = await wasm.run(testImage(1), INPUT_SHAPE, ["dense_3"]);
  assert.equal(dense_3!.shape, [1, 5]);
  assert.ok(dense_3!.data.every((p) => p >= 0 && p <= 1));
  const sum = dense_3!.data.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) < 1e-5, `softmax sums to ${sum}`);
  assert.is(tf.getBackend(), "wasm");
});

Reference("intermediate layers have InceptionV3's shapes", async ({ wasm }) => {
  const image = testImage(1);
  const out = await wasm.run(image, INPUT_SHAPE, ["mixed10", "dense_3", "mixed0", "max_pooling2d_2"]);
  assert.equal(Object.keys(out).sort(), ["dense_3", "max_pooling2d_2", "mixed0", "mixed10"]);
  // Stem: 299 -> conv s2 149 -> 147 -> pool 73 -> 71 -> pool 35, 192 channels.
  assert.equal(out.max_pooling2d_2!.shape, [1, 35, 35, 192]);
  // mixed0 (block 5b): 64 + 64 + 96 + 32 channels.
  assert.equal(out.mixed0!.shape, [1, 35, 35, 256]);
  // mixed10 (block 7c): 320 + 768 + 768 + 192 channels on the 8x8 grid.
  assert.equal(out.mixed10!.shape, [1, 8, 8, 2048]);
  for (const [name, { data, shape }] of Object.entries(out)) {
    assert.is(data.length, shape.reduce((a, b) => a * b, 1), `${name} data length`);
    assert.ok(allFinite(data), `${name} has non-finite values`);
  }
  // Exposing extra outputs must not change the head's result.
  const single = await wasm.run(image, INPUT_SHAPE, ["dense_3"]);
  assert.ok(maxAbsDiff(out.dense_3!.data, single.dense_3!.data) <= 1e-6);
});

Reference("wasm agrees with the cpu backend on early layers", async ({ artifacts, wasm }) => {
  const image = testImage(7);
  const layers = ["activation_1", "mixed0"];
  const cpu = await createTfjsReference(artifacts, { backend: "cpu" });
  try {
    assert.is(cpu.backend, "cpu");
    assert.ok(dataIdsOn("cpu") >= WEIGHT_COUNT, `only ${dataIdsOn("cpu")} tensors on cpu`);
    // The cpu backend needs seconds per early block, so stop at mixed0.
    const expected = await cpu.run(image, INPUT_SHAPE, layers);
    const actual = await wasm.run(image, INPUT_SHAPE, layers);
    for (const name of layers) {
      assert.equal(actual[name]!.shape, expected[name]!.shape);
      const diff = maxAbsDiff(actual[name]!.data, expected[name]!.data);
      assert.ok(diff <= 1e-4, `${name}: max |wasm - cpu| = ${diff}`);
    }
  } finally {
    cpu.dispose();
  }
});

Reference("batch 2 equals two batch-1 runs", async ({ wasm }) => {
  const a = testImage(11);
  const b = testImage(12);
  const layers = ["mixed0", "dense_3"];
  const batch = new Float32Array(2 * PIXELS);
  batch.set(a, 0);
  batch.set(b, PIXELS);
  const both = await wasm.run(batch, INPUT_SHAPE, layers);
  const singles = [await wasm.run(a, INPUT_SHAPE, layers), await wasm.run(b, INPUT_SHAPE, layers)];
  for (const name of layers) {
    const { data, shape } = both[name]!;
    assert.is(shape[0], 2);
    const perSample = data.length / 2;
    singles.forEach((single, i) => {
      assert.equal(single[name]!.shape, [1, ...shape.slice(1)]);
      const diff = maxAbsDiff(data.subarray(i * perSample, (i + 1) * perSample), single[name]!.data);
      assert.ok(diff <= 1e-5, `${name} sample ${i}: max diff ${diff}`);
    });
  }
  // Different images must give different outputs, or the comparison proves nothing.
  assert.ok(maxAbsDiff(singles[0]!.mixed0!.data, singles[1]!.mixed0!.data) > 1e-3);
});

Reference("rejects malformed requests", async ({ wasm }) => {
  const image = testImage(1);
  await rejects(wasm.run(image, [224, 224, 3], ["dense_3"]), /does not match model input/);
  await rejects(wasm.run(image.subarray(1), INPUT_SHAPE, ["dense_3"]), /not a multiple/);
  await rejects(wasm.run(image, INPUT_SHAPE, []), /no outputs/);
  await rejects(wasm.run(image, INPUT_SHAPE, ["no_such_layer"]), /no_such_layer/);
});

Reference("dispose releases every tensor", async ({ artifacts }) => {
  const before = tf.memory().numTensors;
  const ref = await createTfjsReference(artifacts);
  assert.ok(tf.memory().numTensors >= before + WEIGHT_COUNT);
  await ref.run(testImage(1), INPUT_SHAPE, ["activation_1"]);
  ref.dispose();
  assert.is(tf.memory().numTensors, before);
  await rejects(ref.run(testImage(1), INPUT_SHAPE, ["activation_1"]), /after dispose/);
});

Reference.run();
