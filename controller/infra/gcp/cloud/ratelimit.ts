// SPDX-License-Identifier: Apache-2.0
//
// Client-side, per-method token buckets, in the style of ingress-gce's `--gce-ratelimit`
// (k8s-cloud-provider pkg/throttling, e.g. `ga.Operations.Get,qps,10,10`): every Compute call waits
// for a token of its method's bucket before it is sent, so a burst of reconciles cannot exhaust the
// project's per-minute API quota (battery A3 in docs/failure-rules.md: calls per method <= the
// configured rate).

/** A token bucket's rate: `qps` tokens per second, holding at most `burst`. */
export interface RateLimit {
  qps: number;
  burst: number;
}

/**
 * Limits by method key. Keys: `Service.method` (e.g. `ForwardingRules.insert`), `Service.*`, `*.method`
 * and `*` (the default for every method without a more specific entry). Each method gets its own
 * bucket even when it uses a wildcard entry. A key `all` adds one shared bucket every call also takes.
 */
export type RateLimitConfig = Record<string, RateLimit>;

/**
 * Defaults: 5 qps / burst 10 per method, operation polling 10 qps / burst 10 (ingress-gce's
 * Operations.Get default), and no shared cap. With ~20 methods in use this stays well under the
 * classic 1,500 req/min (25 qps) per-group quota in practice, because only a few methods are busy.
 */
export const DEFAULT_RATE_LIMITS: RateLimitConfig = {
  '*': { qps: 5, burst: 10 },
  '*.wait': { qps: 10, burst: 10 },
  '*.get': { qps: 10, burst: 20 },
};

/** Time source and sleeper, injectable for tests. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * One token bucket with reservations (like golang.org/x/time/rate's Reserve): `reserve()` takes a
 * token now, letting the balance go negative, and returns how long the caller must wait. Callers are
 * therefore served in arrival order and a waiting caller never loses its turn.
 */
export class TokenBucket {
  readonly #limit: RateLimit;
  #tokens: number;
  #last: number;

  constructor(limit: RateLimit, now: number) {
    if (!(limit.qps > 0) || !(limit.burst >= 1)) throw new Error(`invalid rate limit qps=${limit.qps} burst=${limit.burst}`);
    this.#limit = limit;
    this.#tokens = limit.burst;
    this.#last = now;
  }

