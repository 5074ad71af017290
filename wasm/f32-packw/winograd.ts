import { ptr, word } from "../common/op";
import { scaled } from "./gemm";

/**
 * Winograd kernel transform at load (not a plan step), straight into the
 * packed layout the Winograd kernels read (f32-winograd, f32-winograd1d):
 *
 *   1-D, F(m, r):      U_ξ = Σ_t G[ξ][t] g_t                    (α matrices)
 *   2-D, F(m x m, r x r): U_(α·a + b) = Σ_x G[b][x] Σ_y G[a][y] g_yx  (α² matrices)
 *
 * each a Cin x Cout matrix in 8-column panels like any GEMM weight (columns
 * past Cout zero). In float64, rounded once to float32 at the store: the
 * transforms amplify rounding error, so the kernel side adds none of its own.
 * Every sum starts from +0 and adds its nonzero terms in index order (the
 * inner sum over y first in 2-D), each product and sum rounded to float64:
 * no fused multiply-add, so both builds give the same bits. Column scales (a
 * folded batchnorm's) apply to the kernel first, as in f32-packw/gemm.ts.
 * Runs on the calling thread alone.
 *
 * Op words: 1 source (an HWIO kernel: the taps in order, each a Cin x Cout
 * matrix; r taps of a 1xr or rx1 kernel, r·r of an rxr one), 2 Cin, 3 Cout
 * (a multiple of 4), 4 destination (the matrices one after another, each
 * ceil(Cout/8) * Cin * 8 floats), 5 G (α x r float64, row-major), 6 α, 7 r,
 * 8 dimensions (1 or 2), 9 scratch (32 * (taps + r) bytes), 10 column scales
 * (Cout float64) or 0 for none.
 */
export function packwWinogradOp(op: usize): void {
  const src = ptr(op, 1);
  const Cin = word(op, 2), Cout = word(op, 3);
  const dst = ptr(op, 4);
  const G = ptr(op, 5);
  const alpha = word(op, 6), r = word(op, 7);
  const twoD = word(op, 8) == 2;
  const taps = twoD ? r * r : r;
  // Four output channels' taps in float64 (low and high pair of each), then one row of G g (2-D).
  const gBuf = ptr(op, 9);
  const tBuf = gBuf + (<usize>taps << 5);
  const tapBytes = (<usize>Cin * Cout) << 2;
  const gRow = <usize>r << 3;
  const panelBytes = <usize>Cin << 5;
  const panels = (Cout + 7) >> 3;
  const matrixBytes = <usize>panels * panelBytes;
  const matrices = twoD ? alpha * alpha : alpha;
  const scales = ptr(op, 10);
  for (let ci = 0; ci < Cin; ci++) {
    const row = src + ((<usize>ci * Cout) << 2);
    const rowOut = dst + (<usize>ci << 5);
    for (let co = 0; co < Cout; co += 4) {
      let s = row + (<usize>co << 2);
      const sLo = scales ? v128.load(scales + (<usize>co << 3)) : v128.splat<f64>(0);
      const sHi = scales ? v128.load(scales + (<usize>co << 3), 16) : v128.splat<f64>(0);
      for (let t = 0; t < taps; t++, s += tapBytes) {
        const v = scales ? scaled(v128.load(s), sLo, sHi) : v128.load(s);
        const at = gBuf + (<usize>t << 5);
        v128.store(at, f64x2.promote_low_f32x4(v));
        v128.store(at, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)), 16);
      }
      const out = rowOut + <usize>(co >> 3) * panelBytes + (<usize>(co & 7) << 2);
      if (twoD) {
        for (let a = 0; a < alpha; a++) {
          // Row a of G g: t_x = Σ_y G[a][y] g_yx.
          const ga = G + <usize>a * gRow;
          for (let x = 0; x < r; x++) combineInto(tBuf + (<usize>x << 5), ga, gBuf + (<usize>x << 5), <usize>r << 5, r);
          for (let b = 0; b < alpha; b++) v128.store(out + <usize>(a * alpha + b) * matrixBytes, combineRounded(G + <usize>b * gRow, tBuf, 32, r));
        }
      } else {
        for (let xi = 0; xi < alpha; xi++) v128.store(out + <usize>xi * matrixBytes, combineRounded(G + <usize>xi * gRow, gBuf, 32, r));
      }
    }
    // Cout = 8·panels - 4: the last panel's upper four columns are zero.
    if (Cout & 4) {
      const pad = rowOut + <usize>(panels - 1) * panelBytes + 16;
      for (let m = 0; m < matrices; m++) v128.store(pad + <usize>m * matrixBytes, i32x4.splat(0));
    }
  }
}

/**
 * Σ_k c_k v_k over `count` float64 coefficients at `coef` and float64
 * 4-vectors (low and high pair, 32 bytes each) `stride` bytes apart from
 * `vecs`: from +0, zero coefficients skipped. Into the 32 bytes at `at`.
 */
@inline
function combineInto(at: usize, coef: usize, vecs: usize, stride: usize, count: i32): void {
  let lo = f64x2.splat(0);
  let hi = f64x2.splat(0);
  for (let k = 0; k < count; k++) {
    const c = load<f64>(coef + (<usize>k << 3));
    if (c == 0) continue;
    const cv = f64x2.splat(c);
    const v = vecs + <usize>k * stride;
    lo = f64x2.add(lo, f64x2.mul(cv, v128.load(v)));
    hi = f64x2.add(hi, f64x2.mul(cv, v128.load(v, 16)));
  }
  v128.store(at, lo);
  v128.store(at, hi, 16);
}

/** The same sum rounded to float32 once: the four floats to store. */
@inline
function combineRounded(coef: usize, vecs: usize, stride: usize, count: i32): v128 {
  let lo = f64x2.splat(0);
  let hi = f64x2.splat(0);
  for (let k = 0; k < count; k++) {
    const c = load<f64>(coef + (<usize>k << 3));
    if (c == 0) continue;
    const cv = f64x2.splat(c);
    const v = vecs + <usize>k * stride;
    lo = f64x2.add(lo, f64x2.mul(cv, v128.load(v)));
    hi = f64x2.add(hi, f64x2.mul(cv, v128.load(v, 16)));
  }
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}
