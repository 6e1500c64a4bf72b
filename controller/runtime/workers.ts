// SPDX-License-Identifier: Apache-2.0
//
// N workers over a WorkQueue, with controller-runtime's result handling
// (`pkg/internal/controller/controller.go` `reconcileHandler`):
//   success                → forget (reset backoff)
//   { requeueAfterMs > 0 } → forget + addAfter (periodic re-check, not a failure)
//   error                  → addRateLimited (per-key backoff; a TransientError's retryAfterMs is a floor)
//   UserError / TerminalError / FencedError → forget, no requeue (errors/index.ts `retryPolicy`)
//   UserError with recheckAfterMs (fixed outside Kubernetes: quota, IAM) → re-checked with the
//                            key's backoff, at least recheckAfterMs, at most USER_RECHECK_MAX_MS
// A reconcile that throws synchronously or rejects never kills its worker.
import { type RetryPolicy, retryPolicy } from '../errors/index.ts';
import { type Clock, monotonicClock } from './clock.ts';
import type { WorkQueue } from './workqueue.ts';

/**
 * The longest a user error fixed outside Kubernetes waits for its re-check: nobody sends us an event
 * when a quota is raised or a role granted, and a user who fixed it expects to see the Gateway move
 * within a minute.
 */
export const USER_RECHECK_MAX_MS = 60_000;

/** What a reconcile may ask for. `undefined` = done, nothing to schedule. */
export interface ReconcileResult {
  /** Reconcile again after this delay (e.g. waiting for a GCE operation or a TTL). */
  requeueAfterMs?: number;
}

/** Outcome label for metrics and logs. */
export type ReconcileOutcome = 'success' | 'requeue' | 'error' | 'user_error' | 'terminal' | 'fenced';

/** Called after every reconcile (metrics, logging). */
export interface ReconcileObserver<K> {
  (info: { key: K; outcome: ReconcileOutcome; durationMs: number; error?: unknown; retryInMs?: number }): void;
}

/** Options of {@link runWorkers}. */
export interface RunWorkersOptions<K extends string> {
  queue: WorkQueue<K>;
  reconcile: (key: K) => Promise<ReconcileResult | undefined | void>;
  /** Concurrent workers. Defaults to 1 (controller-runtime `MaxConcurrentReconciles`). */
  workers?: number;
  observe?: ReconcileObserver<K>;
  clock?: Clock;
}

/** Handle of running workers. */
export interface Workers {
  /** Resolves when every worker has exited (after the queue shut down). */
  readonly finished: Promise<void>;
}

/**
 * How a failed reconcile is retried (the options of `queue.addRateLimited`), or undefined when it is
 * not retried automatically. The workers use it, and so does a reconcile that wants to say in its
 * status when the retry is (`queue.planRetry(key, retryOptionsFor(err))`).
 */
export function retryOptionsFor(err: unknown): { minDelayMs?: number; maxDelayMs?: number } | undefined {
  const policy = retryPolicy(err);
  if (policy.kind === 'backoff') return policy.minDelayMs === undefined ? {} : { minDelayMs: policy.minDelayMs };
  if (policy.recheckAfterMs !== undefined) return { minDelayMs: Math.min(policy.recheckAfterMs, USER_RECHECK_MAX_MS), maxDelayMs: USER_RECHECK_MAX_MS };
  return undefined;
}

function outcomeOf(policy: RetryPolicy): ReconcileOutcome {
  if (policy.kind === 'backoff') return 'error';
  return policy.reason === 'user' ? 'user_error' : policy.reason;
}

/**
 * Start `workers` loops that take keys from `queue` and reconcile them until the queue shuts down.
 * Stop them with `queue.shutDown()` / `queue.shutDownWithDrain()`.
 */
export function runWorkers<K extends string>(opts: RunWorkersOptions<K>): Workers {
  const clock = opts.clock ?? monotonicClock;
  const n = Math.max(1, opts.workers ?? 1);
  const { queue } = opts;

  const handle = async (key: K): Promise<void> => {
    const start = clock.now();
    let outcome: ReconcileOutcome = 'success';
    let error: unknown;
    let retryInMs: number | undefined;
    try {
      const res = await opts.reconcile(key);
      if (res && res.requeueAfterMs !== undefined && res.requeueAfterMs > 0) {
        outcome = 'requeue';
        queue.forget(key);
        queue.addAfter(key, res.requeueAfterMs);
        retryInMs = res.requeueAfterMs;
      } else {
        queue.forget(key);
      }
    } catch (err) {
      error = err;
      outcome = outcomeOf(retryPolicy(err));
      const retry = retryOptionsFor(err);
      if (retry !== undefined) retryInMs = queue.addRateLimited(key, retry);
      else queue.forget(key);
    } finally {
      queue.done(key);
    }
    try {
      opts.observe?.({ key, outcome, durationMs: clock.now() - start, error, ...(retryInMs === undefined ? {} : { retryInMs }) });
    } catch {
      // An observer bug must not stop the worker.
    }
  };

  const loop = async (): Promise<void> => {
    for (;;) {
      const item = await queue.get();
      if (item.shutdown) return;
      await handle(item.key);
    }
  };

  const finished = Promise.all(Array.from({ length: n }, () => loop())).then(() => undefined);
  return { finished };
}
