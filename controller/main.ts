// SPDX-License-Identifier: Apache-2.0
//
// `fleet-ilb controller`: builds the clients, the provider, the reconciler and the runtime, and runs
// them until SIGTERM/SIGINT. `startController` is the same program as a library (tests, the demo).
//
// Lifecycle (controller-runtime's manager, kubernetes-testing-and-client.md §3.7, §5):
//   1. watch every cluster (all replicas: a standby has warm caches for a fast takeover);
//   2. campaign for the Lease; only the leader runs workers, resync and sweep, and every write goes
//      through the elector's fence (a deposed leader makes no write, DESIGN.md §6);
//   3. on losing the lease: stop at once (the process exits; the Deployment restarts it);
//   4. on SIGTERM: stop the workers (drain), release the lease, stop the watches.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { PassThroughClient } from 'google-auth-library';
import { z } from 'zod';
import { ClusterClient } from './clusters/client.ts';
import { errorMessage } from './errors/index.ts';
import { GceCloud, type ComputeClientOptions } from './infra/gcp/cloud/client.ts';
import { FleetProvider, type Change } from './provider/index.ts';
import { GLOBAL_KEY, gatewayKey, Reconciler } from './reconciler.ts';
import type { RefreshStats } from './infra/gcp/inventory.ts';
import { openFence, type Fence } from './runtime/fence.ts';
import { kubeLeaseClient, LeaderElector } from './runtime/leaderelection.ts';
import { runWorkers } from './runtime/workers.ts';
import { WorkQueue } from './runtime/workqueue.ts';
import { EventRecorder, kubeEventSink } from './telemetry/events.ts';
import { createLogger, type Log } from './telemetry/logger.ts';
import { createMetrics, gceCallObserver, queueMetrics, reconcileObserver, type ControllerMetrics } from './telemetry/metrics.ts';
import { HealthServer } from './telemetry/server.ts';
import { CONTROLLER_NAME } from './naming/stamp.ts';
import { makeWriters } from './writers.ts';
import { keysForChange } from './keys.ts';
import { ControllerOptionsSchema, controllerFlagsMarkdown, controllerUsage, parseControllerArgs, UsageRequested, type ControllerOptions } from './options.ts';

// Settings, flags, environment and help are declared once, in options.ts.
export { ControllerOptionsSchema, parseControllerArgs, type ControllerOptions } from './options.ts';

/** A running controller. */
export interface RunningController {
  readonly fleetId: string;
  readonly reconciler: Reconciler;
  readonly provider: FleetProvider;
  readonly metrics: ControllerMetrics;
  /** http://host:port of /healthz, /readyz, /metrics. */
  readonly healthUrl: string;
  isLeader(): boolean;
  ready(): boolean;
  /**
   * What the periodic resync does, now: refresh the shared GCE inventory, then enqueue every Gateway
   * (low priority). Resolves with what the refresh read, once every key is enqueued.
   */
  resyncAll(): Promise<RefreshStats>;
  /** Resolves when the controller stopped by itself (lease lost) or by stop(). */
  readonly done: Promise<'stopped' | 'lease-lost'>;
  stop(): Promise<void>;
}

