// SPDX-License-Identifier: Apache-2.0
//
// Pure render: GatewayIR -> DesiredGce, every object shaped exactly as the Compute API takes it
// (compute.proto JSON names; docs/compute-api.md "Resources and fields"). No I/O. Choices, each with its source:
// * address: INTERNAL, purpose SHARED_LOADBALANCER_VIP (≤ 10 forwarding rules share it), in the
//   ILBConfig subnetwork; `address` set only when the Gateway asks for an IP;
// * health checks: regional, USE_FIXED_PORT; GCE probes the forwarding rule's IP (the VIP) on that
//   port (https://cloud.google.com/load-balancing/docs/health-check-concepts#hc-packet-dest). TCP on
//   the serving port; UDP (GCE has no UDP check): TCP on the VIP Service's `health` port, which the
//   node translates to the pods' health port, or the HTTP `/healthz` node health-server fallback
//   (translate/DECISIONS.md 8);
// * NEGs: zonal GCE_VM_IP in the ILBConfig network; no port, no default port (GCE_VM_IP forbids it);
//   no subnetwork, because member nodes may sit in subnets other than the VIP's;
// * backend services: INTERNAL, protocol TCP|UDP, backends = full NEG URLs with balancing mode
//   CONNECTION and nothing else (INTERNAL forbids capacity fields), one health check, connection
//   draining from ILBConfig for TCP and 0 for UDP (ingress-gce l4/backends: "not supported in UDP
//   mode");
// * forwarding rules: INTERNAL, IPAddress = the VIP literal when known, else the address URL,
//   ports ≤ 5 as strings, network + subnetwork URLs, allowGlobalAccess always sent (false too);
// * labels (fleet, Gateway namespace and name) on the address (when fleet-ilb owns it) and the
//   forwarding rules, the only kinds here that take labels (naming/gcelabels.ts);
// * NEGs: capped at ILBConfig `nodeSubsetSize`, keeping the nodes the NEG already holds (facts), then
//   a hash order salted by the NEG name (ingress-gce subsetting: minimal churn);
// * firewalls: only when managed and the members' node tags are known (an empty targetTags would
//   apply the rule to every instance of the network); destinationRanges is the VIP (never a rule that
//   opens every IP of the nodes): the literal when known, else VIP_PLACEHOLDER, which apply replaces
//   with the IP the address step reserves. Tags of instances whose lookup failed are unknown, not
//   none: the Gateway's live firewall targets are then kept (`firewallTagsIncomplete`).
//
// render(IR, facts): the facts are what GCE holds that the IR cannot know (docs/architecture.md):
// instance network tags and the instances each NEG holds now, both from the shared inventory.
import type { GatewayIR, HealthCheckIR, L4Protocol } from '../../ir/types.ts';
import type { OwnershipStamp } from '../../naming/stamp.ts';
import { CONTROLLER_NAME, encodeStamp } from '../../naming/stamp.ts';
import { hash32 } from '../../naming/hash.ts';
import { sharedHealthCheckName } from '../../naming/names.ts';
import { gceLabels } from '../../naming/gcelabels.ts';
import { VIP_PLACEHOLDER, type Address, type BackendService, type DesiredGce, type DesiredNeg, type Firewall, type ForwardingRule, type HealthCheck } from './desired.ts';

/** What GCE holds that render needs (from the inventory). Absent maps = nothing known. */
export interface GceFacts {
  /** Network tags per instance, keyed `project/zone/name`; an absent key = unknown (not "none"). */
  instanceTags?: ReadonlyMap<string, readonly string[]>;
  /** Instance names each NEG holds now, keyed `project/zone/name` of the NEG (negKey). */
  negInstances?: ReadonlyMap<string, readonly string[]>;
}

/** Default API root of fully-qualified resource URLs (backends[].group must be fully qualified). */
export const COMPUTE_V1 = 'https://www.googleapis.com/compute/v1';

export interface RenderContext {
  /** Root of resource URLs; default COMPUTE_V1 (the emulator accepts the real prefix too). */
  computeBase?: string;
}

/** Resource URLs of one Gateway's GCE objects. */
export interface Urls {
  network: string;
  subnetwork: string;
  address(name: string): string;
  healthCheck(name: string): string;
  backendService(name: string): string;
  neg(project: string, zone: string, name: string): string;
}

