// SPDX-License-Identifier: Apache-2.0
//
// Regional backend services (internal passthrough): insert, get, list, patch (merge), update (replace), delete,
// getHealth, with fingerprint locking and the backend/health-check rules of docs/compute-api.md "Resources and fields".

import type { Engine, Mutation } from '../engine.ts';
import { ApiError } from '../errors.ts';
import { type Scope, checkName, malformed, parseRef, regionOfZone, resourcePath, str, sameFingerprint } from '../model.ts';
import { enumValues } from '../proto.ts';
import {
  type Call,
  type Handler,
  type KindDef,
  aggregated,
  getHandler,
  immutable,
  listHandler,
  mergePatch,
  regionScopes,
  render,
  writable,
} from './common.ts';
import { groupHealth, rulesOf } from './health.ts';
import { deleteMutation } from './refs.ts';

export const BACKEND_SERVICE: KindDef = {
  collection: 'backendServices',
  kind: 'compute#backendService',
  type: 'BackendService',
  typeWord: 'backend_service',
};

/** ≤50 backends per backend service (load-balancing quotas: "not configurable", docs/compute-api.md "Resources and fields"). */
export const MAX_BACKENDS = 50;

/** Backend fields an INTERNAL (passthrough) backend service may not set (magic-modules RegionBackendService.yaml). */
const INTERNAL_FORBIDDEN = [
  'capacityScaler',
  'maxConnections',
  'maxConnectionsPerInstance',
  'maxConnectionsPerEndpoint',
  'maxRate',
  'maxRatePerInstance',
  'maxRatePerEndpoint',
  'maxUtilization',
];

/** FR protocol ↔ BS protocol for internal passthrough (docs/compute-api.md "Resources and fields": TCP↔TCP, UDP↔UDP, L3_DEFAULT↔UNSPECIFIED). */
export const PROTOCOL_PAIRS: Record<string, string> = { TCP: 'TCP', UDP: 'UDP', L3_DEFAULT: 'UNSPECIFIED' };

function checkEnum(field: string, value: unknown, allowed: string[] | undefined): void {
  if (value !== undefined && allowed !== undefined && !allowed.includes(str(value))) {
    throw ApiError.invalid(`resource.${field}`, value, '');
  }
}

/**
 * Validates a complete backend service body against the current state and returns it with the API's defaults and
 * canonical URLs. `region` is the service's region.
 */
