import { claim, ptr, word } from "../common/op";
import { madd } from "../common/simd";
import { transformedGemms } from "./gemms";
import { chunkOfU } from "./kernel-transform";

/**
 * Stride-1 convolution by 2-D Winograd on 6x6 input patches (interpolation
 * points 0, ±1, ±2, ∞): F(4x4, 3x3), where each 4x4 output tile's 144
 * multiplies become 36, and F(2x2, 5x5), where a 2x2 tile's 100 become 36.
 * The two share the input transform Bᵀ and the 36 GEMMs over the channels,
 * and differ in the output transform Aᵀ (and in G, applied at load):
 *
 *   V = Bᵀ d B (per tile, per input channel)   M_ξ = V_ξ · U_ξ   Y = Aᵀ M A
 *
 * U_ξ = G g Gᵀ, 36 matrices Cin x Cout in 8-column panels like any GEMM
 * weight. Memory holds the kernel packed for a direct GEMM instead, and
 * each thread transforms the chunk of U it works on into its scratch
 * (kernel-transform.ts). Work units are (output-channel chunk, block of TB
 * tiles), claimed chunk by chunk: a thread's units then share one chunk of
 * U, transformed once per thread and chunk (once per convolution, across
 * row bands) and kept in its L2, while the
 * block's transformed inputs and products live in the thread's scratch; no
 * image-sized Winograd buffer exists. The input transform is redone per chunk, a small price next
 * to streaming U. Channels go 4 per SIMD step (the planner only picks this
 * kernel when Cin and Cout are multiples of 4).
 *
 * Both transforms are separable and run as two passes of 1-D transforms (down
 * the columns, then along the rows), in place in the scratch matrices: a
 * whole 6x6 tile of vectors would not fit in the 16 SIMD registers.
 *
 * Op words: 1 batch, 2 H, 3 W, 4 Cin, 5 input, 6 input pixel stride, 7 OH,
 * 8 OW, 9 Cout, 10 output, 11 output pixel stride, 12 pad top, 13 pad left,
 * 14 the kernel (direct GEMM panels: r·r·Cin rows of 8 floats), 15 bias, 16 relu, 17 scratch, 18 bytes between the threads' scratch slices, 19 TB,
 * 20 zero row (at least max(Cin, 8) zero floats), 21 panels per chunk,
 * 22 output tile side m (4: F(4x4, 3x3), or 2: F(2x2, 5x5)).
 * Scratch per thread: V (36 x TB x Cin floats), M (36 x TB x chunk columns),
 * the GEMM row pointers (36 x TB), one pixel of chunk columns where
 * outputs past the image edge are written and forgotten, and the chunk's U
 * (36 x Cin x chunk columns).
 */
