// SPDX-License-Identifier: Apache-2.0
//
// Gateway API v1.6 standard-channel types, the subset fleet-ilb reads and writes
// (kubernetes-sigs/gateway-api apis/v1/{gatewayclass,gateway,tcproute,udproute,shared,
// object_reference}_types.go and apis/v1beta1/referencegrant_types.go). JSON field names.
import type { Condition, KubeObject } from './meta.ts';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

export interface ParametersReference {
  group: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface SupportedFeature {
  name: string;
}

export interface GatewayClassSpec {
  controllerName: string;
  parametersRef?: ParametersReference;
  description?: string;
}

export interface GatewayClassStatus {
  conditions?: Condition[];
  supportedFeatures?: SupportedFeature[];
}

export interface GatewayClass extends KubeObject {
  spec: GatewayClassSpec;
  status?: GatewayClassStatus;
}

export interface RouteGroupKind {
  group?: string;
  kind: string;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface AllowedRoutes {
  namespaces?: { from?: 'All' | 'Same' | 'Selector' | 'None'; selector?: LabelSelector };
  kinds?: RouteGroupKind[];
}

export interface Listener {
  name: string;
  hostname?: string;
  port: number;
  /** `TCP`, `UDP`, `HTTP`, `HTTPS`, `TLS` or a domain-prefixed protocol. */
  protocol: string;
  tls?: unknown;
  allowedRoutes?: AllowedRoutes;
}

export interface GatewaySpecAddress {
  /** `IPAddress` (default), `Hostname`, `NamedAddress` or domain-prefixed (`fleetilb.io/address-name`). */
  type?: string;
  /** Optional in v1.6 for IPAddress: empty = "any address" (conformance gateway-optional-address-value). */
  value?: string;
}

export interface LocalParametersReference {
  group: string;
  kind: string;
  name: string;
}

export interface GatewayInfrastructure {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  parametersRef?: LocalParametersReference;
}

export interface GatewaySpec {
  gatewayClassName: string;
  listeners: Listener[];
  addresses?: GatewaySpecAddress[];
  infrastructure?: GatewayInfrastructure;
}

export interface GatewayStatusAddress {
  type?: string;
  value: string;
}

export interface ListenerStatus {
  name: string;
  supportedKinds: RouteGroupKind[];
  attachedRoutes: number;
  conditions: Condition[];
}

export interface GatewayStatus {
  addresses?: GatewayStatusAddress[];
  conditions?: Condition[];
  listeners?: ListenerStatus[];
}

export interface Gateway extends KubeObject {
  spec: GatewaySpec;
  status?: GatewayStatus;
}

export interface ParentReference {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}

export interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  /** 0..1,000,000, default 1. */
  weight?: number;
}

export interface L4RouteRule {
  name?: string;
  backendRefs?: BackendRef[];
}

export interface L4RouteSpec {
  parentRefs?: ParentReference[];
  rules: L4RouteRule[];
}

export interface RouteParentStatus {
  parentRef: ParentReference;
  controllerName: string;
  conditions: Condition[];
}

export interface RouteStatus {
  parents: RouteParentStatus[];
}

/** TCPRoute (gateway.networking.k8s.io/v1; v1alpha2 tolerated, same shape). */
export interface TCPRoute extends KubeObject {
  spec: L4RouteSpec;
  status?: RouteStatus;
}

/** UDPRoute (gateway.networking.k8s.io/v1; v1alpha2 tolerated, same shape). */
export interface UDPRoute extends KubeObject {
  spec: L4RouteSpec;
  status?: RouteStatus;
}

export interface ReferenceGrantFrom {
  group: string;
  kind: string;
  namespace: string;
}

export interface ReferenceGrantTo {
  group: string;
  kind: string;
  name?: string;
}

export interface ReferenceGrant extends KubeObject {
  spec: { from: ReferenceGrantFrom[]; to: ReferenceGrantTo[] };
}
