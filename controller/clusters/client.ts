// SPDX-License-Identifier: Apache-2.0
//
// One ClusterClient per cluster (the config cluster and each FleetMember). Rules (docs/architecture.md
// "Kubernetes clients"):
// * One `KubeConfig` object per cluster, never shared and never mutated after construction.
//   `makeApiClient` freezes the server URL but `applySecurityAuthentication` reads the *current
//   context's* user at request time, and `Watch` calls `getCurrentCluster()` on every (re)connect:
//   switching contexts on a shared object would send cluster B's credentials to server A.
// * The loaded kubeconfig is reduced to the one context we use, and its user is renamed to a name
//   unique to this client (`fleet-ilb/<client>/<user>`): client-node's authenticators cache
//   credentials by user name across KubeConfig objects (kubernetes-client/javascript#592, README
//   "Known Issues"), so two member kubeconfigs that both call their user `admin` would collide.
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  type ApiConstructor,
  type ApiType,
  type ConfigurationOptions,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubeConfig,
  Observable,
  type ObservableMiddleware,
  type RequestContext,
  Watch,
} from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { InvalidKubeconfigError } from './errors.ts';
import { type GetJsonOptions, getJson, pooledConnections, watchConfig } from './http.ts';

/** Where a client's kubeconfig came from (logged; never contains secrets). */
export type ClusterSource = 'file' | 'secret' | 'in-cluster' | 'kubeconfig';

/**
 * Per-request options that abort a generated-API call after `timeoutMs` (client-node has no
 * request timeout of its own; controller-runtime's leader election uses `max(RenewDeadline/2, 1s)`
 * per request). Pass as the second argument of any generated API method.
 */
