/**
 * TensorFlow.js reference for any imported graph: executes the IR graph as
 * the importer produced it (before our optimization passes) node by node
 * with tfjs-core ops, so sources tfjs-layers cannot load (ONNX) get the same
 * consistency check. Only the importer and the IR's shape rules are shared
 * with our runtime; every kernel is tfjs', and padding and pooling semantics
 * are mapped onto tfjs ops below.
 *
 * Node-only, like the layers reference, whose engine setup it shares
 * (tfjs-engine.ts); it does not need tfjs-layers.
 */
import * as tf from "@tensorflow/tfjs-core";
import { nodeAxis, weightValues, type Graph, type InputNode, type Node, type Pads, type PoolNode } from "../graph/ir.js";
import { inferShapes } from "../graph/shapes.js";
import {
  assertSingleTfjsCore, batchSize, readOutputs, withBackend, type TfjsReference, type TfjsReferenceOptions,
} from "./tfjs-engine.js";

/** One node's computation on its input tensors (batch first), weights bound. */
type Step = (inputs: tf.Tensor[]) => tf.Tensor;

/**
 * How tfjs expresses a window's padding: "valid" (none), "same" (TF's rule:
 * output ceil(in / stride), the total padding split with the odd pixel at
 * the bottom/right; pools then ignore padded cells) or only by padding the
 * input explicitly and running the window "valid".
 */
type WindowPadding = "valid" | "same" | "explicit";

function windowPadding(
  pads: Pads,
  [h, w]: readonly number[],
  [kh, kw]: readonly [number, number],
  [sh, sw]: readonly [number, number],
): WindowPadding {
  if (pads.top === 0 && pads.left === 0 && pads.bottom === 0 && pads.right === 0) return "valid";
  const same = (size: number, k: number, s: number): [number, number] => {
    const total = Math.max((Math.ceil(size / s) - 1) * s + k - size, 0);
    return [Math.floor(total / 2), total - Math.floor(total / 2)];
  };
  const [top, bottom] = same(h!, kh, sh);
  const [left, right] = same(w!, kw, sw);
  return pads.top === top && pads.bottom === bottom && pads.left === left && pads.right === right ? "same" : "explicit";
}

/** tf.pad's paddings for an NHWC tensor. */
function nhwcPaddings(p: Pads): [number, number][] {
  return [[0, 0], [p.top, p.bottom], [p.left, p.right], [0, 0]];
}

/**
 * kh*kw / (window cells inside the unpadded input) per output pixel, as
 * [1, OH, OW, 1]: turns the mean over an explicitly zero-padded window
 * (which counts padded cells) into the mean over the valid cells only.
 */
function validCountScale(node: PoolNode, [h, w]: readonly number[], [oh, ow]: readonly number[]): tf.Tensor4D {
  const [kh, kw] = node.window;
  const [sh, sw] = node.strides;
  const valid = (o: number, s: number, pad: number, k: number, size: number) =>
    Math.min(o * s - pad + k, size) - Math.max(o * s - pad, 0);
  const scale = new Float32Array(oh! * ow!);
  for (let y = 0; y < oh!; y++) {
    for (let x = 0; x < ow!; x++) {
      scale[y * ow! + x] = (kh * kw) / (valid(y, sh, node.pads.top, kh, h!) * valid(x, sw, node.pads.left, kw, w!));
    }
  }
  return tf.tensor4d(scale, [1, oh!, ow!, 1]);
}

/**
 * The step for `node`. Weights become tensors on the active backend and are
 * appended to `constants`, which the caller disposes.
 */
