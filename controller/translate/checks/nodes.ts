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
//   NoZone            mapped by name (nodeMapping NodeName, or Auto without a providerID) and no
//                     `topology.kubernetes.io/zone` label
//   NoInstance        mapped by name and GCE says no such VM exists in the project (FleetMember
//                     `spec.gcp.project`, else the ILBConfig's): a guess GCE disproved is not attached
//
// Mapping (FleetMember `spec.gcp.nodeMapping`, translate/DECISIONS.md 18): `Auto` (the default) reads
// the providerID GKE and the GCE cloud provider set, and for a Node without one (a self-managed cluster
// on GCE VMs: kubeadm without a cloud provider) uses the node name as the instance name in the zone of
// its label — a kubelet registers with the VM's short hostname, and unless a custom hostname is set
// GCE derives the hostname from the VM name (internal DNS name `VM_NAME.ZONE.c.PROJECT_ID.internal`:
// https://cloud.google.com/compute/docs/instances/custom-hostname-vm). `ProviderID` and `NodeName`
// force one way.
// A name-mapped VM is verified against GCE (TranslateOptions.nodeVms, read by the reconciler from the
// inventory's instance list): known absent => NoInstance; unknown (the read failed) is NOT absent:
// the node is kept, as before verification existed (docs/architecture.md "Unknown is not empty").
import type { Node } from '../../api/index.ts';
import type { BackendInMember } from '../../ir/types.ts';
import type { MemberView } from '../context.ts';
import { cmp, stableNodes } from '../context.ts';
import type { Check, Failure } from './chain.ts';
import { firstFailure } from './chain.ts';

export const LABEL_EXCLUDE_LB = 'node.kubernetes.io/exclude-from-external-load-balancers';
export const TAINT_TO_BE_DELETED = 'ToBeDeletedByClusterAutoscaler';
export const LABEL_ZONE = 'topology.kubernetes.io/zone';
const LABEL_ZONE_LEGACY = 'failure-domain.beta.kubernetes.io/zone';

export type NodeMapping = 'Auto' | 'ProviderID' | 'NodeName';

/** A node that may back a NEG: its VM and NIC. */
export interface NodeTarget {
  node: string;
  project: string | undefined;
  zone: string;
  instance: string;
  ip: string;
}

/** How a member's nodes map to VMs, and what GCE said about the VMs mapped by name. */
export interface MappingCtx {
  mapping: NodeMapping;
  /**
   * Projects a name-mapped node's VM is looked for in: the FleetMember's `spec.gcp.project`, else the
   * ILBConfig's (the global pass: every ILBConfig's). Empty = not verifiable (kept).
   */
  projects: readonly string[];
  /** `project/zone/instance` -> whether GCE holds that VM; an absent key = unknown (kept). */
  vms?: ReadonlyMap<string, boolean> | undefined;
}

interface NodeInput extends MappingCtx {
  node: Node;
}

const PROVIDER_ID = /^gce:\/\/([^/]+)\/([^/]+)\/([^/]+)$/;

/** Whether the node's VM is found by name (not by its providerID). */
function byName(node: Node, mapping: NodeMapping): boolean {
  return mapping === 'NodeName' || (mapping === 'Auto' && !PROVIDER_ID.test(node.spec?.providerID ?? ''));
}

/** Where GCE holds a name-mapped node's VM: the first project it is known in, `undefined` = unknown, `false` = known in none. */
function vmProject(i: MappingCtx, zone: string, instance: string): string | false | undefined {
  let unknown = false;
  for (const p of i.projects) {
    const v = i.vms?.get(`${p}/${zone}/${instance}`);
    if (v === true) return p;
    if (v === undefined) unknown = true;
  }
  return unknown || i.projects.length === 0 ? undefined : false;
}

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
  if (!byName(node, mapping)) {
    return PROVIDER_ID.test(node.spec?.providerID ?? '') ? undefined : { reason: 'NoProviderID', message: 'no gce:// providerID (nodeMapping ProviderID)' };
  }
  if (zoneLabel(node) !== undefined) return undefined;
  return { reason: 'NoZone', message: mapping === 'NodeName' ? `no ${LABEL_ZONE} label` : `no gce:// providerID and no ${LABEL_ZONE} label to find its VM by name` };
};
const vmExists: Check<NodeInput> = (i) => {
  if (!byName(i.node, i.mapping)) return undefined;
  const zone = zoneLabel(i.node) ?? '';
  if (vmProject(i, zone, i.node.metadata.name) !== false) return undefined;
  return { reason: 'NoInstance', message: `no VM ${i.node.metadata.name} in zone ${zone} of project ${i.projects.join(' or ')}` };
};

