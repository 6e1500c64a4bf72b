// SPDX-License-Identifier: Apache-2.0
//
// A path-based JSON GET against one cluster, authenticated exactly like client-node's own calls
// (`KubeConfig.applySecurityAuthentication` fills headers and the undici dispatcher with the
// cluster's TLS material). The reflector needs it because the generated API is per-type, while a
// reflector is per *path* (`/api/v1/nodes`, `/apis/gateway.networking.k8s.io/v1/gateways`, CRDs
// included) and must page with `limit`/`continue`. Every request has a timeout: undici's own header
// timeout is 300 s, far too long to notice a dead member.
import { HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch } from 'undici';
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
  if (res.status < 200 || res.status >= 300) {
    let status: KubeStatus | undefined;
    try {
      status = JSON.parse(text) as KubeStatus;
    } catch {
      status = undefined;
    }
    throw new KubeHttpError(res.status, status, `GET ${url.pathname}`);
  }
  return JSON.parse(text) as unknown;
}
