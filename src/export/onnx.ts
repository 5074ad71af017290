/**
 * ONNX export: our NHWC graph IR → an NCHW ONNX model (opset 13), laid out
 * the way tf2onnx converts a Keras model: the graph input stays NHWC
 * [N, H, W, C] (N symbolic) and one Transpose moves it to NCHW, where every
 * convolution, pool and concat then runs; image-shaped graph outputs are
 * transposed back, so the model takes and returns exactly what our runtime
 * does. Its purpose is to give ONNX runtimes the very weights we run.
 *
 * Pure (no Node built-ins). The graph is optimized first (BN folded into
 * convolutions, which ONNX runtimes would do at load anyway); BN nodes that
 * could not be folded are emitted as BatchNormalization, fused ReLUs as Relu.
 */

import { create, toBinary } from "@bufbuild/protobuf";
import { nodeAxis, weightValues, type ConcatNode, type Graph, type LogSoftmaxNode, type Node, type Pads, type SoftmaxNode } from "../graph/ir.js";
import { inferShapes } from "../graph/shapes.js";
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType as AttributeType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType as DataType,
  ValueInfoProtoSchema,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "../import/onnx/gen/onnx_pb.js";
import { optimize } from "../passes/index.js";

const OPSET = 13n;
/** IR version 8 (ONNX 1.10+); opset 13 needs at least 7. */
const IR_VERSION = 8n;
/** Symbolic name of the batch dimension. */
const BATCH = "N";
const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];

/**
 * How an IR tensor exists in the ONNX graph: image tensors ([H, W, C] per
 * sample) as NCHW [N, C, H, W], flat tensors ([C]) as [N, C].
 */
interface Emitted {
  name: string;
  layout: "nchw" | "flat";
}

type Attribute =
  | { name: string; int: number }
  | { name: string; ints: readonly number[] }
  | { name: string; float: number }
  | { name: string; string: string };

/** The ONNX axis of a concat's or softmax's IR axis: H, W, C are 2, 3, 1 in NCHW; [C] is [N, C]. */
function onnxAxis(node: ConcatNode | SoftmaxNode | LogSoftmaxNode, image: boolean): number {
  return image ? [2, 3, 1][nodeAxis(node, 3)]! : 1;
}

function attribute(a: Attribute): AttributeProto {
  if ("int" in a) return create(AttributeProtoSchema, { name: a.name, type: AttributeType.INT, i: BigInt(a.int) });
  if ("ints" in a) return create(AttributeProtoSchema, { name: a.name, type: AttributeType.INTS, ints: a.ints.map(BigInt) });
  if ("string" in a) return create(AttributeProtoSchema, { name: a.name, type: AttributeType.STRING, s: new TextEncoder().encode(a.string) });
  return create(AttributeProtoSchema, { name: a.name, type: AttributeType.FLOAT, f: a.float });
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Little-endian float32 bytes, as ONNX raw_data requires whatever the host's byte order. */
function rawFloat32(values: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return bytes;
}

function valueInfo(name: string, dims: (number | string)[]): ValueInfoProto {
  const dim = dims.map((d) =>
    typeof d === "number"
      ? { value: { case: "dimValue" as const, value: BigInt(d) } }
      : { value: { case: "dimParam" as const, value: d } },
  );
  return create(ValueInfoProtoSchema, {
    name,
    type: { value: { case: "tensorType", value: { elemType: DataType.FLOAT, shape: { dim } } } },
  });
}

/** ONNX pads for a 2-D window: [top, left, bottom, right] (all begins, then all ends). */
function onnxPads(p: Pads): number[] {
  return [p.top, p.left, p.bottom, p.right];
}

/** Conv weights HWIO [kh][kw][cin][cout] → OIHW [cout][cin][kh][kw]. */
function hwioToOihw(kernel: Float32Array, [kh, kw, cin, cout]: readonly [number, number, number, number]): Float32Array {
  const out = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        const from = ((y * kw + x) * cin + i) * cout;
        for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = kernel[from + o]!;
      }
    }
  }
  return out;
}

/**
 * The ONNX model (serialized ModelProto) computing what `graph` computes.
 * Graph inputs and outputs keep their names and NHWC layout, with the batch
 * dimension symbolic. ONNX node names are the IR node names (helper nodes
 * are named after the IR node they belong to), so per-node profiles map back.
 */
