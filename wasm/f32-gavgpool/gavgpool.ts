import { claimItems, itemsPerUnit, itemUnits, ptr, word } from "../common/op";

/**
 * Global average pooling: [B, P pixels, C] -> [B, C].
 * Op words: 1 batch, 2 pixels per image, 3 C, 4 input, 5 input pixel stride
 * (bytes), 6 output, 7 output row stride (bytes, per sample).
 * Threads claim units of 4-channel groups (every sample), so each unit
 * streams its own channel slice.
 */
export function gavgpoolOp(op: usize): i32 {
  const B = word(op, 1), P = word(op, 2), C = word(op, 3);
  const inp = ptr(op, 4), inStride = ptr(op, 5);
  const out = ptr(op, 6), outStride = ptr(op, 7);
  const groups = (C + 3) >> 2;
  const per = itemsPerUnit(groups);
  const scale = f32(1) / <f32>P;
  for (let from = claimItems(op, groups); from < groups; from = claimItems(op, groups)) {
    const g1 = min(groups, from + per);
    for (let n = 0; n < B; n++) {
      const img = inp + <usize>(n * P) * inStride;
      const o = out + <usize>n * outStride;
      for (let g = from; g < g1; g++) {
        const c = g << 2;
        if (c + 4 <= C) {
          let acc = f32x4.splat(0);
          let p = img + (<usize>c << 2);
          for (let i = 0; i < P; i++) {
            acc = f32x4.add(acc, v128.load(p));
            p += inStride;
          }
          v128.store(o + (<usize>c << 2), f32x4.mul(acc, f32x4.splat(scale)));
        } else {
          for (let cc = c; cc < C; cc++) {
            let acc: f32 = 0;
            let p = img + (<usize>cc << 2);
            for (let i = 0; i < P; i++) {
              acc += load<f32>(p);
              p += inStride;
            }
            store<f32>(o + (<usize>cc << 2), acc * scale);
          }
        }
      }
    }
  }
  return itemUnits(groups);
}
