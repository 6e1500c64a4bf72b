// SPDX-License-Identifier: Apache-2.0
//
// Scale benchmark (issue: "fleet-ilb at 1000 Gateways"):
//   npm run bench:scale -- [--n 100,300,1000 | --n= (only slow)] [--quick] [--skip resync,endpoint,restart,slow] [--endpoint-changes 5]
//                          [--timeout-minutes 20] [--quiet-seconds 5] [--services 20]
//                          [--workers N] [--gce-writes-per-minute N] [--gce-reads-per-minute N] [--gce-ratelimit L]
//                          [--health-period SECONDS]  (default: the controller's, 60 s; 0 = the backend-health reader off)
//                          [--cpu-prof]  (a CPU profile of each controller process in .cache/bench/cpuprof-N-Lms/)
//
// Per N: a local fleet (config + 3 members × 3 zones × 100 Nodes, written to the member apiservers;
// the Compute API emulator seeded with one VM per Node), S Services (default 20) exported by every
// member with an EndpointSlice of 6 ready endpoints (2 per zone), and N Gateways × 2 TCP listeners,
// each listener with its own TCPRoute to a ServiceImport. Everything exists before the controller
// starts (a cold start); the controller runs in its own OS process (test/bench/scale-controller.ts),
// so its RSS is its own. Phases:
//   create   controller started → every Gateway Programmed=True (for its generation) → GCE quiet
//            (no Compute call for --quiet-seconds, the work queue empty);
//   resync   SIGUSR1 → resyncAll() (what the periodic resync does) → every Gateway reconciled again
//            and GCE quiet;
//   endpoint one endpoint of one service's EndpointSlice in one member moves to a node that hosts
//            none of the service's endpoints (one shared NEG: one attach, one detach) → the Gateways
//            that route to the service (N/10) reconciled, the NEG changed in GCE, and GCE quiet;
//            repeated --endpoint-changes times (default 5), each on another service, with the
//            medians printed, per reconciled Gateway too (it must not grow with N);
//   restart  SIGTERM, then a new controller process on the converged fleet → every Gateway
//            reconciled and GCE quiet.
// Printed per N and phase: wall time, GCE reads and writes (the emulator's counters), reconcile
// duration p50/p99 (the controller's `fleetilb_reconcile_duration_seconds` histogram, interpolated
// within buckets as Prometheus' histogram_quantile does), controller peak RSS (VmHWM), the largest V8
// heap in use scraped, and the live heap after a full GC at the end of the phase. The controller runs
// with the Node flags the image ships (the Dockerfile's NODE_OPTIONS: heap limits). Then the same
// at 50 ms per GCE operation for N = 100 (`slow`). Each run is capped by --timeout-minutes: what was
// reached by then is reported and the run's later phases are skipped.
// --quick = --n 100 --skip restart,slow. JSON to .cache/bench/scale.json; progress on stderr.
import { createInterface } from 'node:readline';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ControllerOptions } from '../../controller/main.ts';
import { GATEWAY_API, gatewayCondition, type GatewayObject } from '../fixtures/conditions.ts';
import { repoRoot } from '../fixtures/example.ts';
import { Kube, type KObject } from '../fixtures/kube.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string' },
    quick: { type: 'boolean', default: false },
    skip: { type: 'string', default: '' },
    'timeout-minutes': { type: 'string', default: '20' },
    'quiet-seconds': { type: 'string', default: '5' },
    services: { type: 'string', default: '20' },
    'slow-latency-ms': { type: 'string', default: '50' },
    'endpoint-changes': { type: 'string', default: '5' },
    // The controller's GCE budget and workers (its flags of the same names): a project whose Compute
    // quota was raised for a fleet this size. Defaults = the controller's.
    workers: { type: 'string' },
    'gce-writes-per-minute': { type: 'string' },
    'gce-reads-per-minute': { type: 'string' },
    'gce-ratelimit': { type: 'string' },
    'health-period': { type: 'string' },
    // Node's --cpu-prof for every controller process: one .cpuprofile per process, written when it
    // stops, in .cache/bench/cpuprof-N-Lms/ (open in Chrome DevTools or speedscope).
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const NS = values.n ?? (values.quick ? '100' : '100,300,1000');
// `--n=` (empty): no 0 ms run, only the 50 ms one (`slow`).
const SIZES = NS.split(',').filter((x) => x !== '').map(Number);
const SKIP = new Set([...values.skip.split(',').filter((s) => s !== ''), ...(values.quick ? ['restart', 'slow'] : [])]);
for (const s of SKIP) if (!['resync', 'endpoint', 'restart', 'slow'].includes(s)) throw new Error(`--skip: unknown phase ${s} (resync, endpoint, restart, slow)`);
if (SIZES.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--n: a comma-separated list of positive integers');
const TIMEOUT_MS = Number(values['timeout-minutes']) * 60_000;
const QUIET_MS = Number(values['quiet-seconds']) * 1000;
const SERVICES = Number(values.services);
const SLOW_MS = Number(values['slow-latency-ms']);
const ENDPOINT_CHANGES = Number(values['endpoint-changes']);
if (!Number.isInteger(ENDPOINT_CHANGES) || ENDPOINT_CHANGES < 1) throw new Error('--endpoint-changes: a positive integer');

const MEMBERS = 3;
const ZONE_SUFFIXES = ['a', 'b', 'c'];
const NODES_PER_ZONE = 100;
const ENDPOINTS_PER_ZONE = 2;
const APP_NS = 'bench';
const PORT = 8080;

const t0 = performance.now();
const progress = (m: string): void => void process.stderr.write(`[scale ${((performance.now() - t0) / 1000).toFixed(1).padStart(7)}s] ${m}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The fleet's objects

function memberObjects(member: string, mi: number, project: string, region: string): KObject[] {
  const out: KObject[] = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: APP_NS } }];
  ZONE_SUFFIXES.forEach((suffix, zi) => {
    const zone = `${region}-${suffix}`;
    for (let k = 0; k < NODES_PER_ZONE; k++) {
      const name = nodeName(member, zi, k);
      out.push({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'topology.kubernetes.io/region': region, 'topology.kubernetes.io/zone': zone } },
        spec: { providerID: `gce://${project}/${zone}/${name}` },
        status: {
          addresses: [{ type: 'InternalIP', address: `10.${200 + mi}.${zi}.${10 + k}` }, { type: 'Hostname', address: name }],
          conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
        },
      });
    }
  });
  for (let s = 0; s < SERVICES; s++) {
    const svc = svcName(s);
    out.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: svc, namespace: APP_NS },
      spec: { selector: { app: svc }, ports: [{ name: 'tcp', protocol: 'TCP', port: PORT, targetPort: PORT }] },
    });
    out.push({ apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport', metadata: { name: svc, namespace: APP_NS } });
    out.push(endpointSlice(member, mi, s, region));
  }
  return out;
}

