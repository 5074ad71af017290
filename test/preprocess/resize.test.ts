import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { DecodedImage } from "../../src/preprocess/index.js";
import { decodeImage, resizeBilinear, toRGB, loadImageDecoders } from "../../src/preprocess/index.js";
import { fixture, maxAbsDiff, reference } from "./helpers.js";

// PNG/JPEG decoding below is synchronous once the decoders are loaded.
await loadImageDecoders();

/** The box [left, top, right, bottom) of an RGB image, copied out independently of centralCrop. */
function region(img: DecodedImage, [left, top, right, bottom]: readonly number[]): DecodedImage {
  const w = right! - left!;
  const h = bottom! - top!;
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const start = ((top! + y) * img.width + left!) * 3;
    data.set(img.data.subarray(start, start + w * 3), y * w * 3);
  }
  return { data, width: w, height: h, channels: 3 };
}

/** Deterministic noise: the worst case for interpolation errors. */
function noise(width: number, height: number): DecodedImage {
  const data = new Uint8Array(width * height * 3);
  let s = 12345;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = s >>> 24;
  }
  return { data, width, height, channels: 3 };
}

/** TensorFlow's resize_bilinear with half-pixel centres, no antialiasing (tfjs cpu kernel). */
function tfResize(img: DecodedImage, outWidth: number, outHeight: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor3d(Float32Array.from(img.data), [img.height, img.width, 3]);
    return tf.image.resizeBilinear(x, [outHeight, outWidth], false, true).dataSync() as Float32Array;
  });
}

const chelsea = toRGB(decodeImage(fixture("chelsea.png")));

test.before(async () => {
  await tf.setBackend("cpu");
});

test("antialias: false matches tf.image.resizeBilinear(halfPixelCenters=true)", () => {
  const cases: [DecodedImage, number, number][] = [
    [chelsea, 299, 299], // downscale x, upscale-ish y
    [chelsea, 37, 23], // strong downscale: TF samples 4 pixels per output
    [region(chelsea, [100, 50, 137, 73]), 64, 50], // upscale
    [noise(100, 7), 13, 40], // down x, up y
    [noise(31, 17), 31, 17], // identity
    [noise(1, 1), 5, 3], // single pixel
    [noise(5, 1), 1, 1],
    [noise(4000, 3), 299, 2], // large factor, tiny height
  ];
  for (const [img, w, h] of cases) {
    const diff = maxAbsDiff(resizeBilinear(img, w, h, { antialias: false }), tfResize(img, w, h));
    assert.ok(diff < 1e-3, `${img.width}x${img.height} -> ${w}x${h}: max diff ${diff}`);
  }
});

test("antialias: true (the default) matches Pillow's BILINEAR on float channels", () => {
  for (const c of reference.resize) {
    const src = region(toRGB(decodeImage(fixture(c.source))), c.box);
    const out = resizeBilinear(src, c.width, c.height);
    assert.is(out.length, c.width * c.height * 3);
    // The reference is stored to 4 decimals.
    const diff = maxAbsDiff(out, c.data);
    assert.ok(diff < 1e-3, `${c.source} ${c.box.join(",")} -> ${c.width}x${c.height}: max diff ${diff}`);
  }
});

test("hand-computed 4 -> 2 pixel row, with and without antialiasing", () => {
  const img: DecodedImage = { data: new Uint8Array([0, 0, 0, 70, 70, 70, 140, 140, 140, 210, 210, 210]), width: 4, height: 1, channels: 3 };
  // Plain bilinear: output 0 samples input x = 0.5 -> (0 + 70) / 2; output 1 samples x = 2.5 -> (140 + 210) / 2.
  assert.equal(Array.from(resizeBilinear(img, 2, 1, { antialias: false })), [35, 35, 35, 175, 175, 175]);
  // Antialiased: triangle of radius 2 centred at 1.0 covers pixel centres 0.5, 1.5, 2.5 with
  // weights 0.75, 0.75, 0.25 (sum 1.75): (0 * 0.75 + 70 * 0.75 + 140 * 0.25) / 1.75 = 50;
  // centred at 3.0: (70 * 0.25 + 140 * 0.75 + 210 * 0.75) / 1.75 = 160.
  const aa = Array.from(resizeBilinear(img, 2, 1));
  assert.ok(maxAbsDiff(aa, [50, 50, 50, 160, 160, 160]) < 1e-4, String(aa));
});

test("antialiasing only changes downscales", () => {
  const img = region(chelsea, [10, 10, 40, 30]);
  assert.equal(resizeBilinear(img, 77, 45), resizeBilinear(img, 77, 45, { antialias: false }));
  const down = maxAbsDiff(resizeBilinear(chelsea, 50, 50), resizeBilinear(chelsea, 50, 50, { antialias: false }));
  assert.ok(down > 1, `antialiased and plain 9x downscales should differ, max diff ${down}`);
});

test("a constant image stays constant at any size", () => {
  const img: DecodedImage = { data: new Uint8Array(13 * 7 * 3).fill(200), width: 13, height: 7, channels: 3 };
  for (const [w, h] of [[1, 1], [5, 3], [13, 7], [40, 29]] as const) {
    for (const antialias of [true, false]) {
      const out = resizeBilinear(img, w, h, { antialias });
      assert.ok(out.every((v) => Math.abs(v - 200) < 1e-4), `${w}x${h} antialias=${antialias}`);
    }
  }
});

test("grey, RGBA and Uint8ClampedArray inputs resize like their RGB equivalent", () => {
  const rgb = noise(23, 11);
  const grey: DecodedImage = { data: rgb.data.filter((_, i) => i % 3 === 0), width: 23, height: 11, channels: 1 };
  const rgba: DecodedImage = { data: new Uint8Array(23 * 11 * 4), width: 23, height: 11, channels: 4 };
  for (let i = 0; i < 23 * 11; i++) {
    rgba.data.set(rgb.data.subarray(i * 3, i * 3 + 3), i * 4);
    rgba.data[i * 4 + 3] = i % 256;
  }
  const clamped: DecodedImage = { ...rgb, data: new Uint8ClampedArray(rgb.data) };
  for (const [w, h] of [[9, 5], [40, 30]] as const) {
    assert.equal(resizeBilinear(grey, w, h), resizeBilinear(toRGB(grey), w, h));
    assert.equal(resizeBilinear(rgba, w, h), resizeBilinear(rgb, w, h));
    assert.equal(resizeBilinear(clamped, w, h), resizeBilinear(rgb, w, h));
  }
});

test("the input image is not modified", () => {
  const img = noise(50, 40);
  const copy = img.data.slice();
  resizeBilinear(img, 17, 90);
  assert.equal(img.data, copy);
});

test("a 4000x3000 photo resizes to 299x299 in under 1.5 s", () => {
  const big = noise(4000, 3000);
  for (const antialias of [true, false]) {
    const start = performance.now();
    const out = resizeBilinear(big, 299, 299, { antialias });
    const ms = performance.now() - start;
    assert.is(out.length, 299 * 299 * 3);
    assert.ok(ms < 1500, `antialias=${antialias} took ${ms.toFixed(0)} ms`);
  }
});

test.run();
