// SPDX-License-Identifier: Apache-2.0
//
// The pure plan: what changes produce which steps, in which phase, and that a live state equal to
// the desired one (in the spellings GCE echoes back) plans nothing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FLEET, PROJECT, REGION, ZONE_A, ZONE_B, desiredFor, names, oneListener, sharingHealthChecks, sharingNegs, type GatewaySpec } from '../../../test/integration/gce-apply.fixture.ts';
import type { DesiredGce } from './desired.ts';
import { negKey, type Observed } from './observe.ts';
import { PHASES, describePlan, planGce } from './plan.ts';
import { gceLabels } from '../../naming/gcelabels.ts';
import { batches, endpointDiff, endpointKey } from './neg.ts';

const owner = { fleet: FLEET, gatewayUid: 'uid-web-0001' };
const VIP = '10.0.0.9';

/** Re-spells a desired object the way GCE returns it: virtual keys, other URL host/version, ids, reversed arrays. */
function echo<T extends object>(o: T, extra: Record<string, unknown> = {}): T {
  const respell = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace('https://www.googleapis.com/compute/v1/', 'https://compute.googleapis.com/compute/v1/');
    if (Array.isArray(v)) return [...v].reverse().map(respell);
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        out[k] = respell(x);
        if (!Array.isArray(x) && typeof x !== 'object') out[`_${k}`] = k;
      }
      return out;
    }
    return v;
  };
  return { ...(respell(o) as T), id: '1234567890123456789', fingerprint: 'Zm9vYmFy', creationTimestamp: '2026-01-01T00:00:00Z', ...extra };
}

/** The Observed of a Gateway whose desired state has been fully applied. */
function applied(d: DesiredGce): Observed {
  return {
    address: new Map([[d.address.name, echo(d.address, { address: VIP, status: 'IN_USE' })]]),
    healthCheck: new Map(d.healthChecks.map((x) => [x.name, echo(x)])),
    backendService: new Map(d.backendServices.map((x) => [x.name, echo(x)])),
    forwardingRule: new Map(d.forwardingRules.map((x) => [x.name, echo(x, { IPAddress: VIP })])),
    networkEndpointGroup: new Map(d.negs.map((n) => [negKey(d.project, n.zone, n.neg.name), { project: d.project, zone: n.zone, neg: echo(n.neg, { size: n.endpoints.length }) }])),
    firewall: new Map(d.firewalls.map((x) => [x.name, echo(x)])),
    endpoints: new Map(
      d.negs.map((n) => [
        negKey(d.project, n.zone, n.neg.name),
        n.endpoints.map((e) => ({ instance: `https://www.googleapis.com/compute/v1/projects/${PROJECT}/zones/${n.zone}/instances/${e.instance}`, ipAddress: e.ipAddress })),
      ]),
    ),
  };
}

