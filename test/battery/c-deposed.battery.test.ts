// SPDX-License-Identifier: Apache-2.0
//
// Battery C1/C2 (test/battery/README.md, docs/failure-rules.md "A deposed leader makes no write"):
// the whole controller, leader-elected, as its own OS process (test/integration/controller-replica-child.ts),
// deposed while it is busy writing. Each replica reaches the Compute API emulator through its own
// GceCallerProxy (netproxy.ts: the audit names the caller; every write is held HOLD_MS before it is
// forwarded, so writes are in flight when the fence closes; a write the replica aborts while held
// is never forwarded).
// * C1 partition: the leader reaches the config apiserver through a TcpPartitionProxy that stops
//   forwarding at t_p; from t_p on, its writes are held until it gives up on them. The replica
//   reports when its write fence closed (lastRenewSent + renewDeadline − margin, computed in the
//   process; at the latest t_p + RENEW_MS − margin since its last successful renew was sent before
//   t_p); its renew deadline is margin later. Checked: the fence closed by then, no GCE write of the
//   leader reaches the emulator after the renew deadline (audit by caller), at least one write was
//   in flight when the fence closed and every such write was aborted by the leader (within
//   SLACK_MS), no Kubernetes write of the leader after the renew deadline (what the process
//   sends, seen on undici's diagnostics channel, and the resourceVersions of every fleet-ilb-managed
//   object in the members), and the leader gives up (exits lease-lost). A new replica then
//   converges the Gateways with no duplicate insert.
// * C2 SIGSTOP: the leader is stopped mid-work for longer than the lease, a standby takes over and
//   converges, then the old leader is continued: from then on it makes no GCE write and no
//   Kubernetes write (its monotonic clock says its renew deadline has passed), and exits lease-lost.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_API, gatewayCondition, getGateway, waitGatewayCondition } from '../fixtures/conditions.ts';
import { ofKind } from '../fixtures/example.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import type { Scenario } from '../fixtures/scenario.ts';
import { GceCallerProxy, TcpPartitionProxy } from './netproxy.ts';
import { ControllerProcess } from './replica.ts';
import { auditMark, duplicateInserts, itemFleet, newRow, recordRow, releaseFleet, stamped, storeRoute, tcpGateway } from './lib.ts';

const NS = 'store';
// The lease of controller-leader.test.ts (5 s / 3.5 s / 0.5 s: shorter flapped on a loaded 2-core
// machine); the rules are those of the defaults 15 s / 10 s / 2 s.
const LEASE_MS = 5_000;
const RENEW_MS = 3_500;
const RETRY_MS = 500;
/** Every write of the leader is held this long before it is forwarded (< RENEW_MS). */
const HOLD_MS = 1_500;
/** The fence closes this long before the renew deadline (leaderelection.ts default: min(1 s, renewDeadline / 10)). */
const FENCE_MARGIN_MS = Math.min(1_000, RENEW_MS / 10);
/** Process scheduling on a shared 2-core machine. */
const SLACK_MS = 1_500;
/** Whole-ms rounding between the replica's close time and the proxy's clock (same host clock). */
const CLOCK_MS = 20;
const CONVERGE_MS = 60_000;

