// Every plan step is a fixed-size record of 32-bit words written by the
// TypeScript planner (src/runtime/ops.ts mirrors this layout). Word 0 is the
// kind; the meaning of the other words is documented per kernel family.
export const OP_BYTES: usize = 128;

export const OP_IGEMM: i32 = 1;
export const OP_MAXPOOL: i32 = 2;
export const OP_AVGPOOL: i32 = 3;
export const OP_GAVGPOOL: i32 = 4;
export const OP_SOFTMAX: i32 = 5;
export const OP_AFFINE: i32 = 6;
export const OP_WINOGRAD: i32 = 7;
export const OP_SIGMOID: i32 = 8;
export const OP_WINOGRAD1D: i32 = 9;
export const OP_PAD: i32 = 10;
export const OP_PACKW_GEMM: i32 = 11;
export const OP_PACKW_WINOGRAD: i32 = 12;
export const OP_PACKW_DEQUANTIZE: i32 = 13;

@inline
export function word(op: usize, i: i32): i32 {
  return load<i32>(op + (<usize>i << 2));
}

@inline
export function ptr(op: usize, i: i32): usize {
  return <usize>load<u32>(op + (<usize>i << 2));
}

/**
 * Byte offset of the work counter in every step record: the host zeroes it
 * before each run, and threads claim work units from it one at a time.
 */
export const OP_COUNTER: usize = 124;

/**
 * The next unclaimed work unit of the step at `op` (≥ `total` when none is
 * left). Claiming instead of a fixed split keeps both threads busy to the end
 * of a step even when the host gives one of them less CPU time.
 */
@inline
export function claim(op: usize): i32 {
  return atomic.add<i32>(op + OP_COUNTER, 1);
}

/** Contiguous share [begin, end) of `total` work units for thread `tid` of `threads`. */
@inline
export function shareBegin(total: i32, tid: i32, threads: i32): i32 {
  return <i32>((<i64>total * tid) / threads);
}
