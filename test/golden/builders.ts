// SPDX-License-Identifier: Apache-2.0
//
// Small builders for golden inputs (used by gen-translate-cases.ts, which writes the .in.yaml files
// that are then reviewed and checked in). Every object is a plain JSON wire-shape object.
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
  Service,
  ServiceExport,
  ServiceImport,
  ServicePort,
  TCPRoute,
  UDPRoute,
} from '../../controller/api/index.ts';
import type { MemberSnapshot, Snapshot } from '../../controller/snapshot/types.ts';
import { emptyConfig } from '../../controller/snapshot/types.ts';

export const T0 = '2025-06-01T00:00:00Z';
/** A creation time `n` minutes after T0. */
export function t(n: number): string {
  return new Date(Date.parse(T0) + n * 60_000).toISOString().replace('.000Z', 'Z');
}

/** A readable, deterministic uid. */
export function uid(kind: string, name: string): string {
  return `${kind}-${name}-uid`;
}

export function gatewayClass(name = 'fleet-ilb', params: { namespace: string; name: string } | null = { namespace: 'fleet-ilb-system', name: 'default' }, controllerName = 'fleetilb.io/gateway-controller'): GatewayClass {
  const gc: GatewayClass = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name, generation: 1 }, spec: { controllerName } };
  if (params !== null) gc.spec.parametersRef = { group: 'fleetilb.io', kind: 'ILBConfig', namespace: params.namespace, name: params.name };
  return gc;
}

export function ilbConfig(namespace: string, name: string, spec: Record<string, unknown> = {}): ILBConfig {
  return {
    apiVersion: 'fleetilb.io/v1alpha1',
    kind: 'ILBConfig',
    metadata: { namespace, name, generation: 1 },
    spec: { project: 'net-project', region: 'europe-west1', network: 'fleet-vpc', subnetwork: 'ilb-subnet', ...spec },
  };
}

export function listener(name: string, port: number, protocol = 'TCP', allowedRoutes?: Listener['allowedRoutes']): Listener {
  const l: Listener = { name, port, protocol };
  if (allowedRoutes !== undefined) l.allowedRoutes = allowedRoutes;
  return l;
}

export function gateway(namespace: string, name: string, listeners: Listener[], opts: Partial<Pick<Gateway['spec'], 'addresses' | 'infrastructure'>> & { className?: string; generation?: number; created?: string } = {}): Gateway {
  const gw: Gateway = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { namespace, name, uid: uid('gw', name), generation: opts.generation ?? 1, creationTimestamp: opts.created ?? T0 },
    spec: { gatewayClassName: opts.className ?? 'fleet-ilb', listeners },
  };
  if (opts.addresses !== undefined) gw.spec.addresses = opts.addresses;
  if (opts.infrastructure !== undefined) gw.spec.infrastructure = opts.infrastructure;
  return gw;
}

export function parent(name: string, extra: Partial<ParentReference> = {}): ParentReference {
  return { name, ...extra };
}

export function svcImportRef(name: string, port?: number, extra: Partial<BackendRef> = {}): BackendRef {
  const r: BackendRef = { group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name, ...extra };
  if (port !== undefined) r.port = port;
  return r;
}

export function svcRef(name: string, port: number, extra: Partial<BackendRef> = {}): BackendRef {
  return { name, port, ...extra };
}

function route<T extends TCPRoute | UDPRoute>(kind: 'TCPRoute' | 'UDPRoute', namespace: string, name: string, parents: ParentReference[], backends: BackendRef[], created: string, apiVersion: string): T {
  return {
    apiVersion,
    kind,
    metadata: { namespace, name, generation: 1, creationTimestamp: created },
    spec: { parentRefs: parents, rules: [{ backendRefs: backends }] },
  } as T;
}

export function tcpRoute(namespace: string, name: string, parents: ParentReference[], backends: BackendRef[], created = T0, apiVersion = 'gateway.networking.k8s.io/v1'): TCPRoute {
  return route<TCPRoute>('TCPRoute', namespace, name, parents, backends, created, apiVersion);
}

export function udpRoute(namespace: string, name: string, parents: ParentReference[], backends: BackendRef[], created = T0, apiVersion = 'gateway.networking.k8s.io/v1'): UDPRoute {
  return route<UDPRoute>('UDPRoute', namespace, name, parents, backends, created, apiVersion);
}

export function referenceGrant(namespace: string, name: string, from: Array<{ kind: string; namespace: string }>, to: Array<{ group: string; kind: string; name?: string }>): ReferenceGrant {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1beta1',
    kind: 'ReferenceGrant',
    metadata: { namespace, name },
    spec: { from: from.map((f) => ({ group: 'gateway.networking.k8s.io', ...f })), to },
  };
}

export function namespace(name: string, labels?: Record<string, string>): Namespace {
  const ns: Namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
  if (labels !== undefined) ns.metadata.labels = labels;
  return ns;
}

export function fleetMember(clusterID: string, gcp?: FleetMember['spec']['gcp']): FleetMember {
  const fm: FleetMember = {
    apiVersion: 'fleetilb.io/v1alpha1',
    kind: 'FleetMember',
    metadata: { name: clusterID, generation: 1 },
    spec: { clusterID, kubeconfigSecretRef: { name: `${clusterID}-kubeconfig` } },
  };
  if (gcp !== undefined) fm.spec.gcp = gcp;
  return fm;
}

export function port(port: number, opts: Partial<ServicePort> = {}): ServicePort {
  return { name: opts.name ?? `p${port}`, protocol: 'TCP', port, targetPort: port, ...opts };
}

