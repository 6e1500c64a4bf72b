// SPDX-License-Identifier: Apache-2.0
//
// Multi-Cluster Services API types (kubernetes-sigs/mcs-api pkg/apis/v1beta1; v1alpha1 has the same
// shape) and GKE's `net.gke.io/v1` ServiceImport, which fleet-ilb accepts as the same thing.
import type { Condition, KubeObject } from './meta.ts';

export const MCS_GROUP = 'multicluster.x-k8s.io';
export const GKE_MCS_GROUP = 'net.gke.io';

export interface ServiceExport extends KubeObject {
  spec?: { exportedLabels?: Record<string, string>; exportedAnnotations?: Record<string, string> };
  status?: { conditions?: Condition[] };
}

export interface ServicePortImport {
  name?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  appProtocol?: string;
  port: number;
}

export interface ServiceImportSpec {
  ports: ServicePortImport[];
  ips?: string[];
  type?: 'ClusterSetIP' | 'Headless';
  sessionAffinity?: 'ClientIP' | 'None';
  sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
  ipFamilies?: string[];
  internalTrafficPolicy?: string;
  trafficDistribution?: string;
}

export interface ServiceImport extends KubeObject {
  /** `multicluster.x-k8s.io/v1beta1` (or v1alpha1) or `net.gke.io/v1`. */
  apiVersion?: string;
  spec: ServiceImportSpec;
  status?: { clusters?: Array<{ cluster: string }>; conditions?: Condition[] };
}
