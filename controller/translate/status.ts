// SPDX-License-Identifier: Apache-2.0
//
// Status assembly: every status fleet-ilb writes, computed in one place.
// Conditions come from status/conditions.ts; `lastTransitionTime` is carried over from the objects'
// existing status when a condition does not flip.
import type {
  Condition,
  FleetMemberStatus,
  Gateway,
  GatewayClass,
  GatewayClassStatus,
  GatewayStatus,
  ListenerStatus,
  ParentReference,
  RouteParentStatus,
  SupportedFeature,
} from '../api/index.ts';
import type { AddressRequest, GatewayIR, ILBSettings } from '../ir/types.ts';
import { CONTROLLER_NAME } from '../naming/stamp.ts';
import type { CondSpec } from '../status/conditions.ts';
import { CondType, Reason, cond, stampConditions } from '../status/conditions.ts';
import type { Failure } from './checks/chain.ts';
import type { ILBConfigResults, ParamsVerdict } from './checks/gateway.ts';
import type { ListenerState } from './checks/listeners.ts';
import { memberMapping, nodeExclusion, nodeZone } from './checks/nodes.ts';
import type { RouteEval } from './checks/routes.ts';
import type { Ctx, MemberView } from './context.ts';
import { cmp } from './context.ts';
import { HEALTH_CHECK_PORT_ANNOTATION } from './hcports.ts';
import type { RouteStatusOut } from './types.ts';
import { gatewayBackendsServing, routeBackendsServing, type ListenerServing } from './serving.ts';

/**
 * Features fleet-ilb supports (pkg/features: names go into GatewayClass status.supportedFeatures,
 * sorted). `GatewayStaticAddresses` is not claimed although one static address (IPAddress or
 * fleetilb.io/address-name) is honoured: the feature's conformance test asks for several addresses
 * on one Gateway, bound to every listener, and an HTTP listener; a fleet-ilb Gateway is one
 * internal VIP (docs/conformance.md).
 */
export const SUPPORTED_FEATURES: readonly string[] = ['Gateway', 'ReferenceGrant', 'TCPRoute', 'UDPRoute'];

export interface ClassVerdict {
  name: string;
  gc: GatewayClass;
  params: ParamsVerdict;
  failure: Failure | undefined;
  message: string;
  versionOk: boolean | undefined;
  version: string | undefined;
}

/** A Gateway of ours while translate works on it. */
export interface GatewayWork {
  key: string;
  gateway: Gateway;
  listeners: ListenerState[];
  /** First Gateway-level failure (parameters, address): Accepted=False. */
  failure: Failure | undefined;
  settings?: ILBSettings;
  address?: AddressRequest;
  ir?: GatewayIR;
  irErrors?: string[];
  /** Per programmed listener: whether its traffic has anywhere to go (serving.ts). */
  serving?: ListenerServing[];
}

export function gatewayClassStatus(ctx: Ctx, c: ClassVerdict): GatewayClassStatus {
  const accepted = c.failure === undefined ? cond(CondType.Accepted, true, Reason.Accepted, c.message) : cond(CondType.Accepted, false, c.failure.reason, c.failure.message);
  const version =
    c.versionOk === undefined
      ? cond(CondType.SupportedVersion, 'Unknown', Reason.Pending, 'Gateway API CRD bundle version not observed yet')
      : c.versionOk
        ? cond(CondType.SupportedVersion, true, Reason.SupportedVersion, `Gateway API CRD bundle ${c.version ?? ''} is supported`)
        : cond(CondType.SupportedVersion, false, Reason.UnsupportedVersion, `Gateway API CRD bundle ${c.version ?? ''} is not supported (need v1.6 or later v1)`);
  const features: SupportedFeature[] = [...SUPPORTED_FEATURES].sort(cmp).map((name) => ({ name }));
  return {
    conditions: stampConditions([accepted, version], c.gc.status?.conditions, c.gc.metadata.generation, ctx.now),
    supportedFeatures: features,
  };
}

/**
 * `Programmed` depends on GCE: translate says Pending (or Invalid when there is nothing to program)
 * and status/compose.ts sets it from apply's outcome (docs/architecture.md).
 */
