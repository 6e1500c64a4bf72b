// SPDX-License-Identifier: Apache-2.0
//
// Battery E1 (docs/failure-rules.md, test/battery/README.md): watch failures between the
// controller and one member, at controller level, through a fault proxy (test/battery/kubeproxy.ts;
// the member's kubeconfig Secret points at it). The watchdog runs at 10 s here (lib.ts SHORT_TIMERS;
// 75 s by default), the periodic relist at 45 s.
// * E1 half-open TCP: every open watch of the member goes silent (the connection stays open, nothing
//   arrives, no RST: client-go#374, kubernetes#65012). Each is re-established within the watchdog
//   bound (10 s + 5 s slack) by the watchdog (`fleetilb_watch_restarts_total{reason="idle"}`; the
//   45-s relist may end a few first, a broken watchdog would miss the bound), and a
//   ServiceExport created in the member during the fault is observed after it: its ServiceImport
//   appears in the config cluster within the same bound. 0 GCE writes.
// E3 (error/restart cycles counted at the proxy) is not an item yet: test/battery/README.md.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitGatewayCondition } from '../fixtures/conditions.ts';
import { waitFor } from '../fixtures/kube.ts';
import type { Scenario } from '../fixtures/scenario.ts';
import type { KubeFaultProxy } from './kubeproxy.ts';
import { MEMBER_COLLECTIONS, SHORT_TIMERS, auditMark, itemFleet, newRow, proxyMember, recordRow, releaseFleet, writesSince } from './lib.ts';

const NS = 'store';
const PROBE = 'e1-probe';
const MCS = 'multicluster.x-k8s.io/v1beta1';
const BOUND_MS = (SHORT_TIMERS.watchIdleTimeoutMs ?? 75_000) + 5_000;

describe('E1: watch failures between the controller and a member', () => {
  let s: Scenario;
  let proxy: KubeFaultProxy;
  let member = '';
  let restore: (() => Promise<void>) | undefined;
  const e1 = newRow('E1', 'half-open TCP: every member watch silent, an export written meanwhile', /^E1/);

  /** Watch restarts of the member by the watchdog (`idle`) or the periodic relist. */
  const restarts = async (reason: 'idle' | 'relist'): Promise<number> =>
    (await s.controller!.metrics.watchRestarts.get()).values.filter((v) => v.labels['cluster'] === member && v.labels['reason'] === reason).reduce((n, v) => n + v.value, 0);

  beforeAll(async () => {
    s = await itemFleet({ controller: SHORT_TIMERS });
    await waitGatewayCondition(s.kube('config'), NS, 'store', 'Programmed', 120_000);
    ({ proxy, member, restore } = await proxyMember(s, 0));
  });

  afterAll(async () => {
    recordRow(e1);
    await s?.kube(member).delete(MCS, 'ServiceExport', PROBE, NS).catch(() => undefined);
    await s?.kube(member).delete('v1', 'Service', PROBE, NS).catch(() => undefined);
    await restore?.();
    await releaseFleet(s);
  });

  it('E1: silent watches are re-established by the watchdog; what changed meanwhile is observed', async () => {
    const failures: string[] = [];
    // Every member collection watched through the proxy (the optional ones the member serves too).
    await waitFor(() => proxy.openWatches(MEMBER_COLLECTIONS).size >= 4, 30_000, `four ${member} watches open`);
    const paths = [...proxy.openWatches(MEMBER_COLLECTIONS).keys()];
    const idle0 = await restarts('idle');
    const relist0 = await restarts('relist');
    const mark = auditMark(s.emulator);
    const t0 = Date.now();
    expect(proxy.silence(MEMBER_COLLECTIONS)).toBe(paths.length);
    // Written while the controller's watches hear nothing.
    await s.kube(member).apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: PROBE, namespace: NS }, spec: { ports: [{ name: 'tcp', protocol: 'TCP', port: 9090 }] } });
    await s.kube(member).apply({ apiVersion: MCS, kind: 'ServiceExport', metadata: { name: PROBE, namespace: NS } });
    let reconnected: number | undefined;
    await waitFor(
      () => {
        const open = proxy.openWatches(MEMBER_COLLECTIONS);
        if (!paths.every((p) => (open.get(p) ?? 0) >= 1)) return false;
        reconnected = Date.now() - t0;
        return true;
      },
      BOUND_MS + 30_000,
      'the watches re-established',
    ).catch(() => failures.push(`watches not re-established ${Math.round((Date.now() - t0) / 1000)} s after they went silent: ${paths.filter((p) => !proxy.openWatches(MEMBER_COLLECTIONS).has(p)).join(', ')}`));
    e1.runs++;
    if (reconnected !== undefined && reconnected > BOUND_MS) failures.push(`watches re-established after ${reconnected} ms, past the watchdog bound of ${BOUND_MS} ms`);
    // The watchdog ends a dead watch (a relist due in the window may end one first: 45 s here).
    const idle = (await restarts('idle')) - idle0;
    const relist = (await restarts('relist')) - relist0;
    if (idle + relist < paths.length) failures.push(`${idle} watchdog and ${relist} relist restarts for ${paths.length} silent watches`);
    let observed: number | undefined;
    await waitFor(
      async () => {
        if ((await s.kube('config').get(MCS, 'ServiceImport', PROBE, NS)) === undefined) return false;
        observed = Date.now() - t0;
        return true;
      },
      BOUND_MS + 30_000,
      `ServiceImport ${PROBE}`,
    ).catch(() => failures.push(`the ServiceExport written during the fault was not observed (no ServiceImport ${NS}/${PROBE})`));
    if (observed !== undefined) {
      e1.convergeMs = observed;
      if (observed > BOUND_MS + 5_000) failures.push(`ServiceImport ${PROBE} after ${observed} ms, past the watchdog bound + 5 s`);
    }
    const writes = writesSince(s.emulator, mark);
    e1.forbiddenWrites += writes.length;
    if (writes.length > 0) failures.push(`${writes.length} GCE writes: ${writes.slice(0, 4).map((w) => w.method).join(', ')}`);
    e1.notes = `${paths.length} watches silent; re-established after ${reconnected === undefined ? '-' : (reconnected / 1000).toFixed(1)} s (${idle} by the watchdog, ${relist} by a relist), the export observed after ${observed === undefined ? '-' : (observed / 1000).toFixed(1)} s`;
    // Leave the member as found: the probe goes, and so does its ServiceImport.
    await s.kube(member).delete(MCS, 'ServiceExport', PROBE, NS);
    await s.kube(member).delete('v1', 'Service', PROBE, NS);
    await waitFor(async () => (await s.kube('config').get(MCS, 'ServiceImport', PROBE, NS)) === undefined, 60_000, `ServiceImport ${PROBE} gone`).catch(() => {
      e1.kubeLeaks++;
      failures.push(`ServiceImport ${NS}/${PROBE} left after its export was deleted`);
    });
    e1.failures.push(...failures);
    expect(failures).toEqual([]);
  });
});
