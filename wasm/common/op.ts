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
 * Byte offset of the finished-units count in every step record, zeroed by the
 * host before each run: the step is complete when it reaches the step's unit
 * count, whichever threads did the units.
 */
export const OP_DONE: usize = 120;

/**
 * Byte offset where the caller's thread leaves the unit count of the step it
 * returns to wait for, so that it can sleep until OP_DONE reaches it.
 */
export const OP_UNITS: usize = 116;

/**
 * Units this thread finished in the step it is running. Module globals are
 * per instance, and every thread has its own instance: this is thread-local.
 */
let unitsDone: i32 = 0;

/** Starts counting the units this thread finishes (before each step). */
@inline
export function resetUnitsDone(): void {
  unitsDone = 0;
}

@inline
export function finishedUnits(): i32 {
  return unitsDone;
}

/**
 * The next unclaimed work unit of the step at `op` (≥ `total` when none is
 * left). Every unit is claimed, none is assigned: a thread that joins late or
 * gets less CPU time from the host just does fewer units. A thread claims its
 * next unit only after finishing the previous one, so its successful claims
 * count the units it finished.
 */
@inline
export function claim(op: usize, total: i32): i32 {
  const u = atomic.add<i32>(op + OP_COUNTER, 1);
  if (u < total) unitsDone++;
  return u;
}

/** Steps made of many small items (rows, pixels, channel groups) share them in this many units at most. */
const ITEM_UNITS: i32 = 64;

/** Items per claimed unit for a step of `total` items. */
@inline
export function itemsPerUnit(total: i32): i32 {
  return max(1, (total + ITEM_UNITS - 1) / ITEM_UNITS);
}

/** The unit count of a step of `total` items (what its kernel returns). */
@inline
export function itemUnits(total: i32): i32 {
  const per = itemsPerUnit(total);
  return (total + per - 1) / per;
}

/**
 * Claims the next unit of a step of `total` items: its first item, or
 * `total` when none is left. The unit runs to that item + itemsPerUnit(total).
 */
@inline
export function claimItems(op: usize, total: i32): i32 {
  const units = itemUnits(total);
  const u = claim(op, units);
  return u < units ? u * itemsPerUnit(total) : total;
}
