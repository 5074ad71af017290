/**
 * Reusable barrier for the worker threads, spin-then-wait.
 * Block layout (i32 words): 0 arrivals, 1 generation, 2 spin iterations.
 *
 * A sleeping vCPU takes ~100 µs to wake on the target machines, longer than
 * most gaps between plan steps, so arrivals spin on the generation word first
 * and only fall back to memory.atomic.wait when a step is very unbalanced or
 * the run is over. The last arrival resets the count, then publishes the new
 * generation (the reset must be visible before anyone can arrive again).
 */
export function barrier(b: usize, threads: i32): void {
  const gen = atomic.load<i32>(b, 4);
  if (atomic.add<i32>(b, 1) == threads - 1) {
    atomic.store<i32>(b, 0);
    atomic.store<i32>(b, gen + 1, 4);
    atomic.notify(b + 4, threads);
    return;
  }
  const spins = load<i32>(b, 8);
  for (let i = 0; i < spins; i++) {
    if (atomic.load<i32>(b, 4) != gen) return;
  }
  while (atomic.load<i32>(b, 4) == gen) atomic.wait<i32>(b + 4, gen, -1);
}
