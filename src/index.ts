/**
 * Node entry point (also Deno and Bun through their Node compatibility):
 * sources may be file paths; workers are node:worker_threads.
 */
import { loadResolved, type LoadOptions, type ResolvedSource } from "./api/load.js";
import type { Model } from "./api/model.js";
import type { TfjsLayersArtifacts } from "./import/tfjs-layers.js";
import { nodePlatform } from "./platform/node.js";
import { readNsfwjsInceptionV3, readTfjsLayersModelFile } from "./platform/node-files.js";

export type { ClassifyOptions, ImageInput, Prediction, TensorInfo } from "./api/model.js";
export type { LoadOptions } from "./api/load.js";
export type { TensorData } from "./runtime/session.js";
export type { DecodedImage } from "./preprocess/index.js";
export type { Normalization } from "./graph/ir.js";
export type { TfjsLayersArtifacts } from "./import/tfjs-layers.js";
export { Model } from "./api/model.js";
export { IMAGENET_LABELS } from "./api/imagenet-labels.js";

/**
 * What `loadModel` accepts: the name "nsfwjs" (the default: the pretrained
 * InceptionV3 of the nsfwjs npm package), a path or file: URL of a tfjs layers
 * model.json (or nsfwjs-style model.min.js), or parsed tfjs layers artifacts.
 */
export type ModelSource = string | URL | TfjsLayersArtifacts;

async function resolveSource(source: ModelSource): Promise<ResolvedSource> {
  if (source === "nsfwjs") {
    const a = await readNsfwjsInceptionV3();
    return { kind: "tfjs-layers", artifacts: a, source: a.source, labels: a.labels, normalization: a.normalization };
  }
  if (typeof source === "string" || source instanceof URL) {
    const path = source instanceof URL ? decodeURIComponent(source.pathname) : source;
    if (source instanceof URL && source.protocol !== "file:") {
      throw new Error(`only file: URLs are read in Node, got ${source.href}`);
    }
    if (path.endsWith(".onnx")) throw new Error(`${path}: ONNX models are not supported yet (tfjs layers models only)`);
    return { kind: "tfjs-layers", artifacts: await readTfjsLayersModelFile(path), source: path };
  }
  if (source && typeof source === "object" && "modelTopology" in source && "weightsManifest" in source) {
    if (!(source.weightData instanceof Uint8Array)) throw new Error("tfjs layers artifacts need weightData as a Uint8Array");
    return { kind: "tfjs-layers", artifacts: source, source: "tfjs layers artifacts" };
  }
  throw new Error("loadModel source must be \"nsfwjs\", a model file path or file: URL, or tfjs layers artifacts { modelTopology, weightsManifest, weightData }");
}

/** Loads a model; with no source, the bundled default (nsfwjs's pretrained InceptionV3). */
export async function loadModel(source: ModelSource = "nsfwjs", opts: LoadOptions = {}): Promise<Model> {
  return loadResolved(await resolveSource(source), opts, nodePlatform);
}
