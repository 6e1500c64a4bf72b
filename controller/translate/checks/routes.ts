// SPDX-License-Identifier: Apache-2.0
//
// Route attachment (Gateway API v1.6 shared_types.go ParentReference; GEP-2644/2645):
//   * a parentRef names a Gateway (group gateway.networking.k8s.io, kind Gateway, namespace defaults
//     to the route's); only Gateways of fleet-ilb's classes are ours to judge;
//   * `sectionName` and `port` narrow the listeners; none left => `Accepted=False/NoMatchingParent`;
//   * a listener must support the route's kind and allow the route's namespace
//     (`allowedRoutes.namespaces.from` All | Same (default) | Selector | None), else
//     `Accepted=False/NotAllowedByListeners`; attachment succeeds if ≥ 1 listener accepts.
import type { BackendRef, LabelSelector, ParentReference, TCPRoute, UDPRoute } from '../../api/index.ts';
import type { EffectiveBackend, L4Protocol } from '../../ir/types.ts';
import type { CondSpec } from '../../status/conditions.ts';
import { CondType, Reason, cond } from '../../status/conditions.ts';
import type { Ctx } from '../context.ts';
import type { McsResult } from '../mcs.ts';
import type { Failure } from './chain.ts';
import { GATEWAY_GROUP, resolveBackend } from './backends.ts';
import type { ListenerState } from './listeners.ts';

export type RouteKind = 'TCPRoute' | 'UDPRoute';

export interface ParentEval {
  /** The parentRef as written, with group/kind/namespace defaults filled (echoed in status). */
  parentRef: ParentReference;
  gatewayKey: string;
  accepted: CondSpec;
}

export interface RouteEval {
  kind: RouteKind;
  route: TCPRoute | UDPRoute;
  namespace: string;
  name: string;
  resolvedRefs: CondSpec;
  /** Resolved backends with weight > 0. */
  backends: EffectiveBackend[];
  parents: ParentEval[];
}

/** The subset of a Gateway's translation state route attachment needs. */
export interface GatewayForRoutes {
  key: string;
  namespace: string;
  listeners: ListenerState[];
}

export const PROTOCOL_OF: Record<RouteKind, L4Protocol> = { TCPRoute: 'TCP', UDPRoute: 'UDP' };

/** parentRef with defaults (group, kind, namespace) filled, as conformance expects it echoed. */
export function normalizeParentRef(p: ParentReference, routeNamespace: string): ParentReference {
  const out: ParentReference = {
    group: p.group ?? GATEWAY_GROUP,
    kind: p.kind ?? 'Gateway',
    namespace: p.namespace ?? routeNamespace,
    name: p.name,
  };
  if (p.sectionName !== undefined) out.sectionName = p.sectionName;
  if (p.port !== undefined) out.port = p.port;
  return out;
}

/** Kubernetes label selector semantics (matchLabels AND matchExpressions). */
export function selectorMatches(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (sel === undefined) return false;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const v = labels[e.key];
    const values = e.values ?? [];
    const ok =
      e.operator === 'In' ? has && values.includes(v ?? '') :
      e.operator === 'NotIn' ? !has || !values.includes(v ?? '') :
      e.operator === 'Exists' ? has :
      e.operator === 'DoesNotExist' ? !has : false;
    if (!ok) return false;
  }
  return true;
}

function namespaceAllowed(ctx: Ctx, l: ListenerState, gwNamespace: string, routeNamespace: string): boolean {
  const from = l.listener.allowedRoutes?.namespaces?.from ?? 'Same';
  if (from === 'All') return true;
  if (from === 'Same') return gwNamespace === routeNamespace;
  if (from === 'Selector') {
    const ns = ctx.namespaces.get(routeNamespace);
    const labels = { ...(ns?.metadata.labels ?? {}), 'kubernetes.io/metadata.name': routeNamespace };
    return ns !== undefined && selectorMatches(l.listener.allowedRoutes?.namespaces?.selector, labels);
  }
  return false;
}

function kindAllowed(l: ListenerState, kind: RouteKind): boolean {
  return l.supportedKinds.some((k) => k.kind === kind);
}

