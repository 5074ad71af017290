/**
 * File readers and the bundle literal parser. Bundles written here are also
 * loaded with Node's require(), which serves as the independent oracle for
 * what the literal means.
 */

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { test } from "uvu";
import * as assert from "uvu/assert";

import { isStreamed, weightValues, type DenseNode } from "../../src/graph/ir.js";
import { importTfjsLayers, importTfjsLayersStreamed, type WeightSource } from "../../src/import/tfjs-layers.js";
import { bundledObject, bundledPlainString, bundledString } from "../../src/import/umd-bundle.js";
import { openTfjsLayersModelFile, readTfjsLayersModelFile } from "../../src/platform/node-files.js";
import { concatBytes, errorOf, f32Bytes, ModelBuilder, ramp, rejectionOf } from "./helpers.js";

const require = createRequire(import.meta.url);
const dir = await mkdtemp(join(tmpdir(), "tfjs-layers-"));

/** A two-dense model whose 3 kernels/biases are split over 2 groups / 3 shard files. */
function model() {
  const m = new ModelBuilder().input("in", [3]);
  m.layer("Dense", "fc1", { units: 4, activation: "relu" }, ["in"]);
  m.layer("Dense", "fc2", { units: 2, activation: "softmax" }, ["fc1"]);
  const values = { fc1k: ramp(12, 1), fc1b: ramp(4, 2), fc2k: ramp(8, 3), fc2b: ramp(2, 4) };
  const artifacts = m.functional(["fc2"]);
  artifacts.weightsManifest = [
    { paths: ["g1-a.bin", "g1-b.bin"], weights: [
      { name: "fc1/kernel", shape: [3, 4], dtype: "float32" },
      { name: "fc1/bias", shape: [4], dtype: "float32" },
    ] },
    { paths: ["sub/g2.bin"], weights: [
      { name: "fc2/kernel", shape: [4, 2], dtype: "float32" },
      { name: "fc2/bias", shape: [2], dtype: "float32" },
    ] },
  ];
  const group1 = concatBytes([f32Bytes(values.fc1k), f32Bytes(values.fc1b)]);
  const group2 = concatBytes([f32Bytes(values.fc2k), f32Bytes(values.fc2b)]);
  // Split group 1 inside fc1/kernel so a tensor spans two shard files.
  const files = { "g1-a.bin": group1.subarray(0, 18), "g1-b.bin": group1.subarray(18), "sub/g2.bin": group2 };
  return { artifacts, values, files };
}

function checkValues(graph: ReturnType<typeof importTfjsLayers>, values: ReturnType<typeof model>["values"]) {
  const fc1 = graph.nodes.find((n) => n.name === "fc1") as DenseNode;
  const fc2 = graph.nodes.find((n) => n.name === "fc2/logits") as DenseNode;
  assert.equal(Array.from(weightValues(fc1.kernel)), values.fc1k);
  assert.equal(Array.from(fc1.bias!), values.fc1b);
  assert.equal(Array.from(weightValues(fc2.kernel)), values.fc2k);
  assert.equal(Array.from(fc2.bias!), values.fc2b);
}

test("model.json with shards in several groups and a subdirectory", async () => {
  const { artifacts, values, files } = model();
  const root = join(dir, "json");
  await mkdir(join(root, "sub"), { recursive: true });
  await writeFile(join(root, "model.json"), JSON.stringify({ format: "layers-model", modelTopology: artifacts.modelTopology, weightsManifest: artifacts.weightsManifest }));
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(root, name), bytes);

  const read = await readTfjsLayersModelFile(join(root, "model.json"));
  assert.equal(read.weightsManifest, artifacts.weightsManifest);
  assert.equal(read.weightData, concatBytes(Object.values(files)));
  checkValues(importTfjsLayers(read), values);

  await rm(join(root, "g1-b.bin"));
  const message = await rejectionOf(readTfjsLayersModelFile(join(root, "model.json")));
  assert.match(message, "g1-b.bin");
  assert.match(message, "missing");
});