export function requestTimeout(timeoutMs: number, signal?: AbortSignal): ConfigurationOptions {
  // Call-time middleware of the ObjectParam API is the *observable* kind (client-node's own
  // `setHeaderMiddleware` returns `of(request)`); a promise-returning `pre` fails with
  // "toPromise is not a function".
  const middleware: ObservableMiddleware = {
    pre: (ctx: RequestContext) => {
      // Whole milliseconds: a fraction (leader election's remaining time) throws ERR_OUT_OF_RANGE.
      const t = AbortSignal.timeout(Math.max(1, Math.floor(timeoutMs)));
      ctx.setSignal(signal ? AbortSignal.any([t, signal]) : t);
      return new Observable(Promise.resolve(ctx));
    },
    post: (res) => new Observable(Promise.resolve(res)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

/** An isolated client for one cluster. */
export class ClusterClient {
  /** Our name for the cluster ('config', or the member's cluster id). */
  readonly name: string;
  readonly source: ClusterSource;
  /** The API server URL (for logs and conditions). */
  readonly server: string;
  readonly #kc: KubeConfig;
  readonly #apis = new Map<unknown, unknown>();

  private constructor(name: string, source: ClusterSource, kc: KubeConfig) {
    this.name = name;
    this.source = source;
    this.#kc = kc;
    this.server = kc.getCurrentCluster()?.server ?? '';
  }

  /**
   * The client's KubeConfig, for `Watch` and `makeApiClient`. Treat it as read-only: mutating it
   * (e.g. `setCurrentContext`) breaks the isolation this class exists for.
   */
  get kubeConfig(): KubeConfig {
    return this.#kc;
  }

  /** A generated API client bound to this cluster (cached per API class). */
  api<T extends ApiType>(ctor: ApiConstructor<T>): T {
    let a = this.#apis.get(ctor) as T | undefined;
    if (a === undefined) {
      a = this.#kc.makeApiClient(ctor);
      this.#apis.set(ctor, a);
    }
    return a;
  }

  get core(): CoreV1Api {
    return this.api(CoreV1Api);
  }
  get customObjects(): CustomObjectsApi {
    return this.api(CustomObjectsApi);
  }
  get coordination(): CoordinationV1Api {
    return this.api(CoordinationV1Api);
  }
  get events(): EventsV1Api {
    return this.api(EventsV1Api);
  }

  /** A new client-node `Watch` on this cluster. */
  watch(): Watch {
    return new Watch(watchConfig(this.#kc));
  }

  /** Path-based JSON GET (clusters/http.ts). */
  getJson(path: string, opts?: GetJsonOptions): Promise<unknown> {
    return getJson(this.#kc, path, opts);
  }

  /** Build from a kubeconfig file (relative cert paths resolve against the file's directory). */
  static fromFile(name: string, path: string, opts: { context?: string } = {}): ClusterClient {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new InvalidKubeconfigError(`cannot read kubeconfig ${path}: ${(e as Error).message}`, { cause: e });
    }
    return ClusterClient.fromString(name, text, { ...opts, baseDir: dirname(path), source: 'file' });
  }

  /**
   * Build from kubeconfig YAML (a FleetMember's Secret). Uses `context`, else the file's
   * current-context, else its only context. With `source: 'secret'` (the default) the kubeconfig is
   * untrusted and restricted first (see {@link checkUntrustedKubeconfig}).
   */
  static fromString(
    name: string,
    yaml: string,
    opts: { context?: string; baseDir?: string; source?: ClusterSource } = {},
  ): ClusterClient {
    if ((opts.source ?? 'secret') === 'secret') checkUntrustedKubeconfig(yaml);
    const raw = new KubeConfig();
    try {
      raw.loadFromString(yaml);
    } catch (e) {
      throw new InvalidKubeconfigError(`kubeconfig is not parsable: ${(e as Error).message}`, { cause: e });
    }
    if (opts.baseDir) raw.makePathsAbsolute(opts.baseDir);
    return new ClusterClient(name, opts.source ?? 'secret', isolate(name, raw, opts.context));
  }

  /** Build from an existing KubeConfig (copied and isolated; the argument is not kept). */
  static fromKubeConfig(name: string, kc: KubeConfig, opts: { context?: string } = {}): ClusterClient {
    return new ClusterClient(name, 'kubeconfig', isolate(name, kc, opts.context));
  }

  /** Build from the pod's service account (`KUBERNETES_SERVICE_HOST`, token and CA files). */
  static inCluster(name: string): ClusterClient {
    if (!process.env.KUBERNETES_SERVICE_HOST) {
      throw new InvalidKubeconfigError('not running in a cluster (KUBERNETES_SERVICE_HOST unset)');
    }
    const kc = new KubeConfig();
    kc.loadFromCluster();
    return new ClusterClient(name, 'in-cluster', isolate(name, kc, undefined));
  }
}

// Fields that make the controller read local files, run programs or route traffic elsewhere. A
// member kubeconfig comes from a Secret that anyone allowed to write Secrets in the controller
// namespace controls; without this check `token-file: /var/run/secrets/kubernetes.io/serviceaccount/token`
// plus an attacker's `server` would exfiltrate the controller's own token (client-node reads
// `token-file` while *parsing*), and `exec` would run any command in the controller pod.
const FORBIDDEN_USER_FIELDS = ['exec', 'auth-provider', 'token-file', 'tokenFile', 'client-certificate', 'client-key'];
const FORBIDDEN_CLUSTER_FIELDS = ['certificate-authority', 'proxy-url'];

/**
 * Reject a kubeconfig that references local files, exec plugins, auth providers or proxies. Only
 * inline credentials are accepted from Secrets: `certificate-authority-data`, `client-certificate-data`
 * + `client-key-data`, `token`, or `username`/`password`. Throws {@link InvalidKubeconfigError}.
 */
export function checkUntrustedKubeconfig(yaml: string): void {
  let doc: unknown;
  try {
    doc = parseYaml(yaml);
  } catch (e) {
    throw new InvalidKubeconfigError(`kubeconfig is not parsable: ${(e as Error).message}`, { cause: e });
  }
  if (typeof doc !== 'object' || doc === null) throw new InvalidKubeconfigError('kubeconfig is not a YAML mapping');
  const entries = (k: string): Record<string, unknown>[] => {
    const v = (doc as Record<string, unknown>)[k];
    return Array.isArray(v) ? (v as Record<string, unknown>[]) : [];
  };
  const check = (kind: 'user' | 'cluster', forbidden: string[]): void => {
    for (const e of entries(`${kind}s`)) {
      const body = e?.[kind];
      if (typeof body !== 'object' || body === null) continue;
      for (const f of forbidden) {
        if (f in body) {
          throw new InvalidKubeconfigError(`kubeconfig ${kind} ${JSON.stringify(e.name)} uses "${f}", which is not allowed in a member Secret (inline credentials only)`);
        }
      }
    }
  };
  check('user', FORBIDDEN_USER_FIELDS);
  check('cluster', FORBIDDEN_CLUSTER_FIELDS);
}

/** Copy the chosen context's cluster and user into a fresh single-context KubeConfig. */
function isolate(name: string, src: KubeConfig, context: string | undefined): KubeConfig {
  const contexts = src.getContexts();
  const ctxName = context ?? (src.getCurrentContext() || (contexts.length === 1 ? contexts[0]?.name : undefined));
  if (!ctxName) throw new InvalidKubeconfigError('kubeconfig has no current-context and more than one (or no) context');
  const ctx = src.getContextObject(ctxName);
  if (!ctx) throw new InvalidKubeconfigError(`kubeconfig has no context ${JSON.stringify(ctxName)}`);
  const cluster = src.getCluster(ctx.cluster);
  if (!cluster) throw new InvalidKubeconfigError(`context ${JSON.stringify(ctxName)} names a missing cluster`);
  if (!/^https?:\/\//.test(cluster.server ?? '')) {
    throw new InvalidKubeconfigError(`cluster ${JSON.stringify(ctx.cluster)} has no http(s) server URL`);
  }
  try {
    new URL(cluster.server);
  } catch {
    throw new InvalidKubeconfigError(`cluster ${JSON.stringify(ctx.cluster)} has an invalid server URL`);
  }
  const user = ctx.user ? src.getUser(ctx.user) : null;
  if (ctx.user && !user) throw new InvalidKubeconfigError(`context ${JSON.stringify(ctxName)} names a missing user`);
  const userName = `fleet-ilb/${name}/${user?.name ?? 'anonymous'}`;
  const clusterName = `fleet-ilb/${name}`;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...cluster, name: clusterName }],
    users: [{ ...(user ?? {}), name: userName }],
    contexts: [{ name: clusterName, cluster: clusterName, user: userName, ...(ctx.namespace ? { namespace: ctx.namespace } : {}) }],
    currentContext: clusterName,
  });
  // One keep-alive connection pool per cluster instead of a TLS connection per request (clusters/http.ts).
  pooledConnections(kc);
  return kc;
}
