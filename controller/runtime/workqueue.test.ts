// SPDX-License-Identifier: Apache-2.0
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TerminalError, TransientError, UserError } from '../errors/index.ts';
import type { Clock } from './clock.ts';
import {
  BucketRateLimiter,
  ItemExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  TokenBucket,
  MAX_KEY_BACKOFF_MS,
  defaultControllerRateLimiter,
} from './ratelimit.ts';
import { type ReconcileOutcome, retryOptionsFor, runWorkers } from './workers.ts';
import { WorkQueue } from './workqueue.ts';

// Fake timers also fake Date, so this clock follows vi.advanceTimersByTime.
const fakeClock: Clock = { now: () => Date.now() };

/** Take every key currently available without waiting. */
async function drainNow(q: WorkQueue): Promise<string[]> {
  const out: string[] = [];
  while (q.len() > 0) {
    const item = await q.get();
    if (item.shutdown) break;
    out.push(item.key);
  }
  return out;
}

describe('WorkQueue de-duplication (client-go queue/dirty/processing)', () => {
  it('N adds of one key give one item', async () => {
    const q = new WorkQueue({ clock: fakeClock });
    for (let i = 0; i < 50; i++) q.add('ns/gw');
    q.add('ns/other');
    expect(q.len()).toBe(2);
    expect(await drainNow(q)).toEqual(['ns/gw', 'ns/other']);
  });

  it('an add while processing is not handed out until done, then exactly once', async () => {
    const q = new WorkQueue({ clock: fakeClock });
    q.add('k');
    const first = await q.get();
    expect(first).toEqual({ shutdown: false, key: 'k' });
    q.add('k');
    q.add('k');
    expect(q.len()).toBe(0); // dirty, not queued: a second worker cannot take it
    let second: unknown;
    void q.get().then((x) => (second = x));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done('k');
    await Promise.resolve();
    expect(second).toEqual({ shutdown: false, key: 'k' });
    q.done('k');
    expect(q.len()).toBe(0);
    expect(q.has('k')).toBe(false);
  });

  it('a waiting get() is woken by add()', async () => {
    const q = new WorkQueue({ clock: fakeClock });
    const p = q.get();
    q.add('late');
    expect(await p).toEqual({ shutdown: false, key: 'late' });
  });

  it('done() of a key that is not processing is a no-op', () => {
    const q = new WorkQueue({ clock: fakeClock });
    q.add('k');
    q.done('k');
    expect(q.len()).toBe(1);
  });
});

describe('WorkQueue priorities', () => {
  it('high keys are served before low keys, FIFO within a priority', async () => {
    const q = new WorkQueue({ clock: fakeClock });
    q.add('resync-1', { priority: 'low' });
    q.add('resync-2', { priority: 'low' });
    q.add('edit-1');
    q.add('edit-2', { priority: 'high' });
    expect(await drainNow(q)).toEqual(['edit-1', 'edit-2', 'resync-1', 'resync-2']);
  });

  it('a queued low key added again at high is promoted, and handed out once', async () => {
    const q = new WorkQueue({ clock: fakeClock });
    q.add('a', { priority: 'low' });
    q.add('b', { priority: 'low' });
    q.add('c');
    q.add('b');
    expect(q.len()).toBe(3);
    expect(await drainNow(q)).toEqual(['c', 'b', 'a']);
  });

  it('a high add while a low key is processing re-queues it at high', async () => {
    const q = new WorkQueue({ clock: fakeClock });
    q.add('x', { priority: 'low' });
    await q.get();
    q.add('x', { priority: 'low' });
    q.add('x'); // promotes the dirty mark
    q.add('y', { priority: 'low' });
    q.done('x');
    expect(await drainNow(q)).toEqual(['x', 'y']);
  });
});

