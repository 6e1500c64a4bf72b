// SPDX-License-Identifier: Apache-2.0
//
// Reads what exists in GCE for one Gateway (apply, teardown) or for the whole fleet (sweep).
// One list per kind per scope (regional addresses, health checks, backend services, forwarding rules;
// global firewalls; one aggregatedList for NEGs in every zone) instead of a GET per desired name:
// the lists also find what this Gateway owns but no longer wants (a removed listener, a deleted
// member), which is what makes a restarted controller converge without any cache
// (docs/failure-rules.md "Deletion and ownership"). Ownership is decided only by the stamp
// (ownership.ts); a resource holding a desired name without
// our stamp is kept too, so the plan can refuse to touch it and say why.
import type { GceCloud, IAddress, IBackendService, IFirewall, IForwardingRule, IHealthCheck, INetworkEndpoint, INetworkEndpointGroup } from './cloud/client.ts';
import { mapLimit } from './cloud/pool.ts';
import { fleetStamp, ownership, type Owner } from './cloud/ownership.ts';
import { decodeStamp, isShared, type OwnershipStamp } from '../../naming/stamp.ts';
import { lastSegment, resourcePath } from './cloud/urls.ts';

/** Key of a zonal NEG in maps: `project/zone/name` (member NEGs may live in a Shared VPC service project). */
export function negKey(project: string, zone: string, name: string): string {
  return `${project}/${zone}/${name}`;
}

/** negKey of a NEG URL (`.../projects/P/zones/Z/networkEndpointGroups/N`), else undefined. */
export function negKeyOfUrl(url: string | null | undefined): string | undefined {
  const m = /^projects\/([^/]+)\/zones\/([^/]+)\/networkEndpointGroups\/([^/]+)$/.exec(resourcePath(url ?? ''));
  return m === null ? undefined : negKey(m[1]!, m[2]!, m[3]!);
}

/**
 * The NEGs (negKey) and health checks (name) that `owner`'s backend services use now. Shared ones
 * (docs/architecture.md "Shared NEGs and health checks") are indexed by no Gateway: this is how a
 * Gateway finds the ones it must release (plan) or tear down, and keep.ts the NEGs of frozen members.
 */
export function usedByBackendServices(backendServices: Iterable<IBackendService>, owner: Owner): { negs: Set<string>; healthChecks: Set<string> } {
  const negs = new Set<string>();
  const healthChecks = new Set<string>();
  for (const bs of backendServices) {
    if (ownership(bs.description, owner) !== 'ours') continue;
    for (const b of bs.backends ?? []) {
      const k = negKeyOfUrl(b.group);
      if (k !== undefined) negs.add(k);
    }
    for (const u of bs.healthChecks ?? []) healthChecks.add(lastSegment(u));
  }
  return { negs, healthChecks };
}

/** A listed NEG with where it lives. */
export interface LiveNeg {
  project: string;
  zone: string;
  neg: INetworkEndpointGroup;
}

/** Live resources relevant to one Gateway, by name (NEGs by `zone/name`). */
export interface Observed {
  address: Map<string, IAddress>;
  healthCheck: Map<string, IHealthCheck>;
  backendService: Map<string, IBackendService>;
  forwardingRule: Map<string, IForwardingRule>;
  networkEndpointGroup: Map<string, LiveNeg>;
  firewall: Map<string, IFirewall>;
  /** Current endpoints of the NEGs that apply will diff (existing, ours, desired, not frozen). */
  endpoints: Map<string, INetworkEndpoint[]>;
}

/** Names apply wants, so same-named foreign resources are observed (and refused) too. */
export interface WantedNames {
  address: ReadonlySet<string>;
  healthCheck: ReadonlySet<string>;
  backendService: ReadonlySet<string>;
  forwardingRule: ReadonlySet<string>;
  /** `project/zone/name` keys (negKey). */
  networkEndpointGroup: ReadonlySet<string>;
  firewall: ReadonlySet<string>;
}

