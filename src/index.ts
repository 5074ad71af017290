/**
 * Node entry point (also Deno and Bun through their Node compatibility):
 * sources may be file paths; workers are node:worker_threads.
 */
import { loadResolved, type LoadOptions } from "./api/load.js";
import type { Model } from "./api/model.js";
import { nodePlatform } from "./platform/node.js";
import { resolveSource, type ModelSource } from "./platform/node-source.js";

export type { ClassifyOptions, ImageInput, Prediction, TensorInfo } from "./api/model.js";
export type { LoadOptions } from "./api/load.js";
export type { ModelSource } from "./platform/node-source.js";
export type { TensorData } from "./runtime/session.js";
export type { DecodedImage } from "./preprocess/index.js";
export type { Normalization } from "./graph/ir.js";
export type { TfjsLayersArtifacts } from "./import/tfjs-layers.js";
export { Model } from "./api/model.js";
export { IMAGENET_LABELS } from "./api/imagenet-labels.js";

/** Loads a model; with no source, the bundled default (nsfwjs's pretrained InceptionV3). */
export async function loadModel(source: ModelSource = "nsfwjs", opts: LoadOptions = {}): Promise<Model> {
  return loadResolved(await resolveSource(source, { streamWeights: true }), opts, nodePlatform);
}
