// Per-layer profile of our runtime on one thread: every plan step timed on its
// own, in plan order so each step reads what the previous ones wrote. A step
// runs through Engine.run on a one-step view of the plan (its record's
// address, steps: 1), so the engine does its per-run bookkeeping (zeroing the
// step's work counter) before the kernel module's run(tid, threads, ops,
// from, to, sync) export executes it on the calling thread.
//
// Each step names the graph node it computes (Plan.stepNodes).
//
// GFLOP/s are effective: the direct convolution's 2*MACs over the step's time,
// whatever algorithm ran, so layers compare across engines and algorithms.
//
// Uses Session internals that TypeScript keeps private (Model.session,
// Session.keep) and the step record size: fine for a benchmark, not an API.

/** Bytes per plan step record: OP_BYTES in src/runtime/ops.ts (the bundle does not export it). */
const OP_BYTES = 128;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** What a step computes: op label and direct multiply-accumulates (GEMM layers; 0 otherwise). */
function describe(node, shapes, batch) {
  const out = shapes.get(node.name);
  switch (node.op) {
    case "conv2d": {
      const [kh, kw, cin, cout] = node.kernelShape;
      return { op: `conv ${kh}x${kw}/${node.strides[0]}`, macs: batch * out[0] * out[1] * cin * cout * kh * kw };
    }
    case "dense":
      return { op: "dense", macs: batch * node.kernelShape[0] * node.kernelShape[1] };
    case "maxpool":
    case "avgpool":
      return { op: `${node.op} ${node.window[0]}x${node.window[1]}/${node.strides[0]}`, macs: 0 };
    case "concat":
      return { op: "concat copy", macs: 0 };
    default:
      return { op: node.op, macs: 0 };
  }
}

/**
 * Runs every step of `model`'s plan for `batch` alone, `reps` times (after
 * at least one full run of that batch, so the plan and its input exist), and
 * returns per step: node name, op, direct MACs and median milliseconds.
 */
export async function profileSteps(model, batch, reps) {
  const { engine, graph, shapes, keep } = model.session;
  if (engine.threads !== 1) throw new Error("the per-step profile runs on a one-thread model");
  // The plan model.run uses: the graph outputs plus the kept tensors.
  const plan = model.session.plan(batch, [...new Set(keep)]);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const steps = plan.stepNodes.map((name) => ({ name, ...describe(byName.get(name), shapes, batch) }));
  const oneStep = steps.map((_, i) => ({ ...plan, ops: plan.ops + i * OP_BYTES, steps: 1, costs: [plan.costs[i]] }));
  const times = steps.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < plan.steps; i++) {
      const t0 = performance.now();
      await engine.run(oneStep[i]);
      times[i].push(performance.now() - t0);
    }
  }
  return steps.map(({ name, op, macs }, i) => ({ name, op, macs, ms: median(times[i]) }));
}
