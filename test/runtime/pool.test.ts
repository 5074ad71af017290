/**
 * Max / average pooling through the planner and the wasm kernels, against the
 * naive reference in helpers.ts: 3x3 windows at stride 1 and 2, "same"
 * padding (1 each side), valid, asymmetric pads (TF "same" on even/odd sizes:
 * top/left 0, bottom/right 1, and the mirror), average with and without
 * count-include-pad, channel counts below, at and past multiples of 4,
 * batch 2; a window covering the whole 8x8 input (Keras global
 * AveragePooling2D); max pooling on all-negative inputs, where a padded zero
 * taking part in the max would show.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Node, Pads } from "../../src/graph/ir.js";
import {
  cfgName, checkGraph, configs, graphOf, input, pads0, pads1, pool, randomArray, rng, tensor, withSession,
} from "./helpers.js";

const padCases: { tag: string; pads: Pads }[] = [
  { tag: "same1", pads: pads1 },
  { tag: "valid", pads: pads0 },
  { tag: "asymBR", pads: { top: 0, left: 0, bottom: 1, right: 1 } },
  { tag: "asymMix", pads: { top: 1, left: 0, bottom: 0, right: 1 } },
  { tag: "asym2", pads: { top: 2, left: 0, bottom: 1, right: 2 } },
];

/** Every pool variant on input `x`, named by its parameters. */
function poolNodes(x: string): Node[] {
  const nodes: Node[] = [];
  for (const { tag, pads } of padCases) {
    for (const s of [1, 2]) {
      nodes.push(pool(`${x}_max_${tag}_s${s}`, x, "maxpool", [3, 3], [s, s], pads));
      nodes.push(pool(`${x}_avg_${tag}_s${s}_cip`, x, "avgpool", [3, 3], [s, s], pads, true));
      nodes.push(pool(`${x}_avg_${tag}_s${s}_nocip`, x, "avgpool", [3, 3], [s, s], pads, false));
    }
  }
  // 2x2 stride 2 with TF "same" padding on an odd size (pad only after).
  nodes.push(pool(`${x}_max_2x2_s2_same`, x, "maxpool", [2, 2], [2, 2], { top: 0, left: 0, bottom: 1, right: 1 }));
  nodes.push(pool(`${x}_avg_2x2_s2_same_nocip`, x, "avgpool", [2, 2], [2, 2], { top: 0, left: 0, bottom: 1, right: 1 }, false));
  nodes.push(pool(`${x}_avg_2x2_s2_same_cip`, x, "avgpool", [2, 2], [2, 2], { top: 0, left: 0, bottom: 1, right: 1 }, true));
  // Non-square window and strides.
  nodes.push(pool(`${x}_max_3x2_s21`, x, "maxpool", [3, 2], [2, 1], { top: 1, left: 0, bottom: 1, right: 1 }));
  nodes.push(pool(`${x}_avg_1x3_s12_cip`, x, "avgpool", [1, 3], [1, 2], { top: 0, left: 1, bottom: 0, right: 1 }, true));
  return nodes;
}

for (const cfg of configs) {
  for (const C of [3, 4, 5, 8, 13]) {
    test(`pool 3x3 s1/s2 same/valid/asymmetric, avg cip on/off, C=${C}, batch 2 (${cfgName(cfg)})`, async () => {
      const r = rng(100 + C);
      const H = 9, W = 7, B = 2;
      // "x": values around 0; "neg": all strictly negative (in [-1.5, -0.5)),
      // so a zero padding cell in a max would be visible.
      const nodes: Node[] = [input("x", [H, W, C]), input("neg", [H, W, C]), ...poolNodes("x"), ...poolNodes("neg")];
      const outputs = nodes.filter((n) => n.op !== "input").map((n) => n.name);
      const graph = graphOf(nodes, outputs);
      const inputs = new Map([
        ["x", tensor(B, [H, W, C], randomArray(B * H * W * C, r, 4))],
        ["neg", tensor(B, [H, W, C], randomArray(B * H * W * C, r, 1, -1))],
      ]);
      await withSession(graph, cfg, (s) => checkGraph(s, graph, inputs));
    });
  }

  test(`pool 8x8 valid window on 8x8 = global pool (Keras AveragePooling2D), C=20 and 6 (${cfgName(cfg)})`, async () => {
    const r = rng(7);
    const B = 2;
    const nodes: Node[] = [
      input("x", [8, 8, 20]), input("y", [8, 8, 6]),
      pool("avg", "x", "avgpool", [8, 8], [8, 8], pads0, false),
      pool("avgcip", "x", "avgpool", [8, 8], [1, 1], pads0, true),
      pool("max", "x", "maxpool", [8, 8], [8, 8], pads0),
      pool("avg6", "y", "avgpool", [8, 8], [8, 8], pads0, false),
      pool("max6", "y", "maxpool", [8, 8], [1, 1], pads0),
    ];
    const graph = graphOf(nodes, ["avg", "avgcip", "max", "avg6", "max6"]);
    const inputs = new Map([
      ["x", tensor(B, [8, 8, 20], randomArray(B * 64 * 20, r, 2))],
      ["y", tensor(B, [8, 8, 6], randomArray(B * 64 * 6, r, 1, -3))],
    ]);
    await withSession(graph, cfg, async (s) => {
      await checkGraph(s, graph, inputs);
      const out = await s.run(new Map([["x", Float32Array.from(inputs.get("x")!.data)], ["y", Float32Array.from(inputs.get("y")!.data)]]), B);
      assert.equal(out.get("avg")!.dims, [B, 1, 1, 20]);
    });
  });
}

