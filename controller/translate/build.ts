// SPDX-License-Identifier: Apache-2.0
//
// Builds one Gateway's IR once its listeners and routes are judged: traffic-carrying route per
// listener, backend groups and forwarding rules within GCE limits, per member × zone node sets,
// VIP Services and the firewall plan.
//
// GCE limits (docs/compute-api.md "Resources and fields"): ≤ 10 forwarding rules per SHARED_LOADBALANCER_VIP address, ≤ 5
// ports per internal forwarding rule, ≤ 50 NEG backends per backend service.
// Sharing (docs/architecture.md "What a Gateway becomes"): while a Gateway has ≤ 10 programmable listeners each gets its own health
// check, backend service and forwarding rule, so changing one listener never recreates another's
// (forwarding rules are immutable). Beyond 10, listeners with the same protocol and the same
// effective backends share one backend service and pack their ports into rules of ≤ 5 ports; a
// listener that still does not fit is `Accepted=False/PortUnavailable`.
import type { EndpointSlice, Gateway } from '../api/index.ts';
import type {
  BackendGroupIR,
  BackendInMember,
  EffectiveBackend,
  FirewallIR,
  ForwardingRuleIR,
  GatewayIR,
  HealthCheckIR,
  ILBSettings,
  L4Protocol,
  ListenerIR,
  MirroredSliceIR,
  NegIR,
  AddressIR,
  VipServiceIR,
} from '../ir/types.ts';
import type { GatewayRef } from '../naming/names.ts';
import {
  addressName,
  backendServiceName,
  firewallName,
  forwardingRuleName,
  mirroredSliceName,
  sharedNegName,
  vipServiceName,
} from '../naming/names.ts';
import { Reason } from '../status/conditions.ts';
import type { AttachedRoute, ListenerState } from './checks/listeners.ts';
import type { NodeTarget } from './checks/nodes.ts';
import { eligibleNodes, endpointNodes } from './checks/nodes.ts';
import type { RouteEval } from './checks/routes.ts';
import type { Ctx, MemberView } from './context.ts';
import { byAge, cmp } from './context.ts';
import { decideFailover } from './failover.ts';
import type { HcPortAllocator } from './hcports.ts';
import type { PolicyJudge } from './policy.ts';

export const MAX_FORWARDING_RULES = 10;
export const MAX_PORTS_PER_RULE = 5;
export const MAX_NEGS_PER_BACKEND_SERVICE = 50;
/** GCE health-check probe sources (docs/compute-api.md "Resources and fields"; ingress-gce L4LoadBalancerSrcRanges). */
export const HEALTH_CHECK_SOURCE_RANGES = ['130.211.0.0/22', '209.85.152.0/22', '209.85.204.0/22', '35.191.0.0/16'] as const;

export interface BuildInput {
  ctx: Ctx;
  gateway: Gateway;
  settings: ILBSettings;
  address: AddressIR['request'];
  listeners: ListenerState[];
  routes: Map<string, RouteEval>;
  hcPorts: HcPortAllocator;
  /** HealthCheckPolicies of this Gateway (translate/policy.ts); absent = none. */
  policies?: PolicyJudge;
}

/** Key of a route in the `routes` map. */
export function routeKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/** The oldest attached route carries the listener's traffic (GEP-2644 "Multiple routes"). */
export function trafficRoute(attached: readonly AttachedRoute[]): AttachedRoute | undefined {
  const sorted = [...attached].sort((a, b) =>
    byAge(
      { metadata: { name: a.name, namespace: a.namespace, ...(a.creationTimestamp === undefined ? {} : { creationTimestamp: a.creationTimestamp }) } },
      { metadata: { name: b.name, namespace: b.namespace, ...(b.creationTimestamp === undefined ? {} : { creationTimestamp: b.creationTimestamp }) } },
    ),
  );
  return sorted[0];
}

interface Candidate {
  state: ListenerState;
  protocol: L4Protocol;
  route: AttachedRoute | undefined;
  backends: EffectiveBackend[];
  /** Sharing key: protocol + backend identities (ports excluded: the same pods serve every port). */
  shareKey: string;
}

