/**
 * The typed graph every importer produces and every pass rewrites.
 *
 * Layout is NHWC. Shapes are per sample: the batch dimension is not part of
 * the graph, it is chosen when a plan is made, so one graph serves any batch.
 * Image tensors are [H, W, C]; flat tensors (after Flatten / Dense) are [C].
 * Weights are plain Float32Arrays owned by the graph (importers copy what they
 * read, so nothing the user passed in is ever mutated by a pass).
 */

export type Activation = "linear" | "relu";

/**
 * A convolution's or dense layer's kernel values: an array, or values decoded
 * on request. Importers hand out deferred kernels (decoded from the file's
 * bytes) and batchnorm folding defers its scaling, so a load decodes,
 * scales and packs one layer at a time instead of holding every layer's
 * float32 copy at once. Read them with `weightValues`.
 */
export type Weights = Float32Array | DeferredWeights;

export interface DeferredWeights {
  readonly length: number;
  /**
   * Computes the values, on every call, into the first `length` floats of
   * `into` when given (returning that view), else into a new array: either
   * way the caller owns them.
   */
  decode(into?: Float32Array): Float32Array;
}

/** Values of `length` floats that `fill` computes when they are read; `fill` writes every one of them. */
export function deferredWeights(length: number, fill: (out: Float32Array) => void): DeferredWeights {
  return {
    length,
    decode(into) {
      const out = into ? into.subarray(0, length) : new Float32Array(length);
      fill(out);
      return out;
    },
  };
}

/**
 * The values of `w`, not to be modified (a graph's own array is returned as
 * is). Deferred values are decoded into `scratch` when given (at least
 * `w.length` floats), which a caller reading many kernels reuses, so a
 * load neither allocates nor page-faults a new array per layer.
 */
export function weightValues(w: Weights, scratch?: Float32Array): Float32Array {
  return w instanceof Float32Array ? w : w.decode(scratch);
}

/** The values of `w` in an array the caller owns and may modify: `into` (as in `decode`) or a new one. */
export function ownedWeightValues(w: Weights, into?: Float32Array): Float32Array {
  if (!(w instanceof Float32Array)) return w.decode(into);
  if (!into) return w.slice();
  const values = into.subarray(0, w.length);
  values.set(w);
  return values;
}

/**
 * Deferred weights stored as uint8 codes, each value min + code * step in
 * float64 rounded to float32 (tfjs's uint8 quantization). Packing reads the
 * codes into wasm memory and dequantizes them there (wasm/f32-packw), which
 * gives the same bits as `decode`.
 */
export interface Uint8QuantizedWeights extends DeferredWeights {
  /** Writes the `length` codes into `into` (at least that long); asynchronous when they are read from a file. */
  readCodes(into: Uint8Array): void | Promise<void>;
  readonly min: number;
  readonly step: number;
}

/** Whether `w` is stored as uint8 codes (see Uint8QuantizedWeights). */
export function isUint8Quantized(w: Weights): w is Uint8QuantizedWeights {
  return !(w instanceof Float32Array) && "readCodes" in w;
}

/**
 * Deferred float32 weights still in their file: packing reads them straight
 * into wasm memory, so a load never holds the model's weight file whole.
 * Only packing reads them; their `decode` fails.
 */
export interface StreamedWeights extends DeferredWeights {
  /** Reads the `length` values into `into` (at least that long). */
  readValues(into: Float32Array): Promise<void>;
}

/** Whether `w` is read from its file when packed (see StreamedWeights). */
export function isStreamed(w: Weights): w is StreamedWeights {
  return !(w instanceof Float32Array) && "readValues" in w;
}

/**
 * Deferred weights that are `unscaled` with output channel c (the last axis)
 * multiplied by `scale[c]`, each product rounded to float32. Packing reads
 * the two parts and applies the scale as it packs (wasm/f32-packw), which
 * gives the same bits as `decode`.
 */
