/**
 * Damaged and hostile .iwm files: every one is refused with an Error naming
 * the file and what is wrong, before anything is allocated from a size the
 * file does not back. Files, bytes and (for the weights) loadModel.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { suite } from "uvu";
import * as assert from "uvu/assert";

import { iwmBytes } from "../../src/format/file.js";
import { convertToIwm, readIwm } from "../../src/format/iwm.js";
import { segmentsOf, storedBytes } from "../../src/format/storage.js";
import type { Graph } from "../../src/graph/ir.js";
import { loadModel } from "../../src/index.js";
import { layoutWeights } from "../../src/runtime/weights.js";
import { assertClose, conv, graphOf, input, naiveRun, pad, randomArray, rng, tensor } from "../runtime/helpers.js";
import { headerOf, packingTarget, PREFIX, regionAt, rejection, tinyGraph, withHeader, withHeaderText } from "./helpers.js";

const NAME = "t.iwm";
const F32 = await convertToIwm(tinyGraph());
const INT8 = await convertToIwm(tinyGraph(), { weights: "int8" });
const HEADER_END = PREFIX + new DataView(F32.buffer).getUint32(8, true);

/** What reading (header and weights) `bytes` as a file named t.iwm fails with. */
async function refusal(bytes: Uint8Array): Promise<string> {
  return rejection((async () => {
    const iwm = await readIwm(iwmBytes(bytes, NAME));
    const { target, base } = await packingTarget(iwm.layout.bytes);
    await iwm.writeWeights(target, base);
  })());
}

async function refused(bytes: Uint8Array, expected: string | RegExp): Promise<void> {
  const message = await refusal(bytes);
  if (typeof expected === "string") assert.is(message, `${NAME}: ${expected}`);
  else {
    assert.ok(message.startsWith(`${NAME}: `), `does not name the file: ${message}`);
    assert.match(message.slice(NAME.length + 2), expected);
  }
}

function patched(file: Uint8Array, at: number, bytes: ArrayLike<number>): Uint8Array {
  const out = file.slice();
  out.set(bytes, at);
  return out;
}

function u32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
}

const framing = suite("prefix, header length and file length");

framing("a well-formed file reads", async () => {
  const iwm = await readIwm(iwmBytes(F32, NAME));
  assert.is(iwm.weights, "f32");
  assert.equal(iwm.keep, ["bn", "out", "flat"]);
});

framing("truncated anywhere: in the prefix, the header, the padding or the weight region", async () => {
  const region = regionAt(F32);
  assert.ok(region > HEADER_END, "the test needs padding between header and region");
  for (const length of [0, 3, 4, 8, 11]) {
    await refused(F32.subarray(0, length), `truncated: ${length} bytes, fewer than the 12-byte file prefix`);
  }
  for (const length of [12, 40, HEADER_END - 1]) {
    await refused(F32.subarray(0, length), `truncated: the header is ${HEADER_END - PREFIX} bytes but only ${length - PREFIX} follow the file prefix`);
  }
  const stored = F32.length - region;
  for (const length of [HEADER_END, HEADER_END + 1, region, region + 100, F32.length - 1]) {
    await refused(F32.subarray(0, length), `truncated: the weight region needs ${stored} bytes, the file holds ${Math.max(0, length - region)} after the header`);
  }
});

framing("bytes after the weight region", async () => {
  const longer = new Uint8Array(F32.length + 3);
  longer.set(F32);
  await refused(longer, "3 bytes follow the weight region, which should end the file");
});

framing("bad magic, unsupported versions, a header length beyond the file", async () => {
  await refused(patched(F32, 0, [0x49, 0x57, 0x4d, 0x32]), 'not an .iwm file: it does not start with "IWM1"');
  await refused(new TextEncoder().encode("PK\u0003\u0004 a zip file"), 'not an .iwm file: it does not start with "IWM1"');
  // Versions 1 and 2 packed Winograd convolutions differently (F(2x2, 3x3); no 1-D Winograd); up to 4, 5x5 ones ran direct;
  // up to 5, 2-D Winograd kernels were stored transformed.
  for (const version of [0, 1, 2, 3, 4, 5, 7, 0xffffffff]) {
    await refused(patched(F32, 4, u32(version)), `.iwm version ${version} is not supported: this build reads version 6`);
  }
  for (const length of [F32.length, 0xffffffff]) {
    await refused(patched(F32, 8, u32(length)), `truncated: the header is ${length} bytes but only ${F32.length - PREFIX} follow the file prefix`);
  }
});

