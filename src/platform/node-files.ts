/**
 * Node-only model readers: they turn files on disk into the plain artifacts
 * the pure importers take.
 */

import { access, open, readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

import type { TfjsLayersArtifacts, WeightsGroup } from "../import/tfjs-layers.js";
import { bundledObject, bundledPlainString, bundledString } from "../import/umd-bundle.js";

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
  const weightData = bundled ? await readBase64Bundles(files) : await readConcatenated(files);
  return { modelTopology: model.modelTopology, weightsManifest, weightData };
}

/**
 * The bytes that bundled shard files export as base64 strings, one after
 * another in one fresh buffer. Each file is read as bytes into one reused
 * buffer and its payload decoded from there straight into place (when it is
 * a plain string, as minifiers write base64; else through the literal
 * parser), so no shard is held as UTF-8-decoded text or copied again.
 */
async function readBase64Bundles(files: string[]): Promise<Uint8Array> {
  const sizes = await Promise.all(files.map(async (file) => (await stat(file)).size));
  const text = Buffer.allocUnsafe(Math.max(0, ...sizes));
  // Base64 holds 3 bytes per 4 characters: the files' sizes bound the decoded total.
  const out = Buffer.alloc(sizes.reduce((n, size) => n + Math.floor(size / 4) * 3, 0));
  let at = 0;
  for (const [i, file] of files.entries()) {
    const bytes = await readInto(file, text.subarray(0, sizes[i]!));
    const plain = bundledPlainString(bytes, file);
    const payload = plain ? null : bundledString(bytes.toString("utf8"), file);
    const length = plain ? plain.end - plain.start : payload!.length;
    if (length % 4 !== 0) throw new Error(`${file}: the exported string is not base64`);
    // In pieces of whole 4-character groups, so each piece's strings stay small (quickly collected).
    for (let from = 0; from < length; from += BASE64_PIECE) {
      const piece = plain ? text.toString("latin1", plain.start + from, plain.start + Math.min(from + BASE64_PIECE, length)) : payload!.slice(from, from + BASE64_PIECE);
      const written = out.write(piece, at, "base64");
      // Canonical base64 re-encodes to itself; anything Buffer skipped or
      // tolerated does not. Native on both sides, unlike a regex over megabytes.
      // Only the last piece may end in padding.
      const last = from + BASE64_PIECE >= length;
      if (out.toString("base64", at, at + written) !== piece || (!last && written !== (piece.length / 4) * 3)) {
        throw new Error(`${file}: the exported string is not base64`);
      }
      at += written;
    }
  }
  return new Uint8Array(out.buffer, out.byteOffset, at);
}

/** Base64 characters decoded at a time (a multiple of 4). */
const BASE64_PIECE = 64 * 1024;

/** Reads the file `path` into `into`, which is exactly its size; returns `into`. */
async function readInto(path: string, into: Buffer): Promise<Buffer> {
  const handle = await open(path, "r");
  try {
    for (let done = 0; done < into.length;) {
      const { bytesRead } = await handle.read(into, done, into.length - done, done);
      if (bytesRead === 0) throw new Error(`${path}: the file ended at byte ${done}, short of its ${into.length} bytes (did it change while loading?)`);
      done += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return into;
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
    await readInto(file, Buffer.from(out.buffer, at, sizes[i]!));
    at += sizes[i]!;
  }
  return out;
}
