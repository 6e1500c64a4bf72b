// SPDX-License-Identifier: Apache-2.0
//
// The controller's error taxonomy. Errors are told apart by a brand stored under a
// `Symbol.for(...)` key, not by `instanceof` or message matching: `Symbol.for` is process-global,
// so a guard still works when two copies of this module are loaded (the AWS CDK pattern,
// `aws-cdk-lib/core/lib/errors.ts`). Every guard accepts `unknown` because that is what `catch`
// gives us.
//
// How the runtime treats each kind (controller-runtime `reconcileHandler`; ingress-gce
// `IsUserError`/`skipUserError`):
//   UserError          bad spec → a condition on the object, never a hot retry (only a new event
//                      or the periodic resync reconciles it again).
//   TransientError     5xx, 429, conflicts, timeouts → per-key exponential backoff.
//   CloudResourceError a GCE call on one named resource failed; wraps the classified cause so a
//                      condition can name the failing resource (`kind`, `name`).
//   TerminalError      retrying cannot help (controller-runtime `reconcile.TerminalError`): logged,
//                      counted, not requeued.
//   FencedError        a write was refused because this replica may no longer be the leader
//                      (docs/failure-rules.md "A deposed leader makes no write"); not retried by
//                      the queue.

const BRAND = Symbol.for('fleetilb.io/error');

/** The literal kinds of fleet-ilb errors. */
export type ErrorKind = 'UserError' | 'TransientError' | 'CloudResourceError' | 'TerminalError' | 'FencedError';

interface Branded {
  readonly [BRAND]: ErrorKind;
}

function brandOf(x: unknown): ErrorKind | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const v = (x as Partial<Branded>)[BRAND];
  return typeof v === 'string' ? v : undefined;
}

function brand(e: Error, kind: ErrorKind): void {
  // Non-enumerable so that logging/JSON of the error stays clean.
  Object.defineProperty(e, BRAND, { value: kind, enumerable: false });
}

/** Options common to every fleet-ilb error. */
export interface FleetErrorOptions {
  cause?: unknown;
}

/** Options of a UserError. */
export interface UserErrorOptions extends FleetErrorOptions {
  /**
   * The fix happens outside Kubernetes (a GCE quota raised, an IAM role granted, a foreign resource
   * removed): no event will tell us, so the runtime re-checks after at least this long, with the
   * key's backoff capped at 60 s (runtime/workers.ts). Absent = only a new event or the resync.
   */
  recheckAfterMs?: number;
}

/**
 * The object's spec is wrong; the fix is a user edit. Carries the condition `reason` the status
 * writer should set (e.g. `InvalidParameters`, `RefNotPermitted`).
 */
export class UserError extends Error {
  /** The condition reason (a Gateway API / fleet-ilb reason string). */
  readonly reason: string;
  /** The literal kind (also available through the guard). */
  readonly kind = 'UserError' as const;
  /** See {@link UserErrorOptions.recheckAfterMs}. */
  readonly recheckAfterMs: number | undefined;
  constructor(reason: string, message: string, opts: UserErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'UserError';
    this.reason = reason;
    this.recheckAfterMs = opts.recheckAfterMs;
    brand(this, 'UserError');
  }
}

/** Options of a TransientError. */
export interface TransientErrorOptions extends FleetErrorOptions {
  /** A server-suggested delay (Retry-After, a quota window): the queue waits at least this long. */
  retryAfterMs?: number;
}

/** Retrying later may succeed (5xx, 429, 403 rateLimitExceeded, 409, timeouts). */
export class TransientError extends Error {
  readonly retryAfterMs: number | undefined;
  readonly kind = 'TransientError' as const;
  constructor(message: string, opts: TransientErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TransientError';
    this.retryAfterMs = opts.retryAfterMs;
    brand(this, 'TransientError');
  }
}

/**
 * A GCE call on one resource failed. `cause` holds the classified error (UserError, TransientError,
 * TerminalError, or a raw error = transient); `resourceKind`/`resourceName` name the resource so the
 * Gateway condition can say which one (ingress-gce `GCEResourceInError`).
 */
export class CloudResourceError extends Error {
  /** GCE kind, e.g. `forwardingRule`, `regionBackendService`. */
  readonly resourceKind: string;
  readonly resourceName: string;
  readonly kind = 'CloudResourceError' as const;
  constructor(resourceKind: string, resourceName: string, message: string, opts: FleetErrorOptions = {}) {
    super(`${resourceKind} ${resourceName}: ${message}`, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CloudResourceError';
    this.resourceKind = resourceKind;
    this.resourceName = resourceName;
    brand(this, 'CloudResourceError');
  }
}

/** Retrying cannot help (controller-runtime `reconcile.TerminalError`). */
export class TerminalError extends Error {
  readonly kind = 'TerminalError' as const;
  constructor(message: string, opts: FleetErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TerminalError';
    brand(this, 'TerminalError');
  }
}

/** A write refused by the leader-election fence (runtime/fence.ts). */
export class FencedError extends Error {
  readonly kind = 'FencedError' as const;
  constructor(message = 'write refused: this replica does not hold a valid leader lease') {
    super(message);
    this.name = 'FencedError';
    brand(this, 'FencedError');
  }
}

/** True for a {@link UserError} (from any copy of this module). */
export function isUserError(x: unknown): x is UserError {
  return brandOf(x) === 'UserError';
}
/** True for a {@link TransientError}. */
export function isTransientError(x: unknown): x is TransientError {
  return brandOf(x) === 'TransientError';
}
/** True for a {@link CloudResourceError}. */
export function isCloudResourceError(x: unknown): x is CloudResourceError {
  return brandOf(x) === 'CloudResourceError';
}
/** True for a {@link TerminalError}. */
export function isTerminalError(x: unknown): x is TerminalError {
  return brandOf(x) === 'TerminalError';
}
/** True for a {@link FencedError}. */
export function isFencedError(x: unknown): x is FencedError {
  return brandOf(x) === 'FencedError';
}

/** How the work queue must treat a reconcile failure. */
export type RetryPolicy =
  /** Per-key exponential backoff (the default for anything unclassified). */
  | { kind: 'backoff'; minDelayMs?: number }
  /**
   * Do not retry in a loop: a condition/event already tells the user (UserError) or nothing can
   * help. `recheckAfterMs`: a user error fixed outside Kubernetes, re-checked (slowly) after that.
   */
  | { kind: 'none'; reason: 'user' | 'terminal' | 'fenced'; recheckAfterMs?: number };

/**
 * The retry decision for an error, looking through `CloudResourceError` wrappers. Unknown errors are
 * transient: a bug should not silently stop reconciling a Gateway (controller-runtime requeues any
 * non-terminal error with backoff).
 */
export function retryPolicy(err: unknown): RetryPolicy {
  let e: unknown = err;
  // Unwrap CloudResourceError chains (bounded: a malformed cycle must not hang us).
  for (let i = 0; i < 8 && isCloudResourceError(e); i++) e = e.cause;
  if (isUserError(e)) {
    const r = (e as { recheckAfterMs?: unknown }).recheckAfterMs;
    return typeof r === 'number' && r > 0 ? { kind: 'none', reason: 'user', recheckAfterMs: r } : { kind: 'none', reason: 'user' };
  }
  if (isTerminalError(e)) return { kind: 'none', reason: 'terminal' };
  if (isFencedError(e)) return { kind: 'none', reason: 'fenced' };
  if (isTransientError(e) && e.retryAfterMs !== undefined) return { kind: 'backoff', minDelayMs: e.retryAfterMs };
  return { kind: 'backoff' };
}

/** A short, log-safe description of any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}
