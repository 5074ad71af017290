import { ptr, shareBegin, word } from "../common/op";

/**
 * Softmax over the last axis, max-subtracted for stability, or LogSoftmax:
 * y = x - max - log(sum(exp(x - max))), which stays finite (no log of an
 * underflowed probability) for any finite logits.
 * Op words: 1 rows, 2 cols, 3 input, 4 input row stride (bytes), 5 output,
 * 6 output row stride (bytes), 7 log (0: softmax, 1: log-softmax).
 * Threads split the rows. Input and output may be the same buffer.
 */
export function softmaxOp(op: usize, tid: i32, threads: i32): void {
  const rows = word(op, 1), cols = word(op, 2);
  const inp = ptr(op, 3), inStride = ptr(op, 4);
  const out = ptr(op, 5), outStride = ptr(op, 6);
  const log = word(op, 7) != 0;
  const rEnd = shareBegin(rows, tid + 1, threads);
  for (let r = shareBegin(rows, tid, threads); r < rEnd; r++) {
    const x = inp + <usize>r * inStride;
    const y = out + <usize>r * outStride;
    let m: f32 = -Infinity;
    for (let j = 0; j < cols; j++) m = max(m, load<f32>(x + (<usize>j << 2)));
    if (log) {
      let sum: f32 = 0;
      for (let j = 0; j < cols; j++) sum += Mathf.exp(load<f32>(x + (<usize>j << 2)) - m);
      const lse = Mathf.log(sum);
      // (x - max) first: exact-ish for huge logits, where max + log(sum) would round.
      for (let j = 0; j < cols; j++) store<f32>(y + (<usize>j << 2), (load<f32>(x + (<usize>j << 2)) - m) - lse);
      continue;
    }
    let sum: f32 = 0;
    for (let j = 0; j < cols; j++) {
      const e = Mathf.exp(load<f32>(x + (<usize>j << 2)) - m);
      store<f32>(y + (<usize>j << 2), e);
      sum += e;
    }
    const inv = f32(1) / sum;
    for (let j = 0; j < cols; j++) store<f32>(y + (<usize>j << 2), load<f32>(y + (<usize>j << 2)) * inv);
  }
}
