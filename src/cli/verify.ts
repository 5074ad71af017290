import { basename } from "node:path";
import { readFile } from "node:fs/promises";
import { importGraph, loadGraph, type ResolvedSource } from "../api/load.js";
import type { Model } from "../api/model.js";
import { nodePlatform } from "../platform/node.js";
import { preprocess } from "../preprocess/index.js";
import { createTfjsReference } from "../reference/tfjs.js";
import type { KernelBuild } from "../runtime/engine.js";

/**
 * The consistency check against TensorFlow.js: the same model and the same
 * preprocessed input through tfjs (tfjs-layers on tfjs-backend-wasm) and
 * through our runtime in each requested configuration, comparing the tensor
 * at the end of every block (stem, mixed0…mixed10, head) and the top-1 class.
 */
export interface VerifyConfig {
  build: KernelBuild;
  threads: number;
}

export interface VerifyOptions {
  images: string[];
  configs: VerifyConfig[];
  /** Largest allowed |Δprobability| of the head (default 1e-4). */
  tolerance?: number;
}

export interface VerifyImageResult {
  image: string;
  referenceTop1: number;
  /** Per config: our top-1 and max |Δprobability|. */
  ours: { top1: number; maxProbDiff: number }[];
}

export interface VerifyReport {
  source: string;
  referenceBackend: string;
  labels: readonly string[] | undefined;
  configs: VerifyConfig[];
  /** Per block: max |Δ| over all images, one value per config. */
  blocks: { name: string; tensor: string; shape: number[]; maxAbsDiff: number[] }[];
  images: VerifyImageResult[];
  tolerance: number;
  pass: boolean;
}

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    // NaN anywhere must fail the comparison, not vanish in Math.max.
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export async function verify(resolved: ResolvedSource, opts: VerifyOptions): Promise<VerifyReport> {
  const tolerance = opts.tolerance ?? 1e-4;
  if (opts.images.length === 0) throw new Error("verify needs at least one image");
  if (resolved.kind !== "tfjs-layers") {
    throw new Error(`${resolved.source}: verify runs TensorFlow.js layers models only; ONNX models are not supported by it yet`);
  }
  const graph = importGraph(resolved);
  const blocks = graph.metadata.blocks ?? [];
  if (blocks.length === 0) throw new Error(`${graph.metadata.source}: no blocks known to compare`);
  const reference = await createTfjsReference(resolved.artifacts);
  const models: Model[] = [];
  try {
    for (const cfg of opts.configs) {
      // Every block tensor must survive fusion so it can be compared.
      models.push(await loadGraph(graph, { ...cfg, keep: blocks.map((b) => b.tensor) }, nodePlatform));
    }
    const first = models[0]!;
    const head = blocks.at(-1)!.tensor;
    const [, H, W, C] = first.inputs[0]!.shape;
    const report: VerifyReport = {
      source: first.source,
      referenceBackend: reference.backend,
      labels: first.labels,
      configs: opts.configs,
      blocks: blocks.map((b) => ({ ...b, shape: [], maxAbsDiff: opts.configs.map(() => 0) })),
      images: [],
      tolerance,
      pass: true,
    };
    for (const path of opts.images) {
      const bytes = new Uint8Array(await readFile(path));
      const input = preprocess(bytes, { size: H!, normalization: first.normalization }, path);
      const want = await reference.run(input, [H!, W!, C!], blocks.map((b) => b.tensor));
      const result: VerifyImageResult = { image: basename(path), referenceTop1: argmax(want[head]!.data), ours: [] };
      for (const [ci, model] of models.entries()) {
        const got = await model.run(
          { [model.inputs[0]!.name]: { data: input, dims: [1, H!, W!, C!] } },
          { outputs: blocks.map((b) => b.tensor) },
        );
        blocks.forEach((b, bi) => {
          const row = report.blocks[bi]!;
          row.shape = want[b.tensor]!.shape.slice(1);
          row.maxAbsDiff[ci] = Math.max(row.maxAbsDiff[ci]!, maxAbsDiff(got[b.tensor]!.data, want[b.tensor]!.data));
        });
        const probs = got[head]!.data;
        const top1 = argmax(probs);
        const maxProbDiff = maxAbsDiff(probs, want[head]!.data);
        result.ours.push({ top1, maxProbDiff });
        if (top1 !== result.referenceTop1 || !(maxProbDiff <= tolerance)) report.pass = false;
      }
      report.images.push(result);
    }
    return report;
  } finally {
    for (const m of models) m.dispose();
    reference.dispose();
  }
}

function fmt(x: number): string {
  return x === 0 ? "0" : x.toExponential(1);
}

export function formatReport(r: VerifyReport): string {
  const label = (i: number) => r.labels?.[i] ?? `class ${i}`;
  const names = r.configs.map((c) => `${c.build}/${c.threads}T`);
  const lines = [
    `verify: ${r.source}, ours vs TensorFlow.js (tfjs-layers on the ${r.referenceBackend} backend), ${r.images.length} image(s)`,
    "",
    "max |Δ| at the end of each block, over all images:",
    ["block".padEnd(10), "shape".padEnd(12), ...names.map((n) => n.padStart(11))].join(" "),
  ];
  for (const b of r.blocks) {
    lines.push([b.name.padEnd(10), b.shape.join("x").padEnd(12), ...b.maxAbsDiff.map((d) => fmt(d).padStart(11))].join(" "));
  }
  lines.push("", "top-1 per image (tfjs → ours in every configuration) and max |Δprobability|:");
  for (const img of r.images) {
    const agree = img.ours.every((o) => o.top1 === img.referenceTop1);
    const ours = agree ? "same" : img.ours.map((o, i) => `${names[i]}: ${label(o.top1)}`).join(", ");
    const worst = Math.max(...img.ours.map((o) => o.maxProbDiff));
    lines.push(`  ${img.image.padEnd(16)} ${label(img.referenceTop1).padEnd(10)} → ${ours.padEnd(6)} max |Δp| ${fmt(worst)}`);
  }
  lines.push("", r.pass
    ? `PASS: identical top-1 and max |Δprobability| ≤ ${r.tolerance} for every image and configuration`
    : `FAIL: top-1 differs or max |Δprobability| > ${r.tolerance} (see above)`);
  return lines.join("\n");
}
