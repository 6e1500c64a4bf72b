// SPDX-License-Identifier: Apache-2.0
//
// docs/failure-rules.md "Frozen members": a member that is unreachable or whose credentials fail is
// frozen, and nothing of it is removed until it answers again or its FleetMember is deleted.
// Translate keeps the NEGs of a
// frozen member it has data for (last known copy). A controller that starts (or a replica that takes
// the lease) while a member is down has no data for it at all, so translate knows none of its NEGs;
// applying that desired state would detach the member from every backend service, delete its NEGs
// and drop its network tags from the firewalls (battery D1; karmada-io/karmada#6255).
//
// `keepClusters` closes that gap before planning: given the live resources, it adds to the desired
// state what GCE holds for the kept (frozen) members, as it is.
import type { IBackendService, IFirewall } from './cloud/client.ts';
import { ownership, type Owner } from './cloud/ownership.ts';
import { sameResource, zonalUrl } from './cloud/urls.ts';
import type { DesiredGce, DesiredNeg, Firewall } from './desired.ts';
import { decodeStamp } from '../../naming/stamp.ts';
import { negKey, type Observed } from './observe.ts';

/**
 * The desired state plus, for the member clusters in `clusters`: every live NEG of this Gateway
 * stamped with one of them (frozen: endpoints untouched), the live backends of still-desired
 * backend services that point at those NEGs, and the live firewall target tags (the members' tags
 * are unknown) — live firewalls of the Gateway that render left out are kept as they are. Pure.
 */
export function keepClusters(desired: DesiredGce, observed: Observed, owner: Owner, clusters: ReadonlySet<string>): DesiredGce {
  if (clusters.size === 0) return desired;
  const mine = (description: string | null | undefined): boolean => ownership(description, owner) === 'ours';
  const wanted = new Set(desired.negs.map((n) => negKey(n.project ?? desired.project, n.zone, n.neg.name)));

  const keptNegs: DesiredNeg[] = [];
  const keptUrls: string[] = [];
  for (const [key, x] of observed.networkEndpointGroup) {
    if (wanted.has(key) || !mine(x.neg.description)) continue;
    const cluster = decodeStamp(x.neg.description)?.cluster;
    if (cluster === undefined || !clusters.has(cluster) || !x.neg.name) continue;
    keptNegs.push({
      zone: x.zone,
      cluster,
      neg: {
        name: x.neg.name,
        description: x.neg.description ?? '',
        networkEndpointType: x.neg.networkEndpointType ?? 'GCE_VM_IP',
        ...(x.neg.network ? { network: x.neg.network } : {}),
      },
      endpoints: [],
      frozen: true,
      ...(x.project === desired.project ? {} : { project: x.project }),
    });
    keptUrls.push(zonalUrl(x.project, x.zone, 'networkEndpointGroups', x.neg.name));
  }

  const backendServices = desired.backendServices.map((bs) => {
    const live: IBackendService | undefined = observed.backendService.get(bs.name);
    if (live === undefined || !mine(live.description)) return bs;
    const have = bs.backends ?? [];
    const extra = (live.backends ?? []).filter(
      (b) => keptUrls.some((u) => sameResource(b.group, u)) && !have.some((d) => sameResource(d.group, b.group)),
    );
    if (extra.length === 0) return bs;
    return { ...bs, backends: [...have, ...extra.map((b) => ({ group: b.group ?? '', balancingMode: b.balancingMode ?? 'CONNECTION' }))] };
  });

  return keepLiveFirewalls({ ...desired, negs: [...desired.negs, ...keptNegs], backendServices }, observed, owner);
}

/**
 * The desired state with the live firewalls' target tags kept: each rendered firewall targets the
 * union of its tags and the live ones, and a live firewall of the Gateway that render did not
 * produce is kept as it is. For members whose node tags are unknown (frozen, or an instance lookup
 * failed): an unknown must never narrow or delete a firewall (docs/architecture.md). Pure.
 */
export function keepLiveFirewalls(desired: DesiredGce, observed: Observed, owner: Owner): DesiredGce {
  const mine = (description: string | null | undefined): boolean => ownership(description, owner) === 'ours';
  const firewalls: Firewall[] = desired.firewalls.map((fw) => {
    const live = observed.firewall.get(fw.name);
    if (live === undefined || !mine(live.description)) return fw;
    const tags = [...new Set([...(fw.targetTags ?? []), ...(live.targetTags ?? [])])].sort();
    return tags.length === (fw.targetTags ?? []).length ? fw : { ...fw, targetTags: tags };
  });
  for (const [name, live] of observed.firewall) {
    if (!mine(live.description) || firewalls.some((f) => f.name === name)) continue;
    firewalls.push(asDesiredFirewall(name, live));
  }
  return { ...desired, firewalls };
}

/** A live firewall in the shape render produces (owned fields only), so the plan finds no difference. */
function asDesiredFirewall(name: string, live: IFirewall): Firewall {
  return {
    name,
    description: live.description ?? '',
    ...(live.network ? { network: live.network } : {}),
    ...(live.direction ? { direction: live.direction } : {}),
    ...(live.priority === undefined || live.priority === null ? {} : { priority: live.priority }),
    ...(live.sourceRanges ? { sourceRanges: [...live.sourceRanges] } : {}),
    ...(live.destinationRanges ? { destinationRanges: [...live.destinationRanges] } : {}),
    ...(live.targetTags ? { targetTags: [...live.targetTags] } : {}),
    ...(live.allowed ? { allowed: live.allowed.map((a) => ({ ...(a.IPProtocol ? { IPProtocol: a.IPProtocol } : {}), ...(a.ports ? { ports: [...a.ports] } : {}) })) } : {}),
  };
}
