// Latency, load time and peak RSS of our runtime per configuration (threads 1/2 x
// relaxed/plain), each configuration in its own process, rounds interleaved so drift
// spreads over all of them. Needs `npm run build` first. Run alone on the machine:
//   flock /tmp/bench.lock node bench/ours.mjs [--rounds 2] [--runs 15] [--batch 1]
import { execFileSync } from "node:child_process";

const arg = (name, d) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const rounds = arg("--rounds", 2);
const runs = arg("--runs", 15);
const batch = arg("--batch", 1);
const configs = [];
for (const build of ["relaxed", "plain"]) for (const threads of [1, 2]) configs.push({ build, threads, runs, batch });

const results = configs.map(() => []);
for (let r = 0; r < rounds; r++) {
  configs.forEach((cfg, i) => {
    const out = execFileSync(process.execPath, [new URL("./run-one.mjs", import.meta.url).pathname, JSON.stringify(cfg)]);
    results[i].push(JSON.parse(out.toString().trim().split("\n").at(-1)));
  });
}
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`batch ${batch}, ${rounds} round(s) x ${runs} runs, ${new Date().toISOString().slice(0, 10)}, node ${process.version}`);
console.log("| build | threads | median ms | min ms | load ms | first inference ms | peak RSS MB |");
console.log("|---|---|---|---|---|---|---|");
configs.forEach((cfg, i) => {
  const rs = results[i];
  const f = (k) => med(rs.map((x) => x[k])).toFixed(0);
  console.log(`| ${cfg.build} | ${cfg.threads} | ${f("medianMs")} | ${Math.min(...rs.map((x) => x.minMs)).toFixed(0)} | ${f("loadMs")} | ${f("firstMs")} | ${f("peakRssMB")} |`);
});
