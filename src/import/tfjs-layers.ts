/**
 * TensorFlow.js layers-format importer: Keras model JSON + tfjs weight
 * shards → our NHWC graph. Pure (no Node built-ins) so it also runs in
 * browsers; reading files is src/platform's job.
 *
 * Node names are the Keras layer names, so `mixed0`, `conv2d_1`… name the
 * tensors users know from Keras. A layer that becomes several nodes keeps its
 * own name on the last one (Dense+softmax or +sigmoid → `<layer>/logits` then
 * `<layer>`).
 */

import type { Activation, DenseNode, Graph, GraphMetadata, Node, Normalization, Pads } from "../graph/ir.js";
import { outputShape } from "../graph/shapes.js";
import { parseKerasTopology, type KerasLayer } from "./keras-topology.js";
import { WeightStore, type Weight, type WeightsGroup, type WeightSource } from "./tfjs-weights.js";

export type { WeightSpec, WeightQuantization, WeightsGroup, WeightSource } from "./tfjs-weights.js";

export interface TfjsLayersArtifacts {
  /** Keras model JSON, as in model.json's `modelTopology`. */
  modelTopology: unknown;
  /** model.json's `weightsManifest`. */
  weightsManifest: WeightsGroup[];
  /**
   * All groups' shard bytes concatenated in manifest order. Never mutated;
   * read until the model is loaded (kernels are decoded while they are packed).
   */
  weightData: Uint8Array;
}

/** Like TfjsLayersArtifacts, with the weight bytes left in their file and read as needed. */
export interface StreamedTfjsLayers {
  modelTopology: unknown;
  weightsManifest: WeightsGroup[];
  weightSource: WeightSource;
}

export interface ImportTfjsLayersOptions {
  /** Names the model in metadata and error messages. */
  source?: string;
  /** Class labels in output index order. */
  labels?: string[];
  normalization?: Normalization;
}

/** Converts one Keras layer, appending its node(s) through `ctx.add`. */
type Converter = (ctx: LayerContext) => void;

/** The graph under construction, with every node's per-sample output shape. */
interface Builder {
  source: string;
  weights: WeightStore;
  nodes: Node[];
  shapes: Map<string, number[]>;
}

/** What a converter sees: the layer, its input shapes, and ways to read config and weights, add nodes and fail. */
class LayerContext {
  readonly inputShapes: number[][];

  constructor(
    readonly layer: KerasLayer,
    private readonly builder: Builder,
  ) {
    // The topology is in topological order, so every input already has a shape.
    this.inputShapes = layer.inputs.map((name) => builder.shapes.get(name)!);
  }

  get name(): string {
    return this.layer.name;
  }

  fail(message: string): never {
    throw new Error(`${this.builder.source}: layer ${this.layer.name} (${this.layer.className}): ${message}`);
  }

  unsupported(attribute: string, why: string): never {
    return this.fail(`unsupported ${attribute} ${JSON.stringify(this.layer.config[attribute])}: ${why}`);
  }

  config(attribute: string): unknown {
    return this.layer.config[attribute];
  }

  /** Appends a node, inferring its shape; shape errors are reported against this layer. */
  add(node: Node): void {
    const { nodes, shapes } = this.builder;
    if (shapes.has(node.name)) this.fail(`node name ${node.name} is already taken`);
    try {
      shapes.set(node.name, outputShape(node, node.inputs.map((name) => shapes.get(name)!)));
    } catch (error) {
      this.fail((error as Error).message);
    }
    nodes.push(node);
  }

  /** The shape of the layer's single input. */
  only(): number[] {
    if (this.inputShapes.length !== 1) this.fail(`expects 1 input, got ${this.inputShapes.length}`);
    return this.inputShapes[0];
  }

  /** The single input's shape, which must have `rank` dims. */
  input(rank: number): number[] {
    const shape = this.only();
    if (shape.length !== rank) {
      this.fail(`expects a rank-${rank} per-sample input (${rank === 3 ? "[H,W,C]" : "[C]"}), got ${fmt(shape)}`);
    }
    return shape;
  }

