/**
 * The command line (dist/cli.js, built by `node build.mjs`): `classify` output,
 * exit codes and usage errors, and the `verify` acceptance check against
 * TensorFlow.js, through the CLI and through the verify() API.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { suite } from "uvu";
import * as assert from "uvu/assert";

import { verify, type VerifyConfig } from "../../src/cli/verify.js";
import { resolveSource } from "../../src/platform/node-source.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "dist", "cli.js");
const PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"];
const LABELS = ["drawing", "hentai", "neutral", "porn", "sexy"];
const BLOCKS = ["stem", ...Array.from({ length: 11 }, (_, i) => `mixed${i}`), "head"];

interface Result {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli.js …args` in the package root; never rejects. */
function cli(args: string[], timeout = 120_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, timeout, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const e = error as (Error & { code?: number | string; signal?: string | null }) | null;
      resolve({
        code: e ? (typeof e.code === "number" ? e.code : null) : 0,
        signal: e?.signal ?? null,
        stdout: String(stdout),
        stderr: String(stderr),
      });
    });
  });
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "");
}

interface Top {
  index: number;
  label: string;
  probability: number;
}

function checkTop(top: Top[], k: number, what: string): void {
  assert.is(top.length, k, `${what}: ${top.length} entries`);
  top.forEach((t, i) => {
    assert.equal(Object.keys(t).sort(), ["index", "label", "probability"], `${what}: keys`);
    assert.ok(Number.isInteger(t.index) && t.index >= 0 && t.index < 5, `${what}: index ${t.index}`);
    assert.is(t.label, LABELS[t.index], `${what}: label`);
    assert.ok(t.probability >= 0 && t.probability <= 1, `${what}: probability ${t.probability}`);
    if (i > 0) assert.ok(top[i - 1]!.probability >= t.probability, `${what}: not sorted`);
  });
  assert.is(new Set(top.map((t) => t.index)).size, k, `${what}: repeated index`);
}

// ---------------------------------------------------------------------------

const Classify = suite("cli classify");