const nodeName = (member: string, zi: number, k: number): string => `${member}-${ZONE_SUFFIXES[zi]!}-${String(k).padStart(3, '0')}`;
const svcName = (s: number): string => `svc-${String(s).padStart(2, '0')}`;

/**
 * The EndpointSlice of service `s` in one member: 2 ready endpoints per zone on nodes
 * (s·7 + j·31) mod 100. `moveFirstTo` puts the first endpoint of zone a on that node index instead
 * (the `endpoint` phase: one endpoint moves to a node that hosts none of the service's endpoints).
 */
function endpointSlice(member: string, mi: number, s: number, region: string, moveFirstTo?: number): KObject {
  const svc = svcName(s);
  const endpoints = ZONE_SUFFIXES.flatMap((suffix, zi) =>
    Array.from({ length: ENDPOINTS_PER_ZONE }, (_, j) => ({
      addresses: [`100.${64 + mi}.${s}.${zi * ENDPOINTS_PER_ZONE + j + 2}`],
      nodeName: nodeName(member, zi, zi === 0 && j === 0 && moveFirstTo !== undefined ? moveFirstTo : (s * 7 + j * 31) % NODES_PER_ZONE),
      zone: `${region}-${suffix}`,
      conditions: { ready: true, serving: true, terminating: false },
    })),
  );
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-${member}`, namespace: APP_NS, labels: { 'kubernetes.io/service-name': svc, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType: 'IPv4',
    ports: [{ name: 'tcp', protocol: 'TCP', port: PORT }],
    endpoints,
  };
}

/** How many of the N Gateways route to service `s` (Gateway i's listeners go to services i and i+1 mod S). */
function gatewaysUsing(n: number, s: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (i % SERVICES === s || (i + 1) % SERVICES === s) k++;
  return k;
}

const gwName = (i: number): string => `gw-${String(i).padStart(4, '0')}`;

function configObjects(n: number): KObject[] {
  const out: KObject[] = [];
  for (let i = 0; i < n; i++) {
    const gw = gwName(i);
    out.push({
      apiVersion: GATEWAY_API,
      kind: 'Gateway',
      metadata: { name: gw, namespace: APP_NS },
      spec: {
        gatewayClassName: 'fleet-ilb',
        listeners: [0, 1].map((l) => ({ name: `l${l}`, protocol: 'TCP', port: 8000 + l, allowedRoutes: { kinds: [{ kind: 'TCPRoute' }] } })),
      },
    });
    for (const l of [0, 1]) {
      out.push({
        apiVersion: GATEWAY_API,
        kind: 'TCPRoute',
        metadata: { name: `${gw}-l${l}`, namespace: APP_NS },
        spec: {
          parentRefs: [{ name: gw, sectionName: `l${l}` }],
          rules: [{ backendRefs: [{ group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name: svcName((i + l) % SERVICES), port: PORT }] }],
        },
      });
    }
  }
  return out;
}

/** Server-side applies `objects` with `width` requests in flight (Namespaces and Nodes first). */
async function applyConcurrently(kube: Kube, objects: readonly KObject[], width = 8): Promise<void> {
  const first = objects.filter((o) => o.kind === 'Namespace');
  for (const o of first) await kube.apply(o);
  const rest = objects.filter((o) => o.kind !== 'Namespace');
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < rest.length) {
        const o = rest[next++]!;
        await kube.apply(o);
      }
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// The controller process and what we read from it

interface ControllerProc {
  proc: ChildProcess;
  pid: number;
  healthUrl: string;
  exited: Promise<void>;
  /** The live heap after a full GC (SIGUSR2, scale-controller.ts); undefined if no answer within 60 s. */
  heap: () => Promise<HeapReading | undefined>;
}

/** scale-controller.ts's answer to SIGUSR2, MiB. */
interface HeapReading {
  /** V8 heap in use right after a full GC: the live set. */
  liveMiB: number;
  /** V8 heap committed (in use + free space V8 keeps). */
  committedMiB: number;
  /** V8 heap limit (--max-old-space-size plus the young generation). */
  limitMiB: number;
  /** RSS, and its parts: mapped files (node's code), malloc's main arena, other anonymous memory (V8 heap pages, malloc thread arenas, stacks). */
  rssMiB: number;
  fileMiB: number;
  brkMiB: number;
  anonMiB: number;
  /** Held outside the V8 heap (Buffers, ArrayBuffers). */
  externalMiB: number;
}

/**
 * The Node flags the image runs the controller with: the Dockerfile's `ENV NODE_OPTIONS="..."` (one
 * place; deploy/README.md "Memory"), so the bench measures the heap limits that ship.
 */
function shippedNodeFlags(): string[] {
  const m = /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
  if (m === null) throw new Error('Dockerfile: no ENV NODE_OPTIONS="..." line');
  return m[1]!.split(/\s+/).filter((f) => f !== '');
}
const NODE_FLAGS = shippedNodeFlags();

/**
 * The image's malloc setting: the Dockerfile's `ENV MALLOC_ARENA_MAX=N` (glibc reads it when the
 * process starts), so the controller's native memory is measured as it ships.
 */
function shippedMallocEnv(): Record<string, string> {
  const m = /^ENV MALLOC_ARENA_MAX=(\d+)$/m.exec(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
  return m === null ? {} : { MALLOC_ARENA_MAX: m[1]! };
}
const MALLOC_ENV = shippedMallocEnv();

async function spawnController(s: Scenario, logPath: string, profDir?: string): Promise<ControllerProc> {
  const opts: ControllerOptions = {
    kubeconfig: s.fleet.config.kubeconfigPath,
    computeEndpoint: s.emulator.url,
    project: s.gcp.project,
    leaderElect: false,
    metricsAddr: '127.0.0.1:0',
    fleetId: 'bench',
    // The bench triggers the one resync it measures (SIGUSR1); no periodic resync or sweep meanwhile.
    resyncPeriodMs: 0,
    sweepPeriodMs: 0,
    // The backend-health reader runs at the controller's default unless --health-period says
    // otherwise (0: off). It is a steady low-lane load bounded by --health-read-share of the read
    // budget; its getHealth calls are counted apart and do not count against "quiet".
    ...(values['health-period'] === undefined ? {} : { healthPeriodMs: Number(values['health-period']) * 1000 }),
    logLevel: 'warn',
    ...(values.workers === undefined ? {} : { workers: Number(values.workers) }),
    ...(values['gce-writes-per-minute'] === undefined ? {} : { gceWritesPerMinute: Number(values['gce-writes-per-minute']) }),
    ...(values['gce-reads-per-minute'] === undefined ? {} : { gceReadsPerMinute: Number(values['gce-reads-per-minute']) }),
    ...(values['gce-ratelimit'] === undefined ? {} : { gceRateLimit: values['gce-ratelimit'] }),
  };
  const fd = openSync(logPath, 'a');
  // The image's flags, plus --expose-gc for the live-heap reading (it changes no GC behaviour).
  const prof = profDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
  const proc = spawn(process.execPath, [...NODE_FLAGS, '--expose-gc', ...prof, fileURLToPath(new URL('./scale-controller.ts', import.meta.url))], {
    env: { ...process.env, ...MALLOC_ENV, FLEET_ILB_BENCH_OPTIONS: JSON.stringify(opts) },
    stdio: ['pipe', 'pipe', fd],
  });
  closeSync(fd);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  let onHeap: ((h: HeapReading) => void) | undefined;
  const started = await new Promise<{ healthUrl: string; pid: number }>((resolve, reject) => {
    if (proc.stdout === null) throw new Error('controller stdout is not a pipe');
    createInterface({ input: proc.stdout }).on('line', (line) => {
      try {
        const ev = JSON.parse(line) as { ev?: string; healthUrl?: string; pid?: number } & Partial<HeapReading>;
        if (ev.ev === 'started' && ev.healthUrl !== undefined && ev.pid !== undefined) resolve({ healthUrl: ev.healthUrl, pid: ev.pid });
        if (ev.ev === 'heap') {
          const { ev: _ev, ...reading } = ev;
          onHeap?.(reading as HeapReading);
        }
      } catch {
        // not ours
      }
    });
    void exited.then(() => reject(new Error(`controller exited before it started; see ${logPath}`)));
  });
  const heap = (): Promise<HeapReading | undefined> =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        onHeap = undefined;
        resolve(undefined);
      }, 60_000);
      onHeap = (h) => {
        clearTimeout(t);
        onHeap = undefined;
        resolve(h);
      };
      proc.kill('SIGUSR2');
    });
  return { proc, pid: started.pid, healthUrl: started.healthUrl, exited, heap };
}

async function stopController(c: ControllerProc): Promise<void> {
  c.proc.kill('SIGTERM');
  const t = setTimeout(() => c.proc.kill('SIGKILL'), 60_000);
  await c.exited;
  clearTimeout(t);
}

/** Peak and current RSS of a process in MiB (VmHWM, VmRSS). */
function rss(pid: number): { peakMiB: number; nowMiB: number } {
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(st)?.[1] ?? 0);
    return { peakMiB: Math.round(kb('VmHWM') / 1024), nowMiB: Math.round(kb('VmRSS') / 1024) };
  } catch {
    return { peakMiB: 0, nowMiB: 0 };
  }
}

/** CPU time (user + system) the process has used so far, ms (/proc/PID/stat, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

interface Scrape {
  /** le -> cumulative count (summed over results). */
  buckets: Map<number, number>;
  count: number;
  /** Sum of the reconcile durations (s). */
  sum: number;
  depth: number;
  /** The V8 heap in use (prom-client's nodejs_heap_size_used_bytes), MiB: the live set plus garbage not yet collected. */
  heapMiB: number;
}

async function scrape(c: ControllerProc): Promise<Scrape> {
  const text = await (await fetch(`${c.healthUrl}/metrics`, { signal: AbortSignal.timeout(30_000) })).text();
  const buckets = new Map<number, number>();
  let count = 0;
  let sum = 0;
  let depth = 0;
  let heapMiB = 0;
  for (const line of text.split('\n')) {
    const h = /^(?:fleetilb_)?nodejs_heap_size_used_bytes(?:\{.*\})? (\S+)$/.exec(line);
    if (h !== null) heapMiB = Math.round(Number(h[1]) / 2 ** 20);
    let m = /^fleetilb_reconcile_duration_seconds_bucket\{.*le="([^"]+)".*\} (\S+)$/.exec(line);
    if (m !== null) {
      const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
      buckets.set(le, (buckets.get(le) ?? 0) + Number(m[2]));
      continue;
    }
    m = /^fleetilb_reconcile_duration_seconds_count\{.*\} (\S+)$/.exec(line);
    if (m !== null) {
      count += Number(m[1]);
      continue;
    }
    m = /^fleetilb_reconcile_duration_seconds_sum\{.*\} (\S+)$/.exec(line);
    if (m !== null) {
      sum += Number(m[1]);
      continue;
    }
    m = /^fleetilb_workqueue_depth\{.*\} (\S+)$/.exec(line);
    if (m !== null) depth += Number(m[1]);
  }
  return { buckets, count, sum, depth, heapMiB };
}

/** histogram_quantile over the difference of two scrapes (seconds). */
function quantile(q: number, from: Scrape, to: Scrape): number | undefined {
  const les = [...to.buckets.keys()].sort((a, b) => a - b);
  const cum = les.map((le) => (to.buckets.get(le) ?? 0) - (from.buckets.get(le) ?? 0));
  const total = cum.at(-1) ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  for (let i = 0; i < les.length; i++) {
    if (cum[i]! >= rank) {
      const upper = les[i]!;
      const lower = i === 0 ? 0 : les[i - 1]!;
      if (upper === Infinity) return lower;
      const below = i === 0 ? 0 : cum[i - 1]!;
      return lower + ((upper - lower) * (rank - below)) / Math.max(cum[i]! - below, 1);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Measuring one phase

interface GceCount {
  /** Every read but the backend-health reader's getHealth (counted apart: a steady load by design). */
  reads: number;
  writes: number;
  /** regionBackendServices.getHealth calls (the backend-health reader, --health-period). */
  healthReads: number;
  byMethod: Record<string, { reads: number; writes: number }>;
}

const HEALTH_METHOD = /\.getHealth$/;

function gceCount(s: Scenario): GceCount {
  const byMethod = s.emulator.counters();
  let reads = 0;
  let writes = 0;
  let healthReads = 0;
  for (const [m, c] of Object.entries(byMethod)) {
    if (HEALTH_METHOD.test(m)) healthReads += c.reads;
    else reads += c.reads;
    writes += c.writes;
  }
  return { reads, writes, healthReads, byMethod };
}

interface PhaseResult {
  phase: 'create' | 'resync' | 'endpoint' | 'restart';
  /** endpoint: which change (1-based) of how many. */
  rep?: string;
  /** create: until every Gateway is Programmed; resync/restart: until every Gateway was reconciled. */
  doneMs?: number;
  /** Until the last GCE call before the quiet window. */
  quietMs?: number;
  /** Set when the phase hit the run's time cap. */
  timedOut?: string;
  gce: GceCount;
  reconciles: number;
  reconcileP50s?: number;
  reconcileP99s?: number;
  /** Mean reconcile duration (the histogram's sum / count). */
  reconcileMeanS?: number;
  /** Controller CPU time (user + system) during the phase, ms: the work itself, whatever the concurrency. */
  cpuMs: number;
  peakRssMiB: number;
  /** Largest V8 heap-in-use seen by the phase's scrapes (RSS also holds the heap's free headroom and the libraries). */
  peakHeapMiB: number;
  /** At the end of the phase, after a full GC: the live heap, the heap V8 keeps committed, its limit, RSS. */
  endHeap?: HeapReading;
}

interface PhaseInput {
  s: Scenario;
  ctl: () => ControllerProc | undefined;
  n: number;
  phase: PhaseResult['phase'];
  deadline: number;
  /** The phase's "done" condition besides quiet (e.g. all Programmed). */
  done: (sc: Scrape, since: Scrape) => Promise<boolean>;
  /** Starts the phase (the audit has been reset). */
  start: () => Promise<void>;
  /** How often `done` is checked (default 2 s: it may list every Gateway). */
  doneEveryMs?: number;
  /** `rep` of the result. */
  rep?: string;
}

async function runPhase(p: PhaseInput, label: string): Promise<PhaseResult> {
  p.s.emulator.resetAudit();
  // A running controller is scraped before the phase starts, so no reconcile of it is missed.
  const running = p.ctl();
  const before = running === undefined ? undefined : await scrape(running);
  const cpu0 = running === undefined ? 0 : cpuMs(running.pid);
  const begin = Date.now();
  await p.start();
  const c = p.ctl();
  if (c === undefined) throw new Error('no controller');
  const first = before ?? (await scrape(c));
  let lastTotal = 0;
  let lastCallAt: number | undefined;
  let doneAt: number | undefined;
  let lastProgress = 0;
  let lastDoneCheck = 0;
  let last = first;
  let lastScrape = 0;
  let peakHeap = first.heapMiB;
  for (;;) {
    await sleep(250);
    const g = gceCount(p.s);
    const total = g.reads + g.writes;
    if (total !== lastTotal) {
      lastTotal = total;
      lastCallAt = Date.now();
    }
    // The controller's /metrics is scraped at most once a second (every 250 ms when the phase checks
    // `done` that often): rendering it costs the controller CPU that grows with its series
    // (fleetilb_backend_endpoints: 6 per Gateway), which the phase would count as its own.
    const scrapeEvery = Math.min(1_000, p.doneEveryMs ?? 1_000);
    const sc = Date.now() - lastScrape >= scrapeEvery ? await scrape(c).catch(() => last) : last;
    if (sc !== last) lastScrape = Date.now();
    last = sc;
    peakHeap = Math.max(peakHeap, sc.heapMiB);
    // The done check may list every Gateway: at most every 2 s (unless the phase says otherwise).
    if (doneAt === undefined && Date.now() - lastDoneCheck >= (p.doneEveryMs ?? 2_000) && ((lastDoneCheck = Date.now()), await p.done(sc, first).catch(() => false))) {
      doneAt = Date.now();
      progress(`${label} ${p.phase}: done after ${((doneAt - begin) / 1000).toFixed(1)} s; waiting for GCE to be quiet`);
    }
    const now = Date.now();
    if (doneAt !== undefined && sc.depth === 0 && now - (lastCallAt ?? begin) >= QUIET_MS && now - doneAt >= QUIET_MS) break;
    if (now - lastProgress >= 10_000) {
      lastProgress = now;
      progress(`${label} ${p.phase}: GCE ${g.reads} reads, ${g.writes} writes; ${sc.count - first.count} reconciles, queue ${sc.depth}; controller RSS ${rss(c.pid).nowMiB} MiB`);
    }
    if (now > p.deadline) {
      const r = finish(p, c, begin, doneAt, lastCallAt, first, sc, peakHeap, cpu0);
      r.timedOut = doneAt === undefined ? 'not done' : 'not quiet';
      return withEndHeap(r, c);
    }
  }
  return withEndHeap(finish(p, c, begin, doneAt, lastCallAt, first, await scrape(c), peakHeap, cpu0), c);
}

/** Adds the live heap after the phase (taken after the phase's figures: its full GC costs time). */
async function withEndHeap(r: PhaseResult, c: ControllerProc): Promise<PhaseResult> {
  const h = await c.heap();
  if (h !== undefined) r.endHeap = h;
  return r;
}

function finish(p: PhaseInput, c: ControllerProc, begin: number, doneAt: number | undefined, lastCallAt: number | undefined, first: Scrape, sc: Scrape, peakHeap: number, cpu0: number): PhaseResult {
  const r: PhaseResult = {
    phase: p.phase,
    ...(p.rep === undefined ? {} : { rep: p.rep }),
    gce: gceCount(p.s),
    reconciles: sc.count - first.count,
    peakRssMiB: rss(c.pid).peakMiB,
    peakHeapMiB: Math.max(peakHeap, sc.heapMiB),
    // Until now, i.e. through the quiet window (an idle controller spends little there).
    cpuMs: cpuMs(c.pid) - cpu0,
  };
  if (doneAt !== undefined) r.doneMs = doneAt - begin;
  if (lastCallAt !== undefined) r.quietMs = lastCallAt - begin;
  const p50 = quantile(0.5, first, sc);
  const p99 = quantile(0.99, first, sc);
  if (p50 !== undefined) r.reconcileP50s = p50;
  if (p99 !== undefined) r.reconcileP99s = p99;
  if (r.reconciles > 0) r.reconcileMeanS = (sc.sum - first.sum) / r.reconciles;
  return r;
}

async function programmedCount(config: Kube): Promise<number> {
  const gws = await config.list<GatewayObject>(GATEWAY_API, 'Gateway', { namespace: APP_NS });
  return gws.filter((g) => {
    const c = gatewayCondition(g, 'Programmed');
    return c?.status === 'True' && c.observedGeneration === g.metadata.generation;
  }).length;
}

// ---------------------------------------------------------------------------------------------
// One run: a fresh fleet, N Gateways, the phases

interface RunResult {
  n: number;
  latencyMs: number;
  setupMs: number;
  phases: PhaseResult[];
}

async function run(n: number, latencyMs: number): Promise<RunResult> {
  const label = `N=${n}${latencyMs > 0 ? ` @${latencyMs}ms` : ''}`;
  const setup0 = Date.now();
  progress(`${label}: starting a fleet (config + ${MEMBERS} members) and the emulator`);
  // A loaded machine can time the fleet's start out (CRD creation 504): try again, twice.
  let s: Scenario | undefined;
  for (let attempt = 1; s === undefined; attempt++) {
    try {
      s = await startScenario({ members: MEMBERS, apply: 'none', controller: false, operationLatencyMs: latencyMs });
    } catch (e) {
      if (attempt >= 3) throw e;
      progress(`${label}: the fleet did not start (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); again`);
    }
  }
  let ctl: ControllerProc | undefined;
  const dir = join(repoRoot, '.cache', 'bench');
  await mkdir(dir, { recursive: true });
  const logPath = join(dir, `scale-controller-${n}-${latencyMs}ms.log`);
  const profDir = values['cpu-prof'] ? join(dir, `cpuprof-${n}-${latencyMs}ms`) : undefined;
  try {
    const members = s.fleet.members.map((m) => m.name);
    await Promise.all(members.map((m, mi) => applyConcurrently(s.kube(m), memberObjects(m, mi, s.gcp.project, s.gcp.region))));
    const vms = await s.syncInstances();
    progress(`${label}: members written (${MEMBERS} × ${ZONE_SUFFIXES.length} zones × ${NODES_PER_ZONE} Nodes, ${SERVICES} exported Services), ${vms} VMs seeded`);
    const config = s.kube('config');
    await applyConcurrently(config, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: APP_NS } }, ...configObjects(n)], 16);
    const setupMs = Date.now() - setup0;
    progress(`${label}: ${n} Gateways and ${2 * n} TCPRoutes written (setup ${(setupMs / 1000).toFixed(0)} s); starting the controller (log: ${logPath})`);

    const deadline = Date.now() + TIMEOUT_MS;
    const phases: PhaseResult[] = [];
    const report = (r: PhaseResult): void => {
      phases.push(r);
      progress(`${label} ${r.phase}${r.rep === undefined ? '' : ` ${r.rep}`}: ${fmtPhase(r)}`);
    };
    let lastCount = -1;
    const create = await runPhase(
      {
        s,
        ctl: () => ctl,
        n,
        phase: 'create',
        deadline,
        start: async () => {
          ctl = await spawnController(s, logPath, profDir);
        },
        done: async () => {
          const k = await programmedCount(config);
          if (k !== lastCount) {
            lastCount = k;
            progress(`${label} create: ${k}/${n} Programmed`);
          }
          return k === n;
        },
      },
      label,
    );
    report(create);
    const reconciledAll = (sc: Scrape, since: Scrape): Promise<boolean> => Promise.resolve(sc.count - since.count >= n && sc.depth === 0);
    if (create.timedOut === undefined && !SKIP.has('resync')) {
      report(
        await runPhase(
          {
            s,
            ctl: () => ctl,
            n,
            phase: 'resync',
            deadline,
            start: () => {
              ctl!.proc.kill('SIGUSR1');
              return Promise.resolve();
            },
            done: reconciledAll,
          },
          label,
        ),
      );
    }
    if (create.timedOut === undefined && !SKIP.has('endpoint') && phases.every((p) => p.timedOut === undefined)) {
      // One endpoint moves, in one member, to a node that hosts none of its service's endpoints:
      // one shared NEG gains that node and loses the old one (one attach, one detach), and the
      // Gateways that route to the service (N/10 of them) are reconciled. Each change is its own
      // service, so each reaches other Gateways; the cost per Gateway must not grow with N.
      const member = s.fleet.members[0]!.name;
      for (let r = 0; r < ENDPOINT_CHANGES; r++) {
        const svc = r % SERVICES;
        const expected = gatewaysUsing(n, svc);
        const negCalls = (m: string): number => s.emulator.counters()[`networkEndpointGroups.${m}NetworkEndpoints`]?.writes ?? 0;
        const res = await runPhase(
          {
            s,
            ctl: () => ctl,
            n,
            phase: 'endpoint',
            rep: `${r + 1}/${ENDPOINT_CHANGES}`,
            deadline,
            doneEveryMs: 250,
            start: async () => {
              await s.kube(member).apply(endpointSlice(member, 0, svc, s.gcp.region, (svc * 7 + 50 + r) % NODES_PER_ZONE));
            },
            // Every Gateway of the service reconciled, the queue empty, and the NEG changed in GCE.
            done: (sc, since) => Promise.resolve(sc.count - since.count >= expected && sc.depth === 0 && negCalls('attach') >= 1 && negCalls('detach') >= 1),
          },
          label,
        );
        report(res);
        if (res.timedOut !== undefined) break;
      }
    }
    if (create.timedOut === undefined && !SKIP.has('restart') && phases.every((p) => p.timedOut === undefined)) {
      await stopController(ctl!);
      ctl = undefined;
      report(
        await runPhase(
          {
            s,
            ctl: () => ctl,
            n,
            phase: 'restart',
            deadline,
            start: async () => {
              ctl = await spawnController(s, logPath, profDir);
            },
            done: reconciledAll,
          },
          label,
        ),
      );
    }
    return { n, latencyMs, setupMs, phases };
  } finally {
    if (ctl !== undefined) await stopController(ctl).catch(() => undefined);
    await s.stop();
  }
}

const secs = (ms: number | undefined): string => (ms === undefined ? '—' : `${(ms / 1000).toFixed(1)} s`);
const dur = (s: number | undefined): string => (s === undefined ? '—' : s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`);