test("graph models and malformed files are rejected clearly", async () => {
  const root = join(dir, "bad");
  await mkdir(root, { recursive: true });
  await writeFile(join(root, "graph.json"), JSON.stringify({ format: "graph-model", modelTopology: {}, weightsManifest: [] }));
  assert.match(await rejectionOf(readTfjsLayersModelFile(join(root, "graph.json"))), "graph model");
  await writeFile(join(root, "broken.json"), "{ nope");
  assert.match(await rejectionOf(readTfjsLayersModelFile(join(root, "broken.json"))), "not valid JSON");
  await writeFile(join(root, "nomanifest.json"), JSON.stringify({ modelTopology: {} }));
  assert.match(await rejectionOf(readTfjsLayersModelFile(join(root, "nomanifest.json"))), "weightsManifest");
});

/** Wraps a literal the way browserify+terser do (nsfwjs bundles), as CommonJS. */
function umd(literal: string): string {
  return (
    '!function(a){if("object"==typeof exports&&"undefined"!=typeof module)module.exports=a();else{("undefined"!=typeof window?window:this).m=a()}}' +
    "(function(){return function a(n,i,e){function t(o){if(!i[o]){var c=i[o]={exports:{}};n[o][0].call(c.exports,function(a){return t(n[o][1][a]||a)},c,c.exports,a,n,i,e)}return i[o].exports}" +
    "for(var o=0;o<e.length;o++)t(e[o]);return t}" +
    `({1:[function(a,n,i){n.exports=${literal}},{}]},{},[1])(1)});`
  );
}

test("bundled model.min.js + base64 shard bundles read like model.json", async () => {
  const { artifacts, values, files } = model();
  const root = join(dir, "umd");
  await mkdir(join(root, "sub"), { recursive: true });
  // Minifier style: unquoted keys, !0/!1 booleans, leading-dot numbers.
  const literal = JSON.stringify({ modelTopology: artifacts.modelTopology, weightsManifest: artifacts.weightsManifest })
    .replace(/"([A-Za-z_$][\w$]*)":/g, "$1:")
    .replace(/:true\b/g, ":!0")
    .replace(/:false\b/g, ":!1");
  await writeFile(join(root, "model.min.js"), umd(literal));
  for (const [name, bytes] of Object.entries(files)) {
    await writeFile(join(root, `${name}.min.js`), umd(JSON.stringify(Buffer.from(bytes).toString("base64"))));
  }
  const oracle = require(join(root, "model.min.js"));
  assert.equal(oracle.modelTopology, artifacts.modelTopology);

  const read = await readTfjsLayersModelFile(join(root, "model.min.js"));
  assert.equal(read.modelTopology, oracle.modelTopology);
  assert.equal(read.weightData, concatBytes(Object.values(files)));
  checkValues(importTfjsLayers(read), values);

  await rm(join(root, "sub", "g2.bin.min.js"));
  assert.match(await rejectionOf(readTfjsLayersModelFile(join(root, "model.min.js"))), "sub/g2.bin");
});

test("shard bundles: payloads found in the bytes when plain, parsed otherwise; strict base64 either way", async () => {
  const plain = umd('"QUJD"');
  const bytes = new TextEncoder().encode(plain);
  const range = bundledPlainString(bytes, "t")!;
  assert.is(plain.slice(range.start, range.end), "QUJD");
  // Not plain: the caller falls back to bundledString on the decoded text.
  for (const text of [umd('"QU\\JD"'), umd("{a:1}"), umd('"QUJD"+1'), `/*é*/${plain}`, "module.exports=42"]) {
    assert.is(bundledPlainString(new TextEncoder().encode(text), "t"), null, text.slice(-24));
  }

  const { artifacts, files } = model();
  const root = join(dir, "shards");
  await mkdir(join(root, "sub"), { recursive: true });
  await writeFile(join(root, "model.min.js"), umd(JSON.stringify({ modelTopology: artifacts.modelTopology, weightsManifest: artifacts.weightsManifest })));
  const shards = Object.entries(files).map(([name, data]) => [name, Buffer.from(data).toString("base64")] as const);
  const write = (payload: (base64: string, i: number) => string) =>
    Promise.all(shards.map(([name, base64], i) => writeFile(join(root, `${name}.min.js`), umd(payload(base64, i)))));
  const read = () => readTfjsLayersModelFile(join(root, "model.min.js"));
  // Escapes (a needless \Q) take the parser's path; the bytes are the same.
  await write((base64, i) => (i === 1 ? `"\\${base64}"` : JSON.stringify(base64)));
  assert.equal((await read()).weightData, concatBytes(Object.values(files)));
  await write((base64, i) => JSON.stringify(i === 2 ? `${base64.slice(0, 4)}*${base64.slice(5)}` : base64));
  assert.match(await rejectionOf(read()), /g2\.bin\.min\.js: the exported string is not base64$/);
  // Padding only at the very end: not where a 64K-character decoding piece ends.
  await write((base64, i) => JSON.stringify(i === 0 ? `${"A".repeat(65532)}QQ==${base64}` : base64));
  assert.match(await rejectionOf(read()), /g1-a\.bin\.min\.js: the exported string is not base64$/);
});