function shareKey(protocol: L4Protocol, backends: readonly EffectiveBackend[]): string {
  const ids = backends.map((b) => `${b.kind}|${b.group}|${b.namespace}/${b.name}`).sort(cmp);
  return `${protocol}:${[...new Set(ids)].join(',')}`;
}

function candidates(i: BuildInput): Candidate[] {
  const out: Candidate[] = [];
  for (const state of i.listeners) {
    // Not programmable: rejected, unsupported protocol, or no route kind it could ever take
    // (allowedRoutes.kinds all invalid: GatewayInvalidRouteKind says such a Gateway must not become ready).
    if (state.rejected !== undefined || state.protocol === undefined || state.supportedKinds.length === 0) continue;
    const route = trafficRoute(state.attached);
    const backends = route === undefined ? [] : (i.routes.get(routeKey(route.kind, route.namespace, route.name))?.backends ?? []);
    out.push({ state, protocol: state.protocol, route, backends, shareKey: shareKey(state.protocol, backends) });
  }
  return out;
}

interface Allocated {
  groups: Array<{ key: string; members: Candidate[] }>;
  rules: Array<{ groupKey: string; listeners: Candidate[] }>;
}

/** Assigns listeners to groups and forwarding rules; marks the ones that do not fit. */
function allocate(cands: Candidate[]): Allocated {
  const sharing = cands.length > MAX_FORWARDING_RULES;
  const groups = new Map<string, Candidate[]>();
  const rules: Allocated['rules'] = [];
  for (const c of cands) {
    const gk = sharing ? c.shareKey : `listener:${c.state.index}`;
    const open = rules.findLast((r) => r.groupKey === gk && r.listeners.length < MAX_PORTS_PER_RULE);
    if (open !== undefined) open.listeners.push(c);
    else if (rules.length < MAX_FORWARDING_RULES) rules.push({ groupKey: gk, listeners: [c] });
    else {
      c.state.rejected = {
        reason: Reason.PortUnavailable,
        message:
          `no room on the Gateway's address: GCE allows ${MAX_FORWARDING_RULES} forwarding rules per shared address ` +
          `(SHARED_LOADBALANCER_VIP) and ${MAX_PORTS_PER_RULE} ports per rule; listeners that share protocol and backends share rules`,
      };
      continue;
    }
    const list = groups.get(gk) ?? [];
    list.push(c);
    groups.set(gk, list);
  }
  return { groups: [...groups.entries()].map(([key, members]) => ({ key, members })), rules };
}

function groupId(first: Candidate): string {
  return `${first.protocol.toLowerCase()}-${first.state.listener.port}`;
}

function membersOf(backends: readonly EffectiveBackend[]): string[] {
  return [...new Set(backends.flatMap((b) => b.members.map((m) => m.cluster)))].sort(cmp);
}

function backendsIn(backends: readonly EffectiveBackend[], cluster: string): BackendInMember[] {
  return backends.flatMap((b) => b.members.filter((m) => m.cluster === cluster));
}

/**
 * NEGs of one backend group: per member × zone of the member's eligible nodes. The NEGs are shared
 * with every Gateway whose group has the same backends in the same load-balancer scope: their
 * members depend only on those (docs/architecture.md "Shared NEGs").
 */
