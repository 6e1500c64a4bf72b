// SPDX-License-Identifier: Apache-2.0
//
// Bounded concurrency for independent steps of the same kind: parallel where the order
// allows, without flooding a 2-core controller or the API.

/** Outcome of one item: its value or its error (never throws; callers decide what a failure means). */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<I, O>(items: readonly I[], limit: number, fn: (item: I, index: number) => Promise<O>): Promise<Array<Settled<O>>> {
  const out = new Array<Settled<O>>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      try {
        out[i] = { ok: true, value: await fn(items[i] as I, i) };
      } catch (error) {
        out[i] = { ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, () => worker()));
  return out;
}
