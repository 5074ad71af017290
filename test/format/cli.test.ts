/**
 * `inception-wasm convert` end to end (dist/cli.js, built by `node build.mjs`):
 * nsfwjs and ONNX sources to .iwm files that `classify --model` and
 * loadModel read, and the usage errors.
 */
import { execFile } from "node:child_process";
import { readFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { suite } from "uvu";
import * as assert from "uvu/assert";

import { graphToOnnx } from "../../src/export/onnx.js";
import { convertToIwm, isIwm } from "../../src/format/iwm.js";
import { loadModel } from "../../src/index.js";
import { headerOf, tinyGraph } from "./helpers.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "dist", "cli.js");
const PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"].map((p) => join("fixtures", "images", p));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli.js …args` in the package root; never rejects. */
function cli(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, timeout: 120_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const e = error as (Error & { code?: number | string }) | null;
      resolve({ code: e ? (typeof e.code === "number" ? e.code : null) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

interface Top {
  index: number;
  label: string;
  probability: number;
}

function tops(stdout: string): Top[][] {
  return stdout.split("\n").filter((l) => l.trim()).map((l) => (JSON.parse(l) as { top: Top[] }).top);
}

const convert = suite("inception-wasm convert");

let dir = "";
convert.before(async () => {
  dir = await mkdtemp(join(tmpdir(), "iwm-cli-"));
});
convert.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

convert("nsfwjs → f16 .iwm with a kept tensor; classify --model reads it; loadModel keeps the tensor", async () => {
  const out = join(dir, "nsfwjs-f16.iwm");
  const converted = await cli(["convert", "-o", out, "--weights", "f16", "--keep", "conv2d_1"]);
  assert.is(converted.code, 0, converted.stderr);
  assert.match(converted.stdout, new RegExp(`^${out.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: 4\\d\\.\\d MiB, f16 weights, from nsfwjs@[\\d.]+ inception_v3\\n$`));
  const bytes = new Uint8Array(await readFile(out));
  assert.ok(isIwm(bytes));
  assert.is(headerOf(bytes).weights, "f16");
  assert.ok(headerOf(bytes).keep.includes("conv2d_1"));

  const [fromIwm, fromSource] = await Promise.all([
    cli(["classify", "--json", "--top", "5", "--model", out, ...PHOTOS]),
    cli(["classify", "--json", "--top", "5", ...PHOTOS]),
  ]);
  assert.is(fromIwm.code, 0, fromIwm.stderr);
  assert.is(fromSource.code, 0, fromSource.stderr);
  const got = tops(fromIwm.stdout);
  const want = tops(fromSource.stdout);
  assert.is(got.length, PHOTOS.length);
  got.forEach((top, i) => {
    assert.is(top[0]!.label, want[i]![0]!.label, `${PHOTOS[i]}: top-1`);
    for (const p of top) {
      const q = want[i]!.find((w) => w.index === p.index)!;
      // The f16 bound of test/format/nsfwjs.test.ts (the JSON keeps full float precision).
      assert.ok(Math.abs(p.probability - q.probability) <= 2e-3, `${PHOTOS[i]} ${p.label}: ${p.probability} vs ${q.probability}`);
    }
  });

  const model = await loadModel(out, { keep: ["conv2d_1"] });
  try {
    const [, H, W, C] = model.inputs[0]!.shape;
    const result = await model.run({ input_1: { data: new Float32Array(H! * W! * C!).fill(0.5), dims: [1, H!, W!, C!] } }, { outputs: ["conv2d_1"] });
    assert.equal(result.conv2d_1!.dims, [1, 149, 149, 32]);
  } finally {
    model.dispose();
  }
});

convert("an ONNX model → int8 .iwm (normalization passed at load, as ONNX carries none)", async () => {
  const onnx = join(dir, "tiny.onnx");
  const out = join(dir, "tiny.iwm");
  const graph = tinyGraph();
  await writeFile(onnx, graphToOnnx({ ...graph, metadata: { source: "tiny" } }));
  const converted = await cli(["convert", "--model", onnx, "-o", out, "--weights", "int8"]);
  assert.is(converted.code, 0, converted.stderr);
  assert.match(converted.stdout, /, int8 weights, from .*tiny\.onnx\n$/);
  const model = await loadModel(out, { threads: 1, normalization: "unit" });
  try {
    assert.equal(model.inputs.map((i) => i.shape), [[-1, 18, 18, 4]]);
    assert.equal(model.outputs.map((o) => o.shape), [[-1, 3]]);
    const result = Object.values(await model.run({ [model.inputs[0]!.name]: { data: new Float32Array(18 * 18 * 4).fill(0.5), dims: [1, 18, 18, 4] } }))[0]!;
    assert.ok(Math.abs(result.data.reduce((a, b) => a + b, 0) - 1) < 1e-5, "softmax output sums to 1");
  } finally {
    model.dispose();
  }
});

convert("usage errors exit 2; sources that cannot be converted exit 1, saying why", async () => {
  const usage: [string[], string][] = [
    [["convert"], "convert needs -o OUT.iwm"],
    [["convert", "-o", join(dir, "m.bin")], `the output file must end in .iwm, got ${join(dir, "m.bin")}`],
    [["convert", "-o", join(dir, "m.iwm"), "--weights", "f64"], "--weights takes f32, f16 or int8, got f64"],
    [["convert", "model.onnx", "-o", join(dir, "m.iwm")], "convert takes no positional arguments, got model.onnx"],
    [["convert", "-o"], "--output needs a value"],
  ];
  for (const [args, message] of usage) {
    const r = await cli(args);
    assert.is(r.code, 2, `${args.join(" ")}: exit code`);
    assert.ok(r.stderr.startsWith(`inception-wasm: ${message}\nusage:`), `${args.join(" ")}: ${r.stderr}`);
  }
  const iwm = join(dir, "already.iwm");
  await writeFile(iwm, await convertToIwm(tinyGraph()));
  const failures: [string[], RegExp][] = [
    [["convert", "--model", iwm, "-o", join(dir, "again.iwm")], /is an \.iwm file: .* cannot be imported or converted again\n$/],
    [["convert", "-o", join(dir, "m.iwm"), "--keep", "nope"], /keep: the model has no tensor named "nope"\n$/],
    [["classify", "--model", join(dir, "missing.iwm"), PHOTOS[0]!], /ENOENT/],
  ];
  for (const [args, pattern] of failures) {
    const r = await cli(args);
    assert.is(r.code, 1, `${args.join(" ")}: exit code (${r.stderr})`);
    assert.match(r.stderr, pattern);
  }
});

convert.run();
