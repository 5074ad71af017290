import { consumers } from "../graph/consumers.js";
import type { BatchNormNode, Conv2DNode, Graph, Node } from "../graph/ir.js";

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
 * kept tensor; the folded node takes the BN's name, so readers are unchanged.
 * New weight arrays are made: the importer's arrays are never modified.
 */
export function foldBatchNorm(graph: Graph, keep: ReadonlySet<string>): Graph {
  const readers = consumers(graph);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const folded = new Map<string, Conv2DNode>();
  const absorbed = new Set<string>();
  for (const node of graph.nodes) {
    if (node.op !== "batchnorm") continue;
    const conv = byName.get(node.inputs[0]!);
    if (!conv || conv.op !== "conv2d" || keep.has(conv.name) || conv.activation !== "linear") continue;
    if (readers.get(conv.name)?.length !== 1) continue;
    const { scale, shift } = batchNormAffine(node);
    const cout = conv.kernelShape[3];
    const kernel = new Float32Array(conv.kernel.length);
    for (let i = 0; i < kernel.length; i++) kernel[i] = conv.kernel[i]! * scale[i % cout]!;
    const bias = new Float32Array(cout);
    for (let c = 0; c < cout; c++) bias[c] = (conv.bias ? conv.bias[c]! * scale[c]! : 0) + shift[c]!;
    folded.set(node.name, { ...conv, name: node.name, kernel, bias });
    absorbed.add(conv.name);
  }
  const nodes: Node[] = [];
  for (const node of graph.nodes) {
    if (absorbed.has(node.name)) continue;
    nodes.push(folded.get(node.name) ?? node);
  }
  return { ...graph, nodes };
}