const NODE_CHECKS: ReadonlyArray<Check<NodeInput>> = [notDeleting, notExcluded, notDraining, ready, hasInternalIP, mappable, vmExists];
/** Every check but GCE's word: a node that fails one of these needs no VM lookup. */
const BEFORE_VM = NODE_CHECKS.filter((c) => c !== vmExists);

function internalIP(node: Node): string | undefined {
  return node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
}

function zoneLabel(node: Node): string | undefined {
  return node.metadata.labels?.[LABEL_ZONE] ?? node.metadata.labels?.[LABEL_ZONE_LEGACY];
}

/** Why a node cannot back a NEG (undefined = it can). */
export function nodeExclusion(node: Node, m: MappingCtx): Failure | undefined {
  return firstFailure(NODE_CHECKS, { ...m, node });
}

/** The node's VM and zone (ProviderID `gce://project/zone/instance`, or node name + zone label). */
export function nodeTarget(node: Node, m: MappingCtx): NodeTarget | undefined {
  if (nodeExclusion(node, m) !== undefined) return undefined;
  const ip = internalIP(node) ?? '';
  if (byName(node, m.mapping)) {
    const zone = zoneLabel(node) ?? '';
    const found = vmProject(m, zone, node.metadata.name);
    return { node: node.metadata.name, project: found === undefined || found === false ? undefined : found, zone, instance: node.metadata.name, ip };
  }
  const p = PROVIDER_ID.exec(node.spec?.providerID ?? '');
  if (p === null) return undefined;
  return { node: node.metadata.name, project: p[1], zone: p[2] ?? '', instance: p[3] ?? '', ip };
}

/** Zone of a node for FleetMember status (eligible or not). */
export function nodeZone(node: Node): string | undefined {
  return PROVIDER_ID.exec(node.spec?.providerID ?? '')?.[2] ?? zoneLabel(node);
}

/** The mapping a member's FleetMember asks for (absent: Auto). */
export function memberMapping(m: MemberView): NodeMapping {
  return m.fleetMember.spec.gcp?.nodeMapping ?? 'Auto';
}

/**
 * The VMs to look up in GCE before translate: every node of `members` that maps by name and passes
 * every other check (a NotReady Node of a deleted VM costs no read), in each project it may be in
 * (FleetMember project, else each of `defaultProjects`). Keys `project/zone/instance`, sorted.
 */
export function nameMappedVms(members: ReadonlyArray<{ fleetMember: MemberView['fleetMember']; nodes: Iterable<Node> }>, defaultProjects: readonly string[]): string[] {
  const out = new Set<string>();
  for (const m of members) {
    const mapping = m.fleetMember.spec.gcp?.nodeMapping ?? 'Auto';
    const projects = m.fleetMember.spec.gcp?.project !== undefined ? [m.fleetMember.spec.gcp.project] : defaultProjects;
    for (const k of memberNameMappedVms(m.nodes, mapping, projects)) out.add(k);
  }
  return [...out].sort(cmp);
}

/** Per frozen Node array (the provider's, provider/indexes.ts `nodeList`): its VMs to look up, by mapping and projects. */
const vmsMemo = new WeakMap<object, Map<string, readonly string[]>>();

