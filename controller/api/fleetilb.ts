// SPDX-License-Identifier: Apache-2.0
//
// fleet-ilb's own CRDs (fleetilb.io/v1alpha1, crds/*.yaml). ILBConfig's spec is kept `unknown`
// here on purpose: it is validated at the boundary by the zod schema in config/ilbconfig.ts and
// only the parsed form is trusted.
import type { Condition, KubeObject, Time } from './meta.ts';

export const FLEETILB_GROUP = 'fleetilb.io';
export const FLEETILB_VERSION = 'v1alpha1';

export interface FleetMemberSpec {
  clusterID: string;
  kubeconfigSecretRef: { name: string; key?: string };
  gcp?: { project?: string; networkTags?: string[]; nodeMapping?: 'ProviderID' | 'NodeName' };
}

export interface FleetMemberStatus {
  conditions?: Condition[];
  nodeCount?: number;
  zones?: string[];
  exportCount?: number;
  lastSyncTime?: Time;
  observedGeneration?: number;
}

export interface FleetMember extends KubeObject {
  spec: FleetMemberSpec;
  status?: FleetMemberStatus;
}

export interface ILBConfig extends KubeObject {
  /** Unvalidated; parse with `parseILBConfig` (config/ilbconfig.ts). */
  spec: unknown;
  status?: { conditions?: Condition[]; observedGeneration?: number };
}