function fmtPhase(r: PhaseResult): string {
  const what = r.phase === 'create' ? 'all Programmed' : 'all reconciled';
  return (
    `${what} ${secs(r.doneMs)}, quiet ${secs(r.quietMs)}${r.timedOut === undefined ? '' : ` (TIMED OUT: ${r.timedOut})`}; ` +
    `GCE ${r.gce.reads} reads, ${r.gce.writes} writes, ${r.gce.healthReads} getHealth; ${r.reconciles} reconciles p50 ${dur(r.reconcileP50s)} p99 ${dur(r.reconcileP99s)} mean ${dur(r.reconcileMeanS)}; CPU ${secs(r.cpuMs)}; peak RSS ${r.peakRssMiB} MiB, heap in use ≤ ${r.peakHeapMiB} MiB` +
    (r.endHeap === undefined ? '' : `; after a full GC: live heap ${r.endHeap.liveMiB} MiB (committed ${r.endHeap.committedMiB}, limit ${r.endHeap.limitMiB}), ` +
        `RSS ${r.endHeap.rssMiB} MiB = files ${r.endHeap.fileMiB} + malloc main arena ${r.endHeap.brkMiB} + other anonymous ${r.endHeap.anonMiB} (external ${r.endHeap.externalMiB})`)
  );
}

