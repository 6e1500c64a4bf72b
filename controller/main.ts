// SPDX-License-Identifier: Apache-2.0
//
// `fleet-ilb controller`: builds the clients, the provider, the reconciler and the runtime, and runs
// them until SIGTERM/SIGINT. `startController` is the same program as a library (tests, the demo).
//
// Lifecycle (controller-runtime's manager; docs/architecture.md "Kubernetes clients"):
//   1. watch every cluster (all replicas: a standby has warm caches for a fast takeover);
//   2. campaign for the Lease; only the leader runs workers, resync and sweep, and every write goes
//      through the elector's fence (a deposed leader makes no write, docs/failure-rules.md): the GCE client
//      gets the fence itself, so an in-flight write is aborted when it closes;
//   3. on losing the lease: stop at once (the process exits; the Deployment restarts it);
//   4. on SIGTERM: stop the workers (drain), release the lease, stop the watches.
// Being gentle with GCE and quick for the user (issue 13, docs/architecture.md "Where each rule
// lives": retries, backoff):
//   * an event that can fix a failing Gateway (its ILBConfig, a FleetMember, a Secret, an export or
//     import, the GatewayClass) runs the Gateway at once and resets its backoff (keys.ts
//     changeCanFix, queue.requeueNow); the Programmed message says when the next retry is
//     (queue.planRetry through the reconciler's `retryIn`);
//   * one GCE budget for reads and one for writes, sized from the project's quota (flags); the
//     resync's inventory refresh, its re-reconciles and the sweep use its low lane, so a user's
//     reconcile goes first (withCallPriority);
//   * the periodic resync queues the Gateways spread over a window, and every GCE write a
//     resync-triggered reconcile makes is counted (`fleetilb_resync_writes_total`: a converged
//     fleet's resync makes none);
//   * a deleted FleetMember's VIP Services are deleted before its client goes (MemberSet `drain`);
//     a member frozen longer than --member-frozen-ttl is expired with an Event on its FleetMember.
import { AsyncLocalStorage } from 'node:async_hooks';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { PassThroughClient } from 'google-auth-library';
import { z } from 'zod';
import type { FleetMember } from './api/index.ts';
import { ClusterClient } from './clusters/client.ts';
import { drainMemberVip } from './clusters/drain.ts';
import { errorMessage } from './errors/index.ts';
import { GceCloud, withCallPriority, type ComputeClientOptions, type GceCallEvent, type GceCloudOptions } from './infra/gcp/cloud/client.ts';
import { FleetProvider, type Change } from './provider/index.ts';
import { registryData, registryTouched, VipRegistry, VIPS_COALESCE_MS, VIPS_KEY } from './infra/vip/registry.ts';
import type { Gateway, GatewayClass, Service } from './api/index.ts';
import { GLOBAL_KEY, gatewayKey, parseGatewayKey, Reconciler } from './reconciler.ts';
import type { RefreshStats } from './infra/gcp/inventory.ts';
import { BackendHealthMonitor, memberCounts } from './infra/gcp/health.ts';
import { renderBackendsHealthy } from './status/health.ts';
import { openFence, type Fence } from './runtime/fence.ts';
import { kubeLeaseClient, LeaderElector } from './runtime/leaderelection.ts';
import { spreadKeys } from './runtime/resync.ts';
import { retryOptionsFor, runWorkers } from './runtime/workers.ts';
import { WorkQueue } from './runtime/workqueue.ts';
import { EventRecorder, kubeEventSink } from './telemetry/events.ts';
import { createLogger, type Log } from './telemetry/logger.ts';
import { createMetrics, gceCallObserver, queueMetrics, reconcileObserver, type ControllerMetrics } from './telemetry/metrics.ts';
import { HealthServer } from './telemetry/server.ts';
import { CONTROLLER_NAME } from './naming/stamp.ts';
import { makeWriters } from './writers.ts';
import { enqueueChange, type KeySource } from './keys.ts';
import { OwnWrites } from './runtime/ownwrites.ts';
import { ControllerOptionsSchema, controllerFlagsMarkdown, controllerUsage, parseControllerArgs, splitRateLimits, UsageRequested, type ControllerOptions } from './options.ts';
import { DEFAULT_RATE_LIMITS, parseRateLimitFlags, RateLimiter } from './infra/gcp/cloud/ratelimit.ts';

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
  /**
   * Milliseconds until this replica's write fence closes (runtime/fence.ts; 0 = closed, Infinity
   * without leader election): how the deposed-leader tests (battery C1) learn the real close time.
   */
  fenceRemainingMs(): number;
  ready(): boolean;
  /**
   * What the periodic resync does, now: refresh the shared GCE inventory (low priority), then queue
   * every Gateway at low priority, spread over `spreadMs` (default --resync-spread) at most 1 s
   * apart. Resolves with what the refresh read, once the first key is queued.
   */
  resyncAll(opts?: { spreadMs?: number }): Promise<RefreshStats>;
  /** Resolves when the controller stopped by itself (lease lost) or by stop(). */
  readonly done: Promise<'stopped' | 'lease-lost'>;
  stop(): Promise<void>;
}

