import { ptr, word } from "../common/op";
import { loadPartialHi, loadPartialLo } from "../common/simd";

/**
 * Weight packing at load (not a plan step): a K x N row-major float32 matrix
 * into the 8-column panels the GEMM micro-kernels read (panel p holds rows
 * 0..K-1 of columns 8p..8p+7, 8 floats per row), columns past N written as
 * zeros. The source is the decoded kernel, whose rows may be wider than N
 * (one group's columns of a grouped convolution). With column scales (a
 * folded batchnorm's), column j is multiplied by scale j in float64 and
 * rounded to float32, as decoding the scaled kernel in JavaScript does;
 * without, values are copied bit for bit. Runs on the calling thread alone.
 *
 * Op words: 1 source, 2 K, 3 N, 4 source row stride (bytes), 5 destination
 * (ceil(N/8) * K * 8 floats), 6 column scales (N float64) or 0 for none.
 */
export function packwGemmOp(op: usize): void {
  const src = ptr(op, 1);
  const K = word(op, 2), N = word(op, 3);
  const stride = ptr(op, 4);
  let d = ptr(op, 5);
  const scales = ptr(op, 6);
  const full = N >> 3;
  const rest = N & 7;
  // Panel by panel, so the destination (fresh memory) is written in order.
  for (let p = 0; p < full; p++) {
    let s = src + (<usize>p << 5);
    if (scales) {
      const sc = scales + (<usize>p << 6);
      const s0 = v128.load(sc), s1 = v128.load(sc, 16), s2 = v128.load(sc, 32), s3 = v128.load(sc, 48);
      for (let k = 0; k < K; k++, s += stride, d += 32) {
        v128.store(d, scaled(v128.load(s), s0, s1));
        v128.store(d, scaled(v128.load(s, 16), s2, s3), 16);
      }
    } else {
      for (let k = 0; k < K; k++, s += stride, d += 32) {
        v128.store(d, v128.load(s));
        v128.store(d, v128.load(s, 16), 16);
      }
    }
  }
  if (rest > 0) {
    let s = src + (<usize>full << 5);
    const sc = scales + (<usize>full << 6);
    for (let k = 0; k < K; k++, s += stride, d += 32) {
      v128.store(d, loadPartialLo(s, rest));
      v128.store(d, loadPartialHi(s, rest), 16);
      // Only the columns that exist: the scales past N are not this matrix's.
      if (scales) {
        for (let j = 0; j < rest; j++) store<f32>(d + (<usize>j << 2), <f32>(<f64>load<f32>(s + (<usize>j << 2)) * load<f64>(sc + (<usize>j << 3))));
      }
    }
  }
}

/** Four floats times four float64 scales (pairs `lo`, `hi`), each product rounded to float32. */
@inline
export function scaled(v: v128, lo: v128, hi: v128): v128 {
  const a = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.promote_low_f32x4(v), lo));
  const b = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)), hi));
  return v128.shuffle<f32>(a, b, 0, 1, 4, 5);
}
