// SPDX-License-Identifier: Apache-2.0
//
// HealthCheckPolicy end to end (docs/policy.md): real kube-apiservers (config + member-a + member-b,
// the store example), the Compute API emulator and the controller in this process. A user writes a
// policy on the ServiceImport and sees the GCE health check change (type, port through the VIP
// Service's `health` port, path, timing), the policy Accepted for the Gateway, a newer policy on the
// same target Conflicted; then failover clusters: the backend service holds member-a's NEGs only,
// member-b's when member-a's pods stop being ready, and member-a's again when they come back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitGatewayCondition } from '../fixtures/conditions.ts';
import { actualNegs, backendsOf, lastSegment, type NegView } from '../fixtures/expect.ts';
import { ofKind } from '../fixtures/example.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import { FLEETILB_API } from '../fixtures/members.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';

const CONVERGE_MS = 60_000;
type Res = Record<string, unknown>;

interface PolicyObj extends KObject {
  status?: { ancestors?: Array<{ ancestorRef: { name: string; namespace?: string; kind?: string }; controllerName: string; conditions: Array<{ type: string; status: string; reason: string; message: string }> }> };
}
interface SliceObj extends KObject {
  endpoints?: Array<{ conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean } }>;
}

function policy(name: string, d: Record<string, unknown>): KObject {
  return {
    apiVersion: FLEETILB_API,
    kind: 'HealthCheckPolicy',
    metadata: { name, namespace: 'store' },
    spec: { targetRefs: [{ group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name: 'store' }], default: d },
  };
}

