// SPDX-License-Identifier: Apache-2.0
//
// The set of member clusters, driven level-triggered from the config cluster's FleetMembers and
// their kubeconfig Secrets (in the controller namespace, read by name only: least privilege).
// `sync()` creates, rebuilds and removes one ClusterClient + one Reflector per watched resource
// for each member:
// * New FleetMember → client from its Secret, reflectors started.
// * Secret content, Secret ref or clusterID changed → a NEW client (never mutate a KubeConfig,
//   docs/architecture.md "Kubernetes clients") and new reflectors. Until each new reflector has
//   listed, the member's data is served from the previous reflectors' stores (frozen): an empty
//   or failed first list after a credential rotation must not look like "everything deleted"
//   (docs/failure-rules.md "Frozen members"; battery D2/D3). When the new reflector has synced,
//   objects that vanished meanwhile get synthesized deletes.
// * Secret missing or unusable (invalid kubeconfig) → the reflectors stop (we do not keep using
//   credentials the user removed) but their stores stay, frozen, with the matching reachability.
// * FleetMember gone → reflectors stopped and data dropped (battery D5: intentional removal is
//   the one case where a member's endpoints leave). With a `drain` hook the member LEAVES instead
//   of vanishing: it is gone from `members()` at once (its endpoints leave), but its client stays
//   (`client()`, `leaving()`) until `drain` — deleting fleet-ilb's VIP Services there — has
//   succeeded (retried with backoff, bounded by `drainTimeoutMs`) or `release()` is called. Dropping
//   the client first left those Services, VIP in their status, in the member forever (issue 12).
// * A successful but EMPTY list after data is held back until a second list `emptyListConfirmMs`
//   later confirms it (runtime/reflector.ts `confirmEmptyListMs`; battery D2).
// Reachability (snapshot `MemberReachabilityState`) is derived from the reflectors' connection
// states: any 401/403 → authFailed; any failing → unreachable; all synced → reachable; else pending.
// * Hysteresis: a serving member that stops answering is frozen internally AT ONCE (`frozen`,
//   `observed`), but the change is published (`reachability`, `onReachability`, which fans out to
//   every Gateway) only once it has lasted `unreachablePublishDelayMs` (default 30 s), so an
//   apiserver restart during an upgrade does not rewrite every Gateway's status twice. A recovery,
//   and any change of a member that was not serving, is published at once.
// * TTL: a member frozen for longer than `frozenTtlMs` (off by default; KEP-1645 "Endpoint TTL",
//   battery D6 in docs/failure-rules.md: ≥ 1 h) is EXPIRED: its data is dropped (deletes emitted),
//   it no longer counts as frozen (so its endpoints leave), `onExpired` is called (an Event) and its reflectors
//   keep trying, so a member that comes back is served again.
// * Optional resources (a CRD a member may not have, e.g. GKE's `net.gke.io` ServiceExport next to
//   the upstream MCS one) are watched only where served: discovery (`/apis/<group>/<version>`,
//   readable by every authenticated user through the default `system:discovery` role) decides
//   first; a member that does not serve one has none of it and is not frozen for it (a GKE MCS
//   member has no `multicluster.x-k8s.io` CRD). Until discovery has answered, the member is pending
//   (translate must not take "not listed yet" for "exports nothing"). Not served is re-checked every
//   `optionalRecheckMs`; a served one that starts answering 404 (CRD deleted, its objects with it)
//   emits deletes for what it held and goes back to not served.
import { createHash } from 'node:crypto';
import type { FleetMember } from '../api/fleetilb.ts';
import { errorMessage } from '../errors/index.ts';
import { type ReflectorTransport, Reflector, type ReflectorOptions, type EventMeta, type StoredObject, kubeTransport, objectKey } from '../runtime/reflector.ts';
import type { MemberReachability, MemberReachabilityState } from '../snapshot/types.ts';
import { type Log, silentLog } from '../telemetry/logger.ts';
import { ClusterClient } from './client.ts';
import { classifyClusterError } from './errors.ts';