export interface ScaledWeights extends DeferredWeights {
  readonly unscaled: Weights;
  readonly scale: ArrayLike<number>;
}

/** Whether `w` is a kernel with its output-channel scales not applied yet (see scaledWeights). */
export function isScaled(w: Weights): w is ScaledWeights {
  return !(w instanceof Float32Array) && "unscaled" in w;
}

/**
 * `kernel` with output channel c (the last axis, `channels` long) multiplied
 * by `scale[c]`, deferred until read.
 */
export function scaledWeights(kernel: Weights, scale: ArrayLike<number>, channels: number): ScaledWeights {
  return {
    length: kernel.length,
    unscaled: kernel,
    scale,
    decode(into) {
      const values = ownedWeightValues(kernel, into);
      for (let row = 0; row < values.length; row += channels) {
        for (let c = 0; c < channels; c++) values[row + c] = values[row + c]! * scale[c]!;
      }
      return values;
    },
  };
}

/** Explicit padding in pixels. */
export interface Pads {
  top: number;
  left: number;
  bottom: number;
  right: number;
}

interface NodeBase {
  /** Unique name of the node; also the name of the tensor it produces. */
  name: string;
  /** Names of the tensors it reads, in order. */
  inputs: string[];
}

export interface InputNode extends NodeBase {
  op: "input";
  /** Per-sample shape, e.g. [299, 299, 3]. */
  shape: number[];
}

export interface Conv2DNode extends NodeBase {
  op: "conv2d";
  /**
   * Kernel in HWIO order: [kh][kw][cin/groups][cout], length kh*kw*(cin/groups)*cout.
   * Output channel o of group g = floor(o / (cout/groups)) reads input channels
   * [g*cin/groups, (g+1)*cin/groups).
   */
  kernel: Weights;
  /** The third entry is the input channels per group (cin/groups). */
  kernelShape: [kh: number, kw: number, cin: number, cout: number];
  /** Per-output-channel bias, length cout, or null for none. */
  bias: Float32Array | null;
  strides: [sh: number, sw: number];
  /** "same" / "valid" are resolved to explicit pads by the importer. */
  pads: Pads;
  activation: Activation;
  /** Spacing of the kernel taps in input pixels; absent = [1, 1]. */
  dilations?: [dh: number, dw: number];
  /** Grouped convolution (groups = cin for depthwise); absent = 1. Must divide cin and cout. */
  groups?: number;
}

/** A convolution's dilations, [1, 1] when absent. */
export function convDilations(node: Conv2DNode): [number, number] {
  return node.dilations ?? [1, 1];
}

/** A convolution's group count, 1 when absent. */
export function convGroups(node: Conv2DNode): number {
  return node.groups ?? 1;
}

