// SPDX-License-Identifier: Apache-2.0
//
// The resource types the status writer, the VIP apply and the Gateway helpers write, and the read
// side they accept from the runtime (a reflector store) so that a resync compares against the cache
// and makes no request at all.
import type { ResourceType } from './kube.ts';

/** Every resource type fleet-ilb writes. */
export const RT = {
  gatewayClasses: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gatewayclasses', namespaced: false },
  gateways: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gateways', namespaced: true },
  tcpRoutes: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'tcproutes', namespaced: true },
  udpRoutes: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'udproutes', namespaced: true },
  fleetMembers: { group: 'fleetilb.io', version: 'v1alpha1', plural: 'fleetmembers', namespaced: false },
  ilbConfigs: { group: 'fleetilb.io', version: 'v1alpha1', plural: 'ilbconfigs', namespaced: true },
  healthCheckPolicies: { group: 'fleetilb.io', version: 'v1alpha1', plural: 'healthcheckpolicies', namespaced: true },
  serviceImports: { group: 'multicluster.x-k8s.io', version: 'v1beta1', plural: 'serviceimports', namespaced: true },
  serviceExports: { group: 'multicluster.x-k8s.io', version: 'v1beta1', plural: 'serviceexports', namespaced: true },
  services: { group: '', version: 'v1', plural: 'services', namespaced: true },
  endpointSlices: { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true },
} as const satisfies Record<string, ResourceType>;

/** A key of {@link RT}. */
export type ResourceName = keyof typeof RT;

/**
 * Read access to a cache of one resource in one cluster. runtime/reflector.ts `Reflector`
 * satisfies it. Objects returned must not be mutated.
 */
export interface StoreReader {
  getByName(name: string, namespace?: string): unknown;
  list(namespace?: string): unknown[];
}
