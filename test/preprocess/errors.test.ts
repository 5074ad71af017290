import { deflateSync } from "node:zlib";
import { encode as encodePng } from "fast-png";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { DecodedImage } from "../../src/preprocess/index.js";
import { centralCrop, decodeImage, normalize, preprocess, resizeBilinear, toRGB, loadImageDecoders } from "../../src/preprocess/index.js";
import { fixture, throwsWith } from "./helpers.js";

// PNG/JPEG decoding below is synchronous once the decoders are loaded.
await loadImageDecoders();

// --- A minimal PNG writer, so headers can say things fast-png's encoder refuses to write ---

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(payload, 8);
  view.setUint32(8 + payload.length, crc32(out.subarray(4, 8 + payload.length)));
  return out;
}

function ihdr(width: number, height: number, depth: number, colorType: number, interlace = 0): Uint8Array {
  const p = new Uint8Array(13);
  const view = new DataView(p.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  p.set([depth, colorType, 0, 0, interlace], 8);
  return chunk("IHDR", p);
}

function pngFile(...chunks: Uint8Array[]): Uint8Array {
  const all = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ...chunks, chunk("IEND", new Uint8Array(0))];
  const out = new Uint8Array(all.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of all) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** Offset of the first marker segment of the given type in a JPEG. */
function jpegSegment(bytes: Uint8Array, marker: number): number {
  let offset = 2;
  while (bytes[offset + 1] !== marker) offset += 2 + ((bytes[offset + 2]! << 8) | bytes[offset + 3]!);
  return offset;
}

// --- Input that is not an image at all ---

test("empty bytes: says so and names the image", () => {
  throwsWith(() => decodeImage(new Uint8Array(0), "empty.png"), 'Cannot decode image "empty.png"', "empty", "0 bytes");
  throwsWith(() => decodeImage(new Uint8Array(0)), "Cannot decode image: the data is empty");
});

test("not a Uint8Array", () => {
  throwsWith(() => decodeImage(new ArrayBuffer(8) as unknown as Uint8Array, "a"), "Uint8Array", "ArrayBuffer");
  throwsWith(() => decodeImage([0x89, 0x50] as unknown as Uint8Array), "Uint8Array", "Array");
});

test("unknown format: lists the supported formats and shows the first bytes in hex", () => {
  const gif = new TextEncoder().encode("GIF89a\x01\x00\x01\x00");
  throwsWith(() => decodeImage(gif, "anim.gif"), '"anim.gif"', "unrecognised format", "47 49 46 38 39 61 01 00", "PNG and JPEG");
  throwsWith(() => decodeImage(new Uint8Array([0x0a]), "x"), "first bytes: 0a)");
});

// --- PNG ---

test("truncated PNG: every cut point is an error that says truncated", () => {
  const png = fixture("chelsea.png");
  for (const length of [8, 20, 33, 1000, png.length >> 1, png.length - 13, png.length - 12, png.length - 1]) {
    throwsWith(() => decodeImage(png.subarray(0, length), "chelsea.png"), '"chelsea.png"', "truncated PNG");
  }
  // The last complete chunk before IEND is intact, so the message is about the missing IEND.
  throwsWith(() => decodeImage(png.subarray(0, png.length - 12)), "before the IEND chunk");
  throwsWith(() => decodeImage(png.subarray(0, png.length >> 1)), 'chunk "IDAT"', "remain");
  throwsWith(() => decodeImage(png.subarray(0, 1000)), 'chunk "iCCP" at byte 33 needs 2637 bytes but only 967 remain');
});

test("corrupt PNG: a flipped byte fails the CRC check and keeps the decoder's error as cause", () => {
  const png = fixture("chelsea.png").slice();
  png[png.length >> 1]! ^= 0x55;
  const error = throwsWith(() => decodeImage(png, "chelsea.png"), '"chelsea.png"', "corrupt PNG", "CRC mismatch");
  assert.instance(error.cause, Error);
});

test("corrupt PNG: IDAT that is not a zlib stream (valid CRC)", () => {
  const garbage = new Uint8Array(64).map((_, i) => (i * 89 + 7) % 256);
  throwsWith(() => decodeImage(pngFile(ihdr(4, 4, 8, 0), chunk("IDAT", garbage)), "g.png"), '"g.png"', "corrupt PNG", "decompress");
});

test("corrupt PNG: first chunk is not IHDR", () => {
  const png = pngFile(ihdr(1, 1, 8, 0), chunk("IDAT", deflateSync(new Uint8Array([0, 7]))));
  png[12] = "J".charCodeAt(0);
  throwsWith(() => decodeImage(png), "corrupt PNG", "IHDR");
});

test("zero-size PNG", () => {
  throwsWith(() => decodeImage(pngFile(ihdr(0, 5, 8, 0)), "z.png"), '"z.png"', "zero size", "0x5");
  throwsWith(() => decodeImage(pngFile(ihdr(5, 0, 8, 2))), "zero size", "5x0");
});

test("PNG header promising a huge image is refused before anything is allocated", () => {
  const start = performance.now();
  throwsWith(
    () => decodeImage(pngFile(ihdr(100_000, 100_000, 16, 6), chunk("IDAT", deflateSync(new Uint8Array(9)))), "bomb.png"),
    '"bomb.png"',
    "too large",
    "100000x100000",
    "limit is 50 megapixels",
  );
  assert.ok(performance.now() - start < 200);
});

test("interlaced PNG below 8 bits is refused (fast-png cannot de-interlace packed samples)", () => {
  throwsWith(() => decodeImage(pngFile(ihdr(8, 8, 1, 0, 1), chunk("IDAT", deflateSync(new Uint8Array(16))))), "unsupported PNG", "interlaced", "bit depth of 1");
});

test("palette PNG: index past the palette, and no palette at all", () => {
  const plte = chunk("PLTE", new Uint8Array([1, 2, 3, 4, 5, 6]));
  const idat = chunk("IDAT", deflateSync(new Uint8Array([0, 0, 3])));
  throwsWith(() => decodeImage(pngFile(ihdr(2, 1, 8, 3), plte, idat), "p.png"), '"p.png"', "corrupt PNG", "palette index 3", "2 colours");
  throwsWith(() => decodeImage(pngFile(ihdr(2, 1, 8, 3), idat)), "corrupt PNG", "without a PLTE chunk");
});

test("PNG whose image data is short by whole rows", () => {
  // Two rows declared, one row of data: fast-png reads a missing filter byte.
  const idat = chunk("IDAT", deflateSync(new Uint8Array([0, 1, 2])));
  throwsWith(() => decodeImage(pngFile(ihdr(2, 2, 8, 0), idat), "short.png"), '"short.png"', "corrupt PNG");
});

// --- JPEG ---

test("truncated JPEG: every cut point is an error that says truncated, never a half-grey image", () => {
  const jpeg = fixture("rocket.jpg");
  for (const length of [3, 100, 800, 1100, 5000, jpeg.length >> 1, jpeg.length - 1000, jpeg.length - 2, jpeg.length - 1]) {
    throwsWith(() => decodeImage(jpeg.subarray(0, length), "rocket.jpg"), '"rocket.jpg"', "truncated", "end-of-image marker");
  }
});

test("corrupt JPEG: garbage after the start-of-image marker", () => {
  const bad = new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xff, 0xd9]);
  const error = throwsWith(() => decodeImage(bad, "bad.jpg"), '"bad.jpg"', "corrupt or truncated JPEG", "unknown JPEG marker");
  assert.instance(error.cause, Error);
});

