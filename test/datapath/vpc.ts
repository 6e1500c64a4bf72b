// SPDX-License-Identifier: Apache-2.0
//
// The simulated Google Cloud data plane, as a pure function of the Compute API emulator's inventory
// (docs/datapath.md): what the "vpc" namespace's nftables ruleset is, which health probes run, and
// which node gets which forwarding-rule IP as a local route (guest agent). The harness applies it.
//
// GCE behaviour modelled (internal passthrough Network Load Balancer, cloud.google.com/load-balancing/
// docs/internal):
// - A packet to a forwarding rule's `IPAddress` with its protocol and one of its `ports` (or any port
//   with `allPorts`) is delivered, unchanged (no DNAT: the destination stays the VIP), to one backend
//   VM of the rule's backend service; the VM is a `GCE_VM_IP` NEG endpoint, its address the
//   instance's nic0 IP.
// - The backend is chosen by a hash of the connection's 5-tuple (sessionAffinity NONE; CLIENT_IP,
//   CLIENT_IP_PROTO and CLIENT_IP_PORT_PROTO hash fewer fields), among the healthy endpoints; when
//   none is healthy, among all of them ("traffic distribution": all backends unhealthy => all get
//   traffic).
// - Health probes go to the forwarding rule's IP (one probe stream per rule IP) at the health check's
//   port, from 35.191.0.0/16 and 130.211.0.0/22 (health check concepts: probe IP ranges); an
//   endpoint is HEALTHY after `healthyThreshold` consecutive successes and UNHEALTHY after
//   `unhealthyThreshold` consecutive failures; every `checkIntervalSec`, each waiting `timeoutSec`.
//   [Emulator simplification] a new endpoint starts UNHEALTHY; one prober (GCE runs several).
// - VPC firewall rules are enforced at the VM: ingress is denied unless an enabled INGRESS rule of
//   the VM's network whose targetTags match the VM's tags (or no targetTags) allows the source range
//   -> destination range -> protocol/port; lower priority numbers win, a deny wins a tie; the
//   firewall is stateful (replies are allowed). sourceTags/targetServiceAccounts are [not modelled].

/** A node of the harness, as the vpc sees it. */
export interface VpcNode {
  /** Kubernetes Node name. */
  name: string;
  ip: string;
  /** 1-based; fixes the node's vpc interface `n<index>`, fwmark and routing table. */
  index: number;
}

type Res = Record<string, unknown>;
/** The parts of the emulator inventory the data plane reads. */
export interface VpcInventory {
  healthChecks: Res[];
  backendServices: Res[];
  networkEndpointGroups: Array<Res & { endpoints: Array<{ instance: string; ipAddress: string }> }>;
  forwardingRules: Res[];
  firewalls: Res[];
  instances: Res[];
}

/** GCE's health-check probe source ranges (internal passthrough NLB). */
export const PROBE_RANGES = ['35.191.0.0/16', '130.211.0.0/22'] as const;

/** Probe source addresses of node `index`: one in each probe range (policy-routed to that node). */
export function probeSources(index: number): string[] {
  return [`35.191.${index >> 8}.${index & 255}`, `130.211.${index >> 8}.${index & 255}`];
}

/** Source address that the vpc routes to node `index` for direct tests ({@link DataPath.connectViaNode}). */
export function directSource(index: number): string {
  return `10.254.${index >> 8}.${index & 255}`;
}

export const markOf = (index: number): number => 0x1000 + index;
export const tableOf = (index: number): number => 1000 + index;
export const vpcIfOf = (index: number): string => `n${index}`;

/** One health probe stream: an endpoint seen through one forwarding rule IP at the check's port. */
export interface ProbeTarget {
  /** Key of the health state (also what the emulator asks about). */
  id: string;
  srcs: string[];
  dst: string;
  port: number;
  type: 'TCP' | 'HTTP';
  path?: string;
  host?: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  nodeIp: string;
}

export function probeId(nodeIp: string, frIp: string, port: number): string {
  return `${nodeIp}|${frIp}|${port}`;
}

