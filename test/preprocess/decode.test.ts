import { createHash } from "node:crypto";
import { encode as encodePng } from "fast-png";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decodeImage, toRGB, loadImageDecoders } from "../../src/preprocess/index.js";
import { fixture, reference } from "./helpers.js";

// PNG/JPEG decoding below is synchronous once the decoders are loaded.
await loadImageDecoders();

function sha256(data: Uint8Array | Uint8ClampedArray): string {
  return createHash("sha256").update(data).digest("hex");
}

// --- The photo fixtures, against Pillow (fixtures/images/make_reference.py) ---

for (const [file, ref] of Object.entries(reference.png)) {
  test(`PNG ${file} decodes to exactly the pixels Pillow decodes`, () => {
    const img = decodeImage(fixture(file), file);
    assert.is(img.width, ref.width);
    assert.is(img.height, ref.height);
    assert.is(img.channels, 3);
    // A hash of the whole raster: any single differing byte fails.
    assert.is(sha256(toRGB(img).data), ref.sha256);
    for (const [x, y, r, g, b] of ref.pixels) {
      const i = (y! * img.width + x!) * 3;
      assert.equal([img.data[i], img.data[i + 1], img.data[i + 2]], [r, g, b], `pixel (${x}, ${y})`);
    }
  });
}

test("JPEG rocket.jpg: dimensions and colours match libjpeg (via Pillow) within IDCT / upsampling differences", () => {
  const ref = reference.jpeg["rocket.jpg"]!;
  const img = decodeImage(fixture("rocket.jpg"), "rocket.jpg");
  assert.is(img.width, 640);
  assert.is(img.height, 427);
  assert.is(img.width, ref.width);
  assert.is(img.height, ref.height);
  assert.is(img.channels, 3);
  assert.is(img.data.length, 640 * 427 * 3);

  const mean = [0, 0, 0];
  for (let i = 0; i < img.data.length; i++) mean[i % 3]! += img.data[i]!;
  for (let c = 0; c < 3; c++) {
    // jpeg-js truncates where libjpeg rounds, so it runs about half a level darker.
    assert.ok(Math.abs(mean[c]! / (640 * 427) - ref.mean[c]!) < 1, `channel ${c} mean`);
  }

  // 32x32 tile means: catches misplaced blocks or swapped channels that a global mean would not.
  const { block, tilesX, tilesY, tiles } = ref;
  let worst = 0;
  for (let ty = 0; ty < tilesY; ty++) {
    for (let tx = 0; tx < tilesX; tx++) {
      const acc = [0, 0, 0];
      for (let y = ty * block; y < (ty + 1) * block; y++) {
        for (let x = tx * block; x < (tx + 1) * block; x++) {
          for (let c = 0; c < 3; c++) acc[c]! += img.data[(y * img.width + x) * 3 + c]!;
        }
      }
      for (let c = 0; c < 3; c++) {
        worst = Math.max(worst, Math.abs(acc[c]! / (block * block) - tiles[ty * tilesX + tx]![c]!));
      }
    }
  }
  assert.ok(worst < 2, `worst tile mean differs by ${worst}`);
});

// --- Tiny PNGs written by Pillow in layouts the photos lack ---

for (const file of ["gray1.png", "palette4.png", "gray-alpha.png"]) {
  test(`PNG ${file} (written by Pillow) decodes to Pillow's RGB`, () => {
    const ref = reference.tiny[file]!;
    const img = decodeImage(fixture(`reference/${file}`), file);
    assert.is(img.width, ref.width);
    assert.is(img.height, ref.height);
    assert.equal(Array.from(toRGB(img).data), ref.rgb);
  });
}

test("PNG gray16.png (written by Pillow): 16-bit samples become round(v / 257)", () => {
  const ref = reference.tiny["gray16.png"]!;
  const img = decodeImage(fixture("reference/gray16.png"));
  assert.is(img.channels, 1);
  assert.equal(
    Array.from(img.data),
    ref.samples16!.map((v) => Math.round(v / 257)),
  );
  // Pairs straddle rounding boundaries: 128 -> 0 but 129 -> 1, 65406 -> 254 but 65407 -> 255.
  assert.equal(Array.from(img.data), [0, 0, 0, 1, 1, 127, 128, 254, 255, 255]);
});

// --- Round trips through fast-png's encoder: every colour type and depth ---

test("PNG grey 8-bit stays one channel; toRGB replicates it", () => {
  const data = new Uint8Array([0, 50, 100, 150, 200, 255]);
  const img = decodeImage(encodePng({ width: 3, height: 2, data, channels: 1, depth: 8 }));
  assert.equal({ w: img.width, h: img.height, c: img.channels }, { w: 3, h: 2, c: 1 });
  assert.equal(Array.from(img.data), Array.from(data));
  assert.equal(Array.from(toRGB(img).data), [0, 0, 0, 50, 50, 50, 100, 100, 100, 150, 150, 150, 200, 200, 200, 255, 255, 255]);
});

test("PNG grey+alpha 8-bit and 16-bit drop the alpha", () => {
  const img8 = decodeImage(encodePng({ width: 2, height: 1, data: new Uint8Array([10, 0, 240, 128]), channels: 2, depth: 8 }));
  assert.is(img8.channels, 1);
  assert.equal(Array.from(img8.data), [10, 240]);
  const data16 = new Uint16Array([257 * 10, 0, 65535, 1000]);
  const img16 = decodeImage(encodePng({ width: 2, height: 1, data: data16, channels: 2, depth: 16 }));
  assert.is(img16.channels, 1);
  assert.equal(Array.from(img16.data), [10, 255]);
});

