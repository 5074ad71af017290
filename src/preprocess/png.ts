import { decode as decodePngData } from "fast-png";
import type { DecodedPng } from "fast-png";
import { checkDecodeDimensions, decodeError, describeThrown } from "./errors.js";
import type { DecodedImage } from "./image.js";

/** IHDR colour types (PNG spec 11.2.2). */
const GREY = 0;
const RGB = 2;
const INDEXED = 3;
const GREY_ALPHA = 4;
const RGBA = 6;

interface PngHeader {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlaced: boolean;
}

function chunkType(bytes: Uint8Array, offset: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + 4));
}

/**
 * Reads IHDR and walks the chunk list up to IEND before fast-png runs.
 *
 * fast-png allocates from the header dimensions without limit and reports a
 * truncated file as "Offset is outside the bounds of the DataView"; doing
 * these checks first gives size limits and messages that say what is wrong.
 */
function readHeader(bytes: Uint8Array, name: string | undefined): PngHeader {
  // Signature (8) + IHDR length and type (8) + IHDR payload (13) + CRC (4).
  if (bytes.length < 33) {
    throw decodeError(name, `truncated PNG: ${bytes.length} bytes is too short to hold the PNG header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(8) !== 13 || chunkType(bytes, 12) !== "IHDR") {
    throw decodeError(name, "corrupt PNG: the first chunk is not a 13-byte IHDR");
  }
  const header: PngHeader = {
    width: view.getUint32(16),
    height: view.getUint32(20),
    depth: bytes[24]!,
    colorType: bytes[25]!,
    interlaced: bytes[28] === 1,
  };
  checkDecodeDimensions(name, "PNG", header.width, header.height);
  // fast-png de-interlaces sub-byte samples as if they were whole bytes.
  if (header.interlaced && header.depth < 8) {
    throw decodeError(name, `unsupported PNG: interlaced images with a bit depth of ${header.depth} are not supported`);
  }

  let offset = 8;
  for (;;) {
    if (offset + 8 > bytes.length) {
      throw decodeError(name, `truncated PNG: the data ends at byte ${bytes.length} before the IEND chunk`);
    }
    const length = view.getUint32(offset);
    const type = chunkType(bytes, offset + 4);
    // Chunk = length (4) + type (4) + payload + CRC (4).
    const remaining = bytes.length - offset;
    if (length + 12 > remaining) {
      throw decodeError(
        name,
        `truncated PNG: chunk ${JSON.stringify(type)} at byte ${offset} needs ${length + 12} bytes but only ${remaining} remain`,
      );
    }
    if (type === "IEND") return header;
    offset += length + 12;
  }
}

/** Expands 1/2/4-bit samples, which fast-png leaves packed (rows padded to whole bytes), to one byte each. */
function unpackSamples(packed: Uint8Array, width: number, height: number, depth: number): Uint8Array {
  const rowBytes = Math.ceil((width * depth) / 8);
  const mask = (1 << depth) - 1;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = y * rowBytes;
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      out[y * width + x] = (packed[row + (bit >> 3)]! >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

/**
 * Converts fast-png's output (any depth and colour type) to an 8-bit image with
 * 1, 3 or 4 channels: grey+alpha loses its alpha, palettes are expanded to RGB
 * (palette alpha from tRNS dropped too), 16-bit samples are rescaled with
 * round(v / 257), which maps 0..65535 exactly onto 0..255.
 */
function toDecodedImage(png: DecodedPng, header: PngHeader, name: string | undefined): DecodedImage {
  const { width, height, depth } = header;
  const pixels = width * height;
  const srcChannels = png.channels;
  const expectedLength = depth < 8 ? Math.ceil((width * depth) / 8) * height : pixels * srcChannels;
  if (png.data.length !== expectedLength) {
    throw decodeError(name, `corrupt PNG: decoded ${png.data.length} samples, expected ${expectedLength}`);
  }
  const samples = depth < 8 ? unpackSamples(png.data as Uint8Array, width, height, depth) : png.data;

  if (header.colorType === INDEXED) {
    const palette = png.palette;
    if (palette === undefined || palette.length === 0) {
      throw decodeError(name, "corrupt PNG: indexed-colour image without a PLTE chunk");
    }
    const out = new Uint8Array(pixels * 3);
    for (let i = 0; i < pixels; i++) {
      const index = samples[i]!;
      const colour = palette[index];
      if (colour === undefined) {
        throw decodeError(name, `corrupt PNG: palette index ${index} but the palette has ${palette.length} colours`);
      }
      out[i * 3] = colour[0]!;
      out[i * 3 + 1] = colour[1]!;
      out[i * 3 + 2] = colour[2]!;
    }
    return { data: out, width, height, channels: 3 };
  }

  let outChannels: 1 | 3 | 4;
  switch (header.colorType) {
    case GREY:
    case GREY_ALPHA:
      outChannels = 1;
      break;
    case RGB:
      outChannels = 3;
      break;
    case RGBA:
      outChannels = 4;
      break;
    default:
      throw decodeError(name, `unsupported PNG colour type ${header.colorType}`);
  }
  // Grey samples below 8 bits span 0..2^depth-1; stretch them to 0..255 (1-bit 1 -> 255, 2-bit 1 -> 85).
  const lowDepthScale = depth < 8 ? 255 / ((1 << depth) - 1) : 1;
  if (depth === 8 && srcChannels === outChannels) {
    return { data: samples as Uint8Array, width, height, channels: outChannels };
  }
  const out = new Uint8Array(pixels * outChannels);
  for (let i = 0; i < pixels; i++) {
    for (let c = 0; c < outChannels; c++) {
      const v = samples[i * srcChannels + c]!;
      out[i * outChannels + c] = depth === 16 ? Math.round(v / 257) : Math.round(v * lowDepthScale);
    }
  }
  return { data: out, width, height, channels: outChannels };
}

/** Decodes a PNG whose signature has already been recognised. */
export function decodePng(bytes: Uint8Array, name: string | undefined): DecodedImage {
  const header = readHeader(bytes, name);
  let png: DecodedPng;
  try {
    // CRCs catch corrupted IDAT payloads that would otherwise inflate to wrong pixels.
    png = decodePngData(bytes, { checkCrc: true });
  } catch (thrown) {
    throw decodeError(name, `corrupt PNG: ${describeThrown(thrown)}`, thrown);
  }
  return toDecodedImage(png, header, name);
}
