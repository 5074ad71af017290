/**
 * The public API (`loadModel` → `Model`) on the real nsfwjs InceptionV3:
 * classify / embed / run results, agreement with TensorFlow.js as an
 * independent oracle, argument validation, non-mutation of inputs,
 * responsiveness of the caller's thread, queued concurrent calls, dispose(),
 * bad images, bad options and bad models.
 *
 * Models are loaded lazily, once per configuration, shared by every suite and
 * disposed by the last suite (loading one takes about a second).
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { suite } from "uvu";
import * as assert from "uvu/assert";

import { loadModel, type LoadOptions, type Model, type Prediction, type TensorData } from "../../src/index.js";
import { readNsfwjsInceptionV3 } from "../../src/platform/node-files.js";
import { preprocess, loadImageDecoders } from "../../src/preprocess/index.js";
import { createTfjsReference, type TfjsReference } from "../../src/reference/tfjs.js";

// PNG/JPEG decoding below is synchronous once the decoders are loaded.
await loadImageDecoders();

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const IMAGE_DIR = join(ROOT, "fixtures", "images");
const PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"] as const;
const BYTES: Record<string, Uint8Array> = Object.fromEntries(
  PHOTOS.map((name) => [name, new Uint8Array(readFileSync(join(IMAGE_DIR, name)))]),
);
const LABELS = ["drawing", "hentai", "neutral", "porn", "sexy"];
const SIDE = 299;
const DIMS1 = [1, SIDE, SIDE, 3];
const PER_IMAGE = SIDE * SIDE * 3;

// ---------------------------------------------------------------------------
// Shared, lazily loaded models and reference

const CONFIGS = {
  /** The default use: two threads, build "auto". */
  t2: { threads: 2 },
  t1: { threads: 1 },
  plain: { threads: 2, build: "plain" },
  kept: { threads: 2, keep: ["mixed5"] },
  crop: { threads: 2, crop: 0.875 },
} satisfies Record<string, LoadOptions>;

const loaded = new Map<string, Promise<Model>>();
function model(config: keyof typeof CONFIGS): Promise<Model> {
  let m = loaded.get(config);
  if (!m) {
    m = loadModel("nsfwjs", CONFIGS[config]);
    loaded.set(config, m);
  }
  return m;
}

let referencePromise: Promise<TfjsReference> | undefined;
function reference(): Promise<TfjsReference> {
  referencePromise ??= readNsfwjsInceptionV3().then((a) => createTfjsReference(a));
  return referencePromise;
}

let artifactsPromise: ReturnType<typeof readNsfwjsInceptionV3> | undefined;
function artifacts(): ReturnType<typeof readNsfwjsInceptionV3> {
  artifactsPromise ??= readNsfwjsInceptionV3();
  return artifactsPromise;
}

async function releaseAll(): Promise<void> {
  for (const m of loaded.values()) (await m.catch(() => undefined))?.dispose();
  loaded.clear();
  (await referencePromise?.catch(() => undefined))?.dispose();
  referencePromise = undefined;
}

// ---------------------------------------------------------------------------
// Helpers

/** The preprocessed [299,299,3] tensor of a fixture photo, as classify() makes it. */
const inputs = new Map<string, Float32Array>();
function input(name: (typeof PHOTOS)[number]): Float32Array {
  let x = inputs.get(name);
  if (!x) {
    x = preprocess(BYTES[name]!, { normalization: "unit", size: SIDE });
    inputs.set(name, x);
  }
  return x;
}

function feed(data: Float32Array, dims = DIMS1): Record<string, TensorData> {
  return { input_1: { data, dims } };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length, "compared arrays differ in length");
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

/** Probabilities by class index from a full (topK = all classes) prediction list. */
function probsOf(preds: Prediction[]): number[] {
  const p: number[] = new Array(LABELS.length).fill(NaN);
  for (const { index, probability } of preds) p[index] = probability;
  return p;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (e) {
    assert.instance(e, Error, "rejected with a non-Error");
    return e as Error;
  }
  throw new assert.Assertion({ message: "expected a rejection, the call succeeded", operator: "rejects", expects: "rejection", actual: "fulfilled" });
}

async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<string> {
  const { message } = await rejection(promise);
  assert.match(message, pattern);
  return message;
}

function checkPredictions(preds: Prediction[], k: number, what: string): void {
  assert.ok(Array.isArray(preds), `${what}: not an array`);
  assert.is(preds.length, k, `${what}: ${preds.length} predictions, expected ${k}`);
  const seen = new Set<number>();
  preds.forEach((p, i) => {
    assert.equal(Object.keys(p).sort(), ["index", "label", "probability"], `${what}: keys`);
    assert.ok(Number.isInteger(p.index) && p.index >= 0 && p.index < LABELS.length, `${what}: index ${p.index}`);
    assert.not.ok(seen.has(p.index), `${what}: index ${p.index} repeated`);
    seen.add(p.index);
    assert.is(p.label, LABELS[p.index], `${what}: label of index ${p.index}`);
    assert.ok(p.probability >= 0 && p.probability <= 1, `${what}: probability ${p.probability} outside [0,1]`);
    if (i > 0) assert.ok(preds[i - 1]!.probability >= p.probability, `${what}: not sorted by probability at ${i}`);
  });
}

