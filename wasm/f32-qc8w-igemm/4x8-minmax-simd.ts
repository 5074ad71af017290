import { loadPartialHi, loadPartialLo, madd, storeTile4x8 } from "../common/simd";

/**
 * The indirect GEMM micro-kernel of f32-igemm/4x8-minmax-simd with int8
 * weights (channelwise quantized: W[k][j] = q[k][j] * scale[j]), so a model's
 * weights stay a quarter of their float32 size in wasm memory:
 *
 *   C[i][j] = act(init[j] + scale[j] * sum_t sum_k A(i, t)[aOff/4 + k] * q[t*(kc + skip) + k][j])
 *
 * Same arguments as f32_igemm_4x8, except that `w` is one packed 8-column
 * panel of int8 (8 bytes per row) and `wTapSkip` counts bytes of it, and
 * `scale` points at the panel's 8 float32 column scales. Each row of q is
 * widened to two f32x4 (sign-extending load, widen, convert: 4 extra
 * instructions next to the 8 multiply-adds); the scale is applied once, in
 * the epilogue, which makes K blocks compose: C = C + scale * partial sum.
 */
export function f32_qc8w_igemm_4x8(
  mr: i32, nr: i32, kc: i32, taps: i32,
  ind: usize, indRowStride: usize, aOff: usize,
  w: usize, wTapSkip: usize, scale: usize, bias: usize,
  c: usize, cStride: usize,
  accumulate: bool, relu: bool,
): void {
  const z = f32x4.splat(0);
  let c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;

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
      const q = v128.load8x8_s(b);
      const b0 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q));
      const b1 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q));
      let x = v128.load32_splat(p0);
      c00 = madd(x, b0, c00); c01 = madd(x, b1, c01);
      x = v128.load32_splat(p1);
      c10 = madd(x, b0, c10); c11 = madd(x, b1, c11);
      x = v128.load32_splat(p2);
      c20 = madd(x, b0, c20); c21 = madd(x, b1, c21);
      x = v128.load32_splat(p3);
      c30 = madd(x, b0, c30); c31 = madd(x, b1, c31);
      p0 += 4; p1 += 4; p2 += 4; p3 += 4; b += 8;
    } while (--n);
    b += wTapSkip;
  } while (--t);

  const s0 = v128.load(scale);
  const s1 = v128.load(scale, 16);
  let init00: v128, init01: v128, init10: v128, init11: v128, init20: v128, init21: v128, init30: v128, init31: v128;
  if (accumulate) {
    // Rows past mr re-read row 0: never past the end of the output tensor.
    const r1 = mr > 1 ? c + cStride : c;
    const r2 = mr > 2 ? r1 + cStride : c;
    const r3 = mr > 3 ? r2 + cStride : c;
    init00 = loadPartialLo(c, nr); init01 = loadPartialHi(c, nr);
    init10 = loadPartialLo(r1, nr); init11 = loadPartialHi(r1, nr);
    init20 = loadPartialLo(r2, nr); init21 = loadPartialHi(r2, nr);
    init30 = loadPartialLo(r3, nr); init31 = loadPartialHi(r3, nr);
  } else {
    init00 = v128.load(bias);
    init01 = v128.load(bias, 16);
    init10 = init00; init11 = init01; init20 = init00; init21 = init01; init30 = init00; init31 = init01;
  }
  c00 = madd(c00, s0, init00); c01 = madd(c01, s1, init01);
  c10 = madd(c10, s0, init10); c11 = madd(c11, s1, init11);
  c20 = madd(c20, s0, init20); c21 = madd(c21, s1, init21);
  c30 = madd(c30, s0, init30); c31 = madd(c31, s1, init31);

  storeTile4x8(c, cStride, mr, nr, relu, c00, c01, c10, c11, c20, c21, c30, c31);
}
