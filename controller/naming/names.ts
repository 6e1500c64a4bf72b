// SPDX-License-Identifier: Apache-2.0
//
// The one namer: every GCE and Kubernetes name fleet-ilb creates comes from here,
// never assembled inline. Format, after ingress-gce's L4 namer (utils/namer/l4_namer.go):
//
//     fl-{fleetHash6}-{namespace}-{name}-{hash8}[-{suffix}]
//
// * at most 63 characters, RFC 1035 `[a-z]([-a-z0-9]*[a-z0-9])?` (GCE names and Service names);
// * `fleetHash6` = contentHash(fleetId, 6): every name of one fleet shares the prefix
//   `fl-{fleetHash6}-` (the sweeper lists by it, then trusts only the ownership stamp);
// * `hash8` covers the fleet id, the full namespace, name and suffix identity, so the name stays
//   unique when the readable parts are trimmed (namespace and name trimmed evenly, the suffix to 24);
// * deterministic: the same inputs give the same name in every process and release.
import { canonical, contentHash } from './hash.ts';

export const MAX_NAME = 63;
const PREFIX = 'fl';
const FLEET_HASH_LEN = 6;
const HASH_LEN = 8;
const MAX_SUFFIX = 24;

const prefixCache = new Map<string, string>();

/** `fl-{fleetHash6}-`: the prefix of every name of this fleet. */
export function fleetPrefix(fleetId: string): string {
  let p = prefixCache.get(fleetId);
  if (p === undefined) {
    p = `${PREFIX}-${contentHash(fleetId, FLEET_HASH_LEN)}-`;
    if (prefixCache.size > 64) prefixCache.clear(); // a process serves one fleet; stay bounded anyway
    prefixCache.set(fleetId, p);
  }
  return p;
}

/** Lower-cases and replaces every character outside [a-z0-9-] by `-`. */
function sanitize(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9-]/g, '-');
}

/** Trims a and b so that `a.length + b.length <= budget`, taking evenly from the longer one. */
function trimEvenly(a: string, b: string, budget: number): [string, string] {
  let x = a;
  let y = b;
  while (x.length + y.length > budget) {
    if (x.length >= y.length) x = x.slice(0, -1);
    else y = y.slice(0, -1);
  }
  return [x, y];
}

/** The identity a name is derived from. `suffix` parts are joined with `-` into the readable suffix. */
export interface NameParts {
  fleetId: string;
  namespace: string;
  name: string;
  suffix?: string[];
  /** More identity, hashed but not shown (shared NEGs: the scope and every backend). */
  identity?: string;
}

/**
 * `fl-{fleetHash6}-{ns}-{name}-{hash8}[-{suffix}]`, ≤ 63 characters, RFC 1035.
 * Output name is at most 63 characters.
 */
export function resourceName(p: NameParts): string {
  const suffixParts = p.suffix ?? [];
  const parts = [p.fleetId, p.namespace, p.name, ...suffixParts, ...(p.identity === undefined ? [] : [p.identity])];
  const hash = contentHash(JSON.stringify(parts), HASH_LEN);
  let suffix = sanitize(suffixParts.join('-')).slice(0, MAX_SUFFIX).replace(/-+$/, '');
  suffix = suffix.replace(/^-+/, '');
  const head = fleetPrefix(p.fleetId); // "fl-xxxxxx-"
  const tail = `-${hash}${suffix === '' ? '' : `-${suffix}`}`;
  const budget = MAX_NAME - head.length - tail.length - 1; // -1: the '-' between ns and name
  const [ns, name] = trimEvenly(sanitize(p.namespace), sanitize(p.name), budget);
  return `${head}${ns}-${name}${tail}`;
}

/** Identity of the Gateway that owns a name. */
export interface GatewayRef {
  fleetId: string;
  namespace: string;
  name: string;
}

/** The Gateway's regional internal address (VIP): `fl-{f}-{ns}-{gw}-{h}`. */
export function addressName(g: GatewayRef): string {
  return resourceName({ ...g });
}

/** Regional backend service of a backend group: `fl-{f}-{ns}-{gw}-{h}-bs-{group}`. */
export function backendServiceName(g: GatewayRef, group: string): string {
  return resourceName({ ...g, suffix: ['bs', group] });
}

/** What a shared NEG serves: its backends' identities and the load balancer scope that uses it. */
export interface SharedNegIdentity {
  fleetId: string;
  /** Backend identities (`kind|group|namespace/name`), any order; the first sorted one names the NEG. */
  backends: readonly string[];
  cluster: string;
  /** Everything else that decides the NEG's object or members: project, region, network, subnetwork, node cap. */
  scope: readonly (string | number)[];
}

