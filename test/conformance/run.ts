// SPDX-License-Identifier: Apache-2.0
//
// `npm run test:conformance`: the upstream Gateway API conformance suite (GATEWAY-TCP and
// GATEWAY-UDP profiles) against fleet-ilb on a local fleet whose config cluster is its own
// FleetMember (the suite creates Services, Deployments and routes in one cluster), the Compute API
// emulator, the controller, and the data path of test/datapath (kube-proxy per node in network
// namespaces, the simulated Google Cloud load balancer, pods as network namespaces running the
// suite's echo-basic). Prints the result of every test and keeps the official report
// (`--report-output`) under .cache/conformance/. docs/conformance.md explains the results and every
// skipped test.
//
// Network safety: the suite sends its test traffic to the Gateways' VIPs, so it only ever runs
// inside the data path's client network namespace (DataPath.spawnInClient), where every packet stays
// in namespaces the harness made; there is no mode that runs it in the root namespace.
//
//   node test/conformance/run.ts [--report PATH] [--run REGEX] [--keep-going]
//
// Exit code 0 when every test that is not skipped by name passed.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { binCacheDir, repoRoot } from '../harness/binaries.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';
import type { Fleet } from '../harness/fleet.ts';
import { registerMembers } from '../fixtures/members.ts';
import { emulatorSeedFromNodes, seedDelta } from '../fixtures/seed.ts';
import { Kube, waitFor, type KObject } from '../fixtures/kube.ts';
import { GATEWAY_API } from '../fixtures/conditions.ts';
import { startDataPath, type DataPath } from '../datapath/harness.ts';
import { buildConformanceBinaries, pinnedGatewayApiVersion } from './binaries.ts';
import { Workloads } from './workloads.ts';

/**
 * Tests skipped by name, with the reason (docs/conformance.md says the same, and whether upstream
 * considers the test core for GATEWAY-TCP / GATEWAY-UDP). Every other test of the two profiles runs.
 */
export const SKIPPED: Readonly<Record<string, string>> = {
  TCPRouteWeightedRouting:
    'checks the traffic split of weighted backendRefs; an internal passthrough Network Load Balancer has no per-connection weights (a backend service spreads connections by a 5-tuple hash over healthy backends)',
  UDPRouteWeightedRouting:
    'checks the traffic split of weighted backendRefs; an internal passthrough Network Load Balancer has no per-connection weights (a backend service spreads connections by a 5-tuple hash over healthy backends)',
  TCPRouteInvalidNonTCPListener:
    'its Gateway has only an HTTP listener and the test first waits for every Gateway of the namespace to be Programmed; fleet-ilb serves only TCP and UDP listeners',
  GatewayInvalidRouteKind:
    'its second Gateway must list HTTPRoute in supportedKinds of an HTTP listener; the first part (unsupported kinds only) runs on its own (PARTS)',
  GatewayListenerUnsupportedProtocol:
    'its second Gateway must accept an HTTP listener (and, not excluded from readiness, it would hold up other tests); the first part (INVALID protocol only) runs on its own (PARTS)',
  GatewayObservedGenerationBump: 'its Gateway has only an HTTP listener and must become Programmed',
  GatewayModifyListeners: 'its Gateways have only HTTP/HTTPS listeners and must become Programmed',
  GatewayInvalidTLSConfiguration: 'its Gateways have only HTTPS listeners (TLS certificate references)',
  GatewaySecretInvalidReferenceGrant: 'its Gateway has only an HTTPS listener (Secret references for TLS termination)',
  GatewaySecretMissingReferenceGrant: 'its Gateway has only an HTTPS listener (Secret references for TLS termination)',
  GatewaySecretReferenceGrantAllInNamespace: 'its Gateway has only an HTTPS listener (Secret references for TLS termination)',
  GatewaySecretReferenceGrantSpecific: 'its Gateway has only an HTTPS listener (Secret references for TLS termination)',
};

/** Subtests of skipped tests that do not need an HTTP listener: run on their own, without a report. */
export const PARTS: readonly string[] = [
  'TestConformance/GatewayInvalidRouteKind/Gateway_listener_should_have_a_false_ResolvedRefs_condition_with_reason_InvalidRouteKinds_and_no_supportedKinds',
  'TestConformance/GatewayListenerUnsupportedProtocol/Gateway_with_no_accepted_listeners_should_not_be_accepted_and_the_listener_should_have_the_Accepted_condition_set_to_False_with_reason_UnsupportedProtocol',
];

const CONFORMANCE_NS = /^gateway-conformance-/;

