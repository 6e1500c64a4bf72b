// SPDX-License-Identifier: Apache-2.0
//
// The controller's Prometheus metrics (prom-client), in one registry per controller instance so
// tests can build several without global collisions. Names follow the Prometheus conventions
// (`_total`, `_seconds`); the set mirrors what ingress-gce exports for the same SLOs
// (`pkg/neg/metrics/metrics.go`: sync duration, GCE request count/latency, error count). The
// adapters at the bottom plug the runtime's hook interfaces (QueueMetrics, ReflectorMetrics,
// ReconcileObserver, the GCE client's onCall) into these metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReflectorMetrics } from '../runtime/reflector.ts';
import type { ReconcileObserver } from '../runtime/workers.ts';
import type { QueueMetrics } from '../runtime/workqueue.ts';

/** All controller metrics. */
export interface ControllerMetrics {
  registry: Registry;
  reconcileDuration: Histogram<'result'>;
  queueDepth: Gauge<'queue'>;
  queueAdds: Counter<'queue'>;
  queueRetries: Counter<'queue'>;
  queueLatency: Histogram<'queue'>;
  gceCalls: Counter<'method' | 'outcome' | 'priority'>;
  gceCallDuration: Histogram<'method'>;
  negEndpoints: Gauge<'neg' | 'zone'>;
  memberReachable: Gauge<'member'>;
  backendEndpoints: Gauge<'gateway' | 'member' | 'health'>;
  healthPeriod: Gauge;
  leader: Gauge;
  watchRestarts: Counter<'cluster' | 'resource' | 'reason'>;
  reflectorSynced: Gauge<'cluster' | 'resource'>;
  listDuration: Histogram<'cluster' | 'resource'>;
  resyncWrites: Counter<'target'>;
  eventsDropped: Counter<'reason'>;
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Defaults to a new Registry. */
  registry?: Registry;
  /** Also export Node process metrics (CPU, RSS, event-loop lag). Defaults to false. */
  processMetrics?: boolean;
}