  /** A weight of this layer, checked against the shape the config implies, decoded. */
  weight(weight: string, expected: number[]): Float32Array {
    return this.kernel(weight, expected).decode();
  }

  /**
   * A kernel of this layer, checked like `weight` but decoded only when read
   * (at packing), so an import holds no float32 copy of the big tensors.
   */
  kernel(weight: string, expected: number[]): Weight {
    const found = this.builder.weights.get(this.layer.name, weight);
    if (!found) this.fail(`missing weight ${this.layer.name}/${weight} in the weights manifest`);
    if (!sameShape(found.shape, expected)) {
      this.fail(`weight ${found.name} has shape ${fmt(found.shape)}, expected ${fmt(expected)}`);
    }
    return found;
  }

  positiveInt(attribute: string, fallback?: number): number {
    const value = this.config(attribute) ?? fallback;
    if (!Number.isInteger(value) || (value as number) < 1) this.unsupported(attribute, "expected a positive integer");
    return value as number;
  }

  /** An int-or-pair attribute (kernel_size, strides…) as [h, w]. */
  pair(attribute: string, fallback?: [number, number]): [number, number] {
    const value = this.config(attribute) ?? fallback;
    const pair = typeof value === "number" ? [value, value] : value;
    if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((v) => Number.isInteger(v) && v >= 1)) {
      this.unsupported(attribute, "expected a positive integer or a pair of them");
    }
    return [pair[0], pair[1]];
  }

  bool(attribute: string, fallback: boolean): boolean {
    const value = this.config(attribute) ?? fallback;
    if (typeof value !== "boolean") this.unsupported(attribute, "expected true or false");
    return value;
  }

  padding(): "same" | "valid" {
    const value = this.config("padding") ?? "valid";
    if (value !== "same" && value !== "valid") this.unsupported("padding", 'only "same" and "valid" are supported');
    return value;
  }

  /** Keras defaults data_format to channels_last; channels_first would need transposes we do not do. */
  channelsLast(): void {
    const value = this.config("data_format");
    if (value !== undefined && value !== null && value !== "channels_last") {
      this.unsupported("data_format", "only channels_last is supported");
    }
  }

  activation<A extends string>(allowed: readonly A[]): A {
    const value = this.config("activation") ?? "linear";
    if (!allowed.includes(value as A)) this.unsupported("activation", `supported: ${allowed.join(", ")}`);
    return value as A;
  }
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * TF's padding rule. "same": out = ceil(in / stride) and the missing
 * total = max((out - 1) * stride + k - in, 0) is split with the extra pixel
 * at the bottom/right. "valid": no padding.
 */
function tfPads(
  size: readonly [number, number],
  window: readonly [number, number],
  strides: readonly [number, number],
  padding: "same" | "valid",
): Pads {
  if (padding === "valid") return { top: 0, left: 0, bottom: 0, right: 0 };
  const axis = (n: number, k: number, s: number): [number, number] => {
    const total = Math.max((Math.ceil(n / s) - 1) * s + k - n, 0);
    const before = Math.floor(total / 2);
    return [before, total - before];
  };
  const [top, bottom] = axis(size[0], window[0], strides[0]);
  const [left, right] = axis(size[1], window[1], strides[1]);
  return { top, left, bottom, right };
}

function convertPool(op: "maxpool" | "avgpool"): Converter {
  return (ctx) => {
    ctx.channelsLast();
    const [h, w] = ctx.input(3);
    const window = ctx.pair("pool_size", [2, 2]);
    // Keras: strides=None means strides = pool_size.
    const strides = ctx.pair("strides", window);
    const padding = ctx.padding();
    ctx.add({
      op,
      name: ctx.name,
      inputs: ctx.layer.inputs,
      window,
      strides,
      pads: tfPads([h, w], window, strides, padding),
      // Keras/TF average only over real pixels at "same" borders.
      countIncludePad: false,
    });
  };
}

