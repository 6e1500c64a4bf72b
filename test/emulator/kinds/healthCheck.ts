// SPDX-License-Identifier: Apache-2.0
//
// Health checks, regional (regionHealthChecks) and global (healthChecks).

import type { Mutation } from '../engine.ts';
import { ApiError } from '../errors.ts';
import { type Scope, checkName, resourcePath, str } from '../model.ts';
import { enumValues } from '../proto.ts';
import {
  type Call,
  type Handler,
  type KindDef,
  aggregated,
  getHandler,
  listHandler,
  mergePatch,
  regionScopes,
  render,
  writable,
} from './common.ts';
import { deleteMutation } from './refs.ts';

export const HEALTH_CHECK: KindDef = {
  collection: 'healthChecks',
  kind: 'compute#healthCheck',
  type: 'HealthCheck',
  typeWord: 'health_check',
};

/** `type` → the sub-message that must carry its settings (compute.proto HealthCheck docs). */
const SUB: Record<string, string> = {
  TCP: 'tcpHealthCheck',
  SSL: 'sslHealthCheck',
  HTTP: 'httpHealthCheck',
  HTTPS: 'httpsHealthCheck',
  HTTP2: 'http2HealthCheck',
  GRPC: 'grpcHealthCheck',
  GRPC_WITH_TLS: 'grpcTlsHealthCheck',
};

function intIn(body: Record<string, unknown>, field: string, lo: number, hi: number): void {
  const v = body[field];
  if (v === undefined) return;
  if (typeof v !== 'number' || v < lo || v > hi) {
    // Bounds as gcloud and GKE's HealthCheckPolicy enforce them (docs/compute-api.md "Resources and fields" [U]).
    throw ApiError.invalid(`resource.${field}`, v, `Must be between ${lo} and ${hi}.`);
  }
}

/**
 * Validates and completes a health check body with the API's defaults (checkIntervalSec 5, timeoutSec 5,
 * thresholds 2, port 80, proxyHeader NONE, requestPath "/": compute.proto field docs).
 */
export function normalizeHealthCheck(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  const type = out.type as string | undefined;
  const types = enumValues('HealthCheck', 'type') ?? Object.keys(SUB);
  if (type === undefined) throw ApiError.invalid('resource.type', '', 'Health check type must be specified.');
  if (!types.includes(type) || SUB[type] === undefined) throw ApiError.invalid('resource.type', type, 'Unsupported health check type.');
  const want = SUB[type];
  for (const sub of Object.values(SUB)) {
    if (sub !== want && out[sub] !== undefined) {
      // Exactly one sub-message, and it must match `type` (compute.proto: "the type of the health check must match
      // the health check sub-message"). [U] wording.
      throw ApiError.invalid(`resource.${sub}`, '', `Health check type '${type}' does not match the specified ${sub}.`);
    }
  }
  out.checkIntervalSec ??= 5;
  out.timeoutSec ??= 5;
  out.healthyThreshold ??= 2;
  out.unhealthyThreshold ??= 2;
  intIn(out, 'checkIntervalSec', 1, 300);
  intIn(out, 'timeoutSec', 1, 300);
  intIn(out, 'healthyThreshold', 1, 10);
  intIn(out, 'unhealthyThreshold', 1, 10);
  if ((out.timeoutSec as number) > (out.checkIntervalSec as number)) {
    // compute.proto: timeoutSec "It is invalid for timeoutSec to have greater value than checkIntervalSec."
    throw ApiError.invalid('resource.timeoutSec', out.timeoutSec, 'TimeoutSec should be less than checkIntervalSec.');
  }
  const sub: Record<string, unknown> = { ...((out[want] as Record<string, unknown> | undefined) ?? {}) };
  // [U] The API reports the effective port specification (USE_FIXED_PORT unless a port name or the serving port is
  // used); gcloud always sends it explicitly.
  const spec = (sub.portSpecification as string | undefined) ?? (sub.portName !== undefined && sub.port === undefined ? 'USE_NAMED_PORT' : 'USE_FIXED_PORT');
  sub.portSpecification = spec;
  if (spec === 'USE_FIXED_PORT') sub.port ??= type === 'HTTPS' ? 443 : 80;
  if (spec === 'USE_SERVING_PORT' && (sub.port !== undefined || sub.portName !== undefined)) {
    throw ApiError.invalid(`resource.${want}.port`, sub.port ?? sub.portName, 'Port must not be set with USE_SERVING_PORT.');
  }
  if (sub.port !== undefined && (typeof sub.port !== 'number' || sub.port < 1 || sub.port > 65535)) {
    throw ApiError.invalid(`resource.${want}.port`, sub.port, 'Must be between 1 and 65535.');
  }
  if (type === 'HTTP' || type === 'HTTPS' || type === 'HTTP2') sub.requestPath ??= '/';
  if (type !== 'GRPC' && type !== 'GRPC_WITH_TLS') sub.proxyHeader ??= 'NONE';
  out[want] = sub;
  return out;
}

