// SPDX-License-Identifier: Apache-2.0
//
// The one status writer (docs/architecture.md, step 8). It writes what
// translate computed (a StatusSet, or the part of it one reconcile owns) and nothing else:
// * compare before write: the live object (from the runtime's cache when given, else a GET) is
//   compared with what would be written, after normalisation (status/normalize.ts); equal → no
//   request. translate already carries `lastTransitionTime` over when a condition did not flip, so
//   a plain deep comparison is right, and a resync of an unchanged fleet writes nothing;
// * every write goes to the `/status` subresource as a JSON Patch that first sets
//   `metadata.resourceVersion` to the version the status was computed from: the apiserver treats it
//   as a precondition and answers 409 when the object changed meanwhile. Then the writer re-reads
//   (a GET, never the cache, which may be the stale copy), re-merges and retries, a bounded number
//   of times. `status.parents` of routes is an atomic list shared with other controllers, which is
//   exactly why the whole list is written under that precondition: a concurrent entry of another
//   controller is never overwritten (status/parents.ts);
// * only fleet-ilb's RouteParentStatus entries are replaced; other controllers' stay as they are;
// * MCS importer: ServiceImports fleet-ilb created carry `fleetilb.io/managed-by: fleet-ilb`; it
//   creates and updates those, deletes the labelled ones nobody wants, and never modifies one
//   without the label (another MCS implementation owns it: reported in `foreignServiceImports`);
// * ServiceExport conditions are written in the members, through each member's own client;
//   unreachable members are skipped (reported), never waited on twice in one call;
// * every write is fenced (KubeApi wraps each in `fenced()`): a deposed leader makes no write, and
//   a FencedError aborts the whole call at once.
// Failures of one object do not stop the others: they are collected in `errors` and the caller
// (the reconciler) requeues with backoff.
import type {
  Condition,
  FleetMemberStatus,
  GatewayClassStatus,
  GatewayStatus,
  KubeObject,
  PolicyAncestorStatus,
  RouteParentStatus,
  ServiceExport,
  ServiceImport,
} from '../api/index.ts';
import { keyOf } from '../api/index.ts';
import { classifyClusterError } from '../clusters/errors.ts';
import { TransientError, errorMessage, isFencedError } from '../errors/index.ts';
import { LABEL_MANAGED_BY, MANAGED_BY_VALUE } from '../naming/labels.ts';
import type { Fence } from '../runtime/fence.ts';
import { type Log, silentLog } from '../telemetry/logger.ts';
import type { DesiredServiceImport, PolicyStatusOut, RouteStatusOut, ServiceExportStatus, StatusSet } from '../translate/types.ts';
import { KubeApi, type KubeTarget, type RequestHook, type ResourceType, collectionPath, isConflict, isNotFound, objectPath } from './kube.ts';
import { jsonEqual, normalizeGatewayStatus, normalizeRouteParent } from './normalize.ts';
import { mergeRouteParents } from './parents.ts';
import { RT, type ResourceName, type StoreReader } from './resources.ts';

/** Served version of TCPRoute/UDPRoute (v1 in Gateway API v1.6 standard; v1alpha2 tolerated). */
export type RouteVersion = 'v1' | 'v1alpha2';

/** Options of {@link StatusWriter}. */
export interface StatusWriterOptions {
  /** The config cluster (a ClusterClient). */
  config: KubeTarget;
  /** A reachable member's client by cluster id; undefined = frozen/unknown (its writes are skipped). */
  member?: (cluster: string) => KubeTarget | undefined;
  fence: Fence;
  /** The runtime's config-cluster caches (reflector stores); without one, the writer GETs. */
  configStore?: (resource: ResourceName) => StoreReader | undefined;
  /** The runtime's member caches (ServiceExports). */
  memberStore?: (cluster: string, resource: 'serviceExports') => StoreReader | undefined;
  routeVersions?: { TCPRoute?: RouteVersion; UDPRoute?: RouteVersion };
  /** Sees every request (metrics); the writer counts them itself too. */
  onRequest?: RequestHook;
  /** Attempts per object when the server answers 409 (default 5). */
  maxAttempts?: number;
  /** Per-request timeout (default 15 s). */
  timeoutMs?: number;
  log?: Log;
}

