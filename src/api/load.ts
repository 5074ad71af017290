import type { IwmFile } from "../format/file.js";
import { readIwm } from "../format/iwm.js";
import type { Graph, Normalization } from "../graph/ir.js";
import type { OnnxModel } from "../import/onnx/model.js";
import { importTfjsLayers, importTfjsLayersStreamed, type StreamedTfjsLayers, type TfjsLayersArtifacts } from "../import/tfjs-layers.js";
import type { Platform } from "../platform/types.js";
import type { KernelBuild } from "../runtime/engine.js";
import { Session, type SessionOptions } from "../runtime/session.js";
import { IMAGENET_LABELS } from "./imagenet-labels.js";
import { Model } from "./model.js";

export interface LoadOptions {
  /** Kernel threads (default: available cores, at most 4): the caller's thread, in slices, and threads - 1 workers. */
  threads?: number;
  /** Kernel build: "auto" (relaxed SIMD when the host supports it), "relaxed" or "plain". */
  build?: KernelBuild | "auto";
  /** Class labels in output order, overriding the model's own (and the ImageNet default for 1000 classes). */
  labels?: readonly string[];
  /** Pixel normalization, overriding the model's metadata: "tf" [-1,1], "unit" [0,1], "torch" ImageNet mean/std. */
  normalization?: Normalization;
  /** Central crop fraction before resizing (0.875 is the Inception eval crop); default: none. */
  crop?: number;
  /** Intermediate tensors to keep observable through optimization, readable with run({ outputs }). */
  keep?: readonly string[];
  /** A compiled kernel module, for hosts that cannot compile wasm from bytes (workerd); needs `moduleBuild`. */
  module?: WebAssembly.Module;
  moduleBuild?: KernelBuild;
  /**
   * Run the graph optimizations (identity removal, batchnorm folding, ReLU
   * fusion) at load; default true. false runs the imported graph node by node
   * (slower; for checking the passes). No effect on an .iwm file, optimized at conversion.
   */
  optimize?: boolean;
}

/** What a platform entry point resolves a user's source into. */
export type ResolvedSource =
  | { kind: "tfjs-layers"; artifacts: TfjsLayersArtifacts; source: string; labels?: string[]; normalization?: Normalization }
  /**
   * A tfjs layers model whose weights stay in their files until packed
   * (importTfjsLayersStreamed): only loading and converting take it, and
   * `close` releases the files once they are done.
   */
  | { kind: "tfjs-layers-streamed"; artifacts: StreamedTfjsLayers; close(): Promise<void>; source: string; labels?: string[]; normalization?: Normalization }
  | { kind: "onnx"; model: OnnxModel; source: string; labels?: string[]; normalization?: Normalization }
  /** An .iwm file (`inception-wasm convert`): already optimized and packed, read when loaded. */
  | { kind: "iwm"; file: IwmFile; source: string };

function checkOptions(opts: LoadOptions, platform: Platform): number {
  const max = Math.max(1, Math.min(4, platform.cores()));
  const threads = opts.threads ?? (platform.startWorker ? max : 1);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw new Error(`threads must be an integer from 1 to 64, got ${opts.threads}`);
  }
  if (opts.build !== undefined && !["auto", "relaxed", "plain"].includes(opts.build)) {
    throw new Error(`build must be "auto", "relaxed" or "plain", got ${JSON.stringify(opts.build)}`);
  }
  if (opts.normalization !== undefined && !["tf", "unit", "torch"].includes(opts.normalization)) {
    throw new Error(`normalization must be "tf", "unit" or "torch", got ${JSON.stringify(opts.normalization)}`);
  }
  if (opts.optimize !== undefined && typeof opts.optimize !== "boolean") {
    throw new Error(`optimize must be true or false, got ${JSON.stringify(opts.optimize)}`);
  }
  if (opts.crop !== undefined && !(opts.crop > 0 && opts.crop <= 1)) {
    throw new Error(`crop must be a fraction in (0, 1], got ${opts.crop}`);
  }
  return threads;
}

/**
 * Imports a resolved source into the graph IR (no wasm involved). The ONNX
 * importer is imported on first use: loading other models skips its code.
 */
