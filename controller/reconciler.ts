// SPDX-License-Identifier: Apache-2.0
//
// The reconcile loop body (DESIGN.md §5): key → snapshot → translate (pure) → render → apply → status.
// Keys are level-triggered: `gateway:<ns>/<name>` for one Gateway and `global` for the statuses that
// belong to no single Gateway (GatewayClasses, FleetMembers, ILBConfigs, the MCS importer's
// ServiceImports and ServiceExport conditions). A reconcile re-reads everything from the provider's
// caches, so missed or duplicate events are harmless.
//
// Order for one Gateway (DESIGN.md §4, §6):
//   1. bad input (no IR) → status only, no cloud call;
//   2. finalizer added before the first cloud call;
//   3. GCE in dependency order (applyGce), the VIP it learns is fed back into translate
//      (`Snapshot.programmed`) so `Programmed`/`addresses` are computed in one place;
//   4. member VIP Services (frozen members untouched);
//   5. status, annotations, events.
// Deletion: GCE teardown in reverse order, VIP Services deleted, then the finalizer removed last.
import type { Gateway, ILBConfig } from './api/index.ts';
import { errorMessage, isCloudResourceError, isFencedError, isUserError } from './errors/index.ts';
import type { GceCloud } from './infra/gcp/cloud/client.ts';
import { applyGce, teardownGce, type GceApplyResult } from './infra/gcp/apply.ts';
import type { DesiredGce } from './infra/gcp/desired.ts';
import { renderGce, type RenderContext } from './infra/gcp/render.ts';
import { sweepGce } from './infra/gcp/sweep.ts';
import { renderVip, type DesiredVip } from './infra/vip/render.ts';
import type { GatewayIR } from './ir/types.ts';
import type { FleetProvider } from './provider/index.ts';
import type { Fence } from './runtime/fence.ts';
import type { ReconcileResult } from './runtime/workers.ts';
import type { ProgrammedState, Snapshot } from './snapshot/types.ts';
import type { EventRecorder } from './telemetry/events.ts';
import { type Log, silentLog } from './telemetry/logger.ts';
import type { ControllerMetrics } from './telemetry/metrics.ts';
import { translate, type TranslateResult } from './translate/index.ts';
import { BACKENDS_SERVING } from './translate/serving.ts';
import { FINALIZER, GCE_ANNOTATIONS } from './gateway/index.ts';

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
  /** Add our finalizer; true when it wrote. */
  ensureFinalizer(gw: Gateway): Promise<boolean>;
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
  render?: RenderContext;
  events?: EventRecorder;
  metrics?: ControllerMetrics;
  log?: Log;
  /** Requeue delay while a teardown waits on a frozen member or an in-use resource. Default 15 s. */
  retryDelayMs?: number;
  /** Orphans younger than this are not swept (in-flight creates). Default 10 min. */
  sweepMinAgeMs?: number;
}

/** What a reconcile did; tests and the demo read it. */
export interface GatewayOutcome {
  gceWrites: number;
  kubeWrites: number;
  programmed?: ProgrammedState;
}

/**
 * Memoised translate: one translate per (provider generation, programmed-state version). Translate
 * is pure and covers the whole fleet, so N Gateway keys in one generation share one result.
 */
class TranslateCache {
  #gen = -1;
  #ver = -1;
  #result: TranslateResult | undefined;
  get(gen: number, ver: number, make: () => TranslateResult): TranslateResult {
    if (this.#result === undefined || gen !== this.#gen || ver !== this.#ver) {
      this.#result = make();
      this.#gen = gen;
      this.#ver = ver;
    }
    return this.#result;
  }
}

export class Reconciler {
  readonly #o: ReconcilerOptions;
  readonly #log: Log;
  readonly #programmed = new Map<string, ProgrammedState>();
  #programmedVersion = 0;
  readonly #cache = new TranslateCache();
  /** Network tags per member cluster id, discovered from the members' node VMs. */
  readonly #tags = new Map<string, { tags: string[]; instances: string }>();
  /** Last outcome per Gateway (tests, demo). */
  readonly outcomes = new Map<string, GatewayOutcome>();

  constructor(opts: ReconcilerOptions) {
    this.#o = opts;
    this.#log = (opts.log ?? silentLog).child({ component: 'reconciler' });
  }

  /** The current translate result (memoised). */
  translate(): TranslateResult {
    return this.#cache.get(this.#o.provider.generation, this.#programmedVersion, () => translate(this.snapshot()));
  }