function listenerConditions(l: ListenerState, w: GatewayWork): CondSpec[] {
  const accepted = l.rejected === undefined ? cond(CondType.Accepted, true, Reason.Accepted, 'listener accepted') : cond(CondType.Accepted, false, l.rejected.reason, l.rejected.message);
  const inIR = w.ir?.listeners.find((x) => x.name === l.listener.name);
  let programmed: CondSpec;
  if (inIR === undefined) {
    const why =
      w.ir === undefined
        ? 'the Gateway is not programmable'
        : l.rejected === undefined && l.supportedKinds.length === 0
          ? 'the listener supports no route kind, so it is not programmed'
          : 'the listener is not accepted';
    programmed = cond(CondType.Programmed, false, Reason.Invalid, why);
  } else {
    programmed = cond(CondType.Programmed, false, Reason.Pending, `waiting for forwarding rule ${inIR.forwardingRule}`);
  }
  const resolved =
    l.invalidKinds.length > 0
      ? cond(CondType.ResolvedRefs, false, Reason.InvalidRouteKinds, `unsupported route kinds: ${l.invalidKinds.join(', ')}`)
      : cond(CondType.ResolvedRefs, true, Reason.ResolvedRefs, 'all references resolved');
  const conflicted = l.conflicted
    ? cond(CondType.Conflicted, true, Reason.ProtocolConflict, `another listener uses port ${l.listener.port} with the same transport`)
    : cond(CondType.Conflicted, false, Reason.NoConflicts, 'no conflicts');
  return [accepted, programmed, resolved, conflicted];
}

function gatewayAccepted(w: GatewayWork): CondSpec {
  if (w.failure !== undefined) return cond(CondType.Accepted, false, w.failure.reason, w.failure.message);
  const bad = w.listeners.filter((l) => l.rejected !== undefined);
  if (bad.length === 0) return cond(CondType.Accepted, true, Reason.Accepted, 'Gateway accepted');
  const names = bad.map((l) => l.listener.name).join(', ');
  if (bad.length === w.listeners.length) return cond(CondType.Accepted, false, Reason.ListenersNotValid, `no valid listener (invalid: ${names})`);
  return cond(CondType.Accepted, true, Reason.ListenersNotValid, `some listeners are not valid: ${names}`);
}

function gatewayProgrammed(w: GatewayWork): CondSpec {
  if (w.ir === undefined) {
    const why = w.irErrors !== undefined ? `internal validation failed: ${w.irErrors.join('; ')}` : 'the Gateway is not accepted';
    return cond(CondType.Programmed, false, Reason.Invalid, why);
  }
  return cond(CondType.Programmed, false, Reason.Pending, 'waiting for the load balancer to be programmed');
}

function membersReachable(ctx: Ctx, ir: GatewayIR): CondSpec {
  if (ir.frozenMembers.length === 0) return cond(CondType.MembersReachable, true, Reason.AllReachable, 'every member cluster serving this Gateway is reachable');
  const detail = ir.frozenMembers
    .map((c) => {
      const r = ctx.members.find((m) => m.clusterId === c)?.data?.reachability;
      return `${c} (${r?.state ?? 'pending'}${r?.message === undefined ? '' : `: ${r.message}`}${r?.since === undefined ? '' : `, since ${r.since}`})`;
    })
    .join('; ');
  return cond(
    CondType.MembersReachable,
    false,
    Reason.MembersFrozen,
    `frozen member cluster(s): ${detail}; their NEG endpoints and VIP Services are kept as last seen until they answer again`,
  );
}

function withinLimits(w: GatewayWork, ir: GatewayIR): CondSpec {
  const dropped = ir.groups.filter((g) => g.droppedNegs.length > 0);
  if (dropped.length > 0) {
    const detail = dropped.map((g) => `${g.backendService}: ${g.droppedNegs.length} NEG(s) left out (${g.droppedNegs.join(', ')})`).join('; ');
    return cond(CondType.WithinLimits, false, Reason.TooManyNEGs, `a backend service holds at most 50 NEGs (GCE limit); ${detail}`);
  }
  const full = w.listeners.filter((l) => l.rejected?.reason === Reason.PortUnavailable);
  if (full.length > 0) {
    return cond(
      CondType.WithinLimits,
      false,
      Reason.TooManyForwardingRules,
      `listener(s) ${full.map((l) => l.listener.name).join(', ')} do not fit in the 10 forwarding rules of one address`,
    );
  }
  return cond(CondType.WithinLimits, true, Reason.WithinLimits, 'within GCE limits');
}

/**
 * How the UDP listeners' health checks reach the backends (translate/DECISIONS.md 8); none on a
 * Gateway without a UDP group.
 */