describe('HealthCheckPolicy: the health check and cross-cluster failover of the store Gateway', () => {
  let s: Scenario;
  let members: string[];

  const bs = (): Res | undefined => s.emulator.inventory().backendServices.find((b) => String(b['name']).includes('store-store'));
  const hc = (): Res | undefined => {
    const link = ((bs()?.['healthChecks'] ?? []) as string[])[0];
    return s.emulator.inventory().healthChecks.find((h) => h['name'] === lastSegment(link));
  };
  const attached = (): NegView => actualNegs(s.emulator, members, backendsOf(s.emulator, (bs()?.['name'] as string | undefined) ?? ''));
  const clustersAttached = (): string[] => Object.entries(attached()).filter(([, zones]) => Object.keys(zones).length > 0).map(([m]) => m).sort();
  const accepted = async (name: string): Promise<{ status: string; reason: string; message: string } | undefined> => {
    const p = await s.kube('config').get<PolicyObj>(FLEETILB_API, 'HealthCheckPolicy', name, 'store');
    const a = p?.status?.ancestors?.find((x) => x.controllerName === 'fleetilb.io/gateway-controller' && x.ancestorRef.name === 'store');
    return a?.conditions.find((c) => c.type === 'Accepted');
  };
  /** Sets every endpoint of the example's store EndpointSlices in `member` ready or not (the local fleet has no kubelet). */
  const setReady = async (member: string, ready: boolean): Promise<void> => {
    for (const slice of ofKind<SliceObj>(s.objects[member] ?? [], 'EndpointSlice')) {
      const endpoints = (slice.endpoints ?? []).map((e) => ({ ...e, conditions: { ready, serving: ready, terminating: false } }));
      await s.kube(member).apply({ ...slice, endpoints });
    }
  };

  beforeAll(async () => {
    s = await startScenario();
    members = s.fleet.members.map((m) => m.name);
    await waitGatewayCondition(s.kube('config'), 'store', 'store', 'Programmed', CONVERGE_MS);
    await waitFor(() => clustersAttached().length === 2, CONVERGE_MS, 'both members on the backend service');
  });

  afterAll(async () => {
    await s?.stop();
  });

  it('without a policy: TCP on the serving port with the ILBConfig timing', () => {
    expect(hc()).toMatchObject({ type: 'TCP', tcpHealthCheck: { port: 8080 }, checkIntervalSec: 5, timeoutSec: 5, healthyThreshold: 2, unhealthyThreshold: 2 });
  });

  it('a policy on the ServiceImport changes the GCE health check: HTTP /ready on the pods\' port "tcp" through the VIP Service, timing 3/2/3/4; Accepted', async () => {
    const t0 = performance.now();
    await s.kube('config').apply(
      policy('store-hc', { checkIntervalSec: 3, timeoutSec: 2, healthyThreshold: 3, unhealthyThreshold: 4, config: { type: 'HTTP', httpHealthCheck: { portName: 'tcp', requestPath: '/ready' } } }),
    );
    const h = await waitFor(() => (hc()?.['type'] === 'HTTP' ? hc() : undefined), CONVERGE_MS, 'the HTTP health check');
    console.log(`policy applied -> GCE health check HTTP: ${Math.round(performance.now() - t0)} ms`);
    const http = h['httpHealthCheck'] as Res;
    expect(h).toMatchObject({ checkIntervalSec: 3, timeoutSec: 2, healthyThreshold: 3, unhealthyThreshold: 4 });
    expect(http['requestPath']).toBe('/ready');
    const port = Number(http['port']);
    expect(port).not.toBe(8080);
    // Every member's VIP Service translates VIP:port to the pods' port "tcp" (the probe's path). The
    // same reconcile writes it after the GCE steps (apply's member writes), so it may land a moment later.
    for (const m of members) {
      const health = await waitFor(
        async () => {
          const vipSvcs = (await s.kube(m).list<KObject & { spec?: { loadBalancerClass?: string; ports?: Array<{ name?: string; port: number; targetPort?: unknown }> } }>('v1', 'Service', { namespace: 'store' })).filter(
            (x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip',
          );
          return vipSvcs.flatMap((x) => x.spec?.ports ?? []).find((p) => p.name === 'health');
        },
        CONVERGE_MS,
        `${m}'s VIP Service health port`,
      );
      expect(health, m).toMatchObject({ port, targetPort: 'tcp' });
    }
    // The health-check firewall opens that port (not the serving port) to GCE's probe ranges.
    await waitFor(() => s.emulator.inventory().firewalls.some((f) => JSON.stringify(f['allowed']).includes(`"${port}"`)), CONVERGE_MS, 'the firewall for the health port');
    await waitFor(async () => (await accepted('store-hc'))?.status === 'True', CONVERGE_MS, 'store-hc Accepted');
    expect(await accepted('store-hc')).toMatchObject({ reason: 'Accepted' });
  });

  it('a newer policy on the same ServiceImport is Conflicted and changes nothing', async () => {
    const before = JSON.stringify(hc());
    await s.kube('config').apply(policy('store-hc-newer', { checkIntervalSec: 9, timeoutSec: 9 }));
    const c = await waitFor(async () => ((await accepted('store-hc-newer'))?.status === 'False' ? accepted('store-hc-newer') : undefined), CONVERGE_MS, 'store-hc-newer Conflicted');
    expect(c).toMatchObject({ reason: 'Conflicted' });
    expect(c.message).toContain('store/store-hc');
    expect(JSON.stringify(hc())).toBe(before);
    await s.kube('config').delete(FLEETILB_API, 'HealthCheckPolicy', 'store-hc-newer', 'store');
  });

  it('changing the policy back to TCP without a port: TCP on the serving port again, no health port on the VIP Services', async () => {
    await s.kube('config').apply(policy('store-hc', { config: { type: 'TCP' } }));
    await waitFor(() => hc()?.['type'] === 'TCP' && (hc()?.['tcpHealthCheck'] as Res)['port'] === 8080, CONVERGE_MS, 'TCP on 8080');
    expect(hc()).toMatchObject({ checkIntervalSec: 5, timeoutSec: 5, healthyThreshold: 2, unhealthyThreshold: 2 });
    await waitFor(
      async () => {
        const ports = (await s.kube('member-a').list<KObject & { spec?: { ports?: Array<{ name?: string }>; loadBalancerClass?: string } }>('v1', 'Service', { namespace: 'store' }))
          .filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip')
          .flatMap((x) => x.spec?.ports ?? []);
        return ports.length > 0 && ports.every((p) => p.name !== 'health');
      },
      CONVERGE_MS,
      'the health port gone',
    );
  });

  it('failover: member-b serves only while member-a has no ready endpoint, and member-a again when its pods are back', async () => {
    await s.kube('config').apply(policy('store-hc', { config: { type: 'TCP' }, failover: { primaryClusters: ['member-a'], failoverClusters: ['member-b'] } }));
    await waitFor(() => JSON.stringify(clustersAttached()) === '["member-a"]', CONVERGE_MS, 'member-a only (primary)');
    // member-b's NEGs exist and are kept in sync while not on the backend service.
    const all = actualNegs(s.emulator, members);
    expect(Object.values(all['member-b'] ?? {}).flat().length).toBeGreaterThan(0);

    let t0 = performance.now();
    await setReady('member-a', false);
    await waitFor(() => JSON.stringify(clustersAttached()) === '["member-b"]', CONVERGE_MS, 'member-b only (failed over)');
    console.log(`member-a not ready -> backend service on member-b: ${Math.round(performance.now() - t0)} ms`);

    t0 = performance.now();
    await setReady('member-a', true);
    await waitFor(() => JSON.stringify(clustersAttached()) === '["member-a"]', CONVERGE_MS, 'member-a again (failback)');
    console.log(`member-a ready -> backend service on member-a: ${Math.round(performance.now() - t0)} ms`);
    expect(await accepted('store-hc')).toMatchObject({ status: 'True', reason: 'Accepted' });
  });

  it('dropTrafficIfUnhealthy: with no ready endpoint anywhere the backend service holds no NEG; without the policy both members serve', async () => {
    await s.kube('config').apply(policy('store-hc', { failover: { failoverClusters: ['member-b'], dropTrafficIfUnhealthy: true } }));
    await Promise.all(members.map((m) => setReady(m, false)));
    await waitFor(() => clustersAttached().length === 0 && ((bs()?.['backends'] ?? []) as unknown[]).length === 0, CONVERGE_MS, 'no backend');
    await Promise.all(members.map((m) => setReady(m, true)));
    await s.kube('config').delete(FLEETILB_API, 'HealthCheckPolicy', 'store-hc', 'store');
    await waitFor(() => clustersAttached().length === 2, CONVERGE_MS, 'both members again');
    expect(hc()).toMatchObject({ type: 'TCP', tcpHealthCheck: { port: 8080 }, checkIntervalSec: 5 });
  });
});
