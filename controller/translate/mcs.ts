// SPDX-License-Identifier: Apache-2.0
//
// The MCS importer (KEP-1645): one ServiceImport per exported `namespace/name` (namespace
// sameness), ports = union merged by name, then by protocol+port; type, session affinity, internal
// traffic policy and traffic distribution from the oldest export (the mcs-api v1beta1 ServiceImport
// fields; conformance checks their propagation); conflicts resolved by ServiceExport
// creationTimestamp (oldest wins) and reported as `Conflict=True` on every export of the service
// (mcs-api conformance checks both exports).
// ExternalName Services are invalid (`Valid=False/InvalidServiceType`), a missing Service is
// `Valid=False/NoService`.
//
// GKE MCS fleets (README, API): a member's `net.gke.io/v1` ServiceExport is an export of the same
// service as a `multicluster.x-k8s.io` one (namespace sameness does not depend on the API group), so
// the GKE multi-cluster Gateway tutorial's manifests work unchanged. Differences, both because GKE
// MCS owns those objects: fleet-ilb writes no conditions on `net.gke.io` exports (their status is
// GKE's, and deploy/member grants no write), and a `net.gke.io` ServiceImport backendRef resolves
// to GKE's ServiceImport when one exists; when none exists and fleet-ilb is the importer, it
// resolves to the service as the members export it (the same import fleet-ilb maintains under
// `multicluster.x-k8s.io`).
import type { Condition, Service, ServiceExport, ServiceImport, ServiceImportSpec, ServicePortImport } from '../api/index.ts';
import { GKE_MCS_GROUP, MCS_GROUP, keyOf } from '../api/index.ts';
import { LABEL_MANAGED_BY, MANAGED_BY_VALUE } from '../naming/labels.ts';
import type { CondSpec } from '../status/conditions.ts';
import { CondType, Reason, cond, stampConditions } from '../status/conditions.ts';
import type { Ctx, MemberView } from './context.ts';
import { byAge, cmp } from './context.ts';

/** The ServiceImport fleet-ilb wants in the config cluster (it writes spec, labels and status). */
export interface DesiredServiceImport {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  spec: ServiceImportSpec;
  status: { clusters: Array<{ cluster: string }>; conditions: Condition[] };
}

export interface ServiceExportStatus {
  cluster: string;
  namespace: string;
  name: string;
  generation?: number;
  conditions: Condition[];
}

/** A service as the fleet sees it: the import used for backend resolution plus its exporters. */
export interface ResolvedImport {
  group: string;
  namespace: string;
  name: string;
  ports: ServicePortImport[];
  /** Member cluster ids whose export is valid and whose Service provides endpoints. */
  clusters: string[];
}

export interface McsResult {
  desiredImports: DesiredServiceImport[];
  exportStatuses: ServiceExportStatus[];
  /** `group|namespace/name` -> import, for backendRef resolution. */
  imports: Map<string, ResolvedImport>;
}

interface ExportEntry {
  member: MemberView;
  export: ServiceExport;
  service: Service | undefined;
}

/** Key of an import in `McsResult.imports`. */
export function importKey(group: string, namespace: string, name: string): string {
  return `${group}|${namespace}/${name}`;
}

function isGroup(apiVersion: string | undefined, group: string): boolean {
  return (apiVersion ?? '').startsWith(`${group}/`);
}

/** A Service's ports in ServiceImport form. */
function importPorts(svc: Service): ServicePortImport[] {
  return (svc.spec.ports ?? []).map((p) => {
    const out: ServicePortImport = { port: p.port, protocol: p.protocol ?? 'TCP' };
    if (p.name !== undefined && p.name !== '') out.name = p.name;
    if (p.appProtocol !== undefined) out.appProtocol = p.appProtocol;
    return out;
  });
}

/** Validity of one export (Valid condition). */
function validity(e: ExportEntry): CondSpec {
  if (e.service === undefined) {
    return cond(CondType.Valid, false, Reason.NoService, `no Service ${keyOf(e.export.metadata)} in cluster ${e.member.clusterId}`);
  }
  if (e.service.spec.type === 'ExternalName') {
    return cond(CondType.Valid, false, Reason.InvalidServiceType, 'ExternalName Services cannot be exported (KEP-1645)');
  }
  return cond(CondType.Valid, true, Reason.Valid, 'Service found and exportable');
}

interface Merge {
  spec: ServiceImportSpec;
  /** cluster id -> conflict reasons of that export against the oldest. */
  conflicts: Map<string, Set<string>>;
}

/**
 * KEP-1645 "Service Port": like a Service's, the import's ports have no duplicated names — the empty
 * name included (a Service with one port may leave it unnamed, so two members' single unnamed ports
 * on different numbers collide) — and no two share protocol and port number.
 */
function portConflicts(merged: ServicePortImport[], p: ServicePortImport): boolean {
  return merged.some((m) => {
    const sameName = (m.name ?? '') === (p.name ?? '');
    const sameProtoPort = m.port === p.port && (m.protocol ?? 'TCP') === (p.protocol ?? 'TCP');
    return sameName !== sameProtoPort;
  });
}

