// SPDX-License-Identifier: Apache-2.0
//
// A small JSON client for the writes of the status writer, the VIP apply and the Gateway helpers.
// Why not the generated client-node APIs:
// * every write must go through the leader fence (runtime/fence.ts): `KubeApi` takes the fence at
//   construction and wraps every non-GET request in `fenced()`, so an unfenced write cannot be
//   written by mistake;
// * the generated models re-serialise objects through typed classes (dropping fields they do not
//   know, turning times into Date); status and apply bodies must reach the server exactly as built;
// * one hook sees every request (method, path, write or not, HTTP status): the runtime feeds its
//   metrics from it and the integration tests count requests with it (a resync must make none);
// * errors come back as `KubeHttpError` (clusters/errors.ts), which `classifyClusterError` knows.
// Authentication is exactly client-node's own (`KubeConfig.applySecurityAuthentication` fills the
// headers and the undici dispatcher), as in clusters/http.ts.
import { HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { KubeHttpError, type KubeStatus, statusCodeOf } from '../clusters/errors.ts';
import { type Query, clusterUrl } from '../clusters/http.ts';
import { type Fence, fenced } from '../runtime/fence.ts';

/** What a request hook sees. */
export interface KubeRequestEvent {
  /** The target's name (ClusterClient.name: 'config' or a member cluster id). */
  cluster: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  /** Everything but GET. */
  write: boolean;
  /** HTTP status, or undefined when no response arrived. */
  status: number | undefined;
  durationMs: number;
}

/** Called once per request, after it ended. */
export type RequestHook = (e: KubeRequestEvent) => void;

/** Anything with a name and a KubeConfig: a ClusterClient fits. */
export interface KubeTarget {
  readonly name: string;
  readonly kubeConfig: KubeConfig;
}

/** A Kubernetes resource type. */
export interface ResourceType {
  /** '' for the core group. */
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
}

/** A JSON Patch (RFC 6902) operation. */
export type JsonPatchOp =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/** Content types of PATCH (client-node `PatchStrategy` values). */
export const ContentType = {
  JsonPatch: 'application/json-patch+json',
  MergePatch: 'application/merge-patch+json',
  Apply: 'application/apply-patch+yaml',
  Json: 'application/json',
} as const;

/** Escapes a key for a JSON Pointer segment (RFC 6901: `~` → `~0`, `/` → `~1`). */
export function pointer(...segments: Array<string | number>): string {
  return segments.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** The collection path of a resource type (all namespaces when `namespace` is undefined). */
export function collectionPath(rt: ResourceType, namespace?: string): string {
  const base = rt.group === '' ? `/api/${rt.version}` : `/apis/${rt.group}/${rt.version}`;
  return rt.namespaced && namespace !== undefined ? `${base}/namespaces/${encodeURIComponent(namespace)}/${rt.plural}` : `${base}/${rt.plural}`;
}

/** The path of one object (`subresource` e.g. `status`). */
export function objectPath(rt: ResourceType, namespace: string | undefined, name: string, subresource?: string): string {
  if (rt.namespaced && (namespace === undefined || namespace === '')) throw new Error(`${rt.plural} ${name}: namespace required`);
  const p = `${collectionPath(rt, rt.namespaced ? namespace : undefined)}/${encodeURIComponent(name)}`;
  return subresource === undefined ? p : `${p}/${subresource}`;
}

/** True for an HTTP 404. */
export function isNotFound(err: unknown): boolean {
  return statusCodeOf(err) === 404;
}

/** True for an HTTP 409 (optimistic-concurrency conflict, or AlreadyExists). */
export function isConflict(err: unknown): boolean {
  return statusCodeOf(err) === 409;
}

/** Options of {@link KubeApi}. */
export interface KubeApiOptions {
  /** Every write asks it first (docs/failure-rules.md "A deposed leader makes no write"). */
  fence: Fence;
  onRequest?: RequestHook;
  /** Per-request timeout (default 15 s: a dead member must not hold a reconcile for minutes). */
  timeoutMs?: number;
}

interface Req {
  method: KubeRequestEvent['method'];
  path: string;
  query?: Query;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

/** JSON requests to one cluster; every write fenced. */
export class KubeApi {
  readonly target: KubeTarget;
  readonly #o: KubeApiOptions;

  constructor(target: KubeTarget, opts: KubeApiOptions) {
    this.target = target;
    this.#o = opts;
  }

  get name(): string {
    return this.target.name;
  }

  /** GET one object; undefined on 404. */
  async get<T>(path: string): Promise<T | undefined> {
    try {
      return (await this.#send({ method: 'GET', path })) as T;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** LIST every page of a collection. */
  async list<T>(path: string, query: Query = {}): Promise<T[]> {
    const out: T[] = [];
    let cont: string | undefined;
    do {
      const page = (await this.#send({ method: 'GET', path, query: { ...query, limit: 500, continue: cont } })) as {
        items?: T[];
        metadata?: { continue?: string };
      };
      out.push(...(page.items ?? []));
      cont = page.metadata?.continue || undefined;
    } while (cont !== undefined);
    return out;
  }

  /** POST a new object. */
  create<T>(path: string, body: unknown): Promise<T> {
    return this.#write({ method: 'POST', path, body, contentType: ContentType.Json }) as Promise<T>;
  }

  /** PATCH with a JSON Patch. */
  jsonPatch<T>(path: string, ops: JsonPatchOp[]): Promise<T> {
    return this.#write({ method: 'PATCH', path, body: ops, contentType: ContentType.JsonPatch }) as Promise<T>;
  }

  /** PATCH with a JSON merge patch. */
  mergePatch<T>(path: string, patch: unknown): Promise<T> {
    return this.#write({ method: 'PATCH', path, body: patch, contentType: ContentType.MergePatch }) as Promise<T>;
  }

  /** Server-side apply (`force` takes over fields from other managers). */
  apply<T>(path: string, body: unknown, fieldManager: string, force = true): Promise<T> {
    return this.#write({
      method: 'PATCH',
      path,
      body,
      contentType: ContentType.Apply,
      query: { fieldManager, force: force ? 'true' : undefined },
    }) as Promise<T>;
  }

  /**
   * DELETE with preconditions (uid and/or resourceVersion: never delete an object that was
   * replaced by another one of the same name meanwhile). Resolves false on 404 (already gone).
   */
  async delete(path: string, preconditions: { uid?: string; resourceVersion?: string } = {}): Promise<boolean> {
    const body = { kind: 'DeleteOptions', apiVersion: 'v1', preconditions };
    try {
      await this.#write({ method: 'DELETE', path, body, contentType: ContentType.Json });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  #write(r: Req): Promise<unknown> {
    return fenced(this.#o.fence, (signal) => this.#send({ ...r, signal }), this.#o.timeoutMs ?? 15_000);
  }

  async #send(r: Req): Promise<unknown> {
    const started = performance.now();
    let status: number | undefined;
    try {
      const kc = this.target.kubeConfig;
      const url = clusterUrl(kc, r.path, r.query);
      const ctx = new RequestContext(url.toString(), HttpMethod[r.method]);
      await kc.applySecurityAuthentication(ctx);
      const timeout = AbortSignal.timeout(this.#o.timeoutMs ?? 15_000);
      const signal = r.signal ? AbortSignal.any([timeout, r.signal]) : timeout;
      const dispatcher = ctx.getDispatcher();
      const headers: Record<string, string> = { ...ctx.getHeaders(), Accept: 'application/json' };
      if (r.contentType !== undefined) headers['Content-Type'] = r.contentType;
      const res = await fetch(url, {
        method: r.method,
        headers,
        signal,
        ...(r.body === undefined ? {} : { body: JSON.stringify(r.body) }),
        ...(dispatcher ? { dispatcher } : {}),
      });
      status = res.status;
      const text = await res.text();
      if (res.status < 200 || res.status >= 300) {
        let st: KubeStatus | undefined;
        try {
          st = JSON.parse(text) as KubeStatus;
        } catch {
          st = undefined;
        }
        throw new KubeHttpError(res.status, st, `${r.method} ${url.pathname} on ${this.target.name}`);
      }
      return text === '' ? undefined : (JSON.parse(text) as unknown);
    } finally {
      this.#o.onRequest?.({
        cluster: this.target.name,
        method: r.method,
        path: r.path,
        write: r.method !== 'GET',
        status,
        durationMs: performance.now() - started,
      });
    }
  }
}
