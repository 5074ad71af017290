// One engine configuration in its own long-lived process (so its peak RSS is
// its own), driven by bench.mjs over IPC:
//   started with a JSON config → loads, runs one inference, reports
//   { type: "ready", loadMs, firstMs, output, detail, peakRssMiB }
//   { type: "run", count }     → { type: "times", ms: [...], peakRssMiB }
//   { type: "profile", reps }  → { type: "profile", layers: [{ name, op, ms, … }] }
//   { type: "exit" }           → exits
// Any failure is reported as { type: "error", message } before exiting.
// Load time counts from importing the engine's library to a session ready to
// run (library, wasm compilation, model file reading, weight preparation);
// the first inference includes whatever the engine defers to it.
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";

const cfg = JSON.parse(process.argv[2]);
const send = (msg) => new Promise((resolve) => process.send(msg, resolve));
const peakRssMiB = () => process.resourceUsage().maxRSS / 1024;

async function main() {
  const meta = JSON.parse(readFileSync(join(cfg.dir, "meta.json"), "utf8"));
  const input = readBatch(join(cfg.dir, "input.f32"), meta.inputShape.reduce((a, b) => a * b, 1), cfg.batch);

  const t0 = performance.now();
  const { load } = await import(`./engines/${cfg.engine}.mjs`);
  const engine = await load({ ...cfg, meta });
  const loadMs = performance.now() - t0;
  const t1 = performance.now();
  const output = await engine.run(input, cfg.batch);
  const firstMs = performance.now() - t1;
  await send({ type: "ready", loadMs, firstMs, output: Array.from(output), detail: engine.detail, peakRssMiB: peakRssMiB() });

  process.on("message", (msg) => {
    handle(msg).catch(fail);
  });

  async function handle(msg) {
    if (msg.type === "run") {
      const ms = [];
      for (let i = 0; i < msg.count; i++) {
        const t = performance.now();
        await engine.run(input, cfg.batch);
        ms.push(performance.now() - t);
      }
      await send({ type: "times", ms, peakRssMiB: peakRssMiB() });
    } else if (msg.type === "profile") {
      if (!engine.profile) throw new Error(`${cfg.engine} with ${cfg.threads} thread(s) has no per-layer profile`);
      await send({ type: "profile", layers: await engine.profile(cfg.batch, msg.reps, input) });
    } else if (msg.type === "exit") {
      // Engines with worker threads would otherwise keep the process alive.
      process.exit(0);
    }
  }
}

/**
 * Batch b takes the first b photos (repeating them past the last), identical
 * in every engine. Only the photos the batch uses are read, straight into the
 * input array: the harness's own memory stays out of every engine's peak RSS.
 */
function readBatch(path, per, batch) {
  const fd = openSync(path, "r");
  try {
    const available = fstatSync(fd).size / (per * 4);
    const input = new Float32Array(batch * per);
    const bytes = new Uint8Array(input.buffer);
    const distinct = Math.min(batch, available);
    const read = readSync(fd, bytes, 0, distinct * per * 4, 0);
    if (read !== distinct * per * 4) throw new Error(`${path}: read ${read} bytes of ${distinct * per * 4}`);
    for (let i = distinct; i < batch; i++) input.copyWithin(i * per, (i % available) * per, (i % available + 1) * per);
    return input;
  } finally {
    closeSync(fd);
  }
}

async function fail(error) {
  await send({ type: "error", message: String(error?.stack ?? error) });
  process.exit(1);
}

main().catch(fail);
