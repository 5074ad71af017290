/**
 * The pad kernel (wasm/f32-pad) through the planner, against the naive
 * reference in helpers.ts: constant (nonzero value), reflect and edge modes,
 * pads symmetric, asymmetric and zero on some sides, channel counts below,
 * at and past multiples of 4, batch 2, both kernel builds at 1 and 2
 * threads; pads written into concat slots (strided output pixels) and a pad
 * of a pad.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Node, PadMode, Pads } from "../../src/graph/ir.js";
import { cfgName, checkGraph, concat, configs, conv, graphOf, input, pad, randomArray, rng, tensor, withSession } from "./helpers.js";

const padCases: { tag: string; pads: Pads }[] = [
  { tag: "sym1", pads: { top: 1, left: 1, bottom: 1, right: 1 } },
  { tag: "asym", pads: { top: 2, left: 0, bottom: 1, right: 3 } },
  { tag: "rowsOnly", pads: { top: 0, left: 0, bottom: 4, right: 0 } },
  { tag: "colsOnly", pads: { top: 0, left: 3, bottom: 0, right: 1 } },
  { tag: "none", pads: { top: 0, left: 0, bottom: 0, right: 0 } },
];
const modes: PadMode[] = ["constant", "reflect", "edge"];

for (const cfg of configs) {
  for (const C of [1, 4, 5, 8, 13]) {
    test(`pad constant/reflect/edge, symmetric, asymmetric and zero sides, C=${C}, batch 2 (${cfgName(cfg)})`, async () => {
      const r = rng(300 + C);
      const H = 6, W = 5, B = 2;
      const nodes: Node[] = [input("x", [H, W, C])];
      for (const mode of modes) {
        for (const { tag, pads } of padCases) nodes.push(pad(`${mode}_${tag}`, "x", pads, mode, mode === "constant" ? -2.5 : 0));
      }
      const graph = graphOf(nodes, nodes.slice(1).map((n) => n.name));
      const inputs = new Map([["x", tensor(B, [H, W, C], randomArray(B * H * W * C, r, 4))]]);
      await withSession(graph, cfg, (s) => checkGraph(s, graph, inputs));
    });
  }

  test(`pads written into concat slots (C=5 at a 5-float offset, C=3), a pad of a pad, a conv reading the concat (${cfgName(cfg)})`, async () => {
    const r = rng(9);
    const H = 7, W = 4, B = 2;
    const pads = { top: 1, left: 2, bottom: 3, right: 0 };
    const nodes: Node[] = [
      input("x", [H, W, 5]), input("y", [H, W, 3]),
      pad("const", "x", pads, "constant", 1.25),
      pad("refl", "x", pads, "reflect"),
      // A pad of a pad: dense input, strided output.
      pad("inner", "y", { top: 0, left: 1, bottom: 1, right: 0 }, "edge"),
      pad("edge", "inner", { top: 1, left: 1, bottom: 2, right: 0 }, "edge"),
      concat("cat", ["const", "refl", "edge"]),
      conv("mix", "cat", r, [3, 3, 13, 6]),
    ];
    const graph = graphOf(nodes, ["cat", "mix"]);
    const inputs = new Map([
      ["x", tensor(B, [H, W, 5], randomArray(B * H * W * 5, r, 2))],
      ["y", tensor(B, [H, W, 3], randomArray(B * H * W * 3, r, 2))],
    ]);
    await withSession(graph, cfg, async (s) => {
      await checkGraph(s, graph, inputs);
      // The pads really wrote into their slots: no copy steps for the concat.
      const plan = s.plan(B, ["const", "refl", "edge"]);
      const cat = plan.outputs.get("cat")!;
      for (const [name, offset] of [["const", 0], ["refl", 5], ["edge", 10]] as const) {
        const t = plan.outputs.get(name)!;
        assert.is(t.address, cat.address + offset * 4, `${name} is not a view at channel ${offset}`);
        assert.is(t.pixelStride, 13 * 4, `${name} stride`);
      }
    });
  });
}

test.run();
