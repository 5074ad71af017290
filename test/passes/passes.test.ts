/**
 * Graph passes (identity removal, BN folding, ReLU fusion): the structure
 * `optimize` produces, that it leaves the input graph untouched, that `keep`
 * blocks fusion of what must stay observable, and that a session (which
 * optimizes) computes exactly what the unfused graph means, checked with the
 * naive interpreter of test/runtime/helpers.ts evaluating the original graph
 * (conv, then textbook BN, then ReLU), on every build / thread configuration.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { weightValues, type Conv2DNode, type Graph, type Node } from "../../src/graph/ir.js";
import { optimize } from "../../src/passes/index.js";
import {
  batchnorm, cfgName, checkGraph, configs, conv, dense, graphOf, input, op1, randomArray, rng, tensor, withSession, type T,
} from "../runtime/helpers.js";

const B = 2;

function convBnRelu(seed: number, opts: { gamma?: boolean; beta?: boolean; bias?: boolean } = {}): { graph: Graph; inputs: Map<string, T> } {
  const r = rng(seed);
  const nodes: Node[] = [
    input("x", [6, 5, 3]),
    conv("conv", "x", r, [3, 3, 3, 10], { bias: opts.bias }),
    batchnorm("bn", "conv", r, 10, { gamma: opts.gamma, beta: opts.beta }),
    op1("relu", "relu", "bn"),
  ];
  return {
    graph: graphOf(nodes, ["relu"]),
    inputs: new Map([["x", tensor(B, [6, 5, 3], randomArray(B * 90, r, 2))]]),
  };
}

/** op:name(inputs)[activation] for each node: the structure without the weights. */
function shape(g: Graph): string[] {
  return g.nodes.map((n) => `${n.op}:${n.name}(${n.inputs.join(",")})${"activation" in n ? `[${n.activation}]` : ""}`);
}

/** Deep copy of every array and field, to detect mutation. */
function snapshot(g: Graph): unknown {
  return {
    outputs: [...g.outputs],
    nodes: g.nodes.map((n) => Object.fromEntries(Object.entries(n).map(([k, v]) => [
      k, v instanceof Float32Array ? Array.from(v) : Array.isArray(v) ? [...v] : typeof v === "object" && v ? { ...v } : v,
    ]))),
  };
}

// ---------------------------------------------------------------------------
// Structure.

test("optimize: conv -> BN -> relu becomes one conv named like the relu, relu activation, folded weights", () => {
  const { graph } = convBnRelu(1);
  const before = snapshot(graph);
  const g = optimize(graph);
  assert.equal(shape(g), ["input:x()", "conv2d:relu(x)[relu]"]);
  assert.not.ok(g.nodes.some((n) => n.op === "batchnorm" || n.op === "relu"));
  const folded = g.nodes[1] as Conv2DNode;
  const orig = graph.nodes[1] as Conv2DNode;
  const bn = graph.nodes[2] as Extract<Node, { op: "batchnorm" }>;
  // W'[.., co] = W[.., co] * gamma / sqrt(var + eps); b' = (b - mean) * s + beta.
  const origKernel = weightValues(orig.kernel);
  const foldedKernel = weightValues(folded.kernel);
  for (let i = 0; i < origKernel.length; i++) {
    const co = i % 10;
    const s = bn.gamma![co]! / Math.sqrt(bn.variance[co]! + bn.epsilon);
    assert.ok(Math.abs(foldedKernel[i]! - origKernel[i]! * s) <= 1e-6 * Math.max(1, Math.abs(origKernel[i]! * s)), `kernel ${i}`);
  }
  for (let co = 0; co < 10; co++) {
    const s = bn.gamma![co]! / Math.sqrt(bn.variance[co]! + bn.epsilon);
    const want = (orig.bias![co]! - bn.mean[co]!) * s + bn.beta![co]!;
    assert.ok(Math.abs(folded.bias![co]! - want) <= 1e-5, `bias ${co}: ${folded.bias![co]} vs ${want}`);
  }
  assert.equal(g.outputs, ["relu"]);
  // The input graph is untouched: same arrays, same values, same nodes.
  assert.equal(snapshot(graph), before);
  assert.is.not(folded.kernel, orig.kernel);
});