const last = (u: unknown): string => (typeof u === 'string' ? (u.split('/').pop() ?? '') : '');
const str = (u: unknown): string => (typeof u === 'string' ? u : '');

interface HealthCheckSpec {
  type: 'TCP' | 'HTTP';
  port: number;
  path?: string;
  host?: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

/** The probe a health check resource describes; undefined for kinds the data plane cannot probe. */
export function healthCheckSpec(hc: Res): HealthCheckSpec | undefined {
  const type = str(hc['type']);
  const common = {
    intervalMs: 1000 * Number(hc['checkIntervalSec'] ?? 5),
    timeoutMs: 1000 * Number(hc['timeoutSec'] ?? 5),
    healthyThreshold: Number(hc['healthyThreshold'] ?? 2),
    unhealthyThreshold: Number(hc['unhealthyThreshold'] ?? 2),
  };
  if (type === 'TCP') {
    const t = (hc['tcpHealthCheck'] ?? {}) as Res;
    return { type: 'TCP', port: Number(t['port'] ?? 80), ...common };
  }
  if (type === 'HTTP') {
    const t = (hc['httpHealthCheck'] ?? {}) as Res;
    return {
      type: 'HTTP',
      port: Number(t['port'] ?? 80),
      path: str(t['requestPath']) || '/',
      ...(str(t['host']) === '' ? {} : { host: str(t['host']) }),
      ...common,
    };
  }
  return undefined;
}

/** Per forwarding rule: where its packets may go. */
export interface RuleView {
  name: string;
  ip: string;
  protocol: string;
  ports: string[];
  allPorts: boolean;
  affinity: string;
  /** Nodes (by index) that are NEG endpoints of the rule's backend service. */
  backends: number[];
  /** Probe ids per backend node index (the health of that node as seen through this rule). */
  probes: Map<number, string>;
}

/** What the vpc should look like for an inventory. */
export interface VpcPlan {
  rules: RuleView[];
  targets: ProbeTarget[];
  /** Per node index: forwarding-rule IPs of the backend services it serves (guest agent's local routes). */
  localIps: Map<number, string[]>;
  /** NEG endpoints that match no harness node (reported, never routed). */
  unknownEndpoints: string[];
}

export function planVpc(inv: VpcInventory, nodes: readonly VpcNode[]): VpcPlan {
  const byIp = new Map(nodes.map((n) => [n.ip, n]));
  const instIp = new Map<string, string>();
  for (const i of inv.instances) {
    const nic = ((i['networkInterfaces'] as Res[] | undefined) ?? [])[0];
    if (nic !== undefined) instIp.set(str(i['name']), str(nic['networkIP']));
  }
  const negs = new Map(inv.networkEndpointGroups.map((n) => [str(n['selfLink']), n]));
  const hcs = new Map(inv.healthChecks.map((h) => [str(h['selfLink']), h]));
  const bss = new Map(inv.backendServices.map((b) => [str(b['selfLink']), b]));
  const unknown = new Set<string>();
  const targets = new Map<string, ProbeTarget>();
  const localIps = new Map<number, string[]>();
  const rules: RuleView[] = [];
  for (const fr of [...inv.forwardingRules].sort((a, b) => str(a['name']).localeCompare(str(b['name'])))) {
    if (str(fr['loadBalancingScheme']) !== 'INTERNAL') continue;
    const bs = bss.get(str(fr['backendService']));
    if (bs === undefined) continue;
    const ip = str(fr['IPAddress']);
    const backends = new Set<number>();
    for (const b of (bs['backends'] as Res[] | undefined) ?? []) {
      const neg = negs.get(str(b['group']));
      for (const ep of neg?.endpoints ?? []) {
        const epIp = ep.ipAddress !== '' && ep.ipAddress !== undefined ? ep.ipAddress : (instIp.get(last(ep.instance)) ?? '');
        const node = byIp.get(epIp);
        if (node === undefined) unknown.add(`${last(ep.instance)} (${epIp})`);
        else backends.add(node.index);
      }
    }
    const hc = hcs.get(str(((bs['healthChecks'] as string[] | undefined) ?? [])[0]));
    const spec = hc === undefined ? undefined : healthCheckSpec(hc);
    const probes = new Map<number, string>();
    for (const idx of [...backends].sort((a, b) => a - b)) {
      const node = nodes.find((n) => n.index === idx)!;
      const ips = localIps.get(idx) ?? [];
      if (!ips.includes(ip)) localIps.set(idx, [...ips, ip]);
      if (spec === undefined) continue;
      const id = probeId(node.ip, ip, spec.port);
      probes.set(idx, id);
      targets.set(id, { id, srcs: probeSources(idx), dst: ip, nodeIp: node.ip, ...spec });
    }
    rules.push({
      name: str(fr['name']),
      ip,
      protocol: str(fr['IPProtocol']) || 'TCP',
      ports: ((fr['ports'] as string[] | undefined) ?? []).map(String),
      allPorts: fr['allPorts'] === true,
      affinity: str(bs['sessionAffinity']) || 'NONE',
      backends: [...backends].sort((a, b) => a - b),
      probes,
    });
  }
  return { rules, targets: [...targets.values()].sort((a, b) => a.id.localeCompare(b.id)), localIps, unknownEndpoints: [...unknown].sort() };
}

/** Health of one probe stream, driven by probe results with the check's thresholds. */
export class HealthState {
  state: 'HEALTHY' | 'UNHEALTHY' = 'UNHEALTHY';
  private ok = 0;
  private fail = 0;
  /** When the state last changed (ms, performance.now()). */
  changedAt = performance.now();
  private healthyThreshold: number;
  private unhealthyThreshold: number;
  constructor(healthyThreshold: number, unhealthyThreshold: number) {
    this.healthyThreshold = healthyThreshold;
    this.unhealthyThreshold = unhealthyThreshold;
  }
  retune(h: number, u: number): void {
    this.healthyThreshold = h;
    this.unhealthyThreshold = u;
  }
  /** Feeds one probe result; true when the state changed. */
  feed(success: boolean): boolean {
    if (success) {
      this.ok++;
      this.fail = 0;
      if (this.state === 'UNHEALTHY' && this.ok >= this.healthyThreshold) return this.set('HEALTHY');
    } else {
      this.fail++;
      this.ok = 0;
      if (this.state === 'HEALTHY' && this.fail >= this.unhealthyThreshold) return this.set('UNHEALTHY');
    }
    return false;
  }
  private set(s: 'HEALTHY' | 'UNHEALTHY'): boolean {
    this.state = s;
    this.changedAt = performance.now();
    return true;
  }
}

/** The hash GCE uses per session affinity (docs: internal passthrough NLB session affinity). */
function hashFields(affinity: string): string {
  switch (affinity) {
    case 'CLIENT_IP':
      return 'ip saddr . ip daddr';
    case 'CLIENT_IP_PROTO':
      return 'ip saddr . ip daddr . meta l4proto';
    default:
      return 'ip saddr . ip daddr . meta l4proto . th sport . th dport';
  }
}

const portSet = (ports: readonly string[]): string => `{ ${ports.join(', ')} }`;

/**
 * The vpc's nftables ruleset for a plan and the current health. Forwarding: a packet to a rule's
 * IP/protocol/ports gets the fwmark of the chosen node; `ip rule fwmark` sends it to that node's
 * table (default via the node IP), so the destination stays the VIP. Firewall: per node chain.
 */
export function vpcRuleset(plan: VpcPlan, healthy: (probeId: string) => boolean, nodes: readonly VpcNode[], firewalls: readonly Res[], instances: readonly Res[]): string {
  const lines: string[] = ['table ip gce {'];
  const vips = [...new Set(plan.rules.map((r) => r.ip))].sort();
  lines.push('  chain steer {', '    type filter hook prerouting priority mangle; policy accept;');
  for (const r of plan.rules) {
    const healthyNodes = r.backends.filter((i) => {
      const id = r.probes.get(i);
      return id !== undefined && healthy(id);
    });
    // All backends unhealthy (or no health check): traffic goes to all of them (GCE).
    const pool = healthyNodes.length > 0 ? healthyNodes : r.backends;
    const proto = r.protocol === 'UDP' ? 'meta l4proto udp' : r.protocol === 'TCP' ? 'meta l4proto tcp' : 'meta l4proto { tcp, udp }';
    const ports = r.allPorts || r.ports.length === 0 ? '' : ` th dport ${portSet(r.ports.flatMap((p) => p.split(',')))}`;
    const match = `iifname != "n*" ip daddr ${r.ip} ${proto}${ports}`;
    if (pool.length === 0) {
      lines.push(`    ${match} drop comment "${r.name}: no backends"`);
      continue;
    }
    const map = pool.map((i, k) => `${k} : ${markOf(i)}`).join(', ');
    lines.push(`    ${match} meta mark set jhash ${hashFields(r.affinity)} mod ${pool.length} map { ${map} } comment "${r.name}"`);
  }
  lines.push('  }');

  lines.push('  chain forward {', '    type filter hook forward priority filter; policy accept;');
  // A node's own packet to a VIP never comes back to it through the vpc (no hairpin loop).
  if (vips.length > 0) lines.push(`    iifname "n*" ip daddr { ${vips.join(', ')} } drop`);
  for (const n of nodes) lines.push(`    oifname "${vpcIfOf(n.index)}" jump to_${n.index}`);
  lines.push('  }');
  lines.push('  chain output {', '    type filter hook output priority filter; policy accept;');
  for (const n of nodes) lines.push(`    oifname "${vpcIfOf(n.index)}" jump to_${n.index}`);
  lines.push('  }');

  const instByIp = new Map<string, Res>();
  for (const i of instances) {
    const nic = ((i['networkInterfaces'] as Res[] | undefined) ?? [])[0];
    if (nic !== undefined) instByIp.set(str(nic['networkIP']), i);
  }
  const ordered = firewalls
    .filter((f) => (str(f['direction']) || 'INGRESS') === 'INGRESS' && f['disabled'] !== true)
    .sort((a, b) => Number(a['priority'] ?? 1000) - Number(b['priority'] ?? 1000) || (a['denied'] !== undefined ? -1 : 0) - (b['denied'] !== undefined ? -1 : 0) || str(a['name']).localeCompare(str(b['name'])));
  for (const n of nodes) {
    const inst = instByIp.get(n.ip);
    const tags = new Set(((inst?.['tags'] as Res | undefined)?.['items'] as string[] | undefined) ?? []);
    const network = last(((inst?.['networkInterfaces'] as Res[] | undefined) ?? [])[0]?.['network']);
    lines.push(`  chain to_${n.index} {`, '    ct state established,related accept');
    for (const f of ordered) {
      if (network !== '' && last(f['network']) !== network) continue;
      const targetTags = (f['targetTags'] as string[] | undefined) ?? [];
      if (targetTags.length > 0 && !targetTags.some((t) => tags.has(t))) continue;
      if (((f['targetServiceAccounts'] as string[] | undefined) ?? []).length > 0) continue;
      const src = (f['sourceRanges'] as string[] | undefined) ?? [];
      if (src.length === 0) continue; // sourceTags only: not modelled (no instance is a source here)
      const dst = (f['destinationRanges'] as string[] | undefined) ?? [];
      const verdict = f['denied'] !== undefined ? 'drop' : 'accept';
      const entries = ((f['denied'] ?? f['allowed']) as Array<{ IPProtocol?: string; ports?: string[] }> | undefined) ?? [];
      for (const e of entries) {
        const p = (e.IPProtocol ?? 'all').toLowerCase();
        const parts = [`ip saddr { ${src.join(', ')} }`];
        if (dst.length > 0) parts.push(`ip daddr { ${dst.join(', ')} }`);
        if (p === 'tcp' || p === 'udp') {
          parts.push(`meta l4proto ${p}`);
          if ((e.ports ?? []).length > 0) parts.push(`th dport ${portSet(e.ports!)}`);
        } else if (p === 'icmp') parts.push('meta l4proto icmp');
        else if (p !== 'all') continue;
        lines.push(`    ${parts.join(' ')} ${verdict} comment "${str(f['name'])}"`);
      }
    }
    // GCE's implied rule: deny all ingress.
    lines.push('    drop', '  }');
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
