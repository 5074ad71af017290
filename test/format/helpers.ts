/**
 * Shared helpers for the .iwm tests: a small graph that exercises every kind
 * of packed constant (a Winograd convolution, a plain one whose output
 * channels leave a panel half empty, a batchnorm left unfolded, two dense
 * layers), and byte-level surgery on .iwm files.
 */
import * as assert from "uvu/assert";
import type { Graph } from "../../src/graph/ir.js";
import { compileKernels, KernelMemory } from "../../src/runtime/engine.js";
import { batchnorm, concat, conv, dense, input, op1, pads0, pads1, pool, rng } from "../runtime/helpers.js";

export const PREFIX = 12;

/** input [18,18,4] → … → softmax over 3 classes; "bn" (stem) and "flat" (embedding) are its metadata tensors. */
export function tinyGraph(seed = 1): Graph {
  const r = rng(seed);
  return {
    nodes: [
      input("x", [18, 18, 4]),
      // 3x3 stride 1 on 18x18 with channels divisible by 4: Winograd F(4x4, 3x3), its kernel
      // packed for the direct GEMM and kept float32 in f16 and int8 files.
      conv("wino", "x", r, [3, 3, 4, 12], { relu: true }),
      // After a ReLU the batchnorm cannot fold: its scale/shift are packed.
      batchnorm("bn", "wino", r, 12),
      pool("mp", "bn", "maxpool", [3, 3], [2, 2], pads0),
      // 5 output channels: the panel's last 3 columns are padding.
      conv("narrow", "mp", r, [1, 1, 12, 5]),
      pool("ap", "mp", "avgpool", [3, 3], [1, 1], pads1),
      concat("cat", ["narrow", "ap"]),
      op1("globalavgpool", "gap", "cat"),
      op1("flatten", "flat", "gap"),
      dense("fc1", "flat", r, 17, 9, { relu: true }),
      dense("fc2", "fc1", r, 9, 3),
      op1("softmax", "out", "fc2"),
    ],
    outputs: ["out"],
    metadata: {
      source: "tiny test graph",
      labels: ["a", "b", "c"],
      normalization: "unit",
      blocks: [{ name: "stem", tensor: "bn" }, { name: "head", tensor: "out" }],
      embedding: "flat",
    },
  };
}

export function headerOf(file: Uint8Array): Record<string, any> {
  const length = new DataView(file.buffer, file.byteOffset).getUint32(8, true);
  return JSON.parse(new TextDecoder().decode(file.subarray(PREFIX, PREFIX + length)));
}

/** Where the weight region starts. */
export function regionAt(file: Uint8Array): number {
  const length = new DataView(file.buffer, file.byteOffset).getUint32(8, true);
  return Math.ceil((PREFIX + length) / 64) * 64;
}

/** `file` with its header replaced by `header` (any JSON text), the prefix and region kept. */
export function withHeaderText(file: Uint8Array, text: string | Uint8Array): Uint8Array {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  const region = file.subarray(regionAt(file));
  const at = Math.ceil((PREFIX + bytes.length) / 64) * 64;
  const out = new Uint8Array(at + region.length);
  out.set(file.subarray(0, 8));
  new DataView(out.buffer).setUint32(8, bytes.length, true);
  out.set(bytes, PREFIX);
  out.set(region, at);
  return out;
}

/** `file` with its header edited by `edit` (which mutates the parsed JSON). */
export function withHeader(file: Uint8Array, edit: (header: Record<string, any>) => void): Uint8Array {
  const header = headerOf(file);
  edit(header);
  return withHeaderText(file, JSON.stringify(header));
}

export async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (e) {
    assert.instance(e, Error, "rejected with a non-Error");
    return (e as Error).message;
  }
  throw new assert.Assertion({ message: "expected a rejection, the call succeeded", operator: "rejects", expects: "rejection", actual: "fulfilled" });
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length, "compared arrays differ in length");
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Wasm memory with the kernel module on it and `bytes` allocated from `base`: where writeWeights puts a region. */
export async function packingTarget(bytes: number): Promise<{ target: KernelMemory; base: number }> {
  const target = new KernelMemory((await compileKernels("auto")).module, bytes);
  return { target, base: target.allocate(bytes) };
}