framing("header text that is not JSON, or not UTF-8", async () => {
  await refused(withHeaderText(F32, '{"weights": "f32", '), /^the header is not UTF-8 JSON \(.+\)$/);
  await refused(withHeaderText(F32, Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d)), /^the header is not UTF-8 JSON \(.+\)$/);
  await refused(withHeaderText(F32, ""), /^the header is not UTF-8 JSON \(.+\)$/);
});

framing.run();

const header = suite("header contents");

header("not the expected shape", async () => {
  await refused(withHeaderText(F32, "[1,2]"), "header: (top level) must be an object, got [1,2]");
  await refused(withHeaderText(F32, "null"), "header: (top level) must be an object, got null");
  await refused(withHeader(F32, (h) => (h.weights = "f64")), 'header: weights must be one of f32, f16, int8, got "f64"');
  await refused(withHeader(F32, (h) => delete h.graph), "header: graph must be an object, got undefined");
  await refused(withHeader(F32, (h) => (h.graph.nodes = {})), "header: graph.nodes must be an array, got {}");
  await refused(withHeader(F32, (h) => (h.graph.nodes[3].op = "gelu")), /^header: graph\.nodes\[3\]\.op must be one of input, conv2d, .*, got "gelu"$/);
  await refused(withHeader(F32, (h) => (h.graph.nodes[1].inputs = "x")), 'header: graph.nodes[1].inputs must be an array, got "x"');
  await refused(withHeader(F32, (h) => (h.graph.nodes[1].activation = "gelu")), 'header: graph.nodes[1].activation must be one of linear, relu, got "gelu"');
  await refused(withHeader(F32, (h) => (h.graph.nodes[3].countIncludePad = 0)), "header: graph.nodes[3].countIncludePad must be true or false, got 0");
  await refused(withHeader(F32, (h) => (h.graph.nodes[1].kernelShape = [3, 3, 4])), "header: graph.nodes[1].kernelShape must have 4 entries, got [3,3,4]");
  await refused(withHeader(F32, (h) => (h.graph.metadata.normalization = "imagenet")), 'header: graph.metadata.normalization must be one of tf, unit, torch, got "imagenet"');
  await refused(withHeader(F32, (h) => (h.graph.metadata.labels = ["a", 2])), "header: graph.metadata.labels[1] must be a string, got 2");
});

header("outputOrder must permute a graph output's elements; a valid one reorders them", async () => {
  const order = (o: unknown) => withHeader(F32, (h) => (h.graph.metadata.outputOrder = o));
  await refused(order([2, 0, 1]), "header: graph.metadata.outputOrder must be an object, got [2,0,1]");
  await refused(order({ bn: [0] }), 'header: graph.metadata.outputOrder["bn"] is not a graph output, got "bn"');
  await refused(order({ out: [0, 1] }), 'header: graph.metadata.outputOrder["out"] must have 3 entries, got [0,1]');
  await refused(order({ out: [0, 1, 1] }), 'header: graph.metadata.outputOrder["out"] must be a permutation of 0…2, got 1');
  await refused(order({ out: [0, 1, 3] }), 'header: graph.metadata.outputOrder["out"] must be a permutation of 0…2, got 3');
  await refused(withHeader(F32, (h) => {
    h.graph.outputs = ["out", "bn"];
    h.graph.metadata.outputOrder = { bn: [0] };
  }), 'header: graph.metadata.outputOrder["bn"] reorders a flat output only, and bn is [18,18,12], got "bn"');
  const x = Float32Array.from({ length: 18 * 18 * 4 * 2 }, rng(4));
  const outputs = async (bytes: Uint8Array) => {
    const model = await loadModel(bytes, { threads: 1 });
    try {
      return (await model.run({ x: { data: x, dims: [2, 18, 18, 4] } })).out!.data;
    } finally {
      model.dispose();
    }
  };
  const plain = await outputs(F32);
  const reordered = await outputs(order({ out: [2, 0, 1] }));
  assert.equal(Array.from(reordered), [2, 0, 1, 5, 3, 4].map((i) => plain[i]!));
});

