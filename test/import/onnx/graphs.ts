/**
 * A small DSL for the importer tests: builds ONNX graphs node by node with
 * the generated protobuf classes (via build.ts), with deterministic random
 * float initializers.
 */

import type { MessageInitShape } from "@bufbuild/protobuf";
import type { NodeProtoSchema, TensorProto } from "../../../src/import/onnx/gen/onnx_pb.js";
import { AttributeType, DataType, graph, modelBytes, node, rawF32, tensor, valueInfo } from "./build.js";

type AttributeInit = NonNullable<MessageInitShape<typeof NodeProtoSchema>["attribute"]>[number];

export const attr = {
  int: (name: string, v: number): AttributeInit => ({ name, type: AttributeType.INT, i: BigInt(v) }),
  ints: (name: string, v: number[]): AttributeInit => ({ name, type: AttributeType.INTS, ints: v.map(BigInt) }),
  float: (name: string, v: number): AttributeInit => ({ name, type: AttributeType.FLOAT, f: v }),
  floats: (name: string, v: number[]): AttributeInit => ({ name, type: AttributeType.FLOATS, floats: v }),
  string: (name: string, v: string): AttributeInit => ({ name, type: AttributeType.STRING, s: new TextEncoder().encode(v) }),
  tensor: (name: string, t: TensorProto): AttributeInit => ({ name, type: AttributeType.TENSOR, t }),
};

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** An int64 tensor stored in raw_data. */
export function rawI64(name: string, dims: number[], values: readonly number[]): TensorProto {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return tensor({ name, dims: dims.map(BigInt), dataType: DataType.INT64, rawData: raw });
}

export class GraphBuilder {
  readonly nodes: ReturnType<typeof node>[] = [];
  readonly initializers: TensorProto[] = [];
  private count = 0;

  constructor(private readonly random = rng(1)) {}

  /** A float32 initializer with the given values, or random ones times `scale`. */
  init(name: string, dims: number[], values?: readonly number[], scale = 1): string {
    const n = dims.reduce((a, b) => a * b, 1);
    this.initializers.push(rawF32(name, dims, values ?? Array.from({ length: n }, () => this.random() * scale)));
    return name;
  }

  initI64(name: string, dims: number[], values: readonly number[]): string {
    this.initializers.push(rawI64(name, dims, values));
    return name;
  }

  /** Appends a node; its output is `out` or a generated name. Returns the first output's name. */
  op(opType: string, inputs: string[], attributes: AttributeInit[] = [], opts: { out?: string | string[]; name?: string } = {}): string {
    const outputs = Array.isArray(opts.out) ? opts.out : [opts.out ?? `t${this.count++}`];
    this.nodes.push(node(opType, inputs, outputs, attributes, { name: opts.name ?? `${opType}_${this.nodes.length}` }));
    return outputs[0];
  }

  /** Serialized model with float32 inputs/outputs of the given shapes. */
  bytes(
    inputs: [string, (number | string | null)[]][],
    outputs: [string, (number | string | null)[] | null][],
    opset = 13,
    producerName = "test",
  ): Uint8Array {
    return modelBytes(
      graph({
        name: "g",
        node: this.nodes,
        initializer: this.initializers,
        input: inputs.map(([name, shape]) => valueInfo(name, DataType.FLOAT, shape)),
        output: outputs.map(([name, shape]) => valueInfo(name, DataType.FLOAT, shape)),
      }),
      { opsetImport: [{ domain: "", version: BigInt(opset) }], producerName },
    );
  }
}
