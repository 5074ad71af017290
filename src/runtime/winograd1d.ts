import { convDilations, convGroups, type Conv2DNode } from "../graph/ir.js";

/**
 * 1-D Winograd F(m, r) for 1xr and rx1 stride-1 convolutions
 * (wasm/f32-winograd1d), along the kernel's long axis: α = m + r - 1
 * multiplies per m outputs instead of m*r.
 *
 * Routing rule: every stride-1 1x7 / 7x1 convolution with channels in fours,
 * as F(3,7), on any grid, because every such layer of Inception v3 measured
 * faster (bench --profile, batch 1, relaxed build, 1 thread, ms summed over
 * the 13 layers of each kind on 17x17, direct GEMM -> F(3,7)):
 *   1x7: 33.8 -> 18.4     7x1: 30.7 -> 18.4
 * (single layers: 192->192 3.1 -> 1.7 ms, 128->128 1.35 -> 0.9 ms).
 * Tile sizes: on 17x17, F(3,7) wastes one column (6 tiles of 3) for 3.2
 * multiplies per output; F(2,7) (4.2) measured 24.7 ms for the 1x7 layers
 * (with 512 KB output-channel chunks); F(4,7) (2.9, not tried) would save
 * 8% more multiplies but its transforms amplify rounding 11x more
 * (‖Bᵀ row‖·‖Aᵀ row‖: 26, 259, 2921 for m = 2, 3, 4). F(3,7) layers err by
 * ~1.5e-4 relative vs float64 at K = 1344, and the whole model stays within
 * 2.2e-7 of TensorFlow.js in probability.
 * 1x3 / 3x1 (8x8 grids, 384-448 channels) stay on the direct GEMM: F(4,3)
 * measured faster (the 8 layers 10.2 -> 8.3 ms, 1% of the model) but
 * doubles their weights, the largest of the model's 3-tap kernels
 * (+14 MB in memory, +22% .iwm size); F(2,3) was slower than F(4,3) in
 * single-layer timings (0.9 vs 0.7 ms on 384->384).
 */

/** Interpolation points of the Toom-Cook construction, in order of use (∞ is always the last point). */
const POINTS = [0, 1, -1, 2, -2, 1 / 2, -1 / 2, 3, -3, 1 / 3, -1 / 3];

/** Outputs per tile, by kernel length (see the routing rule above). */
const TILE_OUTPUTS = new Map([[7, 3]]);

export interface Winograd1dShape {
  /** Outputs per tile, kernel taps, transformed points (m + r - 1). */
  m: number;
  r: number;
  alpha: number;
  /** Whether the long axis is the vertical one (an rx1 kernel). */
  vertical: boolean;
}

/** The transform a 1xr / rx1 kernel would use, by its shape alone (so the weight packing needs no output shape). */
export function winograd1dShape(node: Conv2DNode): Winograd1dShape | null {
  const [kh, kw] = node.kernelShape;
  if (Math.min(kh, kw) !== 1) return null;
  const r = Math.max(kh, kw);
  const m = TILE_OUTPUTS.get(r);
  if (m === undefined) return null;
  return { m, r, alpha: m + r - 1, vertical: kh > 1 };
}

export function usesWinograd1d(node: Conv2DNode, outShape: readonly number[]): boolean {
  const [dh, dw] = convDilations(node);
  if (dh !== 1 || dw !== 1 || convGroups(node) !== 1) return false;
  const [, , cin, cout] = node.kernelShape;
  return winograd1dShape(node) !== null && node.strides[0] === 1 && node.strides[1] === 1
    && cin % 4 === 0 && cout % 4 === 0 && outShape.length === 3;
}

/**
 * Toom-Cook matrices of F(m, r) in float64, for the points POINTS[0..α-2] and ∞
 * (y = Aᵀ[(G g) ⊙ (Bᵀ d)], correlation form):
 *   Aᵀ[i][j] = p_j^i,  G[j][k] = p_j^k / f_j,  Bᵀ[j] = coefficients of Π_{l≠j}(x - p_l),
 * with f_j = Π_{l≠j}(p_j - p_l); the ∞ column of Aᵀ and row of G pick the
 * last power, and the ∞ row of Bᵀ is Π_l(x - p_l). Bᵀ and Aᵀ have small
 * dyadic entries for these points (exact in float32); the divisions are all in G.
 */
