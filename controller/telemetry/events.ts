// SPDX-License-Identifier: Apache-2.0
//
// A Kubernetes Events recorder (events.k8s.io/v1) with client-go's protections
// (`tools/events` + `tools/record/events_cache.go`):
// * Aggregation: identical events (same object, type, reason, action, note) within `seriesWindowMs`
//   (client-go: 6 min) become one Event whose `series {count, lastObservedTime}` is updated, at most
//   once per `seriesFlushMs` per Event (client-go refreshes series every 30 min; we default to 30 s
//   so `kubectl describe` stays current during an outage without flooding the apiserver).
// * Rate limit: a token bucket per regarding object (client-go spam filter: burst 25, refill one
//   per 5 min), so a hot-looping object cannot spam; dropped events are counted.
// * Fenced: only the leader records (runtime/fence.ts); a deposed replica stays silent.
// * Never blocks or throws into a reconcile: `record()` is fire-and-forget; `flush()` awaits
//   pending writes (tests, shutdown).
// * Bounded memory: an LRU of 4096 aggregation entries and of 4096 buckets (client-go
//   `maxLruCacheEntries`).
import { randomBytes } from 'node:crypto';
import { EventsV1Api, PatchStrategy, V1MicroTime, type EventsV1Event, setHeaderOptions } from '@kubernetes/client-node';
import type { ClusterClient } from '../clusters/client.ts';
import { requestTimeout } from '../clusters/client.ts';
import { errorMessage } from '../errors/index.ts';
import { type Clock, monotonicClock } from '../runtime/clock.ts';
import type { Fence } from '../runtime/fence.ts';
import { TokenBucket } from '../runtime/ratelimit.ts';
import { type Log, silentLog } from './logger.ts';

