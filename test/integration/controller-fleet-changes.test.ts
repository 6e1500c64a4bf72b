// SPDX-License-Identifier: Apache-2.0
//
// The fleet changes under a running controller (store scenario: config + two members, the Compute
// API emulator, the controller in this process):
//   1. a third member cluster joins (a new apiserver, its Nodes, the store app exported, its VMs in
//      GCE, then its kubeconfig Secret + FleetMember): its NEGs, one per zone, join the backend
//      service, and nothing of the other members' NEGs is written (emulator audit log);
//   2. a cluster-specific ServiceImport (the GKE MCS pattern of examples/gke-store and
//      test/golden/translate/design-store-cluster-specific-imports.*): a service exported by
//      member-a only, behind its own listener, is served by member-a's nodes only;
//   3. a capped NEG keeps the node that already serves (minimal churn);
//   4. a self-managed member (Nodes without providerIDs, FleetMember without nodeMapping) joins and
//      is served by its VMs found by node name (translate/DECISIONS.md 18); a Node whose VM GCE does
//      not hold is left out, and its FleetMember says so (excludedNodeCount, NodesEligible).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCondition, gatewayCondition, getGateway, listenerCondition, routeCondition, waitGatewayCondition, GATEWAY_API, type RouteObject } from '../fixtures/conditions.ts';
import { ofKind } from '../fixtures/example.ts';
import { actualNegs, backendsOf, expectedNegs, lastSegment, type NegView } from '../fixtures/expect.ts';
import { applyObjects, Kube, waitFor, type KObject } from '../fixtures/kube.ts';
import { FLEETILB_API, registerMembers, waitMembersReady, type FleetMemberObject } from '../fixtures/members.ts';
import { waitQuiet } from '../fixtures/quiet.ts';
import { startScenario, syntheticMember, type Scenario } from '../fixtures/scenario.ts';
import { emulatorSeedFromNodes, memberNodeTag, seedDelta } from '../fixtures/seed.ts';
import type { AuditEntry } from '../emulator/index.ts';
import type { NodeTarget } from '../../controller/translate/checks/nodes.ts';
import { capEndpoints as capNodes } from '../../controller/infra/gcp/render.ts';

const CONVERGE_MS = 90_000;
type Res = Record<string, unknown>;

interface ServiceObj extends KObject {
  spec?: { loadBalancerClass?: string };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string }> } };
}
interface ServiceImportObj extends KObject {
  status?: { clusters?: Array<{ cluster: string }> };
}

const writesOf = (audit: readonly AuditEntry[]): AuditEntry[] => audit.filter((e) => e.access === 'write');
const show = (es: readonly AuditEntry[]): string[] => es.map((e) => `${e.method} ${e.resource ?? e.path}`);
/** NEG names end with `-<cluster id>` (naming/names.ts). */
const isNegOf = (e: AuditEntry, member: string): boolean => e.method.startsWith('networkEndpointGroups.') && (e.resource ?? '').endsWith(`-${member}`);

