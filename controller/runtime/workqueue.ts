// SPDX-License-Identifier: Apache-2.0
//
// A level-triggered, de-duplicating work queue with client-go semantics
// (`util/workqueue/queue.go`, `delaying_queue.go`, `rate_limiting_queue.go`):
//
// * Three sets. `dirty` = keys that need processing; `processing` = keys a worker holds; the FIFO
//   holds dirty keys that are not being processed. `add` of a dirty key is a no-op, so N events
//   for one Gateway cause one reconcile. `add` while the key is processing only marks it dirty;
//   `done` re-queues it. Hence a key is never worked by two workers at once, and an event that
//   arrives mid-reconcile is never lost (the reconcile re-reads the caches: level-triggered,
//   controller-runtime `pkg/reconcile/reconcile.go`).
// * `addAfter` keeps one timer per key and only moves it earlier (client-go keeps the earliest
//   `readyAt` for a waiting item).
// * `addRateLimited` = `addAfter(key, limiter.when(key))`; `forget` resets the key's backoff.
//   `requeueNow` runs a key at once despite a pending backoff (an event that can change a failing
//   key's outcome), and `retryInfo` tells when the next retry is due (condition messages).
//   `planRetry` decides the delay of the key's next `addRateLimited` ahead of time, so a reconcile
//   that is about to fail can write "retrying in 40 s" into its status before the worker requeues it.
// * Two priorities. controller-runtime's priority queue (`designs/priorityqueue.md`) puts startup
//   and resync events low so that a full re-reconcile "common for controllers managing cloud
//   resources" does not delay fresh changes. A low key added again at high priority is promoted.
// * Deviation: after `shutDown()` `get()` hands out nothing more (client-go drains the FIFO). A
//   terminating or deposed replica must not *start* reconciles; `shutDownWithDrain` only waits for
//   those already running.
import { type Clock, monotonicClock } from './clock.ts';
import { type RateLimiter, defaultControllerRateLimiter } from './ratelimit.ts';

/** Queue priority: fresh events are `high`, resync / relist-diff events `low`. */
export type Priority = 'high' | 'low';

/** Optional observers (telemetry/metrics.ts provides a prom-client implementation). */
export interface QueueMetrics {
  /** Called whenever the number of queued (not processing) keys changes. */
  depth?(n: number): void;
  /** A key became dirty (client-go `adds`, counted after de-duplication). */
  add?(): void;
  /** A rate-limited re-add (client-go `retries`). */
  retry?(): void;
  /** Time from a key becoming dirty to a worker taking it. */
  queueLatency?(ms: number): void;
}

/** Options of {@link WorkQueue}. */
export interface WorkQueueOptions<K> {
  /** Defaults to {@link defaultControllerRateLimiter} (5 ms → ≤ 60 s per key, jittered; 10 qps / 100 burst). */
  rateLimiter?: RateLimiter<K>;
  clock?: Clock;
  metrics?: QueueMetrics;
}

/** What {@link WorkQueue.retryInfo} returns. */
export interface RetryInfo {
  /** Rate-limited retries since the last success (forget). */
  retries: number;
  /** Milliseconds until the pending retry, when one is pending. */
  nextRetryInMs?: number;
  /** Wall-clock time of the pending retry, when one is pending. */
  nextRetryAt?: Date;
}

/** What `get()` resolves to. */
export type QueueItem<K> = { shutdown: false; key: K } | { shutdown: true };

interface Waiting {
  at: number;
  priority: Priority;
  timer: ReturnType<typeof setTimeout>;
}

/** A FIFO with O(1) amortised push/shift. */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;
  push(x: T): void {
    this.#items.push(x);
  }
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const x = this.#items[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return x;
  }
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

/** The controller's work queue (see the file comment for the exact semantics). */
export class WorkQueue<K extends string = string> {
  /** Keys waiting for a worker, with the priority they are queued at. */
  readonly #queued = new Map<K, Priority>();
  readonly #high = new Fifo<K>();
  readonly #low = new Fifo<K>();
  /** Keys that need processing, with the highest priority requested since they became dirty. */
  readonly #dirty = new Map<K, Priority>();
  readonly #processing = new Set<K>();
  /** When each dirty key became dirty (queue latency). */
  readonly #dirtySince = new Map<K, number>();
  readonly #waiting = new Map<K, Waiting>();
  /** Delays decided by planRetry, used by the key's next addRateLimited. */
  readonly #planned = new Map<K, number>();
  readonly #getters: ((item: QueueItem<K>) => void)[] = [];
  readonly #drainers: (() => void)[] = [];
  readonly #limiter: RateLimiter<K>;
  readonly #clock: Clock;
  readonly #metrics: QueueMetrics;
  #shuttingDown = false;

