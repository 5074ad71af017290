/**
 * TensorFlow.js reference oracle: runs a tfjs layers (Keras) model in Node on
 * tfjs' own wasm (XNNPACK) or plain-JS cpu backend, so our kernels can be
 * checked against it layer by layer.
 *
 * Node-only (uses `node:module` to locate package files). Deliberately imports
 * tfjs-core, tfjs-layers and the backends individually instead of the
 * `@tensorflow/tfjs` umbrella, so that exactly one tfjs-core module instance
 * exists and layers' ops dispatch to the backends registered here.
 */
import { createRequire } from "node:module";
import { dirname } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
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
   * returns the requested layers' outputs keyed by Keras layer name.
   */
  run(input: Float32Array, inputShape: number[], outputs: string[]): Promise<Record<string, TfjsLayerOutput>>;
  dispose(): void;
  /** The tfjs backend that actually runs this model, e.g. "wasm". */
  backend: string;
}

export interface TfjsModelArtifacts {
  /** Parsed model.json `modelTopology` (with or without the `model_config` wrapper). */
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: unknown[] }[];
  /** All weight shards concatenated in manifest order (groups, then paths). */
  weightData: Uint8Array;
}

const require = createRequire(import.meta.url);

/**
 * Fails loudly if tfjs-layers or a backend would load a different tfjs-core
 * file than this module: a second copy has its own `Tensor` class and kernel
 * bindings, so layers' `instanceof` checks and op dispatch would silently break.
 */
function assertSingleTfjsCore(): void {
  const ours = require.resolve("@tensorflow/tfjs-core");
  for (const dependent of ["@tensorflow/tfjs-layers", "@tensorflow/tfjs-backend-wasm", "@tensorflow/tfjs-backend-cpu"]) {
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
 * model weights live on whichever backend was active when they were created.
 * Every engine interaction therefore runs under this lock with its own
 * backend activated first, so a wasm reference and a cpu reference can
 * coexist (the test cross-checks them) without weights migrating.
 */
let engineLock: Promise<unknown> = Promise.resolve();

function withBackend<T>(backend: string, work: () => T | Promise<T>): Promise<T> {
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

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Builds (and caches) a model view that exposes the given layers' outputs. */
function outputModel(base: tfl.LayersModel, cache: Map<string, tfl.LayersModel>, names: string[]): tfl.LayersModel {
  const key = names.join("\n");
  let view = cache.get(key);
  if (view === undefined) {
    const outputs = names.map((name) => {
      const output = base.getLayer(name).output;
      if (Array.isArray(output)) throw new Error(`layer "${name}" has multiple outputs`);
      return output;
    });
    view = tfl.model({ inputs: base.inputs, outputs });
    cache.set(key, view);
  }
  return view;
}

export async function createTfjsReference(
  artifacts: TfjsModelArtifacts,
  opts: TfjsReferenceOptions = {},
): Promise<TfjsReference> {
  const backend = opts.backend ?? "wasm";
  assertSingleTfjsCore();

  // tfjs reads weightData as a whole ArrayBuffer from offset 0, but the
  // Uint8Array may be a view into a larger buffer (e.g. Node's Buffer pool);
  // slice() copies exactly the viewed bytes into a fresh buffer.
  const handler = tf.io.fromMemory({
    modelTopology: artifacts.modelTopology as {},
    weightSpecs: artifacts.weightsManifest.flatMap((group) => group.weights) as tf.io.WeightsManifestEntry[],
    weightData: artifacts.weightData.slice().buffer,
  });
  const base = await withBackend(backend, () => tfl.loadLayersModel(handler));
  if (base.inputs.length !== 1) throw new Error(`expected a single-input model, got ${base.inputs.length} inputs`);
  const modelInputShape = base.inputs[0]!.shape.slice(1);

  const views = new Map<string, tfl.LayersModel>();
  let disposed = false;

  return {
    backend,

    run(input, inputShape, outputs) {
      if (outputs.length === 0) return Promise.reject(new Error("no outputs requested"));
      if (
        inputShape.length !== modelInputShape.length ||
        inputShape.some((d, i) => modelInputShape[i] !== null && modelInputShape[i] !== d)
      ) {
        return Promise.reject(
          new Error(`input shape [${inputShape}] does not match model input [${modelInputShape.map((d) => d ?? "?")}]`),
        );
      }
      const perSample = product(inputShape);
      if (perSample === 0 || input.length % perSample !== 0) {
        return Promise.reject(new Error(`input length ${input.length} is not a multiple of ${perSample} ([${inputShape}])`));
      }
      const batch = input.length / perSample;
      // Deduplicated and sorted so the cache key ignores request order.
      const names = [...new Set(outputs)].sort();

      // Synchronous once the backend is active, so nothing (not even tfjs
      // users outside this module) can switch the backend mid-run.
      return withBackend(backend, () => {
        // Checked under the lock: a run queued before dispose() must not touch freed weights.
        if (disposed) throw new Error("TfjsReference used after dispose()");
        const view = outputModel(base, views, names);
        // tidy releases the input and any intermediates; only the returned
        // output tensors survive it.
        const tensors = tf.tidy(() => {
          const predicted = view.predict(tf.tensor(input, [batch, ...inputShape], "float32"));
          return Array.isArray(predicted) ? predicted : [predicted];
        });
        try {
          const result: Record<string, TfjsLayerOutput> = {};
          tensors.forEach((t, i) => {
            // Copy: on cpu, dataSync() returns the backend's own array, which for
            // an input-layer output is the caller's `input` itself.
            result[names[i]!] = { data: new Float32Array(t.dataSync()), shape: t.shape.slice() };
          });
          return result;
        } finally {
          tf.dispose(tensors);
        }
      });
    },

    dispose() {
      if (disposed) return;
      disposed = true;
      // Only the loaded model owns weights. The cached views share its layers
      // without holding references of their own, so disposing them as well
      // would release the shared layers twice.
      views.clear();
      base.dispose();
    },
  };
}