export function winograd1dMatrices(m: number, r: number): { BT: Float64Array; G: Float64Array; AT: Float64Array } {
  const alpha = m + r - 1;
  const finite = alpha - 1;
  if (finite > POINTS.length) throw new Error(`F(${m}, ${r}) needs ${finite} interpolation points, ${POINTS.length} are defined`);
  const p = POINTS.slice(0, finite);
  const BT = new Float64Array(alpha * alpha);
  const G = new Float64Array(alpha * r);
  const AT = new Float64Array(m * alpha);
  const polyTimes = (coef: number[], root: number): number[] => {
    // (Σ c_i x^i)(x - root)
    const outCoef = new Array<number>(coef.length + 1).fill(0);
    coef.forEach((c, i) => {
      outCoef[i + 1]! += c;
      outCoef[i]! -= c * root;
    });
    return outCoef;
  };
  for (let j = 0; j < finite; j++) {
    let poly = [1];
    let f = 1;
    for (let l = 0; l < finite; l++) {
      if (l === j) continue;
      poly = polyTimes(poly, p[l]!);
      f *= p[j]! - p[l]!;
    }
    poly.forEach((c, i) => (BT[j * alpha + i] = c));
    for (let k = 0; k < r; k++) G[j * r + k] = p[j]! ** k / f;
    for (let i = 0; i < m; i++) AT[i * alpha + j] = p[j]! ** i;
  }
  let all = [1];
  for (const root of p) all = polyTimes(all, root);
  all.forEach((c, i) => (BT[finite * alpha + i] = c));
  G[finite * r + r - 1] = 1;
  AT[(m - 1) * alpha + finite] = 1;
  return { BT, G, AT };
}

/** Floats of Bᵀ and Aᵀ, stored after the bias for the kernel to read. */
export function winograd1dConstantFloats(shape: Winograd1dShape): number {
  return shape.alpha * shape.alpha + shape.m * shape.alpha;
}

/** Bᵀ then Aᵀ, row-major, rounded to float32 (exact for the points used). */
export function winograd1dConstants(shape: Winograd1dShape): Float32Array {
  const { BT, AT } = winograd1dMatrices(shape.m, shape.r);
  const out = new Float32Array(winograd1dConstantFloats(shape));
  out.set(BT);
  out.set(AT, BT.length);
  return out;
}

/**
 * Work units are (output-channel chunk, block of tiles). A block's transformed
 * inputs V and products M stay in L2 (tiles per block sized for that), and
 * all output channels form one chunk: V is then transformed once, and U
 * (at most 1.3 MB in Inception) streams from L3 once per block, which costs
 * less than redoing the input transform per L2-sized chunk (measured on
 * 17x17 grids: 10-15% faster than 512 KB chunks). Chunks are split only
 * when the blocks alone are too few to keep every thread busy to the end
 * of the step. Scratch bytes per thread: V, M, the GEMM row pointers and the
 * tile's α cell pointers.
 */
export function winograd1dBlocking(cin: number, cout: number, shape: Winograd1dShape, outH: number, outW: number, batch: number, threads: number):
  { tilesPerBlock: number; panelsPerChunk: number; scratchBytes: number } {
  const { m, alpha, vertical } = shape;
  const tiles = batch * Math.ceil((vertical ? outH : outW) / m) * (vertical ? outW : outH);
  const panels = Math.ceil(cout / 8);
  const budget = 384 * 1024;
  const tilesPerBlock = Math.min(256, Math.max(8, Math.floor(budget / (4 * alpha * (cin + panels * 8)) / 4) * 4));
  const blocks = Math.ceil(tiles / tilesPerBlock);
  const chunks = Math.min(panels, Math.ceil((4 * threads) / blocks));
  const panelsPerChunk = Math.ceil(panels / chunks);
  const chunkCols = panelsPerChunk * 8;
  const scratchBytes = Math.ceil((alpha * tilesPerBlock * (cin + chunkCols + 1) * 4 + alpha * 4) / 64) * 64;
  return { tilesPerBlock, panelsPerChunk, scratchBytes };
}
