// SPDX-License-Identifier: Apache-2.0
//
// The failure rules (docs/failure-rules.md) on the store scenario (examples/store: config + two
// members, the Compute API emulator, the controller in this process), in the order a fleet could
// live them:
//   1. a controller restart on a converged fleet writes nothing (battery A5/F2); a
//      Gateway deleted during its first reconcile leaves nothing in GCE;
//   2. a member whose apiserver is down is frozen: its NEG endpoints stay, the Gateway names it, the
//      FleetMember says Unreachable, other members' changes still apply; when it answers again only
//      real changes are applied (battery D1);
//   3. a Gateway deleted while the controller is down is torn down completely when it starts again:
//      the finalizer holds it (battery B2; kubernetes/kubernetes#53451);
//   4. a Gateway re-created with the name of one whose teardown never ran takes the names over;
//   5. GCE faults on an insert (QUOTA_EXCEEDED operation, 503s) show in Programmed=False with GCE's
//      message, the quota error is not hot-looped, and the Gateway converges once the fault clears,
//      without duplicates (battery A1/A3);
//   6. an ILBConfig moved to another region leaves nothing in the old one.
// One fleet for the file: each part starts from the state the previous one left.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCondition, gatewayCondition, getGateway, waitGatewayCondition, GATEWAY_API, type Condition, type GatewayObject } from '../fixtures/conditions.ts';
import { ofKind } from '../fixtures/example.ts';
import { actualNegs, expectedNegs, type NegView } from '../fixtures/expect.ts';
import { waitFor, type KObject, type Kube } from '../fixtures/kube.ts';
import { FLEETILB_API, waitMembersReady, type FleetMemberObject } from '../fixtures/members.ts';
import { waitQuiet } from '../fixtures/quiet.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';
import { changedVersions, describeWrites, KubeWriteRecorder, ownedVersions } from '../fixtures/writes.ts';
import type { AuditEntry } from '../emulator/index.ts';

const CONVERGE_MS = 90_000;
const OWNED_KINDS = ['addresses', 'healthChecks', 'backendServices', 'forwardingRules', 'networkEndpointGroups', 'firewalls'] as const;

