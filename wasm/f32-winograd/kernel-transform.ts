/**
 * The kernel transform of the 2-D Winograd kernels, U_ξ = G g Gᵀ, done by
 * each thread for the output-channel chunk it works on (6x6.ts), from the
 * kernel as packed for a direct GEMM: memory holds the r·r taps once instead
 * of their 36 transforms (4x the floats of a 3x3 kernel, 1.44x of a 5x5
 * one), and the chunk's U is written to the thread's scratch, in L2 where
 * the chunk's GEMMs then read it.
 *
 * In float32, G's entries (1/4, 1/6, 1/12, 1/24, …) rounded once each: an
 * error far below that of the input and output transforms the convolution
 * then runs.
 *
 *   G (F(4x4, 3x3)) = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   G (F(2x2, 5x5)): row p = s_p·[1, p, p², p³, p⁴] for p = 0, 1, -1, 2, -2 with
 *   s_p = 1/4, -1/6, -1/6, 1/24, 1/24, and [0 0 0 0 1].
 */

import { madd } from "../common/simd";

/**
 * The chunk of U this thread's scratch holds: its kernel, first panel and
 * address (module globals are per instance, so per thread). The row bands of
 * one convolution (src/runtime/bands.ts) are consecutive steps over the same
 * kernel, with only copies and pools between them: a thread that keeps its
 * chunk from one band to the next does not transform it again.
 */
let heldKernel: usize = 0;
let heldFirstPanel: i32 = 0;
let heldAt: usize = 0;

/** Forgets the held chunk: this thread's scratch is about to be reused (1-D Winograd), or memory may have been since (a new inference). */
export function forgetHeldChunk(): void {
  heldKernel = 0;
}

/**
 * U for panels [p0, p1) of a kernel whose direct packing (r·r·Cin rows of 8
 * floats per panel) is at `w`: 36 matrices of Cin rows and (p1 - p0) panels
 * from `U`, the layout the Winograd GEMMs read, unless the scratch holds
 * them already. (f16 and int8 .iwm files keep these kernels float32:
 * keptFloat32 in src/runtime/weights.ts.)
 */
export function chunkOfU(w: usize, Cin: i32, r: i32, p0: i32, p1: i32, U: usize): void {
  if (w == heldKernel && p0 == heldFirstPanel && U == heldAt) return;
  transformChunk(w, Cin, r, p0, p1, U);
  heldKernel = w;
  heldFirstPanel = p0;
  heldAt = U;
}

function transformChunk(w: usize, Cin: i32, r: i32, p0: i32, p1: i32, U: usize): void {
  const tapStride = <usize>Cin << 5;
  const panelIn = <usize>(r * r) * tapStride;
  const panelOut = <usize>Cin << 5;
  const matrixStride = <usize>(p1 - p0) * panelOut;
  for (let p = p0; p < p1; p++) {
    for (let ci = 0; ci < Cin; ci++) {
      const taps = w + <usize>p * panelIn + (<usize>ci << 5);
      const out = U + <usize>(p - p0) * panelOut + (<usize>ci << 5);
      // Half panel by half panel (4 channels): one v128 per tap.
      for (let half: usize = 0; half < 32; half += 16) {
        if (r == 3) transform3(taps + half, tapStride, out + half, matrixStride);
        else transform5(taps + half, tapStride, out + half, matrixStride);
      }
    }
  }
}

/**
 * Row `a` (a constant after inlining) of G (F(4x4, 3x3)) applied to
 * (x0, x1, x2).
 */
@inline
function row3(a: i32, x0: v128, x1: v128, x2: v128): v128 {
  if (a == 0) return f32x4.mul(x0, f32x4.splat(0.25));
  if (a == 1) return f32x4.mul(f32x4.add(f32x4.add(x0, x2), x1), f32x4.splat(-1.0 / 6));
  if (a == 2) return f32x4.mul(f32x4.sub(f32x4.add(x0, x2), x1), f32x4.splat(-1.0 / 6));
  const e = madd(x0, f32x4.splat(1.0 / 24), f32x4.mul(x2, f32x4.splat(1.0 / 6)));
  if (a == 3) return madd(x1, f32x4.splat(1.0 / 12), e);
  if (a == 4) return madd(x1, f32x4.splat(-1.0 / 12), e);
  return x2;
}

/** G's six rows (F(4x4, 3x3)) applied to (x0, x1, x2), stored at `d` + k·`stride` for row k. */
@inline
function rows3(x0: v128, x1: v128, x2: v128, d: usize, stride: usize): void {
  v128.store(d, row3(0, x0, x1, x2));
  v128.store(d + stride, row3(1, x0, x1, x2));
  v128.store(d + 2 * stride, row3(2, x0, x1, x2));
  v128.store(d + 3 * stride, row3(3, x0, x1, x2));
  v128.store(d + 4 * stride, row3(4, x0, x1, x2));
  v128.store(d + 5 * stride, x2);
}