/** Build the controller's metrics in `registry`. */
export function createMetrics(opts: MetricsOptions = {}): ControllerMetrics {
  const registry = opts.registry ?? new Registry();
  if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'fleetilb_' });
  const registers = [registry];
  return {
    registry,
    reconcileDuration: new Histogram({
      name: 'fleetilb_reconcile_duration_seconds',
      help: 'Duration of one Gateway reconcile, by result (success, requeue, error, user_error, terminal, fenced).',
      labelNames: ['result'],
      // A reconcile waits on GCE operations: seconds to minutes (ingress-gce uses 1-4096 s for NEG ops);
      // one that writes nothing takes milliseconds, which the low buckets resolve (bench:scale's
      // one-endpoint change compares them across fleet sizes).
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    }),
    queueDepth: new Gauge({ name: 'fleetilb_workqueue_depth', help: 'Keys waiting for a worker.', labelNames: ['queue'], registers }),
    queueAdds: new Counter({ name: 'fleetilb_workqueue_adds_total', help: 'Keys that became dirty (after de-duplication).', labelNames: ['queue'], registers }),
    queueRetries: new Counter({ name: 'fleetilb_workqueue_retries_total', help: 'Rate-limited re-adds after a failed reconcile.', labelNames: ['queue'], registers }),
    queueLatency: new Histogram({
      name: 'fleetilb_workqueue_queue_duration_seconds',
      help: 'Time from a key becoming dirty to a worker taking it.',
      labelNames: ['queue'],
      buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers,
    }),
    gceCalls: new Counter({
      name: 'fleetilb_gce_calls_total',
      help: 'Compute API calls by method, outcome and budget lane (priority: high = reconciles, low = resync, inventory refresh, sweep).',
      labelNames: ['method', 'outcome', 'priority'],
      registers,
    }),
    gceCallDuration: new Histogram({
      name: 'fleetilb_gce_call_duration_seconds',
      help: 'Compute API call latency by method.',
      labelNames: ['method'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    negEndpoints: new Gauge({ name: 'fleetilb_neg_endpoints', help: 'Endpoints attached to each NEG fleet-ilb manages.', labelNames: ['neg', 'zone'], registers }),
    memberReachable: new Gauge({ name: 'fleetilb_member_reachable', help: '1 if the member cluster answers with valid credentials, 0 if frozen.', labelNames: ['member'], registers }),
    // One series per Gateway x member x {healthy, unhealthy}: bounded by the fleet's size, never per
    // endpoint or NEG (nodes come and go; `fleet-ilb status` lists them). Removed with the Gateway.
    backendEndpoints: new Gauge({
      name: 'fleetilb_backend_endpoints',
      help: "Backend endpoints of a Gateway per member cluster as GCE's health checks judge them (health: healthy, unhealthy; not yet judged counts as neither), summed over its backend services.",
      labelNames: ['gateway', 'member', 'health'],
      registers,
    }),
    healthPeriod: new Gauge({
      name: 'fleetilb_backend_health_period_seconds',
      help: "How long the backend-health reader's current pass over every backend takes: --health-period, or longer when that many getHealth reads do not fit in --health-read-share of the read budget.",
      registers,
    }),
    leader: new Gauge({ name: 'fleetilb_leader', help: '1 while this replica holds the leader lease and may write.', registers }),
    watchRestarts: new Counter({
      name: 'fleetilb_watch_restarts_total',
      help: 'Watches reopened, by reason (closed, timeout, idle, gone, relist, error).',
      labelNames: ['cluster', 'resource', 'reason'],
      registers,
    }),
    reflectorSynced: new Gauge({ name: 'fleetilb_reflector_synced', help: '1 once the reflector completed its first list.', labelNames: ['cluster', 'resource'], registers }),
    listDuration: new Histogram({
      name: 'fleetilb_list_duration_seconds',
      help: 'Duration of full (paginated) LISTs.',
      labelNames: ['cluster', 'resource'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
      registers,
    }),
    resyncWrites: new Counter({
      name: 'fleetilb_resync_writes_total',
      help: 'Writes made by a periodic resync (drift: should stay 0 when nothing changed; battery A5).',
      labelNames: ['target'],
      registers,
    }),
    eventsDropped: new Counter({ name: 'fleetilb_events_dropped_total', help: 'Kubernetes Events not sent, by reason (rate_limited, fenced, error).', labelNames: ['reason'], registers }),
  };
}

/** QueueMetrics for WorkQueue `name`. */
export function queueMetrics(m: ControllerMetrics, name: string): QueueMetrics {
  return {
    depth: (n) => m.queueDepth.set({ queue: name }, n),
    add: () => m.queueAdds.inc({ queue: name }),
    retry: () => m.queueRetries.inc({ queue: name }),
    queueLatency: (ms) => m.queueLatency.observe({ queue: name }, ms / 1000),
  };
}

/** ReflectorMetrics for one (cluster, resource). */
export function reflectorMetrics(m: ControllerMetrics, cluster: string, resource: string): ReflectorMetrics {
  return {
    watchRestart: (reason) => m.watchRestarts.inc({ cluster, resource, reason }),
    listed: (_count, ms) => {
      m.listDuration.observe({ cluster, resource }, ms / 1000);
      m.reflectorSynced.set({ cluster, resource }, 1);
    },
  };
}

/** A ReconcileObserver feeding the reconcile histogram. */
export function reconcileObserver<K>(m: ControllerMetrics): ReconcileObserver<K> {
  return ({ outcome, durationMs }) => m.reconcileDuration.observe({ result: outcome }, durationMs / 1000);
}

/** An `onCall` hook for the GCE cloud client (structurally its GceCallEvent). */
export function gceCallObserver(m: ControllerMetrics): (e: { method: string; outcome: string; latencyMs: number; priority?: string }) => void {
  return (e) => {
    m.gceCalls.inc({ method: e.method, outcome: e.outcome, priority: e.priority ?? 'high' });
    m.gceCallDuration.observe({ method: e.method }, e.latencyMs / 1000);
  };
}
