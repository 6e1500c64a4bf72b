// SPDX-License-Identifier: Apache-2.0
//
// Pure diff of DesiredGce against what observe.ts read, into an ordered plan (external-dns
// plan.Calculate; ingress-gce's per-kind equal/patchable). apply.ts executes it phase by phase;
// a dry run returns it without calling any mutating method.
//
// Phase order (docs/compute-api.md "Ordering"):
//   1. forwardingRules:delete  stale rules, rules that must be re-created (immutable field changed),
//                              rules pointing at a backend service whose protocol changes (the FR
//                              would show the old protocol: cloud-provider-gcp), all rules when the
//                              address must be re-reserved. First, so later steps never trip on them.
//   2. address                 reserve / re-reserve the VIP
//   3. healthChecks            create / update
//   4. negs                    create / re-create, then endpoint attach/detach (not when frozen)
//   5. backendServices         create / update (PUT with fingerprint; backends are ours)
//   6. forwardingRules         create (incl. the second half of a re-create) / patch
//   7. firewalls               create / update
//   8-12. reverse removal of what this Gateway no longer wants: backend services, health checks,
//                              NEGs, firewalls, addresses (forwarding rules went in phase 1).
// apply.ts runs independent phases together (WAVES) unless asked for strict order.
import type { INetworkEndpoint, Kind } from './cloud/client.ts';
import { describeOwner, ownership, type Owner } from './cloud/ownership.ts';
import { decodeStamp, isShared } from '../../naming/stamp.ts';
import { sameResource, zonalUrl, lastSegment } from './cloud/urls.ts';
import { addressDiff } from './address.ts';
import { backendServiceDiff, backendServiceNeedsFrDeletion } from './backendService.ts';
import type { DesiredGce } from './desired.ts';
import { firewallDiff } from './firewall.ts';
import { forwardingRuleChange, forwardingRuleDiff, isIpLiteral } from './forwardingRule.ts';
import { labelsDrift } from './labels.ts';
import { healthCheckDiff } from './healthCheck.ts';
import { endpointDiff, negDiff } from './neg.ts';
import { negKey, type Observed, type WantedNames } from './observe.ts';

export const PHASES = [
  'forwardingRules:delete',
  'address',
  'healthChecks',
  'negs',
  'backendServices',
  'forwardingRules',
  'firewalls',
  'backendServices:delete',
  'healthChecks:delete',
  'negs:delete',
  'firewalls:delete',
  'address:delete',
] as const;
export type Phase = (typeof PHASES)[number];

/**
 * Phases that may run together because nothing in one depends on another: the address, the health
 * checks and the NEGs are independent (the backend service needs the last two, the forwarding rules
 * the address), and firewalls depend on nothing GCE-side. Stale health checks and NEGs can go once
 * the stale backend services that used them are gone. This keeps every real dependency of
 * docs/compute-api.md "Ordering" and shortens a create from scratch from 7 sequential operations to
 * 4 (NEG insert -> attach -> backend service -> forwarding rule). `strictOrder` runs PHASES one by
 * one instead.
 */
export const WAVES: ReadonlyArray<readonly Phase[]> = [
  ['forwardingRules:delete'],
  ['address', 'healthChecks', 'negs'],
  ['backendServices'],
  ['forwardingRules', 'firewalls'],
  ['backendServices:delete'],
  ['healthChecks:delete', 'negs:delete', 'firewalls:delete', 'address:delete'],
];

export type StepAction = 'create' | 'update' | 'patch' | 'recreate' | 'delete' | 'endpoints';

/** One planned change. `endpoints` steps (and NEG creates) carry the attach/detach sets. */
export interface PlanStep {
  phase: Phase;
  kind: Kind;
  name: string;
  /** Zone (NEGs), region (regional kinds), absent (firewalls). */
  scope?: string;
  /** NEGs only: the project holding it (DesiredNeg.project, default DesiredGce.project). */
  project?: string;
  action: StepAction;
  /** Owned fields that differ (update / patch / recreate). */
  fields?: string[];
  /** Why, for logs and dry runs (e.g. `stale`, `backend service protocol change`). */
  reason?: string;
  attach?: INetworkEndpoint[];
  detach?: INetworkEndpoint[];
}

