// SPDX-License-Identifier: Apache-2.0
//
// The reconcile loop body, one way (docs/architecture.md): key → scoped snapshot → translate (pure)
// → IR → facts → render(IR, facts) → plan → apply → compose(statuses, outcome) → status. Keys are
// level-triggered: `gateway:<ns>/<name>` for one Gateway and `global` for the statuses that belong
// to no single Gateway (GatewayClasses, FleetMembers, ILBConfigs, the MCS importer's ServiceImports
// and ServiceExport conditions). A reconcile re-reads its inputs from the provider's caches and its
// facts from the shared GCE inventory, so missed or duplicate events are harmless.
//
// Nothing apply learns is fed back into translate: the VIP, the NEGs' members and the node tags are
// facts of the inventory, read by render and compose. The one ordering edge: the member VIP Services
// are written when the VIP is known and before GCE can send traffic to it (apply's beforeTraffic).
// Deletion: GCE teardown in reverse order in every scope the Gateway may own something, VIP
// Services deleted, then the finalizer removed last.
import type { FleetMember, Gateway, GatewayClass, ILBConfig, Service } from './api/index.ts';
import { errorMessage, isCloudResourceError, isFencedError, isUserError, retryPolicy } from './errors/index.ts';
import type { GceCloud } from './infra/gcp/cloud/client.ts';
import { gatewayReasonFor, gceCategory } from './infra/gcp/cloud/errors.ts';
import { applyGce, teardownGce, type GceApplyResult, type GceTeardownResult } from './infra/gcp/apply.ts';
import { healthTargets, type BackendHealthMonitor } from './infra/gcp/health.ts';
import type { DesiredGce } from './infra/gcp/desired.ts';
import { GceInventory, hcKey, type RefreshStats } from './infra/gcp/inventory.ts';
import { negKey } from './infra/gcp/observe.ts';
import { renderGce, type GceFacts, type RenderContext } from './infra/gcp/render.ts';
import { sweepGce, type SweepResult } from './infra/gcp/sweep.ts';
import { renderVip, type DesiredVip } from './infra/vip/render.ts';
import type { GatewayIR } from './ir/types.ts';
import type { FleetProvider } from './provider/index.ts';
import type { Fence } from './runtime/fence.ts';
import type { ReconcileResult } from './runtime/workers.ts';
import { composeGatewayStatus, type GceOutcome } from './status/compose.ts';
import { withBackendsHealthy } from './status/health.ts';
import type { EventRecorder } from './telemetry/events.ts';
import { type Log, silentLog } from './telemetry/logger.ts';
import type { ControllerMetrics } from './telemetry/metrics.ts';
import { translate, type TranslateResult } from './translate/index.ts';
import { BACKENDS_SERVING } from './translate/serving.ts';
import { FINALIZER, GCE_ANNOTATIONS } from './gateway/index.ts';
import { ILBConfigVerifier, INVALID_RECHECK_MS, cloudVpcReader } from './config/verify.ts';
import { parseILBConfigSpec } from './config/ilbconfig.ts';
import { nameMappedVms } from './translate/checks/nodes.ts';
import type { Snapshot } from './snapshot/types.ts';
import { LABEL_FLEET, LABEL_GATEWAY_UID, LABEL_MANAGED_BY, MANAGED_BY_VALUE } from './naming/labels.ts';
import { labelValue } from './naming/names.ts';
import { CONTROLLER_NAME } from './naming/stamp.ts';

export const GLOBAL_KEY = 'global';
const GATEWAY_PREFIX = 'gateway:';

/** The work-queue key of a Gateway. */
export function gatewayKey(namespace: string, name: string): string {
  return `${GATEWAY_PREFIX}${namespace}/${name}`;
}

/** `namespace/name` of a Gateway key, or undefined for other keys. */
export function parseGatewayKey(key: string): string | undefined {
  return key.startsWith(GATEWAY_PREFIX) ? key.slice(GATEWAY_PREFIX.length) : undefined;
}

/** Identity of a Gateway for the member-side writers. */
export interface GatewayRef {
  namespace: string;
  name: string;
  uid: string;
}

/**
 * The Kubernetes writers the reconciler drives. Each compares before writing (a resync writes
 * nothing), goes through the write fence, and returns how many writes it made.
 */
export interface Writers {
  /** The Gateway's status plus our parent entries of the routes that name it. */
  gatewayStatus(result: TranslateResult, gatewayKey: string): Promise<number>;
  /** GatewayClasses, FleetMembers, ILBConfigs, ServiceImports, ServiceExport conditions. */
  globalStatus(result: TranslateResult): Promise<number>;
  /** Converge every member's VIP Services (and mirrored slices) of one Gateway. */
  vipApply(desired: DesiredVip): Promise<{ writes: number }>;
  /** Delete every VIP object of one Gateway; `done` is false while a member that holds some is frozen. */
  vipDelete(gw: GatewayRef): Promise<{ done: boolean; pending: string[]; writes: number }>;
  /**
   * Make sure the live Gateway carries our finalizer: 'added' (written now), 'present' (the cache
   * was behind), 'gone' (deleted or being deleted: then no cloud call may follow).
   */
  ensureFinalizer(gw: Gateway): Promise<'added' | 'present' | 'gone'>;
  /**
   * Keep the GatewayClass finalizer on our classes exactly while a Gateway names them (deleting a
   * class in use must not tear its Gateways down); returns how many writes it made.
   */
  classFinalizers(): Promise<number>;
  /** Record where the Gateway's GCE resources live (project/region annotations); true when it wrote. */
  setScope(gw: Gateway, scope: { project: string; region: string }): Promise<boolean>;
  /** Remove our finalizer; true when it wrote. */
  removeFinalizer(gw: Gateway): Promise<boolean>;
  /** The annotations listing the Gateway's GCE resources (GKE style); true when it wrote. */
  setAnnotations(gw: Gateway, desired: DesiredGce): Promise<boolean>;
}

