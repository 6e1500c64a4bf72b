// SPDX-License-Identifier: Apache-2.0
// Reflector behaviour against a scripted transport (fake timers). The same behaviours are checked
// against real kube-apiservers in test/integration/runtime-reflector.test.ts.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Query } from '../clusters/http.ts';
import { KubeHttpError } from '../clusters/errors.ts';
import type { Clock } from './clock.ts';
import { Reflector, type ReflectorState, type ReflectorTransport, type StoredObject } from './reflector.ts';

const clock: Clock = { now: () => Date.now() };

interface Obj extends StoredObject {
  metadata: { name: string; namespace?: string; resourceVersion: string; managedFields?: unknown };
  data?: string;
}

const obj = (name: string, rv: string, data?: string): Obj => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv, managedFields: [{ manager: 'kubectl' }] },
  ...(data ? { data } : {}),
});

class FakeWatch {
  aborted = false;
  done = false;
  /** The request's signal (the reflector aborts it, also before the response). */
  signal: AbortSignal | undefined;
  readonly query: Query;
  readonly #onEvent: (type: string, obj: unknown) => void;
  readonly #onDone: (err: unknown) => void;
  constructor(query: Query, onEvent: (type: string, obj: unknown) => void, onDone: (err: unknown) => void) {
    this.query = query;
    this.#onEvent = onEvent;
    this.#onDone = onDone;
  }
  emit(type: string, o: unknown): void {
    if (!this.done) this.#onEvent(type, o);
  }
  end(err: unknown = null): void {
    if (this.done) return;
    this.done = true;
    this.#onDone(err);
  }
  abort(): void {
    this.aborted = true;
    // client-node calls done(err) on abort; the reflector must ignore it.
    this.end(Object.assign(new Error('aborted'), { name: 'AbortError' }));
  }
}

type ListFn = (query: Query) => unknown;

class FakeTransport implements ReflectorTransport {
  lists: Query[] = [];
  watches: FakeWatch[] = [];
  listFn: ListFn;
  /** When set, watch() fails before a response with this error. */
  watchError: unknown;
  /** When set, watch() resolves only when the test calls it. */
  holdWatch: (() => void)[] | undefined;
  constructor(listFn: ListFn) {
    this.listFn = listFn;
  }
  list(_path: string, query: Query): Promise<unknown> {
    this.lists.push(query);
    return new Promise((resolve) => resolve(this.listFn(query)));
  }
  watch(
    _path: string,
    query: Query,
    onEvent: (t: string, o: unknown) => void,
    onDone: (e: unknown) => void,
    opts?: { signal?: AbortSignal },
  ): Promise<{ abort(): void }> {
    if (this.watchError !== undefined) {
      const err = this.watchError;
      onDone(err);
      return Promise.resolve({ abort: () => {} });
    }
    const w = new FakeWatch(query, onEvent, onDone);
    w.signal = opts?.signal;
    this.watches.push(w);
    if (this.holdWatch) {
      const hold = this.holdWatch;
      return new Promise((resolve) => hold.push(() => resolve(w)));
    }
    return Promise.resolve(w);
  }
  get last(): FakeWatch {
    const w = this.watches.at(-1);
    if (!w) throw new Error('no watch yet');
    return w;
  }
  openCount(): number {
    return this.watches.filter((w) => !w.done).length;
  }
}

const listOf = (rv: string, items: Obj[], cont?: string): unknown => ({ metadata: { resourceVersion: rv, ...(cont ? { continue: cont } : {}) }, items });
const refused = (): Error => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });

function record(r: Reflector<Obj>): string[] {
  const log: string[] = [];
  r.on('add', (o, m) => log.push(`add ${o.metadata.name}@${o.metadata.resourceVersion}${m.relist ? ' (relist)' : ''}`));
  r.on('update', (a, b, m) => log.push(`update ${a.metadata.name}@${a.metadata.resourceVersion}->${b.metadata.resourceVersion}${m.relist ? ' (relist)' : ''}`));
  r.on('delete', (o, m) => log.push(`delete ${o.metadata.name}${m.relist ? ' (relist)' : ''}`));
  return log;
}