type ParsedOptions = z.output<typeof ControllerOptionsSchema>;

/**
 * The GCE client's options: the endpoint, the leader's write fence (writes refused, and aborted in
 * flight, once it closes) and the shared budget sized from the project's quota flags.
 */
export function gceCloudOptions(o: ParsedOptions, fence: Fence, onCall?: (e: GceCallEvent) => void): GceCloudOptions {
  const clientOptions: ComputeClientOptions = {};
  if (o.computeEndpoint !== undefined) {
    const u = new URL(o.computeEndpoint);
    clientOptions.apiEndpoint = u.hostname;
    clientOptions.port = Number(u.port || (u.protocol === 'http:' ? 80 : 443));
    clientOptions.protocol = u.protocol === 'http:' ? 'http' : 'https';
    // A local endpoint (the emulator) takes no credentials; never hunt for ADC there.
    clientOptions.authClient = new PassThroughClient();
  }
  return {
    project: o.project,
    clientOptions,
    fence,
    quota: { readsPerMinute: o.gceReadsPerMinute, writesPerMinute: o.gceWritesPerMinute, share: o.gceQuotaShare },
    ...(o.gceRateLimit === '' ? {} : { rateLimits: parseRateLimitFlags(splitRateLimits(o.gceRateLimit)) }),
    ...(onCall === undefined ? {} : { onCall }),
  };
}

/**
 * getHealth calls per minute the backend-health reader may make: --health-read-share of fleet-ilb's
 * read budget (--gce-reads-per-minute × --gce-quota-share), or the getHealth method's own
 * per-method limit (--gce-ratelimit) when that is lower — the reader paces itself to it, so the
 * period it reports is the one it keeps (docs/architecture.md "Feedback edges").
 */
