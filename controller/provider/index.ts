// SPDX-License-Identifier: Apache-2.0
//
// The provider (docs/architecture.md "Data flow: one way"): watches every cluster and turns what it
// sees into a Snapshot. It makes no decisions. Config-cluster resources come from one reflector
// each; member resources come from the MemberSet (one client + reflectors per FleetMember, frozen
// when unreachable). Every object event bumps `generation`, updates the incremental indexes
// (indexes.ts) and is reported through `onChange`, which the controller maps to work-queue keys
// (keys.ts).
//
// Three snapshots, all plain data (translate may keep references to them):
//   snapshot()            the whole fleet (goldens, tests, tools);
//   scopedSnapshot(key)   what translate needs for ONE Gateway, read from the indexes: its cost
//                         follows the Gateway's own routes and backends and the members' Nodes, not
//                         the number of Gateways;
//   globalSnapshot()      what the global pass needs (GatewayClasses, FleetMembers, ILBConfigs, the
//                         MCS importer): no Gateways, routes or EndpointSlices.
import type { EndpointSlice, FleetMember, Gateway, GatewayClass, HealthCheckPolicy, ILBConfig, Namespace, Node, ReferenceGrant, Service, ServiceExport, ServiceImport, TCPRoute, UDPRoute } from '../api/index.ts';
import type { ClusterClient } from '../clusters/client.ts';
import { MemberSet, type MemberEvent, type MemberSetOptions, type MemberView, type MemberReflectorDefaults, type MemberResource, type SecretLike } from '../clusters/memberset.ts';
import { errorMessage } from '../errors/index.ts';
import { kubeTransport, Reflector, type StoredObject } from '../runtime/reflector.ts';
import type { ConfigClusterSnapshot, MemberSnapshot, Snapshot, TranslateSettings } from '../snapshot/types.ts';
import { reflectorMetrics, type ControllerMetrics } from '../telemetry/metrics.ts';
import { type Log, silentLog } from '../telemetry/logger.ts';
import { FleetIndex } from './indexes.ts';
import { slimNode } from './slim.ts';
import { globalSnapshot, scopedSnapshot, type MemberHeader, type ScopeSource } from './scoped.ts';

/** The Gateway CRD and the annotation that names its Gateway API release (e.g. `v1.6.3`). */
export const GATEWAY_CRD = 'gateways.gateway.networking.k8s.io';
export const BUNDLE_VERSION_ANNOTATION = 'gateway.networking.k8s.io/bundle-version';

/** A config-cluster collection the provider reflects. `optional` ones are skipped when not served. */
interface ConfigResource {
  key: keyof ConfigClusterSnapshot | 'secrets' | 'gkeServiceImports' | 'gatewayCrds';
  group: string;
  version: string;
  plural: string;
  /** Namespaced to the controller namespace (Secrets: least privilege, no cluster-wide read). */
  inControllerNamespace?: boolean;
  optional?: boolean;
  fieldSelector?: string;
  /** Not needed to reconcile: not waited for (`configSynced`), so a refused read blocks nothing. */
  informational?: boolean;
}

