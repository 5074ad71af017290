import { create } from "@bufbuild/protobuf";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ValueInfoProtoSchema } from "../../../src/import/onnx/gen/onnx_pb.js";
import { parseOnnx, parseOnnxTensor, type ParseOptions } from "../../../src/import/onnx/model.js";
import { errorOf } from "../helpers.js";
import {
  AttributeType,
  DataType,
  graph,
  modelBytes,
  modelWithInitializer,
  node,
  rawF32,
  tensor,
  tensorBytes,
  valueInfo,
} from "./build.js";

const SOURCE = { source: "models/evil.onnx" };

function parseError(bytes: Uint8Array, opts: ParseOptions = {}): string {
  return errorOf(() => parseOnnx(bytes, { ...SOURCE, ...opts }));
}

function initializerError(init: Parameters<typeof tensor>[0], opts: ParseOptions = {}): string {
  return parseError(modelWithInitializer(tensor(init)), opts);
}

function external(location: string, entries: Record<string, string> = {}) {
  return {
    dataLocation: 1,
    externalData: Object.entries({ location, ...entries }).map(([key, value]) => ({ key, value })),
  };
}

test("not a protobuf: the decoder's error, wrapped with the source", () => {
  const png = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
  const message = parseError(png);
  assert.match(message, /^models\/evil\.onnx: not an ONNX model \(.+\)$/);
});

test("truncated model: every cut of a real model fails cleanly", () => {
  const whole = modelBytes(
    graph({ name: "g", input: [valueInfo("x", DataType.FLOAT, [1, 2])], initializer: [rawF32("w", [2, 2], [1, 2, 3, 4])], node: [node("Add", ["x", "w"], ["y"])] }),
  );
  for (let cut = 1; cut < whole.length; cut++) {
    const part = whole.subarray(0, cut);
    let message: string | undefined;
    try {
      parseOnnx(part, SOURCE);
    } catch (error) {
      message = (error as Error).message;
    }
    // A cut on a field boundary can still be a valid, smaller message; any error must be ours.
    if (message !== undefined) assert.match(message, /^models\/evil\.onnx: /, `cut at ${cut}`);
  }
  assert.match(parseError(whole.subarray(0, whole.length - 3)), /^models\/evil\.onnx: not an ONNX model \(.+\)$/);
});

test("a message without a graph (including empty input) is not a model", () => {
  assert.is(parseError(new Uint8Array(0)), "models/evil.onnx: not an ONNX model (no graph)");
  assert.is(parseError(modelBytes(undefined, { producerName: "x" })), "models/evil.onnx: not an ONNX model (no graph)");
  assert.is(errorOf(() => parseOnnx(new Uint8Array(0))), "ONNX model: not an ONNX model (no graph)");
});

