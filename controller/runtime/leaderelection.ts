// SPDX-License-Identifier: Apache-2.0
//
// Lease-based leader election with client-go's rules (`tools/leaderelection/leaderelection.go`;
// client-node ships none, docs/architecture.md "Kubernetes clients"), plus write fencing (fence.ts).
//
// Rules, and where they come from:
// * Lock = `coordination.k8s.io/v1` Lease {holderIdentity, leaseDurationSeconds, acquireTime,
//   renewTime, leaseTransitions}.
// * A candidate may take the lease when it has no holder, or when the record has not changed for a
//   full lease duration measured on the candidate's LOCAL monotonic clock from when it *observed*
//   the change (`observedTime`), never from the server's `renewTime`: clocks of different machines
//   are not comparable (client-go `isLeaseValid`).
// * Every write is a `replace` carrying the resourceVersion we read (optimistic concurrency): a 409
//   means someone else wrote first (client-go falls back to a fresh GET; we do the same, and if the
//   GET shows another valid holder we stop leading at once).
// * The leader renews every `retryPeriod`. It stops leading as soon as `renewDeadline` has passed
//   since the last successful renew (measured from when that renew was SENT). client-go only checks
//   per renew round (up to retryPeriod + renewDeadline); we check before every attempt, so a
//   process resumed after SIGSTOP gives up at once (battery C2).
// * Fencing: `canWrite()` ⇔ leading ∧ now < lastRenewSent + renewDeadline − margin. Another replica
//   can acquire no earlier than lastRenewSent + leaseDuration (it observes the renew after it was
//   sent), and leaseDuration > renewDeadline, so the fence always closes first.
// * Candidates retry every retryPeriod × (1 − 0.2·rand), and also exactly when the observed record
//   expires, so a hand-over takes ≤ leaseDuration + retryPeriod after the old leader's last renew
//   (battery C1: ≤ 17 s with the defaults 15 s / 10 s / 2 s, controller-runtime `pkg/manager`).
// * Release on graceful stop (controller-runtime `LeaderElectionReleaseOnCancel`): the fence closes
//   first, then the holder is cleared so a successor need not wait out the lease. This is only safe
//   because the caller drains its writers before stopping the elector and the process then exits.
// * A lost lease is final for this elector: `onStoppedLeading` fires and the process is expected to
//   exit (controller-runtime "leader election lost"; cilium/cilium#42920).
import { ApiException, CoordinationV1Api, V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import type { ClusterClient } from '../clusters/client.ts';
import { requestTimeout } from '../clusters/client.ts';
import { statusCodeOf } from '../clusters/errors.ts';
import { FencedError, errorMessage } from '../errors/index.ts';
import { type Log, silentLog } from '../telemetry/logger.ts';
import { type Clock, monotonicClock } from './clock.ts';
import type { Fence } from './fence.ts';

/** The Lease spec fields the election reads and writes. */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** RFC 3339 with microseconds, as the API stores it. */
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions: number;
}

/** A Lease record with the resourceVersion it was read at. */
export interface VersionedLease {
  record: LeaseRecord;
  resourceVersion: string;
}

/** Lease I/O (kubeLeaseClient in production, an in-memory fake in unit tests). */
export interface LeaseClient {
  /** The current lease, or null if it does not exist. */
  get(timeoutMs: number): Promise<VersionedLease | null>;
  /** Create; rejects with a 409-coded error if it exists. Resolves the new resourceVersion. */
  create(record: LeaseRecord, timeoutMs: number): Promise<string>;
  /** Replace at `resourceVersion`; rejects with a 409-coded error on conflict. Resolves the new RV. */
  update(record: LeaseRecord, resourceVersion: string, timeoutMs: number): Promise<string>;
  /** Where the lease lives (logs). */
  describe(): string;
}

