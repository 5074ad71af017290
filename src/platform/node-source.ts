import { readFileSync } from "node:fs";
import { open, readFile, stat, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { ResolvedSource } from "../api/load.js";
import { iwmBytes, type IwmFile } from "../format/file.js";
import { isIwm } from "../format/iwm.js";
import type { TfjsLayersArtifacts } from "../import/tfjs-layers.js";
import { locateNsfwjsInceptionV3, openTfjsLayersModelFile, readTfjsLayersModelFile } from "./node-files.js";

/**
 * What `loadModel` accepts: the name "nsfwjs" (the default: the pretrained
 * InceptionV3 of the nsfwjs npm package), a path or file: URL of a tfjs layers
 * model.json (or nsfwjs-style model.min.js), of an ONNX model (`.onnx`) or of
 * an .iwm file (`inception-wasm convert`), the bytes of an ONNX model or of an
 * .iwm file, or parsed tfjs layers artifacts.
 */
export type ModelSource = string | URL | Uint8Array | ArrayBuffer | TfjsLayersArtifacts;

/** The ONNX parser (protobuf runtime and generated schema), imported only when an ONNX model is loaded. */
function onnxParser(): Promise<typeof import("../import/onnx/model.js")> {
  return import("../import/onnx/model.js");
}

/** An ONNX file; tensors stored outside it (external data) are read relative to its directory. */
async function readOnnxModelFile(path: string): Promise<ResolvedSource> {
  const bytes = await readFile(path);
  const { parseOnnx } = await onnxParser();
  const model = parseOnnx(bytes, { source: path, readExternal: (location) => readFileSync(join(dirname(path), location)) });
  return { kind: "onnx", model, source: path };
}

/**
 * An .iwm file on disk, opened on the first read: the weight region is read
 * straight into wasm memory, never held whole in a JS buffer.
 */
async function openIwmFile(path: string): Promise<IwmFile> {
  const { size } = await stat(path);
  let handle: Promise<FileHandle> | undefined;
  return {
    name: path,
    size,
    async read(offset, into) {
      handle ??= open(path, "r");
      const h = await handle;
      // One read returns at most 2 GiB, and any read may return less than asked.
      for (let done = 0; done < into.length;) {
        const { bytesRead } = await h.read(into, done, into.length - done, offset + done);
        if (bytesRead === 0) throw new Error(`${path}: the file ended at byte ${offset + done}, short of its ${size} bytes (did it change while loading?)`);
        done += bytesRead;
      }
    },
    async close() {
      const opening = handle;
      handle = undefined;
      // A failed open was already reported by the read that attempted it.
      await (await opening?.catch(() => undefined))?.close();
    },
  };
}

/**
 * Turns what a Node user passed to loadModel into importer input. With
 * `streamWeights`, a tfjs layers model's weights stay in their files until
 * packed (for loading and converting; not for what reads the weights
 * otherwise, such as the tfjs reference of `verify`).
 */
export async function resolveSource(source: ModelSource, { streamWeights = false } = {}): Promise<ResolvedSource> {
  const tfjsLayers = async (path: string, info: { source: string; labels?: string[]; normalization?: "unit" }): Promise<ResolvedSource> => {
    if (!streamWeights) return { kind: "tfjs-layers", artifacts: await readTfjsLayersModelFile(path), ...info };
    const { close, ...artifacts } = await openTfjsLayersModelFile(path);
    return { kind: "tfjs-layers-streamed", artifacts, close, ...info };
  };
  if (source === "nsfwjs") {
    const { path, ...info } = await locateNsfwjsInceptionV3();
    return tfjsLayers(path, info);
  }
  if (typeof source === "string" || source instanceof URL) {
    const path = source instanceof URL ? decodeURIComponent(source.pathname) : source;
    if (source instanceof URL && source.protocol !== "file:") {
      throw new Error(`only file: URLs are read in Node, got ${source.href}`);
    }
    if (path.endsWith(".onnx")) return readOnnxModelFile(path);
    if (path.endsWith(".iwm")) return { kind: "iwm", file: await openIwmFile(path), source: path };
    return tfjsLayers(path, { source: path });
  }
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
    const bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : source;
    if (isIwm(bytes)) {
      const file = iwmBytes(bytes);
      return { kind: "iwm", file, source: file.name };
    }
    const name = "ONNX model bytes";
    const { parseOnnx } = await onnxParser();
    return { kind: "onnx", model: parseOnnx(bytes, { source: name }), source: name };
  }
  if (source && typeof source === "object" && "modelTopology" in source && "weightsManifest" in source) {
    if (!(source.weightData instanceof Uint8Array)) throw new Error("tfjs layers artifacts need weightData as a Uint8Array");
    return { kind: "tfjs-layers", artifacts: source, source: "tfjs layers artifacts" };
  }
  throw new Error("loadModel source must be \"nsfwjs\", a model file path or file: URL (model.json, .onnx or .iwm), ONNX or .iwm model bytes (Uint8Array or ArrayBuffer), or tfjs layers artifacts { modelTopology, weightsManifest, weightData }");
}
