/**
 * ONNX model parsing: protobuf bytes → a plain, validated description of the
 * graph (nodes, attributes, decoded initializers, graph inputs and outputs).
 *
 * Pure: no Node built-ins, so it runs in any JavaScript runtime; files that
 * tensors keep outside the model (external data) come from a caller-supplied
 * `readExternal`.
 *
 * Files are treated as hostile. Every declared size is checked against the
 * bytes actually present before anything of that size is allocated, so a
 * small file can never make the parser allocate more than a constant multiple
 * of its own size (plus what `readExternal` returns). Decoded tensor data never
 * aliases the caller's buffers, and nothing passed in is modified.
 */

import { fromBinary, isFieldSet } from "@bufbuild/protobuf";
import {
  AttributeProto_AttributeType as AttributeType,
  ModelProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType as DataType,
  TensorProtoSchema,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "./gen/onnx_pb.js";
import { halfToFloat } from "../float16.js";

/**
 * A decoded tensor. Element types and their `data`:
 * - float32 → Float32Array; float64 → Float64Array; int32 → Int32Array;
 *   int8 → Int8Array; uint8 → Uint8Array; bool → Uint8Array of 0/1.
 * - int64 → BigInt64Array: kept exact because shape tensors (Reshape, Slice
 *   bounds such as INT64_MAX) need every bit.
 * - float16 → Float32Array: widened on decode (exactly; every binary16 value
 *   is a float32 value). `dataType` still says "float16" so callers know the
 *   stored precision.
 */
export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: OnnxDataType;
  data: Float32Array | BigInt64Array | Int32Array | Float64Array | Uint8Array | Int8Array;
}

export type OnnxDataType = "float32" | "float16" | "int64" | "int32" | "float64" | "uint8" | "int8" | "bool";

export interface OnnxNode {
  name: string;
  opType: string;
  /** Operator set domain; "" is the default ai.onnx domain (also when the file says "ai.onnx"). */
  domain: string;
  /** Input names in order; "" marks an omitted optional input, so positions stay meaningful. */
  inputs: string[];
  outputs: string[];
  attributes: Map<string, OnnxAttribute>;
}

/**
 * A node attribute. `int`/`ints` are int64 in the file; values beyond ±2^53
 * are rounded to the nearest double. ONNX uses such values only as
 * "unbounded" sentinels (INT64_MAX / INT64_MIN, e.g. Slice ends), which
 * survive rounding as values no real dimension reaches.
 */
export type OnnxAttribute =
  | { type: "float"; value: number }
  | { type: "int"; value: number }
  | { type: "string"; value: string }
  | { type: "tensor"; value: OnnxTensor }
  | { type: "floats"; value: number[] }
  | { type: "ints"; value: number[] }
  | { type: "strings"; value: string[] };

export interface OnnxValueInfo {
  name: string;
  /** Element type: an OnnxDataType name, or ONNX's own lower-cased name for other types ("string", "bfloat16", …). */
  elemType: string;
  /**
   * Per dimension: a size (dim_value), a symbolic name (dim_param), or null
   * when unknown. The whole shape is null when the rank itself is unknown
   * (no shape in the file); [] is a scalar.
   */
  shape: (number | string | null)[] | null;
}

export interface OnnxModel {
  irVersion: number;
  /** Operator set domain ("" = ai.onnx) → version. */
  opsets: Map<string, number>;
  /** producer_name and producer_version, space-separated ("pytorch 1.12.0"); "" when absent. */
  producer: string;
  graphName: string;
  /** Graph inputs the caller must feed: those that are not also initializers. */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  initializers: Map<string, OnnxTensor>;
  /** In file order, which ONNX requires to be topological. */
  nodes: OnnxNode[];
}

export interface ParseOptions {
  /** Names the input in error messages (a path, URL, …). */
  source?: string;
  /**
   * Resolves external data (data_location = EXTERNAL): returns the bytes of
   * file `location`, relative to the model. Caller-supplied, e.g. from fs.
   * Each location is read at most once per parse. Locations are checked to be
   * relative and to stay below the model's directory before this is called.
   */
  readExternal?: (location: string) => Uint8Array;
}

