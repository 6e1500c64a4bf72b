// SPDX-License-Identifier: Apache-2.0
//
// Health-check ports of UDP listeners (translate/DECISIONS.md 8). GCE has no UDP health check, and
// it sends every probe to the forwarding rule's IP, the VIP
// (https://cloud.google.com/load-balancing/docs/health-check-concepts#hc-packet-dest), so a UDP
// backend service is checked over TCP at `VIP:P`, one port P per backend service, the same in every
// member. P is the VIP Service's pinned `healthCheckNodePort` and, when the backends name a pod
// health port (annotation `fleetilb.io/health-check-port` on the member Service), also an extra TCP
// port `health` of the VIP Service whose target is that pod port: the node's proxy translates the
// probe like the traffic, to a ready LOCAL pod (ETP Local). Without it, the fallback is HTTP
// `/healthz` at `VIP:P`, kube-proxy's / Cilium's health server. A NodePort is unique per cluster,
// so P must be free in every member; it must not be a TCP listener port of the Gateway either (the
// `health` port shares the VIP with the Gateway's TCP listeners).
//
// Choice, stable across passes: (1) the port the VIP Service already has, when every member that
// has it agrees and no other Service holds it (two VIP Services holding one port in different
// members — two Gateways that raced — : the smallest name keeps it, the other moves, so the pair
// converges instead of both moving); (2) ILBConfig `healthCheck.udpHealthCheckNodePort`; (3) a hash
// of the VIP Service name into the NodePort range; (2) and (3) probe upwards past ports in use by
// any Service of any member or already handed out to the same Gateway in this pass.
//
// The choice for one Gateway depends only on the members' Services and that Gateway, never on other
// Gateways translated in the same pass: a per-Gateway translate (the provider's scoped snapshot,
// which carries every member's node ports in `Snapshot.nodePorts`) gives the same port as a
// whole-fleet one. Two new Gateways may then pick one port; the member apiserver refuses the second
// VIP Service ("provided port is already allocated"), and the retry sees the port held.
import type { Service } from '../api/index.ts';
import { LABEL_MANAGED_BY, MANAGED_BY_VALUE } from '../naming/labels.ts';
import { hash32 } from '../naming/hash.ts';
import { vipServiceName } from '../naming/names.ts';
import type { MemberNodePorts } from '../snapshot/types.ts';
import type { Ctx } from './context.ts';
import { cmp } from './context.ts';

export interface HcPortAllocator {
  /**
   * Returns the pinned port for the VIP Service `name` (same name in every member), never one of
   * `avoid` (the Gateway's TCP listener ports).
   */
  allocate(name: string, preferred: number | undefined, avoid?: Iterable<number>): number;
}

/** Member Service annotation naming the pods' TCP health port (a container port name or number). */
export const HEALTH_CHECK_PORT_ANNOTATION = 'fleetilb.io/health-check-port';

/**
 * The value of {@link HEALTH_CHECK_PORT_ANNOTATION}, as a Service `targetPort` would take it: a
 * number 1-65535, or an IANA service name (at most 15 of [a-z0-9-], a letter, no leading, trailing
 * or double '-'). Anything else: undefined (the member then names no health port).
 */
export function parseHealthPort(value: string | undefined): number | string | undefined {
  const v = value?.trim() ?? '';
  if (/^[0-9]+$/.test(v)) {
    const n = Number(v);
    return n >= 1 && n <= 65535 ? n : undefined;
  }
  const iana = v.length <= 15 && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(v) && /[a-z]/.test(v) && !v.includes('--');
  return iana ? v : undefined;
}

/** The node ports one member's Services hold, in `Snapshot.nodePorts` form. */
export function memberNodePorts(services: Iterable<Service>): MemberNodePorts {
  const other = new Set<number>();
  const vip = new Map<number, Set<string>>();
  for (const svc of services) {
    for (const [port, holder] of servicePortHolders(svc)) {
      if (holder === '') other.add(port);
      else vip.set(port, (vip.get(port) ?? new Set<string>()).add(holder));
    }
  }
  return {
    other: [...other].sort((a, b) => a - b),
    vip: Object.fromEntries([...vip].sort(([a], [b]) => a - b).map(([p, names]) => [String(p), [...names].sort(cmp)])),
  };
}

