/**
 * Node-only model readers: they turn files on disk into the plain artifacts
 * the pure importers take.
 */

import { access, open, readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

import type { TfjsLayersArtifacts, WeightsGroup } from "../import/tfjs-layers.js";
import { bundledObject, bundledString } from "../import/umd-bundle.js";

/** nsfwjs's class order (its NSFW_CLASSES 0…4), lower-cased. */
const NSFWJS_LABELS = ["drawing", "hentai", "neutral", "porn", "sexy"];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Directory and version of the installed nsfwjs package. */
async function locateNsfwjs(): Promise<{ dir: string; version: string }> {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve("nsfwjs");
  } catch (cause) {
    throw new Error("the default model needs the npm package nsfwjs: npm install nsfwjs", { cause });
  }
  // nsfwjs's "exports" map hides its package.json from require.resolve, so
  // walk up from the entry point to the directory that owns it.
  for (let dir = dirname(entry); dirname(dir) !== dir; dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (!(await exists(manifest))) continue;
    const pkg: unknown = JSON.parse(await readFile(manifest, "utf8"));
    if (isObject(pkg) && pkg.name === "nsfwjs") return { dir, version: String(pkg.version) };
  }
  throw new Error(`found nsfwjs at ${entry} but not its package.json; reinstall it: npm install nsfwjs`);
}

/**
 * The pretrained Keras InceptionV3 that nsfwjs ships as browserify bundles
 * (`dist/models/inception_v3/model.min.js` + `group1-shard{1..6}of6.min.js`).
 * Input 299x299 RGB scaled to [0, 1]; 5 classes.
 */
export async function readNsfwjsInceptionV3(): Promise<
  TfjsLayersArtifacts & { labels: string[]; normalization: "unit"; source: string }
> {
  const { dir, version } = await locateNsfwjs();
  const artifacts = await readTfjsLayersModelFile(join(dir, "dist", "models", "inception_v3", "model.min.js"));
  return { ...artifacts, labels: [...NSFWJS_LABELS], normalization: "unit", source: `nsfwjs@${version} inception_v3` };
}

function checkManifest(model: Record<string, unknown>, path: string): WeightsGroup[] {
  if (model.format === "graph-model") {
    throw new Error(`${path} is a tfjs graph model; only layers models (Keras topology) are supported`);
  }
  if (!isObject(model.modelTopology)) throw new Error(`${path} has no modelTopology object`);
  const manifest = model.weightsManifest;
  const valid =
    Array.isArray(manifest) &&
    manifest.every(
      (g) => isObject(g) && Array.isArray(g.paths) && g.paths.every((p) => typeof p === "string") && Array.isArray(g.weights),
    );
  if (!valid) throw new Error(`${path} has no valid weightsManifest (groups with paths and weights lists)`);
  return manifest as WeightsGroup[];
}

/** Base64 → bytes, refusing anything that is not strict base64 (Buffer would silently skip it). */
function decodeBase64(text: string, what: string): Uint8Array {
  const bytes = Buffer.from(text, "base64");
  // Canonical base64 re-encodes to itself; anything Buffer skipped or
  // tolerated does not. Native on both sides, unlike a regex over megabytes.
  if (text.length % 4 !== 0 || bytes.toString("base64") !== text) {
    throw new Error(`${what}: the exported string is not base64`);
  }
  return bytes;
}

/**
 * Reads a tfjs layers model: a standard `model.json` whose
 * `weightsManifest[i].paths` name binary shards relative to it, or an
 * nsfwjs-style bundled `model.min.js` whose shards are bundled
 * `<path>.min.js` (or `<path>.js`) files holding base64.
 */
export async function readTfjsLayersModelFile(path: string): Promise<TfjsLayersArtifacts> {
  const bundled = path.endsWith(".js");
  const text = await readFile(path, "utf8");
  let model: Record<string, unknown>;
  if (bundled) {
    model = bundledObject(text, path);
  } else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (cause) {
      throw new Error(`${path} is not valid JSON: ${(cause as Error).message}`, { cause });
    }
    if (!isObject(parsed)) throw new Error(`${path} does not hold a JSON object`);
    model = parsed;
  }
  const weightsManifest = checkManifest(model, path);

  const files: string[] = [];
  for (const group of weightsManifest) {
    for (const shardPath of group.paths) {
      const file = resolve(dirname(path), shardPath);
      const candidates = bundled ? [`${file}.min.js`, `${file}.js`] : [file];
      let found: string | undefined;
      for (const candidate of candidates) {
        if (await exists(candidate)) {
          found = candidate;
          break;
        }
      }
      if (found === undefined) {
        throw new Error(`${path}: weight shard ${shardPath} is missing (looked for ${candidates.join(", ")})`);
      }
      files.push(found);
    }
  }
  if (!bundled) return { modelTopology: model.modelTopology, weightsManifest, weightData: await readConcatenated(files) };
  // One shard's text at a time: each is a few megabytes of base64.
  const shards: Uint8Array[] = [];
  for (const file of files) shards.push(decodeBase64(bundledString(await readFile(file, "utf8"), file), file));
  return { modelTopology: model.modelTopology, weightsManifest, weightData: concatenated(shards) };
}

/** Byte arrays one after another in one fresh buffer (no Buffer pool memory leaks out). */
function concatenated(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, s) => n + s.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/**
 * Files' bytes one after another in one fresh buffer, each file read straight
 * into its place in one read where the OS allows (readFile reads in chunks
 * into a buffer of its own, which would then be copied).
 */
async function readConcatenated(files: string[]): Promise<Uint8Array> {
  const sizes = await Promise.all(files.map(async (file) => (await stat(file)).size));
  const out = new Uint8Array(sizes.reduce((n, size) => n + size, 0));
  let at = 0;
  for (const [i, file] of files.entries()) {
    const size = sizes[i]!;
    const handle = await open(file, "r");
    try {
      for (let done = 0; done < size;) {
        const { bytesRead } = await handle.read(out, at + done, size - done, done);
        if (bytesRead === 0) throw new Error(`${file}: the file ended at byte ${done}, short of its ${size} bytes (did it change while loading?)`);
        done += bytesRead;
      }
    } finally {
      await handle.close();
    }
    at += size;
  }
  return out;
}
