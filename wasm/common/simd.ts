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

/**
 * The epilogue of the 4x8 micro-kernels: ReLU when asked, then the tile's
 * first `mr` rows of `nr` columns stored (rows `cStride` bytes apart).
 */
@inline
export function storeTile4x8(
  c: usize, cStride: usize, mr: i32, nr: i32, relu: bool,
  c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128,
): void {
  if (relu) {
    const z = f32x4.splat(0);
    c00 = f32x4.max(c00, z); c01 = f32x4.max(c01, z);
    c10 = f32x4.max(c10, z); c11 = f32x4.max(c11, z);
    c20 = f32x4.max(c20, z); c21 = f32x4.max(c21, z);
    c30 = f32x4.max(c30, z); c31 = f32x4.max(c31, z);
  }
  if (nr == 8) {
    v128.store(c, c00); v128.store(c, c01, 16);
    if (mr > 1) { c += cStride; v128.store(c, c10); v128.store(c, c11, 16); }
    if (mr > 2) { c += cStride; v128.store(c, c20); v128.store(c, c21, 16); }
    if (mr > 3) { c += cStride; v128.store(c, c30); v128.store(c, c31, 16); }
  } else {
    storePartial8(c, c00, c01, nr);
    if (mr > 1) { c += cStride; storePartial8(c, c10, c11, nr); }
    if (mr > 2) { c += cStride; storePartial8(c, c20, c21, nr); }
    if (mr > 3) { c += cStride; storePartial8(c, c30, c31, nr); }
  }
}
