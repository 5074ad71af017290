/**
 * Random graphs against the naive interpreter: DAGs of conv / pool / relu /
 * BN / identity / concat (repeats and nesting allowed), ending in global pool
 * or flatten + dense (+ softmax), with random graph outputs, random kept
 * tensors, and random extra tensors requested at run time. Exercises the
 * interplay of passes, concat views, aliases, copies and arena reuse, which
 * the targeted tests only sample. Deterministic seeds, so a failure names a
 * reproducible graph.
 */
import { test } from "uvu";
import type { Graph, Node } from "../../src/graph/ir.js";
import {
  batchnorm, cfgName, checkGraph, concat, configs, conv, dense, graphOf, input, op1, pads0, pads1, pool, randomArray,
  rng, tensor, withSession, type T,
} from "./helpers.js";

interface Img { name: string; H: number; W: number; C: number }

function randomGraph(seed: number): { graph: Graph; inputs: Map<string, T>; keep: string[]; extra: string[] } {
  const r = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor((r() + 0.5) * (hi - lo + 1));
  const pick = <X>(a: readonly X[]): X => a[int(0, a.length - 1)]!;
  const B = int(1, 3);
  const H = int(3, 7), W = int(3, 7);
  const nodes: Node[] = [];
  const imgs: Img[] = [];
  const inputs = new Map<string, T>();
  const nIn = int(1, 2);
  for (let i = 0; i < nIn; i++) {
    const C = int(1, 6);
    nodes.push(input(`in${i}`, [H, W, C]));
    imgs.push({ name: `in${i}`, H, W, C });
    inputs.set(`in${i}`, tensor(B, [H, W, C], randomArray(B * H * W * C, r, 2)));
  }
  const steps = int(4, 14);
  for (let i = 0; i < steps; i++) {
    // Prefer recent tensors, so chains form as well as wide fan-outs.
    const src = r() < 0.6 ? imgs[imgs.length - 1 - int(0, Math.min(2, imgs.length - 1))]! : pick(imgs);
    const name = `n${i}`;
    const kind = int(0, 9);
    if (kind <= 2) {
      const k = pick([[1, 1], [3, 3], [1, 3], [3, 1]] as const);
      const stride = src.H >= 5 && src.W >= 5 && r() < 0.15 ? 2 : 1;
      const cout = int(1, 10);
      const pads = r() < 0.2 && k[0] === 3 && k[1] === 3 && src.H >= 3 && src.W >= 3 ? pads0 : undefined;
      const n = conv(name, src.name, r, [k[0], k[1], src.C, cout], { strides: [stride, stride], pads, relu: r() < 0.3, bias: r() < 0.8 });
      // Scale weights down so values stay O(1) through deep chains.
      const c = n as Extract<Node, { op: "conv2d" }>;
      const s = 1 / Math.sqrt(k[0] * k[1] * src.C);
      const kernel = c.kernel as Float32Array;
      for (let j = 0; j < kernel.length; j++) kernel[j] = kernel[j]! * s * 2;
      nodes.push(n);
      const OH = Math.floor((src.H + c.pads.top + c.pads.bottom - k[0]) / stride) + 1;
      const OW = Math.floor((src.W + c.pads.left + c.pads.right - k[1]) / stride) + 1;
      imgs.push({ name, H: OH, W: OW, C: cout });
    } else if (kind === 3) {
      const isMax = r() < 0.5;
      const stride = src.H >= 3 && src.W >= 3 && r() < 0.3 ? 2 : 1;
      const pads = stride === 2 && r() < 0.5 ? pads0 : pads1;
      nodes.push(pool(name, src.name, isMax ? "maxpool" : "avgpool", [3, 3], [stride, stride], pads, r() < 0.5));
      imgs.push({ name, H: Math.floor((src.H + 2 * pads.top - 3) / stride) + 1, W: Math.floor((src.W + 2 * pads.left - 3) / stride) + 1, C: src.C });
    } else if (kind === 4) {
      nodes.push(op1("relu", name, src.name));
      imgs.push({ ...src, name });
    } else if (kind === 5) {
      nodes.push(batchnorm(name, src.name, r, src.C, { gamma: r() < 0.7, beta: r() < 0.7 }));
      imgs.push({ ...src, name });
    } else if (kind === 6) {
      nodes.push(op1("identity", name, src.name));
      imgs.push({ ...src, name });
    } else {
      const same = imgs.filter((t) => t.H === src.H && t.W === src.W);
      const parts = Array.from({ length: int(1, 4) }, () => pick(same).name);
      if (r() < 0.5 && !parts.includes(src.name)) parts.push(src.name);
      nodes.push(concat(name, parts));
      imgs.push({ name, H: src.H, W: src.W, C: parts.reduce((n, p) => n + imgs.find((t) => t.name === p)!.C, 0) });
    }
  }
  const last = imgs[imgs.length - 1]!;
  const outputs = [last.name];
  const flatNames: string[] = [];
  const head = int(0, 3);
  if (head === 1) {
    nodes.push(op1("globalavgpool", "gap", last.name), dense("fc", "gap", r, last.C, int(1, 11), { relu: r() < 0.5 }), op1("softmax", "prob", "fc"));
    outputs.push("prob");
  } else if (head === 2) {
    const K = last.H * last.W * last.C;
    nodes.push(op1("flatten", "flat", last.name), dense("fc", "flat", r, K, int(1, 9), { bias: r() < 0.5 }), op1("relu", "out", "fc"));
    outputs.push("out");
  } else if (head === 3) {
    // A random DAG of flat tensors: global pools and flattens of any image,
    // then dense / softmax / relu / BN / identity / concat of flat tensors.
    const flats: { name: string; C: number }[] = [];
    for (let i = int(1, 3); i > 0; i--) {
      const t = pick(imgs);
      const name = `f${flats.length}`;
      if (r() < 0.5) {
        nodes.push(op1("globalavgpool", name, t.name));
        flats.push({ name, C: t.C });
      } else {
        nodes.push(op1("flatten", name, t.name));
        flats.push({ name, C: t.H * t.W * t.C });
      }
    }
    for (let i = int(2, 8); i > 0; i--) {
      const src = r() < 0.6 ? flats[flats.length - 1]! : pick(flats);
      const name = `f${flats.length}`;
      const kind = int(0, 6);
      if (kind <= 1) {
        const N = int(1, 12);
        const d = dense(name, src.name, r, src.C, N, { relu: r() < 0.3, bias: r() < 0.7 }) as Extract<Node, { op: "dense" }>;
        const kernel = d.kernel as Float32Array;
        for (let j = 0; j < kernel.length; j++) kernel[j] = (kernel[j]! * 2) / Math.sqrt(src.C);
        nodes.push(d);
        flats.push({ name, C: N });
      } else if (kind === 2) {
        nodes.push(op1(pick(["softmax", "relu", "identity"] as const), name, src.name));
        flats.push({ name, C: src.C });
      } else if (kind === 3) {
        nodes.push(batchnorm(name, src.name, r, src.C, { gamma: r() < 0.7, beta: r() < 0.7 }));
        flats.push({ name, C: src.C });
      } else {
        const parts = Array.from({ length: int(1, 3) }, () => pick(flats).name);
        if (!parts.includes(src.name)) parts.push(src.name);
        nodes.push(concat(name, parts));
        flats.push({ name, C: parts.reduce((n, p) => n + flats.find((t) => t.name === p)!.C, 0) });
      }
    }
    flatNames.push(...flats.map((f) => f.name));
    outputs.push(flats[flats.length - 1]!.name);
    if (r() < 0.5) outputs.push(pick(flats).name);
  }
  const names = [...imgs.map((t) => t.name), ...flatNames];
  for (let i = int(0, 2); i > 0; i--) outputs.push(pick(names));
  const keep = r() < 0.4 ? [pick(names)] : [];
  const extra = r() < 0.5 ? [pick(names)] : [];
  return { graph: graphOf(nodes, [...new Set(outputs)]), inputs, keep, extra };
}

