import { describeValue, invalidImageError } from "./errors.js";

/** An 8-bit raster in HWC order: `channels` bytes per pixel, rows top to bottom. */
export interface DecodedImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 1 = grey, 3 = RGB, 4 = RGBA. */
  channels: 1 | 3 | 4;
}

function isPositiveInteger(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n > 0;
}

/**
 * Checks an image that came from the caller rather than from our decoders:
 * a wrong length would otherwise surface as silent garbage (reads past the
 * end of a typed array yield undefined, which arithmetic turns into NaN).
 */
export function validateImage(img: DecodedImage, name?: string): void {
  if (typeof img !== "object" || img === null) {
    throw invalidImageError(name, `expected a DecodedImage object, got ${describeValue(img)}`);
  }
  const { data, width, height, channels } = img;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw invalidImageError(name, `data must be a Uint8Array or Uint8ClampedArray, got ${describeValue(data)}`);
  }
  if (!isPositiveInteger(width) || !isPositiveInteger(height)) {
    throw invalidImageError(name, `width and height must be positive integers, got ${String(width)}x${String(height)}`);
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw invalidImageError(name, `channels must be 1, 3 or 4, got ${String(channels)}`);
  }
  const expected = width * height * channels;
  if (data.length !== expected) {
    throw invalidImageError(
      name,
      `data has ${data.length} values but ${width}x${height}x${channels} needs ${expected}`,
    );
  }
}

/** A new 3-channel copy: grey is replicated into R, G and B; alpha is dropped (not blended). */
export function toRGB(img: DecodedImage): DecodedImage {
  validateImage(img);
  const { data, width, height, channels } = img;
  const pixels = width * height;
  const out = new Uint8Array(pixels * 3);
  if (channels === 3) {
    out.set(data);
  } else if (channels === 1) {
    for (let i = 0, o = 0; i < pixels; i++, o += 3) {
      const v = data[i]!;
      out[o] = v;
      out[o + 1] = v;
      out[o + 2] = v;
    }
  } else {
    for (let i = 0, s = 0, o = 0; i < pixels; i++, s += 4, o += 3) {
      out[o] = data[s]!;
      out[o + 1] = data[s + 1]!;
      out[o + 2] = data[s + 2]!;
    }
  }
  return { data: out, width, height, channels: 3 };
}

/**
 * Keeps the central `fraction` of each dimension, with the arithmetic of
 * TF-slim's `tf.image.central_crop` (Inception preprocessing uses 0.875):
 * the offset is truncated, and the size is what remains after removing the
 * same offset on both sides, so the crop stays exactly centred.
 */
export function centralCrop(img: DecodedImage, fraction: number): DecodedImage {
  validateImage(img);
  if (typeof fraction !== "number" || !(fraction > 0 && fraction <= 1)) {
    throw new Error(`centralCrop: fraction must be a number in (0, 1], got ${String(fraction)}`);
  }
  const { data, width, height, channels } = img;
  const top = Math.trunc((height - height * fraction) / 2);
  const left = Math.trunc((width - width * fraction) / 2);
  const outH = height - 2 * top;
  const outW = width - 2 * left;
  const rowLen = outW * channels;
  const out = new Uint8Array(outH * rowLen);
  for (let y = 0; y < outH; y++) {
    const start = ((top + y) * width + left) * channels;
    out.set(data.subarray(start, start + rowLen), y * rowLen);
  }
  return { data: out, width: outW, height: outH, channels };
}
