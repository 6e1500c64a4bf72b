// SPDX-License-Identifier: Apache-2.0
//
// GceCloud: the one object through which fleet-ilb talks to the Compute API. It holds the
// @google-cloud/compute clients and adds what the plain clients lack (docs/compute-api.md):
//   - an operation wait loop (`wait` returns after ~2 min at most, possibly before DONE: always loop;
//     the op's zone/region URL picks the scope; errors from `wait` itself are retried; overall deadline);
//   - failed operations turned into errors in k8s-cloud-provider's `<code> - <message>` form;
//   - error classification into UserError / TransientError (errors.ts);
//   - per-method client-side token buckets plus one shared budget for reads and one for writes sized
//     from the project's quota, with a low-priority lane for resync traffic (ratelimit.ts);
//   - bounded, jittered in-call retries of transient failures (5xx, timeouts, not-ready, rate limits);
//   - a metrics hook and a write fence: writes refused once the fence is closed, and an in-flight
//     write's deadline never outlives the fence (the request is aborted when the fence closes);
//   - a `requestId` (UUID) on every mutating call, kept across retries of the same logical insert
//     ONLY while its fate is unknown (timeout, 5xx, an operation we stopped waiting for), so an
//     insert that timed out but was applied is not duplicated (the server replays the original op),
//     while an insert whose operation finished DONE with an error gets a fresh id (replaying that id
//     would return the same failed operation again, issue 9 defect 6);
//   - an operation wait bounded by a budget: past it, a transient error naming the still-running
//     operation, re-observed by the next reconcile (a worker is never held for long).
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID, createHash } from 'node:crypto';
// The 12 clients fleet-ilb uses, each from its own module: the package's entry point
// (build/src/index.js) also loads build/protos/protos.js (31 MB of generated code for all of Compute)
// and the v1beta/v1small clients, ~70 MB of heap the controller never uses (deploy/README.md
// "Memory"). The package has no "exports" map, so these paths are public to Node's resolver; the
// types still come from the package root (`import type` is erased).
import { AddressesClient } from '@google-cloud/compute/build/src/v1/addresses_client.js';
import { FirewallsClient } from '@google-cloud/compute/build/src/v1/firewalls_client.js';
import { ForwardingRulesClient } from '@google-cloud/compute/build/src/v1/forwarding_rules_client.js';
import { GlobalOperationsClient } from '@google-cloud/compute/build/src/v1/global_operations_client.js';
import { InstancesClient } from '@google-cloud/compute/build/src/v1/instances_client.js';
import { NetworkEndpointGroupsClient } from '@google-cloud/compute/build/src/v1/network_endpoint_groups_client.js';
import { NetworksClient } from '@google-cloud/compute/build/src/v1/networks_client.js';
import { RegionBackendServicesClient } from '@google-cloud/compute/build/src/v1/region_backend_services_client.js';
import { RegionHealthChecksClient } from '@google-cloud/compute/build/src/v1/region_health_checks_client.js';
import { RegionOperationsClient } from '@google-cloud/compute/build/src/v1/region_operations_client.js';
import { SubnetworksClient } from '@google-cloud/compute/build/src/v1/subnetworks_client.js';
import { ZoneOperationsClient } from '@google-cloud/compute/build/src/v1/zone_operations_client.js';
import type { protos } from '@google-cloud/compute';
import {
  FencedError,
  classifyCallError,
  gceCategory,
  gceInfo,
  isAmbiguousWriteError,
  isUserError,
  operationError,
  transientErrorFor,
  type GceErrorCategory,
  type ResourceRef,
} from './errors.ts';
import {
  DEFAULT_RATE_LIMITS,
  RateLimiter,
  budgetsFor,
  realClock,
  type CallPriority,
  type Clock,
  type GceQuota,
  type PriorityBudget,
  type RateLimitConfig,
} from './ratelimit.ts';
import { lastSegment } from './urls.ts';

export type IAddress = protos.google.cloud.compute.v1.IAddress;
export type IHealthCheck = protos.google.cloud.compute.v1.IHealthCheck;
export type IBackendService = protos.google.cloud.compute.v1.IBackendService;
export type IForwardingRule = protos.google.cloud.compute.v1.IForwardingRule;
export type INetworkEndpointGroup = protos.google.cloud.compute.v1.INetworkEndpointGroup;
export type INetworkEndpoint = protos.google.cloud.compute.v1.INetworkEndpoint;
export type IFirewall = protos.google.cloud.compute.v1.IFirewall;
export type IInstance = protos.google.cloud.compute.v1.IInstance;
export type IOperation = protos.google.cloud.compute.v1.IOperation;
export type INetwork = protos.google.cloud.compute.v1.INetwork;
export type ISubnetwork = protos.google.cloud.compute.v1.ISubnetwork;
export type IHealthStatus = protos.google.cloud.compute.v1.IHealthStatus;

/** The GCE kinds fleet-ilb manages. */
export type Kind = 'address' | 'healthCheck' | 'backendService' | 'forwardingRule' | 'networkEndpointGroup' | 'firewall';

