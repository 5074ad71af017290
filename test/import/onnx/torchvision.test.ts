/**
 * A real torchvision export: Inception v3 exported by Debian's PyTorch
 * (`python3-torch` 1.13 / `python3-torchvision` 0.14, opset 14, BatchNorm
 * folded into the Conv weights) with random weights, as written by
 * `fixtures/onnx/export_torchvision.py` into `fixtures/onnx/.cache/` (three
 * ~95 MB files, never committed; regenerated here when missing or when the
 * script changed). Install PyTorch with
 * `apt-get install -y python3-torch python3-torchvision`.
 *
 * Besides the default export (with and without transform_input): the same
 * network exported at opset 17, the highest this PyTorch writes, and that
 * file rewritten into the form PyTorch 2.x exporters write for
 * `avg_pool2d(padding=1, count_include_pad=True)` (one AveragePool with
 * pads and count_include_pad=1 instead of Pad + AveragePool). No PyTorch 2.x
 * or model-zoo file is available offline; the rewrite is checked to keep
 * ORT's logits, so it is the same network in the newer form.
 *
 * Our loadModel + run against onnxruntime-node on the same file, for a photo
 * and random inputs in one batch: max error relative to the largest |logit|
 * ≤ 1e-4, the same top-5; the same with one thread and the plain (non-relaxed)
 * kernel build; embed() against ORT's global-pool output; and ORT against
 * PyTorch's own logits, which makes ORT an honest reference for this file.
 * The BatchNorm statistics are calibrated on photos, so chelsea.png's logits
 * are ~8 while PyTorch's white-noise inputs reach ~1e3: both regimes are
 * covered. On the photo every float32 implementation (PyTorch, ORT, ours) is
 * ~1e-5 (relative) from a float64 PyTorch run, ten times below the tolerance.
 */

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as ort from "onnxruntime-node";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  AttributeProto_AttributeType as AttributeType,
  AttributeProtoSchema,
  ModelProtoSchema,
  ValueInfoProtoSchema,
} from "../../../src/import/onnx/gen/onnx_pb.js";
import { loadModel, type LoadOptions, type Model } from "../../../src/index.js";
import { preprocess, loadImageDecoders } from "../../../src/preprocess/index.js";

// PNG/JPEG decoding below is synchronous once the decoders are loaded.
await loadImageDecoders();

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const SCRIPT = join(REPO, "fixtures/onnx/export_torchvision.py");
const CACHE = join(REPO, "fixtures/onnx/.cache");
const PYTHON = "/usr/bin/python3";
const INSTALL = "apt-get install -y python3-torch python3-torchvision";
const PHOTO = join(REPO, "fixtures/images/chelsea.png");
const SIDE = 299;
const CLASSES = 1000;
const FEATURES = 2048;
const TOLERANCE = 1e-4;

interface ExportInfo {
  transform_input: boolean;
  opset: number;
  bytes: number;
}

interface Manifest {
  script_sha256: string;
  torch: string;
  torchvision: string;
  input: { file: string; dims: number[] };
  files: Record<string, ExportInfo>;
}

function readManifest(): Manifest | undefined {
  const path = join(CACHE, "torchvision_inception_v3.json");
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as Manifest) : undefined;
}

function upToDate(manifest: Manifest | undefined, sha256: string): manifest is Manifest {
  if (manifest?.script_sha256 !== sha256 || !existsSync(join(CACHE, manifest.input.file))) return false;
  return Object.entries(manifest.files).every(([file, info]) => existsSync(join(CACHE, file)) && statSync(join(CACHE, file)).size === info.bytes);
}

