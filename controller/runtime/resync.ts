// SPDX-License-Identifier: Apache-2.0
//
// Periodic resync: every interval (± jitter) every key is re-queued at LOW priority, spread over a
// window instead of all at once.
// * Jitter: controller-runtime's `SyncPeriod` is 10 h ± 10 % "so that all controllers will not
//   send list requests simultaneously" (`pkg/cache/cache.go`); resync herds hurt real users
//   (argoproj/argo-cd#29767, GoogleCloudPlatform/k8s-config-connector#504).
// * Low priority: a full re-reconcile must not delay fresh edits (controller-runtime
//   `designs/priorityqueue.md`; battery F2 (docs/failure-rules.md) "new edits still reconcile ≤30 s during it").
// * Spread: battery F2 wants the resync spread over ≥ 5 min, not a burst of GCE reads.
// A resync that changes anything is drift; reconcilers count such writes
// (`fleetilb_resync_writes_total`, battery A5).
import { type Log, silentLog } from '../telemetry/logger.ts';
import type { WorkQueue } from './workqueue.ts';

/** Options of {@link startResync}. */
export interface ResyncOptions<K extends string> {
  queue: WorkQueue<K>;
  /** The keys to re-check (evaluated at each tick: Gateways known at that moment). */
  keys: () => Iterable<K>;
  /** Base period. */
  intervalMs: number;
  /** Each period is stretched by up to this fraction. Defaults to 0.1. */
  jitter?: number;
  /** Keys are spread evenly over this window. Defaults to min(intervalMs / 2, 5 min). */
  spreadMs?: number;
  random?: () => number;
  log?: Log;
}

/** Options of {@link spreadKeys}. */
export interface SpreadOptions<K extends string> {
  queue: WorkQueue<K>;
  keys: readonly K[];
  /** The window the keys are spread over. */
  spreadMs: number;
  /**
   * The largest gap between two keys (default 1 s): a small fleet is done in seconds, a large one
   * uses the whole window (1000 Gateways over 5 min: one every 300 ms).
   */
  maxGapMs?: number;
  /** Called for each key just before it is queued (the controller marks resync reconciles). */
  onKey?: (key: K) => void;
}

/**
 * Queue `keys` at LOW priority, evenly spaced over `spreadMs` (gap = min(spreadMs / n, maxGapMs)),
 * the first at once. Returns a cancel function for the keys not queued yet.
 */
export function spreadKeys<K extends string>(opts: SpreadOptions<K>): () => void {
  const n = opts.keys.length;
  const gap = n > 1 ? Math.min(opts.spreadMs / n, opts.maxGapMs ?? 1_000) : 0;
  const timers: Array<ReturnType<typeof setTimeout>> = [];
  const enqueue = (k: K): void => {
    opts.onKey?.(k);
    opts.queue.add(k, { priority: 'low' });
  };
  opts.keys.forEach((k, i) => {
    if (i === 0 || !(gap > 0)) {
      enqueue(k);
      return;
    }
    const t = setTimeout(() => enqueue(k), gap * i);
    t.unref?.();
    timers.push(t);
  });
  return () => {
    for (const t of timers) clearTimeout(t);
  };
}

/** Handle of a running resync. */
export interface Resync {
  /** Queue every key now (spread), without changing the schedule. */
  runNow(): number;
  stop(): void;
}

/** Start the periodic resync; the first one happens after one (jittered) interval. */
export function startResync<K extends string>(opts: ResyncOptions<K>): Resync {
  const random = opts.random ?? Math.random;
  const jitter = opts.jitter ?? 0.1;
  const spread = opts.spreadMs ?? Math.min(opts.intervalMs / 2, 300_000);
  const log = (opts.log ?? silentLog).child({ component: 'resync' });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let cancel = (): void => {};

  const runNow = (): number => {
    const keys = [...opts.keys()];
    cancel();
    cancel = spreadKeys({ queue: opts.queue, keys, spreadMs: spread, maxGapMs: Number.POSITIVE_INFINITY });
    log.info({ keys: keys.length, spreadMs: spread }, 'periodic resync');
    return keys.length;
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      runNow();
      schedule();
    }, opts.intervalMs * (1 + jitter * random()));
    timer.unref?.();
  };
  schedule();
  return {
    runNow,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      cancel();
    },
  };
}