/** The port a health check probes, when fixed. */
export function healthCheckPort(hc: Record<string, unknown>): number | undefined {
  const sub = SUB[str(hc.type)];
  const port = sub === undefined ? undefined : (hc[sub] as Record<string, unknown> | undefined)?.port;
  return typeof port === 'number' ? port : undefined;
}

function pathOf(c: Call): string {
  return resourcePath(c.project, c.scope, 'healthChecks', c.params.healthCheck!);
}

function insert(c: Call): Mutation {
  const e = c.engine;
  const body = writable(c.body);
  const name = checkName(body.name);
  const path = resourcePath(c.project, c.scope, 'healthChecks', name);
  const id = e.newId();
  const data = normalizeHealthCheck({ ...body, description: body.description ?? '' });
  return {
    operationType: 'insert',
    targetPath: path,
    targetId: id,
    scope: c.scope,
    prepare: () => {
      if (e.get(path) !== undefined) throw ApiError.alreadyExists(path);
      return () => {
        const res = e.newRes(c.project, c.scope, 'healthChecks', name, HEALTH_CHECK.kind, id);
        Object.assign(res.data, data);
        e.put(res);
      };
    },
  };
}

function modify(c: Call, mode: 'patch' | 'update'): Mutation {
  const e = c.engine;
  const path = pathOf(c);
  const cur = e.must(path);
  const body = writable(c.body);
  if (body.name !== undefined && body.name !== cur.name) throw ApiError.invalid('resource.name', body.name, 'Name cannot be changed.');
  const build = (): Record<string, unknown> => {
    const base = mode === 'update' ? { name: cur.name, ...body } : mergePatch(stripOutput(e.must(path).data), body);
    if (mode === 'patch' && body.type !== undefined) {
      // A PATCH that changes `type` keeps only the sub-message of the new type.
      const want = SUB[str(body.type)];
      for (const s of Object.values(SUB)) if (s !== want && body[s] === undefined) delete base[s];
    }
    return normalizeHealthCheck({ ...base, description: base.description ?? '' });
  };
  build();
  return {
    operationType: mode,
    targetPath: path,
    targetId: str(cur.data.id),
    scope: c.scope,
    prepare: () => {
      const res = e.must(path);
      const next = build();
      return () => {
        const keep = { kind: res.data.kind, id: res.data.id, creationTimestamp: res.data.creationTimestamp, name: res.name };
        const loc = { selfLink: res.data.selfLink, ...(res.data.region === undefined ? {} : { region: res.data.region }) };
        res.data = { ...keep, ...next, ...loc };
      };
    },
  };
}

function stripOutput(d: Record<string, unknown>): Record<string, unknown> {
  const { kind: _k, id: _i, creationTimestamp: _c, selfLink: _s, region: _r, ...rest } = d;
  return rest;
}


function handlers(service: string): Record<string, Handler> {
  return {
    [`${service}.get`]: getHandler(HEALTH_CHECK, 'healthCheck'),
    [`${service}.list`]: listHandler(HEALTH_CHECK, 'HealthCheckList', 'compute#healthCheckList'),
    [`${service}.insert`]: (c) => ({ mutation: insert(c) }),
    [`${service}.patch`]: (c) => ({ mutation: modify(c, 'patch') }),
    [`${service}.update`]: (c) => ({ mutation: modify(c, 'update') }),
    [`${service}.delete`]: (c) => ({ mutation: deleteMutation(c, HEALTH_CHECK, pathOf(c)) }),
  };
}

const GLOBAL: Scope = { kind: 'global' };

/** Health check handlers (regional and global; `healthChecks.aggregatedList` covers both). */
export const healthCheckHandlers: Record<string, Handler> = {
  ...handlers('regionHealthChecks'),
  ...handlers('healthChecks'),
  'healthChecks.aggregatedList': (c) => ({
    value: aggregated(c, {
      aggKind: 'compute#healthChecksAggregatedList',
      collection: 'healthChecks',
      field: 'healthChecks',
      scopes: [GLOBAL, ...regionScopes(c.engine)],
      items: (s) => c.engine.list(c.project, s, 'healthChecks').map((r) => render(c.engine, HEALTH_CHECK, r)),
    }),
    type: 'HealthChecksAggregatedList',
  }),
};