/** The exports in fixtures/onnx/.cache, running export_torchvision.py first when they are missing or stale. */
function torchvisionExports(): Manifest {
  const sha256 = createHash("sha256").update(readFileSync(SCRIPT)).digest("hex");
  const cached = readManifest();
  if (upToDate(cached, sha256)) return cached;
  const missing = `${SCRIPT} needs Debian's PyTorch to export torchvision's Inception v3: install it with '${INSTALL}'`;
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing; ${missing}`);
  try {
    execFileSync(PYTHON, ["-c", "import torch, torchvision"], { stdio: "pipe", timeout: 120_000 });
  } catch (e) {
    const stderr = String((e as { stderr?: unknown }).stderr ?? "").trim().split("\n").at(-1);
    throw new Error(`${missing} (${stderr || (e as Error).message})`);
  }
  try {
    // ~10 s on two cores; generous for slow CI machines.
    execFileSync(PYTHON, [SCRIPT, CACHE], { stdio: "pipe", timeout: 15 * 60_000, maxBuffer: 64 << 20 });
  } catch (e) {
    const stderr = String((e as { stderr?: unknown }).stderr ?? "").trim().split("\n").slice(-20).join("\n");
    throw new Error(`${PYTHON} ${SCRIPT} ${CACHE} failed: ${(e as Error).message}\n${stderr}`);
  }
  const manifest = readManifest();
  if (!upToDate(manifest, sha256)) throw new Error(`${SCRIPT} did not write the files its manifest lists into ${CACHE}`);
  return manifest;
}

// ---------------------------------------------------------------------------

function readFloats(path: string): Float32Array {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** [N,H,W,C] → [N,C,H,W]. */
function toNchw(x: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        for (let k = 0; k < c; k++) out[((b * c + k) * h + y) * w + xx] = x[((b * h + y) * w + xx) * c + k]!;
      }
    }
  }
  return out;
}

/** [N,C,H,W] → [N,H,W,C]. */
function toNhwc(x: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let k = 0; k < c; k++) {
      for (let y = 0; y < h; y++) {
        for (let xx = 0; xx < w; xx++) out[((b * h + y) * w + xx) * c + k] = x[((b * c + k) * h + y) * w + xx]!;
      }
    }
  }
  return out;
}

/** max |got − want| / max |want| (NaN anywhere makes it NaN). */
function relativeError(got: Float32Array, want: Float32Array): number {
  assert.is(got.length, want.length, "lengths");
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (!(d <= diff)) diff = d;
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return diff / scale;
}

function topK(x: Float32Array, k: number): number[] {
  return [...x.keys()].sort((a, b) => x[b]! - x[a]! || a - b).slice(0, k);
}

function rows(x: Float32Array, size: number): Float32Array[] {
  return Array.from({ length: x.length / size }, (_, i) => x.subarray(i * size, (i + 1) * size));
}

/** Our logits and ORT's (or PyTorch's) for each sample: relative error ≤ 1e-4 and the same top-5 in the same order. */
function assertMatches(got: Float32Array, want: Float32Array, what: string, samples: readonly string[]): void {
  rows(want, CLASSES).forEach((w, i) => {
    const g = got.subarray(i * CLASSES, (i + 1) * CLASSES);
    const err = relativeError(g, w);
    assert.ok(err <= TOLERANCE, `${what}, ${samples[i]}: max relative error ${err} > ${TOLERANCE}`);
    assert.equal(topK(g, 5), topK(w, 5), `${what}, ${samples[i]}: top-5`);
  });
}

/**
 * The reference's top-6 logits must be further apart than the tolerance
 * allows outputs to move, or "identical top-5" would test rounding luck
 * rather than the implementation (random weights can put logits close together).
 */
function assertSeparated(want: Float32Array, what: string, samples: readonly string[]): void {
  rows(want, CLASSES).forEach((w, i) => {
    const scale = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const top = topK(w, 6).map((c) => w[c]!);
    const gap = Math.min(...top.slice(1).map((v, j) => top[j]! - v)) / scale;
    assert.ok(gap > 4 * TOLERANCE, `${what}, ${samples[i]}: the reference's top-6 logits are only ${gap} (relative) apart; pick another seed in export_torchvision.py`);
  });
}

/** The model bytes with the Flatten of the global pool added as graph output `pool`, for ORT. */
function withPoolOutput(bytes: Uint8Array): Uint8Array {
  const proto = fromBinary(ModelProtoSchema, bytes);
  const graph = proto.graph!;
  const flatten = graph.node.filter((n) => n.opType === "Flatten");
  assert.is(flatten.length, 1, "one Flatten (after the global pool)");
  const pool = graph.node.find((n) => n.output[0] === flatten[0]!.input[0]);
  assert.is(pool?.opType, "GlobalAveragePool");
  graph.output.push(create(ValueInfoProtoSchema, {
    name: flatten[0]!.output[0]!,
    type: { value: { case: "tensorType", value: { elemType: 1 } } },
  }));
  return toBinary(ModelProtoSchema, proto);
}

/**
 * PyTorch 2.x's form of `avg_pool2d(3, stride=1, padding=1, count_include_pad=True)`:
 * each zero Pad (H and W only) read by nothing but an AveragePool with no
 * padding of its own becomes that pool's pads, with count_include_pad=1
 * (PyTorch 1.13 writes Pad + AveragePool). Returns the bytes and how many pools changed.
 */
