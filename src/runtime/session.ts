import type { Graph } from "../graph/ir.js";
import { inferShapes } from "../graph/shapes.js";
import { optimize } from "../passes/index.js";
import type { Platform } from "../platform/types.js";
import { compileKernels, Engine, type KernelBuild, type KernelMemory } from "./engine.js";
import { makePlan, type BoundTensor, type Plan } from "./plan.js";
import { layoutWeights, packWeights, winogradChoice, type WeightLayout, type WinogradChoice } from "./weights.js";

export interface SessionOptions {
  threads: number;
  build: KernelBuild | "auto";
  platform: Platform;
  /** Tensors that must stay observable through the optimization passes (read later with `outputs`). */
  keep: readonly string[];
  /** A precompiled kernel module (hosts that cannot compile wasm from bytes, e.g. workerd). */
  module?: WebAssembly.Module;
  /** Which build `module` is; required with `module`. */
  moduleBuild?: KernelBuild;
  /** Run the optimization passes (default true); false plans the imported graph as is. */
  optimize?: boolean;
}

export interface TensorData {
  data: Float32Array;
  /** [batch, ...per-sample shape]. */
  dims: number[];
}

/**
 * An optimized graph with its weights laid out for the kernels: what a session
 * puts in wasm memory, and what an .iwm file stores.
 */
export interface PackedModel {
  /** The optimized graph; its constant arrays are never read (they are empty once packed). */
  graph: Graph;
  shapes: Map<string, number[]>;
  layout: WeightLayout;
  winograd: WinogradChoice;
  /**
   * Writes the packed weight region (`layout.bytes` bytes) into `target`'s
   * memory from byte `base` on. It may allocate staging memory from `target`
   * meanwhile; it releases it before returning, so what is allocated next
   * (the first plan) reuses those pages.
   */
  writeWeights(target: KernelMemory, base: number): void | Promise<void>;
}

/**
 * Optimizes an imported graph (unless `optimize` is false: the planner runs
 * unfused batchnorm and relu nodes as affine steps and aliases identities),
 * keeping the `keep` tensors observable, and lays out its weights. The returned graph holds no weights: `writeWeights` packs
 * them from the optimized graph it closes over, so one copy lives only as long
 * as the PackedModel does.
 */
export function packModel(imported: Graph, keep: readonly string[], optimizeGraph = true): PackedModel & { writeWeights(target: KernelMemory, base: number): Promise<void> } {
  for (const name of keep) {
    if (!imported.nodes.some((n) => n.name === name)) throw new Error(`keep: the model has no tensor named ${JSON.stringify(name)}`);
  }
  const graph = optimizeGraph ? optimize(imported, keep) : imported;
  const shapes = inferShapes(graph);
  const winograd = winogradChoice(shapes);
  const layout = layoutWeights(graph, winograd);
  return {
    graph: withoutWeights(graph), shapes, layout, winograd,
    writeWeights: (target, base) => packWeights(graph, layout, winograd, target, base),
  };
}

/**
 * A graph made runnable: optimized once, weights packed once into wasm
 * memory, plans made once per (batch size, output set) and reused. Runs are
 * serialized: one plan's arena is reused by every run.
 */
export class Session {
  readonly graph: Graph;
  readonly shapes: Map<string, number[]>;
  readonly engine: Engine;
  private readonly weightsBase: number;
  private readonly weights: WeightLayout;
  private readonly plans = new Map<string, Plan>();
  /** Where plans start in wasm memory (right after the weights), and the largest plan made so far. */
  private planZone = 0;
  private largestPlan = 0;
  private readonly keep: readonly string[];
  /** Graph outputs read out in their source's element order (GraphMetadata.outputOrder). */
  private readonly outputOrder: Map<string, readonly number[]>;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(graph: Graph, shapes: Map<string, number[]>, engine: Engine, weights: WeightLayout, weightsBase: number, keep: readonly string[]) {
    this.graph = graph;
    this.keep = keep;
    // Own properties only: an output named like an Object.prototype member has no order unless given one.
    this.outputOrder = new Map(Object.entries(graph.metadata.outputOrder ?? {}));
    this.shapes = shapes;
    this.engine = engine;
    this.weights = weights;
    this.weightsBase = weightsBase;
  }

  static async create(imported: Graph, opts: SessionOptions): Promise<Session> {
    return Session.createPacked(packModel(imported, opts.keep, opts.optimize ?? true), opts);
  }

