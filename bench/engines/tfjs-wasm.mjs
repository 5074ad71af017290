// @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD) running nsfwjs's Keras model through tfjs-layers.
// One thread is its supported configuration in Node; more threads only through patchForThreads().
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { dirname, join } from "node:path";

import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import * as tfwasm from "@tensorflow/tfjs-backend-wasm";

const require = createRequire(import.meta.url);

/** The worker script's import of the main script from a blob: URL, which worker_threads cannot read. */
const BLOB_IMPORT = "var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)";
/** The node bundle's module-scope names that the threaded factory's source refers to. */
const BUNDLE_SCOPE = [
  "globalThis.require$$0 = require('fs'); globalThis.require$$1 = require('path');",
  "globalThis.require$$3 = require('perf_hooks'); globalThis.require$$4 = require('os');",
  "globalThis.commonjsGlobal = globalThis;",
].join("\n");

/**
 * Makes tfjs-backend-wasm start its threaded build in Node, where it refuses
 * to (tfjs issue 3830). Three obstacles, three patches, active while the
 * backend initialises:
 * - it reports no multithread support in Node: the flag is overridden;
 * - its pthread workers are `blob:` URLs: Blob records the text it is made
 *   of, and URL.createObjectURL writes the worker blob to a .cjs file (its
 *   import of the main script, the other blob, rewritten to a file of its own);
 * - XNNPACK caps its pool at half the logical cores (1 on a 2-vCPU machine):
 *   os.cpus() reports twice the cores.
 * Returns the function that undoes the global patches; the files stay until exit.
 */
function patchForThreads(threads) {
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  tfwasm.setThreadsCount(threads);
  const dir = mkdtempSync(join(os.tmpdir(), "tfjs-wasm-threads-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const mainScript = join(dir, "main.js");
  const OriginalBlob = globalThis.Blob;
  const originalCreateObjectURL = URL.createObjectURL;
  const originalCpus = os.cpus;
  globalThis.Blob = class RecordingBlob extends OriginalBlob {
    constructor(parts, options) {
      super(parts, options);
      // Not `text`: that would shadow Blob.prototype.text().
      this.recordedText = parts.join("");
      if (this.recordedText.startsWith("var WasmBackendModuleThreadedSimd")) writeFileSync(mainScript, this.recordedText);
    }
  };
  URL.createObjectURL = (blob) => {
    if (!blob.recordedText?.includes(BLOB_IMPORT)) throw new Error("tfjs-backend-wasm's worker script changed: the threads patch no longer applies");
    const worker = join(dir, "worker.cjs");
    writeFileSync(worker, `${BUNDLE_SCOPE}\n${blob.recordedText.replace(BLOB_IMPORT, `importScripts(${JSON.stringify(mainScript)})`)}`);
    return worker;
  };
  os.cpus = () => [...originalCpus(), ...originalCpus()];
  return () => {
    globalThis.Blob = OriginalBlob;
    URL.createObjectURL = originalCreateObjectURL;
    os.cpus = originalCpus;
  };
}

export async function load({ dir, threads }) {
  tfwasm.setWasmPaths(`${dirname(require.resolve("@tensorflow/tfjs-backend-wasm"))}/`);
  const restore = threads > 1 ? patchForThreads(threads) : () => {};
  try {
    if (!(await tf.setBackend("wasm"))) throw new Error("the tfjs wasm backend failed to initialise");
  } finally {
    restore();
  }
  const actual = tfwasm.getThreadsCount();
  if (actual !== threads) throw new Error(`tfjs-backend-wasm runs ${actual} thread(s), ${threads} requested`);

  const model = JSON.parse(readFileSync(join(dir, "model.json"), "utf8"));
  const weights = readFileSync(join(dir, "weights.bin"));
  const net = await tfl.loadLayersModel(tf.io.fromMemory({
    modelTopology: model.modelTopology,
    weightSpecs: model.weightsManifest.flatMap((g) => g.weights),
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  }));
  const shape = net.inputs[0].shape.slice(1);
  return {
    detail: `tfjs-backend-wasm ${tfwasm.version_wasm}, ${actual} thread(s)${threads > 1 ? ", patched" : ""}`,
    async run(input, batch) {
      const out = tf.tidy(() => net.predict(tf.tensor(input, [batch, ...shape], "float32")));
      const data = await out.data();
      out.dispose();
      return data;
    },
  };
}