/** Options of one {@link StatusWriter.write} call. */
export interface WriteOptions {
  /**
   * Delete fleet-ilb-labelled ServiceImports not in `serviceImports` (default true when
   * `serviceImports` is given). Pass false until the caches the desired set came from have synced.
   */
  pruneServiceImports?: boolean;
}

/** What one write call did. */
export interface StatusWriteResult {
  /** Write requests sent (PATCH/POST/DELETE), successful or not. */
  writes: number;
  /** GET/LIST requests sent. */
  reads: number;
  /** 409 answers that led to a re-read and retry. */
  conflicts: number;
  /** Objects written, e.g. `Gateway app/web`, `ServiceImport app/db (created)`. */
  written: string[];
  /** ServiceImports deleted (`ns/name`). */
  deleted: string[];
  /** Targets that do not exist (nothing to write; not an error). */
  notFound: string[];
  /** ServiceImports that exist without fleet-ilb's label: left untouched (`ns/name`). */
  foreignServiceImports: string[];
  /** Members whose ServiceExport statuses were not written (no client, or unreachable now). */
  skippedMembers: string[];
  /** Failures per target; the rest was still written. */
  errors: Array<{ target: string; error: unknown }>;
}

/**
 * The part of a StatusSet one Gateway's reconcile writes: its status and the routes that reference
 * it (each with ALL of fleet-ilb's entries for that route, so a write also drops our entry for a
 * parent the route left). Routes for which translate wants no entry at all are included too: their
 * stale entries must go, and when there are none the compare makes it free.
 */
export function gatewayStatusPart(set: StatusSet, namespace: string, name: string): Partial<StatusSet> {
  return {
    gateways: set.gateways.filter((g) => g.namespace === namespace && g.name === name),
    // The routes that name this Gateway (or carried an entry for it), each with only this Gateway's
    // entries: a route with several parents is written by each parent's reconcile.
    routes: set.routes.map((r) => ({
      ...r,
      parents: r.parents.filter((p) => (p.parentRef.kind ?? 'Gateway') === 'Gateway' && (p.parentRef.namespace ?? r.namespace) === namespace && p.parentRef.name === name),
      scope: { namespace, name },
    })),
    // Translate emits only this Gateway's ancestor entries for the policies in its scope.
    ...(set.healthCheckPolicies === undefined ? {} : { healthCheckPolicies: set.healthCheckPolicies.filter((p) => p.scope.namespace === namespace && p.scope.name === name) }),
  };
}

/** The fleet-wide part of a StatusSet (classes, members, configs, MCS). */
export function globalStatusPart(set: StatusSet): Partial<StatusSet> {
  return {
    gatewayClasses: set.gatewayClasses,
    fleetMembers: set.fleetMembers,
    ilbConfigs: set.ilbConfigs,
    serviceImports: set.serviceImports,
    serviceExports: set.serviceExports,
  };
}

function emptyResult(): StatusWriteResult {
  return {
    writes: 0,
    reads: 0,
    conflicts: 0,
    written: [],
    deleted: [],
    notFound: [],
    foreignServiceImports: [],
    skippedMembers: [],
    errors: [],
  };
}

/** State of one write call. */
interface Call {
  r: StatusWriteResult;
  config: KubeApi;
  members: Map<string, KubeApi | undefined>;
  deadMembers: Set<string>;
}

function isManaged(o: KubeObject): boolean {
  return o.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY_VALUE;
}

// Fields of ServiceImport.spec the importer owns; others (e.g. `ips` set by an IP allocator) are kept.
const IMPORT_SPEC_FIELDS = ['ports', 'type', 'sessionAffinity', 'sessionAffinityConfig', 'internalTrafficPolicy', 'trafficDistribution'] as const;

