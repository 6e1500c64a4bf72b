// SPDX-License-Identifier: Apache-2.0
//
// Property tests (fast-check) for translate and the namer:
//   * every name is a valid RFC 1035 name ≤ 63 and distinct inputs give distinct names;
//   * translate is deterministic and independent of the order objects are listed in;
//   * translate never throws on a snapshot built from valid API objects, and every IR it returns
//     passes validate().
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BackendRef, Gateway, Listener, ParentReference } from '../../controller/api/index.ts';
import { validate } from '../../controller/ir/validate.ts';
import { isValidName, labelValue, resourceName } from '../../controller/naming/names.ts';
import type { MemberSnapshot, Snapshot } from '../../controller/snapshot/types.ts';
import { translate } from '../../controller/translate/index.ts';
import * as b from '../golden/builders.ts';

const NOW = '2026-01-01T00:00:00Z';

// ---- namer --------------------------------------------------------------------------------
const anyText = fc.string({ minLength: 0, maxLength: 80, unit: fc.constantFrom(...'abcxyz019-._/ AZ~é'.split('')) });
const dnsLabel = fc.stringMatching(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/);
const nameInput = fc.record({
  fleetId: fc.oneof(anyText, dnsLabel),
  namespace: fc.oneof(anyText, dnsLabel),
  name: fc.oneof(anyText, dnsLabel),
  suffix: fc.array(fc.oneof(anyText, dnsLabel), { maxLength: 4 }),
});

describe('namer properties', () => {
  it('always returns a valid RFC 1035 name of at most 63 characters', () => {
    fc.assert(
      fc.property(nameInput, (p) => {
        const n = resourceName(p);
        expect(isValidName(n)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
  it('gives distinct names to distinct inputs', () => {
    fc.assert(
      fc.property(nameInput, nameInput, (a, c) => {
        fc.pre(JSON.stringify(a) !== JSON.stringify(c));
        expect(resourceName(a)).not.toBe(resourceName(c));
      }),
      { numRuns: 2000 },
    );
  });
  it('is deterministic', () => {
    fc.assert(fc.property(nameInput, (p) => resourceName(p) === resourceName(structuredClone(p))));
  });
  it('labelValue keeps valid values and makes every value a valid label value', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, dnsLabel), (s) => {
        const v = labelValue(s);
        expect(v.length).toBeLessThanOrEqual(63);
        expect(v).toMatch(/^([A-Za-z0-9]([-_.A-Za-z0-9]*[A-Za-z0-9])?)?$/);
        if (/^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/.test(s) && s.length <= 63) expect(v).toBe(s);
      }),
      { numRuns: 1000 },
    );
  });
});

// ---- snapshot generator ---------------------------------------------------------------------
const NAMESPACES = ['ns-a', 'ns-b'];
const PROTOCOLS = ['TCP', 'UDP', 'HTTP'];
const ZONES = ['z-b', 'z-c'];

const listenerArb = fc.record({
  port: fc.constantFrom(80, 80, 53, 8080, 443),
  protocol: fc.constantFrom('TCP', 'TCP', 'UDP', ...PROTOCOLS),
  from: fc.constantFrom(undefined, 'All', 'All', 'Same', 'Selector'),
  kinds: fc.constantFrom(undefined, undefined, undefined, ['TCPRoute'], ['UDPRoute'], ['HTTPRoute']),
});

const gatewayArb = fc.record({
  ns: fc.constantFrom('ns-a', 'ns-a', 'ns-b'),
  name: fc.constantFrom('gw1', 'gw1', 'gw2', 'gw3'),
  listeners: fc.array(listenerArb, { minLength: 1, maxLength: 5 }),
  address: fc.constantFrom(undefined, undefined, '10.0.0.9', 'bad-ip', 'named'),
  params: fc.constantFrom(undefined, undefined, undefined, 'own', 'missing'),
  created: fc.integer({ min: 0, max: 5 }),
});

const randomBackendArb = fc.record({
  kind: fc.constantFrom('Service', 'Service', 'ServiceImport', 'ServiceImport', 'Weird'),
  name: fc.constantFrom('app', 'app', 'db', 'gone'),
  ns: fc.constantFrom(undefined, undefined, undefined, 'ns-a', 'ns-b'),
  port: fc.constantFrom(80, 80, 53, 8080, undefined),
  weight: fc.constantFrom(undefined, undefined, undefined, 0, 50),
});

const commonBackend = { kind: 'Service', name: 'app', ns: undefined, port: 80, weight: undefined } as const;
/** Mostly the backend every member has (ns-a/app, TCP 80) so that many routes resolve; sometimes anything. */
const backendArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(commonBackend) },
  { weight: 1, arbitrary: fc.constantFrom({ ...commonBackend, kind: 'ServiceImport' }) },
  { weight: 2, arbitrary: randomBackendArb },
);

