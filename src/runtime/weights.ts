import { convGroups, isScaled, isStreamed, isUint8Quantized, ownedWeightValues, type Conv2DNode, type DenseNode, type Graph, type Weights } from "../graph/ir.js";
import { batchNormAffine } from "../passes/fold-batchnorm.js";
import { alignUp } from "./arena.js";
import type { KernelMemory } from "./engine.js";
import { encodeSteps, OP_BYTES, OpKind, type Step } from "./ops.js";
import { usesWinograd } from "./winograd.js";
import { usesWinograd1d, winograd1dConstantFloats, winograd1dConstants, winograd1dMatrices, winograd1dShape } from "./winograd1d.js";

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

/**
 * Whether each convolution runs as Winograd. A 1xr / rx1 kernel's weights are
 * then packed as its α transformed matrices; a 2-D one's stay packed for the
 * direct GEMM, and the plan transforms them at each inference (memory holds
 * r² floats per channel pair instead of 36).
 */
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
  // 1-D Winograd: α transformed matrices of Cin rows; Bᵀ and Aᵀ follow the bias.
  const oneD = node.op === "conv2d" && winograd(node) && winograd1dShape(node);
  if (oneD) return { matrices: oneD.alpha, rows: node.kernelShape[2], panels, biasFloats: panels * 8 + winograd1dConstantFloats(oneD) };
  return { matrices: groups, rows: K, panels, biasFloats: groups * panels * 8 };
}

/**
 * Whether a node's GEMM weights stay float32 in f16 and int8 .iwm files
 * (src/format/storage.ts): a 2-D Winograd convolution's, 3.3 of the 91 MiB.
 * Quantized to int8 with one scale per column over all r·r taps, they erred
 * more than int8 did when it kept one scale per transformed matrix: over the
 * 4 sample photos at 6 crops (bench/drift.mjs), mean |Δp| against f32 1.22e-3 with them
 * float32, 2.35e-3 with them int8 (1.83e-3 before, transformed). f16 would
 * do either way (5.8e-5 to 7.5e-5); one rule for both keeps the format simple.
 */
export function keptFloat32(node: Conv2DNode | DenseNode, winograd: WinogradChoice): boolean {
  return node.op === "conv2d" && winograd(node) && !winograd1dShape(node);
}

export function winogradChoice(shapes: Map<string, number[]>): WinogradChoice {
  return (node) => usesWinograd(node, shapes.get(node.name)!) || usesWinograd1d(node, shapes.get(node.name)!);
}

/**
 * Where each node's constants go. A graph whose constant arrays were dropped
 * (one read from an .iwm file) gives its batchnorm channel counts through `shapes`.
 * With `resident` "int8", the weights of convolutions and dense layers take
 * their int8 form (1-D Winograd's transformed ones included), but for those
 * kept float32 (keptFloat32).
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
      if (resident === "int8" && !keptFloat32(node, winograd)) {
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

/** The load-time kernel transform of a 1-D Winograd convolution: G (α x r, float64), applied along the taps. */
interface KernelTransform {
  G: Float64Array;
  alpha: number;
  r: number;
}

function kernelTransform(node: Conv2DNode): KernelTransform | null {
  const oneD = winograd1dShape(node);
  return oneD && { G: winograd1dMatrices(oneD.m, oneD.r).G, alpha: oneD.alpha, r: oneD.r };
}

/**
 * Packs every node's constants into `target`'s memory, with the weight
 * region starting at byte `base`. Each node's kernel is read (decoded, if
 * deferred; from its file, if streamed) into wasm memory, then packed there by the kernel module
 * (wasm/f32-packw): 8-column panels, or the Winograd transform straight into
 * its packed matrices, applying a folded batchnorm's scales on the way;
 * uint8-quantized kernels are dequantized there too (JavaScript passes over
 * every weight cost more than the whole packing step).
 * One layer's values at a time besides the region: the staging memory (the
 * largest kernel, its codes and scales, the step record) is allocated after
 * everything in `target` and released at the end, so the first plan's arena
 * reuses it. Every float a kernel reads is written, padding included; the
 * alignment gaps between entries are not, so callers pass fresh (zeroed)
 * memory, which keeps .iwm files deterministic.
 * .iwm files store this region as is: a change to the packing must bump IWM_VERSION (src/format/iwm.ts).
 */
