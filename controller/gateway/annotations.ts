// SPDX-License-Identifier: Apache-2.0
//
// Gateway annotations naming the GCE resources the Gateway owns, as GKE's Gateway controller does
// (`networking.gke.io/{addresses,forwarding-rules,backend-services,health-checks,firewalls}`,
// set by ingress-gce's L4 controller): users see with `kubectl describe` what fleet-ilb created for
// them, and recording the names on the parent lets cleanup survive naming changes. Values are
// comma-separated names, sorted. Only our keys are written, with a JSON merge patch on
// `metadata.annotations` and only when they differ; an empty list removes its key.
import type { DesiredGce } from '../infra/gcp/desired.ts';
import { type GatewayHelperDeps, type GatewayLike, gatewayApi } from './deps.ts';
import { isNotFound, objectPath } from '../status/kube.ts';
import { RT } from '../status/resources.ts';

/** The annotation keys (all under `fleetilb.io/`). */
export const GCE_ANNOTATIONS = {
  address: 'fleetilb.io/address',
  forwardingRules: 'fleetilb.io/forwarding-rules',
  backendServices: 'fleetilb.io/backend-services',
  healthChecks: 'fleetilb.io/health-checks',
  negs: 'fleetilb.io/negs',
  firewalls: 'fleetilb.io/firewalls',
  /** Where the resources live: teardown needs it after the ILBConfig is gone or changed. */
  project: 'fleetilb.io/gce-project',
  region: 'fleetilb.io/gce-region',
} as const;

function join(names: Iterable<string>): string | null {
  const list = [...new Set(names)].filter((n) => n !== '').sort();
  return list.length === 0 ? null : list.join(',');
}

/**
 * The annotation values for a DesiredGce (null = the key must be absent). The address is listed
 * only when fleet-ilb owns it (a user-named reserved address is not ours). A NEG name repeats in
 * every zone it spans; it is listed once. `undefined` (no cloud resources) clears every key.
 */
export function gceAnnotations(d: DesiredGce | undefined): Record<string, string | null> {
  return {
    [GCE_ANNOTATIONS.address]: d === undefined || d.addressOwned === false ? null : join([d.address.name]),
    [GCE_ANNOTATIONS.forwardingRules]: join((d?.forwardingRules ?? []).map((x) => x.name)),
    [GCE_ANNOTATIONS.backendServices]: join((d?.backendServices ?? []).map((x) => x.name)),
    [GCE_ANNOTATIONS.healthChecks]: join((d?.healthChecks ?? []).map((x) => x.name)),
    [GCE_ANNOTATIONS.negs]: join((d?.negs ?? []).map((x) => x.neg.name)),
    [GCE_ANNOTATIONS.firewalls]: join((d?.firewalls ?? []).map((x) => x.name)),
    [GCE_ANNOTATIONS.project]: d === undefined ? null : d.project,
    [GCE_ANNOTATIONS.region]: d === undefined ? null : d.region,
  };
}

/** The merge patch that brings `live` to `want`, or undefined when nothing differs. */
export function annotationPatch(live: Record<string, string> | undefined, want: Record<string, string | null>): Record<string, string | null> | undefined {
  const patch: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(want)) {
    const have = live?.[k];
    if (v === null ? have !== undefined : have !== v) patch[k] = v;
  }
  return Object.keys(patch).length === 0 ? undefined : patch;
}

/**
 * Set the GCE resource annotations on the Gateway from a DesiredGce. No request when they already
 * match. Resolves true when it wrote; false also when the Gateway is gone.
 */
export async function setGceAnnotations(gw: GatewayLike, desired: DesiredGce | undefined, deps: GatewayHelperDeps): Promise<boolean> {
  const patch = annotationPatch(gw.metadata.annotations, gceAnnotations(desired));
  if (patch === undefined) return false;
  const api = gatewayApi(deps);
  try {
    await api.mergePatch(objectPath(RT.gateways, gw.metadata.namespace ?? '', gw.metadata.name), { metadata: { annotations: patch } });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * Record where the Gateway's GCE resources live (project and region annotations) before the first
 * cloud call, so a teardown knows the scope even when a reconcile dies right after its first write.
 * Resolves true when it wrote.
 */
export async function setGceScope(gw: GatewayLike, scope: { project: string; region: string }, deps: GatewayHelperDeps): Promise<boolean> {
  const patch = annotationPatch(gw.metadata.annotations, { [GCE_ANNOTATIONS.project]: scope.project, [GCE_ANNOTATIONS.region]: scope.region });
  if (patch === undefined) return false;
  try {
    await gatewayApi(deps).mergePatch(objectPath(RT.gateways, gw.metadata.namespace ?? '', gw.metadata.name), { metadata: { annotations: patch } });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
