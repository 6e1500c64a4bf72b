// SPDX-License-Identifier: Apache-2.0
//
// Convergence benchmark (README "Benchmarks"): convergence time against the critical path of GCE
// operations, and GCE calls per change:
//   npm run bench:convergence -- [--runs 3] [--latencies 0,500]
//
// One store scenario (examples/store: config + two members, the Compute API emulator, the controller
// in this process, leader election off). For each emulator operation latency (time from PENDING to
// DONE of every GCE operation) and each run:
//   create  apply the store Gateway + TCPRoute; time until the Gateway is Programmed=True for its
//           generation, and until the load balancer is complete (NEGs with the expected endpoints
//           behind the backend service, both firewalls), polled every 25 ms; then GCE quiet;
//   resync  resyncAll() (what the periodic resync does) on the converged fleet;
//   delete  delete the Gateway, time until it is gone (teardown done, finalizer removed).
// Prints the median times per latency, the critical path the run implies (the longest chain of
// GCE operations each started after the previous one was DONE, × latency), and the GCE calls by
// method per phase (from the last run at the first latency). JSON to .cache/bench/convergence.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AuditEntry } from '../emulator/index.ts';
import { gatewayCondition, getGateway, GATEWAY_API } from '../fixtures/conditions.ts';
import { repoRoot } from '../fixtures/example.ts';
import { actualNegs, backendsOf, expectedNegs } from '../fixtures/expect.ts';
import { applyObjects, waitFor } from '../fixtures/kube.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, latencies: { type: 'string', default: '0,500' } } });
const runs = Number(values.runs);
const latencies = values.latencies.split(',').map(Number);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (m: string): void => void process.stderr.write(`${m}\n`);

/** Calls by method: `{ 'forwardingRules.insert': 1, ... }`, writes first. */
function byMethod(audit: readonly AuditEntry[]): Record<string, number> {
  const out = new Map<string, { n: number; write: boolean }>();
  for (const e of audit) {
    if (e.access === 'admin') continue;
    const c = out.get(e.method) ?? { n: 0, write: e.access === 'write' };
    c.n++;
    out.set(e.method, c);
  }
  return Object.fromEntries([...out].sort(([a, x], [b, y]) => Number(y.write) - Number(x.write) || a.localeCompare(b)).map(([m, c]) => [m, c.n]));
}

/**
 * The longest chain of successful mutations in which each one started after the previous one's
 * operation was DONE (start + latency): the operation waits the run had to sit through in sequence.
 */
function criticalPath(audit: readonly AuditEntry[], latencyMs: number, until: number): { length: number; chain: string[] } {
  const ops = audit
    .filter((e) => e.access === 'write' && e.status === 200 && e.operation !== undefined && e.time <= until)
    .sort((a, b) => a.time - b.time);
  const best: Array<{ length: number; prev: number }> = [];
  for (let i = 0; i < ops.length; i++) {
    let b = { length: 1, prev: -1 };
    for (let j = 0; j < i; j++) {
      // 5 ms tolerance: the next call is sent right after the wait returns.
      if (ops[j]!.time + latencyMs <= ops[i]!.time + 5 && best[j]!.length + 1 > b.length) b = { length: best[j]!.length + 1, prev: j };
    }
    best.push(b);
  }
  let end = -1;
  for (let i = 0; i < best.length; i++) if (end < 0 || best[i]!.length > best[end]!.length) end = i;
  const chain: string[] = [];
  for (let i = end; i >= 0; i = best[i]!.prev) chain.unshift(ops[i]!.method);
  return { length: end < 0 ? 0 : best[end]!.length, chain };
}

/** Waits until the audit log stops growing for `quietMs` (reads included). */
async function quiet(s: Scenario, quietMs = 1_000): Promise<void> {
  let n = -1;
  for (;;) {
    const cur = s.emulator.audit().length;
    if (cur === n) return;
    n = cur;
    await sleep(quietMs);
  }
}

interface RunResult {
  latencyMs: number;
  programmedMs: number;
  createMs: number;
  deleteMs: number;
  criticalOps: number;
  chain: string[];
  calls: { create: Record<string, number>; resync: Record<string, number>; delete: Record<string, number> };
}

