import { claimItems, itemsPerUnit, itemUnits, ptr, word } from "../common/op";

/**
 * Max / average pooling over NHWC tensors, 4 channels per SIMD step.
 * Op words: 1 batch, 2 H, 3 W, 4 C, 5 input, 6 input pixel stride (bytes),
 * 7 OH, 8 OW, 9 output, 10 output pixel stride (bytes), 11 kh, 12 kw, 13 sh,
 * 14 sw, 15 pad top, 16 pad left, 17 pad bottom, 18 pad right,
 * 19 count padding in the average (1) or only the valid cells (0),
 * 20 dh, 21 dw: spacing of the window cells in input pixels (dilations).
 *
 * Padded cells never contribute to a max or a sum; a dilated window whose
 * cells all fall into padding gives -inf (a max over nothing). With count-include-pad the
 * divisor follows PyTorch/ONNX: the window clipped to the padded input, so the
 * cells added by ceil-mode overhang are not counted either (averages are
 * never dilated: ONNX's AveragePool takes dilations only from opset 19).
 * Threads claim the output rows of the whole batch in units.
 */
export function poolOp(op: usize, isMax: bool): i32 {
  const B = word(op, 1), H = word(op, 2), W = word(op, 3), C = word(op, 4);
  const inp = ptr(op, 5), inStride = ptr(op, 6);
  const OH = word(op, 7), OW = word(op, 8);
  const out = ptr(op, 9), outStride = ptr(op, 10);
  const kh = word(op, 11), kw = word(op, 12), sh = word(op, 13), sw = word(op, 14);
  const pt = word(op, 15), pl = word(op, 16), pb = word(op, 17), pr = word(op, 18);
  const countPad = word(op, 19) != 0;
  const dh = word(op, 20), dw = word(op, 21);

  const rows = B * OH;
  const per = itemsPerUnit(rows);
  const C4 = C & ~3;
  const rowSkip = <usize>W * inStride * <usize>dh;
  const colSkip = inStride * <usize>dw;
  for (let from = claimItems(op, rows); from < rows; from = claimItems(op, rows)) {
    const rEnd = min(rows, from + per);
    for (let r = from; r < rEnd; r++) {
      const n = r / OH;
      const oy = r - n * OH;
      const iy0 = oy * sh - pt;
      // Cells ky with 0 <= iy0 + ky * dh < H.
      const ky0 = iy0 >= 0 ? 0 : (dh - 1 - iy0) / dh, ky1 = H > iy0 ? min(kh, (H - iy0 + dh - 1) / dh) : 0;
      const hCount = countPad ? min(iy0 + kh, H + pb) - iy0 : ky1 - ky0;
      const imgBase = inp + <usize>(n * H) * <usize>W * inStride;
      for (let ox = 0; ox < OW; ox++) {
        const ix0 = ox * sw - pl;
        const kx0 = ix0 >= 0 ? 0 : (dw - 1 - ix0) / dw, kx1 = W > ix0 ? min(kw, (W - ix0 + dw - 1) / dw) : 0;
        const wCount = countPad ? min(ix0 + kw, W + pr) - ix0 : kx1 - kx0;
        const o = out + <usize>((n * OH + oy) * OW + ox) * outStride;
        // Window cells outermost, channels innermost: every pass streams
        // contiguous channels of one input pixel into the output pixel, which
        // stays in L1. The first valid cell initializes the output.
        let rowPtr = imgBase + (<usize>(iy0 + ky0 * dh) * <usize>W + <usize>(ix0 + kx0 * dw)) * inStride;
        let first = true;
        for (let ky = ky0; ky < ky1; ky++) {
          let p = rowPtr;
          for (let kx = kx0; kx < kx1; kx++) {
            if (first) {
              memory.copy(o, p, <usize>C << 2);
              first = false;
            } else {
              let c = 0;
              for (; c < C4; c += 4) {
                const off = <usize>c << 2;
                const v = v128.load(p + off);
                const acc = v128.load(o + off);
                v128.store(o + off, isMax ? f32x4.max(acc, v) : f32x4.add(acc, v));
              }
              for (; c < C; c++) {
                const off = <usize>c << 2;
                const v = load<f32>(p + off);
                const acc = load<f32>(o + off);
                store<f32>(o + off, isMax ? max(acc, v) : acc + v);
              }
            }
            p += colSkip;
          }
          rowPtr += rowSkip;
        }
        if (first) {
          const empty: f32 = isMax ? -Infinity : 0;
          const fill = f32x4.splat(empty);
          let c = 0;
          for (; c < C4; c += 4) v128.store(o + (<usize>c << 2), fill);
          for (; c < C; c++) store<f32>(o + (<usize>c << 2), empty);
        }
        if (!isMax) {
          const scale = f32(1) / <f32>(hCount * wCount);
          const s4 = f32x4.splat(scale);
          let c = 0;
          for (; c < C4; c += 4) {
            const off = <usize>c << 2;
            v128.store(o + off, f32x4.mul(v128.load(o + off), s4));
          }
          for (; c < C; c++) store<f32>(o + (<usize>c << 2), load<f32>(o + (<usize>c << 2)) * scale);
        }
      }
    }
  }
  return itemUnits(rows);
}
