import type { Platform, WorkerHandle } from "../platform/types.js";
import { kernelBinaries } from "./generated/kernels.js";
import type { Plan } from "./plan.js";
import { COUNTER_WORD, OP_WORDS } from "./ops.js";
import { WORKER_SOURCE } from "./worker-source.js";

/** "relaxed" uses f32x4.relaxed_madd (fused multiply-add); "plain" only SIMD128. */
export type KernelBuild = "relaxed" | "plain";

const PAGE = 65536;
/** Must equal the --maximumMemory the kernels are built with (build.mjs). */
export const MAX_PAGES = 32768;
/** Multiply-accumulates run between two yields to the event loop on a single thread (a few ms of work). */
const SLICE_COST = 40e6;
/** Barrier spin iterations before a thread sleeps: covers the gap between steps, short of a sleep+wake (~100 µs). */
const BARRIER_SPINS = 200_000;

interface KernelExports {
  heapBase(): number;
  run(tid: number, threads: number, ops: number, from: number, to: number, sync: number): number;
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Picks and compiles the kernel module: the relaxed-SIMD build when the host
 * validates it (and `build` allows it), else plain SIMD. A host without SIMD
 * or shared memory gets an error saying so, not a silent slow path.
 */
export async function compileKernels(build: KernelBuild | "auto"): Promise<{ module: WebAssembly.Module; build: KernelBuild }> {
  const relaxed = decodeBase64(kernelBinaries.relaxed);
  const plain = decodeBase64(kernelBinaries.plain);
  if (build !== "plain" && WebAssembly.validate(relaxed)) {
    return { module: await WebAssembly.compile(relaxed), build: "relaxed" };
  }
  if (build === "relaxed") {
    throw new Error("this JavaScript runtime does not support WebAssembly relaxed SIMD; use build: \"plain\" or \"auto\"");
  }
  if (!WebAssembly.validate(plain)) {
    throw new Error("this JavaScript runtime lacks WebAssembly SIMD or threads (shared memory), which the kernels need");
  }
  return { module: await WebAssembly.compile(plain), build: "plain" };
}

export interface EngineOptions {
  module: WebAssembly.Module;
  build: KernelBuild;
  threads: number;
  platform: Platform;
  /** Bytes to reserve up front (weights and the first plan), so the common case never grows memory. */
  initialBytes: number;
}

/**
 * Wasm memory with an instance of the kernel module on it, and a bump
 * allocator over that memory: what packing weights needs (src/runtime/weights.ts).
 * An Engine adds worker threads and runs plans on it.
 */
export class KernelMemory {
  readonly memory: WebAssembly.Memory;
  protected readonly kernels: KernelExports;
  private top: number;

  constructor(module: WebAssembly.Module, initialBytes: number) {
    const pages = Math.ceil((initialBytes + 1024 * 1024) / PAGE);
    if (pages > MAX_PAGES) {
      throw new Error(`the model needs ${Math.ceil(initialBytes / 2 ** 20)} MiB of wasm memory, more than the ${MAX_PAGES / 16} MiB the kernels can address`);
    }
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES, shared: true });
    const instance = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    this.kernels = instance.exports as unknown as KernelExports;
    this.top = align(this.kernels.heapBase());
  }

  /** Reserves `bytes` of wasm memory (64-byte aligned), growing the memory when needed. */
  allocate(bytes: number): number {
    const at = this.top;
    const end = align(at + bytes);
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      if (have / PAGE + pages > MAX_PAGES) {
        throw new Error(`out of wasm memory: need ${Math.ceil(end / 2 ** 20)} MiB, the kernels address at most ${MAX_PAGES / 16} MiB`);
      }
      this.memory.grow(pages);
    }
    this.top = end;
    return at;
  }

  /**
   * Releases everything allocated after `mark` (a value of `bytesUsed`), for
   * reuse by later allocations. The caller guarantees nothing there is in use.
   */
  release(mark: number): void {
    this.top = mark;
  }

  /** Bytes of wasm memory in use. */
  get bytesUsed(): number {
    return this.top;
  }

  /**
   * Runs the `steps` steps at `ops` to the end on the calling thread, for
   * work outside plans (weight packing at load), whose steps claim no work units.
   */
  runSteps(ops: number, steps: number): void {
    checkStep(this.kernels.run(0, 1, ops, 0, steps, 0));
  }
}

/**
 * One model's wasm memory, its kernel instances and worker threads.
 * With threads > 1, `threads` workers run every step together and the
 * caller's thread only posts messages and awaits; with one thread the steps
 * run on the caller's thread in slices, yielding to the event loop between
 * them, so timers and I/O keep flowing either way.
 */
