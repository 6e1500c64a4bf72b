// SPDX-License-Identifier: Apache-2.0
//
// The Gateway's `fleetilb.io/BackendsHealthy` condition from backend health read in GCE
// (infra/gcp/health.ts), composed after `Programmed` (status/compose.ts). Pure. Implementation
// conditions are domain-prefixed (Gateway API GEP-1364, "Conditions").
//
// * True / `BackendsHealthy`: every listener's backend service has at least one endpoint GCE's
//   health check calls HEALTHY, i.e. each listener can deliver a new connection somewhere;
// * False / `NoHealthyBackends`: some listener's backends were all read and none is HEALTHY: GCE
//   then sends each new connection to an unhealthy backend "as a last resort"
//   (https://cloud.google.com/load-balancing/docs/internal/int-netlb-traffic-distribution), i.e.
//   to a node whose check fails;
// * Unknown / `Pending`: GCE has not judged them yet (never read, or UNKNOWN while the first probes run).
// The message counts per member healthy/total endpoints summed over the Gateway's backend services
// ("west 3/3, east 0/3"): the same endpoint behind two listeners counts twice, once per health check.
// The condition carries no read error or time, so it changes only when the verdict or a count does.
import type { GatewayStatus } from '../api/index.ts';
import { memberCounts, type GatewayHealth } from '../infra/gcp/health.ts';
import { CondType, Reason, cond, stampConditions, type CondSpec } from './conditions.ts';

/** The condition for the health as read; undefined when the Gateway has no backend service. */
export function backendsHealthyCondition(h: GatewayHealth): CondSpec | undefined {
  if (h.services.length === 0) return undefined;
  const none: string[] = [];
  let pending = false;
  for (const s of h.services) {
    const eps = s.backends.flatMap((b) => b.endpoints ?? []);
    if (eps.some((e) => e.state === 'HEALTHY')) continue;
    const unread = s.backends.some((b) => b.endpoints === undefined);
    if (unread || eps.some((e) => e.state === 'UNKNOWN')) pending = true;
    else none.push(s.listeners.length > 0 ? s.listeners.join(', ') : s.backendService);
  }
  const counts = memberCounts(h).map((c) => `${c.cluster} ${c.healthy}/${c.total}`);
  const summary = counts.length > 0 ? counts.join(', ') : 'no endpoints';
  if (none.length > 0) {
    return cond(CondType.BackendsHealthy, false, Reason.NoHealthyBackends, `no healthy endpoint for listener(s) ${none.join('; ')}: ${summary}`);
  }
  if (pending) return cond(CondType.BackendsHealthy, 'Unknown', Reason.Pending, `waiting for GCE health-check results: ${summary}`);
  return cond(CondType.BackendsHealthy, true, Reason.BackendsHealthy, summary);
}

/**
 * `status` with BackendsHealthy set from `health` (added, or replaced in place), or removed when
 * there is nothing to say (health not read at all, or no backend service).
 */
export function withBackendsHealthy(
  status: GatewayStatus,
  health: GatewayHealth | undefined,
  live: GatewayStatus | undefined,
  generation: number | undefined,
  now: string,
): GatewayStatus {
  const spec = health === undefined ? undefined : backendsHealthyCondition(health);
  const rest = (status.conditions ?? []).filter((c) => c.type !== CondType.BackendsHealthy);
  if (spec === undefined) return { ...status, conditions: rest };
  // Nothing read yet (a restarted controller, a new reader): not news about health, so the
  // published condition stands (a restart on a converged fleet writes nothing: failure rules).
  const prev = live?.conditions?.find((c) => c.type === CondType.BackendsHealthy);
  if (prev !== undefined && health!.services.every((s) => s.backends.every((b) => b.endpoints === undefined))) {
    return { ...status, conditions: [...rest, { ...prev, ...(generation === undefined ? {} : { observedGeneration: generation }) }] };
  }
  const [stamped] = stampConditions([spec], live?.conditions, generation, now);
  return { ...status, conditions: [...rest, stamped!] };
}

/** The rendered condition, for comparing two reads (infra/gcp/health.ts `render`). */
export function renderBackendsHealthy(h: GatewayHealth): string {
  const c = backendsHealthyCondition(h);
  return c === undefined ? '' : `${c.status}/${c.reason}/${c.message}`;
}