/** Resource type per kind. */
export interface KindTypes {
  address: IAddress;
  healthCheck: IHealthCheck;
  backendService: IBackendService;
  forwardingRule: IForwardingRule;
  networkEndpointGroup: INetworkEndpointGroup;
  firewall: IFirewall;
}

type ScopeKind = 'region' | 'zone' | 'global';

interface KindInfo {
  /** API service name as used in method keys (`Service.verb`) for metrics and rate limits. */
  service: string;
  /** Request field naming the resource. */
  param: string;
  /** Request field holding the body. */
  body: string;
  scope: ScopeKind;
  /** Collection name in URLs. */
  collection: string;
}

/** Per-kind request shapes (compute.proto request messages). */
export const KIND_INFO: Readonly<Record<Kind, KindInfo>> = {
  address: { service: 'Addresses', param: 'address', body: 'addressResource', scope: 'region', collection: 'addresses' },
  healthCheck: {
    service: 'RegionHealthChecks',
    param: 'healthCheck',
    body: 'healthCheckResource',
    scope: 'region',
    collection: 'healthChecks',
  },
  backendService: {
    service: 'RegionBackendServices',
    param: 'backendService',
    body: 'backendServiceResource',
    scope: 'region',
    collection: 'backendServices',
  },
  forwardingRule: {
    service: 'ForwardingRules',
    param: 'forwardingRule',
    body: 'forwardingRuleResource',
    scope: 'region',
    collection: 'forwardingRules',
  },
  networkEndpointGroup: {
    service: 'NetworkEndpointGroups',
    param: 'networkEndpointGroup',
    body: 'networkEndpointGroupResource',
    scope: 'zone',
    collection: 'networkEndpointGroups',
  },
  firewall: { service: 'Firewalls', param: 'firewall', body: 'firewallResource', scope: 'global', collection: 'firewalls' },
};

/** Options passed through to every @google-cloud/compute client (emulator: apiEndpoint/port/protocol/authClient). */
export interface ComputeClientOptions {
  apiEndpoint?: string;
  port?: number;
  protocol?: 'http' | 'https';
  /** A google-auth-library client (PassThroughClient for the emulator). Absent = ADC (production). */
  authClient?: unknown;
  apiKey?: string;
  [k: string]: unknown;
}

/** One HTTP call, reported to the metrics hook after it finishes. */
export interface GceCallEvent {
  /** `Service.verb`, e.g. `ForwardingRules.insert`, `RegionOperations.wait`. */
  method: string;
  /** True for mutating calls (the ones the write fence guards). */
  write: boolean;
  outcome: 'ok' | GceErrorCategory;
  latencyMs: number;
  /** Time spent waiting for a rate-limit token before the call. */
  throttledMs: number;
  requestId?: string;
  /** The lane the call was sent in (`low` = resync / sweep). */
  priority?: CallPriority;
  /** 0 for the first attempt, n for the n-th in-call retry. */
  attempt?: number;
}

/** The write fence as the client needs it (runtime/fence.ts `Fence` satisfies it). */
export interface WriteFence {
  canWrite(): boolean;
  /** ms until the right to write lapses (Infinity when it never does). */
  remainingMs(): number;
}

export interface GceCloudOptions {
  project: string;
  /** Passed to every client. In production leave empty (ADC). Tests: `emulator.clientOptions()`. */
  clientOptions?: ComputeClientOptions;
  /** Per-method token buckets; default DEFAULT_RATE_LIMITS. */
  rateLimits?: RateLimitConfig;
  clock?: Clock;
  /** Metrics hook: one event per HTTP call (including operation waits and list pages). */
  onCall?: (e: GceCallEvent) => void;
  /** Write fence: checked before every mutating call; false => FencedError (runtime taxonomy), nothing sent. */
  canWrite?: () => boolean;
  /**
   * The leader's fence (runtime/fence.ts). Like `canWrite`, and also caps every write's deadline at
   * `remainingMs()`, so an in-flight write is aborted when the fence closes, and stops operation
   * waits of a deposed replica. Takes precedence over `canWrite`.
   */
  fence?: WriteFence;
  /**
   * The project's rate quota; one shared budget for reads and one for writes is derived from it, on
   * top of the per-method limits. Default: 1,500/min each, 50 % share. `false` disables the budget.
   */
  quota?: GceQuota | false;
  /** Per-HTTP-call deadline. Default 60 s. */
  callTimeoutMs?: number;
  /**
   * How long one mutating call waits for its operation to reach DONE (`wait` calls get the remaining
   * time). Past it the call fails with a transient error naming the running operation; the next
   * reconcile re-observes it. Default 2 min (GCE's own `wait` returns after ~2 min).
   */
  operationTimeoutMs?: number;
  /** Pause after a failed `wait` call before polling again. Default 1 s. */
  operationRetryDelayMs?: number;
  /**
   * In-call retries of a transient failure (5xx, timeout, not-ready, rate limit), with jittered
   * exponential backoff; a mutating call keeps its requestId while the outcome is ambiguous. Default 2
   * (3 attempts). Anything still failing goes back to the work queue's per-key backoff.
   */
  ambiguousRetries?: number;
  /** First in-call retry delay (then ×2 per attempt, jittered ×[0.5, 1.5)). Default 200 ms; rate limits ×5. */
  retryBaseDelayMs?: number;
  /** How long the requestId of a failed insert is remembered for the next attempt. Default 30 min. */
  requestIdTtlMs?: number;
  /** Random source for the retry jitter (tests). */
  random?: () => number;
}