const NONE: WantedNames = {
  address: new Set(),
  healthCheck: new Set(),
  backendService: new Set(),
  forwardingRule: new Set(),
  networkEndpointGroup: new Set(),
  firewall: new Set(),
};

interface RawLists {
  address: Array<Scoped<IAddress>>;
  healthCheck: Array<Scoped<IHealthCheck>>;
  backendService: Array<Scoped<IBackendService>>;
  forwardingRule: Array<Scoped<IForwardingRule>>;
  networkEndpointGroup: LiveNeg[];
  firewall: IFirewall[];
}

/** A listed regional resource with the region it was listed in. */
interface Scoped<T> {
  region: string;
  item: T;
}

/**
 * Lists every kind fleet-ilb manages in `regions` (+ global firewalls, + NEGs in all zones of the
 * cloud's project and of `negProjects`): 4 x regions + 1 + projects calls.
 */
export async function listAll(cloud: GceCloud, regions: readonly string[], negProjects: readonly string[] = []): Promise<RawLists> {
  const tag = <T>(region: string, items: T[]): Array<Scoped<T>> => items.map((item) => ({ region, item }));
  const per = await Promise.all(
    regions.map(async (r) => {
      const [address, healthCheck, backendService, forwardingRule] = await Promise.all([
        cloud.list('address', r),
        cloud.list('healthCheck', r),
        cloud.list('backendService', r),
        cloud.list('forwardingRule', r),
      ]);
      return {
        address: tag(r, address),
        healthCheck: tag(r, healthCheck),
        backendService: tag(r, backendService),
        forwardingRule: tag(r, forwardingRule),
      };
    }),
  );
  const projects = [...new Set([cloud.project, ...negProjects])];
  const [negLists, firewall] = await Promise.all([
    Promise.all(projects.map(async (p) => (await cloud.forProject(p).listAllNegs()).map((x) => ({ project: p, ...x })))),
    cloud.list('firewall', undefined),
  ]);
  const networkEndpointGroup = negLists.flat();
  return {
    address: per.flatMap((p) => p.address),
    healthCheck: per.flatMap((p) => p.healthCheck),
    backendService: per.flatMap((p) => p.backendService),
    forwardingRule: per.flatMap((p) => p.forwardingRule),
    networkEndpointGroup,
    firewall,
  };
}

function byName<T extends { name?: string | null; description?: string | null }>(
  items: ReadonlyArray<Scoped<T>>,
  owner: Owner,
  wanted: ReadonlySet<string>,
): Map<string, T> {
  const m = new Map<string, T>();
  for (const { item: it } of items) {
    const name = it.name ?? '';
    // A shared resource is "ours" for every Gateway of the fleet: only the ones it wants or uses.
    if ((ownership(it.description, owner) === 'ours' && !isShared(decodeStamp(it.description))) || wanted.has(name)) m.set(name, it);
  }
  return m;
}

/**
 * Everything of one Gateway (stamp = owner) plus anything holding a wanted name, in `region`.
 * `endpointsFor`: `zone/name` keys of NEGs whose endpoints to list (only existing, owned ones are listed).
 */
