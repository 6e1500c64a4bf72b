// SPDX-License-Identifier: Apache-2.0
//
// Regional INTERNAL forwarding rules, one per listener (group), all on the Gateway's shared VIP.
// Forwarding rules are effectively immutable: only `allowGlobalAccess` and `networkTier` can be
// patched (compute.proto "you can only patch the network_tier field"; GKE patches allowGlobalAccess
// in place: ingress-gce l4/forwardingrules/patchable.go). Any other difference is delete + insert,
// done while the reserved address keeps holding the VIP (docs/compute-api.md "Resources and
// fields", "Ordering").
import type { IForwardingRule } from './cloud/client.ts';
import { diffOwned, subsetEqual } from './cloud/compare.ts';
import { gceCategory } from './cloud/errors.ts';
import type { KindContext } from './context.ts';
import type { ForwardingRule } from './desired.ts';
import { syncLabels } from './labels.ts';
import { createOrAdopt, deleteOwned, getOwned, type EnsureAction } from './resource.ts';

/** The only fields a PATCH may change. */
export const FR_PATCHABLE: readonly string[] = ['allowGlobalAccess', 'networkTier'];

/** IPv4/IPv6 literal check: `IPAddress` is either the VIP literal or a reference to the address. */
export function isIpLiteral(v: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(v) || (v.includes(':') && !v.includes('/'));
}

/**
 * The body to insert: `IPAddress` becomes the VIP of the Gateway's address whenever it is known. The
 * address is the source of truth: render's `IPAddress` is either the address URL or the VIP it last
 * knew (Gateway status), and that literal may be stale if the address had to be re-reserved. What we
 * send is then also what reads return (the literal).
 */
export function resolveForwardingRule(desired: ForwardingRule, vip: string | undefined): ForwardingRule {
  if (vip === undefined || desired.IPAddress === vip) return desired;
  return { ...desired, IPAddress: vip };
}

/**
 * Owned fields of `desired` that differ in `live`. `IPAddress` is compared against `vip` when known,
 * else against desired's literal (skipped when desired holds only the address URL). Labels and description are not compared
 * (labels change only through setLabels; the stamp is checked for ownership). Pure.
 */
export function forwardingRuleDiff(desired: ForwardingRule, live: IForwardingRule, vip?: string): string[] {
  const d = diffOwned(desired, live, ['name', 'description', 'labels', 'IPAddress']);
  const ip = resolveForwardingRule(desired, vip).IPAddress;
  if (ip && isIpLiteral(ip) && !subsetEqual('IPAddress', ip, live.IPAddress)) d.push('IPAddress');
  return d.sort();
}

/** True when `live` matches every owned field of `desired`. */
export function forwardingRuleEqual(desired: ForwardingRule, live: IForwardingRule, vip?: string): boolean {
  return forwardingRuleDiff(desired, live, vip).length === 0;
}

/** How a difference can be applied: nothing, a PATCH of the patchable fields, or delete + insert. Pure. */
export function forwardingRuleChange(diff: readonly string[]): 'none' | 'patch' | 'recreate' {
  if (diff.length === 0) return 'none';
  return diff.every((f) => FR_PATCHABLE.includes(f)) ? 'patch' : 'recreate';
}

/** The PATCH body: only the patchable fields, plus the fingerprint as an optimistic lock. */
export function forwardingRulePatchBody(desired: ForwardingRule, live: IForwardingRule): IForwardingRule {
  const body: IForwardingRule = { fingerprint: live.fingerprint ?? null };
  if (desired.allowGlobalAccess !== undefined) body.allowGlobalAccess = desired.allowGlobalAccess;
  if (desired.networkTier !== undefined) body.networkTier = desired.networkTier;
  return body;
}

/**
 * Creates, patches or re-creates one forwarding rule. `live`: undefined = GET first, null = known absent.
 * `vip`: the reserved address's IP, when known.
 */
export async function ensureForwardingRule(
  ctx: KindContext,
  desired: ForwardingRule,
  live: IForwardingRule | null | undefined,
  vip: string | undefined,
): Promise<EnsureAction> {
  const body = resolveForwardingRule(desired, vip);
  let current = live === undefined ? await getOwned(ctx, 'forwardingRule', ctx.region, desired.name) : (live ?? undefined);
  let base: EnsureAction = 'unchanged';
  if (current === undefined) {
    const r = await createOrAdopt(ctx, 'forwardingRule', ctx.region, body);
    if (r.action === 'created') return 'created';
    current = r.live;
    base = 'adopted';
  }
  for (let attempt = 0; ; attempt++) {
    const change = forwardingRuleChange(forwardingRuleDiff(desired, current, vip));
    // Labels are not in the diff (setLabels only): set when ours drifted, after any patch.
    if (change === 'none') return (await syncLabels(ctx, 'forwardingRule', desired, current)) && base === 'unchanged' ? 'patched' : base;
    if (change === 'recreate') {
      await deleteOwned(ctx, 'forwardingRule', ctx.region, desired.name, current);
      await ctx.cloud.insert('forwardingRule', ctx.region, body);
      ctx.note({ kind: 'forwardingRule', name: desired.name, scope: ctx.region, verb: 'insert' });
      return 'recreated';
    }
    try {
      await ctx.cloud.patch('forwardingRule', ctx.region, desired.name, forwardingRulePatchBody(desired, current));
      ctx.note({ kind: 'forwardingRule', name: desired.name, scope: ctx.region, verb: 'patch' });
      await syncLabels(ctx, 'forwardingRule', desired, current);
      return 'patched';
    } catch (e) {
      if (gceCategory(e) !== 'fingerprintConflict' || attempt > 0) throw e;
      const fresh = await getOwned(ctx, 'forwardingRule', ctx.region, desired.name);
      if (fresh === undefined) throw e;
      current = fresh;
    }
  }
}

/** Deletes one forwarding rule (404 = done; never a foreign one). */
export async function deleteForwardingRule(ctx: KindContext, name: string, live?: IForwardingRule): Promise<'deleted' | 'absent'> {
  return deleteOwned(ctx, 'forwardingRule', ctx.region, name, live);
}
