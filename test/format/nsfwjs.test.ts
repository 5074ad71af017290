/**
 * nsfwjs's InceptionV3 through .iwm files: f32 computes exactly what the
 * source model computes (same graph, same packed bytes); f16 and int8 keep
 * every top-1 class of the sample photos with probabilities within a
 * measured bound; sizes; load times (printed, not asserted: this is a shared
 * 2-core machine).
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { suite } from "uvu";
import * as assert from "uvu/assert";

import { importGraph } from "../../src/api/load.js";
import { convertToIwm } from "../../src/format/iwm.js";
import type { WeightStorage } from "../../src/format/storage.js";
import type { Graph } from "../../src/graph/ir.js";
import { loadModel, type Model, type Prediction } from "../../src/index.js";
import { resolveSource } from "../../src/platform/node-source.js";
import { packModel } from "../../src/runtime/session.js";
import { maxAbsDiff, rejection } from "./helpers.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"];
const IMAGES = PHOTOS.map((name) => new Uint8Array(readFileSync(join(ROOT, "fixtures", "images", name))));
const STORAGES: WeightStorage[] = ["f32", "f16", "int8"];

/**
 * Bounds on max |Δprobability| over the photos' 5 classes. f16 keeps 11
 * significant bits (relative rounding ≤ 2^-11 ≈ 4.9e-4), int8 a step of
 * 1/127 of each column's largest weight (rounding ≤ 3.9e-3 of it). A
 * probability moves by at most half the largest logit change, and the logit
 * errors of 94 layers partly cancel: measured 3.0e-4 (f16) and 8.5e-3 (int8).
 * The bounds are those per-weight roundings times ~4 and ~5: loose enough for
 * the last-bit differences between kernel builds, tight enough to catch a
 * scale applied to the wrong channel (which flips classes or moves them by 0.1+).
 */
const BOUNDS: Record<"f16" | "int8", number> = { f16: 2e-3, int8: 2e-2 };

interface Fixture {
  dir: string;
  graph: Graph;
  files: Record<WeightStorage, string>;
  bytes: Record<WeightStorage, Uint8Array>;
  sourceLoadMs: number;
  loadMs: Record<WeightStorage, number>;
  source: Model;
  models: Record<WeightStorage, Model>;
}

let fixture: Fixture | undefined;

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await f();
  return [value, performance.now() - start];
}

const iwm = suite("nsfwjs InceptionV3 as .iwm");

iwm.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), "iwm-nsfwjs-"));
  const graph = await importGraph(await resolveSource("nsfwjs"));
  const files = {} as Fixture["files"];
  const bytes = {} as Fixture["bytes"];
  for (const weights of STORAGES) {
    bytes[weights] = await convertToIwm(graph, { weights });
    files[weights] = join(dir, `nsfwjs-${weights}.iwm`);
    await writeFile(files[weights], bytes[weights]);
  }
  // The source model keeps every block so they can be compared; loading parses its files, optimizes and packs.
  const [source, sourceLoadMs] = await timed(() => loadModel("nsfwjs", { keep: graph.metadata.blocks!.map((b) => b.tensor) }));
  const models = {} as Fixture["models"];
  const loadMs = {} as Fixture["loadMs"];
  for (const weights of STORAGES) [models[weights], loadMs[weights]] = await timed(() => loadModel(files[weights]));
  fixture = { dir, graph, files, bytes, sourceLoadMs, loadMs, source, models };
});

iwm.after(async () => {
  if (!fixture) return;
  fixture.source.dispose();
  for (const m of Object.values(fixture.models)) m.dispose();
  await rm(fixture.dir, { recursive: true, force: true });
});

function probabilities(predictions: Prediction[][]): number[][] {
  return predictions.map((top) => [...top].sort((a, b) => a.index - b.index).map((p) => p.probability));
}

iwm("f32: classify, embed and every block output equal the source model's exactly", async () => {
  const { source, models, graph } = fixture!;
  const model = models.f32;
  assert.is(model.source, `${fixture!.files.f32} (from ${source.source})`);
  assert.equal(model.labels, source.labels);
  assert.equal(model.blocks, source.blocks);
  assert.equal(model.inputs, source.inputs);
  assert.equal(model.outputs, source.outputs);
  assert.equal(await model.classify(IMAGES, { topK: 5 }), await source.classify(IMAGES, { topK: 5 }));
  assert.equal(await model.embed(IMAGES), await source.embed(IMAGES));
  const tensors = graph.metadata.blocks!.map((b) => b.tensor);
  const [, H, W, C] = source.inputs[0]!.shape;
  const input = { input_1: { data: new Float32Array(H! * W! * C!).map((_, i) => ((i * 37) % 101) / 100), dims: [1, H!, W!, C!] } };
  const want = await source.run(input, { outputs: tensors });
  const got = await model.run(input, { outputs: tensors });
  for (const t of tensors) assert.ok(maxAbsDiff(got[t]!.data, want[t]!.data) === 0, `block ${t} differs`);
});

