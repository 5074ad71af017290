import { consumers } from "../graph/consumers.js";
import type { Graph, Node } from "../graph/ir.js";

/**
 * Moves a ReLU into the epilogue of the convolution or dense layer feeding it
 * (the GEMM kernel clamps while the tile is still in registers). Same
 * conditions as BN folding: sole reader, producer not kept. The fused node
 * takes the ReLU's name.
 */
export function fuseActivation(graph: Graph, keep: ReadonlySet<string>): Graph {
  const readers = consumers(graph);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const fused = new Map<string, Node>();
  const absorbed = new Set<string>();
  for (const node of graph.nodes) {
    if (node.op !== "relu") continue;
    const producer = byName.get(node.inputs[0]!);
    if (!producer || (producer.op !== "conv2d" && producer.op !== "dense")) continue;
    if (producer.activation !== "linear" || keep.has(producer.name)) continue;
    if (readers.get(producer.name)?.length !== 1) continue;
    fused.set(node.name, { ...producer, name: node.name, activation: "relu" });
    absorbed.add(producer.name);
  }
  const nodes: Node[] = [];
  for (const node of graph.nodes) {
    if (absorbed.has(node.name)) continue;
    nodes.push(fused.get(node.name) ?? node);
  }
  return { ...graph, nodes };
}