export class Engine extends KernelMemory {
  readonly threads: number;
  readonly build: KernelBuild;
  private readonly platform: Platform;
  private readonly workers: WorkerHandle[] = [];
  private readonly sync: number;
  private failure: Error | null = null;
  private pending: { resolve: () => void; reject: (e: Error) => void; remaining: number } | null = null;

  private constructor(opts: EngineOptions) {
    super(opts.module, opts.initialBytes);
    this.threads = opts.threads;
    this.build = opts.build;
    this.platform = opts.platform;
    this.sync = this.allocate(64);
    new Int32Array(this.memory.buffer, this.sync, 3).set([0, 0, BARRIER_SPINS]);
  }

  static async create(opts: EngineOptions): Promise<Engine> {
    const engine = new Engine(opts);
    if (opts.threads > 1) await engine.startWorkers(opts.module);
    return engine;
  }

  private async startWorkers(module: WebAssembly.Module): Promise<void> {
    const start = this.platform.startWorker;
    if (!start) {
      throw new Error(`threads: ${this.threads} needs workers, which the ${this.platform.name} platform does not provide; use threads: 1`);
    }
    const ready = Array.from({ length: this.threads }, (_, tid) => new Promise<void>((resolve, reject) => {
      const worker = start(WORKER_SOURCE);
      this.workers.push(worker);
      worker.onMessage((raw) => {
        const msg = raw as { type: string; message?: string; bad?: number };
        if (msg.type === "ready") resolve();
        else if (msg.type === "error") {
          const error = new Error(`kernel worker ${tid} failed: ${msg.message}`);
          reject(error);
          this.fail(error);
        } else if (msg.type === "done") this.workerDone(msg.bad!);
      });
      worker.onError((e) => {
        const error = new Error(`kernel worker ${tid} stopped: ${e.message}`);
        reject(error);
        this.fail(error);
      });
      worker.postMessage({ type: "init", module, memory: this.memory, tid });
    }));
    try {
      await Promise.all(ready);
      this.setWorkersActive(false);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Runs every step of `plan`. Callers must not overlap runs on one engine. */
  async run(plan: Plan): Promise<void> {
    if (this.failure) throw this.failure;
    resetWorkCounters(this.memory.buffer, plan);
    if (this.threads === 1) return this.runHere(plan);
    this.setWorkersActive(true);
    return new Promise<void>((resolve, reject) => {
      this.pending = { resolve, reject, remaining: this.workers.length };
      const msg = { type: "run", threads: this.threads, ops: plan.ops, from: 0, to: plan.steps, sync: this.sync };
      for (const w of this.workers) w.postMessage(msg);
    });
  }

  private async runHere(plan: Plan): Promise<void> {
    let from = 0;
    let cost = 0;
    for (let i = 0; i < plan.steps; i++) {
      cost += plan.costs[i]!;
      if (cost < SLICE_COST && i < plan.steps - 1) continue;
      checkStep(this.kernels.run(0, 1, plan.ops, from, i + 1, 0));
      from = i + 1;
      cost = 0;
      if (i < plan.steps - 1) await this.platform.yieldToEventLoop();
    }
  }

  private setWorkersActive(active: boolean): void {
    for (const w of this.workers) w.keepAlive(active);
  }

  private workerDone(bad: number): void {
    const p = this.pending;
    if (!p) return;
    if (bad >= 0) {
      this.pending = null;
      this.setWorkersActive(false);
      p.reject(stepError(bad));
      return;
    }
    if (--p.remaining === 0) {
      this.pending = null;
      this.setWorkersActive(false);
      p.resolve();
    }
  }

  /** A worker died mid-run: the others may wait at a barrier forever, so the engine is finished. */
  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    const p = this.pending;
    this.pending = null;
    p?.reject(error);
    for (const w of this.workers) w.terminate();
  }

  dispose(): void {
    this.fail(new Error("the model was disposed"));
  }
}

/** Zeroes the work counter of every step (see OP_COUNTER in wasm/common/op.ts) before a run. */
function resetWorkCounters(memory: ArrayBufferLike, plan: Plan): void {
  const words = new Int32Array(memory, plan.ops, plan.steps * OP_WORDS);
  for (let i = 0; i < plan.steps; i++) words[i * OP_WORDS + COUNTER_WORD] = 0;
}

function align(n: number): number {
  return Math.ceil(n / 64) * 64;
}

function stepError(index: number): Error {
  return new Error(`internal error: plan step ${index} has an unknown kind (kernel module and planner disagree)`);
}

function checkStep(bad: number): void {
  if (bad >= 0) throw stepError(bad);
}
