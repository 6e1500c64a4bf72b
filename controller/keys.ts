// SPDX-License-Identifier: Apache-2.0
//
// Maps an observed change in any cluster to the work-queue keys it affects (controller-runtime's
// multi-cluster map functions), from the provider's incremental indexes
// (provider/indexes.ts), never by walking the fleet. Missing a key is a bug (reconciles are
// level-triggered, but nothing else would bring the Gateway up to date); an extra key costs a
// reconcile that writes nothing. The narrow rules (docs/architecture.md "Data flow: one way"):
//   * a Gateway -> itself; a route -> the Gateways its old and new spec.parentRefs name (not a
//     route update that changed only its status: our parent entries);
//   * a ServiceImport or a member ServiceExport -> the Gateways whose routes' backendRefs name that
//     `namespace/name` (+ the global pass: imports and export conditions are its outputs);
//   * a member Service / EndpointSlice -> the Gateways whose backends name its service (a Service
//     also -> the global pass: it defines its ServiceExport, KEP-1645; a Service whose node ports
//     changed also -> every Gateway with a UDP listener, whose pinned health-check port depends on
//     every member's node ports, translate/hcports.ts); fleet-ilb's own VIP Services and mirrored
//     slices -> their Gateway (drift repair), except the echo of our own write (the version it
//     produced: runtime/ownwrites.ts);
//   * a ReferenceGrant -> the Gateways whose routes reach into its namespace from another one;
//   * a Node -> the Gateways that use its member, and only when a field translate reads changed
//     (labels, taints, providerID, addresses, Ready, unschedulable, deletion) — never heartbeat
//     churn (lastHeartbeatTime, images, allocatable, other conditions); + the global pass when the
//     FleetMember's node count or zones change;
//   * a member's reachability -> the Gateways that use it (+ global); all Gateways when it had or
//     has no synced data, because a never-synced member is named in every Gateway's condition;
//   * GatewayClasses, ILBConfigs, FleetMembers, Namespaces, Secrets (rare) -> every Gateway + global;
//     a status-only update of the first three, or a GatewayClass update that only added or removed
//     the gateway-exists finalizer (the global pass's own writes) -> global only;
//   * a Gateway update that only added our finalizer or changed our fleetilb.io GCE annotations
//     (ownMetadataUpdate: the reconcile that wrote them knew that state) -> nothing;
//   * a Gateway update that changed only its status (our own status write, mostly) -> nothing: it
//     changes no input of its reconcile, and re-running on it would turn a failing Gateway's changing
//     "retrying in N s" message into a loop. A status edited by someone else is repaired by the resync.
// `changeCanFix` says which changes can turn a failing Gateway's outcome (issue 13: "errors the user
// can fix converge within seconds of the fix"): their keys run at once, backoff reset
// (queue.requeueNow), instead of after a backoff of up to a minute.
import type { Node } from './api/index.ts';
import { CLASS_FINALIZER, FINALIZER, GCE_ANNOTATIONS } from './gateway/index.ts';
import { LABEL_GATEWAY_NAME, LABEL_GATEWAY_NAMESPACE } from './naming/labels.ts';
import type { FleetIndex } from './provider/indexes.ts';
import { sliceService, specParents } from './provider/indexes.ts';
import { EXPORT_RESOURCES, type Change } from './provider/index.ts';
import { GLOBAL_KEY, gatewayKey } from './reconciler.ts';
import type { StoredObject } from './runtime/reflector.ts';
import type { WorkQueue } from './runtime/workqueue.ts';
import { servicePortHolders } from './translate/hcports.ts';
import { nodeZone } from './translate/checks/nodes.ts';

/** What the mapper needs to know about the fleet (the provider). */
export interface KeySource {
  /** Every Gateway as `namespace/name` (work-queue keys are made with reconciler.ts gatewayKey). */
  gatewayKeys(): string[];
  readonly index: Pick<FleetIndex, 'gatewaysForBackend' | 'gatewaysForGrantNamespace' | 'gatewaysUsingMember' | 'udpGateways'>;
  /**
   * Whether this version of a member object is the echo of the controller's own write
   * (runtime/ownwrites.ts). Absent = never.
   */
  isOwnWrite?(clusterID: string, resource: string, key: string, resourceVersion: string | undefined): boolean;
}

