/**
 * How an .iwm file stores the packed weight region (src/runtime/weights.ts).
 *
 * "f32": the region byte for byte, so loading is one copy into wasm memory.
 * "f16" and "int8" shrink the GEMM weights only (biases, the scale/shift
 * of unfolded batchnorms and 2-D Winograd kernels stay float32: see
 * keptFloat32 in src/runtime/weights.ts). The region is then
 * stored as its segments in order, each starting at a multiple of 4 bytes:
 *  - a float32 segment: its floats, little-endian;
 *  - f16 GEMM weights: one binary16 per packed float, in packed order;
 *  - int8 GEMM weights: one float32 scale per column of each packed matrix
 *    (per output channel, and per transformed matrix for 1-D Winograd), then
 *    one int8 per packed float, in packed order; the weight is q * scale.
 * Padding between segments in the region is not stored: it is zero.
 */
import type { Graph } from "../graph/ir.js";
import type { WeightLayout, WinogradChoice } from "../runtime/weights.js";
import { gemmPacking, keptFloat32 } from "../runtime/weights.js";
import { floatToHalf, halfTable } from "./half.js";
import type { IwmFile } from "./file.js";

export type WeightStorage = "f32" | "f16" | "int8";
export const WEIGHT_STORAGES: readonly WeightStorage[] = ["f32", "f16", "int8"];

/** A run of floats in the packed region. */
export interface Segment {
  /** The node whose constants these are, for messages. */
  node: string;
  /** Byte offset in the packed region. */
  at: number;
  floats: number;
  /**
   * GEMM weights: rows of each packed panel (a panel is `rows` x 8 floats, its
   * 8 columns being 8 output channels); null for constants always kept float32.
   */
  rows: number | null;
  /** Int8 GEMM weights that stay int8 in memory (an int8 layout): `at` is where their stored bytes go as they are. */
  resident: boolean;
}

/** The region's segments in region order. Only what the node records say: no constant arrays are read. */
export function segmentsOf(graph: Graph, shapes: Map<string, number[]>, layout: WeightLayout, winograd: WinogradChoice): Segment[] {
  const segments: Segment[] = [];
  for (const node of graph.nodes) {
    const entry = layout.entries.get(node.name);
    if (!entry) continue;
    if (node.op === "conv2d" || node.op === "dense") {
      const { matrices, rows, panels, biasFloats } = gemmPacking(node, winograd);
      const resident = entry.scales !== undefined;
      segments.push({ node: node.name, at: entry.scales ?? entry.weights, floats: matrices * panels * rows * 8, rows: keptFloat32(node, winograd) ? null : rows, resident });
      segments.push({ node: node.name, at: entry.bias, floats: biasFloats, rows: null, resident: false });
    } else if (node.op === "batchnorm") {
      const padded = Math.ceil(shapes.get(node.name)!.at(-1)! / 4) * 4;
      segments.push({ node: node.name, at: entry.weights, floats: padded, rows: null, resident: false });
      segments.push({ node: node.name, at: entry.bias, floats: padded, rows: null, resident: false });
    }
  }
  return segments;
}

/** Bytes a segment takes in the file, padding to the next multiple of 4 included. */
export function storedBytes(segment: Segment, storage: WeightStorage): number {
  if (segment.rows === null || storage === "f32") return segment.floats * 4;
  if (storage === "f16") return align4(segment.floats * 2);
  return (segment.floats / segment.rows) * 4 + align4(segment.floats);
}

/** Bytes of the whole stored region. */
export function regionBytes(segments: readonly Segment[], layout: WeightLayout, storage: WeightStorage): number {
  return storage === "f32" ? layout.bytes : segments.reduce((sum, s) => sum + storedBytes(s, storage), 0);
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

/**
 * Encodes the packed region `packed` (float32) into `out` as `storage`
 * ("f16" or "int8"). Throws naming the node when a weight cannot be stored:
 * beyond float16 range, or not finite for int8.
 */
export function encodeRegion(packed: Float32Array, segments: readonly Segment[], storage: "f16" | "int8", out: Uint8Array): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let o = 0;
  for (const s of segments) {
    const values = packed.subarray(s.at / 4, s.at / 4 + s.floats);
    if (s.rows === null) {
      for (let i = 0; i < values.length; i++) view.setFloat32(o + 4 * i, values[i]!, true);
    } else if (storage === "f16") {
      for (let i = 0; i < values.length; i++) {
        const h = floatToHalf(values[i]!);
        if ((h & 0x7c00) === 0x7c00 && Number.isFinite(values[i]!)) {
          throw new Error(`node ${s.node}: weight ${values[i]} is beyond the float16 range (±65504); store f32 or int8 weights`);
        }
        view.setUint16(o + 2 * i, h, true);
      }
    } else {
      encodeInt8(values, s, view, o);
    }
    o += storedBytes(s, storage);
  }
}

