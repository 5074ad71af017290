/**
 * ONNX importer: a parsed ONNX model (model.ts) → our NHWC graph IR.
 *
 * Meant for the Inception v3 exports users bring: torchvision's (PyTorch's
 * exporter, NCHW throughout, optionally with the transform_input prologue)
 * and tf2onnx's of Keras InceptionV3 (an NHWC graph input transposed to NCHW
 * first). Only the part of the graph that the outputs depend on is converted,
 * so an auxiliary head or other dangling branches do not matter.
 *
 * Constants are folded at import time (shape arithmetic, weight
 * preprocessing); activations are tracked as views of IR tensors (values.ts),
 * so layout changes cost nothing unless an op needs another layout. Op by op
 * conversion is in ops.ts. Errors name the node (its name, or #index→output
 * for unnamed ones) and its op type; unsupported ops are all listed at once.
 *
 * IR node names are the ONNX tensor names they compute, and every graph
 * output keeps its ONNX name. Image outputs come out NHWC like every IR
 * tensor.
 */

import type { Graph, GraphMetadata, Node, Normalization } from "../../graph/ir.js";
import { Importer, NodeContext } from "./builder.js";
import type { OnnxModel, OnnxNode, OnnxValueInfo } from "./model.js";
import { OPS } from "./ops.js";
import { flatAct, imageAct, spatialAct, type Act } from "./values.js";

export interface ImportOnnxOptions {
  /** Names the model in metadata and error messages. */
  source: string;
  /** Class labels in output index order. */
  labels?: string[];
  /** Overrides the normalization the importer infers (see importOnnx). */
  normalization?: Normalization;
}

function nodeLabel(node: OnnxNode, index: number): string {
  const name = node.name !== "" ? node.name : `#${index}→${node.outputs[0] ?? ""}`;
  return `${name} (${node.domain !== "" ? `${node.domain}:` : ""}${node.opType})`;
}

function fmtShape(shape: OnnxValueInfo["shape"]): string {
  return shape === null ? "unknown" : `[${shape.map((d) => d ?? "?").join(",")}]`;
}

/** The converted nodes in topological order (inputs before readers), checking that every read tensor exists. */
function reachableNodes(model: OnnxModel, producer: ReadonlyMap<string, number>, fail: (message: string) => never): number[] {
  const { nodes } = model;
  const inputs = new Set(model.inputs.map((v) => v.name));
  // 0: not visited, 1: on the current path, 2: done. Iterative: a hostile file may chain
  // more nodes than the call stack has frames.
  const state = new Uint8Array(nodes.length);
  const order: number[] = [];
  for (const output of model.outputs) {
    const root = producer.get(output.name);
    if (root === undefined || state[root] !== 0) continue;
    const stack: { node: number; next: number }[] = [{ node: root, next: 0 }];
    state[root] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const node = nodes[top.node];
      if (top.next === node.inputs.length) {
        state[top.node] = 2;
        order.push(top.node);
        stack.pop();
        continue;
      }
      const name = node.inputs[top.next++];
      if (name === "") continue;
      const p = producer.get(name);
      if (p === undefined) {
        if (!inputs.has(name) && !model.initializers.has(name)) {
          fail(`node ${nodeLabel(node, top.node)}: reads '${name}', which no node, graph input or initializer provides`);
        }
      } else if (state[p] === 1) {
        const cycle = stack.slice(stack.findIndex((s) => s.node === p)).map((s) => nodeLabel(nodes[s.node], s.node));
        fail(`the graph has a cycle: ${[...cycle, cycle[0]].join(" → ")}`);
      } else if (state[p] === 0) {
        state[p] = 1;
        stack.push({ node: p, next: 0 });
      }
    }
  }
  return order;
}

/**
 * The IR input node for a graph input and its view: [N,C,H,W] → [H,W,C];
 * [N,H,W,C] when every reader transposes it to NCHW (tf2onnx), which the
 * view then cancels; [N,C,L] → [1,L,C] (1-D data as one image row);
 * [N,K] → [K]; [N] → [1]. The batch dim may be symbolic, the others must be
 * static.
 */
