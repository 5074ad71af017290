import { ptr, word } from "../common/op";
import { scaled } from "./gemm";

/**
 * 1-D Winograd kernel transform at load (not a plan step), F(m, r):
 * U_ξ = Σ_t G[ξ][t] g_t (α matrices), straight into the packed layout the
 * 1-D Winograd kernel reads (f32-winograd1d), each a Cin x Cout matrix in
 * 8-column panels like any GEMM weight (columns past Cout zero). (2-D
 * Winograd transforms its kernels at each inference instead, from the
 * direct packing: f32-winograd/kernel-transform.ts.) In float64, rounded
 * once to float32 at the store: the transforms amplify rounding error, so
 * the kernel side adds none of its own. Every sum starts from +0 and adds its
 * nonzero terms in index order, each product and sum rounded to float64: no
 * fused multiply-add, so both builds give the same bits. Column scales (a
 * folded batchnorm's) apply to the kernel first, as in f32-packw/gemm.ts.
 * Channels go 8 at a time (a panel row: four float64 pairs, four independent
 * sums, which the add latency would otherwise bound), then 4 for a last half
 * panel. Runs on the calling thread alone.
 *
 * Op words: 1 source (an HWIO kernel: the r taps of a 1xr or rx1 kernel in
 * order, each a Cin x Cout matrix), 2 Cin, 3 Cout (a multiple of 4),
 * 4 destination (the matrices one after another, each ceil(Cout/8) * Cin * 8
 * floats), 5 G (α x r float64, row-major), 6 α, 7 r, 8 scratch
 * (64 * (r + 1) bytes), 9 column scales (Cout float64) or 0 for none.
 */
export function packwWinogradOp(op: usize): void {
  const src = ptr(op, 1);
  const Cin = word(op, 2), Cout = word(op, 3);
  const dst = ptr(op, 4);
  const G = ptr(op, 5);
  const alpha = word(op, 6), r = word(op, 7);
  const scales = ptr(op, 9);
  const panelBytes = <usize>Cin << 5;
  const panels = (Cout + 7) >> 3;
  const matrixBytes = <usize>panels * panelBytes;
  const gBuf = ptr(op, 8);
  const tapBytes = (<usize>Cin * Cout) << 2;
  for (let ci = 0; ci < Cin; ci++) {
    const row = src + ((<usize>ci * Cout) << 2);
    const rowOut = dst + (<usize>ci << 5);
    let co = 0;
    for (; co + 8 <= Cout; co += 8) {
      transformColumns(row + (<usize>co << 2), tapBytes, scales ? scales + (<usize>co << 3) : 0, G, alpha, r, gBuf, rowOut + <usize>(co >> 3) * panelBytes, matrixBytes, true);
    }
    if (co < Cout) {
      // A last half panel (Cout = 8·panels - 4): four channels, then four zero columns.
      const out = rowOut + <usize>(co >> 3) * panelBytes;
      transformColumns(row + (<usize>co << 2), tapBytes, scales ? scales + (<usize>co << 3) : 0, G, alpha, r, gBuf, out, matrixBytes, false);
      for (let m = 0; m < alpha; m++) v128.store(out + <usize>m * matrixBytes, i32x4.splat(0), 16);
    }
  }
}

/**
 * The transformed matrices' entries for 8 (`wide`) or 4 output channels of
 * one input channel, whose first tap is at `s` (taps `tapBytes` apart,
 * scales at `sc` or 0), stored from `out` in each matrix (`matrixBytes`
 * apart). `gBuf`: the channels' r taps in float64 (64 bytes each: four
 * pairs), then one sum before its rounding. `wide` is a constant at each call
 * site, so each inlined copy is specialized.
 */
@inline
function transformColumns(
  s: usize, tapBytes: usize, sc: usize, G: usize, alpha: i32, r: i32,
  gBuf: usize, out: usize, matrixBytes: usize, wide: bool,
): void {
  const sum = gBuf + (<usize>r << 6);
  const gRow = <usize>r << 3;
  for (let t = 0; t < r; t++, s += tapBytes) {
    const at = gBuf + (<usize>t << 6);
    widen(at, sc ? scaled(v128.load(s), v128.load(sc), v128.load(sc, 16)) : v128.load(s));
    if (wide) widen(at + 32, sc ? scaled(v128.load(s, 16), v128.load(sc, 32), v128.load(sc, 48)) : v128.load(s, 16));
  }
  for (let xi = 0; xi < alpha; xi++) {
    combineInto(sum, G + <usize>xi * gRow, gBuf, r, wide);
    storeRounded(out + <usize>xi * matrixBytes, sum, wide);
  }
}

/** Four floats as two float64 pairs at `at` (exact). */
@inline
function widen(at: usize, v: v128): void {
  v128.store(at, f64x2.promote_low_f32x4(v));
  v128.store(at, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)), 16);
}

/**
 * Σ_k c_k v_k over `count` float64 coefficients at `coef` and float64
 * vectors of 8 (`wide`) or 4 channels, as pairs, 64 bytes apart from
 * `vecs`: from +0, zero coefficients skipped. Into the pairs at `at`.
 */
@inline
function combineInto(at: usize, coef: usize, vecs: usize, count: i32, wide: bool): void {
  let s0 = f64x2.splat(0), s1 = f64x2.splat(0), s2 = f64x2.splat(0), s3 = f64x2.splat(0);
  for (let k = 0; k < count; k++) {
    const c = load<f64>(coef + (<usize>k << 3));
    if (c == 0) continue;
    const cv = f64x2.splat(c);
    const v = vecs + (<usize>k << 6);
    s0 = f64x2.add(s0, f64x2.mul(cv, v128.load(v)));
    s1 = f64x2.add(s1, f64x2.mul(cv, v128.load(v, 16)));
    if (wide) {
      s2 = f64x2.add(s2, f64x2.mul(cv, v128.load(v, 32)));
      s3 = f64x2.add(s3, f64x2.mul(cv, v128.load(v, 48)));
    }
  }
  v128.store(at, s0);
  v128.store(at, s1, 16);
  if (wide) {
    v128.store(at, s2, 32);
    v128.store(at, s3, 48);
  }
}

/** The float64 pairs at `at` rounded to float32 once and stored at `to` (8 or 4 floats). */
@inline
function storeRounded(to: usize, at: usize, wide: bool): void {
  v128.store(to, rounded(v128.load(at), v128.load(at, 16)));
  if (wide) v128.store(to, rounded(v128.load(at, 32), v128.load(at, 48)), 16);
}

/** Two float64 pairs rounded to four floats. */
@inline
function rounded(lo: v128, hi: v128): v128 {
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}
