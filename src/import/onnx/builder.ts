/**
 * The state of one ONNX import: the IR graph under construction, what each
 * ONNX tensor is (a constant or an activation, see values.ts), and the
 * per-node view the op converters in ops.ts work through.
 */

import { scaledWeights, type BatchNormNode, type Node, type Pads } from "../../graph/ir.js";
import { outputShape } from "../../graph/shapes.js";
import { constFromTensor, FLOAT_TYPES, type Const } from "./constant.js";
import type { OnnxAttribute, OnnxNode, OnnxTensor } from "./model.js";
import { elementOrder, flatAct, fmtDims, type Act, type Source, type Value } from "./values.js";

/** torchvision's Inception v3 transform_input: ImageNet-normalized input → the [-1, 1] input its weights were trained on. */
const TORCHVISION_MEAN = [0.485, 0.456, 0.406];
const TORCHVISION_STD = [0.229, 0.224, 0.225];

function isTorchvisionTransform(scale: Float64Array, shift: Float64Array): boolean {
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
  return (
    scale.length === 3 &&
    TORCHVISION_STD.every((s, c) => close(scale[c], s / 0.5)) &&
    TORCHVISION_MEAN.every((m, c) => close(shift[c], (m - 0.5) / 0.5))
  );
}

export class Importer {
  /** IR nodes in topological order (inputs first). */
  readonly nodes: Node[] = [];
  readonly shapes = new Map<string, number[]>();
  /** What each ONNX tensor converted so far is (initializers are added when first read). */
  private readonly values = new Map<string, Value>();
  /** Set when a per-channel map of the graph input matched torchvision's transform_input. */
  torchvisionPrologue = false;
  /** What is being converted (`node X (Op)`, `graph output 'y'`), prefixed to errors. */
  where = "";
  private readonly index = new Map<string, number>();
  /** The tensor made for each pending source: views of one value (Identity, Transpose…) share their source object. */
  private readonly made = new Map<Source, string>();

  constructor(
    readonly source: string,
    /** Version of the default (ai.onnx) operator set. */
    readonly opset: number,
    /** Every ONNX tensor name: an IR node made for one tensor must not take another's name. */
    private readonly onnxNames: ReadonlySet<string>,
    /** How often each ONNX tensor is read by the nodes that are converted, counting graph outputs as reads. */
    private readonly useCounts: ReadonlyMap<string, number>,
    /** The batch size when the graph input fixes it, NaN when it is symbolic. */
    readonly batch: number,
    private readonly initializers: ReadonlyMap<string, OnnxTensor>,
  ) {}

