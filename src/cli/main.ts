#!/usr/bin/env node
/**
 * inception-wasm command line:
 *   inception-wasm classify <images…> [--model FILE] [--top N] [--threads N] [--build B] [--crop F]
 *                           [--normalization tf|unit|torch] [--json]
 *   inception-wasm verify [--model FILE] [--builds relaxed,plain] [--threads 1,2] [--tolerance X]
 *                         [--normalization tf|unit|torch] [images…]
 *   inception-wasm convert [--model FILE] -o OUT.iwm [--weights f32|f16|int8] [--keep t1,t2]
 */
import { readFile, readdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { importGraph, loadResolved } from "../api/load.js";
import { convertToIwm } from "../format/iwm.js";
import { WEIGHT_STORAGES, type WeightStorage } from "../format/storage.js";
import { nodePlatform } from "../platform/node.js";
import { resolveSource } from "../platform/node-source.js";
import type { Normalization } from "../graph/ir.js";
import type { KernelBuild } from "../runtime/engine.js";

const USAGE = `usage:
  inception-wasm classify <images…> [--model FILE] [--top N] [--threads N] [--build auto|relaxed|plain]
                          [--crop F] [--labels FILE] [--normalization tf|unit|torch] [--json]
  inception-wasm verify [--model FILE] [--builds relaxed,plain] [--threads 1,2] [--tolerance X]
                        [--normalization tf|unit|torch] [images…]
  inception-wasm convert [--model FILE] -o OUT.iwm [--weights f32|f16|int8] [--keep t1,t2]

--model defaults to the pretrained InceptionV3 of the nsfwjs package; verify's images default to the
sample photos shipped in fixtures/images. --normalization is needed for models that do not say how
their input is normalized (most ONNX files). convert writes the model as an .iwm file (graph optimized,
weights packed for the kernels, GEMM weights as f32, f16 or int8) that --model and loadModel read
without reparsing; the blocks and embedding stay readable, and so do the --keep tensors.`;

class UsageError extends Error {}

interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
}

const VALUED = new Set(["--model", "--top", "--threads", "--build", "--builds", "--crop", "--labels", "--tolerance", "--normalization", "--output", "--weights", "--keep"]);
const ALIASES = new Map([["-o", "--output"]]);
const SWITCHES = new Set(["--json", "--help"]);

function parse(args: string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const a = ALIASES.get(args[i]!) ?? args[i]!;
    if (!a.startsWith("--")) positional.push(a);
    else if (SWITCHES.has(a)) flags.set(a, true);
    else if (VALUED.has(a)) {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      flags.set(a, v);
    } else throw new UsageError(`unknown option ${a}`);
  }
  return { positional, flags };
}