function fromApi(lease: V1Lease): VersionedLease {
  const s = lease.spec ?? {};
  // The generated deserializer leaves MicroTime fields as strings (unknown type `V1MicroTime`).
  const str = (t: unknown): string | undefined => (t instanceof Date ? t.toISOString() : typeof t === 'string' ? t : undefined);
  const acquireTime = str(s.acquireTime);
  const renewTime = str(s.renewTime);
  return {
    record: {
      holderIdentity: s.holderIdentity ?? '',
      leaseDurationSeconds: s.leaseDurationSeconds ?? 0,
      ...(acquireTime ? { acquireTime } : {}),
      ...(renewTime ? { renewTime } : {}),
      leaseTransitions: s.leaseTransitions ?? 0,
    },
    resourceVersion: lease.metadata?.resourceVersion ?? '',
  };
}

function toApi(namespace: string, name: string, r: LeaseRecord, resourceVersion?: string): V1Lease {
  // V1MicroTime serialises with 6 fractional digits, which the API's MicroTime parser requires.
  const micro = (t: string | undefined): V1MicroTime | undefined => (t ? new V1MicroTime(t) : undefined);
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, ...(resourceVersion ? { resourceVersion } : {}) },
    spec: {
      holderIdentity: r.holderIdentity,
      leaseDurationSeconds: r.leaseDurationSeconds,
      leaseTransitions: r.leaseTransitions,
      ...(r.acquireTime ? { acquireTime: micro(r.acquireTime) } : {}),
      ...(r.renewTime ? { renewTime: micro(r.renewTime) } : {}),
    },
  };
}

/** A LeaseClient on a real cluster. */
export function kubeLeaseClient(cluster: ClusterClient, namespace: string, name: string): LeaseClient {
  const api = cluster.api(CoordinationV1Api);
  return {
    describe: () => `${cluster.name}:${namespace}/${name}`,
    async get(timeoutMs) {
      try {
        return fromApi(await api.readNamespacedLease({ name, namespace }, requestTimeout(timeoutMs)));
      } catch (e) {
        if (e instanceof ApiException && e.code === 404) return null;
        throw e;
      }
    },
    async create(record, timeoutMs) {
      const res = await api.createNamespacedLease({ namespace, body: toApi(namespace, name, record) }, requestTimeout(timeoutMs));
      return res.metadata?.resourceVersion ?? '';
    },
    async update(record, resourceVersion, timeoutMs) {
      const res = await api.replaceNamespacedLease(
        { name, namespace, body: toApi(namespace, name, record, resourceVersion) },
        requestTimeout(timeoutMs),
      );
      return res.metadata?.resourceVersion ?? '';
    },
  };
}

/** Lifecycle of an elector. */
export type ElectorState = 'idle' | 'candidate' | 'leading' | 'lost' | 'stopped';

/** Options of {@link LeaderElector}. Durations default to controller-runtime's. */
export interface LeaderElectorOptions {
  lease: LeaseClient;
  /** Unique per replica (pod name + a random suffix). */
  identity: string;
  /** Defaults to 15 s. */
  leaseDurationMs?: number;
  /** Defaults to 10 s. Must be < leaseDuration. */
  renewDeadlineMs?: number;
  /** Defaults to 2 s. Must be < renewDeadline. */
  retryPeriodMs?: number;
  /**
   * The fence closes this long before the renew deadline, covering a write already on the wire.
   * Defaults to min(1 s, renewDeadline / 10).
   */
  fenceMarginMs?: number;
  /** Clear the holder on graceful stop. Defaults to true. */
  releaseOnStop?: boolean;
  onStartedLeading?: () => void;
  /** `lost` = could not renew / another holder; `stopped` = stop() while leading. */
  onStoppedLeading?: (reason: 'lost' | 'stopped') => void;
  /** The observed holder changed ('' = none). */
  onNewLeader?: (identity: string) => void;
  log?: Log;
  clock?: Clock;
  random?: () => number;
}

/** Thrown by option validation. */
export class LeaderElectionConfigError extends Error {}

/** One replica's participation in the election; also its write {@link Fence}. */
export class LeaderElector implements Fence {
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly fenceMarginMs: number;
  readonly #lease: LeaseClient;
  readonly #opts: LeaderElectorOptions;
  readonly #log: Log;
  readonly #clock: Clock;
  readonly #random: () => number;

