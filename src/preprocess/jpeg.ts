import decodeJpegData from "jpeg-js/lib/decoder.js";
import { checkDecodeDimensions, decodeError, describeThrown, MAX_PIXELS } from "./errors.js";
import type { DecodedImage } from "./image.js";

/**
 * jpeg-js keeps coefficient blocks as Int32Arrays (4 bytes per sample per
 * component) plus three 8-bit copies, so a 4:2:0 image at MAX_PIXELS needs
 * about 700 MB and a 4:4:4 one over 1 GB, which this cap refuses. Without it a
 * header could trigger an allocation that takes the process down.
 */
const MAX_MEMORY_MB = 768;

/** jpeg-js's own messages when maxResolutionInMP / maxMemoryUsageInMB refuse an image. */
const LIMIT_MESSAGE = /maxResolutionInMP|maxMemoryUsageInMB|Could not allocate/;

/**
 * A complete JPEG ends with the end-of-image marker FF D9 (rare trailing junk
 * aside), so when jpeg-js rejects a file that lacks it, the file was most
 * likely cut short; saying so beats jpeg-js's "marker was not found".
 */
function endsWithEoi(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[bytes.length - 2] === 0xff && bytes[bytes.length - 1] === 0xd9;
}

/** SOFn markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC). */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

interface FrameHeader {
  /** 0xC0-0xCF: which SOFn introduced the frame. */
  marker: number;
  /** Bits per sample. */
  precision: number;
  width: number;
  height: number;
}

/**
 * The frame header, found by walking the marker segments that precede it, or
 * undefined if the walk fails (jpeg-js then reports the problem). Reading it
 * ourselves lets us name unsupported variants and zero or oversized
 * dimensions, which jpeg-js reports as unrelated-sounding marker errors.
 */
function frameHeader(bytes: Uint8Array): FrameHeader | undefined {
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) return undefined;
    const marker = bytes[offset + 1]!;
    if (marker === 0xff) {
      offset++; // fill byte before a marker
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return undefined; // scan or end before any frame header
    const length = (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
    if (isStartOfFrame(marker)) {
      // Segment: FF Cn, length (2), precision (1), height (2), width (2).
      if (offset + 9 > bytes.length) return undefined;
      return {
        marker,
        precision: bytes[offset + 4]!,
        height: (bytes[offset + 5]! << 8) | bytes[offset + 6]!,
        width: (bytes[offset + 7]! << 8) | bytes[offset + 8]!,
      };
    }
    offset += 2 + length;
  }
  return undefined;
}

/** Decodes a JPEG whose signature has already been recognised, to 3-channel RGB (grey and CMYK converted by jpeg-js). */
export function decodeJpeg(bytes: Uint8Array, name: string | undefined): DecodedImage {
  const frame = frameHeader(bytes);
  if (frame !== undefined) {
    // jpeg-js implements 8-bit Huffman-coded DCT frames: SOF0 (baseline), SOF1 (extended), SOF2 (progressive).
    if (frame.marker > 0xc2 || frame.precision !== 8) {
      throw decodeError(
        name,
        `unsupported JPEG: frame type SOF${frame.marker - 0xc0} with ${frame.precision}-bit samples; only 8-bit baseline, extended and progressive Huffman-coded JPEGs (SOF0-SOF2) are supported`,
      );
    }
    checkDecodeDimensions(name, "JPEG", frame.width, frame.height);
  }
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    // useTArray: allocate a Uint8Array instead of Node's Buffer, which other runtimes lack.
    decoded = decodeJpegData(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      maxResolutionInMP: MAX_PIXELS / 1e6,
      maxMemoryUsageInMB: MAX_MEMORY_MB,
    });
  } catch (thrown) {
    const detail = describeThrown(thrown);
    if (LIMIT_MESSAGE.test(detail)) {
      throw decodeError(name, `the JPEG is too large to decode within the memory limits (${detail})`, thrown);
    }
    const hint = endsWithEoi(bytes) ? "" : "; the data does not end with the JPEG end-of-image marker, so it is probably truncated";
    throw decodeError(name, `corrupt or truncated JPEG: ${detail}${hint}`, thrown);
  }
  const { width, height, data } = decoded;
  checkDecodeDimensions(name, "JPEG", width, height);
  if (data.length !== width * height * 3) {
    throw decodeError(name, `corrupt JPEG: decoded ${data.length} bytes for ${width}x${height} RGB`);
  }
  return { data, width, height, channels: 3 };
}
