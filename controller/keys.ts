// SPDX-License-Identifier: Apache-2.0
//
// Maps an observed change in any cluster to the work-queue keys it affects (controller-runtime's
// multi-cluster map functions, style.md §7.8). Over-approximating is safe (reconciles are
// level-triggered and write nothing when nothing changed); missing a key is not. So anything that
// can change every Gateway's outcome (classes, ILBConfigs, grants, namespaces, members, imports,
// nodes, reachability) maps to every Gateway, and only the frequent, local events are narrowed:
// a Gateway to itself, a route to its parents, a member Service/EndpointSlice to the Gateways whose
// backends name it (a Service also to the global pass: it defines its ServiceExport, KEP-1645).
import { LABEL_GATEWAY_NAME, LABEL_GATEWAY_NAMESPACE } from './naming/labels.ts';
import { EXPORT_RESOURCES, type Change } from './provider/index.ts';
import { GLOBAL_KEY, gatewayKey } from './reconciler.ts';
import type { StoredObject } from './runtime/reflector.ts';

/** What the mapper needs to know about the fleet. */
export interface KeySource {
  list<T>(key: 'gateways' | 'tcpRoutes' | 'udpRoutes'): T[];
}

function allGateways(src: KeySource): string[] {
  return src.list<StoredObject>('gateways').map((g) => gatewayKey(g.metadata?.namespace ?? '', g.metadata?.name ?? ''));
}

interface ParentRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
}

function routeParents(o: StoredObject | undefined): string[] {
  if (o === undefined) return [];
  const spec = (o as { spec?: { parentRefs?: ParentRef[] } }).spec;
  const ns = o.metadata?.namespace ?? '';
  return (spec?.parentRefs ?? [])
    .filter((p) => (p.kind ?? 'Gateway') === 'Gateway' && (p.group ?? 'gateway.networking.k8s.io') === 'gateway.networking.k8s.io')
    .map((p) => gatewayKey(p.namespace ?? ns, p.name));
}

/** The service a member object belongs to (`namespace/name`), if it is a Service or EndpointSlice. */
function serviceOf(resource: string, o: StoredObject): string | undefined {
  const ns = o.metadata?.namespace ?? '';
  if (resource === 'services') return `${ns}/${o.metadata?.name ?? ''}`;
  if (resource === 'endpointslices') {
    const svc = (o.metadata as { labels?: Record<string, string> } | undefined)?.labels?.['kubernetes.io/service-name'];
    return svc === undefined ? undefined : `${ns}/${svc}`;
  }
  return undefined;
}

interface BackendRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
}

/** Parents of every route with a backendRef naming `namespace/name` (any backend kind). */
function gatewaysUsing(src: KeySource, service: string): string[] {
  const out = new Set<string>();
  for (const r of [...src.list<StoredObject>('tcpRoutes'), ...src.list<StoredObject>('udpRoutes')]) {
    const ns = r.metadata?.namespace ?? '';
    const rules = (r as { spec?: { rules?: Array<{ backendRefs?: BackendRef[] }> } }).spec?.rules ?? [];
    const names = rules.some((rule) => (rule.backendRefs ?? []).some((b) => `${b.namespace ?? ns}/${b.name}` === service));
    if (names) for (const k of routeParents(r)) out.add(k);
  }
  return [...out];
}

/** The keys one change affects. */
export function keysForChange(c: Change, src: KeySource): string[] {
  if (c.scope === 'reachability') return [GLOBAL_KEY, ...allGateways(src)];
  if (c.scope === 'config') {
    switch (c.resource) {
      case 'gateways':
        return [gatewayKey(c.object.metadata?.namespace ?? '', c.object.metadata?.name ?? '')];
      case 'tcpRoutes':
      case 'udpRoutes':
        return [...new Set([...routeParents(c.object), ...routeParents(c.oldObject)])];
      default:
        return [GLOBAL_KEY, ...allGateways(src)];
    }
  }
  // Member objects.
  if (EXPORT_RESOURCES.has(c.resource) || c.resource === 'nodes') return [GLOBAL_KEY, ...allGateways(src)];
  const labels = (c.object.metadata as { labels?: Record<string, string> } | undefined)?.labels ?? {};
  const ownerNs = labels[LABEL_GATEWAY_NAMESPACE];
  const ownerName = labels[LABEL_GATEWAY_NAME];
  // Our own VIP Services and mirrored slices: their Gateway repairs drift.
  if (ownerNs !== undefined && ownerName !== undefined) return [gatewayKey(ownerNs, ownerName)];
  const svc = serviceOf(c.resource, c.object);
  const gateways = svc === undefined ? allGateways(src) : gatewaysUsing(src, svc);
  // A member Service also defines its export (KEP-1645): the ServiceImport's ports, type and
  // session affinity and the export's Valid/Conflict conditions, which the global pass writes. A
  // Service created after its ServiceExport, or changed later, must reach it even when no route
  // names it yet.
  return c.resource === 'services' ? [GLOBAL_KEY, ...gateways] : gateways;
}