const routeArb = fc.record({
  kind: fc.constantFrom('TCPRoute', 'TCPRoute', 'UDPRoute'),
  ns: fc.constantFrom('ns-a', 'ns-a', 'ns-b'),
  name: fc.constantFrom('r1', 'r2', 'r3', 'r4'),
  parents: fc.array(
    fc.oneof(
      { weight: 2, arbitrary: fc.constant({ gw: 'gw1', ns: undefined, section: undefined, port: undefined }) },
      { weight: 3, arbitrary: fc.record({
      gw: fc.constantFrom('gw1', 'gw1', 'gw2', 'gw3', 'nope'),
      ns: fc.constantFrom(undefined, undefined, ...NAMESPACES),
      section: fc.constantFrom(undefined, undefined, undefined, 'l0', 'l1', 'zz'),
      port: fc.constantFrom(undefined, undefined, undefined, undefined, 80, 53, 9999),
      }) },
    ),
    { minLength: 1, maxLength: 3 },
  ),
  backends: fc.array(backendArb, { minLength: 1, maxLength: 2 }),
  created: fc.integer({ min: 0, max: 5 }),
});

const appArb = fc.record({
  ns: fc.constantFrom('ns-a', 'ns-a', 'ns-b'),
  name: fc.constantFrom('app', 'app', 'db'),
  port: fc.constantFrom(80, 80, 53, 8080),
  protocol: fc.constantFrom<'TCP' | 'UDP'>('TCP', 'TCP', 'UDP'),
  exported: fc.constantFrom(true, true, false),
  selector: fc.constantFrom(true, true, false),
  on: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 3 }),
  ready: fc.constantFrom(true, true, false, undefined),
});

const memberArb = fc.record({
  id: fc.constantFrom('m1', 'm2', 'm3'),
  state: fc.constantFrom<MemberSnapshot['reachability']['state']>('reachable', 'reachable', 'unreachable', 'authFailed', 'pending'),
  nodes: fc.array(
    fc.record({ zone: fc.constantFrom(...ZONES), ready: fc.constantFrom(true, true, true, false), excluded: fc.constantFrom(false, false, false, true), providerID: fc.constantFrom(true, true, true, false) }),
    { minLength: 2, maxLength: 4 },
  ),
  apps: fc.array(appArb, { minLength: 1, maxLength: 3 }),
});

const snapshotArb = fc.record({
  gateways: fc.array(gatewayArb, { minLength: 1, maxLength: 3 }),
  routes: fc.array(routeArb, { minLength: 1, maxLength: 5 }),
  members: fc.array(memberArb, { minLength: 1, maxLength: 3 }),
  grant: fc.boolean(),
  importer: fc.boolean(),
  subset: fc.constantFrom(1, 2, 250),
});

type SnapInput = typeof snapshotArb extends fc.Arbitrary<infer T> ? T : never;

function listener(i: number, l: SnapInput['gateways'][number]['listeners'][number]): Listener {
  const allowed: Listener['allowedRoutes'] = {};
  if (l.from !== undefined) allowed.namespaces = l.from === 'Selector' ? { from: 'Selector', selector: { matchLabels: { team: 'x' } } } : { from: l.from };
  if (l.kinds !== undefined) allowed.kinds = l.kinds.map((kind) => ({ kind }));
  return b.listener(`l${i}`, l.port, l.protocol, allowed);
}