function memberNameMappedVms(nodes: Iterable<Node>, mapping: NodeMapping, projects: readonly string[]): readonly string[] {
  const stable = Array.isArray(nodes) && Object.isFrozen(nodes);
  const key = `${mapping}|${projects.join(',')}`;
  const known = stable ? vmsMemo.get(nodes)?.get(key) : undefined;
  if (known !== undefined) return known;
  const out: string[] = [];
  for (const n of nodes) {
    const zone = zoneLabel(n);
    if (!byName(n, mapping) || zone === undefined || firstFailure(BEFORE_VM, { node: n, mapping, projects }) !== undefined) continue;
    for (const p of projects) out.push(`${p}/${zone}/${n.metadata.name}`);
  }
  if (stable) {
    const m = vmsMemo.get(nodes) ?? new Map<string, readonly string[]>();
    m.set(key, out);
    vmsMemo.set(nodes, m);
  }
  return out;
}

/** A member's eligible nodes, indexed for NEG building. */
export interface EligibleNodes {
  /** Node name -> target. */
  byName: Map<string, NodeTarget>;
  /** Zones that have at least one eligible node, sorted (one NEG per zone). */
  zones: string[];
  /** Zone -> project of the first eligible node there (providerID, or where GCE holds the VM), if any. */
  projectOfZone: Map<string, string>;
}

const targetCache = new WeakMap<MemberView, Map<string, EligibleNodes>>();

/**
 * Every eligible node of a member (computed once per member and project per translate). `project`:
 * where a name-mapped VM is looked for when the FleetMember names no project (the ILBConfig's).
 */
export function eligibleNodes(m: MemberView, project: string, vms?: ReadonlyMap<string, boolean>): EligibleNodes {
  const perProject = targetCache.get(m) ?? new Map<string, EligibleNodes>();
  targetCache.set(m, perProject);
  const cached = perProject.get(project);
  if (cached !== undefined) return cached;
  const mc: MappingCtx = { mapping: memberMapping(m), projects: [m.fleetMember.spec.gcp?.project ?? project], vms };
  // The provider's Node map of a member stays the same object until a Node changes: when no Node is
  // found by name (GCE's answer, `vms`, then plays no part) the result depends on it, the mapping and
  // the project alone, and is shared by every reconcile until then (translate/context.ts).
  const memoKey = `${mc.mapping}|${mc.projects[0] ?? ''}`;
  const stable = stableNodes(m.nodes) && !anyByName(m.nodes, mc.mapping);
  const memo = stable ? eligibleMemo.get(m.nodes)?.get(memoKey) : undefined;
  if (memo !== undefined) {
    perProject.set(project, memo);
    return memo;
  }
  const byNameMap = new Map<string, NodeTarget>();
  const projectOfZone = new Map<string, string>();
  for (const [name, node] of m.nodes) {
    const t = nodeTarget(node, mc);
    if (t === undefined) continue;
    byNameMap.set(name, t);
    if (t.project !== undefined && !projectOfZone.has(t.zone)) projectOfZone.set(t.zone, t.project);
  }
  const zones = [...new Set([...byNameMap.values()].map((t) => t.zone))].sort(cmp);
  const out = { byName: byNameMap, zones, projectOfZone };
  perProject.set(project, out);
  if (stable) {
    const byKey = eligibleMemo.get(m.nodes) ?? new Map<string, EligibleNodes>();
    byKey.set(memoKey, out);
    eligibleMemo.set(m.nodes, byKey);
  }
  return out;
}

/** eligibleNodes per stable Node map (translate/context.ts `stableNodes`), by mapping and project. Never mutate an entry. */
const eligibleMemo = new WeakMap<ReadonlyMap<string, Node>, Map<string, EligibleNodes>>();
const byNameMemo = new WeakMap<ReadonlyMap<string, Node>, Map<NodeMapping, boolean>>();

/** Whether any Node of the map is found by name under `mapping` (memoized for stable maps). */
function anyByName(nodes: ReadonlyMap<string, Node>, mapping: NodeMapping): boolean {
  const known = byNameMemo.get(nodes)?.get(mapping);
  if (known !== undefined) return known;
  let any = false;
  for (const n of nodes.values()) if ((any = byName(n, mapping))) break;
  const m = byNameMemo.get(nodes) ?? new Map<NodeMapping, boolean>();
  m.set(mapping, any);
  byNameMemo.set(nodes, m);
  return any;
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
