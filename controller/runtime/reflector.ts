// SPDX-License-Identifier: Apache-2.0
//
// A reflector: list + watch of one collection path on one cluster into an in-memory store, built on
// client-node 2.0.1's raw `Watch.watch` (docs/architecture.md "Kubernetes clients"). Not `makeInformer`:
// its ListWatch stops for good on the first non-timeout error and passes neither bookmarks nor
// server timeouts. What this adds, and why:
//
// * LIST paginated with `limit`/`continue` (client-go pager); a 410 on a continue token restarts the
//   list unpaginated (client-go `FullListIfExpired`).
// * WATCH from the list's resourceVersion with `allowWatchBookmarks=true` (bookmarks advance the RV
//   on quiet collections, so a reconnect rarely hits 410) and a server-side `timeoutSeconds` of
//   ~300 s ± 10 % (the server closes regularly, like client-go's 5-10 min `minWatchTimeout` window).
// * Reconnect from the last RV after any clean end; jittered exponential backoff 1 s → 30 s after
//   failures (battery E3), reset after a healthy watch. Client-node #1933 (tens of watch requests/s
//   from restart-on-error loops) is why a watch that ends within a second with no event counts as a
//   failure.
// * An inactivity watchdog (no event and no bookmark for `idleTimeoutMs`, default 75 s, i.e. a
//   missed ~60 s bookmark plus slack, apiserver `cacheWatcher.nextBookmarkTime`): abort and
//   reconnect. Half-open TCP otherwise holds a dead watch for ~15 min (client-go#374,
//   kubernetes#65012). client-node 2.0.1 has its own 30 s *inactivity* abort (#3022), which would cut
//   every quiet watch before the first bookmark; we move it to `idleTimeoutMs + 5 s` (it stays the
//   connect timeout) and treat its TimeoutError as an ordinary reconnect.
// * 410 Gone (HTTP or an ERROR event) → relist and DIFF against the store: objects that vanished get
//   a synthesized delete, unchanged objects (same RV) no event at all, so a relist causes no spurious
//   reconciles (battery E2). A periodic relist (default 10 min ± 10 %) catches deletes a broken
//   watch may have dropped (cilium/cilium#48050).
// * The store is only replaced by a *complete, successful* list: an unreachable cluster keeps its
//   last known contents (docs/failure-rules.md "Frozen members"), and a failed or partial list never wipes it.
// * With `confirmEmptyListMs`, not even a successful list wipes it at once: a list that comes back
//   EMPTY while the store (or `priorCount`, the copy a replaced reflector left) held objects is held
//   back, the store kept and no watch opened, and the list is repeated after that delay; only a
//   second empty list at least that much later is applied (battery D2, docs/failure-rules.md: "no detach
//   unless the emptiness holds for ≥ 2 consecutive full relists"; a proxy, a restored etcd or an
//   apiserver mid-restart can answer one list with nothing — kubernetes/ingress-gce#1192 detached
//   every NEG endpoint after one bad computation, cilium/cilium#26912 dropped backends after a
//   partial list). Deletions seen as watch events are real and applied at once.
// * `stop()` is final: an own `stopped` flag plus a generation counter make every late callback of
//   an old attempt a no-op, so stop() never resurrects a watch (client-node 1.x fires `error` on
//   stop) and no duplicate watch is ever opened (client-node #3052).
// * `managedFields` is stripped from stored objects (it is often the larger half of an object), and
//   an optional `transform` keeps only the fields the controller reads (e.g. a Node without its
//   `status.images`): applied to every listed and watched object before it is stored or emitted.
import { HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { type ClassifiedClusterError, KubeHttpError, classifyClusterError, isGone } from '../clusters/errors.ts';
import { type Query, clusterUrl, getJson, statusOfBody, watchConfig } from '../clusters/http.ts';
import { type Log, silentLog } from '../telemetry/logger.ts';
import { type Clock, jitter, monotonicClock, wallClock } from './clock.ts';

/** The minimal object shape the store needs. */
export interface StoredObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; managedFields?: unknown };
}

