import { consumers } from "../graph/consumers.js";
import type { Graph, Node } from "../graph/ir.js";

/**
 * The shape shared by fusion passes: a node whose single input comes from a
 * producer that nothing else reads (and that is not kept observable) may
 * absorb that producer. `merge(node, producer)` returns the node replacing
 * both, named like `node` so its readers are unchanged, or null to leave the
 * pair alone.
 */
export function mergeProducers(
  graph: Graph,
  keep: ReadonlySet<string>,
  merge: (node: Node, producer: Node) => Node | null,
): Graph {
  const readers = consumers(graph);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const merged = new Map<string, Node>();
  const absorbed = new Set<string>();
  for (const node of graph.nodes) {
    if (node.inputs.length !== 1) continue;
    const producer = byName.get(node.inputs[0]!);
    if (!producer || keep.has(producer.name) || absorbed.has(producer.name) || merged.has(producer.name)) continue;
    if (readers.get(producer.name)?.length !== 1) continue;
    const replacement = merge(node, producer);
    if (!replacement) continue;
    merged.set(node.name, replacement);
    absorbed.add(producer.name);
  }
  const nodes: Node[] = [];
  for (const node of graph.nodes) {
    if (absorbed.has(node.name)) continue;
    nodes.push(merged.get(node.name) ?? node);
  }
  return { ...graph, nodes };
}
