// SPDX-License-Identifier: Apache-2.0
//
// Packets, not objects: the store example (examples/store) carrying real traffic. Real apiservers,
// the Compute API emulator, the controller as the integration tests run it, and the data-path
// harness (docs/datapath.md): member-a's nodes run kube-proxy in iptables mode, member-b's in
// nftables mode; a client namespace opens connections to VIP:8080 through the simulated Google
// Cloud data plane. Everything asserted is what a user would check from a client VM.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayCondition, waitGatewayCondition, GATEWAY_API, type GatewayObject } from '../fixtures/conditions.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';
import { startDataPath, type Attempt, type DataPath } from './harness.ts';

const CONVERGE_MS = 90_000;
// A faster health check than the ILBConfig default (5 s x 2) keeps the suite short; the bounds below
// are computed from it.
const HC = { checkIntervalSec: 2, timeoutSec: 1, healthyThreshold: 2, unhealthyThreshold: 2 };
const FAILOVER_BOUND_MS = HC.checkIntervalSec * HC.unhealthyThreshold * 1000 + 2000;

const log = (m: string): void => {
  process.stderr.write(`[datapath] ${m}\n`);
};

describe('data path: the store example carries traffic (member-a iptables, member-b nftables)', () => {
  let s: Scenario;
  let dp: DataPath;
  let vip: string;

  const memberOf = (pod: string | undefined): string | undefined => dp.pods().find((p) => p.name === pod)?.member;
  const byMember = (as: Attempt[]): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const a of as.filter((x) => x.ok)) out[memberOf(a.pod) ?? '?'] = (out[memberOf(a.pod) ?? '?'] ?? 0) + 1;
    return out;
  };
  const allHealthy = (): boolean => {
    const h = [...dp.health().values()];
    return h.length > 0 && h.every((x) => x === 'HEALTHY');
  };

  beforeAll(async () => {
    s = await startScenario({ apply: 'members', log });
    const ilb = s.ilbConfig as KObject & { spec: Record<string, unknown> };
    await s.kube('config').apply({ ...ilb, spec: { ...ilb.spec, healthCheck: HC } });
    dp = await startDataPath(s, { proxyMode: { 'member-a': 'iptables', 'member-b': 'nftables' }, log });
    await s.apply('config');
    const gw = await waitGatewayCondition(s.kube('config'), 'store', 'store', 'Programmed', CONVERGE_MS);
    vip = gw.status?.addresses?.[0]?.value ?? '';
    await waitFor(() => s.emulator.inventory().firewalls.length >= 2, 30_000, 'the firewalls');
    await dp.waitProgrammed(vip);
    // Converged: the load balancer's backends are nodes of both members (the controller attaches
    // each member's NEGs when its VIP Service exists) and every one of them passes its health check.
    const backendMembers = (): string[] => {
      const rule = dp.plan()?.rules.find((r) => r.ip === vip);
      return [...new Set((rule?.backends ?? []).map((i) => dp.nodes.find((n) => n.index === i)?.member))].filter((m) => m !== undefined).sort();
    };
    await waitFor(() => backendMembers().length === 2 && allHealthy(), 60_000, 'NEG endpoints of both members, all healthy');
    // The vpc ruleset in force is rebuilt from these health states by the next sync.
    await dp.sync();
  });

  afterAll(async () => {
    const report = await dp?.stop();
    await s?.stop();
    // The suite checks its own cleanup: no namespace or process of the harness is left.
    expect(report?.leftoverNamespaces ?? []).toEqual([]);
    expect(report?.leftoverPids ?? []).toEqual([]);
  });

  it('100 connections to VIP:8080 all succeed, reach pods in both members, and every pod saw the client IP', async () => {
    const as = await dp.connectTcp(vip, 8080, { count: 100, concurrency: 10, timeoutMs: 2000 });
    expect(as.filter((a) => !a.ok)).toEqual([]);
    expect(as).toHaveLength(100);
    const members = byMember(as);
    log(`100 connections: ${JSON.stringify(members)}`);
    expect(Object.keys(members).sort()).toEqual(['member-a', 'member-b']);
    expect([...new Set(as.map((a) => a.peer?.split(':')[0]))]).toEqual([dp.client.ip]);
  });

  it('health checks are real: every NEG endpoint is HEALTHY in getHealth because probes from GCE ranges reached VIP:8080 through kube-proxy', () => {
    const inv = s.emulator.inventory();
    const negNodes = inv.networkEndpointGroups.flatMap((n) => n.endpoints.map((e) => e.ipAddress)).sort();
    const probed = [...dp.health()].filter(([id]) => id.endsWith(`|${vip}|8080`));
    expect(probed.map(([id]) => id.split('|')[0]).sort()).toEqual(negNodes);
    expect(probed.every(([, st]) => st === 'HEALTHY')).toBe(true);
  });

  it('externalTrafficPolicy Local: a node without a ready local endpoint drops VIP traffic, a node with one serves it with the client IP, in both modes', async () => {
    for (const member of ['member-a', 'member-b']) {
      const withPod = dp.pods().find((p) => p.member === member && p.ready)!.node;
      const busy = new Set(dp.pods().filter((p) => p.ready).map((p) => p.node));
      const without = dp.nodes.find((n) => n.member === member && !busy.has(n.name))!.name;
      const ok = await dp.connectViaNode(withPod, 'tcp', vip, 8080);
      expect(ok, `${member} ${withPod}`).toMatchObject({ ok: true });
      expect(memberOf(ok.pod)).toBe(member);
      const dropped = await dp.connectViaNode(without, 'tcp', vip, 8080, 700);
      expect(dropped.ok, `${member} ${without} has no ready endpoint`).toBe(false);
    }
  });

  it('ipMode: with ipMode Proxy kube-proxy programs nothing for the VIP and the node drops it; ipMode VIP (what fleet-ilb writes) brings it back', async () => {
    const member = 'member-b';
    const k = s.kube(member);
    const node = dp.pods().find((p) => p.member === member && p.ready)!.node;
    await s.stopController();
    try {
      const svcs = (await k.list<KObject & { spec?: { loadBalancerClass?: string }; status?: { loadBalancer?: { ingress?: Array<{ ip?: string; ipMode?: string }> } } }>('v1', 'Service')).filter(
        (x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip',
      );
      expect(svcs.length).toBeGreaterThan(0);
      const svc = svcs[0]!;
      expect(svc.status?.loadBalancer?.ingress).toEqual([{ ip: vip, ipMode: 'VIP' }]);
      const ref = { apiVersion: 'v1', kind: 'Service', name: svc.metadata.name, namespace: svc.metadata.namespace };
      await k.mergePatch(ref, { status: { loadBalancer: { ingress: [{ ip: vip, ipMode: 'Proxy' }] } } }, 'status');
      await waitFor(async () => !(await dp.proxyRules(node)).includes(vip), 20_000, `kube-proxy on ${node} drops its rules for ${vip}`);
      expect((await dp.connectViaNode(node, 'tcp', vip, 8080, 700)).ok).toBe(false);
      await k.mergePatch(ref, { status: { loadBalancer: { ingress: [{ ip: vip, ipMode: 'VIP' }] } } }, 'status');
      await dp.waitProgrammed(vip, { member });
      expect(await dp.connectViaNode(node, 'tcp', vip, 8080)).toMatchObject({ ok: true });
    } finally {
      await s.startController();
    }
  });

  it('a pod moves to another node: the NEG follows and new connections keep succeeding', async () => {
    // The only pod of member-a-pool-a-0 moves to member-a-pool-a-2 (no pod so far).
    const pod = dp.pods().find((p) => p.node === 'member-a-pool-a-0')!;
    const traffic = dp.startTraffic('tcp', vip, 8080, { durationMs: 60_000, intervalMs: 50, timeoutMs: 1000 });
    await waitFor(() => traffic.attempts().length >= 10, 10_000, 'traffic');
    const t0 = performance.now();
    await dp.movePod(pod.name, 'member-a-pool-a-2');
    const negHas = (vm: string): boolean => s.emulator.inventory().networkEndpointGroups.some((n) => n.endpoints.some((e) => e.instance.endsWith(vm)));
    await waitFor(() => negHas('member-a-pool-a-2') && !negHas('member-a-pool-a-0'), 30_000, 'the NEG follows the pod');
    await waitFor(() => [...dp.health()].some(([id, st]) => id.startsWith('10.10.0.12|') && st === 'HEALTHY'), 30_000, 'the new node healthy');
    const converged = performance.now() - t0;
    const mark = traffic.attempts().length;
    await waitFor(() => traffic.attempts().length >= mark + 40, 20_000, '40 more connections');
    const all = await traffic.stop();
    const during = all.slice(0, mark);
    const after = all.slice(mark);
    log(`pod move: converged in ${Math.round(converged)} ms; ${during.filter((a) => !a.ok).length}/${during.length} connections failed during the move, ${after.filter((a) => !a.ok).length}/${after.length} after`);
    expect(after.filter((a) => !a.ok)).toEqual([]);
    expect(after.some((a) => a.pod === pod.name)).toBe(true);
  });

  it(`all pods of member-b die: within interval x unhealthy threshold + 2 s (${FAILOVER_BOUND_MS} ms) every new connection goes to member-a; they come back with the pods`, async () => {
    const victims = dp.pods().filter((p) => p.member === 'member-b');
    const traffic = dp.startTraffic('tcp', vip, 8080, { durationMs: 90_000, intervalMs: 50, timeoutMs: 500 });
    await waitFor(() => traffic.attempts().length >= 10, 10_000, 'traffic');
    // The failover clock starts when the first pod died, on the client's clock.
    const start = traffic.clientTime(Math.min(...(await Promise.all(victims.map((p) => dp.killPod(p.name))))));
    // From the kill on, find when the last failure (or member-b answer) happened: after it, 100 %.
    await waitFor(
      () => {
        const after = traffic.attempts().filter((a) => a.t > start);
        const lastBad = after.filter((a) => !a.ok || memberOf(a.pod) !== 'member-a').at(-1);
        return after.length > 0 && after.at(-1)!.t - (lastBad?.t ?? start) > 3000;
      },
      FAILOVER_BOUND_MS + 20_000,
      '3 s of connections all to member-a',
    );
    const after = traffic.attempts().filter((a) => a.t > start);
    const lastBad = after.filter((a) => !a.ok || memberOf(a.pod) !== 'member-a').at(-1);
    const failover = (lastBad?.t ?? start) - start;
    log(`failover: ${Math.round(failover)} ms to 100 % member-a (${after.filter((a) => !a.ok).length} failed connections)`);
    expect(failover).toBeLessThanOrEqual(FAILOVER_BOUND_MS);

    for (const p of victims) await dp.addPod({ member: p.member, namespace: p.namespace, name: p.name, node: p.node, ip: p.ip, labels: p.labels, tcp: p.tcp, udp: p.udp, http: p.http, ready: p.ready });
    await waitFor(() => traffic.attempts().some((a) => a.t > start && memberOf(a.pod) === 'member-b' && a.ok), 30_000, 'member-b serves again');
    await traffic.stop();
    await waitFor(allHealthy, 30_000, 'every NEG endpoint healthy again');
  });

  it('the firewall rules deleted by hand: health checks and traffic fail, the controller restores them, traffic resumes', async () => {
    const fws = s.emulator.inventory().firewalls;
    expect(fws.length).toBeGreaterThanOrEqual(2);
    // The controller is stopped while the rules are gone, so the failure is observed before it can
    // repair them (a running controller repairs them at its next resync, at a time the test cannot pin).
    await s.stopController();
    try {
      for (const fw of fws) {
        const res = await fetch(`${s.emulator.url}/compute/v1/projects/${s.gcp.project}/global/firewalls/${String(fw['name'])}`, { method: 'DELETE' });
        expect(res.status).toBe(200);
      }
      // No firewall: the probes (and the clients) are denied by GCE's implied ingress deny.
      await waitFor(() => [...dp.health().values()].every((x) => x === 'UNHEALTHY'), FAILOVER_BOUND_MS + 5_000, 'every endpoint unhealthy');
      await dp.sync();
      const denied = await dp.connectTcp(vip, 8080, { count: 5, timeoutMs: 500 });
      expect(denied.filter((a) => a.ok)).toEqual([]);
    } finally {
      await s.startController();
    }
    // The controller's first reconcile restores them; nothing else is done by the test.
    await waitFor(() => s.emulator.inventory().firewalls.length >= fws.length, 60_000, 'the controller restores the firewalls');
    await waitFor(allHealthy, 30_000, 'healthy again');
    const back = await dp.connectTcp(vip, 8080, { count: 20, concurrency: 5, timeoutMs: 2000 });
    expect(back.filter((a) => !a.ok)).toEqual([]);
  });

  it('deleting the Gateway stops traffic to the VIP', async () => {
    const gw = await s.kube('config').get<GatewayObject>(GATEWAY_API, 'Gateway', 'store', 'store');
    expect(gatewayCondition(gw, 'Programmed')?.status).toBe('True');
    await s.kube('config').delete(GATEWAY_API, 'Gateway', 'store', 'store');
    await waitFor(() => s.emulator.inventory().forwardingRules.length === 0, 60_000, 'the forwarding rule is deleted');
    await dp.sync();
    const as = await dp.connectTcp(vip, 8080, { count: 5, timeoutMs: 500 });
    expect(as.filter((a) => a.ok)).toEqual([]);
  });
});
