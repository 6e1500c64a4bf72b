// SPDX-License-Identifier: Apache-2.0
// MemberSet against scripted transports (one per kubeconfig), fake timers. The freeze/recover path
// on real apiservers is in test/integration/runtime-members.test.ts.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FleetMember } from '../api/fleetilb.ts';
import type { Query } from './http.ts';
import { KubeHttpError } from './errors.ts';
import type { ReflectorTransport } from '../runtime/reflector.ts';
import type { MemberReachability } from '../snapshot/types.ts';
import { ClusterClient } from './client.ts';
import { type MemberEvent, MemberSet, type MemberSetOptions, type SecretLike } from './memberset.ts';

type Node = { metadata: { name: string; resourceVersion: string } };
const node = (name: string, rv = '1'): Node => ({ metadata: { name, resourceVersion: rv } });

/** A cluster as seen through one kubeconfig. */
class FakeCluster implements ReflectorTransport {
  nodes: Node[] = [];
  rv = 10;
  /** Error thrown by every request, when set. */
  down: Error | undefined;
  /** Watches end immediately with this error when set (after being opened). */
  opened = 0;
  #closers: ((err: unknown) => void)[] = [];
  list(_path: string, _q: Query): Promise<unknown> {
    if (this.down !== undefined) return Promise.reject(this.down);
    return Promise.resolve({ metadata: { resourceVersion: String(this.rv) }, items: this.nodes.map((n) => ({ ...n, metadata: { ...n.metadata } })) });
  }
  watch(_p: string, _q: Query, _on: (t: string, o: unknown) => void, done: (e: unknown) => void): Promise<{ abort(): void }> {
    if (this.down !== undefined) {
      done(this.down);
      return Promise.resolve({ abort: () => {} });
    }
    this.opened++;
    let ended = false;
    const end = (err: unknown): void => {
      if (!ended) {
        ended = true;
        done(err);
      }
    };
    this.#closers.push(end);
    return Promise.resolve({ abort: () => end(null) });
  }
  /** The apiserver goes away: open watches break, new requests fail. */
  crash(err: Error): void {
    this.down = err;
    for (const c of this.#closers.splice(0)) c(err);
  }
}

const refused = (): Error => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });

