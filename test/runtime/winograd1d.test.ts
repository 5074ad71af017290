/**
 * 1-D Winograd F(m, r) for 1xr / rx1 convolutions (wasm/f32-winograd1d)
 * through the planner and the real wasm module, against the float64 naive
 * convolution of helpers.ts: 1x7 and 7x1, channel counts below, at and
 * above the 8-column panel, partial edge tiles,
 * symmetric, asymmetric, zero and short-axis pads, batch 3, ReLU, concat
 * slots in and out; both builds, 1 and 2 threads.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Conv2DNode, Pads } from "../../src/graph/ir.js";
import { usesWinograd } from "../../src/runtime/winograd.js";
import { usesWinograd1d, winograd1dBlocking, winograd1dMatrices, winograd1dShape } from "../../src/runtime/winograd1d.js";
import { cfgName, checkGraph, concat, configs, conv, graphOf, input, randomArray, rng, tensor, withSession } from "./helpers.js";

const cases: { H: number; W: number; C: number; cout: number; kh: number; kw: number; p: Pads; why: string }[] = [
  { H: 5, W: 9, C: 4, cout: 4, kh: 1, kw: 7, p: { top: 0, bottom: 0, left: 3, right: 3 }, why: "K and N below the block, odd width: a partial last tile" },
  { H: 9, W: 5, C: 8, cout: 8, kh: 7, kw: 1, p: { top: 3, bottom: 3, left: 0, right: 0 }, why: "K and N at the block, odd height" },
  { H: 17, W: 17, C: 12, cout: 20, kh: 1, kw: 7, p: { top: 0, bottom: 0, left: 3, right: 3 }, why: "Inception's grid, channels not multiples of 8" },
  { H: 17, W: 17, C: 36, cout: 44, kh: 7, kw: 1, p: { top: 3, bottom: 3, left: 0, right: 0 }, why: "Inception's grid, K above the block" },
  { H: 6, W: 14, C: 16, cout: 12, kh: 1, kw: 7, p: { top: 0, bottom: 0, left: 0, right: 0 }, why: "valid (zero pads)" },
  { H: 13, W: 7, C: 20, cout: 28, kh: 7, kw: 1, p: { top: 1, bottom: 5, left: 0, right: 0 }, why: "asymmetric pads" },
  { H: 4, W: 10, C: 8, cout: 16, kh: 1, kw: 7, p: { top: 1, bottom: 2, left: 4, right: 2 }, why: "short-axis pads: rows of bias only" },
  { H: 3, W: 2, C: 4, cout: 8, kh: 1, kw: 7, p: { top: 0, bottom: 0, left: 3, right: 3 }, why: "an image narrower than one tile's patch" },
  { H: 11, W: 9, C: 192, cout: 100, kh: 7, kw: 1, p: { top: 3, bottom: 3, left: 0, right: 0 }, why: "K far above the block, N a partial panel" },
];

/**
 * The transforms add rounding that a direct sum does not have: each V_ξ is a
 * combination of α inputs with Bᵀ's row ξ as weights (entries up to 5.25 for
 * F(2,7)), and each output one of α GEMM results with Aᵀ's row (up to 2).
 * Independent rounding errors add in quadrature, so the direct path's own
 * allowance (1e-6 x √K, as in kernels.test.ts) grows by at most
 * max‖Bᵀ row‖₂ x max‖Aᵀ row‖₂ (259 for F(3,7)); relative to max(1, |y|)
 * like every helper comparison. Measured errors stay over 20x below it; a wrong
 * tap, tile or coefficient errs by O(0.1).
 */
function tolerance(node: Conv2DNode): number {
  const shape = winograd1dShape(node)!;
  const { BT, AT } = winograd1dMatrices(shape.m, shape.r);
  const maxRowNorm = (a: Float64Array, rows: number, cols: number) =>
    Math.max(...Array.from({ length: rows }, (_, i) => Math.hypot(...a.subarray(i * cols, (i + 1) * cols))));
  const growth = maxRowNorm(BT, shape.alpha, shape.alpha) * maxRowNorm(AT, shape.m, shape.alpha);
  const K = shape.r * node.kernelShape[2];
  return growth * 1e-6 * Math.sqrt(K);
}

