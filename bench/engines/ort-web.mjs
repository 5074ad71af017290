// onnxruntime-web (WebAssembly, SIMD, pthreads when numThreads > 1) on our ONNX export of the same model.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import * as ort from "onnxruntime-web";

export async function load({ dir, threads, meta }) {
  ort.env.wasm.numThreads = threads;
  const session = await ort.InferenceSession.create(readFileSync(join(dir, "model.onnx")), {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  return {
    detail: `onnxruntime-web ${ort.env.versions.web}, wasm, numThreads ${threads}`,
    async run(data, batch) {
      const out = await session.run({ [meta.inputName]: new ort.Tensor("float32", data, [batch, ...meta.inputShape]) });
      return out[meta.outputName].data;
    },
  };
}
