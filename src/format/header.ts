/**
 * The JSON header of an .iwm file: the optimized graph without its constant
 * arrays, each node with its output shape, and for nodes with constants
 * where they sit in the packed weight region (and, for convolutions, whether
 * they run as Winograd, which decides how their weights were packed).
 *
 * Decoding trusts nothing: every field is type- and range-checked, shapes
 * are inferred again and compared, and the weight layout is laid out again by
 * this build's rules and compared, so a file packed by a build that lays out
 * or chooses kernels differently is refused instead of computing garbage.
 */
import type { Activation, Graph, GraphMetadata, Node, Normalization, OpName, PadMode, Pads } from "../graph/ir.js";
import { outputShape } from "../graph/shapes.js";
import type { PackedModel } from "../runtime/session.js";
import { layoutWeights, type WeightLayout, type WinogradChoice } from "../runtime/weights.js";
import { usesWinograd } from "../runtime/winograd.js";
import { usesWinograd1d } from "../runtime/winograd1d.js";
import { WEIGHT_STORAGES, type WeightStorage } from "./storage.js";

/** One node of the optimized graph. Constant arrays are absent: they are in the weight region. */
export interface NodeRecord {
  name: string;
  op: OpName;
  inputs: string[];
  /** Per-sample output shape ([H, W, C] or [C]); for an input node, its input shape. */
  shape: number[];
  kernelShape?: number[];
  strides?: number[];
  pads?: Pads;
  activation?: Activation;
  /** conv2d, maxpool: tap spacing, present only when not [1, 1]. */
  dilations?: number[];
  /** conv2d: group count, present only when not 1. */
  groups?: number;
  /** concat, softmax, logsoftmax: the axis, present only when not the last. */
  axis?: number;
  window?: number[];
  countIncludePad?: boolean;
  /** pad: how the border is filled. */
  mode?: PadMode;
  /** pad: the constant fill; JSON has no infinities or NaN, so those are the strings "Infinity", "-Infinity", "NaN". */
  value?: number | NonFiniteText;
  /** conv2d: whether it runs (and its weights are packed) as Winograd: F(4x4, 3x3) or F(2x2, 5x5), or 1-D F(m, r) for 1xr / rx1 kernels. */
  winograd?: boolean;
  /** conv2d, dense, batchnorm: byte offsets of the weights (or scale) and bias (or shift) in the packed region. */
  packed?: { weights: number; bias: number };
}

type NonFiniteText = "Infinity" | "-Infinity" | "NaN";
const NON_FINITE_TEXTS: readonly NonFiniteText[] = ["Infinity", "-Infinity", "NaN"];

export interface IwmHeader {
  weights: WeightStorage;
  /** Bytes of the packed region in wasm memory. */
  packedBytes: number;
  /** Bytes of the weight region in the file. */
  storedBytes: number;
  /** Tensors kept observable through optimization at conversion. */
  keep: string[];
  graph: { nodes: NodeRecord[]; outputs: string[]; metadata: GraphMetadata };
}

export function encodeHeader(packed: PackedModel, weights: WeightStorage, keep: readonly string[], storedBytes: number): IwmHeader {
  const nodes = packed.graph.nodes.map((node): NodeRecord => {
    const base = { name: node.name, op: node.op, inputs: node.inputs, shape: packed.shapes.get(node.name)! };
    const entry = packed.layout.entries.get(node.name);
    const at = entry && { packed: { weights: entry.weights, bias: entry.bias } };
    switch (node.op) {
      case "conv2d":
        return {
          ...base, kernelShape: node.kernelShape, strides: node.strides, pads: node.pads, activation: node.activation,
          ...(node.dilations && (node.dilations[0] !== 1 || node.dilations[1] !== 1) ? { dilations: node.dilations } : {}),
          ...(node.groups !== undefined && node.groups !== 1 ? { groups: node.groups } : {}),
          winograd: packed.winograd(node), ...at,
        };
      case "dense":
        return { ...base, kernelShape: node.kernelShape, activation: node.activation, ...at };
      case "batchnorm":
        return { ...base, ...at };
      case "maxpool":
      case "avgpool":
        return {
          ...base, window: node.window, strides: node.strides, pads: node.pads, countIncludePad: node.countIncludePad,
          ...(node.dilations && (node.dilations[0] !== 1 || node.dilations[1] !== 1) ? { dilations: node.dilations } : {}),
        };
      case "concat":
      case "softmax":
      case "logsoftmax":
        return node.axis !== undefined ? { ...base, axis: node.axis } : base;
      case "pad":
        return { ...base, pads: node.pads, mode: node.mode, value: Number.isFinite(node.value) ? node.value : (String(node.value) as NonFiniteText) };
      default:
        return base;
    }
  });
  return {
    weights, packedBytes: packed.layout.bytes, storedBytes, keep: [...keep],
    graph: { nodes, outputs: packed.graph.outputs, metadata: packed.graph.metadata },
  };
}

