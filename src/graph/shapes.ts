/**
 * Per-sample shape inference over the IR (NHWC, no batch dimension).
 *
 * `outputShape` is the single source of truth for how each op maps shapes,
 * so importers (which need shapes while building, e.g. to resolve "same"
 * padding) and later passes agree on them.
 */

import { convDilations, convGroups, nodeAxis, poolSpan, type Graph, type Node, type Pads } from "./ir.js";

function fail(node: Node, message: string): never {
  throw new Error(`node ${node.name} (${node.op}): ${message}`);
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

/** Output length of a sliding window along one axis; the window must fit at least once. */
function windowOut(node: Node, size: number, padBefore: number, padAfter: number, k: number, stride: number): number {
  const out = Math.floor((size + padBefore + padAfter - k) / stride) + 1;
  if (out < 1) fail(node, `window ${k} does not fit an input of ${size} with padding ${padBefore}+${padAfter}`);
  return out;
}

function spatial(
  node: Node,
  input: readonly number[],
  window: readonly [number, number],
  strides: readonly [number, number],
  pads: Pads,
): [number, number] {
  if (input.length !== 3) fail(node, `expects an [H,W,C] input, got ${fmt(input)}`);
  return [
    windowOut(node, input[0], pads.top, pads.bottom, window[0], strides[0]),
    windowOut(node, input[1], pads.left, pads.right, window[1], strides[1]),
  ];
}

/** Shape of `node`'s output given its input shapes (in `node.inputs` order). Throws naming the node. */
export function outputShape(node: Node, inputs: readonly (readonly number[])[]): number[] {
  const expectedInputs = node.op === "input" ? 0 : node.op === "concat" ? -1 : 1;
  if (expectedInputs >= 0 && inputs.length !== expectedInputs) {
    fail(node, `expects ${expectedInputs} input(s), got ${inputs.length}`);
  }
  switch (node.op) {
    case "input":
      return [...node.shape];
    case "conv2d": {
      const [kh, kw, cinG, cout] = node.kernelShape;
      const [dh, dw] = convDilations(node);
      const groups = convGroups(node);
      if (![dh, dw, groups].every((v) => Number.isInteger(v) && v >= 1)) fail(node, `dilations ${dh},${dw} and groups ${groups} must be positive integers`);
      if (cout % groups !== 0) fail(node, `${cout} output channels do not split into ${groups} groups`);
      // Effective window of a dilated kernel: (k - 1) * d + 1.
      const [h, w] = spatial(node, inputs[0], [(kh - 1) * dh + 1, (kw - 1) * dw + 1], node.strides, node.pads);
      const cin = cinG * groups;
      if (inputs[0][2] !== cin) fail(node, `kernel expects ${cin} input channels${groups === 1 ? "" : ` (${groups} groups of ${cinG})`}, input is ${fmt(inputs[0])}`);
      return [h, w, cout];
    }
    case "maxpool":
    case "avgpool": {
      const [dh, dw] = node.dilations ?? [1, 1];
      if (![dh, dw].every((v) => Number.isInteger(v) && v >= 1)) fail(node, `dilations ${dh},${dw} must be positive integers`);
      if (node.op === "avgpool" && (dh !== 1 || dw !== 1)) fail(node, "an average pooling window cannot be dilated");
      const [h, w] = spatial(node, inputs[0], poolSpan(node), node.strides, node.pads);
      return [h, w, inputs[0][2]];
    }
    case "batchnorm": {
      const channels = inputs[0][inputs[0].length - 1];
      if (node.mean.length !== channels) fail(node, `has ${node.mean.length} channels, input is ${fmt(inputs[0])}`);
      return [...inputs[0]];
    }
    case "softmax":
    case "logsoftmax": {
      const axis = nodeAxis(node, inputs[0].length);
      if (!Number.isInteger(axis) || axis < 0 || axis >= inputs[0].length) fail(node, `axis ${axis} is out of range for input ${fmt(inputs[0])}`);
      return [...inputs[0]];
    }
    case "relu":
    case "sigmoid":
    case "identity":
      return [...inputs[0]];
    case "pad": {
      const input = inputs[0];
      if (input.length !== 3) fail(node, `expects an [H,W,C] input, got ${fmt(input)}`);
      const { top, left, bottom, right } = node.pads;
      if (![top, left, bottom, right].every((p) => Number.isInteger(p) && p >= 0)) fail(node, `pads ${top},${left},${bottom},${right} must be non-negative integers`);
      // A reflection mirrors about the edge pixel without repeating it: at most size - 1 pixels exist to mirror.
      if (node.mode === "reflect" && (Math.max(top, bottom) >= input[0] || Math.max(left, right) >= input[1])) {
        fail(node, `reflect pads ${top},${left},${bottom},${right} must be smaller than the input's height and width, got ${fmt(input)}`);
      }
      return [input[0] + top + bottom, input[1] + left + right, input[2]];
    }
    case "globalavgpool":
      if (inputs[0].length !== 3) fail(node, `expects an [H,W,C] input, got ${fmt(inputs[0])}`);
      return [inputs[0][2]];
    case "flatten":
      return [inputs[0].reduce((a, b) => a * b, 1)];
    case "dense": {
      const [cin, cout] = node.kernelShape;
      if (inputs[0].length !== 1 || inputs[0][0] !== cin) {
        fail(node, `kernel expects a [${cin}] input, got ${fmt(inputs[0])}`);
      }
      return [cout];
    }
    case "concat": {
      if (inputs.length < 1) fail(node, "expects at least one input");
      const first = inputs[0];
      const axis = nodeAxis(node, first.length);
      if (!Number.isInteger(axis) || axis < 0 || axis >= first.length) fail(node, `axis ${axis} is out of range for input ${fmt(first)}`);
      let joined = 0;
      for (const shape of inputs) {
        const agree = shape.length === first.length && shape.every((d, i) => i === axis || d === first[i]);
        if (!agree) {
          fail(node, `inputs must agree on all but axis ${axis}, got ${inputs.map(fmt).join(" and ")}`);
        }
        joined += shape[axis];
      }
      return first.map((d, i) => (i === axis ? joined : d));
    }
  }
}

/** Output shape of every node, keyed by node (= tensor) name. Nodes must be in topological order. */
export function inferShapes(graph: Graph): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((name) => {
      const shape = shapes.get(name);
      if (!shape) fail(node, `reads ${name}, which is not produced by an earlier node`);
      return shape;
    });
    shapes.set(node.name, outputShape(node, inputs));
  }
  return shapes;
}