/**
 * What node ports a Service holds and for whom: `''` = anything but a fleet-ilb VIP Service's
 * health-check port (a VIP Service's own nodePorts included), else the VIP Service's name.
 */
export function servicePortHolders(svc: Service): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  const ours = svc.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY_VALUE;
  for (const p of svc.spec.ports ?? []) if (p.nodePort !== undefined && p.nodePort > 0) out.push([p.nodePort, '']);
  const hc = svc.spec.healthCheckNodePort;
  if (hc !== undefined && hc > 0) out.push([hc, ours ? svc.metadata.name : '']);
  return out;
}

/** Builds the allocator from every Service of every member (frozen ones included: their ports stay taken). */
export function hcPortAllocator(ctx: Ctx): HcPortAllocator {
  /** port -> who holds it in some member: our VIP Service names, or '' for anything else. */
  const holders = new Map<number, Set<string>>();
  const hold = (port: number, who: string): void => {
    const s = holders.get(port) ?? new Set<string>();
    s.add(who);
    holders.set(port, s);
  };
  const existing = new Map<string, Set<number>>();
  const own = (name: string, port: number): void => {
    const s = existing.get(name) ?? new Set<number>();
    s.add(port);
    existing.set(name, s);
  };
  for (const m of ctx.members) {
    const given = ctx.snapshot.nodePorts?.[m.clusterId];
    const ports = given ?? memberNodePorts(m.services.values());
    for (const p of ports.other) hold(p, '');
    for (const [p, names] of Object.entries(ports.vip)) {
      for (const n of names) {
        hold(Number(p), n);
        own(n, Number(p));
      }
    }
  }
  // Which Gateway a VIP Service name belongs to (handed-out ports are per Gateway, see above).
  let owners: Map<string, string> | undefined;
  const ownerOf = (name: string): string => {
    if (owners === undefined) {
      owners = new Map();
      for (const gw of ctx.gateways) {
        const g = { fleetId: ctx.fleetId, namespace: gw.metadata.namespace ?? '', name: gw.metadata.name };
        for (const l of gw.spec.listeners) owners.set(vipServiceName(g, l.name), `${g.namespace}/${g.name}`);
      }
    }
    return owners.get(name) ?? name;
  };
  const { min, max } = ctx.nodePortRange;
  const size = max - min + 1;
  /** owner -> ports handed out to that Gateway in this pass. */
  const handedOut = new Map<string, Set<number>>();
  const probe = (start: number, mine: Set<number>): number => {
    for (let i = 0; i < size; i++) {
      const p = min + ((start - min + i) % size);
      if (!holders.has(p) && !mine.has(p)) return p;
    }
    return start; // range exhausted: give the start; the member apiserver will refuse and say so
  };
  return {
    allocate(name, preferred, avoid = []) {
      const owner = ownerOf(name);
      const mine = handedOut.get(owner) ?? new Set<number>();
      handedOut.set(owner, mine);
      // The Gateway's TCP listener ports count as handed out: the VIP Service's `health` port is a
      // TCP port on the same VIP.
      for (const p of avoid) mine.add(p);
      // Keep the port the VIP Service already has when every member agrees and no other Service
      // holds it in any member (it must be free fleet-wide to be the one health-check port); when
      // only VIP Services hold it, the smallest name keeps it.
      const has = existing.get(name);
      const [p] = has !== undefined && has.size === 1 ? [...has] : [];
      const who = p === undefined ? [] : [...(holders.get(p) ?? [])];
      if (p !== undefined && !mine.has(p) && !who.includes('') && who.every((w) => cmp(name, w) <= 0)) {
        mine.add(p);
        return p;
      }
      const start = preferred !== undefined && preferred >= min && preferred <= max ? preferred : min + (hash32(name) % size);
      const q = probe(start, mine);
      mine.add(q);
      return q;
    },
  };
}
