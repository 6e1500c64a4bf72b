// SPDX-License-Identifier: Apache-2.0
//
// slimNode keeps what node selection, the Node event filter and the FleetMember status read, and
// drops the rest of a GKE Node (images, capacity, nodeInfo, annotations, other conditions).
import { describe, expect, it } from 'vitest';
import type { Node } from '../api/index.ts';
import { nodeChangeMatters } from '../keys.ts';
import { slimNode } from './slim.ts';

/** A GKE Node as the apiserver sends it (managedFields already stripped by the reflector), cut down. */
function gkeNode(rv: string, ready: 'True' | 'False', heartbeat: string): Node {
  const raw = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: 'gke-east-1-default-pool-0',
      uid: 'u-1',
      resourceVersion: rv,
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { 'topology.kubernetes.io/zone': 'us-central1-a', 'cloud.google.com/gke-nodepool': 'default-pool' },
      annotations: { 'container.googleapis.com/instance_id': '123', 'node.alpha.kubernetes.io/ttl': '0' },
    },
    spec: { providerID: 'gce://p/us-central1-a/gke-east-1-default-pool-0', podCIDR: '10.4.0.0/24', taints: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] },
    status: {
      addresses: [{ type: 'InternalIP', address: '10.128.0.5' }, { type: 'Hostname', address: 'gke-east-1-default-pool-0' }],
      conditions: [
        { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', lastHeartbeatTime: heartbeat, lastTransitionTime: '2026-01-01T00:00:00Z' },
        { type: 'Ready', status: ready, reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: heartbeat, lastTransitionTime: '2026-01-01T00:00:00Z' },
      ],
      capacity: { cpu: '4', memory: '16Gi' },
      allocatable: { cpu: '3920m', memory: '13Gi' },
      nodeInfo: { kubeletVersion: 'v1.36.3', osImage: 'Container-Optimized OS' },
      images: Array.from({ length: 40 }, (_, i) => ({ names: [`gcr.io/gke-release/image-${i}@sha256:${'0'.repeat(64)}`], sizeBytes: 1e8 + i })),
    },
  };
  return raw as unknown as Node;
}

describe('slimNode', () => {
  it('keeps name, uid, resourceVersion, labels, providerID, taints, addresses and the Ready condition; drops the rest', () => {
    const full = gkeNode('7', 'True', '2026-01-01T00:05:00Z');
    const slim = slimNode(full) as Node;
    expect(slim).toEqual({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: 'gke-east-1-default-pool-0',
        uid: 'u-1',
        resourceVersion: '7',
        creationTimestamp: '2026-01-01T00:00:00Z',
        labels: { 'topology.kubernetes.io/zone': 'us-central1-a', 'cloud.google.com/gke-nodepool': 'default-pool' },
      },
      spec: { providerID: 'gce://p/us-central1-a/gke-east-1-default-pool-0', taints: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] },
      status: {
        addresses: full.status!.addresses,
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastTransitionTime: '2026-01-01T00:00:00Z' }],
      },
    });
    expect(JSON.stringify(slim).length).toBeLessThan(JSON.stringify(full).length / 5);
  });

  it('tells the same Node changes apart as the full objects do (keys.ts nodeChangeMatters)', () => {
    const base = gkeNode('7', 'True', '2026-01-01T00:05:00Z');
    const heartbeat = gkeNode('8', 'True', '2026-01-01T00:10:00Z');
    const notReady = gkeNode('9', 'False', '2026-01-01T00:10:00Z');
    for (const next of [heartbeat, notReady]) {
      expect(nodeChangeMatters(slimNode(base) as Node, slimNode(next) as Node)).toEqual(nodeChangeMatters(base, next));
    }
    expect(nodeChangeMatters(slimNode(base) as Node, slimNode(heartbeat) as Node).gateways).toBe(false);
    expect(nodeChangeMatters(slimNode(base) as Node, slimNode(notReady) as Node).gateways).toBe(true);
  });
});