const CONFIG_RESOURCES: readonly ConfigResource[] = [
  { key: 'gatewayClasses', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gatewayclasses' },
  { key: 'gateways', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gateways' },
  { key: 'tcpRoutes', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'tcproutes' },
  { key: 'udpRoutes', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'udproutes' },
  { key: 'referenceGrants', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'referencegrants' },
  { key: 'serviceImports', group: 'multicluster.x-k8s.io', version: 'v1beta1', plural: 'serviceimports' },
  // GKE MCS fleets (deploy/README.md §3): read-only, used as names only. Not served elsewhere.
  { key: 'gkeServiceImports', group: 'net.gke.io', version: 'v1', plural: 'serviceimports', optional: true },
  { key: 'fleetMembers', group: 'fleetilb.io', version: 'v1alpha1', plural: 'fleetmembers' },
  { key: 'ilbConfigs', group: 'fleetilb.io', version: 'v1alpha1', plural: 'ilbconfigs' },
  // docs/policy.md. Optional: a config cluster whose fleet-ilb CRDs predate the policy still runs.
  { key: 'healthCheckPolicies', group: 'fleetilb.io', version: 'v1alpha1', plural: 'healthcheckpolicies', optional: true },
  { key: 'namespaces', group: '', version: 'v1', plural: 'namespaces' },
  { key: 'secrets', group: '', version: 'v1', plural: 'secrets', inControllerNamespace: true },
  // The Gateway API CRD bundle version (GatewayClass SupportedVersion): the annotation every CRD of
  // a Gateway API release carries; the Gateway CRD alone is read (RBAC C11: by name).
  {
    key: 'gatewayCrds',
    group: 'apiextensions.k8s.io',
    version: 'v1',
    plural: 'customresourcedefinitions',
    fieldSelector: `metadata.name=${GATEWAY_CRD}`,
    informational: true,
  },
];

/**
 * What every member is watched for (read only, except what the VIP apply and status writer write).
 * ServiceExports of both MCS APIs are optional (watched where served): upstream
 * `multicluster.x-k8s.io` and GKE MCS's `net.gke.io/v1` (docs/architecture.md; a GKE fleet's members serve
 * only the latter). Both are exports of the same service to translate (translate/mcs.ts).
 */
export const MEMBER_RESOURCES: readonly MemberResource[] = [
  // Only the fields fleet-ilb reads (slim.ts): a Node's images, capacity and heartbeats are most of it.
  { key: 'nodes', path: '/api/v1/nodes', transform: slimNode },
  { key: 'services', path: '/api/v1/services' },
  { key: 'endpointslices', path: '/apis/discovery.k8s.io/v1/endpointslices' },
  { key: 'serviceexports', path: '/apis/multicluster.x-k8s.io/v1beta1/serviceexports', optional: true },
  { key: 'gkeserviceexports', path: '/apis/net.gke.io/v1/serviceexports', optional: true },
];

/** Member resource keys that hold ServiceExports (any MCS group). */
export const EXPORT_RESOURCES: ReadonlySet<string> = new Set(['serviceexports', 'gkeserviceexports']);

function collectionPath(r: ConfigResource, namespace: string): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  return r.inControllerNamespace ? `${base}/namespaces/${namespace}/${r.plural}` : `${base}/${r.plural}`;
}

/** One observed change, for mapping to work-queue keys. */
export type Change =
  | { scope: 'config'; resource: ConfigResource['key']; object: StoredObject; oldObject?: StoredObject }
  | { scope: 'member'; clusterID: string; resource: string; object: StoredObject; oldObject?: StoredObject }
  | {
      scope: 'reachability';
      clusterID: string;
      /** Whether the member had fully synced data before this change and has now (see keys.ts). */
      synced?: { before: boolean; after: boolean };
    };

export interface ProviderOptions {
  config: ClusterClient;
  /** The controller namespace (member kubeconfig Secrets live there). */
  namespace: string;
  fleetId: string;
  settings?: TranslateSettings;
  onChange: (c: Change) => void;
  log?: Log;
  metrics?: ControllerMetrics;
  /** Reflector options of every member reflector; the idle watchdog and relist period also apply to the config cluster's. */
  reflectorDefaults?: MemberReflectorDefaults;
  /** Registers each reflector with readiness (`/readyz`). */
  onReflector?: (r: Reflector, change: 'added' | 'removed') => void;
  /** Builds member clients (tests may pass their own). */
  makeMemberClient?: (clusterID: string, kubeconfig: string) => ClusterClient;
  /** Passed to the MemberSet: drain a deleted member, expire one frozen too long (main.ts wires them). */
  memberHooks?: Pick<MemberSetOptions, 'drain' | 'drainTimeoutMs' | 'onExpired' | 'frozenTtlMs' | 'emptyListConfirmMs' | 'unreachablePublishDelayMs'>;
}

/** Watches the config cluster and every member; builds Snapshots. */
export class FleetProvider {
  readonly #o: ProviderOptions;
  readonly #log: Log;
  readonly #config = new Map<ConfigResource['key'], Reflector>();
  readonly members: MemberSet;
  /** Incremental indexes (routes by parent, backends by service, member objects by service, ...). */
  readonly index = new FleetIndex();
  /** Members that have had a full sync under their current cluster id. */
  readonly #everSynced = new Set<string>();
  #generation = 0;
  #stopped = false;

  constructor(opts: ProviderOptions) {
    this.#o = opts;
    this.#log = (opts.log ?? silentLog).child({ component: 'provider' });
    this.members = new MemberSet({
      resources: [...MEMBER_RESOURCES],
      ...(opts.reflectorDefaults === undefined ? {} : { reflectorDefaults: opts.reflectorDefaults }),
      ...(opts.makeMemberClient === undefined ? {} : { makeClient: opts.makeMemberClient }),
      ...opts.memberHooks,
      onEvent: (e: MemberEvent) => {
        this.#generation++;
        this.index.onMember(e.clusterID, e.resource, e.type, e.object, e.oldObject);
        opts.onChange({
          scope: 'member',
          clusterID: e.clusterID,
          resource: e.resource,
          object: e.object,
          ...(e.oldObject === undefined ? {} : { oldObject: e.oldObject }),
        });
      },
      onReachability: (clusterID) => {
        this.#generation++;
        // Whether the member had data before and after: a never-synced member is named in every
        // Gateway's MembersReachable condition (translate/build.ts), a synced one only where used.
        const before = this.#everSynced.has(clusterID);
        const after = this.members.member(clusterID)?.lastSyncTime !== undefined;
        if (after) this.#everSynced.add(clusterID);
        opts.onChange({ scope: 'reachability', clusterID, synced: { before, after } });
      },
      ...(opts.onReflector === undefined ? {} : { onReflector: opts.onReflector }),
      ...(opts.metrics === undefined ? {} : { reflectorMetrics: (c: string, r: string) => reflectorMetrics(opts.metrics!, c, r) }),
      log: this.#log,
    });
  }

  /** Bumped on every observed change: equal generations mean equal snapshots. */
  get generation(): number {
    return this.#generation;
  }

  /** Starts the config reflectors (optional groups only when served). */
  async start(): Promise<void> {
    const idleTimeoutMs = this.#o.reflectorDefaults?.idleTimeoutMs;
    const relistIntervalMs = this.#o.reflectorDefaults?.relistIntervalMs;
    // client-node's own inactivity abort stays 5 s behind the reflector's watchdog (runtime/reflector.ts).
    const transport = kubeTransport(this.#o.config.kubeConfig, idleTimeoutMs === undefined ? {} : { clientTimeoutMs: idleTimeoutMs + 5_000 });
    for (const r of CONFIG_RESOURCES) {
      if (r.optional && !(await this.#served(r))) {
        this.#log.info({ group: r.group, version: r.version, plural: r.plural }, 'optional resource not served; not watched');
        continue;
      }
      const refl = new Reflector({
        transport,
        path: collectionPath(r, this.#o.namespace),
        cluster: 'config',
        resource: r.key,
        ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
        ...(relistIntervalMs === undefined ? {} : { relistIntervalMs }),
        ...(r.fieldSelector === undefined ? {} : { fieldSelector: r.fieldSelector }),
        log: this.#log,
        ...(this.#o.metrics === undefined ? {} : { metrics: reflectorMetrics(this.#o.metrics, 'config', r.key) }),
      });
      const changed = (type: 'add' | 'update' | 'delete', object: StoredObject, oldObject?: StoredObject): void => {
        this.#generation++;
        this.index.onConfig(r.key, type, object);
        if (r.key === 'fleetMembers' || r.key === 'secrets') this.#syncMembers();
        this.#o.onChange({ scope: 'config', resource: r.key, object, ...(oldObject === undefined ? {} : { oldObject }) });
      };
      if (r.key === 'fleetMembers' || r.key === 'secrets') refl.on('synced', () => this.#syncMembers());
      refl.on('add', (o) => changed('add', o));
      refl.on('update', (o, n) => changed('update', n, o));
      refl.on('delete', (o) => changed('delete', o));
      this.#config.set(r.key, refl);
      this.#o.onReflector?.(refl, 'added');
      refl.start();
    }
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const r of this.#config.values()) r.stop();
    this.members.stop();
  }

  /** True once every config reflector has listed (member readiness is reported per member). */
  configSynced(): boolean {
    const informational = new Set(CONFIG_RESOURCES.filter((r) => r.informational === true).map((r) => r.key));
    return [...this.#config.entries()].every(([k, r]) => informational.has(k) || r.hasSynced());
  }

  /** Config-cluster objects of one resource. */
  list<T>(key: ConfigResource['key']): T[] {
    return (this.#config.get(key)?.list() ?? []) as T[];
  }

  /** One Gateway by `namespace/name` from the cache (O(1)). */
  gateway(key: string): Gateway | undefined {
    const i = key.indexOf('/');
    return this.#config.get('gateways')?.getByName(key.slice(i + 1), key.slice(0, i)) as Gateway | undefined;
  }

  /** The cache of one config resource (the status writer compares against it before writing). */
  store(key: ConfigResource['key']): Reflector | undefined {
    return this.#config.get(key);
  }

  /** The Secret of that name in the controller namespace. */
  secret(name: string): SecretLike | undefined {
    return this.list<SecretLike>('secrets').find((s) => s.metadata?.name === name);
  }

  /** A Snapshot of everything seen so far. Plain data: translate may keep references to it. */
  snapshot(): Snapshot {
    const config: ConfigClusterSnapshot = {
      gatewayClasses: this.list<GatewayClass>('gatewayClasses'),
      gateways: this.list<Gateway>('gateways'),
      tcpRoutes: this.list<TCPRoute>('tcpRoutes'),
      udpRoutes: this.list<UDPRoute>('udpRoutes'),
      referenceGrants: this.list<ReferenceGrant>('referenceGrants'),
      serviceImports: [...this.list<ServiceImport>('serviceImports'), ...this.list<ServiceImport>('gkeServiceImports')],
      fleetMembers: this.list<FleetMember>('fleetMembers'),
      ilbConfigs: this.list<ILBConfig>('ilbConfigs'),
      namespaces: this.list<Namespace>('namespaces'),
      healthCheckPolicies: this.list<HealthCheckPolicy>('healthCheckPolicies'),
    };
    const members: Record<string, MemberSnapshot> = {};
    for (const m of this.members.members()) {
      members[m.clusterID] = {
        ...this.#memberHeader(m, config.fleetMembers),
        serviceExports: [
          ...this.members.list<ServiceExport & StoredObject>(m.clusterID, 'serviceexports'),
          ...this.members.list<ServiceExport & StoredObject>(m.clusterID, 'gkeserviceexports'),
        ],
        services: this.members.list<Service & StoredObject>(m.clusterID, 'services'),
        endpointSlices: this.members.list<EndpointSlice & StoredObject>(m.clusterID, 'endpointslices'),
        nodes: this.members.list<Node & StoredObject>(m.clusterID, 'nodes'),
      };
    }
    return {
      fleetId: this.#o.fleetId,
      ...this.#bundleVersion(),
      ...(this.#o.settings === undefined ? {} : { settings: this.#o.settings }),
      config,
      members,
    };
  }

  /**
   * What translate needs for one Gateway (`namespace/name`), from the indexes: see scoped.ts. The
   * reconciler translates each Gateway from this, never from snapshot().
   */
  scopedSnapshot(gatewayKey: string): Snapshot {
    return scopedSnapshot(this.#scopeSource(), gatewayKey);
  }

  /** What the global pass needs (no Gateways, routes or EndpointSlices): see scoped.ts. */
  globalSnapshot(): Snapshot {
    return globalSnapshot(this.#scopeSource());
  }

  #scopeSource(): ScopeSource {
    return {
      fleetId: this.#o.fleetId,
      ...this.#bundleVersion(),
      ...(this.#o.settings === undefined ? {} : { settings: this.#o.settings }),
      get: (resource, key) => this.#config.get(resource)?.get(key),
      list: (resource) => this.list(resource),
      members: (fleetMembers) => this.members.members().map((m) => this.#memberHeader(m, fleetMembers)),
      index: this.index,
    };
  }

  /** `Snapshot.crdBundleVersion`, once the Gateway CRD has been read (else SupportedVersion stays Unknown). */
  #bundleVersion(): { crdBundleVersion?: string } {
    const crd = this.list<{ metadata?: { annotations?: Record<string, string> } }>('gatewayCrds')[0];
    const v = crd?.metadata?.annotations?.[BUNDLE_VERSION_ANNOTATION];
    return v === undefined ? {} : { crdBundleVersion: v };
  }

  /** Every Gateway key (`namespace/name`). */
  gatewayKeys(): string[] {
    return this.list<Gateway>('gateways').map((g) => `${g.metadata.namespace ?? ''}/${g.metadata.name}`);
  }

  /** A member's reachability and sync state as every Snapshot carries it. */
  #memberHeader(m: MemberView, fleetMembers: readonly FleetMember[]): MemberHeader {
    // FleetMember `status.lastSyncTime`: for a reachable member, when its current connection
    // first synced (the watches keep it current from then on); for a frozen one, its last full
    // list. Not every periodic relist: that would make each relist a status write, and a resync
    // must write nothing when nothing changed. Nor every new connection of a restarted controller
    // (or a new leader): while the published status still says Ready=True, the member has been in
    // sync since the time it shows, so that time is kept and a restart writes nothing.
    let lastSyncTime = m.reachability.state === 'reachable' ? (m.reachability.since ?? m.lastSyncTime) : m.lastSyncTime;
    if (m.reachability.state === 'reachable') {
      const published = fleetMembers.find((f) => f.metadata.name === m.fleetMember)?.status;
      const wasReady = (published?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
      if (wasReady && published?.lastSyncTime !== undefined) lastSyncTime = published.lastSyncTime;
    }
    return {
      clusterId: m.clusterID,
      fleetMember: m.fleetMember,
      reachability: m.reachability,
      frozen: m.frozen,
      ...(lastSyncTime === undefined ? {} : { lastSyncTime }),
    };
  }

  #syncMembers(): void {
    if (this.#stopped) return;
    // Judge members only once both FleetMembers and their Secrets have listed: before that a
    // member's Secret would look missing (a false SecretNotFound, and a client torn down for it).
    if (!this.#config.get('fleetMembers')?.hasSynced() || !this.#config.get('secrets')?.hasSynced()) return;
    this.members.sync(this.list<FleetMember>('fleetMembers'), (name) => this.secret(name));
    // A removed member's reflectors emit no deletes: drop its index.
    const present = new Set(this.members.members().map((m) => m.clusterID));
    this.index.retainMembers(present);
    for (const id of [...this.#everSynced]) if (!present.has(id)) this.#everSynced.delete(id);
  }

  async #served(r: ConfigResource): Promise<boolean> {
    try {
      const doc = (await this.#o.config.getJson(`/apis/${r.group}/${r.version}`)) as { resources?: Array<{ name?: string }> };
      return (doc.resources ?? []).some((x) => x.name === r.plural);
    } catch (err) {
      this.#log.debug({ group: r.group, err: errorMessage(err) }, 'discovery failed');
      return false;
    }
  }
}
