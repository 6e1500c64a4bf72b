// SPDX-License-Identifier: Apache-2.0
//
// Battery A1/A2 (test/battery/README.md): seeded random GCE faults while Gateways are created,
// changed and deleted. Per seed: the emulator fails each Compute call with p = BATTERY_FAULT_RATE
// (default 0.2) with a seeded fault of the A1 mix (5xx, 429, 403 rate/quota, timeouts with and without
// the change applied, operation errors, 409 on an applied insert, 404 on an applied delete, 400
// in-use, latency: test/emulator/README.md); G Gateways (each a TCP listener to the store
// ServiceImport) are created, half get a port change, then all are deleted; the faults stop.
// Checked after each seed, as a user would: no stamped GCE resource of those Gateways is left, no
// GCE name was created twice (request-id replays aside), no VIP Service is left in the members, the
// Gateways are gone within 60 s of the faults ending, the sibling `store` Gateway (not touched by the
// test) got no GCE write at all, and there was no unhandled promise rejection. A2 (an insert applied
// but unanswered is adopted, never duplicated) is the `timeout-applied` / `409-applied` part of the mix.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_API, gatewayCondition, getGateway, waitGatewayCondition } from '../fixtures/conditions.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import type { Scenario } from '../fixtures/scenario.ts';
import { firewallsOf, itemFleet, releaseFleet, auditMark, duplicateInserts, medianMax, quick, recordRow, seeds, stamped, newRow, storeRoute, tcpGateway } from './lib.ts';

const RATE = Number(process.env['BATTERY_FAULT_RATE'] ?? '0.2');
const GATEWAYS = Number(process.env['BATTERY_GATEWAYS'] ?? (quick() ? '3' : '8'));
const PROGRAMMED_BUDGET_MS = 180_000;
const CONVERGE_LIMIT_MS = 60_000;
const NS = 'store';

const gateway = (name: string, port: number): KObject => tcpGateway(NS, name, port);
const route = (name: string): KObject => storeRoute(NS, name);

