// SPDX-License-Identifier: Apache-2.0
//
// Battery A1/A2 (test/battery/README.md): seeded random GCE faults while Gateways are created,
// changed and deleted. Per seed: G Gateways (each a TCP listener to the store ServiceImport) are
// created, half get a port change, then all are deleted, while the emulator fails each Compute call
// about the seed's resources with p = BATTERY_FAULT_RATE (default 0.2) with a fault of the A1 mix
// (5xx, 429, 403 rate/quota, timeouts with and without the change applied, operation errors, 409 on
// an applied insert, 404 on an applied delete, 400 in-use, latency: test/emulator/README.md) drawn
// from the seed's own stream; then the faults stop.
// Seeds run in batches of BATTERY_A1_CONCURRENCY on the one fleet: most of a seed is the controller
// waiting out its per-Gateway backoff after faults (a seed alone makes ~7 GCE calls/s, 4 or 8 side
// by side ~10/s, far below the controller's default budget), so seeds side by side cost less than
// one after the other; the limit is probably the controller's 4 workers held by faulted calls
// (hangs, latency) — 8 at once left one Gateway unprogrammed for 180 s once. Each seed's chaos rule
// matches only its own resources (the emulator's `resource` matcher: names carry the Gateway's
// namespace and name; an operation poll counts as its target), and one more rule, seeded from the batch, takes every other call (lists,
// the shared NEGs, the sibling's reads) at the same rate, so every call still meets p. Within a
// batch each seed goes through its phases at its own pace; all rules stop together when the last
// seed has deleted its Gateways, and convergence is measured from then.
// Checked after each batch, per seed, as a user would: no stamped GCE resource of its Gateways is
// left, no GCE name was created twice (request-id replays aside), no VIP Service is left in the
// members, its Gateways are gone within 60 s of the faults ending, every failed reconcile of its
// Gateways (the controller's "reconcile failed" log lines) left a Warning Event with that error on
// the Gateway (issue 12: "every failed sync left a condition or an Event"); for the batch: the sibling
// `store` Gateway (never touched) got no GCE write at all, and no unhandled promise rejection. A2
// (an insert applied but unanswered is adopted, never duplicated) is the `timeout-applied` /
// `409-applied` part of the mix.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_API, gatewayCondition, getGateway, waitGatewayCondition } from '../fixtures/conditions.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import type { Scenario } from '../fixtures/scenario.ts';
import { firewallsOf, itemFleet, releaseFleet, auditMark, duplicateInserts, medianMax, quick, recordRow, seeds, stamped, newRow, storeRoute, tcpGateway } from './lib.ts';

const RATE = Number(process.env['BATTERY_FAULT_RATE'] ?? '0.2');
const GATEWAYS = Number(process.env['BATTERY_GATEWAYS'] ?? (quick() ? '3' : '8'));
/** Seeds run side by side (see the header). */
const CONCURRENCY = Math.max(1, Number(process.env['BATTERY_A1_CONCURRENCY'] ?? '4'));
const PROGRAMMED_BUDGET_MS = 180_000;
const CONVERGE_LIMIT_MS = 60_000;
/** How long the deletes proceed under faults before the faults stop. */
const DELETE_UNDER_FAULTS_MS = 5_000;
const NS = 'store';

const gateway = (name: string, port: number): KObject => tcpGateway(NS, name, port);
const route = (name: string): KObject => storeRoute(NS, name);
const gatewayNames = (seed: number): string[] => Array.from({ length: GATEWAYS }, (_, i) => `soak-s${seed}-g${i}`);
/** A regex on resource names (controller/naming/names.ts `fl-{f}-{ns}-{name}-{h}…`) for the Gateways of these seeds. */
const resourcesOf = (seeds: readonly number[]): string => `-${NS}-soak-s(${seeds.join('|')})-g\\d+-`;
const chunks = <T>(xs: readonly T[], n: number): T[][] => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n));
const secs = (ms: number | undefined): string => (ms === undefined ? '-' : (ms / 1000).toFixed(1));