function withPaddedAveragePools(bytes: Uint8Array): { bytes: Uint8Array; rewritten: number } {
  const proto = fromBinary(ModelProtoSchema, bytes);
  const graph = proto.graph!;
  const readers = (name: string) => graph.node.filter((n) => n.input.includes(name));
  const constantInts = (name: string): number[] => {
    const producer = graph.node.find((n) => n.output[0] === name);
    assert.is(producer?.opType, "Constant", `${name} comes from a Constant`);
    const t = producer!.attribute.find((a) => a.name === "value")!.t!;
    const raw = t.rawData;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return t.int64Data.length > 0 ? t.int64Data.map(Number) : Array.from({ length: raw.byteLength / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
  };
  const removed = new Set<object>();
  let rewritten = 0;
  for (const pool of graph.node.filter((n) => n.opType === "AveragePool")) {
    const pad = graph.node.find((n) => n.opType === "Pad" && n.output[0] === pool.input[0]);
    if (!pad || readers(pad.output[0]!).length !== 1) continue;
    const mode = pad.attribute.find((a) => a.name === "mode");
    assert.ok(!mode || new TextDecoder().decode(mode.s) === "constant", "a zero Pad");
    assert.ok(pad.input.length === 2 || pad.input[2] === "", "no pad value (zero)");
    // [N,C,H,W] begins then ends: only H and W padded.
    const [n0, c0, top, left, n1, c1, bottom, right] = constantInts(pad.input[1]!);
    assert.equal([n0, c0, n1, c1], [0, 0, 0, 0], "Pad pads only H and W");
    const own = pool.attribute.find((a) => a.name === "pads");
    assert.ok(!own || own.ints.every((p) => p === 0n), "the AveragePool has no padding of its own");
    pool.input[0] = pad.input[0]!;
    pool.attribute = pool.attribute.filter((a) => a.name !== "pads" && a.name !== "count_include_pad");
    pool.attribute.push(
      create(AttributeProtoSchema, { name: "pads", type: AttributeType.INTS, ints: [top, left, bottom, right].map(BigInt) }),
      create(AttributeProtoSchema, { name: "count_include_pad", type: AttributeType.INT, i: 1n }),
    );
    removed.add(pad);
    const padsConstant = graph.node.find((n) => n.output[0] === pad.input[1]);
    if (padsConstant && readers(pad.input[1]!).length === 1) removed.add(padsConstant);
    rewritten++;
  }
  graph.node = graph.node.filter((n) => !removed.has(n));
  return { bytes: toBinary(ModelProtoSchema, proto), rewritten };
}

interface Reference {
  logits: Float32Array;
  pool: Float32Array;
}

async function runOrt(bytes: Uint8Array, nchw: Float32Array, batch: number): Promise<Reference> {
  const session = await ort.InferenceSession.create(withPoolOutput(bytes), { intraOpNumThreads: 2, interOpNumThreads: 1 });
  try {
    const [logitsName, poolName] = session.outputNames;
    const out = await session.run({ x: new ort.Tensor("float32", nchw, [batch, 3, SIDE, SIDE]) });
    assert.equal(out[logitsName!]!.dims, [batch, CLASSES]);
    assert.equal(out[poolName!]!.dims, [batch, FEATURES]);
    return { logits: out[logitsName!]!.data as Float32Array, pool: out[poolName!]!.data as Float32Array };
  } finally {
    await session.release();
  }
}

async function ourLogits(model: Model, nhwc: Float32Array, batch: number): Promise<Float32Array> {
  const out = await model.run({ x: { data: nhwc, dims: [batch, SIDE, SIDE, 3] } });
  assert.equal(out.logits!.dims, [batch, CLASSES]);
  return out.logits!.data;
}

// ---------------------------------------------------------------------------

/** The photo, then PyTorch's two random inputs (the ones whose logits it saved). */
const SAMPLES = ["chelsea.png", "random input 0", "random input 1"];
/** The files export_torchvision.py writes. */
const FILES = ["torchvision_inception_v3.onnx", "torchvision_inception_v3_transform.onnx", "torchvision_inception_v3_opset17.onnx"];
/** Inception v3 has 9 AveragePools, each after a Pad in PyTorch 1.13's exports. */
const AVERAGE_POOLS = 9;

interface Variant {
  /** Names the suite. */
  name: string;
  file: string;
  transformInput: boolean;
  opset: number;
  /** PyTorch 2.x's padded AveragePools instead of Pad + AveragePool. */
  torch2Pools?: boolean;
  /** Also run with one thread and the plain build (the default export only: CI time). */
  variants: boolean;
}

const EXPORTS: Variant[] = [
  { name: "transform_input=false", file: FILES[0]!, transformInput: false, opset: 14, variants: true },
  { name: "transform_input=true", file: FILES[1]!, transformInput: true, opset: 14, variants: true },
  { name: "opset 17", file: FILES[2]!, transformInput: false, opset: 17, variants: false },
  { name: "opset 17, PyTorch 2.x AveragePool(count_include_pad=1) form", file: FILES[2]!, transformInput: false, opset: 17, torch2Pools: true, variants: false },
];

/** Runs `make` on first use and remembers its result, or its error (so a missing PyTorch fails each test without retrying). */
function once<T>(make: () => T): () => T {
  let result: { value: T } | { error: unknown } | undefined;
  return () => {
    if (!result) {
      try {
        result = { value: make() };
      } catch (error) {
        result = { error };
      }
    }
    if ("error" in result) throw result.error;
    return result.value;
  };
}

/** The exports and the batch fed to every model: [photo, PyTorch's input] as NHWC (ours) and NCHW (ORT). */
const fixture = once(() => {
  const manifest = torchvisionExports();
  assert.equal(Object.keys(manifest.files).sort(), [...FILES].sort(), "the files the manifest lists");
  assert.equal(manifest.input.dims, [2, 3, SIDE, SIDE]);
  const photo = new Uint8Array(readFileSync(PHOTO));
  const per = SIDE * SIDE * 3;
  const nhwc = new Float32Array(SAMPLES.length * per);
  nhwc.set(preprocess(photo, { size: SIDE, normalization: "torch" }, "chelsea.png"));
  nhwc.set(toNhwc(readFloats(join(CACHE, manifest.input.file)), 2, 3, SIDE, SIDE), per);
  return { manifest, photo, nhwc, nchw: toNchw(nhwc, SAMPLES.length, SIDE, SIDE, 3) };
});

for (const { name, file, transformInput, opset, torch2Pools, variants } of EXPORTS) {
  const Export = suite(`torchvision inception_v3 (${name}, Debian's PyTorch) vs onnxruntime-node`);
  // transform_input=False says nothing about normalization; the prologue of transform_input=True means "torch".
  const base: LoadOptions = { threads: 2, ...(transformInput ? {} : { normalization: "torch" as const }) };
  /** The model bytes (rewritten for the PyTorch 2.x form), read once. */
  const bytes = once(() => {
    fixture();
    const exported = new Uint8Array(readFileSync(join(CACHE, file)));
    if (!torch2Pools) return exported;
    const { bytes, rewritten } = withPaddedAveragePools(exported);
    assert.is(rewritten, AVERAGE_POOLS, "padded AveragePools written");
    return bytes;
  });
  const reference = once(() => runOrt(bytes(), fixture().nchw, SAMPLES.length));

  Export("ORT agrees with PyTorch's own logits; its top-6 logits are well separated", async () => {
    const { manifest } = fixture();
    assert.is(manifest.files[file]!.transform_input, transformInput);
    assert.is(manifest.files[file]!.opset, opset);
    const { logits } = await reference();
    const torch = readFloats(join(CACHE, file.replace(/\.onnx$/, ".logits.bin")));
    assertMatches(logits.subarray(CLASSES), torch, `ORT vs PyTorch ${manifest.torch}`, SAMPLES.slice(1));
    assertSeparated(logits, "ORT", SAMPLES);
  });

  Export("loadModel imports it (2 threads): logits within 1e-4 of ORT, same top-5; embed() and classify() agree with ORT", async () => {
    const { nhwc, photo } = fixture();
    const { logits, pool } = await reference();
    const model = await loadModel(bytes(), base);
    try {
      assert.is(model.normalization, "torch");
      assert.equal(model.inputs, [{ name: "x", shape: [-1, SIDE, SIDE, 3] }]);
      assert.equal(model.outputs, [{ name: "logits", shape: [-1, CLASSES] }]);
      assert.equal(model.blocks.map((b) => b.name), ["stem", ...Array.from({ length: 11 }, (_, i) => `mixed${i}`), "head"]);
      assertMatches(await ourLogits(model, nhwc, SAMPLES.length), logits, "ours (2 threads) vs ORT", SAMPLES);

      const embedding = await model.embed(photo);
      assert.is(embedding.length, FEATURES);
      const err = relativeError(embedding, pool.subarray(0, FEATURES));
      assert.ok(err <= TOLERANCE, `embed(chelsea.png) vs ORT's global pool: max relative error ${err}`);
      const predictions = await model.classify(photo, { topK: 5 });
      assert.equal(predictions.map((p) => p.index), topK(logits.subarray(0, CLASSES), 5), "classify(chelsea.png) top-5");
    } finally {
      model.dispose();
    }
  });

  if (variants) Export("one thread, and the plain kernel build: the same within 1e-4, same top-5", async () => {
    const { nhwc } = fixture();
    const { logits } = await reference();
    for (const opts of [{ threads: 1 }, { build: "plain" as const }]) {
      const model = await loadModel(bytes(), { ...base, ...opts });
      try {
        assertMatches(await ourLogits(model, nhwc, SAMPLES.length), logits, `ours (${JSON.stringify(opts)}) vs ORT`, SAMPLES);
      } finally {
        model.dispose();
      }
    }
  });

  Export.run();
}
