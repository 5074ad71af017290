/** Assertion helpers shared by test folders. */
import * as assert from "uvu/assert";

/** Asserts that `promise` rejects with an error whose message matches `pattern`. */
export async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a rejection matching ${pattern}`);
}