const CONVERTERS: Record<string, Converter> = {
  InputLayer(ctx) {
    const batchShape = ctx.config("batch_input_shape") ?? ctx.config("batch_shape");
    const shape = Array.isArray(batchShape) ? batchShape.slice(1) : [];
    const isStatic = shape.every((d) => Number.isInteger(d) && d >= 1);
    if (!isStatic || (shape.length !== 3 && shape.length !== 1)) {
      ctx.fail(
        `needs a static per-sample shape [H,W,C] or [C], batch_input_shape is ${JSON.stringify(batchShape)}`,
      );
    }
    ctx.add({ op: "input", name: ctx.name, inputs: [], shape: shape as number[] });
  },

  Conv2D(ctx) {
    ctx.channelsLast();
    const [h, w, cin] = ctx.input(3);
    const filters = ctx.positiveInt("filters");
    const [kh, kw] = ctx.pair("kernel_size");
    const strides = ctx.pair("strides", [1, 1]);
    const dilation = ctx.pair("dilation_rate", [1, 1]);
    const groups = ctx.positiveInt("groups", 1);
    if (cin % groups !== 0 || filters % groups !== 0) ctx.unsupported("groups", `${groups} must divide the ${cin} input channels and ${filters} filters`);
    const padding = ctx.padding();
    const activation = ctx.activation<Activation>(["linear", "relu"]);
    ctx.add({
      op: "conv2d",
      name: ctx.name,
      inputs: ctx.layer.inputs,
      kernel: ctx.kernel("kernel", [kh, kw, cin / groups, filters]),
      kernelShape: [kh, kw, cin / groups, filters],
      bias: ctx.bool("use_bias", true) ? ctx.weight("bias", [filters]) : null,
      strides,
      // A dilated window spans (k - 1) * d + 1 pixels.
      pads: tfPads([h, w], [(kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1], strides, padding),
      activation,
      ...(dilation[0] !== 1 || dilation[1] !== 1 ? { dilations: dilation } : {}),
      ...(groups !== 1 ? { groups } : {}),
    });
  },

  BatchNormalization(ctx) {
    const shape = ctx.only();
    // Keras counts the batch dim in `axis`; Keras 3 may store it as a list.
    const raw = ctx.config("axis") ?? -1;
    const axis = Array.isArray(raw) && raw.length === 1 ? raw[0] : raw;
    const rank = shape.length + 1;
    if (typeof axis !== "number" || (axis < 0 ? axis + rank : axis) !== rank - 1) {
      ctx.unsupported("axis", `only the channel (last) axis is supported, i.e. -1 or ${rank - 1}`);
    }
    const channels = shape[shape.length - 1];
    const epsilon = ctx.config("epsilon") ?? 1e-3;
    if (typeof epsilon !== "number" || !(epsilon >= 0)) ctx.unsupported("epsilon", "expected a non-negative number");
    ctx.add({
      op: "batchnorm",
      name: ctx.name,
      inputs: ctx.layer.inputs,
      gamma: ctx.bool("scale", true) ? ctx.weight("gamma", [channels]) : null,
      beta: ctx.bool("center", true) ? ctx.weight("beta", [channels]) : null,
      mean: ctx.weight("moving_mean", [channels]),
      variance: ctx.weight("moving_variance", [channels]),
      epsilon: epsilon as number,
    });
  },

  Activation(ctx) {
    const activation = ctx.activation(["linear", "relu", "softmax", "sigmoid"]);
    const op = activation === "linear" ? "identity" : activation;
    ctx.only();
    ctx.add({ op, name: ctx.name, inputs: ctx.layer.inputs });
  },

  MaxPooling2D: convertPool("maxpool"),
  AveragePooling2D: convertPool("avgpool"),

  Concatenate(ctx) {
    const shapes = ctx.inputShapes;
    if (shapes.length === 0) ctx.fail("has no inputs");
    if (!shapes.every((s) => s.length === 3)) {
      ctx.fail(`only [H,W,C] inputs are supported, got ${shapes.map(fmt).join(", ")}`);
    }
    const axis = ctx.config("axis") ?? -1;
    if (axis !== -1 && axis !== 3) ctx.unsupported("axis", "only the channel axis (-1 or 3) is supported");
    const [h, w] = shapes[0];
    const mismatch = shapes.findIndex((s) => s[0] !== h || s[1] !== w);
    if (mismatch >= 0) {
      const inputs = ctx.layer.inputs;
      ctx.fail(
        `inputs disagree on H,W: ${inputs[0]} is ${fmt(shapes[0])} but ${inputs[mismatch]} is ${fmt(shapes[mismatch])}`,
      );
    }
    ctx.add({ op: "concat", name: ctx.name, inputs: ctx.layer.inputs });
  },

  GlobalAveragePooling2D(ctx) {
    ctx.channelsLast();
    ctx.input(3);
    if (ctx.bool("keepdims", false)) ctx.unsupported("keepdims", "only false is supported");
    ctx.add({ op: "globalavgpool", name: ctx.name, inputs: ctx.layer.inputs });
  },

  Flatten(ctx) {
    ctx.channelsLast();
    ctx.only();
    ctx.add({ op: "flatten", name: ctx.name, inputs: ctx.layer.inputs });
  },

  Dense(ctx) {
    const [cin] = ctx.input(1);
    const units = ctx.positiveInt("units");
    const activation = ctx.activation(["linear", "relu", "softmax", "sigmoid"]);
    const dense: Omit<DenseNode, "name" | "activation"> = {
      op: "dense",
      inputs: ctx.layer.inputs,
      kernel: ctx.kernel("kernel", [cin, units]),
      kernelShape: [cin, units],
      bias: ctx.bool("use_bias", true) ? ctx.weight("bias", [units]) : null,
    };
    if (activation === "softmax" || activation === "sigmoid") {
      // Softmax and sigmoid are not fused activations in the IR; the layer's
      // name goes on them so it still names the layer's output.
      const logits = `${ctx.name}/logits`;
      ctx.add({ ...dense, name: logits, activation: "linear" });
      ctx.add({ op: activation, name: ctx.name, inputs: [logits] });
    } else {
      ctx.add({ ...dense, name: ctx.name, activation });
    }
  },

  Dropout(ctx) {
    ctx.only();
    ctx.add({ op: "identity", name: ctx.name, inputs: ctx.layer.inputs });
  },
};

/**
 * The last tensor that every path into `node` goes through (for a Keras
 * InceptionV3, `max_pooling2d_2` before `mixed0`): walk back from the node's
 * inputs, always expanding the latest pending tensor, until one remains.
 */
function convergencePoint(node: Node, nodes: readonly Node[], index: ReadonlyMap<string, number>): string | undefined {
  const pending = new Set(node.inputs);
  while (pending.size > 1) {
    let latest = "";
    for (const name of pending) if (latest === "" || index.get(name)! > index.get(latest)!) latest = name;
    const producer = nodes[index.get(latest)!];
    // Reaching a graph input while other branches remain: no single stem.
    if (producer.inputs.length === 0) return undefined;
    pending.delete(latest);
    for (const input of producer.inputs) pending.add(input);
  }
  return pending.values().next().value;
}

/** stem, mixed0…mixedN, head for Keras InceptionV3-style graphs; otherwise just head. */
function inceptionBlocks(nodes: readonly Node[], output: string): NonNullable<GraphMetadata["blocks"]> {
  const head = { name: "head", tensor: output };
  const mixed = nodes.filter((n) => n.op === "concat" && /^mixed\d+$/.test(n.name));
  if (mixed.length === 0) return [head];
  const index = new Map(nodes.map((n, i) => [n.name, i]));
  const stem = convergencePoint(mixed[0], nodes, index);
  if (stem === undefined) return [head];
  return [{ name: "stem", tensor: stem }, ...mixed.map((n) => ({ name: n.name, tensor: n.name })), head];
}

/**
 * The pooled feature vector: the last GlobalAveragePooling2D output, or a
 * Flatten of a pooling whose output is 1x1 spatially (nsfwjs pools 8x8 → 1x1
 * with AveragePooling2D and then flattens).
 */
function embeddingTensor(nodes: readonly Node[], shapes: ReadonlyMap<string, number[]>): string | undefined {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  let embedding: string | undefined;
  for (const node of nodes) {
    if (node.op === "globalavgpool") embedding = node.name;
    if (node.op === "flatten") {
      const source = byName.get(node.inputs[0])!;
      const shape = shapes.get(source.name)!;
      if ((source.op === "avgpool" || source.op === "maxpool") && shape[0] === 1 && shape[1] === 1) {
        embedding = node.name;
      }
    }
  }
  return embedding;
}

/** The layer weights that converters read with `ctx.kernel` only: packing reads them, so a file can keep them until then. */
const KERNEL_WEIGHTS = new Set(["kernel"]);

/**
 * The graph of a tfjs layers model. Small weights are decoded now; conv and
 * dense kernels are deferred (decoded from `artifacts.weightData` when read),
 * so the graph is valid while those bytes are unchanged.
 */
export function importTfjsLayers(artifacts: TfjsLayersArtifacts, opts: ImportTfjsLayersOptions = {}): Graph {
  const source = opts.source ?? "tfjs layers model";
  return buildGraph(artifacts.modelTopology, WeightStore.fromBytes(artifacts.weightsManifest, artifacts.weightData, source), source, opts);
}

/**
 * The graph of a tfjs layers model whose weights stay in their file: the
 * small ones are read now, the conv and dense kernels only when the graph's
 * weights are packed (straight into wasm memory), so a load never holds the
 * whole weight file. Such a graph's kernels can only be packed, not decoded.
 */
export async function importTfjsLayersStreamed(artifacts: StreamedTfjsLayers, opts: ImportTfjsLayersOptions = {}): Promise<Graph> {
  const source = opts.source ?? "tfjs layers model";
  const store = await WeightStore.open(artifacts.weightsManifest, artifacts.weightSource, source, (w) => KERNEL_WEIGHTS.has(w));
  return buildGraph(artifacts.modelTopology, store, source, opts);
}

function buildGraph(topology: unknown, weights: WeightStore, source: string, opts: ImportTfjsLayersOptions): Graph {
  const model = parseKerasTopology(topology, source);

  const unsupported = model.layers.filter((l) => !Object.hasOwn(CONVERTERS, l.className));
  if (unsupported.length > 0) {
    throw new Error(
      `${source}: unsupported layers: ${unsupported.map((l) => `${l.name} (${l.className})`).join(", ")}`,
    );
  }

  const builder: Builder = {
    source,
    weights,
    nodes: [],
    shapes: new Map(),
  };
  for (const layer of model.layers) CONVERTERS[layer.className](new LayerContext(layer, builder));
  const { nodes, shapes } = builder;

  const outputShapes = model.outputs.map((name) => shapes.get(name)!);
  if (opts.labels && (outputShapes.length !== 1 || !sameShape(outputShapes[0], [opts.labels.length]))) {
    throw new Error(
      `${source}: ${opts.labels.length} labels given but the output shape is ${outputShapes.map(fmt).join(", ")}`,
    );
  }

  const metadata: GraphMetadata = { source, blocks: inceptionBlocks(nodes, model.outputs[0]) };
  if (opts.labels) metadata.labels = [...opts.labels];
  if (opts.normalization) metadata.normalization = opts.normalization;
  const embedding = embeddingTensor(nodes, shapes);
  if (embedding) metadata.embedding = embedding;
  return { nodes, outputs: [...model.outputs], metadata };
}
