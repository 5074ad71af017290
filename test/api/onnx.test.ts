/**
 * ONNX models through the public API: loadModel from a `.onnx` path, a file:
 * URL, a Uint8Array or an ArrayBuffer (weights inline or in an external data
 * file), then run / classify / embed, and the errors loadModel reports.
 * The models are the synthetic ones of test/import/onnx/models.ts.
 */

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { clearField, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ModelProtoSchema, StringStringEntryProtoSchema, TensorProto_DataLocation, TensorProtoSchema } from "../../src/import/onnx/gen/onnx_pb.js";
import { loadModel, type LoadOptions, type Model, type ModelSource } from "../../src/index.js";
import { preprocess, loadImageDecoders } from "../../src/preprocess/index.js";
import { compileKernels } from "../../src/runtime/engine.js";
import { rng } from "../import/onnx/graphs.js";
import { TORCHVISION, torchvisionModel } from "../import/onnx/models.js";

// PNG/JPEG decoding below is synchronous once the decoders are loaded.
await loadImageDecoders();

const kernels = compileKernels("auto");
const BYTES = torchvisionModel({ prologue: true });
const SIDE = TORCHVISION.size;
const IMAGE = { data: Uint8Array.from({ length: SIDE * SIDE * 3 }, (_, i) => (i * 37) % 256), width: SIDE, height: SIDE, channels: 3 as const };

async function load(source: ModelSource, opts: LoadOptions = {}): Promise<Model> {
  const { module, build } = await kernels;
  return loadModel(source, { threads: 1, module, moduleBuild: build, ...opts });
}

async function logits(model: Model): Promise<Float32Array> {
  const r = rng(21);
  const data = Float32Array.from({ length: 2 * SIDE * SIDE * 3 }, () => r());
  return (await model.run({ x: { data, dims: [2, SIDE, SIDE, 3] } })).logits!.data;
}

async function rejection(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e as Error);
  if (!error) throw new Error("expected a rejection");
  return error.message;
}

/** BYTES with every Conv weight moved to `weights.bin`, written into `dir` next to `model.onnx`. */
async function writeExternal(dir: string): Promise<string> {
  const proto = fromBinary(ModelProtoSchema, BYTES);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of proto.graph!.initializer) {
    if (!t.name.endsWith(".weight")) continue;
    chunks.push(t.rawData);
    t.externalData = [
      create(StringStringEntryProtoSchema, { key: "location", value: "weights.bin" }),
      create(StringStringEntryProtoSchema, { key: "offset", value: String(offset) }),
      create(StringStringEntryProtoSchema, { key: "length", value: String(t.rawData.length) }),
    ];
    t.dataLocation = TensorProto_DataLocation.EXTERNAL;
    offset += t.rawData.length;
    clearField(t, TensorProtoSchema.field.rawData);
  }
  await writeFile(join(dir, "weights.bin"), Buffer.concat(chunks));
  const path = join(dir, "model.onnx");
  await writeFile(path, toBinary(ModelProtoSchema, proto));
  return path;
}

// ---------------------------------------------------------------------------

const Sources = suite("loadModel: ONNX sources");

Sources("a path, a file: URL, a Uint8Array and an ArrayBuffer load the same model; external data is read next to the file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "inception-onnx-"));
  try {
    const path = join(dir, "inline.onnx");
    await writeFile(path, BYTES);
    const external = await writeExternal(dir);
    const copy = BYTES.slice();
    const buffer = copy.buffer.slice(copy.byteOffset, copy.byteOffset + copy.byteLength);
    const sources: [ModelSource, string][] = [
      [BYTES, "ONNX model bytes"], [buffer, "ONNX model bytes"], [path, path], [pathToFileURL(path), path], [external, external],
    ];
    let first: Float32Array | undefined;
    for (const [source, name] of sources) {
      const model = await load(source);
      try {
        assert.is(model.source, name);
        assert.equal(model.inputs, [{ name: "x", shape: [-1, SIDE, SIDE, 3] }]);
        assert.equal(model.outputs, [{ name: "logits", shape: [-1, TORCHVISION.classes] }]);
        const out = await logits(model);
        first ??= out;
        assert.equal([...out], [...first], `${name}: same logits`);
      } finally {
        model.dispose();
      }
    }
    assert.equal(copy, BYTES, "the caller's bytes are not modified");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Sources("errors name the file: missing, not ONNX, or not importable", async () => {
  const dir = await mkdtemp(join(tmpdir(), "inception-onnx-"));
  try {
    const missing = join(dir, "missing.onnx");
    assert.match(await rejection(load(missing)), missing);
    const garbage = join(dir, "garbage.onnx");
    await writeFile(garbage, "definitely not protobuf");
    assert.match(await rejection(load(garbage)), `${garbage}: not an ONNX model`);
    assert.match(await rejection(load(new Uint8Array([0xff, 0xff, 0xff]))), /^ONNX model bytes: not an ONNX model/);
    const external = await writeExternal(dir);
    await rm(join(dir, "weights.bin"));
    assert.match(await rejection(load(external)), "weights.bin");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const Api = suite("an imported torchvision-shaped model through the API");

Api("normalization from the prologue, blocks, classify and embed (also with worker threads)", async () => {
  const labels = ["a", "b", "c", "d", "e"];
  for (const threads of [1, 2]) {
    const model = await load(BYTES, { threads, labels });
    try {
      assert.is(model.normalization, "torch");
      assert.equal(model.blocks.map((b) => b.name), ["stem", "mixed0", "mixed1", "head"]);
      const predictions = await model.classify(IMAGE, { topK: 5 });
      assert.equal(predictions.map((p) => p.label).sort(), labels);
      const total = predictions.reduce((s, p) => s + p.probability, 0);
      assert.ok(Math.abs(total - 1) < 1e-5, `probabilities sum to ${total}`);
      assert.ok(predictions.every((p, i) => i === 0 || predictions[i - 1]!.probability >= p.probability), "sorted");
      const embedding = await model.embed(IMAGE);
      assert.is(embedding.length, TORCHVISION.features);
      const input = preprocess(IMAGE, { size: SIDE, normalization: "torch" });
      const pooled = await model.run({ x: { data: input, dims: [1, SIDE, SIDE, 3] } }, { outputs: ["pool"] });
      assert.equal([...embedding], [...pooled.pool!.data]);
    } finally {
      model.dispose();
    }
  }
});

Api("a model that does not say how it is normalized needs the option", async () => {
  const bytes = torchvisionModel({ prologue: false });
  assert.match(await rejection(load(bytes)), 'ONNX model bytes does not say how its input is normalized; pass normalization: "tf" | "unit" | "torch"');
  const model = await load(bytes, { normalization: "unit" });
  assert.is(model.normalization, "unit");
  model.dispose();
});

Sources.run();
Api.run();
