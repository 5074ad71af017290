/**
 * Builds small tfjs layers models by hand (Keras topology JSON + manifest +
 * weight bytes) so importer tests control every byte they check.
 */

import type { TfjsLayersArtifacts, WeightSpec } from "../../src/import/tfjs-layers.js";

type Json = Record<string, unknown>;

/** Little-endian bytes of float32 values. */
export function f32Bytes(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return bytes;
}

/** Little-endian bytes of uint16 values. */
export function u16Bytes(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 2);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setUint16(i * 2, v, true));
  return bytes;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Deterministic float32 test values that are exact in float32: multiples of 1/8 in [-4, 4). */
export function ramp(count: number, seed = 0): number[] {
  return Array.from({ length: count }, (_, i) => (((i * 7 + seed * 13) % 64) - 32) / 8);
}

/** The message of the error `fn` throws; fails the test if it does not throw. */
export function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected an error, none was thrown");
}

export async function rejectionOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected a rejection, none happened");
}

/** Keras 2 functional model under construction. */
export class ModelBuilder {
  readonly layers: Json[] = [];
  readonly weights: WeightSpec[] = [];
  private readonly chunks: Uint8Array[] = [];

  input(name: string, shape: number[]): this {
    this.layers.push({
      name,
      class_name: "InputLayer",
      config: { name, batch_input_shape: [null, ...shape], dtype: "float32" },
      inbound_nodes: [],
    });
    return this;
  }

  layer(className: string, name: string, config: Json, inputs: string[]): this {
    this.layers.push({
      name,
      class_name: className,
      config: { name, ...config },
      inbound_nodes: [inputs.map((i) => [i, 0, 0, {}])],
    });
    return this;
  }

  /** Appends a float32 weight; returns its values. */
  f32(name: string, shape: number[], seed = 0): number[] {
    const values = ramp(shape.reduce((a, b) => a * b, 1), seed);
    this.raw({ name, shape, dtype: "float32" }, f32Bytes(values));
    return values;
  }

  /** Appends a manifest entry with its stored bytes as given. */
  raw(spec: WeightSpec, bytes: Uint8Array): this {
    this.weights.push(spec);
    this.chunks.push(bytes);
    return this;
  }

  weightData(): Uint8Array {
    return concatBytes(this.chunks);
  }

  functional(outputs: string[]): TfjsLayersArtifacts {
    const inputs = this.layers.filter((l) => l.class_name === "InputLayer").map((l) => [l.name, 0, 0]);
    return {
      modelTopology: {
        keras_version: "2.2.4",
        backend: "tensorflow",
        model_config: {
          class_name: "Model",
          config: { name: "m", layers: this.layers, input_layers: inputs, output_layers: outputs.map((o) => [o, 0, 0]) },
        },
      },
      weightsManifest: [{ paths: ["group1-shard1of1"], weights: this.weights }],
      weightData: this.weightData(),
    };
  }
}