function compileNode(node: Exclude<Node, InputNode>, shapes: ReadonlyMap<string, number[]>, constants: tf.Tensor[]): Step {
  const constant = <T extends tf.Tensor>(t: T): T => {
    constants.push(t);
    return t;
  };
  const inShape = shapes.get(node.inputs[0]!)!;
  switch (node.op) {
    case "conv2d": {
      const filter = constant(tf.tensor4d(weightValues(node.kernel), node.kernelShape));
      const bias = node.bias && constant(tf.tensor1d(node.bias));
      const dilations = node.dilations ?? [1, 1];
      const groups = node.groups ?? 1;
      const plain = dilations[0] === 1 && dilations[1] === 1 && groups === 1;
      const mode = plain ? windowPadding(node.pads, inShape, [node.kernelShape[0], node.kernelShape[1]], node.strides) : "explicit";
      // Grouped: one convolution per group on its channel slice, concatenated.
      const filters = groups === 1 ? [filter] : tf.split(filter, groups, 3).map(constant);
      return ([x]) => {
        // Zero padding is exactly what a convolution's padding means, so
        // padding the input first is the general case, not an approximation.
        const padded = (mode === "explicit" ? tf.pad(x!, nhwcPaddings(node.pads)) : x!) as tf.Tensor4D;
        let conv: tf.Tensor4D;
        if (plain) conv = tf.conv2d(padded, filter, node.strides, mode === "explicit" ? "valid" : mode);
        else {
          // tfjs takes strides or dilations, not both: a dilated stride-1 convolution, then every stride-th pixel.
          const slices = groups === 1 ? [padded] : tf.split(padded, groups, 3);
          const parts = slices.map((xs, g) => tf.conv2d(xs as tf.Tensor4D, filters[g]! as tf.Tensor4D, 1, "valid", "NHWC", dilations));
          const full = (parts.length === 1 ? parts[0]! : tf.concat(parts, 3)) as tf.Tensor4D;
          const [n, h, w, c] = full.shape;
          conv = node.strides[0] === 1 && node.strides[1] === 1
            ? full
            : tf.stridedSlice(full, [0, 0, 0, 0], [n, h, w, c], [1, node.strides[0], node.strides[1], 1]) as tf.Tensor4D;
        }
        const biased = bias ? tf.add(conv, bias) : conv;
        return node.activation === "relu" ? tf.relu(biased) : biased;
      };
    }
    case "batchnorm": {
      const mean = constant(tf.tensor1d(node.mean));
      const variance = constant(tf.tensor1d(node.variance));
      const beta = node.beta ? constant(tf.tensor1d(node.beta)) : undefined;
      const gamma = node.gamma ? constant(tf.tensor1d(node.gamma)) : undefined;
      return ([x]) => tf.batchNorm(x!, mean, variance, beta, gamma, node.epsilon);
    }
    case "relu":
      return ([x]) => tf.relu(x!);
    case "maxpool": {
      const [dh, dw] = node.dilations ?? [1, 1];
      if (dh !== 1 || dw !== 1) {
        // tfjs pools with dilations only at stride 1: pool every position, then keep the strided ones.
        return ([x]) => {
          const padded = tf.pad(x as tf.Tensor4D, nhwcPaddings(node.pads), -Infinity);
          const all = tf.pool(padded, node.window, "max", "valid", [dh, dw], [1, 1]) as tf.Tensor4D;
          const [n, h, w, c] = all.shape;
          return tf.stridedSlice(all, [0, 0, 0, 0], [n, h, w, c], [1, node.strides[0], node.strides[1], 1]);
        };
      }
      const mode = windowPadding(node.pads, inShape, node.window, node.strides);
      if (mode !== "explicit") return ([x]) => tf.maxPool(x as tf.Tensor4D, node.window, node.strides, mode);
      // Padded cells never win a max: pad with -∞.
      return ([x]) => tf.maxPool(tf.pad(x as tf.Tensor4D, nhwcPaddings(node.pads), -Infinity), node.window, node.strides, "valid");
    }
    case "avgpool": {
      const mode = windowPadding(node.pads, inShape, node.window, node.strides);
      // tfjs' own padded average ("same") divides by the valid cells only,
      // which is exactly countIncludePad = false.
      if (mode === "valid" || (mode === "same" && !node.countIncludePad)) {
        return ([x]) => tf.avgPool(x as tf.Tensor4D, node.window, node.strides, mode);
      }
      // Otherwise average over a zero-padded input, which divides by kh*kw:
      // padded cells counted (countIncludePad = true; with floor output
      // sizes every window lies inside the padded input) or, rescaled by
      // kh*kw / valid cells, not counted.
      const scale = node.countIncludePad ? undefined : constant(validCountScale(node, inShape, shapes.get(node.name)!));
      return ([x]) => {
        const mean = tf.avgPool(tf.pad(x as tf.Tensor4D, nhwcPaddings(node.pads)), node.window, node.strides, "valid");
        return scale ? tf.mul(mean, scale) : mean;
      };
    }
    case "pad": {
      const paddings = nhwcPaddings(node.pads);
      if (node.mode === "constant") return ([x]) => tf.pad(x!, paddings, node.value);
      if (node.mode === "reflect") return ([x]) => tf.mirrorPad(x!, paddings, "reflect");
      // tfjs has no edge-replicating pad: gather rows, then columns, at clamped indices.
      const [h, w] = inShape;
      const clamped = (size: number, before: number, after: number) =>
        constant(tf.tensor1d(Array.from({ length: before + size + after }, (_, o) => Math.min(Math.max(o - before, 0), size - 1)), "int32"));
      const rows = clamped(h!, node.pads.top, node.pads.bottom);
      const cols = clamped(w!, node.pads.left, node.pads.right);
      return ([x]) => tf.gather(tf.gather(x!, rows, 1), cols, 2);
    }
    case "globalavgpool":
      return ([x]) => tf.mean(x!, [1, 2]);
    case "concat":
      // Tensor axes are the IR's after the batch axis.
      return (xs) => tf.concat(xs, nodeAxis(node, inShape.length) + 1);
    case "flatten":
      // tfjs tensors are row-major NHWC, the IR's flatten order.
      return ([x]) => tf.reshape(x!, [x!.shape[0], -1]);
    case "dense": {
      const kernel = constant(tf.tensor2d(weightValues(node.kernel), node.kernelShape));
      const bias = node.bias && constant(tf.tensor1d(node.bias));
      return ([x]) => {
        const product = tf.matMul(x as tf.Tensor2D, kernel);
        const biased = bias ? tf.add(product, bias) : product;
        return node.activation === "relu" ? tf.relu(biased) : biased;
      };
    }
    case "softmax":
    case "logsoftmax": {
      const f = node.op === "softmax" ? tf.softmax : tf.logSoftmax;
      const axis = nodeAxis(node, inShape.length) + 1;
      const last = inShape.length;
      if (axis === last) return ([x]) => f(x!);
      // tfjs normalizes over the last axis only: swap ours there and back.
      const perm = [...Array(last + 1).keys()];
      [perm[axis], perm[last]] = [last, axis];
      return ([x]) => tf.transpose(f(tf.transpose(x!, perm)), perm);
    }
    case "sigmoid":
      return ([x]) => tf.sigmoid(x!);
    case "identity":
      // A copy, not the input itself: each tensor is then disposed on its own schedule.
      return ([x]) => tf.clone(x!);
  }
}