function inputValue(info: OnnxValueInfo, nhwc: boolean, fail: (message: string) => never): { node: Node; act: Act } {
  const what = `graph input '${info.name}'`;
  if (info.elemType !== "float32") fail(`${what} has element type ${info.elemType}; only float32 inputs are supported`);
  const shape = info.shape;
  const expected = "an image [N,C,H,W] ([N,H,W,C] when a Transpose to NCHW follows), 1-D data [N,C,L], a flat [N,K] or [N] (3-D and higher spatial data are not supported: the IR is 2-D)";
  if (shape === null || shape.length < 1 || shape.length > 4) fail(`${what} has shape ${fmtShape(shape)}; expected ${expected}`);
  const sample = shape.slice(1);
  if (!sample.every((d): d is number => typeof d === "number" && d >= 1)) {
    const which = ["", "K", "C and L", nhwc ? "H, W and C" : "C, H and W"][sample.length];
    fail(`${what} has shape ${fmtShape(shape)}: ${which} must be static (only the batch dim may be symbolic)`);
  }
  // Far beyond any image model, and beyond what wasm memory holds: refused before anything of that size is made.
  if (sample.reduce((a, b) => a * b, 1) > 2 ** 28) fail(`${what} has shape ${fmtShape(shape)}, more than 2^28 values per sample`);
  const input = (irShape: number[]): Node => ({ op: "input", name: info.name, inputs: [], shape: irShape });
  switch (sample.length) {
    case 0:
      return { node: input([1]), act: { ...flatAct(info.name, info.name, 1), dims: [], axes: [] } };
    case 1:
      return { node: input(sample), act: flatAct(info.name, info.name, sample[0]) };
    case 2: {
      const [c, l] = sample;
      return { node: input([1, l, c]), act: spatialAct(info.name, info.name, [1, l, c], [1]) };
    }
  }
  const [a, b, c] = sample;
  const irShape = nhwc ? [a, b, c] : [b, c, a];
  const act: Act = nhwc
    ? { ...imageAct(info.name, info.name, irShape), dims: [a, b, c], axes: [a > 1 ? 0 : null, b > 1 ? 1 : null, c > 1 ? 2 : null] }
    : imageAct(info.name, info.name, irShape);
  return { node: input(irShape), act };
}

/**
 * Nodes that every path from the inputs to `output` goes through, in order
 * (cut vertices of the DAG): with nodes in topological order, a node is one
 * exactly when no edge jumps over its position.
 */
function cutNodes(nodes: readonly Node[], output: string): Node[] {
  const position = new Map(nodes.map((n, i) => [n.name, i]));
  const relevant = new Set<string>([output]);
  for (let i = nodes.length - 1; i >= 0; i--) {
    if (relevant.has(nodes[i].name)) for (const input of nodes[i].inputs) relevant.add(input);
  }
  const cover = new Int32Array(nodes.length + 1);
  const jump = (from: number, to: number) => {
    if (to - from > 1) {
      cover[from + 1]++;
      cover[to]--;
    }
  };
  nodes.forEach((node, i) => {
    if (!relevant.has(node.name)) return;
    // Inputs hang off one virtual source before position 0.
    if (node.op === "input") jump(-1, i);
    for (const input of node.inputs) jump(position.get(input)!, i);
  });
  const cuts: Node[] = [];
  let covered = 0;
  nodes.forEach((node, i) => {
    covered += cover[i];
    if (covered === 0 && relevant.has(node.name)) cuts.push(node);
  });
  return cuts;
}

/**
 * stem, mixed0…mixedN, head: the concatenations every path to the output
 * goes through end Inception's mixed blocks (the concatenations inside
 * mixed9/mixed10's branches do not qualify), and the stem ends at the last
 * such node before the first of them. Just head when there is no such concat.
 */
function inceptionBlocks(nodes: readonly Node[], output: string): NonNullable<GraphMetadata["blocks"]> {
  const head = { name: "head", tensor: output };
  const cuts = cutNodes(nodes, output);
  const mixed = cuts.filter((n) => n.op === "concat" && n.name !== output);
  if (mixed.length === 0) return [head];
  const blocks = mixed.map((n, i) => ({ name: `mixed${i}`, tensor: n.name }));
  const stem = cuts.slice(0, cuts.indexOf(mixed[0])).filter((n) => n.op !== "input").at(-1);
  return [...(stem ? [{ name: "stem", tensor: stem.name }] : []), ...blocks, head];
}

/**
 * Converts `model` to the graph IR. Metadata: `blocks` when Inception's mixed
 * blocks are recognizable (see inceptionBlocks); `embedding`, the last global
 * average pooling; `normalization` from the options, else "torch" when the
 * graph starts with torchvision's transform_input prologue (which expects
 * ImageNet mean/std input), else none: an ONNX file does not say how its
 * input is normalized.
 */