/** Runs `work` while a 5 ms interval ticks; returns the ticks counted and the duration. */
async function ticksDuring(work: () => Promise<unknown>): Promise<{ ticks: number; duration: number }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const start = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return { ticks, duration: performance.now() - start };
}

function assertResponsive({ ticks, duration }: { ticks: number; duration: number }, what: string): void {
  // Relative to the measured duration only: a 5 ms interval should fire about
  // duration/5 times; allow a quarter of that (the synchronous decode and resize
  // in classify, and a loaded 2-core machine, take their share).
  const expected = Math.floor(duration / 5 / 4);
  assert.ok(ticks >= expected, `${what}: ${ticks} timer ticks during a ${duration.toFixed(0)} ms classify, expected ≥ ${expected}`);
  if (duration > 100) assert.ok(ticks >= 3, `${what}: only ${ticks} ticks during ${duration.toFixed(0)} ms`);
}

// ---------------------------------------------------------------------------

const Info = suite("model description");

Info("inputs, outputs, labels, blocks, normalization, threads", async () => {
  const m = await model("t2");
  assert.equal(m.inputs, [{ name: "input_1", shape: [-1, SIDE, SIDE, 3] }]);
  assert.equal(m.outputs, [{ name: "dense_3", shape: [-1, 5] }]);
  assert.equal(m.labels, LABELS);
  assert.is(m.normalization, "unit");
  assert.is(m.threads, 2);
  assert.match(m.source, /nsfwjs@\d+\.\d+\.\d+ inception_v3/);
  const mixed = Array.from({ length: 11 }, (_, i) => `mixed${i}`);
  assert.equal(m.blocks.map((b) => b.name), ["stem", ...mixed, "head"]);
  assert.ok(m.memoryBytes > 80_000_000, `memoryBytes ${m.memoryBytes} is less than the float32 weights`);
});

Info.run();

// ---------------------------------------------------------------------------

const Classify = suite("classify");

for (const name of PHOTOS) {
  Classify(`${name}: 5 sorted predictions with valid labels, indexes, probabilities`, async () => {
    const m = await model("t2");
    const preds = await m.classify(BYTES[name]!);
    checkPredictions(preds, 5, name);
    const sum = preds.reduce((s, p) => s + p.probability, 0);
    assert.ok(Math.abs(sum - 1) < 1e-4, `${name}: probabilities sum to ${sum}`);
  });
}

Classify("every photo is neutral (none of them is a drawing or NSFW)", async () => {
  const m = await model("t2");
  for (const name of PHOTOS) {
    const [top] = await m.classify(BYTES[name]!, { topK: 1 });
    assert.is(top!.label, "neutral", `${name}: top-1 ${top!.label}`);
    assert.ok(top!.probability > 0.9, `${name}: neutral only at ${top!.probability}`);
  }
});

Classify("topK is respected and consistent with the full list", async () => {
  const m = await model("t2");
  const full = await m.classify(BYTES["rocket.jpg"]!);
  for (const k of [1, 2, 3, 5]) {
    const preds = await m.classify(BYTES["rocket.jpg"]!, { topK: k });
    checkPredictions(preds, k, `topK ${k}`);
    assert.equal(preds.map((p) => p.index), full.slice(0, k).map((p) => p.index));
  }
  // More than the model has: every class, once.
  checkPredictions(await m.classify(BYTES["rocket.jpg"]!, { topK: 50 }), 5, "topK 50");
});

Classify("topK must be a positive integer", async () => {
  const m = await model("t2");
  for (const k of [0, -1, 1.5, NaN]) {
    await rejects(m.classify(BYTES["chelsea.png"]!, { topK: k }), /topK must be a positive integer/);
  }
});

Classify("an array of images gives one list per image, equal to single-image calls", async () => {
  const m = await model("t2");
  const batched = await m.classify(PHOTOS.map((n) => BYTES[n]!));
  assert.ok(Array.isArray(batched) && batched.length === PHOTOS.length, "one result per image");
  for (const [i, name] of PHOTOS.entries()) {
    const single = await m.classify(BYTES[name]!);
    checkPredictions(batched[i]!, 5, `batched ${name}`);
    const d = maxAbsDiff(probsOf(batched[i]!), probsOf(single));
    assert.ok(d <= 1e-5, `${name}: batched vs single max |Δp| ${d}`);
  }
  // A one-element array still gives a list of lists.
  const one = await m.classify([BYTES["coffee.png"]!], { topK: 2 });
  assert.is(one.length, 1);
  checkPredictions(one[0]!, 2, "one-element array");
});

Classify("an empty array is an error", async () => {
  const m = await model("t2");
  await rejects(m.classify([]), /empty list/);
});

