// SPDX-License-Identifier: Apache-2.0
//
// fleet-ilb's own CRDs (fleetilb.io/v1alpha1, crds/*.yaml). ILBConfig's spec is kept `unknown`
// here on purpose: it is validated at the boundary by the zod schema in config/ilbconfig.ts and
// only the parsed form is trusted.
import type { Condition, KubeObject, Time } from './meta.ts';

export const FLEETILB_GROUP = 'fleetilb.io';
export const FLEETILB_VERSION = 'v1alpha1';

export interface FleetMemberSpec {
  clusterID: string;
  kubeconfigSecretRef: { name: string; key?: string };
  gcp?: { project?: string; networkTags?: string[]; nodeMapping?: 'Auto' | 'ProviderID' | 'NodeName' };
}

export interface FleetMemberStatus {
  conditions?: Condition[];
  nodeCount?: number;
  /** Nodes that cannot back a NEG (condition NodesEligible says why). */
  excludedNodeCount?: number;
  zones?: string[];
  exportCount?: number;
  lastSyncTime?: Time;
  observedGeneration?: number;
}

export interface FleetMember extends KubeObject {
  spec: FleetMemberSpec;
  status?: FleetMemberStatus;
}

export interface ILBConfig extends KubeObject {
  /** Unvalidated; parse with `parseILBConfig` (config/ilbconfig.ts). */
  spec: unknown;
  status?: { conditions?: Condition[]; observedGeneration?: number };
}

/**
 * A target of a HealthCheckPolicy (Gateway API `LocalPolicyTargetReference`: same namespace as the
 * policy, https://gateway-api.sigs.k8s.io/reference/spec/#localpolicytargetreference).
 */
export interface PolicyTargetRef {
  /** `gateway.networking.k8s.io` (Gateway), `""` (Service), `multicluster.x-k8s.io` or `net.gke.io` (ServiceImport). */
  group: string;
  kind: 'Gateway' | 'Service' | 'ServiceImport';
  name: string;
}

/** Health check types GCE offers for a backend service (compute.proto HealthCheck.type, without SSL). */
export type HealthCheckType = 'TCP' | 'HTTP' | 'HTTPS' | 'HTTP2' | 'GRPC';

/** The port of one health-check block: the pods' port (number or container port name); absent = serving port. */
export interface HealthCheckPortSpec {
  port?: number;
  portName?: string;
}

export interface HttpHealthCheckSpec extends HealthCheckPortSpec {
  host?: string;
  requestPath?: string;
  response?: string;
}

export interface GrpcHealthCheckSpec extends HealthCheckPortSpec {
  grpcServiceName?: string;
}

/** In the shape of GKE's `networking.gke.io/v1` HealthCheckPolicy `spec.default`, plus `failover`. */
export interface HealthCheckPolicyDefault {
  checkIntervalSec?: number;
  timeoutSec?: number;
  healthyThreshold?: number;
  unhealthyThreshold?: number;
  config?: {
    type: HealthCheckType;
    tcpHealthCheck?: HealthCheckPortSpec;
    httpHealthCheck?: HttpHealthCheckSpec;
    httpsHealthCheck?: HttpHealthCheckSpec;
    http2HealthCheck?: HttpHealthCheckSpec;
    grpcHealthCheck?: GrpcHealthCheckSpec;
  };
  failover?: {
    primaryClusters?: string[];
    failoverClusters: string[];
    failoverRatio?: number;
    dropTrafficIfUnhealthy?: boolean;
  };
}

/** Gateway API `PolicyAncestorStatus` (apis/v1/policy_types.go). */
export interface PolicyAncestorStatus {
  ancestorRef: { group?: string; kind?: string; namespace?: string; name: string; sectionName?: string; port?: number };
  controllerName: string;
  conditions: Condition[];
}

/** `fleetilb.io/v1alpha1` HealthCheckPolicy (crds/fleetilb.io_healthcheckpolicies.yaml). */
export interface HealthCheckPolicy extends KubeObject {
  spec: { targetRefs: PolicyTargetRef[]; default: HealthCheckPolicyDefault };
  status?: { ancestors?: PolicyAncestorStatus[] };
}
