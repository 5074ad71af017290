// Multiply-add used by every kernel. The relaxed build lowers it to one fused
// multiply-add (vfmadd231ps on x86); the plain build must stay within SIMD128.
// ASC_FEATURE_RELAXED_SIMD is a compile-time constant, so the untaken branch
// is removed and each build carries exactly one instruction sequence.
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Stores the first `n` (0..8) lanes of the 8-lane row (lo, hi) at `p`. */
@inline
export function storePartial8(p: usize, lo: v128, hi: v128, n: i32): void {
  if (n >= 4) {
    v128.store(p, lo);
    p += 16;
    n -= 4;
    lo = hi;
  }
  if (n > 0) store<f32>(p, f32x4.extract_lane(lo, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(lo, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(lo, 2), 8);
}

/** Lanes 0..3 of an 8-lane row of which the first `n` (1..8) floats at `p` exist (the rest read as 0). */
@inline
export function loadPartialLo(p: usize, n: i32): v128 {
  if (n >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Lanes 4..7 of such a row. */
@inline
export function loadPartialHi(p: usize, n: i32): v128 {
  return n > 4 ? loadPartialLo(p + 16, n - 4) : f32x4.splat(0);
}