/** A resource reflected from every member. */
export interface MemberResource {
  /** Our name for it (`nodes`, `services`, `endpointslices`, `serviceexports`). */
  key: string;
  /** Collection path, e.g. `/api/v1/nodes`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Watched only where served (see the file comment): `path` must be `/apis/<group>/<version>/<plural>`.
   * A member that does not serve it lists nothing for it and is not frozen for it.
   */
  optional?: boolean;
  /** Keeps only what the controller reads of each object (runtime/reflector.ts `transform`). */
  transform?: (obj: StoredObject) => StoredObject;
}

/** The Secret shape we read (`data` values are base64, as the API returns them). */
export interface SecretLike {
  metadata?: { name?: string; namespace?: string };
  data?: Record<string, string>;
}

/** Reflector-level options every member reflector gets (timeouts, backoff, relist period). */
export type MemberReflectorDefaults = Omit<ReflectorOptions, 'transport' | 'path' | 'cluster' | 'resource' | 'labelSelector' | 'fieldSelector' | 'log' | 'metrics'>;

/** Options of {@link MemberSet}. */
export interface MemberSetOptions {
  resources: MemberResource[];
  reflectorDefaults?: MemberReflectorDefaults;
  /** Build a client from a member kubeconfig (default: `ClusterClient.fromString`, untrusted). */
  makeClient?: (clusterID: string, kubeconfig: string) => ClusterClient;
  /** Build a transport for a client (default: `kubeTransport(client.kubeConfig, …)`). */
  makeTransport?: (client: ClusterClient) => ReflectorTransport;
  /** Every add/update/delete of any member object (map it to Gateway keys). */
  onEvent?: (e: MemberEvent) => void;
  /** A member's reachability changed (state or message). */
  onReachability?: (clusterID: string, fleetMember: string, r: MemberReachability) => void;
  /** A reflector was created / stopped (to register it with /readyz, metrics). */
  onReflector?: (r: Reflector, change: 'added' | 'removed') => void;
  /** Reflector metrics hooks per (cluster, resource). */
  reflectorMetrics?: (cluster: string, resource: string) => ReflectorOptions['metrics'];
  /** How often an optional resource a member does not serve is looked up again (default 60 s). */
  optionalRecheckMs?: number;
  /**
   * An empty list after data is applied only when a second list this much later is empty too
   * (default 60 s, battery D2; 0 disables the guard).
   */
  emptyListConfirmMs?: number;
  /** How long a serving member must stay unreachable before that is published (default 30 s; 0 = at once). */
  unreachablePublishDelayMs?: number;
  /** A member frozen this long is expired: its data dropped (default: never). */
  frozenTtlMs?: number;
  /** A member expired after `frozenTtlMs` (record an Event on its FleetMember). */
  onExpired?: (clusterID: string, fleetMember: string, frozenSince: string) => void;
  /**
   * Called when a FleetMember is deleted, with the member's still-working client: delete what
   * fleet-ilb wrote there (VIP Services). The client is dropped once it resolves. Rejections are
   * retried with backoff (1 s → 30 s, jittered) until `drainTimeoutMs`. Absent: dropped at once.
   */
  drain?: (leaving: LeavingMember & { client: ClusterClient }) => Promise<void>;
  /** Give up draining a leaving member after this long (default 10 min), logged. */
  drainTimeoutMs?: number;
  log?: Log;
}

/** A member whose FleetMember was deleted and whose client is kept until it is drained. */
export interface LeavingMember {
  clusterID: string;
  fleetMember: string;
  /** Wall-clock ISO time the FleetMember went away. */
  since: string;
}

/** An object event from a member. */
export interface MemberEvent {
  clusterID: string;
  resource: string;
  type: 'add' | 'update' | 'delete';
  object: StoredObject;
  oldObject?: StoredObject;
  meta: EventMeta;
}

/** A read-only view of one member. */
export interface MemberView {
  clusterID: string;
  fleetMember: string;
  /** The PUBLISHED reachability (conditions, metrics): changes to "down" only after the hysteresis delay. */
  reachability: MemberReachability;
  /** The reachability observed right now (logs, debugging); `frozen` follows this one. */
  observed: MemberReachability;
  /** True unless reachable right now: the data is the last known copy. False once expired. */
  frozen: boolean;
  /** Frozen longer than `frozenTtlMs`: its data was dropped. */
  expired: boolean;
  /** Every resource has data (listed at least once, by this or a previous client). */
  synced: boolean;
  /** Wall-clock ISO time of the oldest of the resources' last full lists. */
  lastSyncTime?: string;
}

