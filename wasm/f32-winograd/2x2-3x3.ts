import { claim, ptr, word } from "../common/op";
import { f32_igemm_4x8 } from "../f32-igemm/4x8-minmax-simd";

/**
 * 3x3 stride-1 convolution by Winograd F(2x2, 3x3): each 2x2 output tile
 * comes from a 4x4 input patch, and the 9 multiplies per output become 4
 * (16 per tile), spent in 16 GEMMs over the channels:
 *
 *   V = Bᵀ d B (per tile, per input channel)   M_ξ = V_ξ · U_ξ   Y = Aᵀ M A
 *
 * U_ξ = G g Gᵀ, packed at load like any GEMM weight (16 matrices Cin x Cout,
 * 8-column panels). Work units are (output-channel chunk, block of TB
 * tiles), claimed chunk by chunk: a thread's units then share one chunk of U,
 * which stays in its L2 (all of U may not), while the block's transformed
 * inputs and products live in the thread's scratch; no image-sized Winograd
 * buffer exists. The input transform is redone per chunk, a small price next
 * to streaming U. Channels go 4 per SIMD step (the planner only picks this
 * kernel when Cin and Cout are multiples of 4).
 *
 * Op words: 1 batch, 2 H, 3 W, 4 Cin, 5 input, 6 input pixel stride, 7 OH,
 * 8 OW, 9 Cout, 10 output, 11 output pixel stride, 12 pad top, 13 pad left,
 * 14 U, 15 bias, 16 relu, 17 scratch, 18 scratch bytes per thread, 19 TB,
 * 20 zero row (at least max(Cin, 8) zero floats), 21 panels per chunk.
 */
export function winogradOp(op: usize, tid: i32): void {
  const B = word(op, 1), H = word(op, 2), W = word(op, 3), Cin = word(op, 4);
  const inp = ptr(op, 5), inStride = ptr(op, 6);
  const OH = word(op, 7), OW = word(op, 8), Cout = word(op, 9);
  const out = ptr(op, 10), outStride = ptr(op, 11);
  const pt = word(op, 12), pl = word(op, 13);
  const U = ptr(op, 14), bias = ptr(op, 15);
  const relu = word(op, 16) != 0;
  const scratchBytes = ptr(op, 18);
  const TB = word(op, 19);
  const zero = ptr(op, 20);
  const panelsPerChunk = word(op, 21);

  const tilesH = (OH + 1) >> 1, tilesW = (OW + 1) >> 1;
  const perImage = tilesH * tilesW;
  const tiles = B * perImage;
  const blocks = (tiles + TB - 1) / TB;
  const panels = (Cout + 7) >> 3;
  const chunks = (panels + panelsPerChunk - 1) / panelsPerChunk;
  const V = ptr(op, 17) + <usize>tid * scratchBytes;
  const Mb = V + (<usize>(16 * TB * Cin) << 2);
  const ind = Mb + (<usize>(16 * TB * panelsPerChunk * 8) << 2);
  const uStride = <usize>(panels * Cin) << 5;
  const vRow = <usize>Cin << 2;
  const mRow = <usize>panelsPerChunk << 5;

  for (let i = 0; i < 16 * TB; i++) store<u32>(ind + (<usize>i << 2), <u32>(V + <usize>i * vRow));

  for (let u = claim(op); u < chunks * blocks; u = claim(op)) {
    const chunk = u / blocks;
    const blk = u - chunk * blocks;
    const p0 = chunk * panelsPerChunk;
    const p1 = min(p0 + panelsPerChunk, panels);
    const c0 = p0 << 3;
    const c1 = min(Cout, p1 << 3);
    const t0 = blk * TB;
    const nt = min(TB, tiles - t0);
    for (let i = 0; i < nt; i++) {
      const tile = t0 + i;
      const n = tile / perImage;
      const r = tile - n * perImage;
      const ty = r / tilesW;
      const tx = r - ty * tilesW;
      inputTile(V + <usize>i * vRow, <usize>TB * vRow, inp, inStride, n, H, W, (ty << 1) - pt, (tx << 1) - pl, Cin, zero);
    }
    for (let xi = 0; xi < 16; xi++) {
      const a = ind + (<usize>(xi * TB) << 2);
      const m = Mb + <usize>(xi * TB) * mRow;
      for (let p = p0; p < p1; p++) {
        const w = U + <usize>xi * uStride + <usize>p * (<usize>Cin << 5);
        const nr = min(8, Cout - (p << 3));
        for (let i = 0; i < nt; i += 4) {
          f32_igemm_4x8(min(4, nt - i), nr, Cin, 1, a + (<usize>i << 2), 4, 0, w, 0, zero, m + <usize>i * mRow + (<usize>(p - p0) << 5), mRow, false, false);
        }
      }
    }
    for (let i = 0; i < nt; i++) {
      const tile = t0 + i;
      const n = tile / perImage;
      const r = tile - n * perImage;
      const ty = r / tilesW;
      const tx = r - ty * tilesW;
      outputTile(Mb + <usize>i * mRow, <usize>TB * mRow, out + (<usize>c0 << 2), outStride, n, OH, OW, ty << 1, tx << 1, c1 - c0, bias + (<usize>c0 << 2), relu);
    }
  }
}

