/**
 * The tfjs weights manifest: where each named tensor lives in the
 * concatenated shard bytes, and how to decode it into float32.
 */

import type { DeferredWeights, StreamedWeights, Uint8QuantizedWeights } from "../graph/ir.js";
import { halfToFloat } from "./float16.js";

/** Storage quantization of one manifest tensor (tfjs `quantize_*` converter options). */
export interface WeightQuantization {
  /** Stored dtype: "uint8" | "uint16" (affine, value = min + q * scale) or "float16". */
  dtype: string;
  min?: number;
  scale?: number;
  /** Dtype before quantization; we decode everything to float32 regardless. */
  original_dtype?: string;
}

/** One tensor entry of a tfjs weights manifest. */
export interface WeightSpec {
  name: string;
  shape: number[];
  /** Logical dtype; unquantized tensors must be "float32" or "int32". */
  dtype: string;
  quantization?: WeightQuantization;
  group?: string;
}

/** One shard group of a tfjs weights manifest. */
export interface WeightsGroup {
  paths: string[];
  weights: WeightSpec[];
}

/**
 * A weight tensor of the manifest, decoded into a new float32 array on each
 * `decode()`. It reads the weight bytes given to the store, so it is valid
 * while they are unchanged: an import holds it only until packing.
 */
export interface Weight extends DeferredWeights {
  name: string;
  shape: number[];
}

/** How the elements of one tensor are stored. */
type Storage =
  | { dtype: "float32" | "int32" | "float16" }
  | { dtype: "uint8" | "uint16"; min: number; scale: number };

interface Entry {
  name: string;
  shape: number[];
  storage: Storage;
  /** Where the tensor's bytes start: in the file for a streamed entry, else in the store's bytes. */
  offset: number;
  count: number;
  /** Read from the file when packed, not held by the store. */
  streamed: boolean;
}

/**
 * Weight bytes read on demand (shard files on disk): `read` fills `into`
 * with the bytes from `offset` on of all groups' shards concatenated in
 * manifest order, `size` bytes in all.
 */
export interface WeightSource {
  readonly name: string;
  readonly size: number;
  read(offset: number, into: Uint8Array): Promise<void>;
}

/** Held tensors less than this far apart in a source are read in one read, gap included. */
const READ_GAP = 4096;

const BYTES: Record<Storage["dtype"], number> = { float32: 4, int32: 4, float16: 2, uint8: 1, uint16: 2 };

function byteLength(e: Entry): number {
  return e.count * BYTES[e.storage.dtype];
}

/** IEEE 754 binary16 → number. */
function isDims(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => Number.isInteger(d) && d >= 0);
}

/** Manifest names may carry a TF variable suffix (`conv2d_1/kernel:0`). */
function canonicalName(name: string): string {
  return name.replace(/:\d+$/, "");
}

/** Last two `/`-separated components: `model/conv2d_1/kernel` → `conv2d_1/kernel`. */
function layerWeightKey(name: string): string {
  return name.split("/").slice(-2).join("/");
}

/** Validates one manifest entry and says how its elements are stored. */
function storageOf(spec: WeightSpec, source: string): Storage {
  if (typeof spec !== "object" || spec === null || typeof spec.name !== "string" || !isDims(spec.shape)) {
    throw new Error(`${source}: malformed weights manifest entry ${JSON.stringify(spec)}`);
  }
  const q = spec.quantization;
  if (!q) {
    if (spec.dtype === "float32" || spec.dtype === "int32") return { dtype: spec.dtype };
    throw new Error(
      `${source}: weight ${spec.name} has unsupported dtype ${JSON.stringify(spec.dtype)} (supported: float32, int32)`,
    );
  }
  if (q.dtype === "float16") return { dtype: "float16" };
  if (q.dtype === "uint8" || q.dtype === "uint16") {
    if (typeof q.min !== "number" || typeof q.scale !== "number") {
      throw new Error(`${source}: weight ${spec.name} is ${q.dtype}-quantized but lacks numeric min and scale`);
    }
    return { dtype: q.dtype, min: q.min, scale: q.scale };
  }
  throw new Error(
    `${source}: weight ${spec.name} has unsupported quantization dtype ${JSON.stringify(q.dtype)} ` +
      `(supported: uint8, uint16, float16)`,
  );
}

/**
 * The manifest's tensors and where each starts in `size` bytes of weight
 * data, checked: a bad manifest or a truncated shard fails here, before any
 * conversion work.
 */
function entriesOf(manifest: readonly WeightsGroup[], size: number, source: string): Entry[] {
  // The manifest comes from parsed JSON, so check its structure before trusting the types.
  const groups: unknown = manifest;
  if (!Array.isArray(groups) || !groups.every((g) => Array.isArray(g?.weights))) {
    throw new Error(`${source}: weightsManifest must be an array of groups, each with a weights array`);
  }
  const entries: Entry[] = [];
  let offset = 0;
  for (const group of manifest) {
    for (const spec of group.weights) {
      const storage = storageOf(spec, source);
      const count = spec.shape.reduce((a, b) => a * b, 1);
      const bytes = count * BYTES[storage.dtype];
      if (offset + bytes > size) {
        throw new Error(
          `${source}: weight data too short at tensor ${spec.name}: it needs bytes ${offset}..${offset + bytes} ` +
            `(${bytes} bytes) but only ${Math.max(size - offset, 0)} of them are available ` +
            `(${size} bytes of weight data in total)`,
        );
      }
      entries.push({ name: spec.name, shape: spec.shape, storage, offset, count, streamed: false });
      offset += bytes;
    }
  }
  return entries;
}

