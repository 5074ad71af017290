import { decodeError, describeValue } from "./errors.js";
import type { DecodedImage } from "./image.js";
import { decodeJpeg, JPEG_SIGNATURE } from "./jpeg.js";
import { decodePng, PNG_SIGNATURE } from "./png.js";

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
  if (startsWith(bytes, PNG_SIGNATURE)) return decodePng(bytes, name);
  if (startsWith(bytes, JPEG_SIGNATURE)) return decodeJpeg(bytes, name);
  throw decodeError(
    name,
    `unrecognised format (first bytes: ${hexPrefix(bytes, 8)}); supported formats are PNG and JPEG`,
  );
}