describe(`A1 seeded GCE fault soak (p = ${RATE})`, () => {
  let s: Scenario;
  let unhandled = 0;
  const onUnhandled = (): void => {
    unhandled++;
  };
  const row = newRow('A1', `seeded GCE faults p=${RATE}: ${GATEWAYS} Gateways create/change/delete`);
  const programmedMs: number[] = [];
  let stuckUnderFaults = 0;

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    s = await itemFleet();
    await waitGatewayCondition(s.kube('config'), NS, 'store', 'Programmed', 120_000);
    await waitFor(() => firewallsOf(s.emulator, 'store', 'store') >= 2, 60_000, 'store firewalls');
  });

  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    const pm = medianMax(programmedMs);
    row.notes = `Programmed under faults: median ${pm.median === undefined ? '-' : (pm.median / 1000).toFixed(1)} s, worst ${pm.max === undefined ? '-' : (pm.max / 1000).toFixed(1)} s, ${stuckUnderFaults} not within ${PROGRAMMED_BUDGET_MS / 1000} s; unhandled rejections ${unhandled}`;
    if (unhandled > 0) row.failures.push(`${unhandled} unhandled promise rejections`);
    recordRow(row);
    await releaseFleet(s);
  });

  for (const seed of seeds(1, 200)) {
    it(`seed ${seed}: no leak, no duplicate, no write to the sibling, converged ≤ 60 s after the faults`, async () => {
      const kube = s.kube('config');
      const emu = s.emulator;
      const names = Array.from({ length: GATEWAYS }, (_, i) => `soak-s${seed}-g${i}`);
      const mark = auditMark(emu);
      const fault = emu.faults.inject({ action: { kind: 'chaos', rate: RATE, seed, hangMs: 1500, latencyMs: 1000 } });
      const failures: string[] = [];
      try {
        // Create under faults.
        const t0 = Date.now();
        for (const n of names) {
          await kube.apply(gateway(n, 8080));
          await kube.apply(route(n));
        }
        const pending = new Set(names);
        await waitFor(
          async () => {
            for (const n of [...pending]) {
              const gw = await getGateway(kube, NS, n);
              const c = gatewayCondition(gw, 'Programmed');
              if (c?.status === 'True' && c.observedGeneration === gw?.metadata.generation) {
                pending.delete(n);
                programmedMs.push(Date.now() - t0);
              }
            }
            return pending.size === 0;
          },
          PROGRAMMED_BUDGET_MS,
          'every Gateway Programmed under faults',
        ).catch(() => undefined);
        stuckUnderFaults += pending.size;
        if (pending.size > 0) failures.push(`not Programmed within ${PROGRAMMED_BUDGET_MS / 1000} s under faults: ${[...pending].join(', ')}`);
        // Change half of them (a port change: forwarding rule re-created on the same VIP).
        for (const n of names.filter((_, i) => i % 2 === 0)) await kube.apply(gateway(n, 8081));
        await waitFor(
          async () => {
            for (const n of names.filter((_, i) => i % 2 === 0)) {
              const gw = await getGateway(kube, NS, n);
              const c = gatewayCondition(gw, 'Programmed');
              if (!(c?.status === 'True' && c.observedGeneration === gw?.metadata.generation)) return false;
            }
            return true;
          },
          PROGRAMMED_BUDGET_MS,
          'changed Gateways Programmed',
        ).catch(() => failures.push('changed Gateways not Programmed under faults'));
        // Delete everything, still under faults, then end the faults.
        for (const n of names) {
          await kube.delete(GATEWAY_API, 'TCPRoute', n, NS);
          await kube.delete(GATEWAY_API, 'Gateway', n, NS);
        }
        await new Promise((r) => setTimeout(r, 5_000)); // deletes proceed under faults for a while
      } finally {
        emu.faults.clear(fault);
      }
      const faultsEnded = Date.now();
      const mine = (x: { gateway: string }): boolean => names.some((n) => x.gateway === `${NS}/${n}`);
      let converged: number | undefined;
      await waitFor(
        async () => {
          const left = await Promise.all(names.map((n) => getGateway(kube, NS, n)));
          if (left.some((g) => g !== undefined)) return false;
          if (stamped(emu.inventory()).some(mine)) return false;
          converged = Date.now() - faultsEnded;
          return true;
        },
        CONVERGE_LIMIT_MS * 2,
        'Gateways and their GCE resources gone after the faults',
      ).catch(() => undefined);
      row.convergeMs = Math.max(row.convergeMs ?? 0, converged ?? Date.now() - faultsEnded);
      if (converged === undefined || converged > CONVERGE_LIMIT_MS) failures.push(`not converged ${CONVERGE_LIMIT_MS / 1000} s after the faults ended (${converged ?? 'never'} ms)`);
      const leaks = stamped(emu.inventory()).filter(mine);
      const audit = emu.audit().filter((a) => a.seq > mark);
      const dups = duplicateInserts(audit.filter((a) => names.some((n) => a.resource?.includes(`-${NS}-${n}-`))), emu.inventory());
      const sibling = audit.filter((a) => a.access === 'write' && a.resource !== undefined && /-store-store-/.test(a.resource));
      let vipLeft = 0;
      for (const m of s.fleet.members) {
        const svcs = await s.kube(m.name).list('v1', 'Service', { labelSelector: 'fleetilb.io/managed-by=fleet-ilb' });
        vipLeft += svcs.filter((x) => names.some((n) => x.metadata.labels?.['fleetilb.io/gateway-name'] === n)).length;
      }
      row.runs++;
      row.gceLeaks += leaks.length;
      row.duplicates += dups.length;
      row.kubeLeaks += vipLeft;
      row.forbiddenWrites += sibling.length;
      if (leaks.length > 0) failures.push(`seed ${seed}: ${leaks.length} GCE resources leaked: ${leaks.map((l) => `${l.kind}/${l.name}`).slice(0, 5).join(', ')}`);
      if (dups.length > 0) failures.push(`seed ${seed}: duplicate inserts: ${dups.slice(0, 5).join(', ')}`);
      if (vipLeft > 0) failures.push(`seed ${seed}: ${vipLeft} VIP Services left in members`);
      if (sibling.length > 0) failures.push(`seed ${seed}: ${sibling.length} writes to the untouched store Gateway: ${sibling.slice(0, 5).map((a) => `${a.method} ${a.resource?.split('/').pop()}`).join(', ')}`);
      row.failures.push(...failures.map((f) => (f.startsWith('seed') ? f : `seed ${seed}: ${f}`)));
      expect(failures).toEqual([]);
    });
  }
});