/** Starts the controller; resolves once it serves health endpoints and watches every cluster. */
export async function startController(input: ControllerOptions, log?: Log): Promise<RunningController> {
  const o = ControllerOptionsSchema.parse(input);
  const logger = log ?? createLogger({ level: o.logLevel });
  const metrics = createMetrics({ processMetrics: true });
  const config = o.kubeconfig === undefined ? ClusterClient.inCluster('config') : ClusterClient.fromFile('config', o.kubeconfig);
  const fleetId = o.fleetId ?? (await defaultFleetId(config));
  const identity = o.identity ?? `${hostname()}-${randomBytes(4).toString('hex')}`;

  // Leader election first: its fence guards every writer below.
  let elector: LeaderElector | undefined;
  let fence: Fence = openFence;
  if (o.leaderElect) {
    elector = new LeaderElector({
      lease: kubeLeaseClient(config, o.namespace, o.leaseName),
      identity,
      leaseDurationMs: o.leaseDurationMs,
      renewDeadlineMs: o.renewDeadlineMs,
      retryPeriodMs: o.retryPeriodMs,
      log: logger,
    });
    fence = elector;
  }

  const queue = new WorkQueue<string>({ metrics: queueMetrics(metrics, 'gateways') });
  const health = new HealthServer({ ...hostPort(o.metricsAddr), registry: metrics.registry, log: logger });
  const provider: FleetProvider = new FleetProvider({
    config,
    namespace: o.namespace,
    fleetId,
    settings: { mcsImporter: o.mcsImporter },
    log: logger,
    metrics,
    onReflector: (r, change) => {
      if (change === 'added' && r.cluster === 'config') health.registerReflector(r);
    },
    onChange: (c: Change) => {
      for (const k of keysForChange(c, provider)) queue.add(k);
    },
  });

  const clientOptions: ComputeClientOptions = {};
  if (o.computeEndpoint !== undefined) {
    const u = new URL(o.computeEndpoint);
    clientOptions.apiEndpoint = u.hostname;
    clientOptions.port = Number(u.port || (u.protocol === 'http:' ? 80 : 443));
    clientOptions.protocol = u.protocol === 'http:' ? 'http' : 'https';
    // A local endpoint (the emulator) takes no credentials; never hunt for ADC there.
    clientOptions.authClient = new PassThroughClient();
  }
  const cloud = new GceCloud({
    project: o.project,
    clientOptions,
    onCall: gceCallObserver(metrics),
    canWrite: () => fence.canWrite(),
  });
  const events = new EventRecorder({ sink: kubeEventSink(config), controller: CONTROLLER_NAME, instance: identity, fence, log: logger });
  const writers = makeWriters({ config, provider, fleetId, fence, log: logger, mcsImporter: o.mcsImporter });
  const reconciler = new Reconciler({ provider, cloud, fleetId, writers, fence, events, metrics, log: logger, sweepMinAgeMs: o.sweepMinAgeMs });

  const port = await health.listen();
  if (elector !== undefined) health.registerElector(elector);
  health.addReadinessCheck('members', () => ({
    ok: provider.members.members().every((m) => m.synced || m.frozen),
    detail: 'member caches not synced',
  }));
  await provider.start();

  const stopCtl = new AbortController();
  const timers: Array<ReturnType<typeof setTimeout>> = [];
  const resyncAll = (): void => {
    queue.add(GLOBAL_KEY, { priority: 'low' });
    for (const g of provider.list<{ metadata: { namespace?: string; name: string } }>('gateways')) {
      queue.add(gatewayKey(g.metadata.namespace ?? '', g.metadata.name), { priority: 'low' });
    }
  };
  const resync = async (): Promise<RefreshStats> => {
    const stats = await reconciler.refreshInventory();
    logger.debug({ ...stats }, 'inventory refreshed');
    resyncAll();
    return stats;
  };
  const every = (periodMs: number, fn: () => void | Promise<void>): void => {
    if (periodMs <= 0) return;
    const tick = (): void => {
      // ±10 % jitter so replicas and controllers do not list in lockstep (controller-runtime SyncPeriod).
      const t = setTimeout(() => {
        if (stopCtl.signal.aborted) return;
        Promise.resolve(fn()).catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'periodic task failed')).finally(tick);
      }, periodMs * (0.9 + Math.random() * 0.2));
      t.unref();
      timers.push(t);
    };
    tick();
  };

  let leading = !o.leaderElect;
  let workersFinished: Promise<void> = Promise.resolve();
  const startLeading = async (): Promise<void> => {
    leading = true;
    metrics.leader.set(1);
    logger.info({ identity }, 'leading: waiting for caches');
    // Nothing reconciles before the config caches have synced (controller-runtime CacheSyncTimeout).
    while (!provider.configSynced() && !stopCtl.signal.aborted) await new Promise((r) => setTimeout(r, 50));
    // Then give every member a bounded chance to list (or to fail and be marked unreachable): a
    // reconcile that runs while a member is still `pending` programs the Gateway without that
    // member's nodes and has to write again a moment later. A member that never answers does not
    // hold the fleet hostage: after the bound it is reconciled as frozen.
    const memberDeadline = Date.now() + o.memberSyncTimeoutMs;
    while (!stopCtl.signal.aborted && Date.now() < memberDeadline && provider.members.members().some((m) => m.reachability.state === 'pending')) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const observeMetrics = reconcileObserver<string>(metrics);
    workersFinished = runWorkers({
      queue,
      reconcile: (k) => reconciler.reconcile(k),
      workers: o.workers,
      observe: (e) => {
        observeMetrics(e);
        // controller-runtime's "Reconciler error": a failed reconcile (a 403 on the finalizer patch,
        // a member write refused, ...) must be visible in the log, not only as a metric.
        if (e.error !== undefined && e.outcome !== 'fenced') {
          logger.warn({ key: e.key, outcome: e.outcome, retryInMs: e.retryInMs, err: errorMessage(e.error) }, 'reconcile failed');
        }
      },
    }).finished;
    resyncAll();
    // The periodic resync first refreshes the shared GCE inventory (one list per kind per
    // project/region, one endpoint list per NEG), then re-reconciles every Gateway against it at
    // low priority: drift made outside the controller is found without a list per Gateway.
    every(o.resyncPeriodMs, async () => {
      await resync();
    });
    every(o.sweepPeriodMs, async () => {
      const n = await reconciler.sweep();
      if (n > 0) logger.info({ deleted: n }, 'sweep deleted orphaned GCE resources');
    });
  };

  let resolveDone!: (v: 'stopped' | 'lease-lost') => void;
  const done = new Promise<'stopped' | 'lease-lost'>((r) => (resolveDone = r));
  let stopping: Promise<void> | undefined;
  const stop = (reason: 'stopped' | 'lease-lost'): Promise<void> => {
    stopping ??= (async () => {
      stopCtl.abort();
      for (const t of timers) clearTimeout(t);
      queue.shutDown();
      await Promise.race([workersFinished, new Promise((r) => setTimeout(r, 30_000))]);
      if (elector !== undefined) await elector.stop();
      provider.stop();
      await cloud.close();
      await health.close();
      logger.info({ reason }, 'controller stopped');
      resolveDone(reason);
    })();
    return stopping;
  };

  if (elector !== undefined) {
    const e = elector;
    void e.run().then(() => {
      if (e.state() === 'lost') {
        logger.error({ identity }, 'leader election lost: stopping');
        void stop('lease-lost');
      }
    });
    const wait = setInterval(() => {
      if (e.isLeader() && !leading) void startLeading();
      if (stopCtl.signal.aborted) clearInterval(wait);
    }, 50);
  } else {
    await startLeading();
  }

  return {
    fleetId,
    reconciler,
    provider,
    metrics,
    healthUrl: `http://127.0.0.1:${port}`,
    isLeader: () => leading && fence.canWrite(),
    ready: () => health.ready(),
    resyncAll: resync,
    done,
    stop: () => stop('stopped'),
  };
}