/** A desired name held by a resource fleet-ilb does not own for this Gateway. */
export interface Conflict {
  kind: Kind;
  name: string;
  scope?: string;
  owner: string;
}

export interface GcePlan {
  steps: PlanStep[];
  /** Foreign resources on desired names: apply refuses to write anything while there are any. */
  conflicts: Conflict[];
  /** NEGs that must be re-created but are still referenced (apply reports a UserError). */
  blocked: Array<{ project: string; zone: string; name: string; fields: string[]; referencedBy: string[] }>;
  /**
   * Why the user's own address (DesiredGce.addressOwned false) cannot be used: missing, not
   * INTERNAL, or not SHARED_LOADBALANCER_VIP while several forwarding rules need it. Apply writes
   * nothing while there are any.
   */
  addressProblems: string[];
  /** The VIP as known before applying (the live address's IP, or the IP desired pins). */
  vip?: string;
  /**
   * IP to ask for when (re-)reserving the address: the desired literal, else the IP live forwarding
   * rules already use (an address deleted out of band is re-reserved on the same IP, which "promotes"
   * it: docs/compute-api.md "Ordering"), else none (allocated).
   */
  addressIp?: string;
}

/** Dependency order of the kinds (conflicts are reported in it). */
const KIND_ORDER: readonly Kind[] = ['address', 'healthCheck', 'networkEndpointGroup', 'backendService', 'forwardingRule', 'firewall'];

/** The names DesiredGce uses, for observe.ts. */
export function wantedNames(d: DesiredGce): WantedNames {
  return {
    address: new Set([d.address.name]),
    healthCheck: new Set(d.healthChecks.map((x) => x.name)),
    backendService: new Set(d.backendServices.map((x) => x.name)),
    forwardingRule: new Set(d.forwardingRules.map((x) => x.name)),
    networkEndpointGroup: new Set(d.negs.map((x) => negKey(x.project ?? d.project, x.zone, x.neg.name))),
    firewall: new Set(d.firewalls.map((x) => x.name)),
  };
}

/** negKey()s of the desired NEGs whose endpoints apply must diff (not frozen). */
export function endpointsToList(d: DesiredGce): Set<string> {
  return new Set(d.negs.filter((n) => !n.frozen).map((n) => negKey(n.project ?? d.project, n.zone, n.neg.name)));
}

/** Projects other than DesiredGce.project that hold desired NEGs. */
export function negProjects(d: DesiredGce): string[] {
  return [...new Set(d.negs.map((n) => n.project ?? d.project))].filter((p) => p !== d.project).sort();
}

interface Named {
  name?: string | null;
  description?: string | null;
}

