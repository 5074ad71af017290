/**
 * Node-only model readers: they turn files on disk into the plain artifacts
 * the pure importers take.
 */

import { access, open, readFile, stat, type FileHandle } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

import type { StreamedTfjsLayers, TfjsLayersArtifacts, WeightsGroup, WeightSource } from "../import/tfjs-layers.js";
import { bundledObject, bundledPlainString, bundledString, endsModule, plainStringEnd, plainStringStart, TAIL_BYTES } from "../import/umd-bundle.js";

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
  const { path, ...info } = await locateNsfwjsInceptionV3();
  return { ...(await readTfjsLayersModelFile(path)), ...info };
}

/** Where the nsfwjs InceptionV3's model file is (see readNsfwjsInceptionV3), and what the file does not say about it. */
export async function locateNsfwjsInceptionV3(): Promise<{ path: string; labels: string[]; normalization: "unit"; source: string }> {
  const { dir, version } = await locateNsfwjs();
  return {
    path: join(dir, "dist", "models", "inception_v3", "model.min.js"),
    labels: [...NSFWJS_LABELS], normalization: "unit", source: `nsfwjs@${version} inception_v3`,
  };
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
  const { modelTopology, weightsManifest, files, bundled } = await readModelFile(path);
  const weightData = bundled ? await readBase64Bundles(files) : await readConcatenated(files);
  return { modelTopology, weightsManifest, weightData };
}

/**
 * Opens a tfjs layers model like readTfjsLayersModelFile, but leaves the
 * weights in their shard files, read as the import and packing need them
 * (importTfjsLayersStreamed), so a load never holds the whole weight data.
 * `close` releases the files once the weights are packed.
 */
export async function openTfjsLayersModelFile(path: string): Promise<StreamedTfjsLayers & { close(): Promise<void> }> {
  const { modelTopology, weightsManifest, files, bundled } = await readModelFile(path);
  const weightSource = bundled ? await openBase64Bundles(files, path) : await openConcatenated(files, path);
  return { modelTopology, weightsManifest, weightSource, close: () => weightSource.close() };
}

/** A tfjs layers model file's topology and manifest, and its shard files in manifest order. */
async function readModelFile(path: string): Promise<{ modelTopology: unknown; weightsManifest: WeightsGroup[]; files: string[]; bundled: boolean }> {
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
  return { modelTopology: model.modelTopology, weightsManifest, files, bundled };
}

/** A WeightSource over files, opened now and closed by `close`. */
type ClosableSource = WeightSource & { close(): Promise<void> };

/** One shard's bytes in the concatenated weight data, and where its file holds them. */
interface ShardSpan {
  file: string;
  handle: FileHandle;
  /** First byte of the weight data it holds. */
  at: number;
  /** Bytes of weight data it holds. */
  bytes: number;
}

/** Opens every file, or none: a failure closes those already open. */
async function openAll(files: string[]): Promise<FileHandle[]> {
  const handles: FileHandle[] = [];
  try {
    for (const file of files) handles.push(await open(file, "r"));
  } catch (e) {
    await Promise.all(handles.map((h) => h.close()));
    throw e;
  }
  return handles;
}

/**
 * The spans of [offset, offset + length) that each shard holds: calls
 * `part(shard, from, to, into)` for the shard's bytes [from, to) (relative to
 * the shard), which go to `into` from byte `into` on.
 */
async function eachSpan(
  shards: ShardSpan[], offset: number, length: number, what: string,
  part: (shard: ShardSpan, from: number, to: number, into: number) => Promise<void>,
): Promise<void> {
  const end = offset + length;
  checkRange(offset, length, shards.length === 0 ? 0 : shards.at(-1)!.at + shards.at(-1)!.bytes, what);
  for (const shard of shards) {
    const from = Math.max(offset, shard.at), to = Math.min(end, shard.at + shard.bytes);
    if (from < to) await part(shard, from - shard.at, to - shard.at, from - offset);
  }
}

function checkRange(offset: number, length: number, total: number, what: string): void {
  if (offset < 0 || offset + length > total) throw new Error(`${what}: weight bytes ${offset}..${offset + length} asked for, but the shards hold ${total}`);
}

/** Reads exactly `into.length` bytes of `handle` from `position` on. */
async function readExactly(handle: FileHandle, into: Uint8Array, position: number, file: string): Promise<void> {
  for (let done = 0; done < into.length;) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new Error(`${file}: the file ended at byte ${position + done}, short of what it held when opened (did it change while loading?)`);
    done += bytesRead;
  }
}

/** Binary shard files (model.json's), read in place: each read goes straight into the caller's buffer. */
async function openConcatenated(files: string[], what: string): Promise<ClosableSource> {
  const handles = await openAll(files);
  const shards: ShardSpan[] = [];
  let at = 0;
  for (const [i, handle] of handles.entries()) {
    const { size } = await handle.stat();
    shards.push({ file: files[i]!, handle, at, bytes: size });
    at += size;
  }
  return {
    name: what,
    size: at,
    read: (offset, into) => eachSpan(shards, offset, into.length, what, (shard, from, to, dst) =>
      readExactly(shard.handle, into.subarray(dst, dst + to - from), from, shard.file)),
    close: async () => {
      await Promise.all(handles.map((h) => h.close()));
    },
  };
}

/** A bundled shard's base64 payload: where its characters start in the file, how many, and the bytes they decode to. */
interface Base64Span extends ShardSpan {
  start: number;
  chars: number;
}