/**
 * Indexes the manifest against the weight bytes. Dtypes and lengths are
 * checked up front so a bad manifest or truncated shard fails before any
 * conversion work; tensors are decoded only when asked for.
 */
export class WeightStore {
  private readonly view: DataView;
  private readonly byKey = new Map<string, Entry[]>();

  private constructor(entries: Entry[], data: Uint8Array, private readonly source: string, private readonly file: WeightSource | null) {
    // The bytes may be any subarray at any alignment; DataView reads them in
    // place (little-endian, as tfjs writes them) without copying.
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (const entry of entries) {
      const key = layerWeightKey(canonicalName(entry.name));
      const list = this.byKey.get(key) ?? [];
      list.push(entry);
      this.byKey.set(key, list);
    }
  }

  /** A store over all of the weight bytes, in memory (never mutated; read until the model is packed). */
  static fromBytes(manifest: readonly WeightsGroup[], data: Uint8Array, source: string): WeightStore {
    return new WeightStore(entriesOf(manifest, data.byteLength, source), data, source, null);
  }

  /**
   * A store over weight bytes in a file. The kernels packing reads as stored
   * (uint8 codes, float32 values) stay there and are read straight into wasm
   * memory when packed; the rest (biases, batchnorm vectors), which the
   * import decodes, is read now. `streamable` says which weights (`kernel`
   * of `layer/kernel`) the importer reads only through packing.
   */
  static async open(manifest: readonly WeightsGroup[], file: WeightSource, source: string, streamable: (weight: string) => boolean): Promise<WeightStore> {
    const entries = entriesOf(manifest, file.size, source);
    for (const e of entries) {
      e.streamed = (e.storage.dtype === "uint8" || e.storage.dtype === "float32") && streamable(canonicalName(e.name).split("/").at(-1)!);
    }
    const held = entries.filter((e) => !e.streamed);
    const bytes = new Uint8Array(held.reduce((n, e) => n + byteLength(e), 0));
    // Held tensors one after another in `bytes`; runs of them close together in the file are read at once.
    let filled = 0;
    for (let i = 0; i < held.length;) {
      let j = i + 1;
      while (j < held.length && held[j]!.offset - (held[j - 1]!.offset + byteLength(held[j - 1]!)) < READ_GAP) j++;
      const from = held[i]!.offset;
      const run = new Uint8Array(held[j - 1]!.offset + byteLength(held[j - 1]!) - from);
      await file.read(from, run);
      for (const e of held.slice(i, j)) {
        bytes.set(run.subarray(e.offset - from, e.offset - from + byteLength(e)), filled);
        e.offset = filled;
        filled += byteLength(e);
      }
      i = j;
    }
    return new WeightStore(entries, bytes, source, file);
  }

  /**
   * The weight `weight` of layer `layer`, matched by name: exactly
   * `layer/weight`, or with any prefix (`model/layer/weight`) when unambiguous.
   */
  get(layer: string, weight: string): Weight | undefined {
    const wanted = `${layer}/${weight}`;
    const candidates = this.byKey.get(wanted) ?? [];
    const exact = candidates.filter((e) => canonicalName(e.name) === wanted);
    const matches = exact.length > 0 ? exact : candidates;
    if (matches.length === 0) return undefined;
    if (matches.length > 1) {
      throw new Error(
        `${this.source}: layer ${layer}: weight ${weight} is ambiguous, the manifest has ${matches.map((e) => e.name).join(", ")}`,
      );
    }
    const entry = matches[0]!;
    const { storage, offset, count } = entry;
    const found = { name: entry.name, shape: [...entry.shape], length: count };
    if (entry.streamed) {
      const file = this.file!;
      const unavailable = (): never => {
        throw new Error(`${this.source}: weight ${entry.name} is read from ${file.name} only when the model is packed`);
      };
      if (storage.dtype === "uint8") {
        const quantized: Weight & Uint8QuantizedWeights = {
          ...found, decode: unavailable, min: storage.min, step: storage.scale,
          readCodes: (into) => file.read(offset, into.subarray(0, count)),
        };
        return quantized;
      }
      // The file's little-endian floats as they are: packing reads them into wasm memory, which is little-endian too.
      const streamed: Weight & StreamedWeights = {
        ...found, decode: unavailable,
        readValues: (into) => file.read(offset, new Uint8Array(into.buffer, into.byteOffset, count * 4)),
      };
      return streamed;
    }
    const held = { ...found, decode: (into?: Float32Array) => this.decode(entry, into) };
    if (storage.dtype !== "uint8") return held;
    // Packing dequantizes the codes in wasm (see Uint8QuantizedWeights).
    const codes = new Uint8Array(this.view.buffer, this.view.byteOffset + offset, count);
    const quantized: Weight & Uint8QuantizedWeights = { ...held, readCodes: (into) => into.set(codes), min: storage.min, step: storage.scale };
    return quantized;
  }

  private decode({ storage, offset, count }: Entry, into?: Float32Array): Float32Array {
    const view = this.view;
    const out = into ? into.subarray(0, count) : new Float32Array(count);
    switch (storage.dtype) {
      case "float32":
        for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, true);
        break;
      case "int32":
        for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, true);
        break;
      case "float16":
        for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(offset + 2 * i, true));
        break;
      case "uint8": {
        const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, count);
        const { min, scale } = storage;
        for (let i = 0; i < count; i++) out[i] = min + bytes[i]! * scale;
        break;
      }
      case "uint16":
        for (let i = 0; i < count; i++) out[i] = storage.min + view.getUint16(offset + 2 * i, true) * storage.scale;
        break;
    }
    return out;
  }
}
