// SPDX-License-Identifier: Apache-2.0
// Leader election against an in-memory Lease with optimistic concurrency (fake timers). The same
// properties are checked on a real apiserver, with real processes frozen by SIGSTOP, in
// test/integration/runtime-leaderelection.test.ts.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isFencedError } from '../errors/index.ts';
import type { Clock } from './clock.ts';
import { fenced } from './fence.ts';
import { LeaderElectionConfigError, type LeaseClient, type LeaseRecord, LeaderElector, type VersionedLease } from './leaderelection.ts';

class LeaseStore {
  record: LeaseRecord | undefined;
  rv = 0;
  writes: { by: string; at: number; holder: string }[] = [];
}

const conflict = (): Error => Object.assign(new Error('Conflict'), { code: 409 });
const refused = (): Error => Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });

/** One replica's view of the shared lease; `partitioned` makes every request fail. */
class FakeLeaseClient implements LeaseClient {
  partitioned = false;
  readonly #store: LeaseStore;
  readonly #who: string;
  constructor(store: LeaseStore, who: string) {
    this.#store = store;
    this.#who = who;
  }
  describe(): string {
    return 'fake/lease';
  }
  get(): Promise<VersionedLease | null> {
    if (this.partitioned) return Promise.reject(refused());
    const r = this.#store.record;
    return Promise.resolve(r ? { record: { ...r }, resourceVersion: String(this.#store.rv) } : null);
  }
  create(record: LeaseRecord): Promise<string> {
    if (this.partitioned) return Promise.reject(refused());
    if (this.#store.record) return Promise.reject(conflict());
    return Promise.resolve(this.#write(record));
  }
  update(record: LeaseRecord, rv: string): Promise<string> {
    if (this.partitioned) return Promise.reject(refused());
    if (String(this.#store.rv) !== rv) return Promise.reject(conflict());
    return Promise.resolve(this.#write(record));
  }
  #write(record: LeaseRecord): string {
    this.#store.record = { ...record };
    this.#store.rv++;
    this.#store.writes.push({ by: this.#who, at: Date.now(), holder: record.holderIdentity });
    return String(this.#store.rv);
  }
}

const realClock: Clock = { now: () => Date.now() };

function elector(store: LeaseStore, id: string, extra: { clock?: Clock; onStopped?: (r: string) => void } = {}) {
  const client = new FakeLeaseClient(store, id);
  const started: number[] = [];
  const stopped: [string, number][] = [];
  const e = new LeaderElector({
    lease: client,
    identity: id,
    clock: extra.clock ?? realClock,
    random: () => 0,
    onStartedLeading: () => started.push(Date.now()),
    onStoppedLeading: (r) => {
      stopped.push([r, Date.now()]);
      extra.onStopped?.(r);
    },
  });
  return { e, client, started, stopped };
}

describe('LeaderElector', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('rejects configurations client-go rejects', () => {
    const lease = new FakeLeaseClient(new LeaseStore(), 'x');
    expect(() => new LeaderElector({ lease, identity: 'a', leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(LeaderElectionConfigError);
    expect(() => new LeaderElector({ lease, identity: 'a', renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toThrow(/retryPeriod/);
    expect(() => new LeaderElector({ lease, identity: '' })).toThrow(/identity/);
    expect(() => new LeaderElector({ lease, identity: 'a', leaseDurationMs: 15_500 })).toThrow(/whole seconds/);
  });

  it('creates a missing lease, leads, renews every retryPeriod, and keeps acquireTime/transitions', async () => {
    const store = new LeaseStore();
    const a = elector(store, 'a');
    void a.e.run();
    await vi.advanceTimersByTimeAsync(0);
    expect(a.e.isLeader()).toBe(true);
    expect(a.e.canWrite()).toBe(true);
    const acquired = store.record!.acquireTime;
    expect(store.record).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0 });
    expect(acquired).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(store.writes.filter((w) => w.by === 'a')).toHaveLength(6); // create + 5 renews
    expect(store.record!.acquireTime).toBe(acquired);
    expect(store.record!.renewTime).not.toBe(acquired);
    await a.e.stop();
  });

  it('two electors: exactly one leads; never both allowed to write', async () => {
    const store = new LeaseStore();
    const a = elector(store, 'a');
    const b = elector(store, 'b');
    void a.e.run();
    void b.e.run();
    let both = 0;
    let none = 0;
    for (let t = 0; t < 60_000; t += 100) {
      await vi.advanceTimersByTimeAsync(100);
      if (a.e.canWrite() && b.e.canWrite()) both++;
      if (!a.e.canWrite() && !b.e.canWrite()) none++;
    }
    expect(both).toBe(0);
    expect(none).toBe(0);
    expect([a.e.isLeader(), b.e.isLeader()].filter(Boolean)).toHaveLength(1);
    expect(b.e.leader()).toBe('a');
    await a.e.stop();
    await b.e.stop();
  });

  it('partitioned leader: its fence closes before the renew deadline, and before the successor acquires (≤ lease + retry)', async () => {
    const store = new LeaseStore();
    const a = elector(store, 'a');
    void a.e.run();
    await vi.advanceTimersByTimeAsync(0);
    const b = elector(store, 'b');
    void b.e.run();
    await vi.advanceTimersByTimeAsync(7_000);
    a.client.partitioned = true;
    const lastRenew = store.writes.filter((w) => w.by === 'a').at(-1)!.at;
    let fenceClosedAt: number | undefined;
    let bAcquiredAt: number | undefined;
    for (let t = 0; t < 30_000; t += 10) {
      await vi.advanceTimersByTimeAsync(10);
      if (fenceClosedAt === undefined && !a.e.canWrite()) fenceClosedAt = Date.now();
      if (bAcquiredAt === undefined && b.e.isLeader()) bAcquiredAt = Date.now();
    }
    expect(fenceClosedAt! - lastRenew).toBeLessThanOrEqual(9_000); // renewDeadline 10 s − margin 1 s
    expect(a.stopped).toEqual([['lost', expect.any(Number)]]);
    expect(a.stopped[0]![1] - lastRenew).toBeLessThanOrEqual(10_000 + 2_000);
    expect(bAcquiredAt! - lastRenew).toBeGreaterThanOrEqual(15_000);
    expect(bAcquiredAt! - lastRenew).toBeLessThanOrEqual(17_000);
    expect(fenceClosedAt!).toBeLessThan(bAcquiredAt!);
    expect(store.record).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    expect(a.e.healthy()).toBe(false);
    expect(a.e.state()).toBe('lost');
    // A lost elector stays lost even when the network returns.
    a.client.partitioned = false;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(a.e.isLeader()).toBe(false);
    expect(store.writes.filter((w) => w.by === 'a' && w.at > lastRenew)).toHaveLength(0);
    await b.e.stop();
  });

  it('a frozen leader (its clock jumps 30 s) is fenced at once and makes no further lease write', async () => {
    const store = new LeaseStore();
    let offset = 0;
    const frozenClock: Clock = { now: () => Date.now() + offset };
    const a = elector(store, 'a', { clock: frozenClock });
    void a.e.run();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(a.e.canWrite()).toBe(true);
    const writesBefore = store.writes.length;
    offset = 30_000; // the process was stopped for 30 s: monotonic time moved, no timer ran
    expect(a.e.canWrite()).toBe(false);
    expect(() => a.e.check()).toThrow(/not the leader|write refused/);
    await expect(fenced(a.e, () => Promise.resolve('wrote'))).rejects.toSatisfy(isFencedError);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(a.e.state()).toBe('lost');
    expect(store.writes.length).toBe(writesBefore);
  });

  it('graceful stop releases the lease: the successor takes over within a retry period, not a lease duration', async () => {
    const store = new LeaseStore();
    const a = elector(store, 'a');
    void a.e.run();
    await vi.advanceTimersByTimeAsync(0);
    const b = elector(store, 'b');
    void b.e.run();
    await vi.advanceTimersByTimeAsync(5_000);
    const t0 = Date.now();
    const stopping = a.e.stop();
    expect(a.e.canWrite()).toBe(false); // the fence closes before the release write
    await stopping;
    expect(a.stopped.map((s) => s[0])).toEqual(['stopped']);
    expect(store.record!.holderIdentity).toBe('');
    for (let i = 0; i < 300 && !b.e.isLeader(); i++) await vi.advanceTimersByTimeAsync(10);
    expect(b.e.isLeader()).toBe(true);
    expect(Date.now() - t0).toBeLessThanOrEqual(2_000);
    await b.e.stop();
  });

  it('a conflicting write by another holder ends leadership at the next renew, not at the deadline', async () => {
    const store = new LeaseStore();
    const a = elector(store, 'a');
    void a.e.run();
    await vi.advanceTimersByTimeAsync(1_000);
    // Someone (a misconfigured twin, battery C4) overwrites the lease.
    store.record = { holderIdentity: 'intruder', leaseDurationSeconds: 15, leaseTransitions: 9 };
    store.rv++;
    const t0 = Date.now();
    await vi.advanceTimersByTimeAsync(2_100);
    expect(a.e.state()).toBe('lost');
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(a.e.leader()).toBe('intruder');
  });

  it('a transient renew failure is retried within the deadline without losing leadership', async () => {
    const store = new LeaseStore();
    const a = elector(store, 'a');
    void a.e.run();
    await vi.advanceTimersByTimeAsync(1_000);
    a.client.partitioned = true;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(a.e.isLeader()).toBe(true);
    a.client.partitioned = false;
    await vi.advanceTimersByTimeAsync(2_000);
    expect(a.e.isLeader()).toBe(true);
    expect(a.e.canWrite()).toBe(true);
    expect(a.e.remainingMs()).toBeGreaterThan(7_000);
    await a.e.stop();
  });

  it('a candidate waits a full lease duration from when IT observed the record, whatever renewTime says', async () => {
    const store = new LeaseStore();
    // A record renewed "long ago" by the server's clock, but unknown to us until now.
    store.record = { holderIdentity: 'old', leaseDurationSeconds: 15, renewTime: '2000-01-01T00:00:00.000000Z', leaseTransitions: 3 };
    store.rv = 7;
    const b = elector(store, 'b');
    const t0 = Date.now();
    void b.e.run();
    for (let i = 0; i < 2000 && !b.e.isLeader(); i++) await vi.advanceTimersByTimeAsync(10);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(15_000);
    expect(Date.now() - t0).toBeLessThanOrEqual(15_100);
    expect(store.record).toMatchObject({ holderIdentity: 'b', leaseTransitions: 4 });
    await b.e.stop();
  });
});
