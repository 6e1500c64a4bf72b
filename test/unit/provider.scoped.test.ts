// SPDX-License-Identifier: Apache-2.0
//
// The provider's scoped snapshots (controller/provider/scoped.ts) against a whole-fleet translate,
// for randomized fleets (fast-check). The indexes are fed the way the provider feeds them: one event
// per object, first for a fleet A, then the add/update/delete events that turn A into fleet B, so
// the incremental maintenance is exercised, not only a fresh build. For every Gateway key K of B (and
// keys of Gateways that are gone but still named by routes) what must be equal between
// W = translate(B) and S = translate(scopedSnapshot(K)):
//   * K's IR (W.gateways entry with key K; S has no other) and K's invalidGateways entry;
//   * K's Gateway status (conditions, listeners, addresses);
//   * for every route W or S lists whose new entries or existing fleet-ilb status entries name K:
//     S lists it too, and its entries whose parentRef names K are equal, in order. (Entries for other
//     Gateways are out of scope: S computes only K's.)
// and for G = translate(globalSnapshot()): the GatewayClass, FleetMember, ILBConfig, ServiceImport
// and ServiceExport statuses equal W's, with no Gateway IR or status.
// The node port range is tiny (8 ports) and VIP Services already hold health-check ports, so UDP
// listeners' pinned ports collide, probe and keep ports: translate/hcports.ts must give the same port
// from the scoped snapshot's `nodePorts` as from every member Service.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type {
  BackendRef,
  EndpointSlice,
  FleetMember,
  Gateway,
  GatewayClass,
  ILBConfig,
  Listener,
  Namespace,
  Node,
  ParentReference,
  ReferenceGrant,
  RouteParentStatus,
  Service,
  ServiceExport,
  ServiceImport,
  TCPRoute,
  UDPRoute,
} from '../../controller/api/index.ts';
import { FleetIndex } from '../../controller/provider/indexes.ts';
import { globalSnapshot, scopedSnapshot, type MemberHeader, type ScopeResource, type ScopeSource } from '../../controller/provider/scoped.ts';
import { vipServiceName } from '../../controller/naming/names.ts';
import type { StoredObject } from '../../controller/runtime/reflector.ts';
import type { MemberSnapshot, Snapshot } from '../../controller/snapshot/types.ts';
import { translate } from '../../controller/translate/index.ts';
import type { TranslateResult } from '../../controller/translate/index.ts';

const NOW = '2026-01-01T00:00:00Z';
const T0 = '2025-06-01T00:00:00Z';
const FLEET = 'fleet-1';
const CONTROLLER = 'fleetilb.io/gateway-controller';
const t = (n: number): string => new Date(Date.parse(T0) + n * 60_000).toISOString().replace('.000Z', 'Z');

// ---- a random fleet ---------------------------------------------------------------------------
const GW_NAMES = ['gw1', 'gw2', 'gw3', 'gw4'];
const NS = ['ns-a', 'ns-b'];

