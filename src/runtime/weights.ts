import { convGroups, type Conv2DNode, type DenseNode, type Graph } from "../graph/ir.js";
import { batchNormAffine } from "../passes/fold-batchnorm.js";
import { alignUp } from "./arena.js";
import { usesWinograd, WINOGRAD_MATRICES, winogradKernel } from "./winograd.js";

/**
 * Constant data the kernels read, packed once at load into the model's wasm
 * memory: GEMM weights as 8-column panels (K x 8 floats each, columns past N
 * zero) and biases padded to a multiple of 8; scale/shift of any BN left
 * unfolded, padded to a multiple of 4.
 */
export interface WeightEntry {
  /** Byte offsets inside the weight region. */
  weights: number;
  bias: number;
}

/** Where each node's constants go in the weight region; holds no weight data itself. */
export interface WeightLayout {
  entries: Map<string, WeightEntry>;
  bytes: number;
}

const REGION_ALIGN = 64;

/**
 * K x N row-major matrix (HWIO kernels flattened are exactly that) to 8-column
 * panels; `col0` and `rowStride` select N columns of a wider matrix (one group's).
 */
function packPanels(dst: Float32Array, at: number, src: Float32Array, K: number, N: number, col0 = 0, rowStride = N): void {
  const panels = Math.ceil(N / 8);
  for (let p = 0; p < panels; p++) {
    const n0 = p * 8;
    const width = Math.min(8, N - n0);
    let o = at + p * K * 8;
    for (let k = 0; k < K; k++, o += 8) {
      const row = k * rowStride + col0 + n0;
      for (let j = 0; j < width; j++) dst[o + j] = src[row + j]!;
      // Padding columns stay zero: the region is zero-filled before packing.
    }
  }
}

/** One group's GEMM: K = taps x input channels per group, N = output channels per group. */
function gemmShape(node: Conv2DNode | DenseNode): { K: number; N: number; groups: number } {
  if (node.op === "conv2d") {
    const [kh, kw, cinG, cout] = node.kernelShape;
    const groups = convGroups(node);
    return { K: kh * kw * cinG, N: cout / groups, groups };
  }
  return { K: node.kernelShape[0], N: node.kernelShape[1], groups: 1 };
}

/** Whether each convolution runs as Winograd (its weights are then 36 transformed matrices). */
export type WinogradChoice = (node: Conv2DNode) => boolean;

/**
 * How a GEMM node's weights are packed: `matrices` matrices of `rows` rows,
 * each cut into `panels` 8-column panels; the bias takes `biasFloats`.
 * A grouped convolution has one matrix per group (and its bias one run of
 * `panels` x 8 floats per group), in group order.
 */
export function gemmPacking(node: Conv2DNode | DenseNode, winograd: WinogradChoice): { matrices: number; rows: number; panels: number; biasFloats: number } {
  const { K, N, groups } = gemmShape(node);
  const panels = Math.ceil(N / 8);
  // Winograd: 36 transformed matrices of Cin rows instead of one of K = 9*Cin rows.
  const transformed = node.op === "conv2d" && winograd(node);
  if (transformed) return { matrices: WINOGRAD_MATRICES, rows: node.kernelShape[2], panels, biasFloats: panels * 8 };
  return { matrices: groups, rows: K, panels, biasFloats: groups * panels * 8 };
}

export function winogradChoice(shapes: Map<string, number[]>): WinogradChoice {
  return (node) => usesWinograd(node, shapes.get(node.name)!);
}

/**
 * Where each node's constants go. A graph whose constant arrays were dropped
 * (one read from an .iwm file) gives its batchnorm channel counts through `shapes`.
 */
export function layoutWeights(graph: Graph, winograd: WinogradChoice, shapes?: Map<string, number[]>): WeightLayout {
  const entries = new Map<string, WeightEntry>();
  let bytes = 0;
  const take = (n: number): number => {
    const at = bytes;
    bytes = alignUp(bytes + n, REGION_ALIGN);
    return at;
  };
  for (const node of graph.nodes) {
    if (node.op === "conv2d" || node.op === "dense") {
      const { matrices, rows, panels, biasFloats } = gemmPacking(node, winograd);
      entries.set(node.name, { weights: take(matrices * panels * rows * 8 * 4), bias: take(biasFloats * 4) });
    } else if (node.op === "batchnorm") {
      const channels = shapes ? shapes.get(node.name)!.at(-1)! : node.mean.length;
      const padded = alignUp(channels, 4) * 4;
      entries.set(node.name, { weights: take(padded), bias: take(padded) });
    }
  }
  return { entries, bytes };
}

/**
 * Packs every node's constants into `memory`, with the weight region starting at byte `base`.
 * .iwm files store this region as is: a change to the packing must bump IWM_VERSION (src/format/iwm.ts).
 */
export function packWeights(graph: Graph, layout: WeightLayout, winograd: WinogradChoice, memory: ArrayBufferLike, base: number): void {
  new Uint8Array(memory, base, layout.bytes).fill(0);
  const f32 = new Float32Array(memory);
  for (const node of graph.nodes) {
    const entry = layout.entries.get(node.name);
    if (!entry) continue;
    const w = (base + entry.weights) / 4;
    const b = (base + entry.bias) / 4;
    if (node.op === "conv2d" && winograd(node)) {
      const [, , cin, cout] = node.kernelShape;
      const matrixFloats = Math.ceil(cout / 8) * cin * 8;
      winogradKernel(node).forEach((u, xi) => packPanels(f32, w + xi * matrixFloats, u, cin, cout));
      if (node.bias) f32.set(node.bias, b);
    } else if (node.op === "conv2d" || node.op === "dense") {
      const { K, N, groups } = gemmShape(node);
      const panels = Math.ceil(N / 8);
      for (let g = 0; g < groups; g++) {
        packPanels(f32, w + g * panels * K * 8, node.kernel, K, N, g * N, N * groups);
        if (node.bias) f32.set(node.bias.subarray(g * N, (g + 1) * N), b + g * panels * 8);
      }
    } else if (node.op === "batchnorm") {
      const { scale, shift } = batchNormAffine(node);
      f32.set(scale, w);
      f32.set(shift, b);
    }
  }
}
