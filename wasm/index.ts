// Entry point of the kernel module. One plan step at a time; any number of
// threads run the same step range, claiming each step's work units, and a step
// starts only once every unit of the previous one is done. At load, the host
// runs weight-packing steps (f32-packw) through it on its own thread.
import { OP_AFFINE, OP_AVGPOOL, OP_BYTES, OP_DONE, OP_GAVGPOOL, OP_IGEMM, OP_MAXPOOL, OP_PACKW_DEQUANTIZE, OP_PACKW_GEMM, OP_PACKW_WINOGRAD, OP_PAD, OP_SIGMOID, OP_SOFTMAX, OP_UNITS, OP_WINOGRAD, OP_WINOGRAD1D, finishedUnits, resetUnitsDone } from "./common/op";
import { igemmOp } from "./f32-igemm/igemm";
import { poolOp } from "./f32-pool/pool";
import { gavgpoolOp } from "./f32-gavgpool/gavgpool";
import { softmaxOp } from "./f32-softmax/softmax";
import { affineOp } from "./f32-affine/affine";
import { winogradOp } from "./f32-winograd/6x6";
import { forgetHeldChunk } from "./f32-winograd/kernel-transform";
import { sigmoidOp } from "./f32-sigmoid/sigmoid";
import { winograd1dOp } from "./f32-winograd1d/winograd1d";
import { padOp } from "./f32-pad/pad";
import { packwDequantizeOp } from "./f32-packw/dequantize";
import { packwGemmOp } from "./f32-packw/gemm";
import { packwWinogradOp } from "./f32-packw/winograd";

/** First byte the host may use: everything below belongs to this module's static data. */
export function heapBase(): usize {
  return __heap_base;
}

/**
 * Runs steps [from, to) of the plan at `ops` as thread `tid` (its scratch
 * slice). Threads claim a step's units until none is left, then wait until
 * all of them are done, by whichever threads: a thread may join a run late or
 * leave between steps without anyone waiting for it.
 *
 * Waiting spins `spins` times first: a sleeping vCPU takes ~100 µs to wake on
 * the target machines, longer than most gaps between steps. Then a worker
 * (`block`) sleeps in memory.atomic.wait, while the caller's thread, which
 * must never block, returns the index of the step it waits for (leaving the
 * step's unit count at OP_UNITS) and comes back once the step is done.
 *
 * Returns `to` when every step is done, the step still in progress (only
 * without `block`), or -1 - i for an unknown step kind at step i: the host
 * turns that into an error instead of a trap.
 */
export function run(tid: i32, ops: usize, from: i32, to: i32, spins: i32, block: bool): i32 {
  // A run from step 0 starts an inference, maybe of a plan placed where another was: scratch
  // kept from before is not trusted. The caller's thread comes back mid-plan (from > 0) to the
  // same plan, its scratch untouched meanwhile (every thread has its own slice).
  if (from == 0) forgetHeldChunk();
  for (let i = from; i < to; i++) {
    const op = ops + <usize>i * OP_BYTES;
    resetUnitsDone();
    const units = runStep(op, tid);
    if (units < 0) return -1 - i;
    const mine = finishedUnits();
    const done = atomic.add<i32>(op + OP_DONE, mine) + mine;
    if (done == units) atomic.notify(op + OP_DONE);
    else if (!awaitStep(op + OP_DONE, units, spins, block)) {
      store<i32>(op + OP_UNITS, units);
      return i;
    }
  }
  return to;
}

/** Claims and runs units of the step at `op`; returns its unit count (0: nothing shared), or -1 for an unknown kind. */
function runStep(op: usize, tid: i32): i32 {
  const kind = load<i32>(op);
  if (kind == OP_IGEMM) return igemmOp(op);
  if (kind == OP_MAXPOOL) return poolOp(op, true);
  if (kind == OP_AVGPOOL) return poolOp(op, false);
  if (kind == OP_GAVGPOOL) return gavgpoolOp(op);
  if (kind == OP_SOFTMAX) return softmaxOp(op);
  if (kind == OP_AFFINE) return affineOp(op);
  if (kind == OP_WINOGRAD) return winogradOp(op, tid);
  if (kind == OP_SIGMOID) return sigmoidOp(op);
  if (kind == OP_WINOGRAD1D) return winograd1dOp(op, tid);
  if (kind == OP_PAD) return padOp(op);
  // Packing steps run whole on the one thread that packs, at load: no units to share.
  if (kind == OP_PACKW_GEMM) packwGemmOp(op);
  else if (kind == OP_PACKW_WINOGRAD) packwWinogradOp(op);
  else if (kind == OP_PACKW_DEQUANTIZE) packwDequantizeOp(op);
  else return -1;
  return 0;
}

/** Waits until the finished-units count at `done` reaches `units`; false when it gave up without `block`. */
function awaitStep(done: usize, units: i32, spins: i32, block: bool): bool {
  for (let s = 0; s < spins; s++) {
    if (atomic.load<i32>(done) == units) return true;
  }
  if (!block) return false;
  for (let d = atomic.load<i32>(done); d != units; d = atomic.load<i32>(done)) atomic.wait<i32>(done, d, -1);
  return true;
}