describe('C1/C2 a deposed leader (partitioned, or SIGSTOPped) makes no write', () => {
  let s: Scenario;
  const c1 = newRow('C1', 'leader partitioned from its Lease while writing', /^C1:/);
  const c2 = newRow('C2', 'leader SIGSTOPped while writing, continued', /^C2:/);
  const replicas: ControllerProcess[] = [];
  const gceProxies: GceCallerProxy[] = [];
  let partition: TcpPartitionProxy | undefined;
  let mark = 0;

  const replica = async (identity: string, kubeconfig: string): Promise<{ r: ControllerProcess; gce: GceCallerProxy }> => {
    const gce = await new GceCallerProxy(s.emulator.url, identity).start();
    gceProxies.push(gce);
    const r = new ControllerProcess(identity, {
      kubeconfig,
      computeEndpoint: gce.url,
      project: s.gcp.project,
      fleetId: 'demo',
      identity,
      leaderElect: true,
      leaseName: 'fleet-ilb-battery-c',
      leaseDurationMs: LEASE_MS,
      renewDeadlineMs: RENEW_MS,
      retryPeriodMs: RETRY_MS,
      metricsAddr: '127.0.0.1:0',
      sweepMinAgeMs: 0,
      logLevel: 'error',
    });
    replicas.push(r);
    return { r, gce };
  };
  const gatewaysProgrammed = async (names: string[], ms: number): Promise<boolean> =>
    waitFor(
      async () => {
        for (const n of names) {
          const g = await getGateway(s.kube('config'), NS, n);
          const c = gatewayCondition(g, 'Programmed');
          if (!(c?.status === 'True' && c.observedGeneration === g?.metadata.generation)) return false;
        }
        return true;
      },
      ms,
      `${names.join(', ')} Programmed`,
    ).then(
      () => true,
      () => false,
    );
  /** resourceVersion of every fleet-ilb-managed Service and EndpointSlice in the members. */
  const memberVersions = async (): Promise<Record<string, string>> => {
    const out: Record<string, string> = {};
    for (const m of s.fleet.members) {
      for (const [apiVersion, kind] of [
        ['v1', 'Service'],
        ['discovery.k8s.io/v1', 'EndpointSlice'],
      ] as const) {
        for (const o of await s.kube(m.name).list(apiVersion, kind, { labelSelector: 'fleetilb.io/managed-by=fleet-ilb' })) {
          out[`${m.name}/${kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`] = o.metadata.resourceVersion ?? '';
        }
      }
    }
    return out;
  };
  /** Moves member-a's store pod from pool-a-1 to pool-a-2 (no store pod) and back: NEG writes for whoever leads. */
  const slices = (): KObject[] => ofKind(s.objects['member-a'] ?? [], 'EndpointSlice');
  let flip = false;
  const moveEndpoint = async (): Promise<void> => {
    const slice = slices()[0] as KObject & { endpoints?: Array<{ nodeName?: string }> };
    flip = !flip;
    const moved = { ...slice, endpoints: (slice.endpoints ?? []).map((e) => (flip && e.nodeName === 'member-a-pool-a-1' ? { ...e, nodeName: 'member-a-pool-a-2' } : e)) };
    await s.kube('member-a').apply(moved);
  };
  const createGateways = async (names: string[]): Promise<void> => {
    for (const n of names) {
      await s.kube('config').apply(tcpGateway(NS, n, 8080));
      await s.kube('config').apply(storeRoute(NS, n));
    }
  };
  const deleteGateways = async (names: string[]): Promise<void> => {
    for (const n of names) {
      await s.kube('config').delete(GATEWAY_API, 'TCPRoute', n, NS);
      await s.kube('config').delete(GATEWAY_API, 'Gateway', n, NS);
    }
  };

  beforeAll(async () => {
    // The replicas are the controllers: none runs in this process.
    s = await itemFleet({ controller: false });
    mark = auditMark(s.emulator);
  });

  afterAll(async () => {
    recordRow(c1);
    recordRow(c2);
    for (const r of replicas) await r.kill();
    await partition?.stop();
    for (const p of gceProxies) await p.stop();
    // The endpoint back where the scenario put it (the fleet may be shared).
    if (flip) await moveEndpoint().catch(() => undefined);
    await releaseFleet(s);
  });

  let successor: ControllerProcess | undefined;
  let successorGce: GceCallerProxy | undefined;

  it('C1: a leader partitioned from the config cluster stops writing by its renew deadline and aborts its in-flight GCE calls', async () => {
    const failures: string[] = [];
    // The leader's config traffic goes through the partition proxy (same CA, credentials, SAN 127.0.0.1).
    const cfg = s.fleet.config.kubeconfigPath;
    const server = new URL(s.fleet.config.kubeConfig().getCurrentCluster()?.server ?? '');
    partition = await new TcpPartitionProxy(server).start();
    const proxied = join(s.fleet.dir, 'battery-c1-config.kubeconfig');
    writeFileSync(proxied, readFileSync(cfg, 'utf8').replaceAll(`${server.hostname}:${server.port}`, `127.0.0.1:${partition.port}`));
    const { r: leader, gce } = await replica('c1-leader', proxied);
    await waitFor(() => leader.leading(), 60_000, 'c1-leader leading');
    await waitGatewayCondition(s.kube('config'), NS, 'store', 'Programmed', CONVERGE_MS);
    // Busy: three new Gateways, every write held HOLD_MS.
    gce.holdWritesMs = HOLD_MS;
    const names = ['c1-a', 'c1-b', 'c1-c'];
    // Counted from here: the store Gateway's own writes (not held) are over by now, and partitioned
    // before its reconciles of these Gateways reach GCE (their finalizer first goes to the config
    // cluster) the leader would have no GCE write left to make.
    const w0 = gce.calls.filter((c) => c.write).length;
    await createGateways(names);
    await waitFor(() => gce.calls.filter((c) => c.write).length >= w0 + 3, 30_000, 'the leader writing');
    // From the partition on, every write the leader sends is held until the leader gives up on it
    // (longer than the fence can stay open): whatever the leader sends between its last successful
    // renew and its fence's close is still in flight when the fence closes, so the abort is
    // exercised on every run, not only when a 1.5-s hold happens to span the close. A write it did
    // not abort would be forwarded after its renew deadline and counted as late below.
    gce.holdWritesMs = LEASE_MS + SLACK_MS;
    const tp = Date.now();
    partition.partition();
    // More work the leader sees (its member watches are not partitioned): NEG writes it must not make.
    await moveEndpoint();
    // The real close time, as the leader computed it (lastRenewSent + renewDeadline − margin; its
    // last successful renew was sent before tp, so at the latest tp + RENEW_MS − margin). Its renew
    // deadline is `margin` later: the rule is "no write after it".
    const fenceClosed = await waitFor(() => leader.fenceClosedAt, RENEW_MS + SLACK_MS + 5_000, "the leader's write fence to close").catch(() => undefined);
    if (fenceClosed === undefined) failures.push('the partitioned leader never reported its write fence closed');
    const closed = fenceClosed ?? tp + RENEW_MS - FENCE_MARGIN_MS;
    if (closed > tp + RENEW_MS - FENCE_MARGIN_MS + CLOCK_MS) failures.push(`the fence closed at tp + ${closed - tp} ms, after tp + renewDeadline − margin`);
    const deadline = closed + FENCE_MARGIN_MS;
    // Until its renew deadline the partitioned replica is still the leader and may write (a VIP
    // Service of a Gateway it is creating, say); a write it sent before the deadline may commit
    // within SLACK_MS after it. Member objects must not change from then on.
    await waitFor(() => Date.now() >= deadline + SLACK_MS, RENEW_MS + SLACK_MS + 5_000, 'the renew deadline to pass');
    const versionsBefore = await memberVersions();
    const code = await Promise.race([leader.exited, new Promise<'alive'>((r) => setTimeout(() => r('alive'), RENEW_MS + LEASE_MS + SLACK_MS))]);
    if (code !== 3) failures.push(`the partitioned leader did not exit lease-lost (${String(code)})`);
    const versionsAfter = await memberVersions();

    const lateWrites = s.emulator.audit().filter((a) => a.seq > mark && a.caller === 'c1-leader' && a.access === 'write' && a.time > deadline);
    // In flight when the fence closed: sent before, not answered, not given up on before (the
    // abort's timer fires at the close, rounded down to a whole ms: CLOCK_MS).
    const inFlight = gce.calls.filter((c) => c.write && c.at < closed && (c.doneAt ?? Infinity) > closed && (c.abortedAt ?? Infinity) >= closed - CLOCK_MS);
    const notAborted = inFlight.filter((c) => c.abortedAt === undefined || c.abortedAt > closed + SLACK_MS);
    const kubeLate = [...leader.kubeWrites, ...leader.eventWrites].filter((w) => w.wall > deadline).map((w) => w.what);
    const changed = Object.keys({ ...versionsBefore, ...versionsAfter }).filter((k) => versionsBefore[k] !== versionsAfter[k]);
    c1.runs++;
    c1.forbiddenWrites += lateWrites.length + kubeLate.length + changed.length;
    if (lateWrites.length > 0) failures.push(`${lateWrites.length} GCE writes of the deposed leader after its renew deadline: ${lateWrites.slice(0, 4).map((a) => `${a.method} +${a.time - deadline} ms`).join(', ')}`);
    if (inFlight.length === 0) {
      // What the leader did around the partition, to tell why (times relative to t_partition).
      const rel = (t: number | undefined): string => (t === undefined ? '-' : String(t - tp));
      const calls = gce.calls.filter((c) => c.at > tp - 3_000).map((c) => `${c.write ? 'W' : 'R'} ${c.method} ${c.path.split('?')[0]!.split('/').slice(-2).join('/')} at ${rel(c.at)} fwd ${rel(c.forwardedAt)} done ${rel(c.doneAt)} abort ${rel(c.abortedAt)}`);
      const kube = leader.kubeWrites.filter((w) => w.wall > tp - 3_000).map((w) => `K ${w.what.split('?')[0]!} at ${rel(w.wall)}`);
      failures.push(`no GCE write was in flight when the fence closed (tp + ${closed - tp} ms): the abort was not exercised; ${[...calls, ...kube].slice(-30).join('; ')}`);
    }
    if (notAborted.length > 0) failures.push(`${notAborted.length} in-flight GCE writes not aborted within ${SLACK_MS} ms of the fence closing: ${notAborted.slice(0, 3).map((c) => `${c.method} ${c.path.split('?')[0]!.split('/').slice(-2).join('/')}`).join(', ')}`);
    if (kubeLate.length > 0) failures.push(`${kubeLate.length} Kubernetes writes of the deposed leader after its renew deadline: ${kubeLate.slice(0, 4).join(', ')}`);
    if (changed.length > 0) failures.push(`member objects written while the deposed leader was the only controller: ${changed.slice(0, 4).join(', ')}`);
    c1.notes = `fence closed at t_partition + ${closed - tp} ms; in flight then: ${inFlight.length} writes, aborted ${inFlight.length - notAborted.length}; leader exited ${code === 'alive' ? 'no' : `code ${String(code)}`}`;

    // A successor (no partition, no hold) converges the Gateways with no duplicate insert.
    const next = await replica('c1-successor', cfg);
    successor = next.r;
    successorGce = next.gce;
    const t0 = Date.now();
    if (!(await gatewaysProgrammed(names, CONVERGE_MS))) failures.push('the successor did not program the Gateways within 60 s');
    else c1.convergeMs = Date.now() - t0;
    const dups = duplicateInserts(s.emulator.audit().filter((a) => a.seq > mark && names.some((n) => a.resource?.includes(`-${NS}-${n}-`) === true)), s.emulator.inventory());
    c1.duplicates += dups.length;
    if (dups.length > 0) failures.push(`duplicate inserts: ${dups.join(', ')}`);
    await deleteGateways(names);
    const gone = await waitFor(() => !stamped(s.emulator.inventory()).some((x) => names.some((n) => x.gateway === `${NS}/${n}`)), CONVERGE_MS, 'C1 Gateways torn down').then(
      () => true,
      () => false,
    );
    if (!gone) {
      c1.gceLeaks += stamped(s.emulator.inventory()).filter((x) => names.some((n) => x.gateway === `${NS}/${n}`)).length;
      failures.push('the C1 Gateways were not torn down');
    }
    c1.failures.push(...failures);
    expect(failures).toEqual([]);
  });

  it('C2: a leader SIGSTOPped past its lease and continued makes no write and steps down', async () => {
    const failures: string[] = [];
    expect(successor?.leading()).toBe(true);
    const leader = successor!;
    const gce = successorGce!;
    const { r: standby } = await replica('c2-standby', s.fleet.config.kubeconfigPath);
    await waitFor(() => standby.started, 60_000, 'the standby running');
    gce.holdWritesMs = HOLD_MS;
    const names = ['c2-a', 'c2-b'];
    await createGateways(names);
    const writes0 = gce.calls.filter((c) => c.write).length;
    await waitFor(() => gce.calls.filter((c) => c.write).length >= writes0 + 2, 30_000, 'the leader writing');
    const ts = Date.now();
    leader.proc.kill('SIGSTOP');
    // The standby takes over after the lease, and converges while the old leader sleeps.
    const tookOver = await waitFor(() => standby.leading(), LEASE_MS + RETRY_MS + 10_000, 'the standby leading').then(
      () => true,
      () => false,
    );
    if (!tookOver) failures.push('the standby did not take over');
    if (!(await gatewaysProgrammed(names, CONVERGE_MS))) failures.push('the standby did not program the Gateways within 60 s');
    const tc = Date.now();
    leader.proc.kill('SIGCONT');
    const code = await Promise.race([leader.exited, new Promise<'alive'>((r) => setTimeout(() => r('alive'), RENEW_MS + SLACK_MS))]);
    if (code !== 3) failures.push(`the continued leader did not exit lease-lost (${String(code)})`);
    // Everything it had sent before the stop was forwarded by ts + HOLD_MS, before its deadline.
    const late = s.emulator.audit().filter((a) => a.seq > mark && a.caller === leader.identity && a.access === 'write' && a.time > ts + RENEW_MS);
    const sentAfter = gce.calls.filter((c) => c.write && c.at >= tc);
    const kubeLate = [...leader.kubeWrites, ...leader.eventWrites].filter((w) => w.wall > tc).map((w) => w.what);
    c2.runs++;
    c2.forbiddenWrites += late.length + sentAfter.length + kubeLate.length;
    if (late.length > 0) failures.push(`${late.length} GCE writes of the stopped leader after its renew deadline: ${late.slice(0, 4).map((a) => a.method).join(', ')}`);
    if (sentAfter.length > 0) failures.push(`${sentAfter.length} GCE writes sent by the leader after SIGCONT: ${sentAfter.slice(0, 4).map((c) => `${c.method} ${c.path.split('?')[0]!.split('/').slice(-2).join('/')}`).join(', ')}`);
    if (kubeLate.length > 0) failures.push(`${kubeLate.length} Kubernetes writes of the leader after SIGCONT: ${kubeLate.slice(0, 4).join(', ')}`);
    c2.notes = `stopped ${((tc - ts) / 1000).toFixed(1)} s; old leader exited ${code === 'alive' ? 'no' : `code ${String(code)}`}`;
    const dups = duplicateInserts(s.emulator.audit().filter((a) => a.seq > mark && names.some((n) => a.resource?.includes(`-${NS}-${n}-`) === true)), s.emulator.inventory());
    c2.duplicates += dups.length;
    if (dups.length > 0) failures.push(`duplicate inserts: ${dups.join(', ')}`);
    await deleteGateways(names);
    const t0 = Date.now();
    const gone = await waitFor(() => !stamped(s.emulator.inventory()).some((x) => names.some((n) => x.gateway === `${NS}/${n}`)), CONVERGE_MS, 'C2 Gateways torn down').then(
      () => true,
      () => false,
    );
    if (!gone) {
      c2.gceLeaks += stamped(s.emulator.inventory()).filter((x) => names.some((n) => x.gateway === `${NS}/${n}`)).length;
      failures.push('the C2 Gateways were not torn down');
    } else c2.convergeMs = Date.now() - t0;
    c2.failures.push(...failures);
    expect(failures).toEqual([]);
  });
});
