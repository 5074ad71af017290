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
 * U for panels [p0, p1) of a kernel whose direct packing (r·r·Cin rows of 8
 * floats per panel, or of 8 int8 times the panel's 8 column `scales`) is at
 * `w`: 36 matrices of Cin rows and (p1 - p0) panels from `U`, the layout the
 * Winograd GEMMs read. Panels = ceil(Cout / 8) in the whole packing.
 */
export function transformChunk(w: usize, scales: usize, Cin: i32, r: i32, p0: i32, p1: i32, U: usize): void {
  const int8 = scales != 0;
  const rowShift: u32 = int8 ? 3 : 5;
  const tapStride = <usize>Cin << rowShift;
  const panelIn = <usize>(r * r) * tapStride;
  const panelOut = <usize>Cin << 5;
  const matrixStride = <usize>(p1 - p0) * panelOut;
  for (let p = p0; p < p1; p++) {
    const sc = scales + (<usize>p << 5);
    for (let ci = 0; ci < Cin; ci++) {
      const taps = w + <usize>p * panelIn + (<usize>ci << rowShift);
      const out = U + <usize>(p - p0) * panelOut + (<usize>ci << 5);
      for (let half = 0; half < 2; half++) {
        const o = out + (<usize>half << 4);
        if (r == 3) transform3(taps, tapStride, sc, half, int8, o, matrixStride);
        else transform5(taps, tapStride, sc, half, int8, o, matrixStride);
      }
    }
  }
}

/** Four channels (half 0 or 1 of an 8-column panel row) of one tap: float32, or int8 times its column scales. */
@inline
function tap(at: usize, sc: usize, half: i32, int8: bool): v128 {
  if (!int8) return v128.load(at + (<usize>half << 4));
  const q = v128.load8x8_s(at);
  const w = half == 0 ? i32x4.extend_low_i16x8_s(q) : i32x4.extend_high_i16x8_s(q);
  return f32x4.mul(f32x4.convert_i32x4_s(w), v128.load(sc + (<usize>half << 4)));
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
function transform3(taps: usize, tapStride: usize, sc: usize, half: i32, int8: bool, o: usize, matrixStride: usize): void {
  const g0 = tap(taps, sc, half, int8), g1 = tap(taps + tapStride, sc, half, int8), g2 = tap(taps + 2 * tapStride, sc, half, int8);
  const g3 = tap(taps + 3 * tapStride, sc, half, int8), g4 = tap(taps + 4 * tapStride, sc, half, int8), g5 = tap(taps + 5 * tapStride, sc, half, int8);
  const g6 = tap(taps + 6 * tapStride, sc, half, int8), g7 = tap(taps + 7 * tapStride, sc, half, int8), g8 = tap(taps + 8 * tapStride, sc, half, int8);
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
function transform5(taps: usize, tapStride: usize, sc: usize, half: i32, int8: bool, o: usize, matrixStride: usize): void {
  const rowSkip = 6 * matrixStride;
  for (let a = 0; a < 6; a++) {
    const t0 = column5(a, taps, tapStride, sc, half, int8);
    const t1 = column5(a, taps + tapStride, tapStride, sc, half, int8);
    const t2 = column5(a, taps + 2 * tapStride, tapStride, sc, half, int8);
    const t3 = column5(a, taps + 3 * tapStride, tapStride, sc, half, int8);
    const t4 = column5(a, taps + 4 * tapStride, tapStride, sc, half, int8);
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
function column5(a: i32, at: usize, tapStride: usize, sc: usize, half: i32, int8: bool): v128 {
  const rowStride = 5 * tapStride;
  return row5(a, tap(at, sc, half, int8), tap(at + rowStride, sc, half, int8), tap(at + 2 * rowStride, sc, half, int8),
    tap(at + 3 * rowStride, sc, half, int8), tap(at + 4 * rowStride, sc, half, int8));
}
