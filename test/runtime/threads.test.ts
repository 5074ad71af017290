/**
 * Threads: the caller's thread and the workers claim every step's units, and
 * the caller's thread leaves to its event loop between slices and while it
 * waits for a step. However the units fall to the threads, each is computed
 * the same way, so 2 and 3 threads must give bit for bit the outputs of 1
 * thread, run after run, with Atomics.waitAsync (the caller sleeps until the
 * kernels notify it) and without it (the caller polls between event loop turns).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Graph, Node } from "../../src/graph/ir.js";
import { nodePlatform } from "../../src/platform/node.js";
import { Session } from "../../src/runtime/session.js";
import { conv, dense, graphOf, input, op1, pads1, pool, randomArray, rng } from "./helpers.js";

function graph(): Graph {
  const r = rng(31);
  const nodes: Node[] = [
    input("x", [40, 40, 8]),
    conv("wino", "x", r, [3, 3, 8, 16], { relu: true }),
    conv("point", "wino", r, [1, 1, 16, 32], { relu: true }),
    pool("down", "point", "maxpool", [3, 3], [2, 2], pads1),
    conv("tall", "down", r, [7, 1, 32, 16], { relu: true }),
    op1("globalavgpool", "gap", "tall"),
    dense("logits", "gap", r, 16, 10),
  ];
  return graphOf(nodes, ["logits", "tall"]);
}

async function outputs(threads: number, x: Float32Array, runs: number): Promise<Float32Array[]> {
  const s = await Session.create(graph(), { threads, build: "relaxed", platform: nodePlatform, keep: [] });
  try {
    const got: Float32Array[] = [];
    for (let i = 0; i < runs; i++) {
      const out = await s.run(new Map([["x", x]]), 2);
      got.push(out.get("logits")!.data, out.get("tall")!.data);
    }
    return got;
  } finally {
    s.dispose();
  }
}

const x = randomArray(2 * 40 * 40 * 8, rng(5));

for (const waitAsync of [true, false]) {
  test(`threads 2 and 3 equal threads 1 bit for bit, ${waitAsync ? "with" : "without"} Atomics.waitAsync`, async () => {
    const expected = await outputs(1, x, 1);
    const atomics = Atomics as unknown as { waitAsync?: unknown };
    const saved = atomics.waitAsync;
    if (!waitAsync) delete atomics.waitAsync;
    try {
      for (const threads of [2, 3]) {
        const got = await outputs(threads, x, 10);
        got.forEach((data, i) => {
          const want = expected[i % 2]!;
          assert.ok(data.every((v, j) => Object.is(v, want[j])), `${threads} threads, run ${i >> 1}, ${i % 2 ? "tall" : "logits"} differs from 1 thread`);
        });
      }
    } finally {
      if (!waitAsync) atomics.waitAsync = saved;
    }
  });
}

/**
 * A run of many steps, tens of milliseconds on 2 threads, interrupted after
 * 2 ms: the caller's thread yields between slices of steps, so the timer fires
 * while the run is in progress.
 */
async function interruptedRun(interrupt: (s: Session) => void): Promise<unknown> {
  const r = rng(8);
  const nodes: Node[] = [input("x", [64, 64, 32])];
  for (let i = 0; i < 16; i++) nodes.push(conv(`c${i}`, i === 0 ? "x" : `c${i - 1}`, r, [3, 3, 32, 32], { relu: true }));
  const s = await Session.create(graphOf(nodes, ["c15"]), { threads: 2, build: "relaxed", platform: nodePlatform, keep: [] });
  try {
    const x = randomArray(4 * 64 * 64 * 32, r);
    const running = s.run(new Map([["x", x]]), 4);
    setTimeout(() => interrupt(s), 2);
    return await running.then(() => null, (e: unknown) => e);
  } finally {
    s.dispose();
  }
}

test("dispose() during a 2-thread run rejects the run, and nothing is left unhandled", async () => {
  const error = await interruptedRun((s) => s.dispose());
  assert.instance(error, Error, "the run did not reject");
  assert.match((error as Error).message, /disposed/);
});

test("a worker that dies during a run rejects the run with an error naming it", async () => {
  const error = await interruptedRun((s) => (s.engine as unknown as { workers: { terminate(): void }[] }).workers[0]!.terminate());
  assert.instance(error, Error, "the run did not reject");
  assert.match((error as Error).message, /kernel worker 1 stopped/);
});

test.run();