describe('WorkQueue delays and rate limiting (fake timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('addAfter makes the key available only after the delay; the earliest time wins', () => {
    const q = new WorkQueue({ clock: fakeClock });
    q.addAfter('k', 1000);
    q.addAfter('k', 5000); // later: ignored
    expect(q.waitingCount()).toBe(1);
    vi.advanceTimersByTime(999);
    expect(q.len()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(q.len()).toBe(1);
    // An earlier time replaces a later one.
    const q2 = new WorkQueue({ clock: fakeClock });
    q2.addAfter('k', 5000);
    q2.addAfter('k', 100);
    vi.advanceTimersByTime(100);
    expect(q2.len()).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(q2.len()).toBe(1); // the replaced 5 s timer did not fire a second add
  });

  it('addAfter(0) adds at once', () => {
    const q = new WorkQueue({ clock: fakeClock });
    q.addAfter('k', 0);
    expect(q.len()).toBe(1);
  });

  it('per-key exponential backoff 5 ms, 10 ms, 20 ms ... capped at 1000 s; forget resets', () => {
    const rl = new ItemExponentialFailureRateLimiter<string>();
    const delays = Array.from({ length: 20 }, () => rl.when('k'));
    expect(delays.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
    expect(delays[17]).toBe(655_360);
    expect(delays[18]).toBe(1_000_000);
    expect(delays[19]).toBe(1_000_000);
    expect(rl.numRequeues('k')).toBe(20);
    expect(rl.when('other')).toBe(5); // per key
    rl.forget('k');
    expect(rl.numRequeues('k')).toBe(0);
    expect(rl.when('k')).toBe(5);
    // Far past the cap stays finite.
    for (let i = 0; i < 2000; i++) rl.when('x');
    expect(rl.when('x')).toBe(1_000_000);
  });

  it('jitter only lengthens the delay, by at most the factor, and never beyond the cap', () => {
    const rl = new ItemExponentialFailureRateLimiter<string>({ baseDelayMs: 100, maxDelayMs: 1000, jitter: 0.5, random: () => 1 });
    expect(rl.when('k')).toBe(150);
    expect(rl.when('k')).toBe(300);
    expect(rl.when('k')).toBe(600);
    expect(rl.when('k')).toBe(1000); // 800 * 1.5 = 1200 → capped
    const lo = new ItemExponentialFailureRateLimiter<string>({ baseDelayMs: 100, jitter: 0.5, random: () => 0 });
    expect(lo.when('k')).toBe(100);
  });

  it('the bucket lets a burst through, then spaces retries at qps', () => {
    const b = new TokenBucket({ qps: 10, burst: 100, clock: fakeClock });
    const delays = Array.from({ length: 150 }, () => b.reserve());
    expect(delays.slice(0, 100).every((d) => d === 0)).toBe(true);
    expect(delays[100]).toBeCloseTo(100);
    expect(delays[149]).toBeCloseTo(5000);
    vi.advanceTimersByTime(60_000);
    expect(b.available()).toBe(100); // refills to the burst, not beyond
    expect(b.tryTake()).toBe(true);
  });

  it('tryTake refuses when empty and recovers at qps', () => {
    const b = new TokenBucket({ qps: 2, burst: 1, clock: fakeClock });
    expect(b.tryTake()).toBe(true);
    expect(b.tryTake()).toBe(false);
    vi.advanceTimersByTime(499);
    expect(b.tryTake()).toBe(false);
    vi.advanceTimersByTime(1);
    expect(b.tryTake()).toBe(true);
  });

  it('default limiter = max(per-key, bucket): a mass failure is spread at 10 qps', () => {
    const rl = defaultControllerRateLimiter<string>({ clock: fakeClock, random: () => 0 });
    const first = Array.from({ length: 120 }, (_, i) => rl.when(`gw-${i}`));
    expect(first.slice(0, 100).every((d) => d === 5)).toBe(true);
    expect(first[100]).toBeCloseTo(100);
    expect(first[119]).toBeCloseTo(2000);
    expect(rl.numRequeues('gw-0')).toBe(1);
    const mx = new MaxOfRateLimiter<string>(new BucketRateLimiter({ qps: 1, burst: 1, clock: fakeClock }));
    expect(mx.numRequeues('a')).toBe(0);
  });

  it('default per-key backoff is jittered from the first retry and never above 60 s, spread even at the cap', () => {
    let x = 0.1;
    // A deterministic spread of random values.
    const random = (): number => (x = (x * 9301 + 0.49297) % 1);
    const rl = defaultControllerRateLimiter<string>({ clock: fakeClock, random, qps: 1e9, burst: 1e9 });
    const one = Array.from({ length: 40 }, () => rl.when('k'));
    expect(Math.max(...one)).toBeLessThanOrEqual(MAX_KEY_BACKOFF_MS);
    expect(MAX_KEY_BACKOFF_MS).toBeLessThanOrEqual(60_000);
    expect(one[0]).toBeGreaterThanOrEqual(5);
    expect(one[0]).toBeLessThanOrEqual(6);
    // 100 keys that have all failed 40 times do not retry in lock-step.
    const atCap = Array.from({ length: 100 }, (_, i) => {
      for (let n = 0; n < 39; n++) rl.when(`gw-${i}`);
      return rl.when(`gw-${i}`);
    });
    expect(new Set(atCap.map((d) => Math.round(d / 100))).size).toBeGreaterThan(20);
    expect(Math.min(...atCap)).toBeGreaterThanOrEqual(50_000);
  });

  it('a key that failed all through a long outage is retried within 60 s after it ends (client-go: up to 1000 s)', async () => {
    const q = new WorkQueue({ clock: fakeClock });
    let outage = true;
    const runs: number[] = [];
    const start = Date.now();
    const w = runWorkers({
      queue: q,
      clock: fakeClock,
      reconcile: () => {
        runs.push(Date.now() - start);
        return outage ? Promise.reject(new TransientError('503')) : Promise.resolve();
      },
    });
    q.add('gw');
    await vi.advanceTimersByTimeAsync(30 * 60_000);
    const failures = runs.length;
    expect(failures).toBeGreaterThan(30);
    outage = false;
    const ended = Date.now() - start;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(runs.length).toBe(failures + 1);
    expect(runs.at(-1)! - ended).toBeLessThanOrEqual(60_000);
    expect(q.retryInfo('gw')).toEqual({ retries: 0 });
    q.shutDown();
    await w.finished;
  });

  it('requeueNow runs a key waiting out its backoff at once, resets the backoff and drops the old timer; retryInfo tells when', async () => {
    const q = new WorkQueue({ clock: fakeClock, rateLimiter: new ItemExponentialFailureRateLimiter({ baseDelayMs: 10_000 }) });
    q.addRateLimited('k');
    q.addRateLimited('k');
    expect(q.retryInfo('k').retries).toBe(2);
    // The earliest pending time wins: 10 s.
    expect(q.retryInfo('k').nextRetryInMs).toBe(10_000);
    expect(q.retryInfo('k').nextRetryAt!.getTime()).toBe(Date.now() + 10_000);
    expect(q.len()).toBe(0);
    q.requeueNow('k');
    expect(q.len()).toBe(1);
    expect(q.retryInfo('k')).toEqual({ retries: 0 });
    expect(await drainNow(q)).toEqual(['k']);
    q.done('k');
    vi.advanceTimersByTime(60_000);
    expect(q.len()).toBe(0); // the dropped timer did not fire a second run
    q.addRateLimited('j');
    q.requeueNow('j', { resetBackoff: false });
    expect(q.retryInfo('j').retries).toBe(1);
    expect(q.retryInfo('j').nextRetryInMs).toBeUndefined();
  });

  it('a user error fixed outside Kubernetes (recheckAfterMs) is re-checked, at most 60 s apart; a plain one is not', async () => {
    const q = new WorkQueue({ clock: fakeClock });
    const calls: Record<string, number[]> = {};
    const outcomes: string[] = [];
    const start = Date.now();
    const w = runWorkers({
      queue: q,
      clock: fakeClock,
      observe: ({ outcome }) => outcomes.push(outcome),
      reconcile: (key) => {
        (calls[key] ??= []).push(Date.now() - start);
        if (key === 'iam') return Promise.reject(new UserError('Invalid', '403 forbidden', { recheckAfterMs: 5_000 }));
        return Promise.reject(new UserError('Invalid', 'bad spec'));
      },
    });
    q.add('iam');
    q.add('spec');
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(calls.spec).toEqual([0]);
    const gaps = calls.iam!.slice(1).map((t, i) => t - calls.iam![i]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(5_000);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(60_000);
    expect(calls.iam!.length).toBeGreaterThanOrEqual(10);
    expect(calls.iam!.length).toBeLessThanOrEqual(120);
    expect(outcomes.every((o) => o === 'user_error')).toBe(true);
    q.shutDown();
    await w.finished;
  });

  it('planRetry decides the next retry while the reconcile runs: the message it writes is when the worker retries', async () => {
    // A reconcile that fails writes "retrying in N s" into the Gateway status before it returns; the
    // worker's requeue must then use that very delay (the jitter would otherwise make it differ).
    const q = new WorkQueue({ clock: fakeClock });
    const said: number[] = [];
    const runs: number[] = [];
    const err = new TransientError('503');
    const w = runWorkers({
      queue: q,
      clock: fakeClock,
      reconcile: (key) => {
        runs.push(Date.now());
        if (runs.length > 6) return Promise.resolve(undefined);
        said.push(q.planRetry(key, retryOptionsFor(err)));
        expect(q.retryInfo(key).nextRetryInMs).toBe(said.at(-1));
        return Promise.reject(err);
      },
    });
    q.add('gw');
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(runs).toHaveLength(7);
    const gaps = runs.slice(1).map((t, i) => t - runs[i]!);
    expect(gaps).toEqual(said.map((d) => Math.floor(d))); // timers run at whole milliseconds
    // Success drops any plan: the next failure starts from the base delay again.
    expect(q.retryInfo('gw')).toEqual({ retries: 0 });
    expect(q.planRetry('gw', {})).toBeLessThan(10);
    q.forget('gw');
    expect(q.retryInfo('gw')).toEqual({ retries: 0 });
    q.shutDown();
    await w.finished;
  });

  it('a user error re-checked outside Kubernetes gets a floor and the 60 s cap; a plain user error no retry', () => {
    expect(retryOptionsFor(new UserError('Invalid', 'no such project', { recheckAfterMs: 15_000 }))).toEqual({ minDelayMs: 15_000, maxDelayMs: 60_000 });
    expect(retryOptionsFor(new UserError('Invalid', 'bad spec'))).toBeUndefined();
    expect(retryOptionsFor(new TransientError('quota', { retryAfterMs: 30_000 }))).toEqual({ minDelayMs: 30_000 });
    expect(retryOptionsFor(new Error('x'))).toEqual({});
  });

  it('addRateLimited re-adds after the backoff, honours a minimum delay, counts requeues', () => {
    const q = new WorkQueue({ clock: fakeClock, rateLimiter: new ItemExponentialFailureRateLimiter({ baseDelayMs: 100 }) });
    expect(q.addRateLimited('k')).toBe(100);
    expect(q.addRateLimited('j', { minDelayMs: 30_000 })).toBe(30_000);
    vi.advanceTimersByTime(100);
    expect(q.len()).toBe(1);
    expect(q.numRequeues('k')).toBe(1);
    vi.advanceTimersByTime(29_900);
    expect(q.len()).toBe(2);
    q.forget('k');
    expect(q.numRequeues('k')).toBe(0);
  });

  it('shutDown drops pending timers, ignores adds and wakes waiting workers', async () => {
    const q = new WorkQueue({ clock: fakeClock });
    q.addAfter('later', 1000);
    q.add('now');
    const waiter = (async () => {
      await q.get(); // takes 'now'
      return q.get(); // waits
    })();
    await vi.advanceTimersByTimeAsync(0);
    q.shutDown();
    expect(await waiter).toEqual({ shutdown: true });
    q.add('ignored');
    vi.advanceTimersByTime(5000);
    expect(q.len()).toBe(0);
    expect(await q.get()).toEqual({ shutdown: true });
  });

  it('shutDownWithDrain waits for keys being processed, and does not hand out queued ones', async () => {
    const q = new WorkQueue({ clock: fakeClock });
    q.add('a');
    q.add('b');
    await q.get();
    let drained = false;
    const p = q.shutDownWithDrain().then(() => (drained = true));
    await vi.advanceTimersByTimeAsync(10);
    expect(drained).toBe(false);
    expect(await q.get()).toEqual({ shutdown: true }); // 'b' is not started
    q.done('a');
    await p;
    expect(drained).toBe(true);
  });
});

