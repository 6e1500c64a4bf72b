// SPDX-License-Identifier: Apache-2.0
//
// Error classification for every Compute API call fleet-ilb makes (docs/failure-rules.md "Cloud
// errors": user error -> condition, no hot loop; transient -> backoff). The classes are the
// runtime's branded taxonomy
// (controller/errors), extended with the GCE details (category, HTTP status, reason, method, resource),
// so the work queue's retryPolicy() and the status writer understand them without knowing GCE.
//
// Classification follows what the Node client really gives us (docs/compute-api.md "Errors as the
// Node client gives them"): gax drops the JSON `errors[].reason`, so we read `httpStatusCode` plus
// the raw body kept on the non-enumerable
// symbol `google-gax.rawHttpResponsePayload` (gax >= 6.17), and fall back to message substrings the way
// ingress-gce does (IsInUsedByError: 400 + "being used by"; IsQuotaExceededError: 429 or
// rateLimitExceeded; IsConstraintViolationError: 412 + "Constraint").

import {
  CloudResourceError,
  FencedError,
  TransientError,
  UserError,
  isCloudResourceError,
  isFencedError,
  isTransientError,
  isUserError,
} from '../../../errors/index.ts';

export { FencedError, isFencedError, isTransientError, isUserError };

const RAW_PAYLOAD = Symbol.for('google-gax.rawHttpResponsePayload');

/** What went wrong, as far as fleet-ilb's control flow cares. */
export type GceErrorCategory =
  | 'notFound' // 404: callers treat as "absent" (delete = done, get = undefined)
  | 'projectNotFound' // 404 on the project itself ("The resource 'projects/x' was not found"): a config error
  | 'alreadyExists' // 409: callers GET and adopt when the stamp is ours
  | 'fingerprintConflict' // 412 conditionNotMet: re-GET and retry once
  | 'inUse' // 400 resourceInUseByAnotherResource: retry later (delete ordering, shared objects)
  | 'notReady' // 400 resourceNotReady: another operation is running on the resource
  | 'rateLimited' // 429, 403 rateLimitExceeded
  | 'quota' // 403 quotaExceeded / op QUOTA_EXCEEDED: transient with a long backoff
  | 'ipInUse' // 409 IP_IN_USE_BY_ANOTHER_RESOURCE, reserve an IP already reserved
  | 'constraint' // 412 org-policy constraint violated
  | 'invalid' // 400 invalid field value (and any other 400)
  | 'permission' // 401, 403 (not rate/quota): IAM or Shared-VPC problem
  | 'foreign' // name taken by a resource fleet-ilb does not own (no API error; our own check)
  | 'server' // 5xx
  | 'timeout' // client deadline / connection error / operation still running at our deadline
  | 'unknown';

/** Identifies the GCE resource an error is about, so conditions can name it. */
export interface ResourceRef {
  kind: string;
  name: string;
  /** Zone or region name, absent for global resources. */
  scope?: string;
}

/** The GCE-side details carried by GceUserError and GceTransientError. */
export interface GceErrorInfo {
  category: GceErrorCategory;
  /** HTTP status (sync) or the operation's httpErrorStatusCode. */
  httpStatus?: number;
  /** `errors[].reason` (sync) or `error.errors[].code` (operation), e.g. `invalid`, `QUOTA_EXCEEDED`. */
  reason?: string;
  /** The API method, e.g. `RegionBackendServices.update`. */
  method: string;
  /** True when the error came from a DONE operation rather than the synchronous reply. */
  fromOperation: boolean;
  /** The server's message, verbatim. */
  gceMessage: string;
  /**
   * Set when we stopped waiting for an operation that is still running (its fate is unknown): the
   * operation's name. The next attempt of the same insert replays its requestId and so re-observes it.
   */
  pendingOperation?: string;
}

/** Categories that are the user's to fix: reported in a condition, retried only at the slow resync. */
const USER_CATEGORIES: ReadonlySet<GceErrorCategory> = new Set(['invalid', 'constraint', 'ipInUse', 'permission', 'foreign', 'projectNotFound']);

