// SPDX-License-Identifier: Apache-2.0
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { spreadKeys, startResync } from './resync.ts';
import { WorkQueue } from './workqueue.ts';

const clock = { now: () => Date.now() };

describe('startResync', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('re-queues every key at low priority, spread over the window, after a jittered interval', async () => {
    const q = new WorkQueue({ clock });
    const keys = ['a', 'b', 'c', 'd'];
    const r = startResync({ queue: q, keys: () => keys, intervalMs: 600_000, jitter: 0.1, spreadMs: 200_000, random: () => 0.5 });
    await vi.advanceTimersByTimeAsync(629_999);
    expect(q.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(1); // 600 s × 1.05
    expect(q.len()).toBe(1); // 'a' at once, the others 50 s apart
    await vi.advanceTimersByTimeAsync(50_000);
    expect(q.len()).toBe(2);
    await vi.advanceTimersByTimeAsync(100_000);
    expect(q.len()).toBe(4);
    // A fresh edit overtakes the resync keys.
    q.add('edited');
    const order: string[] = [];
    while (q.len() > 0) {
      const it = await q.get();
      if (!it.shutdown) order.push(it.key);
    }
    expect(order).toEqual(['edited', 'a', 'b', 'c', 'd']);
    r.stop();
  });

  it('spreadKeys: one key at once, the rest evenly over the window but never more than maxGapMs apart; cancel stops the rest', async () => {
    const q = new WorkQueue({ clock });
    const marked: string[] = [];
    // A small fleet: 3 keys over a 5 min window are 1 s apart, not 100 s.
    spreadKeys({ queue: q, keys: ['g', 'a', 'b'], spreadMs: 300_000, onKey: (k) => marked.push(k) });
    expect(marked).toEqual(['g']);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(marked).toEqual(['g', 'a']);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(marked).toEqual(['g', 'a', 'b']);
    expect(q.len()).toBe(3);
    // A large one uses the window: 1000 keys over 300 s are 300 ms apart.
    const many = Array.from({ length: 1000 }, (_, i) => `k${i}`);
    const seen: string[] = [];
    const cancel = spreadKeys({ queue: q, keys: many, spreadMs: 300_000, onKey: (k) => seen.push(k) });
    await vi.advanceTimersByTimeAsync(150_000);
    expect(seen.length).toBe(501);
    cancel();
    await vi.advanceTimersByTimeAsync(300_000);
    expect(seen.length).toBe(501);
  });

  it('repeats every interval, re-reads the keys each time, and stop() cancels', async () => {
    const q = new WorkQueue({ clock });
    let keys = ['a'];
    const r = startResync({ queue: q, keys: () => keys, intervalMs: 1000, jitter: 0, spreadMs: 0 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(q.len()).toBe(1);
    const first = await q.get();
    if (!first.shutdown) q.done(first.key);
    keys = ['a', 'b'];
    await vi.advanceTimersByTimeAsync(1000);
    expect(q.len()).toBe(2);
    r.stop();
    while (q.len() > 0) {
      const it = await q.get();
      if (!it.shutdown) q.done(it.key);
    }
    await vi.advanceTimersByTimeAsync(10_000);
    expect(q.len()).toBe(0);
    expect(r.runNow()).toBe(2);
    expect(q.len()).toBe(2);
  });
});