  #state: ElectorState = 'idle';
  #observed: LeaseRecord | undefined;
  #observedRv: string | undefined;
  /** Local monotonic time when #observed last changed. */
  #observedTime = 0;
  /** Monotonic time the last successful acquire/renew request was sent. */
  #lastRenewSent = Number.NEGATIVE_INFINITY;
  #lastRenewWall: number | undefined;
  #running: Promise<void> | undefined;
  readonly #stopCtl = new AbortController();

  constructor(opts: LeaderElectorOptions) {
    this.identity = opts.identity;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    this.fenceMarginMs = opts.fenceMarginMs ?? Math.min(1000, this.renewDeadlineMs / 10);
    if (!opts.identity) throw new LeaderElectionConfigError('identity must not be empty');
    // client-go NewLeaderElector validation.
    if (!(this.leaseDurationMs > this.renewDeadlineMs)) throw new LeaderElectionConfigError('leaseDuration must be greater than renewDeadline');
    if (!(this.renewDeadlineMs > this.retryPeriodMs * 1.2)) throw new LeaderElectionConfigError('renewDeadline must be greater than retryPeriod*1.2');
    if (this.leaseDurationMs % 1000 !== 0) throw new LeaderElectionConfigError('leaseDuration must be whole seconds (Lease.leaseDurationSeconds)');
    if (!(this.fenceMarginMs >= 0 && this.fenceMarginMs < this.renewDeadlineMs)) throw new LeaderElectionConfigError('fenceMargin must be in [0, renewDeadline)');
    this.#lease = opts.lease;
    this.#opts = opts;
    this.#log = (opts.log ?? silentLog).child({ component: 'leader-election', identity: opts.identity, lease: opts.lease.describe() });
    this.#clock = opts.clock ?? monotonicClock;
    this.#random = opts.random ?? Math.random;
  }

  // ---- Fence -----------------------------------------------------------------------------------

  canWrite(): boolean {
    return this.remainingMs() > 0;
  }

  check(): void {
    if (!this.canWrite()) throw new FencedError(`write refused: ${this.identity} is not the leader (${this.#state})`);
  }

