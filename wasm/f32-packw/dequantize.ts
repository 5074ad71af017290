import { ptr, word } from "../common/op";

/**
 * Weight decoding at load (not a plan step): uint8 codes q to float32
 * values min + q * step, computed in float64 (the product, then the sum,
 * each rounded) and rounded once to float32, as the JavaScript decoder of
 * tfjs's uint8 quantization does. Runs on the calling thread alone.
 *
 * Op words: 1 codes, 2 count, 3 min and step (two float64), 4 destination
 * (count floats).
 */
export function packwDequantizeOp(op: usize): void {
  const codes = ptr(op, 1);
  const count = word(op, 2);
  const params = ptr(op, 3);
  const dst = ptr(op, 4);
  const min = load<f64>(params), step = load<f64>(params, 8);
  const vMin = f64x2.splat(min), vStep = f64x2.splat(step);
  let i = 0;
  for (; i + 16 <= count; i += 16) {
    const q = v128.load(codes + <usize>i);
    const lo = i16x8.extend_low_i8x16_u(q), hi = i16x8.extend_high_i8x16_u(q);
    const at = dst + (<usize>i << 2);
    v128.store(at, dequantized(i32x4.extend_low_i16x8_u(lo), vMin, vStep));
    v128.store(at, dequantized(i32x4.extend_high_i16x8_u(lo), vMin, vStep), 16);
    v128.store(at, dequantized(i32x4.extend_low_i16x8_u(hi), vMin, vStep), 32);
    v128.store(at, dequantized(i32x4.extend_high_i16x8_u(hi), vMin, vStep), 48);
  }
  for (; i < count; i++) store<f32>(dst + (<usize>i << 2), <f32>(min + <f64>load<u8>(codes + <usize>i) * step));
}

/** Four codes (0..255 in i32 lanes) to their float32 values. */
@inline
function dequantized(q: v128, vMin: v128, vStep: v128): v128 {
  // Signed conversion: the codes are small, and x86 has no unsigned one.
  const lo = f64x2.add(vMin, f64x2.mul(f64x2.convert_low_i32x4_s(q), vStep));
  const hi = f64x2.add(vMin, f64x2.mul(f64x2.convert_low_i32x4_s(v128.shuffle<u32>(q, q, 2, 3, 2, 3)), vStep));
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}