Classify("ArrayBuffer and decoded-pixel inputs give the same result as the file bytes", async () => {
  const m = await model("t2");
  const bytes = BYTES["chelsea.png"]!;
  const fromBytes = probsOf(await m.classify(bytes));
  const buffer = bytes.slice().buffer as ArrayBuffer;
  assert.ok(maxAbsDiff(probsOf(await m.classify(buffer)), fromBytes) <= 1e-6, "ArrayBuffer input differs");
  // A synthetic decoded image: a 40x30 gradient; just has to give a sane answer.
  const data = new Uint8Array(40 * 30 * 3).map((_, i) => (i * 7) % 256);
  checkPredictions(await m.classify({ data, width: 40, height: 30, channels: 3 }), 5, "decoded image");
  const grey = new Uint8Array(40 * 30).map((_, i) => i % 256);
  checkPredictions(await m.classify({ data: grey, width: 40, height: 30, channels: 1 }), 5, "grey image");
});

Classify.run();

// ---------------------------------------------------------------------------

const Oracle = suite("agreement with TensorFlow.js");

Oracle("run(): chelsea.png probabilities within 1e-4 of tfjs", async () => {
  const [m, ref] = await Promise.all([model("t2"), reference()]);
  const x = input("chelsea.png");
  const want = (await ref.run(x, [SIDE, SIDE, 3], ["dense_3"])).dense_3!;
  const got = (await m.run(feed(x))).dense_3!;
  assert.equal(got.dims, [1, 5]);
  assert.equal(want.shape, [1, 5]);
  const d = maxAbsDiff(got.data, want.data);
  assert.ok(d <= 1e-4, `max |Δprob| ${d}`);
  assert.is(argmax(got.data), argmax(want.data));
});

Oracle("classify(): every photo within 1e-4 of tfjs on the same preprocessing", async () => {
  const [m, ref] = await Promise.all([model("t2"), reference()]);
  for (const name of PHOTOS) {
    const want = (await ref.run(input(name), [SIDE, SIDE, 3], ["dense_3"])).dense_3!.data;
    const got = probsOf(await m.classify(BYTES[name]!));
    const d = maxAbsDiff(got, want);
    assert.ok(d <= 1e-4, `${name}: max |Δprob| ${d}`);
  }
});

Oracle("embed(): the 2048-d vector equals tfjs' flatten_1 output", async () => {
  const [m, ref] = await Promise.all([model("t2"), reference()]);
  const e = await m.embed(BYTES["chelsea.png"]!);
  assert.instance(e, Float32Array);
  assert.is(e.length, 2048);
  const want = (await ref.run(input("chelsea.png"), [SIDE, SIDE, 3], ["flatten_1"])).flatten_1!;
  assert.equal(want.shape, [1, 2048]);
  const scale = Math.max(1, maxAbs(want.data));
  const d = maxAbsDiff(e, want.data);
  assert.ok(d <= 1e-4 * scale, `max |Δ| ${d} (reference magnitude ${maxAbs(want.data)})`);
  assert.ok(maxAbs(e) > 0, "the embedding is all zeros");
});

Oracle("embed() of an array equals single embeds", async () => {
  const m = await model("t2");
  const both = await m.embed([BYTES["coffee.png"]!, BYTES["rocket.jpg"]!]);
  assert.is(both.length, 2);
  const coffee = await m.embed(BYTES["coffee.png"]!);
  const rocket = await m.embed(BYTES["rocket.jpg"]!);
  assert.ok(maxAbsDiff(both[0]!, coffee) <= 1e-5 * Math.max(1, maxAbs(coffee)));
  assert.ok(maxAbsDiff(both[1]!, rocket) <= 1e-5 * Math.max(1, maxAbs(rocket)));
  assert.ok(maxAbsDiff(coffee, rocket) > 1e-3, "two different photos give the same embedding");
  await rejects(m.embed([]), /empty list/);
});

Oracle("run() with batch 2 equals two batch-1 runs", async () => {
  const m = await model("t2");
  const a = input("astronaut.png");
  const b = input("rocket.jpg");
  const both = new Float32Array(2 * PER_IMAGE);
  both.set(a, 0);
  both.set(b, PER_IMAGE);
  const out = (await m.run(feed(both, [2, SIDE, SIDE, 3]))).dense_3!;
  assert.equal(out.dims, [2, 5]);
  const ra = (await m.run(feed(a))).dense_3!.data;
  const rb = (await m.run(feed(b))).dense_3!.data;
  assert.ok(maxAbsDiff(out.data.subarray(0, 5), ra) <= 1e-5, "first sample differs");
  assert.ok(maxAbsDiff(out.data.subarray(5, 10), rb) <= 1e-5, "second sample differs");
});

Oracle("threads 1 and the plain build agree with tfjs too", async () => {
  const ref = await reference();
  const x = input("coffee.png");
  const want = (await ref.run(x, [SIDE, SIDE, 3], ["dense_3"])).dense_3!.data;
  for (const config of ["t1", "plain"] as const) {
    const got = (await (await model(config)).run(feed(x))).dense_3!.data;
    const d = maxAbsDiff(got, want);
    assert.ok(d <= 1e-4, `${config}: max |Δprob| ${d}`);
  }
});

