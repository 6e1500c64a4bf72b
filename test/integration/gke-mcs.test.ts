// SPDX-License-Identifier: Apache-2.0
//
// A GKE MCS fleet: GKE's multi-cluster Gateway "store" tutorial translated to L4
// (examples/gke-store: members west and east; Services store, store-west-1, store-east-1 exported
// with GKE's net.gke.io/v1 ServiceExports exactly as the tutorial writes them; one Gateway with three
// TCP listeners, each TCPRoute to a net.gke.io ServiceImport). The local fleet serves GKE's MCS CRDs
// in their shape (test/harness/crds.ts); no GKE importer runs, so no net.gke.io ServiceImport exists.
// Asserted is what a user checks: Gateway, listeners and routes green for their generation, and the
// GCE resources and VIP Services actually there (a green Gateway with no NEG was the bug this
// guards against), exports counted on the FleetMembers, and that a member serving no MCS CRD at all
// is not frozen for it. Members use deploy/member's identity (RBAC M7 reads GKE's exports).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayCondition, getGateway, listenerCondition, routeCondition, waitGatewayCondition, GATEWAY_API, type Condition, type GatewayObject, type RouteObject } from '../fixtures/conditions.ts';
import { actualNegs, expectedNegs, lastSegment } from '../fixtures/expect.ts';
import { applyObjects, waitFor, type KObject } from '../fixtures/kube.ts';
import { FLEETILB_API, waitMembersReady, type FleetMemberObject } from '../fixtures/members.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';

const CONVERGE_MS = 90_000;
const NS = 'store';
const MCS = 'multicluster.x-k8s.io/v1beta1';
const GKE = 'net.gke.io/v1';
const SERVING = 'fleetilb.io/BackendsServing';

/** Listener -> (backend Service, members that export it) as the tutorial deploys them. */
const LISTENERS: Record<string, { port: number; service: string; members: string[] }> = {
  store: { port: 8080, service: 'store', members: ['east', 'west'] },
  'store-west-1': { port: 8081, service: 'store-west-1', members: ['west'] },
  'store-east-1': { port: 8082, service: 'store-east-1', members: ['east'] },
};

interface ServiceObj extends KObject {
  spec?: { loadBalancerClass?: string; selector?: Record<string, string>; ports?: Array<{ port: number }> };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string }> } };
}
type Res = Record<string, unknown>;