/** How the reflector talks to a cluster (ClusterClient in production, a fake in unit tests). */
export interface ReflectorTransport {
  /** GET a list page. Rejects with an error `classifyClusterError` understands. */
  list(path: string, query: Query, opts: { signal: AbortSignal; timeoutMs: number }): Promise<unknown>;
  /**
   * Open a watch (client-node `Watch.watch` contract): `onEvent` per line, `onDone` exactly once
   * when it ends (error or clean close). Resolves once the response started (or failed).
   * `opts.signal` aborts it at any time, also before the server answered: the promise may resolve
   * long after the request was sent (headers come with the first event through some proxies), and
   * a watch given up meanwhile must not stay open until then (battery E3).
   */
  watch(
    path: string,
    query: Query,
    onEvent: (type: string, obj: unknown) => void,
    onDone: (err: unknown) => void,
    opts?: { signal?: AbortSignal },
  ): Promise<{ abort(): void }>;
}

/**
 * A transport over one cluster's KubeConfig (use `client.kubeConfig` of a ClusterClient).
 * `clientTimeoutMs` replaces client-node's 30 s watch inactivity abort (which is also its connect
 * timeout); it defaults to 80 s = the reflector's default `idleTimeoutMs` + 5 s, so the reflector's
 * own watchdog fires first. Pass `idleTimeoutMs + 5000` when you change `idleTimeoutMs`.
 */
export function kubeTransport(kc: KubeConfig, opts: { clientTimeoutMs?: number } = {}): ReflectorTransport {
  const clientTimeoutMs = opts.clientTimeoutMs ?? 80_000;
  return {
    list: (path, query, o) => getJson(kc, path, { query, signal: o.signal, timeoutMs: o.timeoutMs }),
    watch: (path, query, onEvent, onDone, o) => watchJson(kc, path, query, onEvent, onDone, { clientTimeoutMs, ...(o?.signal === undefined ? {} : { signal: o.signal }) }),
  };
}

/**
 * client-node's `Watch.watch` (2.0.1) with an outer AbortSignal: the same request (the kubeconfig's
 * watch connection pool, `watchConfig`), line-delimited JSON events, a timeout that is the connect
 * timeout until the response starts and an inactivity timeout after (`clientTimeoutMs`; it ends the
 * watch with a `TimeoutError`), `onDone` exactly once. client-node's own cannot be aborted before
 * its response headers arrive: a reflector that stopped (a credential rotation) or gave up on a
 * watch meanwhile left the request open until the server's first event (battery E3).
 */
async function watchJson(
  kc: KubeConfig,
  path: string,
  query: Query,
  onEvent: (type: string, obj: unknown) => void,
  onDone: (err: unknown) => void,
  opts: { clientTimeoutMs: number; signal?: AbortSignal },
): Promise<{ abort(): void }> {
  const controller = new AbortController();
  const handle = { abort: (): void => controller.abort() };
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const resetTimer = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort(timeoutError());
    }, opts.clientTimeoutMs);
    timer.unref?.();
  };
  const onOuterAbort = (): void => controller.abort();
  let doneCalled = false;
  const doneOnce = (err: unknown): void => {
    if (doneCalled) return;
    doneCalled = true;
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onOuterAbort);
    controller.abort();
    onDone(err !== null && err !== undefined && timedOut ? timeoutError() : err);
  };
  if (opts.signal?.aborted === true) {
    doneOnce(null);
    return handle;
  }
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  try {
    const url = clusterUrl(kc, path, { ...query, watch: true });
    const ctx = new RequestContext(url.toString(), HttpMethod.GET);
    await watchConfig(kc).applySecurityAuthentication(ctx);
    resetTimer();
    const dispatcher = ctx.getDispatcher();
    const res = await fetch(url, { method: 'GET', headers: ctx.getHeaders(), signal: controller.signal, ...(dispatcher ? { dispatcher } : {}) });
    if (res.status !== 200 || res.body === null) {
      throw new KubeHttpError(res.status, statusOfBody(await res.text().catch(() => '')), `WATCH ${url.pathname}`);
    }
    // The connect timeout is over; from here on it is an inactivity timeout.
    resetTimer();
    const body = res.body;
    void (async () => {
      const decoder = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of body) {
          resetTimer();
          buf += decoder.decode(chunk as Uint8Array, { stream: true });
          // Every complete line of the buffer, then keep the rest once (not a copy per line).
          let start = 0;
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n', start)) {
            const line = buf.slice(start, i);
            start = i + 1;
            if (line.trim() === '') continue;
            let data: { type?: unknown; object?: unknown };
            try {
              data = JSON.parse(line) as typeof data;
            } catch {
              continue; // as client-node: a line that is not JSON is skipped
            }
            if (doneCalled) return;
            onEvent(String(data.type), data.object);
          }
          buf = buf.slice(start);
        }
        doneOnce(null);
      } catch (err) {
        // Our own abort (stop, the reflector's watchdog) ends the watch like a close.
        doneOnce(controller.signal.aborted && !timedOut ? null : err);
      }
    })();
  } catch (err) {
    doneOnce(controller.signal.aborted && !timedOut ? null : err);
  }
  return handle;
}