Oracle("crop 0.875: classify matches tfjs on the centrally cropped input, and differs from no crop", async () => {
  const [cropped, uncropped, ref] = await Promise.all([model("crop"), model("t2"), reference()]);
  const bytes = BYTES["astronaut.png"]!;
  const x = preprocess(bytes, { normalization: "unit", size: SIDE, crop: 0.875 });
  const want = (await ref.run(x, [SIDE, SIDE, 3], ["dense_3"])).dense_3!.data;
  const got = probsOf(await cropped.classify(bytes));
  assert.ok(maxAbsDiff(got, want) <= 1e-4, `max |Δprob| ${maxAbsDiff(got, want)}`);
  const plain = probsOf(await uncropped.classify(bytes));
  assert.ok(maxAbsDiff(got, plain) > 1e-5, "the crop option changed nothing");
});

Oracle.run();

// ---------------------------------------------------------------------------

const Run = suite("run() validation");

const BAD_FEEDS: { what: string; feeds: () => unknown; pattern: RegExp }[] = [
  { what: "wrong height", feeds: () => feed(new Float32Array(298 * SIDE * 3), [1, 298, SIDE, 3]), pattern: /input_1.*dims \[1,298,299,3\] do not match \[N, 299, 299, 3\]/ },
  { what: "wrong rank", feeds: () => feed(new Float32Array(SIDE * SIDE), [1, SIDE, SIDE]), pattern: /input_1.*dims \[1,299,299\] do not match \[N, 299, 299, 3\]/ },
  { what: "batch 0", feeds: () => feed(new Float32Array(0), [0, SIDE, SIDE, 3]), pattern: /input_1.*dims \[0,299,299,3\].*N ≥ 1/ },
  { what: "non-integer batch", feeds: () => feed(new Float32Array(PER_IMAGE), [1.5, SIDE, SIDE, 3]), pattern: /input_1.*dims \[1\.5,299,299,3\]/ },
  { what: "dims not an array", feeds: () => ({ input_1: { data: new Float32Array(PER_IMAGE), dims: "1x299x299x3" } }), pattern: /input_1.*dims/ },
  { what: "wrong data length", feeds: () => feed(new Float32Array(100)), pattern: /input_1.*100 values.*\[1,299,299,3\] need 268203/ },
  { what: "Float64Array data", feeds: () => feed(new Float64Array(PER_IMAGE) as unknown as Float32Array), pattern: /input_1.*Float32Array/ },
  { what: "plain array data", feeds: () => feed(Array.from({ length: PER_IMAGE }, () => 0) as unknown as Float32Array), pattern: /input_1.*Float32Array/ },
  { what: "unknown input name", feeds: () => ({ image: { data: new Float32Array(PER_IMAGE), dims: DIMS1 } }), pattern: /unknown input "image".*input_1/ },
  { what: "unknown extra input", feeds: () => ({ ...feed(new Float32Array(PER_IMAGE)), extra: { data: new Float32Array(1), dims: [1] } }), pattern: /unknown input "extra"/ },
  { what: "missing input", feeds: () => ({}), pattern: /missing input "input_1".*\[N, 299, 299, 3\]/ },
  { what: "feeds not an object", feeds: () => null, pattern: /run\(\) takes an object/ },
];

for (const { what, feeds, pattern } of BAD_FEEDS) {
  Run(`${what} is rejected with a message naming the input and shape`, async () => {
    const m = await model("t2");
    await rejects(m.run(feeds() as Record<string, TensorData>), pattern);
  });
}

Run("an unknown output name is rejected, naming the outputs and the keep option", async () => {
  const m = await model("t2");
  const msg = await rejects(m.run(feed(input("chelsea.png")), { outputs: ["nope"] }), /unknown output "nope"/);
  assert.match(msg, /dense_3/);
  assert.match(msg, /keep/);
});

Run("after all those errors the model still runs and gives the same answer", async () => {
  const m = await model("t2");
  const ref = await reference();
  const x = input("chelsea.png");
  const want = (await ref.run(x, [SIDE, SIDE, 3], ["dense_3"])).dense_3!.data;
  // Interleave failing and valid calls, concurrently.
  const [bad, good] = await Promise.allSettled([
    m.run(feed(new Float32Array(3), [1, 1, 1, 3])),
    m.run(feed(x)),
  ]);
  assert.is(bad.status, "rejected");
  assert.is(good.status, "fulfilled");
  const got = (good as PromiseFulfilledResult<Record<string, TensorData>>).value.dense_3!.data;
  assert.ok(maxAbsDiff(got, want) <= 1e-4);
});

