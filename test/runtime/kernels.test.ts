/**
 * Shared kernel tester: every kernel family through the planner and the real
 * wasm module, against naive loops written here (independent of src/). GEMM
 * cases cover K below, at and above the 4x8 block, partial M and N tiles,
 * strides, paddings, and writing into a concat slot; both builds, 1 and 2 threads.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { weightValues, type Conv2DNode, type Graph, type Node, type Pads } from "../../src/graph/ir.js";
import { nodePlatform } from "../../src/platform/node.js";
import { Session } from "../../src/runtime/session.js";
import { usesWinograd } from "../../src/runtime/winograd.js";
import { cfgName, checkGraph, concat, configs as helperConfigs, conv, graphOf, input, pads0, pads1, tensor, withSession } from "./helpers.js";

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function randomArray(n: number, r: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r();
  return a;
}

function naiveConv(x: Float32Array, B: number, H: number, W: number, C: number, k: Float32Array, kh: number, kw: number, cout: number,
  bias: Float32Array | null, s: [number, number], p: Pads, relu: boolean) {
  const OH = Math.floor((H + p.top + p.bottom - kh) / s[0]) + 1;
  const OW = Math.floor((W + p.left + p.right - kw) / s[1]) + 1;
  const y = new Float32Array(B * OH * OW * cout);
  for (let n = 0; n < B; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) for (let co = 0; co < cout; co++) {
    let acc = bias ? bias[co]! : 0;
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const iy = oy * s[0] - p.top + ky, ix = ox * s[1] - p.left + kx;
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
      for (let ci = 0; ci < C; ci++) acc += x[((n * H + iy) * W + ix) * C + ci]! * k[((ky * kw + kx) * C + ci) * cout + co]!;
    }
    y[((n * OH + oy) * OW + ox) * cout + co] = relu ? Math.max(0, acc) : acc;
  }
  return { y, OH, OW };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.is(a.length, b.length, "lengths differ");
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

// Three threads: the caller's thread and two workers claim each step's units.
const configs = [
  { build: "relaxed", threads: 1 },
  { build: "plain", threads: 1 },
  { build: "relaxed", threads: 2 },
  { build: "relaxed", threads: 3 },
] as const;

const convCases = [
  // [H, W, C, cout, kh, kw, stride, pads]
  { H: 5, W: 7, C: 1, cout: 3, kh: 1, kw: 1, s: 1, p: 0 },     // K=1 below the block, N < 8
  { H: 6, W: 6, C: 4, cout: 8, kh: 1, kw: 1, s: 1, p: 0 },     // K=4, N at the block
  { H: 9, W: 5, C: 13, cout: 21, kh: 3, kw: 3, s: 1, p: 1 },   // partial N panel, same pad
  { H: 11, W: 10, C: 7, cout: 16, kh: 3, kw: 3, s: 2, p: 0 },  // stride 2 valid
  { H: 8, W: 9, C: 6, cout: 9, kh: 1, kw: 7, s: 1, p: 3 },     // 1x7
  { H: 9, W: 8, C: 5, cout: 12, kh: 7, kw: 1, s: 1, p: 3 },    // 7x1
  { H: 7, W: 7, C: 3, cout: 10, kh: 5, kw: 5, s: 1, p: 2 },    // 5x5
  { H: 4, W: 6, C: 9, cout: 33, kh: 1, kw: 3, s: 1, p: 1 },    // 1x3, N above the block
  { H: 6, W: 4, C: 40, cout: 7, kh: 3, kw: 1, s: 2, p: 1 },    // 3x1 stride 2, K far above the block
  // K blocking (at most 768 floats of K per block): several tap blocks, channel blocks within taps.
  { H: 5, W: 6, C: 100, cout: 13, kh: 3, kw: 3, s: 1, p: 1 },  // 7 taps per block: blocks of 7 + 2 taps
  { H: 3, W: 5, C: 1700, cout: 10, kh: 1, kw: 1, s: 1, p: 0 }, // 3 channel blocks, partial panel accumulated
  { H: 4, W: 3, C: 900, cout: 9, kh: 3, kw: 3, s: 2, p: 1 },   // channel blocks per tap, padded taps
];

for (const cfg of configs) {
  for (const [i, c] of convCases.entries()) {
    test(`conv ${c.kh}x${c.kw}/${c.s} C=${c.C} N=${c.cout} on ${c.H}x${c.W} (${cfg.build}, ${cfg.threads}T) #${i}`, async () => {
      const r = rng(1000 + i);
      const B = 2;
      const pads: Pads = c.kh === 1 && c.kw === 1 ? { top: 0, left: 0, bottom: 0, right: 0 }
        : { top: c.kh > 1 ? c.p : 0, bottom: c.kh > 1 ? c.p : 0, left: c.kw > 1 ? c.p : 0, right: c.kw > 1 ? c.p : 0 };
      const kernel = randomArray(c.kh * c.kw * c.C * c.cout, r);
      const bias = randomArray(c.cout, r);
      const x = randomArray(B * c.H * c.W * c.C, r);
      const relu = i % 2 === 0;
      const nodes: Node[] = [
        { op: "input", name: "x", inputs: [], shape: [c.H, c.W, c.C] },
        { op: "conv2d", name: "y", inputs: ["x"], kernel, kernelShape: [c.kh, c.kw, c.C, c.cout], bias,
          strides: [c.s, c.s], pads, activation: relu ? "relu" : "linear" },
      ];
      const graph: Graph = { nodes, outputs: ["y"], metadata: { source: "test" } };
      const session = await Session.create(graph, { threads: cfg.threads, build: cfg.build, platform: nodePlatform, keep: [] });
      try {
        const out = await session.run(new Map([["x", x]]), B);
        const want = naiveConv(x, B, c.H, c.W, c.C, kernel, c.kh, c.kw, c.cout, bias, [c.s, c.s], pads, relu);
        const got = out.get("y")!;
        assert.equal(got.dims, [B, want.OH, want.OW, c.cout]);
        // f32 accumulation error grows with the sum's length and magnitude; a wrong K block errs by O(1).
        const K = c.kh * c.kw * c.C;
        const scale = Math.max(1, ...Array.from(want.y, Math.abs));
        const tol = Math.max(1e-5, 1e-6 * Math.sqrt(K) * scale);
        assert.ok(maxAbsDiff(got.data, want.y) < tol, `max diff ${maxAbsDiff(got.data, want.y)} > ${tol}`);
      } finally {
        session.dispose();
      }
    });
  }
}

// 3x3 and 5x5 stride 1 with >= 17x17 outputs and channels in fours: the Winograd F(4x4, 3x3)
// and F(2x2, 5x5) paths. Output sizes cover every remainder mod 4 (mod 2 for 5x5: partial
// tiles, rows and columns past the edge), Cin and Cout below, at and above the 8-wide block,
// several output-channel chunks (Cin = 256: one panel per chunk), several tile blocks
// straddling images, asymmetric pads.
const pads2: Pads = { top: 2, left: 2, bottom: 2, right: 2 };
const winogradCases: { k: 3 | 5; H: number; W: number; C: number; cout: number; p: Pads; B: number; note: string }[] = [
  { k: 3, H: 17, W: 20, C: 4, cout: 4, p: pads1, B: 2, note: "17x20 out (≡ 1, 0 mod 4), Cin and Cout below the block" },
  { k: 3, H: 18, W: 19, C: 8, cout: 8, p: pads1, B: 2, note: "18x19 out (≡ 2, 3 mod 4), Cin and Cout at the block" },
  { k: 3, H: 23, W: 21, C: 12, cout: 20, p: pads0, B: 3, note: "valid, 21x19 out, partial N panel, batch 3" },
  { k: 3, H: 17, W: 18, C: 16, cout: 12, p: { top: 2, left: 0, bottom: 1, right: 2 }, B: 2, note: "asymmetric pads, 18x18 out" },
  { k: 3, H: 20, W: 17, C: 36, cout: 44, p: pads1, B: 2, note: "20x17 out, Cin above the block, not a multiple of 8" },
  { k: 3, H: 18, W: 17, C: 256, cout: 44, p: pads1, B: 2, note: "6 output-channel chunks, the last a partial panel" },
  { k: 3, H: 59, W: 58, C: 4, cout: 4, p: pads1, B: 2, note: "450 tiles: blocks of 224 straddling the images, a partial last one" },
  { k: 3, H: 35, W: 35, C: 64, cout: 96, p: pads1, B: 2, note: "InceptionV3 mixed-block shape: 9 blocks of 20 tiles, 2 chunks" },
  { k: 5, H: 17, W: 18, C: 4, cout: 4, p: pads2, B: 2, note: "17x18 out (≡ 1, 0 mod 2), Cin and Cout below the block" },
  { k: 5, H: 23, W: 22, C: 12, cout: 20, p: pads0, B: 3, note: "valid, 19x18 out, partial N panel, batch 3" },
  { k: 5, H: 19, W: 18, C: 16, cout: 12, p: { top: 1, left: 2, bottom: 3, right: 0 }, B: 2, note: "asymmetric pads, 19x16 out" },
  { k: 5, H: 18, W: 17, C: 256, cout: 44, p: pads2, B: 1, note: "6 output-channel chunks, the last a partial panel" },
  { k: 5, H: 35, W: 35, C: 48, cout: 64, p: pads2, B: 2, note: "InceptionV3 mixed-block 5x5 shape" },
];

for (const cfg of helperConfigs) {
  for (const [i, c] of winogradCases.entries()) {
    const name = c.k === 3 ? "F(4x4, 3x3)" : "F(2x2, 5x5)";
    test(`Winograd ${name} conv C=${c.C} N=${c.cout} on ${c.H}x${c.W}, ${c.note} (${cfgName(cfg)}) #${i}`, async () => {
      const r = rng(5000 + i);
      const relu = i % 2 === 0;
      const node = conv("y", "x", r, [c.k, c.k, c.C, c.cout], { pads: c.p, relu }) as Conv2DNode;
      const x = randomArray(c.B * c.H * c.W * c.C, r);
      const want = naiveConv(x, c.B, c.H, c.W, c.C, weightValues(node.kernel), c.k, c.k, c.cout, node.bias, [1, 1], c.p, relu);
      assert.ok(usesWinograd(node, [want.OH, want.OW, c.cout]), "takes the Winograd path");
      const graph = graphOf([input("x", [c.H, c.W, c.C]), node], ["y"]);
      await withSession(graph, cfg, async (session) => {
        const got = (await session.run(new Map([["x", x]]), c.B)).get("y")!;
        assert.equal(got.dims, [c.B, want.OH, want.OW, c.cout]);
        // A direct float32 convolution errs by about ε √K max|y| (ε = 2^-24). F(4x4)'s output
        // transform Aᵀ M A takes each transform-domain product times coefficients up to 8 per
        // dimension, 64 in 2-D, and those terms cancel to the much smaller output, so allow 64x
        // that: measured here, at most 0.10 of this bound (F(2x2, 3x3) stayed within 0.01).
        // F(2x2, 5x5) (Aᵀ coefficients up to 2, G up to 16/24) measured at most 0.047 of it
        // (0.037 while kernels were transformed in float64 at load, not in float32 per inference).
        // A wrong or missing tile errs by O(max|y|).
        const K = c.k * c.k * c.C;
        const scale = want.y.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
        const tol = 64 * 2 ** -24 * Math.sqrt(K) * scale;
        const diff = maxAbsDiff(got.data, want.y);

        assert.ok(diff <= tol, `max diff ${diff} > ${tol}`);
      });
    });
  }
}

for (const cfg of configs) {
  test(`Winograd convs writing into a concat and reading from it (${cfg.build}, ${cfg.threads}T)`, async () => {
    const r = rng(77);
    const B = 2, H = 18, W = 19, C = 8;
    const same: Pads = { top: 1, left: 1, bottom: 1, right: 1 };
    const k1 = randomArray(9 * C * 12, r), b1 = randomArray(12, r);
    const k2 = randomArray(9 * C * 4, r), b2 = randomArray(4, r);
    const k3 = randomArray(9 * 16 * 8, r), b3 = randomArray(8, r);
    const x = randomArray(B * H * W * C, r);
    const conv = (name: string, input: string, kernel: Float32Array, cin: number, cout: number, bias: Float32Array): Node => ({
      op: "conv2d", name, inputs: [input], kernel, kernelShape: [3, 3, cin, cout], bias, strides: [1, 1], pads: same, activation: "relu",
    });
    const graph: Graph = {
      nodes: [
        { op: "input", name: "x", inputs: [], shape: [H, W, C] },
        conv("a", "x", k1, C, 12, b1),
        conv("b", "x", k2, C, 4, b2),
        { op: "concat", name: "ab", inputs: ["a", "b"] },
        conv("y", "ab", k3, 16, 8, b3),
      ],
      outputs: ["y"],
      metadata: { source: "test" },
    };
    for (const [node, cout] of [[graph.nodes[1], 12], [graph.nodes[2], 4], [graph.nodes[4], 8]] as const) {
      assert.ok(usesWinograd(node as Conv2DNode, [H, W, cout]), `${node.name} takes the Winograd path`);
    }
    const session = await Session.create(graph, { threads: cfg.threads, build: cfg.build, platform: nodePlatform, keep: [] });
    try {
      const got = (await session.run(new Map([["x", x]]), B, ["y", "a"])).get("y")!;
      const a = naiveConv(x, B, H, W, C, k1, 3, 3, 12, b1, [1, 1], same, true).y;
      const b = naiveConv(x, B, H, W, C, k2, 3, 3, 4, b2, [1, 1], same, true).y;
      const ab = new Float32Array(B * H * W * 16);
      for (let p = 0; p < B * H * W; p++) {
        ab.set(a.subarray(p * 12, p * 12 + 12), p * 16);
        ab.set(b.subarray(p * 4, p * 4 + 4), p * 16 + 12);
      }
      const want = naiveConv(ab, B, H, W, 16, k3, 3, 3, 8, b3, [1, 1], same, true).y;
      assert.ok(maxAbsDiff(got.data, want) < 1e-4, `max diff ${maxAbsDiff(got.data, want)}`);
    } finally {
      session.dispose();
    }
  });
}


// Dilated and grouped convolutions (depthwise = one input channel per group),
// against the naive loops of helpers.ts; all through the direct GEMM path.
const dgCases: { H: number; W: number; C: number; cout: number; kh: number; kw: number; s: [number, number]; p: Pads; d: [number, number]; g: number }[] = [
  { H: 9, W: 10, C: 5, cout: 11, kh: 3, kw: 3, s: [1, 1], p: { top: 2, left: 2, bottom: 2, right: 2 }, d: [2, 2], g: 1 },
  { H: 12, W: 11, C: 3, cout: 9, kh: 3, kw: 2, s: [2, 1], p: { top: 1, left: 0, bottom: 2, right: 1 }, d: [3, 1], g: 1 },
  { H: 19, W: 18, C: 8, cout: 8, kh: 3, kw: 3, s: [1, 1], p: { top: 2, left: 2, bottom: 2, right: 2 }, d: [2, 2], g: 1 }, // Winograd-sized, must not take it
  { H: 7, W: 8, C: 6, cout: 10, kh: 3, kw: 3, s: [1, 1], p: { top: 1, left: 1, bottom: 1, right: 1 }, d: [1, 1], g: 2 },
  { H: 9, W: 7, C: 12, cout: 20, kh: 3, kw: 1, s: [2, 2], p: { top: 1, left: 0, bottom: 1, right: 0 }, d: [1, 1], g: 4 },
  { H: 18, W: 17, C: 16, cout: 32, kh: 3, kw: 3, s: [1, 1], p: { top: 1, left: 1, bottom: 1, right: 1 }, d: [1, 1], g: 2 }, // Winograd-sized
  { H: 8, W: 9, C: 7, cout: 7, kh: 3, kw: 3, s: [1, 1], p: { top: 1, left: 1, bottom: 1, right: 1 }, d: [1, 1], g: 7 }, // depthwise
  { H: 10, W: 9, C: 5, cout: 15, kh: 3, kw: 3, s: [2, 2], p: { top: 2, left: 1, bottom: 0, right: 2 }, d: [2, 1], g: 5 }, // depthwise x3, dilated
  { H: 5, W: 6, C: 200, cout: 400, kh: 3, kw: 3, s: [1, 1], p: { top: 1, left: 1, bottom: 1, right: 1 }, d: [1, 1], g: 2 }, // K blocks per group
];

for (const cfg of helperConfigs) {
  for (const [i, c] of dgCases.entries()) {
    test(`conv ${c.kh}x${c.kw}/${c.s} dil ${c.d} groups ${c.g} C=${c.C} N=${c.cout} on ${c.H}x${c.W} (${cfgName(cfg)}) #${i}`, async () => {
      const r = rng(3000 + i);
      const B = 2;
      const node = conv("y", "x", r, [c.kh, c.kw, c.C / c.g, c.cout], { strides: c.s, pads: c.p, relu: i % 2 === 1, dilations: c.d, groups: c.g });
      assert.not.ok(usesWinograd(node as Conv2DNode, [c.H, c.W, c.cout]), "never Winograd");
      const graph = graphOf([input("x", [c.H, c.W, c.C]), node], ["y"]);
      const x = tensor(B, [c.H, c.W, c.C], randomArray(B * c.H * c.W * c.C, r));
      await withSession(graph, cfg, (s) => checkGraph(s, graph, new Map([["x", x]]), undefined, c.C > 100 ? 1e-4 : 1e-5));
    });
  }
  test(`grouped conv reading and writing concat slots (${cfgName(cfg)})`, async () => {
    const r = rng(4000);
    const graph = graphOf([
      input("x", [6, 7, 4]),
      conv("a", "x", r, [1, 1, 4, 6]),
      conv("b", "x", r, [3, 3, 2, 6], { groups: 2, dilations: [2, 1], pads: { top: 2, left: 1, bottom: 2, right: 1 } }),
      concat("ab", ["a", "b"]),
      conv("c", "ab", r, [3, 3, 3, 12], { groups: 4, relu: true }),
      conv("d", "ab", r, [1, 1, 12, 5]),
      concat("y", ["c", "d"]),
    ], ["y"]);
    const x = tensor(2, [6, 7, 4], randomArray(2 * 6 * 7 * 4, r));
    await withSession(graph, cfg, (s) => checkGraph(s, graph, new Map([["x", x]])));
  });
}
test.run();
