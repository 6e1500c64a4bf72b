// SPDX-License-Identifier: Apache-2.0
//
// compose(statuses, outcome): the last step of the data flow (docs/architecture.md). translate
// computes every status that does not depend on GCE and leaves `Programmed` Pending; apply reports
// what GCE holds for the Gateway (the outcome); compose sets the Gateway's and each listener's
// `Programmed` and `status.addresses` from it. Pure.
//
// Gateway API v1.6 (GatewayConditionType Programmed): True once the load balancer is programmed;
// False with `AddressNotAssigned` (no VIP yet), `AddressNotUsable` (the requested address cannot be
// used), `NoResources` (not enough capacity: here a GCE quota), `Invalid`, or `Pending`.
// `status.addresses` lists the addresses bound to the Gateway: the VIP, once known.
//
// An outcome of `unknown` (GCE could not be read) keeps `Programmed` and the addresses as the live
// status has them: a failed read is not news about the load balancer.
import type { Condition, GatewayStatus } from '../api/index.ts';
import type { GatewayIR } from '../ir/types.ts';
import { CondType, Reason, cond, stampConditions, type CondSpec } from './conditions.ts';

/** Why the Gateway is not Programmed, as apply classified it. */
export type NotProgrammedReason = 'Pending' | 'AddressNotAssigned' | 'AddressNotUsable' | 'NoResources' | 'Invalid';

/** What apply found and did for one Gateway. */
export type GceOutcome =
  | {
      kind: 'applied';
      /** The VIP once known (the reserved address's IP). */
      vip?: string;
      /** Desired forwarding rules that exist now. */
      forwardingRules: readonly string[];
      /** True when the VIP is known, every desired forwarding rule exists and nothing failed. */
      ready: boolean;
      /** When not ready. Default Pending. */
      reason?: NotProgrammedReason;
      message?: string;
    }
  /** GCE could not be read (facts unknown): nothing was planned or written. */
  | { kind: 'unknown'; message: string };

const PENDING = 'waiting for the load balancer to be programmed';

/**
 * The Gateway status translate computed, with `Programmed` and the addresses set from the outcome.
 * `live` is the status the API server holds (transition times and, for `unknown`, the last word).
 */
export function composeGatewayStatus(
  status: GatewayStatus,
  ir: GatewayIR,
  outcome: GceOutcome,
  live: GatewayStatus | undefined,
  generation: number | undefined,
  now: string,
): GatewayStatus {
  if (outcome.kind === 'unknown') {
    const keep = (conds: readonly Condition[] | undefined, liveConds: readonly Condition[] | undefined): Condition[] | undefined => {
      const prev = liveConds?.find((c) => c.type === CondType.Programmed);
      if (conds === undefined || prev === undefined) return conds ? [...conds] : conds;
      return conds.map((c) => (c.type === CondType.Programmed ? { ...prev, ...(generation === undefined ? {} : { observedGeneration: generation }) } : c));
    };
    const out: GatewayStatus = {
      ...status,
      conditions: keep(status.conditions, live?.conditions) ?? [],
      listeners: (status.listeners ?? []).map((l) => ({
        ...l,
        conditions: keep(l.conditions, live?.listeners?.find((x) => x.name === l.name)?.conditions) ?? [],
      })),
    };
    if (live?.addresses !== undefined && live.addresses.length > 0) out.addresses = live.addresses.map((a) => ({ ...a }));
    return out;
  }
  const vip = outcome.vip;
  const exists = new Set(outcome.forwardingRules);
  const missing = ir.forwardingRules.filter((f) => !exists.has(f.name)).map((f) => f.name);
  let gwProgrammed: CondSpec;
  if (outcome.ready && vip !== undefined && missing.length === 0) {
    gwProgrammed = cond(CondType.Programmed, true, Reason.Programmed, outcome.message ?? `VIP ${vip} programmed`);
  } else if (outcome.reason === undefined && vip !== undefined && missing.length > 0) {
    gwProgrammed = cond(CondType.Programmed, false, Reason.Pending, `VIP ${vip} reserved; waiting for forwarding rule(s) ${missing.join(', ')}`);
  } else {
    const reason = outcome.reason ?? (vip === undefined ? 'AddressNotAssigned' : 'Pending');
    gwProgrammed = cond(CondType.Programmed, false, Reason[reason], outcome.message ?? PENDING);
  }
  const replace = (conds: readonly Condition[] | undefined, spec: CondSpec, liveConds: readonly Condition[] | undefined): Condition[] => {
    const [stamped] = stampConditions([spec], liveConds, generation, now);
    return (conds ?? []).map((c) => (c.type === spec.type && stamped !== undefined ? stamped : c));
  };
  const out: GatewayStatus = {
    ...status,
    conditions: replace(status.conditions, gwProgrammed, live?.conditions),
    listeners: (status.listeners ?? []).map((l) => {
      const inIR = ir.listeners.find((x) => x.name === l.name);
      const current = l.conditions?.find((c) => c.type === CondType.Programmed);
      // Listeners translate did not program (invalid, not accepted) keep translate's condition.
      if (inIR === undefined || current?.reason === Reason.Invalid) return l;
      const fr = inIR.forwardingRule;
      const spec =
        exists.has(fr) && vip !== undefined
          ? cond(CondType.Programmed, true, Reason.Programmed, `forwarding rule ${fr} exists`)
          : cond(CondType.Programmed, false, Reason.Pending, `waiting for forwarding rule ${fr}`);
      return { ...l, conditions: replace(l.conditions, spec, live?.listeners?.find((x) => x.name === l.name)?.conditions) };
    }),
  };
  if (vip !== undefined) out.addresses = [{ type: 'IPAddress', value: vip }];
  else delete out.addresses;
  return out;
}
