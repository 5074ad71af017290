import { decodeError, describeValue } from "./errors.js";
import type { DecodedImage } from "./image.js";

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff] as const;

let codecs: typeof import("./codecs.js") | undefined;

/**
 * Imports the PNG and JPEG decoders (fast-png with its inflate, jpeg-js) on
 * first use: about 10 MB of memory that a process running the model on its
 * own tensors never pays. `decodeImage` and `preprocess` of bytes need it
 * awaited first; Model.classify and embed do that.
 */
export async function loadImageDecoders(): Promise<void> {
  codecs ??= await import("./codecs.js");
}

function startsWith(bytes: Uint8Array, signature: readonly number[]): boolean {
  return bytes.length >= signature.length && signature.every((b, i) => bytes[i] === b);
}

function hexPrefix(bytes: Uint8Array, count: number): string {
  return Array.from(bytes.subarray(0, count), (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/**
 * Decodes PNG or JPEG bytes, chosen by their signature rather than by `name`,
 * since file extensions lie. `name` only labels error messages. PNGs come back
 * with 1 (grey), 3 or 4 channels; JPEGs always with 3.
 */
export function decodeImage(bytes: Uint8Array, name?: string): DecodedImage {
  if (!(bytes instanceof Uint8Array)) {
    throw decodeError(name, `expected the file contents as a Uint8Array, got ${describeValue(bytes)}`);
  }
  if (bytes.length === 0) {
    throw decodeError(name, "the data is empty (0 bytes)");
  }
  const isPng = startsWith(bytes, PNG_SIGNATURE);
  if (isPng || startsWith(bytes, JPEG_SIGNATURE)) {
    if (!codecs) throw new Error("the image decoders are not loaded yet: await loadImageDecoders() first");
    return isPng ? codecs.decodePng(bytes, name) : codecs.decodeJpeg(bytes, name);
  }
  throw decodeError(
    name,
    `unrecognised format (first bytes: ${hexPrefix(bytes, 8)}); supported formats are PNG and JPEG`,
  );
}