/**
 * Bundled shard files (nsfwjs's) whose payloads are plain base64 strings,
 * decoded range by range as read: a read covers whole 4-character groups,
 * read a chunk at a time and decoded a piece at a time through two reused buffers. Each
 * payload is scanned once when opened, as bundledPlainString checks it;
 * when any is not plain (escapes), all are decoded into memory as
 * readTfjsLayersModelFile does. Reads run one at a time.
 */
async function openBase64Bundles(files: string[], what: string): Promise<ClosableSource> {
  const handles = await openAll(files);
  const close = async () => {
    await Promise.all(handles.map((h) => h.close()));
  };
  const shards: Base64Span[] = [];
  try {
    let at = 0;
    const scan = Buffer.allocUnsafe(SCAN_BYTES);
    for (const [i, handle] of handles.entries()) {
      const file = files[i]!;
      const payload = await plainPayload(handle, file, scan);
      if (!payload) {
        await close();
        const bytes = await readBase64Bundles(files);
        return {
          name: what,
          size: bytes.length,
          async read(offset, into) {
            checkRange(offset, into.length, bytes.length, what);
            into.set(bytes.subarray(offset, offset + into.length));
          },
          close: async () => {},
        };
      }
      const padding = payload.padding;
      if (payload.chars % 4 !== 0 || padding > 2) throw new Error(`${file}: the exported string is not base64`);
      const bytes = (payload.chars / 4) * 3 - padding;
      shards.push({ file, handle, at, bytes, start: payload.start, chars: payload.chars });
      at += bytes;
    }
    const chars = Buffer.allocUnsafe(READ_CHARS), decoded = Buffer.allocUnsafe((BASE64_PIECE / 4) * 3);
    let queue: Promise<void> = Promise.resolve();
    const readRange = (offset: number, into: Uint8Array) => eachSpan(shards, offset, into.length, what, async (s, from, to, dst) => {
      const shard = s as Base64Span;
      // Whole groups of 4 characters (3 bytes) covering [from, to): read a chunk at a time, decoded a piece at a time.
      const first = Math.floor(from / 3) * 4, end = Math.ceil(to / 3) * 4;
      for (let chunk = first; chunk < end; chunk += READ_CHARS) {
        const count = Math.min(READ_CHARS, end - chunk);
        await readExactly(shard.handle, chars.subarray(0, count), shard.start + chunk, shard.file);
        for (let p = 0; p < count; p += BASE64_PIECE) {
          const piece = chars.toString("latin1", p, Math.min(p + BASE64_PIECE, count));
          const n = decoded.write(piece, 0, "base64");
          // As readBase64Bundles checks: canonical base64, padding only in the payload's last group.
          const c = chunk + p;
          if (decoded.toString("base64", 0, n) !== piece || (c + piece.length !== shard.chars && n !== (piece.length / 4) * 3)) {
            throw new Error(`${shard.file}: the exported string is not base64`);
          }
          // The piece's bytes [b, b + n) of the shard; those in [from, to) go to `into`.
          const b = (c / 4) * 3;
          const lo = Math.max(from, b), hi = Math.min(to, b + n);
          into.set(decoded.subarray(lo - b, hi - b), dst + lo - from);
        }
      }
    });
    return {
      name: what,
      size: at,
      read(offset, into) {
        const run = queue.then(() => readRange(offset, into));
        queue = run.catch(() => undefined);
        return run;
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Bytes of a shard bundle scanned at a time when opened. */
const SCAN_BYTES = 256 * 1024;


/**
 * Where a bundled shard file's exported string sits, as bundledPlainString
 * finds it, scanning the file piece by piece instead of holding it: its
 * first character, length and trailing '=' count; null if it is not plain.
 */
async function plainPayload(handle: FileHandle, file: string, scan: Buffer): Promise<{ start: number; chars: number; padding: number } | null> {
  const { size } = await handle.stat();
  const head = scan.subarray(0, Math.min(size, scan.length));
  await readExactly(handle, head, 0, file);
  const open = plainStringStart(head);
  if (!open) return null;
  let end = -1;
  for (let at = open.start; at < size && end < 0;) {
    const piece = scan.subarray(0, Math.min(scan.length, size - at));
    await readExactly(handle, piece, at, file);
    const found = plainStringEnd(piece, open.quote);
    if (found === null) return null;
    end = found < 0 ? -1 : at + found;
    at += piece.length;
  }
  if (end < 0) return null;
  // The module's end after the quote, and the payload's last two characters (padding).
  const after = scan.subarray(0, Math.min(TAIL_BYTES, size - end - 1));
  await readExactly(handle, after, end + 1, file);
  if (!endsModule(after, file)) return null;
  const last = scan.subarray(0, Math.min(2, end - open.start));
  await readExactly(handle, last, end - last.length, file);
  const padding = last.filter((b) => b === 0x3d).length;
  return { start: open.start, chars: end - open.start, padding };
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

/** Base64 characters read at a time (a multiple of BASE64_PIECE): fewer reads, each decoded in small pieces. */
const READ_CHARS = 4 * BASE64_PIECE;

/** Reads the file `path` into `into`, which is exactly its size; returns `into`. */
async function readInto(path: string, into: Buffer): Promise<Buffer> {
  const handle = await open(path, "r");
  try {
    await readExactly(handle, into, 0, path);
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
