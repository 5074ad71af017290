import { claim, ptr, word } from "../common/op";
import { madd } from "../common/simd";
import { transformedGemms } from "../f32-winograd/gemms";
import { forgetHeldChunk } from "../f32-winograd/kernel-transform";

/**
 * 1xr and rx1 stride-1 convolutions by 1-D Winograd F(m, r) along the
 * kernel's long axis: each tile of m outputs in a row (1xr) or column (rx1)
 * comes from α = m + r - 1 input pixels, and the r multiplies per output
 * become α/m, spent in α GEMMs over the channels:
 *
 *   V = Bᵀ d (per tile, per input channel)   M_ξ = V_ξ · U_ξ   y = Aᵀ M
 *
 * U_ξ = (G g)_ξ is packed at load like any GEMM weight (α matrices Cin x
 * Cout, 8-column panels). Bᵀ (α x α) and Aᵀ (m x α) are read from memory
 * (they follow the bias), so one kernel serves every (m, r): the transforms
 * are row passes over the channels, one per nonzero coefficient, a few
 * percent of the GEMM work. Work units are (output-channel chunk, block of
 * TB tiles) as in the 2-D kernel (f32-winograd/6x6.ts), the block's V
 * and M in per-thread scratch; the planner makes one chunk of all output
 * channels unless the threads need more units (src/runtime/winograd1d.ts).
 * Channels go 4 per SIMD step (the planner only picks this kernel when Cin
 * and Cout are multiples of 4).
 *
 * Op words: 1 batch, 2 H, 3 W, 4 Cin, 5 input, 6 input pixel stride, 7 OH,
 * 8 OW, 9 Cout, 10 output, 11 output pixel stride, 12 pad top, 13 pad left,
 * 14 U, 15 bias (ceil(Cout/8)*8 floats, then Bᵀ and Aᵀ row-major), 16 relu,
 * 17 scratch, 18 bytes between the threads' scratch slices, 19 TB, 20 zero row (at least
 * max(Cin, 8) zero floats), 21 panels per chunk, 22 vertical (rx1), 23 m, 24 α,
 * 25 column scales of int8 U (8 floats per panel, matrix by matrix; U then
 * holds int8 panels, read by the f32-qc8w micro-kernel) or 0 for float32 U.
 */
export function winograd1dOp(op: usize, tid: i32): i32 {
  // Its V and M overwrite this thread's scratch, and a held 2-D chunk of U with it.
  forgetHeldChunk();
  const B = word(op, 1), H = word(op, 2), W = word(op, 3), Cin = word(op, 4);
  const inp = ptr(op, 5), inStride = ptr(op, 6);
  const OH = word(op, 7), OW = word(op, 8), Cout = word(op, 9);
  const out = ptr(op, 10), outStride = ptr(op, 11);
  const pt = word(op, 12), pl = word(op, 13);
  const U = ptr(op, 14), bias = ptr(op, 15);
  const relu = word(op, 16) != 0;
  const scratchStride = ptr(op, 18);
  const TB = word(op, 19);
  const zero = ptr(op, 20);
  const panelsPerChunk = word(op, 21);
  const vertical = word(op, 22) != 0;
  const m = word(op, 23), alpha = word(op, 24);
  const scales = ptr(op, 25);

  const panels = (Cout + 7) >> 3;
  const BT = bias + (<usize>(panels << 3) << 2);
  const AT = BT + (<usize>(alpha * alpha) << 2);
  // Tiles run along the long axis; consecutive tiles are neighbours across it for rx1.
  const tilesAlong = ((vertical ? OH : OW) + m - 1) / m;
  const perImage = tilesAlong * (vertical ? OW : OH);
  const tiles = B * perImage;
  const blocks = (tiles + TB - 1) / TB;
  const chunks = (panels + panelsPerChunk - 1) / panelsPerChunk;
  const V = ptr(op, 17) + <usize>tid * scratchStride;
  const Mb = V + (<usize>(alpha * TB * Cin) << 2);
  const ind = Mb + (<usize>(alpha * TB * panelsPerChunk * 8) << 2);
  const cells = ind + (<usize>(alpha * TB) << 2);
  const vRow = <usize>Cin << 2;
  const mRow = <usize>panelsPerChunk << 5;
  // Input pixels one step along the long axis, and output pixels likewise.
  const inStep = vertical ? <usize>W * inStride : inStride;
  const outStep = vertical ? <usize>OW * outStride : outStride;

  for (let i = 0; i < alpha * TB; i++) store<u32>(ind + (<usize>i << 2), <u32>(V + <usize>i * vRow));

  const units = chunks * blocks;
  for (let u = claim(op, units); u < units; u = claim(op, units)) {
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
      const across = vertical ? r % OW : r / tilesAlong;
      const along = (vertical ? r / OW : r % tilesAlong) * m;
      // Patch cell pointers, the zero row where the patch leaves the image.
      const iy0 = (vertical ? along : across) - pt, ix0 = (vertical ? across : along) - pl;
      const first = vertical ? iy0 : ix0;
      const extent = vertical ? H : W;
      const acrossInside = vertical ? ix0 >= 0 && ix0 < W : iy0 >= 0 && iy0 < H;
      let p = inp + (<usize>(n * H) * <usize>W + <usize>iy0 * <usize>W + <usize>ix0) * inStride;
      for (let j = 0; j < alpha; j++) {
        const inside = acrossInside && first + j >= 0 && first + j < extent;
        store<u32>(cells + (<usize>j << 2), <u32>(inside ? p : zero));
        p += inStep;
      }
      inputTile(V + <usize>i * vRow, <usize>TB * vRow, cells, BT, alpha, Cin, zero);
    }
    transformedGemms(alpha, ind, TB, Mb, mRow, U, scales, Cin, Cout, p0, p1, nt, zero);
    for (let i = 0; i < nt; i++) {
      const tile = t0 + i;
      const n = tile / perImage;
      const r = tile - n * perImage;
      const across = vertical ? r % OW : r / tilesAlong;
      const along = (vertical ? r / OW : r % tilesAlong) * m;
      const oy = vertical ? along : across, ox = vertical ? across : along;
      const valid = min(m, (vertical ? OH : OW) - along);
      let o = out + (<usize>(n * OH + oy) * <usize>OW + <usize>ox) * outStride + (<usize>c0 << 2);
      for (let k = 0; k < valid; k++) {
        outputPixel(o, Mb + <usize>i * mRow, <usize>TB * mRow, AT + (<usize>(k * alpha) << 2), alpha, c1 - c0, bias + (<usize>c0 << 2), relu);
        o += outStep;
      }
    }
  }
  return units;
}