export interface DecodedHeader {
  weights: WeightStorage;
  storedBytes: number;
  keep: string[];
  graph: Graph;
  shapes: Map<string, number[]>;
  layout: WeightLayout;
  winograd: WinogradChoice;
}

/** Every integer in a header addresses or sizes wasm memory, which is 32-bit. */
const MAX_INT = 2 ** 31 - 1;
const NO_VALUES = new Float32Array(0);
// Every IR op: the satisfies-check makes tsc fail when the IR gains one this list lacks.
const OP_SET = {
  input: true, conv2d: true, batchnorm: true, relu: true, maxpool: true, avgpool: true, globalavgpool: true,
  concat: true, flatten: true, dense: true, softmax: true, logsoftmax: true, sigmoid: true, identity: true, pad: true,
} satisfies Record<OpName, true>;
const OPS = Object.keys(OP_SET) as OpName[];

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

function fail(path: string, what: string): never {
  throw new Error(`header: ${path} ${what}`);
}

function wrong(path: string, what: string, got: unknown): never {
  fail(path, `${what}, got ${describe(got)}`);
}

function object(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) wrong(path, "must be an object", value);
  return value as Record<string, unknown>;
}

function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) wrong(path, "must be an array", value);
  return value;
}

function integer(value: unknown, path: string, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > MAX_INT) {
    wrong(path, `must be an integer from ${min} to ${MAX_INT}`, value);
  }
  return value;
}

function integers(value: unknown, path: string, lengths: readonly number[], min: number): number[] {
  const a = array(value, path);
  if (!lengths.includes(a.length)) wrong(path, `must have ${lengths.join(" or ")} entries`, value);
  return a.map((v, i) => integer(v, `${path}[${i}]`, min));
}

function string(value: unknown, path: string): string {
  if (typeof value !== "string") wrong(path, "must be a string", value);
  return value;
}

function strings(value: unknown, path: string): string[] {
  return array(value, path).map((v, i) => string(v, `${path}[${i}]`));
}

function boolean(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") wrong(path, "must be true or false", value);
  return value;
}

function oneOf<T extends string>(value: unknown, path: string, options: readonly T[]): T {
  if (!options.includes(value as T)) wrong(path, `must be one of ${options.join(", ")}`, value);
  return value as T;
}

function pads(value: unknown, path: string): Pads {
  const o = object(value, path);
  return {
    top: integer(o.top, `${path}.top`, 0),
    left: integer(o.left, `${path}.left`, 0),
    bottom: integer(o.bottom, `${path}.bottom`, 0),
    right: integer(o.right, `${path}.right`, 0),
  };
}

/** A pad's fill: a number, or the text of a non-finite one (see NodeRecord.value). */
function fillValue(value: unknown, path: string): number {
  if (typeof value === "number") return value;
  return Number(oneOf(value, path, NON_FINITE_TEXTS));
}

function pair(value: unknown, path: string): [number, number] {
  return integers(value, path, [2], 1) as [number, number];
}