test("absurdly nested messages stop at the decoder's recursion limit", () => {
  // model.graph(7) → graph.node(1) → node.attribute(5) → attribute.g(6) → graph.node … 300 levels deep.
  let inner: Uint8Array = new Uint8Array(0);
  const wrap = (field: number, payload: Uint8Array): Uint8Array => {
    const len: number[] = [];
    for (let n = payload.length; ; n >>>= 7) {
      if (n < 0x80) {
        len.push(n);
        break;
      }
      len.push((n & 0x7f) | 0x80);
    }
    const out = new Uint8Array(1 + len.length + payload.length);
    out[0] = (field << 3) | 2;
    out.set(len, 1);
    out.set(payload, 1 + len.length);
    return out;
  };
  for (let i = 0; i < 100; i++) inner = wrap(1, wrap(5, wrap(6, inner)));
  assert.match(parseError(wrap(7, inner)), /^models\/evil\.onnx: not an ONNX model \(.*maximum recursion depth/);
});

test("declared dims are checked against the bytes present before allocating", () => {
  const message = initializerError({ name: "huge", dims: [1000000000n, 1000000000n], dataType: DataType.FLOAT, rawData: new Uint8Array(16) });
  assert.is(message, "models/evil.onnx: tensor 'huge' (float32, dims [1000000000, 1000000000]): element count overflows; the tensor has 16 bytes of raw_data");
  // 40 GB if it were allocated: the size check must come first.
  assert.is(
    initializerError({ name: "big", dims: [100000n, 100000n], dataType: DataType.FLOAT, rawData: new Uint8Array(16) }),
    "models/evil.onnx: tensor 'big' (float32, dims [100000, 100000]) needs 40000000000 bytes but has 16 bytes of raw_data",
  );
  assert.is(
    initializerError({ name: "short", dims: [2n, 3n], dataType: DataType.INT64, rawData: new Uint8Array(40) }),
    "models/evil.onnx: tensor 'short' (int64, dims [2, 3]) needs 48 bytes but has 40 bytes of raw_data",
  );
  assert.is(
    initializerError({ name: "long", dims: [2n], dataType: DataType.FLOAT16, rawData: new Uint8Array(5) }),
    "models/evil.onnx: tensor 'long' (float16, dims [2]) needs 4 bytes but has 5 bytes of raw_data",
  );
  assert.is(
    initializerError({ name: "few", dims: [100000n, 100000n], dataType: DataType.FLOAT, floatData: [1, 2] }),
    "models/evil.onnx: tensor 'few' (float32, dims [100000, 100000]) needs 10000000000 values but has 2 values in float_data",
  );
  assert.is(
    initializerError({ name: "none", dims: [3n], dataType: DataType.FLOAT }),
    "models/evil.onnx: tensor 'none' (float32, dims [3]) needs 3 values but has 0 values in float_data",
  );
  // Values in a field the type does not use count as missing.
  assert.is(
    initializerError({ name: "wrongfield", dims: [2n], dataType: DataType.INT64, int32Data: [1, 2] }),
    "models/evil.onnx: tensor 'wrongfield' (int64, dims [2]) needs 2 values but has 0 values in int64_data",
  );
});

test("negative dims and element-count overflow", () => {
  assert.is(
    initializerError({ name: "neg", dims: [2n, -3n], dataType: DataType.FLOAT, rawData: new Uint8Array(24) }),
    "models/evil.onnx: tensor 'neg' (float32, dims [2, -3]) has a negative dimension",
  );
  assert.is(
    initializerError({ name: "ovf", dims: [1n << 40n, 1n << 40n], dataType: DataType.UINT8, int32Data: [1] }),
    "models/evil.onnx: tensor 'ovf' (uint8, dims [1099511627776, 1099511627776]): element count overflows; the tensor has 1 values in int32_data",
  );
  // A single dimension past 2^53 cannot be represented, even next to a zero.
  assert.match(
    initializerError({ name: "wide", dims: [0n, 1n << 60n], dataType: DataType.FLOAT }),
    /^models\/evil\.onnx: tensor 'wide' \(float32, dims \[0, 1152921504606846976\]\): element count overflows/,
  );
  const manyDims = Array.from({ length: 100000 }, () => 1n << 62n);
  assert.is(
    initializerError({ name: "many", dims: manyDims, dataType: DataType.FLOAT }),
    "models/evil.onnx: tensor 'many' (float32, dims [4611686018427387904, 4611686018427387904, 4611686018427387904, 4611686018427387904, 4611686018427387904, 4611686018427387904, 4611686018427387904, 4611686018427387904, … (100000 dims)]): element count overflows; the tensor has 0 values in float_data",
  );
});

test("unsupported data types name the tensor and the type", () => {
  const cases: [DataType, string][] = [
    [DataType.STRING, "string"],
    [DataType.COMPLEX64, "complex64"],
    [DataType.COMPLEX128, "complex128"],
    [DataType.BFLOAT16, "bfloat16"],
    [DataType.UINT64, "uint64"],
    [DataType.UNDEFINED, "undefined"],
    [17 as DataType, "data type 17"],
  ];
  for (const [dataType, name] of cases) {
    assert.is(
      initializerError({ name: "t", dims: [1n], dataType, rawData: new Uint8Array(8) }),
      `models/evil.onnx: tensor 't' has data type ${name}, which is not supported`,
    );
  }
  assert.is(
    errorOf(() => parseOnnxTensor(tensorBytes(tensor({ dims: [1n], dataType: DataType.STRING, stringData: [Uint8Array.of(65)] })), "input_0.pb")),
    "input_0.pb: unnamed tensor has data type string, which is not supported",
  );
});

test("values outside their type's range in int32_data, bool bytes other than 0/1", () => {
  assert.is(
    initializerError({ name: "u8", dims: [3n], dataType: DataType.UINT8, int32Data: [0, 256, 1] }),
    "models/evil.onnx: tensor 'u8' (uint8, dims [3]): int32_data value 256 at element 1 is outside [0, 255]",
  );
  assert.is(
    initializerError({ name: "i8", dims: [1n], dataType: DataType.INT8, int32Data: [-129] }),
    "models/evil.onnx: tensor 'i8' (int8, dims [1]): int32_data value -129 at element 0 is outside [-128, 127]",
  );
  assert.is(
    initializerError({ name: "h", dims: [1n], dataType: DataType.FLOAT16, int32Data: [-1] }),
    "models/evil.onnx: tensor 'h' (float16, dims [1]): int32_data value -1 at element 0 is outside [0, 65535]",
  );
  assert.is(
    initializerError({ name: "b", dims: [2n], dataType: DataType.BOOL, int32Data: [1, 2] }),
    "models/evil.onnx: tensor 'b' (bool, dims [2]): int32_data value 2 at element 1 is outside [0, 1]",
  );
  assert.is(
    initializerError({ name: "b", dims: [3n], dataType: DataType.BOOL, rawData: Uint8Array.of(0, 1, 7) }),
    "models/evil.onnx: tensor 'b' (bool, dims [3]): bool byte 7 at element 2 is not 0 or 1",
  );
});

test("external data: missing resolver, bad locations, bounds, malformed numbers, mismatched length", () => {
  const f32 = { dims: [2n], dataType: DataType.FLOAT };
  assert.is(
    initializerError({ name: "w", ...f32, ...external("w.bin") }),
    "models/evil.onnx: tensor 'w' is stored in external file 'w.bin', but no readExternal resolver was given",
  );
  let reads = 0;
  const readExternal = () => {
    reads++;
    return new Uint8Array(12);
  };
  for (const location of ["../secret.bin", "a/../../b.bin", "/etc/passwd", "C:\\weights.bin", "sub\\..\\..\\x"]) {
    assert.is(
      initializerError({ name: "w", ...f32, ...external(location) }, { readExternal }),
      `models/evil.onnx: tensor 'w': external data location '${location}' must be a relative path inside the model's directory`,
    );
  }
  assert.is(initializerError({ name: "w", ...f32, externalData: [{ key: "offset", value: "0" }], dataLocation: 1 }, { readExternal }), "models/evil.onnx: tensor 'w' is stored externally but has no location");
  assert.is(reads, 0, "nothing is read for a rejected location");
  assert.is(
    initializerError({ name: "w", ...f32, ...external("w.bin", { offset: "8", length: "8" }) }, { readExternal }),
    "models/evil.onnx: tensor 'w': external data [8, 16) lies outside 'w.bin' (12 bytes)",
  );
  assert.is(
    initializerError({ name: "w", ...f32, ...external("w.bin", { offset: "13" }) }, { readExternal }),
    "models/evil.onnx: tensor 'w': external data [13, 12) lies outside 'w.bin' (12 bytes)",
  );
  for (const bad of ["-4", "0x10", "1e3", "", "99999999999999999999"]) {
    assert.is(
      initializerError({ name: "w", ...f32, ...external("w.bin", { offset: bad }) }, { readExternal }),
      `models/evil.onnx: tensor 'w': external_data offset '${bad}' is not a non-negative integer`,
    );
  }
  assert.is(
    initializerError({ name: "w", ...f32, ...external("w.bin", { offset: "0" }) }, { readExternal }),
    "models/evil.onnx: tensor 'w' (float32, dims [2]) needs 8 bytes but has 12 bytes of external data",
  );
  assert.is(
    initializerError({ name: "w", ...f32, ...external("w.bin"), rawData: new Uint8Array(8) }, { readExternal }),
    "models/evil.onnx: tensor 'w' is stored externally but also has raw_data",
  );
});

test("subgraphs and other unsupported attributes", () => {
  const withAttr = (attribute: Parameters<typeof node>[3]) => parseError(modelBytes(graph({ name: "g", node: [node("If", ["c"], ["y"], attribute, { name: "if0" })] })));
  assert.is(
    withAttr([{ name: "then_branch", type: AttributeType.GRAPH, g: { name: "then" } }]),
    "models/evil.onnx: node 'if0' (If) attribute 'then_branch': subgraphs are not supported",
  );
  assert.is(withAttr([{ name: "bodies", type: AttributeType.GRAPHS, graphs: [{}] }]), "models/evil.onnx: node 'if0' (If) attribute 'bodies': subgraphs are not supported");
  assert.is(withAttr([{ name: "ts", type: AttributeType.TENSORS, tensors: [{}] }]), "models/evil.onnx: node 'if0' (If) attribute 'ts': attribute type TENSORS is not supported");
  assert.is(withAttr([{ name: "old", f: 1 }]), "models/evil.onnx: node 'if0' (If) attribute 'old' has no type");
  assert.is(withAttr([{ name: "t", type: AttributeType.TENSOR }]), "models/evil.onnx: node 'if0' (If) attribute 't' has type TENSOR but no tensor");
  assert.is(
    withAttr([{ name: "ref", type: AttributeType.FLOAT, refAttrName: "alpha" }]),
    "models/evil.onnx: node 'if0' (If) attribute 'ref' refers to 'alpha', which is only valid inside a function",
  );
  assert.is(
    withAttr([{ name: "mode", type: AttributeType.STRING, s: Uint8Array.of(0xff, 0xfe) }]),
    "models/evil.onnx: node 'if0' (If) attribute 'mode' is not valid UTF-8",
  );
  assert.is(
    withAttr([
      { name: "k", type: AttributeType.INT, i: 1n },
      { name: "k", type: AttributeType.INT, i: 2n },
    ]),
    "models/evil.onnx: node 'if0' (If): duplicate attribute 'k'",
  );
  assert.is(
    withAttr([{ name: "value", type: AttributeType.TENSOR, t: { name: "c", dims: [4n], dataType: DataType.FLOAT, floatData: [1] } }]),
    "models/evil.onnx: tensor 'c' (float32, dims [4]) needs 4 values but has 1 values in float_data",
  );
});

test("malformed graphs: duplicate or unnamed initializers, sparse initializers, segments, duplicate opsets", () => {
  const w = rawF32("w", [1], [1]);
  assert.is(parseError(modelBytes(graph({ initializer: [w, w] }))), "models/evil.onnx: duplicate initializer 'w'");
  assert.is(parseError(modelBytes(graph({ initializer: [rawF32("", [1], [1])] }))), "models/evil.onnx: initializer without a name");
  assert.is(
    parseError(modelBytes(graph({ sparseInitializer: [{ values: { name: "sp" }, dims: [4n] }] }))),
    "models/evil.onnx: sparse initializers are not supported ('sp')",
  );
  assert.is(
    initializerError({ name: "seg", dims: [1n], dataType: DataType.FLOAT, floatData: [1], segment: { begin: 0n, end: 1n } }),
    "models/evil.onnx: tensor 'seg' is a segment of a larger tensor, which is not supported",
  );
  assert.is(
    parseError(modelBytes(graph({}), { opsetImport: [{ domain: "", version: 13n }, { domain: "ai.onnx", version: 11n }] })),
    "models/evil.onnx: duplicate opset import for domain 'ai.onnx'",
  );
});

test("graph inputs and outputs: non-tensor types, missing types, negative or huge dims", () => {
  const io = (input: ReturnType<typeof valueInfo>) => parseError(modelBytes(graph({ input: [input] })));
  const sequence = create(ValueInfoProtoSchema, { name: "seq", type: { value: { case: "sequenceType", value: {} } } });
  assert.is(io(sequence), "models/evil.onnx: graph input 'seq' has type sequence; only tensors are supported");
  const optional = create(ValueInfoProtoSchema, { name: "opt", type: { value: { case: "optionalType", value: {} } } });
  assert.is(parseError(modelBytes(graph({ output: [optional] }))), "models/evil.onnx: graph output 'opt' has type optional; only tensors are supported");
  assert.is(io(create(ValueInfoProtoSchema, { name: "untyped" })), "models/evil.onnx: graph input 'untyped' has no type");
  assert.is(io(valueInfo("x", DataType.FLOAT, [1, -3])), "models/evil.onnx: graph input 'x' shape has a negative dimension (-3)");
  assert.is(io(valueInfo("x", DataType.FLOAT, [2 ** 60])), "models/evil.onnx: graph input 'x' shape has a dimension too large to address (1152921504606846976)");
});

test("parseOnnxTensor: not a tensor, truncated, external data without a resolver", () => {
  const bytes = tensorBytes(rawF32("x", [4], [1, 2, 3, 4]));
  assert.match(errorOf(() => parseOnnxTensor(bytes.subarray(0, bytes.length - 1), "input_0.pb")), /^input_0\.pb: not an ONNX tensor \(.+\)$/);
  assert.match(errorOf(() => parseOnnxTensor(bytes.subarray(0, bytes.length - 1))), /^ONNX tensor: not an ONNX tensor \(/);
  assert.is(
    errorOf(() => parseOnnxTensor(tensorBytes(tensor({ name: "x", dims: [1n], dataType: DataType.FLOAT, ...external("x.bin") })), "input_0.pb")),
    "input_0.pb: tensor 'x' is stored in external file 'x.bin', but no readExternal resolver was given",
  );
});

test.run();
