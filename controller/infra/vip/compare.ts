// SPDX-License-Identifier: Apache-2.0
//
// Pure pieces of the VIP apply: the server-side-apply bodies, and "does the live object already
// hold what we own?" so that a resync sends no request at all. Server-side apply of identical
// content is a no-op on the server, but it is still a write request (rate limits, audit, the fence);
// fleet-ilb skips it client-side.
//
// Two checks decide "unchanged":
// 1. the annotation `fleetilb.io/applied-hash` equals the hash of the body we would apply. It
//    catches changes that a field comparison cannot see: a label, annotation or selector that we
//    applied before and no longer want (SSA removes fields a manager stops applying, but only if
//    we actually apply);
// 2. every field we apply still has our value on the live object (someone else may have edited
//    it; `force: true` takes it back). Server defaults are accounted for: `targetPort` defaults to
//    `port`, `protocol` to TCP, an allocated `healthCheckNodePort` is the server's when we do not
//    pin one.
import { createHash } from 'node:crypto';
import type { Endpoint, EndpointPort, EndpointSlice, LoadBalancerIngress, Service, ServicePort } from '../../api/index.ts';
import { jsonEqual } from '../../status/normalize.ts';

/** Annotation holding the hash of the last applied body. */
export const APPLIED_HASH_ANNOTATION = 'fleetilb.io/applied-hash';
/** Field manager of every VIP apply (spec, labels, annotations). */
export const FIELD_MANAGER = 'fleet-ilb';

function hashOf(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16);
}

/** True when every entry of `want` is in `have` with the same value. */
function includes(have: Record<string, string> | undefined, want: Record<string, string> | undefined): boolean {
  return Object.entries(want ?? {}).every(([k, v]) => have?.[k] === v);
}

function withHash<T extends { metadata: { annotations?: Record<string, string> } }>(body: T): T {
  const h = hashOf(body);
  return { ...body, metadata: { ...body.metadata, annotations: { ...(body.metadata.annotations ?? {}), [APPLIED_HASH_ANNOTATION]: h } } };
}

/** The SSA body of a desired Service (no status: SSA on the main resource ignores it). */
export function serviceApplyBody(s: Service): Service {
  const metadata: Service['metadata'] = { name: s.metadata.name };
  if (s.metadata.namespace !== undefined) metadata.namespace = s.metadata.namespace;
  if (s.metadata.labels !== undefined) metadata.labels = { ...s.metadata.labels };
  if (s.metadata.annotations !== undefined) metadata.annotations = { ...s.metadata.annotations };
  return withHash({ apiVersion: 'v1', kind: 'Service', metadata, spec: s.spec });
}

/** The SSA body of a desired mirrored EndpointSlice. */
export function sliceApplyBody(s: EndpointSlice): EndpointSlice {
  const metadata: EndpointSlice['metadata'] = { name: s.metadata.name };
  if (s.metadata.namespace !== undefined) metadata.namespace = s.metadata.namespace;
  if (s.metadata.labels !== undefined) metadata.labels = { ...s.metadata.labels };
  if (s.metadata.annotations !== undefined) metadata.annotations = { ...s.metadata.annotations };
  const body: EndpointSlice = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata, addressType: s.addressType, endpoints: s.endpoints };
  if (s.ports !== undefined) body.ports = s.ports;
  return withHash(body);
}

function normPort(p: ServicePort): Record<string, unknown> {
  return { name: p.name ?? '', protocol: p.protocol ?? 'TCP', port: p.port, targetPort: p.targetPort ?? p.port };
}

/** True when `live` holds every field of the apply body `body` (see the file comment). */
export function serviceMatches(live: Service, body: Service): boolean {
  if (!includes(live.metadata.annotations, body.metadata.annotations)) return false;
  if (!includes(live.metadata.labels, body.metadata.labels)) return false;
  const want = body.spec;
  const have = live.spec ?? {};
  for (const [k, v] of Object.entries(want)) {
    if (v === undefined) continue;
    if (k === 'ports') {
      const a = (have.ports ?? []).map(normPort);
      const b = (want.ports ?? []).map(normPort);
      if (!jsonEqual(a, b)) return false;
    } else if (!jsonEqual((have as Record<string, unknown>)[k], v)) {
      return false;
    }
  }
  // A selector someone added to our selectorless Service would route to other pods.
  if (want.selector === undefined && Object.keys(have.selector ?? {}).length > 0) return false;
  return true;
}

/** Desired `status.loadBalancer.ingress` with the server's default (`ipMode: VIP` for an IP). */
function normIngress(list: LoadBalancerIngress[] | undefined): LoadBalancerIngress[] {
  return (list ?? []).map((i) => (i.ip !== undefined && i.ipMode === undefined ? { ...i, ipMode: 'VIP' } : i));
}

/** True when the live Service already carries the desired load-balancer ingress. */
export function ingressMatches(live: Service, desired: Service): boolean {
  return jsonEqual(normIngress(live.status?.loadBalancer?.ingress), normIngress(desired.status?.loadBalancer?.ingress));
}

function normEndpoint(e: Endpoint): Record<string, unknown> {
  return { addresses: e.addresses, conditions: e.conditions ?? {}, nodeName: e.nodeName, zone: e.zone, hostname: e.hostname };
}

function normEpPort(p: EndpointPort): Record<string, unknown> {
  return { name: p.name ?? '', protocol: p.protocol ?? 'TCP', port: p.port, appProtocol: p.appProtocol };
}

/** True when `live` holds every field of the apply body `body`. */
export function sliceMatches(live: EndpointSlice, body: EndpointSlice): boolean {
  return (
    includes(live.metadata.annotations, body.metadata.annotations) &&
    includes(live.metadata.labels, body.metadata.labels) &&
    live.addressType === body.addressType &&
    jsonEqual((live.endpoints ?? []).map(normEndpoint), body.endpoints.map(normEndpoint)) &&
    jsonEqual((live.ports ?? []).map(normEpPort), (body.ports ?? []).map(normEpPort))
  );
}

/** `k=v,k2=v2` for a label selector query. */
export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** True when `obj` carries every owner label. */
export function hasLabels(obj: { metadata?: { labels?: Record<string, string> } }, labels: Record<string, string>): boolean {
  return includes(obj.metadata?.labels, labels);
}
