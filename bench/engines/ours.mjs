// Our runtime, as a user loads it (the built package in dist/), on the same model.json as TensorFlow.js.
import { join } from "node:path";

import { loadModel } from "../../dist/index.js";
import { profileSteps } from "../profile-ours.mjs";

export async function load({ dir, threads, build }) {
  const model = await loadModel(join(dir, "model.json"), { threads, build, normalization: "unit" });
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
