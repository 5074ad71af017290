import { ptr, word } from "../common/op";
import { loadPartialHi, loadPartialLo } from "../common/simd";

/**
 * Weight packing at load (not a plan step): a K x N row-major float32 matrix
 * into the 8-column panels the GEMM micro-kernels read (panel p holds rows
 * 0..K-1 of columns 8p..8p+7, 8 floats per row), columns past N written as
 * zeros. The source is the decoded kernel, whose rows may be wider than N
 * (one group's columns of a grouped convolution). Runs on the calling thread
 * alone; values are copied bit for bit.
 *
 * Op words: 1 source, 2 K, 3 N, 4 source row stride (bytes), 5 destination
 * (ceil(N/8) * K * 8 floats).
 */
export function packwGemmOp(op: usize): void {
  const src = ptr(op, 1);
  const K = word(op, 2), N = word(op, 3);
  const stride = ptr(op, 4);
  let d = ptr(op, 5);
  const full = N >> 3;
  const rest = N & 7;
  // Panel by panel, so the destination (fresh memory) is written in order.
  for (let p = 0; p < full; p++) {
    let s = src + (<usize>p << 5);
    for (let k = 0; k < K; k++, s += stride, d += 32) {
      v128.store(d, v128.load(s));
      v128.store(d, v128.load(s, 16), 16);
    }
  }
  if (rest > 0) {
    let s = src + (<usize>full << 5);
    for (let k = 0; k < K; k++, s += stride, d += 32) {
      v128.store(d, loadPartialLo(s, rest));
      v128.store(d, loadPartialHi(s, rest), 16);
    }
  }
}
