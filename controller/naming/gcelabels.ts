// SPDX-License-Identifier: Apache-2.0
//
// GCE labels fleet-ilb puts on the resources it creates, for cost attribution and
// `gcloud ... --filter=labels.fleetilb-gateway=NAME`. Only addresses and forwarding rules carry
// labels among the kinds fleet-ilb creates: compute.proto (v1) gives `labels` and `labelFingerprint`
// to Address and ForwardingRule (with `addresses.setLabels` / `forwardingRules.setLabels`) and no
// `labels` field to BackendService, HealthCheck, NetworkEndpointGroup or Firewall
// (https://cloud.google.com/compute/docs/reference/rest/v1/forwardingRules/setLabels,
// https://cloud.google.com/compute/docs/reference/rest/v1/addresses/setLabels; the emulator rejects
// `labels` on the other kinds as an unknown field, like the API's JSON front end).
//
// Label rules (https://cloud.google.com/resource-manager/docs/labels-overview "Requirements for
// labels"): keys 1–63 characters, starting with a lowercase letter; keys and values only lowercase
// letters, digits, `_` and `-`; values at most 63 characters (may be empty); ≤ 64 labels per resource.
// Kubernetes names are lowercase already but may hold `.` (DNS subdomains, ≤ 253): every other
// character becomes `-`, and a value that would exceed 63 characters keeps its first 54 and a
// hash of the whole (labels are for reading and filtering; the ownership stamp in `description`
// stays the source of truth).
import { contentHash } from './hash.ts';

export const GCE_LABEL_FLEET = 'fleetilb-fleet';
export const GCE_LABEL_GATEWAY_NAMESPACE = 'fleetilb-gateway-namespace';
export const GCE_LABEL_GATEWAY = 'fleetilb-gateway';

/** The GCE labels fleet-ilb owns (the keys it sets and compares; others on a resource are the user's). */
export const GCE_LABEL_KEYS: readonly string[] = [GCE_LABEL_FLEET, GCE_LABEL_GATEWAY_NAMESPACE, GCE_LABEL_GATEWAY];

const MAX = 63;

/** A valid GCE label value for `s` (lowercase, [a-z0-9_-], ≤ 63; long values shortened with a hash). */
export function gceLabelValue(s: string): string {
  const v = s.toLowerCase().replace(/[^a-z0-9_-]/g, '-');
  return v.length <= MAX ? v : `${v.slice(0, MAX - 9)}-${contentHash(s, 8)}`;
}

/** The labels of every labelable GCE resource of one Gateway. */
export function gceLabels(fleetId: string, namespace: string, name: string): Record<string, string> {
  return { [GCE_LABEL_FLEET]: gceLabelValue(fleetId), [GCE_LABEL_GATEWAY_NAMESPACE]: gceLabelValue(namespace), [GCE_LABEL_GATEWAY]: gceLabelValue(name) };
}

/**
 * The label map to write when `live` lacks ours or holds other values for our keys: the user's own
 * labels kept, ours set. Undefined when nothing of ours differs (no write).
 */
export function mergedLabels(desired: Readonly<Record<string, string>> | null | undefined, live: Readonly<Record<string, string>> | null | undefined): Record<string, string> | undefined {
  if (desired === undefined || desired === null) return undefined;
  const cur = live ?? {};
  if (Object.entries(desired).every(([k, v]) => cur[k] === v)) return undefined;
  return { ...cur, ...desired };
}