iwm("f16 and int8: the same top-1 class on every photo, probabilities within the bounds", async () => {
  const { source, models } = fixture!;
  const want = await source.classify(IMAGES, { topK: 5 });
  for (const weights of ["f16", "int8"] as const) {
    const got = await models[weights].classify(IMAGES, { topK: 5 });
    const agree = got.filter((top, i) => top[0]!.index === want[i]![0]!.index).length;
    const delta = Math.max(...probabilities(got).map((p, i) => maxAbsDiff(p, probabilities(want)[i]!)));
    const embedding = await models[weights].embed(IMAGES[3]!);
    const reference = await source.embed(IMAGES[3]!);
    const relative = Math.hypot(...embedding.map((v, i) => v - reference[i]!)) / Math.hypot(...reference);
    console.log(`  ${weights}: top-1 agreement ${agree}/${IMAGES.length}, max |Δprob| ${delta.toExponential(2)}, embedding ‖Δ‖/‖e‖ ${relative.toExponential(2)} (rocket.jpg)`);
    assert.is(agree, IMAGES.length, `${weights}: top-1 agreement`);
    assert.ok(delta > 0, `${weights}: identical probabilities, so the weights were not stored as ${weights}`);
    assert.ok(delta <= BOUNDS[weights], `${weights}: max |Δprob| ${delta} > ${BOUNDS[weights]}`);
  }
});

iwm("file sizes: f16 about half of f32, int8 about a quarter", () => {
  const { bytes } = fixture!;
  const f32 = bytes.f32.length;
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  console.log(`  sizes: f32 ${mib(f32)}, f16 ${mib(bytes.f16.length)} (${(bytes.f16.length / f32).toFixed(3)}), int8 ${mib(bytes.int8.length)} (${(bytes.int8.length / f32).toFixed(3)})`);
  // Biases, int8 scales, the header and the 2-D Winograd kernels (3.3 of 90.8 MiB, kept float32) do not shrink.
  assert.ok(bytes.f16.length / f32 > 0.51 && bytes.f16.length / f32 < 0.53, `f16/f32 ${bytes.f16.length / f32}`);
  assert.ok(bytes.int8.length / f32 > 0.27 && bytes.int8.length / f32 < 0.29, `int8/f32 ${bytes.int8.length / f32}`);
});

iwm("load times: .iwm files against the nsfwjs source (printed only)", () => {
  const { sourceLoadMs, loadMs } = fixture!;
  const ms = (t: number) => `${t.toFixed(0)} ms`;
  console.log(`  load: nsfwjs source ${ms(sourceLoadMs)}; .iwm f32 ${ms(loadMs.f32)}, f16 ${ms(loadMs.f16)}, int8 ${ms(loadMs.int8)}`);
});

iwm(".iwm bytes in memory load like the file", async () => {
  const { bytes, models } = fixture!;
  const model = await loadModel(bytes.f16);
  try {
    assert.equal(await model.classify(IMAGES, { topK: 5 }), await models.f16.classify(IMAGES, { topK: 5 }));
  } finally {
    model.dispose();
  }
});

iwm("keep: blocks were kept at conversion; a tensor fused away is refused, naming the way out", async () => {
  const { files, graph } = fixture!;
  const kept = await loadModel(files.int8, { keep: ["mixed5"] });
  kept.dispose();
  const survivors = new Set(packModel(graph, []).graph.nodes.map((n) => n.name));
  const fused = graph.nodes.find((n) => n.op === "conv2d" && !survivors.has(n.name))!.name;
  assert.match(await rejection(loadModel(files.int8, { keep: [fused] })), new RegExp(`convert the model again with --keep ${fused}$`));
  assert.match(await rejection(resolveSource(files.f32).then(importGraph)), /is an \.iwm file: its graph is already optimized and its weights packed, so it loads with loadModel but cannot be imported or converted again$/);
});

iwm.run();