test("optimize: BN without gamma/beta and conv without bias fold to a bias-carrying conv", () => {
  const { graph } = convBnRelu(2, { gamma: false, beta: false, bias: false });
  const before = snapshot(graph);
  const g = optimize(graph);
  assert.equal(shape(g), ["input:x()", "conv2d:relu(x)[relu]"]);
  const folded = g.nodes[1] as Conv2DNode;
  const bn = graph.nodes[2] as Extract<Node, { op: "batchnorm" }>;
  assert.ok(folded.bias);
  for (let co = 0; co < 10; co++) {
    const want = -bn.mean[co]! / Math.sqrt(bn.variance[co]! + bn.epsilon);
    assert.ok(Math.abs(folded.bias![co]! - want) <= 1e-5, `bias ${co}`);
  }
  assert.equal(snapshot(graph), before);
  assert.is((graph.nodes[1] as Conv2DNode).bias, null);
});

test("optimize: keep blocks fusion of the kept tensor's producer", () => {
  const { graph } = convBnRelu(3);
  assert.equal(shape(optimize(graph, ["conv"])), ["input:x()", "conv2d:conv(x)[linear]", "batchnorm:bn(conv)", "relu:relu(bn)"]);
  // BN kept: the conv folds into it (taking its name), the relu stays separate.
  assert.equal(shape(optimize(graph, ["bn"])), ["input:x()", "conv2d:bn(x)[linear]", "relu:relu(bn)"]);
  // A graph output in the middle behaves like a kept tensor.
  assert.equal(shape(optimize({ ...graph, outputs: ["bn", "relu"] })), ["input:x()", "conv2d:bn(x)[linear]", "relu:relu(bn)"]);
});

test("optimize: what must not fuse (relu conv + BN, conv with two readers, BN after dense, chains)", () => {
  const r = rng(4);
  const nodes: Node[] = [
    input("x", [4, 4, 3]),
    input("v", [6]),
    // conv already has a relu: BN cannot fold past it.
    conv("c1", "x", r, [1, 1, 3, 4], { relu: true }),
    batchnorm("bn1", "c1", r, 4),
    // conv read by a BN and a relu: neither may absorb it.
    conv("c2", "x", r, [1, 1, 3, 4]),
    batchnorm("bn2", "c2", r, 4),
    op1("relu", "r2", "c2"),
    // relu -> relu: the first fuses, the second stays.
    conv("c3", "x", r, [1, 1, 3, 4]),
    op1("relu", "r3a", "c3"),
    op1("relu", "r3b", "r3a"),
    // BN -> BN: the first folds, the second stays.
    conv("c4", "x", r, [1, 1, 3, 4]),
    batchnorm("bn4a", "c4", r, 4),
    batchnorm("bn4b", "bn4a", r, 4),
    // dense: relu fuses, BN does not fold.
    dense("d1", "v", r, 6, 5),
    op1("relu", "rd1", "d1"),
    dense("d2", "v", r, 6, 5),
    batchnorm("bnd2", "d2", r, 5),
    op1("relu", "rbnd2", "bnd2"),
  ];
  const graph = graphOf(nodes, ["bn1", "bn2", "r2", "r3b", "bn4b", "rd1", "rbnd2"]);
  const before = snapshot(graph);
  assert.equal(shape(optimize(graph)), [
    "input:x()", "input:v()",
    "conv2d:c1(x)[relu]", "batchnorm:bn1(c1)",
    "conv2d:c2(x)[linear]", "batchnorm:bn2(c2)", "relu:r2(c2)",
    "conv2d:r3a(x)[relu]", "relu:r3b(r3a)",
    "conv2d:bn4a(x)[linear]", "batchnorm:bn4b(bn4a)",
    "dense:rd1(v)[relu]",
    "dense:d2(v)[linear]", "batchnorm:bnd2(d2)", "relu:rbnd2(bnd2)",
  ]);
  assert.equal(snapshot(graph), before);
});

test("optimize: identities removed (readers rewired), a kept identity stays", () => {
  const r = rng(5);
  const nodes: Node[] = [
    input("x", [4, 4, 3]),
    op1("identity", "i0", "x"),
    conv("c", "i0", r, [1, 1, 3, 4]),
    op1("identity", "drop", "c"),
    batchnorm("bn", "drop", r, 4),
    op1("identity", "i2", "bn"),
    op1("relu", "relu", "i2"),
    op1("identity", "out", "relu"),
  ];
  const graph = graphOf(nodes, ["out"]);
  assert.equal(shape(optimize(graph)), ["input:x()", "conv2d:relu(x)[relu]", "identity:out(relu)"]);
  assert.equal(shape(optimize(graph, ["drop"])), ["input:x()", "conv2d:c(x)[linear]", "identity:drop(c)", "batchnorm:bn(drop)", "relu:relu(bn)", "identity:out(relu)"]);
  assert.equal(graph.nodes.length, 8);
});

