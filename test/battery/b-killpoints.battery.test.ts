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
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControllerOptions } from '../../controller/main.ts';
import { GATEWAY_API, gatewayCondition, getGateway, waitGatewayCondition } from '../fixtures/conditions.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';
import type { AuditEntry } from '../emulator/index.ts';
import { auditMark, duplicateInserts, quick, recordRow, stamped, newRow, storeRoute, tcpGateway } from './lib.ts';

const NS = 'store';
const CONVERGE_LIMIT_MS = 60_000;

/** One controller process; killed with SIGKILL (no cleanup, like a node that dies). */
class Controller {
  readonly proc: ChildProcess;
  readonly exited: Promise<void>;
  started = false;
  constructor(opts: ControllerOptions) {
    const child = fileURLToPath(new URL('../integration/controller-replica-child.ts', import.meta.url));
    this.proc = spawn(process.execPath, [child], { env: { ...process.env, FLEET_ILB_REPLICA_OPTIONS: JSON.stringify(opts) }, stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('"ev":"started"')) this.started = true;
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', () => resolve()));
  }
  async kill(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    await this.exited;
  }
}

const gateway = (name: string): KObject => tcpGateway(NS, name, 8080);
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
  let ctl: Controller | undefined;
  let opts: ControllerOptions;
  const row = newRow('B1/B2', 'controller SIGKILLed at GCE write k of create/delete, restarted');
  const notes: string[] = [];

  const mineOf = (name: string) => (a: AuditEntry): boolean => a.resource?.includes(`-${NS}-${name}-`) === true;
  const writesFor = (name: string, since: number): AuditEntry[] => s.emulator.audit().filter((a) => a.seq > since && a.access === 'write' && mineOf(name)(a));

  const start = async (): Promise<void> => {
    const c = new Controller(opts);
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

  beforeAll(async () => {
    s = await startScenario({ controller: false });
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
    await waitFor(() => s.emulator.inventory().firewalls.length >= 2, 60_000, 'store firewalls');
    // The undisturbed sequence: how many GCE writes one create and one delete make.
    const mark = auditMark(s.emulator);
    await s.kube('config').apply(gateway('kp-ref'));
    await s.kube('config').apply(route('kp-ref'));
    if (!(await programmed('kp-ref', 120_000))) throw new Error('reference Gateway not Programmed');
    // Programmed=True needs no quiet GCE: let the last writes (firewalls) land.
    await waitFor(() => s.emulator.inventory().firewalls.length >= 4, 60_000, 'reference firewalls');
    createWrites = writesFor('kp-ref', mark).length;
    const mark2 = auditMark(s.emulator);
    await s.kube('config').delete(GATEWAY_API, 'TCPRoute', 'kp-ref', NS);
    await s.kube('config').delete(GATEWAY_API, 'Gateway', 'kp-ref', NS);
    if (!(await gone('kp-ref', 120_000))) throw new Error('reference Gateway not torn down');
    deleteWrites = writesFor('kp-ref', mark2).filter((a) => a.method.endsWith('.delete')).length;
    notes.push(`one create = ${createWrites} GCE writes, one delete = ${deleteWrites} deletes`);
  });

  afterAll(async () => {
    row.notes = notes.join('; ');
    recordRow(row);
    await stop();
    await s?.stop();
  });

  it('B1 create: killed after GCE write k, restarted: Programmed, no duplicate, nothing left after delete', async () => {
    expect(createWrites).toBeGreaterThan(3);
    for (const k of points(createWrites, 3)) {
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
    for (const k of points(deleteWrites, 2)) {
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