export function service(ns: string, name: string, ports: ServicePort[], opts: { selector?: Record<string, string> | null; type?: Service['spec']['type']; clusterIP?: string; sessionAffinity?: 'ClientIP' | 'None'; labels?: Record<string, string>; healthCheckNodePort?: number } = {}): Service {
  const s: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: ns, name, creationTimestamp: T0 },
    spec: { type: opts.type ?? 'ClusterIP', ports },
  };
  if (opts.selector !== null) s.spec.selector = opts.selector ?? { app: name };
  if (opts.clusterIP !== undefined) s.spec.clusterIP = opts.clusterIP;
  if (opts.sessionAffinity !== undefined) s.spec.sessionAffinity = opts.sessionAffinity;
  if (opts.labels !== undefined) s.metadata.labels = opts.labels;
  if (opts.healthCheckNodePort !== undefined) s.spec.healthCheckNodePort = opts.healthCheckNodePort;
  return s;
}

/** A ServiceExport; `group: 'net.gke.io'` makes GKE MCS's (`net.gke.io/v1`). */
export function serviceExport(ns: string, name: string, created = T0, opts: { group?: 'net.gke.io' } = {}): ServiceExport {
  const apiVersion = opts.group === 'net.gke.io' ? 'net.gke.io/v1' : 'multicluster.x-k8s.io/v1beta1';
  return { apiVersion, kind: 'ServiceExport', metadata: { namespace: ns, name, generation: 1, creationTimestamp: created } };
}

export function serviceImport(ns: string, name: string, ports: ServiceImport['spec']['ports'], opts: { group?: string; labels?: Record<string, string> } = {}): ServiceImport {
  const si: ServiceImport = {
    apiVersion: opts.group === 'net.gke.io' ? 'net.gke.io/v1' : 'multicluster.x-k8s.io/v1beta1',
    kind: 'ServiceImport',
    metadata: { namespace: ns, name },
    spec: { type: 'ClusterSetIP', ports },
  };
  if (opts.labels !== undefined) si.metadata.labels = opts.labels;
  return si;
}

export interface NodeOpts {
  project?: string;
  ready?: boolean;
  labels?: Record<string, string>;
  taints?: Array<{ key: string; effect: string }>;
  providerID?: string | null;
  noIP?: boolean;
}

export function node(name: string, zone: string, ip: string, o: NodeOpts = {}): Node {
  const n: Node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'topology.kubernetes.io/zone': zone, ...(o.labels ?? {}) } },
    spec: {},
    status: {
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
      addresses: o.noIP === true ? [] : [{ type: 'InternalIP', address: ip }],
    },
  };
  if (o.providerID !== null) n.spec = { providerID: o.providerID ?? `gce://${o.project ?? 'net-project'}/${zone}/${name}` };
  if (o.taints !== undefined) n.spec = { ...n.spec, taints: o.taints };
  return n;
}

export interface Ep {
  ip: string;
  node: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export function slice(ns: string, svc: string, name: string, eps: Ep[], ports: Array<{ name?: string; port: number; protocol?: 'TCP' | 'UDP' }>): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: ns, name, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: eps.map((e) => {
      const conditions: { ready?: boolean; serving?: boolean; terminating?: boolean } = { ready: e.ready ?? true };
      if (e.serving !== undefined) conditions.serving = e.serving;
      if (e.terminating !== undefined) conditions.terminating = e.terminating;
      return { addresses: [e.ip], nodeName: e.node, conditions };
    }),
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
  };
}

export function member(clusterId: string, d: Partial<Pick<MemberSnapshot, 'serviceExports' | 'services' | 'endpointSlices' | 'nodes' | 'reachability' | 'frozen' | 'lastSyncTime'>> = {}): MemberSnapshot {
  const reach = d.reachability ?? { state: 'reachable' as const };
  return {
    clusterId,
    fleetMember: clusterId,
    reachability: reach,
    frozen: d.frozen ?? reach.state !== 'reachable',
    lastSyncTime: d.lastSyncTime ?? '2025-12-31T23:59:00Z',
    serviceExports: d.serviceExports ?? [],
    services: d.services ?? [],
    endpointSlices: d.endpointSlices ?? [],
    nodes: d.nodes ?? [],
  };
}

export interface SnapshotParts {
  fleetId?: string;
  crdBundleVersion?: string | null;
  settings?: Snapshot['settings'];
  config?: Partial<Snapshot['config']>;
  members?: MemberSnapshot[];
  /** Default: the fleet-ilb class + default ILBConfig + namespaces + a FleetMember per member. */
  base?: boolean;
}

/** A Snapshot with the usual base (class, ILBConfig, namespaces, FleetMembers) unless base: false. */
export function snapshot(p: SnapshotParts): Snapshot {
  const cfg = emptyConfig();
  const base = p.base ?? true;
  const members = p.members ?? [];
  if (base) {
    cfg.gatewayClasses.push(gatewayClass());
    cfg.ilbConfigs.push(ilbConfig('fleet-ilb-system', 'default'));
    cfg.namespaces.push(namespace('fleet-ilb-system'));
    for (const m of members) cfg.fleetMembers.push(fleetMember(m.clusterId));
  }
  for (const [k, v] of Object.entries(p.config ?? {})) {
    (cfg as unknown as Record<string, unknown[]>)[k] = [...((cfg as unknown as Record<string, unknown[]>)[k] ?? []), ...(v as unknown[])];
  }
  const s: Snapshot = { fleetId: p.fleetId ?? 'fleet-1', config: cfg, members: Object.fromEntries(members.map((m) => [m.clusterId, m])) };
  if (p.crdBundleVersion !== null) s.crdBundleVersion = p.crdBundleVersion ?? 'v1.6.1';
  if (p.settings !== undefined) s.settings = p.settings;
  return s;
}
