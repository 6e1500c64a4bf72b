// SPDX-License-Identifier: Apache-2.0
//
// The store scenario (examples/store) end to end: real kube-apiservers (config + two members), the
// Compute API emulator, and the controller running in this process with leader election off. What is
// asserted is what a user checks: the Gateway's and the route's status, the GCE resources the load
// balancer consists of (docs/architecture.md "What a Gateway becomes"), the VIP Services in the
// members, that a resync changes nothing, that NEG endpoints follow a pod that moves, and that
// deleting the Gateway removes
// everything it owned.
//
// Expected NEG contents are computed (test/fixtures/expect.ts) from the example's own Nodes and EndpointSlices with the
// rules of docs/architecture.md (a node that hosts a ready endpoint, is Ready and is not excluded
// from load balancers), independently of the controller's translate code.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLASS_FINALIZER } from '../../controller/gateway/index.ts';
import { getGateway, gatewayCondition, listenerCondition, routeCondition, waitGatewayCondition, GATEWAY_API, type GatewayObject, type RouteObject } from '../fixtures/conditions.ts';
import { ofKind } from '../fixtures/example.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import { waitMembersReady } from '../fixtures/members.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';
import { memberNodeTag } from '../fixtures/seed.ts';
import { actualNegs, expectedNegs, lastSegment, zoneOfUrl, type NegView } from '../fixtures/expect.ts';

const CONVERGE_MS = 90_000;

interface NodeObj extends KObject {
  spec?: { providerID?: string };
}
interface SliceObj extends KObject {
  endpoints?: Array<{ nodeName?: string; addresses: string[]; conditions?: { ready?: boolean } }>;
}
interface ServiceObj extends KObject {
  spec?: {
    type?: string;
    loadBalancerClass?: string;
    externalTrafficPolicy?: string;
    allocateLoadBalancerNodePorts?: boolean;
    selector?: Record<string, string>;
    ports?: Array<{ port: number; protocol?: string; targetPort?: number | string }>;
  };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string; ipMode?: string }> } };
}
type Res = Record<string, unknown>;

const last = lastSegment;
const zoneOf = zoneOfUrl;

