// SPDX-License-Identifier: Apache-2.0
//
// Battery D1 and D6 (docs/failure-rules.md "Frozen members", test/battery/README.md): a serving
// member's apiserver goes unreachable (test/battery/kubeproxy.ts in front of it resets every
// connection) while the controller's timers fire many times (lib.ts SHORT_TIMERS: resync and sweep
// every 2 s, a full relist of each of the other reflectors every 45 s).
// * D1: during the outage, 0 GCE writes (no NEG detach, no backend-service edit, nothing deleted),
//   the NEG endpoints and the member's VIP Services as they were; FleetMember `Ready=False/Unreachable`
//   and the Gateway's `fleetilb.io/MembersReachable=False` naming the member. A change made in the
//   member meanwhile (one more ready endpoint, on a node that had none) is applied after it answers
//   again, as delta operations only (one attach), within 2 min.
// * D6: with `--member-frozen-ttl`, a member unreachable longer than the TTL is expired: a Warning
//   Event `MemberExpired` on its FleetMember, its endpoints leave the load balancer (the other
//   member's NEGs get no write, the Gateway stays Programmed); back, it serves again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeStamp } from '../../controller/naming/stamp.ts';
import { findCondition, gatewayCondition, getGateway, waitGatewayCondition, type Condition } from '../fixtures/conditions.ts';
import { actualNegs } from '../fixtures/expect.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import { FLEETILB_API } from '../fixtures/members.ts';
import type { Scenario } from '../fixtures/scenario.ts';
import type { KubeFaultProxy } from './kubeproxy.ts';
import { SHORT_TIMERS, auditMark, firewallsOf, itemFleet, newRow, proxyMember, quick, recordRow, releaseFleet, restartController, writesSince } from './lib.ts';

/** How long the member stays unreachable in D1 (many resync, sweep and relist periods). */
const OUTAGE_MS = quick() ? 20_000 : 120_000;
const CONVERGE_LIMIT_MS = 120_000;
/** Relists of the other reflectors (config cluster, the other member: 45 s each) the outage must see. */
const RELISTS = quick() ? 2 : 10;
const TTL_MS = quick() ? 8_000 : 30_000;
/** The endpoint made ready during the outage: the only one of its node (examples/store/member-a/endpointslices.yaml). */
const SLICE = 'store-x7k2p';
const SPARE_NODE = 'member-a-pool-b-2';
/** Time for writes the member's return might (wrongly) cause. */
const WINDOW_MS = 5_000;

interface SliceObj extends KObject {
  endpoints: Array<{ nodeName?: string; conditions?: { ready?: boolean; serving?: boolean } }>;
}

