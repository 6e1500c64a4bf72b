// SPDX-License-Identifier: Apache-2.0
//
// Packets through a HealthCheckPolicy failover (docs/policy.md "Failover"): the store example with a
// policy on ServiceImport store naming member-a primary and member-b the failover cluster. Real
// apiservers, the Compute API emulator, the controller, kube-proxy (iptables) on every node and the
// simulated Google Cloud data plane (docs/datapath.md). A client sees every connection answered by
// member-a; when member-a's pods die, by member-b (its NEGs go on the backend service); when they
// come back, by member-a again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitGatewayCondition } from '../fixtures/conditions.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import { FLEETILB_API } from '../fixtures/members.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';
import { startDataPath, type Attempt, type DataPath, type PodInfo } from './harness.ts';

const CONVERGE_MS = 90_000;
const HC = { checkIntervalSec: 2, timeoutSec: 1, healthyThreshold: 2, unhealthyThreshold: 2 };

const log = (m: string): void => {
  process.stderr.write(`[datapath failover] ${m}\n`);
};

describe('data path: HealthCheckPolicy failover from member-a to member-b and back', () => {
  let s: Scenario;
  let dp: DataPath;
  let vip: string;

  const memberOf = (pod: string | undefined): string | undefined => dp.pods().find((p) => p.name === pod)?.member;
  const members = (as: readonly Attempt[]): string[] => [...new Set(as.filter((a) => a.ok).map((a) => memberOf(a.pod) ?? '?'))].sort();
  /** Members whose nodes the vpc sends the VIP to now (the backend service's NEG endpoints). */
  const backendMembers = (): string[] => {
    const rule = dp.plan()?.rules.find((r) => r.ip === vip);
    return [...new Set((rule?.backends ?? []).map((i) => dp.nodes.find((n) => n.index === i)?.member))].filter((m): m is string => m !== undefined).sort();
  };
  /** Waits until `n` connections in a row, all answered, were served by `member` only. */
  const servedBy = async (member: string, n: number): Promise<void> => {
    await waitFor(
      async () => {
        await dp.sync();
        const as = await dp.connectTcp(vip, 8080, { count: n, concurrency: 5, timeoutMs: 1000 });
        return as.every((a) => a.ok) && JSON.stringify(members(as)) === JSON.stringify([member]);
      },
      CONVERGE_MS,
      { what: `${n} connections all answered by ${member}`, intervalMs: 500 },
    );
  };

  beforeAll(async () => {
    s = await startScenario({ apply: 'members', log });
    const ilb = s.ilbConfig as KObject & { spec: Record<string, unknown> };
    await s.kube('config').apply({ ...ilb, spec: { ...ilb.spec, healthCheck: HC } });
    dp = await startDataPath(s, { proxyMode: { 'member-a': 'iptables', 'member-b': 'iptables' }, log });
    // The config cluster's objects create namespace store; the policy follows right after.
    await s.apply('config');
    await s.kube('config').apply({
      apiVersion: FLEETILB_API,
      kind: 'HealthCheckPolicy',
      metadata: { name: 'store-failover', namespace: 'store' },
      spec: {
        targetRefs: [{ group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name: 'store' }],
        default: { failover: { primaryClusters: ['member-a'], failoverClusters: ['member-b'] } },
      },
    });
    const gw = await waitGatewayCondition(s.kube('config'), 'store', 'store', 'Programmed', CONVERGE_MS);
    vip = gw.status?.addresses?.[0]?.value ?? '';
    await waitFor(() => s.emulator.inventory().firewalls.length >= 2, 30_000, 'the firewalls');
    await dp.waitProgrammed(vip);
  });

  afterAll(async () => {
    const report = await dp?.stop();
    await s?.stop();
    expect(report?.leftoverNamespaces ?? []).toEqual([]);
    expect(report?.leftoverPids ?? []).toEqual([]);
  });

  it('member-a (primary) serves every connection; member-b\'s nodes get no traffic', async () => {
    await waitFor(() => JSON.stringify(backendMembers()) === '["member-a"]', CONVERGE_MS, 'the vpc sends the VIP to member-a only');
    await servedBy('member-a', 20);
  });

  it('member-a\'s pods die: new connections go to member-b; they come back: to member-a again', async () => {
    const victims: PodInfo[] = dp.pods().filter((p) => p.member === 'member-a');
    expect(victims.length).toBeGreaterThan(0);
    const t0 = performance.now();
    await Promise.all(victims.map((p) => dp.killPod(p.name)));
    await servedBy('member-b', 20);
    const failover = performance.now() - t0;
    expect(backendMembers()).toEqual(['member-b']);
    log(`member-a's pods killed -> 20 connections in a row answered by member-b: ${Math.round(failover)} ms`);

    const t1 = performance.now();
    for (const p of victims) await dp.addPod({ member: p.member, namespace: p.namespace, name: p.name, node: p.node, ip: p.ip, labels: p.labels, tcp: p.tcp, udp: p.udp, http: p.http, ready: p.ready });
    await servedBy('member-a', 20);
    const failback = performance.now() - t1;
    expect(backendMembers()).toEqual(['member-a']);
    log(`member-a's pods back -> 20 connections in a row answered by member-a: ${Math.round(failback)} ms`);
  });
});
