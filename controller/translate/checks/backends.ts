// SPDX-License-Identifier: Apache-2.0
//
// backendRef resolution for TCPRoute / UDPRoute, as an ordered chain (order = condition priority,
// and ReferenceGrant is checked before existence so a RefNotPermitted answer never reveals whether a
// resource exists in another namespace, nginx/nginx-gateway-fabric#477):
//
//   1. kind      ServiceImport (multicluster.x-k8s.io | net.gke.io) or core Service, else InvalidKind
//   2. grant     cross-namespace needs a ReferenceGrant in the target namespace, else RefNotPermitted
//   3. exists    the ServiceImport / a member Service exists, else BackendNotFound
//   4. port      the port exists with the route's protocol, else BackendNotFound
//
// Decisions (documented in the report and docs):
// * `Service` backends mean "that Service in every member cluster that has it" (the conformance
//   suite uses Service backends; GEP-1748 calls it cluster-local, here every member is local).
// * Weights: a GCE passthrough NLB has no per-connection weights. weight 0 = excluded; every
//   non-zero backend is equal (each endpoint gets an equal share through the node datapath).
import type { BackendRef, ReferenceGrant, Service, ServicePort } from '../../api/index.ts';
import { GKE_MCS_GROUP, MCS_GROUP } from '../../api/index.ts';
import type { BackendInMember, EffectiveBackend, L4Protocol } from '../../ir/types.ts';
import { Reason } from '../../status/conditions.ts';
import type { Ctx } from '../context.ts';
import type { McsResult, ResolvedImport } from '../mcs.ts';
import { importKey } from '../mcs.ts';
import type { Check, Failure } from './chain.ts';
import { firstFailure } from './chain.ts';
import { HEALTH_CHECK_PORT_ANNOTATION, parseHealthPort } from '../hcports.ts';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

export interface BackendInput {
  ctx: Ctx;
  mcs: McsResult;
  routeKind: 'TCPRoute' | 'UDPRoute';
  routeNamespace: string;
  protocol: L4Protocol;
  ref: BackendRef;
}

export type BackendVerdict = { ok: true; backend: EffectiveBackend } | { ok: false; failure: Failure };

function refGroup(ref: BackendRef): string {
  return ref.group ?? '';
}
function refKind(ref: BackendRef): string {
  return ref.kind ?? 'Service';
}
function refNamespace(i: BackendInput): string {
  return i.ref.namespace ?? i.routeNamespace;
}
function describe(i: BackendInput): string {
  const g = refGroup(i.ref);
  return `${g === '' ? '' : `${g}/`}${refKind(i.ref)} ${refNamespace(i)}/${i.ref.name}`;
}

const isServiceImport = (ref: BackendRef): boolean =>
  refKind(ref) === 'ServiceImport' && (refGroup(ref) === MCS_GROUP || refGroup(ref) === GKE_MCS_GROUP);
const isService = (ref: BackendRef): boolean => refKind(ref) === 'Service' && refGroup(ref) === '';

const checkKind: Check<BackendInput> = (i) =>
  isServiceImport(i.ref) || isService(i.ref)
    ? undefined
    : {
        reason: Reason.InvalidKind,
        message: `${describe(i)}: unsupported backend kind; use a Service or a ServiceImport (${MCS_GROUP} or ${GKE_MCS_GROUP})`,
      };

/** True when a ReferenceGrant in the target namespace allows this route to reference this backend. */
export function grantAllows(
  grants: readonly ReferenceGrant[],
  from: { group: string; kind: string; namespace: string },
  to: { group: string; kind: string; namespace: string; name: string },
): boolean {
  return grants.some(
    (g) =>
      g.metadata.namespace === to.namespace &&
      g.spec.from.some((f) => f.group === from.group && f.kind === from.kind && f.namespace === from.namespace) &&
      g.spec.to.some((t) => t.group === to.group && t.kind === to.kind && (t.name === undefined || t.name === '' || t.name === to.name)),
  );
}

const checkGrant: Check<BackendInput> = (i) => {
  const ns = refNamespace(i);
  if (ns === i.routeNamespace) return undefined;
  const ok = grantAllows(
    i.ctx.referenceGrants,
    { group: GATEWAY_GROUP, kind: i.routeKind, namespace: i.routeNamespace },
    { group: refGroup(i.ref), kind: refKind(i.ref), namespace: ns, name: i.ref.name },
  );
  return ok
    ? undefined
    : {
        reason: Reason.RefNotPermitted,
        message: `${describe(i)}: cross-namespace reference from ${i.routeKind} in ${i.routeNamespace} is not permitted by any ReferenceGrant in ${ns}`,
      };
};

function lookupImport(i: BackendInput): ResolvedImport | undefined {
  return i.mcs.imports.get(importKey(refGroup(i.ref), refNamespace(i), i.ref.name));
}

