// Classifies two sample photos with the built package (dist/) on threads 1 and 2,
// printing one JSON line per (threads, image). Run by runtimes.test.ts under
// Node, Bun and Deno, so their outputs can be compared.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadModel } from "../../dist/index.js";

const images = ["chelsea.png", "rocket.jpg"];
for (const threads of [1, 2]) {
  const model = await loadModel("nsfwjs", { threads });
  for (const image of images) {
    const bytes = new Uint8Array(readFileSync(fileURLToPath(new URL(`../../fixtures/images/${image}`, import.meta.url))));
    const top = await model.classify(bytes, { topK: 5 });
    console.log(JSON.stringify({ threads, build: model.build, image, top }));
  }
  model.dispose();
}
