// How far f16 / int8 .iwm files move the probabilities from the f32 one:
// the 4 sample photos at 6 central crops (24 inputs, 5 classes each), one
// thread. Prints per file the top-1 changes and |Δp| (max and mean) against
// the first file.
//
//   npm run build && node bench/drift.mjs f32.iwm f16.iwm int8.iwm
//
// (Make the files with `node dist/cli.js convert -o F --weights f32|f16|int8`.)

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { loadModel } = await import(join(root, "dist", "index.js"));

const PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"];
const CROPS = [1, 0.9, 0.8, 0.7, 0.6, 0.5];
const photos = PHOTOS.map((p) => new Uint8Array(readFileSync(join(root, "fixtures", "images", p))));

/** Per input, the class probabilities in class order. */
async function probabilities(file) {
  const rows = [];
  for (const crop of CROPS) {
    const model = await loadModel(file, { threads: 1, crop });
    try {
      const results = await model.classify(photos, { topK: model.outputs[0].shape.at(-1) });
      rows.push(...results.map((r) => [...r].sort((a, b) => a.index - b.index).map((p) => p.probability)));
    } finally {
      model.dispose();
    }
  }
  return rows;
}

const [reference, ...others] = process.argv.slice(2);
if (!reference || others.length === 0) {
  console.error("usage: node bench/drift.mjs REFERENCE.iwm OTHER.iwm [...]");
  process.exit(2);
}
const want = await probabilities(reference);
const top1 = (row) => row.indexOf(Math.max(...row));
for (const file of others) {
  const got = await probabilities(file);
  const diffs = got.flatMap((row, i) => row.map((p, c) => Math.abs(p - want[i][c])));
  const changed = got.filter((row, i) => top1(row) !== top1(want[i])).length;
  const mean = diffs.reduce((s, d) => s + d, 0) / diffs.length;
  console.log(`${file}: ${got.length} inputs, top-1 changed ${changed}, |Δp| max ${Math.max(...diffs).toExponential(2)} mean ${mean.toExponential(2)}`);
}
