import { scaledWeights, type BatchNormNode, type Graph } from "../graph/ir.js";
import { mergeProducers } from "./merge.js";

/** Per-channel scale and shift equivalent to a BatchNormalization at inference. */
export function batchNormAffine(bn: BatchNormNode): { scale: Float32Array; shift: Float32Array } {
  const C = bn.mean.length;
  const scale = new Float32Array(C);
  const shift = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    // In float64, so folding adds no rounding beyond the final f32 store.
    const s = (bn.gamma ? bn.gamma[c]! : 1) / Math.sqrt(bn.variance[c]! + bn.epsilon);
    scale[c] = s;
    shift[c] = (bn.beta ? bn.beta[c]! : 0) - bn.mean[c]! * s;
  }
  return { scale, shift };
}

/**
 * Folds a BatchNormalization into the convolution that feeds it:
 * W'[..., co] = W[..., co] * s[co], b'[co] = b[co] * s[co] + shift[co].
 * Only when the convolution's output is read by that BN alone and is not a
 * kept tensor, and before any activation. The folded node takes the BN's
 * name. Its kernel is scaled when read (at packing, one layer at a time), so
 * folding allocates no kernel-sized array; the importer's are never modified.
 */
export function foldBatchNorm(graph: Graph, keep: ReadonlySet<string>): Graph {
  return mergeProducers(graph, keep, (bn, conv) => {
    if (bn.op !== "batchnorm" || conv.op !== "conv2d" || conv.activation !== "linear") return null;
    const { scale, shift } = batchNormAffine(bn);
    const cout = conv.kernelShape[3];
    const kernel = scaledWeights(conv.kernel, scale, cout);
    const bias = new Float32Array(cout);
    for (let c = 0; c < cout; c++) bias[c] = (conv.bias ? conv.bias[c]! * scale[c]! : 0) + shift[c]!;
    return { ...conv, name: bn.name, kernel, bias };
  });
}
