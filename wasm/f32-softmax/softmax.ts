import { claimItems, itemsPerUnit, itemUnits, ptr, word } from "../common/op";

/**
 * Softmax over one axis, max-subtracted for stability, or LogSoftmax:
 * y = x - max - log(sum(exp(x - max))), which stays finite (no log of an
 * underflowed probability) for any finite logits.
 * Op words: 1 row blocks, 2 cols, 3 input, 4 input block stride (bytes),
 * 5 output, 6 output block stride (bytes), 7 log (0: softmax, 1: log-softmax),
 * 8 inner: rows per block, interleaved (row i of a block starts i floats in
 * and its values are `inner` floats apart). Over channels inner is 1 and a
 * block is one pixel's row; over another axis of a [outer, cols, inner]
 * tensor there are `outer` blocks of `inner` rows.
 * Threads claim the rows in units. Input and output may be the same buffer.
 */
export function softmaxOp(op: usize): i32 {
  const blocks = word(op, 1), cols = word(op, 2);
  const inp = ptr(op, 3), inStride = ptr(op, 4);
  const out = ptr(op, 5), outStride = ptr(op, 6);
  const log = word(op, 7) != 0;
  const inner = word(op, 8);
  const step = <usize>inner << 2;
  const rows = blocks * inner;
  const per = itemsPerUnit(rows);
  for (let from = claimItems(op, rows); from < rows; from = claimItems(op, rows)) {
    const rEnd = min(rows, from + per);
    for (let r = from; r < rEnd; r++) {
      const block = r / inner;
      const lane = <usize>(r - block * inner) << 2;
      const x = inp + <usize>block * inStride + lane;
      const y = out + <usize>block * outStride + lane;
      let m: f32 = -Infinity;
      for (let j = 0; j < cols; j++) m = max(m, load<f32>(x + <usize>j * step));
      if (log) {
        let sum: f32 = 0;
        for (let j = 0; j < cols; j++) sum += Mathf.exp(load<f32>(x + <usize>j * step) - m);
        const lse = Mathf.log(sum);
        // (x - max) first: exact-ish for huge logits, where max + log(sum) would round.
        for (let j = 0; j < cols; j++) store<f32>(y + <usize>j * step, (load<f32>(x + <usize>j * step) - m) - lse);
        continue;
      }
      let sum: f32 = 0;
      for (let j = 0; j < cols; j++) {
        const e = Mathf.exp(load<f32>(x + <usize>j * step) - m);
        store<f32>(y + <usize>j * step, e);
        sum += e;
      }
      const inv = f32(1) / sum;
      for (let j = 0; j < cols; j++) store<f32>(y + <usize>j * step, load<f32>(y + <usize>j * step) * inv);
    }
  }
  return itemUnits(rows);
}