function memberServices(i: BackendInput): Array<{ cluster: string; svc: Service }> {
  const k = `${refNamespace(i)}/${i.ref.name}`;
  const out: Array<{ cluster: string; svc: Service }> = [];
  for (const m of i.ctx.members) {
    const svc = m.services.get(k);
    if (svc !== undefined && svc.spec.type !== 'ExternalName') out.push({ cluster: m.clusterId, svc });
  }
  return out;
}

const checkExists: Check<BackendInput> = (i) => {
  const found = isServiceImport(i.ref) ? lookupImport(i) !== undefined : memberServices(i).length > 0;
  return found
    ? undefined
    : {
        reason: Reason.BackendNotFound,
        message: isServiceImport(i.ref)
          ? `${describe(i)} not found`
          : `${describe(i)} not found in any member cluster`,
      };
};

/** The ServiceImport port a backendRef means (port omitted: the only port of the route's protocol). */
function importPort(i: BackendInput, imp: ResolvedImport): { port: number; name?: string } | undefined {
  const ports = imp.ports.filter((p) => (p.protocol ?? 'TCP') === i.protocol);
  const p = i.ref.port === undefined ? (ports.length === 1 ? ports[0] : undefined) : ports.find((x) => x.port === i.ref.port);
  if (p === undefined) return undefined;
  return p.name === undefined ? { port: p.port } : { port: p.port, name: p.name };
}

function servicePort(svc: Service, protocol: L4Protocol, match: { port: number; name?: string }): ServicePort | undefined {
  const ports = (svc.spec.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === protocol);
  if (match.name !== undefined) return ports.find((p) => p.name === match.name);
  return ports.find((p) => p.port === match.port);
}

const checkPort: Check<BackendInput> = (i) => {
  if (isServiceImport(i.ref)) {
    const imp = lookupImport(i);
    if (imp !== undefined && importPort(i, imp) !== undefined) return undefined;
    return {
      reason: Reason.BackendNotFound,
      message:
        i.ref.port === undefined
          ? `${describe(i)}: port is required (the ServiceImport has several ${i.protocol} ports or none)`
          : `${describe(i)} has no ${i.protocol} port ${i.ref.port}`,
    };
  }
  if (i.ref.port === undefined) {
    return { reason: Reason.BackendNotFound, message: `${describe(i)}: port is required for a Service backend` };
  }
  const port = i.ref.port;
  const any = memberServices(i).some((m) => servicePort(m.svc, i.protocol, { port }) !== undefined);
  return any ? undefined : { reason: Reason.BackendNotFound, message: `${describe(i)} has no ${i.protocol} port ${port} in any member cluster` };
};

const BACKEND_CHECKS: ReadonlyArray<Check<BackendInput>> = [checkKind, checkGrant, checkExists, checkPort];

function inMember(cluster: string, svc: Service, p: ServicePort): BackendInMember {
  const out: BackendInMember = {
    cluster,
    serviceName: svc.metadata.name,
    serviceNamespace: svc.metadata.namespace ?? '',
    servicePort: p.port,
    targetPort: p.targetPort ?? p.port,
  };
  if (p.name !== undefined && p.name !== '') out.portName = p.name;
  if (svc.spec.selector !== undefined && Object.keys(svc.spec.selector).length > 0) out.selector = { ...svc.spec.selector };
  // The pods' TCP health port for UDP listeners' health checks (translate/DECISIONS.md 8).
  const health = parseHealthPort(svc.metadata.annotations?.[HEALTH_CHECK_PORT_ANNOTATION]);
  if (health !== undefined) out.healthPort = health;
  return out;
}

/** Resolves one backendRef: the chain, then the member-side Services it expands to. */
export function resolveBackend(i: BackendInput): BackendVerdict {
  const failure = firstFailure(BACKEND_CHECKS, i);
  if (failure !== undefined) return { ok: false, failure };
  const ns = refNamespace(i);
  const members: BackendInMember[] = [];
  let port: number;
  if (isServiceImport(i.ref)) {
    const imp = lookupImport(i);
    const ip = imp === undefined ? undefined : importPort(i, imp);
    if (imp === undefined || ip === undefined) {
      return { ok: false, failure: { reason: Reason.BackendNotFound, message: `${describe(i)} not found` } };
    }
    port = ip.port;
    for (const cluster of imp.clusters) {
      const m = i.ctx.members.find((x) => x.clusterId === cluster);
      const svc = m?.services.get(`${ns}/${i.ref.name}`);
      const sp = svc === undefined ? undefined : servicePort(svc, i.protocol, ip);
      if (svc !== undefined && sp !== undefined) members.push(inMember(cluster, svc, sp));
    }
  } else {
    port = i.ref.port ?? 0;
    for (const { cluster, svc } of memberServices(i)) {
      const sp = servicePort(svc, i.protocol, { port });
      if (sp !== undefined) members.push(inMember(cluster, svc, sp));
    }
  }
  return {
    ok: true,
    backend: {
      kind: isServiceImport(i.ref) ? 'ServiceImport' : 'Service',
      group: refGroup(i.ref),
      namespace: ns,
      name: i.ref.name,
      port,
      weight: i.ref.weight ?? 1,
      members,
    },
  };
}
