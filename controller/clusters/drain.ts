// SPDX-License-Identifier: Apache-2.0
//
// What fleet-ilb removes from a member cluster whose FleetMember was deleted (the MemberSet `drain`
// hook, clusters/memberset.ts): every VIP Service and mirrored EndpointSlice it wrote there for this
// fleet, found by label (`fleetilb.io/managed-by=fleet-ilb`, `fleetilb.io/fleet=<fleet>`:
// infra/vip/render.ts puts both on each of them). Deleting the FleetMember takes the member out of
// every Gateway at once; without this its VIP Services, the VIP in their status, stayed in the
// member forever, translating the VIP to local pods for nobody (issue 12, "deleting a FleetMember
// drops its client at once"). Objects without both labels are never touched; each delete carries
// the uid it was listed with, so a same-named object created since is left alone.
import type { EndpointSlice, KubeObject, Service } from '../api/index.ts';
import { LABEL_FLEET, LABEL_MANAGED_BY, MANAGED_BY_VALUE } from '../naming/labels.ts';
import { labelValue } from '../naming/names.ts';
import type { Fence } from '../runtime/fence.ts';
import { KubeApi, collectionPath, objectPath, type KubeTarget } from '../status/kube.ts';
import { RT } from '../status/resources.ts';

/** What one drain deleted (`Service ns/name`, `EndpointSlice ns/name`). */
export interface DrainResult {
  deleted: string[];
  /** False when this replica may not write (a standby: the leader drains). */
  wrote: boolean;
}

/**
 * Delete this fleet's VIP Services and mirrored EndpointSlices in one member (slices first: they
 * name the Services). Throws when a request fails, so the MemberSet retries with backoff.
 */
export async function drainMemberVip(client: KubeTarget, fleetId: string, fence: Fence, timeoutMs = 15_000): Promise<DrainResult> {
  if (!fence.canWrite()) return { deleted: [], wrote: false };
  const api = new KubeApi(client, { fence, timeoutMs });
  const labelSelector = `${LABEL_MANAGED_BY}=${MANAGED_BY_VALUE},${LABEL_FLEET}=${labelValue(fleetId)}`;
  const deleted: string[] = [];
  for (const [kind, rt] of [
    ['EndpointSlice', RT.endpointSlices],
    ['Service', RT.services],
  ] as const) {
    const owned = await api.list<(EndpointSlice | Service) & KubeObject>(collectionPath(rt), { labelSelector });
    for (const o of owned) {
      const ns = o.metadata.namespace ?? '';
      if (await api.delete(objectPath(rt, ns, o.metadata.name), o.metadata.uid ? { uid: o.metadata.uid } : {})) deleted.push(`${kind} ${ns}/${o.metadata.name}`);
    }
  }
  return { deleted, wrote: true };
}
