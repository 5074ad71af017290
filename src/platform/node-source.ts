import type { ResolvedSource } from "../api/load.js";
import type { TfjsLayersArtifacts } from "../import/tfjs-layers.js";
import { readNsfwjsInceptionV3, readTfjsLayersModelFile } from "./node-files.js";

/**
 * What `loadModel` accepts: the name "nsfwjs" (the default: the pretrained
 * InceptionV3 of the nsfwjs npm package), a path or file: URL of a tfjs layers
 * model.json (or nsfwjs-style model.min.js), or parsed tfjs layers artifacts.
 */
export type ModelSource = string | URL | TfjsLayersArtifacts;

/** Turns what a Node user passed to loadModel into importer input. */
export async function resolveSource(source: ModelSource): Promise<ResolvedSource> {
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

