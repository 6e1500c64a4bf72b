// SPDX-License-Identifier: Apache-2.0
//
// Public types of the Compute API emulator (test/emulator/README.md).

/** Networks, subnetworks and instances the caller provides (the API cannot create them here). */
export interface Seed {
  projects: Record<string, SeedProject>;
}

/** One project's seeded infrastructure. */
export interface SeedProject {
  networks?: Array<{ name: string; description?: string }>;
  subnetworks?: Array<{ name: string; region: string; network: string; ipCidrRange: string; description?: string }>;
  instances?: Array<{
    name: string;
    zone: string;
    /** Subnetwork name (in the zone's region) of nic0. */
    subnetwork: string;
    /** nic0 IP; allocated from the subnet when omitted. */
    networkIP?: string;
    tags?: string[];
    labels?: Record<string, string>;
    status?: string;
    /** Further NICs (nic1, …), each in its own subnetwork. */
    extraNics?: Array<{ subnetwork: string; networkIP?: string }>;
  }>;
}

/** What the prober is asked about: one endpoint as seen through one forwarding rule's VIP. */
export interface ProbeTarget {
  project: string;
  zone: string;
  instance: string;
  ipAddress: string;
  /** The forwarding rule IP the probe targets (GCP probes `VIP:hcPort`); absent when no rule uses the service. */
  forwardingRuleIp?: string;
  /** The health check's port, when it has a fixed one. */
  port?: number;
}

/** A health answer. */
export type HealthState = 'HEALTHY' | 'UNHEALTHY';

/** Pluggable health: called for every endpoint × forwarding rule on each getHealth / listNetworkEndpoints(SHOW). */
export type Prober = (endpoint: ProbeTarget) => HealthState;

/** A static prober setting (admin endpoint / CLI): a default plus overrides matched field by field. */
export interface ProberRules {
  default?: HealthState;
  rules?: Array<Partial<Omit<ProbeTarget, 'port'>> & { port?: number; state: HealthState }>;
}

/** What a fault does when it fires. */
export type FaultAction =
  /**
   * Answer with this HTTP error instead of serving the call (nothing applied). With `applied: true`
   * the call IS served first and only the answer is replaced (a 409 for an insert that landed, a 404
   * for a delete that landed: what a client sees when its first answer was lost and a retry, or
   * another actor, got there first).
   */
  | { kind: 'http'; status: number; reason?: string; message?: string; applied?: boolean }
  /** Delay the call by `ms`, then serve it normally. */
  | { kind: 'latency'; ms: number }
  /** Accept the mutation, return its operation, and end the operation with this error (nothing applied). */
  | { kind: 'operationError'; code: string; message?: string; httpStatus?: number }
  /**
   * The client never gets an answer: `applied: true` serves the call (the mutation happens) first. `mode: 'hang'`
   * (default) keeps the connection open past the client's timeout (closed after `ms`, default when the emulator
   * stops); `mode: 'reset'` destroys the connection at once.
   */
  | { kind: 'timeout'; applied: boolean; mode?: 'hang' | 'reset'; ms?: number }
  /**
   * Seeded random faults: each matching call fails with probability `rate`, with one fault drawn
   * (from the same seeded PRNG) among the `kinds` that make sense for the call (see {@link ChaosKind}).
   * `seed`: the rule's own PRNG seed (default: the emulator's `randomSeed` stream).
   */
  | { kind: 'chaos'; rate: number; kinds?: ChaosKind[]; latencyMs?: number; hangMs?: number; seed?: number };