export function importOnnx(model: OnnxModel, opts: ImportOnnxOptions): Graph {
  const { source } = opts;
  const fail: (message: string) => never = (message) => {
    throw new Error(`${source}: ${message}`);
  };
  const { nodes } = model;
  const graphInputs = new Map(model.inputs.map((v) => [v.name, v]));

  const producer = new Map<string, number>();
  nodes.forEach((node, i) => {
    for (const output of node.outputs) {
      if (output === "") continue;
      const other = producer.get(output);
      if (other !== undefined) fail(`tensor '${output}' is produced by both ${nodeLabel(nodes[other], other)} and ${nodeLabel(node, i)}`);
      if (graphInputs.has(output) || model.initializers.has(output)) fail(`node ${nodeLabel(node, i)} writes '${output}', which is a graph input or initializer`);
      producer.set(output, i);
    }
  });
  if (model.outputs.length === 0) fail("the graph has no outputs");
  for (const { name } of model.outputs) {
    if (producer.has(name) || graphInputs.has(name)) continue;
    fail(model.initializers.has(name) ? `graph output '${name}' is a constant (an initializer)` : `graph output '${name}' is not produced by any node or graph input`);
  }

  const order = reachableNodes(model, producer, fail);
  const unsupported = order.filter((i) => nodes[i].domain !== "" || !Object.hasOwn(OPS, nodes[i].opType));
  if (unsupported.length > 0) fail(`unsupported ops: ${unsupported.map((i) => nodeLabel(nodes[i], i)).join(", ")}`);

  const uses = new Map<string, number>();
  const readers = new Map<string, OnnxNode[]>();
  const use = (name: string) => uses.set(name, (uses.get(name) ?? 0) + 1);
  for (const i of order) {
    for (const input of nodes[i].inputs) {
      if (input === "") continue;
      use(input);
      const list = readers.get(input);
      if (list) list.push(nodes[i]);
      else readers.set(input, [nodes[i]]);
    }
  }
  for (const { name } of model.outputs) use(name);

  const inputs = model.inputs.filter((v) => uses.has(v.name));
  if (inputs.length === 0) fail("no graph input reaches the outputs");
  const toNchw = (node: OnnxNode) => node.opType === "Transpose" && node.attributes.get("perm")?.value.toString() === "0,3,1,2";
  const converted = inputs.map((info) => {
    const read = readers.get(info.name) ?? [];
    const isOutput = model.outputs.some((o) => o.name === info.name);
    return inputValue(info, info.shape?.length === 4 && read.length > 0 && !isOutput && read.every(toNchw), fail);
  });
  const firstBatch = inputs[0].shape![0];
  const names = new Set([...graphInputs.keys(), ...producer.keys()]);
  const im: Importer = new Importer(source, model.opsets.get("") ?? 1, names, uses, typeof firstBatch === "number" ? firstBatch : NaN, model.initializers);
  converted.forEach(({ node, act }) => {
    im.add(node);
    im.setValue(node.name, act);
  });

  for (const i of order) {
    const node = nodes[i];
    im.where = `node ${nodeLabel(node, i)}`;
    OPS[node.opType](new NodeContext(im, node));
    node.outputs.forEach((output, k) => {
      if (output !== "" && uses.has(output) && !im.has(output)) im.fail(`output ${k} ('${output}') is not supported`);
    });
  }

  // Graph outputs: each IR tensor takes its output's name; an input, or a
  // tensor that is already another output, is passed through an identity.
  const rename = new Map<string, string>();
  const extra: Node[] = [];
  const outputOrder = new Map<string, number[]>();
  for (const { name } of model.outputs) {
    const value = im.value(name);
    if (value.kind === "const") fail(`graph output '${name}' is a constant: it does not depend on the graph input`);
    // A Flatten of a multi-pixel NCHW tensor: the IR holds it in NHWC order, reordered when read.
    if (value.perm) outputOrder.set(name, Array.from(value.perm));
    im.where = `graph output '${name}'`;
    const tensor = im.tensor(value);
    if (tensor === name) continue;
    const claimed = rename.has(tensor) || model.outputs.some((o) => o.name === tensor);
    if (im.node(tensor)!.op !== "input" && !claimed) rename.set(tensor, name);
    else extra.push({ op: "identity", name, inputs: [rename.get(tensor) ?? tensor] });
  }
  const renamed = (name: string) => rename.get(name) ?? name;
  const irNodes = [...im.nodes.map((n) => ({ ...n, name: renamed(n.name), inputs: n.inputs.map(renamed) })), ...extra];
  const outputs = model.outputs.map((o) => o.name);

  if (opts.labels) {
    const shape = im.shapes.get(im.tensor(im.value(outputs[0]) as Act))!;
    if (outputs.length !== 1 || shape.length !== 1 || shape[0] !== opts.labels.length) {
      fail(`${opts.labels.length} labels given but the output shape is [${shape.join(",")}]${outputs.length > 1 ? ` (of ${outputs.length} outputs)` : ""}`);
    }
  }
  const metadata: GraphMetadata = { source, blocks: inceptionBlocks(irNodes, outputs[0]) };
  if (outputOrder.size > 0) metadata.outputOrder = Object.fromEntries(outputOrder);
  if (opts.labels) metadata.labels = [...opts.labels];
  const normalization = opts.normalization ?? (im.torchvisionPrologue ? "torch" : undefined);
  if (normalization) metadata.normalization = normalization;
  const embedding = irNodes.filter((n) => n.op === "globalavgpool").at(-1);
  if (embedding) metadata.embedding = embedding.name;
  return { nodes: irNodes, outputs, metadata };
}
