/**
 * The non-convolution ops through planner + wasm kernels, against naive
 * references: global average pooling (channels not a multiple of 4), softmax
 * (stability on large logits, rows summing to 1, softmax over the channels of
 * an image tensor), batch normalization that cannot be folded (on the graph
 * input, after a pool, after a dense layer, without gamma / beta: runs as the
 * affine kernel), standalone ReLU (on the input, after a pool, after a BN),
 * and dense layers (ReLU, no bias, N not a multiple of 8, K = 1, batch 3).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Node } from "../../src/graph/ir.js";
import {
  batchnorm, cfgName, checkGraph, configs, dense, f32, graphOf, input, naiveSoftmax, op1, pads1, pool,
  randomArray, rng, tensor, withSession,
} from "./helpers.js";

for (const cfg of configs) {
  test(`globalavgpool C=3,8,13 on 5x3 and 1x1, batch 2 (${cfgName(cfg)})`, async () => {
    const r = rng(11);
    const B = 2;
    const nodes: Node[] = [
      input("a", [5, 3, 3]), input("b", [5, 3, 8]), input("c", [5, 3, 13]), input("d", [1, 1, 6]),
      op1("globalavgpool", "ga", "a"), op1("globalavgpool", "gb", "b"), op1("globalavgpool", "gc", "c"),
      op1("globalavgpool", "gd", "d"),
    ];
    const graph = graphOf(nodes, ["ga", "gb", "gc", "gd"]);
    const inputs = new Map([
      ["a", tensor(B, [5, 3, 3], randomArray(B * 45, r, 2))],
      ["b", tensor(B, [5, 3, 8], randomArray(B * 120, r, 2, 1))],
      ["c", tensor(B, [5, 3, 13], randomArray(B * 195, r, 2))],
      ["d", tensor(B, [1, 1, 6], randomArray(B * 6, r, 2))],
    ]);
    await withSession(graph, cfg, (s) => checkGraph(s, graph, inputs));
  });

  test(`softmax: large logits stay finite, rows sum to 1, flat and per-pixel, batch 3 (${cfgName(cfg)})`, async () => {
    const r = rng(12);
    const B = 3;
    const graph = graphOf([
      input("logits", [1001]), input("small", [7]), input("img", [2, 3, 5]),
      op1("softmax", "p", "logits"), op1("softmax", "q", "small"), op1("softmax", "pi", "img"),
    ], ["p", "q", "pi"]);
    // Row 0: logits around 1000 (exp overflows without max subtraction);
    // row 1: around -1000 (underflows to 0/0); row 2: a huge spread.
    const logits = new Float32Array(B * 1001);
    for (let i = 0; i < 1001; i++) {
      logits[i] = 1000 + r() * 20;
      logits[1001 + i] = -1000 + r() * 20;
      logits[2002 + i] = r() * 200;
    }
    const small = Float32Array.from([88, 89, 90, 1e4, -1e4, 0, 3, 3, 3, 3, 3, 3, 3, 3, -50, -60, -70, -80, -90, -100, -110]);
    const inputs = new Map([
      ["logits", tensor(B, [1001], logits)],
      ["small", tensor(B, [7], small)],
      ["img", tensor(B, [2, 3, 5], randomArray(B * 30, r, 60))],
    ]);
    await withSession(graph, cfg, async (s) => {
      await checkGraph(s, graph, inputs, undefined, 1e-5);
      const out = await s.run(new Map([...inputs].map(([k, v]) => [k, f32(v)])), B);
      for (const [name, cols] of [["p", 1001], ["q", 7], ["pi", 5]] as const) {
        const d = out.get(name)!.data;
        for (let row = 0; row < d.length / cols; row++) {
          let sum = 0;
          for (let j = 0; j < cols; j++) {
            const v = d[row * cols + j]!;
            assert.ok(Number.isFinite(v) && v >= 0 && v <= 1, `${name}[${row},${j}] = ${v}`);
            sum += v;
          }
          assert.ok(Math.abs(sum - 1) < 1e-5, `${name} row ${row} sums to ${sum}`);
        }
      }
      // Relative accuracy on every probability, tiny ones included (an absolute
      // tolerance would accept anything below 1e-5).
      const wantP = naiveSoftmax(inputs.get("logits")!).data;
      const gotP = out.get("p")!.data;
      for (let i = 0; i < wantP.length; i++) {
        if (wantP[i]! < 1e-30) continue; // below float32's normal range
        assert.ok(Math.abs(gotP[i]! - wantP[i]!) <= 1e-4 * wantP[i]!, `p[${i}] = ${gotP[i]}, expected ${wantP[i]}`);
      }
      // Row 0 of "small": 1e4 dominates everything; row 1 is uniform.
      const q = out.get("q")!.data;
      assert.ok(Math.abs(q[3]! - 1) < 1e-6, `q dominant ${q[3]}`);
      for (let j = 7; j < 14; j++) assert.ok(Math.abs(q[j]! - 1 / 7) < 1e-6, `q uniform ${q[j]}`);
      const want = naiveSoftmax(inputs.get("small")!);
      assert.ok(Math.abs(q[0]! - want.data[0]!) < 1e-6);
    });
  });

  test(`standalone batchnorm: on the input, after a pool, after dense, without gamma/beta, C=3,4,13 (${cfgName(cfg)})`, async () => {
    const r = rng(13);
    const B = 2;
    const nodes: Node[] = [
      input("x3", [4, 5, 3]), input("x4", [3, 3, 4]), input("x13", [3, 2, 13]), input("v", [10]),
      batchnorm("bn3", "x3", r, 3),
      batchnorm("bn4_nogamma", "x4", r, 4, { gamma: false }),
      batchnorm("bn13_nobeta", "x13", r, 13, { beta: false }),
      batchnorm("bn13_neither", "x13", r, 13, { gamma: false, beta: false }),
      pool("p3", "x3", "maxpool", [3, 3], [2, 2], pads1),
      batchnorm("bn_after_pool", "p3", r, 3),
      dense("d", "v", r, 10, 6),
      batchnorm("bn_after_dense", "d", r, 6),
    ];
    const outputs = ["bn3", "bn4_nogamma", "bn13_nobeta", "bn13_neither", "bn_after_pool", "bn_after_dense"];
    const graph = graphOf(nodes, outputs);
    const inputs = new Map([
      ["x3", tensor(B, [4, 5, 3], randomArray(B * 60, r, 4))],
      ["x4", tensor(B, [3, 3, 4], randomArray(B * 36, r, 4))],
      ["x13", tensor(B, [3, 2, 13], randomArray(B * 78, r, 4))],
      ["v", tensor(B, [10], randomArray(B * 10, r, 2))],
    ]);
    await withSession(graph, cfg, (s) => checkGraph(s, graph, inputs));
  });

  test(`standalone relu: on the input, after a pool, after an unfoldable BN, on a flat input (${cfgName(cfg)})`, async () => {
    const r = rng(14);
    const B = 2;
    const nodes: Node[] = [
      input("x", [5, 4, 5]), input("v", [9]),
      op1("relu", "r_in", "x"),
      pool("p", "x", "avgpool", [3, 3], [1, 1], pads1, false),
      op1("relu", "r_pool", "p"),
      batchnorm("bn", "x", r, 5),
      op1("relu", "r_bn", "bn"),
      op1("relu", "r_flat", "v"),
    ];
    const graph = graphOf(nodes, ["r_in", "r_pool", "r_bn", "r_flat"]);
    const inputs = new Map([
      ["x", tensor(B, [5, 4, 5], randomArray(B * 100, r, 4))],
      ["v", tensor(B, [9], randomArray(B * 9, r, 4))],
    ]);
    await withSession(graph, cfg, (s) => checkGraph(s, graph, inputs));
  });

  test(`dense: relu, no bias, N=5/8/17, K=1, K=300, batch 3 (${cfgName(cfg)})`, async () => {
    const r = rng(15);
    const B = 3;
    const nodes: Node[] = [
      input("v", [12]), input("one", [1]), input("wide", [300]),
      dense("d5relu", "v", r, 12, 5, { relu: true }),
      dense("d8nobias", "v", r, 12, 8, { bias: false }),
      dense("d17", "v", r, 12, 17),
      dense("k1", "one", r, 1, 5),
      dense("k1relu_nobias", "one", r, 1, 9, { relu: true, bias: false }),
      dense("k300", "wide", r, 300, 13, { relu: true }),
      dense("chained", "d17", r, 17, 3),
    ];
    const graph = graphOf(nodes, ["d5relu", "d8nobias", "d17", "k1", "k1relu_nobias", "k300", "chained"]);
    const inputs = new Map([
      ["v", tensor(B, [12], randomArray(B * 12, r, 2))],
      ["one", tensor(B, [1], randomArray(B, r, 4))],
      ["wide", tensor(B, [300], randomArray(B * 300, r, 2))],
    ]);
    await withSession(graph, cfg, (s) => checkGraph(s, graph, inputs));
  });
}

test.run();
