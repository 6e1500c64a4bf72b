// SPDX-License-Identifier: Apache-2.0
//
// Merging fleet-ilb's RouteParentStatus entries into a route's `status.parents`. Gateway API
// (apis/v1/shared_types.go RouteParentStatus,
// https://gateway-api.sigs.k8s.io/reference/spec/#routeparentstatus): several controllers share
// the list, each "MUST" manage only the entries whose `controllerName` is its own, and must remove
// its entries for parents that no longer apply. The list is `x-kubernetes-list-type: atomic`, so a
// write replaces all of it: the writer sends the merged list with a resourceVersion precondition,
// and a concurrent entry of another controller makes the write fail (409) instead of being lost.
import type { RouteParentStatus } from '../api/index.ts';
import { CONTROLLER_NAME } from '../naming/stamp.ts';
import { parentRefKey } from './normalize.ts';

/**
 * `live` with our entries replaced by `ours`: another controller's entries are kept untouched and in
 * their order; each of our live entries is replaced in place by the desired entry for the same
 * parentRef, or dropped when none is desired; desired entries without a live one are appended.
 * Replacing in place (rather than re-appending ours at the end) keeps the list stable, so two
 * controllers that both merge this way never reorder each other's entries back and forth.
 */
export function mergeRouteParents(
  live: readonly RouteParentStatus[] | undefined,
  ours: readonly RouteParentStatus[],
  routeNamespace: string,
  scope?: { namespace: string; name: string },
): RouteParentStatus[] {
  // A per-Gateway reconcile knows only its own entries: our entries for other Gateways stay.
  const outOfScope = (p: RouteParentStatus): boolean =>
    scope !== undefined &&
    !((p.parentRef.kind ?? 'Gateway') === 'Gateway' && (p.parentRef.namespace ?? routeNamespace) === scope.namespace && p.parentRef.name === scope.name);
  const desired = new Map<string, RouteParentStatus>();
  for (const p of ours) desired.set(parentRefKey(p.parentRef, routeNamespace), p);
  const placed = new Set<string>();
  const out: RouteParentStatus[] = [];
  for (const p of live ?? []) {
    if (p.controllerName !== CONTROLLER_NAME || outOfScope(p)) {
      out.push(p);
      continue;
    }
    const k = parentRefKey(p.parentRef, routeNamespace);
    const d = desired.get(k);
    if (d !== undefined && !placed.has(k)) {
      out.push(d);
      placed.add(k);
    }
  }
  for (const p of ours) {
    const k = parentRefKey(p.parentRef, routeNamespace);
    if (!placed.has(k)) {
      out.push(p);
      placed.add(k);
    }
  }
  return out;
}