/**
 * Minimum backoff for quota errors: quotas refill per 60 s window at best (cloud.google.com/compute/api-quota)
 * and allocation quotas only when someone raises them (kubernetes/kubernetes#17464): never a hot loop.
 * Not longer than this either: the user who raised the quota gets no event from us, and the Gateway
 * should move within a minute of the fix (the runtime caps every per-key backoff at 60 s).
 */
export const QUOTA_BACKOFF_MS = 30_000;

/**
 * How soon a user error the Compute API reported is re-checked: at least this long, growing with the
 * key's backoff, at most 60 s (runtime/workers.ts USER_RECHECK_MAX_MS). Its fix may be outside
 * Kubernetes, where nobody sends us an event (a project created or its API enabled, an IAM role
 * granted, an org policy changed, a subnetwork created for an `invalid` reference), and a user who
 * fixed it expects the Gateway to move within a minute (issue 13). A fix made in Kubernetes (an
 * ILBConfig, a FleetMember, a Secret) re-runs the Gateway at once instead (keys.ts `requeueNow`).
 * Not re-checked in a loop: errors fleet-ilb detects itself from the spec (`plan`, `ownership`) and
 * an IP in use: only an edit can change those, and the edit sends an event.
 */
export const CLOUD_FIX_RECHECK_MS = 15_000;
const RECHECK_CATEGORIES: ReadonlySet<GceErrorCategory> = new Set(['permission', 'constraint', 'invalid', 'projectNotFound']);
/** Methods of errors fleet-ilb raises itself (not answers of the Compute API). */
const LOCAL_METHODS: ReadonlySet<string> = new Set(['plan', 'ownership']);

/**
 * Bad input or a configuration problem (invalid field, org-policy constraint, IP taken, permission,
 * a name held by a foreign resource): the runtime's UserError (a condition, no hot loop) plus the
 * GCE details. `reason` is the Gateway condition reason (`Invalid`, `AddressNotUsable`).
 */
export class GceUserError extends UserError {
  readonly gce: GceErrorInfo;
  readonly resource?: ResourceRef;
  constructor(reason: string, message: string, gce: GceErrorInfo, resource?: ResourceRef, cause?: unknown) {
    super(reason, message, {
      ...(cause === undefined ? {} : { cause }),
      ...(RECHECK_CATEGORIES.has(gce.category) && !LOCAL_METHODS.has(gce.method) ? { recheckAfterMs: CLOUD_FIX_RECHECK_MS } : {}),
    });
    this.gce = gce;
    if (resource !== undefined) this.resource = resource;
  }
}

/** Worth retrying with backoff (5xx, rate limits, quota, timeouts, conflicts, in-use, not-ready), with GCE details. */
export class GceTransientError extends TransientError {
  readonly gce: GceErrorInfo;
  readonly resource?: ResourceRef;
  constructor(message: string, gce: GceErrorInfo, resource?: ResourceRef, opts: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(message, opts);
    this.gce = gce;
    if (resource !== undefined) this.resource = resource;
  }
}

export type GceFailure = GceUserError | GceTransientError;

/** The GCE details of a classified error (looking through CloudResourceError wrappers). */
export function gceInfo(e: unknown): GceErrorInfo | undefined {
  let x: unknown = e;
  for (let i = 0; i < 8 && isCloudResourceError(x); i++) x = x.cause;
  if (typeof x !== 'object' || x === null) return undefined;
  const g = (x as { gce?: unknown }).gce;
  return typeof g === 'object' && g !== null && typeof (g as GceErrorInfo).category === 'string' ? (g as GceErrorInfo) : undefined;
}

/** The GCE category of a classified error, if it is one. */
export function gceCategory(e: unknown): GceErrorCategory | undefined {
  return gceInfo(e)?.category;
}

/** True when `e` is a classified GCE error of category `c`. */
export function isGceCategory(e: unknown, c: GceErrorCategory): boolean {
  return gceCategory(e) === c;
}