/** Every range of `source` that starts and ends at one of `cuts` reads as that range of `want`. */
async function checkRanges(source: WeightSource, want: Uint8Array, cuts: number[]) {
  assert.is(source.size, want.length);
  for (const from of cuts) {
    for (const to of cuts) {
      if (to < from) continue;
      const got = new Uint8Array(to - from).fill(0xee);
      await source.read(from, got);
      assert.ok(Buffer.from(got).equals(want.subarray(from, to)), `bytes ${from}..${to}`);
    }
  }
  assert.match(await rejectionOf(source.read(want.length - 2, new Uint8Array(3))), "asked for");
}

/** Random bytes (a fixed sequence), enough that a shard's base64 spans several 64K-character decoding pieces. */
function noise(length: number, seed: number): Uint8Array {
  let x = seed;
  return Uint8Array.from({ length }, () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 24));
}

test("weights left in their files: model.json shards and base64 bundles read any range as the in-memory readers do", async () => {
  const { artifacts } = model();
  // Three shards of 100 001, 120 000 and 7 bytes: the last base64 group of each padded differently.
  const files = { "g1-a.bin": noise(100_001, 1), "g1-b.bin": noise(120_000, 2), "sub/g2.bin": noise(7, 3) };
  const all = concatBytes(Object.values(files));
  const cuts = [0, 1, 2, 3, 5, 47_999, 48_000, 48_001, 100_000, 100_001, 100_002, 160_000, 220_000, 220_001, 220_006, 220_007];
  for (const bundled of [false, true]) {
    const root = join(dir, bundled ? "open-umd" : "open-json");
    await mkdir(join(root, "sub"), { recursive: true });
    const manifest = [{ paths: Object.keys(files), weights: [{ name: "w", shape: [all.length], dtype: "uint8" }] }];
    const modelFile = join(root, bundled ? "model.min.js" : "model.json");
    await writeFile(modelFile, bundled
      ? umd(JSON.stringify({ modelTopology: artifacts.modelTopology, weightsManifest: manifest }))
      : JSON.stringify({ modelTopology: artifacts.modelTopology, weightsManifest: manifest }));
    for (const [name, bytes] of Object.entries(files)) {
      await writeFile(join(root, bundled ? `${name}.min.js` : name), bundled ? umd(JSON.stringify(Buffer.from(bytes).toString("base64"))) : bytes);
    }
    const opened = await openTfjsLayersModelFile(modelFile);
    try {
      assert.equal(opened.weightsManifest, manifest);
      assert.ok(Buffer.from((await readTfjsLayersModelFile(modelFile)).weightData).equals(all), "the in-memory reader agrees");
      await checkRanges(opened.weightSource, all, cuts);
    } finally {
      await opened.close();
    }
  }
});