export function winogradOp(op: usize, tid: i32): i32 {
  const B = word(op, 1), H = word(op, 2), W = word(op, 3), Cin = word(op, 4);
  const inp = ptr(op, 5), inStride = ptr(op, 6);
  const OH = word(op, 7), OW = word(op, 8), Cout = word(op, 9);
  const out = ptr(op, 10), outStride = ptr(op, 11);
  const pt = word(op, 12), pl = word(op, 13);
  const kernel = ptr(op, 14), bias = ptr(op, 15);
  const relu = word(op, 16) != 0;
  const scratchStride = ptr(op, 18);
  const TB = word(op, 19);
  const zero = ptr(op, 20);
  const panelsPerChunk = word(op, 21);
  // Output tile side: 4 (F(4x4, 3x3)) or 2 (F(2x2, 5x5)); the input patch is 6x6 either way.
  const m = word(op, 22);

  const tilesH = (OH + m - 1) / m, tilesW = (OW + m - 1) / m;
  const perImage = tilesH * tilesW;
  const tiles = B * perImage;
  const blocks = (tiles + TB - 1) / TB;
  const panels = (Cout + 7) >> 3;
  const chunks = (panels + panelsPerChunk - 1) / panelsPerChunk;
  const V = ptr(op, 17) + <usize>tid * scratchStride;
  const Mb = V + (<usize>(36 * TB * Cin) << 2);
  const ind = Mb + (<usize>(36 * TB * panelsPerChunk * 8) << 2);
  const discard = ind + (<usize>(36 * TB) << 2);
  const U = discard + (<usize>(panelsPerChunk * 8) << 2);
  const vRow = <usize>Cin << 2;
  const mRow = <usize>panelsPerChunk << 5;

  for (let i = 0; i < 36 * TB; i++) store<u32>(ind + (<usize>i << 2), <u32>(V + <usize>i * vRow));

  const units = chunks * blocks;
  for (let u = claim(op, units); u < units; u = claim(op, units)) {
    const chunk = u / blocks;
    const blk = u - chunk * blocks;
    const p0 = chunk * panelsPerChunk;
    const p1 = min(p0 + panelsPerChunk, panels);
    const c0 = p0 << 3;
    const c1 = min(Cout, p1 << 3);
    // Claims only grow, so a thread meets each chunk in one run of units.
    chunkOfU(kernel, Cin, m == 4 ? 3 : 5, p0, p1, U);
    const t0 = blk * TB;
    const nt = min(TB, tiles - t0);
    for (let i = 0; i < nt; i++) {
      const tile = t0 + i;
      const n = tile / perImage;
      const r = tile - n * perImage;
      const ty = r / tilesW;
      const tx = r - ty * tilesW;
      inputTile(V + <usize>i * vRow, <usize>TB * vRow, inp, inStride, n, H, W, ty * m - pt, tx * m - pl, Cin, zero);
    }
    transformedGemms(36, ind, TB, Mb, mRow, U, 0, Cin, c1 - c0, 0, p1 - p0, nt, zero);
    for (let i = 0; i < nt; i++) {
      const tile = t0 + i;
      const n = tile / perImage;
      const r = tile - n * perImage;
      const ty = r / tilesW;
      const tx = r - ty * tilesW;
      if (m == 4) {
        outputTile4(Mb + <usize>i * mRow, <usize>TB * mRow, out + (<usize>c0 << 2), outStride, n, OH, OW, ty << 2, tx << 2,
          c1 - c0, bias + (<usize>c0 << 2), relu, discard);
      } else {
        outputTile2(Mb + <usize>i * mRow, <usize>TB * mRow, out + (<usize>c0 << 2), outStride, n, OH, OW, ty << 1, tx << 1,
          c1 - c0, bias + (<usize>c0 << 2), relu, discard);
      }
    }
  }
  return units;
}

/**
 * One 1-D input transform, t = Bᵀ x on 4 channels, loading x_k from s_k and
 * storing t_k to d_k (all loads come first, so d may be s).
 *   Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 */
@inline
function inputTransform6(s0: usize, s1: usize, s2: usize, s3: usize, s4: usize, s5: usize,
  d0: usize, d1: usize, d2: usize, d3: usize, d4: usize, d5: usize): void {
  const x0 = v128.load(s0), x1 = v128.load(s1), x2 = v128.load(s2);
  const x3 = v128.load(s3), x4 = v128.load(s4), x5 = v128.load(s5);
  const two = f32x4.splat(2), minusTwo = f32x4.splat(-2), four = f32x4.splat(4), minusFour = f32x4.splat(-4);
  const minusFive = f32x4.splat(-5);
  // Rows 3 and 4 share x4 - x2 and differ in the sign of 2(x3 - x1).
  const even = f32x4.sub(x4, x2), odd = f32x4.sub(x3, x1);
  v128.store(d0, madd(four, x0, madd(minusFive, x2, x4)));
  v128.store(d1, madd(minusFour, f32x4.add(x1, x2), f32x4.add(x3, x4)));
  v128.store(d2, madd(four, f32x4.sub(x1, x2), f32x4.sub(x4, x3)));
  v128.store(d3, madd(two, odd, even));
  v128.store(d4, madd(minusTwo, odd, even));
  v128.store(d5, madd(four, x1, madd(minusFive, x3, x5)));
}