export interface ReconcilerOptions {
  provider: FleetProvider;
  /** The Compute client (any project; `forProject` picks the ILBConfig's). */
  cloud: GceCloud;
  fleetId: string;
  writers: Writers;
  fence: Fence;
  /** The shared GCE inventory; default: one built on `cloud`. */
  inventory?: GceInventory;
  /** Checks that each ILBConfig's network and subnetwork exist (reads, cached); default: on `cloud`. */
  vpcVerifier?: ILBConfigVerifier;
  render?: RenderContext;
  events?: EventRecorder;
  metrics?: ControllerMetrics;
  log?: Log;
  /** Requeue delay while a teardown waits on a frozen member or an in-use resource. Default 15 s. */
  retryDelayMs?: number;
  /**
   * Reads backend health from GCE (infra/gcp/health.ts): each reconcile tells it what to read and
   * composes `fleetilb.io/BackendsHealthy` from its last reads. Absent = no health condition.
   */
  health?: BackendHealthMonitor;
  /** Orphans younger than this are not swept (in-flight creates). Default 10 min. */
  sweepMinAgeMs?: number;
  /** The clock for status times. Default: now. */
  now?: () => string;
  /**
   * When a failing key will be retried (ms), decided now by the work queue (`queue.planRetry`) so the
   * Programmed message can say it ("retrying in 40 s"); undefined = no automatic retry.
   */
  retryIn?: (key: string, err: unknown) => number | undefined;
}

/** What a reconcile did; tests and the demo read it. */
export interface GatewayOutcome {
  gceWrites: number;
  kubeWrites: number;
  outcome?: GceOutcome;
}

export class Reconciler {
  readonly #o: ReconcilerOptions;
  readonly #log: Log;
  readonly inventory: GceInventory;
  readonly #vpc: ILBConfigVerifier;
  /** Last outcome per Gateway (tests, demo). Written, never read back into a reconcile. */
  readonly outcomes = new Map<string, GatewayOutcome>();
  readonly #inFlight = new Set<string>();
  /** Gateways whose running reconcile already recorded a Warning Event about an error: its message. */
  readonly #warned = new Map<string, string>();