  /** Takes one token; returns the delay in ms before the caller may proceed (0 when a token was there). */
  reserve(now: number): number {
    const elapsed = Math.max(0, now - this.#last) / 1000;
    this.#tokens = Math.min(this.#limit.burst, this.#tokens + elapsed * this.#limit.qps);
    this.#last = Math.max(this.#last, now);
    this.#tokens -= 1;
    if (this.#tokens >= 0) return 0;
    return Math.ceil((-this.#tokens / this.#limit.qps) * 1000);
  }
}

/** Per-method limiter over a RateLimitConfig. */
export class RateLimiter {
  readonly #config: RateLimitConfig;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #shared: TokenBucket | undefined;

  constructor(config: RateLimitConfig = DEFAULT_RATE_LIMITS, clock: Clock = realClock) {
    this.#config = config;
    this.#clock = clock;
    const all = config['all'];
    this.#shared = all === undefined ? undefined : new TokenBucket(all, clock.now());
  }

  /** The limit that applies to `method` (`Service.verb`), or undefined when unlimited. */
  limitFor(method: string): RateLimit | undefined {
    const dot = method.indexOf('.');
    const service = dot < 0 ? method : method.slice(0, dot);
    const verb = dot < 0 ? '' : method.slice(dot + 1);
    return this.#config[method] ?? this.#config[`${service}.*`] ?? this.#config[`*.${verb}`] ?? this.#config['*'];
  }

  /** Waits until `method` may be called. Returns the time waited in ms. */
  async acquire(method: string): Promise<number> {
    const now = this.#clock.now();
    let delay = this.#shared?.reserve(now) ?? 0;
    const limit = this.limitFor(method);
    if (limit !== undefined) {
      let bucket = this.#buckets.get(method);
      if (bucket === undefined) {
        bucket = new TokenBucket(limit, now);
        this.#buckets.set(method, bucket);
      }
      delay = Math.max(delay, bucket.reserve(now));
    }
    if (delay > 0) await this.#clock.sleep(delay);
    return delay;
  }
}

/**
 * Parses ingress-gce style flags, one per limit: `Service.method,qps,<qps>,<burst>` (an optional
 * leading API version such as `ga.` is ignored), e.g. `ForwardingRules.insert,qps,1.5,5`, `*,qps,5,10`.
 * Throws on malformed input (flags are validated at startup).
 */
export function parseRateLimitFlags(values: readonly string[], base: RateLimitConfig = DEFAULT_RATE_LIMITS): RateLimitConfig {
  const out: RateLimitConfig = { ...base };
  for (const v of values) {
    const parts = v.split(',').map((p) => p.trim());
    const [rawKey, kind, qpsS, burstS] = parts;
    if (parts.length !== 4 || rawKey === undefined || kind !== 'qps' || qpsS === undefined || burstS === undefined) {
      throw new Error(`invalid --gce-ratelimit ${JSON.stringify(v)}: want Service.method,qps,<qps>,<burst>`);
    }
    const key = rawKey.replace(/^(ga|beta|alpha)\./, '');
    const qps = Number(qpsS);
    const burst = Number(burstS);
    if (!(qps > 0) || !Number.isInteger(burst) || burst < 1) {
      throw new Error(`invalid --gce-ratelimit ${JSON.stringify(v)}: qps must be > 0 and burst an integer >= 1`);
    }
    out[key] = { qps, burst };
  }
  return out;
}

// ---- the shared GCE budget ---------------------------------------------------------------------

/** Who a call is for: reconcile traffic (`high`) or a resync / sweep (`low`), which yields. */
export type CallPriority = 'high' | 'low';

/**
 * The project's Compute API rate quotas (cloud.google.com/compute/api-quota, "Rate quotas": per
 * project, per group, enforced per 60 s window; over it the API answers 403 `rateLimitExceeded` until
 * the next window). The classic defaults are 1,500 requests/min for the mutation group ("Queries")
 * and 1,500/min for each read group (Read requests, List requests, Operation read requests); newer
 * projects often have more — read the project's Quotas page and configure these.
 */
export interface GceQuota {
  /** Mutating calls per minute (insert, patch, update, delete, attach/detach). Default 1,500. */
  writesPerMinute?: number;
  /** Read calls per minute (get, list, aggregatedList, listNetworkEndpoints, operation waits). Default 1,500. */
  readsPerMinute?: number;
  /**
   * Fraction of the quota fleet-ilb may use (the project is shared with GKE's own controllers and
   * people). Default 0.5 (battery A3 in docs/failure-rules.md: ≤ 50 % of the project's per-minute
   * quota).
   */
  share?: number;
  /** Fraction of the budget low-priority calls may take, and only when no reconcile call waits. Default 0.5. */
  lowPriorityShare?: number;
}

/** A simple refilling bucket that can be inspected before taking (unlike TokenBucket's reservations). */
class Refill {
  readonly #qps: number;
  readonly #burst: number;
  #tokens: number;
  #last: number;
  constructor(qps: number, burst: number, now: number) {
    this.#qps = qps;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = now;
  }
  /** ms until one token is available (0 = now). */
  delay(now: number): number {
    this.#tokens = Math.min(this.#burst, this.#tokens + (Math.max(0, now - this.#last) / 1000) * this.#qps);
    this.#last = Math.max(this.#last, now);
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.#qps) * 1000);
  }
  take(): void {
    this.#tokens -= 1;
  }
}

/**
 * One budget shared by every method of a group (reads or writes), with two lanes: a `low` call is
 * served only when no `high` call is waiting, and low calls together get at most
 * `lowPriorityShare` of the rate — so a resync of 1,000 Gateways cannot delay a fresh edit's calls
 * (controller-runtime `designs/priorityqueue.md`; battery F2), and the whole controller stays under
 * its share of the project's quota however many methods are busy (battery A3).
 */
export class PriorityBudget {
  readonly #clock: Clock;
  readonly #all: Refill;
  readonly #low: Refill;
  readonly #waiting: { high: Array<() => void>; low: Array<() => void> } = { high: [], low: [] };
  #pumping = false;

  constructor(limit: RateLimit, clock: Clock = realClock, lowShare = 0.5) {
    if (!(limit.qps > 0) || !(limit.burst >= 1)) throw new Error(`invalid budget qps=${limit.qps} burst=${limit.burst}`);
    this.#clock = clock;
    const now = clock.now();
    this.#all = new Refill(limit.qps, limit.burst, now);
    const share = Math.min(1, Math.max(0.01, lowShare));
    this.#low = new Refill(limit.qps * share, Math.max(1, Math.floor(limit.burst * share)), now);
  }

  /** Calls waiting for a token, per lane. */
  waiting(): { high: number; low: number } {
    return { high: this.#waiting.high.length, low: this.#waiting.low.length };
  }

  /** Waits for a token in `priority`'s lane; returns the time waited in ms. */
  acquire(priority: CallPriority = 'high'): Promise<number> {
    const start = this.#clock.now();
    if (this.#waiting.high.length === 0 && this.#waiting.low.length === 0 && this.#tryTake(priority, start)) return Promise.resolve(0);
    return new Promise((resolve) => {
      this.#waiting[priority].push(() => resolve(this.#clock.now() - start));
      void this.#pump();
    });
  }

  #tryTake(priority: CallPriority, now: number): boolean {
    if (this.#all.delay(now) > 0) return false;
    if (priority === 'low') {
      if (this.#low.delay(now) > 0) return false;
      this.#low.take();
    }
    this.#all.take();
    return true;
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (;;) {
        const { high, low } = this.#waiting;
        if (high.length === 0 && low.length === 0) return;
        const now = this.#clock.now();
        const lane: CallPriority = high.length > 0 ? 'high' : 'low';
        if (this.#tryTake(lane, now)) {
          this.#waiting[lane].shift()?.();
          continue;
        }
        const d = Math.max(this.#all.delay(now), lane === 'low' ? this.#low.delay(now) : 0, 1);
        await this.#clock.sleep(d);
      }
    } finally {
      this.#pumping = false;
    }
  }
}

/** The read and write budgets for a quota (see {@link GceQuota}); burst = 2 s of rate. */
export function budgetsFor(q: GceQuota = {}, clock: Clock = realClock): { read: PriorityBudget; write: PriorityBudget } {
  const share = q.share ?? 0.5;
  const mk = (perMinute: number): PriorityBudget => {
    const qps = (perMinute * share) / 60;
    return new PriorityBudget({ qps, burst: Math.max(1, Math.floor(qps * 2)) }, clock, q.lowPriorityShare ?? 0.5);
  };
  return { read: mk(q.readsPerMinute ?? 1500), write: mk(q.writesPerMinute ?? 1500) };
}
