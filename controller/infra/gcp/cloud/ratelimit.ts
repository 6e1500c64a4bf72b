// SPDX-License-Identifier: Apache-2.0
//
// Client-side, per-method token buckets, in the style of ingress-gce's `--gce-ratelimit`
// (k8s-cloud-provider pkg/throttling, e.g. `ga.Operations.Get,qps,10,10`): every Compute call waits
// for a token of its method's bucket before it is sent, so a burst of reconciles cannot exhaust the
// project's per-minute API quota (reliability-battery.md A3: calls per method <= the configured rate).

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
