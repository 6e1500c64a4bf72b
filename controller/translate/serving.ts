// SPDX-License-Identifier: Apache-2.0
//
// "Never green when nothing serves": `Accepted`, `ResolvedRefs` and `Programmed` can all be True
// while a listener's traffic has nowhere to go — its route names a ServiceImport no member exports,
// or the exporting members have no node with a ready endpoint (the NEGs are empty). The load
// balancer then drops every connection and nothing in Gateway API's own conditions says so. This
// module adds fleet-ilb's condition `fleetilb.io/BackendsServing` (implementation-specific, so
// domain-prefixed: Gateway API GEP-1364, "Conditions") on the Gateway and on the route's parent
// status, with the reason and what to do. The reconciler records a Warning Event when it is False.
//
// Reasons: `NoRoutes` (a programmed listener with no route carrying traffic), `NoBackends` (the
// route's backendRefs all have weight 0), `NoServingClusters` (no member cluster exports / has the
// backend), `NoEndpoints` (members serve it but no node hosts a ready endpoint), `BackendsServing`.
// Frozen members count with their last known NEG endpoints (they are kept as they are, docs/architecture.md "Failure rules").
import type { EffectiveBackend, GatewayIR, ListenerIR } from '../ir/types.ts';
import type { CondSpec } from '../status/conditions.ts';
import { cond } from '../status/conditions.ts';
import type { RouteEval } from './checks/routes.ts';
import type { Ctx } from './context.ts';
import { cmp } from './context.ts';

export const BACKENDS_SERVING = 'fleetilb.io/BackendsServing';

export const ServingReason = {
  BackendsServing: 'BackendsServing',
  NoRoutes: 'NoRoutes',
  NoBackends: 'NoBackends',
  NoServingClusters: 'NoServingClusters',
  NoEndpoints: 'NoEndpoints',
} as const;

/** One programmed listener's verdict. */
export interface ListenerServing {
  listener: string;
  port: number;
  route?: { kind: string; namespace: string; name: string };
  condition: CondSpec;
}

function describeBackend(b: EffectiveBackend): string {
  const k = `${b.namespace}/${b.name}`;
  return b.kind === 'Service' ? `Service ${k}` : `${b.group}/ServiceImport ${k}`;
}

/** Why a backend has no member cluster, and what to do about it. */
function noClusterHint(ctx: Ctx, b: EffectiveBackend, protocol: string): string {
  const k = `${b.namespace}/${b.name}`;
  if (b.kind === 'Service') return `no member cluster has Service ${k} with ${protocol} port ${b.port}`;
  const exporting = ctx.members.filter((m) => m.exports.has(k) && m.services.has(k)).map((m) => m.clusterId);
  if (exporting.length > 0) {
    return `Service ${k} in the exporting cluster(s) ${exporting.join(', ')} has no ${protocol} port matching ${describeBackend(b)} port ${b.port}: fix the Service ports or the backendRef port`;
  }
  const unexported = ctx.members.filter((m) => m.services.has(k) && !m.exports.has(k)).map((m) => m.clusterId);
  const serviceless = ctx.members.filter((m) => m.exports.has(k) && !m.services.has(k)).map((m) => m.clusterId);
  const found: string[] = [];
  if (unexported.length > 0) found.push(`Service ${k} exists in ${unexported.join(', ')} without a ServiceExport`);
  if (serviceless.length > 0) found.push(`the ServiceExport in ${serviceless.join(', ')} has no Service`);
  return (
    `no member cluster exports ${k}${found.length > 0 ? ` (${found.join('; ')})` : ''}: ` +
    `create a ServiceExport ${k} (multicluster.x-k8s.io/v1beta1, or net.gke.io/v1 on GKE) next to Service ${k} in each member cluster that runs it`
  );
}

function routeOf(l: ListenerIR): string {
  return l.route === undefined ? '' : `${l.route.kind} ${l.route.namespace}/${l.route.name}`;
}