  remainingMs(): number {
    // stop() closes the fence synchronously, before any release write can go out.
    if (this.#state !== 'leading' || this.#stopCtl.signal.aborted) return 0;
    return Math.max(0, this.#lastRenewSent + this.renewDeadlineMs - this.fenceMarginMs - this.#clock.now());
  }

  // ---- observation -----------------------------------------------------------------------------

  state(): ElectorState {
    return this.#state;
  }

  isLeader(): boolean {
    return this.#state === 'leading';
  }

  /** The holder we last observed ('' = none, undefined = never read). */
  leader(): string | undefined {
    return this.#observed?.holderIdentity;
  }

  /** Wall-clock ms of the last successful renew (for logs and /healthz details). */
  lastRenewTime(): number | undefined {
    return this.#lastRenewWall;
  }

  /**
   * Liveness (controller-runtime#3298: tie liveness to renew success). False once the lease is
   * lost (the process should have exited), or when leading but no renew succeeded within
   * renewDeadline + retryPeriod (the renew loop is stuck).
   */
  healthy(): boolean {
    if (this.#state === 'lost') return false;
    if (this.#state !== 'leading') return true;
    return this.#clock.now() - this.#lastRenewSent <= this.renewDeadlineMs + this.retryPeriodMs;
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /**
   * Campaign, then lead until the lease is lost or stop() is called. Resolves when this elector is
   * done (state `lost` or `stopped`). Calling it twice returns the same promise.
   */
  run(): Promise<void> {
    this.#running ??= this.#run().catch((err: unknown) => {
      this.#log.error({ err: errorMessage(err) }, 'leader election loop crashed');
      this.#transition('lost');
    });
    return this.#running;
  }

  /** Stop campaigning/leading; releases the lease if held (see releaseOnStop). */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'lost') return;
    this.#stopCtl.abort();
    await this.#running;
    if (this.#state === 'idle') this.#state = 'stopped';
  }

  async #run(): Promise<void> {
    this.#state = 'candidate';
    this.#log.info({ leaseDurationMs: this.leaseDurationMs, renewDeadlineMs: this.renewDeadlineMs, retryPeriodMs: this.retryPeriodMs }, 'campaigning');
    while (!this.#stopCtl.signal.aborted) {
      if (await this.#tryAcquireOrRenew(Math.max(1000, this.renewDeadlineMs / 2))) break;
      await this.#sleep(this.#acquireDelay());
    }
    if (this.#stopCtl.signal.aborted) {
      this.#state = 'stopped';
      return;
    }
    this.#transition('leading');
    while (!this.#stopCtl.signal.aborted) {
      await this.#sleep(this.retryPeriodMs);
      if (this.#stopCtl.signal.aborted) break;
      if (this.#deadlinePassed()) {
        this.#log.warn({ sinceRenewMs: Math.round(this.#clock.now() - this.#lastRenewSent) }, 'renew deadline passed: leadership lost');
        this.#transition('lost');
        return;
      }
      const untilDeadline = this.#lastRenewSent + this.renewDeadlineMs - this.#clock.now();
      const ok = await this.#tryAcquireOrRenew(Math.max(1, Math.min(Math.max(1000, this.renewDeadlineMs / 2), untilDeadline)));
      if (ok) continue;
      if (this.#otherHolderValid()) {
        this.#log.warn({ holder: this.#observed?.holderIdentity }, 'lease taken by another holder: leadership lost');
        this.#transition('lost');
        return;
      }
      if (this.#deadlinePassed()) {
        this.#log.warn({}, 'could not renew within the renew deadline: leadership lost');
        this.#transition('lost');
        return;
      }
    }
    // stop() while leading: close the fence first, then release.
    this.#transition('stopped');
    if (this.#opts.releaseOnStop ?? true) await this.#release();
  }

  #deadlinePassed(): boolean {
    return this.#clock.now() - this.#lastRenewSent >= this.renewDeadlineMs;
  }

  #otherHolderValid(): boolean {
    const h = this.#observed?.holderIdentity;
    return !!h && h !== this.identity && this.#leaseValid();
  }

  /** The observed record is still within its lease duration, on our clock. */
  #leaseValid(): boolean {
    if (!this.#observed) return false;
    return this.#observedTime + this.#observed.leaseDurationSeconds * 1000 > this.#clock.now();
  }

  /** Next candidate attempt: a jittered retryPeriod, or the observed record's expiry if sooner. */
  #acquireDelay(): number {
    const periodic = this.retryPeriodMs * (1 - 0.2 * this.#random());
    const h = this.#observed?.holderIdentity;
    if (!this.#observed || !h || h === this.identity) return periodic;
    const untilExpiry = this.#observedTime + this.#observed.leaseDurationSeconds * 1000 - this.#clock.now();
    return Math.max(0, Math.min(periodic, untilExpiry + 5));
  }

  #setObserved(record: LeaseRecord, rv: string, at: number): void {
    const prevHolder = this.#observed?.holderIdentity;
    this.#observed = record;
    this.#observedRv = rv;
    this.#observedTime = at;
    if (prevHolder !== record.holderIdentity) {
      this.#log.info({ holder: record.holderIdentity }, 'observed a new leader');
      try {
        this.#opts.onNewLeader?.(record.holderIdentity);
      } catch (err) {
        this.#log.error({ err: errorMessage(err) }, 'onNewLeader threw');
      }
    }
  }

  #desired(now: Date): LeaseRecord {
    const t = microTime(now);
    return { holderIdentity: this.identity, leaseDurationSeconds: this.leaseDurationMs / 1000, acquireTime: t, renewTime: t, leaseTransitions: 0 };
  }

  /** client-go `tryAcquireOrRenew`. True = we hold the lease now (lastRenewSent updated). */
  async #tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    const sentAt = this.#clock.now();
    const desired = this.#desired(new Date());

    // Fast path: we are the leader and our record is current: replace optimistically.
    if (this.#state === 'leading' && this.#observed?.holderIdentity === this.identity && this.#observedRv && this.#leaseValid()) {
      const rec: LeaseRecord = {
        ...desired,
        ...(this.#observed.acquireTime ? { acquireTime: this.#observed.acquireTime } : {}),
        leaseTransitions: this.#observed.leaseTransitions,
      };
      try {
        const rv = await this.#lease.update(rec, this.#observedRv, timeoutMs);
        this.#renewed(rec, rv, sentAt);
        return true;
      } catch (err) {
        this.#log.debug({ err: errorMessage(err), code: statusCodeOf(err) }, 'optimistic renew failed; re-reading the lease');
      }
    }

    // Slow path: read, decide, write.
    let current: VersionedLease | null;
    try {
      current = await this.#lease.get(timeoutMs);
    } catch (err) {
      this.#logFailure(err, 'reading the lease failed');
      return false;
    }
    if (current === null) {
      try {
        const rv = await this.#lease.create(desired, timeoutMs);
        this.#renewed(desired, rv, sentAt);
        return true;
      } catch (err) {
        this.#logFailure(err, 'creating the lease failed');
        return false;
      }
    }
    if (!this.#observed || !sameRecord(this.#observed, current.record)) {
      this.#setObserved(current.record, current.resourceVersion, this.#clock.now());
    } else {
      this.#observedRv = current.resourceVersion;
    }
    const holder = current.record.holderIdentity;
    if (holder && holder !== this.identity && this.#leaseValid()) return false;

    const rec: LeaseRecord =
      holder === this.identity
        ? { ...desired, ...(current.record.acquireTime ? { acquireTime: current.record.acquireTime } : {}), leaseTransitions: current.record.leaseTransitions }
        : { ...desired, leaseTransitions: current.record.leaseTransitions + 1 };
    try {
      const rv = await this.#lease.update(rec, current.resourceVersion, timeoutMs);
      this.#renewed(rec, rv, sentAt);
      return true;
    } catch (err) {
      this.#logFailure(err, 'updating the lease failed');
      return false;
    }
  }

  /**
   * A 409 is the normal outcome of a race with another replica (debug). Anything else — 401/403
   * (RBAC on the Lease), an unreachable apiserver — keeps this replica from ever leading, so it is
   * said at warn: a controller that silently never leads is the worst kind of outage.
   */
  #logFailure(err: unknown, msg: string): void {
    const code = statusCodeOf(err);
    if (code === 409) this.#log.debug({ err: errorMessage(err), code }, msg);
    else this.#log.warn({ err: errorMessage(err), code }, msg);
  }

  #renewed(rec: LeaseRecord, rv: string, sentAt: number): void {
    this.#setObserved(rec, rv, this.#clock.now());
    this.#lastRenewSent = sentAt;
    this.#lastRenewWall = Date.now();
  }