const listenerArb = fc.record({
  port: fc.constantFrom(80, 53, 8080),
  protocol: fc.constantFrom('TCP', 'TCP', 'UDP', 'UDP', 'HTTP'),
  from: fc.constantFrom(undefined, 'All', 'Same', 'Selector'),
});
const gatewayArb = fc.record({
  ns: fc.constantFrom(...NS),
  name: fc.constantFrom(...GW_NAMES),
  cls: fc.constantFrom('fleet-ilb', 'fleet-ilb', 'fleet-ilb', 'other', 'bare'),
  own: fc.constantFrom(undefined, undefined, 'own', 'missing'),
  listeners: fc.array(listenerArb, { minLength: 1, maxLength: 3 }),
  deleting: fc.constantFrom(false, false, false, false, true),
  created: fc.integer({ min: 0, max: 3 }),
});
const backendArb = fc.record({
  kind: fc.constantFrom('Service', 'ServiceImport', 'ServiceImport', 'GkeImport', 'Weird'),
  name: fc.constantFrom('app', 'app', 'db', 'gone'),
  ns: fc.constantFrom(undefined, undefined, 'ns-a', 'ns-b'),
  port: fc.constantFrom(80, 53, undefined),
  weight: fc.constantFrom(undefined, undefined, 0),
});
const routeArb = fc.record({
  kind: fc.constantFrom<'TCPRoute' | 'UDPRoute'>('TCPRoute', 'UDPRoute'),
  ns: fc.constantFrom(...NS),
  name: fc.constantFrom('r1', 'r2', 'r3', 'r4', 'r5'),
  parents: fc.array(
    fc.record({
      gw: fc.constantFrom(...GW_NAMES, 'nope'),
      ns: fc.constantFrom(undefined, undefined, ...NS),
      section: fc.constantFrom(undefined, undefined, 'l0', 'l1', 'zz'),
      kind: fc.constantFrom(undefined, undefined, undefined, 'Service'),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  backends: fc.array(backendArb, { minLength: 1, maxLength: 2 }),
  // fleet-ilb entries already in status.parents (as a previous pass wrote them), possibly stale
  status: fc.array(fc.record({ gw: fc.constantFrom(...GW_NAMES), ns: fc.constantFrom(undefined, ...NS) }), { maxLength: 2 }),
  created: fc.integer({ min: 0, max: 3 }),
  deleting: fc.constantFrom(false, false, false, false, true),
});
const appArb = fc.record({
  ns: fc.constantFrom(...NS),
  name: fc.constantFrom('app', 'db', 'gone'),
  port: fc.constantFrom(80, 53),
  protocol: fc.constantFrom<'TCP' | 'UDP'>('TCP', 'UDP'),
  exported: fc.constantFrom('mcs', 'mcs', 'gke', 'both', 'none'),
  on: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 2 }),
  nodePort: fc.constantFrom(undefined, undefined, 30000, 30003, 30005),
  created: fc.integer({ min: 0, max: 3 }),
});
const vipArb = fc.record({
  gw: fc.constantFrom(...GW_NAMES),
  ns: fc.constantFrom(...NS),
  listener: fc.constantFrom('l0', 'l1', 'l2'),
  hc: fc.integer({ min: 30000, max: 30007 }),
});
const memberArb = fc.record({
  id: fc.constantFrom('m1', 'm2', 'm3'),
  state: fc.constantFrom<MemberSnapshot['reachability']['state']>('reachable', 'reachable', 'reachable', 'unreachable', 'pending'),
  synced: fc.constantFrom(true, true, false),
  nodes: fc.array(fc.record({ zone: fc.constantFrom('z-b', 'z-c'), ready: fc.constantFrom(true, true, false), excluded: fc.constantFrom(false, false, true) }), { minLength: 1, maxLength: 3 }),
  apps: fc.array(appArb, { minLength: 1, maxLength: 3 }),
  vips: fc.array(vipArb, { maxLength: 3 }),
});
const fleetArb = fc.record({
  gateways: fc.array(gatewayArb, { minLength: 1, maxLength: 4 }),
  routes: fc.array(routeArb, { minLength: 1, maxLength: 6 }),
  members: fc.array(memberArb, { minLength: 1, maxLength: 3 }),
  grant: fc.constantFrom('none', 'tcp', 'udp', 'both'),
  imports: fc.array(fc.record({ ns: fc.constantFrom(...NS), name: fc.constantFrom('app', 'db'), group: fc.constantFrom('mcs-ours', 'mcs-foreign', 'gke') }), { maxLength: 2 }),
  importer: fc.boolean(),
  nsC: fc.boolean(),
});
type FleetInput = typeof fleetArb extends fc.Arbitrary<infer T> ? T : never;

function listener(i: number, l: FleetInput['gateways'][number]['listeners'][number]): Listener {
  const out: Listener = { name: `l${i}`, port: l.port, protocol: l.protocol };
  if (l.from !== undefined) out.allowedRoutes = { namespaces: l.from === 'Selector' ? { from: 'Selector', selector: { matchLabels: { team: 'x' } } } : { from: l.from } };
  return out;
}

function backendRef(x: FleetInput['routes'][number]['backends'][number]): BackendRef {
  const ref: BackendRef =
    x.kind === 'ServiceImport'
      ? { group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name: x.name }
      : x.kind === 'GkeImport'
        ? { group: 'net.gke.io', kind: 'ServiceImport', name: x.name }
        : x.kind === 'Service'
          ? { name: x.name }
          : { group: 'example.com', kind: 'Weird', name: x.name };
  if (x.ns !== undefined) ref.namespace = x.ns;
  if (x.port !== undefined) ref.port = x.port;
  if (x.weight !== undefined) ref.weight = x.weight;
  return ref;
}

function buildFleet(s: FleetInput): Snapshot {
  const gateways: Gateway[] = [];
  const seen = new Set<string>();
  for (const g of s.gateways) {
    if (seen.has(`${g.ns}/${g.name}`)) continue;
    seen.add(`${g.ns}/${g.name}`);
    const gw: Gateway = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { namespace: g.ns, name: g.name, uid: `uid-${g.ns}-${g.name}`, generation: 1, creationTimestamp: t(g.created) },
      spec: { gatewayClassName: g.cls, listeners: [{ name: 'main', port: 5000, protocol: 'TCP' }, ...g.listeners.map((l, i) => listener(i, l))] },
    };
    if (g.own !== undefined) gw.spec.infrastructure = { parametersRef: { group: 'fleetilb.io', kind: 'ILBConfig', name: g.own } };
    if (g.deleting) gw.metadata.deletionTimestamp = t(9);
    gateways.push(gw);
  }
  const tcpRoutes: TCPRoute[] = [];
  const udpRoutes: UDPRoute[] = [];
  const seenR = new Set<string>();
  for (const r of s.routes) {
    if (seenR.has(`${r.kind}/${r.ns}/${r.name}`)) continue;
    seenR.add(`${r.kind}/${r.ns}/${r.name}`);
    const parents: ParentReference[] = r.parents.map((p) => ({
      name: p.gw,
      ...(p.ns === undefined ? {} : { namespace: p.ns }),
      ...(p.section === undefined ? {} : { sectionName: p.section }),
      ...(p.kind === undefined ? {} : { kind: p.kind, group: '' }),
    }));
    const status: RouteParentStatus[] = r.status.map((p) => ({
      parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: p.gw, ...(p.ns === undefined ? {} : { namespace: p.ns }) },
      controllerName: CONTROLLER,
      conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'old', lastTransitionTime: T0, observedGeneration: 1 }],
    }));
    const route = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: r.kind,
      metadata: { namespace: r.ns, name: r.name, generation: 1, creationTimestamp: t(r.created), ...(r.deleting ? { deletionTimestamp: t(9) } : {}) },
      spec: { parentRefs: parents, rules: [{ backendRefs: r.backends.map(backendRef) }] },
      ...(status.length > 0 ? { status: { parents: status } } : {}),
    };
    if (r.kind === 'TCPRoute') tcpRoutes.push(route);
    else udpRoutes.push(route);
  }
  const members: MemberSnapshot[] = [];
  const seenM = new Set<string>();
  s.members.forEach((m, mi) => {
    if (seenM.has(m.id)) return;
    seenM.add(m.id);
    const nodes: Node[] = m.nodes.map((n, i) => ({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: `${m.id}-n${i}`, labels: { 'topology.kubernetes.io/zone': n.zone, ...(n.excluded ? { 'node.kubernetes.io/exclude-from-external-load-balancers': '' } : {}) } },
      spec: { providerID: `gce://p/${n.zone}/${m.id}-n${i}` },
      status: { conditions: [{ type: 'Ready', status: n.ready ? 'True' : 'False' }], addresses: [{ type: 'InternalIP', address: `10.${mi}.0.${i + 1}` }] },
    }));
    const services: Service[] = [];
    const endpointSlices: EndpointSlice[] = [];
    const serviceExports: ServiceExport[] = [];
    const seenApp = new Set<string>();
    m.apps.forEach((a, k) => {
      if (seenApp.has(`${a.ns}/${a.name}`)) return;
      seenApp.add(`${a.ns}/${a.name}`);
      services.push({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { namespace: a.ns, name: a.name, creationTimestamp: T0 },
        spec: { type: a.nodePort === undefined ? 'ClusterIP' : 'NodePort', selector: { app: a.name }, ports: [{ name: `p${a.port}`, protocol: a.protocol, port: a.port, targetPort: a.port, ...(a.nodePort === undefined ? {} : { nodePort: a.nodePort }) }] },
      });
      endpointSlices.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { namespace: a.ns, name: `${a.name}-x`, labels: { 'kubernetes.io/service-name': a.name } },
        addressType: 'IPv4',
        endpoints: a.on.map((n, j) => ({ addresses: [`10.${mi}.${k + 1}.${j + 1}`], nodeName: `${m.id}-n${n}`, conditions: { ready: true } })),
        ports: [{ name: `p${a.port}`, port: a.port, protocol: a.protocol }],
      });
      const exp = (apiVersion: string): ServiceExport => ({ apiVersion, kind: 'ServiceExport', metadata: { namespace: a.ns, name: a.name, generation: 1, creationTimestamp: t(a.created) } });
      if (a.exported === 'mcs' || a.exported === 'both') serviceExports.push(exp('multicluster.x-k8s.io/v1beta1'));
      if (a.exported === 'gke' || a.exported === 'both') serviceExports.push(exp('net.gke.io/v1'));
    });
    // fleet-ilb VIP Services already holding health-check node ports (a previous pass wrote them)
    for (const v of m.vips) {
      const name = vipServiceName({ fleetId: FLEET, namespace: v.ns, name: v.gw }, v.listener);
      if (services.some((x) => x.metadata.name === name)) continue;
      services.push({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { namespace: 'ns-a', name, labels: { 'fleetilb.io/managed-by': 'fleet-ilb' } },
        spec: { type: 'LoadBalancer', ports: [{ port: 9, protocol: 'UDP' }], healthCheckNodePort: v.hc },
      });
    }
    const reach: MemberSnapshot['reachability'] = m.state === 'reachable' ? { state: 'reachable' } : { state: m.state, message: 'x', since: NOW };
    members.push({
      clusterId: m.id,
      fleetMember: m.id,
      reachability: reach,
      frozen: m.state !== 'reachable',
      ...(m.synced ? { lastSyncTime: '2025-12-31T23:59:00Z' } : {}),
      nodes,
      services,
      endpointSlices,
      serviceExports,
    });
  });
  const fleetMembers: FleetMember[] = members.map((m) => ({
    apiVersion: 'fleetilb.io/v1alpha1',
    kind: 'FleetMember',
    metadata: { name: m.clusterId, generation: 1 },
    spec: { clusterID: m.clusterId, kubeconfigSecretRef: { name: `${m.clusterId}-kubeconfig` } },
  }));
  const ilb = (namespace: string, name: string, spec: Record<string, unknown> = {}): ILBConfig => ({
    apiVersion: 'fleetilb.io/v1alpha1',
    kind: 'ILBConfig',
    metadata: { namespace, name, generation: 1 },
    spec: { project: 'net-project', region: 'europe-west1', network: 'fleet-vpc', subnetwork: 'ilb-subnet', ...spec },
  });
  const cls = (name: string, controllerName: string, params: boolean): GatewayClass => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'GatewayClass',
    metadata: { name, generation: 1 },
    spec: { controllerName, ...(params ? { parametersRef: { group: 'fleetilb.io', kind: 'ILBConfig', namespace: 'fleet-ilb-system', name: 'default' } } : {}) },
  });
  const ns = (name: string, labels?: Record<string, string>): Namespace => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(labels === undefined ? {} : { labels }) } });
  const grants: ReferenceGrant[] = [];
  if (s.grant !== 'none') {
    const from = s.grant === 'both' ? ['TCPRoute', 'UDPRoute'] : [s.grant === 'tcp' ? 'TCPRoute' : 'UDPRoute'];
    grants.push({
      apiVersion: 'gateway.networking.k8s.io/v1beta1',
      kind: 'ReferenceGrant',
      metadata: { namespace: 'ns-b', name: 'g' },
      spec: {
        from: from.map((kind) => ({ group: 'gateway.networking.k8s.io', kind, namespace: 'ns-a' })),
        to: [{ group: '', kind: 'Service' }, { group: 'multicluster.x-k8s.io', kind: 'ServiceImport' }],
      },
    });
  }
  // One object per API group and name (as in a real cluster).
  const imports = s.imports.filter((i, k) => s.imports.findIndex((j) => (j.group === 'gke') === (i.group === 'gke') && j.ns === i.ns && j.name === i.name) === k);
  const serviceImports: ServiceImport[] = imports.map((i) => ({
    apiVersion: i.group === 'gke' ? 'net.gke.io/v1' : 'multicluster.x-k8s.io/v1beta1',
    kind: 'ServiceImport',
    metadata: { namespace: i.ns, name: i.name, ...(i.group === 'mcs-ours' ? { labels: { 'fleetilb.io/managed-by': 'fleet-ilb' } } : {}) },
    spec: { type: 'ClusterSetIP', ports: [{ port: 80, protocol: 'TCP' }] },
  }));
  return {
    fleetId: FLEET,
    crdBundleVersion: 'v1.6.1',
    settings: { mcsImporter: s.importer, nodePortRange: { min: 30000, max: 30007 } },
    config: {
      gatewayClasses: [cls('fleet-ilb', CONTROLLER, true), cls('bare', CONTROLLER, false), cls('other', 'example.com/other', false)],
      gateways,
      tcpRoutes,
      udpRoutes,
      referenceGrants: grants,
      serviceImports,
      fleetMembers,
      ilbConfigs: [ilb('fleet-ilb-system', 'default'), ilb('ns-a', 'own', { nodeSubsetSize: 1 }), ilb('ns-b', 'own', { network: 'Bad Name' })],
      namespaces: [ns('fleet-ilb-system'), ns('ns-a', { team: 'x' }), ...(s.nsC ? [ns('ns-b')] : [])],
    },
    members: Object.fromEntries(members.map((m) => [m.clusterId, m])),
  };
}

