/**
 * TensorFlow.js reference oracle: runs a tfjs layers (Keras) model in Node on
 * tfjs' own wasm (XNNPACK) or plain-JS cpu backend, so our kernels can be
 * checked against it layer by layer.
 *
 * Node-only. The engine setup (backends, the lock that keeps references on
 * different backends apart) lives in tfjs-engine.ts, shared with the graph
 * reference; tfjs-layers must resolve the same tfjs-core file so its ops
 * dispatch to the backends registered there.
 */
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import {
  assertSingleTfjsCore, batchSize, readOutputs, withBackend, type TfjsReference, type TfjsReferenceOptions,
} from "./tfjs-engine.js";

export type { TfjsLayerOutput, TfjsReference, TfjsReferenceOptions } from "./tfjs-engine.js";

export interface TfjsModelArtifacts {
  /** Parsed model.json `modelTopology` (with or without the `model_config` wrapper). */
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: unknown[] }[];
  /** All weight shards concatenated in manifest order (groups, then paths). */
  weightData: Uint8Array;
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
  assertSingleTfjsCore(["@tensorflow/tfjs-layers"]);

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

    async run(input, inputShape, outputs) {
      const batch = batchSize(input, inputShape, modelInputShape, outputs);
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
        return readOutputs(tensors, names);
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
