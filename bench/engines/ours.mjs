// Our runtime, as a user loads it (the built package in dist/), on the same model.json as TensorFlow.js,
// or on that model converted to .iwm (`file`: model.iwm with f32 weights, model-int8.iwm with int8).
import { join } from "node:path";

import { loadModel } from "../../dist/index.js";
import { profileSteps } from "../profile-ours.mjs";

export async function load({ dir, threads, build, file }) {
  const model = await loadModel(join(dir, file ?? "model.json"), { threads, build, normalization: "unit" });
  const input = model.inputs[0];
  const output = model.outputs[0].name;
  return {
    detail: `${model.build} build, ${model.threads} thread(s)`,
    async run(data, batch) {
      const out = await model.run({ [input.name]: { data, dims: [batch, ...input.shape.slice(1)] } });
      return out[output].data;
    },
    profile: threads === 1 ? (batch, reps) => profileSteps(model, batch, reps) : undefined,
  };
}