  /** What ONNX tensor `name` is; it must be an initializer or already converted. */
  value(name: string): Value {
    let v = this.values.get(name);
    if (!v) {
      v = constFromTensor(this.initializers.get(name)!);
      this.values.set(name, v);
    }
    return v;
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  setValue(name: string, value: Value): void {
    this.values.set(name, value);
  }

  fail(message: string): never {
    throw new Error(`${this.source}: ${this.where}: ${message}`);
  }

  uses(name: string): number {
    return this.useCounts.get(name) ?? 0;
  }

  /** An unused IR node name: `base` itself if free (and, unless it is `own`, not another ONNX tensor's name). */
  freshName(base: string, own: boolean): string {
    const free = (name: string) => !this.index.has(name) && ((own && name === base) || !this.onnxNames.has(name));
    if (free(base)) return base;
    for (let i = 2; ; i++) if (free(`${base}#${i}`)) return `${base}#${i}`;
  }

  /** Appends an IR node, checking its shape (errors name the ONNX node being converted). */
  add(node: Node): string {
    let shape: number[];
    try {
      shape = outputShape(node, node.inputs.map((name) => this.shapes.get(name)!));
    } catch (error) {
      this.fail((error as Error).message);
    }
    this.index.set(node.name, this.nodes.length);
    this.nodes.push(node);
    this.shapes.set(node.name, shape);
    return node.name;
  }

  node(name: string): Node | undefined {
    const i = this.index.get(name);
    return i === undefined ? undefined : this.nodes[i];
  }

  private replace(node: Node): void {
    this.nodes[this.index.get(node.name)!] = node;
  }

  /**
   * A value read by the node converting `name`: the same data as `parent`
   * under another view. Exclusive only if nothing else reads `parent`.
   */
  derive(parent: Act, name: string, change: Partial<Pick<Act, "dims" | "axes" | "shape" | "perm" | "src">>): Act {
    const src: Source = parent.materialized !== undefined ? { kind: "tensor", tensor: parent.materialized } : parent.src;
    return {
      kind: "act", name, dims: parent.dims, axes: parent.axes, shape: parent.shape, perm: parent.perm, src, ...change,
      exclusive: parent.exclusive && this.uses(parent.name) === 1,
    };
  }

  /** The IR tensor holding `act`, adding the nodes its pending transformation needs (once per source). */
  tensor(act: Act): string {
    if (act.materialized !== undefined) return act.materialized;
    const src = act.src;
    if (src.kind === "tensor") return (act.materialized = src.tensor);
    let tensor = this.made.get(src);
    if (tensor === undefined) {
      tensor = src.kind === "pad" ? this.padded(src.tensor, src.pads, act.name) : this.affine(act, src);
      this.made.set(src, tensor);
    }
    return (act.materialized = tensor);
  }

  /** `act` with its pending transformation applied. */
  concrete(act: Act): Act {
    const tensor = this.tensor(act);
    return { ...act, src: { kind: "tensor", tensor }, materialized: tensor };
  }

  /** Zero padding that nothing absorbed (a following Conv or AveragePool would have), as a pad node. */
  padded(tensor: string, pads: Pads, name: string): string {
    return this.add({ op: "pad", name: this.freshName(name, true), inputs: [tensor], pads, mode: "constant", value: 0 });
  }

  /**
   * A per-channel affine map of selected channels. All channels in order:
   * folded into the Conv/Gemm producing the tensor when nothing else reads
   * it, otherwise a batchnorm node (gamma = scale, beta = shift, mean 0,
   * variance 1, epsilon 0: exactly x * scale + shift). A proper subset or
   * reordering: a 1x1 convolution (dense for flat tensors) whose kernel
   * picks and scales the channels.
   */
  private affine(act: Act, src: Extract<Source, { kind: "affine" }>): string {
    const { tensor, channels, scale, shift } = src;
    const shape = this.shapes.get(tensor)!;
    const cin = shape.at(-1)!;
    const k = channels.length;
    const biasOrNull = shift.some((v) => v !== 0) ? Float32Array.from(shift) : null;
    if (k === cin && channels.every((c, i) => c === i)) {
      const scaled = scale.some((v) => v !== 1);
      if (!scaled && !biasOrNull) return tensor;
      const producer = this.node(tensor)!;
      if (act.exclusive && this.uses(act.name) === 1 && (producer.op === "conv2d" || producer.op === "dense") && producer.activation === "linear") {
        const cout = k;
        const kernel = scaledWeights(producer.kernel, scale, cout);
        const bias = Float32Array.from(scale, (s, c) => (producer.bias ? producer.bias[c] * s : 0) + shift[c]);
        this.replace({ ...producer, kernel, bias });
        return tensor;
      }
      if (producer.op === "input" && isTorchvisionTransform(scale, shift)) this.torchvisionPrologue = true;
      const bn: BatchNormNode = {
        op: "batchnorm", name: this.freshName(act.name, true), inputs: [tensor],
        gamma: scaled ? Float32Array.from(scale) : null, beta: biasOrNull,
        mean: new Float32Array(k), variance: new Float32Array(k).fill(1), epsilon: 0,
      };
      return this.add(bn);
    }
    const kernel = new Float32Array(cin * k);
    channels.forEach((c, j) => (kernel[c * k + j] = scale[j]));
    const name = this.freshName(act.name, true);
    if (shape.length === 1) {
      return this.add({ op: "dense", name, inputs: [tensor], kernel, kernelShape: [cin, k], bias: biasOrNull, activation: "linear" });
    }
    return this.add({
      op: "conv2d", name, inputs: [tensor], kernel, kernelShape: [1, 1, cin, k], bias: biasOrNull, strides: [1, 1],
      pads: { top: 0, left: 0, bottom: 0, right: 0 }, activation: "linear",
    });
  }

  /**
   * `act` as an [N,K] value (named `name`) of an IR [K] tensor, adding an IR
   * flatten (named after `irName`) when the tensor has more axes. When the
   * ONNX element order differs from the IR's, the result carries the
   * permutation (see Act.perm).
   */
  flatten(act: Act, name: string, irName = name): Act {
    const tensor = this.tensor(act);
    const k = act.dims.reduce((a, b) => a * b, 1);
    const perm = elementOrder(act);
    if (act.shape.length === 1) return this.derive(act, name, { dims: [k], axes: [k > 1 ? 0 : null], perm });
    const flat = this.add({ op: "flatten", name: this.freshName(irName, irName === name), inputs: [tensor] });
    return { ...flatAct(name, flat, k), perm };
  }
}

function describe(value: Value): string {
  return value.kind === "const" ? `a constant ${value.dtype} [${value.dims.join(",")}]` : `an activation ${fmtDims(value.dims)}`;
}

/** One ONNX node as the op converters see it: attributes, inputs, outputs and failure. */
export class NodeContext {
  constructor(
    readonly im: Importer,
    readonly node: OnnxNode,
  ) {}

