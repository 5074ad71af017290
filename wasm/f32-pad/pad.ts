import { claimItems, itemsPerUnit, itemUnits, ptr, word } from "../common/op";

/** Pad modes (word 13), as src/runtime/ops.ts numbers them. */
const MODE_CONSTANT: i32 = 0;
const MODE_REFLECT: i32 = 1;

/**
 * The input index (0..size-1) that output index `o` of an axis padded by
 * `before` copies, or -1 when constant mode fills it. Reflect mirrors about
 * the edge pixel (the planner guarantees pads < size); edge clamps.
 */
@inline
function source(o: i32, before: i32, size: i32, mode: i32): i32 {
  const i = o - before;
  if (i >= 0 && i < size) return i;
  if (mode == MODE_CONSTANT) return -1;
  if (mode == MODE_REFLECT) return i < 0 ? -i : 2 * (size - 1) - i;
  return i < 0 ? 0 : size - 1;
}

/** Copies `C` floats from `src` to `dst`, 4 per SIMD step. */
@inline
function copyPixel(dst: usize, src: usize, C: i32, C4: i32): void {
  let c = 0;
  for (; c < C4; c += 4) v128.store(dst + (<usize>c << 2), v128.load(src + (<usize>c << 2)));
  for (; c < C; c++) store<f32>(dst + (<usize>c << 2), load<f32>(src + (<usize>c << 2)));
}

/** Sets `C` floats at `dst` to the lanes of `fill`. */
@inline
function fillPixel(dst: usize, fill: v128, C: i32, C4: i32): void {
  let c = 0;
  for (; c < C4; c += 4) v128.store(dst + (<usize>c << 2), fill);
  for (; c < C; c++) store<f32>(dst + (<usize>c << 2), f32x4.extract_lane(fill, 0));
}

/**
 * Spatial padding of NHWC tensors: each output pixel is a copy of the C
 * channels of the input pixel it maps to, or (constant mode, outside the
 * input) C copies of the value.
 * Op words: 1 batch, 2 H, 3 W, 4 C, 5 input, 6 input pixel stride (bytes),
 * 7 OH, 8 OW, 9 output, 10 output pixel stride (bytes), 11 pad top,
 * 12 pad left, 13 mode (0 constant, 1 reflect, 2 edge), 14 the constant
 * value's float32 bits.
 * Threads claim the output rows of the whole batch in units.
 */
export function padOp(op: usize): i32 {
  const B = word(op, 1), H = word(op, 2), W = word(op, 3), C = word(op, 4);
  const inp = ptr(op, 5), inStride = ptr(op, 6);
  const OH = word(op, 7), OW = word(op, 8);
  const out = ptr(op, 9), outStride = ptr(op, 10);
  const pt = word(op, 11), pl = word(op, 12), mode = word(op, 13);
  const fill = f32x4.splat(reinterpret<f32>(word(op, 14)));
  const C4 = C & ~3;
  const pixelBytes = <usize>C << 2;
  // Dense rows on both sides: a row's W interior pixels are one block copy.
  const dense = inStride == pixelBytes && outStride == pixelBytes;

  const rows = B * OH;
  const per = itemsPerUnit(rows);
  for (let from = claimItems(op, rows); from < rows; from = claimItems(op, rows)) {
    const rEnd = min(rows, from + per);
    for (let r = from; r < rEnd; r++) {
      const n = r / OH;
      const oy = r - n * OH;
      const iy = source(oy, pt, H, mode);
      const o = out + <usize>r * <usize>OW * outStride;
      if (iy < 0) {
        for (let ox = 0; ox < OW; ox++) fillPixel(o + <usize>ox * outStride, fill, C, C4);
        continue;
      }
      const row = inp + <usize>(n * H + iy) * <usize>W * inStride;
      let ox = 0;
      for (; ox < pl; ox++) {
        const ix = source(ox, pl, W, mode);
        if (ix < 0) fillPixel(o + <usize>ox * outStride, fill, C, C4);
        else copyPixel(o + <usize>ox * outStride, row + <usize>ix * inStride, C, C4);
      }
      if (dense) {
        memory.copy(o + <usize>ox * outStride, row, <usize>W * pixelBytes);
        ox += W;
      } else {
        for (let ix = 0; ix < W; ix++, ox++) copyPixel(o + <usize>ox * outStride, row + <usize>ix * inStride, C, C4);
      }
      for (; ox < OW; ox++) {
        const ix = source(ox, pl, W, mode);
        if (ix < 0) fillPixel(o + <usize>ox * outStride, fill, C, C4);
        else copyPixel(o + <usize>ox * outStride, row + <usize>ix * inStride, C, C4);
      }
    }
  }
  return itemUnits(rows);
}
