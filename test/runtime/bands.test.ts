/**
 * Row bands (src/runtime/bands.ts): a large Winograd convolution read only by
 * a max pool is computed image by image, band by band, into a small buffer
 * that the pool reduces. The band arithmetic as a property test on random
 * shapes; then whole graphs at batch 1 and 2, 1 and 2 threads: the pool
 * output against the naive reference within the Winograd tolerance, and bit
 * for bit against the unbanded plan (the same session asked for the
 * convolution's output too, which keeps it whole); and the arena shrinks.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { weightValues, type Conv2DNode, type Node, type Pads } from "../../src/graph/ir.js";
import { inferShapes } from "../../src/graph/shapes.js";
import { optimize } from "../../src/passes/index.js";
import { rowBands } from "../../src/runtime/bands.js";
import { makePlan } from "../../src/runtime/plan.js";
import { layoutWeights, winogradChoice } from "../../src/runtime/weights.js";
import { cfgName, configs, conv, graphOf, input, naiveConv, naivePool, pads0, pool, randomArray, rng, tensor, withSession } from "./helpers.js";

test("rowBands: bands cover every pool row once, from rows they computed or carried, 2000 trials", () => {
  const r = rng(77);
  const int = (lo: number, hi: number) => lo + Math.floor((r() + 0.5) * (hi - lo + 1));
  let banded = 0;
  for (let trial = 0; trial < 2000; trial++) {
    const span = int(1, 5), stride = int(1, span), tile = [2, 4][int(0, 1)]!;
    const poolRows = int(1, 150);
    const convRows = stride * (poolRows - 1) + span + int(0, stride - 1);
    const rowBytes = int(1, 80) * 1024;
    const threads = int(1, 4), perTileRow = int(1, 8);
    const what = `trial ${trial}: span ${span} stride ${stride} tile ${tile} ${convRows} -> ${poolRows} rows of ${rowBytes} B, ${threads}T`;
    const got = rowBands({ convRows, rowBytes, tile, poolRows, span, stride, threads, units: (t) => Math.ceil(t * perTileRow / 3) });
    if (!got) continue;
    banded++;
    const { bands, bufferBytes } = got;
    assert.ok(bands.length >= 2, `${what}: one band`);
    assert.ok(2 * bufferBytes <= convRows * rowBytes, `${what}: buffer ${bufferBytes} over half the output`);
    bands.forEach((b, i) => {
      const at = `${what}, band ${i}`;
      const previous = bands[i - 1];
      assert.is(b.convFrom, previous ? previous.convTo : 0, `${at}: convolution rows not consecutive`);
      assert.is(b.poolFrom, previous ? previous.poolTo : 0, `${at}: pool rows not consecutive`);
      assert.is(b.convFrom % tile, 0, `${at}: starts off the tile grid`);
      assert.ok(b.poolTo > b.poolFrom && b.convTo > b.convFrom && b.convTo <= convRows, `${at}: empty or past the output`);
      assert.ok((b.carry + b.convTo - b.convFrom) * rowBytes <= bufferBytes, `${at}: past the buffer`);
      // The buffer holds rows convFrom - carry .. convTo: the pool rows read exactly from its top.
      assert.is(stride * b.poolFrom, b.convFrom - b.carry, `${at}: pool rows do not start at the buffer's top`);
      assert.ok(stride * (b.poolTo - 1) + span <= b.convTo, `${at}: pool rows read past the band`);
      if (!previous) {
        assert.is(b.carry, 0, `${at}: first band carries`);
        return;
      }
      // The carried rows were at carrySource in the previous band's buffer, below the rows they overwrite.
      assert.is(b.carrySource, b.convFrom - b.carry - (previous.convFrom - previous.carry), `${at}: carry source`);
      assert.ok(b.carrySource >= b.carry, `${at}: carried rows copied over themselves`);
      assert.ok(b.carrySource + b.carry <= previous.carry + previous.convTo - previous.convFrom, `${at}: carried rows past the previous band`);
    });
    assert.is(bands.at(-1)!.poolTo, poolRows, `${what}: pool rows missing`);
  }
  assert.ok(banded > 200, `only ${banded} trials banded`);
  // A convolution output near the band size stays whole.
  assert.is(rowBands({ convRows: 40, rowBytes: 40 * 1024, tile: 4, poolRows: 19, span: 3, stride: 2, threads: 1, units: () => 100 }), null);
});

const pads = (p: Partial<Pads>): Pads => ({ ...pads0, ...p });

// InceptionV3's stem pairs, smaller: 4 MiB and 2.6 MiB convolution outputs per image.
const cases: { note: string; H: number; W: number; k: 3 | 5; cout: number; convPads: Pads; window: number; stride: number; poolPads: Pads }[] = [
  {
    note: "3x3 padded conv, 3x3/2 pool padded left and right (partial tiles at the bottom and right)",
    H: 130, W: 130, k: 3, cout: 64, convPads: pads({ top: 1, left: 1, bottom: 1, right: 1 }), window: 3, stride: 2, poolPads: pads({ left: 1, right: 1 }),
  },
  {
    note: "5x5 valid conv (2x2 tiles), 48 channels (a partial panel), 4x4/3 pool (3 rows carried)",
    H: 121, W: 124, k: 5, cout: 48, convPads: pads0, window: 4, stride: 3, poolPads: pads0,
  },
];

for (const [i, c] of cases.entries()) {
  const r = rng(900 + i);
  const nodes: Node[] = [
    input("x", [c.H, c.W, 4]),
    conv("y", "x", r, [c.k, c.k, 4, c.cout], { pads: c.convPads, relu: true }),
    pool("p", "y", "maxpool", [c.window, c.window], [c.stride, c.stride], c.poolPads),
  ];
  const graph = graphOf(nodes, ["p"]);
  const x = randomArray(2 * c.H * c.W * 4, r);
  const node = nodes[1] as Conv2DNode;
  const y = naiveConv(tensor(2, [c.H, c.W, 4], x), weightValues(node.kernel), node.kernelShape, node.bias, [1, 1], c.convPads, true);
  const want = naivePool(y, true, [c.window, c.window], [c.stride, c.stride], c.poolPads, false);
  const perImage = want.data.length / 2;
  // The Winograd bound of test/runtime/kernels.test.ts: a max pool adds no error.
  const K = c.k * c.k * 4;
  const tol = 64 * 2 ** -24 * Math.sqrt(K) * y.data.reduce((m, v) => Math.max(m, Math.abs(v)), 1);

  test(`bands: ${c.note}: the arena shrinks by more than half the convolution output`, () => {
    const optimized = optimize(graph);
    const shapes = inferShapes(optimized);
    const weights = layoutWeights(optimized, winogradChoice(shapes));
    const convBytes = y.data.length / 2 * 4;
    for (const batch of [1, 2]) {
      for (const threads of [1, 2]) {
        const banded = makePlan(optimized, shapes, weights, { batch, threads, outputs: [] });
        const whole = makePlan(optimized, shapes, weights, { batch, threads, outputs: ["y"] });
        assert.ok(banded.arenaBytes < whole.arenaBytes - (batch * convBytes) / 2,
          `batch ${batch}, ${threads}T: arena ${banded.arenaBytes} banded, ${whole.arenaBytes} whole`);
      }
    }
  });

  for (const cfg of configs) {
    test(`bands: ${c.note} (${cfgName(cfg)}): naive reference, and the unbanded plan bit for bit`, async () => {
      await withSession(graph, cfg, async (session) => {
        for (const batch of [1, 2]) {
          const steps = (outputs: string[]) => session.plan(batch, outputs).stepNodes.filter((n) => n === "y").length;
          assert.ok(steps([]) > batch, `batch ${batch}: convolution in ${steps([])} steps, not banded`);
          assert.is(steps(["y"]), 1, "a kept convolution output is computed whole");
          const fed = new Map([["x", x.subarray(0, batch * c.H * c.W * 4)]]);
          const banded = (await session.run(fed, batch, ["p"])).get("p")!;
          const whole = (await session.run(fed, batch, ["p", "y"])).get("p")!;
          assert.equal(banded.dims, [batch, ...want.shape]);
          const diff = banded.data.reduce((m, v, j) => Math.max(m, Math.abs(v - want.data[j]!)), 0);
          assert.ok(diff <= tol, `batch ${batch}: max diff ${diff} > ${tol} from the naive reference`);
          assert.is(banded.data.length, batch * perImage);
          const unequal = banded.data.findIndex((v, j) => !Object.is(v, whole.data[j]));
          assert.is(unequal, -1, `batch ${batch}: element ${unequal} is ${banded.data[unequal]} banded, ${whole.data[unequal]} whole`);
        }
      });
    });
  }
}

test.run();