Run("outputs: a kept intermediate tensor (mixed5) has shape [1,17,17,768]", async () => {
  const m = await model("kept");
  const x = input("chelsea.png");
  const out = await m.run(feed(x), { outputs: ["mixed5"] });
  assert.equal(Object.keys(out), ["mixed5"]);
  assert.equal(out.mixed5!.dims, [1, 17, 17, 768]);
  assert.is(out.mixed5!.data.length, 17 * 17 * 768);
  assert.ok(out.mixed5!.data.every(Number.isFinite), "non-finite values in mixed5");
  // mixed5 ends in ReLU-ed branches: never negative.
  assert.ok(out.mixed5!.data.every((v) => v >= 0), "negative values in mixed5");

  // Against tfjs' mixed5 layer, and the head alongside it.
  const ref = await reference();
  const want = await ref.run(x, [SIDE, SIDE, 3], ["mixed5", "dense_3"]);
  const both = await m.run(feed(x), { outputs: ["mixed5", "dense_3"] });
  assert.equal(Object.keys(both).sort(), ["dense_3", "mixed5"]);
  const scale = Math.max(1, maxAbs(want.mixed5!.data));
  assert.ok(maxAbsDiff(both.mixed5!.data, want.mixed5!.data) <= 1e-4 * scale, "mixed5 differs from tfjs");
  assert.ok(maxAbsDiff(both.dense_3!.data, want.dense_3!.data) <= 1e-4, "dense_3 differs from tfjs");

  // Batch 2 of a kept tensor.
  const two = new Float32Array(2 * PER_IMAGE);
  two.set(x, 0);
  two.set(input("coffee.png"), PER_IMAGE);
  const out2 = (await m.run(feed(two, [2, SIDE, SIDE, 3]), { outputs: ["mixed5"] })).mixed5!;
  assert.equal(out2.dims, [2, 17, 17, 768]);
  assert.ok(maxAbsDiff(out2.data.subarray(0, 17 * 17 * 768), out.mixed5!.data) <= 1e-5 * scale);
});

Run.run();

// ---------------------------------------------------------------------------

const Mutation = suite("inputs are not mutated");

Mutation("run() leaves the input Float32Array unchanged", async () => {
  const m = await model("t2");
  const x = input("rocket.jpg").slice();
  const copy = x.slice();
  await m.run(feed(x));
  await m.run(feed(x), { outputs: ["dense_3"] });
  assert.ok(maxAbsDiff(x, copy) === 0, "run() modified its input");
});

Mutation("classify() and embed() leave image bytes and decoded pixels unchanged", async () => {
  const m = await model("t2");
  for (const name of PHOTOS) {
    const bytes = BYTES[name]!.slice();
    await m.classify(bytes);
    await m.embed(bytes);
    assert.ok(Buffer.from(bytes).equals(Buffer.from(BYTES[name]!)), `${name}: bytes modified`);
  }
  const data = new Uint8Array(64 * 48 * 4).map((_, i) => (i * 13) % 256);
  const image = { data, width: 64, height: 48, channels: 4 as const };
  const copy = data.slice();
  await m.classify(image);
  await m.classify([image, image]);
  assert.ok(Buffer.from(data).equals(Buffer.from(copy)), "decoded pixels modified");
  assert.equal([image.width, image.height, image.channels], [64, 48, 4]);
  const buffer = BYTES["coffee.png"]!.slice().buffer as ArrayBuffer;
  await m.classify(buffer);
  assert.ok(Buffer.from(buffer).equals(Buffer.from(BYTES["coffee.png"]!)), "ArrayBuffer modified");
});

Mutation("outputs are fresh copies: mutating one result does not affect the next", async () => {
  const m = await model("t2");
  const x = input("chelsea.png");
  const first = (await m.run(feed(x))).dense_3!;
  const saved = first.data.slice();
  first.data.fill(-1);
  const second = (await m.run(feed(x))).dense_3!;
  assert.ok(maxAbsDiff(second.data, saved) <= 1e-6);
  const e = await m.embed(BYTES["chelsea.png"]!);
  const eSaved = e.slice();
  e.fill(0);
  assert.ok(maxAbsDiff(await m.embed(BYTES["chelsea.png"]!), eSaved) <= 1e-6);
});

Mutation.run();

// ---------------------------------------------------------------------------

const Responsive = suite("the caller's thread stays responsive");

for (const config of ["t2", "t1"] as const) {
  Responsive(`threads ${CONFIGS[config].threads}: a 5 ms interval keeps firing during classify`, async () => {
    const m = await model(config);
    await m.classify(BYTES["chelsea.png"]!); // warm up (plans, JIT)
    const measured = await ticksDuring(() => m.classify(BYTES["chelsea.png"]!));
    assertResponsive(measured, `threads ${m.threads}`);
  });
}

Responsive.run();

// ---------------------------------------------------------------------------

const Concurrent = suite("concurrent calls");

Concurrent("Promise.all of 3 classify calls equals sequential calls", async () => {
  const m = await model("t2");
  const names = ["astronaut.png", "coffee.png", "rocket.jpg"] as const;
  const sequential: Prediction[][] = [];
  for (const n of names) sequential.push(await m.classify(BYTES[n]!));
  const parallel = await Promise.all(names.map((n) => m.classify(BYTES[n]!)));
  names.forEach((n, i) => {
    assert.equal(parallel[i]!.map((p) => p.index), sequential[i]!.map((p) => p.index), `${n}: order differs`);
    assert.ok(maxAbsDiff(probsOf(parallel[i]!), probsOf(sequential[i]!)) <= 1e-6, `${n}: probabilities differ`);
  });
  // Same image three times at once.
  const same = await Promise.all([0, 1, 2].map(() => m.classify(BYTES["coffee.png"]!)));
  for (const r of same) assert.ok(maxAbsDiff(probsOf(r), probsOf(sequential[1]!)) <= 1e-6);
});

