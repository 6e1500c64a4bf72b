// SPDX-License-Identifier: Apache-2.0
//
// The contract between the pure GCE render (render.ts: IR -> DesiredGce) and apply (plan.ts and the
// per-kind modules). Objects are shaped exactly as the Compute API takes them (JSON field names of
// compute.proto, e.g. `IPAddress`, `IPProtocol`), so apply passes them to @google-cloud/compute as is.
// Every `description` is an encoded OwnershipStamp (naming/stamp.ts).
import type { protos } from '@google-cloud/compute';


export type Address = protos.google.cloud.compute.v1.IAddress & { name: string; description: string };
export type HealthCheck = protos.google.cloud.compute.v1.IHealthCheck & { name: string; description: string };
export type NetworkEndpointGroup = protos.google.cloud.compute.v1.INetworkEndpointGroup & {
  name: string;
  description: string;
};
export type NetworkEndpoint = protos.google.cloud.compute.v1.INetworkEndpoint & { instance: string; ipAddress: string };
export type BackendService = protos.google.cloud.compute.v1.IBackendService & { name: string; description: string };
export type ForwardingRule = protos.google.cloud.compute.v1.IForwardingRule & { name: string; description: string };
export type Firewall = protos.google.cloud.compute.v1.IFirewall & { name: string; description: string };

/**
 * Stands for the VIP in a firewall's `destinationRanges` when render does not know it yet (the
 * address is reserved in the same apply): apply replaces it with the reserved IP before planning or,
 * for a first create, when it executes the firewall step (after the address step).
 */
export const VIP_PLACEHOLDER = '$VIP';

/** One zonal GCE_VM_IP NEG and the exact endpoint set it must hold. */
export interface DesiredNeg {
  zone: string;
  /** Member cluster id the endpoints come from. */
  cluster: string;
  neg: NetworkEndpointGroup;
  /** Sorted by instance name; `{instance: <vm name>, ipAddress: <nic0 ip>}`, never a port. */
  endpoints: NetworkEndpoint[];
  /**
   * Project of the NEG (the member's node VMs' project). Absent = `DesiredGce.project`. Differs only
   * for members in another project of a Shared VPC (FleetMember `spec.gcp.project`).
   */
  project?: string;
  /**
   * True when the member is frozen (unreachable / unauthorised, docs/failure-rules.md): apply must keep
   * whatever endpoints the NEG holds now and neither attach nor detach.
   */
  frozen: boolean;
}

/**
 * Everything one Gateway owns in GCE. Order of application: address -> healthChecks -> negs ->
 * backendServices -> forwardingRules -> firewalls; teardown in reverse (docs/compute-api.md
 * "Ordering"). References between objects are full
 * `https://www.googleapis.com/compute/v1/projects/...` URLs,
 * except `forwardingRules[].IPAddress`, which is the VIP literal when known, else the address URL.
 */
export interface DesiredGce {
  project: string;
  region: string;
  /** `namespace/name` and uid of the Gateway. */
  gateway: { namespace: string; name: string; uid: string };
  address: Address;
  /**
   * False when the Gateway names an existing reserved address (`spec.addresses` type
   * `fleetilb.io/address-name`): the address is the user's; apply only reads it (to learn the VIP)
   * and never creates, changes or deletes it. Absent = true (fleet-ilb reserves and owns it).
   */
  addressOwned?: boolean;
  healthChecks: HealthCheck[];
  negs: DesiredNeg[];
  backendServices: BackendService[];
  forwardingRules: ForwardingRule[];
  firewalls: Firewall[];
  /**
   * True when some member's node tags are unknown (an instance lookup failed): apply keeps the live
   * firewalls' target tags in addition to the rendered ones (and keeps live firewalls render could
   * not produce), so a failed read never narrows or deletes a firewall (docs/architecture.md).
   */
  firewallTagsIncomplete?: boolean;
}
