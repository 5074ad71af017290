import type { Graph, Node } from "./ir.js";

/** For each tensor name, the nodes that read it (once per node, in graph order). */
export function consumers(graph: Graph): Map<string, Node[]> {
  const map = new Map<string, Node[]>();
  for (const node of graph.nodes) {
    for (const input of new Set(node.inputs)) {
      const list = map.get(input);
      if (list) list.push(node);
      else map.set(input, [node]);
    }
  }
  return map;
}