describe('fleet changes under a running controller (store scenario)', () => {
  let s: Scenario;
  let members: string[];
  /** Objects per member, including members added by the tests. */
  const objects: Record<string, KObject[]> = {};
  const kubes = new Map<string, Kube>();
  const kube = (name: string): Kube => kubes.get(name) ?? s.kube(name);

  /** Waits until no GCE write happened between two looks 1.5 s apart. */
  const settle = (): Promise<void> => waitQuiet(s.emulator, { what: 'GCE to be quiet' });

  /** The backend service behind the forwarding rule for `port`. */
  const backendServiceFor = (port: number): string => {
    const fr = s.emulator.inventory().forwardingRules.find((f) => JSON.stringify(f['ports']) === JSON.stringify([String(port)]));
    return lastSegment(fr?.['backendService']);
  };

  beforeAll(async () => {
    s = await startScenario();
    members = s.fleet.members.map((m) => m.name);
    for (const m of members) objects[m] = [...(s.objects[m] ?? [])];
    await waitGatewayCondition(s.kube('config'), 'store', 'store', 'Programmed', CONVERGE_MS);
    await waitMembersReady(s.fleet, members, 30_000);
  });

  afterAll(async () => {
    await s?.stop();
  });

  it('a member that joins adds its NEGs, one per zone, to the backend service and touches no other member’s NEG', async () => {
    await settle();
    const bs = backendServiceFor(8080);
    const before = actualNegs(s.emulator, members, backendsOf(s.emulator, bs));
    expect(before).toEqual(expectedNegs(objects, members, 'store', 'store'));
    const frozenPart = (): string => {
      const inv = s.emulator.inventory();
      return JSON.stringify([inv.addresses, inv.healthChecks, inv.forwardingRules]);
    };
    const untouched = frozenPart();
    s.emulator.resetAudit();

    // The new cluster, its app (same objects as member-b: Namespace, Deployment, Service,
    // ServiceExport), 2 zones × 2 Nodes with one ready store endpoint per zone, and its node VMs.
    const c = await s.fleet.addMember();
    kubes.set(c.name, Kube.of(c));
    const mine = syntheticMember(objects['member-b'] ?? [], c.name, members.length, s.gcp);
    objects[c.name] = mine;
    s.emulator.seed(
      seedDelta(
        emulatorSeedFromNodes(s.gcp.project, s.gcp.region, s.gcp.network, s.gcp.subnetwork, { [c.name]: ofKind(mine, 'Node') }, { subnetworkCidr: s.gcp.subnetworkCidr }),
        s.emulator.inventory(),
      ),
    );
    await applyObjects(kube(c.name), mine);
    await registerMembers(s.fleet, { members: [c] });
    const all = [...members, c.name];

    const target: NegView = expectedNegs(objects, all, 'store', 'store');
    expect(Object.keys(target[c.name] ?? {})).toHaveLength(2);
    await waitFor(() => JSON.stringify(actualNegs(s.emulator, all, backendsOf(s.emulator, bs))) === JSON.stringify(target), CONVERGE_MS, `${c.name}'s NEGs on ${bs}`);
    await waitMembersReady(s.fleet, [c.name], 30_000);
    await settle();

    // What a user sees: the member Ready with its nodes, a VIP Service there with the VIP.
    const fm = await s.kube('config').get<FleetMemberObject>(FLEETILB_API, 'FleetMember', c.name);
    expect(fm?.status).toMatchObject({ nodeCount: 4, exportCount: 1 });
    const gw = await getGateway(s.kube('config'), 'store', 'store');
    expect(gatewayCondition(gw, 'Programmed')?.status).toBe('True');
    const vip = gw?.status?.addresses?.[0]?.value;
    const vipSvcs = (await kube(c.name).list<ServiceObj>('v1', 'Service', { namespace: 'store' })).filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip');
    expect(vipSvcs.map((v) => v.status?.loadBalancer?.ingress?.[0]?.ip)).toEqual([vip]);

    // The audit: nothing written to the other members' NEGs, nothing removed anywhere, the
    // address, health check and forwarding rule untouched. What did change: the new NEGs and
    // their endpoints, the backend service (two more backends), the firewalls (one more target tag).
    const writes = writesOf(s.emulator.audit());
    for (const m of members) expect(show(writes.filter((e) => isNegOf(e, m))), `writes to ${m}'s NEGs`).toEqual([]);
    const negWrites = writes.filter((e) => isNegOf(e, c.name)).map((e) => e.method).sort();
    expect(negWrites).toEqual([
      'networkEndpointGroups.attachNetworkEndpoints',
      'networkEndpointGroups.attachNetworkEndpoints',
      'networkEndpointGroups.insert',
      'networkEndpointGroups.insert',
    ]);
    const other = writes.filter((e) => !e.method.startsWith('networkEndpointGroups.'));
    expect(new Set(other.map((e) => e.method.replace(/\.(update|patch)$/, '.change')))).toEqual(new Set(['regionBackendServices.change', 'firewalls.change']));
    expect(frozenPart()).toBe(untouched);
    const after = actualNegs(s.emulator, all, backendsOf(s.emulator, bs));
    for (const m of members) expect(after[m], m).toEqual(before[m]);
    for (const f of s.emulator.inventory().firewalls) expect([...(f['targetTags'] as string[])].sort()).toEqual(all.map(memberNodeTag).sort());
    // The kinds that take GCE labels carry the Gateway's (controller/naming/gcelabels.ts), set at insert.
    const inv = s.emulator.inventory();
    for (const r of [...inv.addresses, ...inv.forwardingRules]) {
      expect(r['labels'], String(r['name'])).toMatchObject({ 'fleetilb-gateway-namespace': 'store', 'fleetilb-gateway': 'store' });
      expect((r['labels'] as Record<string, string>)['fleetilb-fleet']).toMatch(/^[a-z0-9_-]{1,63}$/);
    }
    members = all;
  });

  it('a cluster-specific ServiceImport (exported by one member) routes to that member’s nodes only', async () => {
    const only = 'member-a';
    const svc = `store-${only}`;
    // In member-a only: the Service, its export, and its endpoints (one pod per zone).
    const memberObjs: KObject[] = [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: svc, namespace: 'store' }, spec: { selector: { app: svc }, ports: [{ name: 'tcp', protocol: 'TCP', port: 8080, targetPort: 8080 }] } },
      { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport', metadata: { name: svc, namespace: 'store' } },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${svc}-x1`, namespace: 'store', labels: { 'kubernetes.io/service-name': svc, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
        addressType: 'IPv4',
        ports: [{ name: 'tcp', protocol: 'TCP', port: 8080 }],
        endpoints: [
          { addresses: ['10.110.5.20'], nodeName: 'member-a-pool-a-2', zone: 'us-central1-a', conditions: { ready: true, serving: true, terminating: false } },
          { addresses: ['10.110.2.20'], nodeName: 'member-a-pool-b-0', zone: 'us-central1-b', conditions: { ready: true, serving: true, terminating: false } },
        ],
      },
    ];
    await applyObjects(kube(only), memberObjs);
    objects[only] = [...(objects[only] ?? []), ...memberObjs];

    // The importer makes the ServiceImport from member-a's export alone.
    const si = await waitFor(
      async () => {
        const cur = await s.kube('config').get<ServiceImportObj>('multicluster.x-k8s.io/v1beta1', 'ServiceImport', svc, 'store');
        return (cur?.status?.clusters ?? []).length > 0 ? cur : undefined;
      },
      60_000,
      `ServiceImport store/${svc} with status.clusters`,
    );
    expect(si.status?.clusters).toEqual([{ cluster: only }]);

    // Its own listener (8081) and route, as in examples/gke-store.
    const gwObj = (s.objects['config'] ?? []).find((o) => o.kind === 'Gateway')!;
    const spec = gwObj['spec'] as { listeners: Res[] };
    await s.kube('config').apply({
      ...gwObj,
      spec: { ...spec, listeners: [...spec.listeners, { name: only, protocol: 'TCP', port: 8081, allowedRoutes: { kinds: [{ kind: 'TCPRoute' }] } }] },
    });
    s.emulator.resetAudit();
    await s.kube('config').apply({
      apiVersion: GATEWAY_API,
      kind: 'TCPRoute',
      metadata: { name: svc, namespace: 'store' },
      spec: { parentRefs: [{ name: 'store', sectionName: only }], rules: [{ backendRefs: [{ group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name: svc, port: 8080 }] }] },
    });
    const storeBs = backendServiceFor(8080);
    const storeNegs = actualNegs(s.emulator, members, backendsOf(s.emulator, storeBs));

    await waitGatewayCondition(s.kube('config'), 'store', 'store', 'Programmed', CONVERGE_MS);
    // The new route attaches (the Gateway may already have been Programmed without it).
    const gw = await waitFor(
      async () => {
        const g = await getGateway(s.kube('config'), 'store', 'store');
        return g?.status?.listeners?.find((l) => l.name === only)?.attachedRoutes === 1 ? g : undefined;
      },
      CONVERGE_MS,
      `listener ${only} to attach the route`,
    );
    expect(listenerCondition(gw, only, 'Programmed')?.status).toBe('True');
    // The route's parent entry is its own write, after the Gateway's: wait for it to appear.
    const resolved = await waitFor(
      async () => routeCondition(await s.kube('config').get<RouteObject>(GATEWAY_API, 'TCPRoute', svc, 'store'), 'store/store', 'ResolvedRefs'),
      CONVERGE_MS,
      `TCPRoute ${svc} to get its parent status`,
    );
    expect(resolved.status).toBe('True');

    const bs = await waitFor(() => backendServiceFor(8081) || undefined, 30_000, 'the forwarding rule for 8081');
    expect(bs).not.toBe(storeBs);
    const want = expectedNegs(objects, [only], 'store', svc);
    expect(want[only]).toEqual({ 'us-central1-a': ['member-a-pool-a-2'], 'us-central1-b': ['member-a-pool-b-0'] });
    await waitFor(
      () => JSON.stringify(actualNegs(s.emulator, members, backendsOf(s.emulator, bs))) === JSON.stringify({ ...Object.fromEntries(members.map((m) => [m, {}])), ...want }),
      30_000,
      `${bs} to hold ${only}'s NEGs only`,
    );
    await settle();
    // The other listener's backends were left alone.
    expect(actualNegs(s.emulator, members, backendsOf(s.emulator, storeBs))).toEqual(storeNegs);
    expect(show(writesOf(s.emulator.audit()).filter((e) => e.resource?.endsWith(`/backendServices/${storeBs}`)))).toEqual([]);
    // Only member-a got a VIP Service for the new listener.
    for (const m of members) {
      const vips = (await kube(m).list<ServiceObj>('v1', 'Service', { namespace: 'store' })).filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip');
      expect(vips, m).toHaveLength(m === only ? 2 : 1);
    }
    const fm = await s.kube('config').get<FleetMemberObject>(FLEETILB_API, 'FleetMember', only);
    expect(findCondition(fm?.status?.conditions, 'Ready')?.status).toBe('True');
  });
  it('a capped NEG keeps the node that already serves when a better-ranked node gains an endpoint (minimal churn)', async () => {
    // nodeSubsetSize 1: every store NEG shrinks to one node.
    const ilb = s.ilbConfig;
    await s.kube('config').mergePatch({ apiVersion: String(ilb.apiVersion), kind: 'ILBConfig', name: String(ilb.metadata.name), namespace: ilb.metadata.namespace }, { spec: { nodeSubsetSize: 1 } });
    const storeBs = backendServiceFor(8080);
    const zone = 'us-central1-a';
    const negOfZone = (): { name: string; vms: string[] } | undefined => {
      const neg = s.emulator.inventory().networkEndpointGroups.find((n) => String(n['zone']).endsWith(`/${zone}`) && String(n['name']).endsWith('-member-a') && backendsOf(s.emulator, storeBs)(n));
      if (neg === undefined) return undefined;
      const all = Object.keys(objects).filter((k) => k !== 'config');
      return { name: String(neg['name']), vms: actualNegs(s.emulator, all, backendsOf(s.emulator, storeBs))['member-a']?.[zone] ?? [] };
    };
    const capped = await waitFor(() => { const n = negOfZone(); return n !== undefined && n.vms.length === 1 ? n : undefined; }, 60_000, `member-a's ${zone} NEG capped at one node`);
    await settle();
    const kept = capped.vms[0]!;

    // A new node whose hash rank beats the kept one: without the NEG's current members as a
    // render fact (the inventory), the cap would swap the NEG over to it (a detach and an attach for nothing).
    const target = (instance: string): NodeTarget => ({ node: instance, project: s.gcp.project, zone, instance, ip: '10.10.0.99' });
    let fresh = '';
    for (let i = 0; i < 500 && fresh === ''; i++) {
      const cand = `member-a-pool-a-new-${i}`;
      if (capNodes([target(kept), target(cand)], 1, `${zone}/${capped.name}`, undefined)[0]?.instance === cand) fresh = cand;
    }
    expect(fresh, 'a node name that outranks the kept one').not.toBe('');
    const node: KObject = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: fresh, labels: { 'topology.kubernetes.io/zone': zone } },
      spec: { providerID: `gce://${s.gcp.project}/${zone}/${fresh}` },
      status: {
        addresses: [{ type: 'InternalIP', address: '10.10.0.99' }],
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ready' }],
      },
    };
    await applyObjects(kube('member-a'), [node]);
    const g = s.gcp;
    const delta = seedDelta(emulatorSeedFromNodes(g.project, g.region, g.network, g.subnetwork, { 'member-a': [node] }, { subnetworkCidr: g.subnetworkCidr }), s.emulator.inventory());
    expect(Object.values(delta.projects).flatMap((p) => p.instances ?? []).map((i) => i.name)).toEqual([fresh]);
    s.emulator.seed(delta);
    s.emulator.resetAudit();
    const slice: KObject = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'store-capping', namespace: 'store', labels: { 'kubernetes.io/service-name': 'store' } },
      addressType: 'IPv4',
      ports: [{ name: 'tcp', protocol: 'TCP', port: 8080 }],
      endpoints: [{ addresses: ['10.110.9.9'], nodeName: fresh, zone, conditions: { ready: true, serving: true, terminating: false } }],
    };
    const ctl = s.controller!;
    const reconciles = async (): Promise<number> =>
      (await ctl.metrics.reconcileDuration.get()).values.filter((v) => v.metricName?.endsWith('_count')).reduce((n, v) => n + v.value, 0);
    const before = await reconciles();
    await applyObjects(kube('member-a'), [slice]);
    // The controller saw the endpoint (a reconcile ran; its facts come from the shared inventory,
    // so it need not read GCE) and changed nothing.
    await waitFor(async () => (await reconciles()) > before, 30_000, 'a reconcile after the new endpoint');
    await settle();
    expect(negOfZone()?.vms).toEqual([kept]);
    expect(show(writesOf(s.emulator.audit()).filter((e) => e.method.startsWith('networkEndpointGroups.')))).toEqual([]);
  });

  it('a self-managed member (no providerIDs, no configuration) is served by its VMs found by name; a Node without a VM is left out and counted', async () => {
    const c = await s.fleet.addMember();
    kubes.set(c.name, Kube.of(c));
    const mine = syntheticMember(objects['member-b'] ?? [], c.name, Object.keys(objects).length, s.gcp);
    // kubeadm without a cloud provider: no spec.providerID; the zone label is set (by the installer).
    const nodes = ofKind<KObject & { spec?: Record<string, unknown> }>(mine, 'Node');
    for (const n of nodes) delete n.spec?.['providerID'];
    const zones = [...new Set(nodes.map((n) => n.metadata.labels?.['topology.kubernetes.io/zone'] ?? ''))].sort();
    expect(zones).toHaveLength(2);
    const [z1, z2] = zones as [string, string];
    // Every Node's VM is in GCE (name = node name, in the ILBConfig project) except the one that
    // hosts the store endpoint in z2: attaching it would fail (the emulator checks instances).
    const missing = `${c.name}-pool-${z2.slice(-1)}-0`;
    const seed = emulatorSeedFromNodes(s.gcp.project, s.gcp.region, s.gcp.network, s.gcp.subnetwork, { [c.name]: nodes }, { subnetworkCidr: s.gcp.subnetworkCidr });
    for (const p of Object.values(seed.projects)) p.instances = (p.instances ?? []).filter((i) => i.name !== missing);
    const delta = seedDelta(seed, s.emulator.inventory());
    expect(Object.values(delta.projects).flatMap((p) => p.instances ?? []).map((i) => i.name).sort()).toEqual(nodes.map((n) => n.metadata.name).filter((n) => n !== missing).sort());
    s.emulator.seed(delta);
    await applyObjects(kube(c.name), mine);
    await registerMembers(s.fleet, { members: [c] });
    objects[c.name] = mine;
    members = [...members, c.name];

    const bs = backendServiceFor(8080);
    const want = { [z1]: [`${c.name}-pool-${z1.slice(-1)}-0`], [z2]: [] };
    await waitFor(() => JSON.stringify(actualNegs(s.emulator, members, backendsOf(s.emulator, bs))[c.name]) === JSON.stringify(want), CONVERGE_MS, `${c.name}'s NEGs on ${bs}: ${JSON.stringify(want)}`);
    await settle();
    // No write was refused: nothing tried to attach the VM that does not exist.
    expect(show(s.emulator.audit().filter((e) => e.access === 'write' && e.status >= 400 && isNegOf(e, c.name)))).toEqual([]);
    const gw = await getGateway(s.kube('config'), 'store', 'store');
    expect(gatewayCondition(gw, 'Programmed')?.status).toBe('True');
    // What the user sees on the FleetMember: one Node left out, and why.
    const fm = await waitFor(
      async () => {
        const x = await s.kube('config').get<FleetMemberObject & { status?: { excludedNodeCount?: number } }>(FLEETILB_API, 'FleetMember', c.name);
        return x?.status?.excludedNodeCount === 1 ? x : undefined;
      },
      30_000,
      `FleetMember ${c.name} excludedNodeCount 1`,
    );
    expect(fm.status?.nodeCount).toBe(4);
    const eligible = findCondition(fm.status?.conditions, 'NodesEligible');
    expect(eligible).toMatchObject({ status: 'False', reason: 'NodesExcluded' });
    expect(eligible?.message).toContain(`1 of 4 nodes left out of NEGs: NoInstance 1 (${missing}). ${missing}: no VM ${missing} in zone ${z2} of project ${s.gcp.project}`);
  });
});