Concurrent("mixed concurrent calls (classify, embed, batched run, kept output) each get their own result", async () => {
  const m = await model("kept");
  const a = BYTES["astronaut.png"]!;
  const c = BYTES["chelsea.png"]!;
  const x = input("rocket.jpg");
  const expected = {
    classifyA: probsOf(await m.classify(a)),
    embedC: await m.embed(c),
    runX: (await m.run(feed(x))).dense_3!.data,
    mixed5: (await m.run(feed(x), { outputs: ["mixed5"] })).mixed5!.data,
    batch: (await m.classify([a, c])).map(probsOf),
  };
  const [classifyA, embedC, runX, mixed5, batch] = await Promise.all([
    m.classify(a),
    m.embed(c),
    m.run(feed(x)),
    m.run(feed(x), { outputs: ["mixed5"] }),
    m.classify([a, c]),
  ]);
  assert.ok(maxAbsDiff(probsOf(classifyA), expected.classifyA) <= 1e-6, "classify");
  assert.ok(maxAbsDiff(embedC, expected.embedC) <= 1e-5, "embed");
  assert.ok(maxAbsDiff(runX.dense_3!.data, expected.runX) <= 1e-6, "run");
  assert.ok(maxAbsDiff(mixed5.mixed5!.data, expected.mixed5) <= 1e-5, "mixed5");
  batch.forEach((r, i) => assert.ok(maxAbsDiff(probsOf(r), expected.batch[i]!) <= 1e-6, `batch ${i}`));
});

Concurrent("threads 2 give bit for bit the outputs of threads 1, run after run", async () => {
  // Every work unit computes the same values whichever thread claims it; the
  // caller's thread joins and leaves between steps at times that differ from
  // run to run, so this also catches threads overwriting each other's scratch.
  const [one, two] = await Promise.all([model("t1"), model("t2")]);
  const x = input("chelsea.png");
  const expected = (await one.run(feed(x))).dense_3!.data;
  for (let r = 0; r < 12; r++) {
    const got = (await two.run(feed(x))).dense_3!.data;
    assert.ok(got.every((v, i) => Object.is(v, expected[i])), `run ${r}: 2-thread output differs from 1-thread output (max |Δ| ${maxAbsDiff(got, expected)})`);
  }
});

Concurrent.run();

// ---------------------------------------------------------------------------

const BadImages = suite("bad images through classify");

BadImages("corrupt and truncated PNG bytes", async () => {
  const m = await model("t2");
  const png = BYTES["chelsea.png"]!;
  await rejects(m.classify(png.slice(0, 20)), /Cannot decode image: truncated PNG/);
  await rejects(m.classify(png.slice(0, 5000)), /Cannot decode image.*(truncated|corrupt)/i);
  const garbled = png.slice();
  for (let i = 200; i < 2000; i++) garbled[i] = (garbled[i]! * 31 + 7) & 255;
  await rejects(m.classify(garbled), /Cannot decode image/);
});

BadImages("truncated JPEG bytes", async () => {
  const m = await model("t2");
  await rejects(m.classify(BYTES["rocket.jpg"]!.slice(0, 600)), /Cannot decode image.*JPEG/);
});

BadImages("a text file and empty bytes", async () => {
  const m = await model("t2");
  const text = new TextEncoder().encode("# just some markdown, not an image\n");
  await rejects(m.classify(text), /Cannot decode image: unrecognised format.*PNG and JPEG/);
  await rejects(m.classify(new Uint8Array(0)), /Cannot decode image: the data is empty/);
});

BadImages("decoded images: zero size, wrong channels, wrong data length, wrong type", async () => {
  const m = await model("t2");
  await rejects(
    m.classify({ data: new Uint8Array(0), width: 0, height: 0, channels: 3 }),
    /Invalid image: width and height must be positive integers, got 0x0/,
  );
  await rejects(
    m.classify({ data: new Uint8Array(8), width: 2, height: 2, channels: 2 as 3 }),
    /Invalid image: channels must be 1, 3 or 4, got 2/,
  );
  await rejects(
    m.classify({ data: new Uint8Array(10), width: 2, height: 2, channels: 3 }),
    /Invalid image: data has 10 values but 2x2x3 needs 12/,
  );
  await rejects(
    m.classify({ data: new Float32Array(12) as unknown as Uint8Array, width: 2, height: 2, channels: 3 }),
    /Invalid image: data must be a Uint8Array/,
  );
});

BadImages("in an array, the message names which image failed; the model keeps working", async () => {
  const m = await model("t2");
  await rejects(m.classify([BYTES["chelsea.png"]!, new TextEncoder().encode("hello")]), /image "#1": unrecognised format/);
  checkPredictions(await m.classify(BYTES["chelsea.png"]!), 5, "after bad images");
});

BadImages.run();

// ---------------------------------------------------------------------------

const BadOptions = suite("bad load options");