// ---- feeding the indexes as the provider does -------------------------------------------------

type Objects = Map<string, { resource: string; object: StoredObject }>;

/** Every object of a snapshot as (config|member resource, object), keyed like the reflectors' stores. */
function objectsOf(s: Snapshot): { config: Objects; members: Map<string, Objects> } {
  const config: Objects = new Map();
  const put = (m: Objects, resource: string, o: StoredObject): void => void m.set(`${resource}|${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`, { resource, object: o });
  const c = s.config;
  for (const o of c.gatewayClasses) put(config, 'gatewayClasses', o);
  for (const o of c.gateways) put(config, 'gateways', o);
  for (const o of c.tcpRoutes) put(config, 'tcpRoutes', o);
  for (const o of c.udpRoutes) put(config, 'udpRoutes', o);
  for (const o of c.referenceGrants) put(config, 'referenceGrants', o);
  for (const o of c.serviceImports) put(config, (o.apiVersion ?? '').startsWith('net.gke.io/') ? 'gkeServiceImports' : 'serviceImports', o);
  for (const o of c.fleetMembers) put(config, 'fleetMembers', o);
  for (const o of c.ilbConfigs) put(config, 'ilbConfigs', o);
  for (const o of c.namespaces) put(config, 'namespaces', o);
  const members = new Map<string, Objects>();
  for (const [id, m] of Object.entries(s.members)) {
    const mo: Objects = new Map();
    for (const o of m.nodes) put(mo, 'nodes', o);
    for (const o of m.services) put(mo, 'services', o);
    for (const o of m.endpointSlices) put(mo, 'endpointslices', o);
    for (const o of m.serviceExports) put(mo, (o.apiVersion ?? '').startsWith('net.gke.io/') ? 'gkeserviceexports' : 'serviceexports', o);
    members.set(id, mo);
  }
  return { config, members };
}

