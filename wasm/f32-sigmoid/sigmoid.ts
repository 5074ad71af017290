import { claimItems, itemsPerUnit, itemUnits, ptr, word } from "../common/op";

/**
 * Elementwise logistic sigmoid, y = 1 / (1 + exp(-x)), without overflow:
 * with e = exp(-|x|) (in (0, 1], never overflows), y = 1 / (1 + e) for x ≥ 0
 * and e / (1 + e) for x < 0. Large |x| give exactly 1 or a value underflowing
 * gracefully to 0; NaN stays NaN.
 * Op words: 1 pixels (whole batch), 2 C, 3 input, 4 input pixel stride (bytes),
 * 5 output, 6 output pixel stride (bytes). Threads claim the pixels in units.
 * Input and output may be the same buffer.
 */
export function sigmoidOp(op: usize): i32 {
  const P = word(op, 1), C = word(op, 2);
  const inp = ptr(op, 3), inStride = ptr(op, 4);
  const out = ptr(op, 5), outStride = ptr(op, 6);
  const per = itemsPerUnit(P);
  for (let from = claimItems(op, P); from < P; from = claimItems(op, P)) {
    const pEnd = min(P, from + per);
    for (let i = from; i < pEnd; i++) {
      const x = inp + <usize>i * inStride;
      const y = out + <usize>i * outStride;
      for (let c = 0; c < C; c++) {
        const off = <usize>c << 2;
        store<f32>(y + off, sigmoid(load<f32>(x + off)));
      }
    }
  }
  return itemUnits(P);
}

@inline
function sigmoid(v: f32): f32 {
  const e = Mathf.exp(-Mathf.abs(v));
  const r = f32(1) / (f32(1) + e);
  return v >= 0 ? r : e * r;
}