BadOptions("threads 0, 1.5, 65 and a string are rejected", async () => {
  for (const threads of [0, 1.5, 65, -2]) {
    await rejects(loadModel("nsfwjs", { threads }), new RegExp(`threads must be an integer from 1 to 64, got ${threads}`));
  }
  await rejects(loadModel("nsfwjs", { threads: "2" as unknown as number }), /threads must be an integer/);
});

BadOptions("build \"fast\" is rejected", async () => {
  await rejects(
    loadModel("nsfwjs", { build: "fast" as "plain" }),
    /build must be "auto", "relaxed" or "plain", got "fast"/,
  );
});

BadOptions("crop 2, 0 and -0.5 are rejected", async () => {
  for (const crop of [2, 0, -0.5]) {
    await rejects(loadModel("nsfwjs", { crop }), new RegExp(`crop must be a fraction in \\(0, 1\\], got ${crop}`));
  }
});

BadOptions("an unknown normalization and a wrong number of labels are rejected", async () => {
  await rejects(
    loadModel("nsfwjs", { normalization: "imagenet" as "tf" }),
    /normalization must be "tf", "unit" or "torch", got "imagenet"/,
  );
  await rejects(loadModel("nsfwjs", { labels: ["a", "b", "c"] }), /3 labels given for a model with 5 classes/);
});

BadOptions("keep: a tensor the model does not have is an error naming it", async () => {
  await rejects(loadModel("nsfwjs", { threads: 1, keep: ["no_such_tensor"] }), /no_such_tensor/);
});

BadOptions.run();

// ---------------------------------------------------------------------------

const BadModels = suite("bad models");

BadModels("an unsupported layer is named in the error", async () => {
  const a = await artifacts();
  const topology = structuredClone(a.modelTopology) as { model_config: { config: { layers: { name: string; class_name: string }[] } } };
  const layer = topology.model_config.config.layers.find((l) => l.name === "conv2d_5");
  assert.ok(layer, "the nsfwjs topology has no conv2d_5 layer");
  layer.class_name = "LSTM";
  await rejects(
    loadModel({ modelTopology: topology, weightsManifest: a.weightsManifest, weightData: a.weightData }, { normalization: "unit" }),
    /unsupported layers?: .*conv2d_5 \(LSTM\)/,
  );
  // The shared artifacts were not modified.
  assert.ok(JSON.stringify(a.modelTopology).includes('"class_name":"Conv2D"'));
  assert.not.ok(JSON.stringify(a.modelTopology).includes("LSTM"));
});

BadModels("truncated weightData names the first tensor that does not fit", async () => {
  const a = await artifacts();
  const bytesPer: Record<string, number> = { uint8: 1, uint16: 2, float16: 2, float32: 4, int32: 4 };
  const cut = Math.floor(a.weightData.byteLength / 2);
  // Which tensor straddles the cut, computed here from the manifest.
  let offset = 0;
  let straddling: string | undefined;
  for (const spec of a.weightsManifest.flatMap((g) => g.weights)) {
    const count = spec.shape.reduce((x, y) => x * y, 1);
    const size = count * bytesPer[spec.quantization?.dtype ?? spec.dtype]!;
    if (offset + size > cut) {
      straddling = spec.name;
      break;
    }
    offset += size;
  }
  assert.ok(straddling, "no tensor straddles the cut");
  const msg = await rejects(
    loadModel({ modelTopology: a.modelTopology, weightsManifest: a.weightsManifest, weightData: a.weightData.subarray(0, cut) }, { normalization: "unit" }),
    /weight data too short/,
  );
  assert.ok(msg.includes(straddling), `the message should name ${straddling}: ${msg}`);
  // Short by one byte: names the last tensor.
  const last = a.weightsManifest.at(-1)!.weights.at(-1)!.name;
  const msg2 = await rejects(
    loadModel({ modelTopology: a.modelTopology, weightsManifest: a.weightsManifest, weightData: a.weightData.subarray(0, a.weightData.byteLength - 1) }, { normalization: "unit" }),
    /weight data too short/,
  );
  assert.ok(msg2.includes(last), `the message should name ${last}: ${msg2}`);
});

BadModels("artifacts without a normalization say how to give one; with one they load", async () => {
  const a = await artifacts();
  const raw = { modelTopology: a.modelTopology, weightsManifest: a.weightsManifest, weightData: a.weightData };
  await rejects(loadModel(raw, { threads: 1 }), /does not say how its input is normalized; pass normalization/);
  await rejects(
    loadModel({ ...raw, weightData: Array.from(a.weightData.subarray(0, 8)) as unknown as Uint8Array }),
    /weightData as a Uint8Array/,
  );
  const m = await loadModel(raw, { threads: 1, normalization: "unit", labels: ["d", "h", "n", "p", "s"] });
  try {
    assert.is(m.build, "relaxed");
    const preds = await m.classify(BYTES["chelsea.png"]!, { topK: 1 });
    assert.equal(preds.map((p) => p.label), ["n"]);
  } finally {
    m.dispose();
  }
});