/** Where errors point to and how external data is found, for one parse. */
interface Context {
  source: string;
  readExternal?: (location: string) => Uint8Array;
  externalFiles: Map<string, Uint8Array>;
}

/** ONNX element types this parser decodes, with their byte size in raw_data. */
const SUPPORTED: ReadonlyMap<DataType, { name: OnnxDataType; bytes: number }> = new Map([
  [DataType.FLOAT, { name: "float32", bytes: 4 }],
  [DataType.FLOAT16, { name: "float16", bytes: 2 }],
  [DataType.DOUBLE, { name: "float64", bytes: 8 }],
  [DataType.INT64, { name: "int64", bytes: 8 }],
  [DataType.INT32, { name: "int32", bytes: 4 }],
  [DataType.UINT8, { name: "uint8", bytes: 1 }],
  [DataType.INT8, { name: "int8", bytes: 1 }],
  [DataType.BOOL, { name: "bool", bytes: 1 }],
]);

/** Lower-case name of an ONNX element type, using our names where we decode it. */
function dataTypeName(type: number): string {
  const ours = SUPPORTED.get(type);
  if (ours) return ours.name;
  const onnx = DataType[type];
  return onnx === undefined ? `data type ${type}` : onnx.toLowerCase();
}

function fail(ctx: Context, message: string): never {
  throw new Error(`${ctx.source}: ${message}`);
}

/** Parses a serialized ModelProto (the contents of a `.onnx` file). */
export function parseOnnx(bytes: Uint8Array, opts: ParseOptions = {}): OnnxModel {
  const ctx: Context = { source: opts.source ?? "ONNX model", readExternal: opts.readExternal, externalFiles: new Map() };
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes, { readUnknownFields: false });
  } catch (error) {
    throw new Error(`${ctx.source}: not an ONNX model (${(error as Error).message})`, { cause: error });
  }
  // Arbitrary bytes often decode as a protobuf message with no known fields, so
  // the graph, which every ONNX model must have, is what tells a model apart.
  const graph = model.graph;
  if (!graph) fail(ctx, "not an ONNX model (no graph)");

  const initializers = new Map<string, OnnxTensor>();
  for (const proto of graph.initializer) {
    if (proto.name === "") fail(ctx, "initializer without a name");
    if (initializers.has(proto.name)) fail(ctx, `duplicate initializer '${proto.name}'`);
    initializers.set(proto.name, decodeTensor(proto, ctx));
  }
  if (graph.sparseInitializer.length > 0) {
    fail(ctx, `sparse initializers are not supported ('${graph.sparseInitializer[0]!.values?.name ?? ""}')`);
  }

  return {
    irVersion: Number(model.irVersion),
    opsets: opsetMap(model, ctx),
    producer: [model.producerName, model.producerVersion].filter((s) => s !== "").join(" "),
    graphName: graph.name,
    inputs: graph.input.filter((v) => !initializers.has(v.name)).map((v) => valueInfo(v, "input", ctx)),
    outputs: graph.output.map((v) => valueInfo(v, "output", ctx)),
    initializers,
    nodes: graph.node.map((n) => decodeNode(n, ctx)),
  };
}

/**
 * Parses a serialized TensorProto, such as the `input_0.pb` / `output_0.pb`
 * files of the ONNX backend test data. External data is not available here.
 */
export function parseOnnxTensor(bytes: Uint8Array, source = "ONNX tensor"): OnnxTensor {
  const ctx: Context = { source, externalFiles: new Map() };
  let proto: TensorProto;
  try {
    proto = fromBinary(TensorProtoSchema, bytes, { readUnknownFields: false });
  } catch (error) {
    throw new Error(`${source}: not an ONNX tensor (${(error as Error).message})`, { cause: error });
  }
  return decodeTensor(proto, ctx);
}

/** The spec names the default domain both "" and "ai.onnx"; we use "". */
function canonicalDomain(domain: string): string {
  return domain === "ai.onnx" ? "" : domain;
}