function labelsOf(o: StoredObject | undefined): Record<string, string> {
  return (o?.metadata as { labels?: Record<string, string> } | undefined)?.labels ?? {};
}

function nsName(o: StoredObject): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

function gatewayClassOf(o: StoredObject): string | undefined {
  return (o as { spec?: { gatewayClassName?: string } }).spec?.gatewayClassName;
}

/** The service (`namespace/name`) a member Service or EndpointSlice belongs to. */
function serviceOf(resource: string, o: StoredObject | undefined): string | undefined {
  if (o === undefined) return undefined;
  if (resource === 'services') return nsName(o);
  if (resource === 'endpointslices') return sliceService(o);
  return undefined;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** An object without what its own status writes change (status, resourceVersion, managedFields). */
function withoutStatus(o: StoredObject): unknown {
  const { status: _status, metadata, ...rest } = o as StoredObject & { status?: unknown };
  const { resourceVersion: _rv, managedFields: _mf, ...meta } = (metadata ?? {}) as Record<string, unknown>;
  return { ...rest, metadata: meta };
}

/**
 * True when an update changed the object's status and nothing else (not for adds, deletes, or an
 * update that changed nothing, e.g. a relist's).
 */
export function statusOnlyUpdate(oldObject: StoredObject | undefined, object: StoredObject): boolean {
  if (oldObject === undefined) return false;
  const status = (o: StoredObject): unknown => (o as { status?: unknown }).status;
  return !same(status(oldObject), status(object)) && same(withoutStatus(oldObject), withoutStatus(object));
}

/** The Gateway annotations the reconciler writes (gateway/annotations.ts), and our finalizer. */
const OWN_ANNOTATIONS: ReadonlySet<string> = new Set(Object.values(GCE_ANNOTATIONS));

/**
 * True when a Gateway update changed only what the reconciler itself writes on it: the
 * `fleetilb.io/*` GCE annotations and the addition of our finalizer (its status aside). The
 * reconcile that wrote them knew that state: re-running on their echo only re-read GCE. A removal
 * of our finalizer, a deletion, or any other change (spec, labels, other annotations) is news.
 */
export function ownMetadataUpdate(oldObject: StoredObject | undefined, object: StoredObject): boolean {
  if (oldObject === undefined) return false;
  type Meta = { annotations?: Record<string, string>; finalizers?: string[] };
  const strip = (o: StoredObject): unknown => {
    const { annotations, finalizers, ...meta } = ((withoutStatus(o) as { metadata: Meta }).metadata ?? {}) as Meta & Record<string, unknown>;
    const rest = withoutStatus(o) as Record<string, unknown>;
    const others = Object.fromEntries(Object.entries(annotations ?? {}).filter(([k]) => !OWN_ANNOTATIONS.has(k)));
    return { ...rest, metadata: { ...meta, annotations: others, finalizers: (finalizers ?? []).filter((f) => f !== FINALIZER) } };
  };
  const fin = (o: StoredObject): boolean => ((o.metadata as Meta | undefined)?.finalizers ?? []).includes(FINALIZER);
  if (fin(oldObject) && !fin(object)) return false;
  return same(strip(oldObject), strip(object)) && !same(withoutStatus(oldObject), withoutStatus(object));
}

/**
 * True when a GatewayClass update added or removed only the spec's `gateway-exists` finalizer
 * (the global pass's own write, gateway/finalizer.ts); its status aside. A deletion is not.
 */
export function classFinalizerUpdate(oldObject: StoredObject | undefined, object: StoredObject): boolean {
  if (oldObject === undefined) return false;
  type Meta = { finalizers?: string[] };
  const strip = (o: StoredObject): unknown => {
    const { metadata, ...rest } = withoutStatus(o) as { metadata: Meta & Record<string, unknown> };
    return { ...rest, metadata: { ...metadata, finalizers: (metadata.finalizers ?? []).filter((f) => f !== CLASS_FINALIZER) } };
  };
  return same(strip(oldObject), strip(object)) && !same(withoutStatus(oldObject), withoutStatus(object));
}

/**
 * Config inputs a user edits to fix what a Gateway's reconcile failed on: the ILBConfig (project,
 * region, network), the GatewayClass (its parametersRef), FleetMembers and their kubeconfig Secrets,
 * ServiceImports. Member ServiceExports are the same for the members (EXPORT_RESOURCES).
 */
const FIX_INPUTS: ReadonlySet<string> = new Set(['gatewayClasses', 'ilbConfigs', 'fleetMembers', 'secrets', 'serviceImports', 'gkeServiceImports']);

/**
 * Whether `c` can change the outcome of a failing Gateway, so its keys should run now with their
 * backoff reset (`queue.requeueNow`) rather than wait it out: a create, delete, or a spec or data
 * change (not a status write, which the controller makes itself, nor a relist that changed nothing)
 * of a {@link FIX_INPUTS} object or a member export.
 */
export function changeCanFix(c: Change): boolean {
  if (c.scope === 'reachability') return false;
  const input = c.scope === 'config' ? FIX_INPUTS.has(c.resource) : EXPORT_RESOURCES.has(c.resource);
  return input && (c.oldObject === undefined || !same(withoutStatus(c.oldObject), withoutStatus(c.object)));
}

function readyStatus(n: Node | undefined): string | undefined {
  return n?.status?.conditions?.find((c) => c.type === 'Ready')?.status;
}

/**
 * Whether a Node change matters: to the Gateways of its member (a field node selection reads,
 * translate/checks/nodes.ts: labels — exclusion and zone —, taints, providerID, addresses, Ready,
 * unschedulable, deletion), and to the global pass (FleetMember nodeCount, zones, and which nodes
 * are left out and why: the same fields). An add or a delete matters to both. Heartbeats (lastHeartbeatTime, other conditions' times), images,
 * allocatable, capacity, annotations and resourceVersion never do.
 */
export function nodeChangeMatters(oldNode: Node | undefined, node: Node | undefined): { gateways: boolean; global: boolean } {
  if (oldNode === undefined || node === undefined) return { gateways: true, global: true };
  const gateways =
    !same(oldNode.metadata.labels, node.metadata.labels) ||
    !same(oldNode.metadata.deletionTimestamp, node.metadata.deletionTimestamp) ||
    !same(oldNode.spec?.taints, node.spec?.taints) ||
    !same(oldNode.spec?.providerID, node.spec?.providerID) ||
    !same((oldNode.spec)?.unschedulable, (node.spec)?.unschedulable) ||
    !same(oldNode.status?.addresses, node.status?.addresses) ||
    readyStatus(oldNode) !== readyStatus(node);
  return { gateways, global: gateways || nodeZone(oldNode) !== nodeZone(node) };
}

/** True when a Service's node ports (nodePorts, healthCheckNodePort) differ between two versions. */
function nodePortsChanged(oldSvc: StoredObject | undefined, svc: StoredObject | undefined): boolean {
  const ports = (o: StoredObject | undefined): string =>
    o === undefined ? '[]' : JSON.stringify(servicePortHolders(o as Parameters<typeof servicePortHolders>[0]).sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1)));
  return ports(oldSvc) !== ports(svc);
}

