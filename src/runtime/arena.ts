/**
 * Static memory plan: places buffers with known lifetimes in one arena so that
 * buffers whose lifetimes never overlap share bytes. Made once per plan, so
 * inference allocates nothing.
 */
export interface Lifetime {
  /** Bytes needed. */
  size: number;
  /** First step that writes the buffer (inclusive). */
  first: number;
  /** Last step that reads it (inclusive). */
  last: number;
}

/** Offsets are multiples of this, so every buffer starts on a cache line. */
export const ARENA_ALIGN = 64;

export function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/**
 * Greedy placement, each buffer at the lowest offset that does not collide
 * with an already placed buffer alive at the same time, in two orders: by
 * size, and by size times lifetime (largest first). Neither is always the
 * smaller (InceptionV3's stem: a short-lived buffer placed before a
 * long-lived one of similar size can push it up), so both run and the
 * smaller arena wins, the first on a tie. Returns the offset of each buffer
 * and the arena's total size.
 */
export function planArena(buffers: readonly Lifetime[]): { offsets: number[]; size: number } {
  const indices = buffers.map((_, i) => i);
  const keys: ((b: Lifetime) => number)[] = [(b) => b.size, (b) => b.size * (b.last - b.first + 1)];
  return keys
    .map((key) => placeGreedy(buffers, [...indices].sort((a, b) => key(buffers[b]!) - key(buffers[a]!) || a - b)))
    .reduce((best, r) => (r.size < best.size ? r : best));
}

/** Places the buffers in `order`, each at the lowest offset free for its whole lifetime. */
function placeGreedy(buffers: readonly Lifetime[], order: readonly number[]): { offsets: number[]; size: number } {
  const offsets = new Array<number>(buffers.length).fill(0);
  const placed: { start: number; end: number; first: number; last: number }[] = [];
  let size = 0;
  for (const i of order) {
    const buf = buffers[i]!;
    const bytes = alignUp(buf.size, ARENA_ALIGN);
    const clashes = placed
      .filter((p) => p.first <= buf.last && buf.first <= p.last)
      .sort((a, b) => a.start - b.start);
    let offset = 0;
    for (const c of clashes) {
      if (offset + bytes <= c.start) break;
      offset = Math.max(offset, c.end);
    }
    offsets[i] = offset;
    placed.push({ start: offset, end: offset + bytes, first: buf.first, last: buf.last });
    size = Math.max(size, offset + bytes);
  }
  return { offsets, size };
}
