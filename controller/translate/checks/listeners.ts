// SPDX-License-Identifier: Apache-2.0
//
// Listener checks (Gateway API v1.6, gateway_types.go; GEP-2644/2645):
//   * protocol: only TCP and UDP (`Accepted=False/UnsupportedProtocol`, supportedKinds empty);
//   * route kinds: TCP listeners take TCPRoute, UDP listeners UDPRoute; any other entry in
//     `allowedRoutes.kinds` gives `ResolvedRefs=False/InvalidRouteKinds` (conformance
//     GatewayInvalidRouteKind) and is left out of supportedKinds; on a listener with an
//     unsupported protocol every requested kind is unsupported;
//   * conflicts: two listeners on one port with the same transport (TCP, or TCP + HTTP/HTTPS/TLS,
//     which ride on TCP) are both `Conflicted=True/ProtocolConflict`, `Accepted=False/Invalid`
//     (conformance GatewayListenerProtocolAndRouteKindConflicts); TCP + UDP on one port coexist.
// The GCE limit check (≤ 10 forwarding rules per address) runs later, in groups.ts, because it
// depends on the routes.
import type { Gateway, Listener, RouteGroupKind } from '../../api/index.ts';
import type { L4Protocol } from '../../ir/types.ts';
import { Reason } from '../../status/conditions.ts';
import type { Check, Failure } from './chain.ts';
import { firstFailure } from './chain.ts';
import { GATEWAY_GROUP } from './backends.ts';

export interface AttachedRoute {
  kind: 'TCPRoute' | 'UDPRoute';
  namespace: string;
  name: string;
  creationTimestamp?: string;
}

/** What translate knows about one listener while it works. */
export interface ListenerState {
  listener: Listener;
  index: number;
  /** Undefined when the protocol is not supported. */
  protocol: L4Protocol | undefined;
  supportedKinds: RouteGroupKind[];
  invalidKinds: string[];
  conflicted: boolean;
  /** The first failing Accepted check (undefined = Accepted so far). */
  rejected: Failure | undefined;
  /** Routes with Accepted=True on this listener (attachedRoutes counts them). */
  attached: AttachedRoute[];
}

const ROUTE_KIND: Record<L4Protocol, 'TCPRoute' | 'UDPRoute'> = { TCP: 'TCPRoute', UDP: 'UDPRoute' };

/** TCP and UDP are the only protocols an internal passthrough NLB forwards. */
export function l4Protocol(protocol: string): L4Protocol | undefined {
  return protocol === 'TCP' || protocol === 'UDP' ? protocol : undefined;
}

/** Transport a listener's port is bound on (for conflict detection). */
function transport(protocol: string): 'tcp' | 'udp' {
  return protocol === 'UDP' ? 'udp' : 'tcp';
}

function kindsOf(l: Listener, protocol: L4Protocol | undefined): { supported: RouteGroupKind[]; invalid: string[] } {
  const requested = l.allowedRoutes?.kinds;
  // A listener whose protocol fleet-ilb does not serve supports no route kind, so every kind it
  // asks for is unsupported: `ResolvedRefs=False/InvalidRouteKinds` besides `Accepted=False/
  // UnsupportedProtocol` (ListenerReasonInvalidRouteKinds: "the Listener contains an invalid or
  // unsupported Route kind"; conformance GatewayInvalidRouteKind, an HTTP listener with kinds
  // [InvalidRoute]). Without kinds there is nothing to resolve.
  if (protocol === undefined) return { supported: [], invalid: (requested ?? []).map(kindName) };
  const want = ROUTE_KIND[protocol];
  if (requested === undefined || requested.length === 0) return { supported: [{ group: GATEWAY_GROUP, kind: want }], invalid: [] };
  const supported: RouteGroupKind[] = [];
  const invalid: string[] = [];
  for (const k of requested) {
    const group = k.group ?? GATEWAY_GROUP;
    if (group === GATEWAY_GROUP && k.kind === want) {
      if (!supported.some((s) => s.kind === want)) supported.push({ group, kind: want });
    } else invalid.push(kindName(k));
  }
  return { supported, invalid };
}

/** `group/Kind` as the condition message names it (the core group as `core`). */
function kindName(k: { group?: string; kind: string }): string {
  const group = k.group ?? GATEWAY_GROUP;
  return `${group === '' ? 'core' : group}/${k.kind}`;
}

interface ListenerInput {
  state: ListenerState;
}

const checkProtocol: Check<ListenerInput> = ({ state }) =>
  state.protocol === undefined
    ? {
        reason: Reason.UnsupportedProtocol,
        message: `protocol ${state.listener.protocol} is not supported: fleet-ilb programs an internal passthrough load balancer, which forwards only TCP and UDP`,
      }
    : undefined;

const checkConflict: Check<ListenerInput> = ({ state }) =>
  state.conflicted
    ? {
        reason: Reason.Invalid,
        message: `port ${state.listener.port} is used by another ${transport(state.listener.protocol).toUpperCase()} listener of this Gateway`,
      }
    : undefined;

const LISTENER_CHECKS: ReadonlyArray<Check<ListenerInput>> = [checkProtocol, checkConflict];

/** Evaluates every listener of a Gateway (spec order kept). */
export function evaluateListeners(gw: Gateway): ListenerState[] {
  const listeners = gw.spec.listeners;
  const ports = new Map<string, number>();
  for (const l of listeners) {
    const k = `${transport(l.protocol)}/${l.port}`;
    ports.set(k, (ports.get(k) ?? 0) + 1);
  }
  return listeners.map((listener, index) => {
    const protocol = l4Protocol(listener.protocol);
    const { supported, invalid } = kindsOf(listener, protocol);
    const state: ListenerState = {
      listener,
      index,
      protocol,
      supportedKinds: supported,
      invalidKinds: invalid,
      conflicted: (ports.get(`${transport(listener.protocol)}/${listener.port}`) ?? 0) > 1,
      rejected: undefined,
      attached: [],
    };
    state.rejected = firstFailure(LISTENER_CHECKS, { state });
    return state;
  });
}