export interface RunOptions {
  /** Report path (default .cache/conformance/report-<gateway-api version>.yaml). */
  report?: string;
  /** Only tests whose name matches (the suite's -test.run, anchored under TestConformance/). */
  run?: string;
  log?: (msg: string) => void;
}

export interface TestResult {
  name: string;
  result: 'PASS' | 'FAIL' | 'SKIP';
  seconds: number;
  /** Why it was skipped (ours, or the suite's: feature not supported). */
  reason?: string;
}

export interface RunResult {
  tests: TestResult[];
  parts: TestResult[];
  reportPath: string;
  report: unknown;
  suiteExitCode: number;
  seconds: number;
}

/** Starts the fleet, runs the suite, stops everything; returns the per-test results. */
export async function runConformance(opts: RunOptions = {}): Promise<RunResult> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`[conformance] ${m}\n`));
  const t0 = performance.now();
  const version = await pinnedGatewayApiVersion();
  const reportPath = opts.report ?? join(repoRoot, '.cache', 'conformance', `report-${version}.yaml`);
  await mkdir(join(reportPath, '..'), { recursive: true });
  const bins = await buildConformanceBinaries(log);

  let scenario: Scenario | undefined;
  let dp: DataPath | undefined;
  let workloads: Workloads | undefined;
  try {
    // A fleet of one cluster: the config cluster, registered as its own member below.
    scenario = await startScenario({ members: 0, apply: 'none', controller: false, log });
    const s = scenario;
    const config = Kube.of(s.fleet.config);
    const nodes = NODES.map((n) => nodeObject(n, s.gcp.project, s.gcp.region));
    for (const n of nodes) await config.apply(n);
    const seed = emulatorSeedFromNodes(s.gcp.project, s.gcp.region, s.gcp.network, s.gcp.subnetwork, { config: nodes }, { subnetworkCidr: s.gcp.subnetworkCidr });
    s.emulator.seed(seedDelta(seed, s.emulator.inventory()));
    await registerMembers(s.fleet, { members: [s.fleet.config] });
    // The data path's members are the fleet's member clusters: here the config cluster itself.
    const f = s.fleet;
    const asMember: Fleet = { dir: f.dir, config: f.config, members: [f.config], addMember: (n) => f.addMember(n), mintIdentity: (c, u, g) => f.mintIdentity(c, u, g), stop: () => f.stop() };
    const d = (dp = await startDataPath({ fleet: asMember, emulator: s.emulator }, { podsFromSlices: false, log }));
    await s.startController({ fleetId: 'conformance' });
    const member = s.fleet.config.name;
    workloads = new Workloads(
      config,
      NODES.map((n) => n.name),
      {
        start: async (p) => {
          await d.addPod({ member, namespace: p.namespace, name: p.name, node: p.node, labels: p.labels, tcp: p.tcp, udp: p.udp, command: p.command, env: p.env });
        },
        stop: async (name) => {
          await d.killPod(name);
        },
      },
      { echoBasic: bins.echoBasic, dns: bins.dns },
      { namespaces: (ns) => CONFORMANCE_NS.test(ns), log },
    );
    workloads.start();
    log(`fleet ready: config cluster ${s.fleet.config.server} (its own FleetMember), emulator ${s.emulator.url}, data path with ${d.nodes.length} nodes, client ${d.client.ip} in ${d.client.ns}`);
    // The suite reads the features it tests from the GatewayClass's status.supportedFeatures once,
    // at its start ("no supported features were determined" otherwise): wait until the controller
    // accepted the class and wrote them.
    let cls: (KObject & { status?: { supportedFeatures?: unknown[]; conditions?: Array<{ type: string; status: string; reason?: string }> } }) | undefined;
    await waitFor(
      async () => {
        cls = await config.get(GATEWAY_API, 'GatewayClass', 'fleet-ilb');
        const accepted = cls?.status?.conditions?.find((c) => c.type === 'Accepted')?.status === 'True';
        return accepted && (cls?.status?.supportedFeatures?.length ?? 0) > 0;
      },
      120_000,
      { what: 'GatewayClass fleet-ilb Accepted with its supportedFeatures' },
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; last conditions: ${JSON.stringify(cls?.status?.conditions ?? [])}`);
    });

    const common = [
      '--gateway-class=fleet-ilb',
      // The fleet goes away after the run; deleting the namespaces would wait for a namespace
      // controller this apiserver-only cluster does not run.
      '--cleanup-base-resources=false',
      '-test.v',
      '-test.timeout=60m',
    ];
    // Inside the client namespace the apiserver is on 127.0.0.1 at the kubeconfig's port (a relay).
    const inClient = async (args: string[], onLine: (l: string) => void): Promise<number> => {
      const proc = d.spawnInClient('env', [`KUBECONFIG=${s.fleet.config.kubeconfigPath}`, `FLEET_ILB_NETNS=${d.client.ns}`, bins.suite, ...args]);
      proc.onLine(onLine);
      return (await proc.exited) ?? 1;
    };
    const lines: string[] = [];
    const onLine = (l: string): void => {
      lines.push(l);
      if (/^\s*--- (PASS|FAIL): TestConformance\/[^/\s]+ /.test(l) || /^(PASS|FAIL)$/.test(l.trim())) log(`suite: ${l.trim()}`);
    };
    const suiteArgs = [
      ...common,
      '--conformance-profiles=GATEWAY-TCP,GATEWAY-UDP',
      `--skip-tests=${Object.keys(SKIPPED).join(',')}`,
      `--report-output=${reportPath}`,
      '--organization=fleet-ilb',
      '--project=fleet-ilb',
      `--url=${implementationUrl()}`,
      `--version=${implementationVersion()}`,
      '--contact=README.md',
      '--mode=default',
      // Go splits -test.run on top-level `|` into whole-path alternatives, then on `/`.
      ...(opts.run === undefined ? [] : [`-test.run=^TestConformance$/(${opts.run})$`]),
    ];
    log(`running the suite in ${d.client.ns} (${version}, profiles GATEWAY-TCP and GATEWAY-UDP, ${Object.keys(SKIPPED).length} tests skipped by name)`);
    const code = await inClient(suiteArgs, onLine);
    const tests = parseResults(lines);
    let parts: TestResult[] = [];
    if (opts.run === undefined) {
      const partLines: string[] = [];
      log('running the parts of skipped tests that need no HTTP listener');
      const pattern = PARTS.map((p) => p.split('/').map((e) => `^${escapeRe(e)}$`).join('/')).join('|');
      await inClient([...common, `-test.run=${pattern}`], (l) => partLines.push(l));
      parts = parseResults(partLines, 2).filter((r) => PARTS.includes(r.name));
    }
    await writeFile(join(reportPath, '..', 'suite.log'), `${lines.join('\n')}\n`);
    let report: unknown;
    try {
      report = parse(await readFile(reportPath, 'utf8'));
    } catch {
      report = undefined;
    }
    return { tests, parts, reportPath, report, suiteExitCode: code, seconds: Math.round((performance.now() - t0) / 1000) };
  } finally {
    await workloads?.stop().catch((e: unknown) => log(`workloads stop: ${String(e)}`));
    const left = await dp?.stop();
    if (left !== undefined && (left.leftoverNamespaces.length > 0 || left.leftoverPids.length > 0)) {
      log(`WARNING: data path left namespaces ${left.leftoverNamespaces.join(' ')} pids ${left.leftoverPids.join(' ')}`);
    }
    await scenario?.stop();
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `--- PASS: TestConformance/Name (1.23s)` lines at the given depth (1 = tests, 2 = their subtests). */
export function parseResults(lines: readonly string[], depth = 1): TestResult[] {
  const out: TestResult[] = [];
  const re = /^\s*--- (PASS|FAIL|SKIP): (TestConformance(?:\/\S+)+) \(([\d.]+)s\)/;
  // The suite says why it skips: "Skipping <test>: suite does not support <feature>" / "test explicitly skipped".
  const why = new Map<string, string>();
  for (const l of lines) {
    const m = /Skipping (\S+): (.+)$/.exec(l);
    if (m !== null) why.set(m[1]!, m[2]!);
  }
  for (const l of lines) {
    const m = re.exec(l);
    if (m === null) continue;
    const name = m[2]!;
    const parts = name.split('/');
    if (parts.length !== depth + 1) continue;
    const r: TestResult = { name: depth === 1 ? parts[1]! : name, result: m[1] as TestResult['result'], seconds: Number(m[3]) };
    if (r.result === 'SKIP') r.reason = SKIPPED[r.name] !== undefined ? `skipped by name: ${SKIPPED[r.name]}` : (why.get(r.name) ?? '');
    out.push(r);
  }
  return out;
}

/** The cluster's nodes: two zones (the data path makes each a network namespace running kube-proxy). */
const NODES: ReadonlyArray<{ name: string; zone: string; ip: string }> = [
  { name: 'conformance-node-b', zone: 'b', ip: '10.128.0.10' },
  { name: 'conformance-node-c', zone: 'c', ip: '10.128.0.11' },
];

function nodeObject(node: { name: string; zone: string; ip: string }, project: string, region: string): KObject {
  const n = { ...node, zone: `${region}-${node.zone}` };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux', 'topology.kubernetes.io/region': region, 'topology.kubernetes.io/zone': n.zone } },
    spec: { providerID: `gce://${project}/${n.zone}/${n.name}` },
    status: {
      addresses: [{ type: 'InternalIP', address: n.ip }, { type: 'Hostname', address: n.name }],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
    },
  };
}