function buildNegs(i: BuildInput, backends: EffectiveBackend[]): { negs: NegIR[]; dropped: string[] } {
  const s = i.settings;
  const backendIds = backends.map((b) => `${b.kind}|${b.group}|${b.namespace}/${b.name}`);
  const scope = [s.project, s.region, s.network, s.subnetwork, s.nodeSubsetSize];
  const views = membersOf(backends)
    .map((c) => i.ctx.members.find((m) => m.clusterId === c))
    .filter((m): m is MemberView => m !== undefined);
  const perMember = views.map((m) => ({ m, ep: endpointNodes(m, backendsIn(backends, m.clusterId)) }));
  // Serving+terminating endpoints count only when no ready endpoint exists anywhere in the fleet.
  const anyReady = perMember.some((x) => x.ep.ready.size > 0);
  const negs: NegIR[] = [];
  for (const { m, ep } of perMember) {
    const hosting = anyReady ? ep.ready : ep.servingTerminating;
    const eligible = eligibleNodes(m, i.settings.project, i.ctx.nodeVms);
    // One NEG per zone that has eligible nodes (stable across pod moves); endpoints = the eligible
    // nodes that host an endpoint. Walk the (few) hosting nodes, not every node of the member.
    const byZone = new Map<string, NodeTarget[]>(eligible.zones.map((z) => [z, []]));
    for (const nodeName of hosting) {
      const t = eligible.byName.get(nodeName);
      if (t !== undefined) byZone.get(t.zone)?.push(t);
    }
    const name = sharedNegName({ fleetId: i.ctx.fleetId, backends: backendIds, cluster: m.clusterId, scope });
    for (const zone of eligible.zones) {
      const nodes = byZone.get(zone) ?? [];
      const project = m.fleetMember.spec.gcp?.project ?? eligible.projectOfZone.get(zone) ?? i.settings.project;
      // Not capped here: render caps with the NEG's current members (facts) for minimal churn.
      const chosen = [...nodes].sort((a, b) => cmp(a.instance, b.instance));
      negs.push({
        name,
        project,
        zone,
        cluster: m.clusterId,
        frozen: m.frozen,
        endpoints: chosen.map((t) => ({ instance: t.instance, ipAddress: t.ip, node: t.node })),
      });
    }
  }
  negs.sort((a, b) => cmp(a.cluster, b.cluster) || cmp(a.zone, b.zone));
  return {
    negs: negs.slice(0, MAX_NEGS_PER_BACKEND_SERVICE),
    dropped: negs.slice(MAX_NEGS_PER_BACKEND_SERVICE).map((n) => `${n.cluster}/${n.zone}/${n.name}`),
  };
}

function sliceTargetPort(slice: EndpointSlice, portName: string | undefined): number | undefined {
  return (slice.ports ?? []).find((p) => (p.name ?? '') === (portName ?? ''))?.port;
}

/**
 * The pods' health port number in a source slice: a number as is; a name must be a TCP port of the
 * slice (a mirrored slice can only name ports the exported Service has: no Pod is read).
 */
function sliceHealthPort(slice: EndpointSlice, health: number | string | undefined): number | undefined {
  if (typeof health === 'number') return health;
  if (health === undefined) return undefined;
  return (slice.ports ?? []).find((p) => p.name === health && (p.protocol ?? 'TCP') === 'TCP')?.port;
}

function mirroredSlices(m: MemberView, g: GatewayRef, listener: string, protocol: L4Protocol, bims: BackendInMember[], withHealth: boolean): MirroredSliceIR[] {
  const out: MirroredSliceIR[] = [];
  for (const b of bims) {
    for (const slice of m.slicesByService.get(`${b.serviceNamespace}/${b.serviceName}`) ?? []) {
      if (slice.addressType !== 'IPv4') continue; // the VIP is IPv4
      const port = sliceTargetPort(slice, b.portName);
      if (port === undefined) continue;
      const healthPort = withHealth ? sliceHealthPort(slice, b.healthPort) : undefined;
      out.push({
        name: mirroredSliceName(g, listener, slice.metadata.namespace ?? '', slice.metadata.name),
        source: `${slice.metadata.namespace ?? ''}/${slice.metadata.name}`,
        addressType: 'IPv4',
        port,
        protocol,
        ...(healthPort === undefined ? {} : { healthPort }),
        endpoints: (slice.endpoints ?? []).map((ep) => {
          const c = ep.conditions ?? {};
          const readyNow = c.ready !== false;
          const e: MirroredSliceIR['endpoints'][number] = {
            addresses: [...ep.addresses],
            conditions: { ready: readyNow, serving: c.serving ?? readyNow, terminating: c.terminating ?? false },
          };
          if (ep.nodeName !== undefined) e.nodeName = ep.nodeName;
          if (ep.zone !== undefined) e.zone = ep.zone;
          return e;
        }),
      });
    }
  }
  return out.sort((a, b) => cmp(a.name, b.name));
}