interface GaxCallOptions {
  timeout?: number;
  autoPaginate?: boolean;
  /** google-gax cancels the call when it aborts, and drops its listener when the call ends. */
  signal?: AbortSignal;
}
type AnyCall = (req: Record<string, unknown>, opts?: GaxCallOptions) => Promise<unknown[]>;
type AnyClient = Record<string, unknown> & { close(): Promise<void> };

const GOOGLE_HOST = /(^|\.)googleapis\.com$/;

/**
 * Runs one gax call under our own deadline. google-gax (6.17, REST fallback) arms each call's
 * deadline with an `AbortSignal.timeout` whose listener it never removes, so Node keeps the call's
 * closure — its request, its callback and the decoded response — until the deadline passes, 60 s
 * (operation waits ~2 min) after the call returned: at ~40 calls/s that is thousands of finished
 * calls on the heap (deploy/README.md "Memory"). With `timeout: Infinity` gax arms none (its
 * deadline is then an invalid Date, which it skips) and its own retries of idempotent methods have
 * no total timeout; the deadline here bounds the whole call instead, cancels it through gax's
 * `signal` option (whose listener gax removes when the call ends), and clears its timer. It fails
 * the way gax's own deadline does (code 4 DEADLINE_EXCEEDED, "Deadline exceeded"), which
 * `classifyCallError` reads as a timeout.
 */
async function withDeadline<T>(method: string, timeoutMs: number, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, timeoutMs);
  try {
    return await call(ac.signal);
  } catch (e) {
    if (!timedOut) throw e;
    throw Object.assign(new Error(`Deadline exceeded: ${method} did not respond within ${timeoutMs} milliseconds.`, { cause: e }), { code: 4 });
  } finally {
    clearTimeout(timer);
  }
}

/** Extracts `{zone}` / `{region}` scope from an operation's URLs (google-cloud-node#3654). */
function opScope(op: IOperation): { kind: ScopeKind; name?: string } {
  if (op.zone) return { kind: 'zone', name: lastSegment(op.zone) };
  if (op.region) return { kind: 'region', name: lastSegment(op.region) };
  return { kind: 'global' };
}

function stableHash(v: unknown): string {
  return createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 16);
}

/**
 * The Compute API client wrapper. Methods throw only GceUserError / GceTransientError (errors.ts) or
 * FencedError; 404 on get/delete is folded into the return value.
 */
/** State shared by a GceCloud and its per-project views (forProject). */
interface Core {
  opts: Required<Omit<GceCloudOptions, 'project' | 'clientOptions' | 'onCall' | 'canWrite' | 'rateLimits' | 'fence' | 'quota'>> & {
    onCall?: (e: GceCallEvent) => void;
    fence: WriteFence;
  };
  limiter: RateLimiter;
  budget: { read: PriorityBudget; write: PriorityBudget } | undefined;
  clients: Record<Kind | 'instances' | 'networks' | 'subnetworks' | 'zoneOps' | 'regionOps' | 'globalOps', AnyClient>;
  pendingRequestIds: Map<string, { id: string; at: number }>;
}

const SHARE = Symbol('GceCloud.share');

/** The lane of the calls made inside {@link withCallPriority} (async context). */
const lane = new AsyncLocalStorage<CallPriority>();

/**
 * Run `fn` with every GceCloud call it makes, however deep (the shared inventory's lists, a sweep, a
 * whole reconcile), in `priority`'s lane of the shared budget, as if made through
 * `cloud.withPriority(priority)`: for the periodic resync, inventory refresh and sweep, which reach
 * GCE through code that holds the controller's one client. A call is `low` when its view or its
 * context says so. A load started in a low context and awaited by a reconcile stays low.
 */
export function withCallPriority<T>(priority: CallPriority, fn: () => T): T {
  return lane.run(priority, fn);
}

export class GceCloud {
  readonly project: string;
  /** The lane this view's calls use (see {@link withPriority}). */
  readonly priority: CallPriority;
  readonly #core: Core;

