// The comparison benchmark: our runtime and its peers on the same Inception v3
// weights (nsfwjs's model) and the same input, in one run, interleaved.
//
//   flock /tmp/bench.lock npm run bench -- [--quick] [--batch 1,4] [--engines LIST]
//                                         [--rounds N] [--runs N] [--profile] [--no-build]
// (see USAGE below; a full default run takes about 5 minutes on 2 cores)
//
// Each engine configuration lives in its own child process (bench/child.mjs):
// it loads once and reports load time, first-inference time and its output;
// then the rounds go A B C … A B C …, each child running `runs` inferences per
// round, so slow drift of the machine hits every engine alike (7 rounds: on
// the 2-vCPU machine here, slow spells last seconds and take whole rounds,
// and the median of 7 rides out two of them). Ratios to our
// runtime are taken per round (a peer's round median over ours in the same
// round), then their median. Every batch size gets fresh children, so peak RSS
// is per engine and per batch size. Results go to bench/results/ as JSON and
// Markdown. --profile adds per-layer times and GFLOP/s: ours on one thread,
// each plan step alone, next to onnxruntime-node's own profiler.
import { execFileSync, fork } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { profileTables, resultsMarkdown, summaryTable } from "./report.mjs";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const BENCH = join(ROOT, "bench");

/** Every configuration, in interleaving order. `patched`: runs only through a patch of the library's Node behaviour. */
const ENGINES = [
  { id: "ours-relaxed-1", engine: "ours", build: "relaxed", threads: 1, name: "inception-wasm, relaxed SIMD" },
  { id: "ours-relaxed-2", engine: "ours", build: "relaxed", threads: 2, name: "inception-wasm, relaxed SIMD" },
  { id: "ours-plain-1", engine: "ours", build: "plain", threads: 1, name: "inception-wasm, plain SIMD" },
  { id: "ours-plain-2", engine: "ours", build: "plain", threads: 2, name: "inception-wasm, plain SIMD" },
  // The same model converted to .iwm (inception-wasm convert): f32 weights, and int8 weights kept int8 in memory.
  { id: "ours-iwm-1", engine: "ours", build: "relaxed", threads: 1, file: "model.iwm", name: "inception-wasm, relaxed SIMD, f32 .iwm" },
  { id: "ours-iwm-2", engine: "ours", build: "relaxed", threads: 2, file: "model.iwm", name: "inception-wasm, relaxed SIMD, f32 .iwm" },
  { id: "ours-int8-1", engine: "ours", build: "relaxed", threads: 1, file: "model-int8.iwm", name: "inception-wasm, relaxed SIMD, int8 .iwm" },
  { id: "ours-int8-2", engine: "ours", build: "relaxed", threads: 2, file: "model-int8.iwm", name: "inception-wasm, relaxed SIMD, int8 .iwm" },
  { id: "ort-web-1", engine: "ort-web", threads: 1, name: "onnxruntime-web, wasm SIMD" },
  { id: "ort-web-2", engine: "ort-web", threads: 2, name: "onnxruntime-web, wasm SIMD" },
  { id: "tfjs-wasm-1", engine: "tfjs-wasm", threads: 1, name: "tfjs-backend-wasm, XNNPACK SIMD" },
  { id: "tfjs-wasm-2-patched", engine: "tfjs-wasm", threads: 2, name: "tfjs-backend-wasm, XNNPACK SIMD (patched: Node threads)", patched: true },
  { id: "ort-node-1", engine: "ort-node", threads: 1, name: "onnxruntime-node, native CPU" },
  { id: "ort-node-2", engine: "ort-node", threads: 2, name: "onnxruntime-node, native CPU" },
];
/** Pause before each engine's turn: lets the previous engine's spinning threads go to sleep. */
const SETTLE_MS = 50;
/** A child that has not answered by then is hung: it is killed and counted as failed. */
const REPLY_TIMEOUT_MS = 180_000;

const USAGE = `usage: node bench/bench.mjs [--quick] [--batch 1,4] [--engines ID[,ID…]] [--rounds N] [--runs N] [--profile] [--no-build]
  run it alone on the machine: flock /tmp/bench.lock npm run bench -- …
  engines (ids or prefixes, default all): ${ENGINES.map((e) => e.id).join(", ")}
  --quick: 2 rounds x 2 runs (default 7 x 3); --profile: per-layer times and GFLOP/s`;

