// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { RouteParentStatus } from '../api/index.ts';
import { CONTROLLER_NAME } from '../naming/stamp.ts';
import { jsonEqual, normalizeGatewayStatus } from './normalize.ts';
import { canonical } from '../naming/hash.ts';
import { mergeRouteParents } from './parents.ts';

const c = (reason: string) => [{ type: 'Accepted', status: 'True' as const, reason, message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }];
const ours = (name: string, reason = 'Accepted', extra: Partial<RouteParentStatus['parentRef']> = {}): RouteParentStatus => ({
  parentRef: { name, ...extra },
  controllerName: CONTROLLER_NAME,
  conditions: c(reason),
});
const theirs = (name: string): RouteParentStatus => ({ parentRef: { name }, controllerName: 'example.com/x', conditions: c('Other') });

describe('mergeRouteParents', () => {
  it('replaces our entry in place, keeps theirs in order, drops ours that are no longer wanted, appends new ones', () => {
    const live = [theirs('a'), ours('gw1'), theirs('b'), ours('gw2')];
    const out = mergeRouteParents(live, [ours('gw1', 'Changed'), ours('gw3')], 'ns');
    expect(out).toEqual([theirs('a'), ours('gw1', 'Changed'), theirs('b'), ours('gw3')]);
  });

  it('matches a parentRef with defaults filled (group, kind, namespace = the route namespace)', () => {
    const live = [ours('gw', 'Old', { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'ns' })];
    const out = mergeRouteParents(live, [ours('gw', 'New')], 'ns');
    expect(out).toHaveLength(1);
    expect(out[0]?.conditions[0]?.reason).toBe('New');
  });

  it('tells parents apart by sectionName and port', () => {
    const out = mergeRouteParents([ours('gw', 'A', { sectionName: 'tcp' })], [ours('gw', 'B', { sectionName: 'udp' })], 'ns');
    expect(out.map((p) => p.parentRef.sectionName)).toEqual(['udp']);
  });

  it('property: other controllers’ entries survive unchanged and in order; merging twice is a fixed point', () => {
    const entry = fc.oneof(
      fc.constantFrom('g1', 'g2', 'g3').map((n) => ours(n)),
      fc.constantFrom('t1', 't2', 't3').map((n) => theirs(n)),
    );
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 8 }), fc.uniqueArray(fc.constantFrom('g1', 'g2', 'g3', 'g4')), (live, want) => {
        const desired = want.map((n) => ours(n, 'Want'));
        const once = mergeRouteParents(live, desired, 'ns');
        const others = (l: RouteParentStatus[]) => l.filter((p) => p.controllerName !== CONTROLLER_NAME);
        expect(others(once)).toEqual(others(live));
        expect(once.filter((p) => p.controllerName === CONTROLLER_NAME).map((p) => p.parentRef.name).sort()).toEqual([...want].sort());
        expect(mergeRouteParents(once, desired, 'ns')).toEqual(once);
      }),
    );
  });
});

describe('normalize', () => {
  it('canonical ignores key order and undefined members, not list order', () => {
    expect(jsonEqual({ a: 1, b: undefined, c: { y: 2, x: 1 } }, { c: { x: 1, y: 2 }, a: 1 })).toBe(true);
    expect(jsonEqual([1, 2], [2, 1])).toBe(false);
    expect(canonical({ b: [{ d: 1, c: 2 }], a: null })).toEqual({ a: null, b: [{ c: 2, d: 1 }] });
  });

  it('fills the Gateway CRD status defaults', () => {
    const n = normalizeGatewayStatus({ addresses: [{ value: '10.0.0.1' }], listeners: [{ name: 'l', supportedKinds: [{ kind: 'TCPRoute' }], attachedRoutes: 0, conditions: [] }] });
    expect(n.addresses).toEqual([{ type: 'IPAddress', value: '10.0.0.1' }]);
    expect(n.listeners?.[0]?.supportedKinds).toEqual([{ group: 'gateway.networking.k8s.io', kind: 'TCPRoute' }]);
  });
});

describe('gatewayStatusPart', () => {
  it('selects the Gateway and scopes every route to it: only its entries (namespace defaulted to the route’s) are written', async () => {
    const { gatewayStatusPart } = await import('./writer.ts');
    const route = (name: string, parents: RouteParentStatus[]) => ({ kind: 'TCPRoute' as const, namespace: 'ns', name, parents });
    const part = gatewayStatusPart(
      {
        gatewayClasses: [],
        gateways: [
          { namespace: 'ns', name: 'gw1', status: {} },
          { namespace: 'ns', name: 'gw2', status: {} },
        ],
        routes: [route('r1', [ours('gw1')]), route('r2', [ours('gw2')]), route('r3', []), route('r4', [ours('gw1', 'A', { namespace: 'other' })])],
        fleetMembers: [],
        ilbConfigs: [],
        serviceImports: [],
        serviceExports: [],
      },
      'ns',
      'gw1',
    );
    expect(part.gateways?.map((g) => g.name)).toEqual(['gw1']);
    expect(part.routes?.map((r) => [r.name, r.parents.length, r.scope])).toEqual([
      ['r1', 1, { namespace: 'ns', name: 'gw1' }],
      ['r2', 0, { namespace: 'ns', name: 'gw1' }],
      ['r3', 0, { namespace: 'ns', name: 'gw1' }],
      ['r4', 0, { namespace: 'ns', name: 'gw1' }],
    ]);
    expect(part.serviceImports).toBeUndefined();
  });

  it('a scoped merge keeps our entries for other Gateways and replaces only this one', async () => {
    const { mergeRouteParents } = await import('./parents.ts');
    const merged = mergeRouteParents([ours('gw1'), ours('gw2')], [], 'ns', { namespace: 'ns', name: 'gw1' });
    expect(merged.map((p) => p.parentRef.name)).toEqual(['gw2']);
    const unscoped = mergeRouteParents([ours('gw1'), ours('gw2')], [], 'ns');
    expect(unscoped).toEqual([]);
  });
});