export function urls(ir: GatewayIR, ctx: RenderContext = {}): Urls {
  const root = ctx.computeBase ?? COMPUTE_V1;
  const p = `${root}/projects/${ir.config.project}`;
  const r = `${p}/regions/${ir.config.region}`;
  return {
    network: `${p}/global/networks/${ir.config.network}`,
    subnetwork: `${r}/subnetworks/${ir.config.subnetwork}`,
    address: (name) => `${r}/addresses/${name}`,
    healthCheck: (name) => `${r}/healthChecks/${name}`,
    backendService: (name) => `${r}/backendServices/${name}`,
    neg: (project, zone, name) => `${root}/projects/${project}/zones/${zone}/networkEndpointGroups/${name}`,
  };
}

/** The GCE labels of the Gateway's labelable resources (addresses, forwarding rules: naming/gcelabels.ts). */
function labelsOf(ir: GatewayIR): Record<string, string> {
  return gceLabels(ir.fleetId, ir.gateway.namespace, ir.gateway.name);
}

function stamp(ir: GatewayIR, extra: Pick<OwnershipStamp, 'listener' | 'cluster'> = {}): string {
  return encodeStamp({ controller: CONTROLLER_NAME, fleet: ir.fleetId, gateway: ir.key, gatewayUid: ir.gateway.uid, ...extra });
}

function renderAddress(ir: GatewayIR, u: Urls): Address {
  const a: Address = {
    name: ir.address.name,
    description: stamp(ir),
    addressType: 'INTERNAL',
    purpose: 'SHARED_LOADBALANCER_VIP',
    subnetwork: u.subnetwork,
  };
  if (ir.address.request.type === 'IPAddress') a.address = ir.address.request.ip;
  // A user's reserved address (fleetilb.io/address-name) is only read, never labelled.
  if (ir.address.request.type !== 'ExistingAddress') a.labels = labelsOf(ir);
  return a;
}

/**
 * A group's health check. It is shared (docs/architecture.md "Shared NEGs and health checks"): its
 * name is a hash of the check and its project/region, its stamp names no Gateway, and every
 * backend service of the fleet that needs the same check in the same region uses it.
 */
function renderHealthCheck(ir: GatewayIR, hc: HealthCheckIR): HealthCheck {
  const spec = healthCheckSpec(ir, hc);
  return {
    name: sharedHealthCheckName({ fleetId: ir.fleetId, spec, scope: [ir.config.project, ir.config.region] }),
    description: encodeStamp({ controller: CONTROLLER_NAME, fleet: ir.fleetId, gateway: '', gatewayUid: '', lb: `${ir.config.project}/${ir.config.region}` }),
    ...spec,
  };
}

type HealthCheckSpec = Omit<HealthCheck, 'name' | 'description'>;

function healthCheckSpec(ir: GatewayIR, hc: HealthCheckIR): HealthCheckSpec {
  // A HealthCheckPolicy's timing and probe (docs/policy.md), else the ILBConfig's and the group's.
  const c = hc.policy?.timing ?? ir.config.healthCheck;
  const base: HealthCheckSpec = {
    checkIntervalSec: c.checkIntervalSec,
    timeoutSec: c.timeoutSec,
    healthyThreshold: c.healthyThreshold,
    unhealthyThreshold: c.unhealthyThreshold,
  };
  const probe = hc.policy?.probe;
  if (probe !== undefined) {
    const port = { port: hc.port, portSpecification: 'USE_FIXED_PORT' };
    if (probe.type === 'TCP') return { ...base, type: 'TCP', tcpHealthCheck: port };
    if (probe.type === 'GRPC') return { ...base, type: 'GRPC', grpcHealthCheck: { ...port, ...(probe.grpcServiceName === undefined ? {} : { grpcServiceName: probe.grpcServiceName }) } };
    const http = {
      ...port,
      ...(probe.requestPath === undefined ? {} : { requestPath: probe.requestPath }),
      ...(probe.host === undefined ? {} : { host: probe.host }),
      ...(probe.response === undefined ? {} : { response: probe.response }),
    };
    if (probe.type === 'HTTPS') return { ...base, type: 'HTTPS', httpsHealthCheck: http };
    if (probe.type === 'HTTP2') return { ...base, type: 'HTTP2', http2HealthCheck: http };
    return { ...base, type: 'HTTP', httpHealthCheck: http };
  }
  if (hc.type === 'TCP') return { ...base, type: 'TCP', tcpHealthCheck: { port: hc.port, portSpecification: 'USE_FIXED_PORT' } };
  return { ...base, type: 'HTTP', httpHealthCheck: { port: hc.port, portSpecification: 'USE_FIXED_PORT', requestPath: hc.requestPath } };
}

