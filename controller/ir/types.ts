// SPDX-License-Identifier: Apache-2.0
//
// The IR: what translate decided for one Gateway, the contract between translate and the two
// renders/apply (docs/architecture.md "Data flow: one way"). Plain data; every GCE and Kubernetes
// name is already chosen (naming/), so render and apply never assemble names. `validate()`
// (validate.ts) checks the invariants apply relies on before anything is sent to GCE or a member.

/** Transport of a listener; an internal passthrough load balancer forwards only TCP and UDP. */
export type L4Protocol = 'TCP' | 'UDP';

/** GCE session affinity values accepted by ILBConfig (internal passthrough NLB). */
export type SessionAffinity =
  | 'NONE'
  | 'CLIENT_IP'
  | 'CLIENT_IP_PROTO'
  | 'CLIENT_IP_PORT_PROTO'
  | 'CLIENT_IP_NO_DESTINATION';

/** The effective, defaulted ILBConfig a Gateway is programmed with. */
export interface ILBSettings {
  /** `namespace/name` of the ILBConfig used (GatewayClass parametersRef or Gateway infrastructure). */
  source: string;
  project: string;
  region: string;
  network: string;
  subnetwork: string;
  globalAccess: boolean;
  firewall: { managed: boolean; clientSourceRanges: string[]; priority: number };
  healthCheck: {
    checkIntervalSec: number;
    timeoutSec: number;
    healthyThreshold: number;
    unhealthyThreshold: number;
    udpHealthCheckNodePort?: number;
  };
  nodeSubsetSize: number;
  sessionAffinity: SessionAffinity;
  connectionDraining: { drainingTimeoutSec: number };
}

/** How the VIP is obtained (Gateway `spec.addresses`). */
export type AddressRequest =
  /** No spec.addresses: GCE allocates an internal IP from the subnetwork. */
  | { type: 'Auto' }
  /** `type: IPAddress`: reserve exactly this IP (managed by fleet-ilb). */
  | { type: 'IPAddress'; ip: string }
  /** `type: fleetilb.io/address-name`: an existing reserved address, read only, never changed or deleted. */
  | { type: 'ExistingAddress'; name: string };

export interface AddressIR {
  /** GCE address name: ours (namer) or the user's existing address. */
  name: string;
  request: AddressRequest;
  /**
   * The VIP when the Gateway asks for an IP (`IPAddress`). Otherwise GCE allocates it: it is a fact
   * (the inventory's address), never fed back into translate (docs/architecture.md).
   */
  vip?: string;
}

/** A backend a listener's traffic goes to, after route resolution (weight > 0, resolvable). */
export interface EffectiveBackend {
  kind: 'ServiceImport' | 'Service';
  /** `multicluster.x-k8s.io`, `net.gke.io` or `""` (core Service). */
  group: string;
  namespace: string;
  name: string;
  /** The port asked for in the backendRef (the ServiceImport/Service port). */
  port: number;
  /** Kept for visibility; GCE passthrough has no weights: every non-zero backend is equal. */
  weight: number;
  /** Per member cluster id: the member-side Service and port it resolves to. Sorted by cluster. */
  members: BackendInMember[];
}

export interface BackendInMember {
  cluster: string;
  /** The member Service (same namespace/name as the backend: namespace sameness). */
  serviceName: string;
  serviceNamespace: string;
  /** The member Service port's name (matches EndpointSlice port names), if named. */
  portName?: string;
  /** The member Service port number. */
  servicePort: number;
  /** `spec.ports[].targetPort` of the member Service (number or name); defaults to the port. */
  targetPort: number | string;
  /** The member Service's selector (absent/empty = selectorless). */
  selector?: Record<string, string>;
  /**
   * The pods' TCP health port named by the member Service's `fleetilb.io/health-check-port`
   * annotation: a container port name or number (Service `targetPort` semantics). UDP listeners
   * are health-checked through it (translate/DECISIONS.md 8).
   */
  healthPort?: number | string;
}

export interface ListenerIR {
  name: string;
  port: number;
  protocol: L4Protocol;
  /** The route that carries traffic (the oldest attached one), if any. */
  route?: { kind: 'TCPRoute' | 'UDPRoute'; namespace: string; name: string };
  backends: EffectiveBackend[];
  /** Id of the backend group (backend service) this listener is served by. */
  group: string;
  /** Name of the forwarding rule that carries this listener's port. */
  forwardingRule: string;
}

