import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseOnnx, parseOnnxTensor, type OnnxAttribute } from "../../../src/import/onnx/model.js";
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

/** Bytes of `values`, `size` each, written by `write(view, byteOffset, value)` (little-endian in every caller). */
function le<T>(values: readonly T[], size: number, write: (view: DataView, offset: number, value: T) => void): Uint8Array {
  const bytes = new Uint8Array(values.length * size);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => write(view, i * size, v));
  return bytes;
}

function onlyInitializer(bytes: Uint8Array) {
  const model = parseOnnx(bytes);
  assert.is(model.initializers.size, 1);
  return [...model.initializers.values()][0]!;
}

test("model metadata, graph inputs without initializers, value-info shapes", () => {
  const bytes = modelBytes(
    graph({
      name: "main_graph",
      input: [
        valueInfo("image", DataType.FLOAT, ["batch", 3, 299, 299]),
        valueInfo("w", DataType.FLOAT, [2]),
        valueInfo("anything", DataType.INT64, null),
        valueInfo("scalar", DataType.DOUBLE, []),
        valueInfo("partly", DataType.BOOL, [null, 4]),
      ],
      output: [valueInfo("probs", DataType.FLOAT16, ["batch", 1000]), valueInfo("text", DataType.STRING, [1])],
      initializer: [rawF32("w", [2], [0.5, -1.5])],
      node: [node("Identity", ["image"], ["probs"])],
    }),
    {
      irVersion: 7n,
      producerName: "pytorch",
      producerVersion: "2.1.0",
      opsetImport: [
        { domain: "ai.onnx", version: 13n },
        { domain: "com.microsoft", version: 1n },
      ],
    },
  );
  const model = parseOnnx(bytes);
  assert.is(model.irVersion, 7);
  assert.equal([...model.opsets], [
    ["", 13],
    ["com.microsoft", 1],
  ]);
  assert.is(model.producer, "pytorch 2.1.0");
  assert.is(model.graphName, "main_graph");
  // "w" is an initializer, so the caller does not feed it.
  assert.equal(model.inputs, [
    { name: "image", elemType: "float32", shape: ["batch", 3, 299, 299] },
    { name: "anything", elemType: "int64", shape: null },
    { name: "scalar", elemType: "float64", shape: [] },
    { name: "partly", elemType: "bool", shape: [null, 4] },
  ]);
  assert.equal(model.outputs, [
    { name: "probs", elemType: "float16", shape: ["batch", 1000] },
    { name: "text", elemType: "string", shape: [1] },
  ]);
  assert.equal([...model.initializers.keys()], ["w"]);
});

test("nodes: order, names, domains, omitted optional inputs, every attribute type", () => {
  const bytes = modelBytes(
    graph({
      name: "g",
      node: [
        node(
          "Conv",
          ["x", "w", ""],
          ["y"],
          [
            { name: "strides", type: AttributeType.INTS, ints: [2n, 2n] },
            { name: "group", type: AttributeType.INT, i: 1n },
            { name: "auto_pad", type: AttributeType.STRING, s: new TextEncoder().encode("SAME_UPPER") },
          ],
          { name: "conv0" },
        ),
        node(
          "Custom",
          ["y"],
          ["z", "z_aux"],
          [
            { name: "alpha", type: AttributeType.FLOAT, f: 0.25 },
            { name: "scales", type: AttributeType.FLOATS, floats: [0.5, 1.5] },
            { name: "tags", type: AttributeType.STRINGS, strings: [new TextEncoder().encode("a"), new TextEncoder().encode("é")] },
            { name: "value", type: AttributeType.TENSOR, t: tensor({ name: "c", dims: [2n], dataType: DataType.INT64, int64Data: [7n, -7n] }) },
            { name: "ends", type: AttributeType.INTS, ints: [9223372036854775807n, -9223372036854775808n] },
          ],
          { name: "custom0", domain: "com.example" },
        ),
        node("Relu", ["z"], ["out"], [], { domain: "ai.onnx" }),
      ],
    }),
  );
  const [conv, custom, relu] = parseOnnx(bytes).nodes;
  assert.equal({ ...conv!, attributes: undefined }, {
    name: "conv0",
    opType: "Conv",
    domain: "",
    inputs: ["x", "w", ""],
    outputs: ["y"],
    attributes: undefined,
  });
  assert.equal([...conv!.attributes], [
    ["strides", { type: "ints", value: [2, 2] }],
    ["group", { type: "int", value: 1 }],
    ["auto_pad", { type: "string", value: "SAME_UPPER" }],
  ]);
  assert.is(custom!.domain, "com.example");
  assert.equal(custom!.outputs, ["z", "z_aux"]);
  const attrs = custom!.attributes;
  assert.equal(attrs.get("alpha"), { type: "float", value: 0.25 });
  assert.equal(attrs.get("scales"), { type: "floats", value: [0.5, 1.5] });
  assert.equal(attrs.get("tags"), { type: "strings", value: ["a", "é"] });
  const value = attrs.get("value") as Extract<OnnxAttribute, { type: "tensor" }>;
  assert.is(value.type, "tensor");
  assert.equal({ ...value.value, data: [...value.value.data] }, { name: "c", dims: [2], dataType: "int64", data: [7n, -7n] });
  // INT64_MAX / INT64_MIN sentinels round to ±2^63: still beyond any dimension.
  assert.equal(attrs.get("ends"), { type: "ints", value: [2 ** 63, -(2 ** 63)] });
  assert.is(relu!.domain, "");
  assert.is(relu!.name, "");
  assert.is(relu!.attributes.size, 0);
});

