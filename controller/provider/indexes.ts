// SPDX-License-Identifier: Apache-2.0
//
// Incremental indexes over the provider's caches, updated on every reflector event (never by a scan
// of the fleet), so that the work for one Gateway does not grow with the fleet (docs/architecture.md
// "Data flow: one way"):
//   * routes by parent Gateway (spec.parentRefs, and status parents fleet-ilb wrote), by backend
//     name (`namespace/name` of any backendRef kind) and by cross-namespace backend namespace;
//   * ReferenceGrants by namespace; Gateways with a UDP listener;
//   * per member: Services, ServiceExports and EndpointSlices by service `namespace/name`, Nodes,
//     and the node ports its Services hold (pinned UDP health-check ports, translate/hcports.ts);
//     fleet-ilb's own VIP Services and mirrored EndpointSlices by their Gateway uid label (the VIP
//     apply of one Gateway reads its own objects, not every Service of the member).
// The provider answers scoped snapshots and the event -> key mapping (keys.ts) from these.
import type { EndpointSlice, Gateway, Node, ReferenceGrant, Service, ServiceExport, TCPRoute, UDPRoute } from '../api/index.ts';
import { LABEL_GATEWAY_UID } from '../naming/labels.ts';
import { CONTROLLER_NAME } from '../naming/stamp.ts';
import type { StoredObject } from '../runtime/reflector.ts';
import type { MemberNodePorts } from '../snapshot/types.ts';
import { servicePortHolders } from '../translate/hcports.ts';

const GATEWAY_GROUP = 'gateway.networking.k8s.io';
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export type RouteKind = 'TCPRoute' | 'UDPRoute';

/** One route as the indexes see it. */
export interface RouteEntry {
  kind: RouteKind;
  object: TCPRoute | UDPRoute;
  /** Gateway keys (`namespace/name`) of spec.parentRefs naming a Gateway. */
  parents: string[];
  /** Gateway keys of fleet-ilb's entries in status.parents. */
  statusParents: string[];
  /** `namespace/name` of every backendRef (any kind). */
  backends: string[];
}

/** A key -> set multimap. */
class MultiMap<V> {
  readonly #m = new Map<string, Set<V>>();
  add(k: string, v: V): void {
    let s = this.#m.get(k);
    if (s === undefined) this.#m.set(k, (s = new Set()));
    s.add(v);
  }
  delete(k: string, v: V): void {
    const s = this.#m.get(k);
    if (s === undefined) return;
    s.delete(v);
    if (s.size === 0) this.#m.delete(k);
  }
  get(k: string): ReadonlySet<V> {
    return this.#m.get(k) ?? EMPTY;
  }
  keys(): IterableIterator<string> {
    return this.#m.keys();
  }
  get size(): number {
    return this.#m.size;
  }
}
const EMPTY: ReadonlySet<never> = new Set();

function pick<T>(m: ReadonlyMap<string, T>, k: string): T[] {
  const v = m.get(k);
  return v === undefined ? [] : [v];
}

function meta(o: StoredObject): { namespace: string; name: string; labels: Record<string, string> } {
  const labels = (o.metadata as { labels?: Record<string, string> } | undefined)?.labels ?? {};
  return { namespace: o.metadata?.namespace ?? '', name: o.metadata?.name ?? '', labels };
}

/** `namespace/name` (or `name`) of an object. */
export function keyOfStored(o: StoredObject): string {
  const m = meta(o);
  return m.namespace === '' ? m.name : `${m.namespace}/${m.name}`;
}

interface ParentRefLike {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
}

function isGatewayRef(p: { group?: string; kind?: string }): boolean {
  return (p.group ?? GATEWAY_GROUP) === GATEWAY_GROUP && (p.kind ?? 'Gateway') === 'Gateway';
}

/** Gateway keys a route's spec.parentRefs name (Gateway API: namespace defaults to the route's). */
export function specParents(o: StoredObject | undefined): string[] {
  if (o === undefined) return [];
  const ns = meta(o).namespace;
  const refs = (o as { spec?: { parentRefs?: ParentRefLike[] } }).spec?.parentRefs ?? [];
  return [...new Set(refs.filter(isGatewayRef).map((p) => `${p.namespace ?? ns}/${p.name}`))];
}

/** Gateway keys of fleet-ilb's entries in a route's status.parents. */
export function statusParents(o: StoredObject | undefined): string[] {
  if (o === undefined) return [];
  const ns = meta(o).namespace;
  const parents = (o as { status?: { parents?: Array<{ controllerName?: string; parentRef?: ParentRefLike }> } }).status?.parents ?? [];
  return [
    ...new Set(
      parents.filter((p) => p.controllerName === CONTROLLER_NAME && p.parentRef !== undefined && isGatewayRef(p.parentRef)).map((p) => `${p.parentRef!.namespace ?? ns}/${p.parentRef!.name}`),
    ),
  ];
}