/** Attachment of one parentRef to one of our Gateways; attaches the route to the accepting listeners. */
function attach(ctx: Ctx, r: { kind: RouteKind; namespace: string; name: string; created?: string }, ref: ParentReference, gw: GatewayForRoutes): CondSpec {
  const candidates = gw.listeners.filter(
    (l) => (ref.sectionName === undefined || l.listener.name === ref.sectionName) && (ref.port === undefined || l.listener.port === ref.port),
  );
  if (candidates.length === 0) {
    const what = [ref.sectionName === undefined ? '' : `named ${ref.sectionName}`, ref.port === undefined ? '' : `on port ${ref.port}`]
      .filter((s) => s !== '')
      .join(' ');
    return cond(CondType.Accepted, false, Reason.NoMatchingParent, `Gateway ${gw.key} has no listener ${what}`);
  }
  const accepting = candidates.filter((l) => kindAllowed(l, r.kind) && namespaceAllowed(ctx, l, gw.namespace, r.namespace));
  if (accepting.length === 0) {
    const kindOk = candidates.some((l) => kindAllowed(l, r.kind));
    return cond(
      CondType.Accepted,
      false,
      Reason.NotAllowedByListeners,
      kindOk
        ? `no matching listener of Gateway ${gw.key} allows routes from namespace ${r.namespace}`
        : `no matching listener of Gateway ${gw.key} accepts ${r.kind} (a ${r.kind} needs a ${PROTOCOL_OF[r.kind]} listener)`,
    );
  }
  for (const l of accepting) {
    if (!l.attached.some((a) => a.kind === r.kind && a.namespace === r.namespace && a.name === r.name)) {
      const a: ListenerState['attached'][number] = { kind: r.kind, namespace: r.namespace, name: r.name };
      if (r.created !== undefined) a.creationTimestamp = r.created;
      l.attached.push(a);
    }
  }
  return cond(CondType.Accepted, true, Reason.Accepted, `attached to listener(s) ${accepting.map((l) => l.listener.name).join(', ')}`);
}

function allBackendRefs(route: TCPRoute | UDPRoute): BackendRef[] {
  // v1 allows exactly one rule; v1alpha2 allowed up to 16 with no L4 matching semantics, so all
  // rules' backends are one pool.
  return (route.spec.rules ?? []).flatMap((r) => r.backendRefs ?? []);
}

/** Resolves a route's backendRefs; ResolvedRefs reports the first failure (chain priority). */
function resolveRoute(ctx: Ctx, mcs: McsResult, kind: RouteKind, route: TCPRoute | UDPRoute): { resolvedRefs: CondSpec; backends: EffectiveBackend[] } {
  const ns = route.metadata.namespace ?? '';
  const failures: Failure[] = [];
  const backends: EffectiveBackend[] = [];
  for (const ref of allBackendRefs(route)) {
    const v = resolveBackend({ ctx, mcs, routeKind: kind, routeNamespace: ns, protocol: PROTOCOL_OF[kind], ref });
    if (!v.ok) failures.push(v.failure);
    else if (v.backend.weight > 0) backends.push(v.backend);
  }
  const first = failures[0];
  const resolvedRefs =
    first === undefined
      ? cond(CondType.ResolvedRefs, true, Reason.ResolvedRefs, 'all backendRefs resolved')
      : cond(CondType.ResolvedRefs, false, first.reason, failures.map((f) => f.message).join('; '));
  return { resolvedRefs, backends };
}

/** Evaluates every TCPRoute and UDPRoute against fleet-ilb's Gateways (attaching them as it goes). */
export function evaluateRoutes(ctx: Ctx, mcs: McsResult, gateways: Map<string, GatewayForRoutes>): RouteEval[] {
  const out: RouteEval[] = [];
  const all: Array<[RouteKind, TCPRoute | UDPRoute]> = [
    ...ctx.tcpRoutes.map((r): [RouteKind, TCPRoute] => ['TCPRoute', r]),
    ...ctx.udpRoutes.map((r): [RouteKind, UDPRoute] => ['UDPRoute', r]),
  ];
  for (const [kind, route] of all) {
    if (route.metadata.deletionTimestamp !== undefined) continue;
    const ns = route.metadata.namespace ?? '';
    const parents: ParentEval[] = [];
    for (const raw of route.spec.parentRefs ?? []) {
      const ref = normalizeParentRef(raw, ns);
      if (ref.group !== GATEWAY_GROUP || ref.kind !== 'Gateway') continue;
      const gwKey = `${ref.namespace ?? ns}/${ref.name}`;
      const gw = gateways.get(gwKey);
      if (gw === undefined) continue; // not one of ours: another controller's to judge
      const r = { kind, namespace: ns, name: route.metadata.name, ...(route.metadata.creationTimestamp === undefined ? {} : { created: route.metadata.creationTimestamp }) };
      parents.push({ parentRef: ref, gatewayKey: gwKey, accepted: attach(ctx, r, ref, gw) });
    }
    if (parents.length === 0) continue;
    const { resolvedRefs, backends } = resolveRoute(ctx, mcs, kind, route);
    out.push({ kind, route, namespace: ns, name: route.metadata.name, resolvedRefs, backends, parents });
  }
  return out;
}
