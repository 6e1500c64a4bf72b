// SPDX-License-Identifier: Apache-2.0
//
// The emulator's state: resources, operations, requestIds, ids and fingerprints. Resource handlers (kinds/*.ts)
// read it and describe mutations; the engine runs each mutation through an operation.
//
// Timing model (decided here, docs/compute-api.md "Operations and retries"): a mutation is validated when the request arrives (errors → a
// synchronous HTTP error), an Operation is returned PENDING, turns RUNNING after half the configured latency and DONE
// after all of it. The mutation is validated again and applied only when the operation becomes DONE — so its effect is
// invisible to GETs until then, and anything that changed in between ends the operation with an error (the in-
// operation error form). Some checks exist only at that point (internal IP conflicts: IP_IN_USE_BY_ANOTHER_RESOURCE
// is an operation error on real GCE). With latency 0 the whole thing happens during the request and the returned
// operation is already DONE.

import { createHash } from 'node:crypto';
import { ApiError, HTTP_ERROR_MESSAGES } from './errors.ts';
import { type Scope, regionOfZone, resourcePath, scopePath, url } from './model.ts';
import { Rng } from './rng.ts';
import type { HealthState, ProbeTarget, Prober } from './types.ts';

/** A GCE_VM_IP network endpoint as stored in its NEG. */
export interface NegEndpoint {
  instance: string;
  ipAddress: string;
}

/** One stored resource. `data` holds the API fields; computed ones (address users, NEG size) are added on render. */
export interface Res {
  path: string;
  project: string;
  scope: Scope;
  collection: string;
  name: string;
  data: Record<string, unknown>;
  /** NEG endpoints by instance name. */
  endpoints?: Map<string, NegEndpoint>;
}

/** A state change, validated twice (request and commit) and applied when its operation is DONE. */
export interface Mutation {
  operationType: string;
  /** Path of the target resource (`projects/p/…/n`). */
  targetPath: string;
  targetId?: string;
  /** Scope of the operation (the target's scope). */
  scope: Scope;
  /**
   * Validates against the current state and returns the change. `phase: 'request'` runs the synchronous checks;
   * `'commit'` runs them again plus the checks real GCE reports only inside the operation.
   */
  prepare(phase: 'request' | 'commit'): () => void;
}

/** An operation with its mutation and timers. */
export interface OpRecord {
  path: string;
  project: string;
  scope: Scope;
  data: Record<string, unknown>;
  mutation: Mutation;
  timers: NodeJS.Timeout[];
  waiters: Set<() => void>;
  forcedError?: ApiError;
  /** ms since the epoch when the operation was created (requestId memory). */
  createdAt?: number;
}

/** Built-in regions and zones (a subset of real GCP). Seeds add theirs. */
const BUILTIN_ZONES: Record<string, string[]> = {
  'us-central1': ['a', 'b', 'c', 'f'],
  'us-east1': ['b', 'c', 'd'],
  'us-east4': ['a', 'b', 'c'],
  'us-west1': ['a', 'b', 'c'],
  'europe-west1': ['b', 'c', 'd'],
  'europe-west4': ['a', 'b', 'c'],
  'asia-east1': ['a', 'b', 'c'],
};

/** The user an operation reports (real GCE: the caller's e-mail). */
export const OPERATION_USER = 'emulator@fleet-ilb.iam.gserviceaccount.com';

/** Formats a time like the API: RFC 3339 with milliseconds in Pacific daylight time, `2024-05-01T10:00:00.123-07:00`. */
export function timestamp(ms: number): string {
  return new Date(ms - 7 * 3600_000).toISOString().replace('Z', '-07:00');
}

/** The emulator's mutable state and operation engine. */
export class Engine {
  readonly resources = new Map<string, Res>();
  /** `projects/p/<scope>/<collection>` → name → resource. */
  private readonly collections = new Map<string, Map<string, Res>>();
  readonly ops = new Map<string, OpRecord>();
  private readonly opsById = new Map<string, OpRecord>();
  private readonly requestIds = new Map<string, OpRecord>();
  readonly projects = new Set<string>();
  readonly zones = new Map<string, string>(); // zone → region
  readonly regions = new Set<string>();
  latencyMs: number;
  waitTimeoutMs: number;
  /** Operations retained (and requestIds remembered) before the oldest finished ones are forgotten. */
  opCap = 50_000;
  /**
   * How long a requestId replays its operation — also a FAILED one: a retry with the same id gets the
   * same DONE-with-error operation back, nothing is attempted again. [U] Compute's proto does not say
   * for how long; other Google Cloud APIs document "at least 60 minutes after the first request".
   */
  requestIdTtlMs = 60 * 60_000;
  prober: Prober = () => 'HEALTHY';
  private readonly idRng: Rng;
  private fpCounter = 0;
  private stopped = false;

  constructor(opts: { operationLatencyMs: number; waitTimeoutMs: number; randomSeed: number }) {
    this.latencyMs = opts.operationLatencyMs;
    this.waitTimeoutMs = opts.waitTimeoutMs;
    this.idRng = new Rng(opts.randomSeed ^ 0x5eed1d5);
    for (const [region, zs] of Object.entries(BUILTIN_ZONES)) {
      this.regions.add(region);
      for (const z of zs) this.zones.set(`${region}-${z}`, region);
    }
  }