function intFlag(p: Parsed, name: string, fallback: number | undefined): number | undefined {
  const v = p.flags.get(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} takes a positive integer, got ${String(v)}`);
  return n;
}

function normalizationFlag(p: Parsed): Normalization | undefined {
  const v = p.flags.get("--normalization");
  if (v !== undefined && v !== "tf" && v !== "unit" && v !== "torch") {
    throw new UsageError(`--normalization takes tf, unit or torch, got ${String(v)}`);
  }
  return v;
}

function listFlag(p: Parsed, name: string, fallback: string): string[] {
  const v = p.flags.get(name);
  return (typeof v === "string" ? v : fallback).split(",").map((s) => s.trim()).filter(Boolean);
}

/** The --model source; `streamWeights` for commands that only pack its weights (see resolveSource). */
async function modelSource(p: Parsed, { streamWeights = false } = {}) {
  const m = p.flags.get("--model");
  return resolveSource(typeof m === "string" ? m : "nsfwjs", { streamWeights });
}

async function classify(p: Parsed): Promise<number> {
  if (p.positional.length === 0) throw new UsageError("classify needs at least one image");
  const labelsFile = p.flags.get("--labels");
  const labels = typeof labelsFile === "string"
    ? (await readFile(labelsFile, "utf8")).split("\n").map((l) => l.trim()).filter(Boolean)
    : undefined;
  const topK = intFlag(p, "--top", 5)!;
  const normalization = normalizationFlag(p);
  const crop = p.flags.get("--crop");
  const build = p.flags.get("--build");
  const model = await loadResolved(await modelSource(p, { streamWeights: true }), {
    threads: intFlag(p, "--threads", undefined),
    build: typeof build === "string" ? (build as KernelBuild | "auto") : undefined,
    crop: typeof crop === "string" ? Number(crop) : undefined,
    labels,
    normalization,
  }, nodePlatform);
  const json = p.flags.has("--json");
  let failures = 0;
  try {
    for (const image of p.positional) {
      try {
        const top = await model.classify(new Uint8Array(await readFile(image)), { topK });
        if (json) console.log(JSON.stringify({ image, top }));
        else {
          console.log(image);
          for (const t of top) console.log(`  ${(t.probability * 100).toFixed(2).padStart(6)}%  ${t.label} (${t.index})`);
        }
      } catch (e) {
        failures++;
        if (json) console.log(JSON.stringify({ image, error: (e as Error).message }));
        else console.error(`${image}: ${(e as Error).message}`);
      }
    }
  } finally {
    model.dispose();
  }
  return failures ? 1 : 0;
}

async function sampleImages(): Promise<string[]> {
  // The package root holds fixtures/: one level above dist/cli.js, two above src/cli/main.ts (run through tsx).
  for (const rel of ["../fixtures/images", "../../fixtures/images"]) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    try {
      const names = (await readdir(dir)).filter((n) => /\.(png|jpe?g)$/i.test(n)).sort();
      if (names.length) return names.map((n) => join(dir, n));
    } catch {
      // Not this layout; try the next.
    }
  }
  throw new UsageError("no sample images found; pass image paths");
}

async function runVerify(p: Parsed): Promise<number> {
  const builds = listFlag(p, "--builds", "relaxed,plain");
  for (const b of builds) if (b !== "relaxed" && b !== "plain") throw new UsageError(`--builds takes relaxed and/or plain, got ${b}`);
  const threads = listFlag(p, "--threads", "1,2").map((t) => {
    const n = Number(t);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--threads takes positive integers, got ${t}`);
    return n;
  });
  const tol = p.flags.get("--tolerance");
  const tolerance = typeof tol === "string" ? Number(tol) : undefined;
  if (tolerance !== undefined && !(tolerance >= 0)) throw new UsageError(`--tolerance takes a number ≥ 0, got ${String(tol)}`);
  const normalization = normalizationFlag(p);
  const images = p.positional.length ? p.positional : await sampleImages();
  const configs = builds.flatMap((build) => threads.map((t) => ({ build: build as KernelBuild, threads: t })));
  // Loaded on demand: it pulls in the optional TensorFlow.js peer dependencies.
  const { formatReport, verify } = await import("./verify.js");
  const report = await verify(await modelSource(p), { images, configs, tolerance, normalization });
  console.log(formatReport(report));
  return report.pass ? 0 : 1;
}

async function convert(p: Parsed): Promise<number> {
  if (p.positional.length) throw new UsageError(`convert takes no positional arguments, got ${p.positional.join(" ")}`);
  const out = p.flags.get("--output");
  if (typeof out !== "string") throw new UsageError("convert needs -o OUT.iwm");
  // loadModel and --model recognize .iwm files by this extension.
  if (!out.endsWith(".iwm")) throw new UsageError(`the output file must end in .iwm, got ${out}`);
  const weights = p.flags.get("--weights") ?? "f32";
  if (!WEIGHT_STORAGES.includes(weights as WeightStorage)) throw new UsageError(`--weights takes f32, f16 or int8, got ${String(weights)}`);
  const graph = await importGraph(await modelSource(p));
  const bytes = await convertToIwm(graph, { weights: weights as WeightStorage, keep: listFlag(p, "--keep", "") });
  await writeFile(out, bytes);
  console.log(`${out}: ${(bytes.length / 2 ** 20).toFixed(1)} MiB, ${weights} weights, from ${graph.metadata.source}`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === "--help" || command === "help") {
      console.log(USAGE);
      return command ? 0 : 2;
    }
    const p = parse(rest);
    if (p.flags.has("--help")) {
      console.log(USAGE);
      return 0;
    }
    if (command === "classify") return await classify(p);
    if (command === "verify") return await runVerify(p);
    if (command === "convert") return await convert(p);
    throw new UsageError(`unknown command ${command}`);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`inception-wasm: ${e.message}\n${USAGE}`);
      return 2;
    }
    console.error(`inception-wasm: ${(e as Error).message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
