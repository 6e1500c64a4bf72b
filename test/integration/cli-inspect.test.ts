// SPDX-License-Identifier: Apache-2.0
//
// What a user reads from `fleet-ilb plan`, `fleet-ilb status` and the Gateway's
// `fleetilb.io/BackendsHealthy` condition, on the GKE store tutorial's fleet (examples/gke-store:
// members west and east, three TCP listeners). The commands run as the user runs them (a child
// process with the controller's flags: the config kubeconfig, the emulator as Compute endpoint) and
// their stdout is asserted; the emulator's audit log proves that plan and status write nothing.
// Health: the emulator's prober turns east's nodes UNHEALTHY; the condition, the metric and status
// follow, and a health pass that renders the same condition rewrites no status.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayCondition, getGateway, waitGatewayCondition, type GatewayObject } from '../fixtures/conditions.ts';
import { repoRoot } from '../fixtures/example.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';

const run = promisify(execFile);
const NS = 'store';
const HEALTHY = 'fleetilb.io/BackendsHealthy';
const CONVERGE_MS = 90_000;
const HEALTH_PERIOD_MS = 1_000;

describe('fleet-ilb plan and status, and backend health, on the GKE store fleet', () => {
  let s: Scenario;
  let vip: string;
  let eastNodes: string[];

  /** Runs `fleet-ilb <cmd>` as a user would, against the scenario's fleet and emulator. */
  const cli = async (...args: string[]): Promise<string> => {
    const { stdout } = await run(
      process.execPath,
      [join(repoRoot, 'controller/cli.ts'), ...args, '--kubeconfig', s.fleet.config.kubeconfigPath, '--compute-endpoint', s.emulator.url, '--fleet-id', 'demo', '--project', s.gcp.project],
      { timeout: 120_000 },
    );
    return stdout;
  };
  /** GCE writes in the audit log since `from`. */
  const writesSince = (from: number): string[] => s.emulator.audit().filter((e) => e.seq > from && e.access === 'write').map((e) => `${e.method} ${e.resource ?? ''}`);
  const lastSeq = (): number => s.emulator.audit().at(-1)?.seq ?? 0;
  /** The outputs are kept for the README's samples (`.cache/inspect/`). */
  const keep = (name: string, out: string): void => {
    mkdirSync(join(repoRoot, '.cache/inspect'), { recursive: true });
    writeFileSync(join(repoRoot, `.cache/inspect/${name}.txt`), out);
  };

  beforeAll(async () => {
    s = await startScenario({ example: 'gke-store', gkeMcs: true, controller: { healthPeriodMs: HEALTH_PERIOD_MS } });
    const gw = await waitGatewayCondition(s.kube('config'), NS, 'store', 'Programmed', CONVERGE_MS);
    vip = gw.status?.addresses?.[0]?.value ?? '';
    await waitFor(async () => gatewayCondition(await getGateway(s.kube('config'), NS, 'store'), HEALTHY)?.status === 'True', CONVERGE_MS, 'BackendsHealthy=True');
    eastNodes = (await s.kube('east').list<KObject>('v1', 'Node')).map((n) => n.metadata.name).sort();
  });

  afterAll(async () => {
    await s?.stop();
  });

  it('BackendsHealthy is True with per-member healthy/total once GCE has judged every backend', async () => {
    const c = gatewayCondition(await getGateway(s.kube('config'), NS, 'store'), HEALTHY);
    // west serves store and store-west-1, east store and store-east-1: 2 nodes each, counted per listener.
    expect(c).toMatchObject({ status: 'True', reason: 'BackendsHealthy', message: 'east 4/4, west 4/4' });
  });

  it('plan on a converged fleet: no changes for the Gateway, and not one GCE write', async () => {
    const from = lastSeq();
    const out = await cli('plan');
    expect(out).toMatch(new RegExp(`^Gateway store/store \\(project ${s.gcp.project}, region ${s.gcp.region}\\): no changes$`, 'm'));
    expect(out).toMatch(/^Orphans \(this fleet's, owned by no Gateway; the periodic sweep deletes them\): none$/m);
    expect(writesSince(from)).toEqual([]);
  });

  it('status: VIP, conditions, listeners with routes, members, NEG endpoints with health, GCE resources; not one GCE write', async () => {
    const from = lastSeq();
    const out = await cli('status', '--gateway', `${NS}/store`);
    keep('status', out);
    expect(writesSince(from)).toEqual([]);
    expect(out).toContain(`Gateway ${NS}/store  class fleet-ilb`);
    expect(out).toContain(`  VIP: ${vip}`);
    expect(out).toContain('in sync with the clusters');
    expect(out).toMatch(/^ {4}fleetilb\.io\/BackendsHealthy=True \(BackendsHealthy\)$/m);
    for (const [l, port] of [['store', 8080], ['store-west-1', 8081], ['store-east-1', 8082]] as const) {
      expect(out).toMatch(new RegExp(`^  ${l} +TCP +${port} +1 +TCPRoute ${NS}/${l} +True +fl-`, 'm'));
    }
    expect(out).toMatch(/^ {2}east +\S+ +reachable +live$/m);
    expect(out).toMatch(/^ {2}west +\S+ +reachable +live$/m);
    for (const n of eastNodes) expect(out).toMatch(new RegExp(`^  store-east-1 .* east .* ${n} +[0-9.]+ +HEALTHY$`, 'm'));
    expect(out).toContain('healthy/total per member: east 4/4, west 4/4');
    expect(out).toMatch(/^ {2}address +fl-\S+ +\S+ +ok \d+\.\d+\.\d+\.\d+$/m);
    expect(out.match(/^ {2}forwardingRule .* ok; TCP 808\d$/gm)).toHaveLength(3);
  });

  it('east unhealthy in GCE: BackendsHealthy False naming store-east-1, the metric and status follow; unchanged health rewrites no status', async () => {
    s.emulator.setProberRules({ default: 'HEALTHY', rules: eastNodes.map((instance) => ({ instance, state: 'UNHEALTHY' as const })) });
    const gw = await waitFor(
      async () => {
        const g = await getGateway(s.kube('config'), NS, 'store');
        // Each backend re-read updates the counts; wait for the pass that read all of east's.
        return (gatewayCondition(g, HEALTHY)?.message ?? '').includes('east 0/4') === true ? g : undefined;
      },
      30_000,
      'BackendsHealthy=False with every east endpoint read unhealthy',
    );
    expect(gatewayCondition(gw, HEALTHY)).toMatchObject({ reason: 'NoHealthyBackends', message: 'no healthy endpoint for listener(s) store-east-1: east 0/4, west 4/4' });

    const metrics = await (await fetch(`${s.controller!.healthUrl}/metrics`)).text();
    expect(metrics).toContain('fleetilb_backend_endpoints{gateway="store/store",member="east",health="unhealthy"} 4');
    expect(metrics).toContain('fleetilb_backend_endpoints{gateway="store/store",member="west",health="healthy"} 4');
    // Every getHealth went through the shared budget's low lane.
    expect(metrics).toMatch(/fleetilb_gce_calls_total\{method="RegionBackendServices.getHealth",outcome="ok",priority="low"\} \d+/);
    expect(metrics).not.toMatch(/fleetilb_gce_calls_total\{method="RegionBackendServices.getHealth",outcome="ok",priority="high"\}/);

    // Two more full passes of unchanged health: the Gateway is not written again.
    const rv = (gw as GatewayObject & { metadata: { resourceVersion?: string } }).metadata.resourceVersion;
    const reads = (): number => s.emulator.audit().filter((e) => e.method === 'regionBackendServices.getHealth').length;
    const before = reads();
    // 3 backend services; store has a NEG per member zone, the others one member's: every backend twice.
    const backends = s.emulator.inventory().backendServices.reduce((n, b) => n + ((b['backends'] as unknown[] | undefined) ?? []).length, 0);
    await waitFor(() => reads() >= before + 2 * backends, 30_000, 'two more health passes');
    const now = await getGateway(s.kube('config'), NS, 'store');
    expect((now as GatewayObject & { metadata: { resourceVersion?: string } }).metadata.resourceVersion).toBe(rv);

    const out = await cli('status', '--gateway', `${NS}/store`);
    for (const n of eastNodes) expect(out).toMatch(new RegExp(`^  store-east-1 .* east .* ${n} +[0-9.]+ +UNHEALTHY \\(UNHEALTHY\\)$`, 'm'));
    expect(out).toContain('healthy/total per member: east 0/4, west 4/4');

    s.emulator.setProberRules({ default: 'HEALTHY' });
    await waitFor(async () => gatewayCondition(await getGateway(s.kube('config'), NS, 'store'), HEALTHY)?.status === 'True', 30_000, 'BackendsHealthy=True again');
  });

  it('plan with the controller stopped: a route removed and an ILBConfig change show as deletes and field diffs, without a write; the controller then makes them', async () => {
    await s.stopController();
    const ilb = s.ilbConfig;
    await s.kube('config').mergePatch({ apiVersion: ilb.apiVersion, kind: ilb.kind, name: ilb.metadata.name, ...(ilb.metadata.namespace === undefined ? {} : { namespace: ilb.metadata.namespace }) }, { spec: { connectionDraining: { drainingTimeoutSec: 42 } } });
    await s.kube('config').delete('gateway.networking.k8s.io/v1', 'TCPRoute', 'store-east-1', NS);
    const from = lastSeq();
    const out = await waitFor(
      async () => {
        const o = await cli('plan', '--gateway', `${NS}/store`);
        return /drainingTimeoutSec.*42/.test(o) && /- delete networkEndpointGroup/.test(o) ? o : undefined;
      },
      60_000,
      'the plan to see both edits',
    );
    keep('plan', out);
    expect(writesSince(from)).toEqual([]);
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^Gateway store\/store \(project .*\): \d+ changes$/);
    // Every backend service: connection draining 0 -> 42, as GCE holds it and as it would be.
    const drains = lines.filter((l) => /^ {6}connectionDraining: .* -> \{"drainingTimeoutSec":42\}$/.test(l));
    expect(drains.length).toBeGreaterThanOrEqual(3);
    // store-east-1's backend service loses its NEG, which is then deleted.
    expect(out).toMatch(/^ {2}~ update backendService fl-\S+ \(\S+\) \[backends, connectionDraining\]$/m);
    expect(out).toMatch(/^ {2}- delete networkEndpointGroup fl-\S+ \(us-central1-\w\)/m);
    const planned = lines.filter((l) => /^ {2}[-~+]/.test(l)).length;

    await s.startController({ healthPeriodMs: HEALTH_PERIOD_MS });
    await waitFor(async () => /: no changes$/m.test(await cli('plan', '--gateway', `${NS}/store`)), CONVERGE_MS, 'the controller to apply the plan');
    expect(writesSince(from).length).toBeGreaterThanOrEqual(planned);
  });

  it('plan of a Gateway being deleted (controller stopped): the teardown, every resource in reverse order, without a write', async () => {
    await s.stopController();
    const before = s.emulator.inventory();
    const owned = before.forwardingRules.length + before.backendServices.length + before.healthChecks.length + before.networkEndpointGroups.length + before.firewalls.length + before.addresses.length;
    // Our finalizer holds it: deletionTimestamp set, nothing torn down while the controller is away.
    await s.kube('config').delete('gateway.networking.k8s.io/v1', 'Gateway', 'store', NS);
    const from = lastSeq();
    const out = await cli('plan');
    expect(writesSince(from)).toEqual([]);
    const lines = out.split('\n');
    expect(lines[0]).toBe(`Gateway ${NS}/store: being deleted; ${owned} deletes`);
    const kinds = lines.filter((l) => l.startsWith('  - delete ')).map((l) => l.split(' ')[4]);
    expect(kinds).toHaveLength(owned);
    // Reverse dependency order: forwarding rules first, the address last.
    expect(kinds[0]).toBe('forwardingRule');
    expect(kinds.at(-1)).toBe('address');
  });
});
