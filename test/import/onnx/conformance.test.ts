/**
 * ONNX backend node tests (Debian's libonnx-testdata, ONNX 1.12: models
 * written by ONNX's own helpers and by PyTorch's exporter, with serialized
 * inputs and expected outputs) run through the public API: loadModel(bytes),
 * then model.run. Install the data with `apt-get install -y libonnx-testdata`.
 *
 * node-allowlist.json lists the cases in scope (which must match) and, per
 * reason, the excluded cases of the same op families (which must fail to load
 * with the stated error); every case of those families must be in one list.
 *
 * The backend tests often pass weights as graph inputs; here the inputs past
 * the fed ones become initializers, which is how exported models hold
 * weights. Our models take and give channels last: 4-D inputs are transposed
 * from the files' NCHW to NHWC and 3-D ones from [N,C,L] to [N,L,C] (1-D data
 * is an image of one row), expected outputs likewise. Every in-scope case runs twice,
 * optimized (the default) and with `optimize: false`, to the same tolerance.
 */

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ModelProtoSchema, TensorProtoSchema } from "../../../src/import/onnx/gen/onnx_pb.js";
import { parseOnnxTensor, type OnnxTensor } from "../../../src/import/onnx/model.js";
import { loadModel, type TensorData } from "../../../src/index.js";
import { compileKernels } from "../../../src/runtime/engine.js";
import { toNhwc } from "./naive.js";

interface Allowlist {
  root: string;
  families: Record<string, string>;
  feeds: Record<string, number>;
  cases: string[];
  excluded: { reason: string; error: string; cases: string[] }[];
}

const list: Allowlist = JSON.parse(readFileSync(new URL("./node-allowlist.json", import.meta.url), "utf8"));
const kernels = compileKernels("auto");

function requireTestdata(): void {
  if (!existsSync(list.root)) throw new Error(`${list.root} is missing: install it with 'apt-get install -y libonnx-testdata'`);
}

function dataFile(testCase: string, file: string): Uint8Array {
  return readFileSync(join(list.root, testCase, "test_data_set_0", file));
}

/** The case's model with every graph input past the first `feeds` turned into an initializer holding its test value. */
function frozenModel(testCase: string): Uint8Array {
  requireTestdata();
  const feeds = list.feeds[testCase] ?? 1;
  const proto = fromBinary(ModelProtoSchema, readFileSync(join(list.root, testCase, "model.onnx")));
  const g = proto.graph!;
  const initialized = new Set(g.initializer.map((t) => t.name));
  const frozen = g.input.filter((v) => !initialized.has(v.name)).slice(feeds);
  frozen.forEach((v, k) => {
    const t = fromBinary(TensorProtoSchema, dataFile(testCase, `input_${k + feeds}.pb`));
    t.name = v.name;
    g.initializer.push(t);
  });
  g.input = g.input.filter((v) => !frozen.includes(v));
  return toBinary(ModelProtoSchema, proto);
}

async function load(testCase: string, optimize = true) {
  const { module, build } = await kernels;
  // run() does not normalize anything; loadModel only insists that the option be known.
  return loadModel(frozenModel(testCase), { threads: 1, module, moduleBuild: build, normalization: "torch", optimize });
}

/** A float test tensor, channels last when it is 3-D or 4-D ([N,C,L] as [N,C,1,L]). */
function channelsLast(t: OnnxTensor): Float32Array {
  const data = t.data as Float32Array;
  if (t.dims.length === 3) return toNhwc({ dims: [t.dims[0]!, t.dims[1]!, 1, t.dims[2]!], data: Float64Array.from(data) });
  return t.dims.length === 4 ? toNhwc({ dims: t.dims, data: Float64Array.from(data) }) : Float32Array.from(data);
}

// ---------------------------------------------------------------------------

const Coverage = suite("conformance lists");

Coverage("every case of the op families is either in scope or excluded, once", () => {
  requireTestdata();
  const listed = [...list.cases, ...list.excluded.flatMap((g) => g.cases)];
  assert.is(new Set(listed).size, listed.length, "a case is listed twice");
  const family = Object.entries(list.families).flatMap(([dir, pattern]) =>
    readdirSync(join(list.root, dir)).filter((c) => new RegExp(pattern).test(c)).map((c) => `${dir}/${c}`),
  );
  const missing = family.filter((c) => !listed.includes(c));
  assert.equal(missing, [], "cases of the op families that neither list has");
  const unknown = listed.filter((c) => !existsSync(join(list.root, c, "model.onnx")));
  assert.equal(unknown, [], "listed cases that do not exist");
});

const Cases = suite("conformance: in scope, through loadModel + run");

for (const testCase of list.cases) {
  for (const optimize of [true, false]) Cases(`${testCase}${optimize ? "" : " (optimize: false)"}`, async () => {
    const model = await load(testCase, optimize);
    try {
      const feeds: Record<string, TensorData> = {};
      model.inputs.forEach((info, k) => {
        const t = parseOnnxTensor(dataFile(testCase, `input_${k}.pb`));
        feeds[info.name] = { data: channelsLast(t), dims: [t.dims[0]!, ...info.shape.slice(1)] };
      });
      const out = await model.run(feeds);
      model.outputs.forEach((info, k) => {
        const want = channelsLast(parseOnnxTensor(dataFile(testCase, `output_${k}.pb`)));
        const got = out[info.name]!.data;
        assert.is(got.length, want.length, `${info.name}: ${got.length} values, expected ${want.length}`);
        for (let i = 0; i < want.length; i++) {
          const ok = Math.abs(got[i]! - want[i]!) <= 1e-4 * Math.max(1, Math.abs(want[i]!));
          if (!ok) assert.unreachable(`${info.name}[${i}] = ${got[i]}, expected ${want[i]}`);
        }
      });
    } finally {
      model.dispose();
    }
  });
}

const Excluded = suite("conformance: excluded, refused with the stated reason");

for (const group of list.excluded) {
  Excluded(group.reason, async () => {
    for (const testCase of group.cases) {
      let message = "";
      try {
        (await load(testCase)).dispose();
      } catch (error) {
        message = (error as Error).message;
      }
      assert.match(message, /^ONNX model bytes: /, `${testCase} loaded, or failed without naming the model: ${message}`);
      assert.match(message, new RegExp(group.error), `${testCase}: ${message}`);
    }
  });
}

Coverage.run();
Cases.run();
Excluded.run();