  constructor(opts: GceCloudOptions & { [SHARE]?: Core; priority?: CallPriority }) {
    this.project = opts.project;
    this.priority = opts.priority ?? 'high';
    const shared = opts[SHARE];
    if (shared !== undefined) {
      this.#core = shared;
      return;
    }
    const co = opts.clientOptions ?? {};
    if (co.apiEndpoint !== undefined && !GOOGLE_HOST.test(co.apiEndpoint) && co.authClient === undefined && co.apiKey === undefined) {
      // A local endpoint without explicit auth would make google-auth-library hunt for ADC (env,
      // gcloud file, metadata server): never let tests (or a misconfigured emulator run) do that.
      throw new Error(`GceCloud: apiEndpoint ${co.apiEndpoint} is not googleapis.com; pass authClient (e.g. PassThroughClient)`);
    }
    const clock = opts.clock ?? realClock;
    const c = co as ConstructorParameters<typeof AddressesClient>[0];
    const mk = (x: object): AnyClient => x as unknown as AnyClient;
    this.#core = {
      opts: {
        clock,
        callTimeoutMs: opts.callTimeoutMs ?? 60_000,
        operationTimeoutMs: opts.operationTimeoutMs ?? 2 * 60_000,
        operationRetryDelayMs: opts.operationRetryDelayMs ?? 1000,
        ambiguousRetries: opts.ambiguousRetries ?? 2,
        retryBaseDelayMs: opts.retryBaseDelayMs ?? 200,
        requestIdTtlMs: opts.requestIdTtlMs ?? 30 * 60_000,
        random: opts.random ?? Math.random,
        fence: opts.fence ?? { canWrite: opts.canWrite ?? (() => true), remainingMs: () => Number.POSITIVE_INFINITY },
        ...(opts.onCall === undefined ? {} : { onCall: opts.onCall }),
      },
      limiter: new RateLimiter(opts.rateLimits ?? DEFAULT_RATE_LIMITS, clock),
      budget: opts.quota === false ? undefined : budgetsFor(opts.quota ?? {}, clock),
      clients: {
        address: mk(new AddressesClient(c)),
        healthCheck: mk(new RegionHealthChecksClient(c)),
        backendService: mk(new RegionBackendServicesClient(c)),
        forwardingRule: mk(new ForwardingRulesClient(c)),
        networkEndpointGroup: mk(new NetworkEndpointGroupsClient(c)),
        firewall: mk(new FirewallsClient(c)),
        instances: mk(new InstancesClient(c)),
        networks: mk(new NetworksClient(c)),
        subnetworks: mk(new SubnetworksClient(c)),
        zoneOps: mk(new ZoneOperationsClient(c)),
        regionOps: mk(new RegionOperationsClient(c)),
        globalOps: mk(new GlobalOperationsClient(c)),
      },
      pendingRequestIds: new Map(),
    };
  }

  /**
   * The same client (connections, rate limits, hooks, fence) acting on another project: member NEGs
   * of a Shared VPC service project (DesiredNeg.project). Returns `this` for its own project.
   */
  forProject(project: string): GceCloud {
    if (project === this.project) return this;
    return new GceCloud({ project, priority: this.priority, [SHARE]: this.#core });
  }

  /**
   * The same client whose calls go in the `low` lane of the shared budget: they wait while any
   * reconcile call waits and use at most part of the budget. For the periodic resync, inventory
   * refresh and sweep; everything else stays `high`.
   */
  withPriority(priority: CallPriority): GceCloud {
    if (priority === this.priority) return this;
    return new GceCloud({ project: this.project, priority, [SHARE]: this.#core });
  }

  /** Calls waiting for the shared budget, per group and lane (metrics, tests). */
  budgetWaiting(): { read: { high: number; low: number }; write: { high: number; low: number } } | undefined {
    const b = this.#core.budget;
    return b === undefined ? undefined : { read: b.read.waiting(), write: b.write.waiting() };
  }

  /** Closes every underlying client (shared with every forProject view). */
  async close(): Promise<void> {
    await Promise.all(Object.values(this.#core.clients).map((c) => c.close()));
  }

  // ---- generic per-kind verbs -------------------------------------------------------------

  /** GET; undefined on 404. */
  async get<K extends Kind>(kind: K, scope: string | undefined, name: string): Promise<KindTypes[K] | undefined> {
    const info = KIND_INFO[kind];
    const req = this.#req(kind, scope, { [info.param]: name });
    try {
      const [res] = await this.#call(`${info.service}.get`, false, this.#fn(kind, 'get'), req, this.#ref(kind, scope, name));
      return res as KindTypes[K];
    } catch (e) {
      if (gceCategory(e) === 'notFound') return undefined;
      throw e;
    }
  }

  /** Lists every resource of `kind` in `scope` (regional/global kinds), following pages. */
  async list<K extends Kind>(kind: K, scope: string | undefined, filter?: string): Promise<Array<KindTypes[K]>> {
    const info = KIND_INFO[kind];
    const out: Array<KindTypes[K]> = [];
    let req: Record<string, unknown> | null = this.#req(kind, scope, filter === undefined ? {} : { filter });
    while (req !== null) {
      const r: Record<string, unknown> = req;
      const [items, next] = await this.#call(`${info.service}.list`, false, this.#fn(kind, 'list'), r, undefined, {
        autoPaginate: false,
      });
      out.push(...((items ?? []) as Array<KindTypes[K]>));
      req = (next as Record<string, unknown> | null | undefined) ?? null;
    }
    return out;
  }

  /** Inserts; resolves once the operation is DONE. Reuses the requestId of a previous failed attempt. */
  async insert<K extends Kind>(kind: K, scope: string | undefined, body: KindTypes[K] & { name: string }): Promise<void> {
    const info = KIND_INFO[kind];
    const key = `${kind}/${scope ?? 'global'}/${body.name}/${stableHash(body)}`;
    const req = this.#req(kind, scope, { [info.body]: body });
    const ids = {
      current: this.#requestIdFor(key),
      // The operation of the current id finished DONE with an error: a retry needs a new id.
      renew: (): string => {
        const id = randomUUID();
        this.#core.pendingRequestIds.set(key, { id, at: this.#core.opts.clock.now() });
        return id;
      },
    };
    try {
      await this.#mutate(`${info.service}.insert`, this.#fn(kind, 'insert'), req, this.#ref(kind, scope, body.name), ids);
      this.#core.pendingRequestIds.delete(key);
    } catch (e) {
      // Keep the requestId only while the outcome is unknown (timeout, 5xx without an operation, an
      // operation still running): the next attempt of the same logical insert then replays instead
      // of duplicating. An operation that finished DONE with an error must not be replayed: GCE
      // would return that same failed operation for as long as it remembers the id.
      if (!isAmbiguousWriteError(e)) this.#core.pendingRequestIds.delete(key);
      throw e;
    }
  }

  /** PUT (replace). Absent fields are cleared; the body must carry the fingerprint where the kind has one. */
  async update<K extends Kind>(kind: K, scope: string | undefined, name: string, body: KindTypes[K]): Promise<void> {
    const info = KIND_INFO[kind];
    const req = this.#req(kind, scope, { [info.param]: name, [info.body]: body });
    await this.#mutate(`${info.service}.update`, this.#fn(kind, 'update'), req, this.#ref(kind, scope, name), freshIds());
  }

  /** PATCH (JSON merge; empty lists are not sent by the client, so a patch cannot clear a list). */
  async patch<K extends Kind>(kind: K, scope: string | undefined, name: string, body: KindTypes[K]): Promise<void> {
    const info = KIND_INFO[kind];
    const req = this.#req(kind, scope, { [info.param]: name, [info.body]: body });
    await this.#mutate(`${info.service}.patch`, this.#fn(kind, 'patch'), req, this.#ref(kind, scope, name), freshIds());
  }

  /**
   * setLabels (addresses and forwarding rules: the kinds with labels, naming/gcelabels.ts): replaces
   * the label map; `labelFingerprint` is the live one (a stale one is 412 conditionNotMet).
   */
  async setLabels(kind: 'address' | 'forwardingRule', scope: string, name: string, labels: Record<string, string>, labelFingerprint: string | null | undefined): Promise<void> {
    const info = KIND_INFO[kind];
    const req = this.#req(kind, scope, { resource: name, regionSetLabelsRequestResource: { labels, labelFingerprint: labelFingerprint ?? null } });
    await this.#mutate(`${info.service}.setLabels`, this.#fn(kind, 'setLabels'), req, this.#ref(kind, scope, name), freshIds());
  }

  /** DELETE; 'absent' when it was already gone (404 on delete = done). */
  async delete(kind: Kind, scope: string | undefined, name: string): Promise<'deleted' | 'absent'> {
    const info = KIND_INFO[kind];
    const req = this.#req(kind, scope, { [info.param]: name });
    try {
      await this.#mutate(`${info.service}.delete`, this.#fn(kind, 'delete'), req, this.#ref(kind, scope, name), freshIds());
      return 'deleted';
    } catch (e) {
      if (gceCategory(e) === 'notFound') return 'absent';
      throw e;
    }
  }

  // ---- backend health (read only: infra/gcp/health.ts) -----------------------------------------

  /**
   * The latest health-check results for one backend (`group`: the NEG's URL) of a regional backend
   * service: one entry per endpoint x forwarding rule. A read (`compute.regionBackendServices.get`),
   * although it is a POST: https://cloud.google.com/compute/docs/reference/rest/v1/regionBackendServices/getHealth
   */
  async getBackendHealth(region: string, backendService: string, group: string): Promise<IHealthStatus[]> {
    const req = { project: this.project, region, backendService, resourceGroupReferenceResource: { group } };
    const [res] = await this.#call('RegionBackendServices.getHealth', false, this.#fn('backendService', 'getHealth'), req, this.#ref('backendService', region, backendService));
    return ((res as protos.google.cloud.compute.v1.IBackendServiceGroupHealth | undefined)?.healthStatus ?? []).map((h) => ({ ...h }));
  }

  // ---- NEGs ------------------------------------------------------------------------------

  /** Every zonal NEG in the project (aggregatedList), with its zone name. */
  async listAllNegs(): Promise<Array<{ zone: string; neg: INetworkEndpointGroup }>> {
    const client = this.#core.clients.networkEndpointGroup;
    const out: Array<{ zone: string; neg: INetworkEndpointGroup }> = [];
    await this.#call(
      'NetworkEndpointGroups.aggregatedList',
      false,
      async (req, opts) => {
        const it = (client['aggregatedListAsync'] as (r: unknown, o?: unknown) => AsyncIterable<[string, { networkEndpointGroups?: INetworkEndpointGroup[] | null }]>)
          .call(client, req, opts);
        for await (const [key, scoped] of it) {
          if (!key.startsWith('zones/')) continue;
          for (const neg of scoped.networkEndpointGroups ?? []) out.push({ zone: key.slice('zones/'.length), neg });
        }
        return [];
      },
      { project: this.project },
      undefined,
      { autoPaginate: false },
    );
    return out;
  }

  /** The endpoints of one NEG (all pages). */
  async listNetworkEndpoints(zone: string, neg: string): Promise<INetworkEndpoint[]> {
    const out: INetworkEndpoint[] = [];
    let req: Record<string, unknown> | null = { project: this.project, zone, networkEndpointGroup: neg };
    const ref = this.#ref('networkEndpointGroup', zone, neg);
    while (req !== null) {
      const r: Record<string, unknown> = req;
      const [items, next] = await this.#call(
        'NetworkEndpointGroups.listNetworkEndpoints',
        false,
        this.#fn('networkEndpointGroup', 'listNetworkEndpoints'),
        r,
        ref,
        { autoPaginate: false },
      );
      for (const it of (items ?? []) as protos.google.cloud.compute.v1.INetworkEndpointWithHealthStatus[]) {
        if (it.networkEndpoint) out.push(it.networkEndpoint);
      }
      req = (next as Record<string, unknown> | null | undefined) ?? null;
    }
    return out;
  }

  /** Attaches ≤500 endpoints (one call; the API's per-call limit). */
  async attachNetworkEndpoints(zone: string, neg: string, endpoints: INetworkEndpoint[]): Promise<void> {
    await this.#endpoints('attachNetworkEndpoints', 'networkEndpointGroupsAttachEndpointsRequestResource', zone, neg, endpoints);
  }

  /** Detaches ≤500 endpoints (one call). */
  async detachNetworkEndpoints(zone: string, neg: string, endpoints: INetworkEndpoint[]): Promise<void> {
    await this.#endpoints('detachNetworkEndpoints', 'networkEndpointGroupsDetachEndpointsRequestResource', zone, neg, endpoints);
  }

  async #endpoints(verb: string, bodyKey: string, zone: string, neg: string, endpoints: INetworkEndpoint[]): Promise<void> {
    if (endpoints.length === 0) return;
    if (endpoints.length > MAX_ENDPOINTS_PER_CALL) throw new Error(`${verb}: ${endpoints.length} endpoints > ${MAX_ENDPOINTS_PER_CALL} per call`);
    const req = { project: this.project, zone, networkEndpointGroup: neg, [bodyKey]: { networkEndpoints: endpoints } };
    await this.#mutate(`NetworkEndpointGroups.${verb}`, this.#fn('networkEndpointGroup', verb), req, this.#ref('networkEndpointGroup', zone, neg), freshIds());
  }

  // ---- instances (node tags discovery, NIC checks) ----------------------------------------

  /** GET an instance; undefined on 404. */
  async getInstance(zone: string, name: string): Promise<IInstance | undefined> {
    const c = this.#core.clients.instances;
    try {
      const [res] = await this.#call('Instances.get', false, (r, o) => (c['get'] as AnyCall).call(c, r, o), {
        project: this.project,
        zone,
        instance: name,
      });
      return res as IInstance;
    } catch (e) {
      if (gceCategory(e) === 'notFound') return undefined;
      throw e;
    }
  }

  // ---- networks and subnetworks (read only: the ILBConfig's VPC, controller/config/verify.ts) ----

  /** GET the VPC network `name` of this project; undefined on 404. */
  async getNetwork(name: string): Promise<INetwork | undefined> {
    return this.#getInfra('networks', 'Networks.get', { project: this.project, network: name });
  }

  /** GET the subnetwork `name` in `region`; undefined on 404. */
  async getSubnetwork(region: string, name: string): Promise<ISubnetwork | undefined> {
    return this.#getInfra('subnetworks', 'Subnetworks.get', { project: this.project, region, subnetwork: name });
  }

  async #getInfra<T>(client: 'networks' | 'subnetworks', method: string, req: Record<string, unknown>): Promise<T | undefined> {
    const c = this.#core.clients[client];
    try {
      const [res] = await this.#call(method, false, (r, o) => (c['get'] as AnyCall).call(c, r, o), req);
      return res as T;
    } catch (e) {
      if (gceCategory(e) === 'notFound') return undefined;
      throw e;
    }
  }

  /** Every instance in the project (aggregatedList), with its zone name. */
  async listAllInstances(filter?: string): Promise<Array<{ zone: string; instance: IInstance }>> {
    const client = this.#core.clients.instances;
    const out: Array<{ zone: string; instance: IInstance }> = [];
    await this.#call(
      'Instances.aggregatedList',
      false,
      async (req, opts) => {
        const it = (client['aggregatedListAsync'] as (r: unknown, o?: unknown) => AsyncIterable<[string, { instances?: IInstance[] | null }]>)
          .call(client, req, opts);
        for await (const [key, scoped] of it) {
          if (!key.startsWith('zones/')) continue;
          for (const instance of scoped.instances ?? []) out.push({ zone: key.slice('zones/'.length), instance });
        }
        return [];
      },
      { project: this.project, ...(filter === undefined ? {} : { filter }) },
      undefined,
      { autoPaginate: false },
    );
    return out;
  }

  // ---- internals -------------------------------------------------------------------------

  #ref(kind: Kind, scope: string | undefined, name: string): ResourceRef {
    return scope === undefined ? { kind, name } : { kind, name, scope };
  }

  #req(kind: Kind, scope: string | undefined, extra: Record<string, unknown>): Record<string, unknown> {
    const s = KIND_INFO[kind].scope;
    if (s !== 'global' && scope === undefined) throw new Error(`${kind} needs a ${s}`);
    return { project: this.project, ...(s === 'global' ? {} : { [s]: scope }), ...extra };
  }

  #fn(kind: Kind, verb: string): AnyCall {
    const client = this.#core.clients[kind];
    const f = client[verb];
    if (typeof f !== 'function') throw new Error(`${KIND_INFO[kind].service} has no method ${verb}`);
    return (req, opts) => (f as AnyCall).call(client, req, opts);
  }

  #requestIdFor(key: string): string {
    const now = this.#core.opts.clock.now();
    for (const [k, v] of this.#core.pendingRequestIds) if (now - v.at > this.#core.opts.requestIdTtlMs) this.#core.pendingRequestIds.delete(k);
    const prev = this.#core.pendingRequestIds.get(key);
    if (prev !== undefined) return prev.id;
    const id = randomUUID();
    this.#core.pendingRequestIds.set(key, { id, at: now });
    return id;
  }

  /**
   * A read with bounded, jittered in-call retries of transient failures (gax itself retries only
   * 503/504 on get/list: docs/compute-api.md "Operations and retries").
   */
  async #call(
    method: string,
    write: boolean,
    fn: AnyCall,
    req: Record<string, unknown>,
    resource?: ResourceRef,
    extraOpts: GaxCallOptions = {},
  ): Promise<unknown[]> {
    if (write) return this.#send(method, true, fn, req, resource, extraOpts, 0);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#send(method, false, fn, req, resource, extraOpts, attempt);
      } catch (e) {
        const cat = gceCategory(e);
        if (attempt >= this.#core.opts.ambiguousRetries || !IN_CALL_RETRY.has(cat ?? 'unknown')) throw e;
        await this.#core.opts.clock.sleep(this.#retryDelay(attempt, cat));
      }
    }
  }

  /** Jittered exponential delay before in-call retry `attempt + 1` (rate limits wait longer). */
  #retryDelay(attempt: number, cat: GceErrorCategory | undefined): number {
    const base = this.#core.opts.retryBaseDelayMs * (cat === 'rateLimited' ? 5 : 1) * 2 ** attempt;
    return base * (0.5 + this.#core.opts.random());
  }

  /** One rate-limited, fenced, classified, metered HTTP call. */
  async #send(
    method: string,
    write: boolean,
    fn: AnyCall,
    req: Record<string, unknown>,
    resource: ResourceRef | undefined,
    extraOpts: GaxCallOptions,
    attempt: number,
  ): Promise<unknown[]> {
    const o = this.#core.opts;
    const priority: CallPriority = this.priority === 'low' || lane.getStore() === 'low' ? 'low' : 'high';
    let throttledMs = await this.#core.limiter.acquire(method);
    const budget = this.#core.budget?.[write ? 'write' : 'read'];
    if (budget !== undefined) throttledMs += await budget.acquire(priority);
    // Check the fence after the token wait: a long throttle can outlive our leadership.
    const remaining = write ? o.fence.remainingMs() : Number.POSITIVE_INFINITY;
    if (write && (!o.fence.canWrite() || !(remaining > 0))) {
      this.#emit({ method, write, outcome: 'permission', latencyMs: 0, throttledMs, priority, attempt });
      throw new FencedError(`write refused: ${method} (this replica may not write: leader lease not held)`);
    }
    const start = o.clock.now();
    const requestId = typeof req['requestId'] === 'string' ? req['requestId'] : undefined;
    // A write never outlives the fence: its deadline is the fence's, so the request is aborted when
    // the fence closes (battery C1, docs/failure-rules.md: no write by a deposed leader after its
    // renew deadline).
    const timeout = Math.max(1, Math.floor(Math.min(extraOpts.timeout ?? o.callTimeoutMs, remaining)));
    try {
      const res = await withDeadline(method, timeout, (signal) => fn(req, { ...extraOpts, timeout: Number.POSITIVE_INFINITY, signal }));
      this.#emit({ method, write, outcome: 'ok', latencyMs: o.clock.now() - start, throttledMs, priority, attempt, ...(requestId ? { requestId } : {}) });
      return res;
    } catch (e) {
      const err = classifyCallError(e, method, resource);
      this.#emit({
        method,
        write,
        outcome: err.gce?.category ?? 'unknown',
        latencyMs: o.clock.now() - start,
        throttledMs,
        priority,
        attempt,
        ...(requestId ? { requestId } : {}),
      });
      // Aborted because the fence closed: the replica is deposed, not the call transiently failed.
      if (write && !o.fence.canWrite()) throw new FencedError(`write aborted: ${method} (the leader lease lapsed while the call was in flight)`);
      throw err;
    }
  }

  #emit(e: GceCallEvent): void {
    try {
      this.#core.opts.onCall?.(e);
    } catch {
      // A broken metrics hook must not break reconciles.
    }
  }

  /**
   * Sends a mutating call and waits for its operation, with bounded, jittered in-call retries of
   * transient failures. An ambiguous failure (timeout, 5xx before an operation) is retried with the
   * SAME requestId, so the server deduplicates an attempt that did land. An operation that finished
   * DONE with a transient error (INTERNAL_ERROR, RESOURCE_NOT_READY, ...) is retried with a NEW id:
   * the old one would only replay that failure. An operation we stopped waiting for is not retried
   * here: the caller re-observes it on the next reconcile.
   */
  async #mutate(method: string, fn: AnyCall, req: Record<string, unknown>, resource: ResourceRef, ids: RequestIds): Promise<IOperation> {
    let requestId = ids.current;
    for (let attempt = 0; ; attempt++) {
      try {
        const [lro] = await this.#send(method, true, fn, { ...req, requestId }, resource, {}, attempt);
        const op = (lro as { latestResponse?: IOperation } | undefined)?.latestResponse;
        if (op === undefined) throw transientErrorFor('unknown', method, `${method}: no operation in the response`, resource);
        const done = await this.#waitOperation(op, method, resource);
        const err = operationError(done, method, resource);
        if (err !== undefined) throw err;
        return done;
      } catch (e) {
        const info = gceInfo(e);
        const retryable =
          attempt < this.#core.opts.ambiguousRetries && info !== undefined && info.pendingOperation === undefined && IN_CALL_RETRY.has(info.category);
        if (!retryable) throw e;
        if (info.fromOperation) requestId = ids.renew();
        await this.#core.opts.clock.sleep(this.#retryDelay(attempt, info.category));
      }
    }
  }

  /**
   * Loops on `wait` until DONE or the operation budget is spent (`wait` may return early:
   * docs/compute-api.md "Operations and retries"); each `wait` call gets the remaining budget as
   * its deadline. Stops at once when the write fence closes (a deposed replica must not hold a
   * worker for the operation).
   */
  async #waitOperation(first: IOperation, method: string, resource: ResourceRef): Promise<IOperation> {
    let op = first;
    const o = this.#core.opts;
    const deadline = o.clock.now() + o.operationTimeoutMs;
    let lastErr: string | undefined;
    while (String(op.status) !== 'DONE') {
      if (!o.fence.canWrite()) throw new FencedError(`${method}: stopped waiting for operation ${op.name ?? '?'} (leader lease not held)`);
      const remaining = deadline - o.clock.now();
      if (remaining <= 0) {
        const e = transientErrorFor(
          'timeout',
          method,
          `${method}: operation ${op.name ?? '?'} not DONE after ${o.operationTimeoutMs} ms (status ${String(op.status)}); re-checked on the next reconcile${lastErr === undefined ? '' : `; last wait error: ${lastErr}`}`,
          resource,
        );
        e.gce.pendingOperation = op.name ?? '?';
        throw e;
      }
      const scope = opScope(op);
      const [client, svc, req] =
        scope.kind === 'zone'
          ? [this.#core.clients.zoneOps, 'ZoneOperations', { project: this.project, zone: scope.name, operation: op.name }]
          : scope.kind === 'region'
            ? [this.#core.clients.regionOps, 'RegionOperations', { project: this.project, region: scope.name, operation: op.name }]
            : [this.#core.clients.globalOps, 'GlobalOperations', { project: this.project, operation: op.name }];
      try {
        const [next] = await this.#send(
          `${svc}.wait`,
          false,
          (r, co) => (client['wait'] as AnyCall).call(client, r, co),
          req,
          resource,
          { timeout: Math.min(remaining, o.operationTimeoutMs) + 1_000 },
          0,
        );
        if (next !== undefined && next !== null) op = next;
      } catch (e) {
        // Errors from `wait` itself are not retried by gax. A user error here (e.g. 400 on a bad
        // op name) will not heal: give up. Anything else: pause and poll again until the deadline.
        if (isUserError(e)) throw e;
        lastErr = e instanceof Error ? e.message : 'unknown';
        await o.clock.sleep(Math.min(o.operationRetryDelayMs * (0.5 + o.random()), Math.max(0, deadline - o.clock.now())));
      }
    }
    return op;
  }
}

/** The requestId of one logical mutating call; `renew` when its operation failed (see #mutate). */
interface RequestIds {
  current: string;
  renew(): string;
}

/** A fresh id per logical call (patch, update, delete, attach/detach: not replayed across reconciles). */
function freshIds(): RequestIds {
  return { current: randomUUID(), renew: () => randomUUID() };
}

/**
 * Failures worth an immediate (jittered, bounded) retry inside the call: outcomes that are ambiguous
 * or heal within seconds. Everything else goes back to the work queue as is.
 */
const IN_CALL_RETRY: ReadonlySet<GceErrorCategory> = new Set(['server', 'timeout', 'notReady', 'rateLimited']);

/** The API's per-call limit on attach/detach (ingress-gce MAX_NETWORK_ENDPOINTS_PER_BATCH, terraform). */
export const MAX_ENDPOINTS_PER_CALL = 500;