function parseArgs(argv) {
  const opts = { quick: false, profile: false, build: true, batches: [1, 4], engines: ENGINES, rounds: 7, runs: 3, profileReps: 5 };
  const value = (i) => {
    if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  let rounds, runs;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") opts.quick = true;
    else if (a === "--profile") opts.profile = true;
    else if (a === "--no-build") opts.build = false;
    else if (a === "--batch") opts.batches = value(i++).split(",").map(Number);
    else if (a === "--rounds") rounds = Number(value(i++));
    else if (a === "--runs") runs = Number(value(i++));
    else if (a === "--engines") {
      // Ids or id prefixes: "ours,ort-node-1" picks the four ours-* and ort-node-1.
      const wanted = value(i++).split(",");
      opts.engines = ENGINES.filter((e) => wanted.some((w) => e.id.startsWith(w)));
      const unknown = wanted.filter((w) => !ENGINES.some((e) => e.id.startsWith(w)));
      if (unknown.length) throw new Error(`unknown engine(s) ${unknown.join(", ")}; known: ${ENGINES.map((e) => e.id).join(", ")}`);
    } else throw new Error(`unknown option ${a}`);
  }
  if (opts.quick) Object.assign(opts, { rounds: 2, runs: 2, profileReps: 2 });
  opts.rounds = rounds ?? opts.rounds;
  opts.runs = runs ?? opts.runs;
  for (const [name, v] of [["--rounds", opts.rounds], ["--runs", opts.runs], ...opts.batches.map((b) => ["--batch", b])]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
  }
  return opts;
}

const log = (...args) => console.error(...args);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Latest modification time under `path` (a file or a directory tree). */
function newestMtime(path, skip) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(path).filter((f) => join(path, f) !== skip).map((f) => newestMtime(join(path, f), skip)));
}

/** Rebuilds dist/ when any source of it is newer (the generated kernel table is build output, not a source). */
function ensureBuilt() {
  const built = join(ROOT, "dist", "index.js");
  const sources = ["src", "wasm", "build.mjs"].map((p) => newestMtime(join(ROOT, p), join(ROOT, "src", "runtime", "generated")));
  if (existsSync(built) && statSync(built).mtimeMs >= Math.max(...sources)) return;
  log("dist/ is missing or older than src/: node build.mjs");
  execFileSync(process.execPath, ["build.mjs"], { cwd: ROOT, stdio: ["ignore", 2, 2] });
}

/** A child process running one engine configuration; `request` sends a command and resolves with its reply. */
class EngineProcess {
  constructor(spec, cfg) {
    this.spec = spec;
    this.replies = [];
    this.waiting = [];
    this.proc = fork(join(BENCH, "child.mjs"), [JSON.stringify(cfg)], { stdio: ["ignore", "pipe", "pipe", "ipc"] });
    // Library chatter goes to stderr, tagged, so stdout carries only the report.
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      createInterface({ input: stream }).on("line", (line) => process.stderr.write(`[${spec.id}] ${line}\n`));
    }
    this.proc.on("message", (msg) => this.deliver(msg));
    this.proc.on("error", (error) => this.deliver({ type: "error", message: error.message }));
    this.proc.on("exit", (code, signal) => this.deliver({ type: "error", message: `process exited (${signal ?? `code ${code}`})` }));
  }

  deliver(msg) {
    const waiter = this.waiting.shift();
    if (waiter) waiter(msg);
    else this.replies.push(msg);
  }

  async next() {
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => {
        this.proc.kill("SIGKILL");
        resolve({ type: "error", message: `no reply within ${REPLY_TIMEOUT_MS / 1000} s: killed` });
      }, REPLY_TIMEOUT_MS);
    });
    const reply = this.replies.length ? Promise.resolve(this.replies.shift()) : new Promise((resolve) => this.waiting.push(resolve));
    const msg = await Promise.race([reply, timeout]).finally(() => clearTimeout(timer));
    if (msg.type === "error") throw new Error(`${this.spec.id}: ${msg.message}`);
    return msg;
  }

  request(msg) {
    this.proc.send(msg);
    return this.next();
  }

  close() {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve();
    const exited = new Promise((resolve) => this.proc.once("exit", resolve));
    if (this.proc.connected) this.proc.send({ type: "exit" });
    return exited;
  }
}

function argmax(p) {
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
  return best;
}

/** Largest |Δprobability| and whether top-1 agrees for every image of the batch. */
function agreement(output, reference, classes) {
  let maxAbsDiff = 0;
  let top1 = true;
  for (let i = 0; i < output.length; i += classes) {
    const a = output.slice(i, i + classes);
    const b = reference.slice(i, i + classes);
    for (let c = 0; c < classes; c++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a[c] - b[c]));
    top1 &&= argmax(a) === argmax(b);
  }
  return { maxAbsDiff, top1 };
}

/** Our configuration the ratios of `spec` are taken against: relaxed (else plain) on model.json at the same thread count. */
function referenceFor(spec, runs) {
  return ["relaxed", "plain"].map((b) => runs.find((r) => r.spec.engine === "ours" && !r.spec.file && r.spec.build === b && r.spec.threads === spec.threads)).find(Boolean);
}

