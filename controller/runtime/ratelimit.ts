// SPDX-License-Identifier: Apache-2.0
//
// Work-queue rate limiters with client-go semantics (`util/workqueue/default_rate_limiters.go`):
// controller-runtime's default is MaxOf(ItemExponentialFailure(5 ms → 1000 s), Bucket(10 qps,
// burst 100)) (`pkg/controller/controller.go`); fleet-ilb's default caps the per-key part at ~60 s
// with jitter (see KEY_BACKOFF). The per-item limiter gives each failing key its own
// doubling delay; the bucket caps the *overall* retry rate so a mass failure (a GCE outage) cannot
// turn into a retry storm.
import { type Clock, jitter, monotonicClock } from './clock.ts';

/** Decides how long a key waits before it is retried (client-go `TypedRateLimiter`). */
export interface RateLimiter<K> {
  /** The delay for this retry of `key`; records the retry. */
  when(key: K): number;
  /** Reset `key`'s failure history (after a success). */
  forget(key: K): void;
  /** How many times `key` has been retried since the last forget. */
  numRequeues(key: K): number;
}

/** Options of {@link ItemExponentialFailureRateLimiter}. */
export interface ItemExponentialOptions {
  /** First delay. Defaults to 5 ms (client-go). */
  baseDelayMs?: number;
  /** Cap. Defaults to 1000 s (client-go). */
  maxDelayMs?: number;
  /**
   * Stretch each delay by up to this fraction (0 = exact client-go behaviour). Defaults to 0. The
   * controller uses 0.1 so thousands of keys failing together do not retry in lock-step
   * (battery A3, docs/failure-rules.md; ingress-gce `wait.Jitter`).
   */
  jitter?: number;
  /** Random source for the jitter (tests). Defaults to Math.random. */
  random?: () => number;
  /**
   * Apply the jitter after the cap instead of capping the jittered delay (default false = client-go).
   * With the cap first, keys that all sit at the cap still spread over [cap, cap·(1+jitter)] instead of
   * retrying in lock-step at exactly the cap.
   */
  jitterAfterCap?: boolean;
}

/** Per-key `base * 2^failures`, capped (client-go `ItemExponentialFailureRateLimiter`). */
export class ItemExponentialFailureRateLimiter<K> implements RateLimiter<K> {
  readonly #failures = new Map<K, number>();
  readonly #base: number;
  readonly #max: number;
  readonly #jitter: number;
  readonly #random: () => number;
  readonly #jitterAfterCap: boolean;

  constructor(opts: ItemExponentialOptions = {}) {
    this.#base = opts.baseDelayMs ?? 5;
    this.#max = opts.maxDelayMs ?? 1_000_000;
    this.#jitter = opts.jitter ?? 0;
    this.#random = opts.random ?? Math.random;
    this.#jitterAfterCap = opts.jitterAfterCap ?? false;
  }