test("raw_data of every supported type, little-endian", () => {
  const cases = [
    { type: DataType.FLOAT, raw: le([1.5, -2.25, 3e-8], 4, (v, o, x) => v.setFloat32(o, x, true)), want: "float32", values: [1.5, -2.25, Math.fround(3e-8)], ctor: Float32Array },
    { type: DataType.DOUBLE, raw: le([0.1, -1e300, 5], 8, (v, o, x) => v.setFloat64(o, x, true)), want: "float64", values: [0.1, -1e300, 5], ctor: Float64Array },
    { type: DataType.INT32, raw: le([-1, 2147483647, -2147483648], 4, (v, o, x) => v.setInt32(o, x, true)), want: "int32", values: [-1, 2147483647, -2147483648], ctor: Int32Array },
    { type: DataType.INT64, raw: le([-1n, 9223372036854775807n, 3n], 8, (v, o, x) => v.setBigInt64(o, x, true)), want: "int64", values: [-1n, 9223372036854775807n, 3n], ctor: BigInt64Array },
    { type: DataType.INT8, raw: Uint8Array.of(0x80, 0xff, 0x7f), want: "int8", values: [-128, -1, 127], ctor: Int8Array },
    { type: DataType.UINT8, raw: Uint8Array.of(0, 128, 255), want: "uint8", values: [0, 128, 255], ctor: Uint8Array },
    { type: DataType.BOOL, raw: Uint8Array.of(1, 0, 1), want: "bool", values: [1, 0, 1], ctor: Uint8Array },
  ];
  for (const c of cases) {
    const t = onlyInitializer(modelWithInitializer(tensor({ name: "t", dims: [3n, 1n], dataType: c.type, rawData: c.raw })));
    assert.is(t.dataType, c.want);
    assert.equal(t.dims, [3, 1]);
    assert.instance(t.data, c.ctor, c.want);
    assert.equal([...t.data], c.values, c.want);
  }
});

test("typed fields of every supported type", () => {
  const cases = [
    { init: { dataType: DataType.FLOAT, floatData: [1.5, -2] }, want: "float32", values: [1.5, -2], ctor: Float32Array },
    { init: { dataType: DataType.DOUBLE, doubleData: [0.1, 1e300] }, want: "float64", values: [0.1, 1e300], ctor: Float64Array },
    { init: { dataType: DataType.INT32, int32Data: [-5, 7] }, want: "int32", values: [-5, 7], ctor: Int32Array },
    { init: { dataType: DataType.INT64, int64Data: [-9223372036854775808n, 42n] }, want: "int64", values: [-9223372036854775808n, 42n], ctor: BigInt64Array },
    { init: { dataType: DataType.INT8, int32Data: [-128, 127] }, want: "int8", values: [-128, 127], ctor: Int8Array },
    { init: { dataType: DataType.UINT8, int32Data: [0, 255] }, want: "uint8", values: [0, 255], ctor: Uint8Array },
    { init: { dataType: DataType.BOOL, int32Data: [1, 0] }, want: "bool", values: [1, 0], ctor: Uint8Array },
    { init: { dataType: DataType.FLOAT16, int32Data: [0x3c00, 0xc000] }, want: "float16", values: [1, -2], ctor: Float32Array },
  ];
  for (const c of cases) {
    const t = onlyInitializer(modelWithInitializer(tensor({ name: "t", dims: [2n], ...c.init })));
    assert.is(t.dataType, c.want);
    assert.instance(t.data, c.ctor, c.want);
    assert.equal([...t.data], c.values, c.want);
  }
});

test("float16 initializer: decoded exactly to float32, including subnormals, ±0, ±Inf and NaN", () => {
  const bits = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x3555];
  const want = [1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, -0, Infinity, -Infinity, NaN, 0.333251953125];
  const raw = le(bits, 2, (v, o, x) => v.setUint16(o, x, true));
  const t = onlyInitializer(modelWithInitializer(tensor({ name: "half", dims: [11n], dataType: DataType.FLOAT16, rawData: raw })));
  assert.is(t.dataType, "float16");
  assert.instance(t.data, Float32Array);
  want.forEach((w, i) => assert.ok(Object.is(t.data[i], w), `element ${i}: ${t.data[i]} ≠ ${w}`));
});