/** Computes the plan. Pure. */
export function planGce(desired: DesiredGce, observed: Observed, owner: Owner): GcePlan {
  const region = desired.region;
  const steps: PlanStep[] = [];
  const conflicts: Conflict[] = [];
  const blocked: GcePlan['blocked'] = [];
  const mine = (x: Named): boolean => ownership(x.description, owner) === 'ours';
  const conflict = (kind: Kind, name: string, live: Named, scope?: string): void => {
    conflicts.push({ kind, name, owner: describeOwner(live.description), ...(scope === undefined ? {} : { scope }) });
  };
  const add = (s: PlanStep): void => {
    steps.push(s);
  };

  // Address -------------------------------------------------------------------------------
  const liveAddr = observed.address.get(desired.address.name);
  const addressOwned = desired.addressOwned !== false;
  const addressProblems: string[] = [];
  let addressRecreate = false;
  let vip: string | undefined;
  if (!addressOwned) {
    // The user's reserved address (spec.addresses type fleetilb.io/address-name): read only.
    const where = `address ${region}/${desired.address.name}`;
    const managed = liveAddr === undefined ? undefined : decodeStamp(liveAddr.description);
    if (liveAddr === undefined) {
      addressProblems.push(`${where} named by the Gateway does not exist`);
    } else if (managed !== undefined) {
      // An address fleet-ilb reserved belongs to the Gateway it was reserved for: naming it from
      // another Gateway would add listeners to that Gateway's VIP (a cross-namespace hijack).
      addressProblems.push(`${where} is managed by fleet-ilb for Gateway ${managed.gateway}; only a user-reserved address can be named`);
    } else if ((liveAddr.addressType ?? 'INTERNAL') !== 'INTERNAL') {
      addressProblems.push(`${where} is ${String(liveAddr.addressType)}, not INTERNAL`);
    } else if (desired.forwardingRules.length > 1 && liveAddr.purpose !== 'SHARED_LOADBALANCER_VIP') {
      addressProblems.push(
        `${where} has purpose ${liveAddr.purpose ?? 'GCE_ENDPOINT'}; ${desired.forwardingRules.length} forwarding rules can share one internal IP only with purpose SHARED_LOADBALANCER_VIP`,
      );
    } else if (liveAddr.address) {
      vip = liveAddr.address;
    }
  } else if (liveAddr !== undefined && !mine(liveAddr)) {
    conflict('address', desired.address.name, liveAddr, region);
  } else if (liveAddr === undefined) {
    add({ phase: 'address', kind: 'address', name: desired.address.name, scope: region, action: 'create' });
  } else {
    const fields = addressDiff(desired.address, liveAddr);
    if (fields.length > 0) {
      addressRecreate = true;
      add({ phase: 'address', kind: 'address', name: desired.address.name, scope: region, action: 'recreate', fields });
    } else {
      // Our labels missing or changed: setLabels, no re-reserve (labels.ts).
      if (labelsDrift(desired.address, liveAddr)) add({ phase: 'address', kind: 'address', name: desired.address.name, scope: region, action: 'update', fields: ['labels'] });
      if (liveAddr.address) vip = liveAddr.address;
    }
  }
  const pinned = desired.address.address ?? undefined;
  if (vip === undefined && pinned && addressOwned) vip = pinned;
  let addressIp = pinned ?? undefined;
  if (addressOwned && addressIp === undefined && liveAddr === undefined) {
    // Re-reserve the IP our surviving forwarding rules use, else the VIP render last knew (the
    // Gateway's status), so the VIP survives an address deleted out of band.
    const fromLive = [...observed.forwardingRule.values()].find((fr) => mine(fr) && fr.IPAddress)?.IPAddress ?? undefined;
    const fromDesired = desired.forwardingRules.map((f) => f.IPAddress ?? '').find((ip) => isIpLiteral(ip));
    addressIp = fromLive ?? fromDesired;
  }

  // Backend services: decide protocol changes first (they force FR deletion) -------------
  const bsProtocolChange = new Set<string>();
  const bsSteps: PlanStep[] = [];
  for (const bs of desired.backendServices) {
    const live = observed.backendService.get(bs.name);
    if (live !== undefined && !mine(live)) {
      conflict('backendService', bs.name, live, region);
      continue;
    }
    if (live === undefined) {
      bsSteps.push({ phase: 'backendServices', kind: 'backendService', name: bs.name, scope: region, action: 'create' });
      continue;
    }
    const fields = backendServiceDiff(bs, live);
    if (fields.length === 0) continue;
    if (backendServiceNeedsFrDeletion(bs, live)) bsProtocolChange.add(bs.name);
    bsSteps.push({ phase: 'backendServices', kind: 'backendService', name: bs.name, scope: region, action: 'update', fields });
  }

  // Forwarding rules ----------------------------------------------------------------------
  const desiredFr = new Map(desired.forwardingRules.map((f) => [f.name, f] as const));
  const frDeleted = new Set<string>();
  for (const [name, live] of observed.forwardingRule) {
    if (!mine(live)) continue;
    const d = desiredFr.get(name);
    if (d === undefined) {
      add({ phase: 'forwardingRules:delete', kind: 'forwardingRule', name, scope: region, action: 'delete', reason: 'stale' });
      frDeleted.add(name);
      continue;
    }
    const pointsAtChangedBs = [...bsProtocolChange].some((bs) => lastSegment(live.backendService ?? '') === bs);
    const fields = forwardingRuleDiff(d, live, addressRecreate ? undefined : vip);
    const change = forwardingRuleChange(fields);
    const reason = addressRecreate
      ? 'address re-reserved'
      : pointsAtChangedBs
        ? 'backend service protocol change'
        : change === 'recreate'
          ? 'immutable field changed'
          : undefined;
    if (reason !== undefined) {
      add({ phase: 'forwardingRules:delete', kind: 'forwardingRule', name, scope: region, action: 'delete', reason, fields });
      frDeleted.add(name);
    } else if (change === 'patch') {
      add({ phase: 'forwardingRules', kind: 'forwardingRule', name, scope: region, action: 'patch', fields });
    } else if (labelsDrift(d, live)) {
      add({ phase: 'forwardingRules', kind: 'forwardingRule', name, scope: region, action: 'patch', fields: ['labels'] });
    }
  }
  for (const fr of desired.forwardingRules) {
    const live = observed.forwardingRule.get(fr.name);
    if (live !== undefined && !mine(live)) {
      conflict('forwardingRule', fr.name, live, region);
    } else if (live === undefined || frDeleted.has(fr.name)) {
      add({
        phase: 'forwardingRules',
        kind: 'forwardingRule',
        name: fr.name,
        scope: region,
        action: 'create',
        ...(live === undefined ? {} : { reason: 'recreate' }),
      });
    }
  }

  // Health checks -------------------------------------------------------------------------
  for (const hc of desired.healthChecks) {
    const live = observed.healthCheck.get(hc.name);
    if (live !== undefined && !mine(live)) conflict('healthCheck', hc.name, live, region);
    else if (live === undefined) add({ phase: 'healthChecks', kind: 'healthCheck', name: hc.name, scope: region, action: 'create' });
    else {
      const fields = healthCheckDiff(hc, live);
      if (fields.length > 0) add({ phase: 'healthChecks', kind: 'healthCheck', name: hc.name, scope: region, action: 'update', fields });
    }
  }

  // NEGs + endpoints ----------------------------------------------------------------------
  for (const n of desired.negs) {
    const project = n.project ?? desired.project;
    const key = negKey(project, n.zone, n.neg.name);
    const live = observed.networkEndpointGroup.get(key)?.neg;
    const base = { phase: 'negs' as const, kind: 'networkEndpointGroup' as const, name: n.neg.name, scope: n.zone, project };
    if (live !== undefined && !mine(live)) {
      conflict('networkEndpointGroup', n.neg.name, live, n.zone);
      continue;
    }
    if (live === undefined) {
      add({ ...base, action: 'create', ...(n.frozen ? { reason: 'frozen: no endpoints' } : { attach: endpointDiff(n.endpoints, []).attach, detach: [] }) });
      continue;
    }
    const fields = negDiff(n.neg, live);
    if (fields.length > 0) {
      const url = zonalUrl(project, n.zone, 'networkEndpointGroups', n.neg.name);
      const referencedBy = [...observed.backendService.values()]
        .filter((bs) => (bs.backends ?? []).some((b) => sameResource(b.group, url)))
        .map((bs) => bs.name ?? '?');
      if (referencedBy.length > 0) {
        blocked.push({ project, zone: n.zone, name: n.neg.name, fields, referencedBy });
        continue;
      }
      add({ ...base, action: 'recreate', fields, ...(n.frozen ? { reason: 'frozen: no endpoints' } : { attach: endpointDiff(n.endpoints, []).attach, detach: [] }) });
      continue;
    }
    if (n.frozen) continue; // frozen member (docs/failure-rules.md): keep whatever the NEG holds
    const current = observed.endpoints.get(key);
    if (current === undefined) continue; // not listed (should not happen): do nothing rather than guess
    const { attach, detach } = endpointDiff(n.endpoints, current);
    if (attach.length > 0 || detach.length > 0) add({ ...base, action: 'endpoints', attach, detach });
  }

  steps.push(...bsSteps);

  // Firewalls -----------------------------------------------------------------------------
  for (const fw of desired.firewalls) {
    const live = observed.firewall.get(fw.name);
    if (live !== undefined && !mine(live)) conflict('firewall', fw.name, live);
    else if (live === undefined) add({ phase: 'firewalls', kind: 'firewall', name: fw.name, action: 'create' });
    else {
      const fields = firewallDiff(fw, live);
      if (fields.length > 0) add({ phase: 'firewalls', kind: 'firewall', name: fw.name, action: 'update', fields });
    }
  }

  // Stale resources of this Gateway, reverse order ---------------------------------------
  const wanted = wantedNames(desired);
  // A shared NEG or health check this Gateway no longer uses is released: apply deletes it only
  // when no other Gateway claims or references it (docs/architecture.md "Shared NEGs and health checks").
  const reasonFor = (live: Named): 'release' | 'stale' => (isShared(decodeStamp(live.description)) ? 'release' : 'stale');
  const stale = (phase: Phase, kind: Kind, m: Map<string, Named>, want: ReadonlySet<string>, scope?: string): void => {
    for (const [name, live] of m) {
      if (mine(live) && !want.has(name)) add({ phase, kind, name, action: 'delete', reason: reasonFor(live), ...(scope === undefined ? {} : { scope }) });
    }
  };
  stale('backendServices:delete', 'backendService', observed.backendService, wanted.backendService, region);
  stale('healthChecks:delete', 'healthCheck', observed.healthCheck, wanted.healthCheck, region);
  for (const [key, x] of observed.networkEndpointGroup) {
    if (mine(x.neg) && !wanted.networkEndpointGroup.has(key)) {
      add({ phase: 'negs:delete', kind: 'networkEndpointGroup', name: x.neg.name ?? '', scope: x.zone, project: x.project, action: 'delete', reason: reasonFor(x.neg) });
    }
  }
  stale('firewalls:delete', 'firewall', observed.firewall, wanted.firewall);
  stale('address:delete', 'address', observed.address, wanted.address, region);

  steps.sort((a, b) => PHASES.indexOf(a.phase) - PHASES.indexOf(b.phase));
  conflicts.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind));
  return {
    steps,
    conflicts,
    blocked,
    addressProblems,
    ...(vip === undefined ? {} : { vip }),
    ...(addressIp === undefined ? {} : { addressIp }),
  };
}

/** One line per step, for logs and `--dry-run` output. */
export function describePlan(plan: GcePlan): string[] {
  const lines = plan.steps.map((s) => {
    const where = s.scope === undefined ? '' : `${s.scope}/`;
    const extra = [
      s.fields?.length ? `fields=${s.fields.join(',')}` : '',
      s.attach?.length ? `attach=${s.attach.length}` : '',
      s.detach?.length ? `detach=${s.detach.length}` : '',
      s.reason ? `(${s.reason})` : '',
    ].filter(Boolean);
    return `${s.phase}: ${s.action} ${s.kind} ${where}${s.name}${extra.length ? ` ${extra.join(' ')}` : ''}`;
  });
  for (const p of plan.addressProblems) lines.push(`address: ${p}`);
  for (const c of plan.conflicts) lines.push(`conflict: ${c.kind} ${c.scope ? `${c.scope}/` : ''}${c.name} is not ours (${c.owner})`);
  for (const b of plan.blocked) lines.push(`blocked: NEG ${b.zone}/${b.name} must be re-created (${b.fields.join(',')}) but ${b.referencedBy.join(',')} use it`);
  return lines;
}
