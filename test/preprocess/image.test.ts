import { test } from "uvu";
import * as assert from "uvu/assert";
import type { DecodedImage } from "../../src/preprocess/index.js";
import { centralCrop, decodeImage, toRGB, loadImageDecoders } from "../../src/preprocess/index.js";
import { fixture, reference } from "./helpers.js";

// PNG/JPEG decoding below is synchronous once the decoders are loaded.
await loadImageDecoders();

/** A grey image whose pixel at (x, y) holds y * width + x, so crops reveal their offsets. */
function ramp(width: number, height: number): DecodedImage {
  return { data: Uint8Array.from({ length: width * height }, (_, i) => i), width, height, channels: 1 };
}

test("toRGB replicates grey, drops alpha, copies RGB", () => {
  const grey: DecodedImage = { data: new Uint8Array([7, 200]), width: 2, height: 1, channels: 1 };
  assert.equal(toRGB(grey), { data: new Uint8Array([7, 7, 7, 200, 200, 200]), width: 2, height: 1, channels: 3 });

  const rgba: DecodedImage = { data: new Uint8ClampedArray([1, 2, 3, 0, 4, 5, 6, 255]), width: 1, height: 2, channels: 4 };
  assert.equal(toRGB(rgba), { data: new Uint8Array([1, 2, 3, 4, 5, 6]), width: 1, height: 2, channels: 3 });

  const rgb: DecodedImage = { data: new Uint8Array([9, 8, 7]), width: 1, height: 1, channels: 3 };
  const out = toRGB(rgb);
  assert.equal(out, rgb);
  assert.is.not(out.data, rgb.data);
  out.data[0] = 0;
  assert.is(rgb.data[0], 9, "the caller's pixels are not shared with the result");
});

test("centralCrop follows tf.image.central_crop: offset truncated, same margin on both sides", () => {
  // (10 - 10 * 0.5) / 2 = 2.5 -> offset 2, size 10 - 2 * 2 = 6 (not 5).
  const crop = centralCrop(ramp(10, 10), 0.5);
  assert.is(crop.width, 6);
  assert.is(crop.height, 6);
  const expected: number[] = [];
  for (let y = 2; y < 8; y++) for (let x = 2; x < 8; x++) expected.push(y * 10 + x);
  assert.equal(Array.from(crop.data), expected);

  // 299 * 0.875 = 261.625 -> offset int(18.6875) = 18, size 263.
  const c299 = centralCrop({ data: new Uint8Array(299 * 299 * 3), width: 299, height: 299, channels: 3 }, 0.875);
  assert.equal([c299.width, c299.height, c299.channels], [263, 263, 3]);

  // Non-square, from the Python reference (make_reference.py computes the same box independently).
  const [left, top, right, bottom] = reference.pipeline.cropBox;
  const chelsea = decodeImage(fixture("chelsea.png"));
  const cc = centralCrop(chelsea, 0.875);
  assert.equal([cc.width, cc.height], [right - left, bottom - top]);
  const x = 17;
  const y = 31;
  const src = ((top + y) * chelsea.width + left + x) * 3;
  const dst = (y * cc.width + x) * 3;
  assert.equal(Array.from(cc.data.subarray(dst, dst + 3)), Array.from(chelsea.data.subarray(src, src + 3)));
});

test("centralCrop edge cases: fraction 1 copies, tiny images keep at least one pixel, RGBA keeps 4 channels", () => {
  const img = ramp(3, 2);
  const full = centralCrop(img, 1);
  assert.equal(full, img);
  assert.is.not(full.data, img.data);

  assert.equal(centralCrop(ramp(1, 1), 0.01), ramp(1, 1));
  // (2 - 0.02) / 2 = 0.99 -> offset 0: nothing is removed from a 2-pixel side.
  assert.equal([centralCrop(ramp(2, 2), 0.01).width, centralCrop(ramp(2, 2), 0.01).height], [2, 2]);

  const rgba: DecodedImage = { data: Uint8Array.from({ length: 4 * 4 * 4 }, (_, i) => i), width: 4, height: 4, channels: 4 };
  const c = centralCrop(rgba, 0.5);
  assert.equal([c.width, c.height, c.channels], [2, 2, 4]);
  assert.equal(Array.from(c.data.subarray(0, 4)), [20, 21, 22, 23]); // pixel (1, 1)
});

test("toRGB and centralCrop leave their input untouched", () => {
  const img: DecodedImage = { data: Uint8Array.from({ length: 6 * 5 * 4 }, (_, i) => i), width: 6, height: 5, channels: 4 };
  const before = img.data.slice();
  toRGB(img);
  centralCrop(img, 0.6);
  assert.equal(img.data, before);
  assert.equal([img.width, img.height, img.channels], [6, 5, 4]);
});

test.run();