BadModels("missing files, ONNX, non-file URLs, malformed model.json", async () => {
  await rejects(loadModel("/nonexistent/model.json"), /\/nonexistent\/model\.json/);
  // Unsupported, or (once ONNX import exists) missing: either way an Error naming the file.
  await rejects(loadModel("x.onnx"), /x\.onnx/);
  await rejects(loadModel(new URL("https://example.com/model.json")), /only file: URLs/);
  await rejects(loadModel(42 as unknown as string), /loadModel source must be/);
  const dir = await mkdtemp(join(tmpdir(), "inception-wasm-model-"));
  try {
    const notJson = join(dir, "broken.json");
    await writeFile(notJson, "{ this is not json");
    await rejects(loadModel(notJson), /broken\.json is not valid JSON/);
    const graph = join(dir, "graph.json");
    await writeFile(graph, JSON.stringify({ format: "graph-model", modelTopology: {}, weightsManifest: [] }));
    await rejects(loadModel(graph), /graph model; only layers models/);
    const a = await artifacts();
    const shardless = join(dir, "model.json");
    await writeFile(shardless, JSON.stringify({ modelTopology: a.modelTopology, weightsManifest: [{ paths: ["group1-shard1of1.bin"], weights: a.weightsManifest[0]!.weights }] }));
    await rejects(loadModel(shardless), /weight shard group1-shard1of1\.bin is missing/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

BadModels.run();

// ---------------------------------------------------------------------------

const Builds = suite("kernel build choice");

Builds("build \"plain\" reports plain; \"auto\" reports relaxed on Node 20", async () => {
  assert.is((await model("plain")).build, "plain");
  assert.is((await model("t2")).build, "relaxed");
  assert.is((await model("t1")).build, "relaxed");
});

Builds("plain and relaxed builds agree on every photo", async () => {
  const plain = await model("plain");
  const relaxed = await model("t2");
  for (const name of PHOTOS) {
    const d = maxAbsDiff(probsOf(await plain.classify(BYTES[name]!)), probsOf(await relaxed.classify(BYTES[name]!)));
    assert.ok(d <= 1e-4, `${name}: plain vs relaxed max |Δp| ${d}`);
  }
});

Builds.run();

// ---------------------------------------------------------------------------

const Dispose = suite("dispose()");

Dispose("later calls reject with a message about disposal; dispose twice is harmless", async () => {
  const m = await loadModel("nsfwjs", { threads: 2 });
  checkPredictions(await m.classify(BYTES["coffee.png"]!), 5, "before dispose");
  m.dispose();
  await rejects(m.classify(BYTES["coffee.png"]!), /disposed/);
  await rejects(m.classify([BYTES["coffee.png"]!]), /disposed/);
  await rejects(m.embed(BYTES["coffee.png"]!), /disposed/);
  await rejects(m.run(feed(input("coffee.png"))), /disposed/);
  m.dispose();
});

Dispose("a call in flight when dispose() is called settles (it cannot hang)", async () => {
  for (const threads of [2, 1]) {
    const m = await loadModel("nsfwjs", { threads });
    const pending = m.classify(BYTES["chelsea.png"]!);
    m.dispose();
    const outcome = await Promise.race([
      pending.then(() => "resolved", (e: Error) => `rejected: ${e.message}`),
      new Promise<string>((resolve) => setTimeout(() => resolve("hung"), 30_000).unref()),
    ]);
    assert.ok(outcome === "resolved" || /disposed/.test(outcome), `threads ${threads}: ${outcome}`);
    await rejects(m.classify(BYTES["chelsea.png"]!), /disposed/);
  }
});

Dispose("a process that never disposes its models still exits", async () => {
  const dir = await mkdtemp(join(tmpdir(), "inception-wasm-exit-"));
  try {
    const script = join(dir, "never-dispose.mts");
    const entry = join(ROOT, "src", "index.ts");
    await writeFile(script, [
      `import { loadModel } from ${JSON.stringify(entry)};`,
      `const two = await loadModel("nsfwjs", { threads: 2 });`,
      `const one = await loadModel("nsfwjs", { threads: 1 });`,
      `const image = { data: new Uint8Array(64 * 64 * 3).fill(120), width: 64, height: 64, channels: 3 as const };`,
      `const [a] = await two.classify(image, { topK: 1 });`,
      `const [b] = await one.classify(image, { topK: 1 });`,
      `console.log(JSON.stringify({ threads: [two.threads, one.threads], labels: [a!.label, b!.label] }));`,
      "",
    ].join("\n"));
    const result = await new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ["--import", "tsx", script], { cwd: ROOT, timeout: 90_000 }, (error, stdout, stderr) => {
        const e = error as (Error & { code?: number | string; signal?: string }) | null;
        resolve({ code: e ? (typeof e.code === "number" ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
      });
    });
    assert.is(result.signal, null, `the process did not exit by itself (killed by ${result.signal}); stderr: ${result.stderr}`);
    assert.is(result.code, 0, `exit code ${result.code}; stderr: ${result.stderr}`);
    const printed = JSON.parse(result.stdout.trim()) as { threads: number[]; labels: string[] };
    assert.equal(printed.threads, [2, 1]);
    assert.ok(printed.labels.every((l) => LABELS.includes(l)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Dispose.after(releaseAll);

Dispose.run();