interface Member {
  name: string;
  clusterID: string;
  secretName: string;
  secretKey: string;
  /** Hash of clusterID + secret ref + kubeconfig: a change means a new client. */
  fingerprint: string;
  client: ClusterClient | undefined;
  current: Map<string, Reflector>;
  /** Stores of replaced/stopped reflectors, served until the current one has synced. */
  frozen: Map<string, Reflector>;
  /** Set when there is no usable client (secret missing, invalid kubeconfig). */
  blocked: { state: MemberReachabilityState; message: string } | undefined;
  reachability: MemberReachability;
  unsubscribe: (() => void)[];
  /**
   * Optional resources without a current reflector: `unknown` until discovery answered, `absent`
   * when the member does not serve them. A served one has its reflector in `current` instead.
   */
  optional: Map<string, 'unknown' | 'absent'>;
  /** Bumped when the reflectors stop: late discovery answers and timers of an older client are ignored. */
  epoch: number;
  /** Aborts in-flight discovery requests of the current client. */
  abort: AbortController;
  timers: Set<ReturnType<typeof setTimeout>>;
  /** What was last published (see the hysteresis rule in the file comment). */
  published: MemberReachability;
  publishTimer: ReturnType<typeof setTimeout> | undefined;
  /** Monotonic-ish wall time (ms) the member stopped being reachable; undefined while reachable. */
  frozenSince: number | undefined;
  ttlTimer: ReturnType<typeof setTimeout> | undefined;
  expired: boolean;
}

interface Leaving extends LeavingMember {
  client: ClusterClient;
  started: number;
  attempts: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const DEFAULT_SECRET_KEY = 'kubeconfig';
const DEFAULT_EMPTY_LIST_CONFIRM_MS = 60_000;
const DEFAULT_UNREACHABLE_PUBLISH_DELAY_MS = 30_000;
const DEFAULT_DRAIN_TIMEOUT_MS = 10 * 60_000;
const DEFAULT_OPTIONAL_RECHECK_MS = 60_000;
/** Retry of a discovery request that failed (not a 404): the member may be briefly unreachable. */
const DISCOVERY_RETRY_MS = 5_000;
const DISCOVERY_TIMEOUT_MS = 30_000;

/** `/apis/<group>/<version>` and `<plural>` of an optional resource's collection path. */
function discoveryOf(path: string): { doc: string; plural: string } {
  const parts = path.split('/').filter(Boolean);
  if (parts.length !== 4 || parts[0] !== 'apis') throw new Error(`optional member resource ${path}: expected /apis/<group>/<version>/<plural>`);
  return { doc: `/apis/${parts[1]}/${parts[2]}`, plural: parts[3]! };
}

/** True when the error is the apiserver answering 404 (the group/version or resource is not served). */
function isNotFound(err: unknown): boolean {
  return classifyClusterError(err).statusCode === 404;
}

/** The member clusters and their reflectors (see the file comment). */
export class MemberSet {
  readonly #o: MemberSetOptions;
  readonly #log: Log;
  readonly #members = new Map<string, Member>();
  readonly #leaving = new Map<string, Leaving>();
  #stopped = false;

  constructor(opts: MemberSetOptions) {
    this.#o = opts;
    this.#log = (opts.log ?? silentLog).child({ component: 'members' });
  }

