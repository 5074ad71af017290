import type { Graph } from "../graph/ir.js";
import { mergeProducers } from "./merge.js";

/**
 * Moves a ReLU into the epilogue of the convolution or dense layer feeding it
 * (the GEMM kernel clamps while the tile is still in registers). Same
 * conditions as BN folding: sole reader, producer not kept. The fused node
 * takes the ReLU's name.
 */
export function fuseActivation(graph: Graph, keep: ReadonlySet<string>): Graph {
  return mergeProducers(graph, keep, (relu, producer) => {
    if (relu.op !== "relu" || (producer.op !== "conv2d" && producer.op !== "dense")) return null;
    if (producer.activation !== "linear") return null;
    return { ...producer, name: relu.name, activation: "relu" };
  });
}