/** The object an event is about. */
export interface ObjectReference {
  apiVersion?: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

/** Event type. */
export type EventType = 'Normal' | 'Warning';

/** Where events go (kubeEventSink in production, a fake in unit tests). */
export interface EventSink {
  create(namespace: string, event: EventsV1Event): Promise<void>;
  /** Merge-patch the series of an existing event. */
  patchSeries(namespace: string, name: string, series: { count: number; lastObservedTime: Date }): Promise<void>;
}

/** An EventSink on a real cluster. */
export function kubeEventSink(cluster: ClusterClient, timeoutMs = 10_000): EventSink {
  const api = cluster.api(EventsV1Api);
  return {
    async create(namespace, body) {
      await api.createNamespacedEvent({ namespace, body }, requestTimeout(timeoutMs));
    },
    async patchSeries(namespace, name, series) {
      const body = { series: { count: series.count, lastObservedTime: new V1MicroTime(series.lastObservedTime.getTime()) } };
      await api.patchNamespacedEvent({ name, namespace, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch, requestTimeout(timeoutMs)));
    },
  };
}

/** Options of {@link EventRecorder}. */
export interface EventRecorderOptions {
  sink: EventSink;
  /** `reportingController`, e.g. `fleetilb.io/gateway-controller`. */
  controller: string;
  /** `reportingInstance`: this replica (pod name). */
  instance: string;
  /** Only record while this fence is open. Defaults to always. */
  fence?: Fence;
  /** Identical events within this window aggregate. Defaults to 6 min. */
  seriesWindowMs?: number;
  /** Minimum gap between two series updates of one Event. Defaults to 30 s. */
  seriesFlushMs?: number;
  /** Per-object bucket size. Defaults to 25. */
  burst?: number;
  /** Per-object refill rate. Defaults to 1 per 300 s. */
  qps?: number;
  onDropped?: (reason: 'rate_limited' | 'fenced' | 'error') => void;
  log?: Log;
  clock?: Clock;
}

interface Entry {
  name: string;
  namespace: string;
  count: number;
  lastSeen: number;
  written: number;
  flushTimer: ReturnType<typeof setTimeout> | undefined;
  lastFlush: number;
  bucketKey: string;
  /** The create call, so series patches never race ahead of it. */
  created: Promise<boolean>;
}

const MAX_ENTRIES = 4096;
const NOTE_MAX = 1024; // events.k8s.io/v1 validation: note ≤ 1 kB

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 3)}...`;
}

/** Records Kubernetes Events for the controller (see the file comment). */
export class EventRecorder {
  readonly #o: EventRecorderOptions;
  readonly #log: Log;
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #pending = new Set<Promise<unknown>>();

  constructor(opts: EventRecorderOptions) {
    this.#o = opts;
    this.#log = (opts.log ?? silentLog).child({ component: 'events' });
    this.#clock = opts.clock ?? monotonicClock;
  }

  /** Record an event about `regarding`. Never throws, never waits. */
  record(regarding: ObjectReference, type: EventType, reason: string, action: string, note: string): void {
    const fence = this.#o.fence;
    if (fence && !fence.canWrite()) {
      this.#o.onDropped?.('fenced');
      return;
    }
    const objKey = regarding.uid ?? `${regarding.kind}/${regarding.namespace ?? ''}/${regarding.name}`;
    const key = JSON.stringify([objKey, type, reason, action, note]);
    const now = this.#clock.now();
    const existing = this.#entries.get(key);
    if (existing && now - existing.lastSeen <= (this.#o.seriesWindowMs ?? 360_000)) {
      existing.count++;
      existing.lastSeen = now;
      this.#touch(key, existing);
      this.#scheduleFlush(existing);
      return;
    }
    if (existing) this.#drop(key, existing);
    if (!this.#take(objKey)) {
      this.#o.onDropped?.('rate_limited');
      return;
    }
    const namespace = regarding.namespace || 'default';
    const name = `${truncate(regarding.name, 200)}.${randomBytes(8).toString('hex')}`;
    const body: EventsV1Event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace },
      eventTime: new V1MicroTime(Date.now()),
      reportingController: this.#o.controller,
      reportingInstance: truncate(this.#o.instance, 128),
      type,
      reason: truncate(reason, 128),
      action: truncate(action, 128),
      note: truncate(note, NOTE_MAX),
      regarding: { ...regarding },
    };
    const created = this.#track(
      this.#o.sink.create(namespace, body).then(
        () => true,
        (err: unknown) => {
          this.#o.onDropped?.('error');
          this.#log.warn({ err: errorMessage(err), reason, object: objKey }, 'could not create event');
          return false;
        },
      ),
    );
    const entry: Entry = { name, namespace, count: 1, lastSeen: now, written: 1, flushTimer: undefined, lastFlush: now, bucketKey: objKey, created };
    this.#entries.set(key, entry);
    this.#evict();
  }

  /** Resolve once every write started so far has finished (pending series flushes are sent now). */
  async flush(): Promise<void> {
    for (const e of this.#entries.values()) {
      if (e.flushTimer !== undefined) {
        clearTimeout(e.flushTimer);
        e.flushTimer = undefined;
        this.#sendSeries(e);
      }
    }
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  #take(objKey: string): boolean {
    let b = this.#buckets.get(objKey);
    if (!b) {
      b = new TokenBucket({ qps: this.#o.qps ?? 1 / 300, burst: this.#o.burst ?? 25, clock: this.#clock });
      this.#buckets.set(objKey, b);
      if (this.#buckets.size > MAX_ENTRIES) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
    } else {
      this.#buckets.delete(objKey);
      this.#buckets.set(objKey, b);
    }
    return b.tryTake();
  }

  #scheduleFlush(e: Entry): void {
    if (e.flushTimer !== undefined) return;
    const wait = Math.max(0, e.lastFlush + (this.#o.seriesFlushMs ?? 30_000) - this.#clock.now());
    e.flushTimer = setTimeout(() => {
      e.flushTimer = undefined;
      this.#sendSeries(e);
    }, wait);
    e.flushTimer.unref?.();
  }

  #sendSeries(e: Entry): void {
    if (e.count === e.written) return;
    const fence = this.#o.fence;
    if (fence && !fence.canWrite()) {
      this.#o.onDropped?.('fenced');
      return;
    }
    if (!this.#take(e.bucketKey)) {
      this.#o.onDropped?.('rate_limited');
      this.#scheduleFlush(e); // the count keeps growing locally; try again later
      return;
    }
    const count = e.count;
    e.lastFlush = this.#clock.now();
    void this.#track(
      e.created.then(async (ok) => {
        if (!ok) return;
        try {
          await this.#o.sink.patchSeries(e.namespace, e.name, { count, lastObservedTime: new Date() });
          e.written = Math.max(e.written, count);
        } catch (err) {
          this.#o.onDropped?.('error');
          this.#log.warn({ err: errorMessage(err), event: e.name }, 'could not update event series');
        }
      }),
    );
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#pending.add(p);
    const done = (): void => void this.#pending.delete(p);
    p.then(done, done);
    return p;
  }

  #touch(key: string, e: Entry): void {
    this.#entries.delete(key);
    this.#entries.set(key, e);
  }

  #drop(key: string, e: Entry): void {
    if (e.flushTimer !== undefined) clearTimeout(e.flushTimer);
    this.#entries.delete(key);
  }

  #evict(): void {
    while (this.#entries.size > MAX_ENTRIES) {
      const first = this.#entries.entries().next().value;
      if (!first) return;
      this.#drop(first[0], first[1]);
    }
  }
}