export interface BatchNormNode extends NodeBase {
  op: "batchnorm";
  /** null when the layer has no scale (Keras scale=False): gamma = 1. */
  gamma: Float32Array | null;
  /** null when the layer has no offset (Keras center=False): beta = 0. */
  beta: Float32Array | null;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

export interface ReluNode extends NodeBase {
  op: "relu";
}

export interface PoolNode extends NodeBase {
  op: "maxpool" | "avgpool";
  window: [kh: number, kw: number];
  strides: [sh: number, sw: number];
  pads: Pads;
  /** avgpool only: whether padded cells count in the divisor (PyTorch default) or not (Keras/TF). */
  countIncludePad: boolean;
  /** maxpool only: spacing of the window cells in input pixels; absent = [1, 1]. */
  dilations?: [dh: number, dw: number];
}

/** Rows and columns of input a pooling window spans: (k - 1) * d + 1. */
export function poolSpan(node: PoolNode): [number, number] {
  const [dh, dw] = node.dilations ?? [1, 1];
  return [(node.window[0] - 1) * dh + 1, (node.window[1] - 1) * dw + 1];
}

export interface GlobalAvgPoolNode extends NodeBase {
  op: "globalavgpool";
}

/** Concatenation along the channel (last) axis, or along `axis`. */
export interface ConcatNode extends NodeBase {
  op: "concat";
  /** The axis joined (of the per-sample shape); absent = the last. */
  axis?: number;
}

/** [H, W, C] -> [H*W*C] in NHWC order; a no-op on memory. */
export interface FlattenNode extends NodeBase {
  op: "flatten";
}

export interface DenseNode extends NodeBase {
  op: "dense";
  /** Kernel [in][out], length in*out. */
  kernel: Weights;
  kernelShape: [cin: number, cout: number];
  bias: Float32Array | null;
  activation: Activation;
}

/** Softmax over the last axis, or over `axis`. */
export interface SoftmaxNode extends NodeBase {
  op: "softmax";
  /** The axis normalized over (of the per-sample shape); absent = the last. */
  axis?: number;
}

/** LogSoftmax over the last axis, or over `axis`: x - max - log(sum(exp(x - max))). */
export interface LogSoftmaxNode extends NodeBase {
  op: "logsoftmax";
  /** As for softmax. */
  axis?: number;
}

/** The axis a concat joins or a softmax runs over, given the per-sample rank. */
export function nodeAxis(node: ConcatNode | SoftmaxNode | LogSoftmaxNode, rank: number): number {
  return node.axis ?? rank - 1;
}

/** Elementwise logistic sigmoid: 1 / (1 + exp(-x)). */
export interface SigmoidNode extends NodeBase {
  op: "sigmoid";
}

/**
 * How a pad fills the added border: with `value` ("constant"), with the
 * pixels mirrored about the edge pixel, which is not repeated ("reflect":
 * a b c | b a), or with the edge pixel repeated ("edge": a b c | c c).
 */
export type PadMode = "constant" | "reflect" | "edge";

/**
 * Spatial padding of an [H,W,C] tensor: [H + top + bottom, W + left + right, C].
 * Zero padding read only by a convolution or average pool is those nodes'
 * own `pads` instead (cheaper); this node is for everything else.
 */
export interface PadNode extends NodeBase {
  op: "pad";
  pads: Pads;
  mode: PadMode;
  /** The fill of "constant" mode; 0 for the other modes, which do not read it. */
  value: number;
}

/** Dropout at inference, Identity: passes its input through. */
export interface IdentityNode extends NodeBase {
  op: "identity";
}

export type Node =
  | InputNode
  | Conv2DNode
  | BatchNormNode
  | ReluNode
  | PoolNode
  | GlobalAvgPoolNode
  | ConcatNode
  | FlattenNode
  | DenseNode
  | SoftmaxNode
  | LogSoftmaxNode
  | SigmoidNode
  | PadNode
  | IdentityNode;

export type OpName = Node["op"];

/** How pixels are normalized before they enter the graph. */
export type Normalization = "tf" | "unit" | "torch";

export interface GraphMetadata {
  /** Where the graph came from, for error messages ("nsfwjs inception_v3", a file path…). */
  source: string;
  /** Class labels in output index order, when the model file carries them. */
  labels?: string[];
  /** Preprocessing the model expects, when known. */
  normalization?: Normalization;
  /**
   * Named intermediate tensors that mark the end of architectural blocks
   * (stem, mixed0…mixed10, head), in order; used by `verify`.
   */
  blocks?: { name: string; tensor: string }[];
  /** The tensor holding the global-pool features (2048-d for Inception v3), for `embed`. */
  embedding?: string;
  /**
   * Flat graph outputs whose source orders a sample's elements differently
   * from the IR (an ONNX Flatten of a multi-pixel NCHW tensor, which the IR
   * flattens in NHWC order): element i of the output is element order[i] of
   * the IR tensor. Applied when outputs are read.
   */
  outputOrder?: Record<string, number[]>;
}

export interface Graph {
  /** Nodes in topological order; the first ones are the inputs. */
  nodes: Node[];
  /** Names of the graph outputs. */
  outputs: string[];
  metadata: GraphMetadata;
}
