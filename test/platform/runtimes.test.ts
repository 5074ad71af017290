/**
 * The Node entry point under other JavaScript runtimes that offer Node
 * compatibility: Bun and Deno (both from npm, as dev dependencies). Each runs
 * test/platform/smoke.mjs against the built package, with workers (threads 2)
 * and without; the results must equal what Node computes for the same script.
 * Needs `node build.mjs` (npm test does it).
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { test } from "uvu";
import * as assert from "uvu/assert";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));
const script = fileURLToPath(new URL("./smoke.mjs", import.meta.url));

interface Row {
  threads: number;
  build: string;
  image: string;
  top: { index: number; label: string; probability: number }[];
}

async function smoke(command: string, args: string[]): Promise<Row[]> {
  const { stdout } = await run(command, [...args, script], { cwd: root, timeout: 180_000, maxBuffer: 1 << 20 });
  return stdout.trim().split("\n").map((line) => JSON.parse(line) as Row);
}

let reference: Row[] | undefined;
async function nodeRows(): Promise<Row[]> {
  reference ??= await smoke(process.execPath, []);
  return reference;
}

const runtimes: [name: string, command: string, args: string[]][] = [
  ["Bun", `${root}node_modules/.bin/bun`, []],
  // Deno reads this package's node_modules as they are (npm installed them).
  ["Deno", `${root}node_modules/.bin/deno`, ["run", "--allow-all", "--node-modules-dir=manual"]],
];

for (const [name, command, args] of runtimes) {
  test(`${name} runs the package with and without workers and agrees with Node`, async () => {
    const [want, got] = await Promise.all([nodeRows(), smoke(command, args)]);
    assert.is(got.length, want.length, `${name}: ${got.length} results, Node gave ${want.length}`);
    got.forEach((row, i) => {
      const ref = want[i]!;
      assert.equal([row.threads, row.image], [ref.threads, ref.image]);
      assert.equal(row.top.map((t) => t.index), ref.top.map((t) => t.index), `${name} ${row.image} threads ${row.threads}: top-5 order`);
      row.top.forEach((t, k) => {
        // Same kernels and inputs; only the relaxed-vs-plain choice or FMA contraction may differ per engine.
        assert.ok(Math.abs(t.probability - ref.top[k]!.probability) <= 1e-5, `${name} ${row.image}: ${t.label} ${t.probability} vs ${ref.top[k]!.probability}`);
      });
    });
  });
}

test.run();
