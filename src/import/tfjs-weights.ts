/**
 * The tfjs weights manifest: where each named tensor lives in the
 * concatenated shard bytes, and how to decode it into float32.
 */

import type { DeferredWeights, Uint8QuantizedWeights } from "../graph/ir.js";
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
  offset: number;
  count: number;
}

const BYTES: Record<Storage["dtype"], number> = { float32: 4, int32: 4, float16: 2, uint8: 1, uint16: 2 };

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

/**
 * Indexes the manifest against the weight bytes. Dtypes and lengths are
 * checked up front so a bad manifest or truncated shard fails before any
 * conversion work; tensors are decoded only when asked for.
 */
export class WeightStore {
  private readonly view: DataView;
  private readonly byKey = new Map<string, Entry[]>();

  constructor(
    manifest: readonly WeightsGroup[],
    data: Uint8Array,
    private readonly source: string,
  ) {
    // The caller's bytes may be any subarray at any alignment; DataView reads
    // them in place (little-endian, as tfjs writes them) without copying.
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    // The manifest comes from parsed JSON, so check its structure before trusting the types.
    const groups: unknown = manifest;
    if (!Array.isArray(groups) || !groups.every((g) => Array.isArray(g?.weights))) {
      throw new Error(`${source}: weightsManifest must be an array of groups, each with a weights array`);
    }
    let offset = 0;
    for (const group of manifest) {
      for (const spec of group.weights) {
        const storage = this.storage(spec);
        const count = spec.shape.reduce((a, b) => a * b, 1);
        const byteLength = count * BYTES[storage.dtype];
        if (offset + byteLength > data.byteLength) {
          throw new Error(
            `${source}: weight data too short at tensor ${spec.name}: it needs bytes ${offset}..${offset + byteLength} ` +
              `(${byteLength} bytes) but only ${Math.max(data.byteLength - offset, 0)} of them are available ` +
              `(${data.byteLength} bytes of weight data in total)`,
          );
        }
        const key = layerWeightKey(canonicalName(spec.name));
        const entries = this.byKey.get(key) ?? [];
        entries.push({ name: spec.name, shape: spec.shape, storage, offset, count });
        this.byKey.set(key, entries);
        offset += byteLength;
      }
    }
  }

  /** Validates one manifest entry and says how its elements are stored. */
  private storage(spec: WeightSpec): Storage {
    if (typeof spec !== "object" || spec === null || typeof spec.name !== "string" || !isDims(spec.shape)) {
      throw new Error(`${this.source}: malformed weights manifest entry ${JSON.stringify(spec)}`);
    }
    const q = spec.quantization;
    if (!q) {
      if (spec.dtype === "float32" || spec.dtype === "int32") return { dtype: spec.dtype };
      throw new Error(
        `${this.source}: weight ${spec.name} has unsupported dtype ${JSON.stringify(spec.dtype)} (supported: float32, int32)`,
      );
    }
    if (q.dtype === "float16") return { dtype: "float16" };
    if (q.dtype === "uint8" || q.dtype === "uint16") {
      if (typeof q.min !== "number" || typeof q.scale !== "number") {
        throw new Error(`${this.source}: weight ${spec.name} is ${q.dtype}-quantized but lacks numeric min and scale`);
      }
      return { dtype: q.dtype, min: q.min, scale: q.scale };
    }
    throw new Error(
      `${this.source}: weight ${spec.name} has unsupported quantization dtype ${JSON.stringify(q.dtype)} ` +
        `(supported: uint8, uint16, float16)`,
    );
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
    const found = { name: entry.name, shape: [...entry.shape], length: entry.count, decode: (into?: Float32Array) => this.decode(entry, into) };
    const { storage } = entry;
    if (storage.dtype !== "uint8") return found;
    // Packing dequantizes the codes in wasm (see Uint8QuantizedWeights).
    const codes = new Uint8Array(this.view.buffer, this.view.byteOffset + entry.offset, entry.count);
    const quantized: Weight & Uint8QuantizedWeights = { ...found, codes, min: storage.min, step: storage.scale };
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