const s = await startScenario({ apply: 'members', log });
const results: RunResult[] = [];
try {
  const config = s.kube('config');
  const members = s.fleet.members.map((m) => m.name);
  const wantNegs = JSON.stringify(expectedNegs(s.objects, members, 'store', 'store'));
  // The app's namespace first, so the MCS importer has made ServiceImport store/store before the
  // first run, as it has before every later one: each run measures the Gateway and route alone.
  await applyObjects(config, (s.objects['config'] ?? []).filter((o) => o.kind === 'Namespace'));
  await waitFor(() => config.get('multicluster.x-k8s.io/v1beta1', 'ServiceImport', 'store', 'store'), 60_000, 'ServiceImport store/store');
  for (const latencyMs of latencies) {
    s.emulator.setOperationLatency(latencyMs);
    for (let run = 1; run <= runs; run++) {
      // create
      await quiet(s);
      s.emulator.resetAudit();
      const t0 = Date.now();
      await s.apply('config');
      // Programmed=True comes as soon as the forwarding rule and the VIP exist, which can be before
      // the route's backends are in (the Gateway is reconciled on its own event, the route arrives a
      // moment later). "Converged" = Programmed=True and the load balancer complete: every NEG a
      // backend of the backend service with the expected endpoints, and both firewalls.
      let programmedAt: number | undefined;
      const convergedAt = await waitFor(
        async () => {
          const gw = await getGateway(config, 'store', 'store');
          const c = gatewayCondition(gw, 'Programmed');
          if (c?.status !== 'True' || c.observedGeneration !== gw?.metadata.generation) return undefined;
          programmedAt ??= Date.now();
          const inv = s.emulator.inventory();
          const bs = inv.backendServices[0]?.['name'];
          if (typeof bs !== 'string' || inv.firewalls.length !== 2) return undefined;
          return JSON.stringify(actualNegs(s.emulator, members, backendsOf(s.emulator, bs))) === wantNegs ? Date.now() : undefined;
        },
        300_000,
        { what: 'convergence', intervalMs: 25 },
      );
      await quiet(s);
      const createAudit = s.emulator.audit();
      const cp = criticalPath(createAudit, latencyMs, convergedAt);
      // resync
      s.emulator.resetAudit();
      await s.controller!.resyncAll();
      await quiet(s);
      const resyncAudit = s.emulator.audit();
      // delete
      s.emulator.resetAudit();
      const d0 = Date.now();
      await config.delete(GATEWAY_API, 'Gateway', 'store', 'store');
      const goneAt = await waitFor(async () => ((await getGateway(config, 'store', 'store')) === undefined ? Date.now() : undefined), 300_000, {
        what: 'the Gateway to be gone',
        intervalMs: 25,
      });
      await quiet(s);
      const r: RunResult = {
        latencyMs,
        programmedMs: (programmedAt ?? convergedAt) - t0,
        createMs: convergedAt - t0,
        deleteMs: goneAt - d0,
        criticalOps: cp.length,
        chain: cp.chain,
        calls: { create: byMethod(createAudit), resync: byMethod(resyncAudit), delete: byMethod(s.emulator.audit()) },
      };
      results.push(r);
      log(`latency ${latencyMs} ms, run ${run}: Programmed after ${r.programmedMs} ms, converged after ${r.createMs} ms (critical path ${r.criticalOps} operations), deleted in ${r.deleteMs} ms`);
    }
  }
} finally {
  await s.stop();
}

const summary = latencies.map((latencyMs) => {
  const rs = results.filter((r) => r.latencyMs === latencyMs);
  const ops = median(rs.map((r) => r.criticalOps));
  return {
    latencyMs,
    programmedMedianMs: median(rs.map((r) => r.programmedMs)),
    createMedianMs: median(rs.map((r) => r.createMs)),
    createRunsMs: rs.map((r) => r.createMs),
    deleteMedianMs: median(rs.map((r) => r.deleteMs)),
    criticalPathOps: ops,
    criticalPathMs: ops * latencyMs,
    chain: rs.at(-1)?.chain ?? [],
  };
});
const calls = results.find((r) => r.latencyMs === latencies[0])!.calls;
const total = (c: Record<string, number>, pred: (m: string) => boolean): number => Object.entries(c).filter(([m]) => pred(m)).reduce((n, [, k]) => n + k, 0);

process.stdout.write(`\nconvergence of the store Gateway (2 members, 4 NEGs), ${runs} run(s) per latency\n\n`);
process.stdout.write('latency   Programmed=True   converged: median (runs)     critical path: sequential ops × latency   delete: median\n');
for (const x of summary) {
  const cp = x.latencyMs > 0 ? `${x.criticalPathOps} × ${x.latencyMs} ms = ${x.criticalPathMs} ms` : 'n/a (operations are DONE at once)';
  process.stdout.write(
    `${String(x.latencyMs).padStart(5)} ms  ${String(x.programmedMedianMs).padStart(8)} ms   ${`${x.createMedianMs} ms (${x.createRunsMs.join(', ')})`.padEnd(28)}${cp.padEnd(42)}${x.deleteMedianMs} ms\n`,
  );
}
const withLatency = summary.find((x) => x.latencyMs > 0);
if (withLatency !== undefined) process.stdout.write(`\ncritical path at ${withLatency.latencyMs} ms: ${withLatency.chain.join(' → ')}\n`);
const all = Object.values(calls).flatMap((c) => Object.entries(c));
process.stdout.write(`\nGCE calls for the whole scenario (create → converge → resync → delete, latency ${latencies[0]} ms): ${all.reduce((n, [, k]) => n + k, 0)}\n`);
for (const phase of ['create', 'resync', 'delete'] as const) {
  const c = calls[phase];
  const writes = total(c, (m) => /\.(insert|delete|patch|update|attachNetworkEndpoints|detachNetworkEndpoints|setLabels)$/.test(m));
  process.stdout.write(`\nGCE calls, ${phase} (latency ${latencies[0]} ms): ${total(c, () => true)} calls, ${writes} writes\n`);
  for (const [m, n] of Object.entries(c)) process.stdout.write(`  ${String(n).padStart(4)}  ${m}\n`);
}
const dir = join(repoRoot, '.cache', 'bench');
await mkdir(dir, { recursive: true });
await writeFile(join(dir, 'convergence.json'), `${JSON.stringify({ at: new Date().toISOString(), runs, summary, results }, null, 2)}\n`);
process.stdout.write(`\n(JSON: ${join(dir, 'convergence.json')})\n`);
