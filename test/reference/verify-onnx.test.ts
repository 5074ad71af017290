/**
 * `verify` on ONNX sources, where the tfjs side is the graph reference
 * executing the imported graph: the nsfwjs InceptionV3 written to ONNX with
 * graphToOnnx (blocks recognized by the ONNX importer), a small graph
 * without Inception blocks (head only), the normalization requirement, and
 * the command line's --normalization flag (src/cli/main.ts through tsx, so no
 * build is needed).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { suite } from "uvu";
import * as assert from "uvu/assert";

import { formatReport, verify, type VerifyConfig } from "../../src/cli/verify.js";
import { graphToOnnx } from "../../src/export/onnx.js";
import type { Graph } from "../../src/graph/ir.js";
import { importTfjsLayers } from "../../src/import/tfjs-layers.js";
import { readNsfwjsInceptionV3 } from "../../src/platform/node-files.js";
import { resolveSource } from "../../src/platform/node-source.js";
import { rejects } from "../support.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const photo = (name: string) => join(ROOT, "fixtures", "images", name);
const BLOCKS = ["stem", ...Array.from({ length: 11 }, (_, i) => `mixed${i}`), "head"];
const RELAXED_1T: VerifyConfig[] = [{ build: "relaxed", threads: 1 }];

/** Runs the CLI from source; never rejects. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", join(ROOT, "src", "cli", "main.ts"), ...args], { cwd: ROOT, timeout: 300_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : null) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      });
  });
}

/** 32x32 RGB → conv → relu → global pool → dense → softmax over 4 classes: no concat, so no blocks but the head. */
function smallGraph(): Graph {
  let s = 9;
  const values = (n: number) => Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
  return {
    nodes: [
      { op: "input", name: "image", inputs: [], shape: [32, 32, 3] },
      { op: "conv2d", name: "conv", inputs: ["image"], kernel: values(3 * 3 * 3 * 8), kernelShape: [3, 3, 3, 8], bias: values(8), strides: [2, 2], pads: { top: 0, left: 0, bottom: 1, right: 1 }, activation: "linear" },
      { op: "relu", name: "relu", inputs: ["conv"] },
      { op: "globalavgpool", name: "pool", inputs: ["relu"] },
      { op: "dense", name: "logits", inputs: ["pool"], kernel: values(8 * 4), kernelShape: [8, 4], bias: values(4), activation: "linear" },
      { op: "softmax", name: "probs", inputs: ["logits"] },
    ],
    outputs: ["probs"],
    metadata: { source: "small" },
  };
}

const Verify = suite("verify on ONNX models (tfjs graph reference)", {} as { dir: string; inception: string; small: string });

Verify.before(async (c) => {
  c.dir = await mkdtemp(join(tmpdir(), "inception-wasm-verify-onnx-"));
  c.inception = join(c.dir, "nsfwjs-inception-v3.onnx");
  await writeFile(c.inception, graphToOnnx(importTfjsLayers(await readNsfwjsInceptionV3())));
  c.small = join(c.dir, "small.onnx");
  await writeFile(c.small, graphToOnnx(smallGraph()));
});

Verify.after(async (c) => {
  await rm(c.dir, { recursive: true, force: true });
});

Verify("nsfwjs InceptionV3 as ONNX: passes, every block compared", async ({ inception }) => {
  const images = [photo("chelsea.png"), photo("rocket.jpg")];
  const report = await verify(await resolveSource(inception), { images, configs: RELAXED_1T, normalization: "unit" });
  assert.is(report.pass, true, formatReport(report));
  assert.is(report.reference, "graph");
  assert.is(report.referenceBackend, "wasm");
  assert.equal(report.blocks.map((b) => b.name), BLOCKS);
  const shape = (name: string) => report.blocks.find((b) => b.name === name)!.shape;
  assert.equal(shape("stem"), [35, 35, 192]);
  assert.equal(shape("mixed5"), [17, 17, 768]);
  assert.equal(shape("mixed10"), [8, 8, 2048]);
  assert.equal(shape("head"), [5]);
  for (const b of report.blocks) {
    assert.ok(Number.isFinite(b.maxAbsDiff[0]) && b.maxAbsDiff[0]! <= 1e-3, `${b.name}: max |Δ| ${b.maxAbsDiff[0]}`);
  }
  assert.ok(report.blocks.at(-1)!.maxAbsDiff[0]! <= 1e-4);
  for (const img of report.images) {
    // nsfwjs class 2 is "neutral"; the ONNX file carries no labels.
    assert.is(img.referenceTop1, 2, img.image);
    assert.is(img.ours[0]!.top1, 2, img.image);
  }
  assert.match(formatReport(report), /ours vs TensorFlow\.js \(tfjs ops running the imported graph on the wasm backend\), 2 image\(s\)/);
});

Verify("a graph without Inception blocks is compared at its output only", async ({ small }) => {
  const report = await verify(await resolveSource(small), { images: [photo("coffee.png")], configs: RELAXED_1T, normalization: "tf" });
  assert.is(report.pass, true, formatReport(report));
  assert.equal(report.blocks.map((b) => [b.name, b.tensor, b.shape]), [["head", "probs", [4]]]);
});

Verify("an ONNX model needs a normalization; a non-image input is refused", async ({ small }) => {
  const source = await resolveSource(small);
  await rejects(verify(source, { images: [photo("coffee.png")], configs: RELAXED_1T }), /does not say how its input is normalized/);
  const flat = smallGraph();
  flat.nodes = [{ op: "input", name: "features", inputs: [], shape: [8] }, flat.nodes[4]!, flat.nodes[5]!];
  flat.nodes[1]!.inputs = ["features"];
  await rejects(
    verify(await resolveSource(graphToOnnx(flat)), { images: [photo("coffee.png")], configs: RELAXED_1T, normalization: "tf" }),
    /verify feeds one square RGB image, but the model's inputs are \[8\]/,
  );
});

Verify("`verify --model x.onnx --normalization unit` exits 0 with PASS; a bad --normalization exits 2", async ({ inception }) => {
  const r = await cli(["verify", "--model", inception, "--normalization", "unit", "--builds", "relaxed", "--threads", "1", "fixtures/images/coffee.png"]);
  assert.is(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /tfjs ops running the imported graph on the wasm backend/);
  assert.match(r.stdout, /\nmixed10\s+8x8x2048\s/);
  assert.match(r.stdout, /\nPASS: /);
  const bad = await cli(["verify", "--model", inception, "--normalization", "imagenet"]);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /--normalization takes tf, unit or torch, got imagenet/);
});

Verify.run();