function opsetMap(model: ModelProto, ctx: Context): Map<string, number> {
  const opsets = new Map<string, number>();
  for (const { domain, version } of model.opsetImport) {
    const key = canonicalDomain(domain);
    if (opsets.has(key)) fail(ctx, `duplicate opset import for domain '${domain}'`);
    opsets.set(key, Number(version));
  }
  return opsets;
}

function valueInfo(info: ValueInfoProto, role: "input" | "output", ctx: Context): OnnxValueInfo {
  const what = `graph ${role} '${info.name}'`;
  const type = info.type?.value;
  if (type === undefined || type.case === undefined) fail(ctx, `${what} has no type`);
  if (type.case !== "tensorType") {
    fail(ctx, `${what} has type ${type.case.replace(/Type$/, "")}; only tensors are supported`);
  }
  const shape = type.value.shape;
  return {
    name: info.name,
    elemType: dataTypeName(type.value.elemType),
    shape:
      shape === undefined
        ? null
        : shape.dim.map((d) => {
            switch (d.value.case) {
              case "dimValue":
                return checkedDim(d.value.value, `${what} shape`, ctx);
              case "dimParam":
                return d.value.value === "" ? null : d.value.value;
              default:
                return null;
            }
          }),
  };
}

/** A dimension as a number: non-negative and exactly representable. */
function checkedDim(dim: bigint, what: string, ctx: Context): number {
  if (dim < 0n) fail(ctx, `${what} has a negative dimension (${dim})`);
  if (dim > BigInt(Number.MAX_SAFE_INTEGER)) fail(ctx, `${what} has a dimension too large to address (${dim})`);
  return Number(dim);
}

