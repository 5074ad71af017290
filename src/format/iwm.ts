/**
 * .iwm: a model as this package runs it — the graph after the optimization
 * passes and the weights packed for the kernels — so loading one is a JSON
 * parse and a copy into wasm memory, with no protobuf or weight manifest to
 * read and no optimization or packing to redo.
 *
 *   bytes 0-3    "IWM1"
 *   bytes 4-7    format version, uint32 little-endian (IWM_VERSION)
 *   bytes 8-11   header length H, uint32 little-endian
 *   bytes 12…    header: H bytes of UTF-8 JSON (src/format/header.ts)
 *   then zero bytes up to a multiple of 64, and the weight region
 *   (src/format/storage.ts), which ends the file.
 */
import { alignUp } from "../runtime/arena.js";
import { layoutWeights } from "../runtime/weights.js";
import type { Graph } from "../graph/ir.js";
import { compileKernels, KernelMemory } from "../runtime/engine.js";
import { packModel, type PackedModel } from "../runtime/session.js";
import type { IwmFile } from "./file.js";
import { decodeHeader, encodeHeader } from "./header.js";
import { decodeRegion, encodeRegion, regionBytes, segmentsOf, WEIGHT_STORAGES, type WeightStorage } from "./storage.js";

export const IWM_MAGIC = "IWM1";
/** Bumped by any change to the header or to how weights are packed or stored. */
export const IWM_VERSION = 6;
const PREFIX_BYTES = 12;
/** The weight region starts on a cache line, as it does in wasm memory. */
const REGION_ALIGN = 64;
const MAGIC_BYTES = new TextEncoder().encode(IWM_MAGIC);

/** Whether `bytes` start like an .iwm file. */
export function isIwm(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC_BYTES.length && MAGIC_BYTES.every((b, i) => bytes[i] === b);
}

export interface ConvertOptions {
  /** How the GEMM weights are stored: "f32" (default, exact), "f16" (half the size) or "int8" (a quarter). */
  weights?: WeightStorage;
  /** Tensors to keep observable besides the graph's blocks and embedding, which are always kept. */
  keep?: readonly string[];
}

/**
 * Optimizes an imported graph, packs its weights and returns the .iwm file.
 * Optimizing fuses tensors away, so what must stay readable (run outputs,
 * embed(), the blocks verify compares) is decided here, once. Packing runs
 * the kernel module (wasm/f32-packw; either build packs the same bits), in
 * wasm memory of its own, whose packed region is then copied into the file:
 * conversion holds the region twice for a moment, loading never does.
 */
export async function convertToIwm(imported: Graph, opts: ConvertOptions = {}): Promise<Uint8Array> {
  const weights = opts.weights ?? "f32";
  if (!WEIGHT_STORAGES.includes(weights)) throw new Error(`weights must be "f32", "f16" or "int8", got ${JSON.stringify(weights)}`);
  const { blocks = [], embedding } = imported.metadata;
  const keep = [...new Set([...blocks.map((b) => b.tensor), ...(embedding ? [embedding] : []), ...(opts.keep ?? [])])];
  const packed = packModel(imported, keep);
  const segments = segmentsOf(packed.graph, packed.shapes, packed.layout, packed.winograd);
  const stored = regionBytes(segments, packed.layout, weights);
  const header = new TextEncoder().encode(JSON.stringify(encodeHeader(packed, weights, keep, stored)));
  const regionAt = alignUp(PREFIX_BYTES + header.length, REGION_ALIGN);
  const file = new Uint8Array(regionAt + stored);
  file.set(MAGIC_BYTES);
  const view = new DataView(file.buffer);
  view.setUint32(4, IWM_VERSION, true);
  view.setUint32(8, header.length, true);
  file.set(header, PREFIX_BYTES);
  const target = new KernelMemory((await compileKernels("auto")).module, packed.layout.bytes);
  const base = target.allocate(packed.layout.bytes);
  await packed.writeWeights(target, base);
  if (weights === "f32") file.set(new Uint8Array(target.memory.buffer, base, packed.layout.bytes), regionAt);
  else encodeRegion(new Float32Array(target.memory.buffer, base, packed.layout.bytes / 4), segments, weights, file.subarray(regionAt));
  return file;
}

