// SPDX-License-Identifier: Apache-2.0
//
// How the controller recovers and how gently it treats GCE (issue 13 "errors the user can fix
// converge within seconds of the fix"; issue 12 member removal; issue 9 resync), on the store
// scenario (config + two members, the Compute API emulator, the controller in this process):
//   1. a resync of the converged fleet writes nothing, and `fleetilb_resync_writes_total` says so;
//      drift made outside the controller is repaired by the resync and counted there;
//   2. a Gateway failing on a bad ILBConfig project says so (Programmed=False with GCE's message and
//      when the next retry is), retries no faster than the re-check floor, and is Programmed again
//      within seconds of the ILBConfig fix, not after the retry it announced;
//   3. a member unreachable longer than --member-frozen-ttl is expired with a Warning Event on its
//      FleetMember, and served again when it answers;
//   4. deleting a FleetMember deletes fleet-ilb's VIP Services and mirrored EndpointSlices in that
//      member; the other member keeps its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayCondition, getGateway, waitGatewayCondition, type Condition } from '../fixtures/conditions.ts';
import { waitFor, type KObject, type Kube } from '../fixtures/kube.ts';
import { FLEETILB_API, waitMembersReady } from '../fixtures/members.ts';
import { waitQuiet } from '../fixtures/quiet.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';
import type { RefreshStats } from '../../controller/infra/gcp/inventory.ts';

const CONVERGE_MS = 90_000;
const BAD_PROJECT = 'no-such-project-13';
/** --member-frozen-ttl of this file's controller: short, so the expiry test need not wait an hour. */
const FROZEN_TTL_MS = 4_000;

