/**
 * Int8 weights kept int8 in wasm memory (the f32-qc8w micro-kernel, driven by
 * the direct GEMM and by 1-D Winograd; 2-D Winograd kernels stay float32): a model loaded from an int8 .iwm file must
 * compute what the float32 kernels compute on the same weights dequantized
 * (q * scale, decoded from the same file into a float32 region). That isolates
 * the int8 kernels from the quantization error itself, which the format tests
 * bound separately.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";

import { iwmBytes } from "../../src/format/file.js";
import { convertToIwm, readIwm } from "../../src/format/iwm.js";
import { decodeRegion, segmentsOf } from "../../src/format/storage.js";
import type { Graph, Node } from "../../src/graph/ir.js";
import { nodePlatform } from "../../src/platform/node.js";
import { Session, type PackedModel } from "../../src/runtime/session.js";
import { keptFloat32, layoutWeights } from "../../src/runtime/weights.js";
import { regionAt } from "../format/helpers.js";
import { cfgName, configs, conv, dense, input, op1, randomArray, rng, type Config } from "./helpers.js";

interface Case {
  name: string;
  nodes: (r: () => number) => Node[];
  outputs: string[];
  /** Nodes that must run as Winograd (int8 transformed weights). */
  winograd?: string[];
}

const CASES: Case[] = [
  {
    name: "direct GEMM: 1x1 with a partial panel, 3x3 stride 2, grouped 3x3, relu",
    nodes: (r) => [
      input("x", [11, 10, 20]),
      conv("a", "x", r, [1, 1, 20, 13], { relu: true }),
      conv("b", "a", r, [3, 3, 13, 24], { strides: [2, 2] }),
      conv("c", "b", r, [3, 3, 12, 16], { groups: 2, relu: true }),
    ],
    outputs: ["c"],
  },
  {
    name: "K above one K block (800 channels): partial sums carried through C, dense after a pooling",
    nodes: (r) => [
      input("x", [3, 3, 800]),
      conv("wide", "x", r, [1, 1, 800, 10], { relu: true }),
      op1("globalavgpool", "pooled", "x"),
      dense("fc", "pooled", r, 800, 11),
    ],
    outputs: ["wide", "fc"],
  },
  {
    name: "Winograd F(4x4, 3x3) on an 18x18 grid (its kernel stays float32 in an int8 file) feeding an int8 1x1",
    nodes: (r) => [
      input("x", [18, 18, 8]),
      conv("w3", "x", r, [3, 3, 8, 12], { relu: true }),
      conv("p", "w3", r, [1, 1, 12, 8]),
    ],
    outputs: ["p"],
    winograd: ["w3"],
  },
  {
    name: "1-D Winograd F(3,7) for 1x7 and 7x1 on a 17x17 grid with int8 transformed weights",
    nodes: (r) => [
      input("x", [17, 17, 8]),
      conv("h", "x", r, [1, 7, 8, 12], { relu: true }),
      conv("v", "h", r, [7, 1, 12, 16]),
    ],
    outputs: ["v"],
    winograd: ["h", "v"],
  },
];

async function int8AndTwin(graph: Graph, cfg: Config, winograd: readonly string[]): Promise<[Session, Session]> {
  const bytes = await convertToIwm(graph, { weights: "int8" });
  const opts = { threads: cfg.threads, build: cfg.build, platform: nodePlatform, keep: [] };
  const resident = await readIwm(iwmBytes(bytes));
  for (const node of resident.graph.nodes) {
    if (node.op !== "conv2d" && node.op !== "dense") continue;
    const kept = keptFloat32(node, resident.winograd);
    assert.is(resident.layout.entries.get(node.name)!.scales === undefined, kept, `${node.name}: ${kept ? "float32" : "int8"} in memory`);
    assert.is(node.op === "conv2d" && resident.winograd(node), winograd.includes(node.name), `${node.name}: Winograd`);
  }
  const int8 = await Session.createPacked(resident, opts);
  try {
    const iwm = await readIwm(iwmBytes(bytes));
    // The same file decoded to float32 in the float32 layout: the reference the int8 kernels must match.
    const layout = layoutWeights(iwm.graph, iwm.winograd, iwm.shapes);
    const twin: PackedModel = {
      ...iwm, layout,
      writeWeights: (target, base) => decodeRegion(
        iwmBytes(bytes), regionAt(bytes), segmentsOf(iwm.graph, iwm.shapes, layout, iwm.winograd), "int8", layout, target.memory.buffer, base),
    };
    return [int8, await Session.createPacked(twin, opts)];
  } catch (e) {
    int8.dispose();
    throw e;
  }
}

for (const c of CASES) {
  for (const cfg of configs) {
    test(`int8 weights match their dequantized float32 twin: ${c.name} (${cfgName(cfg)})`, async () => {
      const r = rng(11);
      const graph: Graph = { nodes: c.nodes(r), outputs: c.outputs, metadata: { source: "qc8w test", normalization: "tf" } };
      const [int8, twin] = await int8AndTwin(graph, cfg, c.winograd ?? []);
      try {
        const shape = (graph.nodes[0] as { shape: number[] }).shape;
        const batch = 2;
        const x = randomArray(batch * shape.reduce((a, b) => a * b, 1), r);
        const feeds = new Map([["x", x]]);
        const got = await int8.run(feeds, batch);
        const want = await twin.run(feeds, batch);
        // The two differ by rounding only: q * scale rounded to float32 in the twin, and where the
        // scale is applied. Direct GEMMs keep that near float32 epsilon; Winograd's output transform
        // amplifies it (coefficients up to 8 per axis in F(4x4, 3x3); the Toom-Cook rows of F(3,7)
        // about 259x, see winograd1d.test.ts), so those cases get a looser bound, both far below
        // what a wrong scale or panel offset gives (errors of the order of the outputs themselves).
        // Measured: direct ≤ 8e-7, F(4x4, 3x3) ≤ 4.4e-6, F(3,7) ≤ 6.2e-6 of max |y|.
        const tolerance = c.winograd ? 5e-5 : 1e-5;
        for (const name of c.outputs) {
          const g = got.get(name)!.data, w = want.get(name)!.data;
          const magnitude = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          const diff = g.reduce((m, v, i) => Math.max(m, Math.abs(v - w[i]!)), 0);
          assert.ok(diff <= tolerance * magnitude, `${name}: max |Δ| ${diff} > ${tolerance} x max |y| ${magnitude}`);
        }
      } finally {
        int8.dispose();
        twin.dispose();
      }
    });
  }
}

test.run();