/** The Gateway `Programmed` reason for a user error of this category on this kind. */
function conditionReason(category: GceErrorCategory, resource: ResourceRef | undefined): string {
  if (category === 'ipInUse') return 'AddressNotUsable';
  if (category === 'foreign' && resource?.kind === 'address') return 'AddressNotUsable';
  return 'Invalid';
}

/**
 * Wraps a classified error in the runtime's CloudResourceError so the Gateway condition can name the
 * failing resource (ingress-gce GCEResourceInError). Errors without a resource are returned as is.
 */
export function withResource(e: unknown): unknown {
  if (isCloudResourceError(e)) return e;
  const r = (e as { resource?: ResourceRef } | null)?.resource;
  const g = gceInfo(e);
  if (r === undefined || g === undefined) return e;
  const status = g.httpStatus === undefined ? '' : `Error ${g.httpStatus}: `;
  return new CloudResourceError(r.kind, r.scope === undefined ? r.name : `${r.scope}/${r.name}`, `${g.method}: ${status}${g.gceMessage}`, { cause: e });
}

/** Raw JSON error body pieces we look at. */
interface RawErrorBody {
  error?: { code?: number; message?: string; errors?: Array<{ reason?: string; message?: string }> };
}

function rawReason(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  let payload: unknown;
  try {
    payload = (err as Record<symbol, unknown>)[RAW_PAYLOAD];
  } catch {
    return undefined;
  }
  if (typeof payload !== 'string') return undefined;
  try {
    const body = JSON.parse(payload) as RawErrorBody;
    return body.error?.errors?.find((e) => typeof e.reason === 'string')?.reason;
  } catch {
    return undefined;
  }
}

/** Network-level failures that never produced an HTTP status. */
const NETWORK_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * Maps an HTTP status + reason/code + message to a category. Pure; shared by synchronous errors and
 * failed operations (whose `error.errors[].code` is the UPPER_SNAKE form of the same reasons).
 */
export function categorize(httpStatus: number | undefined, reason: string | undefined, message: string): GceErrorCategory {
  const r = (reason ?? '').toLowerCase().replace(/_/g, '');
  const m = message.toLowerCase();
  if (r === 'ratelimitexceeded' || r === 'userratelimitexceeded' || httpStatus === 429 || m.includes('rate limit exceeded')) {
    return 'rateLimited';
  }
  if (r === 'quotaexceeded' || (m.includes('quota') && m.includes('exceeded'))) return 'quota';
  // Before the in-use check: GCE's IP conflict message also says "is already being used by another
  // resource" (`IP '10.0.0.2' is already being used by another resource.`, op code
  // IP_IN_USE_BY_ANOTHER_RESOURCE, HTTP 409: docs/compute-api.md, ingress-gce
  // `addressAlreadyInUseMessageInternal`). Read as in-use it was retried as transient forever.
  if (r === 'ipinusebyanotherresource' || m.includes('ip_in_use_by_another_resource') || /^ip '[^']*' is already being used/.test(m)) {
    return 'ipInUse';
  }
  if (r === 'resourceinusebyanotherresource' || m.includes('being used by')) return 'inUse';
  if (r === 'resourcenotready' || /\bis not ready\b/.test(m)) return 'notReady';
  if (httpStatus === undefined) return 'timeout';
  // The project itself is unknown (a typo in the ILBConfig, or not created yet); real GCE and the
  // emulator word it "The resource 'projects/<id>' was not found" (test/emulator/engine.ts).
  if (httpStatus === 404) return /^the resource 'projects\/[^/']+' was not found/.test(m) ? 'projectNotFound' : 'notFound';
  if (httpStatus === 409) {
    if (/address\b.*\b(reserved|in use)/.test(m)) return 'ipInUse';
    return r === 'alreadyexists' || r === '' || m.includes('already exists') ? 'alreadyExists' : 'notReady';
  }
  if (httpStatus === 412) return m.includes('constraint') && m.includes('violated') ? 'constraint' : 'fingerprintConflict';
  if (httpStatus === 400) return 'invalid';
  if (httpStatus === 401 || httpStatus === 403) return 'permission';
  if (httpStatus === 408 || httpStatus === 504) return 'timeout';
  if (httpStatus >= 500) return 'server';
  if (httpStatus >= 400) return 'invalid';
  return 'unknown';
}

