import { loadPartialHi, loadPartialLo, madd, storeTile4x8 } from "../common/simd";

/**
 * Indirect GEMM micro-kernel: one tile of up to 4 output pixels x 8 output
 * channels, over one K block of `taps` kernel taps x `kc` channels:
 *
 *   C[i][j] = act(init[j] + sum_t sum_k A(i, t)[aOff/4 + k] * W[t*(kc + skip) + k][j])
 *
 * A(i, t) is row i's input pointer for kernel tap t, read from the
 * indirection buffer at `ind + i*indRowStride + t*4`; padded taps point at a
 * zero row. W is one packed 8-column panel (columns past N zero-filled),
 * streamed without index arithmetic; `wTapSkip` bytes skip the channels of
 * each tap that belong to other K blocks. `init` is the bias on the first K
 * block (accumulate false) and C itself on later ones; the activation is
 * applied on the last (relu true only there).
 *
 * Shape of the inner loop: 4x8 is the largest block V8 keeps entirely in
 * registers, and a count-down do/while with advancing pointers avoids the
 * per-iteration stack check and address recomputation of a `for` loop.
 * Rows past `mr` reuse the last valid row's pointers and are not stored.
 */
export function f32_igemm_4x8(
  mr: i32, nr: i32, kc: i32, taps: i32,
  ind: usize, indRowStride: usize, aOff: usize,
  w: usize, wTapSkip: usize, bias: usize,
  c: usize, cStride: usize,
  accumulate: bool, relu: bool,
): void {
  let c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128;
  if (accumulate) {
    // Rows past mr re-read row 0: never past the end of the output tensor.
    const r1 = mr > 1 ? c + cStride : c;
    const r2 = mr > 2 ? r1 + cStride : c;
    const r3 = mr > 3 ? r2 + cStride : c;
    c00 = loadPartialLo(c, nr); c01 = loadPartialHi(c, nr);
    c10 = loadPartialLo(r1, nr); c11 = loadPartialHi(r1, nr);
    c20 = loadPartialLo(r2, nr); c21 = loadPartialHi(r2, nr);
    c30 = loadPartialLo(r3, nr); c31 = loadPartialHi(r3, nr);
  } else {
    c00 = v128.load(bias);
    c01 = v128.load(bias, 16);
    c10 = c00; c11 = c01; c20 = c00; c21 = c01; c30 = c00; c31 = c01;
  }

  let i0 = ind;
  let i1 = mr > 1 ? i0 + indRowStride : i0;
  let i2 = mr > 2 ? i1 + indRowStride : i1;
  let i3 = mr > 3 ? i2 + indRowStride : i2;
  let b = w;
  let t = taps;
  do {
    let p0 = <usize>load<u32>(i0) + aOff;
    let p1 = <usize>load<u32>(i1) + aOff;
    let p2 = <usize>load<u32>(i2) + aOff;
    let p3 = <usize>load<u32>(i3) + aOff;
    i0 += 4; i1 += 4; i2 += 4; i3 += 4;
    let n = kc;
    do {
      const b0 = v128.load(b);
      const b1 = v128.load(b, 16);
      let x = v128.load32_splat(p0);
      c00 = madd(x, b0, c00); c01 = madd(x, b1, c01);
      x = v128.load32_splat(p1);
      c10 = madd(x, b0, c10); c11 = madd(x, b1, c11);
      x = v128.load32_splat(p2);
      c20 = madd(x, b0, c20); c21 = madd(x, b1, c21);
      x = v128.load32_splat(p3);
      c30 = madd(x, b0, c30); c31 = madd(x, b1, c31);
      p0 += 4; p1 += 4; p2 += 4; p3 += 4; b += 32;
    } while (--n);
    b += wTapSkip;
  } while (--t);

  storeTile4x8(c, cStride, mr, nr, relu, c00, c01, c10, c11, c20, c21, c30, c31);
}
