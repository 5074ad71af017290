import type { Normalization } from "../graph/ir.js";
import { decodeImage } from "./decode.js";
import { centralCrop, validateImage } from "./image.js";
import type { DecodedImage } from "./image.js";
import { normalize } from "./normalize.js";
import { resizeBilinear } from "./resize.js";

export interface PreprocessOptions {
  /** Output side length in pixels; the result is always square. Default 299 (Inception v3). */
  size?: number;
  /** Central crop fraction in (0, 1] applied before resizing (TF-slim Inception uses 0.875). Default: no crop. */
  crop?: number;
  normalization: Normalization;
  /** Widen the filter when downscaling, as PIL and tf.image.resize(antialias=True) do. Default true. */
  antialias?: boolean;
}

/**
 * Encoded bytes or a decoded image -> a [size, size, 3] NHWC float32 tensor
 * (batch dimension of one left implicit): decode, optional central crop,
 * bilinear resize, normalisation. `name` labels error messages.
 */
export function preprocess(image: Uint8Array | DecodedImage, opts: PreprocessOptions, name?: string): Float32Array {
  if (typeof opts !== "object" || opts === null) {
    throw new Error("preprocess: options are required, e.g. { normalization: \"tf\" }");
  }
  const size = opts.size ?? 299;
  if (!Number.isInteger(size) || size <= 0) {
    throw new Error(`preprocess: size must be a positive integer, got ${String(size)}`);
  }
  let img: DecodedImage;
  // Any typed array is taken for file contents, so decodeImage can name a wrong kind (say, a Float32Array).
  if (ArrayBuffer.isView(image)) {
    img = decodeImage(image as Uint8Array, name);
  } else {
    validateImage(image, name);
    img = image;
  }
  if (opts.crop !== undefined) img = centralCrop(img, opts.crop);
  const pixels = resizeBilinear(img, size, size, { antialias: opts.antialias ?? true });
  return normalize(pixels, opts.normalization);
}