  // ---- ids, fingerprints, time ----

  /** A fresh uint64 id as a decimal string (as the API emits it). */
  newId(): string {
    const hi = BigInt(this.idRng.nextU32() & 0x7fffffff) | 0x1000000n;
    const lo = BigInt(this.idRng.nextU32());
    return ((hi << 32n) | lo).toString();
  }

  /** A fresh 8-byte base64 fingerprint; differs after every mutation. */
  fingerprint(): string {
    this.fpCounter++;
    return createHash('sha256').update(`fp:${this.fpCounter}:${this.idRng.nextU32()}`).digest().subarray(0, 8).toString('base64');
  }

  /** The current time as the API formats it. */
  now(): string {
    return timestamp(Date.now());
  }

  // ---- scopes ----

  /** Registers a region (and so its aggregated-list key). */
  addRegion(region: string): void {
    this.regions.add(region);
  }

  /** Registers a zone. */
  addZone(zone: string): void {
    const region = regionOfZone(zone);
    this.regions.add(region);
    this.zones.set(zone, region);
  }

  /** Throws the API's errors for an unknown project, region or zone in a request path. */
  checkScope(project: string, scope: Scope): void {
    if (!this.projects.has(project)) throw ApiError.notFound(`projects/${project}`);
    if (scope.kind === 'regions' && !this.regions.has(scope.name)) {
      // [U] wording; the API answers 400 invalid for an unknown region/zone in the path.
      throw ApiError.invalid('region', scope.name, 'Unknown region.');
    }
    if (scope.kind === 'zones' && !this.zones.has(scope.name)) throw ApiError.invalid('zone', scope.name, 'Unknown zone.');
  }

  // ---- resources ----

  private collKey(project: string, scope: Scope, collection: string): string {
    return `projects/${project}/${scopePath(scope)}/${collection}`;
  }

  /** The resource at a path, if any. */
  get(path: string): Res | undefined {
    return this.resources.get(path);
  }

  /** The resource at a path, or 404. */
  must(path: string): Res {
    const r = this.resources.get(path);
    if (r === undefined) throw ApiError.notFound(path);
    return r;
  }

  /** Stores a new resource. */
  put(res: Res): void {
    this.resources.set(res.path, res);
    const k = this.collKey(res.project, res.scope, res.collection);
    let m = this.collections.get(k);
    if (m === undefined) this.collections.set(k, (m = new Map()));
    m.set(res.name, res);
  }

  /** Deletes a resource. */
  remove(path: string): void {
    const r = this.resources.get(path);
    if (r === undefined) return;
    this.resources.delete(path);
    this.collections.get(this.collKey(r.project, r.scope, r.collection))?.delete(r.name);
  }

