// Markdown tables for bench.mjs results: the per-engine summary of one batch
// size, the --profile tables, and the whole results document.

const fmt = (x, digits = 0) => (x == null || !Number.isFinite(x) ? "—" : x.toFixed(digits));
const gflops = (macs, ms) => (ms > 0 && macs > 0 ? (2 * macs) / (ms * 1e6) : null);

function table(header, rows) {
  return [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

/** One row per engine configuration of one batch size. */
export function summaryTable(b) {
  const rows = b.engines.map((e) => [
    e.name,
    e.threads,
    fmt(e.loadMs),
    fmt(e.firstMs),
    fmt(e.medianMs),
    fmt(e.minMs),
    fmt(e.maxMs),
    fmt(e.imagesPerSecond, 1),
    fmt(e.peakRssMiB),
    e.vsOurs == null ? "—" : e.vsOursId === e.id ? "1 (ref)" : `${fmt(e.vsOurs, 2)}×`,
    `${e.maxAbsDiff.toExponential(1)}${e.top1 ? "" : " (top-1 differs!)"}`,
  ]);
  const failed = b.failed.map((f) => `- ${f.id} failed: ${f.error}`);
  const scaling = b.engines.filter((e) => e.speedupFrom1 != null).map((e) => `${e.id} ${fmt(e.speedupFrom1, 2)}×`);
  return [
    table(["engine", "threads", "load ms", "first inference ms", "median ms", "min ms", "max ms", "images/s", "peak RSS MiB", "time vs ours", "max \\|Δp\\| vs ours"], rows),
    ...(scaling.length ? ["", `1 → 2 threads speedup (one-thread time over two-thread time, per round, then the median): ${scaling.join(", ")}`] : []),
    ...(failed.length ? ["", ...failed] : []),
  ].join("\n");
}

/**
 * Per profiled engine: layer name → { ms, op }. ORT renames the nodes it
 * rewrites: "<name>_nchwc" after its NCHWc layout pass, "fused <name>" after
 * fusing an activation; both map back to our names.
 */
function byLayer(p) {
  const m = new Map();
  for (const l of p.layers) {
    const name = l.name.replace(/^fused /, "").replace(/_nchwc$/, "");
    const prev = m.get(name);
    m.set(name, { op: l.op, ms: (prev?.ms ?? 0) + l.ms });
  }
  return m;
}

/**
 * Per-layer-type totals (time and achieved GFLOP/s per profiled engine), then
 * the GEMM layers one by one, slowest (in the first profile) first; `top`
 * limits that list.
 */
export function profileTables(b, { top = Infinity } = {}) {
  if (!b.profile?.length) return "(no profile)";
  const macs = new Map(b.layers.map((l) => [l.name, l.macs * b.batch]));
  const kind = new Map(b.layers.map((l) => [l.name, l.op]));
  // Our profile also names the non-GEMM steps (pools, softmax, …).
  for (const p of b.profile) for (const l of p.layers) if (!p.id.startsWith("ort") && !kind.has(l.name)) kind.set(l.name, l.op);
  const profiles = b.profile.map((p) => ({ ...p, layers: byLayer(p) }));
  const classOf = (name, op) => kind.get(name) ?? `other: ${op}`;

  const classes = new Map();
  for (const p of profiles) {
    for (const [name, l] of p.layers) {
      const c = classOf(name, l.op);
      if (!classes.has(c)) classes.set(c, { macs: 0, layers: new Set(), ms: new Map() });
      const entry = classes.get(c);
      if (!entry.layers.has(name)) {
        entry.layers.add(name);
        entry.macs += macs.get(name) ?? 0;
      }
      entry.ms.set(p.id, (entry.ms.get(p.id) ?? 0) + l.ms);
    }
  }
  const perEngine = (ms, m) => profiles.flatMap((p) => [fmt(ms(p), 2), fmt(gflops(m, ms(p)), 1)]);
  const engineHeader = profiles.flatMap((p) => [`${p.id} ms`, "GFLOP/s"]);
  const classRows = [...classes]
    .sort((a, b) => (b[1].ms.get(profiles[0].id) ?? 0) - (a[1].ms.get(profiles[0].id) ?? 0))
    .map(([c, e]) => [c, e.layers.size, fmt(e.macs / 1e9, 3), ...perEngine((p) => e.ms.get(p.id), e.macs)]);
  const totalMacs = b.layers.reduce((n, l) => n + l.macs * b.batch, 0);
  classRows.push(["**total**", "", fmt(totalMacs / 1e9, 3), ...perEngine((p) => [...p.layers.values()].reduce((n, l) => n + l.ms, 0), totalMacs)]);

  const first = profiles[0];
  const gemms = b.layers
    .map((l) => l.name)
    .sort((x, y) => (first.layers.get(y)?.ms ?? 0) - (first.layers.get(x)?.ms ?? 0))
    .slice(0, top)
    .map((name) => [name, kind.get(name), fmt(macs.get(name) / 1e6, 1), ...perEngine((p) => p.layers.get(name)?.ms, macs.get(name))]);

  return [
    `Per layer type (batch ${b.batch}; each engine's layers timed by itself, see notes):`,
    "",
    table(["layer type", "layers", "GMAC", ...engineHeader], classRows),
    "",
    `${top === Infinity ? "Every" : `The ${top} slowest`} GEMM layer${top === 1 ? "" : "s"} (convolutions, dense), by ${first.id} time:`,
    "",
    table(["layer", "type", "MMAC", ...engineHeader], gemms),
  ].join("\n");
}

export function resultsMarkdown(r) {
  const parts = [
    `# Inception v3 benchmark, ${r.date.slice(0, 10)}`,
    "",
    `${r.cpu}; Node ${r.node}; model ${r.model} (every engine runs these weights: tfjs and ours from the same`,
    "tfjs layers files, onnxruntime from our ONNX export of them); input: the sample photos",
    `${r.photos.join(", ")} preprocessed once (batch 1: the first). ${r.rounds} interleaved rounds x ${r.runsPerRound} runs`,
    `per engine (${r.rounds * r.runsPerRound} timed runs each); the whole run took ${fmt(r.elapsedSeconds)} s.`,
    "",
    "- **load**: from importing the engine's library to a session ready to run (includes wasm",
    "  compilation and reading the model files). **first inference**: the first run after load.",
    "- **median / min / max**: over every timed run. **peak RSS**: the engine's own process (max RSS at",
    "  the end of its timed runs, in MiB); the harness reads only the photos the batch uses.",
    "- **time vs ours**: this engine's time over ours (relaxed build, same thread count), taken per",
    "  round and then the median; above 1 means ours is faster.",
    "- **max |Δp| vs ours**: largest probability difference from our first engine's output on the same",
    "  batch, and whether top-1 agrees (it shows every engine ran the same model on the same input).",
    "- *patched*: tfjs-backend-wasm does not run threads in Node (tfjs issue 3830); that row runs them",
    "  only through bench/engines/tfjs-wasm.mjs's patch (worker scripts written to files, core count",
    "  doubled while the backend initialises). Its supported configuration is 1 thread.",
  ];
  for (const b of r.batches) {
    parts.push("", `## Batch ${b.batch}`, "", summaryTable(b), "");
    for (const e of b.engines) parts.push(`- ${e.id}: ${e.detail}`);
    if (b.profile) {
      parts.push(
        "",
        `### Profile, batch ${b.batch}`,
        "",
        "Ours: each plan step run alone on one thread through the kernel module, median of the",
        "repetitions (bench/profile-ours.mjs). onnxruntime-node: its own profiler's per-node kernel",
        "times (NCHWc nodes mapped back to our names; its layout reorders and concats are listed as",
        "`other`). GFLOP/s = 2 x MACs / time.",
        "",
        profileTables(b),
      );
    }
  }
  return `${parts.join("\n")}\n`;
}