/** Events that turn `from` into `to` (deletes, updates, adds), in the reflectors' order. */
function diff(from: Objects, to: Objects): Array<{ type: 'add' | 'update' | 'delete'; resource: string; object: StoredObject; old?: StoredObject }> {
  const out: Array<{ type: 'add' | 'update' | 'delete'; resource: string; object: StoredObject; old?: StoredObject }> = [];
  for (const [k, v] of to) {
    const was = from.get(k);
    if (was === undefined) out.push({ type: 'add', resource: v.resource, object: v.object });
    else if (JSON.stringify(was.object) !== JSON.stringify(v.object)) out.push({ type: 'update', resource: v.resource, object: v.object, old: was.object });
  }
  for (const [k, v] of from) if (!to.has(k)) out.push({ type: 'delete', resource: v.resource, object: v.object });
  return out;
}

/** A ScopeSource over `to`, whose index saw `from` first and then the events to `to`. */
function sourceAfter(from: Snapshot | undefined, to: Snapshot): ScopeSource {
  const index = new FleetIndex();
  const empty = { config: new Map() as Objects, members: new Map<string, Objects>() };
  const a = from === undefined ? empty : objectsOf(from);
  const b = objectsOf(to);
  for (const e of diff(new Map(), a.config)) index.onConfig(e.resource, e.type, e.object);
  for (const [id, mo] of a.members) for (const e of diff(new Map(), mo)) index.onMember(id, e.resource, e.type, e.object, e.old);
  for (const e of diff(a.config, b.config)) index.onConfig(e.resource, e.type, e.object);
  for (const id of new Set([...a.members.keys(), ...b.members.keys()])) {
    if (!b.members.has(id)) continue; // removed members: retainMembers below
    for (const e of diff(a.members.get(id) ?? new Map(), b.members.get(id)!)) index.onMember(id, e.resource, e.type, e.object, e.old);
  }
  index.retainMembers(new Set(b.members.keys()));
  const stores = new Map<string, Map<string, StoredObject>>();
  for (const { resource, object } of b.config.values()) {
    const m = stores.get(resource) ?? new Map<string, StoredObject>();
    m.set(object.metadata?.namespace === undefined ? (object.metadata?.name ?? '') : `${object.metadata.namespace}/${object.metadata.name ?? ''}`, object);
    stores.set(resource, m);
  }
  const headers: MemberHeader[] = Object.values(to.members).map(({ serviceExports: _e, services: _s, endpointSlices: _sl, nodes: _n, ...h }) => h);
  return {
    fleetId: to.fleetId,
    ...(to.crdBundleVersion === undefined ? {} : { crdBundleVersion: to.crdBundleVersion }),
    ...(to.settings === undefined ? {} : { settings: to.settings }),
    get: (resource: ScopeResource, key: string) => stores.get(resource)?.get(key),
    list: (resource: ScopeResource) => [...(stores.get(resource)?.values() ?? [])],
    members: () => headers,
    index,
  };
}

