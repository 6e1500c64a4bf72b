// SPDX-License-Identifier: Apache-2.0
//
// Pure condition builders and the reason constants of Gateway API v1.6 (apis/v1/*_types.go), MCS
// (KEP-1645, mcs-api v1beta1) and fleet-ilb's own conditions. The status WRITER lives elsewhere;
// everything here is data in, data out.
//
// `lastTransitionTime` follows metav1 semantics (and Envoy Gateway's MergeConditions): it changes
// only when a condition's `status` flips; a new reason or message keeps the old time.
import type { Condition } from '../api/index.ts';

/** Messages are capped like the apiserver's validation of `metav1.Condition.message`. */
export const MAX_MESSAGE = 32768;

export const CondType = {
  Accepted: 'Accepted',
  Programmed: 'Programmed',
  ResolvedRefs: 'ResolvedRefs',
  Conflicted: 'Conflicted',
  SupportedVersion: 'SupportedVersion',
  // MCS (ServiceExport / ServiceImport)
  Valid: 'Valid',
  Ready: 'Ready',
  Conflict: 'Conflict',
  // fleet-ilb's own Gateway conditions (domain-prefixed, as the spec asks of implementation conditions)
  MembersReachable: 'fleetilb.io/MembersReachable',
  WithinLimits: 'fleetilb.io/WithinLimits',
  /** Only on Gateways with a UDP listener: how its health check reaches the backends (translate/DECISIONS.md 8). */
  UDPHealthCheck: 'fleetilb.io/UDPHealthCheck',
  /** GCE's health-check verdict on the backends (status/health.ts); absent while health is not read (--health-period 0). */
  BackendsHealthy: 'fleetilb.io/BackendsHealthy',
  /** FleetMember: whether every Node can back a NEG, else how many cannot and why (translate/checks/nodes.ts). */
  NodesEligible: 'NodesEligible',
} as const;

export const Reason = {
  // GatewayClass
  Accepted: 'Accepted',
  InvalidParameters: 'InvalidParameters',
  UnsupportedVersion: 'UnsupportedVersion',
  SupportedVersion: 'SupportedVersion',
  Pending: 'Pending',
  // Gateway
  ListenersNotValid: 'ListenersNotValid',
  UnsupportedAddress: 'UnsupportedAddress',
  Invalid: 'Invalid',
  Programmed: 'Programmed',
  AddressNotAssigned: 'AddressNotAssigned',
  AddressNotUsable: 'AddressNotUsable',
  NoResources: 'NoResources',
  // Listener
  PortUnavailable: 'PortUnavailable',
  UnsupportedProtocol: 'UnsupportedProtocol',
  NoConflicts: 'NoConflicts',
  ProtocolConflict: 'ProtocolConflict',
  ResolvedRefs: 'ResolvedRefs',
  InvalidRouteKinds: 'InvalidRouteKinds',
  // Route
  NotAllowedByListeners: 'NotAllowedByListeners',
  NoMatchingParent: 'NoMatchingParent',
  RefNotPermitted: 'RefNotPermitted',
  InvalidKind: 'InvalidKind',
  BackendNotFound: 'BackendNotFound',
  // Policy (GEP-713, apis/v1/policy_types.go PolicyConditionReason; also Accepted, Invalid)
  Conflicted: 'Conflicted',
  TargetNotFound: 'TargetNotFound',
  // MCS (kubernetes-sigs/mcs-api pkg/apis/v1beta1/serviceexport.go)
  Valid: 'Valid',
  NoService: 'NoService',
  InvalidServiceType: 'InvalidServiceType',
  Exported: 'Exported',
  Ready: 'Ready',
  Failed: 'Failed',
  PortConflict: 'PortConflict',
  TypeConflict: 'TypeConflict',
  SessionAffinityConflict: 'SessionAffinityConflict',
  SessionAffinityConfigConflict: 'SessionAffinityConfigConflict',
  InternalTrafficPolicyConflict: 'InternalTrafficPolicyConflict',
  TrafficDistributionConflict: 'TrafficDistributionConflict',
  // fleet-ilb
  AllReachable: 'AllReachable',
  MembersFrozen: 'MembersFrozen',
  TooManyNEGs: 'TooManyNEGs',
  TooManyForwardingRules: 'TooManyForwardingRules',
  WithinLimits: 'WithinLimits',
  PodHealthPort: 'PodHealthPort',
  NodeHealthCheckFallback: 'NodeHealthCheckFallback',
  Connected: 'Connected',
  Unreachable: 'Unreachable',
  AuthFailed: 'AuthFailed',
  InvalidKubeconfig: 'InvalidKubeconfig',
  SecretNotFound: 'SecretNotFound',
  BackendsHealthy: 'BackendsHealthy',
  NoHealthyBackends: 'NoHealthyBackends',
  AllNodesEligible: 'AllNodesEligible',
  NodesExcluded: 'NodesExcluded',
} as const;

/** A condition without its time; `stamp` adds observedGeneration and lastTransitionTime. */
export interface CondSpec {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** Builds a CondSpec (the message trimmed to MAX_MESSAGE). */
export function cond(type: string, status: boolean | 'Unknown', reason: string, message: string): CondSpec {
  const s = status === 'Unknown' ? 'Unknown' : status ? 'True' : 'False';
  return { type, status: s, reason, message: message.length > MAX_MESSAGE ? message.slice(0, MAX_MESSAGE) : message };
}

/**
 * Turns desired conditions into full conditions: `observedGeneration` set, `lastTransitionTime`
 * carried over from the existing condition of the same type when its status is unchanged, else `now`.
 * Conditions of other types in `existing` are not returned (the caller owns the whole list it
 * writes; foreign RouteParentStatus entries are kept by the writer, not here).
 */
export function stampConditions(
  desired: readonly CondSpec[],
  existing: readonly Condition[] | undefined,
  generation: number | undefined,
  now: string,
): Condition[] {
  return desired.map((d) => {
    const prev = existing?.find((c) => c.type === d.type);
    const lastTransitionTime = prev !== undefined && prev.status === d.status ? prev.lastTransitionTime : now;
    return {
      type: d.type,
      status: d.status,
      reason: d.reason,
      message: d.message,
      ...(generation === undefined ? {} : { observedGeneration: generation }),
      lastTransitionTime,
    };
  });
}

/** True when two condition lists are equal ignoring lastTransitionTime (compare before write). */
export function conditionsEqual(a: readonly Condition[] | undefined, b: readonly Condition[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  if (x.length !== y.length) return false;
  return x.every((c, i) => {
    const d = y[i];
    return (
      d !== undefined &&
      c.type === d.type &&
      c.status === d.status &&
      c.reason === d.reason &&
      c.message === d.message &&
      c.observedGeneration === d.observedGeneration
    );
  });
}