/** Builds the branded error for a category (user vs transient, with quota's long backoff). */
export function errorFor(info: GceErrorInfo, message: string, resource?: ResourceRef, cause?: unknown): GceFailure {
  if (USER_CATEGORIES.has(info.category)) return new GceUserError(conditionReason(info.category, resource), message, info, resource, cause);
  return new GceTransientError(message, info, resource, {
    ...(cause === undefined ? {} : { cause }),
    ...(info.category === 'quota' ? { retryAfterMs: QUOTA_BACKOFF_MS } : {}),
  });
}

function describeResource(resource: ResourceRef | undefined): string {
  if (resource === undefined) return '';
  return ` ${resource.kind} ${resource.scope === undefined ? '' : `${resource.scope}/`}${resource.name}`;
}

/**
 * Classifies an error thrown by a @google-cloud/compute call (a gax GoogleError, a network error,
 * or anything else) into a UserError or TransientError carrying GceErrorInfo.
 * Message form (what conditions show): `<method><resource>: Error <status>: <message>, <reason>`,
 * like googleapi.Error's `Error 400: <message>, <reason>`.
 */
export function classifyCallError(err: unknown, method: string, resource?: ResourceRef): GceFailure {
  if ((isUserError(err) || isTransientError(err)) && gceInfo(err) !== undefined) return err as GceFailure;
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    httpStatusCode?: unknown;
    message?: unknown;
    code?: unknown;
    cause?: { code?: unknown };
  };
  const httpStatus = typeof e.httpStatusCode === 'number' ? e.httpStatusCode : undefined;
  const gceMessage = typeof e.message === 'string' ? e.message : String(err);
  const reason = rawReason(err);
  let category = categorize(httpStatus, reason, gceMessage);
  if (httpStatus === undefined) {
    // No HTTP status: deadline, socket error, or a local bug. Only the first two are transient.
    const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : undefined;
    const networky =
      (code !== undefined && NETWORK_ERROR_CODES.has(code)) ||
      e.code === 4 /* DEADLINE_EXCEEDED */ ||
      e.code === 14 /* UNAVAILABLE */ ||
      /timeout|timed out|deadline|socket|network|fetch failed|aborted/i.test(gceMessage);
    category = networky ? 'timeout' : 'unknown';
  }
  const info: GceErrorInfo = {
    category,
    method,
    fromOperation: false,
    gceMessage,
    ...(httpStatus === undefined ? {} : { httpStatus }),
    ...(reason === undefined ? {} : { reason }),
  };
  const status = httpStatus === undefined ? '' : `Error ${httpStatus}: `;
  const msg = `${method}${describeResource(resource)}: ${status}${gceMessage}${reason === undefined ? '' : `, ${reason}`}`;
  return errorFor(info, msg, resource, err);
}

/** The parts of a compute Operation we read. */
export interface OperationLike {
  name?: string | null;
  httpErrorStatusCode?: number | null;
  httpErrorMessage?: string | null;
  error?: { errors?: Array<{ code?: string | null; message?: string | null }> | null } | null;
}

/**
 * Converts a DONE operation carrying `error` into a branded error, in k8s-cloud-provider's form
 * (pkg/cloud/op.go: googleapi.Error{Code: httpErrorStatusCode, Message: "<code> - <message>"}), which is
 * what GKE events show ("Error 400: RESOURCE_IN_USE_BY_ANOTHER_RESOURCE - The ... is already being used by").
 * Returns undefined when the operation succeeded.
 */