function listenerServing(ctx: Ctx, ir: GatewayIR, l: ListenerIR): ListenerServing {
  const base = { listener: l.name, port: l.port, ...(l.route === undefined ? {} : { route: l.route }) };
  const c = (ok: boolean, reason: string, message: string): ListenerServing => ({ ...base, condition: cond(BACKENDS_SERVING, ok, reason, message) });
  if (l.route === undefined) {
    const kind = l.protocol === 'UDP' ? 'UDPRoute' : 'TCPRoute';
    return c(false, ServingReason.NoRoutes, `listener ${l.name}: no ${kind} attached: attach one whose parentRef names Gateway ${ir.key} (sectionName ${l.name})`);
  }
  if (l.backends.length === 0) {
    return c(false, ServingReason.NoBackends, `listener ${l.name}: ${routeOf(l)} has no backendRef with a weight above 0: give one a weight`);
  }
  const empty = l.backends.filter((b) => b.members.length === 0);
  if (empty.length === l.backends.length) {
    return c(false, ServingReason.NoServingClusters, `listener ${l.name}: ${routeOf(l)}: ${empty.map((b) => noClusterHint(ctx, b, l.protocol)).join('; ')}`);
  }
  const clusters = [...new Set(l.backends.flatMap((b) => b.members.map((m) => m.cluster)))].sort(cmp);
  const negs = (ir.groups.find((g) => g.id === l.group)?.negs ?? []).filter((n) => clusters.includes(n.cluster));
  const nodes = negs.reduce((s, n) => s + n.endpoints.length, 0);
  if (nodes === 0) {
    const what = l.backends.filter((b) => b.members.length > 0).map(describeBackend).join(', ');
    return c(
      false,
      ServingReason.NoEndpoints,
      `listener ${l.name}: ${what} is served by ${clusters.join(', ')} but no node there hosts a ready endpoint, so the load balancer has no backend: ` +
        'check that its pods are Ready and run on Ready nodes without node.kubernetes.io/exclude-from-external-load-balancers',
    );
  }
  const partly = empty.length > 0 ? `; ${empty.map((b) => noClusterHint(ctx, b, l.protocol)).join('; ')}` : '';
  return c(true, ServingReason.BackendsServing, `listener ${l.name}: ${nodes} node(s) in ${clusters.length} cluster(s) (${clusters.join(', ')})${partly}`);
}

/** Every programmed listener's verdict, in Gateway order. */
export function gatewayServing(ctx: Ctx, ir: GatewayIR): ListenerServing[] {
  return ir.listeners.map((l) => listenerServing(ctx, ir, l));
}

/** The Gateway's condition: True when every programmed listener has somewhere to send traffic. */
export function gatewayBackendsServing(serving: readonly ListenerServing[]): CondSpec {
  const bad = serving.filter((s) => s.condition.status !== 'True');
  if (serving.length === 0) return cond(BACKENDS_SERVING, false, ServingReason.NoRoutes, 'no programmed listener');
  if (bad.length === 0) return cond(BACKENDS_SERVING, true, ServingReason.BackendsServing, serving.map((s) => s.condition.message).join('; '));
  return cond(BACKENDS_SERVING, false, bad[0]!.condition.reason, bad.map((s) => s.condition.message).join('; '));
}

/**
 * The route's condition for each of its parents (same order as `route.parents`): from the listeners
 * of that Gateway whose carrying route is this route and that the parentRef selects; undefined when
 * none (attached but not carrying traffic, or the Gateway is not programmable).
 */
export function routeBackendsServing(route: RouteEval, serving: ReadonlyMap<string, readonly ListenerServing[]>): Array<CondSpec | undefined> {
  return route.parents.map((p) => {
    const mine = (serving.get(p.gatewayKey) ?? []).filter(
      (s) =>
        s.route !== undefined &&
        s.route.kind === route.kind &&
        s.route.namespace === route.namespace &&
        s.route.name === route.name &&
        (p.parentRef.sectionName === undefined || p.parentRef.sectionName === s.listener) &&
        (p.parentRef.port === undefined || p.parentRef.port === s.port),
    );
    if (mine.length === 0) return undefined;
    return (mine.find((s) => s.condition.status !== 'True') ?? mine[0]!).condition;
  });
}