function decodeNode(node: NodeProto, ctx: Context): OnnxNode {
  const label = `node '${node.name}' (${node.opType})`;
  const attributes = new Map<string, OnnxAttribute>();
  for (const attr of node.attribute) {
    if (attributes.has(attr.name)) fail(ctx, `${label}: duplicate attribute '${attr.name}'`);
    attributes.set(attr.name, decodeAttribute(attr, `${label} attribute '${attr.name}'`, ctx));
  }
  return {
    name: node.name,
    opType: node.opType,
    domain: canonicalDomain(node.domain),
    inputs: node.input,
    outputs: node.output,
    attributes,
  };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeString(bytes: Uint8Array, what: string, ctx: Context): string {
  try {
    return utf8.decode(bytes);
  } catch {
    fail(ctx, `${what} is not valid UTF-8`);
  }
}

function decodeAttribute(attr: AttributeProto, what: string, ctx: Context): OnnxAttribute {
  // Only function bodies may refer to the attributes of their caller.
  if (attr.refAttrName !== "") fail(ctx, `${what} refers to '${attr.refAttrName}', which is only valid inside a function`);
  switch (attr.type) {
    case AttributeType.FLOAT:
      return { type: "float", value: attr.f };
    case AttributeType.INT:
      return { type: "int", value: Number(attr.i) };
    case AttributeType.STRING:
      return { type: "string", value: decodeString(attr.s, what, ctx) };
    case AttributeType.TENSOR:
      if (!attr.t) fail(ctx, `${what} has type TENSOR but no tensor`);
      return { type: "tensor", value: decodeTensor(attr.t, ctx) };
    case AttributeType.FLOATS:
      return { type: "floats", value: attr.floats };
    case AttributeType.INTS:
      return { type: "ints", value: attr.ints.map(Number) };
    case AttributeType.STRINGS:
      return { type: "strings", value: attr.strings.map((s) => decodeString(s, what, ctx)) };
    case AttributeType.GRAPH:
    case AttributeType.GRAPHS:
      fail(ctx, `${what}: subgraphs are not supported`);
    case AttributeType.UNDEFINED:
      fail(ctx, `${what} has no type`);
    default:
      fail(ctx, `${what}: attribute type ${AttributeType[attr.type] ?? attr.type} is not supported`);
  }
}

/** Dims for messages, shortened: a hostile tensor may declare millions of them. */
function showDims(dims: readonly bigint[]): string {
  const shown = dims.slice(0, 8).join(", ");
  return `dims [${dims.length > 8 ? `${shown}, … (${dims.length} dims)` : shown}]`;
}

/** Where a tensor's values are stored, before decoding. */
type Stored =
  | { kind: "bytes"; bytes: Uint8Array; origin: string }
  | { kind: "values"; values: readonly number[] | readonly bigint[]; origin: string };

/**
 * Per onnx.proto: float → float_data; double → double_data; int64 →
 * int64_data; int32, int8, uint8, bool and float16 (its bit pattern as
 * uint16) → int32_data.
 */
function typedField(proto: TensorProto): Stored {
  switch (proto.dataType) {
    case DataType.FLOAT:
      return { kind: "values", values: proto.floatData, origin: "float_data" };
    case DataType.DOUBLE:
      return { kind: "values", values: proto.doubleData, origin: "double_data" };
    case DataType.INT64:
      return { kind: "values", values: proto.int64Data, origin: "int64_data" };
    default:
      return { kind: "values", values: proto.int32Data, origin: "int32_data" };
  }
}

function decodeTensor(proto: TensorProto, ctx: Context): OnnxTensor {
  const what = proto.name === "" ? "unnamed tensor" : `tensor '${proto.name}'`;
  const type = SUPPORTED.get(proto.dataType);
  if (!type) fail(ctx, `${what} has data type ${dataTypeName(proto.dataType)}, which is not supported`);
  if (proto.segment) fail(ctx, `${what} is a segment of a larger tensor, which is not supported`);
  const label = `${what} (${type.name}, ${showDims(proto.dims)})`;

  const hasRaw = isFieldSet(proto, TensorProtoSchema.field.rawData);
  let stored: Stored;
  if (proto.dataLocation === TensorProto_DataLocation.EXTERNAL) {
    if (hasRaw) fail(ctx, `${what} is stored externally but also has raw_data`);
    stored = { kind: "bytes", bytes: externalBytes(proto, what, ctx), origin: "external data" };
  } else if (hasRaw) {
    stored = { kind: "bytes", bytes: proto.rawData, origin: "raw_data" };
  } else {
    stored = typedField(proto);
  }
  const present =
    stored.kind === "bytes" ? `${stored.bytes.byteLength} bytes of ${stored.origin}` : `${stored.values.length} values in ${stored.origin}`;

  // Every size check happens here, before anything of the declared size is
  // allocated: the declared count must match what the file really holds.
  if (proto.dims.some((d) => d < 0n)) fail(ctx, `${label} has a negative dimension`);
  const dims = proto.dims.map(Number);
  const count = dims.includes(0) ? 0 : dims.reduce((n, d) => n * d, 1);
  if (!dims.every(Number.isSafeInteger) || !Number.isSafeInteger(count)) {
    fail(ctx, `${label}: element count overflows; the tensor has ${present}`);
  }
  const needed = stored.kind === "bytes" ? count * type.bytes : count;
  const available = stored.kind === "bytes" ? stored.bytes.byteLength : stored.values.length;
  if (needed !== available) fail(ctx, `${label} needs ${needed} ${stored.kind} but has ${present}`);

  const data =
    stored.kind === "bytes"
      ? decodeRaw(stored.bytes, proto.dataType, count, label, ctx)
      : decodeValues(stored.values, proto.dataType, label, ctx);
  return { name: proto.name, dims, dataType: type.name, data };
}

/**
 * Little-endian bytes → a fresh typed array. raw_data sits at whatever offset
 * the protobuf put it (usually unaligned), so reads go through a DataView,
 * except float32 (nearly all of a model's bytes): one byte copy into the new
 * array, which takes the bytes as they are on a little-endian host, as every
 * WebAssembly host is (the runtime's own typed-array writes into wasm memory
 * rely on that too).
 */
function decodeRaw(raw: Uint8Array, type: DataType, count: number, what: string, ctx: Context): OnnxTensor["data"] {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (type) {
    case DataType.FLOAT: {
      const out = new Float32Array(count);
      new Uint8Array(out.buffer).set(raw.subarray(0, count * 4));
      return out;
    }
    case DataType.FLOAT16: {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    }
    case DataType.DOUBLE: {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    }
    case DataType.INT64: {
      const out = new BigInt64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getBigInt64(i * 8, true);
      return out;
    }
    case DataType.INT32: {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
      return out;
    }
    // Byte types: the typed-array constructors copy element by element (not
    // raw.slice(), which on a Node Buffer is a view into the caller's memory);
    // Int8Array's conversion wraps 128..255 to the two's-complement values.
    case DataType.INT8:
      return new Int8Array(raw);
    case DataType.BOOL: {
      const bad = raw.findIndex((b) => b > 1);
      if (bad >= 0) fail(ctx, `${what}: bool byte ${raw[bad]} at element ${bad} is not 0 or 1`);
      return new Uint8Array(raw);
    }
    default:
      return new Uint8Array(raw); // UINT8
  }
}

/** Values of a typed repeated field → a fresh typed array, range-checked where int32_data holds a narrower type. */
function decodeValues(values: readonly number[] | readonly bigint[], type: DataType, what: string, ctx: Context): OnnxTensor["data"] {
  // typedField pairs INT64 with int64_data (bigint) and every other type with a number field.
  if (type === DataType.INT64) return BigInt64Array.from(values as readonly bigint[]);
  const numbers = values as readonly number[];
  const inRange = (min: number, max: number): readonly number[] => {
    const bad = numbers.findIndex((v) => v < min || v > max);
    if (bad >= 0) fail(ctx, `${what}: int32_data value ${numbers[bad]} at element ${bad} is outside [${min}, ${max}]`);
    return numbers;
  };
  switch (type) {
    case DataType.FLOAT:
      return Float32Array.from(numbers);
    case DataType.DOUBLE:
      return Float64Array.from(numbers);
    case DataType.INT32:
      return Int32Array.from(numbers);
    case DataType.FLOAT16:
      return Float32Array.from(inRange(0, 0xffff), halfToFloat);
    case DataType.INT8:
      return Int8Array.from(inRange(-128, 127));
    case DataType.UINT8:
      return Uint8Array.from(inRange(0, 255));
    default:
      return Uint8Array.from(inRange(0, 1)); // BOOL
  }
}

/** A decimal integer value of external_data; undefined when the key is absent. */
function externalInteger(value: string | undefined, key: string, what: string, ctx: Context): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) fail(ctx, `${what}: external_data ${key} '${value}' is not a non-negative integer`);
  return n;
}