  constructor(opts: ReconcilerOptions) {
    this.#o = opts;
    this.#log = (opts.log ?? silentLog).child({ component: 'reconciler' });
    this.inventory = opts.inventory ?? new GceInventory({ cloud: opts.cloud, fleetId: opts.fleetId, log: this.#log });
    this.#vpc = opts.vpcVerifier ?? new ILBConfigVerifier({ reader: cloudVpcReader(opts.cloud), log: this.#log });
  }

  /**
   * translate, with what GCE reads found wrong in the snapshot's ILBConfigs (a network or
   * subnetwork that does not exist: controller/config/verify.ts). `recheck` is set while any is
   * wrong: the fix happens in GCE and sends no event, so the key is looked at again at that pace.
   */
  async #translate(snapshot: Snapshot): Promise<{ result: TranslateResult; recheck?: ReconcileResult }> {
    const [problems, nodeVms] = await Promise.all([this.#vpc.problems(snapshot.config.ilbConfigs), this.#nodeVms(snapshot)]);
    const result = translate(snapshot, { ...this.#topts(), ilbConfigProblems: problems, nodeVms });
    return problems.size > 0 ? { result, recheck: { requeueAfterMs: INVALID_RECHECK_MS } } : { result };
  }

  /**
   * GCE's word on the VMs of the snapshot's name-mapped nodes (no providerID, or nodeMapping
   * NodeName: translate/checks/nodes.ts), from the inventory's instance list: exists, known absent,
   * or left out when the read failed (unknown is not absent). No read at all when every node has a
   * providerID (GKE).
   */
  async #nodeVms(snapshot: Snapshot): Promise<Map<string, boolean>> {
    const projects = [...new Set(snapshot.config.ilbConfigs.flatMap((c) => {
      const r = parseILBConfigSpec(c.spec);
      return r.ok ? [r.spec.project] : [];
    }))].sort();
    const members = snapshot.config.fleetMembers.flatMap((fm) => {
      const data = snapshot.members[fm.spec.clusterID];
      return data === undefined ? [] : [{ fleetMember: fm, nodes: data.nodes }];
    });
    const byProject = new Map<string, string[]>();
    for (const key of nameMappedVms(members, projects)) {
      const [project = '', zi] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
      byProject.set(project, [...(byProject.get(project) ?? []), zi]);
    }
    const out = new Map<string, boolean>();
    for (const [project, zis] of byProject) {
      for (const [zi, exists] of await this.inventory.instancesExist(project, zis)) out.set(`${project}/${zi}`, exists);
    }
    return out;
  }

  /** Reconcile one key (runtime/workers.ts calls it). */
  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    if (key === GLOBAL_KEY) {
      // GatewayClasses, FleetMembers, ILBConfigs, ServiceImports, export conditions: a snapshot
      // without Gateways or routes, so the global pass costs the same in any fleet size.
      const { result, recheck } = await this.#translate(this.#o.provider.globalSnapshot());
      await this.#o.writers.globalStatus(result);
      await this.#o.writers.classFinalizers();
      this.#observeMembers();
      return recheck;
    }
    const gwKey = parseGatewayKey(key);
    if (gwKey === undefined) {
      this.#log.warn({ key }, 'unknown key');
      return undefined;
    }
    // The work queue never hands out a key twice at once (runtime/workqueue.ts); a create and the
    // deletion's teardown overlapping would leak (the teardown would not see the create's writes),
    // so this is checked here too and logged loudly if it ever happens.
    if (this.#inFlight.has(gwKey)) {
      this.#log.error({ gateway: gwKey }, 'reconcile of a Gateway already in flight: retrying it after the running one');
      return { requeueAfterMs: 100 };
    }
    this.#inFlight.add(gwKey);
    this.#warned.delete(gwKey);
    try {
      return await this.#reconcileGateway(gwKey);
    } catch (err) {
      this.#reportFailure(gwKey, err);
      throw err;
    } finally {
      this.#inFlight.delete(gwKey);
      this.#warned.delete(gwKey);
    }
  }

  /**
   * Every failed reconcile leaves a Warning Event on its Gateway (issue 12, A1: "every failed sync
   * left a condition or an Event"): a GCE apply error has its `SyncFailed` already (`#report`, next
   * to the Programmed=False condition); anything else that fails a reconcile — a teardown, the
   * finalizer or scope patch, a VIP Service write, the status write itself, a facts read — gets
   * `ReconcileFailed` with the error, since no condition says it (a Gateway being deleted has no
   * condition that could). A deposed leader records nothing (the recorder is fenced).
   */
  #reportFailure(gwKey: string, err: unknown): void {
    if (isFencedError(err) || this.#warned.get(gwKey) === errorMessage(err)) return;
    const gw = this.#gateway(gwKey);
    const i = gwKey.indexOf('/');
    const ref = gw !== undefined ? objectRef(gw) : { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', namespace: gwKey.slice(0, i), name: gwKey.slice(i + 1) };
    const what = gw?.metadata.deletionTimestamp !== undefined ? 'teardown' : 'reconcile';
    this.#o.events?.record(ref, 'Warning', 'ReconcileFailed', what === 'teardown' ? 'Teardown' : 'Sync', `${what} failed (retried with backoff): ${errorMessage(err)}`);
  }

  /**
   * One Gateway, top to bottom (docs/architecture.md): scoped snapshot → translate → finalizer and
   * scope annotations → facts → render → apply (member VIP Services before traffic) → compose →
   * status, annotations, events.
   */
  async #reconcileGateway(gwKey: string): Promise<ReconcileResult | undefined> {
    // 1. Intent: translate what this Gateway's inputs say (pure, scoped to them).
    const { result, recheck } = await this.#translate(this.#o.provider.scopedSnapshot(gwKey));
    const gw = this.#gateway(gwKey);
    if (gw === undefined) {
      // Gone without our finalizer (never programmed, or removed by force): the sweep removes any
      // GCE leftovers by ownership stamp, and its VIP Services (battery B3). Routes that named it
      // lose our parent entries. If it owned something, the user is told where it went.
      this.#forget(gwKey);
      for (const uid of this.inventory.previousIncarnations(gwKey, '')) {
        const [namespace = '', name = ''] = [gwKey.slice(0, gwKey.indexOf('/')), gwKey.slice(gwKey.indexOf('/') + 1)];
        this.#o.events?.record(
          { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', namespace, name, uid },
          'Warning',
          'FinalizerRemoved',
          'Teardown',
          `deleted without the ${FINALIZER} finalizer, so its teardown did not run: the orphan sweep (--sweep-period) deletes its GCE resources and VIP Services by their ownership stamp and labels`,
        );
      }
      await this.#o.writers.gatewayStatus(result, gwKey);
      return undefined;
    }
    const hasFinalizer = (gw.metadata.finalizers ?? []).includes(FINALIZER);
    const invalid = result.invalidGateways.find((g) => g.key === gwKey);
    const ir = result.gateways.find((g) => g.key === gwKey);
    if (gw.metadata.deletionTimestamp !== undefined || (ir === undefined && invalid === undefined)) {
      // Being deleted, or no longer of our class: tear down what we own, then let go.
      if (!hasFinalizer) {
        // Our finalizer stripped, then the class changed (or the deletion waits on someone else's
        // finalizer): what it still owns goes now, with a warning (issue 12: this leaked, the
        // sweep counted every existing Gateway as wanted).
        const uid = gw.metadata.uid ?? '';
        // (Its VIP Services alone, without GCE resources, are left to the sweep.)
        if (this.inventory.scopesOf(uid).length === 0) return undefined;
        this.#o.events?.record(
          objectRef(gw),
          'Warning',
          'FinalizerRemoved',
          'Teardown',
          `the ${FINALIZER} finalizer was removed while fleet-ilb still owned resources of this Gateway: they are deleted now`,
        );
      }
      return this.#teardown(gwKey, gw);
    }
    if (ir === undefined) {
      // Bad input: the spec's condition and reason, and no cloud call on its behalf (docs/architecture.md, failure rules).
      // Resources an earlier valid spec created stay until the Gateway is fixed or deleted.
      // Its status has no BackendsHealthy (nothing is programmed for this spec): stop reading it.
      this.#o.health?.forget(gwKey);
      const kubeWrites = await this.#o.writers.gatewayStatus(result, gwKey);
      this.outcomes.set(gwKey, { gceWrites: 0, kubeWrites });
      return recheck;
    }

    // 2. Before the first cloud call: our finalizer, and where the resources will live. A Gateway
    // deleted meanwhile (the cache is behind) gets neither: no cloud call then, or its resources
    // would have no finalizer to clean them up (issue 9 defect 3).
    let kubeWrites = 0;
    if (!hasFinalizer) {
      const fin = await this.#o.writers.ensureFinalizer(gw);
      if (fin === 'gone') {
        // Its deletion (or a new uid's creation) is another event: that reconcile tears down.
        this.#log.info({ gateway: gwKey }, 'Gateway gone or being deleted before its first cloud call; nothing created');
        return undefined;
      }
      if (fin === 'added') kubeWrites++;
    }
    const project = ir.config.project;
    const region = ir.config.region;
    const annotations = gw.metadata.annotations ?? {};
    const previous = { project: annotations[GCE_ANNOTATIONS.project], region: annotations[GCE_ANNOTATIONS.region] };
    if (previous.project !== project || previous.region !== region) {
      if (await this.#o.writers.setScope(gw, { project, region })) kubeWrites++;
    }

    // An earlier Gateway of this name whose teardown never ran (finalizer stripped, deleted while
    // the controller was down) holds the names this one needs: its stamps name another uid, which
    // plan treats as foreign. It is gone for sure (two Gateways cannot share a name), so its
    // resources go now rather than at the next sweep (issue 9 defect 4).
    let gceWrites = await this.#teardownPrevious(gw, { project, region });

    // 3. Facts: what GCE holds that render needs (instance tags, the NEGs' current members).
    const facts = await this.#facts(ir);
    const desired = renderGce(ir, facts, this.#o.render);
    // Its NEGs and health checks are shared with other Gateways: none of them deletes one this
    // Gateway renders (docs/architecture.md "Shared NEGs and health checks").
    this.inventory.claim(gw.metadata.uid ?? '', [
      ...desired.negs.map((n) => negKey(n.project ?? desired.project, n.zone, n.neg.name)),
      ...desired.healthChecks.map((h) => hcKey(desired.project, desired.region, h.name)),
    ]);

    // 4. Apply, with the member side made ready before GCE can send traffic to the VIP.
    const cloud = this.#o.cloud.forProject(project);
    // Frozen members: what GCE holds for them stays, even what translate does not know about (a
    // member that was already down when this process started has no data here; infra/gcp/keep.ts).
    const keep = new Set(this.#o.provider.members.members().filter((m) => m.frozen).map((m) => m.clusterID));
    let vipWritten = false;
    const res = await applyGce(desired, {
      cloud,
      fleetId: this.#o.fleetId,
      keepClusters: keep,
      inventory: this.inventory,
      beforeTraffic: async (vip) => {
        kubeWrites += (await this.#o.writers.vipApply(renderVip(ir, vip))).writes;
        vipWritten = true;
      },
    });
    if (isFencedError(res.error)) throw asError(res.error);
    gceWrites += res.changes;
    // A changed ILBConfig project or region: what the Gateway owns elsewhere goes (defect 5), but
    // only once the new scope applied cleanly: a typo in the new project must not delete the load
    // balancer that still works in the old one. (The inventory keeps the old scope's resources by
    // uid, so a later reconcile still finds them; a restart meanwhile would leave them to the sweep.)
    if (res.error === undefined && !res.readFailed) gceWrites += await this.#teardownElsewhere(gw, { project, region }, previous);
    // The VIP Services follow a known VIP even when apply failed later (they were already there).
    if (!vipWritten && res.vip !== undefined && !res.readFailed) kubeWrites += (await this.#o.writers.vipApply(renderVip(ir, res.vip))).writes;

    // 5. Status: translate's statuses with Programmed and the addresses from apply's outcome.
    const retryMs = res.error === undefined ? undefined : this.#o.retryIn?.(GATEWAY_PREFIX + gwKey, res.error);
    const programmedNow = gw.status?.conditions?.some((c) => c.type === 'Programmed' && c.status === 'True') === true;
    const outcome = withRetry(outcomeOf(res, programmedNow), retryMs);
    const gwStatus = result.statuses.gateways.find((g) => `${g.namespace}/${g.name}` === gwKey);
    // Backend health: a fact read after apply, like the inventory's. What to read follows what was
    // applied; the condition comes from the last reads (docs/architecture.md "Feedback edges").
    const health = this.#o.health;
    if (health !== undefined && !res.readFailed) health.track(gwKey, healthTargets(ir, desired));
    if (gwStatus !== undefined) {
      gwStatus.status = composeGatewayStatus(gwStatus.status, ir, outcome, gw.status, gw.metadata.generation, this.#now());
      if (health !== undefined) gwStatus.status = withBackendsHealthy(gwStatus.status, health.health(gwKey), gw.status, gw.metadata.generation, this.#now());
    }
    kubeWrites += await this.#o.writers.gatewayStatus(result, gwKey);
    if (!res.readFailed && (await this.#o.writers.setAnnotations(gw, desired))) kubeWrites++;
    this.outcomes.set(gwKey, { gceWrites, kubeWrites, outcome });
    this.#report(gw, res);
    this.#reportServing(gw, result);
    this.#observeNegs(gwKey, desired);
    // A user error the user may fix outside Kubernetes (a project, a role, a quota) is retried too.
    if (res.error !== undefined && (!isUserError(unwrap(res.error)) || rechecked(res.error))) throw asError(res.error);
    return undefined;
  }

  /**
   * The facts render needs for one Gateway: the network tags of the instances that serve it (unknown
   * when a lookup fails: render keeps the live firewall targets) and, for NEGs with more candidate
   * nodes than the cap, the instances they hold now.
   */
  async #facts(ir: GatewayIR): Promise<GceFacts> {
    const byProject = new Map<string, Set<string>>();
    const capped = new Map<string, Array<{ zone: string; name: string }>>();
    const discover = new Set(ir.firewall.discoverTagsFor);
    for (const g of ir.groups) {
      for (const n of g.negs) {
        if (ir.firewall.managed && discover.has(n.cluster)) {
          const s = byProject.get(n.project) ?? new Set<string>();
          for (const e of n.endpoints) s.add(`${n.zone}/${e.instance}`);
          byProject.set(n.project, s);
        }
        if (n.endpoints.length > ir.config.nodeSubsetSize) capped.set(n.project, [...(capped.get(n.project) ?? []), { zone: n.zone, name: n.name }]);
      }
    }
    const instanceTags = new Map<string, string[]>();
    for (const [project, instances] of byProject) {
      for (const [zi, tags] of await this.inventory.instanceTags(project, [...instances])) instanceTags.set(`${project}/${zi}`, tags);
    }
    const negInstances = new Map<string, string[]>();
    for (const [project, negs] of capped) {
      try {
        for (const [k, v] of await this.inventory.negInstances(project, negs)) negInstances.set(k, v);
      } catch (err) {
        // Unknown members: the cap falls back to its deterministic order (apply then reads again).
        this.#log.info({ gateway: ir.key, project, error: errorMessage(err) }, 'NEG members unknown; capping without them');
      }
    }
    return { instanceTags, negInstances };
  }

  /**
   * Where a Gateway's resources may live: the scope it last annotated, every ILBConfig's scope, and
   * every scope the inventory saw its stamp in; NEGs also in every member's project (Shared VPC).
   */
  #scopesOf(gw: Gateway): Array<{ project: string; regions: string[] }> {
    const uid = gw.metadata.uid ?? '';
    const a = gw.metadata.annotations ?? {};
    const scopes = new Map<string, Set<string>>();
    const add = (p: string | undefined, r: string | undefined): void => {
      if (p === undefined || p === '') return;
      const s = scopes.get(p) ?? new Set<string>();
      if (r !== undefined && r !== '') s.add(r);
      scopes.set(p, s);
    };
    add(a[GCE_ANNOTATIONS.project], a[GCE_ANNOTATIONS.region]);
    for (const c of this.#o.provider.list<ILBConfig>('ilbConfigs')) {
      const { project, region } = projectRegion(c.spec);
      add(project, region);
    }
    for (const s of this.inventory.scopesOf(uid)) for (const r of s.regions.length > 0 ? s.regions : [undefined]) add(s.project, r);
    return [...scopes].filter(([, r]) => r.size > 0).map(([project, r]) => ({ project, regions: [...r].sort() }));
  }

  /** Projects of member NEGs besides the main one (FleetMember `spec.gcp.project`). */
  #memberProjects(): string[] {
    const out = new Set<string>();
    for (const fm of this.#o.provider.list<FleetMember>('fleetMembers')) {
      const p = fm.spec?.gcp?.project;
      if (p !== undefined && p !== '') out.add(p);
    }
    return [...out].sort();
  }

  /** teardownGce in one project, through the shared inventory (the three teardowns below). */
  #teardownIn(project: string, gw: Parameters<typeof teardownGce>[0]): ReturnType<typeof teardownGce> {
    return teardownGce(gw, { cloud: this.#o.cloud.forProject(project), fleetId: this.#o.fleetId, inventory: this.inventory });
  }

  /** Tears down what earlier incarnations of this Gateway (same name, other uid) left in GCE. */
  async #teardownPrevious(gw: Gateway, now: { project: string; region: string }): Promise<number> {
    const key = `${gw.metadata.namespace ?? ''}/${gw.metadata.name}`;
    const negProjects = this.#memberProjects();
    try {
      await this.inventory.load(now.project, now.region, negProjects);
    } catch {
      return 0; // apply reads the same scope and reports the failure
    }
    let writes = 0;
    for (const old of this.inventory.previousIncarnations(key, gw.metadata.uid ?? '')) {
      for (const s of this.inventory.scopesOf(old)) {
        const regions = s.regions.length > 0 ? s.regions : [now.region];
        const res = await this.#teardownIn(s.project, { region: regions, uid: old, negProjects });
        writes += res.changes;
        this.#log.info({ gateway: key, previousUid: old, project: s.project, deleted: res.changes, done: res.done }, 'removed what an earlier Gateway of this name left in GCE');
        if (isFencedError(res.error)) throw asError(res.error);
      }
    }
    return writes;
  }

  /** Tears down what the Gateway owns outside its current project/region (an ILBConfig change). */
  async #teardownElsewhere(gw: Gateway, now: { project: string; region: string }, previous: { project?: string | undefined; region?: string | undefined }): Promise<number> {
    const uid = gw.metadata.uid ?? '';
    const stale: Array<{ project: string; region: string }> = [];
    if (previous.project !== undefined && previous.region !== undefined && (previous.project !== now.project || previous.region !== now.region)) {
      stale.push({ project: previous.project, region: previous.region });
    }
    for (const s of this.inventory.scopesOf(uid)) {
      for (const r of s.regions) if (s.project !== now.project || r !== now.region) stale.push({ project: s.project, region: r });
    }
    let writes = 0;
    for (const s of new Map(stale.map((x) => [`${x.project}/${x.region}`, x])).values()) {
      // Firewalls and NEGs are not regional: only regional kinds are torn down in the old scope of
      // the same project (the current apply owns the project's global ones).
      const res = await this.#teardownIn(s.project, { region: s.region, uid, negProjects: this.#memberProjects(), ...(s.project === now.project ? { regionalOnly: true } : {}) });
      writes += res.changes;
      if (res.error !== undefined) this.#log.info({ gateway: `${gw.metadata.namespace ?? ''}/${gw.metadata.name}`, scope: s, error: errorMessage(res.error) }, 'old scope teardown incomplete; will retry');
    }
    return writes;
  }

  async #teardown(gwKey: string, gw: Gateway): Promise<ReconcileResult | undefined> {
    const uid = gw.metadata.uid ?? '';
    const ref: GatewayRef = { namespace: gw.metadata.namespace ?? '', name: gw.metadata.name, uid };
    let gceWrites = 0;
    for (const s of this.#scopesOf(gw)) {
      const res = await this.#teardownIn(s.project, { region: s.regions, uid, negProjects: this.#memberProjects() });
      gceWrites += res.changes;
      if (!res.done) {
        this.#log.info({ gateway: gwKey, project: s.project, error: res.error === undefined ? undefined : errorMessage(res.error) }, 'teardown incomplete; retrying');
        if (res.error !== undefined) throw asError(res.error);
        return { requeueAfterMs: this.#o.retryDelayMs ?? 15_000 };
      }
    }
    this.inventory.release(uid);
    const vip = await this.#o.writers.vipDelete(ref);
    if (!vip.done) {
      this.#log.info({ gateway: gwKey, pending: vip.pending }, 'VIP Services kept on frozen members; finalizer kept');
      return { requeueAfterMs: this.#o.retryDelayMs ?? 15_000 };
    }
    await this.#o.writers.removeFinalizer(gw);
    this.#o.events?.record(objectRef(gw), 'Normal', 'Deleted', 'Teardown', `deleted ${gceWrites} GCE resources and the VIP Services`);
    this.#forget(gwKey);
    return undefined;
  }

  /**
   * What a reconcile of this Gateway would do in GCE now, without any write: the same translate →
   * facts → render → plan as {@link reconcile}, with apply in dry-run mode (`fleet-ilb plan` and
   * `fleet-ilb status`; give the Reconciler a closed fence and a cloud whose fence is closed too).
   * A Gateway being deleted, or no longer of our class, plans its teardown.
   */
  async planGateway(gwKey: string): Promise<GatewayPlan> {
    const { result } = await this.#translate(this.#o.provider.scopedSnapshot(gwKey));
    const gw = this.#gateway(gwKey);
    if (gw === undefined) return { kind: 'absent' };
    const ir = result.gateways.find((g) => g.key === gwKey);
    const invalid = result.invalidGateways.some((g) => g.key === gwKey);
    if (gw.metadata.deletionTimestamp !== undefined || (ir === undefined && !invalid)) {
      const teardown: Array<{ project: string; result: GceTeardownResult }> = [];
      if ((gw.metadata.finalizers ?? []).includes(FINALIZER)) {
        for (const s of this.#scopesOf(gw)) {
          const r = await teardownGce(
            { region: s.regions, uid: gw.metadata.uid ?? '', negProjects: this.#memberProjects() },
            { cloud: this.#o.cloud.forProject(s.project), fleetId: this.#o.fleetId, inventory: this.inventory, dryRun: true },
          );
          teardown.push({ project: s.project, result: r });
        }
      }
      return { kind: 'teardown', gateway: gw, result, teardown };
    }
    if (ir === undefined) return { kind: 'invalid', gateway: gw, result };
    const desired = renderGce(ir, await this.#facts(ir), this.#o.render);
    const keep = new Set(this.#o.provider.members.members().filter((m) => m.frozen).map((m) => m.clusterID));
    const apply = await applyGce(desired, {
      cloud: this.#o.cloud.forProject(ir.config.project),
      fleetId: this.#o.fleetId,
      keepClusters: keep,
      inventory: this.inventory,
      dryRun: true,
    });
    return { kind: 'apply', gateway: gw, result, ir, desired, apply };
  }

  /**
   * Refreshes the shared inventory (the periodic resync, low priority): one list per kind per
   * project/region plus one endpoint list per known NEG.
   */
  async refreshInventory(): Promise<RefreshStats> {
    return this.inventory.refresh();
  }

  /**
   * Deletes this fleet's GCE resources that no existing Gateway of ours owns (a Gateway deleted
   * while the controller was down without finalizer, a stripped finalizer, a crash between create
   * and status). Reads the inventory (refreshed by the resync). Leader only.
   */
  async sweep(): Promise<number> {
    let deleted = 0;
    for (const { project, result } of await this.#sweep(false)) {
      deleted += result.writes.length;
      for (const e of result.errors) this.#log.info({ project, error: errorMessage(e) }, 'sweep: will retry');
    }
    return deleted + (await this.#sweepVip());
  }

  /**
   * The member side of the sweep: VIP Services (and mirrored slices) of this fleet whose Gateway no
   * longer wants them (deleted with its finalizer stripped: battery B3) are deleted, in every member
   * that answers, once older than the sweep's minimum age. Read from the members' caches.
   */
  async #sweepVip(): Promise<number> {
    const wanted = new Set([...this.#wantedUids()].map(labelValue));
    const minAge = this.#o.sweepMinAgeMs ?? 10 * 60_000;
    const now = Date.now();
    const orphans = [...this.#vipHolders()].filter(([uid, created]) => !wanted.has(uid) && now - created >= minAge).map(([uid]) => uid);
    let writes = 0;
    for (const uid of orphans) {
      try {
        const r = await this.#o.writers.vipDelete({ namespace: '', name: '', uid });
        writes += r.writes;
        if (r.writes > 0) this.#log.info({ gatewayUid: uid, deleted: r.writes, pending: r.pending }, 'sweep deleted VIP Services no Gateway wants');
      } catch (err) {
        if (isFencedError(err)) throw asError(err);
        this.#log.info({ gatewayUid: uid, error: errorMessage(err) }, 'sweep: VIP Services not deleted; will retry');
      }
    }
    return writes;
  }

  /**
   * Gateway uids (label values) that this fleet's VIP Services in reachable members carry, with the
   * creation time of the newest such Service.
   */
  #vipHolders(): Map<string, number> {
    const fleet = labelValue(this.#o.fleetId);
    const out = new Map<string, number>();
    const members = this.#o.provider.members;
    for (const m of members.members()) {
      if (m.frozen) continue;
      for (const svc of members.list<Service>(m.clusterID, 'services')) {
        const l = svc.metadata?.labels ?? {};
        const uid = l[LABEL_GATEWAY_UID];
        if (l[LABEL_MANAGED_BY] !== MANAGED_BY_VALUE || l[LABEL_FLEET] !== fleet || uid === undefined) continue;
        const created = Date.parse(svc.metadata?.creationTimestamp ?? '') || 0;
        out.set(uid, Math.max(out.get(uid) ?? 0, created));
      }
    }
    return out;
  }

  /**
   * Gateways whose resources the sweep keeps: those that carry our finalizer, and those of one of
   * our classes that are not being deleted (a new one before its first reconcile). A Gateway that
   * lost our finalizer and left our classes owns nothing any more (issue 12: "a stripped finalizer
   * plus a class change leaks").
   */
  #wantedUids(): Set<string> {
    const p = this.#o.provider;
    const ours = new Set(p.list<GatewayClass>('gatewayClasses').filter((c) => c.spec.controllerName === CONTROLLER_NAME).map((c) => c.metadata.name));
    return new Set(
      p
        .list<Gateway>('gateways')
        .filter((g) => (g.metadata.finalizers ?? []).includes(FINALIZER) || (g.metadata.deletionTimestamp === undefined && ours.has(g.spec.gatewayClassName)))
        .map((g) => g.metadata.uid ?? '')
        .filter((u) => u !== ''),
    );
  }

  /** What {@link sweep} would delete now, per project, without deleting (`fleet-ilb plan`). */
  planSweep(): Promise<Array<{ project: string; result: SweepResult }>> {
    return this.#sweep(true);
  }

  async #sweep(dryRun: boolean): Promise<Array<{ project: string; result: SweepResult }>> {
    const p = this.#o.provider;
    const wanted = this.#wantedUids();
    const byProject = new Map<string, Set<string>>();
    const add = (project: string | undefined, region: string | undefined): void => {
      if (project === undefined || region === undefined) return;
      const set = byProject.get(project) ?? new Set<string>();
      set.add(region);
      byProject.set(project, set);
    };
    for (const c of p.list<ILBConfig>('ilbConfigs')) {
      const { project, region } = projectRegion(c.spec);
      add(project, region);
    }
    for (const s of this.inventory.scopes()) for (const r of s.regions) add(s.project, r);
    const out: Array<{ project: string; result: SweepResult }> = [];
    for (const [project, regions] of byProject) {
      const result = await sweepGce(this.#o.fleetId, wanted, {
        cloud: this.#o.cloud.forProject(project),
        regions: [...regions],
        negProjects: this.#memberProjects(),
        minAgeMs: this.#o.sweepMinAgeMs ?? 10 * 60_000,
        inventory: this.inventory,
        dryRun,
      });
      out.push({ project, result });
    }
    return out;
  }

  #gateway(gwKey: string): Gateway | undefined {
    return this.#o.provider.gateway(gwKey);
  }

  #topts(): { now: string } {
    return { now: this.#now() };
  }

  #now(): string {
    return this.#o.now?.() ?? new Date().toISOString();
  }

  /** NEG label sets exported per Gateway (removed when the Gateway or the NEG goes). */
  readonly #negLabels = new Map<string, Array<{ neg: string; zone: string }>>();

  /** `fleetilb_neg_endpoints` per NEG as last applied (frozen NEGs keep their last value). */
  #observeNegs(gwKey: string, desired: DesiredGce | undefined): void {
    const m = this.#o.metrics;
    const now = (desired?.negs ?? []).map((n) => ({ neg: n.neg.name, zone: n.zone, count: n.endpoints.length, frozen: n.frozen }));
    const keep = new Set(now.map((n) => `${n.zone}/${n.neg}`));
    for (const l of this.#negLabels.get(gwKey) ?? []) {
      if (keep.has(`${l.zone}/${l.neg}`)) continue;
      m?.negEndpoints.remove(l);
    }
    for (const n of now) if (!n.frozen) m?.negEndpoints.set({ neg: n.neg, zone: n.zone }, n.count);
    if (now.length === 0) this.#negLabels.delete(gwKey);
    else this.#negLabels.set(gwKey, now.map(({ neg, zone }) => ({ neg, zone })));
  }

  /** `fleetilb_member_reachable`: 1 per reachable member, 0 per frozen one. */
  #observeMembers(): void {
    const m = this.#o.metrics;
    if (m === undefined) return;
    m.memberReachable.reset();
    for (const v of this.#o.provider.members.members()) m.memberReachable.set({ member: v.clusterID }, v.frozen ? 0 : 1);
  }

  #forget(gwKey: string): void {
    this.#observeNegs(gwKey, undefined);
    this.#o.health?.forget(gwKey);
    this.outcomes.delete(gwKey);
  }

  /**
   * A Warning Event while the Gateway's traffic has nowhere to go (translate/serving.ts): the
   * recorder folds repeats of the same message into one Event's series.
   */
  #reportServing(gw: Gateway, result: TranslateResult): void {
    const st = result.statuses.gateways.find((g) => g.namespace === (gw.metadata.namespace ?? '') && g.name === gw.metadata.name)?.status;
    const c = st?.conditions?.find((x) => x.type === BACKENDS_SERVING);
    if (c?.status === 'False') this.#o.events?.record(objectRef(gw), 'Warning', c.reason, 'Serve', c.message);
  }

  #report(gw: Gateway, res: GceApplyResult): void {
    const ev = this.#o.events;
    if (ev === undefined) return;
    if (res.error !== undefined) {
      ev.record(objectRef(gw), 'Warning', 'SyncFailed', 'Sync', errorMessage(res.error));
      this.#warned.set(`${gw.metadata.namespace ?? ''}/${gw.metadata.name}`, errorMessage(res.error));
    } else if (res.changes > 0) {
      ev.record(objectRef(gw), 'Normal', 'Synced', 'Sync', `applied ${res.changes} GCE changes`);
    }
  }
}

/** What {@link Reconciler.planGateway} found: the plan of one Gateway, computed without writing. */
export type GatewayPlan =
  | { kind: 'absent' }
  /** Bad input: translate's conditions say why; no cloud call would be made. */
  | { kind: 'invalid'; gateway: Gateway; result: TranslateResult }
  /** Being deleted or no longer ours: the deletes, per project (empty without our finalizer). */
  | { kind: 'teardown'; gateway: Gateway; result: TranslateResult; teardown: Array<{ project: string; result: GceTeardownResult }> }
  | { kind: 'apply'; gateway: Gateway; result: TranslateResult; ir: GatewayIR; desired: DesiredGce; apply: GceApplyResult };

/** project/region of an unvalidated ILBConfig spec (the sweep only needs where to look). */
function projectRegion(spec: unknown): { project?: string; region?: string } {
  if (typeof spec !== 'object' || spec === null) return {};
  const o = spec as Record<string, unknown>;
  return {
    ...(typeof o['project'] === 'string' ? { project: o['project'] } : {}),
    ...(typeof o['region'] === 'string' ? { region: o['region'] } : {}),
  };
}

/** Errors from apply are Error objects already; anything else is wrapped so stacks and brands survive. */
function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(errorMessage(err));
}

function unwrap(err: unknown): unknown {
  let e = err;
  for (let i = 0; i < 8 && isCloudResourceError(e); i++) e = e.cause;
  return e;
}

/** A user error the runtime re-checks (fixed outside Kubernetes: errors/index.ts retryPolicy). */
function rechecked(err: unknown): boolean {
  const p = retryPolicy(err);
  return p.kind === 'none' && p.recheckAfterMs !== undefined;
}

/** The outcome's message with when the next retry is, e.g. `...; retrying in 40 s`. */
function withRetry(o: GceOutcome, retryMs: number | undefined): GceOutcome {
  if (retryMs === undefined || o.kind !== 'applied' || o.message === undefined) return o;
  return { ...o, message: `${o.message}; retrying in ${Math.max(1, Math.round(retryMs / 1000))} s` };
}

function objectRef(gw: Gateway): { apiVersion: string; kind: string; namespace: string; name: string; uid?: string } {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    namespace: gw.metadata.namespace ?? '',
    name: gw.metadata.name,
    ...(gw.metadata.uid === undefined ? {} : { uid: gw.metadata.uid }),
  };
}

/** What apply found and did, for compose (status/compose.ts). */
export function outcomeOf(res: GceApplyResult, programmedNow = false): GceOutcome {
  // A read refused for a reason the user must fix is news when the Gateway is not programmed (say
  // why), or when its project does not exist (nothing of it can be there). A programmed Gateway
  // whose read was refused (a role revoked) keeps its last word and VIP: the load balancer still works.
  if (res.readFailed && (!isUserError(unwrap(res.error)) || (programmedNow && gceCategory(res.error) !== 'projectNotFound'))) {
    return { kind: 'unknown', message: errorMessage(res.error) };
  }
  const base = { kind: 'applied' as const, ...(res.vip === undefined ? {} : { vip: res.vip }), forwardingRules: [...res.forwardingRules].sort() };
  if (res.programmed) return { ...base, ready: true };
  const err = res.error;
  if (err === undefined) return { ...base, ready: false };
  const reason = gatewayReasonFor(err);
  const msg = errorMessage(err);
  if (reason === undefined || reason === 'Pending') return { ...base, ready: false, ...(res.vip === undefined ? { reason: 'AddressNotAssigned' as const } : { reason: 'Pending' as const }), message: msg };
  const addressFailed = isCloudResourceError(err) && err.resourceKind === 'address';
  return { ...base, ready: false, reason: reason === 'Invalid' && addressFailed ? 'AddressNotUsable' : reason, message: msg };
}