export async function importGraph(resolved: ResolvedSource): Promise<Graph> {
  if (resolved.kind === "iwm") {
    throw new Error(`${resolved.source} is an .iwm file: its graph is already optimized and its weights packed, so it loads with loadModel but cannot be imported or converted again`);
  }
  const opts = { source: resolved.source, labels: resolved.labels, normalization: resolved.normalization };
  if (resolved.kind === "tfjs-layers") return importTfjsLayers(resolved.artifacts, opts);
  if (resolved.kind === "tfjs-layers-streamed") return importTfjsLayersStreamed(resolved.artifacts, opts);
  const { importOnnx } = await import("../import/onnx/import.js");
  return importOnnx(resolved.model, opts);
}

/** Builds a Model from an already resolved source; platform entry points call this. */
export async function loadResolved(resolved: ResolvedSource, opts: LoadOptions, platform: Platform): Promise<Model> {
  if (resolved.kind === "iwm") return loadIwm(resolved.file, opts, platform);
  try {
    return await loadGraph(await importGraph(resolved), opts, platform);
  } finally {
    if (resolved.kind === "tfjs-layers-streamed") await resolved.close();
  }
}

/** Builds a Model from an imported graph (not modified, so one graph can back several models). */
export async function loadGraph(graph: Graph, opts: LoadOptions, platform: Platform): Promise<Model> {
  return makeModel(graph, opts, platform, (sessionOpts) => Session.create(graph, sessionOpts));
}

/** Builds a Model from an .iwm file: its optimized graph, with the weights read straight into wasm memory. */
async function loadIwm(file: IwmFile, opts: LoadOptions, platform: Platform): Promise<Model> {
  try {
    const iwm = await readIwm(file);
    const names = new Set(iwm.graph.nodes.map((n) => n.name));
    for (const name of opts.keep ?? []) {
      if (!names.has(name)) {
        throw new Error(`keep: ${file.name} has no tensor named ${JSON.stringify(name)}: optimization fused it away at conversion (kept there: ${iwm.keep.join(", ") || "none"}); convert the model again with --keep ${name}`);
      }
    }
    return await makeModel(iwm.graph, opts, platform, (sessionOpts) => Session.createPacked(iwm, sessionOpts));
  } finally {
    await file.close();
  }
}

/**
 * What every source shares: options, labels and normalization from the
 * graph's metadata (checked before any weight is read), then the session.
 */
async function makeModel(
  graph: Graph, opts: LoadOptions, platform: Platform, createSession: (opts: SessionOptions) => Promise<Session>,
): Promise<Model> {
  const threads = checkOptions(opts, platform);
  const outputs = graph.outputs;
  const classes = outputs.length === 1 ? graph.nodes.find((n) => n.name === outputs[0])! : undefined;
  const labels = opts.labels ?? graph.metadata.labels ?? (classes && classCount(graph) === 1000 ? IMAGENET_LABELS : undefined);
  if (labels && classes && labels.length !== classCount(graph)) {
    throw new Error(`${labels.length} labels given for a model with ${classCount(graph)} classes`);
  }
  const normalization = opts.normalization ?? graph.metadata.normalization;
  if (!normalization) {
    throw new Error(`${graph.metadata.source} does not say how its input is normalized; pass normalization: "tf" | "unit" | "torch"`);
  }
  const keep = [...(graph.metadata.embedding ? [graph.metadata.embedding] : []), ...(opts.keep ?? [])];
  const session = await createSession({
    threads, build: opts.build ?? "auto", platform, keep, module: opts.module, moduleBuild: opts.moduleBuild,
    optimize: opts.optimize ?? true,
  });
  return new Model({ session, labels, normalization, crop: opts.crop, source: graph.metadata.source });
}

/** Number of classes of a single-output model whose output is a flat vector. */
function classCount(graph: Graph): number {
  const out = graph.outputs[0]!;
  const node = graph.nodes.find((n) => n.name === out)!;
  const activation = node.op === "softmax" || node.op === "logsoftmax" || node.op === "sigmoid";
  const dense = activation ? graph.nodes.find((n) => n.name === node.inputs[0]) : node;
  return dense?.op === "dense" ? dense.kernelShape[1] : -1;
}