export function graphToOnnx(graph: Graph): Uint8Array {
  const g = optimize(graph);
  const shapes = inferShapes(g);
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  const inputs: ValueInfoProto[] = [];
  const emitted = new Map<string, Emitted>();

  // Helper tensors get fresh names that cannot collide with IR tensor names.
  // ONNX node names are a namespace of their own: the node computing an IR
  // tensor takes its name, helper nodes a suffixed one.
  const uniqueIn = (taken: Set<string>) => (base: string): string => {
    let name = base;
    for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  };
  const fresh = uniqueIn(new Set(g.nodes.map((n) => n.name)));
  const freshNode = uniqueIn(new Set());
  const op = (opType: string, name: string, input: string[], output: string[], attrs: Attribute[] = []): void => {
    nodes.push(create(NodeProtoSchema, { opType, name: freshNode(name), input, output, attribute: attrs.map(attribute) }));
  };
  const weight = (base: string, dims: number[], values: Float32Array): string => {
    const name = fresh(base);
    initializers.push(create(TensorProtoSchema, { name, dims: dims.map(BigInt), dataType: DataType.FLOAT, rawData: rawFloat32(values) }));
    return name;
  };
  const int64s = (base: string, values: readonly number[]): string => {
    const name = fresh(base);
    initializers.push(create(TensorProtoSchema, { name, dims: [BigInt(values.length)], dataType: DataType.INT64, int64Data: values.map(BigInt) }));
    return name;
  };
  const source = (node: Node): Emitted => emitted.get(node.inputs[0]!)!;
  const rank = (name: string): number => shapes.get(name)!.length;
  const fail = (node: Node, message: string): never => {
    throw new Error(`ONNX export: node ${node.name} (${node.op}): ${message}`);
  };

  /** Emits `opType` (+ Relu when fused) writing `dst`. */
  const withActivation = (node: Node & { activation: string }, opType: string, input: string[], dst: string, attrs: Attribute[]): void => {
    if (node.activation === "relu") {
      const pre = fresh(`${node.name}/pre_relu`);
      op(opType, node.name, input, [pre], attrs);
      op("Relu", `${node.name}/relu`, [pre], [dst]);
    } else {
      op(opType, node.name, input, [dst], attrs);
    }
  };

  const graphOutputs = new Set(g.outputs);
  for (const node of g.nodes) {
    const out = node.name;
    if (rank(out) !== 3 && rank(out) !== 1) fail(node, `rank-${rank(out)} tensors have no ONNX layout here (only [H,W,C] and [C])`);
    const image = rank(out) === 3;
    const layout: Emitted["layout"] = image ? "nchw" : "flat";
    if (node.op === "input") {
      if (graphOutputs.has(out)) fail(node, "a graph input cannot also be a graph output");
      inputs.push(valueInfo(out, [BATCH, ...shapes.get(out)!]));
      let name = out;
      if (image) {
        name = fresh(`${out}/nchw`);
        op("Transpose", `${out}/to_nchw`, [out], [name], [{ name: "perm", ints: TO_NCHW }]);
      }
      emitted.set(out, { name, layout });
      continue;
    }
    // An image-shaped graph output is computed in NCHW under a helper name and transposed into its own name below.
    const dst = image && graphOutputs.has(out) ? fresh(`${out}/nchw`) : out;
    const x = source(node).name;
    switch (node.op) {
      case "conv2d": {
        const [kh, kw, cin, cout] = node.kernelShape;
        if (node.kernel.length !== kh * kw * cin * cout) fail(node, `kernel has ${node.kernel.length} values, its shape needs ${kh * kw * cin * cout}`);
        const w = weight(`${out}/W`, [cout, cin, kh, kw], hwioToOihw(weightValues(node.kernel), node.kernelShape));
        const b = node.bias ? [weight(`${out}/B`, [cout], node.bias)] : [];
        withActivation(node, "Conv", [x, w, ...b], dst, [
          { name: "kernel_shape", ints: [kh, kw] },
          { name: "strides", ints: node.strides },
          { name: "pads", ints: onnxPads(node.pads) },
          { name: "dilations", ints: node.dilations ?? [1, 1] },
          { name: "group", int: node.groups ?? 1 },
        ]);
        break;
      }
      case "dense": {
        const [cin, cout] = node.kernelShape;
        if (node.kernel.length !== cin * cout) fail(node, `kernel has ${node.kernel.length} values, its shape needs ${cin * cout}`);
        // Gemm computes A·B + C with B [K, N] when transB = 0: our [in, out] kernel as is.
        const w = weight(`${out}/W`, [cin, cout], weightValues(node.kernel));
        const b = node.bias ? [weight(`${out}/B`, [cout], node.bias)] : [];
        withActivation(node, "Gemm", [x, w, ...b], dst, [
          { name: "transA", int: 0 },
          { name: "transB", int: 0 },
        ]);
        break;
      }
      case "batchnorm": {
        const C = node.mean.length;
        const scale = weight(`${out}/scale`, [C], node.gamma ?? new Float32Array(C).fill(1));
        const bias = weight(`${out}/bias`, [C], node.beta ?? new Float32Array(C));
        const mean = weight(`${out}/mean`, [C], node.mean);
        const variance = weight(`${out}/var`, [C], node.variance);
        // Channels are axis 1 in both NCHW and [N, C].
        op("BatchNormalization", out, [x, scale, bias, mean, variance], [dst], [{ name: "epsilon", float: node.epsilon }]);
        break;
      }
      case "relu":
        op("Relu", out, [x], [dst]);
        break;
      case "maxpool":
      case "avgpool": {
        const attrs: Attribute[] = [
          { name: "kernel_shape", ints: node.window },
          { name: "strides", ints: node.strides },
          { name: "pads", ints: onnxPads(node.pads) },
        ];
        // MaxPool never lets padding win (it pads with -inf), as our kernel does.
        if (node.op === "avgpool") attrs.push({ name: "count_include_pad", int: node.countIncludePad ? 1 : 0 });
        else if (node.dilations) attrs.push({ name: "dilations", ints: node.dilations });
        op(node.op === "maxpool" ? "MaxPool" : "AveragePool", out, [x], [dst], attrs);
        break;
      }
      case "pad": {
        const { top, left, bottom, right } = node.pads;
        // Opset 11+: pads [N, C, H, W begins, then ends] and the fill are inputs; "edge" and "reflect" are ONNX's names too.
        const pads = int64s(`${out}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
        const value = weight(`${out}/value`, [], Float32Array.of(node.value));
        op("Pad", out, [x, pads, value], [dst], [{ name: "mode", string: node.mode }]);
        break;
      }
      case "globalavgpool": {
        // GlobalAveragePool keeps [N, C, 1, 1]; our result is flat [C].
        const pooled = fresh(`${out}/pooled`);
        op("GlobalAveragePool", out, [x], [pooled]);
        op("Flatten", `${out}/flatten`, [pooled], [dst], [{ name: "axis", int: 1 }]);
        break;
      }
      case "concat":
        op("Concat", out, node.inputs.map((name) => emitted.get(name)!.name), [dst], [{ name: "axis", int: onnxAxis(node, image) }]);
        break;
      case "flatten": {
        const [H, W] = shapes.get(node.inputs[0]!)!;
        let flat = x;
        // Our flatten walks NHWC order, and the following dense kernel's rows
        // expect that order; only with one pixel do NCHW and NHWC agree.
        if (source(node).layout === "nchw" && H! * W! > 1) {
          flat = fresh(`${out}/nhwc`);
          op("Transpose", `${out}/to_nhwc`, [x], [flat], [{ name: "perm", ints: TO_NHWC }]);
        }
        op("Flatten", out, [flat], [dst], [{ name: "axis", int: 1 }]);
        break;
      }
      case "softmax":
        op("Softmax", out, [x], [dst], [{ name: "axis", int: onnxAxis(node, image) }]);
        break;
      case "logsoftmax":
        op("LogSoftmax", out, [x], [dst], [{ name: "axis", int: onnxAxis(node, image) }]);
        break;
      case "sigmoid":
        op("Sigmoid", out, [x], [dst]);
        break;
      case "identity":
        op("Identity", out, [x], [dst]);
        break;
    }
    if (dst !== out) op("Transpose", `${out}/to_nhwc`, [dst], [out], [{ name: "perm", ints: TO_NHWC }]);
    emitted.set(out, { name: dst, layout });
  }

  // Graph outputs keep their IR names and our NHWC layout.
  const outputs = g.outputs.map((name) => valueInfo(name, [BATCH, ...shapes.get(name)!]));

  const model = create(ModelProtoSchema, {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: "", version: OPSET }],
    producerName: "inception-wasm",
    graph: create(GraphProtoSchema, { name: g.metadata.source, node: nodes, initializer: initializers, input: inputs, output: outputs }),
  });
  return toBinary(ModelProtoSchema, model);
}