export function operationError(op: OperationLike, method: string, resource?: ResourceRef): GceFailure | undefined {
  const errs = op.error?.errors ?? [];
  if (errs.length === 0) return undefined;
  const first = errs[0] ?? {};
  const code = first.code ?? 'UNKNOWN';
  const gceMessage = errs.map((x) => `${x.code ?? 'UNKNOWN'} - ${x.message ?? ''}`).join('; ');
  const httpStatus = op.httpErrorStatusCode ?? undefined;
  const category = categorize(httpStatus ?? 500, code, first.message ?? '');
  const info: GceErrorInfo = {
    category,
    method,
    fromOperation: true,
    gceMessage,
    reason: code,
    ...(httpStatus === undefined ? {} : { httpStatus }),
  };
  const msg = `${method}${describeResource(resource)}: Error ${httpStatus ?? '?'}: ${gceMessage} (operation ${op.name ?? '?'})`;
  return errorFor(info, msg, resource);
}

/** The error for a name held by a resource without our stamp (or another Gateway's stamp). */
export function foreignError(resource: ResourceRef, owner: string): GceUserError {
  const where = `${resource.kind} ${resource.scope === undefined ? '' : `${resource.scope}/`}${resource.name}`;
  const info: GceErrorInfo = { category: 'foreign', method: 'ownership', fromOperation: false, gceMessage: `name in use by a resource fleet-ilb does not own (${owner})` };
  return new GceUserError(conditionReason('foreign', resource), `name in use by a resource fleet-ilb does not own: ${where} (${owner})`, info, resource);
}

/** A user error fleet-ilb itself detects about one resource (e.g. an immutable NEG still in use). */
export function userErrorFor(resource: ResourceRef, message: string): GceUserError {
  const info: GceErrorInfo = { category: 'invalid', method: 'plan', fromOperation: false, gceMessage: message };
  return new GceUserError('Invalid', message, info, resource);
}

/** The Gateway's address cannot be used (Gateway `Programmed=False/AddressNotUsable`). */
export function addressNotUsable(resource: ResourceRef, message: string): GceUserError {
  const info: GceErrorInfo = { category: 'invalid', method: 'plan', fromOperation: false, gceMessage: message };
  return new GceUserError('AddressNotUsable', message, info, resource);
}

/** A transient error fleet-ilb itself detects (e.g. an operation past our deadline). */
export function transientErrorFor(category: GceErrorCategory, method: string, message: string, resource?: ResourceRef): GceTransientError {
  return new GceTransientError(message, { category, method, fromOperation: false, gceMessage: message }, resource);
}

/**
 * The Gateway `Programmed=False` reason for a failed apply (Gateway API v1.6 GatewayConditionReason):
 * `NoResources` for an exhausted allocation quota ("insufficient infrastructure resources", e.g.
 * `QUOTA_EXCEEDED` / 403 quotaExceeded), `AddressNotUsable` for an address problem (IP in use, a
 * foreign address), `Invalid` for any other user error, `Pending` for a transient error (5xx, rate
 * limit, timeout, in use, not ready) that the runtime retries. `undefined` when `err` is not a
 * classified GCE error. For the status composer (compose) to call on an apply outcome.
 */
export function gatewayReasonFor(err: unknown): 'NoResources' | 'AddressNotUsable' | 'Invalid' | 'Pending' | undefined {
  const info = gceInfo(err);
  if (info === undefined) return undefined;
  if (info.category === 'quota') return 'NoResources';
  let x: unknown = err;
  for (let i = 0; i < 8 && isCloudResourceError(x); i++) x = x.cause;
  if (isUserError(x)) return x.reason === 'AddressNotUsable' ? 'AddressNotUsable' : 'Invalid';
  return 'Pending';
}

/** True for an exhausted allocation quota (not a rate limit): `Programmed=False/NoResources`. */
export function isQuotaError(err: unknown): boolean {
  return gceCategory(err) === 'quota';
}

/** True when the outcome of a mutating call is unknown (timeout, 5xx before an operation, an operation we stopped waiting for). */
export function isAmbiguousWriteError(err: unknown): boolean {
  const info = gceInfo(err);
  if (info === undefined || info.fromOperation) return false;
  return info.category === 'timeout' || info.category === 'server' || info.category === 'unknown';
}
