// SPDX-License-Identifier: Apache-2.0
//
// Zonal GCE_VM_IP network endpoint groups, one per backend set x member cluster x zone, shared by the
// Gateways with that backend set (docs/architecture.md "Shared NEGs"), and their
// endpoints (node VMs). The NEG itself is immutable: created when missing; a changed
// network/subnetwork/type means delete + create, allowed only while no backend service references it
// (the API refuses to delete a referenced NEG: compute.proto). Endpoints are applied as a diff against
// listNetworkEndpoints, attach/detach in batches of at most 500 (the API's per-call limit; ingress-gce
// neg/syncers/transaction.go, terraform), and not at all while the member is frozen
// (docs/failure-rules.md: an unreachable member's endpoints stay as they were).
import { MAX_ENDPOINTS_PER_CALL, type INetworkEndpoint, type INetworkEndpointGroup } from './cloud/client.ts';
import { diffOwned } from './cloud/compare.ts';
import { userErrorFor } from './cloud/errors.ts';
import { lastSegment } from './cloud/urls.ts';
import type { KindContext } from './context.ts';
import type { NetworkEndpoint, NetworkEndpointGroup } from './desired.ts';
import { createOrAdopt, deleteOwned, getOwned, refOf, type EnsureAction } from './resource.ts';

/** Owned fields of `desired` that differ in `live` (all of them immutable). Pure. */
export function negDiff(desired: NetworkEndpointGroup, live: INetworkEndpointGroup): string[] {
  return diffOwned(desired, live, ['name', 'description', 'annotations']);
}

/** True when `live` matches every owned field of `desired`. */
export function negEqual(desired: NetworkEndpointGroup, live: INetworkEndpointGroup): boolean {
  return negDiff(desired, live).length === 0;
}

/** Identity of a GCE_VM_IP endpoint: instance name (URLs reduced to the name) + IP. */
export function endpointKey(e: INetworkEndpoint): string {
  return `${lastSegment(e.instance ?? '')}|${e.ipAddress ?? ''}`;
}

/** What to attach and detach to turn `live` into `desired`. Pure; output sorted for stable batches. */
export function endpointDiff(
  desired: readonly NetworkEndpoint[],
  live: readonly INetworkEndpoint[],
): { attach: INetworkEndpoint[]; detach: INetworkEndpoint[] } {
  const want = new Map(desired.map((e) => [endpointKey(e), e] as const));
  const have = new Map(live.map((e) => [endpointKey(e), e] as const));
  const attach = [...want].filter(([k]) => !have.has(k)).map(([, e]) => cleanEndpoint(e));
  const detach = [...have].filter(([k]) => !want.has(k)).map(([, e]) => cleanEndpoint(e));
  const byKey = (a: INetworkEndpoint, b: INetworkEndpoint): number => endpointKey(a).localeCompare(endpointKey(b));
  return { attach: attach.sort(byKey), detach: detach.sort(byKey) };
}

/** Only the fields a GCE_VM_IP endpoint may carry (`instance`, `ipAddress`; never a port). */
function cleanEndpoint(e: INetworkEndpoint): INetworkEndpoint {
  return { instance: e.instance ?? null, ...(e.ipAddress ? { ipAddress: e.ipAddress } : {}) };
}

/** Splits into chunks of at most `size`. */
export function batches<T>(xs: readonly T[], size: number = MAX_ENDPOINTS_PER_CALL): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/**
 * Creates the NEG if missing; re-creates it when an immutable field changed and `referencedBy` is
 * empty; otherwise throws a UserError naming the backend services that hold it.
 * `live`: undefined = GET first, null = known absent.
 */
export async function ensureNeg(
  ctx: KindContext,
  zone: string,
  desired: NetworkEndpointGroup,
  live: INetworkEndpointGroup | null | undefined,
  referencedBy: readonly string[] = [],
): Promise<EnsureAction> {
  let current = live === undefined ? await getOwned(ctx, 'networkEndpointGroup', zone, desired.name) : (live ?? undefined);
  let base: EnsureAction = 'unchanged';
  if (current === undefined) {
    const r = await createOrAdopt(ctx, 'networkEndpointGroup', zone, desired);
    if (r.action === 'created') return 'created';
    current = r.live;
    base = 'adopted';
  }
  const diff = negDiff(desired, current);
  if (diff.length === 0) return base;
  if (referencedBy.length > 0) {
    throw userErrorFor(
      refOf('networkEndpointGroup', desired.name, zone),
      `network endpoint group ${zone}/${desired.name} must be re-created (${diff.join(', ')} changed) but backend service(s) ${referencedBy.join(', ')} still use it`,
    );
  }
  await deleteOwned(ctx, 'networkEndpointGroup', zone, desired.name, current);
  await ctx.cloud.insert('networkEndpointGroup', zone, desired);
  ctx.note({ kind: 'networkEndpointGroup', name: desired.name, scope: zone, verb: 'insert' });
  return 'recreated';
}

export interface EndpointSync {
  attached: number;
  detached: number;
  /** Number of attach/detach calls made. */
  calls: number;
}

/**
 * Makes the NEG hold exactly `desired`. `live`: the current endpoints (undefined = list them; [] for a
 * NEG just created). Order: detach endpoints whose IP is about to be attached for another instance
 * (an IP appears at most once per NEG), attach, then detach the rest (capacity first).
 */
export async function syncNegEndpoints(
  ctx: KindContext,
  zone: string,
  name: string,
  desired: readonly NetworkEndpoint[],
  live?: readonly INetworkEndpoint[],
): Promise<EndpointSync> {
  const current = live ?? (await ctx.cloud.listNetworkEndpoints(zone, name));
  const { attach, detach } = endpointDiff(desired, current);
  const attachIps = new Set(attach.map((e) => e.ipAddress).filter((ip): ip is string => !!ip));
  const first = detach.filter((e) => e.ipAddress && attachIps.has(e.ipAddress));
  const rest = detach.filter((e) => !(e.ipAddress && attachIps.has(e.ipAddress)));
  let calls = 0;
  const run = async (verb: 'attach' | 'detach', eps: INetworkEndpoint[]): Promise<void> => {
    for (const b of batches(eps)) {
      if (verb === 'attach') await ctx.cloud.attachNetworkEndpoints(zone, name, b);
      else await ctx.cloud.detachNetworkEndpoints(zone, name, b);
      calls++;
      ctx.note({ kind: 'networkEndpointGroup', name, scope: zone, verb });
    }
  };
  await run('detach', first);
  await run('attach', attach);
  await run('detach', rest);
  return { attached: attach.length, detached: detach.length, calls };
}

/** Deletes one NEG (404 = done; 400 in-use -> TransientError; never a foreign one). */
export async function deleteNeg(ctx: KindContext, zone: string, name: string, live?: INetworkEndpointGroup): Promise<'deleted' | 'absent'> {
  return deleteOwned(ctx, 'networkEndpointGroup', zone, name, live);
}