function k8sAffinity(s: ILBSettings['sessionAffinity']): 'ClientIP' | 'None' {
  return s === 'NONE' ? 'None' : 'ClientIP';
}

/** VIP Services of one listener, one per member that has a backend (docs/architecture.md "What a Gateway becomes"). */
function vipServices(i: BuildInput, g: GatewayRef, l: ListenerIR, hcNodePort: number | undefined): VipServiceIR[] {
  const out: VipServiceIR[] = [];
  for (const cluster of membersOf(l.backends)) {
    const m = i.ctx.members.find((x) => x.clusterId === cluster);
    const bims = backendsIn(l.backends, cluster);
    const first = bims[0];
    if (m === undefined || first === undefined) continue;
    const vip: VipServiceIR = {
      cluster,
      namespace: first.serviceNamespace,
      name: vipServiceName(g, l.name),
      listener: l.name,
      port: l.port,
      protocol: l.protocol,
      sessionAffinity: k8sAffinity(i.settings.sessionAffinity),
      frozen: m.frozen,
    };
    if (l.backends.length === 1 && bims.length === 1 && first.selector !== undefined) {
      vip.selector = { ...first.selector };
      vip.targetPort = first.targetPort;
      // Selector mode: the endpoints controller resolves a named health port per pod.
      if (hcNodePort !== undefined && first.healthPort !== undefined) vip.healthPort = { port: hcNodePort, targetPort: first.healthPort };
    } else {
      vip.mirroredSlices = mirroredSlices(m, g, l.name, l.protocol, bims, hcNodePort !== undefined);
      // Mirrored mode: every backend names a health port and every slice resolves it.
      const resolved = bims.every((b) => b.healthPort !== undefined) && vip.mirroredSlices.every((x) => x.healthPort !== undefined);
      if (hcNodePort !== undefined && resolved) vip.healthPort = { port: hcNodePort };
    }
    if (hcNodePort !== undefined) vip.healthCheckNodePort = hcNodePort;
    out.push(vip);
  }
  return out;
}

/**
 * The health check of a UDP group (translate/DECISIONS.md 8) from the VIP Services of its
 * health-check-carrying listener: TCP through the pods' health port when there is one and every
 * member's VIP Service has one, else the HTTP node health-server fallback (and no VIP Service keeps a `health` port: the
 * fallback probes the node, not the pods). Mutates `vips` accordingly.
 */
function udpHealthCheck(port: number, vips: VipServiceIR[]): HealthCheckIR {
  const without = [...new Set(vips.filter((v) => v.healthPort === undefined).map((v) => v.cluster))].sort(cmp);
  // No backend at all: nothing names a pod port, the fallback stands (no flip when the first comes).
  if (vips.length > 0 && without.length === 0) return { type: 'TCP', port, podHealthPort: true };
  for (const v of vips) {
    delete v.healthPort;
    for (const x of v.mirroredSlices ?? []) delete x.healthPort;
  }
  return { type: 'HTTP', port, requestPath: '/healthz', membersWithoutHealthPort: without };
}

/**
 * The health check of a TCP group whose policy names a pod port: TCP (the policy's probe at render)
 * at the VIP Service's `health` port when every member's VIP Service has it, else at the serving
 * port (a mirrored backend whose slices lack the named port). Mutates `vips` like udpHealthCheck.
 */
function tcpPodHealthCheck(servingPort: number, port: number, vips: VipServiceIR[]): HealthCheckIR {
  if (vips.length > 0 && vips.every((v) => v.healthPort !== undefined)) return { type: 'TCP', port, podHealthPort: true };
  for (const v of vips) {
    delete v.healthPort;
    for (const x of v.mirroredSlices ?? []) delete x.healthPort;
  }
  return { type: 'TCP', port: servingPort };
}

/** `backends` with every member's pod health port set to a policy's (copies: RouteEvals are shared). */
function withHealthPort(backends: readonly EffectiveBackend[], port: number | string): EffectiveBackend[] {
  return backends.map((b) => ({ ...b, members: b.members.map((m) => ({ ...m, healthPort: port })) }));
}

