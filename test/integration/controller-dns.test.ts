// SPDX-License-Identifier: Apache-2.0
//
// The dns example end to end: UDP/53 and TCP/53 of one app in two members behind one VIP the Gateway
// asks for (spec.addresses). What a user checks: the requested VIP in status, two forwarding rules
// sharing that address, per protocol a backend service whose NEGs hold exactly the nodes hosting a
// ready dns pod, the UDP listener health-checked over TCP on VIP:P, the VIP Services' port `health`
// (P = their healthCheckNodePort, the same in every member) that maps to the pods' port named by the
// Services' fleetilb.io/health-check-port annotation (GCE has no UDP check; translate/DECISIONS.md 8),
// the TCP one on TCP/53.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayCondition, getGateway, listenerCondition, waitGatewayCondition, type GatewayObject } from '../fixtures/conditions.ts';
import { ofKind } from '../fixtures/example.ts';
import { actualNegs, backendsOf, expectedNegs, lastSegment } from '../fixtures/expect.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';

interface ServiceObj extends KObject {
  spec?: { loadBalancerClass?: string; healthCheckNodePort?: number; ports?: Array<{ port: number; protocol?: string; targetPort?: number | string }> };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string; ipMode?: string }> } };
}
type Res = Record<string, unknown>;

describe('dns example: UDP and TCP on one requested VIP', () => {
  let s: Scenario;
  let members: string[];
  let gw: GatewayObject;
  let requested: string;

  beforeAll(async () => {
    s = await startScenario({ example: 'dns' });
    members = s.fleet.members.map((m) => m.name);
    const spec = ofKind<KObject & { spec: { addresses: Array<{ value: string }> } }>(s.objects['config'] ?? [], 'Gateway')[0]!.spec;
    requested = spec.addresses[0]!.value;
    await waitGatewayCondition(s.kube('config'), 'dns', 'dns', 'Programmed', 90_000);
    // Programmed=True needs no route: wait for every listener's route to attach (what a user
    // checks), then for the member side, before asserting on the converged state.
    gw = await waitFor(
      async () => {
        const g = await getGateway(s.kube('config'), 'dns', 'dns');
        const ls = g?.status?.listeners ?? [];
        return ls.length > 0 && ls.every((l) => (l.attachedRoutes ?? 0) >= 1) ? g : undefined;
      },
      90_000,
      'every listener to attach its route',
    );
    await waitFor(
      async () => {
        for (const m of members) {
          const vips = (await s.kube(m).list<ServiceObj>('v1', 'Service')).filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip');
          if (vips.length === 0 || vips.some((v) => (v.status?.loadBalancer?.ingress ?? []).length === 0)) return false;
        }
        return true;
      },
      90_000,
      'the VIP Services with the VIP in their status',
    );
  });

  afterAll(async () => {
    await s?.stop();
  });

  it('the Gateway is Programmed on the requested address, both listeners too', () => {
    expect(gatewayCondition(gw, 'Accepted')?.status).toBe('True');
    expect(gw.status?.addresses).toEqual([{ type: 'IPAddress', value: requested }]);
    for (const l of ['dns-udp', 'dns-tcp']) {
      expect(listenerCondition(gw, l, 'Programmed')?.status, l).toBe('True');
      expect(listenerCondition(gw, l, 'Conflicted')?.status, l).toBe('False');
    }
  });

  it('one shared address; a forwarding rule per protocol on it', () => {
    const inv = s.emulator.inventory();
    expect(inv.addresses.map((a) => [a['address'], a['purpose']])).toEqual([[requested, 'SHARED_LOADBALANCER_VIP']]);
    const frs = inv.forwardingRules.map((f) => [f['IPProtocol'], f['IPAddress'], f['ports']]).sort();
    expect(frs).toEqual([
      ['TCP', requested, ['53']],
      ['UDP', requested, ['53']],
    ]);
  });

  it('per protocol, the backend service NEGs hold exactly the nodes that host a ready dns pod', () => {
    const want = expectedNegs(s.objects, members, 'dns', 'dns');
    const inv = s.emulator.inventory();
    for (const proto of ['TCP', 'UDP']) {
      const bs = inv.backendServices.find((b) => b['protocol'] === proto);
      expect(bs, proto).toBeDefined();
      expect(actualNegs(s.emulator, members, backendsOf(s.emulator, String(bs!['name']))), proto).toEqual(want);
    }
    // Different nodes than examples/store uses: the dns pods run on pool-a-2 and pool-b-0 in member-a.
    expect(want['member-a']).toEqual({ 'us-central1-a': ['member-a-pool-a-2'], 'us-central1-b': ['member-a-pool-b-0'] });
  });

  it('UDP is checked over TCP on the VIP Services’ port "health" (= their healthCheckNodePort, one port in every member) -> the pods’ port "health"; TCP on TCP/53', async () => {
    const inv = s.emulator.inventory();
    const hcOf = (proto: string): Res => {
      const bs = inv.backendServices.find((b) => b['protocol'] === proto)!;
      const name = lastSegment((bs['healthChecks'] as string[])[0]);
      return inv.healthChecks.find((h) => h['name'] === name)!;
    };
    const udpPorts = new Set<number>();
    for (const m of members) {
      const svcs = (await s.kube(m).list<ServiceObj>('v1', 'Service', { namespace: 'dns' })).filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip');
      const udp = svcs.find((v) => v.spec?.ports?.[0]?.protocol === 'UDP')!;
      const p = udp.spec?.healthCheckNodePort ?? 0;
      expect(p, m).toBeGreaterThanOrEqual(30000);
      expect(svcs.map((v) => v.spec?.ports?.map((x) => `${x.protocol}/${x.port}->${String(x.targetPort)}`).join()).sort(), m).toEqual(['TCP/53->5353', `UDP/53->5353,TCP/${p}->health`]);
      for (const v of svcs) expect(v.status?.loadBalancer?.ingress, m).toEqual([{ ip: requested, ipMode: 'VIP' }]);
      udpPorts.add(p);
    }
    expect(udpPorts.size).toBe(1);
    const udpHc = hcOf('UDP');
    expect(udpHc['type']).toBe('TCP');
    expect(udpHc['tcpHealthCheck']).toMatchObject({ port: [...udpPorts][0], portSpecification: 'USE_FIXED_PORT' });
    const gw = await getGateway(s.kube('config'), 'dns', 'dns');
    expect(gatewayCondition(gw, 'fleetilb.io/UDPHealthCheck')).toMatchObject({ status: 'True', reason: 'PodHealthPort' });
    const tcpHc = hcOf('TCP');
    expect(tcpHc['type']).toBe('TCP');
    expect((tcpHc['tcpHealthCheck'] as Res)['port']).toBe(53);
  });
});