/**
 * Zonal GCE_VM_IP NEG shared by every Gateway whose listeners send traffic to the same backends in
 * the same load-balancer scope: `fl-{f}-{ns}-{service}-{h}-{cluster}` (ns/service of the first
 * backend; the hash covers all of them and the scope). A GCE_VM_IP NEG holds node VMs and no port,
 * so such Gateways would otherwise hold identical NEGs (docs/architecture.md "Shared NEGs").
 * The zone is the NEG's location, so it is not part of the name (same name in every zone).
 */
export function sharedNegName(id: SharedNegIdentity): string {
  const backends = [...new Set(id.backends)].sort();
  const first = backends[0] ?? '|||/';
  const nsName = first.slice(first.lastIndexOf('|') + 1);
  const slash = nsName.indexOf('/');
  return resourceName({
    fleetId: id.fleetId,
    namespace: slash < 0 ? '' : nsName.slice(0, slash),
    name: slash < 0 ? nsName : nsName.slice(slash + 1),
    suffix: [id.cluster],
    identity: JSON.stringify([backends, id.scope]),
  });
}

/** What a shared health check is: its GCE fields (all but name and description) and its scope. */
export interface SharedHealthCheckIdentity {
  fleetId: string;
  /** The GCE fields that make the check (type, port, probe, timing), as rendered. */
  spec: Readonly<Record<string, unknown>>;
  /** project, region: backend services may only use a health check of their own region. */
  scope: readonly string[];
}

/**
 * Regional health check shared by every backend service of the fleet that needs the same check in
 * the same project/region: `fl-{f}-shared-hc-{h}-{type}-{port}`, the hash over the whole check. A
 * check holds no Gateway state (GCE probes the forwarding rule's IP at the check's port), so
 * Gateways with the same listener port and health policy would otherwise hold identical checks;
 * GKE's own L4 load balancers share one the same way (ingress-gce's `l4-shared-hc`).
 * docs/architecture.md "Shared NEGs and health checks".
 */
export function sharedHealthCheckName(id: SharedHealthCheckIdentity): string {
  const type = typeof id.spec['type'] === 'string' ? id.spec['type'] : 'hc';
  const probe = Object.values(id.spec).find((v): v is { port: unknown } => typeof v === 'object' && v !== null && 'port' in v);
  return resourceName({
    fleetId: id.fleetId,
    namespace: 'shared',
    name: 'hc',
    suffix: [type, ...(typeof probe?.port === 'number' ? [String(probe.port)] : [])],
    identity: JSON.stringify([id.scope, canonical(id.spec)]),
  });
}

/** Forwarding rule `index` (0-based) of a backend group: `fl-{f}-{ns}-{gw}-{h}-fr-{group}-{index}`. */
export function forwardingRuleName(g: GatewayRef, group: string, index: number): string {
  return resourceName({ ...g, suffix: ['fr', group, String(index)] });
}

/** Firewall rule: `kind` `hc` (health-check sources) or `clients` (ILBConfig clientSourceRanges). */
export function firewallName(g: GatewayRef, kind: 'hc' | 'clients'): string {
  return resourceName({ ...g, suffix: ['fw', kind] });
}

/** Member-side VIP Service of one listener: `fl-{f}-{ns}-{gw}-{h}-{listener}`. */
export function vipServiceName(g: GatewayRef, listener: string): string {
  return resourceName({ ...g, suffix: [listener] });
}

/** Mirrored EndpointSlice of a VIP Service for one source slice. */
export function mirroredSliceName(g: GatewayRef, listener: string, sourceNamespace: string, sourceName: string): string {
  return resourceName({ ...g, suffix: ['ep', listener, sourceNamespace, sourceName] });
}

/** True for a valid GCE / RFC 1035 name of at most 63 characters. */
export function isValidName(s: string): boolean {
  return s.length >= 1 && s.length <= MAX_NAME && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(s);
}

/**
 * A Kubernetes label value (≤ 63, `[A-Za-z0-9]([-_.A-Za-z0-9]*[A-Za-z0-9])?`): the value itself when
 * valid, else a trimmed, sanitised form ending in a hash of the full value.
 */
export function labelValue(s: string): string {
  if (s.length <= MAX_NAME && /^([A-Za-z0-9]([-_.A-Za-z0-9]*[A-Za-z0-9])?)?$/.test(s)) return s;
  const h = contentHash(s, HASH_LEN);
  const body = s.replace(/[^-_.A-Za-z0-9]/g, '-').slice(0, MAX_NAME - HASH_LEN - 1).replace(/^[^A-Za-z0-9]+/, '');
  return body === '' ? h : `${body}-${h}`;
}