/** A node without its constants (empty arrays, as in a session's graph), plus what the record says about its packing. */
function decodeNode(value: unknown, path: string): { node: Node; shape: number[]; winograd?: boolean; packed?: { weights: number; bias: number } } {
  const o = object(value, path);
  const name = string(o.name, `${path}.name`);
  const op = oneOf(o.op, `${path}.op`, OPS);
  const inputs = strings(o.inputs, `${path}.inputs`);
  const shape = integers(o.shape, `${path}.shape`, [1, 3], 1);
  const activation = () => oneOf<Activation>(o.activation, `${path}.activation`, ["linear", "relu"]);
  const packed = () => {
    const p = object(o.packed, `${path}.packed`);
    return { weights: integer(p.weights, `${path}.packed.weights`, 0), bias: integer(p.bias, `${path}.packed.bias`, 0) };
  };
  if (!["conv2d", "dense", "batchnorm"].includes(op) && o.packed !== undefined) fail(`${path}.packed`, `must be absent for a ${op} node`);
  switch (op) {
    case "input":
      return { node: { op, name, inputs, shape }, shape };
    case "conv2d": {
      const kernelShape = integers(o.kernelShape, `${path}.kernelShape`, [4], 1) as [number, number, number, number];
      return {
        node: {
          op, name, inputs, kernel: NO_VALUES, kernelShape, bias: NO_VALUES, strides: pair(o.strides, `${path}.strides`),
          pads: pads(o.pads, `${path}.pads`), activation: activation(),
          ...(o.dilations !== undefined ? { dilations: pair(o.dilations, `${path}.dilations`) } : {}),
          ...(o.groups !== undefined ? { groups: integer(o.groups, `${path}.groups`, 1) } : {}),
        },
        shape, winograd: boolean(o.winograd, `${path}.winograd`), packed: packed(),
      };
    }
    case "dense": {
      const kernelShape = integers(o.kernelShape, `${path}.kernelShape`, [2], 1) as [number, number];
      return { node: { op, name, inputs, kernel: NO_VALUES, kernelShape, bias: NO_VALUES, activation: activation() }, shape, packed: packed() };
    }
    case "batchnorm":
      // Its scale and shift are in the weight region; epsilon was folded into them.
      return { node: { op, name, inputs, gamma: NO_VALUES, beta: NO_VALUES, mean: NO_VALUES, variance: NO_VALUES, epsilon: 0 }, shape, packed: packed() };
    case "maxpool":
    case "avgpool":
      return {
        node: {
          op, name, inputs, window: pair(o.window, `${path}.window`), strides: pair(o.strides, `${path}.strides`),
          pads: pads(o.pads, `${path}.pads`), countIncludePad: boolean(o.countIncludePad, `${path}.countIncludePad`),
          ...(o.dilations !== undefined ? { dilations: pair(o.dilations, `${path}.dilations`) } : {}),
        },
        shape,
      };
    case "concat":
    case "softmax":
    case "logsoftmax":
      return { node: { op, name, inputs, ...(o.axis !== undefined ? { axis: integer(o.axis, `${path}.axis`, 0) } : {}) }, shape };
    case "pad":
      return {
        node: {
          op, name, inputs, pads: pads(o.pads, `${path}.pads`), mode: oneOf<PadMode>(o.mode, `${path}.mode`, ["constant", "reflect", "edge"]),
          value: fillValue(o.value, `${path}.value`),
        },
        shape,
      };
    default:
      return { node: { op, name, inputs } as Node, shape };
  }
}

/**
 * The graph metadata. `outputs` and `shapeOf` check outputOrder: each entry
 * reorders a flat graph output by a permutation of its elements.
 */
function decodeMetadata(value: unknown, has: (tensor: string) => boolean, outputs: readonly string[], shapeOf: (tensor: string) => number[]): GraphMetadata {
  const o = object(value, "graph.metadata");
  const metadata: GraphMetadata = { source: string(o.source, "graph.metadata.source") };
  if (o.labels !== undefined) metadata.labels = strings(o.labels, "graph.metadata.labels");
  if (o.normalization !== undefined) {
    metadata.normalization = oneOf<Normalization>(o.normalization, "graph.metadata.normalization", ["tf", "unit", "torch"]);
  }
  if (o.blocks !== undefined) {
    metadata.blocks = array(o.blocks, "graph.metadata.blocks").map((b, i) => {
      const path = `graph.metadata.blocks[${i}]`;
      const block = object(b, path);
      const tensor = string(block.tensor, `${path}.tensor`);
      if (!has(tensor)) wrong(`${path}.tensor`, "names no node of the graph", tensor);
      return { name: string(block.name, `${path}.name`), tensor };
    });
  }
  if (o.embedding !== undefined) {
    metadata.embedding = string(o.embedding, "graph.metadata.embedding");
    if (!has(metadata.embedding)) wrong("graph.metadata.embedding", "names no node of the graph", metadata.embedding);
  }
  if (o.outputOrder !== undefined) {
    const orders = object(o.outputOrder, "graph.metadata.outputOrder");
    const checked: [string, number[]][] = [];
    for (const [name, order] of Object.entries(orders)) {
      const path = `graph.metadata.outputOrder[${JSON.stringify(name)}]`;
      if (!outputs.includes(name)) wrong(path, "is not a graph output", name);
      const shape = shapeOf(name);
      if (shape.length !== 1) wrong(path, `reorders a flat output only, and ${name} is [${shape.join(",")}]`, name);
      const count = shape[0]!;
      const values = integers(order, path, [count], 0);
      const seen = new Uint8Array(count);
      for (const v of values) {
        if (v >= count || seen[v]) wrong(path, `must be a permutation of 0…${count - 1}`, v);
        seen[v] = 1;
      }
      checked.push([name, values]);
    }
    // fromEntries defines own properties, whatever the names (even "__proto__").
    metadata.outputOrder = Object.fromEntries(checked);
  }
  return metadata;
}