  constructor(opts: WorkQueueOptions<K> = {}) {
    this.#limiter = opts.rateLimiter ?? defaultControllerRateLimiter<K>();
    this.#clock = opts.clock ?? monotonicClock;
    this.#metrics = opts.metrics ?? {};
  }

  /** Mark `key` as needing a reconcile. De-duplicated; ignored after shutdown. */
  add(key: K, opts: { priority?: Priority } = {}): void {
    if (this.#shuttingDown) return;
    const priority = opts.priority ?? 'high';
    const dirty = this.#dirty.get(key);
    if (dirty !== undefined) {
      if (dirty === 'low' && priority === 'high') this.#promote(key);
      return;
    }
    this.#dirty.set(key, priority);
    this.#dirtySince.set(key, this.#clock.now());
    this.#metrics.add?.();
    if (this.#processing.has(key)) return; // re-queued by done()
    this.#enqueue(key, priority);
    this.#dispatch();
  }

  /** Add `key` after `delayMs` (at once if ≤ 0). An earlier pending time for the key wins. */
  addAfter(key: K, delayMs: number, opts: { priority?: Priority } = {}): void {
    if (this.#shuttingDown) return;
    const priority = opts.priority ?? 'high';
    if (!(delayMs > 0)) {
      this.add(key, { priority });
      return;
    }
    const at = this.#clock.now() + delayMs;
    const existing = this.#waiting.get(key);
    if (existing !== undefined) {
      if (existing.at <= at) {
        if (priority === 'high') existing.priority = 'high';
        return;
      }
      clearTimeout(existing.timer);
    }
    const timer = setTimeout(() => {
      const w = this.#waiting.get(key);
      if (w?.timer !== timer) return;
      this.#waiting.delete(key);
      this.add(key, { priority: w.priority });
    }, delayMs);
    // A pending retry must not keep a finished process alive.
    timer.unref?.();
    this.#waiting.set(key, { at, priority: priority === 'high' || existing?.priority === 'high' ? 'high' : 'low', timer });
  }

  /**
   * Re-add `key` after its rate-limited backoff, at least `minDelayMs` and at most `maxDelayMs`
   * (the max wins over the min). Returns the delay.
   */
  addRateLimited(key: K, opts: { minDelayMs?: number; maxDelayMs?: number; priority?: Priority } = {}): number {
    if (this.#shuttingDown) return 0;
    const planned = this.#planned.get(key);
    this.#planned.delete(key);
    const delay = planned ?? this.#delayFor(key, opts);
    this.#metrics.retry?.();
    this.addAfter(key, delay, opts.priority === undefined ? {} : { priority: opts.priority });
    return delay;
  }

  /**
   * Decide now the delay of `key`'s next {@link addRateLimited} (same options) and return it; that
   * call then uses it instead of asking the limiter again. Planning twice returns the first plan. A
   * success (`forget`) or `requeueNow` drops the plan.
   */
  planRetry(key: K, opts: { minDelayMs?: number; maxDelayMs?: number } = {}): number {
    const planned = this.#planned.get(key);
    if (planned !== undefined) return planned;
    const delay = this.#delayFor(key, opts);
    this.#planned.set(key, delay);
    return delay;
  }

  #delayFor(key: K, opts: { minDelayMs?: number; maxDelayMs?: number }): number {
    const delay = Math.max(this.#limiter.when(key), opts.minDelayMs ?? 0);
    return opts.maxDelayMs === undefined ? delay : Math.min(delay, opts.maxDelayMs);
  }

  /**
   * Reconcile `key` now even though it is waiting out a backoff: the pending retry timer is dropped
   * and (unless `resetBackoff: false`) its failure count reset, since the input that failed has
   * changed. For events that can change a failing key's outcome (its ILBConfig, a FleetMember, an
   * export, a Secret); a plain `add` also runs the key at once but leaves the backoff and the old
   * timer in place.
   */
  requeueNow(key: K, opts: { priority?: Priority; resetBackoff?: boolean } = {}): void {
    if (this.#shuttingDown) return;
    const w = this.#waiting.get(key);
    if (w !== undefined) {
      clearTimeout(w.timer);
      this.#waiting.delete(key);
    }
    if (opts.resetBackoff !== false) {
      this.#limiter.forget(key);
      this.#planned.delete(key);
    }
    this.add(key, { priority: opts.priority ?? 'high' });
  }

  /**
   * Retry state of `key` for condition messages and logs: failures since the last success and,
   * while a retry timer is pending, when it fires (`nextRetryAt` is wall-clock, for humans).
   */
  retryInfo(key: K): RetryInfo {
    const retries = this.#limiter.numRequeues(key);
    const w = this.#waiting.get(key);
    if (w === undefined) {
      // Planned but not scheduled yet (the reconcile is still running): due that long after it ends.
      const planned = this.#planned.get(key);
      return planned === undefined ? { retries } : { retries, nextRetryInMs: planned, nextRetryAt: new Date(Date.now() + planned) };
    }
    const inMs = Math.max(0, w.at - this.#clock.now());
    return { retries, nextRetryInMs: inMs, nextRetryAt: new Date(Date.now() + inMs) };
  }

  /** Reset `key`'s backoff (call after a successful reconcile). */
  forget(key: K): void {
    this.#limiter.forget(key);
    this.#planned.delete(key);
  }

  /** Retries of `key` since the last forget. */
  numRequeues(key: K): number {
    return this.#limiter.numRequeues(key);
  }

  /**
   * Wait for the next key. The key is `processing` until `done(key)`; resolves `{shutdown: true}`
   * once the queue is shut down.
   */
  get(): Promise<QueueItem<K>> {
    if (this.#shuttingDown) return Promise.resolve({ shutdown: true });
    const key = this.#pop();
    if (key !== undefined) return Promise.resolve({ shutdown: false, key });
    return new Promise((resolve) => this.#getters.push(resolve));
  }

  /** The worker finished `key`; if it became dirty meanwhile it is queued again. */
  done(key: K): void {
    if (!this.#processing.delete(key)) return;
    const dirty = this.#dirty.get(key);
    if (dirty !== undefined && !this.#shuttingDown) {
      this.#enqueue(key, dirty);
      this.#dispatch();
    }
    if (this.#processing.size === 0) for (const d of this.#drainers.splice(0)) d();
  }

  /** Keys queued and not being processed (client-go `Len`). */
  len(): number {
    return this.#queued.size;
  }

  /** Keys a worker is holding. */
  processingCount(): number {
    return this.#processing.size;
  }

  /** Keys waiting on an `addAfter` timer. */
  waitingCount(): number {
    return this.#waiting.size;
  }

  /** True while `key` is queued, processing or dirty. */
  has(key: K): boolean {
    return this.#dirty.has(key) || this.#processing.has(key);
  }

  /** True after shutDown(). */
  shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Stop: no more adds, pending timers dropped, waiting and future `get()`s return shutdown. */
  shutDown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    for (const w of this.#waiting.values()) clearTimeout(w.timer);
    this.#waiting.clear();
    this.#queued.clear();
    this.#high.clear();
    this.#low.clear();
    this.#metrics.depth?.(0);
    for (const g of this.#getters.splice(0)) g({ shutdown: true });
    if (this.#processing.size === 0) for (const d of this.#drainers.splice(0)) d();
  }

  /** shutDown() and resolve once every key being processed is `done`. */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainers.push(resolve));
  }

  #enqueue(key: K, priority: Priority): void {
    this.#queued.set(key, priority);
    (priority === 'high' ? this.#high : this.#low).push(key);
    this.#metrics.depth?.(this.#queued.size);
  }

  #promote(key: K): void {
    this.#dirty.set(key, 'high');
    if (this.#queued.get(key) === 'low') {
      // Lazy deletion: the stale entry in #low is skipped by #pop because #queued now says high.
      this.#queued.set(key, 'high');
      this.#high.push(key);
    }
  }

  #pop(): K | undefined {
    for (;;) {
      let key = this.#high.shift();
      let from: Priority = 'high';
      if (key === undefined) {
        key = this.#low.shift();
        from = 'low';
      }
      if (key === undefined) return undefined;
      // Skip stale FIFO entries (promoted keys leave a copy in #low).
      if (this.#queued.get(key) !== from) continue;
      this.#queued.delete(key);
      this.#dirty.delete(key);
      this.#processing.add(key);
      const since = this.#dirtySince.get(key);
      this.#dirtySince.delete(key);
      if (since !== undefined) this.#metrics.queueLatency?.(this.#clock.now() - since);
      this.#metrics.depth?.(this.#queued.size);
      return key;
    }
  }

  #dispatch(): void {
    while (this.#getters.length > 0) {
      const key = this.#pop();
      if (key === undefined) return;
      const g = this.#getters.shift();
      g?.({ shutdown: false, key });
    }
  }
}
