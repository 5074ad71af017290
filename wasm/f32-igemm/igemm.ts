import { claim, ptr, word } from "../common/op";
import { f32_igemm_4x8 } from "./4x8-minmax-simd";
import { f32_qc8w_igemm_4x8 } from "../f32-qc8w-igemm/4x8-minmax-simd";

/**
 * Convolution / dense as indirect GEMM over the whole batch.
 * Op words: 1 M (output pixels), 2 N (output channels), 3 cin (input channels
 * per tap), 4 taps, 5 indirection buffer (M*taps pointers), 6 packed weights,
 * 7 bias (padded to a multiple of 8), 8 output, 9 output pixel stride (bytes),
 * 10 relu, 11 MC (rows per M block, multiple of 4), 12 M blocks, 13 N chunks,
 * 14 panels per N chunk, 15 taps per K block, 16 channels per K block,
 * 17 input channel byte offset added to every row pointer (one group of a
 * grouped convolution reads its channel slice of the input), 18 column
 * scales of int8 weights (8 floats per panel, in panel order) or 0 when the
 * weights are float32 (then 6 holds float panels, else int8 panels).
 *
 * Work is cut into (M block, N chunk) units that threads claim one at a time.
 * A unit walks K blocks (whole taps, or a channel range of one tap when cin is
 * large), then panels, then 4-row tiles: the block of A stays in L2 and each
 * panel's K-block slice in L1 while every tile of the block reuses it. Partial
 * sums go through C between K blocks.
 */
export function igemmOp(op: usize): i32 {
  const M = word(op, 1);
  const N = word(op, 2);
  const cin = word(op, 3);
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
  const tapsPerBlock = word(op, 15);
  const chansPerBlock = word(op, 16);
  const chanOff = ptr(op, 17);
  const scales = ptr(op, 18);
  // Bytes per packed weight: 4 (float32) or 1 (int8).
  const wShift: u32 = scales != 0 ? 0 : 2;

  const panels = (N + 7) >> 3;
  const units = mBlocks * nChunks;
  const indRow = <usize>taps << 2;
  const panelBytes = <usize>(taps * cin) << (3 + wShift);
  const chanBlocks = (cin + chansPerBlock - 1) / chansPerBlock;
  const tapBlocks = (taps + tapsPerBlock - 1) / tapsPerBlock;
  const kBlocks = tapBlocks * chanBlocks;
  for (let u = claim(op, units); u < units; u = claim(op, units)) {
    const mb = u / nChunks;
    const nc = u - mb * nChunks;
    const m0 = mb * MC;
    const m1 = min(m0 + MC, M);
    const p0 = nc * panelsPerChunk;
    const p1 = min(p0 + panelsPerChunk, panels);
    for (let kb = 0; kb < kBlocks; kb++) {
      const tb = kb / chanBlocks;
      const t0 = tb * tapsPerBlock;
      const nt = min(tapsPerBlock, taps - t0);
      const c0 = (kb - tb * chanBlocks) * chansPerBlock;
      const kc = min(chansPerBlock, cin - c0);
      const aOff = (<usize>c0 << 2) + chanOff;
      const wOff = <usize>(t0 * cin + c0) << (3 + wShift);
      const wTapSkip = <usize>(cin - kc) << (3 + wShift);
      const first = kb == 0;
      const last = kb == kBlocks - 1;
      for (let p = p0; p < p1; p++) {
        const nr = min(8, N - (p << 3));
        const wp = w + <usize>p * panelBytes + wOff;
        const bp = bias + (<usize>p << 5);
        const cp = out + (<usize>p << 5);
        if (scales != 0) {
          const sp = scales + (<usize>p << 5);
          for (let m = m0; m < m1; m += 4) {
            f32_qc8w_igemm_4x8(
              min(4, m1 - m), nr, kc, nt,
              ind + <usize>m * indRow + (<usize>t0 << 2), indRow, aOff,
              wp, wTapSkip, sp, bp,
              cp + <usize>m * outStride, outStride,
              !first, relu && last,
            );
          }
        } else {
          for (let m = m0; m < m1; m += 4) {
            f32_igemm_4x8(
              min(4, m1 - m), nr, kc, nt,
              ind + <usize>m * indRow + (<usize>t0 << 2), indRow, aOff,
              wp, wTapSkip, bp,
              cp + <usize>m * outStride, outStride,
              !first, relu && last,
            );
          }
        }
      }
    }
  }
  return units;
}
