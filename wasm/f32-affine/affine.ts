import { claimItems, itemsPerUnit, itemUnits, ptr, word } from "../common/op";

/**
 * Per-channel affine map with optional ReLU: y = act(x * scale[c] + shift[c]).
 * Serves batch normalization that could not be folded into a convolution, a
 * standalone ReLU (no scale, no shift) and strided channel copies (neither,
 * no ReLU), e.g. placing a tensor into a concatenation it cannot alias.
 * Op words: 1 pixels (whole batch), 2 C, 3 input, 4 input pixel stride (bytes),
 * 5 output, 6 output pixel stride (bytes), 7 scale (0: none), 8 shift (0: none),
 * 9 relu. Scale and shift, when present, are padded to a multiple of 4.
 */
export function affineOp(op: usize): i32 {
  const P = word(op, 1), C = word(op, 2);
  const inp = ptr(op, 3), inStride = ptr(op, 4);
  const out = ptr(op, 5), outStride = ptr(op, 6);
  const scale = ptr(op, 7), shift = ptr(op, 8);
  const relu = word(op, 9) != 0;
  const C4 = C & ~3;
  const zero = f32x4.splat(0);
  const one = f32x4.splat(1);
  const per = itemsPerUnit(P);
  for (let from = claimItems(op, P); from < P; from = claimItems(op, P)) {
    const pEnd = min(P, from + per);
    for (let i = from; i < pEnd; i++) {
      const x = inp + <usize>i * inStride;
      const y = out + <usize>i * outStride;
      for (let c = 0; c < C4; c += 4) {
        const off = <usize>c << 2;
        let v = v128.load(x + off);
        v = f32x4.add(
          f32x4.mul(v, scale ? v128.load(scale + off) : one),
          shift ? v128.load(shift + off) : zero,
        );
        if (relu) v = f32x4.max(v, zero);
        v128.store(y + off, v);
      }
      for (let c = C4; c < C; c++) {
        const off = <usize>c << 2;
        let v = load<f32>(x + off);
        if (scale) v *= load<f32>(scale + off);
        if (shift) v += load<f32>(shift + off);
        if (relu) v = max(v, f32(0));
        store<f32>(y + off, v);
      }
    }
  }
  return itemUnits(P);
}
