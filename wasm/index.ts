// Entry point of the kernel module. One plan step at a time, every thread runs
// the same step range; threads meet at a barrier between steps. At load, the
// host runs weight-packing steps (f32-packw) through it on its own thread.
import { OP_AFFINE, OP_AVGPOOL, OP_BYTES, OP_GAVGPOOL, OP_IGEMM, OP_MAXPOOL, OP_PACKW_DEQUANTIZE, OP_PACKW_GEMM, OP_PACKW_WINOGRAD, OP_PAD, OP_SIGMOID, OP_SOFTMAX, OP_WINOGRAD, OP_WINOGRAD1D } from "./common/op";
import { barrier } from "./common/barrier";
import { igemmOp } from "./f32-igemm/igemm";
import { poolOp } from "./f32-pool/pool";
import { gavgpoolOp } from "./f32-gavgpool/gavgpool";
import { softmaxOp } from "./f32-softmax/softmax";
import { affineOp } from "./f32-affine/affine";
import { winogradOp } from "./f32-winograd/4x4-3x3";
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
 * Runs steps [from, to) of the plan at `ops` as thread `tid` of `threads`.
 * With threads > 1, `sync` points at the barrier block (see common/barrier).
 * Returns the index of the first unknown step kind, or -1 when all ran: the
 * host turns that into an error instead of a trap.
 */
export function run(tid: i32, threads: i32, ops: usize, from: i32, to: i32, sync: usize): i32 {
  for (let i = from; i < to; i++) {
    const op = ops + <usize>i * OP_BYTES;
    const kind = load<i32>(op);
    if (kind == OP_IGEMM) igemmOp(op);
    else if (kind == OP_MAXPOOL) poolOp(op, tid, threads, true);
    else if (kind == OP_AVGPOOL) poolOp(op, tid, threads, false);
    else if (kind == OP_GAVGPOOL) gavgpoolOp(op, tid, threads);
    else if (kind == OP_SOFTMAX) softmaxOp(op, tid, threads);
    else if (kind == OP_AFFINE) affineOp(op, tid, threads);
    else if (kind == OP_WINOGRAD) winogradOp(op, tid);
    else if (kind == OP_SIGMOID) sigmoidOp(op, tid, threads);
    else if (kind == OP_WINOGRAD1D) winograd1dOp(op, tid);
    else if (kind == OP_PAD) padOp(op, tid, threads);
    else if (kind == OP_PACKW_GEMM) packwGemmOp(op);
    else if (kind == OP_PACKW_WINOGRAD) packwWinogradOp(op);
    else if (kind == OP_PACKW_DEQUANTIZE) packwDequantizeOp(op);
    else return i;
    if (threads > 1) barrier(sync, threads);
  }
  return -1;
}