function make(t: FakeTransport, extra: Partial<ConstructorParameters<typeof Reflector>[0]> = {}): Reflector<Obj> {
  return new Reflector<Obj>({
    transport: t,
    path: '/api/v1/namespaces/ns/configmaps',
    cluster: 'member-a',
    clock,
    random: () => 0.5,
    relistIntervalMs: 0,
    ...extra,
  });
}

describe('Reflector', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lists in pages, strips managedFields, then watches from the list RV with bookmarks and a jittered server timeout', async () => {
    const t = new FakeTransport((q) =>
      q.continue === undefined ? listOf('100', [obj('a', '10'), obj('b', '11')], 'tok') : listOf('100', [obj('c', '12')]),
    );
    const r = make(t, { pageSize: 2 });
    const events = record(r);
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.lists).toEqual([
      { labelSelector: undefined, fieldSelector: undefined, limit: 2 },
      { labelSelector: undefined, fieldSelector: undefined, limit: 2, continue: 'tok' },
    ]);
    expect(r.hasSynced()).toBe(true);
    expect(r.list().map((o) => o.metadata.name).sort()).toEqual(['a', 'b', 'c']);
    expect(r.get('ns/a')?.metadata.managedFields).toBeUndefined();
    expect(events).toEqual(['add a@10 (relist)', 'add b@11 (relist)', 'add c@12 (relist)']);
    expect(t.watches).toHaveLength(1);
    const q = t.last.query;
    expect(q.resourceVersion).toBe('100');
    expect(q.allowWatchBookmarks).toBe(true);
    expect(q.timeoutSeconds).toBeGreaterThanOrEqual(270);
    expect(q.timeoutSeconds).toBeLessThanOrEqual(330);
    expect(r.state()).toEqual({ phase: 'connected' });
    r.stop();
  });

  it('applies watch events to the store; same-RV modifications and unknown deletes emit nothing; bookmarks advance the RV', async () => {
    const t = new FakeTransport(() => listOf('100', [obj('a', '10')]));
    const r = make(t);
    const events = record(r);
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    events.length = 0;
    const w = t.last;
    w.emit('ADDED', obj('b', '101'));
    w.emit('MODIFIED', obj('a', '102', 'x'));
    w.emit('MODIFIED', obj('a', '102', 'x'));
    w.emit('DELETED', obj('b', '103'));
    w.emit('DELETED', obj('ghost', '104'));
    w.emit('BOOKMARK', { metadata: { resourceVersion: '200' } });
    expect(events).toEqual(['add b@101', 'update a@10->102', 'delete b']);
    expect(r.list().map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`)).toEqual(['a@102']);
    expect(r.resourceVersion()).toBe('200');
    // A clean server close after a healthy stream: reconnect at once from the bookmark RV.
    w.end();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.watches).toHaveLength(2);
    expect(t.last.query.resourceVersion).toBe('200');
    expect(t.lists).toHaveLength(1);
    r.stop();
  });

  it('stores and emits what `transform` keeps, for listed and watched objects alike', async () => {
    const t = new FakeTransport(() => listOf('100', [obj('a', '10', 'big')]));
    const r = make(t, { transform: (o) => ({ metadata: (o as Obj).metadata }) });
    const seen: Obj[] = [];
    r.on('add', (o) => seen.push(o));
    r.on('update', (_a, b) => seen.push(b));
    r.on('delete', (o) => seen.push(o));
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    t.last.emit('ADDED', obj('b', '101', 'big'));
    t.last.emit('MODIFIED', obj('a', '102', 'bigger'));
    t.last.emit('DELETED', obj('b', '103', 'big'));
    expect(seen.map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}:${o.data ?? '-'}`)).toEqual(['a@10:-', 'b@101:-', 'a@102:-', 'b@103:-']);
    expect(seen.every((o) => o.metadata.managedFields === undefined)).toBe(true);
    expect(r.get('ns/a')?.data).toBeUndefined();
    r.stop();
  });

  it('410 Gone → relist and diff: synthesized deletes, real updates, nothing for unchanged objects', async () => {
    let items = [obj('keep', '10'), obj('change', '11'), obj('vanish', '12')];
    const t = new FakeTransport(() => listOf('100', items));
    const r = make(t);
    const events = record(r);
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    events.length = 0;
    items = [obj('keep', '10'), obj('change', '300'), obj('new', '301')];
    t.listFn = () => listOf('302', items);
    t.last.emit('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
    await vi.advanceTimersByTimeAsync(0);
    expect(t.lists).toHaveLength(2);
    expect(events).toEqual(['add new@301 (relist)', 'update change@11->300 (relist)', 'delete vanish (relist)']);
    expect(t.last.query.resourceVersion).toBe('302');
    // An HTTP 410 from the watch request relists too.
    t.last.end(new KubeHttpError(410, { code: 410 }, 'WATCH'));
    await vi.advanceTimersByTimeAsync(0);
    expect(t.lists).toHaveLength(3);
    r.stop();
  });

  it('an expired continue token restarts the list without paging', async () => {
    let calls = 0;
    const t = new FakeTransport((q) => {
      calls++;
      if (calls === 1) return listOf('100', [obj('a', '1')], 'tok');
      if (q.continue === 'tok') throw new KubeHttpError(410, { code: 410, reason: 'Expired' }, 'LIST');
      return listOf('200', [obj('a', '1'), obj('b', '2')]);
    });
    const r = make(t, { pageSize: 1 });
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.lists.map((q) => [q.limit, q.continue])).toEqual([
      [1, undefined],
      [1, 'tok'],
      [undefined, undefined],
    ]);
    expect(r.size()).toBe(2);
    expect(r.resourceVersion()).toBe('200');
    r.stop();
  });

  it('failures back off 1 s, 2 s, 4 s ... ≤ 30 s with jitter, keep the store (frozen), and recover', async () => {
    const t = new FakeTransport(() => listOf('100', [obj('a', '10')]));
    const r = make(t);
    const states: ReflectorState[] = [];
    r.on('state', (s) => states.push(s));
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    // The apiserver goes away: the open watch dies, every reconnect is refused.
    t.watchError = refused();
    t.last.end(refused());
    const attempts: number[] = [];
    const start = Date.now();
    const watchesBefore = t.watches.length;
    for (let i = 0; i < 200; i++) {
      await vi.advanceTimersByTimeAsync(100);
      const s = r.state();
      if (s.phase === 'failing' && attempts.at(-1) !== s.attempts) attempts.push(s.attempts);
      if (Date.now() - start > 120_000) break;
      if (attempts.length >= 8) break;
    }
    const s = r.state();
    expect(s.phase).toBe('failing');
    if (s.phase === 'failing') {
      expect(s.error.kind).toBe('Unreachable');
      expect(s.error.message).toContain('ECONNREFUSED');
    }
    expect(attempts.slice(0, 3)).toEqual([1, 2, 3]);
    // Delays with random()=0.5 → ×1.1: 1.1, 2.2, 4.4, 8.8, 17.6, 30 (capped), 30 s.
    expect(t.watches.length).toBe(watchesBefore); // failed before a response: no FakeWatch created
    expect(r.hasSynced()).toBe(true);
    expect(r.list().map((o) => o.metadata.name)).toEqual(['a']); // last known contents kept
    // Recovery: the next attempt connects; state returns to connected and the backoff resets.
    t.watchError = undefined;
    await vi.advanceTimersByTimeAsync(31_000);
    expect(r.state()).toEqual({ phase: 'connected' });
    expect(t.lists).toHaveLength(1); // resumed from the RV, no relist needed
    expect(t.last.query.resourceVersion).toBe('100');
    r.stop();
  });

  it('measures the backoff schedule exactly (1.1, 2.2, 4.4, 8.8, 17.6, 30, 30 s)', async () => {
    const t = new FakeTransport(() => {
      throw refused();
    });
    const r = make(t);
    const at: number[] = [];
    const t0 = Date.now();
    const origList = t.list.bind(t);
    t.list = (p: string, q: Query) => {
      at.push(Date.now() - t0);
      return origList(p, q);
    };
    r.start();
    await vi.advanceTimersByTimeAsync(100_000);
    const gaps = at.slice(1).map((x, i) => x - at[i]!);
    expect(gaps.slice(0, 7)).toEqual([1100, 2200, 4400, 8800, 17600, 30000, 30000]);
    expect(r.hasSynced()).toBe(false);
    r.stop();
  });

  it('401 → unauthorized; 403 → unauthorized with kind Forbidden', async () => {
    const t = new FakeTransport(() => {
      throw new KubeHttpError(401, { reason: 'Unauthorized', code: 401 }, 'LIST');
    });
    const r = make(t);
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    let s = r.state();
    expect(s.phase).toBe('unauthorized');
    if (s.phase === 'unauthorized') expect(s.error.kind).toBe('AuthFailed');
    t.listFn = () => {
      throw new KubeHttpError(403, { reason: 'Forbidden', code: 403 }, 'LIST');
    };
    await vi.advanceTimersByTimeAsync(1100);
    s = r.state();
    if (s.phase !== 'unauthorized') throw new Error(`expected unauthorized, got ${s.phase}`);
    expect(s.error.kind).toBe('Forbidden');
    expect(s.attempts).toBe(2);
    r.stop();
  });

  it('the inactivity watchdog aborts a silent watch and reconnects; bookmarks keep it alive', async () => {
    const t = new FakeTransport(() => listOf('100', []));
    const r = make(t, { idleTimeoutMs: 10_000 });
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    const first = t.last;
    await vi.advanceTimersByTimeAsync(6000);
    first.emit('BOOKMARK', { metadata: { resourceVersion: '150' } });
    await vi.advanceTimersByTimeAsync(6000);
    expect(first.aborted).toBe(false); // the bookmark re-armed the watchdog
    await vi.advanceTimersByTimeAsync(4001);
    expect(first.aborted).toBe(true);
    expect(t.watches).toHaveLength(2);
    expect(t.last.query.resourceVersion).toBe('150');
    expect(t.openCount()).toBe(1);
    r.stop();
  });

  it('a watch that ends at once without events counts as a failure (no hot reconnect loop)', async () => {
    const t = new FakeTransport(() => listOf('100', []));
    const r = make(t);
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 0; i < 3; i++) {
      t.last.end();
      await vi.advanceTimersByTimeAsync(0);
    }
    // Only one immediate reconnect per backoff window: 1 + 1 after the first failure (1.1 s later ...).
    expect(t.watches.length).toBeLessThanOrEqual(2);
    await vi.advanceTimersByTimeAsync(1100);
    expect(t.watches.length).toBe(2);
    r.stop();
  });

  it('periodic relist diffs the store (catches deletes a watch missed)', async () => {
    let items = [obj('a', '1'), obj('b', '2')];
    const t = new FakeTransport(() => listOf('100', items));
    const r = make(t, { relistIntervalMs: 60_000 });
    const events = record(r);
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    events.length = 0;
    items = [obj('a', '1')];
    // Keep the watch alive with bookmarks so only the relist timer ends it.
    for (let i = 0; i < 7; i++) {
      t.last.emit('BOOKMARK', { metadata: { resourceVersion: String(100 + i) } });
      await vi.advanceTimersByTimeAsync(10_000);
    }
    expect(t.lists.length).toBe(2);
    expect(events).toEqual(['delete b (relist)']);
    r.stop();
  });

  it('stop() is final: no watch after stop, late handles are closed, stop during backoff ends the loop', async () => {
    // (1) stop while the watch request is still pending.
    const t = new FakeTransport(() => listOf('100', []));
    t.holdWatch = [];
    const r = make(t);
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.watches).toHaveLength(1);
    r.stop();
    t.holdWatch.forEach((f) => f());
    await vi.advanceTimersByTimeAsync(0);
    expect(t.watches[0]!.aborted).toBe(true);
    expect(r.openWatches()).toBe(0);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(t.watches).toHaveLength(1);
    expect(r.state()).toEqual({ phase: 'stopped' });
    r.start(); // cannot resurrect
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.watches).toHaveLength(1);

    // (2) stop during a backoff sleep.
    const t2 = new FakeTransport(() => {
      throw refused();
    });
    const r2 = make(t2);
    r2.start();
    await vi.advanceTimersByTimeAsync(500);
    r2.stop();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(t2.lists).toHaveLength(1);
  });

  it('stop() and the watchdog abort a watch request the server has not answered yet (battery E3)', async () => {
    // A watch whose response has not started (headers held back: some proxies send them with the
    // first event) has no handle yet; its request must still end when the reflector gives up on it.
    const t = new FakeTransport(() => listOf('100', []));
    t.holdWatch = [];
    const r = make(t, { idleTimeoutMs: 10_000 });
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.watches).toHaveLength(1);
    expect(t.watches[0]!.signal?.aborted).toBe(false);
    // The watchdog gives up on it: aborted now, and the next attempt has a signal of its own.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(t.watches[0]!.signal?.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(t.watches.length).toBeGreaterThanOrEqual(2);
    const second = t.watches.at(-1)!;
    expect(second.signal?.aborted).toBe(false);
    r.stop();
    expect(second.signal?.aborted).toBe(true);
    expect(r.openWatches()).toBe(0);
  });

  it('100 start/stop cycles against one transport leave 0 open watches and never 2 at once per reflector', async () => {
    const t = new FakeTransport(() => listOf('100', [obj('a', '1')]));
    let maxOpen = 0;
    for (let i = 0; i < 100; i++) {
      const r = make(t);
      r.start();
      await vi.advanceTimersByTimeAsync(i % 7);
      maxOpen = Math.max(maxOpen, r.openWatches());
      if (i % 3 === 0) t.watches.at(-1)?.end(refused()); // some die and are mid-backoff when stopped
      await vi.advanceTimersByTimeAsync(i % 5);
      maxOpen = Math.max(maxOpen, r.openWatches());
      r.stop();
      expect(r.openWatches()).toBe(0);
    }
    await vi.advanceTimersByTimeAsync(120_000);
    expect(maxOpen).toBe(1);
    expect(t.openCount()).toBe(0);
  });

  it('a listener that throws does not break the reflector', async () => {
    const t = new FakeTransport(() => listOf('100', [obj('a', '1')]));
    const r = make(t);
    r.on('add', () => {
      throw new Error('handler bug');
    });
    const seen: string[] = [];
    r.on('add', (o) => seen.push(o.metadata.name));
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    t.last.emit('ADDED', obj('b', '2'));
    expect(seen).toEqual(['a', 'b']);
    expect(r.size()).toBe(2);
    r.stop();
  });

  it('waitForSync resolves true after the first list, false on timeout', async () => {
    const t = new FakeTransport(() => {
      throw refused();
    });
    const r = make(t);
    r.start();
    const p = r.waitForSync(5000);
    await vi.advanceTimersByTimeAsync(5000);
    expect(await p).toBe(false);
    t.listFn = () => listOf('1', []);
    const p2 = r.waitForSync(60_000);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(await p2).toBe(true);
    r.stop();
  });
});
