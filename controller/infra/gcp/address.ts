// SPDX-License-Identifier: Apache-2.0
//
// The Gateway's regional internal address (the VIP), purpose SHARED_LOADBALANCER_VIP so up to 10
// forwarding rules can share it (docs/compute-api.md "Resources and fields"). fleet-ilb keeps it
// for the Gateway's whole life, so a forwarding-rule re-create never loses the VIP
// (docs/compute-api.md "Ordering"). Addresses have no update
// method: any owned-field difference means delete + re-reserve, which the plan only does after the
// forwarding rules that use it are gone.
import type { IAddress } from './cloud/client.ts';
import { diffOwned } from './cloud/compare.ts';
import type { KindContext } from './context.ts';
import type { Address } from './desired.ts';
import { syncLabels } from './labels.ts';
import { createOrAdopt, deleteOwned, getOwned, type EnsureAction } from './resource.ts';

/** Fields never compared for addresses: identity, ownership (checked separately), labels (setLabels only). */
const IGNORED = ['name', 'description', 'labels'];

/** Owned fields of `desired` that differ in `live` (`address` only when desired pins the IP). Pure. */
export function addressDiff(desired: Address, live: IAddress): string[] {
  return diffOwned(desired, live, IGNORED);
}

/** True when `live` matches every owned field of `desired`. */
export function addressEqual(desired: Address, live: IAddress): boolean {
  return addressDiff(desired, live).length === 0;
}

export interface AddressOutcome {
  action: EnsureAction;
  /** The reserved IP (the VIP), when known. */
  vip?: string;
}

/**
 * Reserves the address if missing (then GETs it once to learn the allocated IP), re-reserves it when an
 * immutable field changed (callers delete its forwarding rules first), else leaves it alone.
 * `live`: undefined = not looked up yet (GET), null = known absent.
 */
export async function ensureAddress(ctx: KindContext, desired: Address, live?: IAddress | null): Promise<AddressOutcome> {
  const current = live === undefined ? await getOwned(ctx, 'address', ctx.region, desired.name) : (live ?? undefined);
  if (current !== undefined && addressDiff(desired, current).length === 0) {
    // Labels are not an owned field (no re-reserve for them): setLabels when ours drifted.
    return withVip((await syncLabels(ctx, 'address', desired, current)) ? 'updated' : 'unchanged', current);
  }
  let action: EnsureAction;
  if (current === undefined) {
    const r = await createOrAdopt(ctx, 'address', ctx.region, desired);
    if (r.action === 'adopted' && addressDiff(desired, r.live).length === 0) {
      await syncLabels(ctx, 'address', desired, r.live);
      return withVip('adopted', r.live);
    }
    if (r.action === 'adopted') {
      await recreate(ctx, desired);
      action = 'recreated';
    } else {
      action = 'created';
    }
  } else {
    await recreate(ctx, desired);
    action = 'recreated';
  }
  // One read to learn the IP the API allocated (insert returns an operation, not the address).
  const after = await getOwned(ctx, 'address', ctx.region, desired.name);
  return after === undefined ? { action } : withVip(action, after);
}

async function recreate(ctx: KindContext, desired: Address): Promise<void> {
  await deleteOwned(ctx, 'address', ctx.region, desired.name);
  await ctx.cloud.insert('address', ctx.region, desired);
  ctx.note({ kind: 'address', name: desired.name, scope: ctx.region, verb: 'insert' });
}

function withVip(action: EnsureAction, live: IAddress): AddressOutcome {
  return live.address ? { action, vip: live.address } : { action };
}

/** Releases the address (404 = done; never a foreign one). */
export async function deleteAddress(ctx: KindContext, name: string, live?: IAddress): Promise<'deleted' | 'absent'> {
  return deleteOwned(ctx, 'address', ctx.region, name, live);
}
