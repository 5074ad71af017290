/**
 * The sigmoid kernel (f32-sigmoid) and the log-softmax variant of the softmax
 * kernel through planner + wasm, against naive float64 loops: inputs far
 * beyond exp's float32 range (±100, ±1e4, ±Infinity-free), channel counts
 * that are not multiples of 4, image and flat tensors, batch 2, outputs
 * written as strided views into a concatenation, and 1 and 2 threads.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Node } from "../../src/graph/ir.js";
import {
  cfgName, checkGraph, concat, configs, dense, f32, graphOf, input, naiveLogSoftmax, naiveSigmoid, op1, randomArray, rng,
  tensor, withSession,
} from "./helpers.js";

const EXTREMES = [0, 1e4, -1e4, 100, -100, 88, -88, 89, -89, 30, -30, 17, -17, 1e-8, -1e-8, 3.5, -3.5];

/** `n` values: the extremes first, then random ones of spread `scale`. */
function values(n: number, r: () => number, scale: number): Float32Array {
  const a = randomArray(n, r, scale);
  for (let i = 0; i < Math.min(n, EXTREMES.length); i++) a[i] = EXTREMES[i]!;
  return a;
}

for (const cfg of configs) {
  test(`sigmoid: extreme inputs, C=1,5,13, image and flat, batch 2, into a concat (${cfgName(cfg)})`, async () => {
    const r = rng(41);
    const B = 2;
    const nodes: Node[] = [
      input("a", [3, 4, 5]), input("b", [2, 2, 13]), input("c", [1, 3, 1]), input("v", [7]), input("w", [9]),
      op1("sigmoid", "sa", "a"), op1("sigmoid", "sb", "b"), op1("sigmoid", "sc", "c"), op1("sigmoid", "sv", "v"),
      // sig1 / sig2 are written straight into their channel slots of cat (strided output).
      op1("sigmoid", "sig1", "a"), dense("d", "w", r, 9, 6), op1("sigmoid", "sig2", "d"),
      op1("relu", "ra", "a"), concat("cat", ["sig1", "ra"]),
      op1("globalavgpool", "g", "cat"), concat("flatcat", ["sig2", "g"]),
    ];
    const graph = graphOf(nodes, ["sa", "sb", "sc", "sv", "cat", "flatcat"]);
    const inputs = new Map([
      ["a", tensor(B, [3, 4, 5], values(B * 60, r, 40))],
      ["b", tensor(B, [2, 2, 13], values(B * 52, r, 200))],
      ["c", tensor(B, [1, 3, 1], values(B * 3, r, 10))],
      ["v", tensor(B, [7], values(B * 7, r, 10))],
      ["w", tensor(B, [9], randomArray(B * 9, r, 2))],
    ]);
    await withSession(graph, cfg, async (s) => {
      await checkGraph(s, graph, inputs);
      // Relative accuracy, tiny outputs included; saturation exact; all in [0, 1].
      const out = await s.run(new Map([...inputs].map(([k, v]) => [k, f32(v)])), B);
      for (const name of ["sa", "sb", "sc", "sv"]) {
        const got = out.get(name)!.data;
        const want = naiveSigmoid(inputs.get(name.slice(1))!).data;
        for (let i = 0; i < want.length; i++) {
          const g = got[i]!, w = want[i]!;
          assert.ok(g >= 0 && g <= 1, `${name}[${i}] = ${g}`);
          if (w < 1e-30) assert.ok(g < 1e-30, `${name}[${i}] = ${g}, expected ${w}`);
          else assert.ok(Math.abs(g - w) <= 2e-6 * w, `${name}[${i}] = ${g}, expected ${w}`);
        }
      }
      const sb = out.get("sb")!.data;
      assert.is(sb[1], 1, "sigmoid(1e4) is exactly 1");
      assert.is(sb[2], 0, "sigmoid(-1e4) is exactly 0");
    });
  });

  test(`logsoftmax: large logits stay finite and exact, C=1,7,13,1001, image and flat, batch 2, into a concat (${cfgName(cfg)})`, async () => {
    const r = rng(42);
    const B = 2;
    const graph = graphOf([
      input("logits", [1001]), input("small", [7]), input("img", [2, 3, 13]), input("one", [2, 1]),
      op1("logsoftmax", "lp", "logits"), op1("logsoftmax", "lq", "small"), op1("logsoftmax", "li", "img"),
      op1("logsoftmax", "lo", "one"),
      // Strided output: both written into cat's channel slots.
      op1("logsoftmax", "l1", "img"), op1("softmax", "s1", "img"), concat("cat", ["l1", "s1"]),
    ], ["lp", "lq", "li", "lo", "cat"]);
    // Row 0: logits around 1000 (exp overflows without max subtraction); row 1 around -1000.
    const logits = new Float32Array(B * 1001);
    for (let i = 0; i < 1001; i++) {
      logits[i] = 1000 + r() * 20;
      logits[1001 + i] = -1000 + r() * 20;
    }
    // Row 0: 1e4 dominates (the others' log-probabilities are ~ -1e4); row 1 uniform.
    const small = Float32Array.from([88, 89, 90, 1e4, -1e4, 0, 3, 3, 3, 3, 3, 3, 3, 3]);
    const inputs = new Map([
      ["logits", tensor(B, [1001], logits)],
      ["small", tensor(B, [7], small)],
      ["img", tensor(B, [2, 3, 13], randomArray(B * 78, r, 200))],
      ["one", tensor(B, [2, 1], randomArray(B * 2, r, 50))],
    ]);
    await withSession(graph, cfg, async (s) => {
      await checkGraph(s, graph, inputs, undefined, 1e-5);
      const out = await s.run(new Map([...inputs].map(([k, v]) => [k, f32(v)])), B);
      // Absolute accuracy on every log-probability (relative tolerance would accept 1% on -1e4).
      for (const [name, src, cols] of [["lp", "logits", 1001], ["lq", "small", 7], ["li", "img", 13]] as const) {
        const got = out.get(name)!.data;
        const want = naiveLogSoftmax(inputs.get(src)!).data;
        for (let i = 0; i < want.length; i++) {
          assert.ok(Number.isFinite(got[i]!) && got[i]! <= 0, `${name}[${i}] = ${got[i]}`);
          assert.ok(Math.abs(got[i]! - want[i]!) <= 2e-3, `${name}[${i}] = ${got[i]}, expected ${want[i]}`);
        }
        for (let row = 0; row < got.length / cols; row++) {
          let sum = 0;
          for (let j = 0; j < cols; j++) sum += Math.exp(got[row * cols + j]!);
          assert.ok(Math.abs(sum - 1) < 1e-5, `${name} row ${row}: exp sums to ${sum}`);
        }
      }
      const lq = out.get("lq")!.data;
      assert.is(lq[3], 0, "the dominant logit has log-probability 0");
      assert.ok(Math.abs(lq[4]! - -2e4) <= 1e-3 * 2e4, `lq[4] = ${lq[4]}`);
      for (let j = 7; j < 14; j++) assert.ok(Math.abs(lq[j]! + Math.log(7)) < 1e-6, `uniform ${lq[j]}`);
      // A single class: log(1) = 0 everywhere.
      assert.equal([...out.get("lo")!.data], [0, 0, 0, 0]);
    });
  });
}

test.run();