test("scalars and empty tensors", () => {
  const scalar = onlyInitializer(modelWithInitializer(tensor({ name: "s", dims: [], dataType: DataType.FLOAT, floatData: [4] })));
  assert.equal(scalar.dims, []);
  assert.equal([...scalar.data], [4]);
  const empty = onlyInitializer(modelWithInitializer(tensor({ name: "e", dims: [0n, 3n], dataType: DataType.INT64 })));
  assert.equal(empty.dims, [0, 3]);
  assert.instance(empty.data, BigInt64Array);
  assert.is(empty.data.length, 0);
  const emptyRaw = onlyInitializer(modelWithInitializer(tensor({ name: "e", dims: [2n, 0n], dataType: DataType.FLOAT, rawData: new Uint8Array(0) })));
  assert.is(emptyRaw.data.length, 0);
});

test("unaligned raw_data is read correctly and copied, never aliased; the input is not modified", () => {
  const values = [1, -2, 3.5, 1e-3, 65504, -0.125];
  const proto = rawF32("w", [2, 3], values);
  const serialized = modelWithInitializer(proto);
  // One byte into its own buffer, so raw_data's address is byteOffset 1 + its offset in the message.
  const input = new Uint8Array(serialized.length + 1).subarray(1);
  input.set(serialized);
  assert.is((input.byteOffset + findBytes(input, proto.rawData)) % 2, 1, "raw_data starts at an odd address");
  const before = Uint8Array.from(input);
  const t = onlyInitializer(input);
  assert.equal([...t.data], values.map(Math.fround));
  assert.equal(input, before, "input bytes unchanged");
  assert.is.not(t.data.buffer, input.buffer);
  input.fill(0);
  assert.equal([...t.data], values.map(Math.fround), "decoded data does not alias the input");
});

test("byte-typed raw_data inside a pooled Node Buffer is copied too", () => {
  for (const dataType of [DataType.UINT8, DataType.INT8, DataType.BOOL]) {
    const serialized = modelWithInitializer(tensor({ name: "b", dims: [4n], dataType, rawData: Uint8Array.of(1, 0, 1, 1) }));
    const input = Buffer.concat([Buffer.alloc(3), serialized, Buffer.alloc(5)]).subarray(3, 3 + serialized.length);
    const t = onlyInitializer(input);
    assert.is(t.data.length, 4);
    assert.is(t.data.byteLength, t.data.buffer.byteLength, "owns exactly its own buffer");
    input.fill(0);
    assert.equal([...t.data], [1, 0, 1, 1]);
  }
});

test("external data through readExternal: offsets, lengths, one read per file", () => {
  const file = new Uint8Array(64);
  const view = new DataView(file.buffer);
  [1, 2, 3, 4].forEach((v, i) => view.setFloat32(8 + i * 4, v, true));
  [5n, -6n].forEach((v, i) => view.setBigInt64(48 + i * 8, v, true));
  const external = (entries: Record<string, string>) => ({
    dataLocation: 1,
    externalData: Object.entries(entries).map(([key, value]) => ({ key, value })),
  });
  const bytes = modelBytes(
    graph({
      name: "g",
      initializer: [
        tensor({ name: "a", dims: [2n, 2n], dataType: DataType.FLOAT, ...external({ location: "weights.bin", offset: "8", length: "16" }) }),
        // No length: the data runs to the end of the file.
        tensor({ name: "b", dims: [2n], dataType: DataType.INT64, ...external({ location: "weights.bin", offset: "48" }) }),
        tensor({ name: "c", dims: [1n], dataType: DataType.FLOAT, ...external({ location: "sub/one.bin", checksum: "ignored" }) }),
      ],
    }),
  );
  const reads: string[] = [];
  const model = parseOnnx(bytes, {
    readExternal: (location) => {
      reads.push(location);
      return location === "weights.bin" ? file : le([9.5], 4, (v, o, x) => v.setFloat32(o, x, true));
    },
  });
  assert.equal(reads, ["weights.bin", "sub/one.bin"]);
  assert.equal([...model.initializers.get("a")!.data], [1, 2, 3, 4]);
  assert.equal([...model.initializers.get("b")!.data], [5n, -6n]);
  assert.equal([...model.initializers.get("c")!.data], [9.5]);
  file.fill(0);
  assert.equal([...model.initializers.get("a")!.data], [1, 2, 3, 4], "copied out of the resolver's bytes");
});

test("parseOnnxTensor reads a serialized TensorProto", () => {
  const t = parseOnnxTensor(tensorBytes(rawF32("input", [1, 2], [0.5, 0.25])), "input_0.pb");
  assert.equal({ ...t, data: [...t.data] }, { name: "input", dims: [1, 2], dataType: "float32", data: [0.5, 0.25] });
});

function findBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error("needle not found");
}

test.run();