  /** The snapshot translate reads: the provider's view plus what apply achieved and observed. */
  snapshot(): Snapshot {
    const programmed: Record<string, ProgrammedState> = Object.fromEntries(this.#programmed);
    const memberNetworkTags: Record<string, string[]> = {};
    for (const [c, t] of this.#tags) memberNetworkTags[c] = t.tags;
    const negs: Record<string, { instances: string[] }> = Object.fromEntries(this.#negInstances);
    return this.#o.provider.snapshot({ programmed, current: { memberNetworkTags, negs } });
  }

  /** Reconcile one key (runtime/workers.ts calls it). */
  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    if (key === GLOBAL_KEY) {
      await this.#o.writers.globalStatus(this.translate());
      this.#observeMembers();
      return undefined;
    }
    const gwKey = parseGatewayKey(key);
    if (gwKey === undefined) {
      this.#log.warn({ key }, 'unknown key');
      return undefined;
    }
    return this.#reconcileGateway(gwKey);
  }

  async #reconcileGateway(gwKey: string): Promise<ReconcileResult | undefined> {
    const gw = this.#gateway(gwKey);
    if (gw === undefined) {
      // Gone without our finalizer (never programmed, or removed by force): the periodic sweep
      // removes any GCE leftovers by ownership stamp; nothing is addressable here.
      this.#forget(gwKey);
      // Routes that named it lose our parent entries (translate lists them with `parents: []`).
      await this.#o.writers.gatewayStatus(this.translate(), gwKey);
      return undefined;
    }
    const hasFinalizer = (gw.metadata.finalizers ?? []).includes(FINALIZER);
    let result = this.translate();
    const invalid = result.invalidGateways.find((g) => g.key === gwKey);
    let ir = result.gateways.find((g) => g.key === gwKey);
    if (gw.metadata.deletionTimestamp !== undefined || (ir === undefined && invalid === undefined)) {
      // Being deleted, or no longer of our class: tear down what we own, then let go.
      if (!hasFinalizer) return undefined;
      return this.#teardown(gwKey, gw);
    }
    if (ir === undefined) {
      // Bad input: the spec's condition and reason, and no cloud call on its behalf (DESIGN.md §6).
      // Resources an earlier valid spec created stay until the Gateway is fixed or deleted.
      const kubeWrites = await this.#o.writers.gatewayStatus(result, gwKey);
      this.outcomes.set(gwKey, { gceWrites: 0, kubeWrites });
      return undefined;
    }

    let kubeWrites = 0;
    if (!hasFinalizer && (await this.#o.writers.ensureFinalizer(gw))) kubeWrites++;

    // What apply and tag discovery learn feed translate, which owns every status and the IR.
    const retranslate = (): void => {
      result = this.translate();
      ir = result.gateways.find((g) => g.key === gwKey) ?? ir;
    };

    await this.#discoverNetworkTags(ir);
    if (this.#tagsChanged) {
      this.#tagsChanged = false;
      this.#programmedVersion++;
      retranslate();
    }

    let desired = renderGce(ir, this.#o.render);
    const cloud = this.#o.cloud.forProject(desired.project);
    // Frozen members: what GCE holds for them stays, even what translate does not know about (a
    // member that was already down when this process started has no data here; DESIGN.md §6).
    const keepClusters = new Set(this.#o.provider.members.members().filter((m) => m.frozen).map((m) => m.clusterID));
    const deps = { cloud, fleetId: this.#o.fleetId, keepClusters };
    if (!this.#programmed.has(gwKey)) {
      // First reconcile of this Gateway in this process (a restarted controller, a new leader): the
      // VIP is not known yet, and translate renders no firewall without it (destinationRanges is
      // the VIP), so applying now would delete the live firewalls and re-create them a moment later,
      // dropping traffic in between. Learn the VIP from GCE first: a dry run reads and writes nothing.
      const seen = await applyGce(desired, { ...deps, dryRun: true });
      if (seen.vip !== undefined && this.#setProgrammed(gwKey, programmedState(ir, seen))) {
        retranslate();
        desired = renderGce(ir, this.#o.render);
      }
    }
    let res = await applyGce(desired, deps);
    let state = programmedState(ir, res);
    let gceWrites = res.changes;
    if (this.#setProgrammed(gwKey, state)) {
      retranslate();
      // Some objects depend on the VIP (the firewalls' destinationRanges): a first create learns it,
      // so apply once more now instead of waiting for the next event.
      const again = renderGce(ir, this.#o.render);
      if (res.error === undefined && JSON.stringify(again) !== JSON.stringify(desired)) {
        desired = again;
        res = await applyGce(desired, deps);
        gceWrites += res.changes;
        state = programmedState(ir, res);
        if (this.#setProgrammed(gwKey, state)) retranslate();
      }
    }
    if (isFencedError(res.error)) throw asError(res.error);

    // The VIP Services need the VIP; without it they would be created without status.
    if (state.vip !== undefined) {
      const vip = await this.#o.writers.vipApply(renderVip(ir));
      kubeWrites += vip.writes;
    }
    kubeWrites += await this.#o.writers.gatewayStatus(result, gwKey);
    if (await this.#o.writers.setAnnotations(gw, desired)) kubeWrites++;
    this.outcomes.set(gwKey, { gceWrites, kubeWrites, programmed: state });
    this.#report(gw, res);
    this.#reportServing(gw, result);
    this.#observeNegs(gwKey, desired);
    if (res.error === undefined) this.#recordNegs(desired);
    if (res.error !== undefined && !isUserError(unwrap(res.error))) throw asError(res.error);
    return undefined;
  }

  async #teardown(gwKey: string, gw: Gateway): Promise<ReconcileResult | undefined> {
    const uid = gw.metadata.uid ?? '';
    const ref: GatewayRef = { namespace: gw.metadata.namespace ?? '', name: gw.metadata.name, uid };
    const annotations = gw.metadata.annotations ?? {};
    const project = annotations[GCE_ANNOTATIONS.project];
    const regions = this.#regions(annotations[GCE_ANNOTATIONS.region]);
    let gceWrites = 0;
    if (project !== undefined && regions.length > 0) {
      const res = await teardownGce({ region: regions, uid }, { cloud: this.#o.cloud.forProject(project), fleetId: this.#o.fleetId });
      gceWrites = res.changes;
      if (!res.done) {
        this.#log.info({ gateway: gwKey, error: res.error === undefined ? undefined : errorMessage(res.error) }, 'teardown incomplete; retrying');
        if (res.error !== undefined) throw asError(res.error);
        return { requeueAfterMs: this.#o.retryDelayMs ?? 15_000 };
      }
    }
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
   * Deletes this fleet's GCE resources that no existing Gateway owns (a Gateway deleted while the
   * controller was down without finalizer, a crash between create and status). Leader only.
   */
  async sweep(): Promise<number> {
    // Reads the caches directly: a whole Snapshot would copy every object of every cluster.
    const p = this.#o.provider;
    const wanted = new Set(p.list<Gateway>('gateways').map((g) => g.metadata.uid ?? '').filter((u) => u !== ''));
    const byProject = new Map<string, Set<string>>();
    for (const c of p.list<ILBConfig>('ilbConfigs')) {
      const { project: p, region: r } = projectRegion(c.spec);
      if (p === undefined || r === undefined) continue;
      const set = byProject.get(p) ?? new Set<string>();
      set.add(r);
      byProject.set(p, set);
    }
    let deleted = 0;
    for (const [project, regions] of byProject) {
      const res = await sweepGce(this.#o.fleetId, wanted, {
        cloud: this.#o.cloud.forProject(project),
        regions: [...regions],
        minAgeMs: this.#o.sweepMinAgeMs ?? 10 * 60_000,
      });
      deleted += res.writes.length;
      for (const e of res.errors) this.#log.info({ project, error: errorMessage(e) }, 'sweep: will retry');
    }
    return deleted;
  }

  #tagsChanged = false;

  /**
   * Firewall targets are the members' node network tags, discovered from their VMs (DESIGN.md §4;
   * ingress-gce looks them up from node names). Re-read only when a member's node set changes.
   */
  async #discoverNetworkTags(ir: GatewayIR): Promise<void> {
    const cloud = this.#o.cloud.forProject(ir.config.project);
    for (const negMember of new Set(ir.groups.flatMap((g) => g.negs.map((n) => n.cluster)))) {
      const m = this.#o.provider.members.member(negMember);
      if (m === undefined || m.frozen) continue;
      const instances = ir.groups
        .flatMap((g) => g.negs.filter((n) => n.cluster === negMember).flatMap((n) => n.endpoints.map((e) => `${n.zone}/${e.instance}`)))
        .sort();
      const sig = [...new Set(instances)].join(',');
      if (this.#tags.get(negMember)?.instances === sig) continue;
      const tags = new Set<string>();
      for (const zi of new Set(instances)) {
        const [zone, name] = zi.split('/') as [string, string];
        try {
          const vm = await cloud.getInstance(zone, name);
          for (const t of vm?.tags?.items ?? []) tags.add(t);
        } catch (err) {
          this.#log.info({ member: negMember, instance: zi, error: errorMessage(err) }, 'instance lookup failed');
          return;
        }
      }
      const sorted = [...tags].sort();
      const before = this.#tags.get(negMember)?.tags.join(',');
      this.#tags.set(negMember, { tags: sorted, instances: sig });
      if (before !== sorted.join(',')) this.#tagsChanged = true;
    }
  }

  #gateway(gwKey: string): Gateway | undefined {
    const [ns, name] = gwKey.split('/') as [string, string];
    return this.#o.provider.list<Gateway>('gateways').find((g) => g.metadata.namespace === ns && g.metadata.name === name);
  }

  #regions(annotated: string | undefined): string[] {
    if (annotated !== undefined && annotated !== '') return [annotated];
    const all = new Set<string>();
    for (const c of this.#o.provider.list<ILBConfig>('ilbConfigs')) {
      const r = projectRegion(c.spec).region;
      if (r !== undefined) all.add(r);
    }
    return [...all].sort();
  }

  #setProgrammed(gwKey: string, state: ProgrammedState): boolean {
    const before = this.#programmed.get(gwKey);
    if (before !== undefined && JSON.stringify(before) === JSON.stringify(state)) return false;
    this.#programmed.set(gwKey, state);
    this.#programmedVersion++;
    return true;
  }

  /**
   * The instances each NEG holds after the last successful apply (`zone/name` → instances): translate
   * prefers them when a NEG is capped (`nodeSubsetSize`), so a new node does not push out one that
   * already serves (minimal churn, ingress-gce subsetting). Not persisted: a restarted controller
   * falls back to translate's deterministic order until its first apply.
   */
  readonly #negInstances = new Map<string, { instances: string[] }>();

  #recordNegs(desired: DesiredGce): void {
    let changed = false;
    for (const n of desired.negs) {
      if (n.frozen) continue;
      const key = `${n.zone}/${n.neg.name}`;
      const instances = n.endpoints.map((e) => e.instance).sort();
      if (this.#negInstances.get(key)?.instances.join(',') !== instances.join(',')) {
        this.#negInstances.set(key, { instances });
        changed = true;
      }
    }
    if (changed) this.#programmedVersion++;
  }

  /** NEG label sets exported per Gateway (removed when the Gateway or the NEG goes). */
  readonly #negLabels = new Map<string, Array<{ neg: string; zone: string }>>();

  /**
   * Tracks each Gateway's NEGs: `fleetilb_neg_endpoints` per NEG as last applied (frozen NEGs keep
   * their last value), and forgets the recorded instances of NEGs the Gateway no longer has.
   */
  #observeNegs(gwKey: string, desired: DesiredGce | undefined): void {
    const m = this.#o.metrics;
    const now = (desired?.negs ?? []).map((n) => ({ neg: n.neg.name, zone: n.zone, count: n.endpoints.length, frozen: n.frozen }));
    const keep = new Set(now.map((n) => `${n.zone}/${n.neg}`));
    for (const l of this.#negLabels.get(gwKey) ?? []) {
      if (keep.has(`${l.zone}/${l.neg}`)) continue;
      m?.negEndpoints.remove(l);
      this.#negInstances.delete(`${l.zone}/${l.neg}`);
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
    if (this.#programmed.delete(gwKey)) this.#programmedVersion++;
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
    } else if (res.changes > 0) {
      ev.record(objectRef(gw), 'Normal', 'Synced', 'Sync', `applied ${res.changes} GCE changes`);
    }
  }
}

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

function objectRef(gw: Gateway): { apiVersion: string; kind: string; namespace: string; name: string; uid?: string } {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    namespace: gw.metadata.namespace ?? '',
    name: gw.metadata.name,
    ...(gw.metadata.uid === undefined ? {} : { uid: gw.metadata.uid }),
  };
}

/** What apply achieved, in the shape translate reads (`Snapshot.programmed`). */
export function programmedState(ir: GatewayIR, res: GceApplyResult): ProgrammedState {
  const base = {
    gatewayUid: ir.gateway.uid,
    ...(res.vip === undefined ? {} : { vip: res.vip }),
    forwardingRules: [...res.forwardingRules].sort(),
  };
  if (res.programmed) return { ...base, ready: true };
  const err = res.error;
  if (err === undefined) return { ...base, ready: false, reason: res.vip === undefined ? 'AddressNotAssigned' : 'Pending', message: 'waiting for GCE resources' };
  const msg = errorMessage(err);
  const addressFailed = isCloudResourceError(err) && err.resourceKind === 'address';
  if (isUserError(unwrap(err))) return { ...base, ready: false, reason: addressFailed ? 'AddressNotUsable' : 'Invalid', message: msg };
  return { ...base, ready: false, reason: res.vip === undefined ? 'AddressNotAssigned' : 'Pending', message: msg };
}
