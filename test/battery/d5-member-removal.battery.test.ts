// SPDX-License-Identifier: Apache-2.0
//
// Battery D5 (test/battery/README.md): a serving member is removed from the fleet (its FleetMember
// deleted). Within 60 s: no fleet-ilb VIP Service or mirrored EndpointSlice is left in that member,
// no NEG stamped for that member is left in GCE (its backends leave the backend service first), the
// Gateway stays Programmed, and the other member's NEGs get no write (no detach, no re-create).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeStamp } from '../../controller/naming/stamp.ts';
import { gatewayCondition, getGateway, waitGatewayCondition } from '../fixtures/conditions.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import type { Scenario } from '../fixtures/scenario.ts';
import { firewallsOf, itemFleet, releaseFleet, auditMark, recordRow, newRow } from './lib.ts';

const FLEETILB_API = 'fleetilb.io/v1alpha1';
const LIMIT_MS = 60_000;

describe('D5: a serving member removed from the fleet', () => {
  let s: Scenario;
  const row = newRow('D5', 'FleetMember of a serving member deleted, then registered again');
  let removed: KObject | undefined;
  const negsOf = (cluster: string): string[] =>
    s.emulator
      .inventory()
      .networkEndpointGroups.filter((n) => decodeStamp(typeof n['description'] === 'string' ? n['description'] : undefined)?.cluster === cluster)
      .map((n) => String(n['name']));
  const managed = async (cluster: string, kind: 'Service' | 'EndpointSlice'): Promise<number> =>
    (await s.kube(cluster).list(kind === 'Service' ? 'v1' : 'discovery.k8s.io/v1', kind, { labelSelector: 'fleetilb.io/managed-by=fleet-ilb' })).length;

  beforeAll(async () => {
    s = await itemFleet();
    await waitGatewayCondition(s.kube('config'), 'store', 'store', 'Programmed', 120_000);
    await waitFor(() => firewallsOf(s.emulator, 'store', 'store') >= 2, 60_000, 'store firewalls');
  });

  afterAll(async () => {
    recordRow(row);
    await releaseFleet(s);
  });

  it('its VIP Services, mirrored slices and NEGs go; the other member is untouched; the Gateway stays Programmed', async () => {
    const [gone, stays] = s.fleet.members.map((m) => m.name) as [string, string];
    await waitFor(async () => negsOf(gone).length > 0 && (await managed(gone, 'Service')) > 0, 60_000, `${gone} serving`);
    const staysNegs = negsOf(stays);
    removed = await s.kube('config').get(FLEETILB_API, 'FleetMember', gone);
    const mark = auditMark(s.emulator);
    const t0 = Date.now();
    await s.kube('config').delete(FLEETILB_API, 'FleetMember', gone);
    let converged: number | undefined;
    await waitFor(
      async () => {
        if (negsOf(gone).length > 0 || (await managed(gone, 'Service')) > 0 || (await managed(gone, 'EndpointSlice')) > 0) return false;
        converged = Date.now() - t0;
        return true;
      },
      LIMIT_MS,
      `${gone} removed`,
    ).catch(() => undefined);
    const failures: string[] = [];
    row.runs++;
    if (converged === undefined) failures.push(`${gone} not removed within ${LIMIT_MS / 1000} s`);
    else row.convergeMs = converged;
    const negsLeft = negsOf(gone);
    const vipLeft = (await managed(gone, 'Service')) + (await managed(gone, 'EndpointSlice'));
    row.gceLeaks += negsLeft.length;
    row.kubeLeaks += vipLeft;
    if (negsLeft.length > 0) failures.push(`NEGs of ${gone} left: ${negsLeft.join(', ')}`);
    if (vipLeft > 0) failures.push(`${vipLeft} fleet-ilb Services/EndpointSlices left in ${gone}`);
    const otherWrites = s.emulator.audit().filter((a) => a.seq > mark && a.access === 'write' && staysNegs.some((n) => a.resource?.endsWith(`/${n}`) === true));
    row.forbiddenWrites += otherWrites.length;
    if (otherWrites.length > 0) failures.push(`${otherWrites.length} writes to ${stays}'s NEGs: ${otherWrites.map((a) => a.method).join(', ')}`);
    if (JSON.stringify(negsOf(stays)) !== JSON.stringify(staysNegs)) failures.push(`${stays}'s NEGs changed`);
    if (gatewayCondition(await getGateway(s.kube('config'), 'store', 'store'), 'Programmed')?.status !== 'True') failures.push('store Gateway no longer Programmed');
    row.failures.push(...failures);
    expect(failures).toEqual([]);
  });

  // Also what leaves a shared fleet as D5 found it (test/battery/lib.ts itemFleet).
  it('the member registered again serves again: its NEGs and VIP Services come back', async () => {
    expect(removed).toBeDefined();
    const m = removed!;
    await s.kube('config').apply({ apiVersion: m.apiVersion, kind: m.kind, metadata: { name: m.metadata.name, labels: m.metadata.labels ?? {} }, spec: m['spec'] });
    const t0 = Date.now();
    const back = await waitFor(async () => negsOf(m.metadata.name).length > 0 && (await managed(m.metadata.name, 'Service')) > 0, LIMIT_MS, `${m.metadata.name} serving again`).then(
      () => true,
      () => false,
    );
    row.runs++;
    if (!back) row.failures.push(`${m.metadata.name} not serving again within ${LIMIT_MS / 1000} s of its new FleetMember`);
    else row.convergeMs = Math.max(row.convergeMs ?? 0, Date.now() - t0);
    expect(back).toBe(true);
  });
});
