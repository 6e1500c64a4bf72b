// SPDX-License-Identifier: Apache-2.0
//
// Resource paths, URLs and IP arithmetic shared by the emulator's resource handlers.

import { ApiError } from './errors.ts';

/** The host every Compute response uses in URLs, whatever host the request came to (test/emulator/README.md). */
export const API_BASE = 'https://www.googleapis.com/compute/v1/';

/** Where a resource lives: global, a region or a zone. */
export type Scope = { kind: 'global' } | { kind: 'regions'; name: string } | { kind: 'zones'; name: string };

/** `global`, `regions/us-central1` or `zones/us-central1-c`. */
export function scopePath(s: Scope): string {
  return s.kind === 'global' ? 'global' : `${s.kind}/${s.name}`;
}

/** `projects/p/regions/r/backendServices/n`: the path real error messages name a resource by. */
export function resourcePath(project: string, scope: Scope, collection: string, name: string): string {
  return `projects/${project}/${scopePath(scope)}/${collection}/${name}`;
}

/** The full URL of a path (`selfLink`, references). */
export function url(path: string): string {
  return API_BASE + path;
}

/** The region of a zone: `us-central1-c` → `us-central1`. */
export function regionOfZone(zone: string): string {
  return zone.replace(/-[a-z]$/, '');
}

/** A parsed reference to a resource. */
export interface Ref {
  project: string;
  scope: Scope;
  collection: string;
  name: string;
  path: string;
}

const FULL_URL = /^https?:\/\/[^/]+\/compute\/(?:v1|beta|alpha)\/(projects\/.+)$/;

/**
 * Parses a resource reference. The real API accepts a full URL on any of its hosts (www.googleapis.com,
 * compute.googleapis.com — and for the emulator the emulator's own base, which is what gcloud sends when pointed at
 * it), a partial URL `projects/p/regions/r/c/n`, and a project-relative `regions/r/c/n` (compute.proto field docs,
 * e.g. ForwardingRule.backendService, Address.subnetwork). `opts.fullOnly` rejects partial forms
 * (Backend.group: "Fully-qualified URL", [P]); `opts.bare` also accepts a bare name in `defaultScope`.
 * Returns undefined when the value is not a reference of the expected collection.
 */
export function parseRef(
  value: string,
  project: string,
  collection: string,
  opts: { fullOnly?: boolean; bare?: Scope } = {},
): Ref | undefined {
  let rel: string;
  const full = FULL_URL.exec(value);
  if (full !== null) rel = full[1]!;
  else if (opts.fullOnly === true) return undefined;
  else if (value.startsWith('projects/')) rel = value;
  else if (/^(global|regions\/[^/]+|zones\/[^/]+)\//.test(value)) rel = `projects/${project}/${value}`;
  else if (opts.bare !== undefined && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(value)) {
    return { project, scope: opts.bare, collection, name: value, path: resourcePath(project, opts.bare, collection, value) };
  } else return undefined;
  const m = /^projects\/([^/]+)\/(global|regions\/([^/]+)|zones\/([^/]+))\/([A-Za-z]+)\/([^/]+)$/.exec(rel);
  if (m === null || m[5] !== collection) return undefined;
  const scope: Scope =
    m[2] === 'global' ? { kind: 'global' } : m[3] !== undefined ? { kind: 'regions', name: m[3] } : { kind: 'zones', name: m[4]! };
  return { project: m[1]!, scope, collection, name: m[6]!, path: rel };
}

/** The real API's answer to a reference it cannot parse. [U] exact wording; the form is the `invalid` one. */
export function malformed(field: string, value: string): ApiError {
  return ApiError.invalid(field, value, 'The URL is malformed.');
}

/** Resource names: RFC 1035 label, 1–63 chars (compute.proto `name` docs: `[a-z]([-a-z0-9]*[a-z0-9])?`). */
export const NAME_RE = /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

/** Rejects a bad or missing `name` the way the API does. */
export function checkName(name: unknown): string {
  if (name === undefined || name === '') throw ApiError.required('resource.name');
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    // The message quotes the regex the API enforces (RFC 1035), as in public "Must be a match of regex" errors.
    throw ApiError.invalid('resource.name', name, "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'");
  }
  return name;
}

// ---- IPv4 ----

/** Dotted quad → 32-bit unsigned integer, or undefined. */
export function ipToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (m === null) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

/** 32-bit unsigned integer → dotted quad. */
export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** A parsed IPv4 CIDR range. */
export interface Cidr {
  base: number;
  size: number;
}

/** Parses `10.0.0.0/20`. */
export function parseCidr(cidr: string): Cidr | undefined {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  if (m === null) return undefined;
  const base = ipToInt(m[1]!);
  const bits = Number(m[2]);
  if (base === undefined || bits > 32) return undefined;
  const size = 2 ** (32 - bits);
  return { base: base - (base % size), size };
}

/**
 * Whether `ip` is a usable host address of the subnet range: GCE reserves four addresses in every primary range —
 * network, default gateway (.1), second-to-last and broadcast (cloud.google.com/vpc/docs/subnets "Reserved IP
 * addresses in IPv4 subnets").
 */
export function usableInSubnet(ip: number, c: Cidr): boolean {
  return ip >= c.base + 2 && ip <= c.base + c.size - 3;
}

/** Whether `ip` lies in the range at all. */
export function inRange(ip: number, c: Cidr): boolean {
  return ip >= c.base && ip < c.base + c.size;
}

/** A JSON value as text: strings as is, scalars via String, objects as JSON, absent as ''. */
export function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === undefined || v === null) return '';
  return JSON.stringify(v);
}

/**
 * Whether two fingerprints are the same. Fingerprints are `bytes` in the discovery document (`format: byte`), so
 * clients may re-encode them: gcloud (apitools) sends URL-safe base64 (`-`/`_`) for what the API emitted as standard
 * base64 (`+`/`/`). Compare the decoded bytes, as the API does.
 */
export function sameFingerprint(given: unknown, current: unknown): boolean {
  if (typeof given !== 'string' || typeof current !== 'string') return false;
  const a = Buffer.from(given, 'base64');
  return a.length > 0 && a.equals(Buffer.from(current, 'base64'));
}
