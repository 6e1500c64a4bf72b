// SPDX-License-Identifier: Apache-2.0
//
// Global VPC firewall rules for a Gateway: health-check probe ranges -> health-check ports, and the
// configured client ranges -> listener ports, `destinationRanges: [VIP]`, targeted at node tags
// (docs/architecture.md "What a Gateway becomes"; battery H3 in docs/failure-rules.md). Created
// when missing, replaced with PUT `update` on diff (PUT so that removed ranges/tags are really
// removed; PATCH cannot clear lists).
import type { IFirewall } from './cloud/client.ts';
import { diffOwned } from './cloud/compare.ts';
import { sameStamp } from './cloud/ownership.ts';
import type { KindContext } from './context.ts';
import type { Firewall } from './desired.ts';
import { createOrAdopt, deleteOwned, getOwned, type EnsureAction } from './resource.ts';

/** Owned fields of `desired` that differ in `live`. Pure. */
export function firewallDiff(desired: Firewall, live: IFirewall): string[] {
  const d = diffOwned(desired, live, ['name', 'description']);
  if (!sameStamp(desired.description, live.description)) d.push('description');
  return d;
}

/** True when `live` matches every owned field of `desired`. */
export function firewallEqual(desired: Firewall, live: IFirewall): boolean {
  return firewallDiff(desired, live).length === 0;
}

/** Creates or updates one firewall rule. `live`: undefined = GET first, null = known absent. */
export async function ensureFirewall(ctx: KindContext, desired: Firewall, live?: IFirewall | null): Promise<EnsureAction> {
  let current = live === undefined ? await getOwned(ctx, 'firewall', undefined, desired.name) : (live ?? undefined);
  let created: EnsureAction = 'unchanged';
  if (current === undefined) {
    const r = await createOrAdopt(ctx, 'firewall', undefined, desired);
    if (r.action === 'created') return 'created';
    current = r.live;
    created = 'adopted';
  }
  if (firewallDiff(desired, current).length === 0) return created;
  await ctx.cloud.update('firewall', undefined, desired.name, desired);
  ctx.note({ kind: 'firewall', name: desired.name, verb: 'update' });
  return 'updated';
}

/** Deletes one firewall rule (404 = done; never a foreign one). */
export async function deleteFirewall(ctx: KindContext, name: string, live?: IFirewall): Promise<'deleted' | 'absent'> {
  return deleteOwned(ctx, 'firewall', undefined, name, live);
}
