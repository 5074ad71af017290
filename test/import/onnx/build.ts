/**
 * Builds ONNX protobuf messages for the parser tests with the generated
 * schema, so each test states exactly the fields it exercises.
 */

import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  AttributeProto_AttributeType as AttributeType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType as DataType,
  ValueInfoProtoSchema,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "../../../src/import/onnx/gen/onnx_pb.js";

export { AttributeType, DataType };

export function tensor(init: MessageInitShape<typeof TensorProtoSchema>): TensorProto {
  return create(TensorProtoSchema, init);
}

/** A float32 tensor stored in raw_data. */
export function rawF32(name: string, dims: number[], values: readonly number[]): TensorProto {
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return tensor({ name, dims: dims.map(BigInt), dataType: DataType.FLOAT, rawData: raw });
}

/** A graph input/output of tensor type; `shape` null leaves the rank unknown. */
export function valueInfo(name: string, elemType: DataType, shape: (number | string | null)[] | null): ValueInfoProto {
  const dims = shape?.map((d) =>
    typeof d === "number"
      ? { value: { case: "dimValue" as const, value: BigInt(d) } }
      : typeof d === "string"
        ? { value: { case: "dimParam" as const, value: d } }
        : {},
  );
  return create(ValueInfoProtoSchema, {
    name,
    type: { value: { case: "tensorType", value: { elemType, shape: dims ? { dim: dims } : undefined } } },
  });
}

export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  attribute: MessageInitShape<typeof NodeProtoSchema>["attribute"] = [],
  extra: Partial<Pick<NodeProto, "name" | "domain">> = {},
): NodeProto {
  return create(NodeProtoSchema, { opType, input: inputs, output: outputs, attribute, ...extra });
}

export function graph(init: MessageInitShape<typeof GraphProtoSchema>): GraphProto {
  return create(GraphProtoSchema, init);
}

/** Serialized ModelProto around `graph`, with IR 8 and the default opset 13 unless `model` says otherwise. */
export function modelBytes(
  graphProto: GraphProto | undefined,
  model: { irVersion?: bigint; producerName?: string; producerVersion?: string; opsetImport?: { domain: string; version: bigint }[] } = {},
): Uint8Array {
  const proto = create(ModelProtoSchema, { irVersion: 8n, opsetImport: [{ domain: "", version: 13n }], ...model });
  proto.graph = graphProto;
  return toBinary(ModelProtoSchema, proto);
}

/** A model whose only content is one initializer: the smallest way to feed a tensor through parseOnnx. */
export function modelWithInitializer(t: TensorProto): Uint8Array {
  return modelBytes(graph({ name: "g", initializer: [t] }));
}

export function tensorBytes(t: TensorProto): Uint8Array {
  return toBinary(TensorProtoSchema, t);
}
