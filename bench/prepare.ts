// Writes everything the engine processes share, so each engine reads the same
// model and the same input from disk (run under tsx: it uses src/ directly):
//   node --import tsx bench/prepare.ts OUT_DIR
// - model.json + weights.bin: nsfwjs's InceptionV3 as a plain tfjs layers
//   model (the same manifest and weight bytes, uint8-quantized as nsfwjs ships
//   them, one shard), for TensorFlow.js and our runtime;
// - model.onnx: the same graph through our ONNX writer, for onnxruntime;
// - model.iwm, model-int8.iwm: the same graph converted to .iwm (f32 and int8 weights), for our runtime;
// - input.f32: the four sample photos preprocessed (299x299, [0,1]), NHWC;
//   batch 1 uses the first, batch 4 all of them;
// - meta.json: tensor names, and per-layer multiply-accumulates of the
//   optimized graph (what the GFLOP/s of --profile are computed from).
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { graphToOnnx } from "../src/export/onnx.js";
import { convertToIwm } from "../src/format/iwm.js";
import { inferShapes } from "../src/graph/shapes.js";
import { importTfjsLayers } from "../src/import/tfjs-layers.js";
import { optimize } from "../src/passes/index.js";
import { readNsfwjsInceptionV3 } from "../src/platform/node-files.js";
import { preprocess, loadImageDecoders } from "../src/preprocess/index.js";

// PNG/JPEG decoding below is synchronous once the decoders are loaded.
await loadImageDecoders();

const out = process.argv[2];
if (!out) throw new Error("usage: node --import tsx bench/prepare.ts OUT_DIR");
const PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"];
const SIDE = 299;

const artifacts = await readNsfwjsInceptionV3();
const weightsManifest = [{ paths: ["weights.bin"], weights: artifacts.weightsManifest.flatMap((g) => g.weights) }];
await writeFile(join(out, "model.json"), JSON.stringify({ format: "layers-model", modelTopology: artifacts.modelTopology, weightsManifest }));
await writeFile(join(out, "weights.bin"), artifacts.weightData);

const graph = importTfjsLayers(artifacts, { source: artifacts.source });
await writeFile(join(out, "model.onnx"), graphToOnnx(graph));
await writeFile(join(out, "model.iwm"), await convertToIwm(graph, { weights: "f32" }));
await writeFile(join(out, "model-int8.iwm"), await convertToIwm(graph, { weights: "int8" }));

const per = SIDE * SIDE * 3;
const input = new Float32Array(PHOTOS.length * per);
for (const [i, name] of PHOTOS.entries()) {
  const bytes = new Uint8Array(await readFile(new URL(`../fixtures/images/${name}`, import.meta.url)));
  input.set(preprocess(bytes, { size: SIDE, normalization: "unit" }, name), i * per);
}
await writeFile(join(out, "input.f32"), input);

// Per-image MACs of the graph our runtime and the ONNX model actually run (BN folded, ReLU fused).
const optimized = optimize(graph);
const shapes = inferShapes(optimized);
const layers = optimized.nodes.flatMap((node) => {
  if (node.op === "conv2d") {
    const [kh, kw, cin, cout] = node.kernelShape;
    const [OH, OW] = shapes.get(node.name)!;
    return [{ name: node.name, op: `conv ${kh}x${kw}/${node.strides[0]}`, macs: OH! * OW! * cout * kh * kw * cin }];
  }
  if (node.op === "dense") return [{ name: node.name, op: "dense", macs: node.kernelShape[0] * node.kernelShape[1] }];
  return [];
});
await writeFile(join(out, "meta.json"), JSON.stringify({
  source: artifacts.source,
  photos: PHOTOS,
  inputName: graph.nodes[0]!.name,
  outputName: graph.outputs[0]!,
  inputShape: [SIDE, SIDE, 3],
  macsPerImage: layers.reduce((n, l) => n + l.macs, 0),
  layers,
}, null, 1));
