// SPDX-License-Identifier: Apache-2.0
//
// Scoped snapshots (docs/architecture.md "Data flow: one way"): the inputs translate needs for one
// Gateway, or for the global pass, read from the provider's stores and incremental indexes
// (indexes.ts) without walking the fleet. Pure over a ScopeSource, so the provider and the unit
// tests (test/unit/provider.scoped.test.ts, which compares against a whole-fleet translate) build
// them the same way.
import type { EndpointSlice, FleetMember, Gateway, GatewayClass, HealthCheckPolicy, ILBConfig, Namespace, Service, ServiceImport, TCPRoute, UDPRoute } from '../api/index.ts';
import type { StoredObject } from '../runtime/reflector.ts';
import type { ConfigClusterSnapshot, MemberNodePorts, MemberSnapshot, Snapshot, TranslateSettings } from '../snapshot/types.ts';
import { CONTROLLER_NAME } from '../naming/stamp.ts';
import { FleetIndex } from './indexes.ts';

/** A member's reachability and sync state, as every Snapshot carries it. */
export type MemberHeader = Omit<MemberSnapshot, 'serviceExports' | 'services' | 'endpointSlices' | 'nodes'>;

/** Config-cluster collections a ScopeSource serves (the provider's reflector keys). */
export type ScopeResource =
  | 'gatewayClasses'
  | 'gateways'
  | 'ilbConfigs'
  | 'fleetMembers'
  | 'namespaces'
  | 'serviceImports'
  | 'gkeServiceImports'
  | 'healthCheckPolicies';

/** What scoped snapshots are built from. */
export interface ScopeSource {
  fleetId: string;
  /** As the whole snapshot carries it (Snapshot.crdBundleVersion). */
  crdBundleVersion?: string;
  settings?: TranslateSettings;
  /** One config object by store key (`namespace/name`, or `name` when cluster-scoped). */
  get(resource: ScopeResource, key: string): StoredObject | undefined;
  /** Every config object of a (small) collection. */
  list(resource: ScopeResource): StoredObject[];
  /** Every member's header (cluster id, reachability, frozen, lastSyncTime). */
  members(fleetMembers: readonly FleetMember[]): MemberHeader[];
  index: FleetIndex;
}

/**
 * A Snapshot with only what translate needs for one Gateway (`namespace/name`): the Gateway, its
 * GatewayClass and the ILBConfigs they name; the routes whose spec.parentRefs name it or whose
 * status carries fleet-ilb's entry for it; the ReferenceGrants of the namespaces their backends
 * reach across namespaces; the ServiceImports their backendRefs name; every FleetMember; the
 * namespaces of the Gateway, the routes and the backends; per member the ServiceExports, Services
 * and EndpointSlices of the backend names and all its Nodes; for a Gateway with a UDP listener, the
 * node ports every Service of every member holds (`nodePorts`, translate/hcports.ts).
 *
 * What translate(scopedSnapshot(key)) shares with translate(wholeSnapshot) — this Gateway's IR or
 * invalidGateways entry, its status, and every route status entry whose parentRef names it — is
 * equal (test/unit/provider.scoped.test.ts). The rest differs by design:
 *   * route statuses carry this Gateway's entries only: write them as "fleet-ilb's entries for this
 *     Gateway", keeping the route's entries for other Gateways;
 *   * the global statuses (GatewayClasses, FleetMembers, ILBConfigs, ServiceImports,
 *     ServiceExports) are partial: take them from translate(globalSnapshot()).
 */
