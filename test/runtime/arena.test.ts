/**
 * The static arena planner (`planArena`), as a property test on random
 * lifetimes: buffers alive at the same step never share a byte, offsets are
 * ARENA_ALIGN-aligned, every buffer fits inside the reported size, the size
 * covers the peak of live bytes, and disjoint lifetimes do reuse memory.
 * Also a case where placing largest first alone misses the peak, and
 * the arena of a real plan (a chain of convolutions) is smaller than the sum
 * of its tensors, and the plan's views/copies for concat (checked through the
 * bound addresses and strides of `Session.plan`).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Node } from "../../src/graph/ir.js";
import { inferShapes } from "../../src/graph/shapes.js";
import { optimize } from "../../src/passes/index.js";
import { ARENA_ALIGN, planArena, type Lifetime } from "../../src/runtime/arena.js";
import { OP_WORDS, OpKind } from "../../src/runtime/ops.js";
import { makePlan } from "../../src/runtime/plan.js";
import { layoutWeights, winogradChoice } from "../../src/runtime/weights.js";
import { concat, configs, conv, graphOf, input, op1, pads1, pool, rng, withSession } from "./helpers.js";

const overlaps = (a: Lifetime, b: Lifetime) => a.first <= b.last && b.first <= a.last;
const up = (n: number) => Math.ceil(n / ARENA_ALIGN) * ARENA_ALIGN;

function checkArena(buffers: Lifetime[], what: string): { offsets: number[]; size: number } {
  const { offsets, size } = planArena(buffers);
  assert.is(offsets.length, buffers.length, `${what}: one offset per buffer`);
  let maxStep = 0;
  for (const [i, b] of buffers.entries()) {
    const o = offsets[i]!;
    assert.ok(Number.isInteger(o) && o >= 0, `${what}: offset ${o}`);
    assert.is(o % ARENA_ALIGN, 0, `${what}: offset ${o} of buffer ${i} not aligned to ${ARENA_ALIGN}`);
    assert.ok(o + b.size <= size, `${what}: buffer ${i} [${o}, ${o + b.size}) past the arena size ${size}`);
    maxStep = Math.max(maxStep, b.last);
  }
  for (let i = 0; i < buffers.length; i++) {
    for (let j = i + 1; j < buffers.length; j++) {
      const a = buffers[i]!, b = buffers[j]!;
      if (!overlaps(a, b) || a.size === 0 || b.size === 0) continue;
      const disjoint = offsets[i]! + a.size <= offsets[j]! || offsets[j]! + b.size <= offsets[i]!;
      assert.ok(disjoint, `${what}: buffers ${i} [${a.first},${a.last}] @${offsets[i]}+${a.size} and ${j} [${b.first},${b.last}] @${offsets[j]}+${b.size} share bytes`);
    }
  }
  for (let t = 0; t <= maxStep; t++) {
    const live = buffers.filter((b) => b.first <= t && t <= b.last).reduce((n, b) => n + b.size, 0);
    assert.ok(size >= live, `${what}: size ${size} < ${live} bytes live at step ${t}`);
  }
  return { offsets, size };
}

test("planArena: random lifetimes, 300 trials", () => {
  const r = rng(2024);
  const int = (lo: number, hi: number) => lo + Math.floor((r() + 0.5) * (hi - lo + 1));
  for (let trial = 0; trial < 300; trial++) {
    const n = int(1, 40);
    const steps = int(1, 30);
    const buffers: Lifetime[] = [];
    for (let i = 0; i < n; i++) {
      const first = int(0, steps);
      const kind = int(0, 3);
      const size = kind === 0 ? int(0, 3) * 64 : kind === 1 ? int(1, 100) : int(1, 5000);
      buffers.push({ size, first, last: first + int(0, Math.max(0, steps - first)) });
    }
    checkArena(buffers, `trial ${trial}`);
  }
});

test("planArena: chains of disjoint lifetimes reuse memory", () => {
  // Same size, never alive together: one slot.
  const chain = Array.from({ length: 10 }, (_, i) => ({ size: 1000, first: i, last: i }));
  const a = checkArena(chain, "disjoint chain");
  assert.is(a.size, up(1000));
  // Each buffer alive with its successor only (a producer/consumer chain): two slots.
  const pairs = Array.from({ length: 10 }, (_, i) => ({ size: 1000, first: i, last: i + 1 }));
  const b = checkArena(pairs, "overlapping chain");
  assert.is(b.size, 2 * up(1000));
  // Mixed sizes: never more than the two largest neighbours need, and less than the sum.
  const mixed = Array.from({ length: 12 }, (_, i) => ({ size: 100 * ((i * 7) % 11) + 64, first: i, last: i + 1 }));
  const c = checkArena(mixed, "mixed chain");
  const sum = mixed.reduce((n, m) => n + up(m.size), 0);
  assert.ok(c.size < sum, `no reuse: ${c.size} vs sum ${sum}`);
  // Everything alive together: no reuse possible, all packed.
  const together = Array.from({ length: 5 }, (_, i) => ({ size: 70 * (i + 1), first: 0, last: 3 }));
  const d = checkArena(together, "all live");
  assert.is(d.size, together.reduce((n, m) => n + up(m.size), 0));
  // Touching lifetimes (last of one = first of the next) do overlap: inclusive bounds.
  const touching = [{ size: 64, first: 0, last: 2 }, { size: 64, first: 2, last: 4 }];
  const e = checkArena(touching, "touching");
  assert.is(e.size, 128);
  assert.equal(planArena([]), { offsets: [], size: 0 });
});

test("planArena: a long-lived buffer beside larger short-lived ones still fits the peak of live bytes", () => {
  // InceptionV3's banded stem (plan.ts) in units of 64 bytes: a convolution's input and output, the
  // next one's input alive with a pool output and a band buffer, then that pool output with the next
  // convolution's output. Largest first puts the latter low, and the pool output above everything.
  const stem = [
    { size: 271, first: 0, last: 1 },
    { size: 264, first: 1, last: 20 },
    { size: 130, first: 3, last: 22 },
    { size: 93, first: 2, last: 20 },
    { size: 163, first: 21, last: 30 },
  ].map((b) => ({ ...b, size: b.size * 64 }));
  assert.is(checkArena(stem, "banded stem").size, (271 + 264) * 64);
});

test("plan: a chain of convolutions needs an arena smaller than all its tensors", () => {
  const r = rng(9);
  const nodes: Node[] = [input("x", [8, 8, 8])];
  for (let i = 0; i < 10; i++) nodes.push(conv(`c${i}`, i === 0 ? "x" : `c${i - 1}`, r, [3, 3, 8, 8], { relu: true }));
  const graph = optimize(graphOf(nodes, ["c9"]));
  const shapes = inferShapes(graph);
  for (const batch of [1, 3]) {
    const layout = makePlan(graph, shapes, layoutWeights(graph, winogradChoice(shapes)), { batch, threads: 1, outputs: [] });
    const tensorBytes = batch * 8 * 8 * 8 * 4;
    assert.ok(layout.arenaBytes >= 2 * tensorBytes, `arena ${layout.arenaBytes} below two tensors`);
    assert.ok(layout.arenaBytes <= 3 * up(tensorBytes), `arena ${layout.arenaBytes}: no reuse (11 tensors of ${tensorBytes})`);
  }
});

test("plan: every Winograd step slices the thread scratch with one plan-wide stride", () => {
  // Threads may be in different steps at once (one entering a step whose units
  // the others already finished): a step-sized stride would let one thread's
  // slice of one step overlap another thread's slice of the next.
  const r = rng(12);
  const nodes: Node[] = [
    input("x", [20, 20, 8]),
    conv("small", "x", r, [3, 3, 8, 8], { relu: true }),
    conv("large", "small", r, [3, 3, 8, 64], { relu: true }),
    conv("tall", "large", r, [7, 1, 64, 16], { relu: true }),
  ];
  const graph = optimize(graphOf(nodes, ["tall"]));
  const shapes = inferShapes(graph);
  const layout = makePlan(graph, shapes, layoutWeights(graph, winogradChoice(shapes)), { batch: 1, threads: 3, outputs: [] });
  const memory = new ArrayBuffer(layout.bytes);
  const plan = layout.materialize(memory, 0, 0);
  const words = new Int32Array(memory, plan.ops, plan.steps * OP_WORDS);
  const strides = new Set<number>();
  let winogradSteps = 0;
  for (let i = 0; i < plan.steps; i++) {
    const kind = words[i * OP_WORDS]!;
    if (kind !== OpKind.Winograd && kind !== OpKind.Winograd1d) continue;
    winogradSteps++;
    strides.add(words[i * OP_WORDS + 18]!);
  }
  assert.is(winogradSteps, 3, "all three convolutions run as Winograd");
  assert.is(strides.size, 1, `per-thread scratch strides ${[...strides].join(", ")}`);
});

test("plan: concat branches are views into the concat; inputs, shared and repeated tensors are copies", async () => {
  const r = rng(10);
  const nodes: Node[] = [
    input("x", [4, 4, 3]),
    conv("a", "x", r, [1, 1, 3, 5]),
    pool("p", "x", "maxpool", [3, 3], [1, 1], pads1),
    conv("b", "x", r, [1, 1, 3, 6]),
    conv("s", "x", r, [1, 1, 3, 2]),
    concat("inner", ["p", "b"]),
    // a: view at 0; inner (views p, b): view at 5; x: copy at 14; s twice: copies at 17, 19.
    concat("cat", ["a", "inner", "x", "s", "s"]),
    op1("relu", "rs", "s"),
  ];
  const graph = graphOf(nodes, ["cat", "rs"]);
  await withSession(graph, configs[0], async (session) => {
    const plan = session.plan(1, ["a", "p", "b", "inner", "x", "s"]);
    const t = (n: string) => plan.outputs.get(n)!;
    const cat = t("cat");
    assert.is(cat.pixelStride, 21 * 4);
    for (const [name, offset, C] of [["a", 0, 5], ["inner", 5, 9], ["p", 5, 3], ["b", 8, 6]] as const) {
      assert.is(t(name).address, cat.address + offset * 4, `${name} is not a view at channel ${offset}`);
      assert.is(t(name).pixelStride, cat.pixelStride, `${name} stride`);
      assert.is(t(name).channels, C);
    }
    const inCat = (n: string) => t(n).address >= cat.address && t(n).address < cat.address + 16 * cat.pixelStride;
    assert.not.ok(inCat("x"), "graph input placed inside the concat");
    assert.not.ok(inCat("s"), "repeated / shared tensor placed inside the concat");
    assert.is(t("x").pixelStride, 12);
    assert.is(t("s").pixelStride, 8);
    // Steps: a, p, b, s, relu + copies of x, s, s.
    assert.is(plan.steps, 8);
  });
});

test.run();
