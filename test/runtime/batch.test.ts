/**
 * Batching: a small Inception-like graph (convs, pools, nested concat, global
 * pool, dense, softmax) run with batch 3 equals three batch-1 runs of the same
 * session and the naive reference; plans for several batch sizes coexist in
 * one session (later plans grow the wasm memory, earlier ones keep working);
 * concurrent run() calls are serialized and each gets its own results; a
 * graph with no kernel step at all (input straight to an output) runs.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Graph, Node } from "../../src/graph/ir.js";
import {
  assertClose, cfgName, checkGraph, concat, configs, conv, dense, graphOf, input, naiveRun, op1, pads0, pads1, pool,
  randomArray, rng, tensor, withSession,
} from "./helpers.js";

function smallInception(r: () => number, H = 9, W = 8, C = 3): Graph {
  const nodes: Node[] = [
    input("x", [H, W, C]),
    conv("stem", "x", r, [3, 3, C, 8], { strides: [2, 2], pads: pads0, relu: true }),
    conv("b1", "stem", r, [1, 1, 8, 5], { relu: true }),
    conv("b2a", "stem", r, [1, 1, 8, 4], { relu: true }),
    conv("b2", "b2a", r, [3, 3, 4, 6], { relu: true }),
    conv("b3a", "stem", r, [1, 3, 8, 3]),
    conv("b3b", "stem", r, [3, 1, 8, 3]),
    concat("b3", ["b3a", "b3b"]),
    pool("b4a", "stem", "avgpool", [3, 3], [1, 1], pads1, false),
    conv("b4", "b4a", r, [1, 1, 8, 3], { relu: true }),
    concat("mixed", ["b1", "b2", "b3", "b4"]),
    pool("red", "mixed", "maxpool", [3, 3], [2, 2], pads1),
    op1("globalavgpool", "gap", "red"),
    dense("logits", "gap", r, 20, 7),
    op1("softmax", "prob", "logits"),
  ];
  return graphOf(nodes, ["prob", "mixed"]);
}

for (const cfg of configs) {
  test(`batch 3 = three batch-1 runs = naive, conv/pool/concat graph (${cfgName(cfg)})`, async () => {
    const r = rng(77);
    const graph = smallInception(r);
    const x = randomArray(3 * 9 * 8 * 3, r, 2);
    await withSession(graph, cfg, async (s) => {
      const batched = await s.run(new Map([["x", x]]), 3);
      const per = 9 * 8 * 3;
      for (let n = 0; n < 3; n++) {
        const single = await s.run(new Map([["x", x.slice(n * per, (n + 1) * per)]]), 1);
        for (const name of ["prob", "mixed"]) {
          const one = single.get(name)!;
          const len = one.data.length;
          assert.equal(one.dims.slice(1), batched.get(name)!.dims.slice(1));
          assertClose(batched.get(name)!.data.subarray(n * len, (n + 1) * len), one.data, `${name} sample ${n}`, 1e-6);
        }
      }
      await checkGraph(s, graph, new Map([["x", tensor(3, [9, 8, 3], x)]]));
    });
  });
}

test("plans for many batch sizes in one session (memory grows), earlier plans still correct", async () => {
  const r = rng(78);
  const graph = smallInception(r, 33, 31, 4);
  const per = 33 * 31 * 4;
  const x = randomArray(24 * per, r, 2);
  const want = naiveRun(graph, new Map([["x", tensor(24, [33, 31, 4], x)]]));
  for (const cfg of [configs[0], configs[3]]) {
    await withSession(graph, cfg, async (s) => {
      const before = s.engine.memory.buffer.byteLength;
      for (const b of [1, 24, 2, 1, 5, 24]) {
        const out = await s.run(new Map([["x", x.subarray(0, b * per)]]), b);
        for (const name of ["prob", "mixed"]) {
          const w = want.get(name)!;
          const len = w.data.length / 24;
          assertClose(out.get(name)!.data, w.data.subarray(0, b * len), `${name} batch ${b} (${cfgName(cfg)})`, 1e-4);
        }
      }
      assert.ok(s.engine.memory.buffer.byteLength > before, "memory did not grow: the test does not cover growth");
    });
  }
});

test("cycling through many batch sizes and output sets: every run correct (plan cache reuse / eviction)", async () => {
  const r = rng(80);
  const graph = smallInception(r, 17, 15, 3);
  const per = 17 * 15 * 3;
  const x = randomArray(9 * per, r, 2);
  const want = naiveRun(graph, new Map([["x", tensor(9, [17, 15, 3], x)]]));
  const sizes = [1, 2, 3, 9, 4, 1, 8, 5, 9, 6, 1, 7, 2, 9, 1];
  for (const cfg of [configs[1], configs[2]]) {
    await withSession(graph, cfg, async (s) => {
      for (const [i, b] of sizes.entries()) {
        // Every third run also asks for intermediate tensors (another plan per batch size).
        const names = i % 3 === 2 ? ["prob", "b2", "red", "b3"] : ["prob", "mixed"];
        const out = await s.run(new Map([["x", x.subarray(0, b * per)]]), b, names);
        for (const name of names) {
          const w = want.get(name)!;
          const len = w.data.length / 9;
          assertClose(out.get(name)!.data, w.data.subarray(0, b * len), `run ${i}: ${name} batch ${b} (${cfgName(cfg)})`, 1e-4);
        }
      }
    });
  }
});

test("concurrent run() calls are serialized and each gets its own results", async () => {
  const r = rng(79);
  const graph = smallInception(r);
  const per = 9 * 8 * 3;
  const xs = [1, 3, 2, 1].map((b) => randomArray(b * per, r, 2));
  for (const cfg of [configs[0], configs[2]]) {
    await withSession(graph, cfg, async (s) => {
      const outs = await Promise.all(xs.map((x) => s.run(new Map([["x", x]]), x.length / per)));
      for (const [i, x] of xs.entries()) {
        const want = naiveRun(graph, new Map([["x", tensor(x.length / per, [9, 8, 3], x)]]));
        assertClose(outs[i]!.get("prob")!.data, want.get("prob")!.data, `run ${i} prob`, 1e-5);
        assertClose(outs[i]!.get("mixed")!.data, want.get("mixed")!.data, `run ${i} mixed`, 1e-4);
      }
    });
  }
});

for (const cfg of configs) {
  test(`graph without kernel steps: input -> identity / flatten outputs, batch 2 (${cfgName(cfg)})`, async () => {
    const graph = graphOf([input("x", [2, 2, 3]), op1("identity", "id", "x"), op1("flatten", "f", "x")], ["id", "f", "x"]);
    const x = Float32Array.from({ length: 24 }, (_, i) => i - 7.5);
    await withSession(graph, cfg, async (s) => {
      const out = await s.run(new Map([["x", x]]), 2);
      assert.equal(out.get("id")!.dims, [2, 2, 2, 3]);
      assert.equal(out.get("f")!.dims, [2, 12]);
      assert.equal([...out.get("id")!.data], [...x]);
      assert.equal([...out.get("f")!.data], [...x]);
      assert.equal([...out.get("x")!.data], [...x]);
    });
  });
}

test.run();