export async function observeGateway(
  cloud: GceCloud,
  opts: {
    region: string;
    owner: Owner;
    wanted?: WantedNames;
    endpointsFor?: ReadonlySet<string>;
    /** Projects besides the cloud's where this Gateway's NEGs may live. */
    negProjects?: readonly string[];
    concurrency?: number;
  },
): Promise<Observed> {
  const wanted = opts.wanted ?? NONE;
  const raw = await listAll(cloud, [opts.region], opts.negProjects);
  const backendService = byName(raw.backendService, opts.owner, wanted.backendService);
  // Shared NEGs and health checks: the wanted ones and those its backend services use.
  const used = usedByBackendServices(backendService.values(), opts.owner);
  const usedNegs = new Set([...wanted.networkEndpointGroup, ...used.negs]);
  const usedHcs = new Set([...wanted.healthCheck, ...used.healthChecks]);
  const negs = new Map<string, LiveNeg>();
  for (const x of raw.networkEndpointGroup) {
    const key = negKey(x.project, x.zone, x.neg.name ?? '');
    if ((ownership(x.neg.description, opts.owner) === 'ours' && !isShared(decodeStamp(x.neg.description))) || usedNegs.has(key)) negs.set(key, x);
  }
  const observed: Observed = {
    address: byName(raw.address, opts.owner, wanted.address),
    healthCheck: byName(raw.healthCheck, opts.owner, usedHcs),
    backendService,
    forwardingRule: byName(raw.forwardingRule, opts.owner, wanted.forwardingRule),
    networkEndpointGroup: negs,
    firewall: byName(raw.firewall.map((item) => ({ region: '', item })), opts.owner, wanted.firewall),
    endpoints: new Map(),
  };
  const toList = [...(opts.endpointsFor ?? [])].filter((k) => {
    const x = negs.get(k);
    return x !== undefined && ownership(x.neg.description, opts.owner) === 'ours';
  });
  const listed = await mapLimit(toList, opts.concurrency ?? 4, async (k) => {
    const x = negs.get(k)!;
    return [k, await cloud.forProject(x.project).listNetworkEndpoints(x.zone, x.neg.name ?? '')] as const;
  });
  for (const r of listed) {
    if (!r.ok) throw r.error;
    observed.endpoints.set(r.value[0], r.value[1]);
  }
  return observed;
}

/** One fleet-owned resource found by a sweep listing. */
export interface FleetResource {
  kind: 'address' | 'healthCheck' | 'backendService' | 'forwardingRule' | 'networkEndpointGroup' | 'firewall';
  name: string;
  /** Region (regional kinds), zone (NEGs), undefined (firewalls). */
  scope?: string;
  /** Project (differs from the cloud's only for NEGs in a Shared VPC service project). */
  project: string;
  stamp: OwnershipStamp;
  creationTimestamp?: string;
  live: { name?: string | null; description?: string | null };
}

type FleetLive = { name?: string | null; description?: string | null; creationTimestamp?: string | null };

/** A live resource as a FleetResource when its stamp names `fleet` (listing and the inventory share it). */
export function fleetResource(fleet: string, kind: FleetResource['kind'], live: FleetLive, scope: string | undefined, project: string): FleetResource | undefined {
  const stamp = fleetStamp(live.description, fleet);
  if (stamp === undefined) return undefined;
  return {
    kind,
    name: live.name ?? '',
    stamp,
    live,
    project,
    ...(scope === undefined ? {} : { scope }),
    ...(live.creationTimestamp ? { creationTimestamp: live.creationTimestamp } : {}),
  };
}

/** Every resource stamped for `fleet` in `regions` (+ global firewalls, + NEGs in all zones). */
export async function observeFleet(cloud: GceCloud, fleet: string, regions: readonly string[], negProjects: readonly string[] = []): Promise<FleetResource[]> {
  const raw = await listAll(cloud, regions, negProjects);
  const out: FleetResource[] = [];
  const add = (kind: FleetResource['kind'], live: FleetLive, scope: string | undefined, project: string = cloud.project): void => {
    const r = fleetResource(fleet, kind, live, scope, project);
    if (r !== undefined) out.push(r);
  };
  for (const k of ['address', 'healthCheck', 'backendService', 'forwardingRule'] as const) {
    for (const x of raw[k] as Array<Scoped<{ name?: string | null; description?: string | null }>>) add(k, x.item, x.region);
  }
  for (const x of raw.networkEndpointGroup) add('networkEndpointGroup', x.neg, x.zone, x.project);
  for (const x of raw.firewall) add('firewall', x, undefined);
  return out;
}
