// SPDX-License-Identifier: Apache-2.0
//
// Battery B1/B2 (test/battery/README.md): the controller as its own OS process
// (test/integration/controller-replica-child.ts), SIGKILLed at points of a Gateway's GCE write
// sequence, then started again:
//   * create: killed once the k-th GCE write naming the new Gateway was served;
//   * delete: killed once the k-th delete of its resources was served;
//   * B2: the Gateway deleted while no controller runs.
// After the restart the Gateway must reach Programmed (create) or be gone with every resource
// stamped for it (delete) within 60 s, with no GCE name inserted twice (request-id replays aside),
// no VIP Service left in the members and no write to the sibling `store` Gateway. The write
// sequence of one create/delete is measured first on an undisturbed run; the quick mode kills at a
// few points spread over it, the full mode at every index.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControllerOptions } from '../../controller/main.ts';
import { GATEWAY_API, gatewayCondition, getGateway, waitGatewayCondition } from '../fixtures/conditions.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import type { Scenario } from '../fixtures/scenario.ts';
import type { AuditEntry } from '../emulator/index.ts';
import { ControllerProcess } from './replica.ts';
import { firewallsOf, itemFleet, releaseFleet, auditMark, duplicateInserts, quick, recordRow, stamped, newRow, storeRoute, tcpGateway } from './lib.ts';

const NS = 'store';
const CONVERGE_LIMIT_MS = 60_000;

const gateway = (name: string, port = 8080): KObject => tcpGateway(NS, name, port);
const route = (name: string): KObject => storeRoute(NS, name);

/** Kill points: `n` spread over 1..total in quick mode, every index in full mode. */
function points(total: number, n: number): number[] {
  if (!quick()) return Array.from({ length: total }, (_, i) => i + 1);
  const out = new Set<number>();
  for (let i = 0; i < n; i++) out.add(Math.max(1, Math.round(((i + 1) * total) / (n + 1))));
  return [...out];
}

