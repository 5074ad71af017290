/**
 * The real nsfwjs InceptionV3. Expected values come from Node's own module
 * loader evaluating the nsfwjs bundles (independent of our literal parser)
 * and from dequantizing manifest bytes by hand.
 */

import { createRequire } from "node:module";
import { dirname, join } from "node:path";

import { test } from "uvu";
import * as assert from "uvu/assert";

import { weightValues, type Graph, type Node, type Weights } from "../../src/graph/ir.js";
import { inferShapes } from "../../src/graph/shapes.js";
import { importTfjsLayers, importTfjsLayersStreamed, type WeightSpec } from "../../src/import/tfjs-layers.js";
import { locateNsfwjsInceptionV3, openTfjsLayersModelFile, readNsfwjsInceptionV3 } from "../../src/platform/node-files.js";
import { packModel } from "../../src/runtime/session.js";
import { packingTarget } from "../format/helpers.js";
import { errorOf } from "./helpers.js";

const require = createRequire(import.meta.url);
// nsfwjs's CommonJS entry is dist/cjs/index.js; the model sits in dist/models.
const modelDir = join(dirname(require.resolve("nsfwjs")), "..", "models", "inception_v3");
const bundle = require(join(modelDir, "model.min.js")) as { modelTopology: unknown; weightsManifest: { paths: string[]; weights: WeightSpec[] }[] };
const shards = bundle.weightsManifest[0].paths.map((p) =>
  Buffer.from(require(join(modelDir, `${p}.min.js`)) as string, "base64"),
);
const expectedData = Buffer.concat(shards);

const artifacts = await readNsfwjsInceptionV3();
const graph: Graph = importTfjsLayers(artifacts, artifacts);
const shapes = inferShapes(graph);

test("reader returns exactly what the bundles hold", () => {
  assert.equal(artifacts.modelTopology, bundle.modelTopology);
  assert.equal(artifacts.weightsManifest, bundle.weightsManifest);
  assert.ok(Buffer.from(artifacts.weightData).equals(expectedData));
  assert.equal(artifacts.labels, ["drawing", "hentai", "neutral", "porn", "sexy"]);
  assert.is(artifacts.normalization, "unit");
  assert.match(artifacts.source, /^nsfwjs@\d+\.\d+\.\d+ inception_v3$/);
});

test("weights left in the bundles (as loadModel reads them) pack to the bytes the in-memory import packs to", async () => {
  const opened = await openTfjsLayersModelFile((await locateNsfwjsInceptionV3()).path);
  try {
    const streamed = await importTfjsLayersStreamed(opened, artifacts);
    const conv = streamed.nodes.find((n) => n.op === "conv2d")!;
    assert.match(errorOf(() => conv.op === "conv2d" && weightValues(conv.kernel)), "only when the model is packed");
    const regions = [];
    for (const g of [graph, streamed]) {
      const packed = packModel(g, []);
      const { target, base } = await packingTarget(packed.layout.bytes);
      await packed.writeWeights(target, base);
      regions.push(new Uint8Array(target.memory.buffer, base, packed.layout.bytes));
    }
    assert.is(regions[1]!.length, regions[0]!.length);
    assert.ok(Buffer.from(regions[1]!).equals(regions[0]!), "same packed bytes");
  } finally {
    await opened.close();
  }
});

test("graph structure: 94 conv + 94 BN, [5] output, mixed10 [8,8,2048]", () => {
  const count = (op: Node["op"]) => graph.nodes.filter((n) => n.op === op).length;
  assert.is(count("conv2d"), 94);
  assert.is(count("batchnorm"), 94);
  assert.equal(graph.outputs, ["dense_3"]);
  assert.equal(shapes.get("dense_3"), [5]);
  assert.equal(shapes.get("mixed10"), [8, 8, 2048]);
  assert.equal(shapes.get("input_1"), [299, 299, 3]);
});

test("metadata: blocks, embedding, labels, normalization", () => {
  const mixed = Array.from({ length: 11 }, (_, i) => ({ name: `mixed${i}`, tensor: `mixed${i}` }));
  assert.equal(graph.metadata.blocks, [{ name: "stem", tensor: "max_pooling2d_2" }, ...mixed, { name: "head", tensor: "dense_3" }]);
  assert.is(graph.metadata.embedding, "flatten_1");
  assert.equal(shapes.get(graph.metadata.embedding!), [2048]);
  assert.equal(graph.metadata.labels, ["drawing", "hentai", "neutral", "porn", "sexy"]);
  assert.is(graph.metadata.normalization, "unit");
  assert.is(graph.metadata.source, artifacts.source);
});

test("weights match hand dequantization of the shard bytes", () => {
  // Every tensor is uint8-quantized: one byte per element, laid out in manifest order.
  const specs = bundle.weightsManifest[0].weights;
  const offsets: number[] = [];
  let total = 0;
  for (const spec of specs) {
    assert.is(spec.quantization?.dtype, "uint8");
    offsets.push(total);
    total += spec.shape.reduce((a, b) => a * b, 1);
  }
  assert.is(total, expectedData.length);

  const field = { kernel: "kernel", bias: "bias", gamma: "gamma", beta: "beta", moving_mean: "mean", moving_variance: "variance" } as const;
  const check = (index: number) => {
    const spec = specs[index];
    const [layer, weight] = spec.name.split("/") as [string, keyof typeof field];
    const { min, scale } = spec.quantization as { min: number; scale: number };
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const q = expectedData.subarray(offsets[index], offsets[index] + count);
    const expected = Array.from(Float32Array.from(q, (v) => min + v * scale));
    // A softmax Dense keeps its weights on the `<layer>/logits` node.
    const owner = graph.nodes.find((n) => (n.name === layer || n.name === `${layer}/logits`) && field[weight] in n);
    assert.ok(owner, `node holding ${spec.name}`);
    assert.equal(Array.from(weightValues((owner as unknown as Record<string, Weights>)[field[weight]]!)), expected, spec.name);
  };

  check(0); // batch_normalization_1/beta, the first bytes of shard 1
  assert.is(specs[0].name, "batch_normalization_1/beta");
  check(specs.length - 1); // dense_3/bias, the last bytes of shard 6
  check(specs.findIndex((s) => s.name === "conv2d_1/kernel"));
  // The tensor that straddles the shard 1 / shard 2 boundary.
  const boundary = shards[0].length;
  const straddling = offsets.findIndex((o, i) => o < boundary && (offsets[i + 1] ?? total) > boundary);
  assert.ok(straddling >= 0);
  check(straddling);
});

test.run();