header("negative, fractional and huge numbers", async () => {
  await refused(withHeader(F32, (h) => (h.graph.nodes[1].kernelShape[2] = -3)), "header: graph.nodes[1].kernelShape[2] must be an integer from 1 to 2147483647, got -3");
  await refused(withHeader(F32, (h) => (h.graph.nodes[1].pads.top = -1)), "header: graph.nodes[1].pads.top must be an integer from 0 to 2147483647, got -1");
  await refused(withHeader(F32, (h) => (h.graph.nodes[3].strides = [2, 1.5])), "header: graph.nodes[3].strides[1] must be an integer from 1 to 2147483647, got 1.5");
  await refused(withHeader(F32, (h) => (h.graph.nodes[0].shape = [0, 18, 4])), "header: graph.nodes[0].shape[0] must be an integer from 1 to 2147483647, got 0");
  await refused(withHeader(F32, (h) => (h.storedBytes = -1)), "header: storedBytes must be an integer from 0 to 2147483647, got -1");
  await refused(withHeader(F32, (h) => (h.storedBytes = 1e300)), "header: storedBytes must be an integer from 0 to 2147483647, got 1e+300");
  await refused(withHeader(F32, (h) => (h.packedBytes = 2 ** 53)), "header: packedBytes must be an integer from 0 to 2147483647, got 9007199254740992");
  await refused(withHeader(F32, (h) => (h.graph.nodes[1].packed.bias = 2 ** 40)), "header: graph.nodes[1].packed.bias must be an integer from 0 to 2147483647, got 1099511627776");
});

header("a graph that does not hold together", async () => {
  await refused(withHeader(F32, (h) => (h.graph.nodes[2].name = "wino")), 'header: graph.nodes[2].name repeats an earlier node\'s name, got "wino"');
  await refused(withHeader(F32, (h) => (h.graph.nodes[1].inputs = ["out"])), 'header: graph.nodes[1] (wino).inputs must name earlier nodes, got "out"');
  await refused(withHeader(F32, (h) => (h.graph.nodes[2].inputs = [])), "header: graph.nodes[2] (bn).inputs must name one node, got []");
  await refused(withHeader(F32, (h) => (h.graph.nodes[4].inputs = [])), /^header: node narrow \(conv2d\): expects 1 input\(s\), got 0$/);
  await refused(withHeader(F32, (h) => (h.graph.nodes[2].shape = [18, 18, 13])), "header: graph.nodes[2] (bn).shape does not match its inputs, which give [18, 18, 12], got [18,18,13]");
  await refused(withHeader(F32, (h) => (h.graph.nodes[1].kernelShape[2] = 5)), /^header: node wino \(conv2d\): kernel expects 5 input channels, input is \[18,18,4\]$/);
  await refused(withHeader(F32, (h) => (h.graph.nodes = h.graph.nodes.slice(1))), 'header: graph.nodes[0] (wino).inputs must name earlier nodes, got "x"');
  await refused(withHeader(F32, (h) => (h.graph.outputs = [])), "header: graph.outputs must name at least one node, got []");
  await refused(withHeader(F32, (h) => (h.graph.outputs = ["out", "out"])), 'header: graph.outputs[1] repeats an output, got "out"');
  await refused(withHeader(F32, (h) => (h.graph.outputs = ["logits"])), 'header: graph.outputs[0] names no node of the graph, got "logits"');
  await refused(withHeader(F32, (h) => (h.keep = ["wino", "gone"])), 'header: keep[1] names no node of the graph, got "gone"');
  await refused(withHeader(F32, (h) => (h.graph.metadata.embedding = "gone")), 'header: graph.metadata.embedding names no node of the graph, got "gone"');
  await refused(withHeader(F32, (h) => (h.graph.metadata.blocks[0].tensor = "gone")), 'header: graph.metadata.blocks[0].tensor names no node of the graph, got "gone"');
  await refused(withHeader(F32, (h) => (h.graph.nodes[3].packed = { weights: 0, bias: 0 })), "header: graph.nodes[3].packed must be absent for a maxpool node");
});

