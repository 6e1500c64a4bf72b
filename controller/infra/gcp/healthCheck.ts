// SPDX-License-Identifier: Apache-2.0
//
// Regional health checks, one per backend group (docs/architecture.md "What a Gateway becomes").
// Created when missing; replaced with PUT `update` when an owned field differs (health checks have
// no fingerprint; PUT rather than PATCH
// because proto3 drops empty repeated fields, so PATCH cannot clear anything: docs/compute-api.md
// "The Node client on the wire").
import type { IHealthCheck } from './cloud/client.ts';
import { diffOwned } from './cloud/compare.ts';
import { sameStamp } from './cloud/ownership.ts';
import type { KindContext } from './context.ts';
import type { HealthCheck } from './desired.ts';
import { createOrAdopt, deleteOwned, getOwned, type EnsureAction } from './resource.ts';

/** Owned fields of `desired` that differ in `live` (the stamp counts as `description`). Pure. */
export function healthCheckDiff(desired: HealthCheck, live: IHealthCheck): string[] {
  const d = diffOwned(desired, live, ['name', 'description']);
  if (!sameStamp(desired.description, live.description)) d.push('description');
  return d;
}

/** True when `live` matches every owned field of `desired`. */
export function healthCheckEqual(desired: HealthCheck, live: IHealthCheck): boolean {
  return healthCheckDiff(desired, live).length === 0;
}

/** Creates or updates one health check. `live`: undefined = GET first, null = known absent. */
export async function ensureHealthCheck(ctx: KindContext, desired: HealthCheck, live?: IHealthCheck | null): Promise<EnsureAction> {
  let current = live === undefined ? await getOwned(ctx, 'healthCheck', ctx.region, desired.name) : (live ?? undefined);
  let created: EnsureAction = 'unchanged';
  if (current === undefined) {
    const r = await createOrAdopt(ctx, 'healthCheck', ctx.region, desired);
    if (r.action === 'created') return 'created';
    current = r.live;
    created = 'adopted';
  }
  if (healthCheckDiff(desired, current).length === 0) return created;
  await ctx.cloud.update('healthCheck', ctx.region, desired.name, desired);
  ctx.note({ kind: 'healthCheck', name: desired.name, scope: ctx.region, verb: 'update' });
  return 'updated';
}

/** Deletes one health check (404 = done; 400 in-use -> TransientError; never a foreign one). */
export async function deleteHealthCheck(ctx: KindContext, name: string, live?: IHealthCheck): Promise<'deleted' | 'absent'> {
  return deleteOwned(ctx, 'healthCheck', ctx.region, name, live);
}
