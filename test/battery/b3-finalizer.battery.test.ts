// SPDX-License-Identifier: Apache-2.0
//
// Battery B3 (docs/failure-rules.md "Deletion and ownership", test/battery/README.md): a user strips
// fleet-ilb's `fleetilb.io/cleanup` finalizer from a programmed Gateway, so its teardown never runs:
// * stripped and deleted (one DELETE with a resourceVersion precondition right after the strip, so
//   the controller cannot put the finalizer back in between): the Gateway is gone at once; a
//   Warning Event `FinalizerRemoved` says what happens; the orphan sweep (every 2 s here,
//   lib.ts SHORT_TIMERS) deletes its GCE resources by their ownership stamp and its VIP Services by
//   their labels;
// * stripped and moved to another class in one patch (issue 12: "a stripped finalizer plus a class
//   change leaks": the teardown returned early and the sweep counted every existing Gateway as
//   wanted): the Gateway stays, not ours; its resources go, with the same Warning Event.
// Both: nothing of it left in GCE or the members within 60 s, no GCE delete of anything else, and
// the sibling `store` Gateway stays Programmed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_API, gatewayCondition, getGateway, waitGatewayCondition } from '../fixtures/conditions.ts';
import { KubeError, waitFor, type KObject } from '../fixtures/kube.ts';
import type { Scenario } from '../fixtures/scenario.ts';
import { SHORT_TIMERS, auditMark, firewallsOf, itemFleet, newRow, recordRow, releaseFleet, stamped, storeRoute, tcpGateway, writesSince } from './lib.ts';

const NS = 'store';
const LIMIT_MS = 60_000;