interface ServiceObj extends KObject {
  spec?: { loadBalancerClass?: string };
}
interface EventObj extends KObject {
  reason?: string;
  note?: string;
  type?: string;
  regarding?: { kind?: string; name?: string };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('controller recovery (store scenario)', () => {
  let s: Scenario;
  let members: string[];
  const config = (): Kube => s.kube('config');
  const programmed = async (): Promise<Condition | undefined> => gatewayCondition(await getGateway(config(), 'store', 'store'), 'Programmed');
  const reconciles = async (): Promise<number> =>
    (await s.controller!.metrics.reconcileDuration.get()).values.filter((v) => v.metricName?.endsWith('_count')).reduce((n, v) => n + v.value, 0);
  const depth = async (): Promise<number> => (await s.controller!.metrics.queueDepth.get()).values.reduce((n, v) => n + v.value, 0);
  const resyncWrites = async (target: string): Promise<number> =>
    (await s.controller!.metrics.resyncWrites.get()).values.filter((v) => v.labels['target'] === target).reduce((n, v) => n + v.value, 0);
  const gceCalls = async (priority: string): Promise<number> =>
    (await s.controller!.metrics.gceCalls.get()).values.filter((v) => v.labels['priority'] === priority).reduce((n, v) => n + v.value, 0);
  /** A resync now (keys 1 s apart at most), then until its reconciles (global + the Gateway) are done. */
  const resync = async (): Promise<RefreshStats> => {
    const done = await reconciles();
    const stats = await s.controller!.resyncAll({ spreadMs: 0 });
    await waitFor(async () => (await reconciles()) >= done + 2 && (await depth()) === 0, 30_000, 'the resync reconciles');
    return stats;
  };
  const vipServices = async (member: string): Promise<string[]> =>
    (await s.kube(member).list<ServiceObj>('v1', 'Service')).filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip').map((x) => `${x.metadata.namespace}/${x.metadata.name}`);
  const mirroredSlices = async (member: string): Promise<string[]> =>
    (await s.kube(member).list('discovery.k8s.io/v1', 'EndpointSlice', { labelSelector: 'fleetilb.io/managed-by=fleet-ilb' })).map((x) => `${x.metadata.namespace}/${x.metadata.name}`);

  beforeAll(async () => {
    s = await startScenario({ controller: { memberFrozenTtlMs: FROZEN_TTL_MS } });
    members = s.fleet.members.map((m) => m.name);
    await waitGatewayCondition(config(), 'store', 'store', 'Programmed', CONVERGE_MS);
    await waitMembersReady(s.fleet, members, 30_000);
  });

  afterAll(async () => {
    await s?.stop();
  });

  it('a resync of the converged fleet counts zero writes; drift it repairs is counted', async () => {
    // Quiet: no GCE call and nothing queued between two looks 1.5 s apart (the first reconciles of
    // the members' data may still be running when the Gateway is first Programmed).
    await waitQuiet(s.emulator, { gce: 'calls', queueDepth: depth, also: () => s.emulator.inventory().firewalls.length === 2, what: 'a quiet, converged fleet' });
    const before = await resyncWrites('gce');
    const [high, low] = [await gceCalls('high'), await gceCalls('low')];
    s.emulator.resetAudit();
    const stats = await resync();
    expect(s.emulator.audit().filter((e) => e.access === 'write').map((e) => `${e.method} ${e.resource ?? ''}`)).toEqual([]);
    expect(await resyncWrites('gce')).toBe(before);
    expect(await resyncWrites('kubernetes')).toBe(0);
    // Every call of the resync (the inventory refresh) went in the budget's low lane.
    expect(stats.lists).toBeGreaterThan(0);
    expect((await gceCalls('low')) - low).toBe(s.emulator.audit().length);
    expect(await gceCalls('high')).toBe(high);

    // Someone deletes one of the Gateway's firewalls behind the controller's back: the next resync
    // re-reads GCE, re-creates it, and the write is counted as the resync's.
    const fw = String(s.emulator.inventory().firewalls[0]!['name']);
    const res = await fetch(`${s.emulator.url}/compute/v1/projects/${s.gcp.project}/global/firewalls/${fw}`, { method: 'DELETE' });
    expect(res.ok).toBe(true);
    await waitFor(() => s.emulator.inventory().firewalls.length === 1, 10_000, 'the firewall to be gone');
    await resync();
    await waitFor(() => s.emulator.inventory().firewalls.some((f) => f['name'] === fw), 30_000, `firewall ${fw} re-created by the resync`);
    expect(await resyncWrites('gce')).toBeGreaterThan(before);
  });

  it('a Gateway failing on a bad ILBConfig project says when it retries, and is Programmed within seconds of the fix', async () => {
    const ilb = s.ilbConfig;
    const ref = { apiVersion: ilb.apiVersion, kind: 'ILBConfig', name: ilb.metadata.name, ...(ilb.metadata.namespace === undefined ? {} : { namespace: ilb.metadata.namespace }) };
    const good = s.gcp.project;
    const badCalls = (): number => s.emulator.audit().filter((e) => e.path.includes(`/projects/${BAD_PROJECT}/`)).length;
    const vipBefore = (await getGateway(config(), 'store', 'store'))?.status?.addresses?.[0]?.value;
    const rulesBefore = s.emulator.inventory().forwardingRules.map((r) => r['name']);
    expect(rulesBefore.length).toBeGreaterThan(0);
    s.emulator.resetAudit();
    await config().mergePatch(ref, { spec: { project: BAD_PROJECT } });
    try {
      const failed = await waitFor(
        async () => {
          const c = await programmed();
          return c?.status === 'False' && (c.message ?? '').includes(`projects/${BAD_PROJECT}' was not found`) ? c : undefined;
        },
        60_000,
        'Programmed=False naming the unknown project',
      );
      // A user error (the spec's reason), and when the next attempt is: the re-check floor, 15 s.
      expect(failed.reason).toBe('Invalid');
      // The load balancer that works in the old project stays while the new one cannot be applied.
      expect(s.emulator.inventory().forwardingRules.map((r) => r['name']), 'forwarding rules during the typo').toEqual(rulesBefore);
      const retryIn = Number(/retrying in (\d+) s/.exec(failed.message ?? '')?.[1]);
      expect(retryIn).toBeGreaterThanOrEqual(10);
      expect(retryIn).toBeLessThanOrEqual(60);

      // Gentle: once the controller's own writes of the change have settled (each event runs the key
      // once), attempts on the bad project come one reconcile's reads at a time, a re-check floor
      // apart. Wait for a quiet spell, then for a fresh attempt: the announced retry is then a full
      // floor away when the fix lands.
      let seen = badCalls();
      let quietSince = Date.now();
      await waitFor(
        () => {
          if (badCalls() !== seen) {
            seen = badCalls();
            quietSince = Date.now();
          }
          return Date.now() - quietSince >= 3_000;
        },
        60_000,
        'attempts on the bad project to settle',
      );
      const n0 = badCalls();
      await waitFor(() => badCalls() > n0, 90_000, 'the next attempt on the bad project');
      const gap = Date.now() - quietSince;
      expect(gap, 'no retry long before the announced one').toBeGreaterThanOrEqual(retryIn * 1000 * 0.66);
      await sleep(200); // the attempt's other reads (same burst)

      // The fix: one ILBConfig edit. No touch of the Gateway, no resync.
      const fixedAt = Date.now();
      await config().mergePatch(ref, { spec: { project: good } });
      await waitFor(async () => (await programmed())?.status === 'True', 60_000, 'Programmed=True after the fix');
      const took = Date.now() - fixedAt;
      console.log(`recovery: announced retry in ${retryIn} s; attempts ${gap} ms apart once settled; Programmed=True ${took} ms after the ILBConfig fix`);
      // Well before the retry the Gateway was waiting for (a full floor, ≥ 10 s, away when the fix landed).
      expect(took).toBeLessThan(8_000);
    } finally {
      // Whatever failed above, the next test starts from a good ILBConfig.
      await config().mergePatch(ref, { spec: { project: good } });
    }
    await waitFor(async () => (await programmed())?.status === 'True', 60_000, 'Programmed=True');
    const after = await getGateway(config(), 'store', 'store');
    expect(after?.status?.addresses?.[0]?.value, 'the VIP survives the typo').toBe(vipBefore);
  });

  it('a member unreachable longer than --member-frozen-ttl is expired with an Event on its FleetMember, and served again when it answers', async () => {
    const down = members[1]!;
    const handle = s.cluster(down);
    const expiredEvents = async (): Promise<EventObj[]> =>
      (await config().list<EventObj>('events.k8s.io/v1', 'Event', { namespace: 'default' })).filter((e) => e.reason === 'MemberExpired' && e.regarding?.kind === 'FleetMember' && e.regarding.name === down);
    expect(await expiredEvents()).toEqual([]);
    await handle.stop();
    try {
      const [ev] = await waitFor(async () => {
        const l = await expiredEvents();
        return l.length > 0 ? l : undefined;
      }, 60_000 + FROZEN_TTL_MS, `a MemberExpired Event on FleetMember ${down}`);
      expect(ev!.type).toBe('Warning');
      expect(ev!.note).toContain(`member ${down} unreachable since`);
    } finally {
      await handle.start();
    }
    await waitMembersReady(s.fleet, [down], 60_000);
    await waitFor(async () => (await programmed())?.status === 'True', 60_000, 'the Gateway Programmed with the member back');
  });

  it('deleting a FleetMember deletes its VIP Services and mirrored slices there; the other member keeps its own', async () => {
    const [gone, stays] = members as [string, string];
    await waitFor(async () => (await vipServices(gone)).length > 0 && (await vipServices(stays)).length > 0, 60_000, 'VIP Services in both members');
    const keep = await vipServices(stays);
    await config().delete(FLEETILB_API, 'FleetMember', gone);
    await waitFor(async () => (await vipServices(gone)).length === 0, 30_000, `${gone}'s VIP Services to be deleted`);
    expect(await mirroredSlices(gone)).toEqual([]);
    // The app's own Services and slices there are untouched.
    expect((await s.kube(gone).list<ServiceObj>('v1', 'Service', { namespace: 'store' })).length).toBeGreaterThan(0);
    await waitFor(async () => (await programmed())?.status === 'True', 30_000, 'the Gateway still Programmed');
    expect(await vipServices(stays)).toEqual(keep);
  });
});
