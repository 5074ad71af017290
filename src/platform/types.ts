/**
 * What the runtime needs from the JavaScript host. The core never touches a
 * host API directly: each runtime (Node, Deno, Bun, workerd, browsers) gets
 * its implementation in this folder.
 */
export interface WorkerHandle {
  postMessage(message: unknown): void;
  onMessage(listener: (message: unknown) => void): void;
  /** Errors the worker could not report itself (failed to start, crashed). */
  onError(listener: (error: Error) => void): void;
  terminate(): void;
  /**
   * Whether this worker keeps the host alive. Idle kernel workers must not
   * stop a Node process from exiting; a worker in the middle of a run must.
   */
  keepAlive(active: boolean): void;
}

export interface Platform {
  /** Name used in diagnostics, e.g. "node". */
  name: string;
  /** Logical cores this process may use. */
  cores(): number;
  /**
   * Starts a worker running `source`, a classic (non-module) script that
   * talks through `require("node:worker_threads").parentPort` when `require`
   * exists and through `self` otherwise. Absent where the host has no workers
   * (workerd): such hosts run with `threads: 1`.
   */
  startWorker?(source: string): WorkerHandle;
  /** Resolves after queued timers and I/O had a chance to run. */
  yieldToEventLoop(): Promise<void>;
}
