// SPDX-License-Identifier: Apache-2.0
//
// "Compare before write": the writer compares what it would write with what the server holds, and
// writes only when they differ semantically. Two things make a naive comparison say "different"
// forever (and turn every resync into a write):
// * the apiserver fills CRD schema defaults into what we wrote (Gateway API v1.6 standard CRDs:
//   `status.addresses[].type` = IPAddress, `status.listeners[].supportedKinds[].group` and
//   `status.parents[].parentRef.group` = gateway.networking.k8s.io, `parentRef.kind` = Gateway);
// * JSON key order and `undefined` members are not semantic.
// So both sides are normalised (defaults filled, undefined dropped, keys sorted) and compared as
// canonical JSON. List order is kept: every list we write is either atomic or ordered by translate.
import type { GatewayStatus, ParentReference, RouteParentStatus } from '../api/index.ts';
import { GATEWAY_GROUP } from '../api/index.ts';
import { canonical } from '../naming/hash.ts';

/** Semantic equality of two JSON values (see {@link canonical}). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** A parentRef with the CRD defaults filled (group, kind) and, for matching, the route's namespace. */
export function normalizeParentRef(p: ParentReference, routeNamespace?: string): ParentReference {
  const out: ParentReference = { ...p, group: p.group ?? GATEWAY_GROUP, kind: p.kind ?? 'Gateway' };
  if (routeNamespace !== undefined && (p.namespace === undefined || p.namespace === '')) out.namespace = routeNamespace;
  return out;
}

/** Identity of a parentRef (defaults filled), used to match our entries in place. */
export function parentRefKey(p: ParentReference, routeNamespace: string): string {
  const n = normalizeParentRef(p, routeNamespace);
  return JSON.stringify([n.group, n.kind, n.namespace, n.name, n.sectionName ?? '', n.port ?? 0]);
}

/** A RouteParentStatus as the apiserver stores it (parentRef defaults filled). */
export function normalizeRouteParent(p: RouteParentStatus): RouteParentStatus {
  return { ...p, parentRef: normalizeParentRef(p.parentRef) };
}

/** A Gateway status as the apiserver stores it (address type and supportedKinds group defaulted). */
export function normalizeGatewayStatus(s: GatewayStatus | undefined): GatewayStatus {
  const out: GatewayStatus = { ...(s ?? {}) };
  if (s?.addresses !== undefined) out.addresses = s.addresses.map((a) => ({ ...a, type: a.type ?? 'IPAddress' }));
  if (s?.listeners !== undefined) {
    out.listeners = s.listeners.map((l) => ({
      ...l,
      supportedKinds: (l.supportedKinds ?? []).map((k) => ({ ...k, group: k.group ?? GATEWAY_GROUP })),
    }));
  }
  return out;
}
