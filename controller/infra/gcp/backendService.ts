// SPDX-License-Identifier: Apache-2.0
//
// Regional INTERNAL backend services, one per listener (group). fleet-ilb owns the whole object,
// including `backends` (the NEG list): ingress-gce's NEG linker merges into backends because another
// controller owns them there; here nobody else does. Updates are PUT with the fingerprint of a fresh
// GET ("an up-to-date fingerprint must be provided ... otherwise 412 conditionNotMet": compute.proto);
// a 412 means someone wrote in between: GET again and retry once (k8s-cloud-provider practice).
// A protocol change requires deleting the forwarding rules that point here first (cloud-provider-gcp
// gce_loadbalancer_internal.go); the plan orders that, see backendServiceNeedsFrDeletion.
import type { IBackendService } from './cloud/client.ts';
import { diffOwned } from './cloud/compare.ts';
import { gceCategory } from './cloud/errors.ts';
import { sameStamp } from './cloud/ownership.ts';
import type { KindContext } from './context.ts';
import type { BackendService } from './desired.ts';
import { createOrAdopt, deleteOwned, getOwned, type EnsureAction } from './resource.ts';

/** Owned fields of `desired` that differ in `live`. Pure. */
export function backendServiceDiff(desired: BackendService, live: IBackendService): string[] {
  const d = diffOwned(desired, live, ['name', 'description']);
  if (!sameStamp(desired.description, live.description)) d.push('description');
  return d;
}

/** True when `live` matches every owned field of `desired`. */
export function backendServiceEqual(desired: BackendService, live: IBackendService): boolean {
  return backendServiceDiff(desired, live).length === 0;
}

/** True when the update changes the protocol: its forwarding rules must be deleted before it. Pure. */
export function backendServiceNeedsFrDeletion(desired: BackendService, live: IBackendService): boolean {
  if (!desired.protocol) return false;
  return (live.protocol ?? '').toUpperCase() !== desired.protocol.toUpperCase();
}

/** Creates or updates one backend service. `live`: undefined = GET first, null = known absent. */
export async function ensureBackendService(
  ctx: KindContext,
  desired: BackendService,
  live?: IBackendService | null,
): Promise<EnsureAction> {
  let current = live === undefined ? await getOwned(ctx, 'backendService', ctx.region, desired.name) : (live ?? undefined);
  let base: EnsureAction = 'unchanged';
  if (current === undefined) {
    const r = await createOrAdopt(ctx, 'backendService', ctx.region, desired);
    if (r.action === 'created') return 'created';
    current = r.live;
    base = 'adopted';
  }
  for (let attempt = 0; ; attempt++) {
    if (backendServiceDiff(desired, current).length === 0) return base;
    try {
      await ctx.cloud.update('backendService', ctx.region, desired.name, { ...desired, fingerprint: current.fingerprint ?? null });
      ctx.note({ kind: 'backendService', name: desired.name, scope: ctx.region, verb: 'update' });
      return 'updated';
    } catch (e) {
      if (gceCategory(e) !== 'fingerprintConflict' || attempt > 0) throw e;
      const fresh = await getOwned(ctx, 'backendService', ctx.region, desired.name);
      if (fresh === undefined) throw e;
      current = fresh;
    }
  }
}

/** Deletes one backend service (404 = done; 400 in-use -> TransientError; never a foreign one). */
export async function deleteBackendService(ctx: KindContext, name: string, live?: IBackendService): Promise<'deleted' | 'absent'> {
  return deleteOwned(ctx, 'backendService', ctx.region, name, live);
}