/** `namespace/name` of every backendRef of a route (all rules, any kind). */
export function routeBackends(o: StoredObject | undefined): string[] {
  if (o === undefined) return [];
  const ns = meta(o).namespace;
  const rules = (o as { spec?: { rules?: Array<{ backendRefs?: Array<{ namespace?: string; name: string }> }> } }).spec?.rules ?? [];
  return [...new Set(rules.flatMap((r) => (r.backendRefs ?? []).map((b) => `${b.namespace ?? ns}/${b.name}`)))];
}

/** The service (`namespace/name`) an EndpointSlice belongs to (label kubernetes.io/service-name). */
export function sliceService(o: StoredObject): string | undefined {
  const m = meta(o);
  const svc = m.labels[SERVICE_NAME_LABEL];
  return svc === undefined ? undefined : `${m.namespace}/${svc}`;
}

/** Adds (`object` set) or removes the entry of `o` under its Gateway uid label, if it has one. */
function owned<T>(m: Map<string, Map<string, T>>, o: StoredObject, k: string, object: T | undefined): void {
  const uid = meta(o).labels[LABEL_GATEWAY_UID];
  if (uid === undefined) return;
  let byKey = m.get(uid);
  if (object !== undefined) {
    if (byKey === undefined) m.set(uid, (byKey = new Map<string, T>()));
    byKey.set(k, object);
    return;
  }
  byKey?.delete(k);
  if (byKey?.size === 0) m.delete(uid);
}

/** One member's objects, indexed. */
export class MemberIndex {
  readonly services = new Map<string, Service>();
  /** ServiceExports by `namespace/name`, per member resource (`serviceexports`, `gkeserviceexports`). */
  readonly exports = new Map<string, ServiceExport>();
  readonly gkeExports = new Map<string, ServiceExport>();
  /** Service `namespace/name` -> slice key -> slice. */
  readonly slices = new Map<string, Map<string, EndpointSlice>>();
  /** Slice key -> the service it was indexed under (the label may change). */
  readonly #sliceOwner = new Map<string, string>();
  readonly nodes = new Map<string, Node>();
  /** Slice key -> slice. */
  readonly #slicesByKey = new Map<string, EndpointSlice>();
  /** Gateway uid label value -> key -> object: fleet-ilb's VIP Services and mirrored slices. */
  readonly #ownedServices = new Map<string, Map<string, Service>>();
  readonly #ownedSlices = new Map<string, Map<string, EndpointSlice>>();
  /** The Nodes as one array, the same array until a Node changes (translate memoizes on it). */
  #nodeList: readonly Node[] | undefined;
  /** port -> holder ('' or a VIP Service name) -> how many Services hold it so. */
  readonly #ports = new Map<number, Map<string, number>>();
  #portsView: MemberNodePorts | undefined;