  /** The resources of one collection in one scope, sorted by name. */
  list(project: string, scope: Scope, collection: string): Res[] {
    const m = this.collections.get(this.collKey(project, scope, collection));
    if (m === undefined) return [];
    return [...m.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Every resource of a collection in a project, any scope. */
  all(project: string | undefined, collection: string): Res[] {
    // Walk the per-collection index (few keys) rather than every resource (10 000 seeded instances in the bench).
    const out: Res[] = [];
    const prefix = project === undefined ? 'projects/' : `projects/${project}/`;
    for (const [k, m] of this.collections) {
      if (k.startsWith(prefix) && k.endsWith(`/${collection}`)) for (const r of m.values()) out.push(r);
    }
    return out;
  }

  /** A new resource record with the common output fields. */
  newRes(project: string, scope: Scope, collection: string, name: string, kind: string, id: string): Res {
    const path = resourcePath(project, scope, collection, name);
    const data: Record<string, unknown> = {
      kind,
      id,
      creationTimestamp: this.now(),
      name,
      selfLink: url(path),
    };
    if (scope.kind === 'regions') data.region = url(`projects/${project}/regions/${scope.name}`);
    if (scope.kind === 'zones') data.zone = url(`projects/${project}/zones/${scope.name}`);
    return { path, project, scope, collection, name, data };
  }

  // ---- health ----

  /** Asks the prober; a throwing prober counts as UNHEALTHY. */
  probe(t: ProbeTarget): HealthState {
    try {
      return this.prober(t) === 'UNHEALTHY' ? 'UNHEALTHY' : 'HEALTHY';
    } catch {
      return 'UNHEALTHY';
    }
  }

  // ---- operations ----

  /** The operation a requestId was first used for (idempotent replay, compute.proto `requestId` docs). */
  replay(project: string, requestId: string | undefined): OpRecord | undefined {
    if (requestId === undefined) return undefined;
    const op = this.requestIds.get(`${project}/${requestId}`);
    if (op !== undefined && op.createdAt !== undefined && Date.now() - op.createdAt > this.requestIdTtlMs) {
      this.requestIds.delete(`${project}/${requestId}`);
      return undefined;
    }
    return op;
  }

  /**
   * Runs a mutation: request-phase validation (throws the synchronous error), then an operation that commits it.
   * `forcedError` ends the operation with that error instead of applying anything (fault injection).
   */
  run(project: string, m: Mutation, requestId: string | undefined, forcedError?: ApiError): OpRecord {
    m.prepare('request');
    const id = this.newId();
    const t = Date.now();
    const name = `operation-${t}-${this.hex(13)}-${this.hex(8)}-${this.hex(8)}`;
    const path = `projects/${project}/${scopePath(m.scope)}/operations/${name}`;
    const data: Record<string, unknown> = {
      kind: 'compute#operation',
      id,
      name,
      operationType: m.operationType,
      targetLink: url(m.targetPath),
      ...(m.targetId === undefined ? {} : { targetId: m.targetId }),
      status: 'PENDING',
      user: OPERATION_USER,
      progress: 0,
      insertTime: timestamp(t),
      selfLink: url(path),
      ...(requestId === undefined ? {} : { clientOperationId: requestId }),
    };
    if (m.scope.kind === 'regions') data.region = url(`projects/${project}/regions/${m.scope.name}`);
    if (m.scope.kind === 'zones') data.zone = url(`projects/${project}/zones/${m.scope.name}`);
    const op: OpRecord = { path, project, scope: m.scope, data, mutation: m, timers: [], waiters: new Set(), createdAt: t };
    if (forcedError !== undefined) op.forcedError = forcedError;
    this.pruneOps();
    this.ops.set(path, op);
    this.opsById.set(`${project}/${scopePath(m.scope)}/${id}`, op);
    if (requestId !== undefined) this.requestIds.set(`${project}/${requestId}`, op);
    const latency = this.latencyMs;
    if (latency <= 0) {
      this.start(op);
      this.finish(op);
    } else {
      op.timers.push(setTimeout(() => this.start(op), Math.floor(latency / 2)));
      op.timers.push(setTimeout(() => this.finish(op), latency));
    }
    return op;
  }

  /** Keeps at most `opCap` operations (the oldest DONE ones go first), so long fault batteries stay bounded. */
  private pruneOps(): void {
    if (this.ops.size < this.opCap) return;
    for (const op of this.ops.values()) {
      if (this.ops.size < this.opCap * 0.9) break;
      if (op.data.status !== 'DONE') continue;
      this.deleteOp(op);
      const rid = op.data.clientOperationId;
      if (typeof rid === 'string' && this.requestIds.get(`${op.project}/${rid}`) === op) this.requestIds.delete(`${op.project}/${rid}`);
    }
  }

  private hex(n: number): string {
    let s = '';
    while (s.length < n) s += this.idRng.nextU32().toString(16).padStart(8, '0');
    return s.slice(0, n);
  }

  private start(op: OpRecord): void {
    if (op.data.status !== 'PENDING') return;
    op.data.status = 'RUNNING';
    op.data.startTime = this.now();
  }

  private finish(op: OpRecord): void {
    if (op.data.status === 'DONE') return;
    this.start(op);
    let error: ApiError | undefined = op.forcedError;
    if (error === undefined) {
      try {
        op.mutation.prepare('commit')();
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        error = e;
      }
    }
    op.data.status = 'DONE';
    op.data.progress = 100;
    op.data.endTime = this.now();
    if (error !== undefined) {
      op.data.error = error.toOperationError();
      op.data.httpErrorStatusCode = error.status;
      op.data.httpErrorMessage = HTTP_ERROR_MESSAGES[error.status] ?? 'ERROR';
    }
    for (const w of op.waiters) w();
    op.waiters.clear();
  }

  /** Finds an operation by name or numeric id (compute.proto: the `operation` path parameter accepts either). */
  findOp(project: string, scope: Scope, nameOrId: string): OpRecord {
    const path = `projects/${project}/${scopePath(scope)}/operations/${nameOrId}`;
    const op = this.ops.get(path) ?? this.opsById.get(`${project}/${scopePath(scope)}/${nameOrId}`);
    if (op === undefined) throw ApiError.notFound(path);
    return op;
  }

  /** Resolves when the operation is DONE or after `timeoutMs` (whichever is first), or when `signal` aborts. */
  waitFor(op: OpRecord, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (op.data.status === 'DONE' || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        op.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      op.waiters.add(done);
      signal?.addEventListener('abort', done);
    });
  }

  /** Deletes an operation record (operations.delete). */
  deleteOp(op: OpRecord): void {
    this.ops.delete(op.path);
    this.opsById.delete(`${op.project}/${scopePath(op.scope)}/${String(op.data.id)}`);
  }

  /** Every operation in a scope, oldest first. */
  listOps(project: string, scope: Scope): OpRecord[] {
    const prefix = `projects/${project}/${scopePath(scope)}/operations/`;
    return [...this.ops.values()].filter((o) => o.path.startsWith(prefix));
  }

  /** Stops all timers and releases waiters (emulator shutdown). */
  stop(): void {
    this.stopped = true;
    for (const op of this.ops.values()) {
      for (const t of op.timers) clearTimeout(t);
      for (const w of op.waiters) w();
      op.waiters.clear();
    }
  }
}
