import type { Platform, WorkerHandle } from "../platform/types.js";
import { kernelBinaries } from "./generated/kernels.js";
import type { Plan } from "./plan.js";
import { COUNTER_WORD, DONE_WORD, OP_BYTES, OP_WORDS, UNITS_WORD } from "./ops.js";
import { WORKER_SOURCE } from "./worker-source.js";

/** "relaxed" uses f32x4.relaxed_madd (fused multiply-add); "plain" only SIMD128. */
export type KernelBuild = "relaxed" | "plain";

const PAGE = 65536;
/** Must equal the --maximumMemory the kernels are built with (build.mjs). */
export const MAX_PAGES = 32768;
/** Multiply-accumulates per thread between two yields of the caller's thread to its event loop (about a millisecond of its work). */
const SLICE_COST = 40e6;
/**
 * Spin iterations of a thread waiting for a step's last units before a worker
 * sleeps or the caller's thread yields: covers the usual imbalance at the end
 * of a step, short of a sleep+wake (~100 µs).
 */
const STEP_SPINS = 200_000;
/** Longest sleep of the caller's thread waiting for a step before it checks that the workers are alive. */
const WAIT_MS = 50;

/** Atomics.waitAsync (ES2024): missing from this TypeScript's lib, and from some hosts. */
type WaitAsync = (view: Int32Array, index: number, value: number) =>
  { async: false; value: string } | { async: true; value: Promise<string> };

interface KernelExports {
  heapBase(): number;
  /** See wasm/index.ts: returns `to`, the step still in progress (block 0), or -1 - i for an unknown kind at i. */
  run(tid: number, ops: number, from: number, to: number, spins: number, block: number): number;
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
    const reached = this.kernels.run(0, ops, 0, steps, 0, 0);
    if (reached < 0) throw stepError(-1 - reached);
    if (reached !== steps) throw new Error(`internal error: step ${reached} of ${steps} shares work units, which runSteps cannot wait for`);
  }
}

/**
 * One model's wasm memory, its kernel instances and worker threads.
 * `threads` threads run every step together: the caller's thread and
 * threads - 1 workers (each worker is a whole JavaScript environment, ~9 MB).
 * The caller's thread runs its share in slices and yields to its event loop
 * between them, never blocking: timers and I/O keep flowing, and the workers
 * carry on meanwhile, since no thread waits for another that is away.
 */
export class Engine extends KernelMemory {
  readonly threads: number;
  readonly build: KernelBuild;
  private readonly platform: Platform;
  private readonly workers: WorkerHandle[] = [];
  /** Settles when every worker has instantiated the kernels (load overlaps with their start). */
  private readonly workersReady: Promise<void>;
  private failure: Error | null = null;
  /** The run the workers are in: their "done" messages name it, so a late one from an earlier run is not counted. */
  private runId = 0;
  /** The step record the caller's thread sleeps on (stepDone), which fail() wakes. */
  private waiting: Int32Array | null = null;
  private pending: { id: number; resolve: () => void; reject: (e: Error) => void; remaining: number } | null = null;

  private constructor(opts: EngineOptions) {
    super(opts.module, opts.initialBytes);
    this.threads = opts.threads;
    this.build = opts.build;
    this.platform = opts.platform;
    this.workersReady = opts.threads > 1 ? this.startWorkers(opts.module) : Promise.resolve();
    // Reported by ready(); until then a failed start must not be an unhandled rejection.
    this.workersReady.catch(() => undefined);
  }

  /**
   * The engine with its workers starting: they boot while the caller fills
   * memory, and `ready` reports whether they came up.
   */
  static create(opts: EngineOptions): Engine {
    if (opts.threads > 1 && !opts.platform.startWorker) {
      throw new Error(`threads: ${opts.threads} needs workers, which the ${opts.platform.name} platform does not provide; use threads: 1`);
    }
    return new Engine(opts);
  }

  /** Resolves once every worker runs the kernels; rejects (and disposes the engine) if one failed to start. */
  ready(): Promise<void> {
    return this.workersReady;
  }

