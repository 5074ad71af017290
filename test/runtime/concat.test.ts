/**
 * Concatenation, flatten and identity through the planner and the kernels,
 * against the naive interpreter of helpers.ts (which evaluates the graph as
 * written, before any pass).
 *
 * Concat branches whose only reader is the concat are written straight into
 * their channel slot (a view with the concat's pixel stride); everything
 * else must be copied. Each case here targets one of those decisions: views
 * written by every kernel family (conv, pool, affine, global pool, dense,
 * softmax) with channel counts that are not multiples of 4 or 8 and in both
 * execution orders (a kernel writing past its slot would clobber its
 * neighbour), nested concats (Inception's mixed9 shape and a deeper chain),
 * the graph input as a concat input, the same tensor twice, a branch also read
 * by another node, a branch that is also a graph output, a conv / pool reading
 * a concat, concat of flat tensors, flatten + dense, identity kept as a graph
 * output.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Graph, Node } from "../../src/graph/ir.js";
import {
  batchnorm, cfgName, checkGraph, concat, configs, conv, dense, f32, graphOf, input, naiveRun, op1, pads0, pads1,
  pool, randomArray, rng, tensor, withSession, type T,
} from "./helpers.js";

interface Case {
  name: string;
  build(r: () => number): { graph: Graph; inputs: Map<string, T>; extra?: string[] };
}

const B = 2;
const img = (r: () => number, name: string, shape: number[], b = B) =>
  [name, tensor(b, shape, randomArray(b * shape.reduce((a, c) => a * c, 1), r, 2))] as [string, T];

const cases: Case[] = [
  {
    name: "views from conv (N=5, 13), maxpool (C=3), relu and BN on the input (C=3), wide branch first in graph order",
    build(r) {
      const nodes: Node[] = [
        input("x", [6, 5, 3]),
        conv("c13", "x", r, [1, 1, 3, 13]),
        conv("a5", "x", r, [3, 3, 3, 5], { relu: true }),
        pool("p3", "x", "maxpool", [3, 3], [1, 1], pads1),
        op1("relu", "r3", "x"),
        batchnorm("bn3", "x", r, 3),
        pool("avg3", "x", "avgpool", [3, 3], [1, 1], pads1, false),
        // Slots: a5 | p3 | r3 | bn3 | c13 | avg3 — the narrow ones run last but sit first.
        concat("cat", ["a5", "p3", "r3", "bn3", "c13", "avg3"]),
      ];
      return { graph: graphOf(nodes, ["cat"]), inputs: new Map([img(r, "x", [6, 5, 3])]) };
    },
  },
  {
    name: "views in the reverse order: narrow branches computed first, wide last",
    build(r) {
      const nodes: Node[] = [
        input("x", [5, 6, 5]),
        pool("p5", "x", "avgpool", [3, 3], [1, 1], pads1, true),
        conv("a3", "x", r, [1, 3, 5, 3]),
        op1("relu", "r5", "x"),
        conv("w9", "x", r, [3, 1, 5, 9], { relu: true }),
        conv("w16", "x", r, [1, 1, 5, 16]),
        concat("cat", ["w16", "w9", "r5", "a3", "p5"]),
      ];
      return { graph: graphOf(nodes, ["cat"]), inputs: new Map([img(r, "x", [5, 6, 5])]) };
    },
  },
  {
    name: "strided (stride-2) conv and pool branches into a concat, as in Inception's reduction blocks",
    build(r) {
      const nodes: Node[] = [
        input("x", [9, 9, 6]),
        conv("c1", "x", r, [3, 3, 6, 7], { strides: [2, 2], pads: pads0, relu: true }),
        conv("c2a", "x", r, [1, 1, 6, 4], { relu: true }),
        conv("c2", "c2a", r, [3, 3, 4, 5], { strides: [2, 2], pads: pads0 }),
        pool("mp", "x", "maxpool", [3, 3], [2, 2], pads0),
        concat("cat", ["c1", "c2", "mp"]),
      ];
      return { graph: graphOf(nodes, ["cat"]), inputs: new Map([img(r, "x", [9, 9, 6])]) };
    },
  },
  {
    name: "nested concat like mixed9: concat(a, concat(b, c), d), and a deeper chain concat(concat(concat(a,b),c),d)",
    build(r) {
      const nodes: Node[] = [
        input("x", [4, 5, 4]),
        conv("a", "x", r, [1, 1, 4, 6]),
        conv("b", "x", r, [1, 3, 4, 5]),
        conv("c", "x", r, [3, 1, 4, 3], { relu: true }),
        pool("d", "x", "avgpool", [3, 3], [1, 1], pads1, false),
        concat("bc", ["b", "c"]),
        concat("mixed9", ["a", "bc", "d"]),
        conv("e", "x", r, [1, 1, 4, 2]),
        conv("f", "x", r, [1, 1, 4, 7]),
        conv("g", "x", r, [1, 1, 4, 1]),
        op1("relu", "h", "x"),
        concat("ef", ["e", "f"]),
        concat("efg", ["ef", "g"]),
        concat("efgh", ["efg", "h"]),
        // Two levels of nesting inside the outer concat, with the inner concats in the middle.
        concat("outer", ["mixed9", "efgh"]),
      ];
      return { graph: graphOf(nodes, ["outer"]), inputs: new Map([img(r, "x", [4, 5, 4])]) };
    },
  },
  {
    name: "the graph input as a concat input (copied), also read by a conv of the same concat",
    build(r) {
      const nodes: Node[] = [
        input("x", [3, 4, 5]),
        conv("a", "x", r, [3, 3, 5, 6]),
        concat("cat", ["a", "x"]),
        // x read by a, cat, cat2; cat is a view of cat2.
        concat("cat2", ["x", "cat"]),
        // z is read by this concat only, yet it is a graph input: copied, never a view.
        input("z", [3, 4, 2]),
        conv("cz", "x", r, [1, 1, 5, 3]),
        concat("catz", ["cz", "z"]),
      ];
      return { graph: graphOf(nodes, ["cat2", "catz"]), inputs: new Map([img(r, "x", [3, 4, 5]), img(r, "z", [3, 4, 2])]) };
    },
  },
  {
    name: "the same tensor twice in one concat, and the input twice",
    build(r) {
      const nodes: Node[] = [
        input("x", [3, 3, 3]),
        conv("a", "x", r, [1, 1, 3, 5]),
        conv("b", "x", r, [1, 1, 3, 2]),
        concat("cat", ["a", "b", "a"]),
        concat("xx", ["x", "x"]),
      ];
      return { graph: graphOf(nodes, ["cat", "xx"]), inputs: new Map([img(r, "x", [3, 3, 3])]) };
    },
  },
  {
    name: "a concat input also read by another node (copied, not a view); a tensor in two concats",
    build(r) {
      const nodes: Node[] = [
        input("x", [4, 4, 3]),
        conv("a", "x", r, [3, 3, 3, 5]),
        conv("b", "x", r, [1, 1, 3, 3]),
        concat("cat", ["a", "b"]),
        pool("pa", "a", "maxpool", [3, 3], [1, 1], pads1),
        conv("ca", "a", r, [1, 1, 5, 4]),
        concat("cat2", ["b", "pa"]),
      ];
      return { graph: graphOf(nodes, ["cat", "ca", "cat2"]), inputs: new Map([img(r, "x", [4, 4, 3])]) };
    },
  },
  {
    name: "a branch that is also a graph output stays readable (it lives in the concat with a stride)",
    build(r) {
      const nodes: Node[] = [
        input("x", [4, 3, 4]),
        conv("a", "x", r, [1, 1, 4, 5]),
        pool("p", "x", "maxpool", [3, 3], [1, 1], pads1),
        conv("b", "x", r, [3, 3, 4, 3], { relu: true }),
        concat("inner", ["p", "b"]),
        concat("cat", ["a", "inner"]),
      ];
      return { graph: graphOf(nodes, ["cat", "a", "b", "inner"]), inputs: new Map([img(r, "x", [4, 3, 4])]) };
    },
  },
  {
    name: "conv and pool reading a concat output (after views and a copy)",
    build(r) {
      const nodes: Node[] = [
        input("x", [5, 5, 3]),
        conv("a", "x", r, [3, 3, 3, 6]),
        conv("b", "x", r, [1, 1, 3, 5], { relu: true }),
        concat("cat", ["a", "x", "b"]),
        conv("y", "cat", r, [3, 3, 14, 9], { strides: [2, 2] }),
        pool("py", "cat", "avgpool", [3, 3], [2, 2], pads1, false),
        op1("globalavgpool", "gy", "cat"),
      ];
      return { graph: graphOf(nodes, ["y", "py", "gy"]), inputs: new Map([img(r, "x", [5, 5, 3])]) };
    },
  },
  {
    name: "concat of flat tensors: global pool, dense, softmax and flatten outputs, then dense",
    build(r) {
      const nodes: Node[] = [
        input("x", [3, 3, 5]),
        input("v", [7]),
        op1("globalavgpool", "g", "x"),
        dense("d", "v", r, 7, 5, { relu: true }),
        dense("d2", "v", r, 7, 3),
        op1("softmax", "s", "d2"),
        op1("flatten", "fx", "x"),
        concat("flat", ["g", "d", "s", "fx", "v"]),
        dense("head", "flat", r, 5 + 5 + 3 + 45 + 7, 10),
        op1("softmax", "prob", "head"),
      ];
      return {
        graph: graphOf(nodes, ["flat", "prob"]),
        inputs: new Map([img(r, "x", [3, 3, 5]), ["v", tensor(B, [7], randomArray(B * 7, r, 2))]]),
      };
    },
  },
  {
    name: "flatten after a strided conv, after a concat, and of the input, each followed by dense; flatten kept as output",
    build(r) {
      const nodes: Node[] = [
        input("x", [6, 5, 3]),
        conv("c", "x", r, [3, 3, 3, 4], { strides: [2, 2], relu: true }), // -> [3,3,4]
        op1("flatten", "fc", "c"),
        dense("dc", "fc", r, 36, 6),
        conv("a", "c", r, [1, 1, 4, 3]),
        pool("p", "c", "maxpool", [3, 3], [1, 1], pads1),
        concat("cat", ["a", "p"]),
        op1("flatten", "fcat", "cat"),
        dense("dcat", "fcat", r, 63, 5, { relu: true }),
        op1("flatten", "fx", "x"),
        dense("dx", "fx", r, 90, 3),
      ];
      return { graph: graphOf(nodes, ["dc", "dcat", "dx", "fcat"]), inputs: new Map([img(r, "x", [6, 5, 3])]) };
    },
  },
  {
    name: "identity kept as a graph output (dropout), identity inside the graph removed, identity into a concat",
    build(r) {
      const nodes: Node[] = [
        input("x", [4, 4, 3]),
        conv("a", "x", r, [3, 3, 3, 5]),
        op1("identity", "drop", "a"),
        op1("relu", "ra", "drop"),
        op1("identity", "idx", "x"),
        conv("b", "idx", r, [1, 1, 3, 2]),
        op1("identity", "ib", "b"),
        concat("cat", ["ra", "ib", "idx"]),
        op1("globalavgpool", "g", "cat"),
        op1("identity", "out", "g"),
      ];
      return { graph: graphOf(nodes, ["out", "cat"]), inputs: new Map([img(r, "x", [4, 4, 3])]) };
    },
  },
  {
    name: "a long chain after a concat (arena reuse must not overwrite live tensors)",
    build(r) {
      const nodes: Node[] = [input("x", [6, 6, 4])];
      let prev = "x";
      let C = 4;
      for (let i = 0; i < 6; i++) {
        const a = `a${i}`, b = `b${i}`, p = `p${i}`, cat = `cat${i}`;
        const ca = 3 + (i % 3), cb = 2 + i;
        nodes.push(conv(a, prev, r, [1, 1, C, ca], { relu: i % 2 === 0 }));
        nodes.push(conv(b, prev, r, [3, 3, C, cb]));
        nodes.push(pool(p, prev, "maxpool", [3, 3], [1, 1], pads1));
        nodes.push(concat(cat, [a, b, p]));
        C = ca + cb + C;
        prev = cat;
      }
      // Scale the activations down: the channel count grows, so values would too.
      nodes.push(conv("y", prev, r, [1, 1, C, 6]));
      return { graph: graphOf(nodes, ["y", "cat2"]), inputs: new Map([img(r, "x", [6, 6, 4])]) };
    },
  },
];

for (const cfg of configs) {
  for (const [i, c] of cases.entries()) {
    test(`concat #${i}: ${c.name} (${cfgName(cfg)})`, async () => {
      const { graph, inputs } = c.build(rng(500 + i));
      await withSession(graph, cfg, (s) => checkGraph(s, graph, inputs, undefined, 1e-4));
    });
  }
}

test("a view read through run(..., outputs) without being kept, and a kept view", async () => {
  const r = rng(42);
  const nodes: Node[] = [
    input("x", [4, 4, 6]),
    conv("a", "x", r, [1, 1, 6, 5]),
    pool("p", "x", "avgpool", [3, 3], [1, 1], pads1, true),
    conv("b", "x", r, [3, 3, 6, 3]),
    concat("inner", ["p", "b"]),
    concat("cat", ["a", "inner"]),
  ];
  const graph = graphOf(nodes, ["cat"]);
  const inputs = new Map([img(r, "x", [4, 4, 6])]);
  for (const cfg of [configs[0], configs[2]]) {
    await withSession(graph, cfg, async (s) => {
      await checkGraph(s, graph, inputs, ["cat", "a", "b", "inner", "p"]);
      await checkGraph(s, graph, inputs); // back to the default plan
    });
    await withSession(graph, cfg, (s) => checkGraph(s, graph, inputs, ["cat", "b"]), ["b"]);
  }
});

test("same input values in every slot: concat of the graph input with itself three times, batch 1", async () => {
  const graph = graphOf([input("x", [1, 2, 3]), concat("cat", ["x", "x", "x"])], ["cat"]);
  await withSession(graph, configs[0], async (s) => {
    const out = await s.run(new Map([["x", new Float32Array([1, 2, 3, 4, 5, 6])]]), 1);
    assert.equal(out.get("cat")!.dims, [1, 1, 2, 9]);
    assert.equal([...out.get("cat")!.data], [1, 2, 3, 1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6, 4, 5, 6]);
  });
});

test("naive interpreter sanity: concat reference places channels as expected", () => {
  const a = tensor(1, [1, 2, 2], [1, 2, 3, 4]);
  const b = tensor(1, [1, 2, 1], [9, 8]);
  const g = graphOf([input("a", [1, 2, 2]), input("b", [1, 2, 1]), concat("c", ["b", "a"])], ["c"]);
  const v = naiveRun(g, new Map([["a", a], ["b", b]]));
  assert.equal([...f32(v.get("c")!)], [9, 1, 2, 8, 3, 4]);
});

test.run();
