// SPDX-License-Identifier: Apache-2.0
//
// keepClusters: a controller that starts while member `b` is frozen renders no NEG for `b` (it has
// no data for it). With `b` kept, the plan over the live state of the full Gateway is empty; without,
// it would detach and delete b's NEGs and drop b's tags from the firewalls. A member that is not kept
// (its FleetMember deleted) still leaves.
import { describe, expect, it } from 'vitest';
import { FLEET, desiredFor, oneListener } from '../../../test/integration/gce-apply.fixture.ts';
import type { DesiredGce } from './desired.ts';
import { keepClusters } from './keep.ts';
import { negKey, type Observed } from './observe.ts';
import { describePlan, planGce } from './plan.ts';

const owner = { fleet: FLEET, gatewayUid: 'uid-web-0001' };
const VIP = '10.0.0.9';

/** The live state of a fully applied desired state. */
function live(d: DesiredGce): Observed {
  return {
    address: new Map([[d.address.name, { ...d.address, address: VIP }]]),
    healthCheck: new Map(d.healthChecks.map((x) => [x.name, x])),
    backendService: new Map(d.backendServices.map((x) => [x.name, x])),
    forwardingRule: new Map(d.forwardingRules.map((x) => [x.name, { ...x, IPAddress: VIP }])),
    networkEndpointGroup: new Map(d.negs.map((n) => [negKey(d.project, n.zone, n.neg.name), { project: d.project, zone: n.zone, neg: n.neg }])),
    firewall: new Map(d.firewalls.map((x) => [x.name, x])),
    endpoints: new Map(d.negs.map((n) => [negKey(d.project, n.zone, n.neg.name), n.endpoints])),
  };
}

describe('keepClusters', () => {
  const full = desiredFor(oneListener({ vip: VIP, clientRanges: ['10.0.0.0/8'] }));
  const withoutB = desiredFor(oneListener({ vip: VIP, clientRanges: ['10.0.0.0/8'], members: { a: oneListener().members['a']! } }));
  const observed = live(full);

  it('without it, a desired state lacking a frozen member detaches and deletes its NEGs and drops its tags', () => {
    const plan = describePlan(planGce(withoutB, observed, owner));
    expect(plan.some((s) => s.startsWith('negs:delete'))).toBe(true);
    expect(plan.some((s) => s.startsWith('backendServices: update'))).toBe(true);
    expect(plan.some((s) => s.startsWith('firewalls: update'))).toBe(true);
  });

  it('keeps what GCE holds for the kept member: the plan is empty', () => {
    const kept = keepClusters(withoutB, observed, owner, new Set(['b']));
    expect(describePlan(planGce(kept, observed, owner))).toEqual([]);
    expect(kept.negs.filter((n) => n.cluster === 'b').every((n) => n.frozen && n.endpoints.length === 0)).toBe(true);
  });

  it('keeps live firewalls render left out while a member is kept', () => {
    const noFirewalls = { ...withoutB, firewalls: [] };
    expect(describePlan(planGce(keepClusters(noFirewalls, observed, owner, new Set(['b'])), observed, owner))).toEqual([]);
  });

  it('changes nothing when no member is kept, or for a member that is not kept', () => {
    expect(keepClusters(withoutB, observed, owner, new Set())).toBe(withoutB);
    const plan = describePlan(planGce(keepClusters(withoutB, observed, owner, new Set(['c'])), observed, owner));
    expect(plan.filter((s) => s.startsWith('negs:delete'))).toHaveLength(2);
  });
});
