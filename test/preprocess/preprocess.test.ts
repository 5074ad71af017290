import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { DecodedImage } from "../../src/preprocess/index.js";
import { decodeImage, preprocess, loadImageDecoders } from "../../src/preprocess/index.js";
import { fixture, maxAbsDiff, reference } from "./helpers.js";

// PNG/JPEG decoding below is synchronous once the decoders are loaded.
await loadImageDecoders();

test.before(async () => {
  await tf.setBackend("cpu");
});

test("crop 0.875 + antialiased resize + torch normalisation matches the Pillow pipeline", () => {
  const ref = reference.pipeline;
  const out = preprocess(fixture(ref.source), { crop: ref.crop, normalization: ref.normalization }, ref.source);
  assert.is(ref.size, 299, "the default size is what the reference used");
  assert.is(out.length, 299 * 299 * 3);
  for (let c = 0; c < 3; c++) {
    let sum = 0;
    for (let i = c; i < out.length; i += 3) sum += out[i]!;
    assert.ok(Math.abs(sum / (299 * 299) - ref.channelMeans[c]!) < 1e-4, `channel ${c} mean`);
  }
  for (const [y, x, r, g, b] of ref.samples) {
    const i = (y! * 299 + x!) * 3;
    assert.ok(maxAbsDiff(out.subarray(i, i + 3), [r!, g!, b!]) < 1e-3, `pixel (${x}, ${y})`);
  }
});

test("antialias: false + tf normalisation matches tfjs resizeBilinear(halfPixelCenters) / 127.5 - 1", () => {
  const img = decodeImage(fixture("rocket.jpg"));
  const out = preprocess(img, { size: 224, normalization: "tf", antialias: false });
  const expected = tf.tidy(() => {
    const x = tf.tensor3d(Float32Array.from(img.data), [img.height, img.width, 3]);
    return tf.sub(tf.div(tf.image.resizeBilinear(x, [224, 224], false, true), 127.5), 1).dataSync();
  });
  assert.ok(maxAbsDiff(out, expected) < 1e-5);
});

test("encoded bytes and the DecodedImage they decode to give the same tensor", () => {
  const bytes = fixture("coffee.png");
  const opts = { size: 64, crop: 0.9, normalization: "unit" } as const;
  assert.equal(preprocess(bytes, opts), preprocess(decodeImage(bytes), opts));
});

test("hand-checkable: a constant grey image", () => {
  const grey: DecodedImage = { data: new Uint8Array(5 * 3).fill(51), width: 5, height: 3, channels: 1 };
  const unit = preprocess(grey, { size: 4, normalization: "unit" });
  assert.is(unit.length, 4 * 4 * 3);
  assert.ok(unit.every((v) => Math.abs(v - 0.2) < 1e-6));
  const tfNorm = preprocess(grey, { size: 2, normalization: "tf", crop: 0.5 });
  assert.ok(tfNorm.every((v) => Math.abs(v - (51 / 127.5 - 1)) < 1e-6));
});

test("the caller's image is not modified", () => {
  const img: DecodedImage = { data: Uint8Array.from({ length: 40 * 30 * 4 }, (_, i) => i % 251), width: 40, height: 30, channels: 4 };
  const before = img.data.slice();
  preprocess(img, { size: 17, crop: 0.875, normalization: "torch" });
  assert.equal(img.data, before);
  assert.equal([img.width, img.height, img.channels], [40, 30, 4]);
});

test.run();