Classify("--json --top 3 --threads 2: one JSON line per image", async () => {
  const images = ["fixtures/images/chelsea.png", "fixtures/images/rocket.jpg"];
  const r = await cli(["classify", ...images, "--json", "--top", "3", "--threads", "2"]);
  assert.is(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
  const out = r.stdout.split("\n");
  assert.is(out.at(-1), "", "output does not end with a newline");
  const rows = out.slice(0, -1);
  assert.is(rows.length, 2, `expected exactly 2 lines:\n${r.stdout}`);
  rows.forEach((line, i) => {
    const row = JSON.parse(line) as { image: string; top: Top[] };
    assert.equal(Object.keys(row), ["image", "top"]);
    assert.is(row.image, images[i]);
    checkTop(row.top, 3, images[i]!);
    assert.is(row.top[0]!.label, "neutral");
  });
});

Classify("text output: the path, then one line per class", async () => {
  const r = await cli(["classify", "fixtures/images/coffee.png", "--top", "2", "--threads", "1", "--build", "plain"]);
  assert.is(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
  const out = lines(r.stdout);
  assert.is(out.length, 3, r.stdout);
  assert.is(out[0], "fixtures/images/coffee.png");
  assert.match(out[1]!, /^\s+\d+\.\d\d%\s+neutral \(2\)$/);
  assert.match(out[2]!, /^\s+\d+\.\d\d%\s+\w+ \(\d\)$/);
});

Classify("a missing file and a non-image: exit 1, each named, the others still classified", async () => {
  const args = ["fixtures/images/chelsea.png", "fixtures/images/nope.png", "fixtures/images/README.md", "fixtures/images/rocket.jpg"];
  const text = await cli(["classify", ...args, "--top", "1"]);
  assert.is(text.code, 1, `exit ${text.code}; stderr: ${text.stderr}`);
  assert.match(text.stderr, /fixtures\/images\/nope\.png/);
  assert.match(text.stderr, /no such file|ENOENT/);
  assert.match(text.stderr, /fixtures\/images\/README\.md: .*unrecognised format/);
  assert.match(text.stdout, /fixtures\/images\/chelsea\.png\n\s+\d+\.\d\d%\s+neutral/);
  assert.match(text.stdout, /fixtures\/images\/rocket\.jpg\n\s+\d+\.\d\d%\s+neutral/);
  assert.not.match(text.stdout, /nope|README/);

  const json = await cli(["classify", ...args, "--top", "1", "--json"]);
  assert.is(json.code, 1, `exit ${json.code}; stderr: ${json.stderr}`);
  const rows = lines(json.stdout).map((l) => JSON.parse(l) as { image: string; top?: Top[]; error?: string });
  assert.equal(rows.map((r) => r.image), args);
  checkTop(rows[0]!.top!, 1, "chelsea");
  checkTop(rows[3]!.top!, 1, "rocket");
  assert.match(rows[1]!.error!, /nope\.png/);
  assert.match(rows[2]!.error!, /unrecognised format/);
  assert.is(rows[1]!.top, undefined);
});

Classify("unknown option, no images, bad --top and bad --threads: exit 2 with usage", async () => {
  const cases: [string[], RegExp][] = [
    [["classify", "fixtures/images/chelsea.png", "--bogus"], /unknown option --bogus/],
    [["classify"], /classify needs at least one image/],
    [["classify", "--json"], /classify needs at least one image/],
    [["classify", "fixtures/images/chelsea.png", "--top", "0"], /--top takes a positive integer, got 0/],
    [["classify", "fixtures/images/chelsea.png", "--top", "abc"], /--top takes a positive integer, got abc/],
    [["classify", "fixtures/images/chelsea.png", "--top"], /--top needs a value/],
    [["classify", "fixtures/images/chelsea.png", "--threads", "0"], /--threads takes a positive integer, got 0/],
    [["frobnicate"], /unknown command frobnicate/],
    [[], /usage:/],
  ];
  for (const [args, pattern] of cases) {
    const r = await cli(args);
    const what = `inception-wasm ${args.join(" ")}`;
    assert.is(r.code, 2, `${what}: exit ${r.code}; stderr: ${r.stderr}`);
    assert.match(r.stderr + r.stdout, pattern, `${what}: ${r.stderr}`);
    assert.match(r.stderr + r.stdout, /usage:\n\s+inception-wasm classify/, `${what}: no usage`);
    assert.not.match(r.stdout, /%/, `${what}: classified something anyway`);
  }
});

Classify("--help prints usage and exits 0", async () => {
  const r = await cli(["--help"]);
  assert.is(r.code, 0);
  assert.match(r.stdout, /usage:/);
  const r2 = await cli(["classify", "--help"]);
  assert.is(r2.code, 0);
  assert.match(r2.stdout, /inception-wasm verify/);
});

Classify("a bad build or crop is an error naming the option", async () => {
  const build = await cli(["classify", "fixtures/images/chelsea.png", "--build", "fast"]);
  assert.ok(build.code === 1 || build.code === 2, `exit ${build.code}`);
  assert.match(build.stderr, /build must be "auto", "relaxed" or "plain", got "fast"/);
  const crop = await cli(["classify", "fixtures/images/chelsea.png", "--crop", "2"]);
  assert.ok(crop.code === 1 || crop.code === 2, `exit ${crop.code}`);
  assert.match(crop.stderr, /crop must be a fraction in \(0, 1\], got 2/);
});

Classify("--labels FILE renames the classes; a wrong count is an error", async () => {
  const dir = await mkdtemp(join(tmpdir(), "inception-wasm-cli-"));
  try {
    const good = join(dir, "labels.txt");
    await writeFile(good, "Drawing\nHentai\nNeutral\nPorn\nSexy\n");
    const r = await cli(["classify", "fixtures/images/chelsea.png", "--labels", good, "--top", "1", "--json", "--threads", "1"]);
    assert.is(r.code, 0, r.stderr);
    const row = JSON.parse(r.stdout) as { top: Top[] };
    assert.equal(row.top.map((t) => [t.index, t.label]), [[2, "Neutral"]]);
    const bad = join(dir, "three.txt");
    await writeFile(bad, "a\nb\nc\n");
    const r2 = await cli(["classify", "fixtures/images/chelsea.png", "--labels", bad, "--threads", "1"]);
    assert.is(r2.code, 1, `exit ${r2.code}`);
    assert.match(r2.stderr, /3 labels given for a model with 5 classes/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Classify.run();

// ---------------------------------------------------------------------------

const Verify = suite("verify");

Verify("bad verify options: exit 2 with usage", async () => {
  for (const [args, pattern] of [
    [["verify", "--builds", "fast"], /--builds takes relaxed and\/or plain, got fast/],
    [["verify", "--threads", "0"], /--threads takes positive integers, got 0/],
    [["verify", "--tolerance", "-1"], /--tolerance takes a number ≥ 0, got -1/],
  ] as [string[], RegExp][]) {
    const r = await cli(args);
    assert.is(r.code, 2, `${args.join(" ")}: exit ${r.code}; stderr: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.match(r.stderr, /usage:/);
  }
});

Verify("`inception-wasm verify` (defaults) passes, every block reported, head ≤ 1e-4", async () => {
  const r = await cli(["verify"], 300_000);
  assert.is(r.signal, null, `killed by ${r.signal}`);
  assert.is(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  const out = r.stdout.split("\n");
  assert.match(out[0]!, /^verify: nsfwjs@\d+\.\d+\.\d+ inception_v3, ours vs TensorFlow\.js .*wasm backend.*, 4 image\(s\)$/);

  // The per-block table: a header row, then one row per block.
  const header = out.findIndex((l) => /^block\s+shape\s/.test(l));
  assert.ok(header >= 0, `no table header in:\n${r.stdout}`);
  const columns = out[header]!.trim().split(/\s+/).slice(2);
  assert.equal(columns, ["relaxed/1T", "relaxed/2T", "plain/1T", "plain/2T"]);
  const rows = new Map<string, { shape: string; values: number[] }>();
  for (const line of out.slice(header + 1)) {
    if (line.trim() === "") break;
    const [name, shape, ...values] = line.trim().split(/\s+/);
    rows.set(name!, { shape: shape!, values: values.map(Number) });
  }
  assert.equal([...rows.keys()], BLOCKS);
  for (const [name, row] of rows) {
    assert.is(row.values.length, 4, `${name}: ${row.values.length} values`);
    assert.ok(row.values.every((v) => Number.isFinite(v) && v >= 0), `${name}: ${row.values}`);
  }
  assert.is(rows.get("stem")!.shape, "35x35x192");
  assert.is(rows.get("mixed5")!.shape, "17x17x768");
  assert.is(rows.get("mixed10")!.shape, "8x8x2048");
  assert.is(rows.get("head")!.shape, "5");
  for (const v of rows.get("head")!.values) assert.ok(v <= 1e-4, `head |Δ| ${v} > 1e-4`);

  // One top-1 line per sample photo, all agreeing with tfjs.
  for (const photo of PHOTOS) {
    const line = out.find((l) => l.trim().startsWith(photo));
    assert.ok(line, `no line for ${photo}`);
    assert.match(line, /neutral\s+→ same\s+max \|Δp\| (0|\d\.\de-\d+)$/);
    const dp = Number(line.split(/\s+/).at(-1));
    assert.ok(dp <= 1e-4, `${photo}: max |Δp| ${dp}`);
  }
  assert.match(r.stdout, /\nPASS: identical top-1 and max \|Δprobability\| ≤ 0\.0001/);
  assert.not.match(r.stdout, /FAIL/);
});

const CONFIGS: VerifyConfig[] = [
  { build: "relaxed", threads: 1 },
  { build: "relaxed", threads: 2 },
  { build: "plain", threads: 1 },
  { build: "plain", threads: 2 },
];

Verify("verify() through the API passes with identical top-1 in all 4 configurations", async () => {
  const images = PHOTOS.map((p) => join(ROOT, "fixtures", "images", p));
  const report = await verify(await resolveSource("nsfwjs"), { images, configs: CONFIGS });
  assert.is(report.pass, true);
  assert.is(report.tolerance, 1e-4);
  assert.is(report.referenceBackend, "wasm");
  assert.equal(report.configs, CONFIGS);
  assert.equal(report.labels, LABELS);
  assert.equal(report.blocks.map((b) => b.name), BLOCKS);
  for (const b of report.blocks) {
    assert.is(b.maxAbsDiff.length, 4);
    assert.ok(b.maxAbsDiff.every((d) => Number.isFinite(d) && d >= 0), `${b.name}: ${b.maxAbsDiff}`);
    assert.ok(b.shape.length > 0, `${b.name}: no shape`);
  }
  assert.equal(report.blocks.at(-1)!.shape, [5]);
  assert.equal(report.images.map((i) => i.image), PHOTOS);
  for (const img of report.images) {
    assert.is(img.ours.length, 4, img.image);
    assert.is(LABELS[img.referenceTop1], "neutral", `${img.image}: tfjs top-1 ${img.referenceTop1}`);
    img.ours.forEach((o, ci) => {
      const cfg = `${CONFIGS[ci]!.build}/${CONFIGS[ci]!.threads}T`;
      assert.is(o.top1, img.referenceTop1, `${img.image} ${cfg}: top-1 ${o.top1} vs tfjs ${img.referenceTop1}`);
      assert.ok(o.maxProbDiff <= 1e-4, `${img.image} ${cfg}: max |Δp| ${o.maxProbDiff}`);
    });
  }
  // The head row is the max over images of the per-image probability differences.
  const head = report.blocks.at(-1)!.maxAbsDiff;
  head.forEach((d, ci) => {
    const worst = Math.max(...report.images.map((i) => i.ours[ci]!.maxProbDiff));
    assert.ok(Math.abs(d - worst) <= 1e-12, `head column ${ci}: ${d} vs per-image max ${worst}`);
  });
});

Verify("verify() can fail: tolerance 0 fails whenever |Δp| is nonzero", async () => {
  const report = await verify(await resolveSource("nsfwjs"), {
    images: [join(ROOT, "fixtures", "images", "rocket.jpg")],
    configs: [{ build: "plain", threads: 1 }],
    tolerance: 0,
  });
  const dp = report.images[0]!.ours[0]!.maxProbDiff;
  assert.is(report.tolerance, 0);
  if (dp > 0) assert.is(report.pass, false, `max |Δp| ${dp} > 0 but the report passes`);
  else assert.is(report.pass, true, "|Δp| is exactly 0 yet the report fails");
});

Verify("`verify --tolerance 0` exits 1 with FAIL whenever the printed |Δp| is nonzero", async () => {
  const r = await cli(["verify", "--tolerance", "0", "--builds", "plain", "--threads", "1", "fixtures/images/rocket.jpg"], 300_000);
  assert.is(r.signal, null, `killed by ${r.signal}`);
  const line = r.stdout.split("\n").find((l) => l.trim().startsWith("rocket.jpg"));
  assert.ok(line, `no rocket.jpg line in:\n${r.stdout}\n${r.stderr}`);
  const dp = Number(line.split(/\s+/).at(-1));
  assert.ok(Number.isFinite(dp), line);
  if (dp > 0) {
    assert.is(r.code, 1, `exit ${r.code} although |Δp| ${dp} > tolerance 0`);
    assert.match(r.stdout, /\nFAIL: top-1 differs or max \|Δprobability\| > 0 /);
  } else {
    assert.is(r.code, 0, `exit ${r.code} with |Δp| exactly 0`);
    assert.match(r.stdout, /\nPASS/);
  }
});

Verify("verify() rejects an empty image list and a missing image", async () => {
  const source = await resolveSource("nsfwjs");
  try {
    await verify(source, { images: [], configs: CONFIGS });
    assert.unreachable("no error for an empty image list");
  } catch (e) {
    assert.match((e as Error).message, /at least one image/);
  }
  try {
    await verify(source, { images: [join(ROOT, "fixtures", "images", "nope.png")], configs: [{ build: "plain", threads: 1 }] });
    assert.unreachable("no error for a missing image");
  } catch (e) {
    assert.match((e as Error).message, /nope\.png/);
  }
});

Verify.run();
