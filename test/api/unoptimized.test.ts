/**
 * `optimize: false` on the real nsfwjs InceptionV3: the imported graph runs
 * node by node (standalone batchnorm and relu steps, identities as aliases)
 * and must classify and embed a photo like the optimized default.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { suite } from "uvu";
import * as assert from "uvu/assert";

import { loadModel, type Prediction } from "../../src/index.js";
import { preprocess, loadImageDecoders } from "../../src/preprocess/index.js";

// PNG/JPEG decoding below is synchronous once the decoders are loaded.
await loadImageDecoders();

const PHOTO = new Uint8Array(readFileSync(fileURLToPath(new URL("../../fixtures/images/chelsea.png", import.meta.url))));
const TOLERANCE = 1e-4;

const Unoptimized = suite("loadModel(nsfwjs, { optimize: false })");

Unoptimized("classify and embed chelsea.png like the optimized model (≤1e-4)", async () => {
  const optimized = await loadModel();
  const plain = await loadModel(undefined, { optimize: false });
  try {
    const want = (await optimized.classify(PHOTO, { topK: 5 })) as Prediction[];
    const got = (await plain.classify(PHOTO, { topK: 5 })) as Prediction[];
    assert.equal(got.map((p) => p.index), want.map((p) => p.index), "class order");
    for (let k = 0; k < want.length; k++) {
      const err = Math.abs(got[k]!.probability - want[k]!.probability);
      assert.ok(err <= TOLERANCE, `${want[k]!.label}: ${got[k]!.probability} vs ${want[k]!.probability}`);
    }
    const a = (await optimized.embed(PHOTO)) as Float32Array;
    const b = (await plain.embed(PHOTO)) as Float32Array;
    assert.is(b.length, a.length);
    const scale = Math.max(1, ...a.map(Math.abs));
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / scale);
    assert.ok(worst <= TOLERANCE, `embedding: max relative error ${worst}`);
    // The unfused batchnorm and relu of the first conv are tensors of the unoptimized graph only.
    const x = { data: preprocess(PHOTO, { size: 299, normalization: "unit" }, "chelsea.png"), dims: [1, 299, 299, 3] };
    const feeds = { [plain.inputs[0]!.name]: x };
    const inner = await plain.run(feeds, { outputs: ["batch_normalization_1", "activation_1"] });
    assert.ok(inner["activation_1"]!.data.every((v) => v >= 0), "relu output");
    assert.ok(inner["batch_normalization_1"]!.data.some((v) => v < 0), "batchnorm output before the relu");
    let refused = "";
    try {
      await optimized.run(feeds, { outputs: ["batch_normalization_1"] });
    } catch (e) {
      refused = (e as Error).message;
    }
    assert.match(refused, /unknown output "batch_normalization_1"/, "the optimized model folds it away");
  } finally {
    optimized.dispose();
    plain.dispose();
  }
});

Unoptimized("rejects a non-boolean optimize", async () => {
  let message = "";
  try {
    (await loadModel(undefined, { optimize: "no" as unknown as boolean })).dispose();
  } catch (e) {
    message = (e as Error).message;
  }
  assert.match(message, /optimize must be true or false/);
});

Unoptimized.run();