interface SliceObj extends KObject {
  endpoints?: Array<{ nodeName?: string; addresses: string[]; zone?: string }>;
}
interface ServiceObj extends KObject {
  spec?: { loadBalancerClass?: string };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const writesOf = (audit: readonly AuditEntry[]): AuditEntry[] => audit.filter((e) => e.access === 'write');
const show = (es: readonly AuditEntry[]): string[] => es.map((e) => `${e.method} ${e.resource ?? e.path} -> ${e.status}`);
/** NEG names end with `-<cluster id>` (naming/names.ts). */
const negOf = (e: AuditEntry, member: string): boolean => e.method.startsWith('networkEndpointGroups.') && (e.resource ?? '').endsWith(`-${member}`);

describe('controller resilience (store scenario)', () => {
  let s: Scenario;
  let members: string[];
  const config = (): Kube => s.kube('config');
  const memberKubes = (): Kube[] => members.map((m) => s.kube(m));
  const want = (objects: Record<string, readonly KObject[]>): NegView => expectedNegs(objects, members, 'store', 'store');
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

  /** Quiet: no new GCE write and no moved resourceVersion between two looks (`skip`: a member whose apiserver is down). */
  const settle = (opts: { timeoutMs?: number; skip?: string } = {}): Promise<void> =>
    waitQuiet(s.emulator, {
      kube: { config: config(), members: () => members.filter((m) => m !== opts.skip).map((m) => s.kube(m)) },
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
    });

  const fleetMember = (id: string): Promise<FleetMemberObject | undefined> => config().get<FleetMemberObject>(FLEETILB_API, 'FleetMember', id);
  const gatewayCond = async (type: string): Promise<Condition | undefined> => gatewayCondition(await getGateway(config(), 'store', 'store'), type);

  beforeAll(async () => {
    s = await startScenario();
    members = s.fleet.members.map((m) => m.name);
    await waitGatewayCondition(config(), 'store', 'store', 'Programmed', CONVERGE_MS);
    await waitMembersReady(s.fleet, members, 30_000);
  });

  afterAll(async () => {
    await s?.stop();
  });

  it('a restarted controller on a converged fleet makes no GCE write and no Kubernetes write', async () => {
    await settle();
    expect(actualNegs(s.emulator, members)).toEqual(want(s.objects));
    await s.stopController();
    const before = await ownedVersions(config(), memberKubes());
    s.emulator.resetAudit();
    const rec = new KubeWriteRecorder([s.fleet.config, ...s.fleet.members]).start();
    try {
      const ctl = await s.startController();
      // The new controller reconciles every key once at start (the initial resync): wait for the
      // Gateway's outcome and the global key, with an empty queue.
      const reconciles = async (): Promise<number> =>
        (await ctl.metrics.reconcileDuration.get()).values.filter((v) => v.metricName?.endsWith('_count')).reduce((n, v) => n + v.value, 0);
      const depth = async (): Promise<number> => (await ctl.metrics.queueDepth.get()).values.reduce((n, v) => n + v.value, 0);
      await waitFor(async () => ctl.reconciler.outcomes.has('store/store') && (await reconciles()) >= 2 && (await depth()) === 0, 60_000, 'the first reconciles of the new controller');
      // "Nothing happens" window: a write would echo back as a watch event and another reconcile
      // within milliseconds; 2 s covers that on a loaded 2-core machine.
      await sleep(2_000);
      expect(ctl.reconciler.outcomes.get('store/store')).toMatchObject({ gceWrites: 0, kubeWrites: 0 });
    } finally {
      rec.stop();
    }
    const audit = s.emulator.audit();
    expect(show(writesOf(audit)), 'GCE writes').toEqual([]);
    expect(audit.length, 'the new controller did read GCE').toBeGreaterThan(0);
    expect(describeWrites(rec.writes()), 'Kubernetes requests other than GET').toEqual([]);
    expect(changedVersions(before, await ownedVersions(config(), memberKubes())), 'objects whose resourceVersion moved').toEqual([]);
  });

  it('a Gateway deleted during its first reconcile leaves nothing in GCE (finalizer and scope before the first cloud call)', async () => {
    // Issue 9 defect 3: deleting a Gateway 60 ms after creating it leaked its address, health check,
    // backend service and forwarding rule in 5 of 12 runs (the deletion reconcile ran on a cached
    // copy without the finalizer or scope annotation and skipped GCE).
    const store = await getGateway(config(), 'store', 'store');
    const uids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const created = await config().apply<GatewayObject>({
        apiVersion: GATEWAY_API,
        kind: 'Gateway',
        metadata: { namespace: 'store', name: `early-${i}` },
        spec: { gatewayClassName: store!.spec.gatewayClassName, listeners: [{ name: 'tcp', port: 9000 + i, protocol: 'TCP' }] },
      });
      uids.push(created.metadata.uid ?? '');
      await sleep(60);
      await config().delete(GATEWAY_API, 'Gateway', `early-${i}`, 'store');
    }
    for (let i = 0; i < 6; i++) {
      await waitFor(async () => (await getGateway(config(), 'store', `early-${i}`)) === undefined, CONVERGE_MS, `Gateway early-${i} to be gone`);
    }
    await settle();
    const inv = s.emulator.inventory();
    const leaked = OWNED_KINDS.flatMap((kind) =>
      inv[kind].filter((r) => uids.some((u) => JSON.stringify(r['description'] ?? '').includes(u))).map((r) => `${kind} ${JSON.stringify(r['name'])}`),
    );
    // On a leak, the GCE calls on the leaked names tell which reconcile created them after the teardown.
    const names = leaked.map((l) => JSON.parse(l.slice(l.indexOf(' ') + 1)) as string);
    expect(leaked, s.emulator.audit().filter((e) => names.some((n) => (e.resource ?? e.path).includes(n))).map((e) => `${e.time % 100000} ${e.method} ${e.resource ?? e.path} -> ${e.status}`).join('\n')).toEqual([]);
  });

  it('a member whose apiserver is down keeps its NEG endpoints; other members still converge; it rejoins without churn', async () => {
    const down = 'member-b';
    const up = 'member-a';
    const negsBefore = actualNegs(s.emulator, members);
    const vipBefore = (await s.kube(down).list<ServiceObj>('v1', 'Service')).filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip');
    expect(vipBefore).toHaveLength(1);
    s.emulator.resetAudit();
    const handle = s.cluster(down);
    await handle.stop();
    let stopped = true;
    try {
      const fm = await waitFor(
        async () => {
          const f = await fleetMember(down);
          return findCondition(f?.status?.conditions, 'Ready')?.status === 'False' ? f : undefined;
        },
        60_000,
        `FleetMember ${down} Ready=False`,
      );
      expect(findCondition(fm.status?.conditions, 'Ready')?.reason).toBe('Unreachable');
      const frozen = await waitFor(
        async () => {
          const c = await gatewayCond('fleetilb.io/MembersReachable');
          return c?.status === 'False' ? c : undefined;
        },
        60_000,
        'the Gateway to name the frozen member',
      );
      expect(frozen.reason).toBe('MembersFrozen');
      expect(frozen.message).toContain(down);
      expect(frozen.message).not.toContain(up);
      // The load balancer itself is still programmed: nothing about it is wrong.
      expect((await gatewayCond('Programmed'))?.status).toBe('True');

      // A pod moves in the reachable member: its NEG follows.
      const slice = ofKind<SliceObj>(s.objects[up] ?? [], 'EndpointSlice')[0]!;
      const moved: SliceObj = {
        ...slice,
        endpoints: (slice.endpoints ?? []).map((e) => (e.nodeName === 'member-a-pool-a-1' ? { ...e, nodeName: 'member-a-pool-a-2', addresses: ['10.110.5.8'] } : e)),
      };
      await s.kube(up).apply(moved);
      const target = want({ ...s.objects, [up]: (s.objects[up] ?? []).map((o) => (o === slice ? moved : o)) });
      await waitFor(() => same(actualNegs(s.emulator, members)[up], target[up]), 30_000, `${up}'s NEG to follow the moved pod`);
      await s.kube(up).apply(slice);
      await waitFor(() => same(actualNegs(s.emulator, members)[up], negsBefore[up]), 30_000, `${up}'s NEG to follow the pod back`);

      // The frozen member's NEGs were not touched, and no backend service was edited.
      const audit = writesOf(s.emulator.audit());
      expect(show(audit.filter((e) => negOf(e, down))), `writes to ${down}'s NEGs`).toEqual([]);
      expect(show(audit.filter((e) => e.method.startsWith('regionBackendServices.'))), 'backend service writes').toEqual([]);
      expect(audit.some((e) => negOf(e, up) && e.method.endsWith('.detachNetworkEndpoints'))).toBe(true); // the move did apply
      expect(actualNegs(s.emulator, members)[down]).toEqual(negsBefore[down]);

      // A controller that starts while the member is down has never seen its data: it must still
      // leave the member's NEGs, the backend service and the firewalls alone.
      s.emulator.resetAudit();
      await s.stopController();
      const ctl = await s.startController();
      await waitFor(() => ctl.reconciler.outcomes.has('store/store'), 90_000, 'the restarted controller to reconcile the Gateway');
      await settle({ skip: down });
      const afterRestart = writesOf(s.emulator.audit());
      expect(show(afterRestart), 'GCE writes of a controller started during the outage').toEqual([]);
      expect(actualNegs(s.emulator, members)).toEqual(negsBefore);

      // It answers again.
      s.emulator.resetAudit();
      await handle.start();
      stopped = false;
    } finally {
      if (stopped) await handle.start();
    }
    await waitMembersReady(s.fleet, [down], 60_000);
    await waitFor(async () => (await gatewayCond('fleetilb.io/MembersReachable'))?.status === 'True', 60_000, 'MembersReachable=True');
    await settle();
    expect(show(writesOf(s.emulator.audit()).filter((e) => negOf(e, down))), `${down}'s NEGs after it rejoined`).toEqual([]);
    expect(actualNegs(s.emulator, members)).toEqual(negsBefore);
    const vipAfter = (await s.kube(down).list<ServiceObj>('v1', 'Service')).filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip');
    expect(vipAfter.map((v) => [v.metadata.name, v.metadata.resourceVersion])).toEqual(vipBefore.map((v) => [v.metadata.name, v.metadata.resourceVersion]));

    // A real change in the member that was down is applied as a delta: one endpoint out, one in.
    s.emulator.resetAudit();
    const bSlice = ofKind<SliceObj>(s.objects[down] ?? [], 'EndpointSlice')[0]!;
    const bMoved: SliceObj = {
      ...bSlice,
      endpoints: (bSlice.endpoints ?? []).map((e) => (e.nodeName === 'member-b-pool-c-0' ? { ...e, nodeName: 'member-b-pool-c-1', addresses: ['10.120.1.9'] } : e)),
    };
    await s.kube(down).apply(bMoved);
    const bTarget = want({ ...s.objects, [down]: (s.objects[down] ?? []).map((o) => (o === bSlice ? bMoved : o)) });
    expect(bTarget[down]?.['us-central1-c']).toEqual(['member-b-pool-c-1']);
    await waitFor(() => same(actualNegs(s.emulator, members), bTarget), 30_000, `${down}'s NEG to follow the moved pod`);
    await settle();
    const negWrites = writesOf(s.emulator.audit()).filter((e) => e.method.startsWith('networkEndpointGroups.'));
    expect(negWrites.map((e) => `${e.method} ${e.resource?.split('/').slice(-3, -2)[0] ?? ''}`).sort()).toEqual([
      'networkEndpointGroups.attachNetworkEndpoints us-central1-c',
      'networkEndpointGroups.detachNetworkEndpoints us-central1-c',
    ]);
    await s.kube(down).apply(bSlice);
    await waitFor(() => same(actualNegs(s.emulator, members), want(s.objects)), 30_000, `${down}'s NEG back`);
  });

  it('a Gateway deleted while the controller is stopped is torn down completely when it starts', async () => {
    await settle();
    await s.stopController();
    await config().delete(GATEWAY_API, 'Gateway', 'store', 'store');
    const held = await getGateway(config(), 'store', 'store');
    // The finalizer holds the Gateway: the next controller still knows what to tear down.
    expect(held?.metadata.deletionTimestamp).toBeDefined();
    expect(held?.metadata.finalizers).toContain('fleetilb.io/cleanup');
    expect(s.emulator.inventory().forwardingRules).toHaveLength(1);

    await s.startController();
    await waitFor(async () => (await getGateway(config(), 'store', 'store')) === undefined, CONVERGE_MS, 'the Gateway to be gone');
    const inv = s.emulator.inventory();
    for (const kind of OWNED_KINDS) expect(inv[kind].map((r) => r['name']), kind).toEqual([]);
    for (const m of members) {
      const vips = (await s.kube(m).list<ServiceObj>('v1', 'Service')).filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip');
      expect(vips.map((v) => v.metadata.name), `${m} VIP Services`).toEqual([]);
      const mirrored = await s.kube(m).list('discovery.k8s.io/v1', 'EndpointSlice', { labelSelector: 'endpointslice.kubernetes.io/managed-by=gateway-controller.fleetilb.io' });
      expect(mirrored.map((x) => x.metadata.name), `${m} mirrored EndpointSlices`).toEqual([]);
    }
  });

  it('a Gateway re-created with the name of one whose teardown never ran takes the name over at once: the old resources go, the new ones come', async () => {
    // Issue 9 defect 4: names do not carry the uid, ownership does; the new Gateway met "foreign"
    // resources on every name and wrote nothing until a sweep.
    const gateway = { apiVersion: GATEWAY_API, kind: 'Gateway', metadata: { namespace: 'store', name: 'again' }, spec: { gatewayClassName: 'fleet-ilb', listeners: [{ name: 'tcp', port: 9100, protocol: 'TCP' }] } };
    const stamped = (uid: string): string[] => {
      const inv = s.emulator.inventory();
      return OWNED_KINDS.flatMap((kind) => inv[kind].filter((r) => JSON.stringify(r['description'] ?? '').includes(uid)).map((r) => `${kind} ${JSON.stringify(r['name'])}`));
    };
    const first = await config().apply<GatewayObject>(gateway);
    await waitGatewayCondition(config(), 'store', 'again', 'Programmed', CONVERGE_MS);
    const firstUid = first.metadata.uid ?? '';
    expect(stamped(firstUid).length).toBeGreaterThanOrEqual(3);
    // Gone without teardown: deleted while the controller is stopped and its finalizer stripped.
    await s.stopController();
    await config().delete(GATEWAY_API, 'Gateway', 'again', 'store');
    await config().mergePatch({ apiVersion: GATEWAY_API, kind: 'Gateway', name: 'again', namespace: 'store' }, { metadata: { finalizers: null } });
    await waitFor(async () => (await getGateway(config(), 'store', 'again')) === undefined, 30_000, 'the first Gateway to be gone');
    const second = await config().apply<GatewayObject>(gateway);
    expect(second.metadata.uid).not.toBe(firstUid);

    await s.startController();
    const programmed = await waitGatewayCondition(config(), 'store', 'again', 'Programmed', CONVERGE_MS);
    expect(programmed.metadata.uid).toBe(second.metadata.uid);
    expect(stamped(firstUid), 'resources of the first Gateway').toEqual([]);
    expect(stamped(second.metadata.uid ?? '').length).toBeGreaterThanOrEqual(3);

    await config().delete(GATEWAY_API, 'Gateway', 'again', 'store');
    await waitFor(async () => (await getGateway(config(), 'store', 'again')) === undefined, CONVERGE_MS, 'the second Gateway to be gone');
    expect(stamped(second.metadata.uid ?? '')).toEqual([]);
  });

  it('GCE faults on inserts show in Programmed=False with the GCE message, then converge without duplicates', async () => {
    s.emulator.resetAudit();
    // Allocation quota: the operation of the backend service insert ends with QUOTA_EXCEEDED.
    const quota = s.emulator.faults.inject({ method: 'regionBackendServices.insert', action: { kind: 'operationError', code: 'QUOTA_EXCEEDED' } });
    await s.apply('config'); // the same Gateway and route again (a new Gateway uid)
    const waitProgrammedFalse = (fragment: string): Promise<Condition> =>
      waitFor(
        async () => {
          const c = await gatewayCond('Programmed');
          return c?.status === 'False' && (c.message ?? '').includes(fragment) ? c : undefined;
        },
        60_000,
        `Programmed=False mentioning ${fragment}`,
      );
    const q = await waitProgrammedFalse("Quota 'BACKEND_SERVICES' exceeded");
    // Gateway API: Programmed=False/NoResources when the infrastructure lacks capacity (issue 9 defect 8).
    expect(q.reason).toBe('NoResources');
    // Not hot-looped: quota errors wait out a long backoff (QUOTA_BACKOFF_MS, 5 min); the few
    // attempts are the reconciles the controller's own writes (status, VIP Services) trigger.
    await settle();
    const attempts = (): number => s.emulator.audit().filter((e) => e.method === 'regionBackendServices.insert').length;
    const n = attempts();
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(5);
    await sleep(3_000); // "nothing happens" window: no retry before the backoff
    expect(attempts()).toBe(n);
    expect(s.emulator.inventory().backendServices).toEqual([]);
    expect(s.emulator.inventory().forwardingRules).toEqual([]); // nothing points at a missing backend service

    // The quota is raised, but the forwarding rule insert now meets 503s.
    s.emulator.faults.clear(quota);
    const unavailable = s.emulator.faults.inject({ method: 'forwardingRules.insert', action: { kind: 'http', status: 503 } });
    // What the periodic resync does (a quota error would otherwise wait out its backoff).
    await s.controller!.resyncAll();
    const u = await waitProgrammedFalse('The service is currently unavailable');
    expect(u.reason).toBe('Pending');
    expect(s.emulator.inventory().backendServices).toHaveLength(1);
    s.emulator.faults.clear(unavailable);

    // Transient errors are retried with backoff: the Gateway converges on its own.
    const gw: GatewayObject = await waitGatewayCondition(config(), 'store', 'store', 'Programmed', CONVERGE_MS);
    await settle();
    const inv = s.emulator.inventory();
    expect(inv.addresses.map((a) => a['address'])).toEqual([gw.status?.addresses?.[0]?.value]);
    expect(inv.healthChecks).toHaveLength(1);
    expect(inv.backendServices).toHaveLength(1);
    expect(inv.forwardingRules).toHaveLength(1);
    expect(inv.firewalls).toHaveLength(2);
    expect(actualNegs(s.emulator, members)).toEqual(want(s.objects));
    expect(inv.networkEndpointGroups).toHaveLength(4);
    // Nothing was created twice and then cleaned up: no delete at all since the Gateway came back.
    expect(show(writesOf(s.emulator.audit()).filter((e) => e.method.endsWith('.delete')))).toEqual([]);
    // Each resource was inserted once (attempts a fault answered, or replays of them, aside).
    const okInserts = writesOf(s.emulator.audit()).filter((e) => e.method.endsWith('.insert') && e.status === 200 && (e.faults ?? []).length === 0);
    const byResource = new Map<string, number>();
    for (const e of okInserts) byResource.set(e.resource ?? e.path, (byResource.get(e.resource ?? e.path) ?? 0) + 1);
    expect([...byResource].filter(([, k]) => k > 1), 'resources inserted more than once').toEqual([]);
    expect(byResource.size).toBe(1 + 1 + 1 + 1 + 4 + 2);
  });

  it('an ILBConfig moved to another region takes its Gateway along: the old regional resources go', async () => {
    // Issue 9 defect 5: apply and sweep only looked where the config points now, so the resources
    // in the old region stayed forever. A class of its own (listener without routes: no NEG, whose
    // zones would pin the region), so the store Gateway keeps its config.
    const spec = s.ilbConfig['spec'] as { project: string; network: string };
    const namespace = s.ilbConfig.metadata.namespace ?? '';
    s.emulator.seed({ projects: { [spec.project]: { subnetworks: [{ name: 'east-subnet', region: 'us-east1', network: spec.network, ipCidrRange: '10.200.0.0/20' }] } } });
    await config().apply({ ...s.ilbConfig, metadata: { namespace, name: 'moving' } });
    await config().apply({
      apiVersion: GATEWAY_API,
      kind: 'GatewayClass',
      metadata: { name: 'fleet-ilb-moving' },
      spec: { controllerName: 'fleetilb.io/gateway-controller', parametersRef: { group: 'fleetilb.io', kind: 'ILBConfig', name: 'moving', namespace } },
    });
    const gw = await config().apply<GatewayObject>({
      apiVersion: GATEWAY_API,
      kind: 'Gateway',
      metadata: { namespace: 'store', name: 'moving' },
      spec: { gatewayClassName: 'fleet-ilb-moving', listeners: [{ name: 'tcp', port: 9200, protocol: 'TCP' }] },
    });
    const uid = gw.metadata.uid ?? '';
    /**
     * `kind region` of every regional resource stamped for the Gateway, and of its health check: a
     * shared one (docs/architecture.md "Shared NEGs and health checks"), stamped with no Gateway;
     * no other Gateway of the file has a listener on 9200, so the TCP check of 9200 is its alone.
     */
    const regional = (): string[] => {
      const inv = s.emulator.inventory();
      const regionOf = (r: Record<string, unknown>): string => /\/regions\/([^/]+)\//.exec(String(r['selfLink']))?.[1] ?? '?';
      const stamped = (['addresses', 'backendServices', 'forwardingRules'] as const).flatMap((kind) =>
        inv[kind].filter((r) => JSON.stringify(r['description'] ?? '').includes(uid)).map((r) => `${kind} ${regionOf(r)}`),
      );
      const checks = inv.healthChecks.filter((r) => (r['tcpHealthCheck'] as { port?: number } | undefined)?.port === 9200).map((r) => `healthChecks ${regionOf(r)}`);
      return [...stamped, ...checks].sort();
    };
    const vipOf = async (): Promise<string | undefined> => {
      const g = await getGateway(config(), 'store', 'moving');
      return gatewayCondition(g, 'Programmed')?.status === 'True' ? g?.status?.addresses?.[0]?.value : undefined;
    };
    await waitFor(async () => (await vipOf())?.startsWith('10.128.'), CONVERGE_MS, 'the Gateway programmed in us-central1');
    expect(regional()).toEqual(['addresses us-central1', 'backendServices us-central1', 'forwardingRules us-central1', 'healthChecks us-central1']);

    await config().mergePatch({ apiVersion: FLEETILB_API, kind: 'ILBConfig', name: 'moving', namespace }, { spec: { region: 'us-east1', subnetwork: 'east-subnet' } });
    await waitFor(async () => (await vipOf())?.startsWith('10.200.'), CONVERGE_MS, 'the Gateway programmed in us-east1');
    await waitFor(() => same(regional(), ['addresses us-east1', 'backendServices us-east1', 'forwardingRules us-east1', 'healthChecks us-east1']), 30_000, `only us-east1 resources (now ${regional().join(', ')})`);

    await config().delete(GATEWAY_API, 'Gateway', 'moving', 'store');
    await waitFor(async () => (await getGateway(config(), 'store', 'moving')) === undefined, CONVERGE_MS, 'the Gateway to be gone');
    expect(regional()).toEqual([]);
    await config().delete(GATEWAY_API, 'GatewayClass', 'fleet-ilb-moving');
    await config().delete(FLEETILB_API, 'ILBConfig', 'moving', namespace);
  });
});