test("weights left in their files: kernels read when packed, the rest at import; bad payloads and short files fail clearly", async () => {
  const { artifacts, values, files } = model();
  const root = join(dir, "streamed");
  await mkdir(join(root, "sub"), { recursive: true });
  await writeFile(join(root, "model.min.js"), umd(JSON.stringify({ modelTopology: artifacts.modelTopology, weightsManifest: artifacts.weightsManifest })));
  const write = (payload: (base64: string, name: string) => string) => Promise.all(Object.entries(files).map(([name, bytes]) =>
    writeFile(join(root, `${name}.min.js`), umd(payload(Buffer.from(bytes).toString("base64"), name)))));
  await write((base64) => JSON.stringify(base64));
  const opened = await openTfjsLayersModelFile(join(root, "model.min.js"));
  try {
    const graph = await importTfjsLayersStreamed(opened, { source: "streamed" });
    const fc1 = graph.nodes.find((n) => n.name === "fc1") as DenseNode;
    const fc2 = graph.nodes.find((n) => n.name === "fc2/logits") as DenseNode;
    assert.equal(Array.from(fc1.bias!), values.fc1b);
    assert.equal(Array.from(fc2.bias!), values.fc2b);
    for (const [node, want] of [[fc1, values.fc1k], [fc2, values.fc2k]] as const) {
      assert.ok(isStreamed(node.kernel), `${node.name}: kernel left in the file`);
      if (!isStreamed(node.kernel)) continue;
      const got = new Float32Array(want.length);
      await node.kernel.readValues(got);
      assert.equal(Array.from(got), want);
      assert.match(errorOf(() => weightValues(node.kernel)), /streamed: weight fc\d\/kernel is read from .*model\.min\.js only when the model is packed/);
    }
  } finally {
    await opened.close();
  }
  // A character outside base64, found by the read that covers it; a payload of a length base64 cannot have, when opened.
  await write((base64, name) => JSON.stringify(name === "sub/g2.bin" ? `${base64.slice(0, 4)}*${base64.slice(5)}` : base64));
  const bad = await openTfjsLayersModelFile(join(root, "model.min.js"));
  try {
    assert.match(await rejectionOf(importTfjsLayersStreamed(bad, { source: "streamed" })), /g2\.bin\.min\.js: the exported string is not base64$/);
  } finally {
    await bad.close();
  }
  await write((base64, name) => JSON.stringify(name === "g1-a.bin" ? base64.slice(0, -1) : base64));
  assert.match(await rejectionOf(openTfjsLayersModelFile(join(root, "model.min.js"))), /g1-a\.bin\.min\.js: the exported string is not base64$/);
  // Escapes take the in-memory path and read the same.
  await write((base64, name) => (name === "g1-b.bin" ? `"\\${base64}"` : JSON.stringify(base64)));
  const escaped = await openTfjsLayersModelFile(join(root, "model.min.js"));
  try {
    await checkRanges(escaped.weightSource, concatBytes(Object.values(files)), [0, 7, 18, 48, 72]);
  } finally {
    await escaped.close();
  }
  // A shard shorter than the manifest says: refused when opened, naming the tensor.
  const json = join(dir, "streamed-json");
  await mkdir(join(json, "sub"), { recursive: true });
  await writeFile(join(json, "model.json"), JSON.stringify({ modelTopology: artifacts.modelTopology, weightsManifest: artifacts.weightsManifest }));
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(json, name), name === "sub/g2.bin" ? bytes.subarray(0, 30) : bytes);
  const short = await openTfjsLayersModelFile(join(json, "model.json"));
  try {
    assert.match(await rejectionOf(importTfjsLayersStreamed(short, { source: "short" })), /short: weight data too short at tensor fc2\/kernel/);
  } finally {
    await short.close();
  }
});

test("literal parser agrees with JavaScript on minifier output and refuses code", async () => {
  const literal =
    `{a:!0,b:!1,"q-k":null,'s':'it\\'s',1:.5,n:-1e-3,h:0x1F,u:void 0,` +
    `esc:"\\"\\\\\\n\\t\\u0041\\x42\\u{1F600}\\/",arr:[1,[2,{}],[]],nested:{x:{y:[-.25]}}}`;
  const text = umd(literal);
  const file = join(dir, "literal.js");
  await writeFile(file, text);
  assert.equal(bundledObject(text, "t"), require(file));
  assert.is(bundledString(umd('"QUJD"'), "t"), "QUJD");

  assert.match(errorOf(() => bundledObject(umd("{a:foo()}"), "code.js")), /code\.js: unsupported syntax.*offset/);
  assert.match(errorOf(() => bundledObject(umd("{a:1}+x"), "tail.js")), "tail.js");
  assert.match(errorOf(() => bundledString(umd("{a:1}"), "obj.js")), "expected a string");
  assert.match(errorOf(() => bundledObject("module.exports=42", "none.js")), "none.js");
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test.run();
