// SPDX-License-Identifier: Apache-2.0
//
// Drift detection that compares only the fields fleet-ilb sets (docs/compute-api.md "The Node
// client on the wire": decoded protos carry virtual keys such as `_name`, defaults for repeated
// fields and server-side defaults, so deep-equal of
// whole objects reports false drift and a resync would write). The rule: every field the desired object
// sets (not undefined/null) must match the live object; fields desired leaves unset are not ours.
// Normalisations, each mirroring how GCE echoes a value back:
//   - references (`network`, `backendService`, `group`, ...) compare by resource path (urls.ts);
//   - arrays compare as sets (ports, ranges, tags, health checks, backends, allowed rules): GCE does not
//     promise order and fleet-ilb never relies on it;
//   - protocol-like fields compare case-insensitively (`tcp` vs `TCP`);
//   - numbers and numeric strings compare by value (`ports: ["80"]` vs `[80]`, uint64 strings);
//   - `false`/`0`/`""`/`[]` in desired equal an absent live field (proto3 omits defaults).
import { sameResource } from './urls.ts';

/** Fields never compared: output-only or handled elsewhere (ownership via the stamp, locks). */
export const ALWAYS_IGNORED: ReadonlySet<string> = new Set([
  'kind',
  'id',
  'selfLink',
  'selfLinkWithId',
  'creationTimestamp',
  'fingerprint',
  'labelFingerprint',
  'status',
  'users',
  'size',
  'region',
  'zone',
  'metadatas',
  'usedBy',
  'pscConnectionStatus',
  'baseForwardingRule',
]);

/** Fields whose string values are compared case-insensitively. */
const CASE_INSENSITIVE = new Set(['IPProtocol', 'protocol']);

function isRef(v: string): boolean {
  return v.startsWith('https://') || v.startsWith('http://') || v.startsWith('projects/') || v.includes('/regions/') || v.includes('/zones/') || v.includes('/global/');
}

function isEmpty(v: unknown): boolean {
  return (
    v === undefined || v === null || v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0) ||
    (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).filter((k) => !k.startsWith('_')).every((k) => isEmpty((v as Record<string, unknown>)[k])))
  );
}

function scalarEqual(key: string, d: unknown, a: unknown): boolean {
  if (isEmpty(d) && isEmpty(a)) return true;
  if (typeof d === 'string' && typeof a === 'string') {
    if (d === a) return true;
    if (CASE_INSENSITIVE.has(key)) return d.toLowerCase() === a.toLowerCase();
    if (isRef(d) || isRef(a)) return sameResource(d, a);
    return false;
  }
  if ((typeof d === 'number' || typeof d === 'string') && (typeof a === 'number' || typeof a === 'string')) {
    return String(d) === String(a);
  }
  return d === a;
}

/** True when every owned field of `desired` holds in `actual` (recursive subset compare). */
export function subsetEqual(key: string, desired: unknown, actual: unknown): boolean {
  if (desired === undefined || desired === null) return true; // not ours
  if (Array.isArray(desired)) {
    const act = Array.isArray(actual) ? actual : [];
    if (desired.length !== act.length) return false;
    // Set semantics: each desired element matches a distinct live element.
    const used = new Set<number>();
    for (const d of desired) {
      const i = act.findIndex((a, idx) => !used.has(idx) && subsetEqual(key, d, a));
      if (i < 0) return false;
      used.add(i);
    }
    return true;
  }
  if (typeof desired === 'object') {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return isEmpty(desired);
    const a = actual as Record<string, unknown>;
    for (const [k, v] of Object.entries(desired as Record<string, unknown>)) {
      if (k.startsWith('_')) continue;
      if (!subsetEqual(k, v, a[k])) return false;
    }
    return true;
  }
  return scalarEqual(key, desired, actual);
}

/**
 * Names of the top-level fields of `desired` that differ in `actual`, skipping ALWAYS_IGNORED and
 * `ignore`. An empty result means "in sync". Pure.
 */
export function diffOwned(desired: object, actual: object, ignore: readonly string[] = []): string[] {
  const skip = new Set(ignore);
  const a = actual as Record<string, unknown>;
  const out: string[] = [];
  for (const [k, v] of Object.entries(desired as Record<string, unknown>)) {
    if (k.startsWith('_') || ALWAYS_IGNORED.has(k) || skip.has(k)) continue;
    if (!subsetEqual(k, v, a[k])) out.push(k);
  }
  return out.sort();
}