/**
 * V_ξ = Σ_j Bᵀ[ξ][j] d_j for one tile, all C channels; ξ-th row at v + ξ*xiStride.
 * One pass over the channels per nonzero term: zero coefficients and padded
 * cells (the zero row) are skipped.
 */
@inline
function inputTile(v: usize, xiStride: usize, cells: usize, BT: usize, alpha: i32, C: i32, zero: usize): void {
  let bt = BT;
  for (let xi = 0; xi < alpha; xi++) {
    let started = false;
    for (let j = 0; j < alpha; j++) {
      const b = load<f32>(bt + (<usize>j << 2));
      const d = <usize>load<u32>(cells + (<usize>j << 2));
      if (b == 0 || d == zero) continue;
      const bs = f32x4.splat(b);
      let s = d, q = v, n = C >> 2;
      if (started) {
        do {
          v128.store(q, madd(bs, v128.load(s), v128.load(q)));
          s += 16; q += 16;
        } while (--n);
      } else {
        do {
          v128.store(q, f32x4.mul(bs, v128.load(s)));
          s += 16; q += 16;
        } while (--n);
        started = true;
      }
    }
    if (!started) memory.fill(v, 0, <usize>C << 2);
    bt += <usize>alpha << 2;
    v += xiStride;
  }
}

/** y = bias + Σ_ξ Aᵀ[k][ξ] M_ξ for one output pixel, C channels, then ReLU; M_ξ row at m + ξ*xiStride. */
@inline
function outputPixel(o: usize, m: usize, xiStride: usize, at: usize, alpha: i32, C: i32, bias: usize, relu: bool): void {
  let started = false;
  for (let xi = 0; xi < alpha; xi++) {
    const a = load<f32>(at + (<usize>xi << 2));
    if (a == 0) continue;
    const as = f32x4.splat(a);
    let s = m + <usize>xi * xiStride, q = o, n = C >> 2;
    if (started) {
      do {
        v128.store(q, madd(as, v128.load(s), v128.load(q)));
        s += 16; q += 16;
      } while (--n);
    } else {
      let b = bias;
      do {
        v128.store(q, madd(as, v128.load(s), v128.load(b)));
        s += 16; q += 16; b += 16;
      } while (--n);
      started = true;
    }
  }
  if (relu) {
    const z = f32x4.splat(0);
    let q = o, n = C >> 2;
    do {
      v128.store(q, f32x4.max(v128.load(q), z));
      q += 16;
    } while (--n);
  }
}
