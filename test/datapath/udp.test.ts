// SPDX-License-Identifier: Apache-2.0
//
// UDP through the data path: the dns example (examples/dns: a Gateway with a UDP and a TCP listener
// on port 53, pinned VIP 10.128.0.53) with member-a's kube-proxy in iptables mode and member-b's in
// nftables mode. Datagrams and connections come from the client namespace (docs/datapath.md).
//
// GCE has no UDP health check: the UDP listener is checked over TCP at VIP:P, the VIP Services' port
// `health` that kube-proxy translates to the pods' port named by the member Services'
// fleetilb.io/health-check-port annotation (controller/translate/DECISIONS.md 8). GCE sends probes to
// the forwarding rule's IP (https://cloud.google.com/load-balancing/docs/health-check-concepts#hc-packet-dest),
// as the vpc prober does; no guest-agent local route is needed, in either kube-proxy mode.
//
// UDP clients start sending to the pinned VIP *before* the Gateway exists, as a client that retries
// while the load balancer is being created: once the Gateway is Programmed they must be served
// (docs/architecture.md, apply's beforeTraffic: a member's VIP Service must be translated by its nodes before GCE sends it
// traffic, or the first datagram leaves an un-NATed conntrack entry that black-holes the flow).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitGatewayCondition } from '../fixtures/conditions.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';
import { startDataPath, type Attempt, type DataPath, type Traffic } from './harness.ts';

const CONVERGE_MS = 90_000;
const VIP = '10.128.0.53';
const HC = { checkIntervalSec: 2, timeoutSec: 1, healthyThreshold: 2, unhealthyThreshold: 2 };
const FLOWS = 6;

const log = (m: string): void => {
  process.stderr.write(`[datapath] ${m}\n`);
};