test("zero-size JPEG", () => {
  const jpeg = fixture("rocket.jpg").slice();
  const sof = jpegSegment(jpeg, 0xc0);
  jpeg[sof + 5] = 0;
  jpeg[sof + 6] = 0;
  throwsWith(() => decodeImage(jpeg, "z.jpg"), '"z.jpg"', "zero size", "640x0");
});

test("JPEG header promising a huge image is refused", () => {
  const jpeg = fixture("rocket.jpg").slice();
  const sof = jpegSegment(jpeg, 0xc0);
  jpeg.set([0xfd, 0xe8, 0xfd, 0xe8], sof + 5); // 65000 x 65000
  const start = performance.now();
  throwsWith(() => decodeImage(jpeg, "huge.jpg"), '"huge.jpg"', "too large", "65000x65000");
  assert.ok(performance.now() - start < 200);
});

test("unsupported JPEG variants: arithmetic coding, 12-bit samples", () => {
  const arithmetic = fixture("rocket.jpg").slice();
  arithmetic[jpegSegment(arithmetic, 0xc0) + 1] = 0xc9;
  throwsWith(() => decodeImage(arithmetic, "a.jpg"), '"a.jpg"', "unsupported JPEG", "SOF9");
  const twelveBit = fixture("rocket.jpg").slice();
  twelveBit[jpegSegment(twelveBit, 0xc0) + 4] = 12;
  throwsWith(() => decodeImage(twelveBit), "unsupported JPEG", "12-bit");
});