function normalize(e: Engine, project: string, region: string, body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  out.description ??= '';
  // compute.proto: loadBalancingScheme default EXTERNAL, protocol default HTTP.
  out.loadBalancingScheme ??= 'EXTERNAL';
  out.protocol ??= 'HTTP';
  out.sessionAffinity ??= 'NONE';
  out.timeoutSec ??= 30;
  out.connectionDraining ??= { drainingTimeoutSec: 0 };
  checkEnum('loadBalancingScheme', out.loadBalancingScheme, enumValues('BackendService', 'loadBalancingScheme'));
  checkEnum('protocol', out.protocol, enumValues('BackendService', 'protocol'));
  checkEnum('sessionAffinity', out.sessionAffinity, enumValues('BackendService', 'sessionAffinity'));
  const internal = out.loadBalancingScheme === 'INTERNAL';
  if (internal && !['TCP', 'UDP', 'UNSPECIFIED'].includes(str(out.protocol))) {
    // Internal passthrough NLB backend services are TCP, UDP or UNSPECIFIED (compute.proto protocol docs). [U] wording.
    throw ApiError.invalid('resource.protocol', out.protocol, 'Protocol must be TCP, UDP or UNSPECIFIED for INTERNAL load balancing.');
  }
  const fp = out.failoverPolicy as Record<string, unknown> | undefined;
  if (fp?.failoverRatio !== undefined && (Number(fp.failoverRatio) < 0 || Number(fp.failoverRatio) > 1)) {
    throw ApiError.invalid('resource.failoverPolicy.failoverRatio', fp.failoverRatio, 'Must be between 0 and 1.');
  }
  if (out.network !== undefined) {
    const ref = parseRef(str(out.network), project, 'networks');
    if (ref === undefined) throw malformed('resource.network', str(out.network));
    out.network = e.must(ref.path).data.selfLink;
  }

  const hcs = (out.healthChecks as string[] | undefined) ?? [];
  if (hcs.length > 1) {
    // compute.proto healthChecks: "Not all backend services support legacy health checks ... only one health check".
    throw ApiError.invalid('resource.healthChecks', hcs.join(','), 'At most one health check can be specified.');
  }
  out.healthChecks = hcs.map((h, i) => {
    const ref = parseRef(h, project, 'healthChecks');
    if (ref === undefined) throw malformed(`resource.healthChecks[${i}]`, h);
    if (ref.scope.kind === 'zones' || (ref.scope.kind === 'regions' && ref.scope.name !== region)) {
      throw ApiError.invalid(`resource.healthChecks[${i}]`, h, `Health check must be global or in region '${region}'.`);
    }
    // A missing health check is a 404 naming it (the usual terraform "Error 404: The resource '…' was not found").
    return e.must(ref.path).data.selfLink;
  });

  const backends = (out.backends as Array<Record<string, unknown>> | undefined) ?? [];
  if (backends.length > MAX_BACKENDS) {
    // [U] wording; the limit is documented (quotas: 50 backends per backend service).
    throw ApiError.invalid('resource.backends', str(backends.length), `Exceeded the maximum number of backends (${MAX_BACKENDS}).`);
  }
  const seen = new Set<string>();
  out.backends = backends.map((b, i) => {
    const f = `resource.backends[${i}].group`;
    const group = b.group as string | undefined;
    if (group === undefined) throw ApiError.required(f);
    // compute.proto Backend.group: "You must use the *fully-qualified* URL (starting with
    // https://www.googleapis.com/) to specify the instance group or NEG. Partial URLs are not supported."
    const ref = parseRef(group, project, 'networkEndpointGroups', { fullOnly: true }) ?? parseRef(group, project, 'instanceGroups', { fullOnly: true });
    if (ref === undefined) throw malformed(f, group);
    const neg = e.must(ref.path);
    if (ref.scope.kind !== 'zones' || regionOfZone(ref.scope.name) !== region) {
      throw ApiError.invalid(f, group, `Backend group must be in region '${region}'.`);
    }
    const link = str(neg.data.selfLink);
    if (seen.has(link)) {
      // No duplicate group in one backend service [D]. [U] wording.
      throw ApiError.invalid(f, group, 'Duplicate backend group.');
    }
    seen.add(link);
    const nb: Record<string, unknown> = { ...b, group: link };
    if (internal) {
      if (neg.data.networkEndpointType !== 'GCE_VM_IP') {
        // Internal passthrough NLBs take GCE_VM_IP zonal NEGs (or instance groups) only (setting-up-internal-zonal-neg).
        throw ApiError.invalid(f, group, 'Network endpoint group type must be GCE_VM_IP for INTERNAL load balancing.');
      }
      nb.balancingMode ??= 'CONNECTION';
      if (nb.balancingMode !== 'CONNECTION') {
        throw ApiError.invalid(`resource.backends[${i}].balancingMode`, nb.balancingMode, 'INTERNAL load balancing supports only CONNECTION balancing mode.');
      }
      for (const k of INTERNAL_FORBIDDEN) {
        if (nb[k] !== undefined) throw ApiError.invalid(`resource.backends[${i}].${k}`, nb[k], `Field is not supported for INTERNAL load balancing.`);
      }
    } else nb.balancingMode ??= 'UTILIZATION';
    return nb;
  });
  if (internal && backends.length > 0 && hcs.length === 0) {
    // "healthChecks[] ... required with instance-group/zonal-NEG backends" (compute.proto). [U] wording.
    throw ApiError.invalid('resource.healthChecks', '', 'A health check must be specified for backend services with instance group or network endpoint group backends.');
  }
  return out;
}

function pathOf(c: Call, name: string): string {
  return resourcePath(c.project, c.scope, 'backendServices', name);
}

function region(c: Call): string {
  return c.scope.kind === 'regions' ? c.scope.name : '';
}

function insert(c: Call): Mutation {
  const e = c.engine;
  const body = writable(c.body, ['fingerprint', 'usedBy']);
  const name = checkName(body.name);
  const path = pathOf(c, name);
  const id = e.newId();
  return {
    operationType: 'insert',
    targetPath: path,
    targetId: id,
    scope: c.scope,
    prepare: () => {
      if (e.get(path) !== undefined) throw ApiError.alreadyExists(path);
      const data = normalize(e, c.project, region(c), body);
      return () => {
        const res = e.newRes(c.project, c.scope, 'backendServices', name, BACKEND_SERVICE.kind, id);
        Object.assign(res.data, data, { fingerprint: e.fingerprint() });
        e.put(res);
      };
    },
  };
}

function stripOutput(d: Record<string, unknown>): Record<string, unknown> {
  const { kind: _k, id: _i, creationTimestamp: _c, selfLink: _s, region: _r, fingerprint: _f, ...rest } = d;
  return rest;
}