describe('GKE MCS fleet: the GKE store tutorial (net.gke.io exports) on fleet-ilb', () => {
  let s: Scenario;
  let gw: GatewayObject;
  let vip: string;

  beforeAll(async () => {
    s = await startScenario({ example: 'gke-store', gkeMcs: true, memberIdentity: 'least-privilege' });
    gw = await waitGatewayCondition(s.kube('config'), NS, 'store', 'Programmed', CONVERGE_MS);
    vip = gw.status?.addresses?.[0]?.value ?? '';
    // Programmed needs the forwarding rules; the NEGs of all three listeners carry their nodes once
    // every member's data has been read.
    await waitFor(() => s.emulator.inventory().forwardingRules.length === 3, 30_000, 'three forwarding rules');
    // Programmed=True needs no route (a listener without one has its forwarding rule too): wait until
    // every route attached, and assert on that Gateway.
    await waitFor(
      async () => {
        const now = await getGateway(s.kube('config'), NS, 'store');
        if (!Object.keys(LISTENERS).every((l) => now?.status?.listeners?.find((x) => x.name === l)?.attachedRoutes === 1)) return undefined;
        gw = now!;
        return now;
      },
      CONVERGE_MS,
      'the three TCPRoutes to attach',
    );
  });

  afterAll(async () => {
    await s?.stop();
  });

  it('the fleet is the tutorial’s: members west and east, exports are net.gke.io/v1, and no net.gke.io ServiceImport exists', async () => {
    expect(s.fleet.members.map((m) => m.name).sort()).toEqual(['east', 'west']);
    for (const m of ['west', 'east']) {
      const exports = await s.kube(m).list(GKE, 'ServiceExport', { namespace: NS });
      expect(exports.map((e) => e.metadata.name).sort(), m).toEqual(['store', `store-${m}-1`]);
      expect(await s.kube(m).list(MCS, 'ServiceExport', { namespace: NS }), m).toEqual([]);
    }
    expect(await s.kube('config').list(GKE, 'ServiceImport', { namespace: NS })).toEqual([]);
  });

  it('Gateway, its three listeners and the three TCPRoutes are green for their generation', async () => {
    for (const type of ['Accepted', 'Programmed']) {
      expect(gatewayCondition(gw, type), type).toMatchObject({ status: 'True', observedGeneration: gw.metadata.generation });
    }
    for (const l of Object.keys(LISTENERS)) {
      for (const type of ['Accepted', 'Programmed', 'ResolvedRefs']) expect(listenerCondition(gw, l, type)?.status, `${l} ${type}`).toBe('True');
      expect(gw.status?.listeners?.find((x) => x.name === l)?.attachedRoutes, l).toBe(1);
      const route = await s.kube('config').get<RouteObject>(GATEWAY_API, 'TCPRoute', l, NS);
      expect(routeCondition(route, `${NS}/store`, 'Accepted'), l).toMatchObject({ status: 'True' });
      expect(routeCondition(route, `${NS}/store`, 'ResolvedRefs'), l).toMatchObject({ status: 'True', reason: 'ResolvedRefs' });
    }
  });

  it('GCE: per listener a forwarding rule on the VIP whose backend service holds exactly the NEGs of the members that export its service, with the nodes that run it', () => {
    const inv = s.emulator.inventory();
    expect(inv.addresses).toHaveLength(1);
    for (const [l, want] of Object.entries(LISTENERS)) {
      const fr = inv.forwardingRules.find((f) => (f['ports'] as string[]).includes(String(want.port)));
      expect(fr, l).toBeDefined();
      expect(fr!['IPAddress']).toBe(vip);
      const bs = inv.backendServices.find((b) => b['name'] === lastSegment(fr!['backendService']));
      expect(bs, l).toBeDefined();
      const groups = new Set(((bs!['backends'] as Res[] | undefined) ?? []).map((b) => lastSegment(b['group'])));
      const negs = actualNegs(s.emulator, ['east', 'west'], (n) => groups.has(String(n['name'])));
      const expected = expectedNegs(s.objects, want.members, NS, want.service);
      for (const m of ['east', 'west']) {
        if (want.members.includes(m)) expect(negs[m], `${l} in ${m}`).toEqual(expected[m]);
        else expect(negs[m], `${l} has no NEG in ${m}`).toEqual({});
      }
      // Every member that serves the listener has at least one node in its NEGs.
      for (const m of want.members) expect(Object.values(negs[m] ?? {}).flat().length, `${l} endpoints in ${m}`).toBeGreaterThan(0);
    }
  });

  it('each member has a VIP Service for each service it exports, carrying the VIP', async () => {
    for (const m of ['west', 'east']) {
      await waitFor(
        async () => (await s.kube(m).list<ServiceObj>('v1', 'Service', { namespace: NS })).filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip' && (x.status?.loadBalancer?.ingress ?? []).some((i) => i.ip === vip)).length === 2,
        30_000,
        `two VIP Services with the VIP in ${m}`,
      );
      const vipSvcs = (await s.kube(m).list<ServiceObj>('v1', 'Service', { namespace: NS })).filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip');
      const ports = vipSvcs.map((v) => v.spec?.ports?.map((p) => p.port)).flat().sort();
      expect(ports, m).toEqual(m === 'west' ? [8080, 8081] : [8080, 8082]);
    }
  });

  it('fleet-ilb maintains the multicluster.x-k8s.io ServiceImports and writes nothing on GKE’s exports', async () => {
    for (const [name, clusters] of [['store', ['east', 'west']], ['store-west-1', ['west']], ['store-east-1', ['east']]] as const) {
      const si = await s.kube('config').get<KObject & { status?: { clusters?: Array<{ cluster: string }> } }>(MCS, 'ServiceImport', name, NS);
      expect(si?.metadata.labels?.['fleetilb.io/managed-by'], name).toBe('fleet-ilb');
      expect(si?.status?.clusters?.map((c) => c.cluster).sort(), name).toEqual([...clusters]);
    }
    for (const m of ['west', 'east']) {
      for (const e of await s.kube(m).list<KObject & { status?: { conditions?: Condition[] } }>(GKE, 'ServiceExport', { namespace: NS })) {
        expect(e.status?.conditions ?? [], `${m} ${e.metadata.name}`).toEqual([]);
      }
    }
  });

  it('FleetMembers are Ready and count their GKE exports', async () => {
    const fms = await waitMembersReady(s.fleet, ['east', 'west'], 30_000);
    for (const fm of fms) expect(fm.status?.exportCount, fm.metadata.name).toBe(2);
  });

  it('every listener has somewhere to send traffic: fleetilb.io/BackendsServing=True on the Gateway and each route', async () => {
    const g = await waitGatewayCondition(s.kube('config'), NS, 'store', SERVING, 30_000);
    expect(gatewayCondition(g, SERVING)).toMatchObject({ status: 'True', reason: 'BackendsServing' });
    for (const l of Object.keys(LISTENERS)) {
      const route = await s.kube('config').get<RouteObject>(GATEWAY_API, 'TCPRoute', l, NS);
      expect(routeCondition(route, `${NS}/store`, SERVING), l).toMatchObject({ status: 'True', reason: 'BackendsServing' });
    }
  });

  it('never green when nothing serves: no ready endpoint, then no exporting member, each named on the route, the Gateway and in an Event; fixed, green again', async () => {
    const config = s.kube('config');
    const west = s.kube('west');
    const routeServing = async (name: string): Promise<Condition | undefined> =>
      routeCondition(await config.get<RouteObject>(GATEWAY_API, 'TCPRoute', name, NS), `${NS}/store`, SERVING);
    const events = async (reason: string): Promise<Array<KObject & { note?: string }>> =>
      (await config.list<KObject & { reason?: string; note?: string; regarding?: { kind?: string; name?: string } }>('events.k8s.io/v1', 'Event', { namespace: NS })).filter(
        (e) => e.reason === reason && e.regarding?.kind === 'Gateway' && e.regarding.name === 'store',
      );

    // 1. store-west-1's only pods stop being ready: its NEG would be empty.
    const slice = (s.objects['west'] ?? []).find((o) => o.kind === 'EndpointSlice' && o.metadata.name === 'store-west-1-west')!;
    await west.delete('discovery.k8s.io/v1', 'EndpointSlice', 'store-west-1-west', NS);
    let g = await waitGatewayCondition(config, NS, 'store', SERVING, 30_000, 'False');
    expect(gatewayCondition(g, SERVING)).toMatchObject({ reason: 'NoEndpoints' });
    expect(gatewayCondition(g, SERVING)?.message).toContain('store-west-1');
    expect(gatewayCondition(g, 'Programmed')?.status).toBe('True'); // the load balancer itself is there
    expect(await routeServing('store-west-1')).toMatchObject({ status: 'False', reason: 'NoEndpoints' });
    expect(await routeServing('store')).toMatchObject({ status: 'True' });
    await waitFor(async () => (await events('NoEndpoints')).length > 0, 15_000, 'a NoEndpoints Event on the Gateway');
    await applyObjects(west, [slice]);
    await waitGatewayCondition(config, NS, 'store', SERVING, 30_000);

    // 2. The tutorial's situation seen from GKE: GKE's importer left its ServiceImport, but no member
    //    exports store-west-1 any more (the Service is still there).
    const exp = (await west.get(GKE, 'ServiceExport', 'store-west-1', NS))!;
    await config.apply({ apiVersion: GKE, kind: 'ServiceImport', metadata: { name: 'store-west-1', namespace: NS }, spec: { type: 'ClusterSetIP', ports: [{ port: 8080, protocol: 'TCP' }] } });
    await west.delete(GKE, 'ServiceExport', 'store-west-1', NS);
    g = await waitGatewayCondition(config, NS, 'store', SERVING, 30_000, 'False');
    const c = gatewayCondition(g, SERVING);
    expect(c).toMatchObject({ reason: 'NoServingClusters' });
    expect(c?.message).toContain('no member cluster exports store/store-west-1');
    expect(c?.message).toContain('Service store/store-west-1 exists in west without a ServiceExport');
    expect(await routeServing('store-west-1')).toMatchObject({ status: 'False', reason: 'NoServingClusters' });
    const route = await config.get<RouteObject>(GATEWAY_API, 'TCPRoute', 'store-west-1', NS);
    expect(routeCondition(route, `${NS}/store`, 'ResolvedRefs')?.status).toBe('True'); // the name resolves: only fleet-ilb's condition tells
    await waitFor(async () => (await events('NoServingClusters')).some((e) => (e.note ?? '').includes('store-west-1')), 15_000, 'a NoServingClusters Event');
    // Fixed: exported again (and GKE's import is gone), green again within seconds.
    await west.apply({ apiVersion: GKE, kind: 'ServiceExport', metadata: { name: exp.metadata.name, namespace: NS } });
    await config.delete(GKE, 'ServiceImport', 'store-west-1', NS);
    await waitGatewayCondition(config, NS, 'store', SERVING, 30_000);
    expect(await routeServing('store-west-1')).toMatchObject({ status: 'True' });
  });

  it('a member that serves no MCS CRD at all is not frozen for it: Ready, zero exports, the others unaffected', async () => {
    const west = s.kube('west');
    // Both ServiceExport CRDs go (their objects with them).
    for (const crd of ['serviceexports.net.gke.io', 'serviceexports.multicluster.x-k8s.io']) await west.delete('apiextensions.k8s.io/v1', 'CustomResourceDefinition', crd);
    await waitFor(
      async () => {
        const fm = await s.kube('config').get<FleetMemberObject>(FLEETILB_API, 'FleetMember', 'west');
        return fm?.status?.exportCount === 0;
      },
      30_000,
      'FleetMember west counts no export',
    );
    const fm = await s.kube('config').get<FleetMemberObject>(FLEETILB_API, 'FleetMember', 'west');
    expect(fm?.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
    const g = await waitGatewayCondition(s.kube('config'), NS, 'store', 'Programmed', 30_000);
    expect(gatewayCondition(g, 'fleetilb.io/MembersReachable')?.status).toBe('True');
    // east still serves store and store-east-1.
    const si = await s.kube('config').get<KObject & { status?: { clusters?: Array<{ cluster: string }> } }>(MCS, 'ServiceImport', 'store', NS);
    expect(si?.status?.clusters?.map((c) => c.cluster)).toEqual(['east']);
  });
});
