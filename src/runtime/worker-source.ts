/**
 * The kernel worker, as source text: the platform starts it from this string,
 * so no worker file has to be located at run time. Classic script that works
 * both under Node's worker_threads (`require` present) and as a Web Worker.
 * It instantiates the shared kernel module on the shared memory, then runs
 * the plan steps it is told to, as thread `tid` (the caller's thread is 0);
 * waiting between steps lives in wasm.
 */
export const WORKER_SOURCE = `"use strict";
const port = typeof require === "function" ? require("node:worker_threads").parentPort : self;
const listen = (f) => (port.on ? port.on("message", f) : (port.onmessage = (e) => f(e.data)));
let kernels = null;
let tid = 0;
listen((msg) => {
  try {
    if (msg.type === "init") {
      tid = msg.tid;
      kernels = new WebAssembly.Instance(msg.module, { env: { memory: msg.memory } }).exports;
      port.postMessage({ type: "ready" });
    } else if (msg.type === "run") {
      const reached = kernels.run(tid, msg.ops, 0, msg.steps, msg.spins, 1);
      port.postMessage({ type: "done", run: msg.run, bad: reached < 0 ? -1 - reached : -1 });
    }
  } catch (e) {
    port.postMessage({ type: "error", message: String((e && e.stack) || e) });
  }
});
`;
