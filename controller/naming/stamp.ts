// SPDX-License-Identifier: Apache-2.0
//
// The ownership stamp fleet-ilb writes into the `description` of every GCE resource it creates.
// Garbage collection and every update trust only this stamp (never a name prefix alone), the way
// ingress-gce trusts its description JSON (utils/utils.go, utils/negdescription.go) and external-dns
// its TXT ownerID. A resource whose description does not decode to a stamp of our fleet is foreign:
// fleet-ilb never modifies or deletes it.

export const CONTROLLER_NAME = 'fleetilb.io/gateway-controller';

/** What the stamp records. `listener` is absent for per-Gateway resources (address, firewalls). */
export interface OwnershipStamp {
  controller: typeof CONTROLLER_NAME;
  /** The fleet id (flag `--fleet-id`, default the config cluster's kube-system namespace UID). */
  fleet: string;
  /** `namespace/name` of the owning Gateway, for humans reading the console. */
  gateway: string;
  /** The owning Gateway's metadata.uid: a re-created Gateway of the same name is a new owner. */
  gatewayUid: string;
  /** The listener (or listener group) key this resource serves, when it is per listener. */
  listener?: string;
  /** For NEGs: the member cluster id and zone. */
  cluster?: string;
  /**
   * Shared NEGs only (`gateway` and `gatewayUid` empty): `project/region` of the backend services
   * that may use it. A GCE_VM_IP NEG holds node VMs, no port, so every Gateway whose backends and
   * load-balancer scope are the same uses the same NEG (docs/architecture.md "Shared NEGs").
   */
  lb?: string;
}

/** True for the stamp of a NEG shared by the Gateways of a fleet (no owning Gateway). */
export function isShared(s: OwnershipStamp | undefined): boolean {
  return s !== undefined && s.gatewayUid === '' && s.lb !== undefined;
}

/** Encodes a stamp as the compact JSON GCE keeps in `description` (keys in a fixed order). */
export function encodeStamp(s: OwnershipStamp): string {
  const ordered: OwnershipStamp = {
    controller: s.controller,
    fleet: s.fleet,
    gateway: s.gateway,
    gatewayUid: s.gatewayUid,
    ...(s.listener === undefined ? {} : { listener: s.listener }),
    ...(s.cluster === undefined ? {} : { cluster: s.cluster }),
    ...(s.lb === undefined ? {} : { lb: s.lb }),
  };
  return JSON.stringify(ordered);
}

/** Decodes a description; undefined when it is not a fleet-ilb stamp (foreign or hand-made resource). */
export function decodeStamp(description: string | null | undefined): OwnershipStamp | undefined {
  if (description === null || description === undefined || !description.startsWith('{')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(description);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (o['controller'] !== CONTROLLER_NAME) return undefined;
  if (typeof o['fleet'] !== 'string' || typeof o['gateway'] !== 'string' || typeof o['gatewayUid'] !== 'string') {
    return undefined;
  }
  const stamp: OwnershipStamp = {
    controller: CONTROLLER_NAME,
    fleet: o['fleet'],
    gateway: o['gateway'],
    gatewayUid: o['gatewayUid'],
  };
  if (typeof o['listener'] === 'string') stamp.listener = o['listener'];
  if (typeof o['cluster'] === 'string') stamp.cluster = o['cluster'];
  if (typeof o['lb'] === 'string') stamp.lb = o['lb'];
  return stamp;
}

/** True when `description` carries a stamp of this fleet (any Gateway). */
export function isOurs(description: string | null | undefined, fleet: string): boolean {
  return decodeStamp(description)?.fleet === fleet;
}