function build(s: SnapInput): Snapshot {
  const seenGw = new Set<string>();
  const gateways: Gateway[] = [];
  for (const g of s.gateways) {
    if (seenGw.has(`${g.ns}/${g.name}`)) continue;
    seenGw.add(`${g.ns}/${g.name}`);
    const opts: Parameters<typeof b.gateway>[3] = { created: b.t(g.created) };
    if (g.address === 'named') opts.addresses = [{ type: 'fleetilb.io/address-name', value: 'reserved' }];
    else if (g.address !== undefined) opts.addresses = [{ type: 'IPAddress', value: g.address }];
    if (g.params !== undefined) opts.infrastructure = { parametersRef: { group: 'fleetilb.io', kind: 'ILBConfig', name: g.params } };
    // A plain TCP listener on its own port first, so that many routes attach; then the random ones.
    const ls = [b.listener('main', 5000), ...g.listeners.map((l, i) => listener(i, l))];
    gateways.push(b.gateway(g.ns, g.name, ls, opts));
  }
  const seenRoute = new Set<string>();
  const tcpRoutes = [];
  const udpRoutes = [];
  for (const r of s.routes) {
    const k = `${r.kind}/${r.ns}/${r.name}`;
    if (seenRoute.has(k)) continue;
    seenRoute.add(k);
    const parents: ParentReference[] = r.parents.map((p) => {
      const ref: ParentReference = { name: p.gw };
      if (p.ns !== undefined) ref.namespace = p.ns;
      if (p.section !== undefined) ref.sectionName = p.section;
      if (p.port !== undefined) ref.port = p.port;
      return ref;
    });
    const backends: BackendRef[] = r.backends.map((x) => {
      const ref: BackendRef =
        x.kind === 'ServiceImport' ? b.svcImportRef(x.name) : x.kind === 'Service' ? { name: x.name } : { group: 'example.com', kind: 'Weird', name: x.name };
      if (x.ns !== undefined) ref.namespace = x.ns;
      if (x.port !== undefined) ref.port = x.port;
      if (x.weight !== undefined) ref.weight = x.weight;
      return ref;
    });
    if (r.kind === 'TCPRoute') tcpRoutes.push(b.tcpRoute(r.ns, r.name, parents, backends, b.t(r.created)));
    else udpRoutes.push(b.udpRoute(r.ns, r.name, parents, backends, b.t(r.created)));
  }
  const members: MemberSnapshot[] = [];
  const seenMember = new Set<string>();
  s.members.forEach((m, mi) => {
    if (seenMember.has(m.id)) return;
    seenMember.add(m.id);
    const nodes = m.nodes.map((n, i) =>
      b.node(`${m.id}-n${i}`, n.zone, `10.${mi}.0.${i + 1}`, {
        ready: n.ready,
        ...(n.excluded ? { labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': '' } } : {}),
        ...(n.providerID ? {} : { providerID: null }),
      }),
    );
    const seenApp = new Set<string>(['ns-a/app']);
    const common = { ns: 'ns-a', name: 'app', port: 80, protocol: 'TCP' as const, exported: true, selector: true, on: [0, 1], ready: true };
    const apps = [common, ...m.apps].filter((a) => a === common || (!seenApp.has(`${a.ns}/${a.name}`) && seenApp.add(`${a.ns}/${a.name}`)));
    members.push(
      b.member(m.id, {
        reachability: m.state === 'reachable' ? { state: 'reachable' } : { state: m.state, message: 'x', since: NOW },
        nodes,
        services: apps.map((a) => b.service(a.ns, a.name, [b.port(a.port, { protocol: a.protocol })], a.selector ? {} : { selector: null })),
        endpointSlices: apps.map((a, k) =>
          b.slice(a.ns, a.name, `${a.name}-x`, a.on.map((n, j) => ({ ip: `10.${mi}.${k + 1}.${j + 1}`, node: `${m.id}-n${n}`, ...(a.ready === undefined ? {} : { ready: a.ready }) })), [{ name: `p${a.port}`, port: a.port, protocol: a.protocol }]),
        ),
        serviceExports: apps.filter((a) => a.exported).map((a) => b.serviceExport(a.ns, a.name)),
      }),
    );
  });
  const snap = b.snapshot({
    settings: { mcsImporter: s.importer },
    config: {
      namespaces: [b.namespace('ns-a', { team: 'x' }), b.namespace('ns-b')],
      ilbConfigs: [b.ilbConfig('ns-a', 'own', { nodeSubsetSize: s.subset }), b.ilbConfig('ns-b', 'own', { network: 'Bad Name' })],
      gateways,
      tcpRoutes,
      udpRoutes,
      referenceGrants: s.grant ? [b.referenceGrant('ns-b', 'g', [{ kind: 'TCPRoute', namespace: 'ns-a' }], [{ group: '', kind: 'Service' }])] : [],
    },
    members,
  });
  return snap;
}

/** Deterministic shuffle of every top-level list and of the member map order. */
function shuffled(s: Snapshot, seed: number): Snapshot {
  let x = seed || 1;
  const rnd = (): number => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x7fffffff;
  };
  const sh = <T>(a: readonly T[]): T[] => {
    const c = [...a];
    for (let i = c.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [c[i], c[j]] = [c[j] as T, c[i] as T];
    }
    return c;
  };
  const c = structuredClone(s);
  for (const k of Object.keys(c.config) as Array<keyof Snapshot['config']>) (c.config as unknown as Record<string, unknown[]>)[k] = sh(c.config[k] as unknown[]);
  const entries = sh(Object.entries(c.members));
  c.members = Object.fromEntries(entries.map(([k, m]) => [k, { ...m, services: sh(m.services), endpointSlices: sh(m.endpointSlices), nodes: sh(m.nodes), serviceExports: sh(m.serviceExports) }]));
  return c;
}

describe('translate properties', () => {
  it('generates snapshots that exercise IRs, NEG endpoints, routes and VIP Services', () => {
    const runs = fc.sample(snapshotArb, { numRuns: 300, seed: 42 }).map((s) => translate(build(s), { now: NOW }));
    const withIR = runs.filter((r) => r.gateways.length > 0).length;
    const withEndpoints = runs.filter((r) => r.gateways.some((g) => g.groups.some((x) => x.negs.some((n) => n.endpoints.length > 0)))).length;
    const withVip = runs.filter((r) => r.gateways.some((g) => g.vipServices.length > 0)).length;
    const withRoutes = runs.filter((r) => r.statuses.routes.length > 0).length;
    // A generator that only produced empty snapshots would make the properties below vacuous.
    expect(withIR).toBeGreaterThan(150);
    expect(withEndpoints).toBeGreaterThan(15);
    expect(withVip).toBeGreaterThan(30);
    expect(withRoutes).toBeGreaterThan(150);
  });
  it('never throws on valid API objects and every IR passes validate()', () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const r = translate(build(s), { now: NOW });
        for (const ir of r.gateways) expect(validate(ir)).toEqual([]);
        // every Gateway of our class has a status; a Gateway has an IR or is listed invalid
        expect(r.statuses.gateways.length).toBe(r.gateways.length + r.invalidGateways.length);
      }),
      { numRuns: 300 },
    );
  });
  it('is deterministic and independent of input order', () => {
    fc.assert(
      fc.property(snapshotArb, fc.integer({ min: 1, max: 1_000_000 }), (s, seed) => {
        const snap = build(s);
        const a = JSON.stringify(translate(snap, { now: NOW }));
        const again = JSON.stringify(translate(structuredClone(snap), { now: NOW }));
        const reordered = JSON.stringify(translate(shuffled(snap, seed), { now: NOW }));
        expect(again).toBe(a);
        expect(reordered).toBe(a);
      }),
      { numRuns: 200 },
    );
  });
  it('keeps every Gateway status condition observedGeneration = metadata.generation', () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const r = translate(build(s), { now: NOW });
        for (const g of r.statuses.gateways) for (const c of g.status.conditions ?? []) expect(c.observedGeneration).toBe(1);
      }),
      { numRuns: 100 },
    );
  });
});
