// SPDX-License-Identifier: Apache-2.0
//
// Label keys fleet-ilb puts on the Kubernetes objects it creates (VIP Services, mirrored
// EndpointSlices, ServiceImports). Pruning only ever touches objects carrying MANAGED_BY.

export const LABEL_MANAGED_BY = 'fleetilb.io/managed-by';
export const MANAGED_BY_VALUE = 'fleet-ilb';
export const LABEL_FLEET = 'fleetilb.io/fleet';
export const LABEL_GATEWAY_UID = 'fleetilb.io/gateway-uid';
export const LABEL_GATEWAY_NAMESPACE = 'fleetilb.io/gateway-namespace';
export const LABEL_GATEWAY_NAME = 'fleetilb.io/gateway-name';
export const LABEL_LISTENER = 'fleetilb.io/listener';
/** member-side loadBalancerClass of VIP Services (docs/architecture.md "What a Gateway becomes"). */
export const VIP_LOAD_BALANCER_CLASS = 'fleetilb.io/vip';
/** EndpointSlice `endpointslice.kubernetes.io/managed-by` value for mirrored slices (a label value: no '/'; deploy/member/admission.yaml matches it). */
export const ENDPOINTSLICE_MANAGED_BY = 'gateway-controller.fleetilb.io';
export const LABEL_ENDPOINTSLICE_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
/** Domain-prefixed Gateway address type naming an existing reserved GCE address. */
export const ADDRESS_TYPE_NAME = 'fleetilb.io/address-name';
