import { convDilations, convGroups, weightValues, type Conv2DNode } from "../graph/ir.js";

/**
 * Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions (wasm/f32-winograd):
 * 16 multiplies per 2x2 output tile instead of 36. Used where the image is
 * large enough for the transforms to pay off; the 8x8 grids of the last
 * blocks stay on the direct GEMM, whose weights would otherwise be streamed
 * 16-fold for only a few tiles.
 */
const MIN_OUTPUT_PIXELS = 17 * 17;

export function usesWinograd(node: Conv2DNode, outShape: readonly number[]): boolean {
  const [kh, kw, cin, cout] = node.kernelShape;
  const [dh, dw] = convDilations(node);
  if (dh !== 1 || dw !== 1 || convGroups(node) !== 1) return false;
  return kh === 3 && kw === 3 && node.strides[0] === 1 && node.strides[1] === 1
    && cin % 4 === 0 && cout % 4 === 0 && outShape[0]! * outShape[1]! >= MIN_OUTPUT_PIXELS;
}

/**
 * U_ξ = G g Gᵀ for every (cin, cout), as 16 row-major [cin][cout] matrices
 * (ξ = 4*row + column of the 4x4 transformed kernel), ready for GEMM packing.
 * G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]. A deferred kernel is decoded into
 * `scratch` when given.
 */
export function winogradKernel(node: Conv2DNode, scratch?: Float32Array): Float32Array[] {
  const [, , cin, cout] = node.kernelShape;
  const k = weightValues(node.kernel, scratch);
  const u = Array.from({ length: 16 }, () => new Float32Array(cin * cout));
  const g = new Float64Array(9);
  const t = new Float64Array(12); // G g: 4x3
  for (let ci = 0; ci < cin; ci++) {
    for (let co = 0; co < cout; co++) {
      for (let i = 0; i < 9; i++) g[i] = k[(i * cin + ci) * cout + co]!;
      for (let c = 0; c < 3; c++) {
        const g0 = g[c]!, g1 = g[3 + c]!, g2 = g[6 + c]!;
        t[c] = g0;
        t[3 + c] = (g0 + g1 + g2) / 2;
        t[6 + c] = (g0 - g1 + g2) / 2;
        t[9 + c] = g2;
      }
      for (let r = 0; r < 4; r++) {
        const a = t[3 * r]!, b = t[3 * r + 1]!, c = t[3 * r + 2]!;
        const row = [a, (a + b + c) / 2, (a - b + c) / 2, c];
        for (let j = 0; j < 4; j++) u[4 * r + j]![ci * cout + co] = row[j]!;
      }
    }
  }
  return u;
}

/**
 * Output-channel chunks (in 8-column panels) sized so a chunk of the 16
 * transformed kernels stays in L2, and tiles per block sized so a block's
 * transformed inputs and products stay there too; scratch bytes per thread.
 */
export function winogradBlocking(cin: number, cout: number): { tilesPerBlock: number; panelsPerChunk: number; scratchBytes: number } {
  const panels = Math.ceil(cout / 8);
  const panelsPerChunk = Math.min(panels, Math.max(1, Math.floor((256 * 1024) / (16 * cin * 8 * 4))));
  const chunkCols = panelsPerChunk * 8;
  const budget = 384 * 1024;
  const tilesPerBlock = Math.min(256, Math.max(8, Math.floor(budget / (64 * (cin + chunkCols)) / 4) * 4));
  const scratchBytes = Math.ceil((16 * tilesPerBlock * (cin + chunkCols + 1) * 4) / 64) * 64;
  return { tilesPerBlock, panelsPerChunk, scratchBytes };
}