header("a weight layout or Winograd choice other than this build's", async () => {
  await refused(withHeader(F32, (h) => (h.graph.nodes[1].winograd = false)),
    "header: graph.nodes[1] (wino).winograd says false but this build runs it as Winograd; convert the model again with this version");
  await refused(withHeader(F32, (h) => (h.graph.nodes[4].winograd = true)),
    "header: graph.nodes[4] (narrow).winograd says true but this build runs it without Winograd; convert the model again with this version");
  const wino = headerOf(F32).graph.nodes[1].packed;
  await refused(withHeader(F32, (h) => (h.graph.nodes[1].packed.bias += 64)),
    `header: graph.nodes[1] (wino).packed {"weights":0,"bias":${wino.bias + 64}} is not where this build's weight layout puts it, {"weights":0,"bias":${wino.bias}}; convert the model again with this version`);
  const packed = headerOf(F32).packedBytes;
  await refused(withHeader(F32, (h) => (h.packedBytes += 64)), `header: packedBytes differs from the ${packed} bytes the nodes' weights take, got ${packed + 64}`);
});

header("sizes the file does not back", async () => {
  const stored = headerOf(F32).storedBytes;
  // The header claims a shorter region and the file ends there: still not what the layout needs.
  const short = withHeader(F32, (h) => (h.storedBytes -= 64));
  await refused(short.subarray(0, short.length - 64), `header: storedBytes is ${stored - 64}, but the nodes' weights stored as f32 take ${stored} bytes`);
  await refused(withHeader(F32, (h) => (h.storedBytes = 2 ** 31 - 1)), `header: storedBytes is ${2 ** 31 - 1}, but the nodes' weights stored as f32 take ${stored} bytes`);
  // Relabelled f32 → int8 without re-encoding: the int8 region is smaller than the f32 bytes present.
  const int8Stored = headerOf(INT8).storedBytes;
  await refused(withHeader(F32, (h) => { h.weights = "int8"; h.storedBytes = int8Stored; }), `${F32.length - regionAt(F32) - int8Stored} bytes follow the weight region, which should end the file`);
});

header("int8 scales that are not finite numbers ≥ 0", async () => {
  // The first int8 weights in the file ("wino" stays float32, as 2-D Winograd kernels do), their scales first.
  const { graph, shapes, winograd } = await readIwm(iwmBytes(INT8));
  const segments = segmentsOf(graph, shapes, layoutWeights(graph, winograd, shapes), winograd);
  const first = segments.findIndex((s) => s.rows !== null);
  assert.is(segments[first]!.node, "narrow");
  const scales = regionAt(INT8) + segments.slice(0, first).reduce((n, s) => n + storedBytes(s, "int8"), 0);
  const nan = patched(INT8, scales, [0x00, 0x00, 0xc0, 0x7f]);
  await refused(nan, "int8 scale NaN of node narrow is not a finite number ≥ 0");
  await refused(patched(INT8, scales + 4, [0x00, 0x00, 0x80, 0xbf]), "int8 scale -1 of node narrow is not a finite number ≥ 0");
  await refused(patched(INT8, scales, [0x00, 0x00, 0x80, 0x7f]), "int8 scale Infinity of node narrow is not a finite number ≥ 0");
  // Through loadModel with worker threads: the engine started for the load is released and the error surfaces.
  assert.is(await rejection(loadModel(nan, { threads: 2 })), "IWM model bytes: int8 scale NaN of node narrow is not a finite number ≥ 0");
});

/** Pads in each mode, one filling with -∞ (which JSON cannot hold as a number). */
function padGraph(): Graph {
  return graphOf([
    input("x", [5, 4, 3]),
    pad("refl", "x", { top: 2, left: 1, bottom: 0, right: 3 }, "reflect"),
    pad("edge", "refl", { top: 1, left: 0, bottom: 2, right: 1 }, "edge"),
    pad("fill", "x", { top: 0, left: 1, bottom: 1, right: 0 }, "constant", -Infinity),
    conv("c", "edge", rng(4), [3, 3, 3, 2]),
  ], ["c", "fill"]);
}