for (const cfg of configs) {
  test(`pool on tiny inputs (1x1, 2x3, 1x5, 3x1) where every window is clipped, C=4 and 5 (${cfgName(cfg)})`, async () => {
    const r = rng(8);
    const B = 2;
    const nodes: Node[] = [];
    const inputs = new Map();
    for (const [H, W] of [[1, 1], [2, 3], [1, 5], [3, 1]] as const) {
      for (const C of [4, 5]) {
        const x = `x${H}${W}c${C}`;
        nodes.push(input(x, [H, W, C]));
        inputs.set(x, tensor(B, [H, W, C], randomArray(B * H * W * C, r, 2, -1.5)));
        nodes.push(pool(`${x}_max`, x, "maxpool", [3, 3], [1, 1], pads1));
        nodes.push(pool(`${x}_max_s2`, x, "maxpool", [3, 3], [2, 2], pads1));
        nodes.push(pool(`${x}_avg_cip`, x, "avgpool", [3, 3], [1, 1], pads1, true));
        nodes.push(pool(`${x}_avg_nocip`, x, "avgpool", [3, 3], [2, 2], pads1, false));
        nodes.push(pool(`${x}_avg_asym_cip`, x, "avgpool", [3, 3], [1, 1], { top: 2, left: 0, bottom: 0, right: 2 }, true));
      }
    }
    const graph = graphOf(nodes, nodes.filter((n) => n.op !== "input").map((n) => n.name));
    await withSession(graph, cfg, (s) => checkGraph(s, graph, inputs));
  });
}

test("padding as large as the window is refused at load, naming the node", async () => {
  const graph = graphOf([input("x", [4, 4, 2]), pool("bad", "x", "maxpool", [2, 2], [1, 1], { top: 2, left: 0, bottom: 0, right: 0 })], ["bad"]);
  try {
    await withSession(graph, configs[0], async () => undefined);
    assert.unreachable("expected an error");
  } catch (e) {
    assert.instance(e, Error);
    assert.match((e as Error).message, /bad/);
    assert.match((e as Error).message, /padding/);
  }
});

test("max pool on all-negative input never returns 0 (padding ignored), explicit values", async () => {
  // 2x2 input, one channel, all -1..-4; 3x3 same max pool: every window covers the
  // whole input, so every output is the max -1 (a padded 0 would give 0).
  const graph = graphOf([
    input("x", [2, 2, 1]),
    pool("m", "x", "maxpool", [3, 3], [1, 1], pads1),
    pool("a", "x", "avgpool", [3, 3], [1, 1], pads1, false),
    pool("ac", "x", "avgpool", [3, 3], [1, 1], pads1, true),
  ], ["m", "a", "ac"]);
  await withSession(graph, configs[0], async (s) => {
    const out = await s.run(new Map([["x", new Float32Array([-1, -2, -3, -4])]]), 1);
    assert.equal([...out.get("m")!.data], [-1, -1, -1, -1]);
    assert.equal([...out.get("a")!.data], [-2.5, -2.5, -2.5, -2.5]);
    // Count-include-pad divides the sum -10 by the 9 cells of the window.
    for (const v of out.get("ac")!.data) assert.ok(Math.abs(v - -10 / 9) < 1e-6, `cip avg ${v}`);
  });
});

test.run();
