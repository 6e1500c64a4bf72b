// SPDX-License-Identifier: Apache-2.0
//
// The periodic orphan sweep (docs/failure-rules.md "Deletion and ownership"; battery B3: a user
// strips the finalizer, the Gateway disappears, its resources stay). It lists every kind once per
// scope, keeps only resources whose stamp names THIS fleet, and deletes
// those whose Gateway uid is not in the wanted set, in reverse dependency order. Resources without
// our fleet's stamp are never touched, whatever their name.
//
// Safety: the caller must pass the uids of every Gateway it manages from a synced cache (a Gateway the
// cache has not seen yet would look unwanted). As a second guard, resources younger than `minAgeMs`
// (creationTimestamp) are skipped, so a Gateway created between the cache read and the sweep keeps
// what its first apply made.
import type { GceCloud, IBackendService } from './cloud/client.ts';
import { withResource } from './cloud/errors.ts';
import { mapLimit } from './cloud/pool.ts';
import type { KindContext, WriteNote } from './context.ts';
import { observeFleet, type FleetResource } from './observe.ts';
import { deleteOwned } from './resource.ts';
import { releaseShared } from './apply.ts';
import { hcKey, type GceInventory } from './inventory.ts';
import { lastSegment } from './cloud/urls.ts';
import { negKey, negKeyOfUrl } from './observe.ts';
import { isShared } from '../../naming/stamp.ts';

export interface SweepDeps {
  cloud: GceCloud;
  /** Regions to sweep (regional kinds); NEGs (all zones) and firewalls (global) are always swept. */
  regions: readonly string[];
  /** Projects besides the cloud's whose NEGs to sweep (members in Shared VPC service projects). */
  negProjects?: readonly string[];
  /** Skip resources created less than this long ago. Default 10 min. Tests pass 0. */
  minAgeMs?: number;
  /** Default 4. */
  concurrency?: number;
  /** List and decide only. */
  dryRun?: boolean;
  /** Clock for the age check. Default Date.now. */
  now?: () => number;
  /** The shared inventory: read from it (refreshed by the resync) instead of listing, and tell it of deletes. */
  inventory?: GceInventory;
}

export interface SweepResult {
  /** Orphans found (deleted unless dry run), in deletion order. */
  orphans: FleetResource[];
  /** Successful deletes. */
  writes: WriteNote[];
  /** Orphans skipped because they are younger than minAgeMs. */
  skippedYoung: number;
  /** Failures (in-use, transient); the next sweep retries them. */
  errors: unknown[];
}

const ORDER: ReadonlyArray<FleetResource['kind']> = ['forwardingRule', 'backendService', 'healthCheck', 'networkEndpointGroup', 'firewall', 'address'];

/**
 * Deletes this fleet's resources whose Gateway uid is not in `wantedGatewayUids`. Later kinds are
 * attempted even when an earlier kind had failures (best effort; their in-use errors are expected and
 * the next period retries).
 */
export async function sweepGce(fleetId: string, wantedGatewayUids: Iterable<string>, deps: SweepDeps): Promise<SweepResult> {
  const wanted = new Set(wantedGatewayUids);
  const now = (deps.now ?? Date.now)();
  const minAge = deps.minAgeMs ?? 10 * 60_000;
  const writes: WriteNote[] = [];
  const errors: unknown[] = [];
  let all: FleetResource[];
  try {
    if (deps.inventory !== undefined) {
      const projects = [deps.cloud.project, ...(deps.negProjects ?? []).filter((p) => p !== deps.cloud.project)];
      all = [];
      for (const p of projects) all.push(...(await deps.inventory.fleetResources(p, p === deps.cloud.project ? deps.regions : [])));
    } else {
      all = await observeFleet(deps.cloud, fleetId, deps.regions, deps.negProjects ?? []);
    }
  } catch (e) {
    return { orphans: [], writes, skippedYoung: 0, errors: [withResource(e)] };
  }
  let skippedYoung = 0;
  // Shared NEGs and health checks (docs/architecture.md "Shared NEGs and health checks") belong to
  // no Gateway: one is an orphan when no backend service of the fleet in its load-balancer scope uses
  // it and no Gateway claims it. Decided only by the sweep of that scope (it has read those backend
  // services).
  const backendServices = all.filter((r) => r.kind === 'backendService').map((r): { region: string; bs: IBackendService } => ({ region: r.scope ?? '', bs: r.live }));
  const referenced = new Set(backendServices.flatMap(({ bs }) => (bs.backends ?? []).map((b) => negKeyOfUrl(b.group) ?? '')));
  const referencedHcs = new Set(backendServices.flatMap(({ region, bs }) => (bs.healthChecks ?? []).map((u) => hcKey(deps.cloud.project, region, lastSegment(u)))));
  const swept = new Set(deps.regions.map((r) => `${deps.cloud.project}/${r}`));
  const sharedOrphan = (r: FleetResource): boolean => {
    if (!swept.has(r.stamp.lb ?? '')) return false;
    if (r.kind === 'healthCheck') {
      return !referencedHcs.has(hcKey(r.project, r.scope ?? '', r.name)) && deps.inventory?.healthCheckInUse(r.project, r.scope ?? '', r.name, '') !== true;
    }
    const key = negKey(r.project, r.scope ?? '', r.name);
    return r.kind === 'networkEndpointGroup' && !referenced.has(key) && deps.inventory?.negInUse(key, '') !== true;
  };
  const orphans = all.filter((r) => {
    if (isShared(r.stamp) ? !sharedOrphan(r) : wanted.has(r.stamp.gatewayUid)) return false;
    const created = r.creationTimestamp ? Date.parse(r.creationTimestamp) : NaN;
    if (minAge > 0 && (Number.isNaN(created) || now - created < minAge)) {
      skippedYoung++;
      return false;
    }
    return true;
  });
  orphans.sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
  if (deps.dryRun) return { orphans, writes, skippedYoung, errors };
  for (const kind of ORDER) {
    const batch = orphans.filter((o) => o.kind === kind);
    const results = await mapLimit(batch, deps.concurrency ?? 4, async (o) => {
      const ctx: KindContext = {
        cloud: deps.cloud.forProject(o.project),
        project: o.project,
        region: o.scope ?? '',
        owner: { fleet: fleetId, gatewayUid: o.stamp.gatewayUid },
        note: (w) => writes.push(w),
      };
      const ref = { project: o.project, kind: o.kind, name: o.name, ...(o.scope === undefined ? {} : { scope: o.scope }) };
      deps.inventory?.beginWrite(ref);
      let kept = false;
      try {
        // A shared one is re-checked under its lock: a Gateway may have claimed it since the list.
        if (o.kind === 'networkEndpointGroup' || o.kind === 'healthCheck') kept = (await releaseShared(ctx, o.kind, o.scope ?? '', o.name, o.live, deps.inventory)) === 'kept';
        else await deleteOwned(ctx, o.kind, o.scope, o.name, o.live);
      } finally {
        deps.inventory?.endWrite(ref);
      }
      if (!kept) deps.inventory?.deleted(ref);
    });
    for (const r of results) if (!r.ok) errors.push(withResource(r.error));
  }
  return { orphans, writes, skippedYoung, errors };
}

/** Alias with the name used in the design brief. */
export const sweep = sweepGce;