/** V_ξ[c] = (Bᵀ d B)_ξ for one tile, all channels; ξ-th matrix row (ξ = 6*row + column) at v + ξ*xiStride. */
@inline
function inputTile(v: usize, xiStride: usize, inp: usize, inStride: usize, n: i32, H: i32, W: i32, iy0: i32, ix0: i32, C: i32, zero: usize): void {
  const rowBase = inp + <usize>(n * H) * <usize>W * inStride;
  const bytes = <usize>C << 2;
  const rowSkip = 6 * xiStride;
  // Down each patch column: the 6 pixels (a zero row where the patch leaves the image) into V rows ξ = 6*i + j.
  for (let j = 0; j < 6; j++) {
    const ix = ix0 + j;
    const colInside = ix >= 0 && ix < W;
    let s0 = zero, s1 = zero, s2 = zero, s3 = zero, s4 = zero, s5 = zero;
    if (colInside) {
      const col = rowBase + <usize>ix * inStride;
      const rowStride = <usize>W * inStride;
      if (<u32>iy0 < <u32>H) s0 = col + <usize>iy0 * rowStride;
      if (<u32>(iy0 + 1) < <u32>H) s1 = col + <usize>(iy0 + 1) * rowStride;
      if (<u32>(iy0 + 2) < <u32>H) s2 = col + <usize>(iy0 + 2) * rowStride;
      if (<u32>(iy0 + 3) < <u32>H) s3 = col + <usize>(iy0 + 3) * rowStride;
      if (<u32>(iy0 + 4) < <u32>H) s4 = col + <usize>(iy0 + 4) * rowStride;
      if (<u32>(iy0 + 5) < <u32>H) s5 = col + <usize>(iy0 + 5) * rowStride;
    }
    const d0 = v + <usize>j * xiStride;
    for (let off: usize = 0; off < bytes; off += 16) {
      const d = d0 + off;
      inputTransform6(s0 + off, s1 + off, s2 + off, s3 + off, s4 + off, s5 + off,
        d, d + rowSkip, d + 2 * rowSkip, d + 3 * rowSkip, d + 4 * rowSkip, d + 5 * rowSkip);
    }
  }
  // Along each row of that, in place.
  for (let i = 0; i < 6; i++) {
    const r0 = v + <usize>i * rowSkip;
    for (let off: usize = 0; off < bytes; off += 16) {
      const d = r0 + off;
      inputTransform6(d, d + xiStride, d + 2 * xiStride, d + 3 * xiStride, d + 4 * xiStride, d + 5 * xiStride,
        d, d + xiStride, d + 2 * xiStride, d + 3 * xiStride, d + 4 * xiStride, d + 5 * xiStride);
    }
  }
}

/**
 * Y = Aᵀ M A (4x4) + bias, ReLU, stored where inside the output; M_ξ row at
 * m + ξ*xiStride, overwritten by the column pass. Columns past the right
 * edge go to `discard` instead of a branch per store.
 *   Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 */
@inline
function outputTile4(m: usize, xiStride: usize, out: usize, outStride: usize, n: i32, OH: i32, OW: i32, oy: i32, ox: i32,
  C: i32, bias: usize, relu: bool, discard: usize): void {
  const bytes = <usize>C << 2;
  const rowSkip = 6 * xiStride;
  const two = f32x4.splat(2), four = f32x4.splat(4), eight = f32x4.splat(8);
  // Down each column: rows 0..3 of Aᵀ M into M rows ξ = 6*r + j.
  for (let j = 0; j < 6; j++) {
    const c0 = m + <usize>j * xiStride;
    for (let off: usize = 0; off < bytes; off += 16) {
      const q = c0 + off;
      const x0 = v128.load(q), x1 = v128.load(q + rowSkip), x2 = v128.load(q + 2 * rowSkip);
      const x3 = v128.load(q + 3 * rowSkip), x4 = v128.load(q + 4 * rowSkip), x5 = v128.load(q + 5 * rowSkip);
      const sum12 = f32x4.add(x1, x2), diff12 = f32x4.sub(x1, x2);
      const sum34 = f32x4.add(x3, x4), diff34 = f32x4.sub(x3, x4);
      v128.store(q, f32x4.add(f32x4.add(x0, sum12), sum34));
      v128.store(q + rowSkip, madd(two, diff34, diff12));
      v128.store(q + 2 * rowSkip, madd(four, sum34, sum12));
      v128.store(q + 3 * rowSkip, f32x4.add(madd(eight, diff34, diff12), x5));
    }
  }
  // Along rows 0..3 (those inside the image): the output pixels.
  const z = f32x4.splat(0);
  const rows = min(4, OH - oy);
  const pixel0 = out + (<usize>(n * OH + oy) * <usize>OW + <usize>ox) * outStride;
  for (let r = 0; r < rows; r++) {
    const q0 = m + <usize>r * rowSkip;
    const pixel = pixel0 + <usize>r * <usize>OW * outStride;
    const y1 = ox + 1 < OW ? pixel + outStride : discard;
    const y2 = ox + 2 < OW ? pixel + 2 * outStride : discard;
    const y3 = ox + 3 < OW ? pixel + 3 * outStride : discard;
    for (let off: usize = 0; off < bytes; off += 16) {
      const q = q0 + off;
      const x0 = v128.load(q), x1 = v128.load(q + xiStride), x2 = v128.load(q + 2 * xiStride);
      const x3 = v128.load(q + 3 * xiStride), x4 = v128.load(q + 4 * xiStride), x5 = v128.load(q + 5 * xiStride);
      const b = v128.load(bias + off);
      const sum12 = f32x4.add(x1, x2), diff12 = f32x4.sub(x1, x2);
      const sum34 = f32x4.add(x3, x4), diff34 = f32x4.sub(x3, x4);
      let t0 = f32x4.add(f32x4.add(f32x4.add(x0, sum12), sum34), b);
      let t1 = f32x4.add(madd(two, diff34, diff12), b);
      let t2 = f32x4.add(madd(four, sum34, sum12), b);
      let t3 = f32x4.add(f32x4.add(madd(eight, diff34, diff12), x5), b);
      if (relu) {
        t0 = f32x4.max(t0, z); t1 = f32x4.max(t1, z);
        t2 = f32x4.max(t2, z); t3 = f32x4.max(t3, z);
      }
      v128.store(pixel + off, t0);
      v128.store(y1 + off, t1);
      v128.store(y2 + off, t2);
      v128.store(y3 + off, t3);
    }
  }
}

