import { availableParallelism } from "node:os";
import { setFlagsFromString } from "node:v8";
import { Worker } from "node:worker_threads";
import type { Platform, WorkerHandle } from "./types.js";

// Node 20's V8 validates relaxed-SIMD modules only behind this flag (later
// versions ship it on); it must be set before the first compile. It is
// refused inside NODE_OPTIONS, hence here.
setFlagsFromString("--experimental-wasm-relaxed-simd");

function startWorker(source: string): WorkerHandle {
  // Evaluated source rather than a file: nothing to locate on disk, and no
  // blob: URL, which worker_threads cannot load.
  const worker = new Worker(source, { eval: true });
  return {
    postMessage: (m) => worker.postMessage(m),
    onMessage: (f) => worker.on("message", f),
    onError: (f) => {
      worker.on("error", f);
      worker.on("exit", (code) => f(new Error(`worker exited with code ${code}`)));
    },
    terminate: () => void worker.terminate(),
    // Must be called after listeners are attached: adding a "message" listener refs the port again.
    keepAlive: (active) => (active ? worker.ref() : worker.unref()),
  };
}

export const nodePlatform: Platform = {
  name: "node",
  cores: () => availableParallelism(),
  startWorker,
  yieldToEventLoop: () => new Promise((resolve) => setImmediate(resolve)),
};