function inferShape(node: Node, inputs: number[][]): number[] {
  try {
    return outputShape(node, inputs);
  } catch (e) {
    throw new Error(`header: ${(e as Error).message}`);
  }
}

/** Validates a parsed header and rebuilds the weightless optimized graph, its shapes and weight layout. Throws "header: …". */
export function decodeHeader(json: unknown): DecodedHeader {
  const h = object(json, "(top level)");
  const weights = oneOf(h.weights, "weights", WEIGHT_STORAGES);
  const packedBytes = integer(h.packedBytes, "packedBytes", 0);
  const storedBytes = integer(h.storedBytes, "storedBytes", 0);
  const g = object(h.graph, "graph");
  const records = array(g.nodes, "graph.nodes").map((n, i) => decodeNode(n, `graph.nodes[${i}]`));

  const shapes = new Map<string, number[]>();
  for (const [i, { node, shape }] of records.entries()) {
    if (shapes.has(node.name)) wrong(`graph.nodes[${i}].name`, "repeats an earlier node's name", node.name);
    const inputs = node.inputs.map((name) => {
      const s = shapes.get(name);
      if (!s) wrong(`graph.nodes[${i}] (${node.name}).inputs`, "must name earlier nodes", name);
      return s;
    });
    // A batchnorm keeps its input's shape; outputShape would check it against constant arrays the header does not hold.
    if (node.op === "batchnorm" && inputs.length !== 1) wrong(`graph.nodes[${i}] (${node.name}).inputs`, "must name one node", node.inputs);
    const inferred = node.op === "batchnorm" ? [...inputs[0]!] : inferShape(node, inputs);
    if (inferred.join() !== shape.join()) wrong(`graph.nodes[${i}] (${node.name}).shape`, `does not match its inputs, which give [${inferred.join(", ")}]`, shape);
    shapes.set(node.name, shape);
  }
  const graphNodes = records.map((r) => r.node);
  if (!graphNodes.some((n) => n.op === "input")) fail("graph.nodes", "has no input node");
  const has = (tensor: string) => shapes.has(tensor);
  const outputs = strings(g.outputs, "graph.outputs");
  if (outputs.length === 0) wrong("graph.outputs", "must name at least one node", outputs);
  for (const [i, name] of outputs.entries()) {
    if (!has(name)) wrong(`graph.outputs[${i}]`, "names no node of the graph", name);
    if (outputs.indexOf(name) !== i) wrong(`graph.outputs[${i}]`, "repeats an output", name);
  }
  const keep = strings(h.keep, "keep");
  for (const [i, name] of keep.entries()) if (!has(name)) wrong(`keep[${i}]`, "names no node of the graph", name);
  const graph: Graph = { nodes: graphNodes, outputs, metadata: decodeMetadata(g.metadata, has, outputs, (tensor) => shapes.get(tensor)!) };

  // The packing must be the one this build would make, Winograd choices included.
  const winogradNodes = new Set<string>();
  for (const [i, r] of records.entries()) {
    if (r.node.op !== "conv2d") continue;
    const runs = usesWinograd(r.node, r.shape) || usesWinograd1d(r.node, r.shape);
    if (r.winograd !== runs) {
      fail(`graph.nodes[${i}] (${r.node.name}).winograd`, `says ${r.winograd} but this build runs it ${runs ? "as" : "without"} Winograd; convert the model again with this version`);
    }
    if (runs) winogradNodes.add(r.node.name);
  }
  const winograd: WinogradChoice = (node) => winogradNodes.has(node.name);
  const layout = layoutWeights(graph, winograd, shapes);
  for (const [i, r] of records.entries()) {
    const want = layout.entries.get(r.node.name);
    if (!want) continue;
    if (r.packed!.weights !== want.weights || r.packed!.bias !== want.bias) {
      fail(`graph.nodes[${i}] (${r.node.name}).packed`, `${describe(r.packed)} is not where this build's weight layout puts it, ${describe(want)}; convert the model again with this version`);
    }
  }
  if (packedBytes !== layout.bytes) wrong("packedBytes", `differs from the ${layout.bytes} bytes the nodes' weights take`, packedBytes);
  return { weights, storedBytes, keep, graph, shapes, layout, winograd };
}