function firewallPlan(i: BuildInput, g: GatewayRef, groups: BackendGroupIR[], listeners: ListenerIR[]): FirewallIR {
  const clusters = [...new Set(groups.flatMap((x) => x.negs.map((n) => n.cluster)))].sort(cmp);
  // Overrides are known here; every other member's tags are facts of its instances (render).
  const tags = new Set<string>();
  const discover: string[] = [];
  for (const c of clusters) {
    const t = i.ctx.members.find((m) => m.clusterId === c)?.fleetMember.spec.gcp?.networkTags;
    if (t === undefined || t.length === 0) discover.push(c);
    else for (const x of t) tags.add(x);
  }
  // Only groups with backends are probed; an empty backend service needs no firewall hole.
  const hcPorts = [...new Set(groups.filter((x) => x.negs.length > 0).map((x) => x.healthCheck.port))].sort((a, b) => a - b);
  const fw: FirewallIR = {
    managed: i.settings.firewall.managed,
    priority: i.settings.firewall.priority,
    targetTags: [...tags].sort(cmp),
    discoverTagsFor: discover,
    healthCheck: { name: firewallName(g, 'hc'), sourceRanges: [...HEALTH_CHECK_SOURCE_RANGES], allowed: [{ protocol: 'tcp', ports: hcPorts }] },
  };
  if (i.settings.firewall.clientSourceRanges.length > 0) {
    const ports = (p: L4Protocol): number[] => [...new Set(listeners.filter((l) => l.protocol === p).map((l) => l.port))].sort((a, b) => a - b);
    const allowed: FirewallIR['healthCheck']['allowed'] = [];
    if (ports('TCP').length > 0) allowed.push({ protocol: 'tcp', ports: ports('TCP') });
    if (ports('UDP').length > 0) allowed.push({ protocol: 'udp', ports: ports('UDP') });
    fw.clients = { name: firewallName(g, 'clients'), sourceRanges: [...i.settings.firewall.clientSourceRanges].sort(cmp), allowed };
  }
  return fw;
}