describe('B3: a stripped finalizer', () => {
  let s: Scenario;
  const row = newRow('B3', 'finalizer stripped, then the Gateway deleted / moved to another class');

  const vipObjects = async (uid: string): Promise<string[]> => {
    const out: string[] = [];
    for (const m of s.fleet.members.map((x) => x.name)) {
      for (const [v, kind] of [['v1', 'Service'], ['discovery.k8s.io/v1', 'EndpointSlice']] as const) {
        for (const o of await s.kube(m).list(v, kind, { labelSelector: `fleetilb.io/gateway-uid=${uid}` })) out.push(`${m} ${kind} ${o.metadata.namespace}/${o.metadata.name}`);
      }
    }
    return out;
  };
  const warned = async (uid: string): Promise<boolean> =>
    (await s.kube('config').list('events.k8s.io/v1', 'Event', { namespace: NS })).some(
      (e) => e['reason'] === 'FinalizerRemoved' && e['type'] === 'Warning' && (e['regarding'] as { uid?: string } | undefined)?.uid === uid,
    );

  const namesOf = (uid: string): Set<string> => new Set(stamped(s.emulator.inventory()).filter((x) => x.gatewayUid === uid).map((x) => x.name));

  /** A programmed Gateway `name` with its route, GCE resources and VIP Services; its uid. */
  const programmed = async (name: string): Promise<string> => {
    const kube = s.kube('config');
    await kube.apply(tcpGateway(NS, name, 8080));
    await kube.apply(storeRoute(NS, name));
    const gw = await waitGatewayCondition(kube, NS, name, 'Programmed', 120_000);
    const uid = gw.metadata.uid ?? '';
    await waitFor(() => firewallsOf(s.emulator, NS, name) >= 2, 60_000, `${name} firewalls`);
    await waitFor(async () => (await vipObjects(uid)).length > 0, 60_000, `${name} VIP Services`);
    return uid;
  };

  /**
   * After the fault (`mine`: the names of its GCE resources before it): within LIMIT_MS no GCE resource stamped with `uid` and no VIP object labelled
   * with it, a Warning Event; no GCE delete of any other resource since `mark`; store Programmed.
   */
  const check = async (name: string, uid: string, mine: ReadonlySet<string>, mark: number, t0: number): Promise<string[]> => {
    const failures: string[] = [];
    let converged: number | undefined;
    await waitFor(
      async () => {
        if (stamped(s.emulator.inventory()).some((x) => x.gatewayUid === uid) || (await vipObjects(uid)).length > 0) return false;
        converged = Date.now() - t0;
        return true;
      },
      LIMIT_MS,
      `${name}'s resources removed`,
    ).catch(() => undefined);
    row.runs++;
    const gceLeft = stamped(s.emulator.inventory()).filter((x) => x.gatewayUid === uid);
    const kubeLeft = await vipObjects(uid);
    row.gceLeaks += gceLeft.length;
    row.kubeLeaks += kubeLeft.length;
    if (converged === undefined) failures.push(`${name}: left after ${LIMIT_MS / 1000} s: ${[...gceLeft.map((x) => `${x.kind} ${x.name}`), ...kubeLeft].slice(0, 6).join(', ')}`);
    else row.convergeMs = Math.max(row.convergeMs ?? 0, converged);
    if (!(await waitFor(() => warned(uid), 30_000, 'the FinalizerRemoved Event').then(() => true, () => false))) failures.push(`${name}: no Warning Event FinalizerRemoved`);
    const foreign = writesSince(s.emulator, mark).filter((w) => w.method.endsWith('.delete') && ![...mine].some((n) => w.resource?.endsWith(`/${n}`) === true));
    row.forbiddenWrites += foreign.length;
    if (foreign.length > 0) failures.push(`${name}: ${foreign.length} GCE deletes of other resources: ${foreign.slice(0, 4).map((w) => w.resource).join(', ')}`);
    if (gatewayCondition(await getGateway(s.kube('config'), NS, 'store'), 'Programmed')?.status !== 'True') failures.push('sibling store Gateway no longer Programmed');
    return failures;
  };

  beforeAll(async () => {
    s = await itemFleet({ controller: SHORT_TIMERS });
    await waitGatewayCondition(s.kube('config'), NS, 'store', 'Programmed', 120_000);
  });

  afterAll(async () => {
    recordRow(row);
    for (const name of ['b3-del', 'b3-class']) {
      await s?.kube('config').delete(GATEWAY_API, 'TCPRoute', name, NS).catch(() => undefined);
      await s?.kube('config').delete(GATEWAY_API, 'Gateway', name, NS).catch(() => undefined);
    }
    await releaseFleet(s);
  });

  it('stripped and deleted: gone at once; the sweep removes its GCE resources and VIP Services', async () => {
    const name = 'b3-del';
    const kube = s.kube('config');
    const uid = await programmed(name);
    const mine = namesOf(uid);
    const mark = auditMark(s.emulator);
    const t0 = Date.now();
    // Strip, then delete exactly the stripped version: if the controller put the finalizer back in
    // between, the DELETE fails its precondition (409) and the pair is tried again.
    const path = await kube.objectPath(GATEWAY_API, 'Gateway', name, NS);
    let deleted = false;
    for (let i = 0; i < 10 && !deleted; i++) {
      const live = await kube.get(GATEWAY_API, 'Gateway', name, NS);
      if (live === undefined) break;
      try {
        const stripped = await kube.mergePatch<KObject>({ apiVersion: GATEWAY_API, kind: 'Gateway', name, namespace: NS }, { metadata: { finalizers: null, resourceVersion: live.metadata.resourceVersion } });
        await kube.request('DELETE', path, { body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion: stripped.metadata.resourceVersion } } });
        deleted = true;
      } catch (e) {
        if (!(e instanceof KubeError && e.status === 409)) throw e;
      }
    }
    expect(deleted).toBe(true);
    // No finalizer: the apiserver deleted it at once (no deletionTimestamp phase, no teardown ran).
    expect(await getGateway(kube, NS, name)).toBeUndefined();
    const failures = await check(name, uid, mine, mark, t0);
    row.failures.push(...failures);
    expect(failures).toEqual([]);
  });

  it('stripped and moved to another class in one patch: the Gateway stays, its resources go', async () => {
    const name = 'b3-class';
    const kube = s.kube('config');
    const uid = await programmed(name);
    const mine = namesOf(uid);
    const mark = auditMark(s.emulator);
    const t0 = Date.now();
    await kube.mergePatch({ apiVersion: GATEWAY_API, kind: 'Gateway', name, namespace: NS }, { metadata: { finalizers: null }, spec: { gatewayClassName: 'not-fleet-ilb' } });
    const failures = await check(name, uid, mine, mark, t0);
    const gw = await getGateway(kube, NS, name);
    if (gw === undefined) failures.push(`${name} is gone (only its class changed)`);
    else if ((gw.metadata.finalizers ?? []).includes('fleetilb.io/cleanup')) failures.push(`${name} of another class carries fleet-ilb's finalizer again`);
    row.failures.push(...failures);
    expect(failures).toEqual([]);
  });
});
