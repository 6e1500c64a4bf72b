// SPDX-License-Identifier: Apache-2.0
//
// Pinned health-check node ports for UDP listeners (DESIGN.md §4): GCE has no UDP health check, so
// a UDP backend service is checked over HTTP `/healthz` on the VIP Service's `healthCheckNodePort`,
// which must be the same port in every member (one health check per backend service). A NodePort is
// unique per cluster, so the port must be free in every member.
//
// Choice, stable across passes: (1) the port the VIP Service already has, when every member that
// has it agrees; (2) ILBConfig `healthCheck.udpHealthCheckNodePort`; (3) a hash of the VIP Service
// name into the NodePort range; (2) and (3) probe upwards past ports in use by any Service of any
// member or already handed out in this pass.
import { LABEL_MANAGED_BY, MANAGED_BY_VALUE } from '../naming/labels.ts';
import { hash32 } from '../naming/hash.ts';
import type { Ctx } from './context.ts';

export interface HcPortAllocator {
  /** Returns the pinned port for the VIP Service `name` (same name in every member). */
  allocate(name: string, preferred: number | undefined): number;
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
  for (const m of ctx.members) {
    for (const svc of m.services.values()) {
      const ours = svc.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY_VALUE;
      for (const p of svc.spec.ports ?? []) if (p.nodePort !== undefined && p.nodePort > 0) hold(p.nodePort, '');
      const hc = svc.spec.healthCheckNodePort;
      if (hc === undefined || hc <= 0) continue;
      hold(hc, ours ? svc.metadata.name : '');
      if (ours) {
        const s = existing.get(svc.metadata.name) ?? new Set<number>();
        s.add(hc);
        existing.set(svc.metadata.name, s);
      }
    }
  }
  const { min, max } = ctx.nodePortRange;
  const size = max - min + 1;
  const handedOut = new Set<number>();
  const free = (p: number): boolean => !holders.has(p) && !handedOut.has(p);
  const probe = (start: number): number => {
    for (let i = 0; i < size; i++) {
      const p = min + ((start - min + i) % size);
      if (free(p)) return p;
    }
    return start; // range exhausted: give the start; the member apiserver will refuse and say so
  };
  return {
    allocate(name, preferred) {
      // Keep the port the VIP Service already has when every member agrees and nothing else
      // holds it in any member (it must be free fleet-wide to be the one health-check port).
      const mine = existing.get(name);
      const [p] = mine !== undefined && mine.size === 1 ? [...mine] : [];
      if (p !== undefined && !handedOut.has(p) && [...(holders.get(p) ?? [])].every((who) => who === name)) {
        handedOut.add(p);
        return p;
      }
      const start = preferred !== undefined && preferred >= min && preferred <= max ? preferred : min + (hash32(name) % size);
      const q = probe(start);
      handedOut.add(q);
      return q;
    },
  };
}