function modify(c: Call, mode: 'patch' | 'update'): Mutation {
  const e = c.engine;
  const path = pathOf(c, c.params.backendService!);
  const cur = e.must(path);
  const fingerprint = c.body.fingerprint;
  const body = writable(c.body, ['fingerprint', 'usedBy']);
  if (body.name !== undefined && body.name !== cur.name) throw ApiError.invalid('resource.name', body.name, 'Name cannot be changed.');
  return {
    operationType: mode,
    targetPath: path,
    targetId: str(cur.data.id),
    scope: c.scope,
    prepare: () => {
      const res = e.must(path);
      // compute.proto BackendService.fingerprint: "An up-to-date fingerprint must be provided in order to update the
      // BackendService, otherwise the request will fail with error 412 conditionNotMet." An update without one is
      // "Required field 'resource.fingerprint' not specified" (ansible-collections/google.cloud#342). [U] PATCH
      // without a fingerprint is accepted.
      if (mode === 'update' && fingerprint === undefined) throw ApiError.required('resource.fingerprint');
      if (fingerprint !== undefined && !sameFingerprint(fingerprint, res.data.fingerprint)) throw ApiError.conditionNotMet();
      const base = mode === 'update' ? { name: res.name, ...body } : mergePatch(stripOutput(res.data), body);
      const next = normalize(e, c.project, region(c), base);
      if (next.loadBalancingScheme !== res.data.loadBalancingScheme) {
        // loadBalancingScheme is immutable (magic-modules RegionBackendService.yaml).
        throw immutable('loadBalancingScheme', next.loadBalancingScheme);
      }
      if (next.protocol !== res.data.protocol) {
        const frs = rulesOf(e, res);
        // "changing protocol of backend service without first deleting forwarding rule will throw an error since the
        // linked forwarding rule would show the old protocol" (cloud-provider-gcp gce_loadbalancer_internal.go). [U] wording.
        const bad = frs.find((f) => PROTOCOL_PAIRS[str(f.data.IPProtocol)] !== next.protocol);
        if (bad !== undefined) {
          throw ApiError.invalid(
            'resource.protocol',
            next.protocol,
            `Backend service protocol must match the protocol of forwarding rule '${bad.path}' (${str(bad.data.IPProtocol)}).`,
          );
        }
      }
      return () => {
        const keep = { kind: res.data.kind, id: res.data.id, creationTimestamp: res.data.creationTimestamp, name: res.name };
        res.data = { ...keep, ...next, selfLink: res.data.selfLink, region: res.data.region, fingerprint: e.fingerprint() };
      };
    },
  };
}


function getHealth(c: Call): Record<string, unknown> {
  const e = c.engine;
  const bs = e.must(pathOf(c, c.params.backendService!));
  const group = c.body.group as string | undefined;
  if (group === undefined) throw ApiError.required('resourceGroupReference.group');
  const ref = parseRef(group, c.project, 'networkEndpointGroups');
  const neg = ref === undefined ? undefined : e.get(ref.path);
  const isBackend = ((bs.data.backends as Array<{ group?: string }> | undefined) ?? []).some((b) => b.group === neg?.data.selfLink);
  if (neg === undefined || !isBackend) {
    // [U] wording: the group must be one of the service's backends.
    throw ApiError.invalid('resourceGroupReference.group', group, `Not a backend of '${bs.path}'.`);
  }
  return { kind: 'compute#backendServiceGroupHealth', healthStatus: groupHealth(e, bs, neg) };
}

const GLOBAL: Scope = { kind: 'global' };

/** Backend service handlers (regional; `backendServices.aggregatedList` lists them with the global ones). */
export const backendServiceHandlers: Record<string, Handler> = {
  'regionBackendServices.get': getHandler(BACKEND_SERVICE, 'backendService'),
  'regionBackendServices.list': listHandler(BACKEND_SERVICE, 'BackendServiceList', 'compute#backendServiceList'),
  'regionBackendServices.insert': (c) => ({ mutation: insert(c) }),
  'regionBackendServices.patch': (c) => ({ mutation: modify(c, 'patch') }),
  'regionBackendServices.update': (c) => ({ mutation: modify(c, 'update') }),
  'regionBackendServices.delete': (c) => ({ mutation: deleteMutation(c, BACKEND_SERVICE, pathOf(c, c.params.backendService!)) }),
  'regionBackendServices.getHealth': (c) => ({ value: getHealth(c), type: 'BackendServiceGroupHealth' }),
  'backendServices.aggregatedList': (c) => ({
    value: aggregated(c, {
      aggKind: 'compute#backendServiceAggregatedList',
      collection: 'backendServices',
      field: 'backendServices',
      scopes: [GLOBAL, ...regionScopes(c.engine)],
      items: (s) => c.engine.list(c.project, s, 'backendServices').map((r) => render(c.engine, BACKEND_SERVICE, r)),
    }),
    type: 'BackendServiceAggregatedList',
  }),
};