  private async startWorkers(module: WebAssembly.Module): Promise<void> {
    const start = this.platform.startWorker!;
    // The caller's thread is thread 0; workers are 1 .. threads - 1.
    const ready = Array.from({ length: this.threads - 1 }, (_, i) => new Promise<void>((resolve, reject) => {
      const tid = i + 1;
      const worker = start(WORKER_SOURCE);
      this.workers.push(worker);
      worker.onMessage((raw) => {
        const msg = raw as { type: string; message?: string; run?: number; bad?: number };
        if (msg.type === "ready") resolve();
        else if (msg.type === "error") {
          const error = new Error(`kernel worker ${tid} failed: ${msg.message}`);
          reject(error);
          this.fail(error);
        } else if (msg.type === "done") this.workerDone(msg.run!, msg.bad!);
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
    resetStepCounters(this.memory.buffer, plan);
    const workersDone = this.workers.length > 0 ? this.startRun(plan) : undefined;
    // Awaited below; a failure while the caller's thread still computes must not go unhandled meanwhile.
    workersDone?.catch(() => undefined);
    try {
      await this.runHere(plan);
    } catch (e) {
      // A trap on the caller's thread leaves a claimed unit unfinished: workers would wait for it forever.
      this.fail(e instanceof Error ? e : new Error(String(e)));
      throw e;
    } finally {
      // The next run resets the counters the workers read: they must be done with this one.
      await workersDone;
    }
  }

  private startRun(plan: Plan): Promise<void> {
    this.setWorkersActive(true);
    const id = ++this.runId;
    return new Promise<void>((resolve, reject) => {
      this.pending = { id, resolve, reject, remaining: this.workers.length };
      const msg = { type: "run", run: id, ops: plan.ops, steps: plan.steps, spins: STEP_SPINS };
      for (const w of this.workers) w.postMessage(msg);
    });
  }

  /** The caller's thread's share: slices of steps, yielding between them and sleeping (asynchronously) whenever it waits. */
  private async runHere(plan: Plan): Promise<void> {
    // The caller does about 1/threads of each step.
    const sliceCost = SLICE_COST * this.threads;
    let from = 0;
    while (from < plan.steps) {
      let to = from;
      let cost = 0;
      do cost += plan.costs[to++]!;
      while (to < plan.steps && cost < sliceCost);
      const reached = this.kernels.run(0, plan.ops, from, to, STEP_SPINS, 0);
      if (reached < 0) throw stepError(-1 - reached);
      if (reached < to) await this.stepDone(plan, reached);
      else if (reached < plan.steps) await this.platform.yieldToEventLoop();
      if (this.failure) throw this.failure;
      from = reached;
    }
  }

  /**
   * Resolves when every unit of step `index` is done (by the workers), or the
   * engine failed. Sleeps on the step's finished-units count with
   * Atomics.waitAsync, which the kernels' notify wakes, rather than spinning,
   * so a busy machine's cores go to the workers being waited for; hosts
   * without waitAsync poll between event loop turns. A timer bounds each
   * sleep: a pending waitAsync does not keep a host's event loop alive, and
   * once fail() has terminated the workers nothing else would.
   */
  private async stepDone(plan: Plan, index: number): Promise<void> {
    const words = new Int32Array(this.memory.buffer, plan.ops + index * OP_BYTES, OP_WORDS);
    const units = words[UNITS_WORD]!;
    const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
    this.waiting = words;
    try {
      for (let seen = Atomics.load(words, DONE_WORD); seen !== units && !this.failure; seen = Atomics.load(words, DONE_WORD)) {
        // No timeout of its own: the step's completion (or fail()) notifies every waiter.
        const wait = waitAsync?.call(Atomics, words, DONE_WORD, seen);
        if (!wait) await this.platform.yieldToEventLoop();
        else if (wait.async) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([wait.value, new Promise((resolve) => (timer = setTimeout(resolve, WAIT_MS)))]);
          clearTimeout(timer);
        }
      }
    } finally {
      this.waiting = null;
    }
  }

  private setWorkersActive(active: boolean): void {
    for (const w of this.workers) w.keepAlive(active);
  }

  private workerDone(run: number, bad: number): void {
    const p = this.pending;
    if (!p || p.id !== run) return;
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

  /** A worker died mid-run: the others may wait for its units forever, so the engine is finished. */
  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    const p = this.pending;
    this.pending = null;
    p?.reject(error);
    for (const w of this.workers) w.terminate();
    if (this.waiting) Atomics.notify(this.waiting, DONE_WORD);
  }

  dispose(): void {
    this.fail(new Error("the model was disposed"));
  }
}

/** Zeroes the claim and finished-units counters of every step (OP_COUNTER and OP_DONE in wasm/common/op.ts) before a run. */
function resetStepCounters(memory: ArrayBufferLike, plan: Plan): void {
  const words = new Int32Array(memory, plan.ops, plan.steps * OP_WORDS);
  for (let i = 0; i < plan.steps; i++) {
    words[i * OP_WORDS + COUNTER_WORD] = 0;
    words[i * OP_WORDS + DONE_WORD] = 0;
  }
}

function align(n: number): number {
  return Math.ceil(n / 64) * 64;
}

function stepError(index: number): Error {
  return new Error(`internal error: plan step ${index} has an unknown kind (kernel module and planner disagree)`);
}