/** An .iwm file's model, ready for Session.createPacked; its weights are read when the session writes them. */
export interface IwmModel extends PackedModel {
  weights: WeightStorage;
  /** The tensors kept observable at conversion. */
  keep: string[];
}

/**
 * Reads and validates an .iwm file's prefix and header, and checks the file
 * holds exactly the weight region the header describes. Nothing is allocated
 * from a size the file does not back. Errors name the file and what is wrong.
 */
export async function readIwm(file: IwmFile): Promise<IwmModel> {
  const problem = (message: string) => new Error(`${file.name}: ${message}`);
  const prefix = new Uint8Array(Math.min(PREFIX_BYTES, file.size));
  await file.read(0, prefix);
  if (!MAGIC_BYTES.every((b, i) => i >= prefix.length || prefix[i] === b)) {
    throw problem(`not an .iwm file: it does not start with "${IWM_MAGIC}"`);
  }
  if (prefix.length < PREFIX_BYTES) throw problem(`truncated: ${file.size} bytes, fewer than the ${PREFIX_BYTES}-byte file prefix`);
  const view = new DataView(prefix.buffer);
  const version = view.getUint32(4, true);
  if (version !== IWM_VERSION) throw problem(`.iwm version ${version} is not supported: this build reads version ${IWM_VERSION}`);
  const headerBytes = view.getUint32(8, true);
  if (headerBytes > file.size - PREFIX_BYTES) {
    throw problem(`truncated: the header is ${headerBytes} bytes but only ${file.size - PREFIX_BYTES} follow the file prefix`);
  }
  const text = new Uint8Array(headerBytes);
  await file.read(PREFIX_BYTES, text);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(text));
  } catch (e) {
    throw problem(`the header is not UTF-8 JSON (${(e as Error).message})`);
  }
  let header: ReturnType<typeof decodeHeader>;
  try {
    header = decodeHeader(json);
  } catch (e) {
    throw problem((e as Error).message);
  }
  const { weights, layout, graph } = header;
  const segments = segmentsOf(graph, header.shapes, layout, header.winograd);
  const stored = regionBytes(segments, layout, weights);
  if (header.storedBytes !== stored) {
    throw problem(`header: storedBytes is ${header.storedBytes}, but the nodes' weights stored as ${weights} take ${stored} bytes`);
  }
  const regionAt = alignUp(PREFIX_BYTES + headerBytes, REGION_ALIGN);
  const present = Math.max(0, file.size - regionAt);
  if (present < stored) throw problem(`truncated: the weight region needs ${stored} bytes, the file holds ${present} after the header`);
  if (present > stored) throw problem(`${present - stored} bytes follow the weight region, which should end the file`);
  // Int8 weights stay int8 in memory where a kernel reads them so (a quarter of the float32 size).
  const resident = weights === "int8" ? layoutWeights(graph, header.winograd, header.shapes, "int8") : layout;
  return {
    graph: { ...graph, metadata: { ...graph.metadata, source: `${file.name} (from ${graph.metadata.source})` } },
    shapes: header.shapes,
    layout: resident,
    winograd: header.winograd,
    weights,
    keep: header.keep,
    writeWeights: (target, base) => weights === "f32"
      // The stored region is the packed region: one copy, no per-weight work.
      ? file.read(regionAt, new Uint8Array(target.memory.buffer, base, layout.bytes))
      : decodeRegion(file, regionAt, segmentsOf(graph, header.shapes, resident, header.winograd), weights, resident, target.memory.buffer, base),
  };
}
