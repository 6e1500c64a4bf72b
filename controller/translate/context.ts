// SPDX-License-Identifier: Apache-2.0
//
// Indexes over a Snapshot, built once per translate() call. Every list is sorted on entry so that
// translate's output does not depend on the order the runtime listed objects in.
import type {
  Condition,
  EndpointSlice,
  FleetMember,
  Gateway,
  GatewayClass,
  HealthCheckPolicy,
  ILBConfig,
  KubeObject,
  Namespace,
  Node,
  ReferenceGrant,
  Service,
  ServiceExport,
  ServiceImport,
  TCPRoute,
  UDPRoute,
} from '../api/index.ts';
import { keyOf } from '../api/index.ts';
import type { MemberSnapshot, Snapshot } from '../snapshot/types.ts';

/** A member as translate sees it: the snapshot data plus its FleetMember. */
export interface MemberView {
  clusterId: string;
  fleetMember: FleetMember;
  /** Absent when the runtime has nothing for this member yet. */
  data: MemberSnapshot | undefined;
  frozen: boolean;
  services: Map<string, Service>;
  /** `namespace/serviceName` -> slices (label kubernetes.io/service-name). */
  slicesByService: Map<string, EndpointSlice[]>;
  nodes: Map<string, Node>;
  /** `namespace/name` -> ServiceExport (any MCS group). */
  exports: Map<string, ServiceExport>;
}

export interface Ctx {
  snapshot: Snapshot;
  now: string;
  fleetId: string;
  mcsImporter: boolean;
  nodePortRange: { min: number; max: number };
  gatewayClasses: GatewayClass[];
  gateways: Gateway[];
  tcpRoutes: TCPRoute[];
  udpRoutes: UDPRoute[];
  referenceGrants: ReferenceGrant[];
  serviceImports: ServiceImport[];
  ilbConfigs: Map<string, ILBConfig>;
  namespaces: Map<string, Namespace>;
  /** Oldest first (GEP-713 conflict order: creationTimestamp, then `namespace/name`). */
  healthCheckPolicies: HealthCheckPolicy[];
  /** Sorted by cluster id; only members that have a FleetMember. */
  members: MemberView[];
  /** GCE's word on name-mapped node VMs (TranslateOptions.nodeVms); absent = nothing known. */
  nodeVms?: ReadonlyMap<string, boolean>;
}

/** Sorts objects by `namespace/name` (a copy). */
export function byKey<T extends KubeObject>(xs: readonly T[] | undefined): T[] {
  return [...(xs ?? [])].sort((a, b) => cmp(keyOf(a.metadata), keyOf(b.metadata)));
}

/** Plain string comparison (locale-independent, deterministic). */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Oldest first: creationTimestamp, then `namespace/name` (Gateway API conflict resolution). */
export function byAge<T extends KubeObject>(a: T, b: T): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return Date.parse(ta || '9999-12-31T00:00:00Z') - Date.parse(tb || '9999-12-31T00:00:00Z');
  return cmp(keyOf(a.metadata), keyOf(b.metadata));
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/**
 * A member's Nodes by name, sorted, per Node array: the provider hands every scoped snapshot the
 * same array until a Node changes (provider/indexes.ts `nodeList`), so this and what is derived from
 * it alone (checks/nodes.ts `eligibleNodes`) is built once per change, not once per reconcile.
 * Only a frozen array is memoized (the provider's, whose Node objects are never mutated either); a
 * snapshot built by hand (tests, `fleet-ilb plan` from files) gets a fresh Map every time.
 */
const nodeMaps = new WeakMap<readonly Node[], Map<string, Node>>();
function nodesByName(nodes: readonly Node[] | undefined): Map<string, Node> {
  if (nodes === undefined) return new Map();
  let m = nodeMaps.get(nodes);
  if (m !== undefined) return m;
  m = new Map(byKey(nodes).map((n) => [n.metadata.name, n]));
  if (Object.isFrozen(nodes)) {
    nodeMaps.set(nodes, m);
    stableNodeMaps.add(m);
  }
  return m;
}
const stableNodeMaps = new WeakSet<ReadonlyMap<string, Node>>();

/**
 * True when `nodes` (a MemberView's) stays the same Map with the same Node objects for as long as
 * the member's Nodes do not change: what depends on it alone may be memoized on its identity.
 */
export function stableNodes(nodes: ReadonlyMap<string, Node>): boolean {
  return stableNodeMaps.has(nodes);
}

function memberView(fm: FleetMember, data: MemberSnapshot | undefined): MemberView {
  const services = new Map<string, Service>();
  const slicesByService = new Map<string, EndpointSlice[]>();
  const nodes = nodesByName(data?.nodes);
  const exports = new Map<string, ServiceExport>();
  for (const s of byKey(data?.services)) services.set(keyOf(s.metadata), s);
  for (const sl of byKey(data?.endpointSlices)) {
    const svc = sl.metadata.labels?.[SERVICE_NAME_LABEL];
    if (svc === undefined) continue;
    const k = `${sl.metadata.namespace ?? ''}/${svc}`;
    const list = slicesByService.get(k) ?? [];
    list.push(sl);
    slicesByService.set(k, list);
  }
  for (const e of byKey(data?.serviceExports)) exports.set(keyOf(e.metadata), e);
  return {
    clusterId: fm.spec.clusterID,
    fleetMember: fm,
    data,
    frozen: data === undefined || data.frozen || data.reachability.state !== 'reachable',
    services,
    slicesByService,
    nodes,
    exports,
  };
}

/** Builds the sorted indexes translate works on. */
export function buildContext(snapshot: Snapshot, now: string): Ctx {
  const c = snapshot.config;
  const fleetMembers = byKey(c.fleetMembers).filter((fm) => fm.metadata.deletionTimestamp === undefined);
  const seen = new Set<string>();
  const members: MemberView[] = [];
  // One view per cluster id; a duplicate clusterID (two FleetMembers) keeps the first by name.
  for (const fm of fleetMembers) {
    const id = fm.spec.clusterID;
    if (seen.has(id)) continue;
    seen.add(id);
    members.push(memberView(fm, snapshot.members[id]));
  }
  members.sort((a, b) => cmp(a.clusterId, b.clusterId));
  const range = snapshot.settings?.nodePortRange ?? { min: 30000, max: 32767 };
  return {
    snapshot,
    now,
    fleetId: snapshot.fleetId,
    mcsImporter: snapshot.settings?.mcsImporter ?? true,
    nodePortRange: range,
    gatewayClasses: byKey(c.gatewayClasses),
    gateways: byKey(c.gateways),
    tcpRoutes: byKey(c.tcpRoutes),
    udpRoutes: byKey(c.udpRoutes),
    referenceGrants: byKey(c.referenceGrants),
    serviceImports: byKey(c.serviceImports),
    ilbConfigs: new Map(byKey(c.ilbConfigs).map((x) => [keyOf(x.metadata), x])),
    namespaces: new Map(byKey(c.namespaces).map((x) => [x.metadata.name, x])),
    healthCheckPolicies: byKey(c.healthCheckPolicies).sort(byAge),
    members,
  };
}

/** Existing conditions of an object's status (for lastTransitionTime preservation). */
export function existingConditions(o: { status?: { conditions?: Condition[] } }): Condition[] {
  return o.status?.conditions ?? [];
}
