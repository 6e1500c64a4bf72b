// SPDX-License-Identifier: Apache-2.0
//
// Which node VMs of a member may sit in a NEG, after GKE's L4 rules for externalTrafficPolicy Local
// (ingress-gce pkg/utils/zonegetter nodePredicateInternal; pkg/neg/syncers LocalL4EndpointsCalculator):
// an ordered chain of exclusions, then zone/instance mapping.
//   Deleting          node has a deletionTimestamp
//   ExcludedByLabel   `node.kubernetes.io/exclude-from-external-load-balancers` present (any value)
//   ToBeDeleted       taint `ToBeDeletedByClusterAutoscaler` (the autoscaler is draining it)
//   NotReady          condition Ready is not True
//   NoInternalIP      no InternalIP address (a GCE_VM_IP endpoint needs the NIC IP)
//   NoProviderID      nodeMapping ProviderID and no `gce://project/zone/instance` providerID
//   NoZone            nodeMapping NodeName and no `topology.kubernetes.io/zone` label
import type { Node } from '../../api/index.ts';
import type { BackendInMember } from '../../ir/types.ts';
import type { MemberView } from '../context.ts';
import { cmp } from '../context.ts';
import type { Check, Failure } from './chain.ts';
import { firstFailure } from './chain.ts';

export const LABEL_EXCLUDE_LB = 'node.kubernetes.io/exclude-from-external-load-balancers';
export const TAINT_TO_BE_DELETED = 'ToBeDeletedByClusterAutoscaler';
export const LABEL_ZONE = 'topology.kubernetes.io/zone';
const LABEL_ZONE_LEGACY = 'failure-domain.beta.kubernetes.io/zone';

/** A node that may back a NEG: its VM and NIC. */
export interface NodeTarget {
  node: string;
  project: string | undefined;
  zone: string;
  instance: string;
  ip: string;
}

interface NodeInput {
  node: Node;
  mapping: 'ProviderID' | 'NodeName';
}

const PROVIDER_ID = /^gce:\/\/([^/]+)\/([^/]+)\/([^/]+)$/;

const notDeleting: Check<NodeInput> = ({ node }) =>
  node.metadata.deletionTimestamp === undefined ? undefined : { reason: 'Deleting', message: 'node is being deleted' };
const notExcluded: Check<NodeInput> = ({ node }) =>
  node.metadata.labels?.[LABEL_EXCLUDE_LB] === undefined ? undefined : { reason: 'ExcludedByLabel', message: `label ${LABEL_EXCLUDE_LB}` };
const notDraining: Check<NodeInput> = ({ node }) =>
  (node.spec?.taints ?? []).some((t) => t.key === TAINT_TO_BE_DELETED) ? { reason: 'ToBeDeleted', message: `taint ${TAINT_TO_BE_DELETED}` } : undefined;
const ready: Check<NodeInput> = ({ node }) =>
  (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') ? undefined : { reason: 'NotReady', message: 'node is not Ready' };
const hasInternalIP: Check<NodeInput> = ({ node }) =>
  internalIP(node) === undefined ? { reason: 'NoInternalIP', message: 'node has no InternalIP' } : undefined;
const mappable: Check<NodeInput> = ({ node, mapping }) => {
  if (mapping === 'NodeName') return zoneLabel(node) === undefined ? { reason: 'NoZone', message: `no ${LABEL_ZONE} label` } : undefined;
  return PROVIDER_ID.test(node.spec?.providerID ?? '') ? undefined : { reason: 'NoProviderID', message: 'no gce:// providerID' };
};

const NODE_CHECKS: ReadonlyArray<Check<NodeInput>> = [notDeleting, notExcluded, notDraining, ready, hasInternalIP, mappable];

function internalIP(node: Node): string | undefined {
  return node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
}

function zoneLabel(node: Node): string | undefined {
  return node.metadata.labels?.[LABEL_ZONE] ?? node.metadata.labels?.[LABEL_ZONE_LEGACY];
}

/** Why a node cannot back a NEG (undefined = it can). */
export function nodeExclusion(node: Node, mapping: 'ProviderID' | 'NodeName'): Failure | undefined {
  return firstFailure(NODE_CHECKS, { node, mapping });
}

/** The node's VM and zone (ProviderID `gce://project/zone/instance`, or node name + zone label). */
export function nodeTarget(node: Node, mapping: 'ProviderID' | 'NodeName'): NodeTarget | undefined {
  if (nodeExclusion(node, mapping) !== undefined) return undefined;
  const ip = internalIP(node) ?? '';
  if (mapping === 'NodeName') {
    return { node: node.metadata.name, project: undefined, zone: zoneLabel(node) ?? '', instance: node.metadata.name, ip };
  }
  const m = PROVIDER_ID.exec(node.spec?.providerID ?? '');
  if (m === null) return undefined;
  return { node: node.metadata.name, project: m[1], zone: m[2] ?? '', instance: m[3] ?? '', ip };
}

/** Zone of a node for FleetMember status (eligible or not). */
export function nodeZone(node: Node): string | undefined {
  return PROVIDER_ID.exec(node.spec?.providerID ?? '')?.[2] ?? zoneLabel(node);
}

/** A member's eligible nodes, indexed for NEG building. */
export interface EligibleNodes {
  /** Node name -> target. */
  byName: Map<string, NodeTarget>;
  /** Zones that have at least one eligible node, sorted (one NEG per zone). */
  zones: string[];
  /** Zone -> project of the first eligible node there (providerID), if any. */
  projectOfZone: Map<string, string>;
}

const targetCache = new WeakMap<MemberView, EligibleNodes>();

/** Every eligible node of a member (computed once per member per translate). */
export function eligibleNodes(m: MemberView): EligibleNodes {
  const cached = targetCache.get(m);
  if (cached !== undefined) return cached;
  const mapping = m.fleetMember.spec.gcp?.nodeMapping ?? 'ProviderID';
  const byName = new Map<string, NodeTarget>();
  const projectOfZone = new Map<string, string>();
  for (const [name, node] of m.nodes) {
    const t = nodeTarget(node, mapping);
    if (t === undefined) continue;
    byName.set(name, t);
    if (t.project !== undefined && !projectOfZone.has(t.zone)) projectOfZone.set(t.zone, t.project);
  }
  const zones = [...new Set([...byName.values()].map((t) => t.zone))].sort(cmp);
  const out = { byName, zones, projectOfZone };
  targetCache.set(m, out);
  return out;
}

/**
 * Node names hosting endpoints of the given member-side backends: ready endpoints, or, when the
 * backends have no ready endpoint at all, serving+terminating ones (KEP-1669 semantics, as
 * kube-proxy and Cilium fall back to them).
 */
export function endpointNodes(m: MemberView, backends: readonly BackendInMember[]): { ready: Set<string>; servingTerminating: Set<string> } {
  const readyNodes = new Set<string>();
  const terminating = new Set<string>();
  for (const b of backends) {
    for (const slice of m.slicesByService.get(`${b.serviceNamespace}/${b.serviceName}`) ?? []) {
      for (const ep of slice.endpoints ?? []) {
        if (ep.nodeName === undefined) continue;
        const c = ep.conditions ?? {};
        // A nil `ready` means ready (discovery.k8s.io/v1 EndpointConditions).
        if (c.ready !== false && c.terminating !== true) readyNodes.add(ep.nodeName);
        else if (c.terminating === true && (c.serving ?? c.ready) === true) terminating.add(ep.nodeName);
      }
    }
  }
  return { ready: readyNodes, servingTerminating: terminating };
}
