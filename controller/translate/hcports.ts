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
  const used = new Set<number>();
  const existing = new Map<string, Set<number>>();
  for (const m of ctx.members) {
    for (const svc of m.services.values()) {
      const ports = [...(svc.spec.ports ?? []).map((p) => p.nodePort), svc.spec.healthCheckNodePort].filter(
        (p): p is number => p !== undefined && p > 0,
      );
      for (const p of ports) used.add(p);
      const hc = svc.spec.healthCheckNodePort;
      if (hc !== undefined && svc.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY_VALUE) {
        const s = existing.get(svc.metadata.name) ?? new Set<number>();
        s.add(hc);
        existing.set(svc.metadata.name, s);
      }
    }
  }
  const { min, max } = ctx.nodePortRange;
  const size = max - min + 1;
  const handedOut = new Set<number>();
  const free = (p: number): boolean => !used.has(p) && !handedOut.has(p);
  const probe = (start: number): number => {
    for (let i = 0; i < size; i++) {
      const p = min + ((start - min + i) % size);
      if (free(p)) return p;
    }
    return start; // range exhausted: give the start; the member apiserver will refuse and say so
  };
  return {
    allocate(name, preferred) {
      const mine = existing.get(name);
      if (mine !== undefined && mine.size === 1) {
        const [p] = [...mine];
        if (p !== undefined && !handedOut.has(p)) {
          handedOut.add(p);
          return p;
        }
      }
      const start = preferred !== undefined && preferred >= min && preferred <= max ? preferred : min + (hash32(name) % size);
      const p = probe(start);
      handedOut.add(p);
      return p;
    },
  };
}