/**
 * F(2x2, 5x5)'s Y = Aᵀ M A (2x2) + bias, ReLU, stored where inside the
 * output, as outputTile4 does.
 *   Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 1]
 */
@inline
function outputTile2(m: usize, xiStride: usize, out: usize, outStride: usize, n: i32, OH: i32, OW: i32, oy: i32, ox: i32,
  C: i32, bias: usize, relu: bool, discard: usize): void {
  const bytes = <usize>C << 2;
  const rowSkip = 6 * xiStride;
  const two = f32x4.splat(2);
  // Down each column: rows 0..1 of Aᵀ M into M rows ξ = 6*r + j.
  for (let j = 0; j < 6; j++) {
    const c0 = m + <usize>j * xiStride;
    for (let off: usize = 0; off < bytes; off += 16) {
      const q = c0 + off;
      const x0 = v128.load(q), x1 = v128.load(q + rowSkip), x2 = v128.load(q + 2 * rowSkip);
      const x3 = v128.load(q + 3 * rowSkip), x4 = v128.load(q + 4 * rowSkip), x5 = v128.load(q + 5 * rowSkip);
      v128.store(q, f32x4.add(f32x4.add(x0, f32x4.add(x1, x2)), f32x4.add(x3, x4)));
      v128.store(q + rowSkip, f32x4.add(madd(two, f32x4.sub(x3, x4), f32x4.sub(x1, x2)), x5));
    }
  }
  // Along rows 0..1 (those inside the image): the output pixels.
  const z = f32x4.splat(0);
  const rows = min(2, OH - oy);
  const pixel0 = out + (<usize>(n * OH + oy) * <usize>OW + <usize>ox) * outStride;
  for (let r = 0; r < rows; r++) {
    const q0 = m + <usize>r * rowSkip;
    const pixel = pixel0 + <usize>r * <usize>OW * outStride;
    const y1 = ox + 1 < OW ? pixel + outStride : discard;
    for (let off: usize = 0; off < bytes; off += 16) {
      const q = q0 + off;
      const x0 = v128.load(q), x1 = v128.load(q + xiStride), x2 = v128.load(q + 2 * xiStride);
      const x3 = v128.load(q + 3 * xiStride), x4 = v128.load(q + 4 * xiStride), x5 = v128.load(q + 5 * xiStride);
      const b = v128.load(bias + off);
      let t0 = f32x4.add(f32x4.add(f32x4.add(x0, f32x4.add(x1, x2)), f32x4.add(x3, x4)), b);
      let t1 = f32x4.add(f32x4.add(madd(two, f32x4.sub(x3, x4), f32x4.sub(x1, x2)), x5), b);
      if (relu) {
        t0 = f32x4.max(t0, z);
        t1 = f32x4.max(t1, z);
      }
      v128.store(pixel + off, t0);
      v128.store(y1 + off, t1);
    }
  }
}
