/**
 * What the TensorFlow.js reference oracles share: the interface they
 * implement, the setup of tfjs' process-wide engine (backend activation
 * behind one lock, wasm file location) and the checks and copies around a run.
 *
 * Node-only (uses `node:module` to locate package files). Imports tfjs-core
 * and the backends individually instead of the `@tensorflow/tfjs` umbrella,
 * so that exactly one tfjs-core module instance exists and every op
 * dispatches to the backends registered here. It does not import
 * tfjs-layers: the graph reference runs without it.
 */
import { createRequire } from "node:module";
import { dirname } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
// Registers the "cpu" backend (a dependency of tfjs-backend-wasm).
import "@tensorflow/tfjs-backend-cpu";

export interface TfjsReferenceOptions {
  /** tfjs backend to run on; default "wasm". */
  backend?: "wasm" | "cpu";
}

export interface TfjsLayerOutput {
  data: Float32Array;
  /** Includes the batch dimension. */
  shape: number[];
}

export interface TfjsReference {
  /**
   * Runs the model on `input` (NHWC float32, shape [batch, ...inputShape]) and
   * returns the requested tensors keyed by name (Keras layer names for a
   * layers model, IR tensor names for a graph).
   */
  run(input: Float32Array, inputShape: number[], outputs: string[]): Promise<Record<string, TfjsLayerOutput>>;
  dispose(): void;
  /** The tfjs backend that actually runs this model, e.g. "wasm". */
  backend: string;
}

const require = createRequire(import.meta.url);

/**
 * Fails loudly if one of `dependents` would load a different tfjs-core file
 * than this module: a second copy has its own `Tensor` class and kernel
 * bindings, so `instanceof` checks and op dispatch would silently break.
 */
export function assertSingleTfjsCore(dependents: readonly string[]): void {
  const ours = require.resolve("@tensorflow/tfjs-core");
  for (const dependent of ["@tensorflow/tfjs-backend-wasm", "@tensorflow/tfjs-backend-cpu", ...dependents]) {
    const theirs = createRequire(require.resolve(dependent)).resolve("@tensorflow/tfjs-core");
    if (theirs !== ours) {
      throw new Error(`${dependent} resolves @tensorflow/tfjs-core to ${theirs}, expected ${ours}; dedupe the tfjs packages`);
    }
  }
}

let wasmPathsSet = false;

/**
 * Points the wasm backend at the package's own dist/ directory. In Node the
 * Emscripten loader reads `prefix + "tfjs-backend-wasm-simd.wasm"` with
 * fs.readFileSync, so a plain directory path works but must end with "/"
 * (the prefix is concatenated, not joined). Platform fetch must stay off:
 * Node's fetch rejects bare file paths. Threads are never used in Node
 * (tfjs reports no multithread support there), so the SIMD binary is picked
 * whenever the runtime validates SIMD, as Node 20 does.
 */
function configureWasmPaths(): void {
  if (wasmPathsSet) return;
  setWasmPaths(`${dirname(require.resolve("@tensorflow/tfjs-backend-wasm"))}/`);
  wasmPathsSet = true;
}

/**
 * tfjs has one process-wide engine whose active backend is global state, and
 * weights live on whichever backend was active when they were created.
 * Every engine interaction therefore runs under this lock with its own
 * backend activated first, so wasm and cpu references (of either kind) can
 * coexist without weights migrating.
 */
let engineLock: Promise<unknown> = Promise.resolve();

export function withBackend<T>(backend: string, work: () => T | Promise<T>): Promise<T> {
  const result = engineLock.then(async () => {
    await activateBackend(backend);
    return work();
  });
  engineLock = result.catch(() => undefined);
  return result;
}

async function activateBackend(backend: string): Promise<void> {
  if (tf.getBackend() === backend && tf.findBackend(backend) != null) return;
  if (backend === "wasm") configureWasmPaths();
  // setBackend resolves false (with a console warning) when initialization
  // fails, and getBackend() then still reports the requested name, so the
  // return value and the registry are what prove the backend is live.
  const ok = await tf.setBackend(backend);
  await tf.ready();
  if (!ok || tf.getBackend() !== backend || tf.findBackend(backend) == null) {
    throw new Error(
      `tfjs backend "${backend}" failed to initialize (active: "${tf.getBackend()}")` +
        (backend === "wasm" ? "; check that the tfjs-backend-wasm .wasm files exist in its dist/ directory" : ""),
    );
  }
}

/**
 * Validates a run request against the model's per-sample input shape (null:
 * any size on that axis) and returns the batch size.
 */
export function batchSize(
  input: Float32Array,
  inputShape: readonly number[],
  modelInputShape: readonly (number | null)[],
  outputs: readonly string[],
): number {
  if (outputs.length === 0) throw new Error("no outputs requested");
  if (
    inputShape.length !== modelInputShape.length ||
    inputShape.some((d, i) => modelInputShape[i] !== null && modelInputShape[i] !== d)
  ) {
    throw new Error(`input shape [${inputShape}] does not match model input [${modelInputShape.map((d) => d ?? "?")}]`);
  }
  const perSample = inputShape.reduce((a, b) => a * b, 1);
  if (perSample === 0 || input.length % perSample !== 0) {
    throw new Error(`input length ${input.length} is not a multiple of ${perSample} ([${inputShape}])`);
  }
  return input.length / perSample;
}

/** Copies `tensors[i]` out as `names[i]`, then disposes the tensors. */
export function readOutputs(tensors: readonly tf.Tensor[], names: readonly string[]): Record<string, TfjsLayerOutput> {
  try {
    const result: Record<string, TfjsLayerOutput> = {};
    tensors.forEach((t, i) => {
      // Copy: on cpu, dataSync() returns the backend's own array, which for
      // an input tensor is the caller's `input` itself.
      result[names[i]!] = { data: new Float32Array(t.dataSync()), shape: t.shape.slice() };
    });
    return result;
  } finally {
    tf.dispose([...tensors]);
  }
}
