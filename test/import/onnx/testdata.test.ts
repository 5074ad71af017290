/**
 * Real files: the ONNX backend test data that Debian ships in
 * `libonnx-testdata` (ONNX 1.12.0): models written by ONNX's own Python
 * helpers and by PyTorch's exporter, with serialized TensorProto inputs and
 * expected outputs. Install with `apt-get install -y libonnx-testdata`.
 */

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ModelProtoSchema } from "../../../src/import/onnx/gen/onnx_pb.js";
import { parseOnnx, parseOnnxTensor, type OnnxModel, type OnnxTensor } from "../../../src/import/onnx/model.js";

const ROOT = "/usr/share/libonnx-testdata/data";

function requireTestdata(): void {
  if (!existsSync(ROOT)) throw new Error(`${ROOT} is missing: install it with 'apt-get install -y libonnx-testdata'`);
}

function model(testCase: string): OnnxModel {
  requireTestdata();
  const path = join(ROOT, testCase, "model.onnx");
  return parseOnnx(readFileSync(path), { source: path });
}

function tensorFile(testCase: string, file: string): OnnxTensor {
  const path = join(ROOT, testCase, "test_data_set_0", file);
  return parseOnnxTensor(readFileSync(path), path);
}

test("node/test_conv_with_strides_padding: Conv with kernel 3x3, pads 1, strides 2", () => {
  // The ONNX operator test: x = arange(35) as (1,1,7,5), W = ones (1,1,3,3) → y (1,1,4,3).
  const m = model("node/test_conv_with_strides_padding");
  assert.ok(m.opsets.has(""), "imports the default domain");
  assert.is(m.producer, "backend-test");
  assert.equal(m.inputs, [
    { name: "x", elemType: "float32", shape: [1, 1, 7, 5] },
    { name: "W", elemType: "float32", shape: [1, 1, 3, 3] },
  ]);
  assert.equal(m.outputs, [{ name: "y", elemType: "float32", shape: [1, 1, 4, 3] }]);
  assert.is(m.initializers.size, 0);
  assert.is(m.nodes.length, 1);
  const conv = m.nodes[0]!;
  assert.is(conv.opType, "Conv");
  assert.is(conv.domain, "");
  assert.equal(conv.inputs, ["x", "W"]);
  assert.equal(conv.outputs, ["y"]);
  assert.equal(Object.fromEntries(conv.attributes), {
    kernel_shape: { type: "ints", value: [3, 3] },
    pads: { type: "ints", value: [1, 1, 1, 1] },
    strides: { type: "ints", value: [2, 2] },
  });

  const x = tensorFile("node/test_conv_with_strides_padding", "input_0.pb");
  assert.equal({ name: x.name, dims: x.dims, dataType: x.dataType }, { name: "x", dims: [1, 1, 7, 5], dataType: "float32" });
  assert.equal([...x.data], Array.from({ length: 35 }, (_, i) => i));
  const w = tensorFile("node/test_conv_with_strides_padding", "input_1.pb");
  assert.equal(w.dims, [1, 1, 3, 3]);
  assert.equal([...w.data], Array(9).fill(1));
  const y = tensorFile("node/test_conv_with_strides_padding", "output_0.pb");
  assert.equal(y.dims, [1, 1, 4, 3]);
  assert.equal([...y.data], [12, 27, 24, 63, 108, 81, 123, 198, 141, 112, 177, 124]);
});

test("pytorch-converted/test_Conv2d_strided: raw_data initializers, listed as graph inputs in the file but not in ours", () => {
  // PyTorch's Conv2d(3, 4, 3, stride=2) on a (2,3,6,6) input, exported by pytorch 0.3 (IR 3).
  const path = "pytorch-converted/test_Conv2d_strided";
  const m = model(path);
  const file = fromBinary(ModelProtoSchema, readFileSync(join(ROOT, path, "model.onnx")));
  assert.equal(file.graph!.input.map((v) => v.name), ["0", "1", "2"]);
  assert.equal(m.inputs, [{ name: "0", elemType: "float32", shape: [2, 3, 6, 6] }]);
  assert.equal(m.outputs, [{ name: "3", elemType: "float32", shape: [2, 4, 2, 2] }]);
  const weight = m.initializers.get("1")!;
  const bias = m.initializers.get("2")!;
  assert.equal([weight.dims, weight.dataType, weight.data.length], [[4, 3, 3, 3], "float32", 108]);
  assert.equal([bias.dims, bias.dataType, bias.data.length], [[4], "float32", 4]);
  const raw = file.graph!.initializer[0]!.rawData;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  assert.equal([...weight.data], Array.from({ length: 108 }, (_, i) => view.getFloat32(i * 4, true)));
  const conv = m.nodes[0]!;
  assert.is(conv.opType, "Conv");
  assert.equal(conv.inputs, ["0", "1", "2"]);
  assert.equal(conv.attributes.get("strides"), { type: "ints", value: [2, 2] });
  assert.equal(conv.attributes.get("kernel_shape"), { type: "ints", value: [3, 3] });
  const x = tensorFile(path, "input_0.pb");
  assert.equal([x.dims, x.dataType, x.data.length], [[2, 3, 6, 6], "float32", 216]);
});

