import type { Graph } from "../graph/ir.js";
import { foldBatchNorm } from "./fold-batchnorm.js";
import { fuseActivation } from "./fuse-activation.js";
import { removeIdentity } from "./remove-identity.js";

/**
 * Rewrites an imported graph into the form the planner lowers: Identity
 * removed, BatchNormalization folded into convolutions, ReLU fused into GEMM
 * epilogues. Tensors named in `keep` (plus the graph outputs) stay observable.
 */
export function optimize(graph: Graph, keep: Iterable<string> = []): Graph {
  const kept = new Set([...keep, ...graph.outputs]);
  let g = removeIdentity(graph, kept);
  g = foldBatchNorm(g, kept);
  g = fuseActivation(g, kept);
  return g;
}
