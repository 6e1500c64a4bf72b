// SPDX-License-Identifier: Apache-2.0
//
// The Gateway finalizer `fleetilb.io/cleanup` (docs/failure-rules.md "Deletion and ownership":
// deleting a Gateway tears down exactly what it owns, then drops the finalizer).
// `metadata.finalizers` is shared with other controllers,
// so it is never merge-patched as a whole array (that would drop an entry another writer added
// meanwhile; docs/architecture.md "Kubernetes clients"). Instead a JSON Patch whose first operation
// is a `test` — on the finalizers array we saw (or on resourceVersion when there is none), or on
// the
// element we remove — followed by `add`/`remove`. A failed `test` comes back as HTTP 422: the
// helper then re-reads the Gateway and tries again (bounded); a 422 on a fresh copy is a real error.
import type { Gateway } from '../api/index.ts';
import { keyOf } from '../api/index.ts';
import { TransientError } from '../errors/index.ts';
import { type JsonPatchOp, KubeApi, isConflict, isNotFound, objectPath, type ResourceType } from '../status/kube.ts';
import { RT } from '../status/resources.ts';
import { statusCodeOf } from '../clusters/errors.ts';
import { type GatewayHelperDeps, type GatewayLike, gatewayApi } from './deps.ts';

/** fleet-ilb's Gateway finalizer. */
export const FINALIZER = 'fleetilb.io/cleanup';

/** True when the Gateway carries our finalizer. */
export function hasFinalizer(gw: GatewayLike): boolean {
  return (gw.metadata.finalizers ?? []).includes(FINALIZER);
}

type Plan = { ops: JsonPatchOp[] } | { done: true };

/**
 * Read-test-patch loop shared by add and remove. `plan` returns the patch for the live copy, or
 * `done` when nothing is to be written. Resolves true when a write was made.
 */
async function testAndPatch(api: KubeApi, gw: GatewayLike, plan: (live: GatewayLike) => Plan, attempts: number, resource: ResourceType = RT.gateways): Promise<boolean> {
  const ns = gw.metadata.namespace ?? '';
  const path = objectPath(resource, resource.namespaced ? ns : undefined, gw.metadata.name);
  const what = resource === RT.gateways ? `Gateway ${keyOf(gw.metadata)}` : `${resource.plural} ${gw.metadata.name}`;
  let live: GatewayLike | undefined = gw;
  for (let attempt = 1; ; attempt++) {
    if (live === undefined) return false; // gone: nothing to add to or remove from
    const p = plan(live);
    if ('done' in p) return false;
    try {
      await api.jsonPatch(path, p.ops);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      // 422 = our `test` failed (the object changed under us); 409 = resourceVersion conflict.
      if (!(statusCodeOf(err) === 422 || isConflict(err))) throw err;
      const fresh: GatewayLike | undefined = await api.get<GatewayLike>(path);
      const unchanged =
        fresh !== undefined &&
        fresh.metadata.resourceVersion === live.metadata.resourceVersion &&
        JSON.stringify(fresh.metadata.finalizers ?? []) === JSON.stringify(live.metadata.finalizers ?? []);
      if (unchanged) throw err; // the patch itself is invalid, not stale
      if (attempt >= attempts) throw new TransientError(`${what}: finalizer still conflicting after ${attempt} attempts`, { cause: err });
      live = fresh;
    }
  }
}

/**
 * Add `fleetilb.io/cleanup` to the Gateway (pass the cached copy; the helper re-reads on a stale
 * test). No request when it is already there or the Gateway is being deleted (the apiserver
 * refuses new finalizers then, and teardown has begun). Resolves true when it wrote.
 */
export async function addFinalizer(gw: GatewayLike, deps: GatewayHelperDeps): Promise<boolean> {
  return addFinalizerTo(gw, FINALIZER, RT.gateways, deps);
}

/** Remove `fleetilb.io/cleanup` (after teardown). No request when absent. Resolves true when it wrote. */
export async function removeFinalizer(gw: GatewayLike, deps: GatewayHelperDeps): Promise<boolean> {
  return removeFinalizerFrom(gw, FINALIZER, RT.gateways, deps);
}