/** V_ξ[c] = (Bᵀ d B)_ξ for one tile, all channels; ξ-th matrix row at v + ξ*xiStride. */
@inline
function inputTile(v: usize, xiStride: usize, inp: usize, inStride: usize, n: i32, H: i32, W: i32, iy0: i32, ix0: i32, C: i32, zero: usize): void {
  // Patch cell pointers, a zero row where the patch leaves the image.
  const rowBase = inp + <usize>(n * H) * <usize>W * inStride;
  let p00 = zero, p01 = zero, p02 = zero, p03 = zero, p10 = zero, p11 = zero, p12 = zero, p13 = zero;
  let p20 = zero, p21 = zero, p22 = zero, p23 = zero, p30 = zero, p31 = zero, p32 = zero, p33 = zero;
  for (let r = 0; r < 4; r++) {
    const iy = iy0 + r;
    if (iy < 0 || iy >= H) continue;
    for (let c = 0; c < 4; c++) {
      const ix = ix0 + c;
      if (ix < 0 || ix >= W) continue;
      const p = rowBase + (<usize>iy * <usize>W + <usize>ix) * inStride;
      const k = (r << 2) | c;
      if (k == 0) p00 = p; else if (k == 1) p01 = p; else if (k == 2) p02 = p; else if (k == 3) p03 = p;
      else if (k == 4) p10 = p; else if (k == 5) p11 = p; else if (k == 6) p12 = p; else if (k == 7) p13 = p;
      else if (k == 8) p20 = p; else if (k == 9) p21 = p; else if (k == 10) p22 = p; else if (k == 11) p23 = p;
      else if (k == 12) p30 = p; else if (k == 13) p31 = p; else if (k == 14) p32 = p; else p33 = p;
    }
  }
  for (let c = 0; c < C; c += 4) {
    const off = <usize>c << 2;
    const d00 = v128.load(p00 + off), d01 = v128.load(p01 + off), d02 = v128.load(p02 + off), d03 = v128.load(p03 + off);
    const d10 = v128.load(p10 + off), d11 = v128.load(p11 + off), d12 = v128.load(p12 + off), d13 = v128.load(p13 + off);
    const d20 = v128.load(p20 + off), d21 = v128.load(p21 + off), d22 = v128.load(p22 + off), d23 = v128.load(p23 + off);
    const d30 = v128.load(p30 + off), d31 = v128.load(p31 + off), d32 = v128.load(p32 + off), d33 = v128.load(p33 + off);
    // Bᵀ d: row combinations, Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
    const e00 = f32x4.sub(d00, d20), e01 = f32x4.sub(d01, d21), e02 = f32x4.sub(d02, d22), e03 = f32x4.sub(d03, d23);
    const e10 = f32x4.add(d10, d20), e11 = f32x4.add(d11, d21), e12 = f32x4.add(d12, d22), e13 = f32x4.add(d13, d23);
    const e20 = f32x4.sub(d20, d10), e21 = f32x4.sub(d21, d11), e22 = f32x4.sub(d22, d12), e23 = f32x4.sub(d23, d13);
    const e30 = f32x4.sub(d10, d30), e31 = f32x4.sub(d11, d31), e32 = f32x4.sub(d12, d32), e33 = f32x4.sub(d13, d33);
    // (Bᵀ d) B: the same combinations of columns.
    let q = v + off;
    v128.store(q, f32x4.sub(e00, e02)); q += xiStride;
    v128.store(q, f32x4.add(e01, e02)); q += xiStride;
    v128.store(q, f32x4.sub(e02, e01)); q += xiStride;
    v128.store(q, f32x4.sub(e01, e03)); q += xiStride;
    v128.store(q, f32x4.sub(e10, e12)); q += xiStride;
    v128.store(q, f32x4.add(e11, e12)); q += xiStride;
    v128.store(q, f32x4.sub(e12, e11)); q += xiStride;
    v128.store(q, f32x4.sub(e11, e13)); q += xiStride;
    v128.store(q, f32x4.sub(e20, e22)); q += xiStride;
    v128.store(q, f32x4.add(e21, e22)); q += xiStride;
    v128.store(q, f32x4.sub(e22, e21)); q += xiStride;
    v128.store(q, f32x4.sub(e21, e23)); q += xiStride;
    v128.store(q, f32x4.sub(e30, e32)); q += xiStride;
    v128.store(q, f32x4.add(e31, e32)); q += xiStride;
    v128.store(q, f32x4.sub(e32, e31)); q += xiStride;
    v128.store(q, f32x4.sub(e31, e33));
  }
}