function portPresent(merged: ServicePortImport[], p: ServicePortImport): boolean {
  return merged.some((m) => m.port === p.port && (m.protocol ?? 'TCP') === (p.protocol ?? 'TCP') && (m.name ?? '') === (p.name ?? ''));
}

function affinityConfigKey(s: Service): string {
  return JSON.stringify(s.spec.sessionAffinityConfig ?? null);
}

/** A Service's internal traffic policy; the apiserver defaults an absent one to `Cluster`. */
function trafficPolicy(s: Service): string {
  return s.spec.internalTrafficPolicy ?? 'Cluster';
}

/** Merges valid exports, oldest first (KEP-1645 "Conflict resolution"). */
function mergeExports(valid: ExportEntry[]): Merge {
  const conflicts = new Map<string, Set<string>>();
  const oldest = valid[0]?.service;
  const ports: ServicePortImport[] = [];
  for (const e of valid) {
    const svc = e.service;
    if (svc === undefined || oldest === undefined) continue;
    const mine = new Set<string>();
    for (const p of importPorts(svc)) {
      if (portPresent(ports, p)) continue;
      if (portConflicts(ports, p)) mine.add(Reason.PortConflict);
      else ports.push(p);
    }
    if (isHeadless(svc) !== isHeadless(oldest)) mine.add(Reason.TypeConflict);
    if ((svc.spec.sessionAffinity ?? 'None') !== (oldest.spec.sessionAffinity ?? 'None')) mine.add(Reason.SessionAffinityConflict);
    else if (affinityConfigKey(svc) !== affinityConfigKey(oldest)) mine.add(Reason.SessionAffinityConfigConflict);
    if (trafficPolicy(svc) !== trafficPolicy(oldest)) mine.add(Reason.InternalTrafficPolicyConflict);
    if ((svc.spec.trafficDistribution ?? '') !== (oldest.spec.trafficDistribution ?? '')) mine.add(Reason.TrafficDistributionConflict);
    conflicts.set(e.member.clusterId, mine);
  }
  const spec: ServiceImportSpec = {
    ports: ports.sort((a, b) => a.port - b.port || cmp(a.protocol ?? 'TCP', b.protocol ?? 'TCP') || cmp(a.name ?? '', b.name ?? '')),
    type: oldest !== undefined && isHeadless(oldest) ? 'Headless' : 'ClusterSetIP',
    sessionAffinity: oldest?.spec.sessionAffinity ?? 'None',
  };
  if (oldest?.spec.sessionAffinityConfig !== undefined) spec.sessionAffinityConfig = oldest.spec.sessionAffinityConfig;
  if (oldest?.spec.internalTrafficPolicy !== undefined) spec.internalTrafficPolicy = oldest.spec.internalTrafficPolicy;
  if (oldest?.spec.trafficDistribution !== undefined) spec.trafficDistribution = oldest.spec.trafficDistribution;
  return { spec, conflicts };
}

function isHeadless(s: Service): boolean {
  return s.spec.clusterIP === 'None';
}

/**
 * One export per service per member (KEP-1645: an export is a `namespace/name`). A member holding
 * both APIs' export of one service (e.g. while migrating off GKE MCS) counts once, with the
 * upstream one, which carries fleet-ilb's conditions.
 */
function memberExports(m: MemberView): Map<string, ServiceExport> {
  const out = new Map<string, ServiceExport>();
  for (const e of m.data?.serviceExports ?? []) {
    const k = keyOf(e.metadata);
    const prev = out.get(k);
    if (prev === undefined || (isGke(prev) && !isGke(e))) out.set(k, e);
  }
  return out;
}

function isGke(e: ServiceExport): boolean {
  return isGroup(e.apiVersion, GKE_MCS_GROUP);
}

function exportEntries(ctx: Ctx): Map<string, ExportEntry[]> {
  const out = new Map<string, ExportEntry[]>();
  for (const m of ctx.members) {
    for (const [k, e] of memberExports(m)) {
      const list = out.get(k) ?? [];
      list.push({ member: m, export: e, service: m.services.get(k) });
      out.set(k, list);
    }
  }
  return out;
}

/** Conflict condition for one export given the union of the service's conflicts. */
function conflictCondition(all: Set<string>, byCluster: Map<string, Set<string>>): CondSpec {
  if (all.size === 0) return cond(CondType.Conflict, false, Reason.NoConflicts, 'no conflicts with other exports of this service');
  const reasons = [...all].sort();
  const who = [...byCluster.entries()]
    .filter(([, r]) => r.size > 0)
    .map(([c, r]) => `${c} (${[...r].sort().join(', ')})`)
    .join('; ');
  return cond(
    CondType.Conflict,
    true,
    reasons.join(','),
    `exports conflict with the oldest export, which wins (KEP-1645): ${who}`,
  );
}

function existingImport(ctx: Ctx, group: string, ns: string, name: string): ServiceImport | undefined {
  return ctx.serviceImports.find((si) => isGroup(si.apiVersion, group) && si.metadata.namespace === ns && si.metadata.name === name);
}