/** Symmetric per-column quantization: scale = max |w| / 127 over the column, q = round(w / scale). */
function encodeInt8(values: Float32Array, s: Segment, view: DataView, at: number): void {
  const rows = s.rows!;
  const groups = values.length / (rows * 8);
  const q = new Int8Array(view.buffer, view.byteOffset + at + groups * 8 * 4, values.length);
  for (let g = 0; g < groups; g++) {
    const panel = values.subarray(g * rows * 8, (g + 1) * rows * 8);
    for (let j = 0; j < 8; j++) {
      let max = 0;
      for (let k = 0; k < rows; k++) max = Math.max(max, Math.abs(panel[k * 8 + j]!));
      if (!Number.isFinite(max)) throw new Error(`node ${s.node}: weights that are not finite numbers cannot be stored as int8`);
      // The float32 scale is what the loader multiplies by, so quantize against it.
      const scale = Math.fround(max / 127);
      view.setFloat32(at + (g * 8 + j) * 4, scale, true);
      if (scale === 0) continue; // q stays 0: the output buffer is zero-filled.
      for (let k = 0; k < rows; k++) {
        q[g * rows * 8 + k * 8 + j] = Math.max(-127, Math.min(127, Math.round(panel[k * 8 + j]! / scale)));
      }
    }
  }
}

/**
 * Decodes a stored region from `file` (starting at byte `offset`) into the
 * packed region at byte `base` of `memory`, segment by segment through one
 * scratch buffer the size of the largest stored segment decoded. Float32 and
 * resident int8 segments are read straight into place (int8 scales checked there).
 */
export async function decodeRegion(
  file: IwmFile, offset: number, segments: readonly Segment[], storage: "f16" | "int8",
  layout: WeightLayout, memory: ArrayBufferLike, base: number,
): Promise<void> {
  const region = new Uint8Array(memory, base, layout.bytes);
  // Float32 and resident int8 segments are stored as they sit in the region: read in place.
  const inPlace = (s: Segment) => s.resident || s.rows === null;
  const scratch = new Uint8Array(segments.reduce((max, s) => (inPlace(s) ? max : Math.max(max, storedBytes(s, storage))), 0));
  let o = offset;
  // Segments come in region order (the layout was checked against layoutWeights'), so
  // what lies between them is padding, which is not stored and must read as zero.
  let end = 0;
  for (const s of segments) {
    region.fill(0, end, s.at);
    const size = storedBytes(s, storage);
    if (inPlace(s)) {
      end = s.at + size;
      await file.read(o, region.subarray(s.at, end));
      o += size;
      if (s.resident) checkScales(new DataView(memory, base + s.at, size), s.floats / s.rows!, s, file.name);
      continue;
    }
    end = s.at + s.floats * 4;
    const src = scratch.subarray(0, size);
    await file.read(o, src);
    o += size;
    const dst = new Float32Array(memory, base + s.at, s.floats);
    if (storage === "f16") decodeHalf(src, dst);
    else decodeInt8(src, dst, s, file.name);
  }
  region.fill(0, end);
}

function decodeHalf(src: Uint8Array, dst: Float32Array): void {
  const half = halfTable();
  // The scratch buffer starts at offset 0, so it can be read as uint16 in host order, which is
  // little-endian like the file: the runtime's own Float32Array writes into wasm memory rely on that too.
  const bits = new Uint16Array(src.buffer, src.byteOffset, dst.length);
  for (let i = 0; i < dst.length; i++) dst[i] = half[bits[i]!]!;
}

/** The `columns` int8 scales at the start of `view`, each checked to be a finite number ≥ 0. */
function checkScales(view: DataView, columns: number, s: Segment, file: string): Float32Array {
  const scales = new Float32Array(columns);
  for (let c = 0; c < columns; c++) {
    const scale = view.getFloat32(c * 4, true);
    if (!(scale >= 0 && scale < Infinity)) throw new Error(`${file}: int8 scale ${scale} of node ${s.node} is not a finite number ≥ 0`);
    scales[c] = scale;
  }
  return scales;
}

function decodeInt8(src: Uint8Array, dst: Float32Array, s: Segment, file: string): void {
  const rows = s.rows!;
  const columns = dst.length / rows;
  const scales = checkScales(new DataView(src.buffer, src.byteOffset, src.byteLength), columns, s, file);
  const q = new Int8Array(src.buffer, src.byteOffset + columns * 4, dst.length);
  for (let g = 0, i = 0; g < columns / 8; g++) {
    const c = g * 8;
    for (let k = 0; k < rows; k++, i += 8) {
      for (let j = 0; j < 8; j++) dst[i + j] = q[i + j]! * scales[c + j]!;
    }
  }
}
