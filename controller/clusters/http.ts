// SPDX-License-Identifier: Apache-2.0
//
// A path-based JSON GET against one cluster, authenticated exactly like client-node's own calls
// (`KubeConfig.applySecurityAuthentication` fills headers and the undici dispatcher with the
// cluster's TLS material). The reflector needs it because the generated API is per-type, while a
// reflector is per *path* (`/api/v1/nodes`, `/apis/gateway.networking.k8s.io/v1/gateways`, CRDs
// included) and must page with `limit`/`continue`. Every request has a timeout: undici's own header
// timeout is 300 s, far too long to notice a dead member.
//
// Connections: `pooledConnections` gives each cluster's KubeConfig one keep-alive HTTP/1.1 pool for
// requests (at most 64 connections) and one for watches, in place of the new undici Agent (a new TLS connection) client-node
// builds for every request (docs/architecture.md "Kubernetes clients", deploy/README.md "Memory").
import { HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import { Agent, type Dispatcher, fetch } from 'undici';
import { InvalidKubeconfigError, KubeHttpError, type KubeStatus } from './errors.ts';

/** Query parameters; `undefined` values are dropped. */
export type Query = Record<string, string | number | boolean | undefined>;

/** Options of {@link getJson}. */
export interface GetJsonOptions {
  query?: Query;
  /** Abort after this long. Defaults to 60 s. */
  timeoutMs?: number;
  /** An outer abort (e.g. the reflector stopping). */
  signal?: AbortSignal;
}

/** Build the absolute URL of `path` on the kubeconfig's current cluster. */
export function clusterUrl(kc: KubeConfig, path: string, query: Query = {}): URL {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new InvalidKubeconfigError('kubeconfig has no current cluster');
  let url: URL;
  try {
    url = new URL(cluster.server.replace(/\/+$/, '') + path);
  } catch (e) {
    throw new InvalidKubeconfigError(`invalid server URL ${JSON.stringify(cluster.server)}`, { cause: e });
  }
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
  return url;
}

/**
 * Connections per cluster for requests (lists, GETs, writes, Events, Leases), at most. bench:scale
 * at 300 Gateways with 16 workers kept up to 31 busy on the config cluster and ~25 on each member;
 * twice that leaves room for a Lease renewal in a burst. Beyond it, requests wait in undici's queue
 * (within their own timeouts) instead of opening a connection each.
 */
export const REQUEST_CONNECTIONS = 64;

/** undici's Agent options of a pool, from client-node's TLS options (`createDispatcherOptions`). */
export function poolOptions(connect: object, connections: number | null): Agent.Options {
  return {
    connect,
    connections,
    // HTTP/1.1 only. undici 8 offers h2 by ALPN and the apiserver (Go) picks it: a shared Agent then
    // multiplexes every request of a cluster as streams of one TCP connection, which is what ran
    // away at N = 1000 (deploy/README.md "Memory"). One request per connection, no pipelining:
    // an aborted request (timeout) closes its own connection only.
    allowH2: false,
    pipelining: 1,
  };
}

interface Pools {
  /** The TLS options the pools were built with. */
  tls: object;
  requests: Agent;
  watches: Agent;
}

/** What client-node's private `createDispatcher(cluster, agentOptions)` looks like at runtime. */
type CreateDispatcher = (cluster: unknown, agentOptions: unknown) => Dispatcher | undefined;
type DispatcherOptions = ReturnType<KubeConfig['createDispatcherOptions']>;

const pools = new WeakMap<KubeConfig, Pools>();
const pooled = new WeakSet<KubeConfig>();

/**
 * From now on, every request client-node authenticates for `kc` (`applySecurityAuthentication`: our
 * getJson and KubeApi, the generated APIs, `Watch`) goes through one keep-alive pool of at most
 * {@link REQUEST_CONNECTIONS} HTTP/1.1 connections; watches use {@link watchConfig}. client-node
 * 2.0 builds a new undici Agent for the cluster's TLS options on every request, so every request
 * opened its own TLS connection (a handshake and OpenSSL state each, kept until the idle socket
 * closed: ~130 MiB of malloc at 1000 Gateways). The pools are rebuilt when the TLS options change
 * (an exec plugin's rotated client certificate); proxies and plain http keep client-node's own
 * dispatcher. Returns false (nothing changed) when client-node does not have the methods this
 * relies on. Only for a KubeConfig that is never switched to another context (ClusterClient's).
 */
export function pooledConnections(kc: KubeConfig): boolean {
  const target = kc as unknown as { createDispatcher?: CreateDispatcher };
  const original = target.createDispatcher;
  if (typeof original !== 'function' || typeof kc.createDispatcherOptions !== 'function') return false;
  target.createDispatcher = (cluster, agentOptions) => {
    const o: DispatcherOptions = kc.createDispatcherOptions(cluster as Parameters<KubeConfig['createDispatcherOptions']>[0], agentOptions as object);
    if (o.type !== 'agent') return original.call(kc, cluster, agentOptions);
    return poolsOf(kc, o.connect).requests;
  };
  pooled.add(kc);
  return true;
}

function poolsOf(kc: KubeConfig, connect: object): Pools {
  const p = pools.get(kc);
  if (p !== undefined && sameOptions(p.tls, connect)) return p;
  if (p !== undefined) {
    // New credentials: requests in flight finish on the old connections, which then close.
    void p.requests.close().catch(() => {});
    void p.watches.close().catch(() => {});
  }
  const next: Pools = {
    tls: connect,
    requests: new Agent(poolOptions(connect, REQUEST_CONNECTIONS)),
    // A watch holds its connection for minutes: unbounded, so reflectors never wait for one
    // another nor for requests (one connection per watch, as many as the cluster has reflectors).
    watches: new Agent(poolOptions(connect, null)),
  };
  pools.set(kc, next);
  return next;
}

/**
 * Whether two TLS option objects (client-node builds a new one per request) say the same: compared
 * value by value, Buffers by content. Serialising them instead (base64 of the certificates) cost
 * ~3 % of the controller's CPU on create (bench:scale N = 300 profile).
 */
function sameOptions(a: object, b: object): boolean {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  if (keys.length !== Object.keys(y).length) return false;
  return keys.every((k) => same(x[k], y[k]));
}

function same(u: unknown, v: unknown): boolean {
  if (u === v) return true;
  if (Buffer.isBuffer(u) && Buffer.isBuffer(v)) return u.equals(v);
  if (Array.isArray(u) && Array.isArray(v)) return u.length === v.length && u.every((e, i) => same(e, v[i]));
  if (typeof u === 'object' && u !== null && typeof v === 'object' && v !== null && !Buffer.isBuffer(u) && !Buffer.isBuffer(v)) return sameOptions(u, v);
  return false;
}

/**
 * A KubeConfig for client-node's `Watch` on `kc`: the same cluster and credentials, with the
 * request on `kc`'s watch pool instead of its request pool (a watch must not take one of the
 * bounded request connections for its whole life). `kc` itself when it is not pooled.
 */
export function watchConfig(kc: KubeConfig): KubeConfig {
  if (!pooled.has(kc)) return kc;
  const w = Object.create(kc) as KubeConfig;
  w.applySecurityAuthentication = async (ctx: RequestContext): Promise<void> => {
    await kc.applySecurityAuthentication(ctx);
    const p = pools.get(kc);
    if (p !== undefined && ctx.getDispatcher() === p.requests) ctx.setDispatcher(p.watches);
  };
  return w;
}

/** GET `path` and parse the JSON body; non-2xx throws {@link KubeHttpError}. */
export async function getJson(kc: KubeConfig, path: string, opts: GetJsonOptions = {}): Promise<unknown> {
  const url = clusterUrl(kc, path, opts.query);
  const ctx = new RequestContext(url.toString(), HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 60_000);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  const dispatcher = ctx.getDispatcher();
  const res = await fetch(url, {
    method: 'GET',
    headers: { ...ctx.getHeaders(), Accept: 'application/json' },
    signal,
    ...(dispatcher ? { dispatcher } : {}),
  });
  const text = await res.text();
  if (res.status < 200 || res.status >= 300) throw new KubeHttpError(res.status, statusOfBody(text), `GET ${url.pathname}`);
  return JSON.parse(text) as unknown;
}

/** The apiserver's Status in an error response body, if it is one. */
export function statusOfBody(text: string): KubeStatus | undefined {
  try {
    return JSON.parse(text) as KubeStatus;
  } catch {
    return undefined;
  }
}
