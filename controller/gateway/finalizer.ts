// SPDX-License-Identifier: Apache-2.0
//
// The Gateway finalizer `fleetilb.io/cleanup` (DESIGN.md §6: deleting a Gateway tears down exactly
// what it owns, then drops the finalizer). `metadata.finalizers` is shared with other controllers,
// so it is never merge-patched as a whole array (that would drop an entry another writer added
// meanwhile; kubernetes-testing-and-client.md §3.3). Instead a JSON Patch whose first operation is a
// `test` — on the finalizers array we saw (or on resourceVersion when there is none), or on the
// element we remove — followed by `add`/`remove`. A failed `test` comes back as HTTP 422: the
// helper then re-reads the Gateway and tries again (bounded); a 422 on a fresh copy is a real error.
import type { Gateway } from '../api/index.ts';
import { keyOf } from '../api/index.ts';
import { TransientError } from '../errors/index.ts';
import { type JsonPatchOp, KubeApi, isConflict, isNotFound, objectPath } from '../status/kube.ts';
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
async function testAndPatch(api: KubeApi, gw: GatewayLike, plan: (live: GatewayLike) => Plan, attempts: number): Promise<boolean> {
  const ns = gw.metadata.namespace ?? '';
  const path = objectPath(RT.gateways, ns, gw.metadata.name);
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
      const fresh: GatewayLike | undefined = await api.get<Gateway>(path);
      const unchanged =
        fresh !== undefined &&
        fresh.metadata.resourceVersion === live.metadata.resourceVersion &&
        JSON.stringify(fresh.metadata.finalizers ?? []) === JSON.stringify(live.metadata.finalizers ?? []);
      if (unchanged) throw err; // the patch itself is invalid, not stale
      if (attempt >= attempts) throw new TransientError(`Gateway ${keyOf(gw.metadata)}: finalizer still conflicting after ${attempt} attempts`, { cause: err });
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
  return testAndPatch(
    gatewayApi(deps),
    gw,
    (live) => {
      const fins = live.metadata.finalizers ?? [];
      if (fins.includes(FINALIZER) || live.metadata.deletionTimestamp !== undefined) return { done: true };
      if (fins.length === 0) {
        return {
          ops: [
            { op: 'test', path: '/metadata/resourceVersion', value: live.metadata.resourceVersion },
            { op: 'add', path: '/metadata/finalizers', value: [FINALIZER] },
          ],
        };
      }
      return {
        ops: [
          { op: 'test', path: '/metadata/finalizers', value: fins },
          { op: 'add', path: '/metadata/finalizers/-', value: FINALIZER },
        ],
      };
    },
    deps.maxAttempts ?? 5,
  );
}

/** Remove `fleetilb.io/cleanup` (after teardown). No request when absent. Resolves true when it wrote. */
export async function removeFinalizer(gw: GatewayLike, deps: GatewayHelperDeps): Promise<boolean> {
  return testAndPatch(
    gatewayApi(deps),
    gw,
    (live) => {
      const i = (live.metadata.finalizers ?? []).indexOf(FINALIZER);
      if (i < 0) return { done: true };
      return {
        ops: [
          { op: 'test', path: `/metadata/finalizers/${i}`, value: FINALIZER },
          { op: 'remove', path: `/metadata/finalizers/${i}` },
        ],
      };
    },
    deps.maxAttempts ?? 5,
  );
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
