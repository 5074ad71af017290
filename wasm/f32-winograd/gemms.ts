import { f32_igemm_4x8 } from "../f32-igemm/4x8-minmax-simd";
import { f32_qc8w_igemm_4x8 } from "../f32-qc8w-igemm/4x8-minmax-simd";

/**
 * The GEMMs of one block of Winograd tiles, shared by the 2-D and 1-D
 * kernels: for each transformed matrix ξ < `matrices`,
 * M_ξ = V_ξ · U_ξ over the output-channel panels [p0, p1). V_ξ's `nt` rows
 * are read through the row pointers at `ind` + ξ·TB·4; M_ξ's rows start at
 * `Mb` + ξ·TB·mRow, `mRow` bytes apart, panel p at column (p - p0)·8. U holds
 * `matrices` matrices of Cin rows in 8-column panels: float32, or int8 when
 * `scales` points at their column scales (8 floats per panel, matrix by
 * matrix), read by the f32-qc8w micro-kernel. No bias: `zero` (at least 8
 * zero floats) stands in for it.
 */
export function transformedGemms(
  matrices: i32, ind: usize, TB: i32, Mb: usize, mRow: usize,
  U: usize, scales: usize, Cin: i32, Cout: i32, p0: i32, p1: i32, nt: i32, zero: usize,
): void {
  const panels = (Cout + 7) >> 3;
  // Bytes per packed weight: 4 (float32) or 1 (int8).
  const wShift: u32 = scales != 0 ? 0 : 2;
  const panelBytes = <usize>Cin << (3 + wShift);
  const uStride = <usize>panels * panelBytes;
  for (let xi = 0; xi < matrices; xi++) {
    const a = ind + (<usize>(xi * TB) << 2);
    const m = Mb + <usize>(xi * TB) * mRow;
    for (let p = p0; p < p1; p++) {
      const w = U + <usize>xi * uStride + <usize>p * panelBytes;
      const nr = min(8, Cout - (p << 3));
      const c = m + (<usize>(p - p0) << 5);
      if (scales != 0) {
        const s = scales + (<usize>(xi * panels + p) << 5);
        for (let i = 0; i < nt; i += 4) {
          f32_qc8w_igemm_4x8(min(4, nt - i), nr, Cin, 1, a + (<usize>i << 2), 4, 0, w, 0, s, zero, c + <usize>i * mRow, mRow, false, false);
        }
      } else {
        for (let i = 0; i < nt; i += 4) {
          f32_igemm_4x8(min(4, nt - i), nr, Cin, 1, a + (<usize>i << 2), 4, 0, w, 0, zero, c + <usize>i * mRow, mRow, false, false);
        }
      }
    }
  }
}