/**
 * Queue the keys of one change (main.ts `onChange`). Any event runs its keys at once; one that can
 * fix a failing Gateway ({@link changeCanFix}) also resets their backoff and drops their pending retry
 * (`requeueNow`), so a new failure after the fix starts again from the shortest delay instead of the
 * minute-long one the old error had grown. Returns the keys.
 */
export function enqueueChange(queue: Pick<WorkQueue<string>, 'add' | 'requeueNow'>, c: Change, src: KeySource): string[] {
  const fix = changeCanFix(c);
  const keys = keysForChange(c, src);
  for (const k of keys) {
    if (fix) queue.requeueNow(k);
    else queue.add(k);
  }
  return keys;
}

/** The keys one change affects (unordered, no duplicates). */
export function keysForChange(c: Change, src: KeySource): string[] {
  const out = new Set<string>();
  /** Adds Gateways given as `namespace/name` (the indexes' form) as work-queue keys. */
  const add = (gateways: Iterable<string>): void => {
    for (const g of gateways) {
      const i = g.indexOf('/');
      out.add(gatewayKey(g.slice(0, i), g.slice(i + 1)));
    }
  };
  const all = (): void => {
    out.add(GLOBAL_KEY);
    add(src.gatewayKeys());
  };

  if (c.scope === 'reachability') {
    out.add(GLOBAL_KEY);
    if (c.synced === undefined || !c.synced.before || !c.synced.after) add(src.gatewayKeys());
    else add(src.index.gatewaysUsingMember(c.clusterID));
    return [...out];
  }

  if (c.scope === 'config') {
    switch (c.resource) {
      case 'gateways':
        if (statusOnlyUpdate(c.oldObject, c.object) || ownMetadataUpdate(c.oldObject, c.object)) break;
        add([nsName(c.object)]);
        // Created, deleted or moved to another class: the GatewayClass finalizer may change (the
        // global pass keeps it while a Gateway names the class).
        if (c.oldObject === undefined || gatewayClassOf(c.oldObject) !== gatewayClassOf(c.object)) out.add(GLOBAL_KEY);
        break;
      case 'tcpRoutes':
      case 'udpRoutes':
        // Our parent entries in its status (the Gateways' own writes) change no input of theirs.
        if (statusOnlyUpdate(c.oldObject, c.object)) break;
        add(specParents(c.object));
        add(specParents(c.oldObject));
        break;
      case 'serviceImports':
      case 'gkeServiceImports':
        out.add(GLOBAL_KEY);
        add(src.index.gatewaysForBackend(nsName(c.object)));
        break;
      case 'referenceGrants':
        add(src.index.gatewaysForGrantNamespace(c.object.metadata?.namespace ?? ''));
        break;
      case 'healthCheckPolicies':
        // Our own ancestor-status writes change nothing; a spec change reaches the Gateways its
        // targets (before and after) name or serve (docs/policy.md).
        if (statusOnlyUpdate(c.oldObject, c.object)) break;
        for (const o of [c.object, c.oldObject]) {
          if (o === undefined) continue;
          const ns = o.metadata?.namespace ?? '';
          for (const t of (o as { spec?: { targetRefs?: Array<{ kind?: string; name?: string }> } }).spec?.targetRefs ?? []) {
            if (t.kind === 'Gateway') add([`${ns}/${t.name ?? ''}`]);
            else add(src.index.gatewaysForBackend(`${ns}/${t.name ?? ''}`));
          }
        }
        break;
      case 'gatewayClasses':
      case 'ilbConfigs':
      case 'fleetMembers':
        // Their status is the global pass's output (a Gateway reads only its transition times): a
        // status write reaches the global pass alone, not every Gateway of the fleet. So does the
        // global pass's other write, the GatewayClass finalizer it keeps while a Gateway names the
        // class: no Gateway's translate reads a class's finalizers.
        if (statusOnlyUpdate(c.oldObject, c.object) || (c.resource === 'gatewayClasses' && classFinalizerUpdate(c.oldObject, c.object))) out.add(GLOBAL_KEY);
        else all();
        break;
      default:
        all();
    }
    return [...out];
  }

  // Member objects.
  if (EXPORT_RESOURCES.has(c.resource)) {
    out.add(GLOBAL_KEY);
    add(src.index.gatewaysForBackend(nsName(c.object)));
    return [...out];
  }
  if (c.resource === 'nodes') {
    const m = nodeChangeMatters(c.oldObject as Node | undefined, c.object as Node);
    if (m.gateways) add(src.index.gatewaysUsingMember(c.clusterID));
    if (m.global) out.add(GLOBAL_KEY);
    return [...out];
  }
  const labels = labelsOf(c.object);
  const ownerNs = labels[LABEL_GATEWAY_NAMESPACE];
  const ownerName = labels[LABEL_GATEWAY_NAME];
  // Our own VIP Services and mirrored slices: their Gateway repairs drift; the echo of our own
  // write is not drift.
  if (ownerNs !== undefined && ownerName !== undefined) {
    if (src.isOwnWrite?.(c.clusterID, c.resource, nsName(c.object), c.object.metadata?.resourceVersion) === true) return [];
    return [gatewayKey(ownerNs, ownerName)];
  }
  for (const svc of new Set([serviceOf(c.resource, c.object), serviceOf(c.resource, c.oldObject)])) {
    if (svc !== undefined) add(src.index.gatewaysForBackend(svc));
  }
  if (c.resource === 'services') {
    // A member Service also defines its export (KEP-1645): the ServiceImport's ports, type and
    // session affinity and the export's Valid/Conflict conditions, which the global pass writes. A
    // Service created after its ServiceExport, or changed later, must reach it even when no route
    // names it yet.
    out.add(GLOBAL_KEY);
    if (nodePortsChanged(c.oldObject, c.object)) add(src.index.udpGateways);
  }
  return [...out];
}