/** The error a fetch aborted by AbortSignal.timeout() rejects with, which the reflector maps to `timeout`. */
function timeoutError(): DOMException {
  return new DOMException('The operation was aborted due to timeout', 'TimeoutError');
}

/** What a reflector's connection looks like (the runtime maps it to member reachability). */
export type ReflectorState =
  /** Before the first list completed. */
  | { phase: 'starting' }
  /** Listed, and a watch is open (or being reopened after a normal close). */
  | { phase: 'connected' }
  /** A normal reconnect is in progress (server timeout, idle watchdog, 410 relist). */
  | { phase: 'reconnecting'; reason: string }
  /** The last attempt failed; retrying with backoff. The store keeps its last contents. */
  | { phase: 'failing'; error: ClassifiedClusterError; attempts: number; since: number }
  /** 401/403 or an unverifiable server: retrying with backoff, but needs a credential fix. */
  | { phase: 'unauthorized'; error: ClassifiedClusterError; attempts: number; since: number }
  | { phase: 'stopped' };

/** Extra information passed with each event. */
export interface EventMeta {
  /** True when the event comes from a (re)list diff rather than the watch stream (enqueue low). */
  relist: boolean;
}

/** Listener signatures. */
export interface ReflectorListeners<T> {
  add: (obj: T, meta: EventMeta) => void;
  update: (oldObj: T, newObj: T, meta: EventMeta) => void;
  delete: (obj: T, meta: EventMeta) => void;
  /** After every successful full list (`initial` on the first). */
  synced: (info: { initial: boolean; count: number }) => void;
  state: (state: ReflectorState) => void;
}

/** Optional metrics hooks (telemetry/metrics.ts). */
export interface ReflectorMetrics {
  /** A watch ended and will be reopened; `reason` ∈ closed | timeout | idle | gone | error. */
  watchRestart?(reason: string): void;
  /** A list completed. */
  listed?(count: number, durationMs: number): void;
  /** An empty list was held back, unconfirmed (the store kept `had` objects). */
  emptyListHeld?(had: number): void;
}