for (const cfg of configs) {
  for (const [i, c] of cases.entries()) {
    test(`winograd1d ${c.kh}x${c.kw} C=${c.C} N=${c.cout} on ${c.H}x${c.W}: ${c.why} (${cfgName(cfg)}) #${i}`, async () => {
      const r = rng(5000 + i);
      const B = 3;
      const node = conv("y", "x", r, [c.kh, c.kw, c.C, c.cout], { pads: c.p, relu: i % 2 === 0 }) as Conv2DNode;
      const OH = c.H + c.p.top + c.p.bottom - c.kh + 1, OW = c.W + c.p.left + c.p.right - c.kw + 1;
      assert.ok(usesWinograd1d(node, [OH, OW, c.cout]), "takes the 1-D Winograd path");
      const graph = graphOf([input("x", [c.H, c.W, c.C]), node], ["y"]);
      const x = tensor(B, [c.H, c.W, c.C], randomArray(B * c.H * c.W * c.C, r));
      await withSession(graph, cfg, (s) => checkGraph(s, graph, new Map([["x", x]]), undefined, tolerance(node)));
    });
  }

  test(`winograd1d convs writing into a concat and reading a concat slot (${cfgName(cfg)})`, async () => {
    const r = rng(6000);
    const H = 17, W = 15;
    const graph = graphOf([
      input("x", [H, W, 8]),
      conv("a", "x", r, [1, 7, 8, 12], { relu: true }),
      conv("b", "x", r, [7, 1, 8, 4], { relu: true }),
      concat("ab", ["a", "b"]),
      conv("c", "ab", r, [7, 1, 16, 8]),
      conv("d", "ab", r, [1, 7, 16, 4], { relu: true }),
      concat("y", ["c", "d"]),
    ], ["y"]);
    for (const n of graph.nodes.filter((n) => n.op === "conv2d")) assert.ok(usesWinograd1d(n as Conv2DNode, [H, W, n.kernelShape[3]]), `${n.name} takes the 1-D Winograd path`);
    const x = tensor(2, [H, W, 8], randomArray(2 * H * W * 8, r));
    await withSession(graph, cfg, (s) => checkGraph(s, graph, new Map([["x", x]]), undefined, tolerance(graph.nodes[4] as Conv2DNode)));
  });
}

test("winograd1d is taken only by stride-1, undilated, ungrouped 1x7 / 7x1 convolutions with channels in fours", () => {
  const r = rng(7000);
  const same7 = { top: 0, bottom: 0, left: 3, right: 3 };
  const takes = (ks: [number, number, number, number], opts: Parameters<typeof conv>[4] = {}) =>
    usesWinograd1d(conv("y", "x", r, ks, opts) as Conv2DNode, [17, 17, ks[3]]);
  assert.ok(takes([1, 7, 8, 8], { pads: same7 }));
  assert.ok(takes([7, 1, 8, 8]));
  assert.not.ok(takes([1, 7, 8, 8], { strides: [1, 2], pads: same7 }), "stride 2");
  assert.not.ok(takes([1, 7, 8, 8], { dilations: [1, 2], pads: same7 }), "dilated");
  assert.not.ok(takes([1, 7, 8, 8], { groups: 2, pads: same7 }), "grouped");
  assert.not.ok(takes([1, 7, 6, 8], { pads: same7 }), "Cin not a multiple of 4");
  assert.not.ok(takes([1, 7, 8, 10], { pads: same7 }), "Cout not a multiple of 4");
  assert.not.ok(takes([1, 5, 8, 8]), "no tile size for 5 taps");
  assert.not.ok(takes([1, 3, 8, 8]), "1x3: measured faster, but not worth doubling its weights");
  assert.not.ok(usesWinograd(conv("y", "x", r, [1, 7, 8, 8], { pads: same7 }) as Conv2DNode, [17, 17, 8]), "not the 2-D path");
});

test("winograd1d blocking: one chunk of all output channels unless threads lack work units; scratch for V, M and pointers", () => {
  const shape = { m: 3, r: 7, alpha: 9, vertical: false };
  for (const [cin, cout, batch, threads] of [[4, 4, 1, 1], [128, 192, 1, 1], [192, 192, 1, 2], [768, 768, 4, 2]] as const) {
    const { tilesPerBlock, panelsPerChunk, scratchBytes } = winograd1dBlocking(cin, cout, shape, 17, 17, batch, threads);
    const panels = Math.ceil(cout / 8);
    const units = Math.ceil(panels / panelsPerChunk) * Math.ceil((batch * 17 * 6) / tilesPerBlock);
    assert.ok(tilesPerBlock >= 8 && tilesPerBlock % 4 === 0 && panelsPerChunk >= 1 && panelsPerChunk <= panels);
    assert.ok(panelsPerChunk === panels || units >= 4 * threads, `${units} units for ${threads} threads`);
    assert.ok(scratchBytes >= 9 * tilesPerBlock * (cin + panelsPerChunk * 8 + 1) * 4 + 9 * 4);
  }
});
test.run();