export async function packWeights(graph: Graph, layout: WeightLayout, winograd: WinogradChoice, target: KernelMemory, base: number): Promise<void> {
  const gemms = graph.nodes.filter((n): n is Conv2DNode | DenseNode => n.op === "conv2d" || n.op === "dense");
  const transforms = new Map(gemms.flatMap((n) => {
    const transform = n.op === "conv2d" && winograd(n) && kernelTransform(n);
    return transform ? [[n.name, transform] as const] : [];
  }));
  const transformFloats = Math.max(0, ...[...transforms.values()].map((t) => t.G.length));
  // The transform kernel's scratch: 8 channels' taps and one sum, as float64 pairs.
  const transformScratch = Math.max(0, ...[...transforms.values()].map((t) => 64 * (t.r + 1)));
  const kernelFloats = Math.max(0, ...gemms.map((n) => n.kernel.length));
  const channels = Math.max(0, ...gemms.map((n) => n.kernelShape.at(-1)!));
  const mark = target.bytesUsed;
  const ops = target.allocate(OP_BYTES);
  const matrixAt = target.allocate(transformFloats * 8);
  const scratchAt = target.allocate(transformScratch);
  const scalesAt = target.allocate(channels * 8);
  const kernelAt = target.allocate(kernelFloats * 4);
  // Uint8-quantized kernels: their codes, then min and step.
  const quantized = gemms.some((n) => isUint8Quantized(isScaled(n.kernel) ? n.kernel.unscaled : n.kernel));
  const codesAt = target.allocate(quantized ? kernelFloats : 0);
  const paramsAt = target.allocate(16);
  try {
    // Views taken after allocating: allocating may grow the memory.
    const memory = target.memory.buffer;
    const f32 = new Float32Array(memory);
    const kernel = f32.subarray(kernelAt / 4, kernelAt / 4 + kernelFloats);
    const run = (step: Step) => {
      encodeSteps(memory, ops, [step]);
      target.runSteps(ops, 1);
    };
    const decode = async (values: Weights) => {
      if (isStreamed(values)) {
        await values.readValues(kernel);
        return;
      }
      if (!isUint8Quantized(values)) {
        ownedWeightValues(values, kernel);
        return;
      }
      await values.readCodes(new Uint8Array(memory, codesAt, values.length));
      new Float64Array(memory, paramsAt, 2).set([values.min, values.step]);
      run({ kind: OpKind.PackwDequantize, codes: codesAt, count: values.length, params: paramsAt, dst: kernelAt });
    };
    // A kernel into the scratch; a folded batchnorm's scales (returned address), if any, are left for the packing step to apply.
    const readKernel = async (node: Conv2DNode | DenseNode): Promise<number | undefined> => {
      if (!isScaled(node.kernel)) {
        await decode(node.kernel);
        return undefined;
      }
      await decode(node.kernel.unscaled);
      new Float64Array(memory, scalesAt, node.kernel.scale.length).set(node.kernel.scale);
      return scalesAt;
    };
    for (const node of graph.nodes) {
      const entry = layout.entries.get(node.name);
      if (!entry) continue;
      if (entry.scales !== undefined) throw new Error(`node ${node.name}: int8 weights are read from an .iwm file as stored, not packed from float32`);
      // The weights' byte address (the packing steps take addresses), the bias's float index.
      const weightsAt = base + entry.weights;
      const b = (base + entry.bias) / 4;
      const transform = transforms.get(node.name);
      if (node.op === "conv2d" && transform) {
        // The α transformed matrices of a 1-D F(m, r), each packed like a Cin x Cout GEMM.
        const [, , cin, cout] = node.kernelShape;
        const scales = await readKernel(node);
        new Float64Array(memory, matrixAt, transform.G.length).set(transform.G);
        run({ kind: OpKind.PackwWinograd, src: kernelAt, cin, cout, dst: weightsAt, G: matrixAt, alpha: transform.alpha, r: transform.r, scratch: scratchAt, scales });
        writePadded(f32, b, Math.ceil(cout / 8) * 8, node.bias);
        // The 1-D kernel reads its Bᵀ and Aᵀ right after the bias.
        f32.set(winograd1dConstants(winograd1dShape(node)!), b + Math.ceil(cout / 8) * 8);
      } else if (node.op === "conv2d" || node.op === "dense") {
        const { K, N, groups } = gemmShape(node);
        const panels = Math.ceil(N / 8);
        const scales = await readKernel(node);
        for (let g = 0; g < groups; g++) {
          run({ kind: OpKind.PackwGemm, src: kernelAt + g * N * 4, K, N, srcRowStride: N * groups * 4, dst: weightsAt + g * panels * K * 32, scales: scales && scales + g * N * 8 });
          writePadded(f32, b + g * panels * 8, panels * 8, node.bias && node.bias.subarray(g * N, (g + 1) * N));
        }
      } else if (node.op === "batchnorm") {
        const { scale, shift } = batchNormAffine(node);
        writePadded(f32, weightsAt / 4, alignUp(scale.length, 4), scale);
        writePadded(f32, b, alignUp(shift.length, 4), shift);
      }
    }
  } finally {
    target.release(mark);
  }
}