function implementationVersion(): string {
  try {
    return `v0.1.0+${execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim()}`;
  } catch {
    return 'v0.1.0';
  }
}

/** Where the implementation lives: the git remote when there is one, else this checkout. */
function implementationUrl(): string {
  try {
    const u = execFileSync('git', ['remote', 'get-url', 'origin'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (u !== '') return u;
  } catch {
    // no remote
  }
  return `file://${repoRoot}`;
}

/**
 * The table printed at the end (docs/conformance.md shows the same): every test that ran, every
 * test skipped by name, and the parts run on their own; tests whose features fleet-ilb does not
 * claim (HTTPRoute, TLSRoute, GRPCRoute, ...) are only counted.
 */
export function resultTable(r: RunResult): string {
  const shown = r.tests.filter((t) => t.result !== 'SKIP' || SKIPPED[t.name] !== undefined).sort((a, b) => a.name.localeCompare(b.name));
  const out = ['| test | result | seconds | note |', '|---|---|---|---|'];
  for (const t of shown) out.push(`| ${t.name} | ${t.result} | ${t.seconds.toFixed(1)} | ${t.reason ?? ''} |`);
  for (const p of r.parts) out.push(`| ${p.name.split('/').slice(1).join(' / ')} | ${p.result} | ${p.seconds.toFixed(1)} | part of a test skipped by name, run on its own |`);
  const unsupported = r.tests.length - shown.length;
  return `${out.join('\n')}\n\n${unsupported} more tests not run: they need features fleet-ilb does not claim in the GatewayClass (HTTPRoute, TLSRoute, GRPCRoute, ListenerSet, ...).\n`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { report: { type: 'string' }, run: { type: 'string' } }, strict: true });
  const r = await runConformance({ ...(values.report === undefined ? {} : { report: values.report }), ...(values.run === undefined ? {} : { run: values.run }) });
  process.stdout.write(resultTable(r));
  const ran = r.tests.filter((t) => t.result !== 'SKIP');
  const failed = [...ran, ...r.parts].filter((t) => t.result === 'FAIL');
  const skipped = r.tests.filter((t) => t.result === 'SKIP' && SKIPPED[t.name] !== undefined).length;
  process.stdout.write(`\nreport: ${r.reportPath} (suite log next to it)\n`);
  await writeFile(join(binCacheDir, '..', 'conformance', 'results.json'), `${JSON.stringify(r, null, 2)}\n`).catch(() => undefined);
  // CI's summary (test/support/summary.ts) reads one JSON report per suite from FLEET_ILB_TEST_REPORT.
  const reportDir = process.env['FLEET_ILB_TEST_REPORT'];
  if (reportDir !== undefined && reportDir !== '') {
    await mkdir(reportDir, { recursive: true });
    const total = ran.length + r.parts.length;
    await writeFile(join(reportDir, 'conformance.json'), `${JSON.stringify({ numPassedTests: total - failed.length, numFailedTests: failed.length, numTotalTests: total, numPendingTests: skipped })}\n`);
  }
  // The closing line CI reads.
  process.stdout.write(`conformance: ${ran.length + r.parts.length - failed.length} passed, ${failed.length} failed, ${skipped} skipped\n`);
  // A skip list or a part that names no test of this suite version is stale (renamed upstream).
  // (Only on a whole run: --run filters them out.)
  const stale = values.run !== undefined ? [] : [...Object.keys(SKIPPED).filter((n) => !r.tests.some((t) => t.name === n)), ...PARTS.filter((p) => !r.parts.some((t) => t.name === p))];
  if (stale.length > 0) process.stdout.write(`stale skip list: the suite has no test ${stale.join(', ')}; update SKIPPED/PARTS and docs/conformance.md\n`);
  return failed.length === 0 && ran.length > 0 && stale.length === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    (code) => {
      process.exitCode = code;
      setTimeout(() => process.exit(code), 1_000).unref();
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
      setTimeout(() => process.exit(1), 1_000).unref();
    },
  );
}
