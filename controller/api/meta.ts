// SPDX-License-Identifier: Apache-2.0
//
// Plain (JSON wire shape) Kubernetes object metadata and conditions. Timestamps are RFC 3339
// strings exactly as the apiserver sends them, so a Snapshot round-trips through YAML unchanged.
// Only the fields fleet-ilb reads or writes are typed; objects may carry more (they are ignored).

/** RFC 3339 timestamp string, e.g. `2026-01-02T03:04:05Z`. */
export type Time = string;

/** The subset of `metav1.ObjectMeta` fleet-ilb reads. */
export interface ObjectMeta {
  name: string;
  /** Absent for cluster-scoped objects. */
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: Time;
  deletionTimestamp?: Time;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
}

/** `metav1.Condition`. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: Time;
}

/** Any object with metadata (the minimal common shape). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

/** `namespace/name` (or `name` for cluster-scoped objects): the key used everywhere in fleet-ilb. */
export function keyOf(meta: { namespace?: string | undefined; name: string }): string {
  return meta.namespace === undefined || meta.namespace === '' ? meta.name : `${meta.namespace}/${meta.name}`;
}