/**
 * U = G g Gᵀ of one 3x3 kernel, 4 channels, all in registers: the nine taps
 * loaded once, then per row a of G g (its three entries from the taps'
 * columns) the six U entries of that row, U_(6a + b), stored a matrix apart.
 * (Going through memory between the passes costs more: the slots are whole
 * matrices apart, often a multiple of 4 KB, and the reloads stall on the
 * stores they alias.)
 */
@inline
function transform3(taps: usize, tapStride: usize, o: usize, matrixStride: usize): void {
  const g0 = v128.load(taps), g1 = v128.load(taps + tapStride), g2 = v128.load(taps + 2 * tapStride);
  const g3 = v128.load(taps + 3 * tapStride), g4 = v128.load(taps + 4 * tapStride), g5 = v128.load(taps + 5 * tapStride);
  const g6 = v128.load(taps + 6 * tapStride), g7 = v128.load(taps + 7 * tapStride), g8 = v128.load(taps + 8 * tapStride);
  const rowSkip = 6 * matrixStride;
  rows3(row3(0, g0, g3, g6), row3(0, g1, g4, g7), row3(0, g2, g5, g8), o, matrixStride);
  rows3(row3(1, g0, g3, g6), row3(1, g1, g4, g7), row3(1, g2, g5, g8), o + rowSkip, matrixStride);
  rows3(row3(2, g0, g3, g6), row3(2, g1, g4, g7), row3(2, g2, g5, g8), o + 2 * rowSkip, matrixStride);
  rows3(row3(3, g0, g3, g6), row3(3, g1, g4, g7), row3(3, g2, g5, g8), o + 3 * rowSkip, matrixStride);
  rows3(row3(4, g0, g3, g6), row3(4, g1, g4, g7), row3(4, g2, g5, g8), o + 4 * rowSkip, matrixStride);
  rows3(g6, g7, g8, o + 5 * rowSkip, matrixStride);
}

/** Row `a` (a constant after inlining) of G (F(2x2, 5x5)) applied to (x0..x4). */
@inline
function row5(a: i32, x0: v128, x1: v128, x2: v128, x3: v128, x4: v128): v128 {
  if (a == 0) return f32x4.mul(x0, f32x4.splat(0.25));
  if (a == 5) return x4;
  const even = f32x4.add(x0, f32x4.add(x2, x4)), odd = f32x4.add(x1, x3);
  if (a == 1) return f32x4.mul(f32x4.add(even, odd), f32x4.splat(-1.0 / 6));
  if (a == 2) return f32x4.mul(f32x4.sub(even, odd), f32x4.splat(-1.0 / 6));
  // (x0 + 4 x2 + 16 x4 ± (2 x1 + 8 x3)) / 24.
  const even4 = madd(x4, f32x4.splat(16.0 / 24), madd(x2, f32x4.splat(4.0 / 24), f32x4.mul(x0, f32x4.splat(1.0 / 24))));
  const odd4 = madd(x3, f32x4.splat(8.0 / 24), f32x4.mul(x1, f32x4.splat(2.0 / 24)));
  return a == 3 ? f32x4.add(even4, odd4) : f32x4.sub(even4, odd4);
}

/**
 * U = G g Gᵀ of one 5x5 kernel, 4 channels: per row a of G g, its five
 * entries from the taps' columns (the 25 taps do not all fit in registers,
 * so each row reloads them from L1), then that row's six U entries.
 */
@inline
function transform5(taps: usize, tapStride: usize, o: usize, matrixStride: usize): void {
  const rowSkip = 6 * matrixStride;
  for (let a = 0; a < 6; a++) {
    const t0 = column5(a, taps, tapStride);
    const t1 = column5(a, taps + tapStride, tapStride);
    const t2 = column5(a, taps + 2 * tapStride, tapStride);
    const t3 = column5(a, taps + 3 * tapStride, tapStride);
    const t4 = column5(a, taps + 4 * tapStride, tapStride);
    const d = o + <usize>a * rowSkip;
    v128.store(d, row5(0, t0, t1, t2, t3, t4));
    v128.store(d + matrixStride, row5(1, t0, t1, t2, t3, t4));
    v128.store(d + 2 * matrixStride, row5(2, t0, t1, t2, t3, t4));
    v128.store(d + 3 * matrixStride, row5(3, t0, t1, t2, t3, t4));
    v128.store(d + 4 * matrixStride, row5(4, t0, t1, t2, t3, t4));
    v128.store(d + 5 * matrixStride, t4);
  }
}

/** Row `a` of G applied down the column of taps (0..4, x) whose first is at `at` (rows 5 taps apart). */
@inline
function column5(a: i32, at: usize, tapStride: usize): v128 {
  const rowStride = 5 * tapStride;
  return row5(a, v128.load(at), v128.load(at + rowStride), v128.load(at + 2 * rowStride), v128.load(at + 3 * rowStride), v128.load(at + 4 * rowStride));
}