/** The IR of one accepted Gateway (mutates listener states that do not fit GCE limits). */
export function buildGatewayIR(i: BuildInput): GatewayIR {
  const gw = i.gateway;
  const ns = gw.metadata.namespace ?? '';
  const g: GatewayRef = { fleetId: i.ctx.fleetId, namespace: ns, name: gw.metadata.name };
  const alloc = allocate(candidates(i));
  const idOf = new Map<string, string>();
  for (const grp of alloc.groups) {
    const first = grp.members[0];
    if (first !== undefined) idOf.set(grp.key, groupId(first));
  }
  const frIndex = new Map<string, number>();
  const forwardingRules: ForwardingRuleIR[] = [];
  const frOf = new Map<Candidate, string>();
  for (const r of alloc.rules) {
    const id = idOf.get(r.groupKey) ?? '';
    const index = frIndex.get(id) ?? 0;
    frIndex.set(id, index + 1);
    const first = r.listeners[0];
    const name = forwardingRuleName(g, id, index);
    for (const c of r.listeners) frOf.set(c, name);
    forwardingRules.push({
      name,
      protocol: first?.protocol ?? 'TCP',
      ports: [...new Set(r.listeners.map((c) => c.state.listener.port))].sort((a, b) => a - b),
      group: id,
      listeners: r.listeners.map((c) => c.state.listener.name),
    });
  }
  const listeners: ListenerIR[] = [];
  const groups: BackendGroupIR[] = [];
  const vips: VipServiceIR[] = [];
  for (const grp of alloc.groups) {
    const first = grp.members[0];
    if (first === undefined) continue;
    const id = idOf.get(grp.key) ?? groupId(first);
    const policy = i.policies?.forGroup(grp.members.map((c) => c.state.listener.name).join(', '), first.backends);
    // A policy's pod port replaces the fleetilb.io/health-check-port annotation (docs/policy.md):
    // the VIP Service's `health` port targets it, like a UDP group's (translate/DECISIONS.md 8).
    const groupBackends = policy?.podPort === undefined ? first.backends : withHealthPort(first.backends, policy.podPort);
    let hcNodePort: number | undefined;
    if (first.protocol === 'UDP' || policy?.podPort !== undefined) {
      // Never a TCP listener port: the VIP Service's `health` port is TCP on the same VIP.
      const tcpPorts = alloc.rules.flatMap((r) => r.listeners.filter((c) => c.protocol === 'TCP').map((c) => c.state.listener.port));
      hcNodePort = i.hcPorts.allocate(vipServiceName(g, first.state.listener.name), i.settings.healthCheck.udpHealthCheckNodePort, tcpPorts);
    }
    const { negs, dropped } = buildNegs(i, groupBackends);
    const group: BackendGroupIR = {
      id,
      protocol: first.protocol,
      listeners: grp.members.map((c) => c.state.listener.name),
      backendService: backendServiceName(g, id),
      healthCheck: { type: 'TCP', port: first.state.listener.port },
      negs,
      droppedNegs: dropped,
    };
    if (policy?.failover !== undefined) group.failover = decideFailover(i.ctx, policy.failover, groupBackends, negs, i.settings.project);
    groups.push(group);
    for (const c of grp.members) {
      const l: ListenerIR = {
        name: c.state.listener.name,
        port: c.state.listener.port,
        protocol: c.protocol,
        backends: c === first ? groupBackends : c.backends,
        group: id,
        forwardingRule: frOf.get(c) ?? '',
      };
      if (c.route !== undefined) l.route = { kind: c.route.kind, namespace: c.route.namespace, name: c.route.name };
      listeners.push(l);
      const mine = vipServices(i, g, l, c === first ? hcNodePort : undefined);
      if (c === first && hcNodePort !== undefined) {
        group.healthCheck =
          first.protocol === 'UDP' ? udpHealthCheck(hcNodePort, mine) : tcpPodHealthCheck(l.port, hcNodePort, mine);
      }
      vips.push(...mine);
    }
    if (policy !== undefined) {
      // The UDP node health-server fallback keeps its HTTP /healthz probe: only the timing applies.
      const fallback = group.healthCheck.type === 'HTTP' && 'membersWithoutHealthPort' in group.healthCheck;
      group.healthCheck.policy = { policies: policy.policies, timing: policy.timing, ...(policy.probe === undefined || fallback ? {} : { probe: policy.probe }) };
    }
  }
  listeners.sort((a, b) => (gw.spec.listeners.findIndex((x) => x.name === a.name) - gw.spec.listeners.findIndex((x) => x.name === b.name)));
  const address: AddressIR = {
    name: i.address.type === 'ExistingAddress' ? i.address.name : addressName(g),
    request: i.address,
  };
  if (i.address.type === 'IPAddress') address.vip = i.address.ip;
  // A frozen member that never synced (no data at all: e.g. the controller started during its
  // outage) may serve this Gateway without translate being able to tell; apply keeps whatever GCE
  // holds for it, and the condition names it too, so the outage is never silent.
  const neverSynced = i.ctx.members.filter((m) => m.frozen && m.data?.lastSyncTime === undefined).map((m) => m.clusterId);
  const frozenMembers = [
    ...new Set([
      ...groups.flatMap((x) => x.negs.filter((n) => n.frozen).map((n) => n.cluster)),
      ...vips.filter((v) => v.frozen).map((v) => v.cluster),
      ...neverSynced,
    ]),
  ].sort(cmp);
  return {
    key: `${ns}/${gw.metadata.name}`,
    gateway: { namespace: ns, name: gw.metadata.name, uid: gw.metadata.uid ?? '', generation: gw.metadata.generation ?? 0 },
    gatewayClass: gw.spec.gatewayClassName,
    fleetId: i.ctx.fleetId,
    config: i.settings,
    address,
    listeners,
    groups,
    forwardingRules,
    firewall: firewallPlan(i, g, groups, listeners),
    vipServices: vips.sort((a, b) => cmp(a.cluster, b.cluster) || cmp(a.namespace, b.namespace) || cmp(a.name, b.name)),
    frozenMembers,
    infrastructure: {
      labels: { ...(gw.spec.infrastructure?.labels ?? {}) },
      annotations: { ...(gw.spec.infrastructure?.annotations ?? {}) },
    },
  };
}