function udpHealthCheck(ir: GatewayIR): CondSpec[] {
  const udp = ir.groups.filter((g) => g.protocol === 'UDP');
  if (udp.length === 0) return [];
  const fallback = udp.flatMap((g) => (g.healthCheck.type === 'HTTP' ? [{ g, without: g.healthCheck.membersWithoutHealthPort }] : []));
  const listeners = (gs: Array<{ listeners: string[] }>): string => gs.flatMap((g) => g.listeners).join(', ');
  if (fallback.length === 0) {
    const ports = udp.map((g) => `${listeners([g])}: VIP:${g.healthCheck.port}`).join('; ');
    return [
      cond(
        CondType.UDPHealthCheck,
        true,
        Reason.PodHealthPort,
        `UDP listeners are health-checked over TCP through each member's VIP Service port "health" to the pods' ${HEALTH_CHECK_PORT_ANNOTATION} port ` +
          `(${ports}): a node passes only with a ready local pod`,
      ),
    ];
  }
  const who = (without: string[]): string => (without.length === 0 ? 'no backends yet' : `member(s) ${without.join(', ')}`);
  const detail = fallback.map(({ g, without }) => `${listeners([g])} (${who(without)}; HTTP /healthz on VIP:${g.healthCheck.port})`).join('; ');
  return [
    cond(
      CondType.UDPHealthCheck,
      false,
      Reason.NodeHealthCheckFallback,
      `no pod health port for UDP listener(s) ${detail}: annotate the member Service with ${HEALTH_CHECK_PORT_ANNOTATION}: <TCP container port name or number> ` +
        `in every member. Until then the health check is the fallback, the node's healthCheckNodePort server probed at the VIP, which passes only on nodes ` +
        `that accept the VIP locally (guest agent route) and whose proxy health server listens on it (kube-proxy nftables mode: only with ` +
        `--nodeport-addresses covering it); elsewhere every backend is UNHEALTHY and GCE spreads traffic over all of them (docs/datapath.md)`,
    ),
  ];
}

export function gatewayStatus(ctx: Ctx, w: GatewayWork): GatewayStatus {
  const gw = w.gateway;
  const gen = gw.metadata.generation;
  const conds: CondSpec[] = [gatewayAccepted(w), gatewayProgrammed(w)];
  if (w.ir !== undefined) conds.push(membersReachable(ctx, w.ir), withinLimits(w, w.ir), ...udpHealthCheck(w.ir));
  if (w.serving !== undefined) conds.push(gatewayBackendsServing(w.serving));
  const listeners: ListenerStatus[] = w.listeners.map((l) => {
    const prev = gw.status?.listeners?.find((x) => x.name === l.listener.name)?.conditions;
    return {
      name: l.listener.name,
      supportedKinds: l.supportedKinds.map((k) => ({ ...k })),
      attachedRoutes: l.attached.length,
      conditions: stampConditions(listenerConditions(l, w), prev, gen, ctx.now),
    };
  });
  const status: GatewayStatus = {
    conditions: stampConditions(conds, gw.status?.conditions, gen, ctx.now),
    listeners,
  };
  return status;
}

function sameParent(a: ParentReference, b: ParentReference): boolean {
  return (
    (a.group ?? 'gateway.networking.k8s.io') === (b.group ?? 'gateway.networking.k8s.io') &&
    (a.kind ?? 'Gateway') === (b.kind ?? 'Gateway') &&
    (a.namespace ?? '') === (b.namespace ?? '') &&
    a.name === b.name &&
    (a.sectionName ?? '') === (b.sectionName ?? '') &&
    (a.port ?? 0) === (b.port ?? 0)
  );
}

export function routeStatuses(ctx: Ctx, routes: readonly RouteEval[], work: readonly GatewayWork[] = []): RouteStatusOut[] {
  const serving = new Map(work.flatMap((w) => (w.serving === undefined ? [] : [[w.key, w.serving] as const])));
  return routes.map((r) => {
    const bs = routeBackendsServing(r, serving);
    const gen = r.route.metadata.generation;
    const existing = (r.route.status?.parents ?? []).filter((p) => p.controllerName === CONTROLLER_NAME);
    const parents: RouteParentStatus[] = r.parents.map((p, i) => {
      const prev = existing.find((e) => sameParent(e.parentRef, p.parentRef) || sameParent(e.parentRef, { ...p.parentRef, namespace: e.parentRef.namespace ?? '' }))?.conditions;
      return { parentRef: p.parentRef, controllerName: CONTROLLER_NAME, conditions: stampConditions([p.accepted, r.resolvedRefs, ...(bs[i] === undefined ? [] : [bs[i]])], prev, gen, ctx.now) };
    });
    return { kind: r.kind, namespace: r.namespace, name: r.name, parents };
  });
}

const READY_REASON = {
  reachable: Reason.Connected,
  unreachable: Reason.Unreachable,
  authFailed: Reason.AuthFailed,
  invalidKubeconfig: Reason.InvalidKubeconfig,
  secretNotFound: Reason.SecretNotFound,
  pending: Reason.Pending,
} as const;

/** Node names listed per reason in the NodesEligible message (the count is always whole). */
const EXCLUDED_NAMES_SHOWN = 5;

/**
 * The member's Nodes that cannot back a NEG, and why (translate/checks/nodes.ts), for its
 * FleetMember: a name-mapped node is looked for in the FleetMember's project, else in every valid
 * ILBConfig's (`projects`); it is NoInstance only when GCE holds its VM in none of them.
 */