/** Y = Aᵀ M A (2x2) + bias, ReLU, stored where inside the output; M_ξ row at m + ξ*xiStride. */
@inline
function outputTile(m: usize, xiStride: usize, out: usize, outStride: usize, n: i32, OH: i32, OW: i32, oy: i32, ox: i32, C: i32, bias: usize, relu: bool): void {
  const base = out + (<usize>(n * OH + oy) * <usize>OW + <usize>ox) * outStride;
  const right = ox + 1 < OW;
  const down = oy + 1 < OH;
  const rowSkip = <usize>OW * outStride;
  const z = f32x4.splat(0);
  for (let c = 0; c < C; c += 4) {
    const off = <usize>c << 2;
    let q = m + off;
    const m00 = v128.load(q); q += xiStride; const m01 = v128.load(q); q += xiStride;
    const m02 = v128.load(q); q += xiStride; const m03 = v128.load(q); q += xiStride;
    const m10 = v128.load(q); q += xiStride; const m11 = v128.load(q); q += xiStride;
    const m12 = v128.load(q); q += xiStride; const m13 = v128.load(q); q += xiStride;
    const m20 = v128.load(q); q += xiStride; const m21 = v128.load(q); q += xiStride;
    const m22 = v128.load(q); q += xiStride; const m23 = v128.load(q); q += xiStride;
    const m30 = v128.load(q); q += xiStride; const m31 = v128.load(q); q += xiStride;
    const m32 = v128.load(q); q += xiStride; const m33 = v128.load(q);
    // Aᵀ M: Aᵀ = [1 1 1 0; 0 1 -1 -1].
    const s00 = f32x4.add(f32x4.add(m00, m10), m20), s01 = f32x4.add(f32x4.add(m01, m11), m21);
    const s02 = f32x4.add(f32x4.add(m02, m12), m22), s03 = f32x4.add(f32x4.add(m03, m13), m23);
    const s10 = f32x4.sub(f32x4.sub(m10, m20), m30), s11 = f32x4.sub(f32x4.sub(m11, m21), m31);
    const s12 = f32x4.sub(f32x4.sub(m12, m22), m32), s13 = f32x4.sub(f32x4.sub(m13, m23), m33);
    const b = v128.load(bias + off);
    let y00 = f32x4.add(f32x4.add(f32x4.add(s00, s01), s02), b);
    let y01 = f32x4.add(f32x4.sub(f32x4.sub(s01, s02), s03), b);
    let y10 = f32x4.add(f32x4.add(f32x4.add(s10, s11), s12), b);
    let y11 = f32x4.add(f32x4.sub(f32x4.sub(s11, s12), s13), b);
    if (relu) {
      y00 = f32x4.max(y00, z); y01 = f32x4.max(y01, z);
      y10 = f32x4.max(y10, z); y11 = f32x4.max(y11, z);
    }
    const o = base + off;
    v128.store(o, y00);
    if (right) v128.store(o + outStride, y01);
    if (down) {
      v128.store(o + rowSkip, y10);
      if (right) v128.store(o + rowSkip + outStride, y11);
    }
  }
}