describe('D1/D6: a serving member unreachable for a long time', () => {
  let s: Scenario;
  let proxy: KubeFaultProxy;
  let member = '';
  let members: string[] = [];
  let restore: (() => Promise<void>) | undefined;
  const d1 = newRow('D1', 'serving member unreachable while resync/sweep/relist fire; back with a change', /^D1/);
  const d6 = newRow('D6', 'member unreachable past --member-frozen-ttl: Event, endpoints leave; back', /^D6/);

  const vipServices = async (): Promise<string[]> =>
    (await s.kube(member).list('v1', 'Service', { labelSelector: 'fleetilb.io/managed-by=fleet-ilb' })).map((o) => `${o.metadata.namespace}/${o.metadata.name}@${o.metadata.resourceVersion}`).sort();
  const memberReady = async (): Promise<Condition | undefined> => findCondition(((await s.kube('config').get(FLEETILB_API, 'FleetMember', member)) as { status?: { conditions?: Condition[] } } | undefined)?.status?.conditions, 'Ready');
  const gatewayCond = async (type: string): Promise<Condition | undefined> => gatewayCondition(await getGateway(s.kube('config'), 'store', 'store'), type);
  const setSpareReady = async (ready: boolean): Promise<void> => {
    const slice = await s.kube(member).get<SliceObj>('discovery.k8s.io/v1', 'EndpointSlice', SLICE, 'store');
    if (slice === undefined) throw new Error(`no EndpointSlice store/${SLICE} in ${member}`);
    const endpoints = slice.endpoints.map((e) => (e.nodeName === SPARE_NODE ? { ...e, conditions: { ...e.conditions, ready, serving: ready } } : e));
    const { apiVersion, kind, metadata } = slice;
    await s.kube(member).apply({ ...slice, apiVersion, kind, metadata: { name: metadata.name, namespace: metadata.namespace, labels: metadata.labels ?? {} }, endpoints });
  };
  /** The instances in a member's NEGs, every zone. */
  const endpointsOf = (cluster: string): string[] => Object.values(actualNegs(s.emulator, members)[cluster] ?? {}).flat();
  const negsOf = (cluster: string): string[] =>
    s.emulator
      .inventory()
      .networkEndpointGroups.filter((n) => decodeStamp(typeof n['description'] === 'string' ? n['description'] : undefined)?.cluster === cluster)
      .map((n) => String(n['name']));

  beforeAll(async () => {
    s = await itemFleet({ controller: SHORT_TIMERS });
    members = s.fleet.members.map((m) => m.name);
    await waitGatewayCondition(s.kube('config'), 'store', 'store', 'Programmed', 120_000);
    await waitFor(() => firewallsOf(s.emulator, 'store', 'store') >= 2, 60_000, 'store firewalls');
    ({ proxy, member, restore } = await proxyMember(s, 0));
    // The rotation's reconciles are done when the member is reachable through the proxy again.
    await waitFor(async () => (await memberReady())?.status === 'True', 60_000, `${member} Ready through the proxy`);
  });

  afterAll(async () => {
    recordRow(d1);
    recordRow(d6);
    await setSpareReady(false).catch(() => undefined);
    await restore?.();
    await releaseFleet(s);
  });

  it('D1: nothing detached, deleted or edited during the outage; conditions name the member; back: the change as one attach', async () => {
    const failures: string[] = [];
    const negsBefore = actualNegs(s.emulator, members);
    const vipsBefore = await vipServices();
    expect(negsBefore[member]?.length).not.toBe(0);
    expect(vipsBefore.length).toBeGreaterThan(0);
    // The timers that must not act on a frozen member: count their runs during the outage.
    const ctl = s.controller!;
    let sweeps = 0;
    const sweep = ctl.reconciler.sweep.bind(ctl.reconciler);
    ctl.reconciler.sweep = () => {
      sweeps++;
      return sweep();
    };
    const relists = async (): Promise<number> => {
      const m = await ctl.metrics.watchRestarts.get();
      return m.values.filter((v) => v.labels['reason'] === 'relist').reduce((n, v) => n + v.value, 0);
    };
    const resyncs = (from: number): number => s.emulator.audit().filter((a) => a.seq > from && a.method === 'firewalls.list').length;
    const relists0 = await relists();
    const mark = auditMark(s.emulator);
    const t0 = Date.now();
    proxy.down();

    // What a user checks: the FleetMember and the Gateway say which member is out.
    await waitFor(async () => (await memberReady())?.reason === 'Unreachable', 60_000, `${member} Ready=False/Unreachable`).catch(() => failures.push(`FleetMember ${member} not Ready=False/Unreachable`));
    const ready = await memberReady();
    if (ready?.status !== 'False') failures.push(`FleetMember ${member} Ready=${ready?.status}/${ready?.reason}`);
    await waitFor(async () => {
      const c = await gatewayCond('fleetilb.io/MembersReachable');
      return c?.status === 'False' && (c.message ?? '').includes(member);
    }, 60_000, `MembersReachable=False naming ${member}`).catch(async () => failures.push(`Gateway MembersReachable does not name ${member}: ${JSON.stringify(await gatewayCond('fleetilb.io/MembersReachable'))}`));
    // A change in the member while fleet-ilb cannot see it (the member's own admin writes it).
    await setSpareReady(true);
    // The outage lasts OUTAGE_MS, and at least 5 resyncs, 5 sweeps and RELISTS relists fire in it.
    const timersFired = async (): Promise<boolean> => Date.now() - t0 >= OUTAGE_MS && resyncs(mark) >= 5 && sweeps >= 5 && (await relists()) - relists0 >= RELISTS;
    await waitFor(timersFired, OUTAGE_MS + 60_000, 'the outage with its timers').catch(() => failures.push(`timers during the outage: ${resyncs(mark)} resyncs, ${sweeps} sweeps`));
    const fired = `${resyncs(mark)} resyncs, ${sweeps} sweeps, ${(await relists()) - relists0} relists in ${Math.round((Date.now() - t0) / 1000)} s`;

    const during = writesSince(s.emulator, mark);
    d1.runs++;
    d1.forbiddenWrites += during.length;
    if (during.length > 0) failures.push(`${during.length} GCE writes during the outage: ${during.slice(0, 6).map((w) => `${w.method} ${w.resource ?? ''}`).join(', ')}`);
    if (JSON.stringify(actualNegs(s.emulator, members)) !== JSON.stringify(negsBefore)) failures.push('NEG endpoints changed during the outage');
    const vipsDuring = await vipServices();
    if (JSON.stringify(vipsDuring) !== JSON.stringify(vipsBefore)) failures.push(`VIP Services in ${member} changed: ${vipsBefore.join(',')} -> ${vipsDuring.join(',')}`);
    const gw = await getGateway(s.kube('config'), 'store', 'store');
    if (gatewayCondition(gw, 'Programmed')?.status !== 'True') failures.push('store not Programmed during the outage');

    // Back: converged = the member Ready, MembersReachable=True, the new ready node in its NEG.
    const mark2 = auditMark(s.emulator);
    const t1 = Date.now();
    proxy.up();
    const want = (): boolean => endpointsOf(member).includes(SPARE_NODE);
    let converged: number | undefined;
    await waitFor(
      async () => {
        if ((await memberReady())?.status !== 'True' || (await gatewayCond('fleetilb.io/MembersReachable'))?.status !== 'True' || !want()) return false;
        converged = Date.now() - t1;
        return true;
      },
      CONVERGE_LIMIT_MS,
      'converged after the outage',
    ).catch(() => failures.push(`not converged within ${CONVERGE_LIMIT_MS / 1000} s after the outage`));
    if (converged !== undefined) d1.convergeMs = converged;
    // Delta operations only: the one attach of the node that became ready, nothing re-created.
    await new Promise((r) => setTimeout(r, WINDOW_MS)); // writes the return might (wrongly) cause
    const after = writesSince(s.emulator, mark2);
    const other = after.filter((w) => w.method !== 'networkEndpointGroups.attachNetworkEndpoints');
    d1.forbiddenWrites += other.length;
    if (other.length > 0) failures.push(`${other.length} GCE writes other than the attach after the outage: ${other.slice(0, 6).map((w) => w.method).join(', ')}`);
    if (after.length - other.length !== 1) failures.push(`${after.length - other.length} attach calls after the outage (want 1)`);
    d1.notes = `${fired}; back in ${converged === undefined ? '-' : (converged / 1000).toFixed(1)} s with ${after.length} GCE writes`;
    // The spare endpoint not ready again: one detach (what the fleet looked like before).
    await setSpareReady(false);
    await waitFor(() => !want(), 60_000, `${SPARE_NODE} out of the NEG again`).catch(() => failures.push(`${SPARE_NODE} not detached again`));
    d1.failures.push(...failures);
    expect(failures).toEqual([]);
  });

  it('D6: past --member-frozen-ttl: Event, its endpoints leave the load balancer; back, it serves again', async () => {
    const failures: string[] = [];
    await restartController(s, { ...SHORT_TIMERS, memberFrozenTtlMs: TTL_MS });
    await waitFor(async () => (await memberReady())?.status === 'True' && negsOf(member).length > 0, 60_000, `${member} serving under the restarted controller`);
    const [other] = members.filter((m) => m !== member) as [string];
    const otherNegs = negsOf(other);
    const fm = await s.kube('config').get(FLEETILB_API, 'FleetMember', member);
    const mark = auditMark(s.emulator);
    const t0 = Date.now();
    const expiredEvent = async (): Promise<KObject | undefined> =>
      (await s.kube('config').list('events.k8s.io/v1', 'Event', { namespace: 'default' })).find(
        (e) => e['reason'] === 'MemberExpired' && (e['regarding'] as { uid?: string } | undefined)?.uid === fm?.metadata.uid && new Date(typeof e['eventTime'] === 'string' ? e['eventTime'] : 0).getTime() >= t0 - 1000,
      );
    proxy.down();
    const noEndpoints = (): boolean => endpointsOf(member).length === 0;
    let expiredAt: number | undefined;
    await waitFor(
      async () => {
        if ((await expiredEvent()) === undefined || !noEndpoints()) return false;
        expiredAt = Date.now() - t0;
        return true;
      },
      TTL_MS + 60_000,
      `${member} expired`,
    ).catch(() => failures.push(`no MemberExpired Event or endpoints still attached ${Math.round((Date.now() - t0) / 1000)} s into the outage (TTL ${TTL_MS / 1000} s)`));
    d6.runs++;
    if (expiredAt !== undefined && expiredAt < TTL_MS) failures.push(`expired after ${expiredAt} ms, before the TTL of ${TTL_MS} ms`);
    const ev = await expiredEvent();
    if (ev !== undefined && ev['type'] !== 'Warning') failures.push(`MemberExpired Event of type ${String(ev['type'])}`);
    const otherWrites = writesSince(s.emulator, mark).filter((a) => otherNegs.some((n) => a.resource?.endsWith(`/${n}`) === true));
    d6.forbiddenWrites += otherWrites.length;
    if (otherWrites.length > 0) failures.push(`${otherWrites.length} writes to ${other}'s NEGs`);
    if ((await gatewayCond('Programmed'))?.status !== 'True') failures.push('store not Programmed with the member expired');

    const t1 = Date.now();
    proxy.up();
    const back = await waitFor(() => !noEndpoints(), 60_000, `${member} serving again`).then(
      () => true,
      () => false,
    );
    if (!back) failures.push(`${member} not serving again within 60 s of answering`);
    else d6.convergeMs = Date.now() - t1;
    d6.notes = `expired ${expiredAt === undefined ? '-' : (expiredAt / 1000).toFixed(1)} s into the outage (TTL ${TTL_MS / 1000} s)`;
    d6.failures.push(...failures);
    expect(failures).toEqual([]);
  });
});