describe('store scenario: one internal passthrough load balancer for two member clusters', () => {
  let s: Scenario;
  let members: string[];
  let gw: GatewayObject;
  let vip: string;

  const want = (objects: Record<string, KObject[]>): NegView => expectedNegs(objects, members, 'store', 'store');
  const same = (a: NegView, b: NegView): boolean => JSON.stringify(a) === JSON.stringify(b);

  beforeAll(async () => {
    // Member kubeconfigs carry the identity deploy/member grants (RBAC and admission policies
    // applied with kubectl), as in a real install.
    s = await startScenario({ memberIdentity: 'least-privilege' });
    members = s.fleet.members.map((m) => m.name);
    gw = await waitGatewayCondition(s.kube('config'), 'store', 'store', 'Programmed', CONVERGE_MS);
    vip = gw.status?.addresses?.[0]?.value ?? '';
    // Programmed=True requires the forwarding rule and the VIP (Gateway API: Programmed means the
    // address is usable), not the firewalls: they target the members' node tags, which the
    // controller may learn one reconcile later. The
    // assertions below are about the converged state, so wait for it.
    await waitFor(() => s.emulator.inventory().firewalls.length >= 2, 30_000, 'the firewalls');
    // Programmed=True needs no route (a listener without routes has its forwarding rule too): the
    // user's check is that the route attached, so wait for that and read the Gateway again.
    await waitFor(
      async () => {
        const now = await getGateway(s.kube('config'), 'store', 'store');
        if (now?.status?.listeners?.find((x) => x.name === 'store')?.attachedRoutes !== 1) return undefined;
        gw = now;
        return now;
      },
      CONVERGE_MS,
      'the TCPRoute to attach',
    );
  });

  afterAll(async () => {
    await s?.stop();
  });

  it('Gateway is Accepted and Programmed for its generation, with the VIP in status.addresses', () => {
    for (const type of ['Accepted', 'Programmed']) {
      const c = gatewayCondition(gw, type);
      expect(c, type).toMatchObject({ status: 'True', reason: type, observedGeneration: gw.metadata.generation });
    }
    expect(gw.status?.addresses).toEqual([{ type: 'IPAddress', value: vip }]);
    expect(vip).toMatch(/^10\.128\.\d+\.\d+$/); // from the ILBConfig's subnetwork (10.128.0.0/20)
    const l = gw.status?.listeners?.find((x) => x.name === 'store');
    expect(l?.attachedRoutes).toBe(1);
    expect(l?.supportedKinds).toEqual([{ group: 'gateway.networking.k8s.io', kind: 'TCPRoute' }]);
    for (const type of ['Accepted', 'Programmed', 'ResolvedRefs']) expect(listenerCondition(gw, 'store', type)?.status, type).toBe('True');
    expect(listenerCondition(gw, 'store', 'Conflicted')?.status).toBe('False');
  });

  it('TCPRoute is Accepted with its references resolved (our parent entry)', async () => {
    const route = await s.kube('config').get<RouteObject>(GATEWAY_API, 'TCPRoute', 'store', 'store');
    expect(routeCondition(route, 'store/store', 'Accepted')).toMatchObject({ status: 'True', reason: 'Accepted' });
    expect(routeCondition(route, 'store/store', 'ResolvedRefs')).toMatchObject({ status: 'True', reason: 'ResolvedRefs' });
    expect(route?.status?.parents?.filter((p) => p.controllerName === 'fleetilb.io/gateway-controller')).toHaveLength(1);
  });

  it('FleetMembers are Ready and report their nodes and zones', async () => {
    const fms = await waitMembersReady(s.fleet, members, 30_000);
    for (const [i, m] of members.entries()) {
      const nodes = ofKind<NodeObj>(s.objects[m] ?? [], 'Node');
      const zones = [...new Set(nodes.map((n) => n.metadata.labels?.['topology.kubernetes.io/zone']))].sort();
      expect(fms[i]?.status?.nodeCount, m).toBe(nodes.length);
      expect(fms[i]?.status?.zones, m).toEqual(zones);
      expect(fms[i]?.status?.exportCount, m).toBe(1);
    }
  });

  it('GCE: one address, health check, backend service and forwarding rule, wired together', () => {
    const inv = s.emulator.inventory();
    expect(inv.addresses).toHaveLength(1);
    expect(inv.healthChecks).toHaveLength(1);
    expect(inv.backendServices).toHaveLength(1);
    expect(inv.forwardingRules).toHaveLength(1);
    const [addr, hc, bs, fr] = [inv.addresses[0]!, inv.healthChecks[0]!, inv.backendServices[0]!, inv.forwardingRules[0]!];
    expect(addr).toMatchObject({ address: vip, addressType: 'INTERNAL', purpose: 'SHARED_LOADBALANCER_VIP' });
    expect(last(addr['subnetwork'])).toBe(s.gcp.subnetwork);
    expect(hc['type']).toBe('TCP');
    expect((hc['tcpHealthCheck'] as Res)['port']).toBe(8080);
    expect(bs).toMatchObject({ loadBalancingScheme: 'INTERNAL', protocol: 'TCP' });
    expect((bs['healthChecks'] as string[]).map(last)).toEqual([hc['name']]);
    expect(fr).toMatchObject({ IPAddress: vip, IPProtocol: 'TCP', loadBalancingScheme: 'INTERNAL', ports: ['8080'] });
    expect(last(fr['backendService'])).toBe(bs['name']);
    // Every NEG is a backend of the backend service, in CONNECTION mode, and nothing else is.
    const backends = (bs['backends'] as Res[]).map((b) => `${zoneOf(b['group'])}/${last(b['group'])}`).sort();
    const negs = inv.networkEndpointGroups.map((n) => `${zoneOf(n['selfLink'])}/${String(n['name'])}`).sort();
    expect(backends).toEqual(negs);
    expect((bs['backends'] as Res[]).every((b) => b['balancingMode'] === 'CONNECTION')).toBe(true);
  });

  it('GCE: one GCE_VM_IP NEG per member x zone, holding exactly the nodes that host a ready store pod', () => {
    const expected = want(s.objects);
    expect(actualNegs(s.emulator, members)).toEqual(expected);
    expect(Object.values(expected).reduce((n, z) => n + Object.keys(z).length, 0)).toBe(4); // 2 members x 2 zones in examples/store
    // The example's deliberate non-endpoints stay out: no pod, excluded label, pod not ready.
    const all = Object.values(actualNegs(s.emulator, members)).flatMap((z) => Object.values(z).flat());
    for (const vm of ['member-a-pool-a-2', 'member-a-pool-b-1', 'member-a-pool-b-2']) expect(all).not.toContain(vm);
    for (const n of s.emulator.inventory().networkEndpointGroups) {
      expect(n['networkEndpointType']).toBe('GCE_VM_IP');
      expect(last(n['network'])).toBe(s.gcp.network);
    }
  });

  it('/metrics reports each NEG\'s endpoint count and every member as reachable; /readyz is ready', async () => {
    const ctl = s.controller!;
    expect((await fetch(`${ctl.healthUrl}/readyz`)).status).toBe(200);
    const text = await (await fetch(`${ctl.healthUrl}/metrics`)).text();
    const negs = actualNegs(s.emulator, members);
    for (const zones of Object.values(negs)) {
      for (const [zone, vms] of Object.entries(zones)) {
        const line = text.split('\n').find((l) => l.startsWith('fleetilb_neg_endpoints{') && l.includes(`zone="${zone}"`));
        expect(line, `fleetilb_neg_endpoints for ${zone}`).toBeDefined();
        expect(Number(line!.split(' ').pop())).toBe(vms.length);
      }
    }
    for (const m of members) expect(text).toContain(`fleetilb_member_reachable{member="${m}"} 1`);
    expect(text).toMatch(/fleetilb_gce_calls_total\{[^}]*method="[^"]+"/);
  });

  it('GCE: firewalls admit health-check ranges and the configured clients to the VIP on the members’ node tags', () => {
    const fws = s.emulator.inventory().firewalls;
    const tags = members.map(memberNodeTag).sort();
    for (const f of fws) {
      expect(f['destinationRanges']).toEqual([vip]);
      expect([...(f['targetTags'] as string[])].sort()).toEqual(tags);
      expect(f['allowed']).toEqual([{ IPProtocol: 'tcp', ports: ['8080'] }]);
      expect(f['sourceRanges']).not.toContain('0.0.0.0/0');
    }
    const sources = fws.map((f) => [...(f['sourceRanges'] as string[])].sort());
    expect(sources).toContainEqual(['130.211.0.0/22', '209.85.152.0/22', '209.85.204.0/22', '35.191.0.0/16']);
    const clientRanges = ((s.ilbConfig['spec'] as Res)['firewall'] as { clientSourceRanges: string[] }).clientSourceRanges;
    expect(sources).toContainEqual([...clientRanges].sort());
    expect(fws).toHaveLength(2);
  });

  it('each member has a VIP Service for the exported store Service, with the VIP in its status', async () => {
    for (const m of members) {
      const exported = (s.objects[m] ?? []).find((o): o is ServiceObj => o.kind === 'Service' && o.metadata.name === 'store')!;
      const vipSvcs = (await s.kube(m).list<ServiceObj>('v1', 'Service', { namespace: 'store' })).filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip');
      expect(vipSvcs, m).toHaveLength(1);
      const v = vipSvcs[0]!;
      expect(v.spec).toMatchObject({
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        allocateLoadBalancerNodePorts: false,
        selector: exported.spec?.selector,
      });
      expect(v.spec?.ports?.map((p) => ({ port: p.port, protocol: p.protocol, targetPort: p.targetPort }))).toEqual([
        { port: 8080, protocol: 'TCP', targetPort: exported.spec?.ports?.[0]?.targetPort },
      ]);
      expect(v.status?.loadBalancer?.ingress).toEqual([{ ip: vip, ipMode: 'VIP' }]);
    }
  });

  it('a resync of a converged fleet writes nothing: no GCE call that mutates, no Kubernetes object changed', async () => {
    const versions = async (): Promise<Record<string, string | undefined>> => {
      const out: Record<string, string | undefined> = {};
      const config = s.kube('config');
      out['gateway'] = (await getGateway(config, 'store', 'store'))?.metadata.resourceVersion;
      out['tcproute'] = (await config.get(GATEWAY_API, 'TCPRoute', 'store', 'store'))?.metadata.resourceVersion;
      out['serviceimport'] = (await config.get('multicluster.x-k8s.io/v1beta1', 'ServiceImport', 'store', 'store'))?.metadata.resourceVersion;
      for (const m of members) {
        for (const svc of await s.kube(m).list('v1', 'Service', { namespace: 'store' })) out[`${m}/service/${svc.metadata.name}`] = svc.metadata.resourceVersion;
        out[`${m}/serviceexport`] = (await s.kube(m).get('multicluster.x-k8s.io/v1beta1', 'ServiceExport', 'store', 'store'))?.metadata.resourceVersion;
      }
      return out;
    };
    const before = await versions();
    s.emulator.resetAudit();
    const ctl = s.controller!;
    const reconciles = async (): Promise<number> =>
      (await ctl.metrics.reconcileDuration.get()).values.filter((v) => v.metricName?.endsWith('_count')).reduce((n, v) => n + v.value, 0);
    const depth = async (): Promise<number> => (await ctl.metrics.queueDepth.get()).values.reduce((n, v) => n + v.value, 0);
    const done = await reconciles();
    const stats = await ctl.resyncAll();
    // One list per kind per project/region plus the NEG endpoints: the resync re-read GCE...
    expect(stats.lists, 'the resync re-read GCE').toBeGreaterThan(0);
    expect(s.emulator.audit().filter((e) => e.access !== 'write').length).toBeGreaterThanOrEqual(stats.lists);
    // ...and the workers reconciled both keys (global + the Gateway) against it.
    await waitFor(async () => (await reconciles()) >= done + 2 && (await depth()) === 0, 30_000, 'the resync reconciles');
    const writes = s.emulator.audit().filter((e) => e.access === 'write');
    expect(writes.map((e) => `${e.method} ${e.resource ?? ''}`)).toEqual([]);
    // The per-Gateway reconcile read nothing: every read of this resync was the inventory refresh.
    expect(s.emulator.audit().length).toBe(stats.lists + stats.endpointLists);
    expect(await versions()).toEqual(before);
  });

  it('NEG endpoints follow a pod that moves to another node of the zone', async () => {
    const member = 'member-a';
    const slice = ofKind<SliceObj>(s.objects[member] ?? [], 'EndpointSlice')[0]!;
    // The pod on member-a-pool-a-1 is rescheduled onto member-a-pool-a-2 (which had none).
    const moved: SliceObj = {
      ...slice,
      endpoints: (slice.endpoints ?? []).map((e) => (e.nodeName === 'member-a-pool-a-1' ? { ...e, nodeName: 'member-a-pool-a-2', addresses: ['10.110.5.8'] } : e)),
    };
    await s.kube(member).apply(moved);
    const objects = { ...s.objects, [member]: (s.objects[member] ?? []).map((o) => (o === slice ? moved : o)) };
    const target = want(objects);
    expect(target[member]?.['us-central1-a']).toEqual(['member-a-pool-a-0', 'member-a-pool-a-2']);
    await waitFor(() => same(actualNegs(s.emulator, members), target), 30_000, 'NEG endpoints to follow the moved pod');
    // Nothing else was replaced: same forwarding rule, same VIP.
    expect(s.emulator.inventory().forwardingRules.map((f) => f['IPAddress'])).toEqual([vip]);
    await s.kube(member).apply(slice);
    await waitFor(() => same(actualNegs(s.emulator, members), want(s.objects)), 30_000, 'NEG endpoints to move back');
  });

  it('GatewayClass: SupportedVersion=True for the installed CRD bundle; a bundle older than v1.6 is UnsupportedVersion (and Accepted=False), fixed again when upgraded', async () => {
    const config = s.kube('config');
    const crdApi = 'apiextensions.k8s.io/v1';
    const crd = 'gateways.gateway.networking.k8s.io';
    const installed = (await config.get(crdApi, 'CustomResourceDefinition', crd))?.metadata.annotations?.['gateway.networking.k8s.io/bundle-version'];
    expect(installed).toMatch(/^v1\.\d+\.\d+$/);
    const classCond = async (type: string): Promise<{ status?: string; reason?: string; message?: string } | undefined> =>
      ((await config.get<KObject & { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } }>(GATEWAY_API, 'GatewayClass', 'fleet-ilb'))?.status?.conditions ?? []).find((c) => c.type === type);
    await waitFor(async () => (await classCond('SupportedVersion'))?.status === 'True', 30_000, 'SupportedVersion=True');
    expect(await classCond('SupportedVersion')).toMatchObject({ reason: 'SupportedVersion', message: `Gateway API CRD bundle ${installed ?? ''} is supported` });
    const setBundle = (v: string): Promise<KObject> => config.mergePatch({ apiVersion: crdApi, kind: 'CustomResourceDefinition', name: crd }, { metadata: { annotations: { 'gateway.networking.k8s.io/bundle-version': v } } });
    try {
      // Gateway API's own safe-upgrades admission policy refuses released bundles before v1.5, so an
      // old release candidate stands for a cluster with CRDs fleet-ilb does not support.
      await setBundle('v1.5.0-rc.1');
      await waitFor(async () => (await classCond('SupportedVersion'))?.status === 'False', 30_000, 'SupportedVersion=False');
      expect(await classCond('SupportedVersion')).toMatchObject({ reason: 'UnsupportedVersion' });
      expect(await classCond('Accepted')).toMatchObject({ status: 'False', reason: 'UnsupportedVersion' });
    } finally {
      await setBundle(installed ?? 'v1.6.3');
    }
    await waitFor(async () => (await classCond('SupportedVersion'))?.status === 'True' && (await classCond('Accepted'))?.status === 'True', 30_000, 'SupportedVersion=True again');
  });

  it('a GatewayClass in use keeps gateway-exists-finalizer: deleting it tears nothing down, the Gateway stays Programmed and GCE sees no write', async () => {
    const config = s.kube('config');
    const ctl = s.controller!;
    const finalizers = async (): Promise<string[]> => (await config.get(GATEWAY_API, 'GatewayClass', 'fleet-ilb'))?.metadata.finalizers ?? [];
    await waitFor(async () => (await finalizers()).includes(CLASS_FINALIZER), 30_000, 'the GatewayClass finalizer');
    const inventoryBefore = JSON.stringify(s.emulator.inventory());
    const outcomeBefore = ctl.reconciler.outcomes.get('store/store');
    s.emulator.resetAudit();
    await config.delete(GATEWAY_API, 'GatewayClass', 'fleet-ilb');
    const gc = await config.get(GATEWAY_API, 'GatewayClass', 'fleet-ilb');
    expect(gc?.metadata.deletionTimestamp, 'the class waits for its Gateways').toBeDefined();
    // The class change re-reconciles every Gateway: wait for the store Gateway's next outcome.
    await waitFor(() => ctl.reconciler.outcomes.get('store/store') !== outcomeBefore, 30_000, 'the Gateway reconciled after the class deletion');
    expect(ctl.reconciler.outcomes.get('store/store')).toMatchObject({ gceWrites: 0 });
    expect(s.emulator.audit().filter((e) => e.access === 'write').map((e) => `${e.method} ${e.resource ?? e.path}`)).toEqual([]);
    expect(JSON.stringify(s.emulator.inventory())).toBe(inventoryBefore);
    expect(gatewayCondition(await getGateway(config, 'store', 'store'), 'Programmed')?.status).toBe('True');
  });

  it('a second Gateway to the same ServiceImport on the same port shares its NEGs and health check (no NEG or health-check write); deleting it leaves them to store', async () => {
    const config = s.kube('config');
    const hcsBefore = JSON.stringify(s.emulator.inventory().healthChecks);
    const negsBefore = JSON.stringify(s.emulator.inventory().networkEndpointGroups.map((n) => n['selfLink']).sort());
    const storeNegs = actualNegs(s.emulator, members);
    s.emulator.resetAudit();
    await config.apply({
      apiVersion: GATEWAY_API,
      kind: 'Gateway',
      metadata: { name: 'store-admin', namespace: 'store' },
      spec: { gatewayClassName: 'fleet-ilb', listeners: [{ name: 'admin', protocol: 'TCP', port: 8080, allowedRoutes: { kinds: [{ kind: 'TCPRoute' }] } }] },
    });
    await config.apply({
      apiVersion: GATEWAY_API,
      kind: 'TCPRoute',
      metadata: { name: 'store-admin', namespace: 'store' },
      spec: { parentRefs: [{ name: 'store-admin', sectionName: 'admin' }], rules: [{ backendRefs: [{ group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name: 'store', port: 8080 }] }] },
    });
    await waitGatewayCondition(config, 'store', 'store-admin', 'Programmed', CONVERGE_MS);
    const bsOf = (gateway: string): Res | undefined =>
      s.emulator.inventory().backendServices.find((b) => (typeof b['description'] === 'string' ? b['description'] : '').includes(`"gateway":"store/${gateway}"`));
    const backends = (b: Res | undefined): string[] => ((b?.['backends'] as Res[] | undefined) ?? []).map((x) => String(x['group'])).sort();
    await waitFor(() => backends(bsOf('store-admin')).length === 4, CONVERGE_MS, 'the second backend service to hold the NEGs');
    // Same NEGs (a GCE_VM_IP NEG holds the node VMs, no port: the same backends need the same NEGs).
    expect(backends(bsOf('store-admin'))).toEqual(backends(bsOf('store')));
    expect(JSON.stringify(s.emulator.inventory().networkEndpointGroups.map((n) => n['selfLink']).sort())).toBe(negsBefore);
    const negWrites = s.emulator.audit().filter((e) => e.access === 'write' && /networkEndpointGroups/.test(e.path));
    expect(negWrites.map((e) => e.method)).toEqual([]);
    // The same check too (a TCP check of the listener port, probed at each forwarding rule's IP).
    const hcOf = (b: Res | undefined): unknown => (b?.['healthChecks'] as unknown[] | undefined)?.[0];
    expect(hcOf(bsOf('store-admin'))).toBeDefined();
    expect(hcOf(bsOf('store-admin'))).toEqual(hcOf(bsOf('store')));
    expect(s.emulator.audit().filter((e) => e.access === 'write' && /healthChecks/.test(e.path)).map((e) => e.method)).toEqual([]);

    s.emulator.resetAudit();
    await config.delete(GATEWAY_API, 'TCPRoute', 'store-admin', 'store');
    await config.delete(GATEWAY_API, 'Gateway', 'store-admin', 'store');
    await waitFor(async () => (await getGateway(config, 'store', 'store-admin')) === undefined, CONVERGE_MS, 'store-admin to be gone');
    // Its own resources went; the NEGs store uses stayed, untouched, with the same endpoints.
    expect(bsOf('store-admin')).toBeUndefined();
    expect(s.emulator.audit().filter((e) => e.access === 'write' && /networkEndpointGroups/.test(e.path)).map((e) => e.method)).toEqual([]);
    expect(actualNegs(s.emulator, members)).toEqual(storeNegs);
    expect(JSON.stringify(s.emulator.inventory().healthChecks)).toBe(hcsBefore);
    expect(backends(bsOf('store'))).toHaveLength(4);
    expect(gatewayCondition(await getGateway(config, 'store', 'store'), 'Programmed')?.status).toBe('True');
  });

  it('deleting the Gateway removes every GCE resource and VIP Service it owned, then the Gateway (and the class it held)', async () => {
    await s.kube('config').delete(GATEWAY_API, 'Gateway', 'store', 'store');
    await waitFor(async () => (await getGateway(s.kube('config'), 'store', 'store')) === undefined, CONVERGE_MS, 'the Gateway to be gone (finalizer removed)');
    const inv = s.emulator.inventory();
    for (const kind of ['addresses', 'healthChecks', 'backendServices', 'forwardingRules', 'networkEndpointGroups', 'firewalls'] as const) {
      expect(inv[kind].map((r) => r['name']), kind).toEqual([]);
    }
    expect(inv.instances.length).toBeGreaterThan(0); // the VMs are not the controller's
    for (const m of members) {
      const svcs = await s.kube(m).list<ServiceObj>('v1', 'Service', { namespace: 'store' });
      expect(svcs.filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip'), m).toEqual([]);
      expect(svcs.map((x) => x.metadata.name), m).toContain('store'); // the app's own Service stays
    }
    // The class deleted by the previous test goes once no Gateway names it.
    await waitFor(async () => (await s.kube('config').get(GATEWAY_API, 'GatewayClass', 'fleet-ilb')) === undefined, 30_000, 'the GatewayClass to be gone');
  });
});
