/**
 * Weight packing at load (wasm/f32-packw through src/runtime/weights.ts),
 * bit for bit against naive float64 code: the 1-D Winograd kernel transform
 * U = G g (F(3, 7), 1x7 and 7x1) as plain matrix products summed in index
 * order and rounded once, and GEMM panels (grouped, dense, partial last
 * panels) as plain index arithmetic; both builds, which must pack the same
 * bits. Kernels are float32 or tfjs uint8 codes (dequantized in wasm), some
 * with a folded batchnorm's scales, which packing applies as decoding would:
 * the reference is always `decode`.
 * (2-D Winograd transforms its kernels at each inference from the direct
 * packing: kernels.test.ts checks those convolutions against naive ones.)
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isScaled, isUint8Quantized, scaledWeights, weightValues, type Conv2DNode, type Graph, type Node, type Weights } from "../../src/graph/ir.js";
import { WeightStore } from "../../src/import/tfjs-weights.js";
import { compileKernels, KernelMemory, type KernelBuild } from "../../src/runtime/engine.js";
import { gemmPacking, layoutWeights, packWeights, type WinogradChoice } from "../../src/runtime/weights.js";
import { winograd1dMatrices, winograd1dShape } from "../../src/runtime/winograd1d.js";
import { conv, dense, graphOf, input, rng } from "./helpers.js";

/**
 * How a test kernel is stored: float32 values over many binades, signs and
 * zeros of both signs, or tfjs uint8 codes read through the real importer
 * (a float64 min and step); `scaled`: with per-output-channel scales still
 * to apply (a folded batchnorm), float64 ones as the ONNX importer folds,
 * which packing must round like decoding.
 */
interface Storage {
  uint8: boolean;
  scaled: boolean;
}

function stored(node: Node, r: () => number, { uint8, scaled }: Storage): Node {
  if (node.op !== "conv2d" && node.op !== "dense") return node;
  const count = node.kernel.length;
  const values: Weights = uint8
    ? WeightStore.fromBytes(
      [{ paths: ["w"], weights: [{ name: `${node.name}/kernel`, shape: [...node.kernelShape], dtype: "float32", quantization: { dtype: "uint8", min: -r() - 0.1, scale: r() / 97 } }] }],
      Uint8Array.from({ length: count }, () => Math.floor((r() + 0.5) * 256)), "test",
    ).get(node.name, "kernel")!
    : Float32Array.from({ length: count }, (_, i) => (i % 97 === 0 ? 0 : i % 89 === 0 ? -0 : r() * 2 ** Math.floor(r() * 40 - 20)));
  const cout = node.kernelShape.at(-1)!;
  const kernel = scaled ? scaledWeights(values, Float64Array.from({ length: cout }, () => r() * 3), cout) : values;
  return { ...node, kernel };
}

/** The packed region of `graph`'s weights, as the session writes it. */
async function packed(graph: Graph, winograd: WinogradChoice, build: KernelBuild) {
  const layout = layoutWeights(graph, winograd);
  const target = new KernelMemory((await compileKernels(build)).module, layout.bytes);
  const base = target.allocate(layout.bytes);
  await packWeights(graph, layout, winograd, target, base);
  return { layout, region: new Float32Array(target.memory.buffer, base, layout.bytes / 4) };
}

/** Where (matrix, row, column) of a node's packed GEMM weights is in the region, in floats. */
function packedIndex(weightsAt: number, rows: number, panels: number, matrix: number, row: number, col: number): number {
  return weightsAt / 4 + (matrix * panels + (col >> 3)) * rows * 8 + row * 8 + (col & 7);
}

/** Float32 bit patterns, so -0 and +0 differ. */
function bits(x: number): number {
  return new Uint32Array(Float32Array.of(x).buffer)[0]!;
}

/** Naive float64 1-D U_ξ = Σ_t G[ξ][t] g_t for one (cin, cout) pair, [ξ] in the packed matrix order. */
function naiveTransform(node: Conv2DNode, ci: number, co: number): number[] {
  const [, , cin, cout] = node.kernelShape;
  const k = weightValues(node.kernel);
  const oneD = winograd1dShape(node)!;
  const { G } = winograd1dMatrices(oneD.m, oneD.r);
  return Array.from({ length: oneD.alpha }, (_, xi) => {
    let u = 0;
    for (let t = 0; t < oneD.r; t++) u += G[xi * oneD.r + t]! * k[(t * cin + ci) * cout + co]!;
    return u;
  });
}

