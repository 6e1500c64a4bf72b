// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { PriorityBudget, RateLimiter, TokenBucket, budgetsFor, parseRateLimitFlags, type Clock } from './ratelimit.ts';

function fakeClock(): Clock & { t: number; slept: number[] } {
  const c = {
    t: 0,
    slept: [] as number[],
    now: () => c.t,
    sleep: (ms: number) => {
      c.slept.push(ms);
      c.t += ms;
      return Promise.resolve();
    },
  };
  return c;
}

describe('TokenBucket', () => {
  it('allows `burst` at once, then one token per 1/qps, in arrival order', () => {
    const b = new TokenBucket({ qps: 2, burst: 3 }, 0);
    expect([b.reserve(0), b.reserve(0), b.reserve(0)]).toEqual([0, 0, 0]);
    expect(b.reserve(0)).toBe(500);
    expect(b.reserve(0)).toBe(1000); // queued behind the previous reservation
    expect(b.reserve(10_000)).toBe(0); // refilled (capped at burst)
  });
});

describe('RateLimiter', () => {
  it('spaces calls of one method at the configured rate and leaves other methods alone', async () => {
    const clock = fakeClock();
    const rl = new RateLimiter({ '*': { qps: 1000, burst: 1000 }, 'ForwardingRules.insert': { qps: 4, burst: 1 } }, clock);
    for (let i = 0; i < 5; i++) await rl.acquire('ForwardingRules.insert');
    expect(clock.t).toBe(1000); // 4 waits of 250 ms
    const before = clock.t;
    await rl.acquire('Addresses.insert');
    expect(clock.t).toBe(before);
  });

  it('resolves limits exact > Service.* > *.verb > *', () => {
    const rl = new RateLimiter({ '*': { qps: 1, burst: 1 }, '*.wait': { qps: 2, burst: 2 }, 'Firewalls.*': { qps: 3, burst: 3 }, 'Firewalls.get': { qps: 4, burst: 4 } });
    expect(rl.limitFor('Firewalls.get')?.qps).toBe(4);
    expect(rl.limitFor('Firewalls.insert')?.qps).toBe(3);
    expect(rl.limitFor('ZoneOperations.wait')?.qps).toBe(2);
    expect(rl.limitFor('Addresses.insert')?.qps).toBe(1);
  });

  it('an `all` bucket caps the sum over methods', async () => {
    const clock = fakeClock();
    const rl = new RateLimiter({ all: { qps: 10, burst: 1 } }, clock);
    await rl.acquire('A.get');
    await rl.acquire('B.get');
    await rl.acquire('C.get');
    expect(clock.t).toBe(200);
  });
});

describe('parseRateLimitFlags', () => {
  it('parses ingress-gce style flags and rejects malformed ones', () => {
    const c = parseRateLimitFlags(['ga.Operations.wait,qps,10,100', 'ForwardingRules.insert,qps,1.5,5'], {});
    expect(c).toEqual({ 'Operations.wait': { qps: 10, burst: 100 }, 'ForwardingRules.insert': { qps: 1.5, burst: 5 } });
    expect(() => parseRateLimitFlags(['X.y,qps,0,1'])).toThrow(/qps must be > 0/);
    expect(() => parseRateLimitFlags(['X.y,10,1'])).toThrow(/want Service.method,qps/);
  });
});

describe('PriorityBudget (one budget shared by every method; resync yields)', () => {
  it('serves waiting reconcile calls before any resync call, and resync calls at most their share of the rate', async () => {
    const clock = fakeClock();
    const b = new PriorityBudget({ qps: 10, burst: 1 }, clock, 0.5);
    const order: string[] = [];
    const all: Array<Promise<void>> = [];
    // 10 low first, then 5 high: the highs still go first once the burst token is spent.
    // acquire() resolves with the time waited (all start at t=0), measured when the token is granted.
    for (let i = 0; i < 10; i++) all.push(b.acquire('low').then((w) => void order.push(`low@${w}`)));
    for (let i = 0; i < 5; i++) all.push(b.acquire('high').then((w) => void order.push(`high@${w}`)));
    await Promise.all(all);
    order.sort((a, b2) => Number(a.split('@')[1]) - Number(b2.split('@')[1]));
    const firstLow = order.findIndex((x) => x.startsWith('low'));
    // One low took the initial token; every high precedes the remaining lows.
    expect(order.slice(firstLow + 1, firstLow + 6).every((x) => x.startsWith('high'))).toBe(true);
    const lowTimes = order.filter((x) => x.startsWith('low')).map((x) => Number(x.split('@')[1]));
    // Low calls alone: 5 qps (half of 10) → ≥ 200 ms apart once the highs are done.
    const tail = lowTimes.slice(2);
    for (let i = 1; i < tail.length; i++) expect(tail[i]! - tail[i - 1]!).toBeGreaterThanOrEqual(199);
  });

  it('sized from the quota: 1,500/min at a 50 % share is 12.5 calls/s per group', async () => {
    const clock = fakeClock();
    const { write } = budgetsFor({}, clock);
    for (let i = 0; i < 25; i++) await write.acquire('high'); // the burst (2 s of rate)
    const t0 = clock.t;
    for (let i = 0; i < 125; i++) await write.acquire('high');
    expect(clock.t - t0).toBeGreaterThanOrEqual(9_900);
    expect(clock.t - t0).toBeLessThanOrEqual(10_200);
  });
});