// ---------------------------------------------------------------------------------------------

const runs: Array<[number, number]> = SIZES.map((n) => [n, 0]);
if (!SKIP.has('slow')) runs.push([100, SLOW_MS]);
progress(`runs: ${runs.map(([n, l]) => `N=${n} @${l}ms`).join(', ')}; cap ${TIMEOUT_MS / 60_000} min per run; quiet = no GCE call for ${QUIET_MS / 1000} s`);
const results: RunResult[] = [];
for (const [n, l] of runs) {
  try {
    results.push(await run(n, l));
  } catch (e) {
    progress(`N=${n} @${l}ms failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    process.exitCode = 1;
  }
}

const median = (xs: readonly number[]): number | undefined => {
  if (xs.length === 0) return undefined;
  const a = [...xs].sort((x, y) => x - y);
  const m = Math.floor(a.length / 2);
  return a.length % 2 === 1 ? a[m]! : (a[m - 1]! + a[m]!) / 2;
};
const num = (x: number | undefined, digits = 1): string => (x === undefined ? '—' : x.toFixed(digits));

process.stdout.write(
  `\nscale: config + ${MEMBERS} members × ${ZONE_SUFFIXES.length} zones × ${NODES_PER_ZONE} nodes, ${SERVICES} exported services, N Gateways × 2 TCP listeners (one TCPRoute each)\n` +
    `(GCE reads exclude the backend-health reader's getHealth, counted apart; quiet = no other GCE call for ${QUIET_MS / 1000} s)\n\n`,
);
process.stdout.write(`controller Node flags (Dockerfile NODE_OPTIONS): ${NODE_FLAGS.join(' ')}${MALLOC_ENV.MALLOC_ARENA_MAX === undefined ? '' : `; MALLOC_ARENA_MAX=${MALLOC_ENV.MALLOC_ARENA_MAX}`}\n\n`);
process.stdout.write('N      op     phase         done        quiet       GCE reads  writes  getHealth  reconciles  p50       p99       mean      CPU       peak RSS  live heap\n');
for (const r of results) {
  for (const p of r.phases) {
    const phase = p.rep === undefined ? p.phase : `${p.phase} ${p.rep}`;
    process.stdout.write(
      `${String(r.n).padEnd(6)} ${`${r.latencyMs}ms`.padEnd(6)} ${phase.padEnd(13)} ${secs(p.doneMs).padEnd(11)} ${secs(p.quietMs).padEnd(11)} ` +
        `${String(p.gce.reads).padStart(9)} ${String(p.gce.writes).padStart(7)} ${String(p.gce.healthReads).padStart(10)} ${String(p.reconciles).padStart(11)}  ` +
        `${dur(p.reconcileP50s).padEnd(9)} ${dur(p.reconcileP99s).padEnd(9)} ${dur(p.reconcileMeanS).padEnd(9)} ${secs(p.cpuMs).padEnd(9)} ${`${p.peakRssMiB} MiB`.padEnd(9)} ${p.endHeap === undefined ? '—' : `${p.endHeap.liveMiB} MiB`}` +
        `${p.timedOut === undefined ? '' : `  TIMED OUT (${p.timedOut})`}\n`,
    );
  }
}
// The one-endpoint change: medians over its repetitions, and per reconciled Gateway.
for (const r of results) {
  const eps = r.phases.filter((p) => p.phase === 'endpoint' && p.timedOut === undefined);
  if (eps.length === 0) continue;
  const med = (f: (p: PhaseResult) => number | undefined): number | undefined => median(eps.map(f).filter((x): x is number => x !== undefined));
  const perGw = (f: (p: PhaseResult) => number): number | undefined => med((p) => (p.reconciles > 0 ? f(p) / p.reconciles : undefined));
  process.stdout.write(
    `\nN=${r.n} @${r.latencyMs}ms one-endpoint change, median of ${eps.length}: ${num(med((p) => p.reconciles), 0)} Gateways reconciled, ` +
      `reconcile p50 ${dur(med((p) => p.reconcileP50s))} p99 ${dur(med((p) => p.reconcileP99s))} mean ${dur(med((p) => p.reconcileMeanS))}; ` +
      `GCE ${num(med((p) => p.gce.reads), 0)} reads, ${num(med((p) => p.gce.writes), 0)} writes (per Gateway ${num(perGw((p) => p.gce.reads), 2)} reads, ${num(perGw((p) => p.gce.writes), 2)} writes); ` +
      `controller CPU ${num(perGw((p) => p.cpuMs), 1)} ms per Gateway (phase incl. the quiet window; an idle controller adds a little); ` +
      `quiet after ${secs(med((p) => p.quietMs))}`,
  );
}
for (const r of results) {
  for (const p of r.phases) {
    if (p.phase === 'create' || (p.rep !== undefined && !p.rep.startsWith('1/'))) continue;
    const top = Object.entries(p.gce.byMethod)
      .sort(([, a], [, b]) => b.reads + b.writes - (a.reads + a.writes))
      .slice(0, 8)
      .map(([m, c]) => `${m} ${c.reads + c.writes}`)
      .join(', ');
    process.stdout.write(`\nN=${r.n} @${r.latencyMs}ms ${p.phase}${p.rep === undefined ? '' : ` ${p.rep}`} GCE calls by method: ${top}`);
  }
}
const dir = join(repoRoot, '.cache', 'bench');
await mkdir(dir, { recursive: true });
await writeFile(join(dir, 'scale.json'), `${JSON.stringify({ at: new Date().toISOString(), nodeFlags: NODE_FLAGS, mallocEnv: MALLOC_ENV, quietMs: QUIET_MS, services: SERVICES, results }, null, 2)}\n`);
process.stdout.write(`\n\n(JSON: ${join(dir, 'scale.json')})\n`);
// Open keep-alive sockets (Kubernetes clients, the emulator) must not keep the benchmark alive.
process.exit(process.exitCode ?? 0);