test("pytorch-operator/test_operator_non_float_params: int64 initializer, and the outputs follow from it", () => {
  // y = x * (x + w) with int64 tensors.
  const path = "pytorch-operator/test_operator_non_float_params";
  const m = model(path);
  assert.equal(m.nodes.map((n) => [n.opType, n.inputs, n.outputs]), [
    ["Add", ["0", "1"], ["2"]],
    ["Mul", ["0", "2"], ["3"]],
  ]);
  const w = m.initializers.get("1")!;
  assert.is(w.dataType, "int64");
  assert.instance(w.data, BigInt64Array);
  const x = tensorFile(path, "input_0.pb").data as BigInt64Array;
  const y = tensorFile(path, "output_0.pb").data as BigInt64Array;
  const wv = w.data as BigInt64Array;
  assert.equal([...y], [...x].map((xi, i) => xi * (xi + wv[i]!)));
});

test("node/test_cast_FLOAT16_to_FLOAT: float16 raw_data decodes to exactly the float32 the cast produced", () => {
  const path = "node/test_cast_FLOAT16_to_FLOAT";
  const m = model(path);
  assert.equal(m.inputs, [{ name: "input", elemType: "float16", shape: [3, 4] }]);
  assert.equal(m.nodes[0]!.attributes.get("to"), { type: "int", value: 1 });
  const input = tensorFile(path, "input_0.pb");
  const output = tensorFile(path, "output_0.pb");
  assert.is(input.dataType, "float16");
  assert.is(output.dataType, "float32");
  assert.instance(input.data, Float32Array);
  assert.equal(input.dims, [3, 4]);
  assert.equal([...input.data], [...output.data]);
});

test("node/test_constantofshape_int_zeros: tensor attribute stored in int32_data", () => {
  const path = "node/test_constantofshape_int_zeros";
  const value = model(path).nodes[0]!.attributes.get("value");
  assert.ok(value?.type === "tensor");
  assert.equal({ ...value.value, data: [...value.value.data] }, { name: "value", dims: [1], dataType: "int32", data: [0] });
  assert.equal([...tensorFile(path, "input_0.pb").data], [10n, 6n]);
  assert.equal(tensorFile(path, "output_0.pb").dims, [10, 6]);
});

test("every model parses or names what is unsupported; every data set matches its model's declared inputs and outputs", () => {
  requireTestdata();
  const unsupported = /: subgraphs are not supported$|; only tensors are supported$/;
  const decodable = new Set(["float32", "float16", "int64", "int32", "float64", "uint8", "int8", "bool"]);
  let models = 0;
  let tensors = 0;
  for (const group of ["node", "pytorch-converted", "pytorch-operator", "simple"]) {
    for (const name of readdirSync(join(ROOT, group))) {
      const dir = join(ROOT, group, name);
      let m: OnnxModel;
      try {
        m = parseOnnx(readFileSync(join(dir, "model.onnx")), { source: dir });
      } catch (error) {
        assert.match((error as Error).message, unsupported, dir);
        continue;
      }
      models++;
      const ios = [...m.inputs.map((v, i) => [v, `input_${i}.pb`] as const), ...m.outputs.map((v, i) => [v, `output_${i}.pb`] as const)];
      if (!ios.every(([v]) => decodable.has(v.elemType))) continue;
      for (const set of readdirSync(dir).filter((d) => d.startsWith("test_data_set_"))) {
        for (const [info, file] of ios) {
          const path = join(dir, set, file);
          const t = parseOnnxTensor(readFileSync(path), path);
          assert.is(t.dataType, info.elemType, path);
          assert.ok(info.shape !== null && info.shape.length === t.dims.length, `${path}: rank`);
          info.shape.forEach((d, k) => typeof d === "number" && assert.is(t.dims[k], d, `${path}: dim ${k}`));
          assert.is(t.data.length, t.dims.reduce((a, b) => a * b, 1), `${path}: element count`);
          tensors++;
        }
      }
    }
  }
  // libonnx-testdata 1.12.0-2: 1072 models, 1042 of them without subgraphs or non-tensor inputs/outputs; 2999 data-set tensors.
  assert.ok(models >= 1000, `${models} models parsed`);
  assert.ok(tensors >= 2900, `${tensors} data-set tensors checked`);
});

test.run();
