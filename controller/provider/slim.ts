// SPDX-License-Identifier: Apache-2.0
//
// What the member caches keep of an object (the reflector's `transform`, runtime/reflector.ts). A
// GKE Node is ~10-30 kB of JSON, most of it `status.images` (every image on the node), capacity,
// allocatable, nodeInfo, volumes, annotations and five or more conditions with heartbeat times;
// fleet-ilb reads a few hundred bytes of it. Three members of 300 Nodes each would otherwise hold
// tens of MB of heap for fields nothing reads (deploy/README.md "Memory").
import type { Node, NodeCondition } from '../api/index.ts';
import type { StoredObject } from '../runtime/reflector.ts';

/**
 * A Node with only the fields fleet-ilb reads: node selection (translate/checks/nodes.ts: labels —
 * zone, exclusion —, deletion, providerID, taints, unschedulable, InternalIP, Ready), the events that
 * matter (keys.ts `nodeChangeMatters`: the same fields) and the FleetMember status
 * (translate/status.ts). Of the conditions only `Ready` is kept, without its heartbeat time.
 */
export function slimNode(obj: StoredObject): StoredObject {
  const n = obj as Node;
  const md = n.metadata;
  const metadata: Node['metadata'] = { name: md.name };
  if (md.uid !== undefined) metadata.uid = md.uid;
  if (md.resourceVersion !== undefined) metadata.resourceVersion = md.resourceVersion;
  if (md.creationTimestamp !== undefined) metadata.creationTimestamp = md.creationTimestamp;
  if (md.deletionTimestamp !== undefined) metadata.deletionTimestamp = md.deletionTimestamp;
  if (md.labels !== undefined) metadata.labels = md.labels;
  const out: Node = { metadata };
  if (n.apiVersion !== undefined) out.apiVersion = n.apiVersion;
  if (n.kind !== undefined) out.kind = n.kind;
  if (n.spec !== undefined) {
    const spec: NonNullable<Node['spec']> = {};
    if (n.spec.providerID !== undefined) spec.providerID = n.spec.providerID;
    if (n.spec.taints !== undefined) spec.taints = n.spec.taints;
    if (n.spec.unschedulable !== undefined) spec.unschedulable = n.spec.unschedulable;
    out.spec = spec;
  }
  if (n.status !== undefined) {
    const status: NonNullable<Node['status']> = {};
    if (n.status.addresses !== undefined) status.addresses = n.status.addresses;
    if (n.status.conditions !== undefined) {
      status.conditions = n.status.conditions
        .filter((c) => c.type === 'Ready')
        .map((c): NodeCondition => {
          const k: NodeCondition = { type: c.type, status: c.status };
          if (c.reason !== undefined) k.reason = c.reason;
          if (c.message !== undefined) k.message = c.message;
          if (c.lastTransitionTime !== undefined) k.lastTransitionTime = c.lastTransitionTime;
          return k;
        });
    }
    out.status = status;
  }
  return out;
}
