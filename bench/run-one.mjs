// One engine configuration in a fresh process, so peak RSS is its own:
//   node bench/run-one.mjs '{"threads":2,"build":"relaxed","runs":15,"batch":1}'
// Prints one JSON line: load, first inference, latency stats (ms), peak RSS (MB).
import { loadModel } from "../dist/index.js";

const cfg = JSON.parse(process.argv[2]);
const t0 = performance.now();
const model = await loadModel("nsfwjs", { threads: cfg.threads, build: cfg.build });
const loadMs = performance.now() - t0;
const [, H, W, C] = model.inputs[0].shape;
const batch = cfg.batch ?? 1;
// A deterministic input: the runtime's speed does not depend on pixel values.
const data = new Float32Array(batch * H * W * C).map((_, i) => ((i * 2654435761) % 1000) / 1000);
const feeds = { [model.inputs[0].name]: { data, dims: [batch, H, W, C] } };
let t = performance.now();
await model.run(feeds);
const firstMs = performance.now() - t;
const times = [];
for (let i = 0; i < (cfg.runs ?? 15); i++) {
  t = performance.now();
  await model.run(feeds);
  times.push(performance.now() - t);
}
model.dispose();
times.sort((a, b) => a - b);
console.log(JSON.stringify({
  ...cfg,
  build: model.build,
  loadMs, firstMs,
  medianMs: times[times.length >> 1], minMs: times[0], maxMs: times.at(-1),
  peakRssMB: process.resourceUsage().maxRSS / 1024,
  wasmMB: model.memoryBytes / 2 ** 20,
}));
