/**
 * Shared by the preprocess tests: fixture loading (Node's fs is fine here;
 * only src/ must stay free of Node built-ins) and the Pillow-generated
 * reference values from fixtures/images/make_reference.py.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as assert from "uvu/assert";

const IMAGES = fileURLToPath(new URL("../../fixtures/images/", import.meta.url));

export function fixture(file: string): Uint8Array {
  return new Uint8Array(readFileSync(IMAGES + file));
}

export interface Reference {
  png: Record<string, { width: number; height: number; sha256: string; pixels: number[][] }>;
  jpeg: Record<
    string,
    { width: number; height: number; mean: number[]; block: number; tilesX: number; tilesY: number; tiles: number[][] }
  >;
  resize: { source: string; box: [number, number, number, number]; width: number; height: number; data: number[] }[];
  pipeline: {
    source: string;
    crop: number;
    size: number;
    normalization: "torch";
    cropBox: [number, number, number, number];
    channelMeans: number[];
    samples: number[][];
  };
  tiny: Record<string, { width: number; height: number; mode: string; rgb?: number[]; samples16?: number[] }>;
}

export const reference: Reference = JSON.parse(readFileSync(IMAGES + "reference/reference.json", "utf8"));

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length, "lengths differ");
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Asserts that `fn` throws an Error whose message contains every one of `parts`. */
export function throwsWith(fn: () => unknown, ...parts: string[]): Error {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected an error mentioning ${parts.join(", ")}`);
  assert.instance(caught, Error);
  const message = (caught as Error).message;
  for (const part of parts) assert.ok(message.includes(part), `message ${JSON.stringify(message)} lacks ${JSON.stringify(part)}`);
  return caught as Error;
}
