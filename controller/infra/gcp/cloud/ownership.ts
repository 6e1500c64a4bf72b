// SPDX-License-Identifier: Apache-2.0
//
// Ownership decisions over the stamp in `description` (naming/stamp.ts; docs/failure-rules.md
// "Deletion and ownership": resources whose ownership stamp is not ours are never modified or
// deleted). A live resource is ours only when its
// stamp names our fleet AND the same Gateway uid: a stamp of another Gateway (even one of the same
// namespace/name re-created with a new uid) is foreign for this Gateway's apply, and the sweeper, not
// apply, removes it once no Gateway wants it.
// A shared NEG (naming/stamp.ts `isShared`: no Gateway uid) is ours for every Gateway of the fleet:
// any of them may create it, adopt it and sync its endpoints, and none deletes it while another
// Gateway claims or references it (inventory.ts `negInUse`; docs/architecture.md "Shared NEGs").
import { decodeStamp, isShared, type OwnershipStamp } from '../../../naming/stamp.ts';

/** Who applies: the fleet id and the Gateway uid. */
export interface Owner {
  fleet: string;
  gatewayUid: string;
}

export type Ownership = 'ours' | 'foreign';

/** 'ours' when `description` decodes to a stamp of `owner.fleet` and `owner.gatewayUid`. */
export function ownership(description: string | null | undefined, owner: Owner): Ownership {
  const s = decodeStamp(description);
  return s !== undefined && s.fleet === owner.fleet && (s.gatewayUid === owner.gatewayUid || isShared(s)) ? 'ours' : 'foreign';
}

/** Human description of who owns a foreign resource, for the UserError message. */
export function describeOwner(description: string | null | undefined): string {
  const s = decodeStamp(description);
  if (s === undefined) return description ? 'description is not a fleet-ilb stamp' : 'no ownership stamp';
  if (isShared(s)) return `stamped for fleet ${s.fleet}, shared by the Gateways of ${s.lb ?? '?'}`;
  return `stamped for fleet ${s.fleet}, Gateway ${s.gateway} uid ${s.gatewayUid}`;
}

/** True when two descriptions carry the same stamp (key order and spacing ignored). */
export function sameStamp(a: string | null | undefined, b: string | null | undefined): boolean {
  const sa = decodeStamp(a);
  const sb = decodeStamp(b);
  if (sa === undefined || sb === undefined) return (a ?? '') === (b ?? '');
  const keys: Array<keyof OwnershipStamp> = ['controller', 'fleet', 'gateway', 'gatewayUid', 'listener', 'cluster', 'lb'];
  return keys.every((k) => sa[k] === sb[k]);
}

/** The stamp of a live resource when it belongs to `fleet` (any Gateway). */
export function fleetStamp(description: string | null | undefined, fleet: string): OwnershipStamp | undefined {
  const s = decodeStamp(description);
  return s !== undefined && s.fleet === fleet ? s : undefined;
}