describe('B1/B2 controller SIGKILLed mid-sequence, restarted', () => {
  let s: Scenario;
  let ctl: ControllerProcess | undefined;
  let opts: ControllerOptions;
  const row = newRow('B1/B2', 'controller SIGKILLed at GCE write k of create/delete, restarted');
  const notes: string[] = [];

  const mineOf = (name: string) => (a: AuditEntry): boolean => a.resource?.includes(`-${NS}-${name}-`) === true;
  const writesFor = (name: string, since: number): AuditEntry[] => s.emulator.audit().filter((a) => a.seq > since && a.access === 'write' && mineOf(name)(a));

  const start = async (): Promise<void> => {
    const c = new ControllerProcess('kill-points', opts);
    ctl = c;
    await waitFor(() => c.started, 60_000, 'controller started');
  };
  const stop = async (): Promise<void> => {
    await ctl?.kill();
    ctl = undefined;
  };
  const programmed = async (name: string, ms: number): Promise<boolean> =>
    waitFor(
      async () => {
        const g = await getGateway(s.kube('config'), NS, name);
        const c = gatewayCondition(g, 'Programmed');
        return c?.status === 'True' && c.observedGeneration === g?.metadata.generation;
      },
      ms,
      `${name} Programmed`,
    ).then(
      () => true,
      () => false,
    );
  const gone = async (name: string, ms: number): Promise<boolean> =>
    waitFor(
      async () => (await getGateway(s.kube('config'), NS, name)) === undefined && !stamped(s.emulator.inventory()).some((x) => x.gateway === `${NS}/${name}`),
      ms,
      `${name} and its GCE resources gone`,
    ).then(
      () => true,
      () => false,
    );
  const vipServicesOf = async (name: string): Promise<number> => {
    let n = 0;
    for (const m of s.fleet.members) {
      const svcs = await s.kube(m.name).list('v1', 'Service', { labelSelector: `fleetilb.io/managed-by=fleet-ilb,fleetilb.io/gateway-name=${name}` });
      n += svcs.filter((x) => x.metadata.namespace === NS || x.metadata.labels?.['fleetilb.io/gateway-namespace'] === NS).length;
    }
    return n;
  };
  /**
   * SIGKILLs the controller as soon as it sent its `n`-th Kubernetes write (not an Event) counted from
   * `from` (an index into its kubeWrites): the write may or may not have been served, both are
   * crash points. A sequence that ends before `n` (shorter than the reference) just completes.
   */
  const killAfterKube = async (name: string, from: number, n: number, done: () => Promise<boolean>): Promise<string> => {
    const c = ctl!;
    await waitFor(async () => c.kubeWrites.length - from >= n || (await done()), 60_000, { what: `${n} Kubernetes writes for ${name}`, intervalMs: 2 }).catch((e: unknown) => {
      row.failures.push(`${name}: ${String(e)}`);
      throw e;
    });
    const at = c.kubeWrites[from + n - 1]?.what ?? 'sequence ended';
    await stop();
    return at;
  };
  /** Waits until `n` writes naming `name` were served since `since`, then SIGKILLs the controller. */
  const killAfter = async (name: string, since: number, n: number, verb?: string): Promise<number> => {
    // Every write is held 250 ms before it is served, so the kill (polled every 5 ms) lands between
    // the k-th write and the next one, not several writes later (writes of one wave still land together).
    const holds = ['POST', 'DELETE', 'PATCH', 'PUT'].map((httpMethod) => s.emulator.faults.inject({ httpMethod, action: { kind: 'latency', ms: 250 } }));
    try {
      // A sequence may be shorter than the reference one (a teardown that finds less to delete): a
      // point past its end is not a kill point, the sequence just completes.
      const done = async (): Promise<boolean> => verb === 'delete' && (await getGateway(s.kube('config'), NS, name)) === undefined;
      await waitFor(async () => writesFor(name, since).filter((a) => verb === undefined || a.method.endsWith(`.${verb}`)).length >= n || (await done()), 60_000, {
        what: `${n} writes of ${name}`,
        intervalMs: 5,
      }).catch((e: unknown) => {
        row.failures.push(`${name}: ${String(e)}`);
        throw e;
      });
      await stop();
    } finally {
      for (const h of holds) s.emulator.faults.clear(h);
    }
    return writesFor(name, since).length;
  };
  /** The checks after one kill point; `phase` names the point in failures. */
  const judge = async (name: string, since: number, phase: string, expectGone: boolean, convergedMs: number | undefined): Promise<void> => {
    row.runs++;
    const failures: string[] = [];
    if (convergedMs === undefined) failures.push(`${phase}: not ${expectGone ? 'gone' : 'Programmed'} within ${CONVERGE_LIMIT_MS / 1000} s of the restart`);
    else row.convergeMs = Math.max(row.convergeMs ?? 0, convergedMs);
    const audit = s.emulator.audit().filter((a) => a.seq > since);
    const dups = duplicateInserts(audit.filter(mineOf(name)), s.emulator.inventory());
    row.duplicates += dups.length;
    if (dups.length > 0) failures.push(`${phase}: duplicate inserts ${dups.join(', ')}`);
    const sibling = audit.filter((a) => a.access === 'write' && a.resource !== undefined && /-store-store-/.test(a.resource));
    row.forbiddenWrites += sibling.length;
    if (sibling.length > 0) failures.push(`${phase}: ${sibling.length} writes to the untouched store Gateway`);
    if (expectGone) {
      const leaks = stamped(s.emulator.inventory()).filter((x) => x.gateway === `${NS}/${name}`);
      const vips = await vipServicesOf(name);
      row.gceLeaks += leaks.length;
      row.kubeLeaks += vips;
      if (leaks.length > 0) failures.push(`${phase}: ${leaks.length} GCE resources left: ${leaks.map((l) => `${l.kind}/${l.name}`).slice(0, 4).join(', ')}`);
      if (vips > 0) failures.push(`${phase}: ${vips} VIP Services left`);
    }
    row.failures.push(...failures);
    expect(failures).toEqual([]);
  };
  /** Deletes a converged test Gateway (controller running) and checks it leaves nothing. */
  const cleanUp = async (name: string, since: number, phase: string): Promise<void> => {
    await s.kube('config').delete(GATEWAY_API, 'TCPRoute', name, NS);
    await s.kube('config').delete(GATEWAY_API, 'Gateway', name, NS);
    const t0 = Date.now();
    const ok = await gone(name, CONVERGE_LIMIT_MS);
    await judge(name, since, `${phase} then deleted`, true, ok ? Date.now() - t0 : undefined);
  };

  let createWrites = 0;
  let deleteWrites = 0;
  let changeWrites = 0;
  const kubeSeq = { create: 0, change: 0, delete: 0 };
  /** Waits until the controller sent no Kubernetes write for 1.5 s (its status writes follow Programmed). */
  const kubeQuiet = async (): Promise<void> => {
    let prev = -1;
    let since = Date.now();
    await waitFor(
      () => {
        const n = ctl?.kubeWrites.length ?? 0;
        if (n !== prev) {
          prev = n;
          since = Date.now();
        }
        return Date.now() - since >= 1_500;
      },
      30_000,
      { what: 'no Kubernetes write for 1.5 s', intervalMs: 100 },
    );
  };
  const changed = async (name: string, ms: number): Promise<boolean> =>
    waitFor(
      async () => {
        const g = await getGateway(s.kube('config'), NS, name);
        const c = gatewayCondition(g, 'Programmed');
        const fr = stamped(s.emulator.inventory()).filter((x) => x.kind === 'forwardingRule' && x.gateway === `${NS}/${name}`);
        return c?.status === 'True' && c.observedGeneration === g?.metadata.generation && g?.metadata.generation === 2 && fr.length === 1 && fr[0]!.name.includes('8081');
      },
      ms,
      `${name} changed to port 8081`,
    ).then(
      () => true,
      () => false,
    );

  beforeAll(async () => {
    s = await itemFleet({ controller: false });
    opts = {
      kubeconfig: s.fleet.config.kubeconfigPath,
      computeEndpoint: s.emulator.url,
      project: s.gcp.project,
      fleetId: 'demo',
      leaderElect: false,
      metricsAddr: '127.0.0.1:0',
      sweepMinAgeMs: 0,
      logLevel: 'error',
    };
    await start();
    await waitGatewayCondition(s.kube('config'), NS, 'store', 'Programmed', 120_000);
    await waitFor(() => firewallsOf(s.emulator, 'store', 'store') >= 2, 60_000, 'store firewalls');
    await kubeQuiet();
    // The undisturbed sequences: how many GCE and Kubernetes writes one create, change, delete make.
    const mark = auditMark(s.emulator);
    let k0 = ctl!.kubeWrites.length;
    await s.kube('config').apply(gateway('kp-ref'));
    await s.kube('config').apply(route('kp-ref'));
    if (!(await programmed('kp-ref', 120_000))) throw new Error('reference Gateway not Programmed');
    // Programmed=True needs no quiet GCE: let the last writes (firewalls) land.
    await waitFor(() => firewallsOf(s.emulator, NS, 'kp-ref') >= 2, 60_000, 'reference firewalls');
    await kubeQuiet();
    createWrites = writesFor('kp-ref', mark).length;
    kubeSeq.create = ctl!.kubeWrites.length - k0;
    const markC = auditMark(s.emulator);
    k0 = ctl!.kubeWrites.length;
    await s.kube('config').apply(gateway('kp-ref', 8081));
    if (!(await changed('kp-ref', 120_000))) throw new Error('reference Gateway not changed');
    await kubeQuiet();
    changeWrites = writesFor('kp-ref', markC).length;
    kubeSeq.change = ctl!.kubeWrites.length - k0;
    const mark2 = auditMark(s.emulator);
    k0 = ctl!.kubeWrites.length;
    await s.kube('config').delete(GATEWAY_API, 'TCPRoute', 'kp-ref', NS);
    await s.kube('config').delete(GATEWAY_API, 'Gateway', 'kp-ref', NS);
    if (!(await gone('kp-ref', 120_000))) throw new Error('reference Gateway not torn down');
    await kubeQuiet();
    deleteWrites = writesFor('kp-ref', mark2).filter((a) => a.method.endsWith('.delete')).length;
    kubeSeq.delete = ctl!.kubeWrites.length - k0;
    notes.push(
      `one create = ${createWrites} GCE + ${kubeSeq.create} Kubernetes writes, one port change = ${changeWrites} GCE + ${kubeSeq.change} Kubernetes, one delete = ${deleteWrites} GCE deletes + ${kubeSeq.delete} Kubernetes`,
    );
  });

  afterAll(async () => {
    row.notes = notes.join('; ');
    recordRow(row);
    await stop();
    await releaseFleet(s);
  });

  it('B1 create: killed after GCE write k, restarted: Programmed, no duplicate, nothing left after delete', async () => {
    expect(createWrites).toBeGreaterThan(3);
    for (const k of points(createWrites, 1)) {
      const name = `kp-c${k}`;
      const mark = auditMark(s.emulator);
      await s.kube('config').apply(gateway(name));
      await s.kube('config').apply(route(name));
      const at = await killAfter(name, mark, k);
      await start();
      const t0 = Date.now();
      const ok = await programmed(name, CONVERGE_LIMIT_MS);
      notes.push(`create k=${k}: killed at ${at} writes`);
      await judge(name, mark, `create killed at write ${k}`, false, ok ? Date.now() - t0 : undefined);
      await cleanUp(name, mark, `create killed at write ${k}`);
    }
  });

  it('B1 delete: killed after delete k, restarted: everything stamped for the Gateway gone', async () => {
    expect(deleteWrites).toBeGreaterThan(3);
    for (const k of points(deleteWrites, 1)) {
      const name = `kp-d${k}`;
      const mark = auditMark(s.emulator);
      await s.kube('config').apply(gateway(name));
      await s.kube('config').apply(route(name));
      expect(await programmed(name, CONVERGE_LIMIT_MS)).toBe(true);
      const del = auditMark(s.emulator);
      await s.kube('config').delete(GATEWAY_API, 'TCPRoute', name, NS);
      await s.kube('config').delete(GATEWAY_API, 'Gateway', name, NS);
      const at = await killAfter(name, del, k, 'delete');
      notes.push(`delete k=${k}: killed at ${at} writes`);
      await start();
      const t0 = Date.now();
      const ok = await gone(name, CONVERGE_LIMIT_MS);
      await judge(name, mark, `delete killed at delete ${k}`, true, ok ? Date.now() - t0 : undefined);
    }
  });

  // Quick mode leaves out the GCE change and the Kubernetes create points (the full run has them):
  // the create, delete and change paths are each crossed by a kill point of the other kind.
  if (!quick()) it('B1 change: killed after GCE write k of a port change, restarted: the change lands, no duplicate', async () => {
    expect(changeWrites).toBeGreaterThan(1);
    for (const k of points(changeWrites, 1)) {
      const name = `kp-g${k}`;
      const mark = auditMark(s.emulator);
      await s.kube('config').apply(gateway(name));
      await s.kube('config').apply(route(name));
      expect(await programmed(name, CONVERGE_LIMIT_MS)).toBe(true);
      const ch = auditMark(s.emulator);
      await s.kube('config').apply(gateway(name, 8081));
      const at = await killAfter(name, ch, k);
      notes.push(`change k=${k}: killed at ${at} writes`);
      await start();
      const t0 = Date.now();
      const ok = await changed(name, CONVERGE_LIMIT_MS);
      await judge(name, mark, `change killed at write ${k}`, false, ok ? Date.now() - t0 : undefined);
      await cleanUp(name, mark, `change killed at write ${k}`);
    }
  });

  // The same crash points on the controller's Kubernetes writes (finalizer, scope annotations,
  // member VIP Services and their status, Gateway and route status; on delete the VIP Services and
  // the finalizer): B1 above kills on GCE writes.
  for (const phase of quick() ? (['change', 'delete'] as const) : (['create', 'change', 'delete'] as const)) {
    it(`B1 Kubernetes ${phase}: killed after Kubernetes write k, restarted: converged, no duplicate, nothing left`, async () => {
      expect(kubeSeq[phase]).toBeGreaterThan(1);
      for (const k of points(kubeSeq[phase], 1)) {
        const name = `kp-k${{ create: 'n', change: 'g', delete: 'd' }[phase]}${k}`;
        const mark = auditMark(s.emulator);
        let from = ctl!.kubeWrites.length;
        await s.kube('config').apply(gateway(name));
        await s.kube('config').apply(route(name));
        if (phase !== 'create') {
          expect(await programmed(name, CONVERGE_LIMIT_MS)).toBe(true);
          await waitFor(() => firewallsOf(s.emulator, NS, name) >= 2, 30_000, `${name} firewalls`);
          await kubeQuiet();
          from = ctl!.kubeWrites.length;
        }
        if (phase === 'change') await s.kube('config').apply(gateway(name, 8081));
        if (phase === 'delete') {
          await s.kube('config').delete(GATEWAY_API, 'TCPRoute', name, NS);
          await s.kube('config').delete(GATEWAY_API, 'Gateway', name, NS);
        }
        // Past the end of this run's sequence (it can be shorter than the reference: a status write
        // that found nothing to change) is no kill point: the target state reached and 2 s without a write.
        const reached = async (): Promise<boolean> =>
          phase === 'delete' ? (await getGateway(s.kube('config'), NS, name)) === undefined : phase === 'change' ? await changed(name, 1) : await programmed(name, 1);
        const at = await killAfterKube(name, from, k, async () => Date.now() - (ctl!.kubeWrites.at(-1)?.wall ?? 0) > 2_000 && (await reached()));
        notes.push(`kube ${phase} k=${k}: killed after ${at}`);
        await start();
        const t0 = Date.now();
        const ok = phase === 'create' ? await programmed(name, CONVERGE_LIMIT_MS) : phase === 'change' ? await changed(name, CONVERGE_LIMIT_MS) : await gone(name, CONVERGE_LIMIT_MS);
        await judge(name, mark, `${phase} killed at Kubernetes write ${k}`, phase === 'delete', ok ? Date.now() - t0 : undefined);
        if (phase !== 'delete') await cleanUp(name, mark, `${phase} killed at Kubernetes write ${k}`);
      }
    });
  }

  it('B2: a Gateway deleted while no controller runs is torn down after the restart', async () => {
    const name = 'kp-dead';
    const mark = auditMark(s.emulator);
    await s.kube('config').apply(gateway(name));
    await s.kube('config').apply(route(name));
    expect(await programmed(name, CONVERGE_LIMIT_MS)).toBe(true);
    await waitFor(async () => (await vipServicesOf(name)) > 0, 30_000, 'VIP Services');
    await stop();
    await s.kube('config').delete(GATEWAY_API, 'TCPRoute', name, NS);
    await s.kube('config').delete(GATEWAY_API, 'Gateway', name, NS);
    await start();
    const t0 = Date.now();
    const ok = await gone(name, CONVERGE_LIMIT_MS);
    await judge(name, mark, 'deleted while down', true, ok ? Date.now() - t0 : undefined);
  });
});