// ---- what must be equal -----------------------------------------------------------------------

function parentKey(p: { parentRef: ParentReference }, routeNs: string): string {
  return `${p.parentRef.namespace ?? routeNs}/${p.parentRef.name}`;
}

/** The parts of a translate result that concern Gateway `key` (see the file comment). */
function concerning(r: TranslateResult, key: string, routesBefore: Map<string, RouteParentStatus[]>, include: ReadonlySet<string>): unknown {
  const [ns, name] = key.split('/');
  const routes: Record<string, unknown> = {};
  for (const rs of r.statuses.routes) {
    const rk = `${rs.kind}/${rs.namespace}/${rs.name}`;
    if (!include.has(rk)) continue;
    routes[rk] = rs.parents.filter((p) => parentKey(p, rs.namespace) === key);
  }
  return {
    ir: r.gateways.find((g) => g.key === key),
    invalid: r.invalidGateways.find((g) => g.key === key),
    status: r.statuses.gateways.find((g) => g.namespace === ns && g.name === name),
    routes,
  };
}

/** Routes whose result or existing fleet-ilb status names `key`. */
function routesNaming(whole: TranslateResult, snap: Snapshot, key: string): Set<string> {
  const out = new Set<string>();
  for (const rs of whole.statuses.routes) if (rs.parents.some((p) => parentKey(p, rs.namespace) === key)) out.add(`${rs.kind}/${rs.namespace}/${rs.name}`);
  for (const [kind, list] of [['TCPRoute', snap.config.tcpRoutes], ['UDPRoute', snap.config.udpRoutes]] as const) {
    for (const r of list) {
      const ns = r.metadata.namespace ?? '';
      if ((r.status?.parents ?? []).some((p) => p.controllerName === CONTROLLER && parentKey(p, ns) === key)) out.add(`${kind}/${ns}/${r.metadata.name}`);
    }
  }
  return out;
}