  /**
   * A session on an already optimized graph whose weights come packed (an
   * .iwm file): no optimization, layout or packing. `opts.keep` names tensors
   * of the optimized graph.
   */
  static async createPacked(packed: PackedModel, opts: SessionOptions): Promise<Session> {
    const { graph, shapes, layout: weights } = packed;
    const threads = opts.threads;
    const firstPlan = makePlan(graph, shapes, weights, { batch: 1, threads, outputs: opts.keep });
    let module = opts.module;
    let build = opts.moduleBuild;
    if (!module) ({ module, build } = await compileKernels(opts.build));
    else if (!build) throw new Error("options.module needs options.moduleBuild (\"relaxed\" or \"plain\")");
    const engine = Engine.create({
      module, build: build!, threads, platform: opts.platform,
      initialBytes: weights.bytes + firstPlan.bytes + 4096,
    });
    const weightsBase = engine.allocate(weights.bytes);
    try {
      // The workers start meanwhile.
      await packed.writeWeights(engine, weightsBase);
      await engine.ready();
    } catch (e) {
      // Reading a file can fail halfway: the workers must not outlive the failed load.
      engine.dispose();
      throw e;
    }
    // The session keeps the graph's structure only: the weights now live in wasm memory.
    const session = new Session(graph, shapes, engine, weights, weightsBase, opts.keep);
    session.planZone = engine.bytesUsed;
    session.plans.set(planKey(1, opts.keep), session.place(firstPlan));
    return session;
  }

  /**
   * Places a plan after the weights. Plans for other batch sizes or output
   * sets stay cached while they fit in twice the largest plan; past that the
   * cache is dropped and its memory reused, so wasm memory stays bounded
   * however many batch sizes a caller cycles through. Runs are serialized, so
   * no run holds a dropped plan.
   */
  private place(layout: ReturnType<typeof makePlan>): Plan {
    this.largestPlan = Math.max(this.largestPlan, layout.bytes);
    if (this.engine.bytesUsed - this.planZone + layout.bytes > 2 * this.largestPlan) {
      this.plans.clear();
      this.engine.release(this.planZone);
    }
    const base = this.engine.allocate(layout.bytes);
    return layout.materialize(this.engine.memory.buffer, base, this.weightsBase);
  }

  /**
   * The plan for `batch` that can read `outputs` (made on first use). A plan
   * stays valid until another plan is made: making one may drop the others.
   */
  plan(batch: number, outputs: readonly string[]): Plan {
    const key = planKey(batch, outputs);
    let plan = this.plans.get(key);
    if (!plan) {
      plan = this.place(makePlan(this.graph, this.shapes, this.weights, { batch, threads: this.engine.threads, outputs }));
      this.plans.set(key, plan);
    }
    return plan;
  }

  /**
   * Runs the graph on `inputs` (each [batch, ...shape], NHWC, contiguous) and
   * returns copies of `outputs` (graph outputs by default).
   */
  run(inputs: Map<string, Float32Array>, batch: number, outputs?: readonly string[]): Promise<Map<string, TensorData>> {
    const result = this.queue.then(() => this.runNow(inputs, batch, outputs ?? this.graph.outputs));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async runNow(inputs: Map<string, Float32Array>, batch: number, names: readonly string[]): Promise<Map<string, TensorData>> {
    // Kept tensors are always in the plan, so the plan made at load serves every default run.
    const extra = [...new Set([...this.keep, ...names.filter((n) => !this.graph.outputs.includes(n))])];
    const plan = this.plan(batch, extra);
    for (const bound of plan.inputs) {
      const data = inputs.get(bound.name)!;
      new Float32Array(this.engine.memory.buffer, bound.address, data.length).set(data);
    }
    await this.engine.run(plan);
    const out = new Map<string, TensorData>();
    for (const name of names) out.set(name, read(this.engine.memory.buffer, plan.outputs.get(name)!, batch, this.outputOrder.get(name)));
    return out;
  }

  dispose(): void {
    this.engine.dispose();
  }
}

const NO_VALUES = new Float32Array(0);

/** The graph with its constant arrays emptied (shapes and attributes stay), so a loaded model holds one copy of its weights. */
function withoutWeights(graph: Graph): Graph {
  const nodes = graph.nodes.map((n) => {
    switch (n.op) {
      case "conv2d":
      case "dense":
        return { ...n, kernel: NO_VALUES, bias: n.bias && NO_VALUES };
      case "batchnorm":
        return { ...n, gamma: n.gamma && NO_VALUES, beta: n.beta && NO_VALUES, mean: NO_VALUES, variance: NO_VALUES };
      default:
        return n;
    }
  });
  return { ...graph, nodes };
}

function planKey(batch: number, outputs: readonly string[]): string {
  return `${batch}:${[...outputs].sort().join(",")}`;
}

/**
 * Copies a (possibly strided) tensor out of wasm memory into a dense
 * [batch, ...shape] array; with `order`, each sample's element i is its
 * element order[i] (a flat output, one pixel per sample).
 */
function read(memory: ArrayBufferLike, t: BoundTensor, batch: number, order?: readonly number[]): TensorData {
  const data = new Float32Array(batch * t.pixels * t.channels);
  const heap = new Float32Array(memory);
  if (order) {
    for (let b = 0; b < batch; b++) {
      const at = (t.address + b * t.pixelStride) / 4;
      for (let i = 0; i < order.length; i++) data[b * order.length + i] = heap[at + order[i]!]!;
    }
    return { data, dims: [batch, ...t.shape] };
  }
  const total = batch * t.pixels;
  for (let p = 0; p < total; p++) {
    const at = (t.address + p * t.pixelStride) / 4;
    data.set(heap.subarray(at, at + t.channels), p * t.channels);
  }
  return { data, dims: [batch, ...t.shape] };
}