const kubeconfigFor = (tag: string): string =>
  JSON.stringify({
    apiVersion: 'v1',
    clusters: [{ name: 'c', cluster: { server: `https://${tag}.invalid:6443` } }],
    users: [{ name: 'u', user: { token: tag } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });

const fm = (name: string, clusterID: string, secret = `${name}-kubeconfig`): FleetMember => ({
  apiVersion: 'fleetilb.io/v1alpha1',
  kind: 'FleetMember',
  metadata: { name },
  spec: { clusterID, kubeconfigSecretRef: { name: secret } },
});

const secretOf = (tag: string): SecretLike => ({ data: { kubeconfig: Buffer.from(kubeconfigFor(tag)).toString('base64') } });

function setup(extra: Partial<MemberSetOptions> = {}) {
  const clusters = new Map<string, FakeCluster>(); // by token tag
  const cluster = (tag: string): FakeCluster => {
    let c = clusters.get(tag);
    if (!c) {
      c = new FakeCluster();
      clusters.set(tag, c);
    }
    return c;
  };
  const events: MemberEvent[] = [];
  const reach: [string, MemberReachability][] = [];
  const reflectorChanges: string[] = [];
  const set = new MemberSet({
    resources: [{ key: 'nodes', path: '/api/v1/nodes' }],
    reflectorDefaults: { clock: { now: () => Date.now() }, random: () => 0, relistIntervalMs: 0 },
    makeTransport: (client: ClusterClient) => cluster(client.kubeConfig.getCurrentUser()!.token!),
    onEvent: (e) => events.push(e),
    onReachability: (id, _fm, r) => reach.push([id, r]),
    onReflector: (r, change) => reflectorChanges.push(`${change} ${r.cluster}/${r.resource}`),
    // Most tests look at reachability right after a fault; the hysteresis has its own tests.
    unreachablePublishDelayMs: 0,
    ...extra,
  });
  return { set, cluster, events, reach, reflectorChanges };
}

describe('MemberSet', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts reflectors for a new member: pending → reachable, data listed', async () => {
    const { set, cluster, events, reach, reflectorChanges } = setup();
    cluster('tok-a').nodes = [node('n1'), node('n2')];
    const secrets: Record<string, SecretLike> = { 'a-kubeconfig': secretOf('tok-a') };
    set.sync([fm('a', 'cluster-a')], (n) => secrets[n]);
    expect(set.member('cluster-a')?.reachability.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(0);
    const v = set.member('cluster-a')!;
    expect(v.reachability.state).toBe('reachable');
    expect(v.frozen).toBe(false);
    expect(v.synced).toBe(true);
    expect(v.lastSyncTime).toMatch(/^\d{4}-/);
    expect(set.list('cluster-a', 'nodes').map((n) => n.metadata?.name)).toEqual(['n1', 'n2']);
    expect(events.map((e) => `${e.clusterID} ${e.type} ${e.object.metadata?.name}`)).toEqual(['cluster-a add n1', 'cluster-a add n2']);
    expect(reach.map(([, r]) => r.state)).toEqual(['pending', 'reachable']);
    expect(reflectorChanges).toEqual(['added cluster-a/nodes']);
    expect(set.client('cluster-a')?.server).toBe('https://tok-a.invalid:6443');
    // A second sync with nothing changed does nothing.
    set.sync([fm('a', 'cluster-a')], (n) => secrets[n]);
    expect(reflectorChanges).toHaveLength(1);
    set.stop();
  });

  it('an unreachable member is frozen: data kept, state unreachable, recovers without a relist', async () => {
    const { set, cluster } = setup();
    const c = cluster('tok-a');
    c.nodes = [node('n1')];
    set.sync([fm('a', 'cluster-a')], () => secretOf('tok-a'));
    await vi.advanceTimersByTimeAsync(0);
    c.crash(refused());
    await vi.advanceTimersByTimeAsync(100);
    let v = set.member('cluster-a')!;
    expect(v.reachability.state).toBe('unreachable');
    expect(v.reachability.message).toContain('ECONNREFUSED');
    expect(v.frozen).toBe(true);
    expect(set.list('cluster-a', 'nodes')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(60_000); // a long outage changes nothing
    expect(set.list('cluster-a', 'nodes')).toHaveLength(1);
    c.down = undefined;
    await vi.advanceTimersByTimeAsync(31_000);
    v = set.member('cluster-a')!;
    expect(v.reachability.state).toBe('reachable');
    set.stop();
  });

  it.each([
    [401, 'authentication failed'],
    [403, 'forbidden (RBAC)'],
  ])('HTTP %i → authFailed (%s), data kept', async (code, text) => {
    const { set, cluster } = setup();
    const c = cluster('tok-a');
    c.nodes = [node('n1')];
    set.sync([fm('a', 'cluster-a')], () => secretOf('tok-a'));
    await vi.advanceTimersByTimeAsync(0);
    c.crash(new KubeHttpError(code, { code }, 'GET'));
    await vi.advanceTimersByTimeAsync(100);
    const v = set.member('cluster-a')!;
    expect(v.reachability.state).toBe('authFailed');
    expect(v.reachability.message).toContain(text);
    expect(set.list('cluster-a', 'nodes')).toHaveLength(1);
    set.stop();
  });

  it('a rotated Secret builds a new client; the old data is served until the new list succeeds, then vanished objects are deleted', async () => {
    const { set, cluster, events, reflectorChanges } = setup();
    cluster('tok-old').nodes = [node('n1'), node('n2')];
    let secret = secretOf('tok-old');
    set.sync([fm('a', 'cluster-a')], () => secret);
    await vi.advanceTimersByTimeAsync(0);
    events.length = 0;
    // The new credentials do not work yet (e.g. RBAC not applied): the new client fails.
    const fresh = cluster('tok-new');
    fresh.down = new KubeHttpError(401, { code: 401 }, 'GET');
    secret = secretOf('tok-new');
    set.sync([fm('a', 'cluster-a')], () => secret);
    expect(set.client('cluster-a')?.server).toBe('https://tok-new.invalid:6443');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(set.member('cluster-a')!.reachability.state).toBe('authFailed');
    expect(set.list('cluster-a', 'nodes').map((n) => n.metadata?.name)).toEqual(['n1', 'n2']);
    expect(events).toEqual([]);
    // Now they work, and n2 is gone from the cluster.
    fresh.down = undefined;
    fresh.nodes = [node('n1')];
    await vi.advanceTimersByTimeAsync(31_000);
    expect(set.member('cluster-a')!.reachability.state).toBe('reachable');
    expect(set.list('cluster-a', 'nodes').map((n) => n.metadata?.name)).toEqual(['n1']);
    expect(events.map((e) => `${e.type} ${e.object.metadata?.name} relist=${e.meta.relist}`)).toEqual(['add n1 relist=true', 'delete n2 relist=true']);
    expect(reflectorChanges).toEqual(['added cluster-a/nodes', 'removed cluster-a/nodes', 'added cluster-a/nodes']);
    set.stop();
  });

  it('an empty first list of a NEW client is only served once it actually succeeded', async () => {
    const { set, cluster } = setup();
    cluster('tok-old').nodes = [node('n1')];
    let secret = secretOf('tok-old');
    set.sync([fm('a', 'cluster-a')], () => secret);
    await vi.advanceTimersByTimeAsync(0);
    const fresh = cluster('tok-new');
    fresh.down = refused();
    secret = secretOf('tok-new');
    set.sync([fm('a', 'cluster-a')], () => secret);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(set.list('cluster-a', 'nodes')).toHaveLength(1); // not wiped by a failing new client
    expect(set.member('cluster-a')!.frozen).toBe(true);
    set.stop();
  });

  it('missing Secret / missing key / invalid kubeconfig freeze the member with the matching state', async () => {
    const { set, cluster } = setup();
    cluster('tok-a').nodes = [node('n1')];
    let secret: SecretLike | undefined = secretOf('tok-a');
    set.sync([fm('a', 'cluster-a')], () => secret);
    await vi.advanceTimersByTimeAsync(0);
    secret = undefined;
    set.sync([fm('a', 'cluster-a')], () => secret);
    let v = set.member('cluster-a')!;
    expect(v.reachability).toMatchObject({ state: 'secretNotFound', message: 'Secret a-kubeconfig not found' });
    expect(set.reflectors('cluster-a')).toHaveLength(0); // removed credentials are not used
    expect(set.list('cluster-a', 'nodes')).toHaveLength(1);
    secret = { data: { other: 'eA==' } };
    set.sync([fm('a', 'cluster-a')], () => secret);
    expect(set.member('cluster-a')!.reachability.message).toBe('Secret a-kubeconfig has no key "kubeconfig"');
    secret = { data: { kubeconfig: Buffer.from('users: [{name: u, user: {exec: {command: sh}}}]').toString('base64') } };
    set.sync([fm('a', 'cluster-a')], () => secret);
    v = set.member('cluster-a')!;
    expect(v.reachability.state).toBe('invalidKubeconfig');
    expect(v.reachability.message).toContain('"exec"');
    expect(set.list('cluster-a', 'nodes')).toHaveLength(1);
    // Fixed: back to reachable with fresh data.
    secret = secretOf('tok-a');
    set.sync([fm('a', 'cluster-a')], () => secret);
    await vi.advanceTimersByTimeAsync(0);
    expect(set.member('cluster-a')!.reachability.state).toBe('reachable');
    set.stop();
  });

  it('a deleted FleetMember drops its data and reflectors (intentional removal)', async () => {
    const { set, cluster, reflectorChanges } = setup();
    cluster('tok-a').nodes = [node('n1')];
    cluster('tok-b').nodes = [node('m1')];
    const secrets: Record<string, SecretLike> = { 'a-kubeconfig': secretOf('tok-a'), 'b-kubeconfig': secretOf('tok-b') };
    set.sync([fm('a', 'cluster-a'), fm('b', 'cluster-b')], (n) => secrets[n]);
    await vi.advanceTimersByTimeAsync(0);
    set.sync([fm('b', 'cluster-b')], (n) => secrets[n]);
    expect(set.member('cluster-a')).toBeUndefined();
    expect(set.list('cluster-a', 'nodes')).toEqual([]);
    expect(set.members().map((m) => m.clusterID)).toEqual(['cluster-b']);
    expect(reflectorChanges).toContain('removed cluster-a/nodes');
    const openBefore = cluster('tok-a').opened;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(cluster('tok-a').opened).toBe(openBefore); // nothing reconnects
    set.stop();
  });

  it('a FleetMember whose clusterID changes is a different member', async () => {
    const { set, cluster } = setup();
    cluster('tok-a').nodes = [node('n1')];
    set.sync([fm('a', 'cluster-a')], () => secretOf('tok-a'));
    await vi.advanceTimersByTimeAsync(0);
    set.sync([fm('a', 'cluster-z')], () => secretOf('tok-a'));
    expect(set.member('cluster-a')).toBeUndefined();
    await vi.advanceTimersByTimeAsync(0);
    expect(set.member('cluster-z')?.reachability.state).toBe('reachable');
    set.stop();
  });
});

/**
 * A cluster that serves some API groups: discovery documents and collections by path, as an
 * apiserver answers them (404 for a group/version it does not serve).
 */
class PathCluster implements ReflectorTransport {
  /** Collection path -> objects; a path absent from the map is not served (404). */
  served = new Map<string, Node[]>();
  rv = 10;
  discoveryCalls = 0;
  #closers: ((err: unknown) => void)[] = [];
  list(path: string, _q: Query): Promise<unknown> {
    const notFound = (): Promise<never> => Promise.reject(new KubeHttpError(404, { kind: 'Status', reason: 'NotFound', code: 404 }, `GET ${path}`));
    const items = this.served.get(path);
    if (items !== undefined) return Promise.resolve({ metadata: { resourceVersion: String(this.rv) }, items: items.map((n) => ({ ...n, metadata: { ...n.metadata } })) });
    // A discovery document: the plurals served under it.
    this.discoveryCalls++;
    const plurals = [...this.served.keys()].filter((p) => p.startsWith(`${path}/`)).map((p) => p.slice(path.length + 1));
    return plurals.length === 0 ? notFound() : Promise.resolve({ kind: 'APIResourceList', resources: plurals.map((name) => ({ name })) });
  }
  watch(path: string, _q: Query, _on: (t: string, o: unknown) => void, done: (e: unknown) => void): Promise<{ abort(): void }> {
    if (!this.served.has(path)) {
      done(new KubeHttpError(404, { reason: 'NotFound', code: 404 }, `watch ${path}`));
      return Promise.resolve({ abort: () => {} });
    }
    let ended = false;
    const end = (err: unknown): void => {
      if (!ended) {
        ended = true;
        done(err);
      }
    };
    this.#closers.push(end);
    return Promise.resolve({ abort: () => end(null) });
  }
  /** The CRD is deleted: its objects go, open watches end. */
  unserve(path: string): void {
    this.served.delete(path);
    for (const c of this.#closers.splice(0)) c(null);
  }
}

describe('MemberSet optional resources (a CRD a member may not serve)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const MCS = '/apis/multicluster.x-k8s.io/v1beta1/serviceexports';
  const GKE = '/apis/net.gke.io/v1/serviceexports';

  function setupOptional(c: PathCluster) {
    const events: MemberEvent[] = [];
    const set = new MemberSet({
      resources: [
        { key: 'nodes', path: '/api/v1/nodes' },
        { key: 'serviceexports', path: MCS, optional: true },
        { key: 'gkeserviceexports', path: GKE, optional: true },
      ],
      reflectorDefaults: { clock: { now: () => Date.now() }, random: () => 0, relistIntervalMs: 0, backoffInitialMs: 100, backoffMaxMs: 100 },
      makeTransport: () => c,
      optionalRecheckMs: 60_000,
      onEvent: (e) => events.push(e),
    });
    set.sync([fm('a', 'cluster-a')], () => secretOf('tok-a'));
    return { set, events };
  }

  it('a member serving neither MCS group is reachable and lists no exports; one served later is picked up at the next re-check', async () => {
    const c = new PathCluster();
    c.served.set('/api/v1/nodes', [node('n1')]);
    const { set, events } = setupOptional(c);
    await vi.advanceTimersByTimeAsync(0);
    const v = set.member('cluster-a')!;
    expect(v.reachability.state).toBe('reachable');
    expect(v.frozen).toBe(false);
    expect(v.synced).toBe(true);
    expect(set.list('cluster-a', 'serviceexports')).toEqual([]);
    expect(set.list('cluster-a', 'gkeserviceexports')).toEqual([]);
    expect(set.reflectors('cluster-a').map((r) => r.resource)).toEqual(['nodes']);
    // GKE's CRD is installed: seen within one re-check period.
    c.served.set(GKE, [node('store')]);
    await vi.advanceTimersByTimeAsync(59_000);
    expect(set.list('cluster-a', 'gkeserviceexports')).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(set.list('cluster-a', 'gkeserviceexports').map((o) => o.metadata?.name)).toEqual(['store']);
    expect(events.filter((e) => e.resource === 'gkeserviceexports').map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['add store']);
    expect(set.member('cluster-a')?.reachability.state).toBe('reachable');
    set.stop();
  });

  it('served optional resources are watched; the member is pending until discovery has answered', async () => {
    const c = new PathCluster();
    c.served.set('/api/v1/nodes', [node('n1')]);
    c.served.set(MCS, [node('a')]);
    c.served.set(GKE, [node('b')]);
    const { set } = setupOptional(c);
    expect(set.member('cluster-a')?.reachability.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(0);
    expect(set.member('cluster-a')?.reachability.state).toBe('reachable');
    expect(set.reflectors('cluster-a').map((r) => r.resource).sort()).toEqual(['gkeserviceexports', 'nodes', 'serviceexports']);
    expect(set.list('cluster-a', 'serviceexports').map((o) => o.metadata?.name)).toEqual(['a']);
    expect(set.list('cluster-a', 'gkeserviceexports').map((o) => o.metadata?.name)).toEqual(['b']);
    set.stop();
  });

  it('a served optional resource whose CRD is deleted: its objects are deleted, the member stays reachable, no discovery storm', async () => {
    const c = new PathCluster();
    c.served.set('/api/v1/nodes', [node('n1')]);
    c.served.set(GKE, [node('store')]);
    const { set, events } = setupOptional(c);
    await vi.advanceTimersByTimeAsync(0);
    expect(set.list('cluster-a', 'gkeserviceexports')).toHaveLength(1);
    c.unserve(GKE);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(set.list('cluster-a', 'gkeserviceexports')).toEqual([]);
    expect(events.filter((e) => e.resource === 'gkeserviceexports').map((e) => e.type)).toEqual(['add', 'delete']);
    expect(set.member('cluster-a')).toMatchObject({ frozen: false, reachability: { state: 'reachable' } });
    const calls = c.discoveryCalls;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(c.discoveryCalls).toBe(calls); // next look-up only after optionalRecheckMs
    set.stop();
  });

  it('a discovery request that fails (not a 404) keeps the member pending and is retried', async () => {
    const c = new PathCluster();
    c.served.set('/api/v1/nodes', [node('n1')]);
    let fail = true;
    const list = c.list.bind(c);
    c.list = (path, q) => (fail && path === '/apis/net.gke.io/v1' ? Promise.reject(refused()) : list(path, q));
    const { set } = setupOptional(c);
    await vi.advanceTimersByTimeAsync(0);
    expect(set.member('cluster-a')?.reachability.state).toBe('pending');
    fail = false;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(set.member('cluster-a')?.reachability.state).toBe('reachable');
    set.stop();
  });
});

describe('MemberSet: empty relists, hysteresis, TTL, leaving members (issue 9, battery D1/D2/D5/D6)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const names = (set: MemberSet): string[] => set.list('cluster-a', 'nodes').map((n) => n.metadata?.name ?? '');

  it('one successful EMPTY relist of a serving member changes nothing; the real list that follows emits no deletes', async () => {
    const { set, cluster, events } = setup({
      emptyListConfirmMs: 60_000,
      reflectorDefaults: { clock: { now: () => Date.now() }, random: () => 0, relistIntervalMs: 10_000 },
    });
    const c = cluster('tok-a');
    c.nodes = [node('n1'), node('n2')];
    set.sync([fm('a', 'cluster-a')], () => secretOf('tok-a'));
    await vi.advanceTimersByTimeAsync(0);
    events.length = 0;
    const real = c.nodes;
    c.nodes = []; // e.g. a proxy or a restored etcd answers one list with nothing
    await vi.advanceTimersByTimeAsync(10_000); // the periodic relist
    expect(names(set)).toEqual(['n1', 'n2']);
    expect(events).toEqual([]);
    expect(set.member('cluster-a')!.reachability.state).toBe('reachable');
    c.nodes = real;
    await vi.advanceTimersByTimeAsync(70_000); // the confirming list finds the data again
    expect(names(set)).toEqual(['n1', 'n2']);
    expect(events.filter((e) => e.type === 'delete')).toEqual([]);
    set.stop();
  });

  it('an emptiness that holds for two lists ≥ the confirm delay apart is applied (the data really was deleted)', async () => {
    const { set, cluster, events } = setup({
      emptyListConfirmMs: 60_000,
      reflectorDefaults: { clock: { now: () => Date.now() }, random: () => 0, relistIntervalMs: 10_000 },
    });
    const c = cluster('tok-a');
    c.nodes = [node('n1'), node('n2')];
    set.sync([fm('a', 'cluster-a')], () => secretOf('tok-a'));
    await vi.advanceTimersByTimeAsync(0);
    events.length = 0;
    c.nodes = [];
    await vi.advanceTimersByTimeAsync(10_000 + 30_000);
    expect(names(set)).toEqual(['n1', 'n2']);
    await vi.advanceTimersByTimeAsync(40_000);
    expect(names(set)).toEqual([]);
    expect(events.map((e) => `${e.type} ${e.object.metadata?.name}`).sort()).toEqual(['delete n1', 'delete n2']);
    set.stop();
  });

  it('an empty FIRST list of a replacement client (rotated Secret) keeps serving the old copy until confirmed', async () => {
    const { set, cluster, events } = setup({ emptyListConfirmMs: 60_000 });
    cluster('tok-old').nodes = [node('n1')];
    let secret = secretOf('tok-old');
    set.sync([fm('a', 'cluster-a')], () => secret);
    await vi.advanceTimersByTimeAsync(0);
    events.length = 0;
    const fresh = cluster('tok-new');
    fresh.nodes = [];
    secret = secretOf('tok-new');
    set.sync([fm('a', 'cluster-a')], () => secret);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(names(set)).toEqual(['n1']);
    expect(set.member('cluster-a')!.frozen).toBe(true);
    fresh.nodes = [node('n1')];
    await vi.advanceTimersByTimeAsync(70_000);
    expect(names(set)).toEqual(['n1']);
    expect(events.filter((e) => e.type === 'delete')).toEqual([]);
    expect(set.member('cluster-a')!.frozen).toBe(false);
    set.stop();
  });

  it('hysteresis: frozen at once, published (and fanned out) only after 30 s; a shorter blip is never published', async () => {
    const { set, cluster, reach } = setup({ unreachablePublishDelayMs: 30_000 });
    const c = cluster('tok-a');
    c.nodes = [node('n1')];
    set.sync([fm('a', 'cluster-a')], () => secretOf('tok-a'));
    await vi.advanceTimersByTimeAsync(0);
    reach.length = 0;
    // A 10 s apiserver restart.
    c.crash(refused());
    await vi.advanceTimersByTimeAsync(100);
    let v = set.member('cluster-a')!;
    expect(v.frozen).toBe(true);
    expect(v.observed.state).toBe('unreachable');
    expect(v.reachability.state).toBe('reachable');
    c.down = undefined;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(set.member('cluster-a')!.frozen).toBe(false);
    expect(reach).toEqual([]);
    // A real outage.
    c.crash(refused());
    await vi.advanceTimersByTimeAsync(29_000);
    expect(reach).toEqual([]);
    expect(set.member('cluster-a')!.frozen).toBe(true);
    await vi.advanceTimersByTimeAsync(1_500);
    expect(reach.map(([, r]) => r.state)).toEqual(['unreachable']);
    v = set.member('cluster-a')!;
    expect(v.reachability.state).toBe('unreachable');
    // Recovery is published at once.
    c.down = undefined;
    await vi.advanceTimersByTimeAsync(31_000);
    expect(reach.map(([, r]) => r.state)).toEqual(['unreachable', 'reachable']);
    set.stop();
  });

  it('TTL: a member frozen longer than frozenTtlMs is expired with a callback, its objects deleted; it is served again when back', async () => {
    const expired: string[] = [];
    const { set, cluster, events } = setup({ frozenTtlMs: 3_600_000, onExpired: (id, f) => expired.push(`${id}/${f}`) });
    const c = cluster('tok-a');
    c.nodes = [node('n1'), node('n2')];
    set.sync([fm('a', 'cluster-a')], () => secretOf('tok-a'));
    await vi.advanceTimersByTimeAsync(0);
    events.length = 0;
    c.crash(refused());
    await vi.advanceTimersByTimeAsync(3_599_000);
    expect(names(set)).toEqual(['n1', 'n2']);
    expect(expired).toEqual([]);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(expired).toEqual(['cluster-a/a']);
    expect(names(set)).toEqual([]);
    const v = set.member('cluster-a')!;
    expect(v.expired).toBe(true);
    expect(v.frozen).toBe(false); // its endpoints may leave now
    expect(events.map((e) => `${e.type} ${e.object.metadata?.name}`).sort()).toEqual(['delete n1', 'delete n2']);
    c.down = undefined;
    await vi.advanceTimersByTimeAsync(31_000);
    expect(names(set)).toEqual(['n1', 'n2']);
    expect(set.member('cluster-a')!.expired).toBe(false);
    set.stop();
  });

  it('a deleted FleetMember leaves: gone from members() at once, its client kept until drain succeeds (retried)', async () => {
    const drained: string[] = [];
    let fail = 2;
    const { set, cluster } = setup({
      drain: ({ clusterID, client }) => {
        if (fail-- > 0) return Promise.reject(new Error('member apiserver busy'));
        drained.push(`${clusterID} via ${client.server}`);
        return Promise.resolve();
      },
    });
    cluster('tok-a').nodes = [node('n1')];
    set.sync([fm('a', 'cluster-a')], () => secretOf('tok-a'));
    await vi.advanceTimersByTimeAsync(0);
    set.sync([], () => undefined);
    expect(set.members()).toEqual([]);
    expect(set.list('cluster-a', 'nodes')).toEqual([]);
    expect(set.client('cluster-a')?.server).toBe('https://tok-a.invalid:6443');
    expect(set.leaving().map((l) => l.clusterID)).toEqual(['cluster-a']);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(drained).toEqual(['cluster-a via https://tok-a.invalid:6443']);
    expect(set.client('cluster-a')).toBeUndefined();
    expect(set.leaving()).toEqual([]);
    set.stop();
  });

  it('release() drops a leaving member at once; without a drain hook the client goes with the FleetMember', async () => {
    const a = setup({ drain: () => new Promise<void>(() => {}) });
    a.cluster('tok-a').nodes = [node('n1')];
    a.set.sync([fm('a', 'cluster-a')], () => secretOf('tok-a'));
    await vi.advanceTimersByTimeAsync(0);
    a.set.sync([], () => undefined);
    expect(a.set.client('cluster-a')).toBeDefined();
    a.set.release('cluster-a');
    expect(a.set.client('cluster-a')).toBeUndefined();
    a.set.stop();
    const b = setup();
    b.cluster('tok-a').nodes = [node('n1')];
    b.set.sync([fm('a', 'cluster-a')], () => secretOf('tok-a'));
    await vi.advanceTimersByTimeAsync(0);
    b.set.sync([], () => undefined);
    expect(b.set.client('cluster-a')).toBeUndefined();
    b.set.stop();
  });
});