// ---------------------------------------------------------------------------
// Numerics through Session (which optimizes) vs the unfused naive graph.

for (const cfg of configs) {
  test(`session conv->BN->relu = naive unfused, BN with gamma/beta, without, conv without bias (${cfgName(cfg)})`, async () => {
    for (const [seed, opts] of [[10, {}], [11, { gamma: false, beta: false }], [12, { gamma: false, bias: false }], [13, { beta: false }]] as const) {
      const { graph, inputs } = convBnRelu(seed, opts);
      const before = snapshot(graph);
      await withSession(graph, cfg, async (s) => {
        assert.equal(shape(s.graph), ["input:x()", "conv2d:relu(x)[relu]"]);
        await checkGraph(s, graph, inputs);
      });
      assert.equal(snapshot(graph), before, "Session.create modified the graph");
    }
  });

  test(`session with keep: nothing fused, conv / bn / relu all readable and correct (${cfgName(cfg)})`, async () => {
    const { graph, inputs } = convBnRelu(20);
    await withSession(graph, cfg, async (s) => {
      assert.equal(shape(s.graph), ["input:x()", "conv2d:conv(x)[linear]", "batchnorm:bn(conv)", "relu:relu(bn)"]);
      await checkGraph(s, graph, inputs, ["conv", "bn", "relu"]);
      await checkGraph(s, graph, inputs);
    }, ["conv", "bn"]);
    await withSession(graph, cfg, async (s) => {
      assert.equal(shape(s.graph), ["input:x()", "conv2d:bn(x)[linear]", "relu:relu(bn)"]);
      await checkGraph(s, graph, inputs, ["bn", "relu"]);
    }, ["bn"]);
  });

  test(`session: unfusable patterns and identities compute the unfused graph (${cfgName(cfg)})`, async () => {
    const r = rng(30);
    const nodes: Node[] = [
      input("x", [5, 4, 3]),
      input("v", [6]),
      op1("identity", "i0", "x"),
      conv("c1", "i0", r, [3, 3, 3, 5], { relu: true }),
      batchnorm("bn1", "c1", r, 5),
      conv("c2", "x", r, [1, 1, 3, 6]),
      batchnorm("bn2", "c2", r, 6),
      op1("relu", "r2", "c2"),
      conv("c3", "x", r, [3, 3, 3, 4]),
      op1("identity", "drop", "c3"),
      batchnorm("bn3a", "drop", r, 4),
      batchnorm("bn3b", "bn3a", r, 4, { gamma: false }),
      op1("relu", "r3", "bn3b"),
      dense("d", "v", r, 6, 7),
      batchnorm("bnd", "d", r, 7),
      op1("relu", "rd", "bnd"),
      op1("identity", "out", "rd"),
    ];
    const graph = graphOf(nodes, ["bn1", "bn2", "r2", "r3", "out"]);
    const inputs = new Map([
      ["x", tensor(B, [5, 4, 3], randomArray(B * 60, r, 2))],
      ["v", tensor(B, [6], randomArray(B * 6, r, 2))],
    ]);
    await withSession(graph, cfg, (s) => checkGraph(s, graph, inputs, undefined, 1e-4));
  });
}

for (const cfg of configs) {
  test(`optimize: BN folds into grouped, depthwise and dilated convs, same outputs as unoptimized (${cfgName(cfg)})`, async () => {
    const r = rng(40);
    const graph = graphOf([
      input("x", [7, 6, 6]),
      conv("g", "x", r, [3, 3, 2, 9], { groups: 3, dilations: [2, 1], pads: { top: 2, left: 1, bottom: 2, right: 1 } }),
      batchnorm("bn1", "g", r, 9),
      op1("relu", "r1", "bn1"),
      conv("dw", "r1", r, [3, 3, 1, 9], { groups: 9, strides: [2, 2], bias: false }),
      batchnorm("bn2", "dw", r, 9),
    ], ["bn2"]);
    const g = optimize(graph);
    assert.equal(shape(g), ["input:x()", "conv2d:r1(x)[relu]", "conv2d:bn2(r1)[linear]"]);
    const [, a, b] = g.nodes as [Node, Conv2DNode, Conv2DNode];
    assert.equal([a.groups, a.dilations, b.groups, b.dilations], [3, [2, 1], 9, undefined]);
    const inputs = new Map([["x", tensor(B, [7, 6, 6], randomArray(B * 7 * 6 * 6, r, 2))]]);
    // The naive reference runs the unfolded graph; the session runs the folded one.
    await withSession(g, cfg, (s) => checkGraph(s, graph, inputs, undefined, 1e-4));
  });
}

test.run();