/**
 * The faults of the reliability battery's A1 mix (`../README.md` "Seeded random faults"): which calls each can hit.
 * - `500`, `503`, `429`, `403-rate` (403 rateLimitExceeded), `403-quota` (403 quotaExceeded): any call, nothing applied.
 * - `timeout-applied`, `timeout-lost`: any call; the client gets no answer, the mutation happened / did not.
 * - `op-error` (INTERNAL_ERROR), `op-quota` (QUOTA_EXCEEDED), `op-not-ready` (RESOURCE_NOT_READY): mutations;
 *   the operation ends DONE with that error, nothing applied.
 * - `409-applied`: inserts; the insert is applied, the answer is 409 alreadyExists.
 * - `404-delete`: deletes; the delete is applied, the answer is 404 notFound.
 * - `400-in-use`: deletes; 400 resourceInUseByAnotherResource, nothing applied.
 * - `latency`: any call; served normally after `latencyMs` (default 2 s).
 */
export type ChaosKind =
  | '500'
  | '503'
  | '429'
  | '403-rate'
  | '403-quota'
  | 'timeout-applied'
  | 'timeout-lost'
  | 'op-error'
  | 'op-quota'
  | 'op-not-ready'
  | '409-applied'
  | '404-delete'
  | '400-in-use'
  | 'latency';

/** A fault rule. All given matchers must match. */
export interface FaultSpec {
  /** Method name, e.g. `regionBackendServices.insert`; `*` wildcards allowed (`*.insert`, `networkEndpointGroups.*`). */
  method?: string;
  /** A regex (source string) matched against the request path (without the query string). */
  path?: string;
  /** HTTP verb. */
  httpMethod?: string;
  /** Only calls whose `x-emulator-caller` header equals this. */
  caller?: string;
  /**
   * A regex (source string) matched against the resource the call is about (`projects/p/…/name`:
   * the path's resource, an insert's body `name`, an operation's target); a call about no resource
   * (a list) is matched as the empty string. Lets concurrent tests each fault only their own
   * resources (and one rule take the rest: `^(?!.*mine-)`).
   */
  resource?: string;
  action: FaultAction;
  /** Fire at most this many times (then the rule stays, inert). */
  times?: number;
  /** Fire with this probability, drawn from the emulator's seeded PRNG (replayable with the same `randomSeed`). */
  probability?: number;
  /** Let the first `skip` matching calls through. */
  skip?: number;
}

/** A fault rule as stored, with its id and how often it fired. */
export interface FaultState extends FaultSpec {
  id: string;
  fired: number;
  matched: number;
}

/** One served request. */
export interface AuditEntry {
  seq: number;
  /** ms since the epoch when the request arrived. */
  time: number;
  /** Discovery method name, e.g. `regionBackendServices.insert`; `batch` for the batch wrapper; `unknown`. */
  method: string;
  httpMethod: string;
  path: string;
  /** The query string (without `?`), when there was one. */
  query?: string;
  status: number;
  latencyMs: number;
  /** `x-emulator-caller` if sent, else the User-Agent. */
  caller: string;
  userAgent?: string;
  apiClient?: string;
  requestId?: string;
  /** `projects/p/…/n` of the target resource, when the method has one. */
  resource?: string;
  /** The operation name returned by a mutation. */
  operation?: string;
  /** Error reason of a failed call. */
  error?: string;
  /** Ids of the faults that fired. */
  faults?: string[];
  /** The chaos kinds that fired (seeded random faults). */
  chaos?: string[];
  /** Served as part of a `/batch/compute/v1` request. */
  batch?: boolean;
  /** A read (get/list/wait/getHealth/…) or a write (a mutation). */
  access: 'read' | 'write' | 'admin';
}

/** All resources by kind, as the API would return them on GET (NEGs also carry their endpoints). */
export interface Inventory {
  addresses: Array<Record<string, unknown>>;
  healthChecks: Array<Record<string, unknown>>;
  backendServices: Array<Record<string, unknown>>;
  networkEndpointGroups: Array<Record<string, unknown> & { endpoints: Array<{ instance: string; ipAddress: string }> }>;
  forwardingRules: Array<Record<string, unknown>>;
  firewalls: Array<Record<string, unknown>>;
  instances: Array<Record<string, unknown>>;
  networks: Array<Record<string, unknown>>;
  subnetworks: Array<Record<string, unknown>>;
  operations: Array<Record<string, unknown>>;
}