export function scopedSnapshot(src: ScopeSource, gatewayKey: string): Snapshot {
  const slash = gatewayKey.indexOf('/');
  const gwNs = gatewayKey.slice(0, slash);
  const gw = src.get('gateways', gatewayKey) as Gateway | undefined;
  const gatewayClasses: GatewayClass[] = [];
  const ilbConfigs = new Map<string, ILBConfig>();
  const ilb = (name: string | undefined, namespace: string | undefined): void => {
    if (name === undefined || namespace === undefined || namespace === '') return;
    const c = src.get('ilbConfigs', `${namespace}/${name}`) as ILBConfig | undefined;
    if (c !== undefined) ilbConfigs.set(`${namespace}/${name}`, c);
  };
  if (gw !== undefined) {
    const gc = src.get('gatewayClasses', gw.spec.gatewayClassName) as GatewayClass | undefined;
    if (gc !== undefined) {
      gatewayClasses.push(gc);
      ilb(gc.spec.parametersRef?.name, gc.spec.parametersRef?.namespace);
    }
    ilb(gw.spec.infrastructure?.parametersRef?.name, gwNs);
  }
  const tcpRoutes: TCPRoute[] = [];
  const udpRoutes: UDPRoute[] = [];
  const backends = new Set<string>();
  const namespaces = new Set<string>([gwNs]);
  const grantNamespaces = new Set<string>();
  for (const r of src.index.routesOf(gatewayKey)) {
    if (r.kind === 'TCPRoute') tcpRoutes.push(r.object);
    else udpRoutes.push(r.object);
    const rns = r.object.metadata.namespace ?? '';
    namespaces.add(rns);
    for (const b of r.backends) {
      backends.add(b);
      const bns = b.slice(0, b.indexOf('/'));
      namespaces.add(bns);
      if (bns !== rns) grantNamespaces.add(bns);
    }
  }
  const serviceImports: ServiceImport[] = [];
  for (const key of ['serviceImports', 'gkeServiceImports'] as const) {
    for (const b of backends) {
      const si = src.get(key, b) as ServiceImport | undefined;
      if (si !== undefined) serviceImports.push(si);
    }
  }
  const fleetMembers = src.list('fleetMembers') as FleetMember[];
  const healthCheckPolicies = policiesFor(src, gatewayKey, backends);
  const config: ConfigClusterSnapshot = {
    gatewayClasses,
    gateways: gw === undefined ? [] : [gw],
    tcpRoutes,
    udpRoutes,
    referenceGrants: [...grantNamespaces].flatMap((ns) => src.index.grantsIn(ns)),
    serviceImports,
    fleetMembers,
    ilbConfigs: [...ilbConfigs.values()],
    namespaces: [...namespaces].flatMap((n) => {
      const o = src.get('namespaces', n) as Namespace | undefined;
      return o === undefined ? [] : [o];
    }),
    ...(healthCheckPolicies.length === 0 ? {} : { healthCheckPolicies }),
  };
  // A policy's pod health port is pinned like a UDP listener's (translate/hcports.ts): the choice
  // needs every member's node ports.
  const udp = src.index.udpGateways.has(gatewayKey) || healthCheckPolicies.length > 0;
  const members: Record<string, MemberSnapshot> = {};
  const nodePorts: Record<string, MemberNodePorts> = {};
  for (const h of src.members(fleetMembers)) {
    const ix = src.index.member(h.clusterId);
    const services: Service[] = [];
    const endpointSlices: EndpointSlice[] = [];
    for (const b of backends) {
      const svc = ix?.services.get(b);
      if (svc !== undefined) services.push(svc);
      for (const sl of ix?.slices.get(b)?.values() ?? []) endpointSlices.push(sl);
    }
    members[h.clusterId] = { ...h, serviceExports: ix?.exportsOf(backends) ?? [], services, endpointSlices, nodes: ix?.nodeList() ?? [] };
    if (udp) nodePorts[h.clusterId] = ix?.nodePorts() ?? { other: [], vip: {} };
  }
  return {
    fleetId: src.fleetId,
    ...(src.crdBundleVersion === undefined ? {} : { crdBundleVersion: src.crdBundleVersion }),
    ...(src.settings === undefined ? {} : { settings: src.settings }),
    config,
    members,
    ...(udp ? { nodePorts } : {}),
  };
}

/**
 * The HealthCheckPolicies one Gateway's translate reads (docs/policy.md): those whose targetRefs
 * name the Gateway or one of its routes' backends (`namespace/name`, any kind: translate matches
 * the kind), and those whose status carries fleet-ilb's entry for this Gateway (so translate can
 * drop it). Policies are few; the list is scanned.
 */
function policiesFor(src: ScopeSource, gatewayKey: string, backends: ReadonlySet<string>): HealthCheckPolicy[] {
  const [gwNs, gwName] = [gatewayKey.slice(0, gatewayKey.indexOf('/')), gatewayKey.slice(gatewayKey.indexOf('/') + 1)];
  return (src.list('healthCheckPolicies') as HealthCheckPolicy[]).filter((p) => {
    const ns = p.metadata.namespace ?? '';
    const targets = (p.spec?.targetRefs ?? []).some((t) =>
      t.kind === 'Gateway' ? ns === gwNs && t.name === gwName : backends.has(`${ns}/${t.name}`),
    );
    return targets || (p.status?.ancestors ?? []).some((a) => a.controllerName === CONTROLLER_NAME && (a.ancestorRef.namespace ?? ns) === gwNs && a.ancestorRef.name === gwName);
  });
}

/**
 * A Snapshot for the global pass: GatewayClasses, FleetMembers, ILBConfigs, ServiceImports and
 * namespaces; per member its ServiceExports, the Services of exported names and its Nodes. No
 * Gateways, routes, ReferenceGrants or EndpointSlices: translate's global statuses (GatewayClass,
 * FleetMember, ILBConfig, ServiceImport, ServiceExport) read none of them (none counts Gateways or
 * routes), so they equal the whole-fleet ones (test/unit/provider.scoped.test.ts). Its Gateway and
 * route outputs are empty.
 */
