import { basename } from "node:path";
import { readFile } from "node:fs/promises";
import { importGraph, loadGraph, type ResolvedSource } from "../api/load.js";
import type { Model } from "../api/model.js";
import type { Graph, Normalization } from "../graph/ir.js";
import { nodePlatform } from "../platform/node.js";
import { loadImageDecoders, preprocess } from "../preprocess/index.js";
import type { TfjsReference } from "../reference/tfjs-engine.js";
import type { KernelBuild } from "../runtime/engine.js";

/**
 * The consistency check against TensorFlow.js: the same model and the same
 * preprocessed input through tfjs (on tfjs-backend-wasm) and through our
 * runtime in each requested configuration, comparing the tensor at the end
 * of every block (stem, mixed0…mixed10, head) and the top-1 class.
 *
 * A tfjs layers model runs in tfjs-layers itself. Every other source (ONNX)
 * has no tfjs loader, so tfjs ops execute its imported graph node by node:
 * that still checks our optimization passes, planner and kernels, though
 * not the importer, which both sides share.
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
  /** Input normalization, overriding the model's metadata; required when the model does not say (most ONNX files). */
  normalization?: Normalization;
}

export interface VerifyImageResult {
  image: string;
  referenceTop1: number;
  /** Per config: our top-1 and max |Δprobability|. */
  ours: { top1: number; maxProbDiff: number }[];
}

export interface VerifyReport {
  source: string;
  /** What runs the model in tfjs: tfjs-layers, or tfjs ops executing the imported graph. */
  reference: "layers" | "graph";
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

/**
 * The blocks to compare: the importer's (stem, mixed…, head) or, for a graph
 * it found no blocks in, just the output as "head".
 */
function blocksOf(graph: Graph): { name: string; tensor: string }[] {
  const blocks = graph.metadata.blocks ?? [];
  return blocks.length > 0 ? blocks : [{ name: "head", tensor: graph.outputs[0]! }];
}

/** The tfjs side; each reference module is loaded only when used, so ONNX checks need no tfjs-layers. */
async function createReference(resolved: ResolvedSource, graph: Graph): Promise<TfjsReference> {
  if (resolved.kind === "tfjs-layers") {
    const { createTfjsReference } = await import("../reference/tfjs.js");
    return createTfjsReference(resolved.artifacts);
  }
  const { createTfjsGraphReference } = await import("../reference/tfjs-graph.js");
  return createTfjsGraphReference(graph);
}

export async function verify(resolved: ResolvedSource, opts: VerifyOptions): Promise<VerifyReport> {
  const tolerance = opts.tolerance ?? 1e-4;
  if (opts.images.length === 0) throw new Error("verify needs at least one image");
  const graph = await importGraph(resolved);
  const normalization = opts.normalization ?? graph.metadata.normalization;
  if (!normalization) {
    throw new Error(
      `${graph.metadata.source} does not say how its input is normalized; pass normalization "tf" | "unit" | "torch" (--normalization on the command line)`,
    );
  }
  // Checked before anything is loaded: preprocessing makes square RGB images.
  const inputs = graph.nodes.filter((n) => n.op === "input").map((n) => n.shape);
  const [H, W, C] = inputs[0] ?? [];
  if (inputs.length !== 1 || inputs[0]!.length !== 3 || H !== W || C !== 3) {
    throw new Error(`${graph.metadata.source}: verify feeds one square RGB image, but the model's inputs are ${inputs.map((s) => `[${s}]`).join(", ")}`);
  }
  const blocks = blocksOf(graph);
  const reference = await createReference(resolved, graph);
  const models: Model[] = [];
  try {
    for (const cfg of opts.configs) {
      // Every block tensor must survive fusion so it can be compared.
      models.push(await loadGraph(graph, { ...cfg, normalization, keep: blocks.map((b) => b.tensor) }, nodePlatform));
    }
    const first = models[0]!;
    const head = blocks.at(-1)!.tensor;
    const report: VerifyReport = {
      source: first.source,
      reference: resolved.kind === "tfjs-layers" ? "layers" : "graph",
      referenceBackend: reference.backend,
      labels: first.labels,
      configs: opts.configs,
      blocks: blocks.map((b) => ({ ...b, shape: [], maxAbsDiff: opts.configs.map(() => 0) })),
      images: [],
      tolerance,
      pass: true,
    };
    await loadImageDecoders();
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
    `verify: ${r.source}, ours vs TensorFlow.js (${r.reference === "layers" ? "tfjs-layers" : "tfjs ops running the imported graph"} on the ${r.referenceBackend} backend), ${r.images.length} image(s)`,
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
