// SPDX-License-Identifier: Apache-2.0
//
// Resource URL helpers. GCE accepts and returns references in several spellings (full
// `https://www.googleapis.com/compute/v1/projects/...`, `compute.googleapis.com`, other API versions,
// partial `projects/...`, `regions/r/...`, bare names), so comparisons use the path from `projects/`
// on (ingress-gce compares parsed resource IDs, not raw URLs: l4/forwardingrules/equal.go).

const API_ROOT = 'https://www.googleapis.com/compute/v1/';

/** The last path segment of a URL or path (a bare name is returned as is). */
export function lastSegment(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  const i = trimmed.lastIndexOf('/');
  return i < 0 ? trimmed : trimmed.slice(i + 1);
}

/** `projects/...` part of a resource URL, or the input unchanged when it has none. */
export function resourcePath(url: string): string {
  const i = url.indexOf('projects/');
  return i < 0 ? url : url.slice(i).replace(/\/+$/, '');
}

/** True when two references name the same resource (scheme, host and API version ignored). */
export function sameResource(a: string | null | undefined, b: string | null | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  const pa = resourcePath(a);
  const pb = resourcePath(b);
  if (pa.startsWith('projects/') && pb.startsWith('projects/')) return pa === pb;
  // One side is a bare name (or a scope-relative path): compare the names.
  return lastSegment(pa) === lastSegment(pb);
}

/** Full URL of a regional resource. */
export function regionalUrl(project: string, region: string, collection: string, name: string): string {
  return `${API_ROOT}projects/${project}/regions/${region}/${collection}/${name}`;
}

/** Full URL of a zonal resource. */
export function zonalUrl(project: string, zone: string, collection: string, name: string): string {
  return `${API_ROOT}projects/${project}/zones/${zone}/${collection}/${name}`;
}

/** Full URL of a global resource. */
export function globalUrl(project: string, collection: string, name: string): string {
  return `${API_ROOT}projects/${project}/global/${collection}/${name}`;
}

/** The region a zone belongs to (`us-central1-a` -> `us-central1`). */
export function regionOfZone(zone: string): string {
  const i = zone.lastIndexOf('-');
  return i < 0 ? zone : zone.slice(0, i);
}