export function globalSnapshot(src: ScopeSource): Snapshot {
  const fleetMembers = src.list('fleetMembers') as FleetMember[];
  const config: ConfigClusterSnapshot = {
    gatewayClasses: src.list('gatewayClasses') as GatewayClass[],
    gateways: [],
    tcpRoutes: [],
    udpRoutes: [],
    referenceGrants: [],
    serviceImports: [...src.list('serviceImports'), ...src.list('gkeServiceImports')] as ServiceImport[],
    fleetMembers,
    ilbConfigs: src.list('ilbConfigs') as ILBConfig[],
    namespaces: src.list('namespaces') as Namespace[],
  };
  const members: Record<string, MemberSnapshot> = {};
  for (const h of src.members(fleetMembers)) {
    const ix = src.index.member(h.clusterId);
    const exports = ix?.allExports() ?? [];
    const services: Service[] = [];
    for (const k of new Set(exports.map((e) => `${e.metadata.namespace ?? ''}/${e.metadata.name}`))) {
      const svc = ix?.services.get(k);
      if (svc !== undefined) services.push(svc);
    }
    members[h.clusterId] = { ...h, serviceExports: exports, services, endpointSlices: [], nodes: ix?.nodeList() ?? [] };
  }
  return {
    fleetId: src.fleetId,
    ...(src.crdBundleVersion === undefined ? {} : { crdBundleVersion: src.crdBundleVersion }),
    ...(src.settings === undefined ? {} : { settings: src.settings }),
    config,
    members,
  };
}

/**
 * A ScopeSource over a whole Snapshot (tools, benchmarks, tests): its index is fed one 'add' event
 * per object, as the provider's reflectors feed it on the first list.
 */
export function snapshotSource(s: Snapshot, index: FleetIndex = new FleetIndex()): ScopeSource {
  const stores = new Map<ScopeResource, Map<string, StoredObject>>();
  const put = (resource: ScopeResource | undefined, o: StoredObject): void => {
    if (resource === undefined) return;
    let m = stores.get(resource);
    if (m === undefined) stores.set(resource, (m = new Map<string, StoredObject>()));
    const ns = o.metadata?.namespace;
    m.set(ns === undefined || ns === '' ? (o.metadata?.name ?? '') : `${ns}/${o.metadata?.name ?? ''}`, o);
  };
  const c = s.config;
  const config: Array<[string, ScopeResource | undefined, StoredObject[]]> = [
    ['gatewayClasses', 'gatewayClasses', c.gatewayClasses],
    ['gateways', 'gateways', c.gateways],
    ['tcpRoutes', undefined, c.tcpRoutes],
    ['udpRoutes', undefined, c.udpRoutes],
    ['referenceGrants', undefined, c.referenceGrants],
    ['fleetMembers', 'fleetMembers', c.fleetMembers],
    ['ilbConfigs', 'ilbConfigs', c.ilbConfigs],
    ['namespaces', 'namespaces', c.namespaces],
  ];
  for (const [resource, store, list] of config) {
    for (const o of list) {
      index.onConfig(resource, 'add', o);
      put(store, o);
    }
  }
  for (const p of c.healthCheckPolicies ?? []) put('healthCheckPolicies', p);
  for (const si of c.serviceImports) put((si.apiVersion ?? '').startsWith('net.gke.io/') ? 'gkeServiceImports' : 'serviceImports', si);
  const headers: MemberHeader[] = [];
  for (const m of Object.values(s.members)) {
    const { serviceExports, services, endpointSlices, nodes, ...header } = m;
    headers.push(header);
    for (const o of nodes) index.onMember(m.clusterId, 'nodes', 'add', o);
    for (const o of services) index.onMember(m.clusterId, 'services', 'add', o);
    for (const o of endpointSlices) index.onMember(m.clusterId, 'endpointslices', 'add', o);
    for (const o of serviceExports) index.onMember(m.clusterId, (o.apiVersion ?? '').startsWith('net.gke.io/') ? 'gkeserviceexports' : 'serviceexports', 'add', o);
  }
  return {
    fleetId: s.fleetId,
    ...(s.crdBundleVersion === undefined ? {} : { crdBundleVersion: s.crdBundleVersion }),
    ...(s.settings === undefined ? {} : { settings: s.settings }),
    get: (resource, key) => stores.get(resource)?.get(key),
    list: (resource) => [...(stores.get(resource)?.values() ?? [])],
    members: () => headers,
    index,
  };
}