/** One zonal GCE_VM_IP NEG: a member's node VMs in one zone, for one backend group. */
export interface NegIR {
  name: string;
  project: string;
  zone: string;
  cluster: string;
  /** Member unreachable: apply keeps the NEG's endpoints as they are (docs/failure-rules.md). */
  frozen: boolean;
  /** A failover cluster's NEG (HealthCheckPolicy failover): on the backend service only while failed over. */
  failover?: true;
  /**
   * Every eligible node hosting a ready endpoint, sorted by instance, NOT capped: render caps at
   * `config.nodeSubsetSize` keeping the nodes the NEG already holds (a fact translate cannot know).
   */
  endpoints: NegEndpointIR[];
}

export interface NegEndpointIR {
  /** VM instance name (from providerID, or the node name with nodeMapping NodeName). */
  instance: string;
  /** The Node's InternalIP. */
  ipAddress: string;
  /** Kubernetes node name (for humans and tests). */
  node: string;
}

/**
 * GCE sends every probe of an internal passthrough NLB to the forwarding rule's IP (the VIP), on the
 * health check's port (https://cloud.google.com/load-balancing/docs/health-check-concepts#hc-packet-dest),
 * so a check passes only where the node translates `VIP:port` to something that answers.
 */
export type HealthCheckIR = (
  /** TCP listeners: TCP check of VIP:port, which the node translates to a local pod (checks the real app). */
  | { type: 'TCP'; port: number }
  /**
   * UDP listeners whose backends name a pod health port in every member: TCP check of VIP:port,
   * where `port` is the VIP Service's extra TCP port `health` (same number as its pinned
   * healthCheckNodePort) whose target is the pods' health port. ETP Local: only a node with a ready
   * local pod answers (translate/DECISIONS.md 8).
   */
  | { type: 'TCP'; port: number; podHealthPort: true }
  /**
   * UDP fallback when some member names no pod health port (`membersWithoutHealthPort`): HTTP
   * `/healthz` on the VIP Service's pinned healthCheckNodePort, at the VIP. Passes only on nodes
   * that accept the VIP locally and whose proxy health server listens on it (docs/datapath.md).
   */
  | { type: 'HTTP'; port: number; requestPath: '/healthz'; membersWithoutHealthPort: string[] }
) & {
  /**
   * What a HealthCheckPolicy sets (docs/policy.md): the timing and, unless the group uses the UDP
   * node health-server fallback, the probe at `port`. Absent: ILBConfig timing, the probe above.
   */
  policy?: HealthCheckPolicyIR;
};

/** Probe types of a GCE health check fleet-ilb renders (compute.proto HealthCheck.type). */
export type ProbeType = 'TCP' | 'HTTP' | 'HTTPS' | 'HTTP2' | 'GRPC';