test("PNG RGB 16-bit is rescaled to 8 bits", () => {
  const data = new Uint16Array([0, 257, 65535, 128, 129, 32896]);
  const img = decodeImage(encodePng({ width: 2, height: 1, data, channels: 3, depth: 16 }));
  assert.is(img.channels, 3);
  assert.equal(Array.from(img.data), [0, 1, 255, 0, 1, 128]);
});

test("PNG RGBA 8-bit keeps 4 channels; toRGB drops alpha without blending", () => {
  const data = new Uint8Array([255, 0, 0, 0, 0, 255, 0, 128, 1, 2, 3, 255]);
  const img = decodeImage(encodePng({ width: 3, height: 1, data, channels: 4, depth: 8 }));
  assert.is(img.channels, 4);
  assert.equal(Array.from(img.data), Array.from(data));
  assert.equal(Array.from(toRGB(img).data), [255, 0, 0, 0, 255, 0, 1, 2, 3]);
});

test("PNG RGBA 16-bit", () => {
  const data = new Uint16Array([65535, 0, 257 * 7, 0]);
  const img = decodeImage(encodePng({ width: 1, height: 1, data, channels: 4, depth: 16 }));
  assert.is(img.channels, 4);
  assert.equal(Array.from(img.data), [255, 0, 7, 0]);
});

test("PNG 8-bit palette with tRNS alpha expands to RGB", () => {
  const palette = [
    [255, 0, 0, 255],
    [0, 255, 0, 0],
    [0, 0, 255, 128],
    [9, 8, 7, 255],
  ];
  const data = new Uint8Array([3, 2, 1, 0, 0, 3]);
  const img = decodeImage(encodePng({ width: 3, height: 2, data, channels: 1, depth: 8, palette }));
  assert.is(img.channels, 3);
  assert.equal(Array.from(img.data), [9, 8, 7, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 0, 0, 9, 8, 7]);
});

/** Packs one row of `depth`-bit samples MSB first, padding the row to a whole byte (PNG spec 7.2). */
function packRows(rows: number[][], depth: number): Uint8Array {
  const rowBytes = Math.ceil((rows[0]!.length * depth) / 8);
  const out = new Uint8Array(rowBytes * rows.length);
  rows.forEach((row, y) =>
    row.forEach((v, x) => {
      const bit = x * depth;
      out[y * rowBytes + (bit >> 3)]! |= v << (8 - depth - (bit & 7));
    }),
  );
  return out;
}

test("PNG 2-bit palette, odd width: indices unpacked across byte boundaries", () => {
  const palette = [
    [10, 20, 30],
    [40, 50, 60],
    [70, 80, 90],
    [100, 110, 120],
  ];
  const rows = [
    [0, 1, 2, 3, 3],
    [3, 2, 1, 0, 1],
  ];
  const img = decodeImage(encodePng({ width: 5, height: 2, data: packRows(rows, 2), channels: 1, depth: 2, palette }));
  assert.is(img.channels, 3);
  assert.equal(
    Array.from(img.data),
    rows.flat().flatMap((i) => palette[i]!),
  );
});

test("PNG 1-, 2- and 4-bit grey are unpacked and stretched to 0..255", () => {
  for (const depth of [1, 2, 4]) {
    const max = (1 << depth) - 1;
    const rows = [
      Array.from({ length: 7 }, (_, x) => x % (max + 1)),
      Array.from({ length: 7 }, (_, x) => max - (x % (max + 1))),
    ];
    const img = decodeImage(encodePng({ width: 7, height: 2, data: packRows(rows, depth), channels: 1, depth: depth as 1 | 2 | 4 }));
    assert.is(img.channels, 1);
    // 255 / (2^depth - 1) is an integer for these depths: 255, 85, 17.
    assert.equal(
      Array.from(img.data),
      rows.flat().map((v) => v * (255 / max)),
      `depth ${depth}`,
    );
  }
});

test("PNG Adam7-interlaced RGB decodes like the non-interlaced one", () => {
  const width = 11;
  const height = 9;
  const data = new Uint8Array(width * height * 3).map((_, i) => (i * 37) % 256);
  const img = decodeImage(encodePng({ width, height, data, channels: 3, depth: 8 }, { interlace: "Adam7" }));
  assert.equal(Array.from(img.data), Array.from(data));
});

test("decodeImage reads a Uint8Array view at a non-zero offset and leaves the bytes untouched", () => {
  const png = fixture("coffee.png");
  const padded = new Uint8Array(png.length + 17);
  padded.set(png, 13);
  const view = padded.subarray(13, 13 + png.length);
  const before = sha256(padded);
  const img = decodeImage(view);
  assert.is(sha256(toRGB(img).data), reference.png["coffee.png"]!.sha256);
  assert.is(sha256(padded), before);

  const jpeg = fixture("rocket.jpg");
  const jpegBefore = sha256(jpeg);
  decodeImage(jpeg);
  assert.is(sha256(jpeg), jpegBefore);
});

test.run();