/** The fleet id default: the config cluster's kube-system namespace UID (stable for its life). */
async function defaultFleetId(config: ClusterClient): Promise<string> {
  const ns = await config.core.readNamespace({ name: 'kube-system' });
  const uid = ns.metadata?.uid;
  if (uid === undefined) throw new Error('kube-system has no uid; pass --fleet-id');
  return uid.toLowerCase();
}

function hostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i) || '0.0.0.0', port: Number(addr.slice(i + 1)) };
}

/** `fleet-ilb controller` entry point. */
export async function main(argv: string[]): Promise<number> {
  let opts: ControllerOptions;
  try {
    opts = ControllerOptionsSchema.parse(parseControllerArgs(argv));
  } catch (err) {
    if (err instanceof UsageRequested) {
      process.stdout.write(err.format === 'markdown' ? controllerFlagsMarkdown() : controllerUsage());
      return 0;
    }
    const msg = err instanceof z.ZodError ? z.prettifyError(err) : errorMessage(err);
    process.stderr.write(`fleet-ilb controller: ${msg}\n\n${controllerUsage()}`);
    return 2;
  }
  const log = createLogger({ level: opts.logLevel ?? 'info' });
  let running: RunningController;
  try {
    running = await startController(opts, log);
  } catch (err) {
    log.error({ err: errorMessage(err) }, 'controller failed to start');
    return 1;
  }
  const onSignal = (sig: string): void => {
    log.info({ signal: sig }, 'shutting down');
    void running.stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const why = await running.done;
  return why === 'lease-lost' ? 1 : 0;
}