  apply(resource: string, type: 'add' | 'update' | 'delete', object: StoredObject, oldObject?: StoredObject): void {
    const k = keyOfStored(object);
    const del = type === 'delete';
    switch (resource) {
      case 'services': {
        const prev = this.services.get(k) ?? (oldObject as Service | undefined);
        if (prev !== undefined) this.#portHolders(prev, -1);
        if (prev !== undefined) owned(this.#ownedServices, prev, k, undefined);
        if (del) this.services.delete(k);
        else {
          this.services.set(k, object as Service);
          this.#portHolders(object as Service, +1);
          owned(this.#ownedServices, object, k, object as Service);
        }
        return;
      }
      case 'serviceexports':
      case 'gkeserviceexports': {
        const m = resource === 'serviceexports' ? this.exports : this.gkeExports;
        if (del) m.delete(k);
        else m.set(k, object as ServiceExport);
        return;
      }
      case 'endpointslices': {
        const before = this.#slicesByKey.get(k);
        if (before !== undefined) owned(this.#ownedSlices, before, k, undefined);
        if (del) this.#slicesByKey.delete(k);
        else {
          this.#slicesByKey.set(k, object as EndpointSlice);
          owned(this.#ownedSlices, object, k, object as EndpointSlice);
        }
        const was = this.#sliceOwner.get(k);
        if (was !== undefined) {
          const m = this.slices.get(was);
          m?.delete(k);
          if (m?.size === 0) this.slices.delete(was);
          this.#sliceOwner.delete(k);
        }
        const svc = del ? undefined : sliceService(object);
        if (svc !== undefined) {
          let m = this.slices.get(svc);
          if (m === undefined) this.slices.set(svc, (m = new Map<string, EndpointSlice>()));
          m.set(k, object as EndpointSlice);
          this.#sliceOwner.set(k, svc);
        }
        return;
      }
      case 'nodes':
        this.#nodeList = undefined;
        if (del) this.nodes.delete(k);
        else this.nodes.set(k, object as Node);
        return;
      default:
        return;
    }
  }

  #portHolders(svc: Service, delta: 1 | -1): void {
    const holders = servicePortHolders(svc);
    if (holders.length === 0) return;
    this.#portsView = undefined;
    for (const [port, who] of holders) {
      let m = this.#ports.get(port);
      if (m === undefined) this.#ports.set(port, (m = new Map<string, number>()));
      const n = (m.get(who) ?? 0) + delta;
      if (n > 0) m.set(who, n);
      else m.delete(who);
      if (m.size === 0) this.#ports.delete(port);
    }
  }

  /** The node ports this member's Services hold (cached until a Service's ports change). */
  nodePorts(): MemberNodePorts {
    if (this.#portsView !== undefined) return this.#portsView;
    const other: number[] = [];
    const vip: Array<[number, string[]]> = [];
    for (const [port, who] of this.#ports) {
      if (who.has('')) other.push(port);
      const names = [...who.keys()].filter((w) => w !== '').sort();
      if (names.length > 0) vip.push([port, names]);
    }
    other.sort((a, b) => a - b);
    vip.sort(([a], [b]) => a - b);
    this.#portsView = { other, vip: Object.fromEntries(vip.map(([p, n]) => [String(p), n])) };
    return this.#portsView;
  }

  /**
   * Every Node of the member: the same (frozen) array until a Node is added, changed or deleted, so
   * what translate derives from a member's Nodes alone (which can back a NEG) is computed once per
   * change of them, not once per Gateway reconcile (translate/context.ts, translate/checks/nodes.ts).
   */
  nodeList(): readonly Node[] {
    return (this.#nodeList ??= Object.freeze([...this.nodes.values()]));
  }

  /** One EndpointSlice by `namespace/name`. */
  slice(k: string): EndpointSlice | undefined {
    return this.#slicesByKey.get(k);
  }

  /** The Services / EndpointSlices whose `fleetilb.io/gateway-uid` label has this value (fleet-ilb's own). */
  ownedServices(gatewayUid: string): Service[] {
    return [...(this.#ownedServices.get(gatewayUid)?.values() ?? [])];
  }

  ownedSlices(gatewayUid: string): EndpointSlice[] {
    return [...(this.#ownedSlices.get(gatewayUid)?.values() ?? [])];
  }

  /** True when the member has a Service or ServiceExport (any API) of that `namespace/name`. */
  hasService(k: string): boolean {
    return this.services.has(k) || this.exports.has(k) || this.gkeExports.has(k);
  }

  /** The member's ServiceExports of the given names: upstream ones first, then GKE's (as snapshot() lists them). */
  exportsOf(names: Iterable<string>): ServiceExport[] {
    const ks = [...names];
    return [...ks.flatMap((k) => pick(this.exports, k)), ...ks.flatMap((k) => pick(this.gkeExports, k))];
  }

  /** Every ServiceExport of the member, upstream ones first. */
  allExports(): ServiceExport[] {
    return [...this.exports.values(), ...this.gkeExports.values()];
  }
}

/** The config-cluster indexes and one MemberIndex per member. */
export class FleetIndex {
  readonly routes = new Map<string, RouteEntry>();
  /** Gateway key -> route ids (spec parents ∪ status parents). */
  readonly #byParent = new MultiMap<string>();
  /** Backend `namespace/name` -> route ids. */
  readonly #byBackend = new MultiMap<string>();
  /** Namespace -> route ids with a backendRef into it from another namespace (ReferenceGrants). */
  readonly #byGrantNamespace = new MultiMap<string>();
  /** Namespace -> ReferenceGrant key -> grant. */
  readonly #grants = new Map<string, Map<string, ReferenceGrant>>();
  /** Gateways with at least one UDP listener (their health-check node ports depend on every Service's). */
  readonly udpGateways = new Set<string>();
  readonly #members = new Map<string, MemberIndex>();

  /** Route id in the indexes. */
  static routeId(kind: RouteKind, o: StoredObject): string {
    return `${kind}/${keyOfStored(o)}`;
  }

  onConfig(resource: string, type: 'add' | 'update' | 'delete', object: StoredObject): void {
    switch (resource) {
      case 'tcpRoutes':
      case 'udpRoutes':
        this.#route(resource === 'tcpRoutes' ? 'TCPRoute' : 'UDPRoute', type, object);
        return;
      case 'referenceGrants': {
        const { namespace } = meta(object);
        let m = this.#grants.get(namespace);
        if (type === 'delete') {
          m?.delete(keyOfStored(object));
          if (m?.size === 0) this.#grants.delete(namespace);
        } else {
          if (m === undefined) this.#grants.set(namespace, (m = new Map<string, ReferenceGrant>()));
          m.set(keyOfStored(object), object as ReferenceGrant);
        }
        return;
      }
      case 'gateways': {
        const k = keyOfStored(object);
        const udp = (object as Gateway).spec?.listeners?.some((l) => l.protocol === 'UDP') ?? false;
        if (type !== 'delete' && udp) this.udpGateways.add(k);
        else this.udpGateways.delete(k);
        return;
      }
      default:
        return;
    }
  }

  #route(kind: RouteKind, type: 'add' | 'update' | 'delete', object: StoredObject): void {
    const id = FleetIndex.routeId(kind, object);
    const prev = this.routes.get(id);
    if (prev !== undefined) {
      for (const p of new Set([...prev.parents, ...prev.statusParents])) this.#byParent.delete(p, id);
      for (const b of prev.backends) {
        this.#byBackend.delete(b, id);
        this.#byGrantNamespace.delete(b.slice(0, b.indexOf('/')), id);
      }
      this.routes.delete(id);
    }
    if (type === 'delete') return;
    const e: RouteEntry = {
      kind,
      object: object as TCPRoute | UDPRoute,
      parents: specParents(object),
      statusParents: statusParents(object),
      backends: routeBackends(object),
    };
    this.routes.set(id, e);
    const ns = meta(object).namespace;
    for (const p of new Set([...e.parents, ...e.statusParents])) this.#byParent.add(p, id);
    for (const b of e.backends) {
      this.#byBackend.add(b, id);
      const bns = b.slice(0, b.indexOf('/'));
      if (bns !== ns) this.#byGrantNamespace.add(bns, id);
    }
  }

  onMember(clusterID: string, resource: string, type: 'add' | 'update' | 'delete', object: StoredObject, oldObject?: StoredObject): void {
    let m = this.#members.get(clusterID);
    if (m === undefined) this.#members.set(clusterID, (m = new MemberIndex()));
    m.apply(resource, type, object, oldObject);
  }

  /** Drops the indexes of members that are gone (a removed member's reflectors emit no deletes). */
  retainMembers(clusterIDs: ReadonlySet<string>): void {
    for (const id of [...this.#members.keys()]) if (!clusterIDs.has(id)) this.#members.delete(id);
  }

  member(clusterID: string): MemberIndex | undefined {
    return this.#members.get(clusterID);
  }

  /** Routes whose spec or fleet-ilb status names the Gateway. */
  routesOf(gatewayKey: string): RouteEntry[] {
    const out: RouteEntry[] = [];
    for (const id of this.#byParent.get(gatewayKey)) {
      const e = this.routes.get(id);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  /** ReferenceGrants of one namespace. */
  grantsIn(namespace: string): ReferenceGrant[] {
    return [...(this.#grants.get(namespace)?.values() ?? [])];
  }

  /** Gateways (spec parents) of routes with a backendRef naming `namespace/name`. */
  gatewaysForBackend(service: string): Set<string> {
    const out = new Set<string>();
    for (const id of this.#byBackend.get(service)) for (const p of this.routes.get(id)?.parents ?? []) out.add(p);
    return out;
  }

  /** Gateways (spec parents) of routes with a backendRef into `namespace` from another namespace. */
  gatewaysForGrantNamespace(namespace: string): Set<string> {
    const out = new Set<string>();
    for (const id of this.#byGrantNamespace.get(namespace)) for (const p of this.routes.get(id)?.parents ?? []) out.add(p);
    return out;
  }

  /**
   * Gateways that may use a member: parents of routes with a backend the member has (a Service or a
   * ServiceExport of that name). Walks the distinct backend names of the fleet's routes (a map
   * lookup each), not the member's objects.
   */
  gatewaysUsingMember(clusterID: string): Set<string> {
    const out = new Set<string>();
    const m = this.#members.get(clusterID);
    if (m === undefined) return out;
    for (const b of this.#byBackend.keys()) {
      if (!m.hasService(b)) continue;
      for (const p of this.gatewaysForBackend(b)) out.add(p);
    }
    return out;
  }
}
