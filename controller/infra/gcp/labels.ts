// SPDX-License-Identifier: Apache-2.0
//
// Keeping fleet-ilb's labels (naming/gcelabels.ts) on an address or forwarding rule that exists:
// labels are set at insert; a resource created before fleet-ilb labelled, or whose labels someone
// changed, gets them with `setLabels` (the one way to change labels on these kinds:
// https://cloud.google.com/compute/docs/reference/rest/v1/forwardingRules/setLabels). The user's
// own labels on it are kept; only ours are compared.
import type { IAddress, IForwardingRule } from './cloud/client.ts';
import type { KindContext } from './context.ts';
import { mergedLabels } from '../../naming/gcelabels.ts';

/** True when `live` lacks one of `desired`'s labels or holds another value for it. Pure. */
export function labelsDrift(desired: { labels?: Record<string, string> | null }, live: { labels?: Record<string, string> | null }): boolean {
  return mergedLabels(desired.labels, live.labels) !== undefined;
}

/** setLabels when our labels drifted (one write, with the live labelFingerprint); true when it wrote. */
export async function syncLabels(
  ctx: KindContext,
  kind: 'address' | 'forwardingRule',
  desired: { name: string; labels?: Record<string, string> | null },
  live: IAddress | IForwardingRule,
): Promise<boolean> {
  const labels = mergedLabels(desired.labels, live.labels);
  if (labels === undefined) return false;
  await ctx.cloud.setLabels(kind, ctx.region, desired.name, labels, live.labelFingerprint);
  ctx.note({ kind, name: desired.name, scope: ctx.region, verb: 'setLabels' });
  return true;
}