/**
 * The nodes needed for `names` (in graph order) and, per tensor, the index
 * of the last of them that reads it, after which it can be freed.
 */
function schedule(nodes: readonly Node[], index: ReadonlyMap<string, number>, names: readonly string[]) {
  const needed = new Set<number>();
  const pending = names.map((n) => index.get(n)!);
  while (pending.length > 0) {
    const i = pending.pop()!;
    if (needed.has(i)) continue;
    needed.add(i);
    for (const input of nodes[i]!.inputs) pending.push(index.get(input)!);
  }
  const order = [...needed].sort((a, b) => a - b);
  const lastUse = new Map<string, number>();
  for (const i of order) for (const input of nodes[i]!.inputs) lastUse.set(input, i);
  return { order, lastUse };
}

/**
 * A reference that runs `graph` (as imported, NHWC IR) with tfjs-core ops on
 * the wasm backend (or cpu). Outputs are named by IR tensor name and carry
 * the batch dimension, like the layers reference's.
 */
export async function createTfjsGraphReference(graph: Graph, opts: TfjsReferenceOptions = {}): Promise<TfjsReference> {
  const backend = opts.backend ?? "wasm";
  assertSingleTfjsCore([]);
  const { nodes } = graph;
  const source = graph.metadata.source;
  // Validates the graph (naming any inconsistent node) and fixes every
  // window's input size, so padding modes are decided once, here.
  const shapes = inferShapes(graph);
  const inputs = nodes.filter((n): n is InputNode => n.op === "input");
  if (inputs.length !== 1) throw new Error(`${source}: expected a single-input graph, got ${inputs.length} inputs`);
  const inputNode = inputs[0]!;
  const index = new Map(nodes.map((n, i) => [n.name, i]));

  const constants: tf.Tensor[] = [];
  const steps = await withBackend(backend, () => {
    try {
      return nodes.map((node) => (node.op === "input" ? undefined : compileNode(node, shapes, constants)));
    } catch (error) {
      tf.dispose(constants);
      throw error;
    }
  });
  let disposed = false;

  return {
    backend,

    async run(input, inputShape, outputs) {
      const batch = batchSize(input, inputShape, inputNode.shape, outputs);
      const names = [...new Set(outputs)];
      const unknown = names.filter((n) => !index.has(n));
      if (unknown.length > 0) throw new Error(`${source}: no tensor named ${unknown.map((n) => `"${n}"`).join(", ")}`);
      const { order, lastUse } = schedule(nodes, index, names);
      const requested = new Set(names);

      // Synchronous once the backend is active, so nothing can switch the
      // backend mid-run (see withBackend).
      return withBackend(backend, () => {
        // Checked under the lock: a run queued before dispose() must not touch freed weights.
        if (disposed) throw new Error("TfjsReference used after dispose()");
        const tensors = tf.tidy(() => {
          const values = new Map<string, tf.Tensor>();
          for (const i of order) {
            const node = nodes[i]!;
            const step = steps[i];
            // Each step in its own tidy: its temporaries (padded input, pre-bias sum) go at once.
            const value = step
              ? tf.tidy(() => step(node.inputs.map((name) => values.get(name)!)))
              : tf.tensor(input, [batch, ...inputShape], "float32");
            values.set(node.name, value);
            // Free inputs this node read last, so memory stays at the live set
            // instead of every activation of the graph.
            for (const name of new Set(node.inputs)) {
              if (lastUse.get(name) === i && !requested.has(name)) {
                values.get(name)!.dispose();
                values.delete(name);
              }
            }
          }
          return names.map((name) => values.get(name)!);
        });
        return readOutputs(tensors, names);
      });
    },

    dispose() {
      if (disposed) return;
      disposed = true;
      tf.dispose(constants);
    },
  };
}
