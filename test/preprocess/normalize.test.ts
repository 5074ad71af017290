import { test } from "uvu";
import * as assert from "uvu/assert";
import { normalize } from "../../src/preprocess/index.js";
import { maxAbsDiff } from "./helpers.js";

// Two RGB pixels: (0, 127.5, 255) and (51, 102, 204).
const pixels = new Float32Array([0, 127.5, 255, 51, 102, 204]);

test('"tf": x / 127.5 - 1', () => {
  assert.ok(maxAbsDiff(normalize(pixels, "tf"), [-1, 0, 1, -0.6, -0.2, 0.6]) < 1e-6);
});

test('"unit": x / 255', () => {
  assert.ok(maxAbsDiff(normalize(pixels, "unit"), [0, 0.5, 1, 0.2, 0.4, 0.8]) < 1e-6);
});

test('"torch": (x / 255 - ImageNet mean) / ImageNet std, per channel', () => {
  // Worked by hand with mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225):
  // (0 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (1 - 0.406) / 0.225,
  // (0.2 - 0.485) / 0.229, (0.4 - 0.456) / 0.224, (0.8 - 0.406) / 0.225.
  const expected = [-2.1179039301, 0.1964285714, 2.64, -1.2445414847, -0.25, 1.7511111111];
  assert.ok(maxAbsDiff(normalize(pixels, "torch"), expected) < 1e-6);
});

test("returns a new array and leaves the input alone", () => {
  const input = pixels.slice();
  for (const preset of ["tf", "unit", "torch"] as const) {
    const out = normalize(input, preset);
    assert.instance(out, Float32Array);
    assert.is.not(out, input);
    assert.equal(input, pixels);
  }
  assert.is(normalize(new Float32Array(0), "torch").length, 0);
});

test.run();