function pick(o: Record<string, unknown> | undefined, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (o?.[k] !== undefined) out[k] = o[k];
  return out;
}

/** The writer; one per controller (it holds no per-call state). */
export class StatusWriter {
  readonly #o: StatusWriterOptions;
  readonly #log: Log;

  constructor(opts: StatusWriterOptions) {
    this.#o = opts;
    this.#log = (opts.log ?? silentLog).child({ component: 'status-writer' });
  }

  /**
   * Write every status in `set` (absent parts are not touched). Throws only a FencedError (nothing
   * more is written after it); other failures are in `errors`.
   */
  async write(set: Partial<StatusSet>, opts: WriteOptions = {}): Promise<StatusWriteResult> {
    const r = emptyResult();
    const call: Call = { r, config: this.#api(this.#o.config, r), members: new Map(), deadMembers: new Set() };
    const cs = (res: ResourceName): StoreReader | undefined => this.#o.configStore?.(res);

    for (const gc of set.gatewayClasses ?? []) {
      await this.#guard(call, `GatewayClass ${gc.name}`, () =>
        this.#writeStatus(call, call.config, RT.gatewayClasses, undefined, gc.name, `GatewayClass ${gc.name}`, cs('gatewayClasses'), (live) =>
          replaceIfDifferent<GatewayClassStatus>(live.status as GatewayClassStatus | undefined, gc.status)),
      );
    }
    for (const g of set.gateways ?? []) {
      const label = `Gateway ${g.namespace}/${g.name}`;
      await this.#guard(call, label, () =>
        this.#writeStatus(call, call.config, RT.gateways, g.namespace, g.name, label, cs('gateways'), (live) =>
          jsonEqual(normalizeGatewayStatus(live.status as GatewayStatus | undefined), normalizeGatewayStatus(g.status)) ? undefined : g.status,
        ),
      );
    }
    for (const route of set.routes ?? []) {
      const label = `${route.kind} ${route.namespace}/${route.name}`;
      await this.#guard(call, label, () => this.#writeRoute(call, route, label));
    }
    for (const p of set.healthCheckPolicies ?? []) {
      const label = `HealthCheckPolicy ${p.namespace}/${p.name}`;
      await this.#guard(call, label, () => this.#writePolicy(call, p, label));
    }
    for (const m of set.fleetMembers ?? []) {
      await this.#guard(call, `FleetMember ${m.name}`, () =>
        this.#writeStatus(call, call.config, RT.fleetMembers, undefined, m.name, `FleetMember ${m.name}`, cs('fleetMembers'), (live) =>
          replaceIfDifferent<FleetMemberStatus>(live.status as FleetMemberStatus | undefined, m.status)),
      );
    }
    for (const c of set.ilbConfigs ?? []) {
      const label = `ILBConfig ${c.namespace}/${c.name}`;
      await this.#guard(call, label, () =>
        this.#writeStatus(call, call.config, RT.ilbConfigs, c.namespace, c.name, label, cs('ilbConfigs'), (live) =>
          replaceIfDifferent(live.status, c.status)),
      );
    }
    if (set.serviceImports !== undefined) await this.#serviceImports(call, set.serviceImports, opts.pruneServiceImports ?? true);
    for (const e of set.serviceExports ?? []) await this.#serviceExport(call, e);
    if (r.writes > 0 || r.errors.length > 0) {
      this.#log.debug({ writes: r.writes, reads: r.reads, conflicts: r.conflicts, errors: r.errors.length }, 'status written');
    }
    return r;
  }

  #api(target: KubeTarget, r: StatusWriteResult): KubeApi {
    const hook = this.#o.onRequest;
    return new KubeApi(target, {
      fence: this.#o.fence,
      ...(this.#o.timeoutMs === undefined ? {} : { timeoutMs: this.#o.timeoutMs }),
      onRequest: (e) => {
        if (e.write) r.writes++;
        else r.reads++;
        hook?.(e);
      },
    });
  }

  get #maxAttempts(): number {
    return Math.max(1, this.#o.maxAttempts ?? 5);
  }

  /** Run one target's write; record its failure, rethrow a FencedError. */
  async #guard(call: Call, target: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      if (isFencedError(error)) throw error;
      call.r.errors.push({ target, error });
      this.#log.warn({ target, err: errorMessage(error) }, 'status write failed');
    }
  }

  /**
   * Read (cache first), compute, and patch `/status` under a resourceVersion precondition; on 409
   * re-read with a GET and try again. `next` returns the whole new status, or undefined if equal.
   */
  async #writeStatus<T extends KubeObject & { status?: unknown }>(
    call: Call,
    api: KubeApi,
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    label: string,
    store: StoreReader | undefined,
    next: (live: T) => unknown,
    initial?: T,
  ): Promise<void> {
    const path = objectPath(rt, namespace, name);
    let live: T | undefined = initial ?? (store?.getByName(name, namespace) as T | undefined) ?? (await api.get<T>(path));
    for (let attempt = 1; ; attempt++) {
      if (live?.metadata.resourceVersion === undefined) live = live === undefined ? undefined : await api.get<T>(path);
      if (live === undefined) {
        call.r.notFound.push(label);
        return;
      }
      const status = next(live);
      if (status === undefined) return;
      try {
        await api.jsonPatch(objectPath(rt, namespace, name, 'status'), [
          // Setting resourceVersion makes the apiserver check it: 409 if the object changed since.
          { op: 'replace', path: '/metadata/resourceVersion', value: live.metadata.resourceVersion },
          { op: 'add', path: '/status', value: status },
        ]);
        call.r.written.push(label);
        return;
      } catch (e) {
        if (isNotFound(e)) {
          call.r.notFound.push(label);
          return;
        }
        if (!isConflict(e)) throw e;
        call.r.conflicts++;
        if (attempt >= this.#maxAttempts) {
          throw new TransientError(`${label}: status still conflicting after ${attempt} attempts`, { cause: e });
        }
        live = await api.get<T>(path);
      }
    }
  }

  async #writeRoute(call: Call, route: RouteStatusOut, label: string): Promise<void> {
    const version = this.#o.routeVersions?.[route.kind] ?? 'v1';
    const base = route.kind === 'TCPRoute' ? RT.tcpRoutes : RT.udpRoutes;
    const rt = { ...base, version };
    const store = version === 'v1' ? this.#o.configStore?.(route.kind === 'TCPRoute' ? 'tcpRoutes' : 'udpRoutes') : undefined;
    await this.#writeStatus<KubeObject & { status?: { parents?: RouteParentStatus[] } }>(
      call,
      call.config,
      rt,
      route.namespace,
      route.name,
      label,
      store,
      (live) => {
        const current = live.status?.parents ?? [];
        const merged = mergeRouteParents(current, route.parents, route.namespace, route.scope);
        if (jsonEqual(current.map(normalizeRouteParent), merged.map(normalizeRouteParent))) return undefined;
        return { ...(live.status ?? {}), parents: merged };
      },
    );
  }

  /**
   * A HealthCheckPolicy's `status.ancestors` (Gateway API PolicyAncestorStatus: "a map with a
   * composite key, made up of the AncestorRef and ControllerName", apis/v1/policy_types.go): our
   * entry for the Gateway in scope replaced, every other entry kept, merged like route parents.
   */
  async #writePolicy(call: Call, p: PolicyStatusOut, label: string): Promise<void> {
    const asParent = (a: PolicyAncestorStatus): RouteParentStatus => ({ parentRef: a.ancestorRef, controllerName: a.controllerName, conditions: a.conditions });
    const asAncestor = (r: RouteParentStatus): PolicyAncestorStatus => ({ ancestorRef: r.parentRef, controllerName: r.controllerName, conditions: r.conditions ?? [] });
    await this.#writeStatus<KubeObject & { status?: { ancestors?: PolicyAncestorStatus[] } }>(
      call,
      call.config,
      RT.healthCheckPolicies,
      p.namespace,
      p.name,
      label,
      this.#o.configStore?.('healthCheckPolicies'),
      (live) => {
        const current = (live.status?.ancestors ?? []).map(asParent);
        const merged = mergeRouteParents(current, p.ancestors.map(asParent), p.namespace, p.scope);
        if (jsonEqual(current.map(normalizeRouteParent), merged.map(normalizeRouteParent))) return undefined;
        return { ...(live.status ?? {}), ancestors: merged.map(asAncestor) };
      },
    );
  }

  async #serviceImports(call: Call, desired: DesiredServiceImport[], prune: boolean): Promise<void> {
    const api = call.config;
    const rt = RT.serviceImports;
    const store = this.#o.configStore?.('serviceImports');
    let managed: ServiceImport[];
    try {
      managed = store
        ? (store.list() as ServiceImport[]).filter(isManaged)
        : await api.list<ServiceImport>(collectionPath(rt), { labelSelector: `${LABEL_MANAGED_BY}=${MANAGED_BY_VALUE}` });
    } catch (error) {
      if (isFencedError(error)) throw error;
      call.r.errors.push({ target: 'ServiceImports', error });
      return;
    }
    const byKey = new Map(managed.map((si) => [keyOf(si.metadata), si]));
    const wanted = new Set<string>();
    for (const d of desired) {
      const key = `${d.namespace}/${d.name}`;
      wanted.add(key);
      await this.#guard(call, `ServiceImport ${key}`, async () => {
        const path = objectPath(rt, d.namespace, d.name);
        const cached = byKey.get(key) ?? (store ? (store.getByName(d.name, d.namespace) as ServiceImport | undefined) : await api.get<ServiceImport>(path));
        const live = await this.#ensureImportSpec(call, d, cached);
        if (live === undefined) return;
        await this.#writeStatus<ServiceImport>(call, api, rt, d.namespace, d.name, `ServiceImport ${key}`, undefined, (cur) => {
          const want = { clusters: d.status.clusters, conditions: d.status.conditions };
          const have = { clusters: cur.status?.clusters ?? [], conditions: cur.status?.conditions ?? [] };
          return jsonEqual(have, want) ? undefined : { ...(cur.status ?? {}), ...want };
        }, live);
      });
    }
    if (!prune) return;
    for (const m of managed) {
      const key = keyOf(m.metadata);
      if (wanted.has(key)) continue;
      await this.#guard(call, `ServiceImport ${key}`, () => this.#deleteImport(call, m));
    }
  }

  /** Create or update spec + labels of one of our ServiceImports; undefined when foreign. */
  async #ensureImportSpec(call: Call, d: DesiredServiceImport, cached: ServiceImport | undefined): Promise<ServiceImport | undefined> {
    const api = call.config;
    const rt = RT.serviceImports;
    const key = `${d.namespace}/${d.name}`;
    const path = objectPath(rt, d.namespace, d.name);
    let live = cached;
    for (let attempt = 1; ; attempt++) {
      try {
        if (live === undefined) {
          live = await api.create<ServiceImport>(collectionPath(rt, d.namespace), {
            apiVersion: `${rt.group}/${rt.version}`,
            kind: 'ServiceImport',
            metadata: { name: d.name, namespace: d.namespace, labels: d.labels },
            spec: d.spec,
          });
          call.r.written.push(`ServiceImport ${key} (created)`);
          return live;
        }
        if (!isManaged(live)) {
          // KEP-1645: another MCS implementation owns it. Never modify: use it as a name only.
          call.r.foreignServiceImports.push(key);
          return undefined;
        }
        const owned = [...new Set<string>([...IMPORT_SPEC_FIELDS, ...Object.keys(d.spec)])];
        const labels = { ...(live.metadata.labels ?? {}), ...d.labels };
        const liveSpec = live.spec as unknown as Record<string, unknown>;
        const wantSpec = d.spec as unknown as Record<string, unknown>;
        if (jsonEqual(pick(liveSpec, owned), pick(wantSpec, owned)) && jsonEqual(live.metadata.labels ?? {}, labels)) return live;
        const spec: Record<string, unknown> = { ...liveSpec };
        for (const k of owned) delete spec[k];
        Object.assign(spec, wantSpec);
        live = await api.jsonPatch<ServiceImport>(path, [
          { op: 'replace', path: '/metadata/resourceVersion', value: live.metadata.resourceVersion },
          { op: 'add', path: '/spec', value: spec },
          { op: 'add', path: '/metadata/labels', value: labels },
        ]);
        call.r.written.push(`ServiceImport ${key} (spec)`);
        return live;
      } catch (e) {
        if (!isConflict(e)) throw e;
        // 409 = AlreadyExists on create, or our precondition failed on update: read and retry.
        call.r.conflicts++;
        if (attempt >= this.#maxAttempts) throw new TransientError(`ServiceImport ${key}: still conflicting after ${attempt} attempts`, { cause: e });
        live = await api.get<ServiceImport>(path);
      }
    }
  }

  async #deleteImport(call: Call, m: ServiceImport): Promise<void> {
    const api = call.config;
    const ns = m.metadata.namespace ?? '';
    const path = objectPath(RT.serviceImports, ns, m.metadata.name);
    let live: ServiceImport | undefined = m;
    for (let attempt = 1; ; attempt++) {
      if (live === undefined || !isManaged(live)) return;
      try {
        // uid + resourceVersion preconditions: never delete a re-created or relabelled object.
        const gone = await api.delete(path, {
          ...(live.metadata.uid ? { uid: live.metadata.uid } : {}),
          ...(live.metadata.resourceVersion ? { resourceVersion: live.metadata.resourceVersion } : {}),
        });
        if (gone) call.r.deleted.push(keyOf(m.metadata));
        return;
      } catch (e) {
        if (!isConflict(e) || attempt >= this.#maxAttempts) throw e;
        call.r.conflicts++;
        live = await api.get<ServiceImport>(path);
      }
    }
  }

  #member(call: Call, cluster: string): KubeApi | undefined {
    if (!call.members.has(cluster)) {
      const t = this.#o.member?.(cluster);
      call.members.set(cluster, t === undefined ? undefined : this.#api(t, call.r));
    }
    return call.members.get(cluster);
  }

  async #serviceExport(call: Call, e: ServiceExportStatus): Promise<void> {
    const label = `ServiceExport ${e.namespace}/${e.name} in ${e.cluster}`;
    const api = call.deadMembers.has(e.cluster) ? undefined : this.#member(call, e.cluster);
    if (api === undefined) {
      if (!call.r.skippedMembers.includes(e.cluster)) call.r.skippedMembers.push(e.cluster);
      return;
    }
    try {
      await this.#writeStatus<ServiceExport>(
        call,
        api,
        RT.serviceExports,
        e.namespace,
        e.name,
        label,
        this.#o.memberStore?.(e.cluster, 'serviceExports'),
        (live) => (jsonEqual(live.status?.conditions ?? [], e.conditions) ? undefined : { ...(live.status ?? {}), conditions: e.conditions satisfies Condition[] }),
      );
    } catch (error) {
      if (isFencedError(error)) throw error;
      call.r.errors.push({ target: label, error });
      // A member that does not answer is not asked again in this call (no N timeouts in a row).
      const kind = classifyClusterError(error).kind;
      if (kind === 'Unreachable' || kind === 'AuthFailed' || kind === 'InvalidKubeconfig') {
        call.deadMembers.add(e.cluster);
        if (!call.r.skippedMembers.includes(e.cluster)) call.r.skippedMembers.push(e.cluster);
      }
    }
  }
}

/** `want` when it differs from `live` (canonical JSON), else undefined. */
function replaceIfDifferent<T>(live: T | undefined, want: T): T | undefined {
  return jsonEqual(live ?? {}, want) ? undefined : want;
}
