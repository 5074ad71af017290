import { claim, ptr, word } from "../common/op";
import { f32_igemm_4x8 } from "./4x8-minmax-simd";

/**
 * Convolution / dense as indirect GEMM over the whole batch.
 * Op words: 1 M (output pixels), 2 N (output channels), 3 kc (input channels
 * per tap), 4 taps, 5 indirection buffer (M*taps pointers), 6 packed weights,
 * 7 bias (padded to a multiple of 8), 8 output, 9 output pixel stride (bytes),
 * 10 relu, 11 MC (rows per M block, multiple of 4), 12 M blocks, 13 N chunks,
 * 14 panels per N chunk.
 *
 * Work is cut into (M block, N chunk) units that threads claim one at a time.
 * A unit walks its panels outermost so each packed panel is reused from L1 by
 * all the 4-row tiles of the block.
 */
export function igemmOp(op: usize): void {
  const M = word(op, 1);
  const N = word(op, 2);
  const kc = word(op, 3);
  const taps = word(op, 4);
  const ind = ptr(op, 5);
  const w = ptr(op, 6);
  const bias = ptr(op, 7);
  const out = ptr(op, 8);
  const outStride = ptr(op, 9);
  const relu = word(op, 10) != 0;
  const MC = word(op, 11);
  const mBlocks = word(op, 12);
  const nChunks = word(op, 13);
  const panelsPerChunk = word(op, 14);

  const panels = (N + 7) >> 3;
  const units = mBlocks * nChunks;
  const indRow = <usize>taps << 2;
  const panelBytes = <usize>(taps * kc) << 5;
  for (let u = claim(op); u < units; u = claim(op)) {
    const mb = u / nChunks;
    const nc = u - mb * nChunks;
    const m0 = mb * MC;
    const m1 = min(m0 + MC, M);
    const p0 = nc * panelsPerChunk;
    const p1 = min(p0 + panelsPerChunk, panels);
    for (let p = p0; p < p1; p++) {
      const nr = min(8, N - (p << 3));
      const wp = w + <usize>p * panelBytes;
      const bp = bias + (<usize>p << 5);
      const cp = out + (<usize>p << 5);
      for (let m = m0; m < m1; m += 4) {
        f32_igemm_4x8(
          min(4, m1 - m), nr, kc, taps,
          ind + <usize>m * indRow, indRow,
          wp, bp,
          cp + <usize>m * outStride, outStride,
          relu,
        );
      }
    }
  }
}