function addFinalizerTo(obj: GatewayLike, finalizer: string, resource: ResourceType, deps: GatewayHelperDeps): Promise<boolean> {
  return testAndPatch(
    gatewayApi(deps),
    obj,
    (live) => {
      const fins = live.metadata.finalizers ?? [];
      if (fins.includes(finalizer) || live.metadata.deletionTimestamp !== undefined) return { done: true };
      if (fins.length === 0) {
        return {
          ops: [
            { op: 'test', path: '/metadata/resourceVersion', value: live.metadata.resourceVersion },
            { op: 'add', path: '/metadata/finalizers', value: [finalizer] },
          ],
        };
      }
      return {
        ops: [
          { op: 'test', path: '/metadata/finalizers', value: fins },
          { op: 'add', path: '/metadata/finalizers/-', value: finalizer },
        ],
      };
    },
    deps.maxAttempts ?? 5,
    resource,
  );
}

function removeFinalizerFrom(obj: GatewayLike, finalizer: string, resource: ResourceType, deps: GatewayHelperDeps): Promise<boolean> {
  return testAndPatch(
    gatewayApi(deps),
    obj,
    (live) => {
      const i = (live.metadata.finalizers ?? []).indexOf(finalizer);
      if (i < 0) return { done: true };
      return {
        ops: [
          { op: 'test', path: `/metadata/finalizers/${i}`, value: finalizer },
          { op: 'remove', path: `/metadata/finalizers/${i}` },
        ],
      };
    },
    deps.maxAttempts ?? 5,
    resource,
  );
}

/**
 * The Gateway API's GatewayClass finalizer: "Implementations MAY add the
 * `gateway-exists-finalizer.gateway.networking.k8s.io` finalizer to a GatewayClass to ensure that a
 * GatewayClass associated with a Gateway is not deleted while in use" (GatewayClass spec,
 * https://gateway-api.sigs.k8s.io/reference/spec/#gatewayclass). Without it, deleting the class
 * would make every Gateway of it "not ours" and tear down their load balancers.
 */
export const CLASS_FINALIZER = 'gateway-exists-finalizer.gateway.networking.k8s.io';

/**
 * Keep CLASS_FINALIZER on a GatewayClass exactly while Gateways name it: added when in use (not
 * while the class is being deleted: the apiserver refuses new finalizers then), removed when none
 * is left. Resolves true when it wrote.
 */
export async function syncClassFinalizer(gc: GatewayLike, inUse: boolean, deps: GatewayHelperDeps): Promise<boolean> {
  const has = (gc.metadata.finalizers ?? []).includes(CLASS_FINALIZER);
  if (inUse && !has) return addFinalizerTo(gc, CLASS_FINALIZER, RT.gatewayClasses, deps);
  if (!inUse && has) return removeFinalizerFrom(gc, CLASS_FINALIZER, RT.gatewayClasses, deps);
  return false;
}

/**
 * Make sure the live Gateway carries our finalizer before any cloud call (issue 9 defect 3):
 * 'added' when this call wrote it, 'present' when the live object already had it (the cache was
 * behind), 'gone' when the Gateway no longer exists or is being deleted (no cloud call may follow:
 * nothing would clean up after it).
 */
export async function ensureFinalizer(gw: GatewayLike, deps: GatewayHelperDeps): Promise<'added' | 'present' | 'gone'> {
  if (hasFinalizer(gw) && gw.metadata.deletionTimestamp === undefined) return 'present';
  if (await addFinalizer(gw, deps)) return 'added';
  const live = await gatewayApi(deps).get<Gateway>(objectPath(RT.gateways, gw.metadata.namespace ?? '', gw.metadata.name));
  if (live === undefined || live.metadata.deletionTimestamp !== undefined || live.metadata.uid !== gw.metadata.uid) return 'gone';
  return hasFinalizer(live) ? 'present' : 'gone';
}
