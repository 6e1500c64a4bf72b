// SPDX-License-Identifier: Apache-2.0
//
// The shared skeleton of every per-kind ensure/delete (ingress-gce's EnsureX shape: GET; create if
// missing; leave alone if equal; otherwise update), with fleet-ilb's ownership rule applied at every
// step: a resource whose stamp is not ours (fleet + Gateway uid) is never modified or deleted.
import type { Kind, KindTypes } from './cloud/client.ts';
import { foreignError, gceCategory, type ResourceRef } from './cloud/errors.ts';
import { describeOwner, ownership } from './cloud/ownership.ts';
import type { KindContext } from './context.ts';

/** What ensure did. `adopted`: an insert found the name taken by our own resource (a retried or crashed create). */
export type EnsureAction = 'unchanged' | 'created' | 'adopted' | 'updated' | 'patched' | 'recreated';

export function refOf(kind: Kind, name: string, scope?: string): ResourceRef {
  return scope === undefined ? { kind, name } : { kind, name, scope };
}

/** Throws the foreign-resource UserError unless `live` carries our stamp. */
export function assertOurs(ctx: KindContext, kind: Kind, scope: string | undefined, live: { name?: string | null; description?: string | null }): void {
  if (ownership(live.description, ctx.owner) !== 'ours') {
    throw foreignError(refOf(kind, live.name ?? '?', scope), describeOwner(live.description));
  }
}

/** GET that enforces ownership; undefined when absent. */
export async function getOwned<K extends Kind>(ctx: KindContext, kind: K, scope: string | undefined, name: string): Promise<KindTypes[K] | undefined> {
  const live = await ctx.cloud.get(kind, scope, name);
  if (live === undefined) return undefined;
  assertOurs(ctx, kind, scope, live);
  return live;
}

/**
 * Inserts `body`; when the name is already taken (409), GETs it and adopts it if it is ours (a crashed
 * or timed-out earlier attempt), else throws the foreign-resource UserError. Returns the live object
 * after adoption, undefined after a plain create (no extra read).
 */
export async function createOrAdopt<K extends Kind>(
  ctx: KindContext,
  kind: K,
  scope: string | undefined,
  body: KindTypes[K] & { name: string },
): Promise<{ action: 'created' } | { action: 'adopted'; live: KindTypes[K] }> {
  try {
    await ctx.cloud.insert(kind, scope, body);
    ctx.note({ kind, name: body.name, verb: 'insert', ...(scope === undefined ? {} : { scope }) });
    return { action: 'created' };
  } catch (e) {
    if (gceCategory(e) !== 'alreadyExists') throw e;
    const live = await getOwned(ctx, kind, scope, body.name);
    if (live === undefined) throw e; // deleted in between: let the next reconcile retry
    return { action: 'adopted', live };
  }
}

/**
 * Deletes an owned resource. `live` (from a list) saves the GET; it is re-checked for ownership.
 * 404 = done. A foreign resource is never deleted (UserError). 400 in-use surfaces as TransientError.
 */
export async function deleteOwned(
  ctx: KindContext,
  kind: Kind,
  scope: string | undefined,
  name: string,
  live?: { name?: string | null; description?: string | null },
): Promise<'deleted' | 'absent'> {
  const current = live ?? (await ctx.cloud.get(kind, scope, name));
  if (current === undefined) return 'absent';
  assertOurs(ctx, kind, scope, current);
  const r = await ctx.cloud.delete(kind, scope, name);
  if (r === 'deleted') ctx.note({ kind, name, verb: 'delete', ...(scope === undefined ? {} : { scope }) });
  return r;
}