function checkScoped(before: Snapshot | undefined, after: Snapshot): { keys: number; withIR: number; udpIR: number } {
  const whole = translate(after, { now: NOW });
  const src = sourceAfter(before, after);
  const keys = new Set([...after.config.gateways.map((g) => `${g.metadata.namespace}/${g.metadata.name}`), ...NS.flatMap((ns) => GW_NAMES.map((n) => `${ns}/${n}`))]);
  let withIR = 0;
  let udpIR = 0;
  for (const key of keys) {
    const scoped = translate(scopedSnapshot(src, key), { now: NOW });
    expect(scoped.gateways.every((g) => g.key === key)).toBe(true);
    const include = routesNaming(whole, after, key);
    // every route the scoped result must write for this Gateway is listed by it
    for (const rk of include) expect(scoped.statuses.routes.some((rs) => `${rs.kind}/${rs.namespace}/${rs.name}` === rk), `${key}: route ${rk} listed`).toBe(true);
    expect(concerning(scoped, key, new Map(), include), key).toEqual(concerning(whole, key, new Map(), include));
    const ir = whole.gateways.find((g) => g.key === key);
    if (ir !== undefined) {
      withIR++;
      if (ir.groups.some((g) => g.protocol === 'UDP')) udpIR++;
    }
  }
  const global = translate(globalSnapshot(src), { now: NOW });
  expect(global.gateways).toEqual([]);
  expect(global.statuses.gateways).toEqual([]);
  const { gatewayClasses, fleetMembers, ilbConfigs, serviceImports, serviceExports } = whole.statuses;
  expect({
    gatewayClasses: global.statuses.gatewayClasses,
    fleetMembers: global.statuses.fleetMembers,
    ilbConfigs: global.statuses.ilbConfigs,
    serviceImports: global.statuses.serviceImports,
    serviceExports: global.statuses.serviceExports,
  }).toEqual({ gatewayClasses, fleetMembers, ilbConfigs, serviceImports, serviceExports });
  return { keys: keys.size, withIR, udpIR };
}

describe('provider scoped snapshots', () => {
  it('exercise Gateways with IR, UDP health-check ports and routes (generator sanity)', () => {
    let withIR = 0;
    let udp = 0;
    for (const f of fc.sample(fleetArb, { numRuns: 200, seed: 7 })) {
      const r = checkScoped(undefined, buildFleet(f));
      withIR += r.withIR > 0 ? 1 : 0;
      udp += r.udpIR > 0 ? 1 : 0;
    }
    // A generator that never produced a programmable Gateway (or a UDP one) would make the
    // properties below vacuous.
    expect(withIR).toBeGreaterThan(80);
    expect(udp).toBeGreaterThan(20);
  });
  it('translate(scopedSnapshot(gw)) = translate(whole) for that Gateway; globalSnapshot = whole for global statuses', () => {
    fc.assert(
      fc.property(fleetArb, (f) => {
        checkScoped(undefined, buildFleet(f));
      }),
      { numRuns: 300 },
    );
  });
  it('stays equal when the indexes were built incrementally (fleet A, then the events to fleet B)', () => {
    fc.assert(
      fc.property(fleetArb, fleetArb, (a, b) => {
        checkScoped(buildFleet(a), buildFleet(b));
      }),
      { numRuns: 300 },
    );
  });
});