  /**
   * Converge on the given FleetMembers. `secret(name)` returns the Secret of that name in the
   * controller namespace, or undefined. Level-triggered: call it on any FleetMember or Secret event.
   */
  sync(fleetMembers: readonly FleetMember[], secret: (name: string) => SecretLike | undefined): void {
    if (this.#stopped) return;
    const wanted = new Set<string>();
    for (const fm of fleetMembers) {
      const name = fm.metadata.name;
      wanted.add(name);
      try {
        this.#syncOne(fm, secret);
      } catch (err) {
        this.#log.error({ member: name, err: errorMessage(err) }, 'member sync failed');
      }
    }
    for (const [name, m] of this.#members) {
      if (!wanted.has(name)) this.#remove(m);
    }
  }

  /** Every member. */
  members(): MemberView[] {
    return [...this.#members.values()].map((m) => this.#view(m));
  }

  /** One member by cluster id. */
  member(clusterID: string): MemberView | undefined {
    const m = this.#byClusterID(clusterID);
    return m && this.#view(m);
  }

  /** A member's objects of one resource: the current store once synced, else the frozen one. */
  list<T extends StoredObject = StoredObject>(clusterID: string, resource: string): T[] {
    const m = this.#byClusterID(clusterID);
    if (!m) return [];
    if (m.optional.get(resource) === 'absent') return [];
    return (this.#source(m, resource)?.list() ?? []) as T[];
  }

  /** The current client of a member (for writes: VIP Services); also of a member still leaving. */
  client(clusterID: string): ClusterClient | undefined {
    return this.#byClusterID(clusterID)?.client ?? this.#leaving.get(clusterID)?.client;
  }

  /** Members whose FleetMember was deleted and that are not drained yet (their clients are kept). */
  leaving(): LeavingMember[] {
    return [...this.#leaving.values()].map(({ clusterID, fleetMember, since }) => ({ clusterID, fleetMember, since }));
  }

  /** Drop a leaving member's client now (the caller drained it itself). */
  release(clusterID: string): void {
    const l = this.#leaving.get(clusterID);
    if (l === undefined) return;
    clearTimeout(l.timer);
    this.#leaving.delete(clusterID);
    this.#log.info({ member: l.fleetMember, clusterID }, 'leaving member released');
  }

  /** The current reflectors of a member (tests, readiness). */
  reflectors(clusterID: string): Reflector[] {
    return [...(this.#byClusterID(clusterID)?.current.values() ?? [])];
  }

  /** Stop every reflector; the set accepts no more syncs. */
  stop(): void {
    this.#stopped = true;
    for (const m of this.#members.values()) {
      this.#stopReflectors(m, false);
      clearTimeout(m.publishTimer);
      clearTimeout(m.ttlTimer);
    }
    for (const l of this.#leaving.values()) clearTimeout(l.timer);
    this.#leaving.clear();
  }

  // ---- internals -------------------------------------------------------------------------------

  #byClusterID(clusterID: string): Member | undefined {
    for (const m of this.#members.values()) if (m.clusterID === clusterID) return m;
    return undefined;
  }

  #source(m: Member, resource: string): Reflector | undefined {
    const cur = m.current.get(resource);
    if (cur?.hasSynced()) return cur;
    return m.frozen.get(resource) ?? cur;
  }

  #syncOne(fm: FleetMember, secret: (name: string) => SecretLike | undefined): void {
    const name = fm.metadata.name;
    const clusterID = fm.spec.clusterID;
    const secretName = fm.spec.kubeconfigSecretRef.name;
    const secretKey = fm.spec.kubeconfigSecretRef.key ?? DEFAULT_SECRET_KEY;
    let m = this.#members.get(name);
    if (m && m.clusterID !== clusterID) {
      // A different cluster behind the same FleetMember: nothing of the old data applies.
      this.#remove(m);
      m = undefined;
    }
    const s = secret(secretName);
    const b64 = s?.data?.[secretKey];
    const kubeconfig = b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
    const fingerprint = createHash('sha256')
      .update(JSON.stringify([clusterID, secretName, secretKey, s !== undefined, kubeconfig ?? null]))
      .digest('hex');
    if (!m) {
      m = {
        name,
        clusterID,
        secretName,
        secretKey,
        fingerprint: '',
        client: undefined,
        current: new Map(),
        frozen: new Map(),
        blocked: undefined,
        reachability: { state: 'pending', since: new Date().toISOString() },
        unsubscribe: [],
        optional: new Map(),
        epoch: 0,
        abort: new AbortController(),
        timers: new Set(),
        published: { state: 'pending', since: new Date().toISOString() },
        publishTimer: undefined,
        frozenSince: Date.now(),
        ttlTimer: undefined,
        expired: false,
      };
      this.#armTtl(m);
      this.#members.set(name, m);
    }
    if (m.fingerprint === fingerprint) return;
    m.fingerprint = fingerprint;
    m.secretName = secretName;
    m.secretKey = secretKey;
    this.#stopReflectors(m, true);
    m.client = undefined;
    if (kubeconfig === undefined) {
      const message = s ? `Secret ${secretName} has no key ${JSON.stringify(secretKey)}` : `Secret ${secretName} not found`;
      m.blocked = { state: 'secretNotFound', message };
      this.#log.warn({ member: name, clusterID, secret: secretName }, message);
      this.#refresh(m);
      return;
    }
    try {
      m.client = (this.#o.makeClient ?? ((id, kc) => ClusterClient.fromString(id, kc)))(clusterID, kubeconfig);
    } catch (err) {
      const c = classifyClusterError(err);
      m.blocked = { state: 'invalidKubeconfig', message: c.message };
      this.#log.warn({ member: name, clusterID, err: c.message }, 'member kubeconfig unusable');
      this.#refresh(m);
      return;
    }
    m.blocked = undefined;
    this.#startReflectors(m, m.client);
    this.#refresh(m);
  }

  #startReflectors(m: Member, client: ClusterClient): void {
    const transport = this.#o.makeTransport
      ? this.#o.makeTransport(client)
      : kubeTransport(client.kubeConfig, { clientTimeoutMs: (this.#o.reflectorDefaults?.idleTimeoutMs ?? 75_000) + 5_000 });
    for (const res of this.#o.resources) {
      if (res.optional) {
        m.optional.set(res.key, 'unknown');
        void this.#probe(m, res, transport, m.epoch);
      } else {
        this.#startOne(m, res, transport);
      }
    }
  }

  /** One reflector for one resource of a member. */
  #startOne(m: Member, res: MemberResource, transport: ReflectorTransport): void {
    const confirm = this.#o.emptyListConfirmMs ?? this.#o.reflectorDefaults?.confirmEmptyListMs ?? DEFAULT_EMPTY_LIST_CONFIRM_MS;
    const r = new Reflector({
      ...this.#o.reflectorDefaults,
      confirmEmptyListMs: confirm,
      // A replacement reflector's empty first list is a drop from what the frozen copy holds.
      priorCount: () => m.frozen.get(res.key)?.size() ?? 0,
      transport,
      path: res.path,
      cluster: m.clusterID,
      resource: res.key,
      ...(res.labelSelector ? { labelSelector: res.labelSelector } : {}),
      ...(res.fieldSelector ? { fieldSelector: res.fieldSelector } : {}),
      ...(res.transform ? { transform: res.transform } : {}),
      log: this.#log,
      ...(this.#o.reflectorMetrics ? { metrics: this.#o.reflectorMetrics(m.clusterID, res.key) } : {}),
    });
    const emit = (type: MemberEvent['type'], object: StoredObject, meta: EventMeta, oldObject?: StoredObject): void => {
      if (m.current.get(res.key) !== r) return; // a replaced reflector's late event
      this.#emit(m, res.key, type, object, meta, oldObject);
    };
    m.unsubscribe.push(
      r.on('add', (o, meta) => emit('add', o, meta)),
      r.on('update', (a, b, meta) => emit('update', b, meta, a)),
      r.on('delete', (o, meta) => emit('delete', o, meta)),
      r.on('synced', ({ initial }) => {
        if (initial) this.#retireFrozen(m, res.key, r, emit);
        this.#refresh(m);
      }),
      r.on('state', (st) => {
        // An optional resource whose CRD went away: its objects went with it.
        if (res.optional && st.phase === 'failing' && st.error.statusCode === 404 && m.current.get(res.key) === r) {
          this.#dropOptional(m, res, transport, r);
        }
        this.#refresh(m);
      }),
    );
    m.current.set(res.key, r);
    this.#o.onReflector?.(r, 'added');
    r.start();
  }

  #emit(m: Member, resource: string, type: MemberEvent['type'], object: StoredObject, meta: EventMeta, oldObject?: StoredObject): void {
    try {
      this.#o.onEvent?.({ clusterID: m.clusterID, resource, type, object, meta, ...(oldObject ? { oldObject } : {}) });
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, 'member onEvent threw');
    }
  }

  /** Discovery for an optional resource: start its reflector when served, else mark it absent. */
  async #probe(m: Member, res: MemberResource, transport: ReflectorTransport, epoch: number): Promise<void> {
    const { doc, plural } = discoveryOf(res.path);
    let served: boolean | undefined;
    try {
      const d = (await transport.list(doc, {}, { signal: m.abort.signal, timeoutMs: DISCOVERY_TIMEOUT_MS })) as { resources?: Array<{ name?: string }> };
      served = (d.resources ?? []).some((x) => x.name === plural);
    } catch (err) {
      if (isNotFound(err)) served = false;
      else if (m.epoch === epoch && !this.#stopped) this.#log.debug({ member: m.name, resource: res.key, err: errorMessage(err) }, 'discovery failed; retrying');
    }
    if (m.epoch !== epoch || this.#stopped) return;
    if (served === true) {
      m.optional.delete(res.key);
      this.#startOne(m, res, transport);
    } else {
      if (served === false) {
        if (m.optional.get(res.key) !== 'absent') this.#log.info({ member: m.name, clusterID: m.clusterID, resource: res.key, path: res.path }, 'optional resource not served by this member; not watched');
        this.#markAbsent(m, res.key);
      }
      this.#later(m, epoch, served === false ? (this.#o.optionalRecheckMs ?? DEFAULT_OPTIONAL_RECHECK_MS) : DISCOVERY_RETRY_MS, () => this.#probe(m, res, transport, epoch));
    }
    this.#refresh(m);
  }

  /** A served optional resource answers 404: stop its reflector, delete what it held, re-check later. */
  #dropOptional(m: Member, res: MemberResource, transport: ReflectorTransport, r: Reflector): void {
    r.stop();
    this.#o.onReflector?.(r, 'removed');
    m.current.delete(res.key);
    this.#log.info({ member: m.name, clusterID: m.clusterID, resource: res.key }, 'optional resource no longer served');
    for (const o of r.list()) this.#emit(m, res.key, 'delete', o, { relist: true });
    this.#markAbsent(m, res.key);
    const epoch = m.epoch;
    this.#later(m, epoch, this.#o.optionalRecheckMs ?? DEFAULT_OPTIONAL_RECHECK_MS, () => this.#probe(m, res, transport, epoch));
  }

  /** Not served: a frozen copy from an earlier client is gone too (deletes emitted). */
  #markAbsent(m: Member, key: string): void {
    m.optional.set(key, 'absent');
    const old = m.frozen.get(key);
    if (old === undefined) return;
    m.frozen.delete(key);
    for (const o of old.list()) this.#emit(m, key, 'delete', o, { relist: true });
  }

  #later(m: Member, epoch: number, ms: number, fn: () => Promise<void>): void {
    const t = setTimeout(() => {
      m.timers.delete(t);
      if (m.epoch === epoch && !this.#stopped) void fn();
    }, ms);
    t.unref?.();
    m.timers.add(t);
  }

  /** The new reflector has listed: emit deletes for what vanished since the frozen copy, drop it. */
  #retireFrozen(
    m: Member,
    resource: string,
    r: Reflector,
    emit: (type: MemberEvent['type'], object: StoredObject, meta: EventMeta) => void,
  ): void {
    const old = m.frozen.get(resource);
    if (!old) return;
    m.frozen.delete(resource);
    for (const o of old.list()) {
      if (r.get(objectKey(o)) === undefined) emit('delete', o, { relist: true });
    }
  }

  /** Stop current reflectors; with `keepData` their stores become the frozen copies. */
  #stopReflectors(m: Member, keepData: boolean): void {
    m.epoch++;
    m.abort.abort();
    m.abort = new AbortController();
    for (const t of m.timers) clearTimeout(t);
    m.timers.clear();
    m.optional.clear();
    for (const u of m.unsubscribe.splice(0)) u();
    for (const [key, r] of m.current) {
      r.stop();
      this.#o.onReflector?.(r, 'removed');
      // Keep the best data we have: a synced store beats an older frozen one.
      if (keepData && (r.hasSynced() || !m.frozen.has(key))) m.frozen.set(key, r);
    }
    m.current.clear();
    if (!keepData) m.frozen.clear();
  }

  #remove(m: Member): void {
    this.#stopReflectors(m, false);
    clearTimeout(m.publishTimer);
    clearTimeout(m.ttlTimer);
    this.#members.delete(m.name);
    this.#log.info({ member: m.name, clusterID: m.clusterID }, 'member removed');
    if (this.#o.drain !== undefined && m.client !== undefined && !this.#stopped) {
      const l: Leaving = { clusterID: m.clusterID, fleetMember: m.name, since: new Date().toISOString(), client: m.client, started: Date.now(), attempts: 0, timer: undefined };
      clearTimeout(this.#leaving.get(m.clusterID)?.timer);
      this.#leaving.set(m.clusterID, l);
      void this.#drain(l);
    }
  }

  /** Drain a leaving member: call the hook until it succeeds or the timeout passes, then drop the client. */
  async #drain(l: Leaving): Promise<void> {
    if (this.#leaving.get(l.clusterID) !== l) return;
    l.attempts++;
    try {
      await this.#o.drain!({ clusterID: l.clusterID, fleetMember: l.fleetMember, since: l.since, client: l.client });
      if (this.#leaving.get(l.clusterID) !== l) return;
      this.#leaving.delete(l.clusterID);
      this.#log.info({ member: l.fleetMember, clusterID: l.clusterID, attempts: l.attempts }, 'leaving member drained; client dropped');
    } catch (err) {
      if (this.#leaving.get(l.clusterID) !== l) return;
      const timeout = this.#o.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
      if (Date.now() - l.started >= timeout) {
        this.#leaving.delete(l.clusterID);
        this.#log.warn({ member: l.fleetMember, clusterID: l.clusterID, attempts: l.attempts, err: errorMessage(err) }, 'giving up draining a deleted member; what fleet-ilb wrote there stays');
        return;
      }
      const delay = Math.min(1000 * 2 ** (l.attempts - 1), 30_000) * (0.8 + 0.4 * Math.random());
      this.#log.warn({ member: l.fleetMember, clusterID: l.clusterID, attempts: l.attempts, retryInMs: Math.round(delay), err: errorMessage(err) }, 'draining a deleted member failed; retrying');
      l.timer = setTimeout(() => void this.#drain(l), delay);
      l.timer.unref?.();
    }
  }

  #compute(m: Member): { state: MemberReachabilityState; message?: string } {
    if (m.blocked) return m.blocked;
    let pending = false;
    let failing: string | undefined;
    for (const r of m.current.values()) {
      const s = r.state();
      if (s.phase === 'unauthorized') {
        const what = s.error.kind === 'Forbidden' ? 'forbidden (RBAC)' : 'authentication failed';
        return { state: 'authFailed', message: `${r.resource}: ${what}: ${s.error.message}` };
      }
      if (s.phase === 'failing') failing ??= `${r.resource}: ${s.error.message}`;
      if (!r.hasSynced()) pending = true;
    }
    for (const state of m.optional.values()) if (state === 'unknown') pending = true;
    if (failing) return { state: 'unreachable', message: failing };
    if (pending) return { state: 'pending', message: 'waiting for the first list' };
    return { state: 'reachable' };
  }

  #refresh(m: Member): void {
    const next = this.#compute(m);
    const prev = m.reachability;
    if (prev.state === next.state && prev.message === next.message) return;
    m.reachability = {
      state: next.state,
      ...(next.message ? { message: next.message } : {}),
      since: prev.state === next.state && prev.since ? prev.since : new Date().toISOString(),
    };
    if (prev.state !== next.state) this.#log.info({ member: m.name, clusterID: m.clusterID, from: prev.state, to: next.state, message: next.message }, 'member reachability changed');
    if (next.state === 'reachable') {
      m.frozenSince = undefined;
      clearTimeout(m.ttlTimer);
      m.ttlTimer = undefined;
      if (m.expired) this.#log.info({ member: m.name, clusterID: m.clusterID }, 'expired member is back');
      m.expired = false;
    } else if (m.frozenSince === undefined) {
      m.frozenSince = Date.now();
      this.#armTtl(m);
    }
    this.#publish(m);
  }

  /** Publish `m.reachability` now, or after the hysteresis delay when a serving member went down. */
  #publish(m: Member): void {
    const obs = m.reachability;
    const pub = m.published;
    if (obs.state === pub.state && obs.message === pub.message) {
      clearTimeout(m.publishTimer);
      m.publishTimer = undefined;
      return;
    }
    const delay = this.#o.unreachablePublishDelayMs ?? DEFAULT_UNREACHABLE_PUBLISH_DELAY_MS;
    const hold = pub.state === 'reachable' && (obs.state === 'unreachable' || obs.state === 'authFailed' || obs.state === 'pending') && delay > 0;
    if (hold) {
      m.publishTimer ??= setTimeout(() => {
        m.publishTimer = undefined;
        if (this.#members.get(m.name) === m && !this.#stopped) this.#publishNow(m);
      }, delay);
      m.publishTimer.unref?.();
      return;
    }
    clearTimeout(m.publishTimer);
    m.publishTimer = undefined;
    this.#publishNow(m);
  }

  #publishNow(m: Member): void {
    const obs = m.reachability;
    if (obs.state === m.published.state && obs.message === m.published.message) return;
    m.published = obs;
    try {
      this.#o.onReachability?.(m.clusterID, m.name, m.published);
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, 'onReachability threw');
    }
  }

  /** Expire the member once it has been frozen for `frozenTtlMs`. */
  #armTtl(m: Member): void {
    const ttl = this.#o.frozenTtlMs;
    if (ttl === undefined || !(ttl > 0) || m.frozenSince === undefined) return;
    clearTimeout(m.ttlTimer);
    m.ttlTimer = setTimeout(() => this.#expire(m), Math.max(0, m.frozenSince + ttl - Date.now()));
    m.ttlTimer.unref?.();
  }

  /** Drop an expired member's data (deletes emitted); its reflectors keep trying to reach it. */
  #expire(m: Member): void {
    m.ttlTimer = undefined;
    if (this.#members.get(m.name) !== m || this.#stopped || m.frozenSince === undefined || m.expired) return;
    const since = new Date(m.frozenSince).toISOString();
    for (const res of this.#o.resources) {
      if (m.optional.get(res.key) === 'absent') continue;
      for (const o of this.#source(m, res.key)?.list() ?? []) this.#emit(m, res.key, 'delete', o, { relist: true });
    }
    this.#stopReflectors(m, false);
    m.expired = true;
    this.#log.warn({ member: m.name, clusterID: m.clusterID, frozenSince: since, ttlMs: this.#o.frozenTtlMs }, 'member frozen longer than its TTL: its endpoints are removed');
    if (m.client !== undefined) this.#startReflectors(m, m.client);
    m.reachability = { ...m.reachability, message: `frozen since ${since}, longer than the TTL: its endpoints were removed` };
    this.#publishNow(m);
    try {
      this.#o.onExpired?.(m.clusterID, m.name, since);
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, 'onExpired threw');
    }
  }

  #view(m: Member): MemberView {
    let synced = true;
    let oldest: number | undefined;
    for (const res of this.#o.resources) {
      const opt = m.optional.get(res.key);
      if (opt === 'absent') continue; // not served: nothing to list (unknown: only a frozen copy counts)
      const src = this.#source(m, res.key);
      const t = src?.lastSyncTime();
      if (!src?.hasSynced() || t === undefined) synced = false;
      else oldest = oldest === undefined ? t : Math.min(oldest, t);
    }
    return {
      clusterID: m.clusterID,
      fleetMember: m.name,
      reachability: m.published,
      observed: m.reachability,
      frozen: m.reachability.state !== 'reachable' && !m.expired,
      expired: m.expired,
      synced,
      ...(synced && oldest !== undefined ? { lastSyncTime: new Date(oldest).toISOString() } : {}),
    };
  }
}