export interface HealthCheckTiming {
  checkIntervalSec: number;
  timeoutSec: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

/** A backend group's effective HealthCheckPolicy (translate/policy.ts; GEP-713 merge). */
export interface HealthCheckPolicyIR {
  /** `namespace/name` of the policies that decided it: the Gateway's first, then the backend's. */
  policies: string[];
  /** Every field filled: policy fields over the ILBConfig's healthCheck. */
  timing: HealthCheckTiming;
  /** The probe at the health check's port; absent = the probe the group would have without a policy. */
  probe?: { type: ProbeType; requestPath?: string; host?: string; response?: string; grpcServiceName?: string };
}

/**
 * Cross-cluster failover of one backend group, decided by the controller from the backends'
 * readiness (docs/policy.md "Failover": GCE documents failover backends of internal passthrough
 * load balancers for instance groups only). The backend service holds the NEGs of one pool.
 */
export interface FailoverIR {
  /** Clusters (serving this group) that are not failover clusters, sorted. */
  primaryClusters: string[];
  /** The policy's failover clusters that serve this group, sorted. */
  failoverClusters: string[];
  failoverRatio: number;
  dropTrafficIfUnhealthy: boolean;
  /** Eligible nodes hosting an endpoint of the group's backends (`total`) and a ready one (`healthy`). */
  primary: { healthy: number; total: number };
  failover: { healthy: number; total: number };
  /** The NEGs the backend service holds: the primary clusters', the failover clusters', or none (drop). */
  pool: 'primary' | 'failover' | 'none';
}

/**
 * Listeners of one protocol whose traffic goes to the same backends share one backend service,
 * one health check and one NEG set (docs/architecture.md "What a Gateway becomes").
 */
export interface BackendGroupIR {
  /** Stable id: `<protocol>-<port of the first listener>`, e.g. `tcp-8080`. */
  id: string;
  protocol: L4Protocol;
  /** Listener names, in Gateway order. */
  listeners: string[];
  backendService: string;
  healthCheck: HealthCheckIR;
  /** ≤ 50 (GCE limit per backend service), sorted by cluster then zone. */
  negs: NegIR[];
  /** NEGs left out because of the 50-backend limit (name only). */
  droppedNegs: string[];
  /** Set by a HealthCheckPolicy with `failover` (docs/policy.md). */
  failover?: FailoverIR;
}

export interface ForwardingRuleIR {
  name: string;
  protocol: L4Protocol;
  /** 1–5 ports (GCE limit per internal forwarding rule), ascending. */
  ports: number[];
  group: string;
  listeners: string[];
}

export interface FirewallRuleIR {
  name: string;
  sourceRanges: string[];
  /** `tcp` / `udp` ports, ascending. */
  allowed: Array<{ protocol: 'tcp' | 'udp'; ports: number[] }>;
}

export interface FirewallIR {
  /** False = ILBConfig `firewall.managed: false`: render no firewall. */
  managed: boolean;
  priority: number;
  /** Union of the FleetMember `spec.gcp.networkTags` overrides of the members that serve, sorted. */
  targetTags: string[];
  /**
   * Members that serve the Gateway without an override: render takes their tags from their NEG
   * instances (inventory facts), sorted.
   */
  discoverTagsFor: string[];
  healthCheck: FirewallRuleIR;
  /** Present only when ILBConfig `clientSourceRanges` is non-empty. */
  clients?: FirewallRuleIR;
}

/** A mirrored EndpointSlice for a selectorless VIP Service. */
export interface MirroredSliceIR {
  name: string;
  /** The source EndpointSlice (`namespace/name`). */
  source: string;
  addressType: 'IPv4' | 'IPv6';
  /** Protocol and the resolved target port number for the VIP Service port. */
  port: number;
  protocol: L4Protocol;
  /** The pods' TCP health port, resolved for this slice (VIP Services that carry `healthPort`). */
  healthPort?: number;
  endpoints: Array<{
    addresses: string[];
    nodeName?: string;
    zone?: string;
    conditions: { ready: boolean; serving: boolean; terminating: boolean };
  }>;
}

/** One member-side VIP Service (per listener × member cluster). */
export interface VipServiceIR {
  cluster: string;
  namespace: string;
  name: string;
  listener: string;
  port: number;
  protocol: L4Protocol;
  /** targetPort of the exported Service (selector mode); absent in mirrored mode. */
  targetPort?: number | string;
  /** Copied from the exported Service; absent when mirrored. */
  selector?: Record<string, string>;
  /** Set (pinned) only for the health-check-carrying UDP listener of a group. */
  healthCheckNodePort?: number;
  /**
   * The extra TCP port `health` of the health-check-carrying UDP listener when the group is checked
   * through the pods (HealthCheckIR `podHealthPort`): `port` on the VIP, `targetPort` the pods'
   * port (selector mode; mirrored slices carry the resolved number instead).
   */
  healthPort?: { port: number; targetPort?: number | string };
  /** Kubernetes sessionAffinity mirrored from ILBConfig (CLIENT_IP* → ClientIP). */
  sessionAffinity: 'ClientIP' | 'None';
  /** Present in mirrored mode (several backendRefs, or a selectorless backend). */
  mirroredSlices?: MirroredSliceIR[];
  frozen: boolean;
}

export interface GatewayIR {
  /** `namespace/name`. */
  key: string;
  gateway: { namespace: string; name: string; uid: string; generation: number };
  gatewayClass: string;
  fleetId: string;
  config: ILBSettings;
  address: AddressIR;
  /** Programmable listeners only (Accepted, not conflicted, within GCE limits), in Gateway order. */
  listeners: ListenerIR[];
  groups: BackendGroupIR[];
  forwardingRules: ForwardingRuleIR[];
  firewall: FirewallIR;
  vipServices: VipServiceIR[];
  /** Member cluster ids that are frozen and serve this Gateway. */
  frozenMembers: string[];
  /** Infrastructure labels/annotations from `spec.infrastructure` (propagated to VIP Services). */
  infrastructure: { labels: Record<string, string>; annotations: Record<string, string> };
}