async function runBatch(batch, opts, dir, meta) {
  log(`\n== batch ${batch}: loading ${opts.engines.length} engine(s), one at a time`);
  const live = [];
  const failed = [];
  for (const spec of opts.engines) {
    const child = new EngineProcess(spec, { engine: spec.engine, build: spec.build, threads: spec.threads, file: spec.file, batch, dir });
    try {
      const ready = await child.next();
      log(`${spec.id}: load ${ready.loadMs.toFixed(0)} ms, first inference ${ready.firstMs.toFixed(0)} ms (${ready.detail})`);
      live.push({ spec, child, ready, times: [], roundMedians: [], peakRssMiB: ready.peakRssMiB });
    } catch (error) {
      log(`${spec.id} failed: ${error.message}`);
      failed.push({ id: spec.id, error: error.message.split("\n")[0] });
      await child.close();
    }
  }

  for (let r = 0; r < opts.rounds; r++) {
    const line = [];
    for (const run of [...live]) {
      await sleep(SETTLE_MS);
      try {
        const reply = await run.child.request({ type: "run", count: opts.runs });
        run.times.push(...reply.ms);
        run.roundMedians.push(median(reply.ms));
        run.peakRssMiB = reply.peakRssMiB;
        line.push(`${run.spec.id} ${median(reply.ms).toFixed(0)}`);
      } catch (error) {
        // A crashed engine leaves the comparison; the others keep their rounds.
        log(`${run.spec.id} failed in round ${r + 1}: ${error.message}`);
        failed.push({ id: run.spec.id, error: error.message.split("\n")[0] });
        live.splice(live.indexOf(run), 1);
      }
    }
    log(`round ${r + 1}/${opts.rounds} (ms): ${line.join(", ")}`);
  }

  let profile;
  if (opts.profile) {
    profile = [];
    for (const run of live.filter((x) => (x.spec.engine === "ours" && x.spec.threads === 1) || x.spec.engine === "ort-node")) {
      log(`profiling ${run.spec.id} (${opts.profileReps} repetitions)`);
      try {
        profile.push({ id: run.spec.id, name: run.spec.name, threads: run.spec.threads, layers: (await run.child.request({ type: "profile", reps: opts.profileReps })).layers });
      } catch (error) {
        log(`profile of ${run.spec.id} failed: ${error.message}`);
      }
    }
  }
  await Promise.all(live.map((run) => run.child.close()));

  const agreementRef = live.find((x) => x.spec.engine === "ours") ?? live[0];
  const engines = live.map((run) => {
    const ref = referenceFor(run.spec, live);
    let ratio = null;
    if (ref === run) ratio = 1;
    else if (ref) ratio = median(run.roundMedians.map((m, i) => m / ref.roundMedians[i]));
    const med = median(run.times);
    // The same engine on one thread: its time over ours, per round, then the median.
    const single = live.find((x) => x.spec.id === run.spec.id.replace(/-2(-patched)?$/, "-1") && x !== run);
    const speedupFrom1 = single ? median(run.roundMedians.map((m, i) => single.roundMedians[i] / m)) : null;
    return {
      id: run.spec.id,
      name: run.spec.name,
      threads: run.spec.threads,
      patched: Boolean(run.spec.patched),
      detail: run.ready.detail,
      loadMs: run.ready.loadMs,
      firstMs: run.ready.firstMs,
      medianMs: med,
      minMs: Math.min(...run.times),
      maxMs: Math.max(...run.times),
      imagesPerSecond: (batch * 1000) / med,
      peakRssMiB: run.peakRssMiB,
      vsOurs: ratio,
      speedupFrom1,
      vsOursId: ref?.spec.id ?? null,
      outputVs: agreementRef.spec.id,
      ...agreement(run.ready.output, agreementRef.ready.output, run.ready.output.length / batch),
      times: run.times,
    };
  });
  return { batch, engines, failed, profile, macsPerImage: meta.macsPerImage, layers: meta.layers };
}

async function main() {
  if (process.argv.includes("--help")) {
    console.log(USAGE);
    return;
  }
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${error.message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const started = performance.now();
  if (opts.build && opts.engines.some((e) => e.engine === "ours")) ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), "inception-bench-"));
  try {
    log("preparing the shared model files and input (bench/prepare.ts)");
    execFileSync(process.execPath, ["--import", "tsx", join(BENCH, "prepare.ts"), dir], { cwd: ROOT, stdio: ["ignore", 2, 2] });
    const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8"));
    const results = {
      date: new Date().toISOString(),
      node: process.version,
      cpu: `${cpus()[0]?.model ?? "unknown CPU"}, ${availableParallelism()} logical cores`,
      model: meta.source,
      photos: meta.photos,
      rounds: opts.rounds,
      runsPerRound: opts.runs,
      batches: [],
    };
    for (const batch of opts.batches) results.batches.push(await runBatch(batch, opts, dir, meta));
    results.elapsedSeconds = (performance.now() - started) / 1000;

    const outDir = join(BENCH, "results");
    mkdirSync(outDir, { recursive: true });
    const stamp = results.date.replace(/[:.]/g, "-").slice(0, 19);
    const base = join(outDir, `bench-${stamp}`);
    writeFileSync(`${base}.json`, JSON.stringify(results, null, 1));
    writeFileSync(`${base}.md`, resultsMarkdown(results));
    for (const b of results.batches) {
      console.log(`\nbatch ${b.batch}\n${summaryTable(b)}`);
      if (b.profile) console.log(`\n${profileTables(b, { top: 15 })}`);
    }
    log(`\n${results.elapsedSeconds.toFixed(0)} s; written ${base}.json and ${base}.md`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
