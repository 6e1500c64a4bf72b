// SPDX-License-Identifier: Apache-2.0
//
// The Snapshot: a plain, YAML-serialisable record of every input translate() reads
// (docs/architecture.md). The runtime builds it from its reflectors; golden tests load it from
// YAML. It carries no
// functions, classes or Dates, so `yaml.stringify(snapshot)` and back is the identity.
//
// Every object is in its JSON wire shape (controller/api/*); the existing `status` of each object is
// kept, because translate preserves `lastTransitionTime` of conditions whose status did not flip.
import type {
  EndpointSlice,
  FleetMember,
  Gateway,
  HealthCheckPolicy,
  GatewayClass,
  ILBConfig,
  Namespace,
  Node,
  ReferenceGrant,
  Service,
  ServiceExport,
  ServiceImport,
  TCPRoute,
  Time,
  UDPRoute,
} from '../api/index.ts';

/** Objects read from the fleet's config cluster. */
export interface ConfigClusterSnapshot {
  gatewayClasses: GatewayClass[];
  gateways: Gateway[];
  tcpRoutes: TCPRoute[];
  udpRoutes: UDPRoute[];
  referenceGrants: ReferenceGrant[];
  /** Both `multicluster.x-k8s.io` and `net.gke.io` ServiceImports (told apart by `apiVersion`). */
  serviceImports: ServiceImport[];
  fleetMembers: FleetMember[];
  ilbConfigs: ILBConfig[];
  /** Needed for `allowedRoutes.namespaces.from: Selector` (labels) and for ServiceImport placement. */
  namespaces: Namespace[];
  /** fleetilb.io HealthCheckPolicies (docs/policy.md); absent = none (the CRD may not be installed). */
  healthCheckPolicies?: HealthCheckPolicy[];
}

/**
 * How the runtime last saw a member. `reachable` = the last list/watch succeeded; anything else
 * freezes the member (docs/failure-rules.md "Frozen members"): its data below is the last good
 * list, and its NEGs and VIP Services are kept as they are.
 */
export type MemberReachabilityState =
  | 'reachable'
  | 'unreachable'
  | 'authFailed'
  | 'invalidKubeconfig'
  | 'secretNotFound'
  /** Never synced yet (first list in flight): also frozen (nothing known, nothing removed). */
  | 'pending';

export interface MemberReachability {
  state: MemberReachabilityState;
  /** Human-readable cause (e.g. the last error), copied into FleetMember and Gateway conditions. */
  message?: string;
  /** When the member entered this state. */
  since?: Time;
}

/** Everything read from one member cluster, keyed in `Snapshot.members` by its cluster id. */
export interface MemberSnapshot {
  /** Equal to the map key and to the FleetMember's `spec.clusterID`. */
  clusterId: string;
  /** The FleetMember's `metadata.name`. */
  fleetMember: string;
  reachability: MemberReachability;
  /**
   * True when the data below is the last known good copy (member not reachable). translate marks
   * the member's NEGs frozen and never derives removals from it.
   */
  frozen: boolean;
  /** When the lists below were last fully synced (for FleetMember `status.lastSyncTime`). */
  lastSyncTime?: Time;
  serviceExports: ServiceExport[];
  services: Service[];
  endpointSlices: EndpointSlice[];
  nodes: readonly Node[];
}

/** The node ports held in one member (see `Snapshot.nodePorts`). */
export interface MemberNodePorts {
  /** Ports held by anything but a fleet-ilb VIP Service's healthCheckNodePort (nodePorts included), sorted. */
  other: number[];
  /** healthCheckNodePorts of fleet-ilb VIP Services: port -> VIP Service names holding it, sorted. */
  vip: Record<string, string[]>;
}

/** Controller settings that change translate's output (so goldens carry them). */
export interface TranslateSettings {
  /**
   * True (default): fleet-ilb is the MCS importer and maintains `multicluster.x-k8s.io`
   * ServiceImports and ServiceExport conditions. False: another MCS implementation owns them.
   */
  mcsImporter?: boolean;
  /** The members' NodePort range, for pinned UDP health-check node ports (default 30000-32767). */
  nodePortRange?: { min: number; max: number };
}

export interface Snapshot {
  /** The fleet id (flag `--fleet-id`), part of every GCE name and ownership stamp. */
  fleetId: string;
  /** `gateway.networking.k8s.io/bundle-version` of the config cluster's Gateway CRDs, if read. */
  crdBundleVersion?: string;
  settings?: TranslateSettings;
  config: ConfigClusterSnapshot;
  /** Keyed by cluster id. */
  members: Record<string, MemberSnapshot>;
  /**
   * Node ports in use in each member (keyed by cluster id), for pinned UDP health-check node ports
   * (translate/hcports.ts). Set by the provider's per-Gateway scoped snapshot, whose `members` hold
   * only the Services that Gateway references: the port choice must still see every member Service.
   * Absent: derived from `members[*].services`.
   */
  nodePorts?: Record<string, MemberNodePorts>;
}

/** An empty config-cluster snapshot (builders and tests start from it). */
export function emptyConfig(): ConfigClusterSnapshot {
  return {
    gatewayClasses: [],
    gateways: [],
    tcpRoutes: [],
    udpRoutes: [],
    referenceGrants: [],
    serviceImports: [],
    fleetMembers: [],
    ilbConfigs: [],
    namespaces: [],
  };
}