function nodesEligible(ctx: Ctx, m: MemberView, projects: readonly string[]): { excluded: number; cond: CondSpec } {
  const fmProject = m.fleetMember.spec.gcp?.project;
  const mc = { mapping: memberMapping(m), projects: fmProject === undefined ? projects : [fmProject], vms: ctx.nodeVms };
  const byReason = new Map<string, string[]>();
  let first: string | undefined;
  for (const [name, node] of m.nodes) {
    const f = nodeExclusion(node, mc);
    if (f === undefined) continue;
    byReason.set(f.reason, [...(byReason.get(f.reason) ?? []), name]);
    if (f.reason === 'NoInstance' || f.reason === 'NoZone' || f.reason === 'NoProviderID') first ??= `${name}: ${f.message}`;
  }
  const excluded = [...byReason.values()].reduce((n, xs) => n + xs.length, 0);
  if (excluded === 0) return { excluded, cond: cond(CondType.NodesEligible, true, Reason.AllNodesEligible, `all ${m.nodes.size} nodes can back NEGs`) };
  const parts = [...byReason.entries()]
    .sort(([a], [b]) => cmp(a, b))
    .map(([r, names]) => `${r} ${names.length} (${names.slice(0, EXCLUDED_NAMES_SHOWN).join(', ')}${names.length > EXCLUDED_NAMES_SHOWN ? ', ...' : ''})`);
  const msg = `${excluded} of ${m.nodes.size} nodes left out of NEGs: ${parts.join('; ')}${first === undefined ? '' : `. ${first}`}`;
  return { excluded, cond: cond(CondType.NodesEligible, false, Reason.NodesExcluded, msg) };
}

function memberStatus(ctx: Ctx, m: MemberView, projects: readonly string[]): FleetMemberStatus {
  const fm = m.fleetMember;
  const r = m.data?.reachability ?? { state: 'pending' as const };
  const ready =
    r.state === 'reachable'
      ? cond(CondType.Ready, true, Reason.Connected, 'connected and synced')
      : r.state === 'pending'
        ? cond(CondType.Ready, 'Unknown', Reason.Pending, r.message ?? 'waiting for the first sync')
        : cond(CondType.Ready, false, READY_REASON[r.state], r.message ?? r.state);
  const zones = [...new Set([...m.nodes.values()].map(nodeZone).filter((z): z is string => z !== undefined))].sort(cmp);
  const eligible = nodesEligible(ctx, m, projects);
  const s: FleetMemberStatus = {
    conditions: stampConditions([ready, eligible.cond], fm.status?.conditions, fm.metadata.generation, ctx.now),
    nodeCount: m.nodes.size,
    excludedNodeCount: eligible.excluded,
    zones,
    exportCount: m.exports.size,
  };
  const last = m.data?.lastSyncTime;
  if (last !== undefined) s.lastSyncTime = last;
  if (fm.metadata.generation !== undefined) s.observedGeneration = fm.metadata.generation;
  return s;
}

/** FleetMember statuses; `ilb`: the parsed ILBConfigs (their projects are where name-mapped VMs are looked for). */
export function fleetMemberStatuses(ctx: Ctx, ilb: ILBConfigResults): Array<{ name: string; status: FleetMemberStatus }> {
  const projects = ilbProjects(ilb);
  return [...ctx.members].sort((a, b) => cmp(a.fleetMember.metadata.name, b.fleetMember.metadata.name)).map((m) => ({ name: m.fleetMember.metadata.name, status: memberStatus(ctx, m, projects) }));
}

/** The projects of the valid ILBConfigs, sorted. */
export function ilbProjects(ilb: ILBConfigResults): string[] {
  return [...new Set([...ilb.values()].flatMap((r) => (r.ok ? [r.spec.project] : [])))].sort(cmp);
}

export function ilbConfigStatuses(
  ctx: Ctx,
  results: ILBConfigResults,
): Array<{ namespace: string; name: string; status: { conditions: Condition[]; observedGeneration?: number } }> {
  const out: Array<{ namespace: string; name: string; status: { conditions: Condition[]; observedGeneration?: number } }> = [];
  for (const [k, c] of ctx.ilbConfigs) {
    const r = results.get(k);
    const spec = r?.ok === true ? cond(CondType.Accepted, true, Reason.Accepted, 'valid') : cond(CondType.Accepted, false, Reason.InvalidParameters, r?.ok === false ? r.message : 'not parsed');
    const gen = c.metadata.generation;
    const status: { conditions: Condition[]; observedGeneration?: number } = { conditions: stampConditions([spec], c.status?.conditions, gen, ctx.now) };
    if (gen !== undefined) status.observedGeneration = gen;
    out.push({ namespace: c.metadata.namespace ?? '', name: c.metadata.name, status });
  }
  return out;
}