/** True when a multicluster.x-k8s.io ServiceImport exists and is not labelled as fleet-ilb's. */
function isForeign(si: ServiceImport | undefined): boolean {
  return si !== undefined && si.metadata.labels?.[LABEL_MANAGED_BY] !== MANAGED_BY_VALUE;
}

/** Members that export `ns/name` (any group) and have the Service, for foreign/GKE imports. */
function exportingClusters(ctx: Ctx, k: string): string[] {
  return ctx.members.filter((m) => m.exports.has(k) && m.services.has(k)).map((m) => m.clusterId);
}

/**
 * Computes desired ServiceImports, ServiceExport conditions and the import index used to resolve
 * ServiceImport backendRefs.
 */
export function computeMcs(ctx: Ctx): McsResult {
  const desiredImports: DesiredServiceImport[] = [];
  const exportStatuses: ServiceExportStatus[] = [];
  const imports = new Map<string, ResolvedImport>();
  const entries = exportEntries(ctx);
  for (const k of [...entries.keys()].sort(cmp)) {
    const list = (entries.get(k) ?? []).sort((a, b) => byAge(a.export, b.export) || cmp(a.member.clusterId, b.member.clusterId));
    const [ns = '', name = ''] = k.split('/');
    const valid = list.filter((e) => validity(e).status === 'True');
    const merged = mergeExports(valid);
    const all = new Set<string>([...merged.conflicts.values()].flatMap((s) => [...s]));
    const existing = existingImport(ctx, MCS_GROUP, ns, name);
    const owned = ctx.mcsImporter && !isForeign(existing) && ctx.namespaces.has(ns);
    const clusters = valid.map((e) => e.member.clusterId).sort(cmp);
    if (owned && valid.length > 0) {
      desiredImports.push({
        namespace: ns,
        name,
        labels: { [LABEL_MANAGED_BY]: MANAGED_BY_VALUE },
        spec: merged.spec,
        status: {
          clusters: clusters.map((cluster) => ({ cluster })),
          conditions: stampConditions(
            [cond(CondType.Ready, true, Reason.Ready, `imported from ${clusters.length} cluster(s)`)],
            existing?.status?.conditions,
            undefined,
            ctx.now,
          ),
        },
      });
      imports.set(importKey(MCS_GROUP, ns, name), { group: MCS_GROUP, namespace: ns, name, ports: merged.spec.ports, clusters });
    }
    if (!ctx.mcsImporter) continue;
    // GKE MCS names: without GKE's own ServiceImport, the exported service itself (file comment).
    if (valid.length > 0 && existingImport(ctx, GKE_MCS_GROUP, ns, name) === undefined) {
      imports.set(importKey(GKE_MCS_GROUP, ns, name), { group: GKE_MCS_GROUP, namespace: ns, name, ports: merged.spec.ports, clusters });
    }
    for (const e of list) {
      if (e.member.frozen) continue; // its status cannot be written; last written one stays
      if (isGke(e.export)) continue; // GKE MCS's object: its status is GKE's to write
      const v = validity(e);
      const conds: CondSpec[] = [v];
      if (v.status === 'True') {
        conds.push(
          owned
            ? cond(CondType.Ready, true, Reason.Exported, `exported to ServiceImport ${k} in the config cluster`)
            : cond(CondType.Ready, false, Reason.Pending, existing !== undefined
              ? `ServiceImport ${k} is managed by another MCS implementation`
              : `namespace ${ns} does not exist in the config cluster`),
        );
        conds.push(conflictCondition(all, merged.conflicts));
      } else {
        conds.push(cond(CondType.Ready, false, Reason.Failed, `not exported: ${v.message}`));
      }
      const st: ServiceExportStatus = {
        cluster: e.member.clusterId,
        namespace: ns,
        name,
        conditions: stampConditions(conds, e.export.status?.conditions, e.export.metadata.generation, ctx.now),
      };
      if (e.export.metadata.generation !== undefined) st.generation = e.export.metadata.generation;
      exportStatuses.push(st);
    }
  }
  // Foreign imports (another MCS implementation, or net.gke.io): names only, endpoints from members.
  for (const si of ctx.serviceImports) {
    const group = isGroup(si.apiVersion, GKE_MCS_GROUP) ? GKE_MCS_GROUP : isGroup(si.apiVersion, MCS_GROUP) ? MCS_GROUP : undefined;
    if (group === undefined) continue;
    const ns = si.metadata.namespace ?? '';
    const ik = importKey(group, ns, si.metadata.name);
    if (imports.has(ik)) continue;
    if (group === MCS_GROUP && ctx.mcsImporter && !isForeign(si)) continue; // ours, no longer exported: stale
    imports.set(ik, {
      group,
      namespace: ns,
      name: si.metadata.name,
      ports: si.spec.ports ?? [],
      clusters: exportingClusters(ctx, `${ns}/${si.metadata.name}`),
    });
  }
  return { desiredImports, exportStatuses, imports };
}