  async #release(): Promise<void> {
    if (this.#observed?.holderIdentity !== this.identity || !this.#observedRv) return;
    const now = microTime(new Date());
    // client-go `release`: empty holder, 1 s duration, so successors acquire at once.
    const rec: LeaseRecord = { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: this.#observed.leaseTransitions };
    try {
      const rv = await this.#lease.update(rec, this.#observedRv, Math.max(1000, this.renewDeadlineMs / 2));
      this.#setObserved(rec, rv, this.#clock.now());
      this.#log.info({}, 'released the lease');
    } catch (err) {
      this.#log.warn({ err: errorMessage(err) }, 'releasing the lease failed (successor waits out the lease)');
    }
  }

  #transition(to: 'leading' | 'lost' | 'stopped'): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.#log.info({ from, to }, to === 'leading' ? 'started leading' : 'stopped leading');
    try {
      if (to === 'leading') this.#opts.onStartedLeading?.();
      else if (from === 'leading') this.#opts.onStoppedLeading?.(to);
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, 'leader callback threw');
    }
  }

  #sleep(ms: number): Promise<void> {
    const signal = this.#stopCtl.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = (): void => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** RFC 3339 with 6 fractional digits: the API's MicroTime format, so records compare textually. */
function microTime(d: Date): string {
  return d.toISOString().slice(0, -1) + '000Z';
}

function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.acquireTime === b.acquireTime &&
    a.renewTime === b.renewTime &&
    a.leaseTransitions === b.leaseTransitions
  );
}