/** 25 graphs per configuration by default; FUZZ_SEEDS=2000 for a long hunt. */
const SEEDS = Number(process.env.FUZZ_SEEDS ?? 25);
for (const [ci, cfg] of configs.entries()) {
  test(`fuzz: ${SEEDS} random graphs (seeds from ${1 + ci * 100000}) vs naive (${cfgName(cfg)})`, async () => {
    // Different graphs per configuration: more coverage for the same time.
    for (let seed = 1 + ci * 100000; seed <= SEEDS + ci * 100000; seed++) {
      const { graph, inputs, keep, extra } = randomGraph(seed);
      try {
        await withSession(graph, cfg, async (s) => {
          await checkGraph(s, graph, inputs, undefined, 1e-4);
          await checkGraph(s, graph, inputs, [...graph.outputs, ...keep], 1e-4);
          // A tensor fused away by the passes cannot be requested; the others can.
          const available = extra.filter((n) => s.graph.nodes.some((m) => m.name === n));
          if (available.length) await checkGraph(s, graph, inputs, available, 1e-4);
        }, keep);
      } catch (e) {
        const desc = graph.nodes.map((n) => `${n.op}:${n.name}(${n.inputs.join(",")})`).join(" ");
        throw new Error(`seed ${seed}: ${(e as Error).message}\n  graph: ${desc}\n  outputs: ${graph.outputs} keep: ${keep} extra: ${extra}`);
      }
    }
  });
}

test.run();
