// SPDX-License-Identifier: Apache-2.0
//
// Battery E1 and E3 (docs/failure-rules.md, test/battery/README.md): watch failures between the
// controller and one member, at controller level, through a fault proxy (test/battery/kubeproxy.ts;
// the member's kubeconfig Secret points at it). The watchdog runs at 10 s here (lib.ts SHORT_TIMERS;
// 75 s by default), the periodic relist at 45 s.
// * E1 half-open TCP: every open watch of the member goes silent (the connection stays open, nothing
//   arrives, no RST: client-go#374, kubernetes#65012). Each is re-established within the watchdog
//   bound (10 s + 5 s slack) by the watchdog (`fleetilb_watch_restarts_total{reason="idle"}`; the
//   45-s relist may end a few first, a broken watchdog would miss the bound), and a
//   ServiceExport created in the member during the fault is observed after it: its ServiceImport
//   appears in the config cluster within the same bound. 0 GCE writes.
// * E3 reflector error/restart cycles: the member's watches are ended again and again — an ERROR
//   event (HTTP 500 Status), a reset connection, a 410 Gone (relist), and a credential rotation
//   (new client, every reflector stopped and started again: kubernetes-client/javascript#3052) —
//   while the open watches are counted at the proxy: never two on one collection, exactly one each
//   at the end, and 0 GCE writes. (It failed with 2 per collection after each rotation: a stopped
//   reflector could not abort a watch request the proxy had not answered yet, since client-node's
//   Watch returns its abort handle only with the response; runtime/reflector.ts now passes each
//   attempt an AbortSignal.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitGatewayCondition } from '../fixtures/conditions.ts';
import { waitFor } from '../fixtures/kube.ts';
import { CONTROLLER_NAMESPACE, memberSecretName } from '../fixtures/members.ts';
import type { Scenario } from '../fixtures/scenario.ts';
import type { KubeFaultProxy } from './kubeproxy.ts';
import { MEMBER_COLLECTIONS, SHORT_TIMERS, auditMark, itemFleet, newRow, proxyMember, quick, recordRow, releaseFleet, writesSince } from './lib.ts';

const NS = 'store';
const PROBE = 'e1-probe';
const MCS = 'multicluster.x-k8s.io/v1beta1';
const BOUND_MS = (SHORT_TIMERS.watchIdleTimeoutMs ?? 75_000) + 5_000;
const CYCLES = quick() ? 8 : 40;
/** What each cycle does, in turn. */
const KINDS = ['ERROR event', 'reset', '410 Gone', 'credential rotation'] as const;

describe('E1/E3: watch failures between the controller and a member', () => {
  let s: Scenario;
  let proxy: KubeFaultProxy;
  let member = '';
  let restore: (() => Promise<void>) | undefined;
  const e1 = newRow('E1', 'half-open TCP: every member watch silent, an export written meanwhile', /^E1/);
  const e3 = newRow('E3', `member watch error/restart cycles (${CYCLES}): duplicates at the proxy`, /^E3/);

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
    recordRow(e3);
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

  it('E3: error/restart cycles never leave two watches on one collection, and write nothing to GCE', async () => {
    const failures: string[] = [];
    await waitFor(() => proxy.openWatches(MEMBER_COLLECTIONS).size >= 4, 60_000, `four ${member} watches open`);
    const paths = [...proxy.openWatches(MEMBER_COLLECTIONS).keys()];
    const allOpen = (): boolean => {
      const open = proxy.openWatches(MEMBER_COLLECTIONS);
      return paths.every((p) => (open.get(p) ?? 0) >= 1);
    };
    // Two watches on one collection seen in 3 samples in a row (150 ms: longer than an old watch's
    // close and its successor's request can cross on two connections).
    const seen = new Map<string, number>();
    const dups = new Set<string>();
    const sampler = setInterval(() => {
      for (const [p, n] of proxy.openWatches(MEMBER_COLLECTIONS)) {
        const k = n > 1 ? (seen.get(p) ?? 0) + 1 : 0;
        seen.set(p, k);
        if (k >= 3) dups.add(`${p} (${n})`);
      }
    }, 50);
    const after = new Set<string>();
    const mark = auditMark(s.emulator);
    const secret = await s.kube('config').get('v1', 'Secret', memberSecretName(member), CONTROLLER_NAMESPACE);
    const t0 = Date.now();
    try {
      for (let i = 0; i < CYCLES; i++) {
        await waitFor(allOpen, 60_000, `every ${member} watch open before cycle ${i}`);
        const twice = [...proxy.openWatches(MEMBER_COLLECTIONS)].filter(([, n]) => n > 1);
        if (i > 0 && twice.length > 0) after.add(KINDS[(i - 1) % 4]!);
        switch (i % 4) {
          case 0:
            proxy.fail(MEMBER_COLLECTIONS, 'error-event');
            break;
          case 1:
            proxy.fail(MEMBER_COLLECTIONS, 'reset');
            break;
          case 2:
            proxy.gone(MEMBER_COLLECTIONS); // relist: also resets the reflectors' error backoff
            break;
          case 3: {
            // A credential rotation to the same proxy: a new client, every reflector stopped and started.
            const kc = JSON.parse(proxy.kubeconfig()) as { contexts: Array<{ name: string }> };
            kc.contexts[0]!.name = `proxy-${i}`;
            const text = JSON.stringify({ ...kc, 'current-context': `proxy-${i}` });
            await s.kube('config').apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: memberSecretName(member), namespace: CONTROLLER_NAMESPACE }, data: { ...(secret?.['data'] as object), kubeconfig: Buffer.from(text).toString('base64') } });
            break;
          }
        }
        e3.runs++;
      }
      await waitFor(allOpen, 90_000, `every ${member} watch open after the cycles`).catch(() => failures.push(`not every watch re-established after the cycles: ${JSON.stringify([...proxy.openWatches(MEMBER_COLLECTIONS)])}`));
      e3.convergeMs = Date.now() - t0;
      await new Promise((r) => setTimeout(r, 3_000)); // a late duplicate would show up here
    } finally {
      clearInterval(sampler);
    }
    const open = proxy.openWatches(MEMBER_COLLECTIONS);
    const extra = [...open].filter(([, n]) => n > 1).map(([p, n]) => `${p} (${n})`);
    e3.duplicates += dups.size + extra.length;
    if (dups.size > 0) failures.push(`two or more watches on one collection during the cycles: ${[...dups].join(', ')} (seen after: ${[...after].join(', ') || '-'})`);
    if (extra.length > 0) {
      // The controller's own account: its current reflectors of the member and the watches each holds.
      const own = s.controller!.provider.members.reflectors(member).map((r) => `${r.resource}:${r.openWatches()}/${r.watchesOpened()} ${JSON.stringify(r.state())}`);
      failures.push(`more than one watch per collection at the end: ${extra.join(', ')}; the controller's reflectors: ${own.join(', ')}; at the proxy: ${JSON.stringify(proxy.describeWatches(MEMBER_COLLECTIONS))}`);
    }
    const writes = writesSince(s.emulator, mark);
    e3.forbiddenWrites += writes.length;
    if (writes.length > 0) failures.push(`${writes.length} GCE writes: ${writes.slice(0, 4).map((w) => w.method).join(', ')}`);
    e3.notes = `${CYCLES} cycles over ${paths.length} watches in ${((Date.now() - t0) / 1000).toFixed(1)} s`;
    e3.failures.push(...failures);
    expect(failures).toEqual([]);
  });
});
