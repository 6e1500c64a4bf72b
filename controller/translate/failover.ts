// SPDX-License-Identifier: Apache-2.0
//
// Cross-cluster failover of one backend group (HealthCheckPolicy `failover`, docs/policy.md
// "Failover"), decided here from the backends' readiness rather than by GCE's own failover backends:
// GCE documents failover backends of INTERNAL passthrough load balancers for instance groups only
// ("Supported instance groups: Managed and unmanaged instance groups",
// https://cloud.google.com/load-balancing/docs/internal/failover-overview), while it lists zonal
// GCE_VM_IP NEGs only for the EXTERNAL one
// (https://cloud.google.com/load-balancing/docs/network/networklb-failover-overview "Supported backends").
//
// The decision follows GCE's failover policy semantics (compute.proto BackendServiceFailoverPolicy),
// with "VM" = an eligible node hosting an endpoint of the group's backends and "healthy" = hosting
// a ready one (the node then answers the VIP health check through its local pod, ETP Local):
// * failover when no primary node is healthy, or when the healthy share of the primary nodes is
//   below `failoverRatio` ("If the value is 0, the load balancer performs a failover when the number
//   of healthy primary VMs equals zero. For all other values ... when the total number of healthy
//   primary VMs is less than this ratio");
// * while failed over the backend service holds the failover clusters' NEGs only (the active pool);
//   when they have no healthy node either, the primaries' again;
// * when neither pool has a healthy node: `dropTrafficIfUnhealthy` drops (no NEG on the backend
//   service), otherwise the primaries serve ("connections are distributed among all primary VMs").
// Pure; every NEG is created and kept in sync in both pools, so a switch is one backend-service update.
import type { BackendInMember, EffectiveBackend, FailoverIR, NegIR } from '../ir/types.ts';
import type { GroupPolicy } from './policy.ts';
import type { Ctx } from './context.ts';
import { cmp } from './context.ts';
import { eligibleNodes } from './checks/nodes.ts';

/** Eligible nodes of one member hosting an endpoint of `bims` (`total`) and a ready, not terminating one (`healthy`). */
function nodeHealth(ctx: Ctx, cluster: string, bims: readonly BackendInMember[], project: string): { healthy: number; total: number } {
  const m = ctx.members.find((x) => x.clusterId === cluster);
  if (m === undefined) return { healthy: 0, total: 0 };
  const eligible = eligibleNodes(m, project, ctx.nodeVms).byName;
  const hosting = new Set<string>();
  const ready = new Set<string>();
  for (const b of bims) {
    for (const slice of m.slicesByService.get(`${b.serviceNamespace}/${b.serviceName}`) ?? []) {
      for (const ep of slice.endpoints ?? []) {
        if (ep.nodeName === undefined || !eligible.has(ep.nodeName)) continue;
        hosting.add(ep.nodeName);
        const c = ep.conditions ?? {};
        // A nil `ready` means ready (discovery.k8s.io/v1 EndpointConditions).
        if (c.ready !== false && c.terminating !== true) ready.add(ep.nodeName);
      }
    }
  }
  return { healthy: ready.size, total: hosting.size };
}

function sum(xs: ReadonlyArray<{ healthy: number; total: number }>): { healthy: number; total: number } {
  return xs.reduce((a, x) => ({ healthy: a.healthy + x.healthy, total: a.total + x.total }), { healthy: 0, total: 0 });
}

/** The failover state of one group; marks the failover clusters' NEGs (`negs` is the group's own list). */
export function decideFailover(ctx: Ctx, spec: NonNullable<GroupPolicy['failover']>, backends: readonly EffectiveBackend[], negs: NegIR[], project: string): FailoverIR {
  const failoverSet = new Set(spec.failoverClusters);
  const clusters = [...new Set(backends.flatMap((b) => b.members.map((m) => m.cluster)))].sort(cmp);
  const health = (c: string): { healthy: number; total: number } =>
    nodeHealth(ctx, c, backends.flatMap((b) => b.members.filter((m) => m.cluster === c)), project);
  const primaryClusters = clusters.filter((c) => !failoverSet.has(c));
  const failoverClusters = clusters.filter((c) => failoverSet.has(c));
  const primary = sum(primaryClusters.map(health));
  const failover = sum(failoverClusters.map(health));
  const ratio = spec.failoverRatio ?? 0;
  const failedOver = primary.healthy === 0 || primary.healthy / primary.total < ratio;
  let pool: FailoverIR['pool'] = 'primary';
  if (failedOver && failover.healthy > 0) pool = 'failover';
  else if (primary.healthy === 0 && failover.healthy === 0 && spec.dropTrafficIfUnhealthy === true) pool = 'none';
  for (const n of negs) if (failoverSet.has(n.cluster)) n.failover = true;
  return { primaryClusters, failoverClusters, failoverRatio: ratio, dropTrafficIfUnhealthy: spec.dropTrafficIfUnhealthy ?? false, primary, failover, pool };
}