describe('data path: UDP and TCP+UDP on one port (member-a iptables, member-b nftables)', () => {
  let s: Scenario;
  let dp: DataPath;
  const early: Traffic[] = [];
  let programmedAt = 0;

  const memberOf = (pod: string | undefined): string | undefined => dp.pods().find((p) => p.name === pod)?.member;
  const members = (as: Attempt[]): string[] => [...new Set(as.filter((a) => a.ok).map((a) => memberOf(a.pod) ?? '?'))].sort();

  beforeAll(async () => {
    s = await startScenario({ example: 'dns', apply: 'members', controller: { resyncPeriodMs: 5_000 }, log });
    const ilb = s.ilbConfig as KObject & { spec: Record<string, unknown> };
    await s.kube('config').apply({ ...ilb, spec: { ...ilb.spec, healthCheck: HC } });
    // The dns pods serve DNS on 5353 (UDP and TCP) and CoreDNS health on 8080 (container port
    // `health`, as in examples/dns) and readiness on 8181.
    dp = await startDataPath(s, { proxyMode: { 'member-a': 'iptables', 'member-b': 'nftables' }, podHttpPorts: [8080, 8181], podPortNames: { health: 8080 }, log });
    // UDP clients that keep sending from one socket each while the Gateway is created.
    for (let i = 0; i < FLOWS; i++) early.push(dp.startTraffic('udp', VIP, 53, { flow: true, durationMs: 170_000, intervalMs: 200, timeoutMs: 300 }));
    await s.apply('config');
    await waitGatewayCondition(s.kube('config'), 'dns', 'dns', 'Programmed', CONVERGE_MS);
    programmedAt = performance.now();
    await waitFor(() => s.emulator.inventory().firewalls.length >= 2, 30_000, 'the firewalls');
    await dp.waitProgrammed(VIP);
    // Converged: every forwarding rule of the VIP has NEG endpoints of both members (the controller
    // attaches each member's NEGs when its VIP Service exists), and the TCP listener's are healthy.
    const membersOf = (proto: string): number =>
      new Set((dp.plan()?.rules.find((r) => r.ip === VIP && r.protocol === proto)?.backends ?? []).map((i) => dp.nodes.find((n) => n.index === i)?.member)).size;
    await waitFor(() => membersOf('UDP') === 2 && membersOf('TCP') === 2, 60_000, 'NEG endpoints of both members on both rules');
    const tcp = dp.plan()?.rules.find((r) => r.ip === VIP && r.protocol === 'TCP');
    await waitFor(() => [...(tcp?.probes.values() ?? [])].every((id) => dp.health().get(id) === 'HEALTHY'), 30_000, 'the TCP listener healthy');
    // The vpc ruleset in force is rebuilt from these health states by the next sync.
    await dp.sync();
  });

  afterAll(async () => {
    for (const t of early) await t.stop();
    const report = await dp?.stop();
    await s?.stop();
    expect(report?.leftoverNamespaces ?? []).toEqual([]);
    expect(report?.leftoverPids ?? []).toEqual([]);
  });

  it('the UDP listener carries datagrams to pods in both members with the client IP kept', async () => {
    const as = await dp.sendUdp(VIP, 53, { count: 60, concurrency: 6, timeoutMs: 1000 });
    expect(as.filter((a) => !a.ok)).toEqual([]);
    expect(members(as)).toEqual(['member-a', 'member-b']);
    expect([...new Set(as.map((a) => a.peer?.split(':')[0]))]).toEqual([dp.client.ip]);
  });

  it('TCP on the same port 53 reaches pods in both members with the client IP kept', async () => {
    const as = await dp.connectTcp(VIP, 53, { count: 60, concurrency: 6, timeoutMs: 1000 });
    expect(as.filter((a) => !a.ok)).toEqual([]);
    expect(members(as)).toEqual(['member-a', 'member-b']);
    expect([...new Set(as.map((a) => a.peer?.split(':')[0]))]).toEqual([dp.client.ip]);
  });

  it('UDP clients that started sending while the Gateway was created are served once it is Programmed (no conntrack black hole)', async () => {
    // Every flow must be answered again once the Gateway is Programmed and its backends healthy:
    // wait (bounded) for ten answered datagrams in a row on each, then show each flow's tail.
    const servedNow = (): boolean => early.every((t) => t.attempts().filter((a) => a.t > 0).slice(-10).every((a) => a.ok) && t.attempts().length >= 10);
    await waitFor(servedNow, 30_000, 'every early UDP flow answered').catch(() => undefined);
    log(`early UDP flows: Programmed ${Math.round(performance.now() - programmedAt)} ms ago`);
    const results = early.map((t) => t.attempts());
    const served = results.map((as) => as.slice(-10).filter((a) => a.ok).length);
    log(`early UDP flows, last 10 datagrams answered: ${served.join(', ')}`);
    for (const [i, as] of results.entries()) {
      expect(as.slice(-10).every((a) => a.ok), `flow ${i}: ${JSON.stringify(as.slice(-3))}`).toBe(true);
    }
  });

  it("the UDP listener's health check goes through the pods: NEG endpoints with a ready local pod are HEALTHY, without one UNHEALTHY, in both kube-proxy modes; datagrams go to the healthy ones", async () => {
    const udpRule = () => dp.plan()?.rules.find((r) => r.ip === VIP && r.protocol === 'UDP');
    const rule = udpRule();
    expect(rule, 'a UDP forwarding rule').toBeDefined();
    // What GCE holds: a TCP check on the VIP Services' port `health` (the same P in both members).
    const inv = s.emulator.inventory();
    const bs = inv.backendServices.find((b) => b['protocol'] === 'UDP')!;
    const hc = inv.healthChecks.find((h) => String((bs['healthChecks'] as string[])[0]).endsWith(`/${String(h['name'])}`))!;
    expect(hc['type']).toBe('TCP');
    const port = (hc['tcpHealthCheck'] as { port: number }).port;
    for (const m of ['member-a', 'member-b']) {
      const vipSvcs = await s.kube(m).list<KObject & { spec?: { ports?: Array<{ name?: string; protocol?: string; port: number; targetPort?: number | string }> } }>('v1', 'Service', { namespace: 'dns' });
      const ports = vipSvcs.flatMap((v) => v.spec?.ports ?? []).filter((p) => p.name === 'health');
      expect(ports, m).toEqual([{ name: 'health', protocol: 'TCP', port, targetPort: 'health' }]);
    }
    const nodeOf = (i: number) => dp.nodes.find((n) => n.index === i)!;
    expect([...new Set(rule!.backends.map((i) => nodeOf(i).mode))].sort()).toEqual(['iptables', 'nftables']);
    const states = (): Record<string, string | undefined> => Object.fromEntries([...rule!.probes].map(([i, id]) => [nodeOf(i).name, dp.health().get(id)]));
    const want = (down: Set<string>): Record<string, string> => Object.fromEntries(rule!.backends.map((i) => [nodeOf(i).name, down.has(nodeOf(i).name) ? 'UNHEALTHY' : 'HEALTHY']));
    // Every NEG endpoint hosts a ready dns pod: all HEALTHY (no guest-agent route in this run).
    await waitFor(() => JSON.stringify(states()) === JSON.stringify(want(new Set())), 30_000, 'every UDP NEG endpoint HEALTHY').catch(() => undefined);
    expect(states()).toEqual(want(new Set()));

    // One NEG node per member loses its ready local pod while the NEG still lists it: the controller
    // is stopped so the NEG cannot follow (the window before a NEG update lands, or a pod that is
    // Ready but whose node drops it). The health check alone must keep traffic off those nodes.
    const victims = ['member-a', 'member-b'].map((m) => dp.pods().find((p) => p.member === m && p.namespace === 'dns' && p.ready && rule!.backends.some((i) => nodeOf(i).name === p.node))!);
    const down = new Set(victims.map((v) => v.node));
    await s.stopController();
    try {
      for (const v of victims) await dp.setReady(v.name, false);
      const bound = (HC.checkIntervalSec * HC.unhealthyThreshold + HC.timeoutSec) * 1000 + 5_000;
      await waitFor(() => JSON.stringify(states()) === JSON.stringify(want(down)), bound, 'the nodes without a ready pod UNHEALTHY, the others HEALTHY').catch(() => undefined);
      expect(states()).toEqual(want(down));
      expect(udpRule()!.backends.filter((i) => down.has(nodeOf(i).name)).length, 'the NEGs still list the nodes without a ready pod').toBe(2);
      await dp.sync();
      const as = await dp.sendUdp(VIP, 53, { count: 60, concurrency: 6, timeoutMs: 1000 });
      expect(as.filter((a) => !a.ok)).toEqual([]);
      expect(members(as)).toEqual(['member-a', 'member-b']);
      expect(as.filter((a) => victims.some((v) => v.name === a.pod))).toEqual([]);
    } finally {
      for (const v of victims) await dp.setReady(v.name, true);
      await s.startController();
    }
    await waitFor(() => JSON.stringify(states()) === JSON.stringify(want(new Set())), 30_000, 'every UDP NEG endpoint HEALTHY again');
  });
});