describe('planGce', () => {
  it('plans nothing when the live state is the desired one, whatever spelling GCE echoes', () => {
    fc.assert(
      fc.property(
        fc.record({
          ports: fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 4 }),
          udp: fc.boolean(),
          global: fc.boolean(),
          clients: fc.boolean(),
          frozenB: fc.boolean(),
        }),
        ({ ports, udp, global, clients, frozenB }) => {
          const g: GatewaySpec = oneListener({
            listeners: ports.map((p) => ({ key: `l-${p}`, protocol: udp ? 'UDP' : 'TCP', port: p, allowGlobalAccess: global })),
            ...(clients ? { clientRanges: ['10.8.0.0/16', '192.168.0.0/24'] } : {}),
            ...(frozenB ? { frozen: ['b'] } : {}),
          });
          const d = desiredFor(g);
          const plan = planGce(d, applied(d), owner);
          expect(describePlan(plan)).toEqual([]);
          expect(plan.vip).toBe(VIP);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('creates everything in dependency order on an empty project', () => {
    const d = desiredFor(oneListener());
    const empty: Observed = {
      address: new Map(),
      healthCheck: new Map(),
      backendService: new Map(),
      forwardingRule: new Map(),
      networkEndpointGroup: new Map(),
      firewall: new Map(),
      endpoints: new Map(),
    };
    const plan = planGce(d, empty, owner);
    expect(plan.steps.map((s) => s.kind)).toEqual([
      'address',
      'healthCheck',
      'networkEndpointGroup',
      'networkEndpointGroup',
      'networkEndpointGroup',
      'networkEndpointGroup',
      'backendService',
      'forwardingRule',
      'firewall',
    ]);
    expect(plan.steps.filter((s) => s.kind === 'networkEndpointGroup').every((s) => s.attach?.length === 1)).toBe(true);
  });

  it('a port change re-creates the FR (delete first phase, create later); allowGlobalAccess alone is a patch', () => {
    const d = desiredFor(oneListener());
    const live = applied(d);
    const moved = desiredFor(oneListener({ listeners: [{ key: 'tcp-80', protocol: 'TCP', port: 81 }] }));
    const p1 = planGce(moved, live, owner);
    expect(p1.steps.map((s) => `${s.phase} ${s.action}`)).toEqual(['forwardingRules:delete delete', 'healthChecks update', 'forwardingRules create', 'firewalls update']);
    const ga = desiredFor(oneListener({ listeners: [{ key: 'tcp-80', protocol: 'TCP', port: 80, allowGlobalAccess: true }] }));
    expect(planGce(ga, live, owner).steps.map((s) => `${s.phase} ${s.action} ${s.fields?.join(',')}`)).toEqual(['forwardingRules patch allowGlobalAccess']);
  });

  it('labels missing or changed on the address and forwarding rules are a setLabels step (update / patch of `labels`), never a re-create; the user’s own labels stay', () => {
    const d = desiredFor(oneListener());
    const labels = gceLabels(FLEET, 'web', 'gw');
    d.address.labels = labels;
    for (const f of d.forwardingRules) f.labels = labels;
    const live = applied(d);
    for (const a of live.address.values()) delete a.labels;
    for (const f of live.forwardingRule.values()) f.labels = { ...(f.labels ?? {}), 'fleetilb-gateway': 'other', team: 'payments' };
    expect(planGce(d, live, owner).steps.map((s) => `${s.phase} ${s.kind} ${s.action} ${s.fields?.join(',')}`)).toEqual([
      'address address update labels',
      'forwardingRules forwardingRule patch labels',
    ]);
    // Ours in place next to the user's: nothing to do.
    const fine = applied(d);
    for (const f of fine.forwardingRule.values()) f.labels = { ...(f.labels ?? {}), team: 'payments' };
    expect(planGce(d, fine, owner).steps).toEqual([]);
  });

  it('a backend-service protocol change deletes the FR pointing at it before updating it', () => {
    const d = desiredFor(oneListener());
    const udp = desiredFor(oneListener({ listeners: [{ key: 'tcp-80', protocol: 'UDP', port: 80 }] }));
    const plan = planGce(udp, applied(d), owner);
    const order = plan.steps.map((s) => `${s.kind}:${s.action}`);
    expect(order.indexOf('forwardingRule:delete')).toBeLessThan(order.indexOf('backendService:update'));
    expect(order.indexOf('backendService:update')).toBeLessThan(order.indexOf('forwardingRule:create'));
  });

  it('stale resources of this Gateway are deleted in reverse order; those of other Gateways are not seen as stale', () => {
    const two = oneListener({ listeners: [{ key: 'tcp-80', protocol: 'TCP', port: 80 }, { key: 'tcp-90', protocol: 'TCP', port: 90 }] });
    const live = applied(desiredFor(two));
    const plan = planGce(desiredFor(oneListener()), live, owner);
    const del = plan.steps.filter((s) => s.action === 'delete');
    expect(del.map((s) => s.kind)).toEqual([
      'forwardingRule',
      'backendService',
      'healthCheck',
      'networkEndpointGroup',
      'networkEndpointGroup',
      'networkEndpointGroup',
      'networkEndpointGroup',
    ]);
    expect(del.every((s) => s.name.includes('tcp-90'))).toBe(true);
    const phases = plan.steps.map((s) => PHASES.indexOf(s.phase));
    expect([...phases].sort((a, b) => a - b)).toEqual(phases);
    // Same objects, stamped for another Gateway: not ours, so no deletes (and no conflicts: not desired names).
    const other = planGce(desiredFor(oneListener()), live, { fleet: FLEET, gatewayUid: 'someone-else' });
    expect(other.steps.filter((s) => s.action === 'delete')).toEqual([]);
  });

  it('shared NEGs are ours to create and sync; one the Gateway stops using is released, never "stale"', () => {
    const d = sharingNegs(desiredFor(oneListener()));
    // Another Gateway created them: not a conflict, nothing to do.
    expect(planGce(d, applied(d), owner).steps).toEqual([]);
    // A member leaves the group: its NEGs are released (apply deletes them only if no other
    // Gateway claims or references them: inventory negInUse).
    const fewer: DesiredGce = { ...d, negs: d.negs.filter((n) => n.cluster !== 'b'), backendServices: d.backendServices.map((b) => ({ ...b, backends: (b.backends ?? []).filter((x) => !(x.group ?? '').endsWith('-b')) })) };
    const plan = planGce(fewer, applied(d), owner);
    const del = plan.steps.filter((s) => s.action === 'delete');
    expect(del.map((s) => [s.kind, s.reason])).toEqual([
      ['networkEndpointGroup', 'release'],
      ['networkEndpointGroup', 'release'],
    ]);
    expect(plan.steps.filter((s) => s.action !== 'delete').map((s) => [s.kind, s.action])).toEqual([['backendService', 'update']]);
  });

  it('a shared health check is ours to use; one the Gateway stops using is released, never "stale"', () => {
    const d = sharingHealthChecks(desiredFor(oneListener()));
    expect(planGce(d, applied(d), owner).steps).toEqual([]);
    // A HealthCheckPolicy changes the check: a new shared check, the backend service moves to it,
    // and the old one is released (apply deletes it only if no other Gateway claims or uses it).
    const moved: DesiredGce = {
      ...d,
      healthChecks: d.healthChecks.map((h) => ({ ...h, name: `${h.name}-x`, checkIntervalSec: 9 })),
      backendServices: d.backendServices.map((b) => ({ ...b, healthChecks: (b.healthChecks ?? []).map((u) => `${u}-x`) })),
    };
    const steps = planGce(moved, applied(d), owner).steps;
    expect(steps.map((s) => [s.kind, s.action, s.reason ?? ''])).toEqual([
      ['healthCheck', 'create', ''],
      ['backendService', 'update', ''],
      ['healthCheck', 'delete', 'release'],
    ]);
  });

  it('a frozen member gets no endpoint step, even when its desired endpoints differ', () => {
    const g = oneListener();
    const live = applied(desiredFor(g));
    const frozen = desiredFor(oneListener({ frozen: ['b'], members: { ...g.members, b: { [ZONE_A]: [], [ZONE_B]: ['b-zb-2'] } } }));
    expect(planGce(frozen, live, owner).steps).toEqual([]);
    const thawed = desiredFor(oneListener({ members: { ...g.members, b: { [ZONE_A]: [], [ZONE_B]: ['b-zb-2'] } } }));
    const steps = planGce(thawed, live, owner).steps;
    expect(steps.map((s) => [s.scope, s.attach?.length ?? 0, s.detach?.length ?? 0])).toEqual([
      [ZONE_A, 0, 1],
      [ZONE_B, 1, 1],
    ]);
  });

  it('a desired name held by a foreign resource is a conflict; the address re-reserves the VIP of surviving FRs', () => {
    const g = oneListener();
    const d = desiredFor(g);
    const live = applied(d);
    live.healthCheck.set(names(g).hc('tcp-80'), { name: names(g).hc('tcp-80'), description: 'mine, not yours' });
    live.address.delete(d.address.name);
    const plan = planGce(d, live, owner);
    expect(plan.conflicts).toEqual([{ kind: 'healthCheck', name: names(g).hc('tcp-80'), scope: REGION, owner: 'description is not a fleet-ilb stamp' }]);
    expect(plan.addressIp).toBe(VIP);
  });
});

describe('NEG endpoint diff', () => {
  it('keys endpoints by instance name (URLs reduced) and IP', () => {
    expect(endpointKey({ instance: 'https://x/projects/p/zones/z/instances/vm-1', ipAddress: '10.0.0.1' })).toBe('vm-1|10.0.0.1');
    const d = endpointDiff(
      [
        { instance: 'vm-1', ipAddress: '10.0.0.1' },
        { instance: 'vm-2', ipAddress: '10.0.0.2' },
      ],
      [
        { instance: 'projects/p/zones/z/instances/vm-1', ipAddress: '10.0.0.1' },
        { instance: 'vm-3', ipAddress: '10.0.0.3' },
      ],
    );
    expect(d).toEqual({ attach: [{ instance: 'vm-2', ipAddress: '10.0.0.2' }], detach: [{ instance: 'vm-3', ipAddress: '10.0.0.3' }] });
  });

  it('batches at most 500 endpoints per call', () => {
    expect(batches(Array.from({ length: 1201 }, (_, i) => i)).map((b) => b.length)).toEqual([500, 500, 201]);
    expect(batches([])).toEqual([]);
  });
});