/** Options of {@link Reflector}. */
export interface ReflectorOptions {
  transport: ReflectorTransport;
  /** Collection path, e.g. `/api/v1/nodes`, `/apis/gateway.networking.k8s.io/v1/gateways`. */
  path: string;
  /** Cluster name (logs, metrics). */
  cluster: string;
  /** Short resource name for logs/metrics. Defaults to the last path segment. */
  resource?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** LIST page size. Defaults to 500. */
  pageSize?: number;
  /** Server-side watch timeout before jitter. Defaults to 300 s. */
  watchTimeoutSeconds?: number;
  /** No event/bookmark for this long → abort and reconnect. Defaults to 75 s. */
  idleTimeoutMs?: number;
  /** LIST request timeout. Defaults to 60 s. */
  listTimeoutMs?: number;
  /** First failure backoff. Defaults to 1 s. */
  backoffInitialMs?: number;
  /** Backoff cap. Defaults to 30 s. */
  backoffMaxMs?: number;
  /** Periodic full relist; 0 disables. Defaults to 10 min (± 10 % jitter). */
  relistIntervalMs?: number;
  /**
   * Hold back a successful but EMPTY list while there was data, until a second empty list at least
   * this much later confirms it (see the file comment). 0 / absent: apply every list at once.
   */
  confirmEmptyListMs?: number;
  /**
   * Applied to every object (after `managedFields` is stripped) before it is stored or emitted: keep
   * only what the controller reads, so the cache does not hold the rest (deploy/README.md "Memory").
   * It must keep `metadata.name`, `namespace` and `resourceVersion`.
   */
  transform?: (obj: StoredObject) => StoredObject;
  /**
   * Objects a previous holder of this data had (a replaced reflector's frozen copy): an empty FIRST
   * list counts as a drop from that many. Only with `confirmEmptyListMs`.
   */
  priorCount?: () => number;
  log?: Log;
  metrics?: ReflectorMetrics;
  clock?: Clock;
  random?: () => number;
}

type WatchEnd =
  | { kind: 'closed' | 'timeout' | 'idle' | 'relist'; healthy: boolean }
  | { kind: 'gone' }
  | { kind: 'error'; err: unknown; healthy: boolean };