  when(key: K): number {
    const n = this.#failures.get(key) ?? 0;
    this.#failures.set(key, n + 1);
    // 2^n overflows to Infinity long after the cap; Math.min keeps it finite.
    const exp = Math.min(this.#base * 2 ** n, this.#max);
    const j = jitter(exp, this.#jitter, this.#random);
    return this.#jitterAfterCap ? j : Math.min(j, this.#max);
  }

  /** The longest delay this limiter can return. */
  maxDelayMs(): number {
    return this.#jitterAfterCap ? this.#max * (1 + this.#jitter) : this.#max;
  }

  forget(key: K): void {
    this.#failures.delete(key);
  }

  numRequeues(key: K): number {
    return this.#failures.get(key) ?? 0;
  }
}

/** Options of a token bucket. */
export interface TokenBucketOptions {
  /** Refill rate in tokens per second. */
  qps: number;
  /** Bucket size (and initial fill). */
  burst: number;
  clock?: Clock;
}

/**
 * A token bucket (golang.org/x/time/rate semantics): `reserve()` always succeeds and returns how
 * long the caller must wait (tokens may go negative, so later callers wait behind earlier ones);
 * `tryTake()` succeeds only if a token is available now.
 */
export class TokenBucket {
  readonly #qps: number;
  readonly #burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #last: number;

  constructor(opts: TokenBucketOptions) {
    if (!(opts.qps > 0) || !(opts.burst >= 1)) throw new Error('TokenBucket needs qps > 0 and burst >= 1');
    this.#qps = opts.qps;
    this.#burst = opts.burst;
    this.#clock = opts.clock ?? monotonicClock;
    this.#tokens = opts.burst;
    this.#last = this.#clock.now();
  }

  #refill(): void {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#qps);
    this.#last = now;
  }

  /** Take one token; returns the delay in ms before the caller may act (0 if a token was free). */
  reserve(): number {
    this.#refill();
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.#qps) * 1000;
  }

  /** Take one token if one is available now. */
  tryTake(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Tokens available now (may be negative after reservations). */
  available(): number {
    this.#refill();
    return this.#tokens;
  }
}

/** One bucket shared by every key (client-go `BucketRateLimiter`). */
export class BucketRateLimiter<K> implements RateLimiter<K> {
  readonly #bucket: TokenBucket;
  constructor(opts: TokenBucketOptions) {
    this.#bucket = new TokenBucket(opts);
  }
  when(_key: K): number {
    return this.#bucket.reserve();
  }
  forget(_key: K): void {}
  numRequeues(_key: K): number {
    return 0;
  }
}

/** The longest delay of several limiters (client-go `MaxOfRateLimiter`). */
export class MaxOfRateLimiter<K> implements RateLimiter<K> {
  readonly #limiters: RateLimiter<K>[];
  constructor(...limiters: RateLimiter<K>[]) {
    this.#limiters = limiters;
  }
  when(key: K): number {
    // Every limiter must record the retry (the bucket must spend its token), so no short-circuit.
    let max = 0;
    for (const l of this.#limiters) max = Math.max(max, l.when(key));
    return max;
  }
  forget(key: K): void {
    for (const l of this.#limiters) l.forget(key);
  }
  numRequeues(key: K): number {
    let max = 0;
    for (const l of this.#limiters) max = Math.max(max, l.numRequeues(key));
    return max;
  }
}

/**
 * The controller's per-key backoff: 5 ms·2ⁿ capped at 50 s, then stretched by up to 20 %, so a key
 * waits at most {@link MAX_KEY_BACKOFF_MS} = 60 s. client-go's 1000 s cap is far too long for us: a
 * Gateway whose reconciles failed during a GCE outage (reliability soak: backoffs of 327–1000 s) sat
 * unconverged for many minutes after the outage ended, and a deleted Gateway gets no new event that
 * would cut the wait short. 60 s keeps a failing key to ≤ 1 retry a minute (no hot loop; the shared
 * 10 qps bucket still caps a mass failure), and every delay is jittered so keys that failed together
 * do not retry together (ingress-gce `wait.Jitter`; battery A1/A3, docs/failure-rules.md).
 */
export const KEY_BACKOFF = { baseDelayMs: 5, maxDelayMs: 50_000, jitter: 0.2 } as const;
/** The longest a failing key waits between retries with the controller's default limiter. */
export const MAX_KEY_BACKOFF_MS = KEY_BACKOFF.maxDelayMs * (1 + KEY_BACKOFF.jitter);

/** Options of {@link defaultControllerRateLimiter}; unset fields take {@link KEY_BACKOFF} and 10 qps / 100 burst. */
export interface ControllerRateLimiterOptions extends ItemExponentialOptions {
  /** Overall retry rate. Defaults to 10 qps. */
  qps?: number;
  /** Overall retry burst. Defaults to 100. */
  burst?: number;
  clock?: Clock;
}

/**
 * controller-runtime's `DefaultTypedControllerRateLimiter` shape — max(per-key exponential, 10 qps /
 * burst 100 overall) — with fleet-ilb's per-key {@link KEY_BACKOFF} (5 ms → 50 s, +≤20 % jitter after
 * the cap, so ≤ 60 s) instead of client-go's unjittered 5 ms → 1000 s.
 */
export function defaultControllerRateLimiter<K>(opts: ControllerRateLimiterOptions = {}): RateLimiter<K> {
  const bucketOpts: TokenBucketOptions = { qps: opts.qps ?? 10, burst: opts.burst ?? 100 };
  if (opts.clock) bucketOpts.clock = opts.clock;
  const item: ItemExponentialOptions = {
    baseDelayMs: opts.baseDelayMs ?? KEY_BACKOFF.baseDelayMs,
    maxDelayMs: opts.maxDelayMs ?? KEY_BACKOFF.maxDelayMs,
    jitter: opts.jitter ?? KEY_BACKOFF.jitter,
    jitterAfterCap: opts.jitterAfterCap ?? true,
    ...(opts.random ? { random: opts.random } : {}),
  };
  return new MaxOfRateLimiter<K>(new ItemExponentialFailureRateLimiter<K>(item), new BucketRateLimiter<K>(bucketOpts));
}