describe(`A1 seeded GCE fault soak (p = ${RATE})`, () => {
  let s: Scenario;
  let unhandled = 0;
  const onUnhandled = (): void => {
    unhandled++;
  };
  const row = newRow('A1', `seeded GCE faults p=${RATE}: ${GATEWAYS} Gateways create/change/delete, ${CONCURRENCY} seeds at once`);
  const programmedMs: number[] = [];
  let stuckUnderFaults = 0;
  /** Wall time of each batch and of its phases (the profile the notes print). */
  const phases: Record<'create' | 'change' | 'delete' | 'faults' | 'converge' | 'batch', number[]> = { create: [], change: [], delete: [], faults: [], converge: [], batch: [] };
  let seedsRun = 0;
  /** Failed reconciles of the seeds' Gateways (each checked for its Warning Event). */
  let failedSyncsSeen = 0;

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    s = await itemFleet();
    await waitGatewayCondition(s.kube('config'), NS, 'store', 'Programmed', 120_000);
    await waitFor(() => firewallsOf(s.emulator, 'store', 'store') >= 2, 60_000, 'store firewalls');
  });

  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    const pm = medianMax(programmedMs);
    const med = (k: keyof typeof phases): string => secs(medianMax(phases[k]).median);
    const total = phases.batch.reduce((a, b) => a + b, 0);
    row.notes =
      `Programmed under faults: median ${secs(pm.median)} s, worst ${secs(pm.max)} s, ${stuckUnderFaults} not within ${PROGRAMMED_BUDGET_MS / 1000} s; ` +
      `median s: seed create ${med('create')}, change ${med('change')}, delete ${med('delete')}; batch faults ${med('faults')}, converge ${med('converge')}; ` +
      `${seedsRun > 0 ? (total / 1000 / seedsRun).toFixed(1) : '-'} s per seed; ${failedSyncsSeen} failed syncs checked for their Warning Event; unhandled rejections ${unhandled}`;
    if (unhandled > 0) row.failures.push(`${unhandled} unhandled promise rejections`);
    recordRow(row);
    await releaseFleet(s);
  });

  const programmed = async (name: string): Promise<boolean> => {
    const gw = await getGateway(s.kube('config'), NS, name);
    const c = gatewayCondition(gw, 'Programmed');
    return c?.status === 'True' && c.observedGeneration === gw?.metadata.generation;
  };
  /** Waits until every name is Programmed (or the budget ends); returns those that are not. */
  const waitProgrammed = async (names: readonly string[], onProgrammed?: (name: string) => void): Promise<Set<string>> => {
    const pending = new Set(names);
    await waitFor(
      async () => {
        for (const n of [...pending]) {
          if (await programmed(n)) {
            pending.delete(n);
            onProgrammed?.(n);
          }
        }
        return pending.size === 0;
      },
      PROGRAMMED_BUDGET_MS,
      'Gateways Programmed under faults',
    ).catch(() => undefined);
    return pending;
  };

  for (const batch of chunks(seeds(1, 200), CONCURRENCY)) {
    it(`seed${batch.length > 1 ? 's' : ''} ${batch.join(', ')}: no leak, no duplicate, no write to the sibling, converged ≤ 60 s after the faults`, async () => {
      const kube = s.kube('config');
      const emu = s.emulator;
      const namesOf = new Map(batch.map((seed) => [seed, gatewayNames(seed)]));
      const failures: string[] = [];
      const fail = (seed: number, what: string): void => void failures.push(`seed ${seed}: ${what}`);
      const mark = auditMark(emu);
      // Every reconcile of these Gateways that failed, as the controller logs it ("reconcile
      // failed", main.ts): each must have left a Warning Event with its error on its Gateway.
      const failedSyncs: Array<{ name: string; err: string }> = [];
      const seedOf = new Map(batch.flatMap((seed) => namesOf.get(seed)!.map((n) => [n, seed] as const)));
      const stopLog = s.onControllerLog((line) => {
        let l: { msg?: string; key?: string; err?: string; outcome?: string };
        try {
          l = JSON.parse(line) as typeof l;
        } catch {
          return;
        }
        const name = l.key?.startsWith(`gateway:${NS}/`) === true ? l.key.slice(`gateway:${NS}/`.length) : undefined;
        if (l.msg === 'reconcile failed' && name !== undefined && seedOf.has(name)) failedSyncs.push({ name, err: l.err ?? '' });
      });
      // Each seed's own stream for its own resources; the batch's stream for every other call.
      const rules = batch.map((seed) => emu.faults.inject({ resource: resourcesOf([seed]), action: { kind: 'chaos', rate: RATE, seed, hangMs: 1500, latencyMs: 1000 } }));
      rules.push(emu.faults.inject({ resource: `^(?!.*${resourcesOf(batch)})`, action: { kind: 'chaos', rate: RATE, seed: 1_000_000 + batch[0]!, hangMs: 1500, latencyMs: 1000 } }));
      const t0 = Date.now();
      /** One seed's fault phase: its Gateways created, half changed, all deleted, at its own pace. */
      const runSeed = async (seed: number): Promise<void> => {
        const names = namesOf.get(seed)!;
        const ts = Date.now();
        for (const n of names) {
          await kube.apply(gateway(n, 8080));
          await kube.apply(route(n));
        }
        const notProgrammed = await waitProgrammed(names, () => programmedMs.push(Date.now() - ts));
        stuckUnderFaults += notProgrammed.size;
        if (notProgrammed.size > 0) fail(seed, `not Programmed within ${PROGRAMMED_BUDGET_MS / 1000} s under faults: ${[...notProgrammed].join(', ')}`);
        const t1 = Date.now();
        // Change half of them (a port change: forwarding rule re-created on the same VIP).
        const changed = names.filter((_, i) => i % 2 === 0);
        for (const n of changed) await kube.apply(gateway(n, 8081));
        if ((await waitProgrammed(changed)).size > 0) fail(seed, 'changed Gateways not Programmed under faults');
        const t2 = Date.now();
        // Delete everything, still under faults.
        for (const n of names) {
          await kube.delete(GATEWAY_API, 'TCPRoute', n, NS);
          await kube.delete(GATEWAY_API, 'Gateway', n, NS);
        }
        await new Promise((r) => setTimeout(r, DELETE_UNDER_FAULTS_MS)); // the deletes proceed under faults for a while
        phases.create.push(t1 - ts);
        phases.change.push(t2 - t1);
        phases.delete.push(Date.now() - t2);
      };
      try {
        // The seeds run side by side; the faults end for all of them at once, when the last is done
        // (until then the others' deletes proceed under faults too).
        await Promise.all(batch.map((seed) => runSeed(seed)));
      } finally {
        for (const r of rules) emu.faults.clear(r);
      }
      const faultsEnded = Date.now();
      const gatewayOf = (x: { gateway: string }): string | undefined => (x.gateway.startsWith(`${NS}/`) ? x.gateway.slice(NS.length + 1) : undefined);
      const convergedMs = new Map<number, number>();
      await waitFor(
        async () => {
          const inv = stamped(emu.inventory());
          for (const seed of batch) {
            if (convergedMs.has(seed)) continue;
            const names = namesOf.get(seed)!;
            if ((await Promise.all(names.map((n) => getGateway(kube, NS, n)))).some((g) => g !== undefined)) continue;
            if (inv.some((x) => names.includes(gatewayOf(x) ?? ''))) continue;
            convergedMs.set(seed, Date.now() - faultsEnded);
          }
          return convergedMs.size === batch.length;
        },
        CONVERGE_LIMIT_MS * 2,
        'Gateways and their GCE resources gone after the faults',
      ).catch(() => undefined);
      const t3 = Date.now();
      const inv = emu.inventory();
      const audit = emu.audit().filter((a) => a.seq > mark);
      for (const seed of batch) {
        const names = namesOf.get(seed)!;
        const converged = convergedMs.get(seed);
        row.convergeMs = Math.max(row.convergeMs ?? 0, converged ?? t3 - faultsEnded);
        if (converged === undefined || converged > CONVERGE_LIMIT_MS) fail(seed, `not converged ${CONVERGE_LIMIT_MS / 1000} s after the faults ended (${converged ?? 'never'} ms)`);
        const leaks = stamped(inv).filter((x) => names.includes(gatewayOf(x) ?? ''));
        const dups = duplicateInserts(
          audit.filter((a) => names.some((n) => a.resource?.includes(`-${NS}-${n}-`))),
          inv,
        );
        let vipLeft = 0;
        for (const m of s.fleet.members) {
          const svcs = await s.kube(m.name).list('v1', 'Service', { labelSelector: 'fleetilb.io/managed-by=fleet-ilb' });
          vipLeft += svcs.filter((x) => names.includes(x.metadata.labels?.['fleetilb.io/gateway-name'] ?? '')).length;
        }
        row.gceLeaks += leaks.length;
        row.duplicates += dups.length;
        row.kubeLeaks += vipLeft;
        if (leaks.length > 0) fail(seed, `${leaks.length} GCE resources leaked: ${leaks.map((l) => `${l.kind}/${l.name}`).slice(0, 5).join(', ')}`);
        if (dups.length > 0) fail(seed, `duplicate inserts: ${dups.slice(0, 5).join(', ')}`);
        if (vipLeft > 0) fail(seed, `${vipLeft} VIP Services left in members`);
      }
      stopLog();
      // A failed sync the user cannot see is a lost one: a Warning Event about the Gateway (the
      // Events outlive it) whose note carries the error.
      let unreported: Array<{ name: string; err: string }> = [];
      await waitFor(
        async () => {
          const events = (await kube.list<KObject & { type?: string; note?: string; regarding?: { kind?: string; name?: string } }>('events.k8s.io/v1', 'Event', { namespace: NS })).filter(
            (e) => e.type === 'Warning' && e.regarding?.kind === 'Gateway',
          );
          unreported = failedSyncs.filter((f) => !events.some((e) => e.regarding?.name === f.name && (e.note ?? '').includes(f.err.slice(0, 300))));
          return unreported.length === 0;
        },
        10_000,
        'a Warning Event for every failed sync',
      ).catch(() => undefined);
      failedSyncsSeen += failedSyncs.length;
      for (const f of unreported) fail(seedOf.get(f.name)!, `a failed sync of ${f.name} left no Warning Event: ${f.err.slice(0, 200)}`);
      const sibling = audit.filter((a) => a.access === 'write' && a.resource !== undefined && /-store-store-/.test(a.resource));
      row.forbiddenWrites += sibling.length;
      if (sibling.length > 0) failures.push(`seeds ${batch.join(', ')}: ${sibling.length} writes to the untouched store Gateway: ${sibling.slice(0, 5).map((a) => `${a.method} ${a.resource?.split('/').pop()}`).join(', ')}`);
      row.runs += batch.length;
      seedsRun += batch.length;
      phases.faults.push(faultsEnded - t0);
      phases.converge.push(t3 - faultsEnded);
      phases.batch.push(t3 - t0);
      if (process.env['BATTERY_PROFILE'] === '1') {
        const faulted = audit.filter((a) => a.chaos !== undefined).length;
        const writes = audit.filter((a) => a.access === 'write').length;
        const perS = (n: number): string => (n / ((t3 - t0) / 1000)).toFixed(1);
        console.log(
          `A1 seeds ${batch.join(',')}: faults ${secs(faultsEnded - t0)} s, converge ${secs(t3 - faultsEnded)} s (${[...convergedMs.values()].map(secs).join('/')}); ` +
            `${audit.length} GCE calls (${perS(audit.length - writes)} reads/s, ${perS(writes)} writes/s), ${faulted} faulted`,
        );
      }
      row.failures.push(...failures);
      expect(failures).toEqual([]);
    });
  }
});
