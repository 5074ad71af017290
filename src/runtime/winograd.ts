import { convDilations, convGroups, type Conv2DNode } from "../graph/ir.js";

/**
 * 2-D Winograd for stride-1 convolutions (wasm/f32-winograd), on 6x6 input
 * patches: F(4x4, 3x3) for 3x3 kernels, 36 multiplies per 4x4 output tile
 * instead of 144, and F(2x2, 5x5) for 5x5 ones, 36 per 2x2 tile instead of
 * 100. Both use the interpolation points 0, ±1, ±2, ∞, so they share the
 * input transform Bᵀ and differ in G and Aᵀ. The kernel keeps its direct
 * GEMM packing in memory; each thread transforms the chunk of U = G g Gᵀ it
 * works on (wasm/f32-winograd/kernel-transform.ts). Used where the image is large
 * enough for the transforms to pay off; the 8x8 grids of the last blocks stay
 * on the direct GEMM, whose weights would otherwise be streamed 36-fold for
 * only a few tiles.
 */
const MIN_OUTPUT_PIXELS = 17 * 17;

/** Transformed-kernel matrices (6x6 points per tile), i.e. GEMMs per tile block. */
export const WINOGRAD_MATRICES = 36;

/** The output tile side m and kernel side r of the F(m x m, r x r) a kernel shape runs as, or null. */
export function winogradTile(node: Conv2DNode): { m: number; r: number } | null {
  const [kh, kw] = node.kernelShape;
  if (kh !== kw) return null;
  if (kh === 3) return { m: 4, r: 3 };
  if (kh === 5) return { m: 2, r: 5 };
  return null;
}

export function usesWinograd(node: Conv2DNode, outShape: readonly number[]): boolean {
  const [, , cin, cout] = node.kernelShape;
  const [dh, dw] = convDilations(node);
  if (dh !== 1 || dw !== 1 || convGroups(node) !== 1) return false;
  return winogradTile(node) !== null && node.strides[0] === 1 && node.strides[1] === 1
    && cin % 4 === 0 && cout % 4 === 0 && outShape[0]! * outShape[1]! >= MIN_OUTPUT_PIXELS;
}

/**
 * Output-channel chunks (in 8-column panels) sized so a chunk of the 36
 * transformed kernels (512 KB, in the thread's scratch) and a block's
 * transformed inputs and products (384 KB) stay in L2 together; scratch
 * bytes per thread (see the scratch layout in wasm/f32-winograd/6x6.ts). Measured on a 1 MB-L2 core, one
 * thread: a 512 KB chunk instead of 256 KB (fewer chunks, so fewer repeated
 * input transforms) takes the 10 Winograd layers of InceptionV3 from 34 to
 * 30 ms; a 768 KB block budget loses on the 147x147 and 71x71 grids.
 */
export function winogradBlocking(cin: number, cout: number): { tilesPerBlock: number; panelsPerChunk: number; scratchBytes: number } {
  const panels = Math.ceil(cout / 8);
  const panelsPerChunk = Math.min(panels, Math.max(1, Math.floor((512 * 1024) / (WINOGRAD_MATRICES * cin * 8 * 4))));
  const chunkCols = panelsPerChunk * 8;
  const budget = 384 * 1024;
  const tilesPerBlock = Math.min(256, Math.max(8, Math.floor(budget / (WINOGRAD_MATRICES * 4 * (cin + chunkCols)) / 4) * 4));
  // V, M and the row pointers per tile, the discard pixel, and the chunk's U.
  const scratchBytes = Math.ceil((WINOGRAD_MATRICES * tilesPerBlock * (cin + chunkCols + 1) + chunkCols + WINOGRAD_MATRICES * cin * chunkCols) * 4 / 64) * 64;
  return { tilesPerBlock, panelsPerChunk, scratchBytes };
}