/**
 * Caps a NEG's endpoints at `cap` with minimal churn: instances already in the NEG first, then a
 * deterministic hash order salted by the NEG (so different NEGs do not all pick the same nodes).
 * Output sorted by instance. Pure.
 */
export function capEndpoints<T extends { instance: string }>(eps: readonly T[], cap: number, negId: string, current: readonly string[] | undefined): T[] {
  const byInstance = (a: T, b: T): number => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0);
  if (eps.length <= cap) return [...eps].sort(byInstance);
  const inNeg = new Set(current ?? []);
  return eps
    .map((t) => ({ t, kept: inNeg.has(t.instance) ? 0 : 1, h: hash32(`${negId}/${t.instance}`) }))
    .sort((a, b) => a.kept - b.kept || a.h - b.h || byInstance(a.t, b.t))
    .slice(0, cap)
    .map((x) => x.t)
    .sort(byInstance);
}

function renderNegs(ir: GatewayIR, u: Urls, facts: GceFacts): DesiredNeg[] {
  const out: DesiredNeg[] = [];
  const seen = new Set<string>();
  for (const g of ir.groups) {
    for (const n of g.negs) {
      // Two groups of one Gateway with the same backends (a TCP and a UDP listener) share the NEG.
      const key = `${n.project}/${n.zone}/${n.name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const current = facts.negInstances?.get(`${n.project}/${n.zone}/${n.name}`);
      const chosen = capEndpoints(n.endpoints, ir.config.nodeSubsetSize, `${n.zone}/${n.name}`, current);
      const d: DesiredNeg = {
        zone: n.zone,
        cluster: n.cluster,
        neg: {
          name: n.name,
          // Shared by every Gateway with the same backends and scope (translate/build.ts buildNegs).
          description: encodeStamp({ controller: CONTROLLER_NAME, fleet: ir.fleetId, gateway: '', gatewayUid: '', cluster: n.cluster, lb: `${ir.config.project}/${ir.config.region}` }),
          networkEndpointType: 'GCE_VM_IP',
          network: u.network,
        },
        endpoints: chosen.map((e) => ({ instance: e.instance, ipAddress: e.ipAddress })),
        frozen: n.frozen,
      };
      if (n.project !== ir.config.project) d.project = n.project;
      out.push(d);
    }
  }
  return out;
}

function drainingFor(ir: GatewayIR, protocol: L4Protocol): number {
  return protocol === 'UDP' ? 0 : ir.config.connectionDraining.drainingTimeoutSec;
}

/**
 * Whether a NEG is on its backend service: every NEG without failover, else those of the active
 * pool (controller-side failover, translate/failover.ts; GCE's failover backends are not documented
 * for GCE_VM_IP NEGs of internal passthrough load balancers).
 */
function inPool(pool: 'primary' | 'failover' | 'none' | undefined, n: { failover?: true }): boolean {
  if (pool === undefined) return true;
  if (pool === 'none') return false;
  return (n.failover === true) === (pool === 'failover');
}

function renderBackendServices(ir: GatewayIR, u: Urls, checks: readonly HealthCheck[]): BackendService[] {
  return ir.groups.map((g, i) => ({
    name: g.backendService,
    description: stamp(ir, { listener: g.id }),
    loadBalancingScheme: 'INTERNAL',
    protocol: g.protocol,
    network: u.network,
    backends: g.negs.filter((n) => inPool(g.failover?.pool, n)).map((n) => ({ group: u.neg(n.project, n.zone, n.name), balancingMode: 'CONNECTION' })),
    healthChecks: [u.healthCheck(checks[i]?.name ?? '')],
    sessionAffinity: ir.config.sessionAffinity,
    connectionDraining: { drainingTimeoutSec: drainingFor(ir, g.protocol) },
  }));
}

function renderForwardingRules(ir: GatewayIR, u: Urls): ForwardingRule[] {
  const bsOf = new Map(ir.groups.map((g) => [g.id, g.backendService]));
  const ip = ir.address.vip ?? u.address(ir.address.name);
  return ir.forwardingRules.map((fr) => ({
    name: fr.name,
    description: stamp(ir, { listener: fr.group }),
    loadBalancingScheme: 'INTERNAL',
    IPAddress: ip,
    IPProtocol: fr.protocol,
    ports: fr.ports.map(String),
    backendService: u.backendService(bsOf.get(fr.group) ?? ''),
    network: u.network,
    subnetwork: u.subnetwork,
    allowGlobalAccess: ir.config.globalAccess,
    labels: labelsOf(ir),
  }));
}

/**
 * The firewall target tags: the FleetMember overrides plus the tags of every instance of the members
 * that are discovered (their NEG endpoints). `incomplete` when some instance's tags are unknown.
 */
export function firewallTargets(ir: GatewayIR, facts: GceFacts): { tags: string[]; incomplete: boolean } {
  const tags = new Set(ir.firewall.targetTags);
  const discover = new Set(ir.firewall.discoverTagsFor);
  let incomplete = false;
  for (const g of ir.groups) {
    for (const n of g.negs) {
      if (!discover.has(n.cluster)) continue;
      for (const e of n.endpoints) {
        const t = facts.instanceTags?.get(`${n.project}/${n.zone}/${e.instance}`);
        if (t === undefined) incomplete = true;
        else for (const x of t) tags.add(x);
      }
    }
  }
  return { tags: [...tags].sort(), incomplete };
}

function renderFirewalls(ir: GatewayIR, u: Urls, targets: { tags: string[] }): Firewall[] {
  const fw = ir.firewall;
  if (!fw.managed || targets.tags.length === 0) return [];
  const rules = [fw.healthCheck, ...(fw.clients === undefined ? [] : [fw.clients])];
  return rules
    .filter((r) => r.allowed.some((a) => a.ports.length > 0))
    .map((r) => ({
      name: r.name,
      description: stamp(ir),
      network: u.network,
      direction: 'INGRESS',
      priority: fw.priority,
      sourceRanges: [...r.sourceRanges],
      destinationRanges: [ir.address.vip ?? VIP_PLACEHOLDER],
      targetTags: [...targets.tags],
      allowed: r.allowed.filter((a) => a.ports.length > 0).map((a) => ({ IPProtocol: a.protocol, ports: a.ports.map(String) })),
    }));
}

/** The first of each name: groups of a Gateway that need the same check share it. */
function uniqueByName<T extends { name: string }>(xs: readonly T[]): T[] {
  const seen = new Set<string>();
  return xs.filter((x) => !seen.has(x.name) && seen.add(x.name) !== undefined);
}

/** Renders one Gateway's IR, with the facts GCE holds, into the GCE objects apply must make true. Pure. */
export function renderGce(ir: GatewayIR, facts: GceFacts = {}, ctx: RenderContext = {}): DesiredGce {
  const u = urls(ir, ctx);
  const targets = firewallTargets(ir, facts);
  // One per group, in group order; groups that need the same check share it.
  const checks = ir.groups.map((g) => renderHealthCheck(ir, g.healthCheck));
  const d: DesiredGce = {
    project: ir.config.project,
    region: ir.config.region,
    gateway: { namespace: ir.gateway.namespace, name: ir.gateway.name, uid: ir.gateway.uid },
    address: renderAddress(ir, u),
    healthChecks: uniqueByName(checks),
    negs: renderNegs(ir, u, facts),
    backendServices: renderBackendServices(ir, u, checks),
    forwardingRules: renderForwardingRules(ir, u),
    firewalls: renderFirewalls(ir, u, targets),
  };
  if (ir.firewall.managed && targets.incomplete) d.firewallTagsIncomplete = true;
  if (ir.address.request.type === 'ExistingAddress') d.addressOwned = false;
  return d;
}