describe('runWorkers result handling (controller-runtime reconcileHandler)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never runs one key on two workers, and coalesces events during a reconcile', async () => {
    const q = new WorkQueue({ clock: fakeClock });
    const running = new Set<string>();
    let overlaps = 0;
    const runs: string[] = [];
    const w = runWorkers({
      queue: q,
      workers: 4,
      clock: fakeClock,
      reconcile: async (key) => {
        if (running.has(key)) overlaps++;
        running.add(key);
        runs.push(key);
        await new Promise((r) => setTimeout(r, 100));
        running.delete(key);
      },
    });
    q.add('a');
    q.add('b');
    await vi.advanceTimersByTimeAsync(10);
    for (let i = 0; i < 20; i++) q.add('a'); // 20 events mid-reconcile
    await vi.advanceTimersByTimeAsync(1000);
    expect(overlaps).toBe(0);
    expect(runs.filter((k) => k === 'a')).toHaveLength(2); // the original + one coalesced re-run
    expect(runs.filter((k) => k === 'b')).toHaveLength(1);
    q.shutDown();
    await w.finished;
  });

  it('errors back off per key; success forgets; user and terminal errors are not retried', async () => {
    const q = new WorkQueue({ clock: fakeClock, rateLimiter: new ItemExponentialFailureRateLimiter({ baseDelayMs: 1000 }) });
    const calls: Record<string, number[]> = {};
    const outcomes: [string, ReconcileOutcome][] = [];
    const start = Date.now();
    const w = runWorkers({
      queue: q,
      clock: fakeClock,
      observe: ({ key, outcome }) => outcomes.push([key, outcome]),
      reconcile: (key) => {
        (calls[key] ??= []).push(Date.now() - start);
        const n = calls[key].length;
        if (key === 'flaky' && n <= 3) return Promise.reject(new TransientError('503'));
        if (key === 'bad') return Promise.reject(new UserError('InvalidParameters', 'bad spec'));
        if (key === 'doomed') return Promise.reject(new TerminalError('cannot'));
        if (key === 'bug') throw new Error('sync throw');
        return Promise.resolve();
      },
    });
    q.add('flaky');
    q.add('bad');
    q.add('doomed');
    q.add('bug');
    await vi.advanceTimersByTimeAsync(60_000);
    // flaky: t=0 fails, +1 s fails, +2 s fails, +4 s succeeds.
    expect(calls.flaky).toEqual([0, 1000, 3000, 7000]);
    expect(q.numRequeues('flaky')).toBe(0);
    expect(calls.bad).toEqual([0]);
    expect(calls.doomed).toEqual([0]);
    // A synchronous throw is an ordinary error: retried with backoff (1, 2, 4, 8, 16 s ... within 60 s).
    expect(calls.bug!.length).toBeGreaterThanOrEqual(5);
    expect(outcomes).toContainEqual(['bad', 'user_error']);
    expect(outcomes).toContainEqual(['doomed', 'terminal']);
    expect(outcomes).toContainEqual(['flaky', 'success']);
    q.shutDown();
    await w.finished;
  });

  it('retryAfterMs of a TransientError is a floor; requeueAfterMs re-runs without backoff', async () => {
    const q = new WorkQueue({ clock: fakeClock, rateLimiter: new ItemExponentialFailureRateLimiter({ baseDelayMs: 5 }) });
    const calls: Record<string, number[]> = {};
    const start = Date.now();
    const w = runWorkers({
      queue: q,
      clock: fakeClock,
      reconcile: (key) => {
        (calls[key] ??= []).push(Date.now() - start);
        if (key === 'quota' && calls[key].length === 1) return Promise.reject(new TransientError('429', { retryAfterMs: 60_000 }));
        if (key === 'poll' && calls[key].length < 3) return Promise.resolve({ requeueAfterMs: 10_000 });
        return Promise.resolve();
      },
    });
    q.add('quota');
    q.add('poll');
    await vi.advanceTimersByTimeAsync(120_000);
    expect(calls.quota).toEqual([0, 60_000]);
    expect(calls.poll).toEqual([0, 10_000, 20_000]);
    expect(q.numRequeues('poll')).toBe(0);
    q.shutDown();
    await w.finished;
  });
});