const transformCases: { ks: [number, number, number, number]; storage: Storage; why: string }[] = [
  { ks: [1, 7, 8, 12], storage: { uint8: true, scaled: false }, why: "F(3, 7) 1x7, a half-empty last panel, uint8 codes" },
  { ks: [7, 1, 20, 16], storage: { uint8: false, scaled: true }, why: "F(3, 7) 7x1, full panels, folded scales" },
];

for (const build of ["relaxed", "plain"] as const) {
  for (const [i, c] of transformCases.entries()) {
    test(`1-D Winograd kernel transform ${c.ks.join("x")} packs the rounded float64 G g, bit for bit: ${c.why} (${build}) #${i}`, async () => {
      const r = rng(700 + i);
      const node = stored(conv("y", "x", r, c.ks), r, c.storage) as Conv2DNode;
      const graph = graphOf([input("x", [9, 9, c.ks[2]]), node], ["y"]);
      assert.is(isUint8Quantized(isScaled(node.kernel) ? node.kernel.unscaled : node.kernel), c.storage.uint8, "stored as asked");
      const { layout, region } = await packed(graph, () => true, build);
      const { matrices, rows, panels } = gemmPacking(node, () => true);
      const at = layout.entries.get("y")!.weights;
      const [, , cin, cout] = c.ks;
      for (let ci = 0; ci < cin; ci++) {
        for (let co = 0; co < cout; co++) {
          naiveTransform(node, ci, co).forEach((u, xi) => {
            const got = region[packedIndex(at, rows, panels, xi, ci, co)]!;
            if (bits(got) !== bits(u)) assert.unreachable(`U_${xi}[${ci}][${co}]: packed ${got}, float64 rounded ${Math.fround(u)}`);
          });
        }
        for (let m = 0; m < matrices; m++) {
          for (let co = cout; co < panels * 8; co++) assert.is(bits(region[packedIndex(at, rows, panels, m, ci, co)]!), 0, `padding column ${co}`);
        }
      }
    });
  }

  test(`GEMM panels hold the kernel bit for bit, padding columns zero: grouped and depthwise convs with folded scales, dense, a 2-D Winograd conv; float32 and uint8 codes (${build})`, async () => {
    const r = rng(800);
    const grouped = stored(conv("g", "x", r, [3, 3, 6, 36], { groups: 2, pads: { top: 1, left: 1, bottom: 1, right: 1 } }), r, { uint8: false, scaled: true });
    const depthwise = stored(conv("dw", "g", r, [3, 3, 1, 36], { groups: 36, pads: { top: 1, left: 1, bottom: 1, right: 1 } }), r, { uint8: true, scaled: true });
    const fc = stored(dense("fc", "dw", r, 9 * 9 * 36, 13), r, { uint8: true, scaled: false });
    // A 2-D Winograd convolution's kernel stays packed for the direct GEMM (the plan transforms it per inference).
    const w3 = stored(conv("w3", "x", r, [3, 3, 12, 20]), r, { uint8: false, scaled: true });
    const graph = graphOf([input("x", [9, 9, 12]), grouped, depthwise, fc, w3], ["fc", "w3"]);
    const winograd = (n: Conv2DNode) => n.name === "w3";
    const { layout, region } = await packed(graph, winograd, build);
    for (const node of [grouped, depthwise, fc, w3]) {
      if (node.op !== "conv2d" && node.op !== "dense") continue;
      const { matrices: groups, rows: K, panels } = gemmPacking(node, winograd);
      const N = node.kernelShape.at(-1)! / groups;
      const k = weightValues(node.kernel);
      const at = layout.entries.get(node.name)!.weights;
      for (let g = 0; g < groups; g++) {
        for (let row = 0; row < K; row++) {
          for (let col = 0; col < panels * 8; col++) {
            const want = col < N ? k[row * N * groups + g * N + col]! : 0;
            const got = region[packedIndex(at, K, panels, g, row, col)]!;
            if (bits(got) !== bits(want)) assert.unreachable(`${node.name} group ${g} [${row}][${col}]: packed ${got}, kernel ${want}`);
          }
        }
      }
    }
  });
}

test.run();