  get opset(): number {
    return this.im.opset;
  }

  /** The first output's name, which names the IR node(s) made for this node. */
  get name(): string {
    return this.node.outputs[0];
  }

  fail(message: string): never {
    return this.im.fail(message);
  }

  unsupported(attribute: string, value: unknown, why: string): never {
    return this.fail(`unsupported ${attribute} ${JSON.stringify(value)}: ${why}`);
  }

  private attr(name: string, type: OnnxAttribute["type"]): OnnxAttribute | undefined {
    const a = this.node.attributes.get(name);
    if (a && a.type !== type) this.fail(`attribute ${name} has type ${a.type}, expected ${type}`);
    return a;
  }

  hasAttr(name: string): boolean {
    return this.node.attributes.has(name);
  }

  int(name: string, fallback: number): number {
    return (this.attr(name, "int")?.value as number | undefined) ?? fallback;
  }

  ints(name: string): number[] | undefined {
    return this.attr(name, "ints")?.value as number[] | undefined;
  }

  floats(name: string): number[] | undefined {
    return this.attr(name, "floats")?.value as number[] | undefined;
  }

  float(name: string, fallback: number): number {
    return (this.attr(name, "float")?.value as number | undefined) ?? fallback;
  }

  string(name: string, fallback: string): string {
    return (this.attr(name, "string")?.value as string | undefined) ?? fallback;
  }

  /** Whether optional input `i` is given ("" marks an omitted one). */
  has(i: number): boolean {
    return (this.node.inputs[i] ?? "") !== "";
  }

  private label(i: number): string {
    return `input ${i} ('${this.node.inputs[i]}')`;
  }

  value(i: number): Value {
    if (!this.has(i)) this.fail(`input ${i} is missing`);
    return this.im.value(this.node.inputs[i]);
  }

  act(i: number): Act {
    const v = this.value(i);
    if (v.kind !== "act") this.fail(`${this.label(i)} must be computed from the graph input, got ${describe(v)}`);
    return v;
  }

  constant(i: number): Const {
    const v = this.value(i);
    if (v.kind !== "const") {
      this.fail(`${this.label(i)} must be a constant (an initializer, or computed from initializers), but it depends on the graph input`);
    }
    return v;
  }

  /**
   * Float weights as float32, optionally checked against `dims`: the
   * constant's own array when it is float32 already (no copy of a big
   * initializer at import), so callers never modify it.
   */
  weights(i: number, dims?: readonly number[]): Float32Array {
    const c = this.constant(i);
    if (!FLOAT_TYPES.has(c.dtype)) this.fail(`${this.label(i)} has element type ${c.dtype}; float weights are expected`);
    if (dims && (c.dims.length !== dims.length || c.dims.some((d, j) => d !== dims[j]))) {
      this.fail(`${this.label(i)} has shape [${c.dims.join(",")}], expected [${dims.join(",")}]`);
    }
    return c.data instanceof Float32Array ? c.data : Float32Array.from(c.data);
  }

  /** An integer constant's elements, all known at import time. */
  integers(i: number): number[] {
    const c = this.constant(i);
    if (FLOAT_TYPES.has(c.dtype)) this.fail(`${this.label(i)} has element type ${c.dtype}; integers are expected`);
    if (c.data.some(Number.isNaN)) this.fail(`${this.label(i)} depends on the batch size, which is not known at import time`);
    return [...c.data];
  }

  /** A float scalar (or single-element) constant. */
  scalar(i: number): number {
    const c = this.constant(i);
    if (c.data.length !== 1) this.fail(`${this.label(i)} must have one element, got shape [${c.dims.join(",")}]`);
    return c.data[0];
  }

  /** Records what the node's (first) output is. */
  set(value: Value): void {
    this.im.setValue(this.node.outputs[0], value);
  }

  /** Whether optional output `i` is read by anything (a training-only output such as Dropout's mask). */
  outputRead(i: number): boolean {
    const name = this.node.outputs[i] ?? "";
    return name !== "" && this.im.uses(name) > 0;
  }
}