/** The store key of an object (client-go `MetaNamespaceKeyFunc`). */
export function objectKey(obj: StoredObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

function rvOf(obj: StoredObject): string | undefined {
  return obj.metadata?.resourceVersion;
}

function strip<T extends StoredObject>(obj: T): T {
  if (obj.metadata && 'managedFields' in obj.metadata) delete obj.metadata.managedFields;
  return obj;
}

const keepAll = <T>(obj: T): T => obj;

interface ListPage {
  items?: unknown[];
  metadata?: { resourceVersion?: string; continue?: string };
}

/** List+watch of one collection into a store. See the file comment for the behaviour. */
export class Reflector<T extends StoredObject = StoredObject> {
  readonly cluster: string;
  readonly resource: string;
  readonly path: string;
  readonly #o: Required<
    Pick<
      ReflectorOptions,
      | 'pageSize'
      | 'watchTimeoutSeconds'
      | 'idleTimeoutMs'
      | 'listTimeoutMs'
      | 'backoffInitialMs'
      | 'backoffMaxMs'
      | 'relistIntervalMs'
      | 'confirmEmptyListMs'
    >
  >;
  readonly #priorCount: (() => number) | undefined;
  readonly #transform: (obj: T) => T;
  /** Monotonic time of the first empty list that is still unconfirmed. */
  #emptySince: number | undefined;
  readonly #transport: ReflectorTransport;
  readonly #selectors: Query;
  readonly #log: Log;
  readonly #metrics: ReflectorMetrics;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #listeners: { [E in keyof ReflectorListeners<T>]: Set<ReflectorListeners<T>[E]> } = {
    add: new Set(),
    update: new Set(),
    delete: new Set(),
    synced: new Set(),
    state: new Set(),
  };

  #store = new Map<string, T>();
  #rv: string | undefined;
  #synced = false;
  #lastSyncWall: number | undefined;
  #state: ReflectorState = { phase: 'starting' };
  #started = false;
  #stopped = false;
  /** Bumped by stop(); every async continuation checks it. */
  #generation = 0;
  #abort = new AbortController();
  #currentWatch: { abort(): void } | undefined;
  #failures = 0;
  #nextRelistAt = Infinity;
  #watchesOpen = 0;
  #watchesOpened = 0;

  constructor(opts: ReflectorOptions) {
    this.cluster = opts.cluster;
    this.path = opts.path;
    this.resource = opts.resource ?? opts.path.split('/').filter(Boolean).pop() ?? opts.path;
    this.#transport = opts.transport;
    this.#transform = (opts.transform as ((obj: T) => T) | undefined) ?? keepAll;
    this.#selectors = { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector };
    this.#o = {
      pageSize: opts.pageSize ?? 500,
      watchTimeoutSeconds: opts.watchTimeoutSeconds ?? 300,
      idleTimeoutMs: opts.idleTimeoutMs ?? 75_000,
      listTimeoutMs: opts.listTimeoutMs ?? 60_000,
      backoffInitialMs: opts.backoffInitialMs ?? 1000,
      backoffMaxMs: opts.backoffMaxMs ?? 30_000,
      relistIntervalMs: opts.relistIntervalMs ?? 600_000,
      confirmEmptyListMs: opts.confirmEmptyListMs ?? 0,
    };
    this.#priorCount = opts.priorCount;
    this.#log = (opts.log ?? silentLog).child({ cluster: this.cluster, resource: this.resource });
    this.#metrics = opts.metrics ?? {};
    this.#clock = opts.clock ?? monotonicClock;
    this.#random = opts.random ?? Math.random;
  }

  /** Subscribe; returns an unsubscribe function. Listener exceptions are logged, never propagated. */
  on<E extends keyof ReflectorListeners<T>>(event: E, fn: ReflectorListeners<T>[E]): () => void {
    this.#listeners[event].add(fn);
    return () => this.#listeners[event].delete(fn);
  }

  /** Begin listing and watching (idempotent; a stopped reflector stays stopped). */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    const gen = this.#generation;
    void this.#run(gen).catch((err: unknown) => {
      // #run handles its own errors; this is a last-resort guard against an unhandled rejection.
      this.#log.error({ err }, 'reflector loop crashed');
    });
  }

  /** Stop for good: aborts the watch/list, cancels timers; the store keeps its contents. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#generation++;
    this.#abort.abort();
    this.#currentWatch?.abort();
    this.#currentWatch = undefined;
    this.#setState({ phase: 'stopped' });
  }

  /** True once the first full list has completed (stays true: the store is then "last known"). */
  hasSynced(): boolean {
    return this.#synced;
  }

  /** Wall-clock ms of the last successful full list. */
  lastSyncTime(): number | undefined {
    return this.#lastSyncWall;
  }

  /** The RV the next watch resumes from. */
  resourceVersion(): string | undefined {
    return this.#rv;
  }

  state(): ReflectorState {
    return this.#state;
  }

  /** Watches currently open (0 or 1; exposed so tests can prove no duplicates). */
  openWatches(): number {
    return this.#watchesOpen;
  }

  /** Watches opened over the reflector's life. */
  watchesOpened(): number {
    return this.#watchesOpened;
  }

  /** An object by store key (`ns/name` or `name`). Do not mutate it. */
  get(key: string): T | undefined {
    return this.#store.get(key);
  }

  /** An object by name (and namespace for namespaced resources). */
  getByName(name: string, namespace?: string): T | undefined {
    return this.#store.get(namespace ? `${namespace}/${name}` : name);
  }

  /** Every stored object (optionally only one namespace). Do not mutate them. */
  list(namespace?: string): T[] {
    const all = [...this.#store.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  /** Number of stored objects. */
  size(): number {
    return this.#store.size;
  }

  /** Wait until synced (or `timeoutMs` passes → false). */
  waitForSync(timeoutMs: number): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        off();
        resolve(this.#synced);
      }, timeoutMs);
      t.unref?.();
      const off = this.on('synced', () => {
        clearTimeout(t);
        off();
        resolve(true);
      });
    });
  }

  // ---- the loop --------------------------------------------------------------------------------

  #live(gen: number): boolean {
    return !this.#stopped && gen === this.#generation;
  }

  async #run(gen: number): Promise<void> {
    let needList = true;
    while (this.#live(gen)) {
      if (needList) {
        let applied: boolean;
        try {
          applied = await this.#listAndReplace(gen);
        } catch (err) {
          if (!this.#live(gen)) return;
          await this.#fail(gen, err, 'list');
          continue;
        }
        if (!this.#live(gen)) return;
        if (!applied) {
          // An empty list while we had data: keep the store, ask again later (no watch meanwhile,
          // it would apply events to a store the list said is gone).
          this.#setState({ phase: 'reconnecting', reason: 'empty list held back until a second list confirms it' });
          await this.#sleep(gen, jitter(this.#o.confirmEmptyListMs, 0.1, this.#random));
          continue;
        }
        needList = false;
        this.#failures = 0;
        this.#setState({ phase: 'connected' });
        this.#scheduleRelist();
      }
      const end = await this.#watchOnce(gen);
      if (!this.#live(gen)) return;
      this.#metrics.watchRestart?.(end.kind);
      switch (end.kind) {
        case 'gone':
        case 'relist':
          needList = true;
          this.#setState({ phase: 'reconnecting', reason: end.kind === 'gone' ? '410 Gone: relisting' : 'periodic relist' });
          this.#log.debug({ reason: end.kind }, 'relisting');
          break;
        case 'closed':
        case 'timeout':
        case 'idle':
          if (end.healthy) {
            this.#failures = 0;
            if (end.kind === 'idle') {
              this.#setState({ phase: 'reconnecting', reason: `no event or bookmark for ${this.#o.idleTimeoutMs} ms` });
              this.#log.info({}, 'watch idle: reconnecting');
            }
          } else {
            await this.#fail(gen, new Error(`watch ended (${end.kind}) without delivering anything`), 'watch');
          }
          break;
        case 'error':
          if (isGone(end.err)) {
            needList = true;
            break;
          }
          await this.#fail(gen, end.err, 'watch');
          break;
      }
    }
  }

  /** Record a failure, publish the state, sleep the backoff. */
  async #fail(gen: number, err: unknown, what: 'list' | 'watch'): Promise<void> {
    this.#failures++;
    const error = classifyClusterError(err);
    const prev = this.#state;
    const since = (prev.phase === 'failing' || prev.phase === 'unauthorized') ? prev.since : wallClock.now();
    const unauthorized = error.kind === 'AuthFailed' || error.kind === 'Forbidden';
    this.#setState({ phase: unauthorized ? 'unauthorized' : 'failing', error, attempts: this.#failures, since });
    const base = Math.min(this.#o.backoffInitialMs * 2 ** (this.#failures - 1), this.#o.backoffMaxMs);
    const delay = Math.min(jitter(base, 0.2, this.#random), this.#o.backoffMaxMs);
    const log = this.#failures === 1 || this.#failures % 10 === 0 ? this.#log.warn.bind(this.#log) : this.#log.debug.bind(this.#log);
    log({ what, kind: error.kind, error: error.message, attempts: this.#failures, retryInMs: Math.round(delay) }, `${what} failed`);
    await this.#sleep(gen, delay);
  }

  #sleep(gen: number, ms: number): Promise<void> {
    if (!this.#live(gen)) return Promise.resolve();
    const signal = this.#abort.signal;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(t);
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #scheduleRelist(): void {
    this.#nextRelistAt =
      this.#o.relistIntervalMs > 0 ? this.#clock.now() + jitter(this.#o.relistIntervalMs * 0.9, 0.2 / 0.9, this.#random) : Infinity;
  }

  /** One full list; false when it was an unconfirmed empty list that was held back. */
  async #listAndReplace(gen: number): Promise<boolean> {
    const started = this.#clock.now();
    const items: T[] = [];
    let rv: string | undefined;
    let cont: string | undefined;
    let paged = true;
    for (;;) {
      const query: Query = { ...this.#selectors, ...(paged ? { limit: this.#o.pageSize } : {}), ...(cont ? { continue: cont } : {}) };
      let page: ListPage;
      try {
        page = (await this.#transport.list(this.path, query, { signal: this.#abort.signal, timeoutMs: this.#o.listTimeoutMs })) as ListPage;
      } catch (err) {
        // An expired continue token: start again without paging (client-go FullListIfExpired).
        if (cont !== undefined && isGone(err)) {
          items.length = 0;
          cont = undefined;
          paged = false;
          continue;
        }
        throw err;
      }
      if (!this.#live(gen)) return true;
      if (!page || !Array.isArray(page.items)) throw new Error(`LIST ${this.path}: response has no items array`);
      for (const it of page.items) items.push(this.#transform(strip(it as T)));
      rv = page.metadata?.resourceVersion;
      cont = page.metadata?.continue || undefined;
      if (!cont) break;
    }
    if (!rv) throw new Error(`LIST ${this.path}: response has no resourceVersion`);
    if (this.#o.confirmEmptyListMs > 0) {
      const had = this.#synced ? this.#store.size : (this.#priorCount?.() ?? 0);
      if (items.length === 0 && had > 0) {
        const now = this.#clock.now();
        if (this.#emptySince === undefined || now - this.#emptySince < this.#o.confirmEmptyListMs) {
          this.#emptySince ??= now;
          this.#metrics.emptyListHeld?.(had);
          this.#log.warn({ had, confirmAfterMs: this.#o.confirmEmptyListMs }, 'list returned no objects while we had some: held back until a second list confirms it');
          return false;
        }
        this.#log.warn({ had, unconfirmedForMs: Math.round(now - this.#emptySince) }, 'empty list confirmed: applying it');
      }
      this.#emptySince = undefined;
    }
    this.#replace(items, rv);
    this.#metrics.listed?.(items.length, this.#clock.now() - started);
    return true;
  }

  /** Swap in a complete list, then emit the diff (adds, changed updates, synthesized deletes). */
  #replace(items: T[], rv: string): void {
    const old = this.#store;
    const next = new Map<string, T>();
    const added: T[] = [];
    const updated: [T, T][] = [];
    for (const obj of items) {
      const key = objectKey(obj);
      const prev = old.get(key);
      if (prev === undefined) {
        next.set(key, obj);
        added.push(obj);
      } else if (rvOf(prev) !== rvOf(obj)) {
        next.set(key, obj);
        updated.push([prev, obj]);
      } else {
        next.set(key, prev); // unchanged: keep the identical object, emit nothing
      }
    }
    const deleted: T[] = [];
    for (const [key, prev] of old) if (!next.has(key)) deleted.push(prev);
    this.#store = next;
    this.#rv = rv;
    const initial = !this.#synced;
    this.#synced = true;
    this.#lastSyncWall = wallClock.now();
    const meta: EventMeta = { relist: true };
    for (const o of added) this.#emit('add', o, meta);
    for (const [a, b] of updated) this.#emit('update', a, b, meta);
    for (const o of deleted) this.#emit('delete', o, meta);
    this.#emit('synced', { initial, count: next.size });
  }

  #watchOnce(gen: number): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve) => {
      const openedAt = this.#clock.now();
      let events = 0;
      let settled = false;
      let handle: { abort(): void } | undefined;
      let watchdog: ReturnType<typeof setTimeout> | undefined;
      let relistTimer: ReturnType<typeof setTimeout> | undefined;
      let counted = false;
      // Ends this attempt's request even before the server answered (stop, watchdog, relist timer):
      // the handle below exists only once it did (battery E3).
      const attempt = new AbortController();

      const healthy = (): boolean => events > 0 || this.#clock.now() - openedAt >= 1000;
      const finish = (end: WatchEnd): void => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        clearTimeout(relistTimer);
        this.#abort.signal.removeEventListener('abort', onStop);
        if (counted) this.#watchesOpen--;
        attempt.abort();
        handle?.abort();
        if (this.#currentWatch === handle) this.#currentWatch = undefined;
        resolve(end);
      };
      const onStop = (): void => finish({ kind: 'closed', healthy: true });
      const arm = (): void => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => finish({ kind: 'idle', healthy: healthy() }), this.#o.idleTimeoutMs);
      };
      if (!this.#live(gen)) {
        finish({ kind: 'closed', healthy: true });
        return;
      }
      this.#abort.signal.addEventListener('abort', onStop, { once: true });
      arm();
      const untilRelist = this.#nextRelistAt - this.#clock.now();
      if (Number.isFinite(untilRelist)) relistTimer = setTimeout(() => finish({ kind: 'relist', healthy: true }), Math.max(0, untilRelist));

      const timeoutSeconds = Math.round(jitter(this.#o.watchTimeoutSeconds * 0.9, 0.2 / 0.9, this.#random));
      const query: Query = {
        ...this.#selectors,
        resourceVersion: this.#rv,
        allowWatchBookmarks: true,
        timeoutSeconds,
      };
      const onEvent = (type: string, raw: unknown): void => {
        if (settled || !this.#live(gen)) return;
        events++;
        arm();
        this.#handleEvent(type, raw, finish);
      };
      const onDone = (err: unknown): void => {
        if (settled) return;
        if (!err) return finish({ kind: 'closed', healthy: healthy() });
        if (isGone(err)) return finish({ kind: 'gone' });
        const name = (err as { name?: unknown }).name;
        if (name === 'TimeoutError') return finish({ kind: 'timeout', healthy: healthy() });
        finish({ kind: 'error', err, healthy: healthy() });
      };
      this.#transport.watch(this.path, query, onEvent, onDone, { signal: attempt.signal }).then(
        (h) => {
          if (settled || !this.#live(gen)) {
            h.abort(); // a late handle of a finished/stale attempt: close it, never keep it
            return;
          }
          handle = h;
          counted = true;
          this.#watchesOpen++;
          this.#watchesOpened++;
          this.#currentWatch = h;
          // A 200 from the server: the cluster answers again (leave failing/reconnecting).
          this.#setState({ phase: 'connected' });
        },
        (err: unknown) => finish({ kind: 'error', err, healthy: false }),
      );
    });
  }

  #handleEvent(type: string, raw: unknown, finish: (end: WatchEnd) => void): void {
    const obj = raw as T & { code?: number };
    switch (type) {
      case 'ADDED':
      case 'MODIFIED': {
        const stored = this.#transform(strip(obj));
        const key = objectKey(stored);
        const prev = this.#store.get(key);
        this.#store.set(key, stored);
        this.#rv = rvOf(stored) ?? this.#rv;
        if (prev === undefined) this.#emit('add', stored, { relist: false });
        else if (rvOf(prev) !== rvOf(stored)) this.#emit('update', prev, stored, { relist: false });
        return;
      }
      case 'DELETED': {
        const key = objectKey(obj);
        const prev = this.#store.get(key);
        this.#store.delete(key);
        this.#rv = rvOf(obj) ?? this.#rv;
        if (prev !== undefined) this.#emit('delete', this.#transform(strip(obj)), { relist: false });
        return;
      }
      case 'BOOKMARK':
        this.#rv = rvOf(obj) ?? this.#rv;
        if (this.#state.phase === 'reconnecting') this.#setState({ phase: 'connected' });
        return;
      case 'ERROR': {
        const code = typeof obj.code === 'number' ? obj.code : 500;
        if (code === 410) return finish({ kind: 'gone' });
        return finish({ kind: 'error', err: new KubeHttpError(code, obj, `WATCH ${this.path}`), healthy: true });
      }
      default:
        this.#log.debug({ type }, 'ignoring unknown watch event type');
    }
  }

  #setState(s: ReflectorState): void {
    const prev = this.#state;
    if (prev.phase === 'stopped') return;
    // Repeated failures are re-published (attempt count and message change); steady states are not.
    const same =
      prev.phase === s.phase &&
      (s.phase === 'connected' ||
        s.phase === 'starting' ||
        (s.phase === 'reconnecting' && (prev as { reason?: string }).reason === s.reason));
    this.#state = s;
    if (!same) this.#emit('state', s);
  }

  #emit<E extends keyof ReflectorListeners<T>>(event: E, ...args: Parameters<ReflectorListeners<T>[E]>): void {
    for (const fn of this.#listeners[event]) {
      try {
        (fn as (...a: unknown[]) => void)(...args);
      } catch (err) {
        this.#log.error({ err, event }, 'reflector listener threw');
      }
    }
  }
}