// --- In-memory images and arguments ---

function gray(width: number, height: number): DecodedImage {
  return { data: new Uint8Array(width * height), width, height, channels: 1 };
}

test("DecodedImage validation: length, channels, dimensions, data type", () => {
  const bad: [unknown, string][] = [
    [{ data: new Uint8Array(11), width: 2, height: 2, channels: 3 }, "has 11 values but 2x2x3 needs 12"],
    [{ data: new Uint8Array(8), width: 2, height: 2, channels: 2 }, "channels must be 1, 3 or 4, got 2"],
    [{ data: new Uint8Array(0), width: 0, height: 2, channels: 1 }, "positive integers, got 0x2"],
    [{ data: new Uint8Array(3), width: 1.5, height: 2, channels: 1 }, "positive integers, got 1.5x2"],
    [{ data: [1, 2, 3], width: 1, height: 1, channels: 3 }, "Uint8Array or Uint8ClampedArray, got Array"],
    [{ data: new Float32Array(3), width: 1, height: 1, channels: 3 }, "got Float32Array"],
    [null, "got null"],
  ];
  for (const [img, message] of bad) {
    const image = img as DecodedImage;
    throwsWith(() => toRGB(image), "Invalid image", message);
    throwsWith(() => centralCrop(image, 0.5), message);
    throwsWith(() => resizeBilinear(image, 4, 4), message);
    throwsWith(() => preprocess(image, { normalization: "tf" }, "mem"), 'Invalid image "mem"', message);
  }
});

test("argument checks: crop fraction, output size, normalisation preset, options", () => {
  for (const fraction of [0, -0.5, 1.5, Number.NaN]) {
    throwsWith(() => centralCrop(gray(4, 4), fraction), "fraction must be a number in (0, 1]");
  }
  throwsWith(() => resizeBilinear(gray(4, 4), 0, 4), "outWidth must be a positive integer, got 0");
  throwsWith(() => resizeBilinear(gray(4, 4), 4, 2.5), "outHeight must be a positive integer, got 2.5");
  throwsWith(() => normalize(new Float32Array(3), "caffe" as "tf"), 'unknown preset "caffe"');
  throwsWith(() => normalize(new Float32Array(4), "torch"), "not a multiple of 3");
  throwsWith(() => normalize([1, 2, 3] as unknown as Float32Array, "tf"), "Float32Array");
  throwsWith(() => preprocess(gray(4, 4), undefined as unknown as { normalization: "tf" }), "options are required");
  throwsWith(() => preprocess(gray(4, 4), { normalization: "tf", size: 0 }), "size must be a positive integer");
  throwsWith(() => preprocess(gray(4, 4), { normalization: "tf", crop: 2 }), "fraction must be a number in (0, 1]");
  throwsWith(() => preprocess(new Uint8Array(0), { normalization: "tf" }, "none.jpg"), '"none.jpg"', "empty");
  throwsWith(() => preprocess(new Uint8ClampedArray(4) as unknown as Uint8Array, { normalization: "tf" }, "c"), '"c"', "Uint8Array, got Uint8ClampedArray");
});

test("encoder-made PNG with a valid structure still decodes after the checks above", () => {
  // Guards the error tests against passing merely because every PNG is rejected.
  const img = decodeImage(encodePng({ width: 2, height: 1, data: new Uint8Array([5, 6]), channels: 1, depth: 8 }));
  assert.equal(Array.from(img.data), [5, 6]);
  const built = decodeImage(pngFile(ihdr(2, 1, 8, 0), chunk("IDAT", deflateSync(new Uint8Array([0, 5, 6])))));
  assert.equal(Array.from(built.data), [5, 6]);
});

test.run();
