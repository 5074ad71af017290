import { convGroups, weightValues, type Conv2DNode, type DenseNode, type Graph } from "../graph/ir.js";
import { batchNormAffine } from "../passes/fold-batchnorm.js";
import { alignUp } from "./arena.js";
import { usesWinograd, WINOGRAD_MATRICES, winogradKernel } from "./winograd.js";
import { usesWinograd1d, winograd1dConstantFloats, winograd1dConstants, winograd1dKernel, winograd1dShape } from "./winograd1d.js";

/**
 * Constant data the kernels read, packed once at load into the model's wasm
 * memory: GEMM weights as 8-column panels (K x 8 floats each, columns past N
 * zero) and biases padded to a multiple of 8; scale/shift of any BN left
 * unfolded, padded to a multiple of 4.
 *
 * With int8 weights (an .iwm file converted with --weights int8), the
 * direct-GEMM weights stay int8 in memory, as the file stores them: one
 * float32 scale per packed column (8 per panel, panel order), then the int8
 * panels (K x 8 bytes each); the f32-qc8w kernels read them as they are.
 */
export interface WeightEntry {
  /** Byte offsets inside the weight region. */
  weights: number;
  bias: number;
  /** Int8 weights: where their column scales start (`weights` follows them); absent for float32. */
  scales?: number;
}

/** Where each node's constants go in the weight region; holds no weight data itself. */
export interface WeightLayout {
  entries: Map<string, WeightEntry>;
  bytes: number;
}

/** How GEMM weights are held in wasm memory. */
export type ResidentWeights = "f32" | "int8";

const REGION_ALIGN = 64;

/**
 * K x N row-major matrix (HWIO kernels flattened are exactly that) to 8-column
 * panels, padding columns past N written as zeros; `col0` and `rowStride`
 * select N columns of a wider matrix (one group's).
 */
function packPanels(dst: Float32Array, at: number, src: Float32Array, K: number, N: number, col0 = 0, rowStride = N): void {
  const full = N >> 3;
  const panelFloats = K * 8;
  // Row by row, so `src` is read in order (each row feeds every panel once).
  for (let k = 0; k < K; k++) {
    const row = k * rowStride + col0;
    let o = at + k * 8;
    for (let p = 0; p < full; p++, o += panelFloats) {
      const s = row + p * 8;
      for (let j = 0; j < 8; j++) dst[o + j] = src[s + j]!;
    }
    const width = N - full * 8;
    if (width > 0) {
      const s = row + full * 8;
      for (let j = 0; j < width; j++) dst[o + j] = src[s + j]!;
      for (let j = width; j < 8; j++) dst[o + j] = 0;
    }
  }
}

/** `count` floats at `at`: `values` (if any), then zeros. */
function writePadded(dst: Float32Array, at: number, count: number, values: Float32Array | null): void {
  dst.fill(0, at, at + count);
  if (values) dst.set(values, at);
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

/** Whether each convolution runs as Winograd (its weights are then 36 transformed matrices, or α for a 1xr / rx1 kernel). */
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
  // 1-D Winograd: α transformed matrices of Cin rows; Bᵀ and Aᵀ follow the bias.
  const oneD = transformed && winograd1dShape(node);
  if (oneD) return { matrices: oneD.alpha, rows: node.kernelShape[2], panels, biasFloats: panels * 8 + winograd1dConstantFloats(oneD) };
  if (transformed) return { matrices: WINOGRAD_MATRICES, rows: node.kernelShape[2], panels, biasFloats: panels * 8 };
  return { matrices: groups, rows: K, panels, biasFloats: groups * panels * 8 };
}

export function winogradChoice(shapes: Map<string, number[]>): WinogradChoice {
  return (node) => usesWinograd(node, shapes.get(node.name)!) || usesWinograd1d(node, shapes.get(node.name)!);
}

/**
 * Where each node's constants go. A graph whose constant arrays were dropped
 * (one read from an .iwm file) gives its batchnorm channel counts through `shapes`.
 * With `resident` "int8", the weights of convolutions and dense layers take
 * their int8 form (Winograd's transformed ones included).
 */
export function layoutWeights(graph: Graph, winograd: WinogradChoice, shapes?: Map<string, number[]>, resident: ResidentWeights = "f32"): WeightLayout {
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
      const floats = matrices * panels * rows * 8;
      if (resident === "int8") {
        const scaleBytes = matrices * panels * 8 * 4;
        const scales = take(scaleBytes + alignUp(floats, 4));
        entries.set(node.name, { weights: scales + scaleBytes, scales, bias: take(biasFloats * 4) });
      } else {
        entries.set(node.name, { weights: take(floats * 4), bias: take(biasFloats * 4) });
      }
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
 * Each node's kernel is read (decoded, if deferred) once and dropped before
 * the next, so packing holds at most one layer's values besides `memory`.
 * Every float a kernel reads is written, padding included; the alignment gaps
 * between entries are not, so callers pass fresh (zeroed) memory, which keeps
 * .iwm files deterministic.
 * .iwm files store this region as is: a change to the packing must bump IWM_VERSION (src/format/iwm.ts).
 */
export function packWeights(graph: Graph, layout: WeightLayout, winograd: WinogradChoice, memory: ArrayBufferLike, base: number): void {
  const f32 = new Float32Array(memory);
  // Deferred kernels are decoded into one reused array, the largest kernel's size.
  const scratch = new Float32Array(graph.nodes.reduce((most, n) => (n.op === "conv2d" || n.op === "dense" ? Math.max(most, n.kernel.length) : most), 0));
  for (const node of graph.nodes) {
    const entry = layout.entries.get(node.name);
    if (!entry) continue;
    if (entry.scales !== undefined) throw new Error(`node ${node.name}: int8 weights are read from an .iwm file as stored, not packed from float32`);
    const w = (base + entry.weights) / 4;
    const b = (base + entry.bias) / 4;
    if (node.op === "conv2d" && winograd(node)) {
      // The transformed matrices (1-D F(m, 7) or 2-D F(4x4, 3x3)), each packed like a Cin x Cout GEMM.
      const [, , cin, cout] = node.kernelShape;
      const matrixFloats = Math.ceil(cout / 8) * cin * 8;
      const oneD = winograd1dShape(node);
      const transformed = oneD ? winograd1dKernel(node, oneD, scratch) : winogradKernel(node, scratch);
      transformed.forEach((u, xi) => packPanels(f32, w + xi * matrixFloats, u, cin, cout));
      writePadded(f32, b, Math.ceil(cout / 8) * 8, node.bias);
      // The 1-D kernel reads its Bᵀ and Aᵀ right after the bias.
      if (oneD) f32.set(winograd1dConstants(oneD), b + Math.ceil(cout / 8) * 8);
    } else if (node.op === "conv2d" || node.op === "dense") {
      const { K, N, groups } = gemmShape(node);
      const panels = Math.ceil(N / 8);
      const kernel = weightValues(node.kernel, scratch);
      for (let g = 0; g < groups; g++) {
        packPanels(f32, w + g * panels * K * 8, kernel, K, N, g * N, N * groups);
        writePadded(f32, b + g * panels * 8, panels * 8, node.bias && node.bias.subarray(g * N, (g + 1) * N));
      }
    } else if (node.op === "batchnorm") {
      const { scale, shift } = batchNormAffine(node);
      writePadded(f32, w, alignUp(scale.length, 4), scale);
      writePadded(f32, b, alignUp(shift.length, 4), shift);
    }
  }
}