/**
 * The bytes of an externally stored tensor (external_data keys `location`,
 * `offset`, `length`; `offset` defaults to 0, and without `length` the data
 * runs to the end of the file). A view into the resolver's bytes: callers copy.
 */
function externalBytes(proto: TensorProto, what: string, ctx: Context): Uint8Array {
  const entries = new Map(proto.externalData.map((e) => [e.key, e.value]));
  const location = entries.get("location");
  if (location === undefined || location === "") fail(ctx, `${what} is stored externally but has no location`);
  // The resolver reads files next to the model: a location must not reach
  // outside that directory, whatever the resolver does with it.
  const segments = location.split(/[\\/]/);
  if (/^([\\/]|[A-Za-z]:)/.test(location) || segments.includes("..")) {
    fail(ctx, `${what}: external data location '${location}' must be a relative path inside the model's directory`);
  }
  const offset = externalInteger(entries.get("offset"), "offset", what, ctx) ?? 0;
  const length = externalInteger(entries.get("length"), "length", what, ctx);
  if (!ctx.readExternal) fail(ctx, `${what} is stored in external file '${location}', but no readExternal resolver was given`);

  let file = ctx.externalFiles.get(location);
  if (!file) {
    file = ctx.readExternal(location);
    ctx.externalFiles.set(location, file);
  }
  const end = length === undefined ? file.byteLength : offset + length;
  if (offset > file.byteLength || end > file.byteLength) {
    fail(ctx, `${what}: external data [${offset}, ${end}) lies outside '${location}' (${file.byteLength} bytes)`);
  }
  return file.subarray(offset, end);
}