export function healthReadsPerMinute(o: Pick<ParsedOptions, 'gceReadsPerMinute' | 'gceQuotaShare' | 'healthReadShare' | 'gceRateLimit'>): number {
  const share = o.gceReadsPerMinute * o.gceQuotaShare * o.healthReadShare;
  const limits = o.gceRateLimit === '' ? DEFAULT_RATE_LIMITS : parseRateLimitFlags(splitRateLimits(o.gceRateLimit));
  const method = new RateLimiter(limits).limitFor('RegionBackendServices.getHealth');
  return method === undefined ? share : Math.min(share, method.qps * 60);
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
  // Versions of member objects our own writes produced: their watch echo queues nothing (keys.ts).
  const ownWrites = new OwnWrites();
  // Keys the resync queued whose reconcile has not started: that reconcile runs in the resync
  // context (low lane, its writes counted). An event for the key takes it out.
  const resyncKeys = new Set<string>();
  const resyncContext = new AsyncLocalStorage<true>();
  const health = new HealthServer({ ...hostPort(o.metricsAddr), registry: metrics.registry, log: logger });
  const provider: FleetProvider = new FleetProvider({
    config,
    namespace: o.namespace,
    fleetId,
    settings: { mcsImporter: o.mcsImporter },
    reflectorDefaults: { idleTimeoutMs: o.watchIdleTimeoutMs, relistIntervalMs: o.relistIntervalMs },
    log: logger,
    metrics,
    onReflector: (r, change) => {
      if (change === 'added' && r.cluster === 'config') health.registerReflector(r);
    },
    onChange: (c: Change) => {
      // A change that can fix a failing Gateway also resets its backoff (keys.ts enqueueChange); an
      // event's reconcile is not the resync's.
      for (const k of enqueueChange(queue, c, keySource)) resyncKeys.delete(k);
      // The fleet's VIPs as every member's admission policy sees them (infra/vip/registry.ts).
      if (registryTouched(c)) queue.addAfter(VIPS_KEY, VIPS_COALESCE_MS);
    },
    memberHooks: {
      // A deleted FleetMember: its VIP Services go before its client does (a standby writes nothing
      // and lets go at once: the leader drains).
      drain: async ({ client, clusterID, fleetMember }) => {
        const r = await drainMemberVip(client, fleetId, fence);
        if (r.deleted.length > 0) logger.info({ member: fleetMember, clusterID, deleted: r.deleted }, 'deleted member: its VIP Services removed');
      },
      onExpired: (clusterID, fleetMember, since) => {
        const fm = provider.list<FleetMember>('fleetMembers').find((m) => m.metadata.name === fleetMember);
        const note = `member ${clusterID} unreachable since ${since}, longer than --member-frozen-ttl (${o.memberFrozenTtlMs / 1000} s): its endpoints were removed from the load balancers until it answers again`;
        events.record(
          { apiVersion: 'fleetilb.io/v1alpha1', kind: 'FleetMember', name: fleetMember, ...(fm?.metadata.uid === undefined ? {} : { uid: fm.metadata.uid }) },
          'Warning',
          'MemberExpired',
          'Expire',
          note,
        );
      },
      ...(o.memberFrozenTtlMs > 0 ? { frozenTtlMs: o.memberFrozenTtlMs } : {}),
      emptyListConfirmMs: o.memberEmptyListConfirmMs,
      unreachablePublishDelayMs: o.memberUnreachablePublishDelayMs,
    },
  });

  const keySource: KeySource = {
    gatewayKeys: () => provider.gatewayKeys(),
    index: provider.index,
    isOwnWrite: (cluster, resource, key, rv) => ownWrites.isOwn(cluster, resource, key, rv),
  };
  const observeGce = gceCallObserver(metrics);
  const cloud = new GceCloud(
    gceCloudOptions(o, fence, (e) => {
      observeGce(e);
      // A write made by a resync-triggered reconcile: drift, or a bug (battery A5).
      if (e.write && resyncContext.getStore() === true) metrics.resyncWrites.inc({ target: 'gce' });
    }),
  );
  // Backend health (infra/gcp/health.ts): read in the low lane, spread over --health-period; a read
  // that changes a Gateway's rendered BackendsHealthy condition queues that Gateway (low priority),
  // whose reconcile composes it. Nothing else is queued by health.
  const healthSeries = new Map<string, string[]>();
  const dropSeries = (k: string, members: readonly string[]): void => {
    for (const member of members) for (const h of ['healthy', 'unhealthy']) metrics.backendEndpoints.remove({ gateway: k, member, health: h });
  };
  let loggedHealthPeriod = o.healthPeriodMs;
  const backendHealth =
    o.healthPeriodMs > 0
      ? new BackendHealthMonitor({
          cloud,
          render: (_k, h) => renderBackendsHealthy(h),
          onChange: (k) => queue.add(`gateway:${k}`, { priority: 'low' }),
          onRead: (k, h) => {
            const counts = memberCounts(h);
            dropSeries(k, (healthSeries.get(k) ?? []).filter((m) => !counts.some((c) => c.cluster === m)));
            for (const c of counts) {
              metrics.backendEndpoints.set({ gateway: k, member: c.cluster, health: 'healthy' }, c.healthy);
              metrics.backendEndpoints.set({ gateway: k, member: c.cluster, health: 'unhealthy' }, c.unhealthy);
            }
            healthSeries.set(k, counts.map((c) => c.cluster));
          },
          onForget: (k) => {
            dropSeries(k, healthSeries.get(k) ?? []);
            healthSeries.delete(k);
          },
          onError: (k, backend, err) => logger.debug({ gateway: k, backend, err }, 'backend health not read'),
          maxReadsPerMinute: healthReadsPerMinute(o),
          onPass: ({ reads, periodMs }) => {
            metrics.healthPeriod.set(periodMs / 1000);
            // Said once per change of more than 10 %, not every pass.
            if (periodMs > o.healthPeriodMs && Math.abs(periodMs - loggedHealthPeriod) > loggedHealthPeriod * 0.1) {
              logger.info(
                { backends: reads, periodS: Math.round(periodMs / 1000), healthPeriodS: o.healthPeriodMs / 1000, readsPerMinute: Math.round(healthReadsPerMinute(o)) },
                'backend health: more backends than --health-period allows within --health-read-share of the read budget; each is read less often',
              );
              loggedHealthPeriod = periodMs;
            }
          },
        })
      : undefined;
  const events = new EventRecorder({ sink: kubeEventSink(config), controller: CONTROLLER_NAME, instance: identity, fence, log: logger });
  const writers = makeWriters({
    config,
    provider,
    fleetId,
    fence,
    log: logger,
    mcsImporter: o.mcsImporter,
    onVipWritten: (cluster, kind, key, rv) => ownWrites.record(cluster, kind === 'services' ? 'services' : 'endpointslices', key, rv),
  });
  const reconciler = new Reconciler({
    provider,
    cloud,
    fleetId,
    writers,
    fence,
    events,
    metrics,
    log: logger,
    sweepMinAgeMs: o.sweepMinAgeMs,
    ...(backendHealth === undefined ? {} : { health: backendHealth }),
    // The retry the worker will schedule for this error, decided now so the status can say it.
    retryIn: (key, err) => {
      const r = retryOptionsFor(err);
      return r === undefined ? undefined : queue.planRetry(key, r);
    },
  });
  // The VIP registry (infra/vip/registry.ts): the fleet's VIPs in every member, for the member
  // admission policy fleet-ilb-vip-registry. Published under the work-queue key VIPS_KEY: leader
  // only, one at a time, retried with backoff.
  const vipRegistry = new VipRegistry({ fence, log: logger });
  const publishVips = async (): Promise<undefined> => {
    const members = provider.members.members();
    const data = registryData({
      gateways: provider.list<Gateway>('gateways'),
      classes: provider.list<GatewayClass>('gatewayClasses'),
      memberServices: members.flatMap((m) => provider.members.list<Service & { metadata: { name: string } }>(m.clusterID, 'services')),
      fleetId,
    });
    const r = await vipRegistry.publish(
      members.map((m) => ({ cluster: m.clusterID, client: provider.members.client(m.clusterID), frozen: m.frozen })),
      data,
    );
    if (r.writes > 0) logger.info({ members: r.current, vips: Object.keys(data).length }, 'VIP registry published');
    for (const e of r.errors) logger.warn({ cluster: e.cluster, err: errorMessage(e.error) }, 'VIP registry not published');
    if (r.errors.length > 0) throw r.errors[0]!.error;
    return undefined;
  };
  /** A reconcile; one the resync queued runs in the low lane with its writes counted. */
  const reconcile = async (key: string): Promise<Awaited<ReturnType<Reconciler['reconcile']>>> => {
    if (key === VIPS_KEY) return publishVips();
    if (!resyncKeys.delete(key)) return reconciler.reconcile(key);
    const gw = parseGatewayKey(key);
    const before = gw === undefined ? undefined : reconciler.outcomes.get(gw);
    try {
      return await withCallPriority('low', () => resyncContext.run(true, () => reconciler.reconcile(key)));
    } finally {
      const after = gw === undefined ? undefined : reconciler.outcomes.get(gw);
      if (after !== undefined && after !== before && after.kubeWrites > 0) metrics.resyncWrites.inc({ target: 'kubernetes' }, after.kubeWrites);
    }
  };

  const port = await health.listen();
  if (elector !== undefined) health.registerElector(elector);
  health.addReadinessCheck('members', () => ({
    ok: provider.members.members().every((m) => m.synced || m.frozen),
    detail: 'member caches not synced',
  }));
  await provider.start();

  const stopCtl = new AbortController();
  const timers: Array<ReturnType<typeof setTimeout>> = [];
  const allKeys = (): string[] => [
    GLOBAL_KEY,
    ...provider.list<{ metadata: { namespace?: string; name: string } }>('gateways').map((g) => gatewayKey(g.metadata.namespace ?? '', g.metadata.name)),
  ];
  /** Every key at once, low priority: the first reconciles of a new leader (not counted as resync). */
  const enqueueAll = (): void => {
    for (const k of allKeys()) queue.add(k, { priority: 'low' });
    queue.add(VIPS_KEY, { priority: 'low' });
  };
  const defaultSpreadMs = o.resyncSpreadMs ?? Math.min(o.resyncPeriodMs / 2, 300_000);
  let cancelSpread = (): void => {};
  const resync = async (opts: { spreadMs?: number } = {}): Promise<RefreshStats> => {
    const stats = await withCallPriority('low', () => reconciler.refreshInventory());
    logger.debug({ ...stats }, 'inventory refreshed');
    // Each member's copy of the VIP registry is read again (drift repair: one GET per member).
    vipRegistry.invalidate();
    queue.add(VIPS_KEY, { priority: 'low' });
    cancelSpread();
    cancelSpread = spreadKeys({
      queue,
      keys: allKeys(),
      spreadMs: opts.spreadMs ?? defaultSpreadMs,
      // A key already queued or running for an event is that event's reconcile, not the resync's.
      onKey: (k) => {
        if (!queue.has(k)) resyncKeys.add(k);
      },
    });
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
      reconcile,
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
    enqueueAll();
    // The periodic resync first refreshes the shared GCE inventory (one list per kind per
    // project/region, one endpoint list per NEG), then re-reconciles every Gateway against it at
    // low priority: drift made outside the controller is found without a list per Gateway.
    every(o.resyncPeriodMs, async () => {
      await resync();
    });
    if (backendHealth !== undefined) {
      void backendHealth.run(o.healthPeriodMs, stopCtl.signal).catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'backend health reader stopped'));
    }
    every(o.sweepPeriodMs, async () => {
      const n = await withCallPriority('low', () => reconciler.sweep());
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
      cancelSpread();
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
    fenceRemainingMs: () => fence.remainingMs(),
    ready: () => health.ready(),
    resyncAll: resync,
    done,
    stop: () => stop('stopped'),
  };
}

/** The fleet id default: the config cluster's kube-system namespace UID (stable for its life). */
export async function defaultFleetId(config: ClusterClient): Promise<string> {
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
