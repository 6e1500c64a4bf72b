// SPDX-License-Identifier: Apache-2.0
//
// translate()'s output: the IR of every programmable Gateway and every status fleet-ilb writes.
import type {
  Condition,
  FleetMemberStatus,
  GatewayClassStatus,
  GatewayStatus,
  RouteParentStatus,
} from '../api/index.ts';
import type { GatewayIR } from '../ir/types.ts';
import type { DesiredServiceImport, ServiceExportStatus } from './mcs.ts';
import type { PolicyStatusOut } from './policy.ts';

export type { DesiredServiceImport, ServiceExportStatus } from './mcs.ts';
export type { PolicyStatusOut } from './policy.ts';

export interface RouteStatusOut {
  kind: 'TCPRoute' | 'UDPRoute';
  namespace: string;
  name: string;
  /**
   * fleet-ilb's entries only (controllerName ours). The writer replaces every entry whose
   * controllerName is ours with these and keeps every other entry untouched.
   */
  parents: RouteParentStatus[];
  /**
   * Set for a per-Gateway write: `parents` are this Gateway's entries only, and the writer replaces
   * only our entries whose parentRef names it (a scoped translate knows no other Gateway).
   */
  scope?: { namespace: string; name: string };
}

export interface StatusSet {
  gatewayClasses: Array<{ name: string; status: GatewayClassStatus }>;
  gateways: Array<{ namespace: string; name: string; status: GatewayStatus }>;
  routes: RouteStatusOut[];
  fleetMembers: Array<{ name: string; status: FleetMemberStatus }>;
  ilbConfigs: Array<{ namespace: string; name: string; status: { conditions: Condition[]; observedGeneration?: number } }>;
  /**
   * ServiceImports (multicluster.x-k8s.io) fleet-ilb wants in the config cluster, with labels,
   * spec and status. The writer creates/updates these and deletes ServiceImports labelled
   * `fleetilb.io/managed-by: fleet-ilb` that are not listed. Empty when `settings.mcsImporter` is false.
   */
  serviceImports: DesiredServiceImport[];
  /** ServiceExport conditions per reachable member (frozen members are skipped: cannot be written). */
  serviceExports: ServiceExportStatus[];
  /**
   * HealthCheckPolicy ancestor entries, one per (policy, Gateway with an IR) where the policy is
   * relevant or carried our entry (translate/policy.ts). Absent = none.
   */
  healthCheckPolicies?: PolicyStatusOut[];
}

export interface InvalidGateway {
  key: string;
  uid: string;
  reason: string;
  message: string;
}

export interface TranslateResult {
  /** One IR per programmable Gateway of fleet-ilb's classes, sorted by key, each passing validate(). */
  gateways: GatewayIR[];
  /**
   * Gateways of fleet-ilb's classes that get no IR because their input is invalid (bad ILBConfig,
   * unsupported address, no valid listener, IR validation failure). Apply must leave their existing
   * cloud resources alone (docs/failure-rules.md "Bad input": gets a condition and no cloud call); only a
   * Gateway that is in neither list (deleted, or no longer ours) is torn down.
   */
  invalidGateways: InvalidGateway[];
  statuses: StatusSet;
}

export interface TranslateOptions {
  /** The clock, RFC 3339 (goldens pass a fixed one). Default: the current time. */
  now?: string;
  /**
   * ILBConfigs (`namespace/name`) that parse but name a VPC network or subnetwork GCE does not have
   * (controller/config/verify.ts, read before translate): judged like an invalid spec,
   * `Accepted=False/InvalidParameters` with this message. Absent = none known.
   */
  ilbConfigProblems?: ReadonlyMap<string, string>;
  /**
   * Whether GCE holds the VM of each node mapped by name (no providerID, or nodeMapping NodeName),
   * keyed `project/zone/instance` (checks/nodes.ts nameMappedVms lists them; the reconciler reads
   * them from the inventory before translate). true = exists, false = known absent (the node is
   * excluded, NoInstance); an absent key = unknown, and unknown is not absent (the node is kept).
   */
  nodeVms?: ReadonlyMap<string, boolean>;
}
