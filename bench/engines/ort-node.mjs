// onnxruntime-node (native CPU execution provider): the native ceiling, on our ONNX export of the same model.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import * as ort from "onnxruntime-node";

const options = (threads) => ({
  executionProviders: ["cpu"],
  graphOptimizationLevel: "all",
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: "sequential",
});

export async function load({ dir, threads, meta }) {
  const modelPath = join(dir, "model.onnx");
  const session = await ort.InferenceSession.create(modelPath, options(threads));
  const feeds = (data, batch) => ({ [meta.inputName]: new ort.Tensor("float32", data, [batch, ...meta.inputShape]) });
  return {
    detail: `onnxruntime-node ${ort.env.versions.node}, cpu, intra-op threads ${threads}`,
    async run(data, batch) {
      return (await session.run(feeds(data, batch)))[meta.outputName].data;
    },
    /**
     * Per-node times from ORT's own profiler, in a second session (profiling
     * slows every run a little, so the timed session never has it on).
     * Returns median milliseconds per ORT node name over `reps` runs.
     */
    async profile(batch, reps, data) {
      const out = mkdtempSync(join(tmpdir(), "ort-profile-"));
      try {
        const profiled = await ort.InferenceSession.create(modelPath, {
          ...options(threads), enableProfiling: true, profileFilePrefix: join(out, "ort"),
        });
        for (let i = 0; i <= reps; i++) await profiled.run(feeds(data, batch));
        profiled.endProfiling();
        await profiled.release();
        const events = JSON.parse(readFileSync(join(out, readdirSync(out)[0]), "utf8"));
        const perNode = new Map();
        for (const e of events) {
          if (e.cat !== "Node" || !e.name.endsWith("_kernel_time")) continue;
          const name = e.name.slice(0, -"_kernel_time".length);
          if (!perNode.has(name)) perNode.set(name, { op: e.args.op_name, times: [] });
          perNode.get(name).times.push(e.dur / 1000);
        }
        // The first run is a warm-up: drop it, keep the median of the rest.
        return [...perNode].map(([name, { op, times }]) => ({ name, op, ms: median(times.slice(1)) }));
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
  };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}
