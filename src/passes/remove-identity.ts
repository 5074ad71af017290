import type { Graph } from "../graph/ir.js";

/**
 * Drops Identity nodes (inference-time Dropout, linear Activation) by pointing
 * their readers at their input. An Identity that is itself a kept tensor (a
 * graph output, or one the caller asked to observe) stays, so its name still
 * resolves; the planner gives it its input's storage.
 */
export function removeIdentity(graph: Graph, keep: ReadonlySet<string>): Graph {
  const replace = new Map<string, string>();
  const resolve = (name: string): string => replace.get(name) ?? name;
  const nodes = [];
  for (const node of graph.nodes) {
    const inputs = node.inputs.map(resolve);
    if (node.op === "identity" && !keep.has(node.name)) {
      replace.set(node.name, inputs[0]!);
      continue;
    }
    nodes.push({ ...node, inputs });
  }
  return { ...graph, nodes, outputs: graph.outputs.map(resolve) };
}