header("pad nodes: mode and value kept (-∞ too), the model computes what the graph does; bad mode, value or reflect size refused", async () => {
  const graph = padGraph();
  const file = await convertToIwm(graph);
  const records = headerOf(file).graph.nodes.filter((n: { op: string }) => n.op === "pad");
  assert.equal(records.map((n: Record<string, unknown>) => [n.name, n.mode, n.value]), [["refl", "reflect", 0], ["edge", "edge", 0], ["fill", "constant", "-Infinity"]]);
  const B = 2;
  const x = tensor(B, [5, 4, 3], randomArray(B * 5 * 4 * 3, rng(5), 2));
  const want = naiveRun(graph, new Map([["x", x]]));
  const model = await loadModel(file, { threads: 1, normalization: "unit" });
  try {
    const got = await model.run({ x: { data: Float32Array.from(x.data), dims: [B, 5, 4, 3] } });
    assertClose(got.c!.data, want.get("c")!.data, "c");
    // -∞ is no number assertClose compares: the filled cells must be exactly -∞.
    assert.equal(Array.from(got.fill!.data), Array.from(want.get("fill")!.data, Math.fround));
  } finally {
    model.dispose();
  }
  const at = headerOf(file).graph.nodes.findIndex((n: { name: string }) => n.name === "refl");
  await refused(withHeader(file, (h) => (h.graph.nodes[at].mode = "wrap")), `header: graph.nodes[${at}].mode must be one of constant, reflect, edge, got "wrap"`);
  await refused(withHeader(file, (h) => (h.graph.nodes[at].value = "-inf")), `header: graph.nodes[${at}].value must be one of Infinity, -Infinity, NaN, got "-inf"`);
  await refused(withHeader(file, (h) => (h.graph.nodes[at].pads.top = 5)),
    /^header: node refl \(pad\): reflect pads 5,1,0,3 must be smaller than the input's height and width, got \[5,4,3\]$/);
});

header("a consistent header whose activations exceed what wasm can address", async () => {
  const huge: Graph = tinyGraph();
  huge.nodes[0] = { op: "input", name: "x", inputs: [], shape: [40000, 40000, 4] };
  const message = await rejection(loadModel(await convertToIwm(huge), { threads: 1 }));
  assert.match(message, /^the model needs \d+ MiB of wasm memory, more than the 2048 MiB the kernels can address$/);
});

header("random byte flips in the prefix and header: an Error naming the file, or a valid file", async () => {
  const r = rng(11);
  let refusedCount = 0;
  for (let trial = 0; trial < 400; trial++) {
    const bytes = F32.slice();
    for (let flips = 0; flips < 1 + (trial % 3); flips++) {
      const at = Math.floor((r() + 0.5) * HEADER_END);
      bytes[at] = Math.floor((r() + 0.5) * 256);
    }
    try {
      const iwm = await readIwm(iwmBytes(bytes, NAME));
      const { target, base } = await packingTarget(iwm.layout.bytes);
      await iwm.writeWeights(target, base);
    } catch (e) {
      assert.instance(e, Error);
      assert.ok((e as Error).message.startsWith(`${NAME}: `), `trial ${trial}: ${(e as Error).message}`);
      refusedCount++;
    }
  }
  assert.ok(refusedCount > 300, `${refusedCount} of 400 refused`);
});

header.run();

const files = suite("files on disk");

let dir = "";
files.before(async () => {
  dir = await mkdtemp(join(tmpdir(), "iwm-hostile-"));
});
files.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

files("loadModel names the file: truncated, bad magic, missing", async () => {
  const truncated = join(dir, "truncated.iwm");
  await writeFile(truncated, F32.subarray(0, F32.length - 10));
  assert.is(await rejection(loadModel(truncated, { threads: 1 })),
    `${truncated}: truncated: the weight region needs ${F32.length - regionAt(F32)} bytes, the file holds ${F32.length - regionAt(F32) - 10} after the header`);
  const notIwm = join(dir, "model.iwm");
  await writeFile(notIwm, new TextEncoder().encode('{"modelTopology": {}}'));
  assert.is(await rejection(loadModel(notIwm, { threads: 1 })), `${notIwm}: not an .iwm file: it does not start with "IWM1"`);
  const missing = join(dir, "missing.iwm");
  assert.match(await rejection(loadModel(missing)), new RegExp(`ENOENT.*${missing.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
});

files("a file on disk loads and runs like the same bytes in memory", async () => {
  const path = join(dir, "tiny.iwm");
  await writeFile(path, INT8);
  const feeds = { x: { data: new Float32Array(18 * 18 * 4).fill(0.25), dims: [1, 18, 18, 4] } };
  const fromFile = await loadModel(path, { threads: 1 });
  const fromBytes = await loadModel(INT8, { threads: 1 });
  try {
    assert.is(fromFile.source, `${path} (from tiny test graph)`);
    assert.equal((await fromFile.run(feeds)).out!.data, (await fromBytes.run(feeds)).out!.data);
  } finally {
    fromFile.dispose();
    fromBytes.dispose();
  }
});

files.run();
