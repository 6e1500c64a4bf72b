// SPDX-License-Identifier: Apache-2.0
//
// The shared GCE inventory (docs/architecture.md, "Facts"): what GCE holds for this fleet, per
// project and region, read with ONE filtered list per kind and kept current by the controller's own
// writes, so reconciling one Gateway reads nothing that is already known. Before it, every apply
// listed whole kinds for one Gateway: a resync of 1000 Gateways was ~10,000 list calls against a
// project read quota of the order of 1,500 a minute, shared with GKE's own controllers.
//
// What it holds, per project:
//   * per region: addresses, health checks, backend services, forwarding rules whose name carries the
//     fleet prefix (`fl-{fleetHash6}-`, naming/names.ts) or whose stamp names the fleet;
//   * global firewalls with the fleet prefix or stamp, every zonal NEG of the project (one
//     aggregatedList; prefix/stamp filtered client side);
//   * the endpoints of each NEG, listed once on first need and then kept by our attach/detach calls;
//   * instance network tags, one aggregatedList per project, each instance `known` or absent; VMs
//     known not to exist (a name-mapped node's guess GCE disproved) are re-read after a minute.
//
// Consistency rules (why each is safe):
//   * a resource apply is about to write is marked `unknown` first; after a delete that succeeded it
//     is known absent; after anything else it stays unknown and is re-read with one GET the next time
//     a Gateway needs it (fingerprints, the VIP and server-set fields are never guessed);
//   * a refresh (the periodic resync) replaces the lists, except entries written after its list
//     calls started: those stay unknown (a list racing a write must not resurrect the old state);
//   * a failed FIRST load throws: apply must not plan from facts it does not have (a failed read that
//     looked like "nothing exists" deleted live firewalls — issue 9 defect 1). A failed refresh keeps
//     the previous facts and says so in the log.
//   * instance tags: `undefined` = unknown (lookup failed or not listed yet), `[]` = known to have
//     none. Unknown is never taken as none: render keeps the live firewall targets (render.ts).
import type { GceCloud, IAddress, IBackendService, IFirewall, IForwardingRule, IHealthCheck, INetworkEndpoint, Kind } from './cloud/client.ts';
import { fleetStamp, ownership, type Owner } from './cloud/ownership.ts';
import { mapLimit } from './cloud/pool.ts';
import { lastSegment, regionOfZone } from './cloud/urls.ts';
import { decodeStamp, isShared } from '../../naming/stamp.ts';
import { fleetPrefix } from '../../naming/names.ts';
import { fleetResource, negKey, negKeyOfUrl, usedByBackendServices, type LiveNeg, type Observed, type WantedNames, type FleetResource } from './observe.ts';
import { errorMessage } from '../../errors/index.ts';
import { type Log, silentLog } from '../../telemetry/logger.ts';

type RegionalKind = 'address' | 'healthCheck' | 'backendService' | 'forwardingRule';
const REGIONAL: readonly RegionalKind[] = ['address', 'healthCheck', 'backendService', 'forwardingRule'];

interface Named {
  name?: string | null;
  description?: string | null;
  creationTimestamp?: string | null;
}

/** One cached collection: name -> live resource, plus names whose state is unknown (written since). */
class Collection<T extends Named> {
  readonly items = new Map<string, T>();
  /** Names written (or whose write failed) since the last read of them: GET before use. */
  readonly unknown = new Set<string>();
  /** Sequence number of the last write start or end per name (a list older than it is stale for it). */
  readonly writtenAt = new Map<string, number>();
  /** Writes in flight per name: no list or GET may settle the state of a name while one runs. */
  readonly inflight = new Map<string, number>();
  /** Gateway uid -> names stamped for it (our fleet only): per-Gateway lookups without a scan. */
  readonly byUid = new Map<string, Set<string>>();
  /**
   * Gateway `namespace/name` -> the uids its stamps name, with how many resources each: a second
   * uid is an earlier incarnation of a Gateway re-created with the same name.
   */
  readonly byGateway = new Map<string, Map<string, number>>();
  /**
   * Gateway uid -> names written for it and not read since: a resource just created is not in
   * `items` yet, and a teardown looking by uid must still find (re-read) it.
   */
  readonly pendingByUid = new Map<string, Set<string>>();

  readonly #fleet: string;
  constructor(fleet: string) {
    this.#fleet = fleet;
  }

  set(name: string, item: T | undefined): void {
    this.#unindex(name);
    this.unknown.delete(name);
    for (const [uid, names] of this.pendingByUid) {
      if (names.delete(name) && names.size === 0) this.pendingByUid.delete(uid);
    }
    if (item === undefined) {
      this.items.delete(name);
      return;
    }
    this.items.set(name, item);
    const stamp = fleetStamp(item.description, this.#fleet);
    // Shared NEGs have no Gateway: they are found through the backend services that use them.
    if (stamp !== undefined && !isShared(stamp)) {
      const s = this.byUid.get(stamp.gatewayUid) ?? new Set<string>();
      s.add(name);
      this.byUid.set(stamp.gatewayUid, s);
      const g = this.byGateway.get(stamp.gateway) ?? new Map<string, number>();
      g.set(stamp.gatewayUid, (g.get(stamp.gatewayUid) ?? 0) + 1);
      this.byGateway.set(stamp.gateway, g);
    }
  }

  markUnknown(name: string, seq: number, uid?: string): void {
    if (uid !== undefined) {
      const p = this.pendingByUid.get(uid) ?? new Set<string>();
      p.add(name);
      this.pendingByUid.set(uid, p);
    }
    this.unknown.add(name);
    this.writtenAt.set(name, seq);
    this.inflight.set(name, (this.inflight.get(name) ?? 0) + 1);
  }

  endWrite(name: string, seq: number): void {
    this.writtenAt.set(name, seq);
    const n = (this.inflight.get(name) ?? 1) - 1;
    if (n <= 0) this.inflight.delete(name);
    else this.inflight.set(name, n);
  }

  /** True when a read that started at `since` cannot tell this name's state (written since, or now). */
  stale(name: string, since: number): boolean {
    return this.inflight.has(name) || (this.writtenAt.get(name) ?? -1) > since;
  }

  /** Replace everything with a fresh list taken when the write sequence was `since`. */
  replace(list: readonly T[], since: number): void {
    const fresh = new Map(list.map((x) => [x.name ?? '', x] as const));
    const names = new Set([...this.items.keys(), ...fresh.keys(), ...this.unknown]);
    for (const n of names) {
      if (this.stale(n, since)) {
        this.unknown.add(n); // written while the list was in flight: re-read before use
        continue;
      }
      this.set(n, fresh.get(n));
      this.writtenAt.delete(n);
    }
  }

  #unindex(name: string): void {
    const old = this.items.get(name);
    const stamp = old === undefined ? undefined : fleetStamp(old.description, this.#fleet);
    if (stamp === undefined || isShared(stamp)) return;
    const uid = stamp.gatewayUid;
    const s = this.byUid.get(uid);
    s?.delete(name);
    if (s !== undefined && s.size === 0) this.byUid.delete(uid);
    const g = this.byGateway.get(stamp.gateway);
    const n = (g?.get(uid) ?? 0) - 1;
    if (g !== undefined && n > 0) g.set(uid, n);
    else g?.delete(uid);
    if (g !== undefined && g.size === 0) this.byGateway.delete(stamp.gateway);
  }
}

interface RegionState {
  address: Collection<IAddress>;
  healthCheck: Collection<IHealthCheck>;
  backendService: Collection<IBackendService>;
  forwardingRule: Collection<IForwardingRule>;
  loaded?: Promise<void>;
  ok: boolean;
}

interface ProjectState {
  project: string;
  regions: Map<string, RegionState>;
  firewall: Collection<IFirewall>;
  /** Keyed by `zone/name`. */
  neg: Collection<Named & { neg: LiveNeg['neg']; zone: string }>;
  globalLoaded?: Promise<void>;
  globalOk: boolean;
  /** negKey -> endpoints as GCE holds them (absent = not listed yet or unknown). */
  endpoints: Map<string, INetworkEndpoint[]>;
  /** `zone/name` -> network tags of an instance that exists; absent = unknown (or in `noInstance`). */
  tags: Map<string, string[]>;
  /** `zone/name` -> when GCE last said there is no such instance (re-read after ABSENT_RECHECK_MS). */
  noInstance: Map<string, number>;
  instancesLoaded?: Promise<void>;
}

export interface InventoryOptions {
  /** Any-project client (forProject picks each project). */
  cloud: GceCloud;
  fleetId: string;
  log?: Log;
  /** Parallel GETs/endpoint lists for one Gateway. Default 4. */
  concurrency?: number;
  /** How long "no such instance" stands before it is read again (ms). Default ABSENT_RECHECK_MS. */
  absentRecheckMs?: number;
  /** Clock (ms) for that. Default Date.now. */
  nowMs?: () => number;
}

/**
 * A VM GCE said does not exist is read again after this long: a name-mapped node whose VM is missing
 * is left out (translate/checks/nodes.ts NoInstance), and is served once the VM appears without a
 * GET per reconcile meanwhile.
 */
export const ABSENT_RECHECK_MS = 60_000;

/** What a refresh read (benchmarks and logs). */
export interface RefreshStats {
  lists: number;
  endpointLists: number;
  failed: number;
}

/** The shared GCE inventory of one fleet (see the header). */
export class GceInventory {
  readonly #o: InventoryOptions;
  readonly #log: Log;
  readonly #projects = new Map<string, ProjectState>();
  readonly #prefix: string;
  #seq = 0;

  constructor(opts: InventoryOptions) {
    this.#o = opts;
    this.#log = (opts.log ?? silentLog).child({ component: 'inventory' });
    this.#prefix = fleetPrefix(opts.fleetId);
  }

  /** Projects and regions the inventory has loaded (sweep and teardown scopes). */
  scopes(): Array<{ project: string; regions: string[] }> {
    return [...this.#projects.values()].map((p) => ({ project: p.project, regions: [...p.regions.keys()].sort() }));
  }

  // ---- reads for one Gateway ----------------------------------------------------------------

  /**
   * Everything stamped for `owner` plus anything holding a wanted name, in `project`/`region` (+
   * global firewalls, + NEGs of `project` and `negProjects`), with the endpoints of `endpointsFor`.
   * Loads a scope on first use; throws when a needed read fails (the caller must not plan).
   */
  /** Reads `project`/`region` (and the NEGs of `negProjects`) unless read already; throws when a list fails. */
  async load(project: string, region: string, negProjects: readonly string[] = []): Promise<void> {
    const main = this.#project(project);
    await Promise.all([this.#loadRegion(main, region, this.#region(main, region)), ...[...new Set([project, ...negProjects])].map((p) => this.#loadGlobal(this.#project(p)))]);
  }

  async observe(q: {
    project: string;
    region: string;
    owner: Owner;
    wanted?: WantedNames;
    endpointsFor?: ReadonlySet<string>;
    negProjects?: readonly string[];
  }): Promise<Observed> {
    const projects = [...new Set([q.project, ...(q.negProjects ?? [])])];
    const main = this.#project(q.project);
    const region = this.#region(main, q.region);
    await Promise.all([this.#loadRegion(main, q.region, region), ...projects.map((p) => this.#loadGlobal(this.#project(p)))]);
    const wanted = q.wanted;
    const pick = async <T extends Named>(kind: Kind, c: Collection<T>, scope: string | undefined, names: ReadonlySet<string> | undefined, project: ProjectState): Promise<Map<string, T>> => {
      const out = new Map<string, T>();
      const want = new Set([...(c.byUid.get(q.owner.gatewayUid) ?? []), ...(c.pendingByUid.get(q.owner.gatewayUid) ?? []), ...(names ?? [])]);
      // Names written since they were last read: one GET each (fingerprints, VIPs, server fields).
      // A name with the fleet prefix that the filtered list did not return is known absent; NEGs are
      // keyed `zone/name`, so the prefix is looked for in the name part (else every new NEG was one
      // 404 GET: battery G2).
      const stale = [...want].filter(
        (n) =>
          c.unknown.has(n) || (!c.items.has(n) && !n.slice(n.lastIndexOf('/') + 1).startsWith(this.#prefix) && !this.#extrasRead.has(this.#extraKey(project, kind, scope, n))),
      );
      await this.#refetch(project, kind, scope, c, stale);
      for (const n of want) {
        const it = c.items.get(n);
        if (it === undefined) continue;
        if (ownership(it.description, q.owner) === 'ours' || names?.has(n)) out.set(n, it);
      }
      return out;
    };
    const backendService = await pick('backendService', region.backendService, q.region, wanted?.backendService, main);
    const used = usedByBackendServices(backendService.values(), q.owner);
    const observed: Observed = {
      address: await pick('address', region.address, q.region, wanted?.address, main),
      healthCheck: await pick('healthCheck', region.healthCheck, q.region, new Set([...(wanted?.healthCheck ?? []), ...used.healthChecks]), main),
      backendService,
      forwardingRule: await pick('forwardingRule', region.forwardingRule, q.region, wanted?.forwardingRule, main),
      firewall: await pick('firewall', main.firewall, undefined, wanted?.firewall, main),
      networkEndpointGroup: new Map(),
      endpoints: new Map(),
    };
    const negKeys = new Set([...(wanted?.networkEndpointGroup ?? []), ...used.negs]);
    for (const p of projects) {
      const ps = this.#project(p);
      const wantedHere = new Set<string>();
      for (const k of negKeys) {
        const [proj, zone, name] = k.split('/') as [string, string, string];
        if (proj === p) wantedHere.add(`${zone}/${name}`);
      }
      const negs = await pick('networkEndpointGroup', ps.neg, undefined, wantedHere, ps);
      for (const [zn, x] of negs) observed.networkEndpointGroup.set(negKey(p, x.zone, zn.slice(x.zone.length + 1)), { project: p, zone: x.zone, neg: x.neg });
    }
    const toList = [...(q.endpointsFor ?? [])].filter((k) => {
      const x = observed.networkEndpointGroup.get(k);
      return x !== undefined && ownership(x.neg.description, q.owner) === 'ours';
    });
    const listed = await mapLimit(toList, this.#o.concurrency ?? 4, async (k) => {
      const x = observed.networkEndpointGroup.get(k)!;
      return [k, await this.#endpoints(x.project, x.zone, x.neg.name ?? '')] as const;
    });
    for (const r of listed) {
      if (!r.ok) throw r.error;
      observed.endpoints.set(r.value[0], [...r.value[1]]);
    }
    return observed;
  }

  /**
   * Network tags of instances (`zone/name`) in `project`; the map holds only the known ones. One
   * aggregatedList per project on first use (refreshed by refresh()), then a GET for each instance not
   * in it (a node created since). A failed read leaves the instance unknown. A VM that does not
   * exist has no tags (its NEG attach fails and says so).
   */
  async instanceTags(project: string, instances: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    const ps = await this.#instancesRead(project, instances);
    if (ps === undefined) return out;
    for (const zi of instances) {
      const t = ps.tags.get(zi) ?? (ps.noInstance.has(zi) ? [] : undefined);
      if (t !== undefined) out.set(zi, t);
    }
    return out;
  }

  /**
   * Whether each instance (`zone/name`) exists in `project`: true, false (GCE says no such VM), or
   * absent from the map when unknown (a read failed). Same reads as instanceTags: one aggregatedList
   * per project, a GET for an instance not in it, a known-absent one re-read after ABSENT_RECHECK_MS.
   */
  async instancesExist(project: string, instances: readonly string[]): Promise<Map<string, boolean>> {
    const out = new Map<string, boolean>();
    const ps = await this.#instancesRead(project, instances);
    if (ps === undefined) return out;
    for (const zi of instances) {
      if (ps.tags.has(zi)) out.set(zi, true);
      else if (ps.noInstance.has(zi)) out.set(zi, false);
    }
    return out;
  }

  /** Loads the project's instances and GETs the ones it does not know; undefined when the list failed. */
  async #instancesRead(project: string, instances: readonly string[]): Promise<ProjectState | undefined> {
    const ps = this.#project(project);
    if (instances.length === 0) return ps;
    try {
      ps.instancesLoaded ??= this.#loadInstances(ps);
      await ps.instancesLoaded;
    } catch (err) {
      ps.instancesLoaded = undefined;
      this.#log.info({ project, error: errorMessage(err) }, 'instance list failed; instances unknown');
      return undefined;
    }
    const now = (this.#o.nowMs ?? Date.now)();
    const recheck = this.#o.absentRecheckMs ?? ABSENT_RECHECK_MS;
    const missing = [...new Set(instances)].filter((i) => !ps.tags.has(i) && !(now - (ps.noInstance.get(i) ?? -Infinity) < recheck));
    const got = await mapLimit(missing, this.#o.concurrency ?? 4, async (zi) => {
      const [zone, name] = zi.split('/') as [string, string];
      return [zi, await this.#o.cloud.forProject(project).getInstance(zone, name)] as const;
    });
    for (const r of got) {
      if (!r.ok) {
        this.#log.info({ project, error: errorMessage(r.error) }, 'instance lookup failed; unknown');
        continue;
      }
      const [zi, vm] = r.value;
      if (vm === undefined) {
        ps.tags.delete(zi);
        ps.noInstance.set(zi, now);
      } else {
        ps.noInstance.delete(zi);
        ps.tags.set(zi, [...(vm.tags?.items ?? [])]);
      }
    }
    return ps;
  }

  // ---- what apply tells it ------------------------------------------------------------------

  /** A write to this resource is about to be made: its state is unknown until read again. */
  beginWrite(ref: { project: string; kind: Kind; scope?: string; name: string; uid?: string }): void {
    const seq = ++this.#seq;
    const c = this.#collection(ref);
    // NEGs and health checks are shared by Gateways (docs/architecture.md "Shared NEGs and health
    // checks"): never pending for one uid, or that Gateway's teardown would find (and try to
    // release) every one it ever wrote. Render makes every check shared; an older per-Gateway one
    // is only deleted, and its stamp indexes it by uid until then.
    c?.markUnknown(this.#itemKey(ref), seq, SHARED_KINDS.has(ref.kind) ? undefined : ref.uid);
  }

  /** The endpoints of this NEG are about to change: list them again before next use. */
  forgetEndpoints(project: string, zone: string, name: string): void {
    const k = negKey(project, zone, name);
    this.#project(project).endpoints.delete(k);
    this.#endpointsGen.set(k, (this.#endpointsGen.get(k) ?? 0) + 1);
  }

  /** negKey -> list of its endpoints in flight (one per NEG, whoever asks). */
  readonly #endpointLists = new Map<string, Promise<INetworkEndpoint[]>>();
  /** negKey -> bumped by every sync of the NEG (forget/set): a list begun before is not stored. */
  readonly #endpointsGen = new Map<string, number>();

  /**
   * The endpoints of a NEG for a reconcile: the inventory's copy; else, when a NEG step of another
   * Gateway is running on it (withShared), the set that step leaves (it is mid-change: a list now
   * would read a NEG being attached to, and be stale when it returns); else one list, shared by
   * every reconcile that asks meanwhile. Without this, N Gateways reconciled at once after a
   * restart, or while one of them synced the NEG, each listed it (bench:scale: 281 lists for 180
   * NEGs on restart at N = 1000).
   */
  async #endpoints(project: string, zone: string, name: string): Promise<readonly INetworkEndpoint[]> {
    const ps = this.#project(project);
    const k = negKey(project, zone, name);
    const step = this.#sharedLocks.get(k);
    if (ps.endpoints.get(k) === undefined && step !== undefined) await step;
    const known = ps.endpoints.get(k);
    if (known !== undefined) return known;
    let list = this.#endpointLists.get(k);
    if (list === undefined) {
      const gen = this.#endpointsGen.get(k) ?? 0;
      list = this.#o.cloud
        .forProject(project)
        .listNetworkEndpoints(zone, name)
        .then((eps) => {
          // A sync that began meanwhile decides what the NEG holds; this read is older.
          if ((this.#endpointsGen.get(k) ?? 0) === gen) ps.endpoints.set(k, eps);
          return eps;
        })
        .finally(() => this.#endpointLists.delete(k));
      this.#endpointLists.set(k, list);
    }
    return list;
  }

  /** Instances each NEG holds, for capping (render facts); NEGs not known are absent. */
  async negInstances(project: string, negs: ReadonlyArray<{ zone: string; name: string }>): Promise<Map<string, string[]>> {
    const ps = this.#project(project);
    await this.#loadGlobal(ps);
    const out = new Map<string, string[]>();
    const res = await mapLimit(negs, this.#o.concurrency ?? 4, async (n) => {
      const k = negKey(project, n.zone, n.name);
      if (!ps.neg.items.has(`${n.zone}/${n.name}`)) return;
      const eps = await this.#endpoints(project, n.zone, n.name);
      out.set(k, eps.map((e) => (e.instance ?? '').split('/').pop() ?? ''));
    });
    for (const r of res) if (!r.ok) throw r.error;
    return out;
  }

  /** The write begun with beginWrite() is over (whatever its result): the name stays unknown. */
  endWrite(ref: { project: string; kind: Kind; scope?: string; name: string }): void {
    this.#collection(ref)?.endWrite(this.#itemKey(ref), ++this.#seq);
  }

  /** A delete succeeded (or found nothing), and its write ended: known absent. */
  deleted(ref: { project: string; kind: Kind; scope?: string; name: string }): void {
    const c = this.#collection(ref);
    const key = this.#itemKey(ref);
    if (c !== undefined && !c.inflight.has(key)) c.set(key, undefined);
    if (ref.kind === 'networkEndpointGroup' && ref.scope !== undefined) this.#project(ref.project).endpoints.delete(negKey(ref.project, ref.scope, ref.name));
  }

  /** After a successful endpoint sync the NEG holds exactly `endpoints`. */
  setEndpoints(project: string, zone: string, name: string, endpoints: readonly INetworkEndpoint[]): void {
    const k = negKey(project, zone, name);
    this.#project(project).endpoints.set(k, endpoints.map((e) => ({ ...e })));
    this.#endpointsGen.set(k, (this.#endpointsGen.get(k) ?? 0) + 1);
  }

  // ---- shared NEGs and health checks -----------------------------------------------------------
  //
  // A shared NEG or health check (docs/architecture.md "Shared NEGs and health checks") is used by
  // every Gateway whose backends (NEG) or check (health check) and scope are the same. It is deleted
  // by the last one: a Gateway that stops using it (plan's `release` step, teardown) deletes it only
  // when no other Gateway claims it (rendered it in its latest reconcile) and no other Gateway's
  // backend service references it. GCE itself refuses to delete a NEG or health check a backend
  // service uses (400 resourceInUseByAnotherResource), the last guard.

  /** sharedKey -> uids of the Gateways whose latest render has it. */
  readonly #claims = new Map<string, Set<string>>();
  /** uid -> the sharedKeys it claims. */
  readonly #claimsOf = new Map<string, Set<string>>();
  /** sharedKey -> tail of the chain of steps (endpoint syncs, releases) on it in this process. */
  readonly #sharedLocks = new Map<string, Promise<unknown>>();

  /** The shared NEGs (negKey) and health checks (hcKey) Gateway `uid` renders now (replaces its earlier claim). */
  claim(uid: string, keys: Iterable<string>): void {
    this.release(uid);
    const mine = new Set(keys);
    if (mine.size === 0) return;
    this.#claimsOf.set(uid, mine);
    for (const k of mine) {
      const s = this.#claims.get(k) ?? new Set<string>();
      s.add(uid);
      this.#claims.set(k, s);
    }
  }

  /** The NEGs Gateway `uid` claims that the inventory knows to exist (teardown: retried releases). */
  claimedNegs(uid: string): LiveNeg[] {
    const out: LiveNeg[] = [];
    for (const k of this.#claimsOf.get(uid) ?? []) {
      if (k.startsWith(HC_KEY)) continue;
      const [project, zone, name] = k.split('/') as [string, string, string];
      const x = this.#projects.get(project)?.neg.items.get(`${zone}/${name}`);
      if (x !== undefined) out.push({ project, zone, neg: x.neg });
    }
    return out;
  }

  /** The health checks Gateway `uid` claims in project/region that the inventory knows to exist. */
  claimedHealthChecks(uid: string, project: string, region: string): Map<string, IHealthCheck> {
    const out = new Map<string, IHealthCheck>();
    const rs = this.#projects.get(project)?.regions.get(region);
    for (const k of this.#claimsOf.get(uid) ?? []) {
      if (!k.startsWith(hcKey(project, region, ''))) continue;
      const name = k.slice(k.lastIndexOf('/') + 1);
      const x = rs?.healthCheck.items.get(name);
      if (x !== undefined) out.set(name, x);
    }
    return out;
  }

  /** Gateway `uid` claims nothing any more (torn down). */
  release(uid: string): void {
    for (const k of this.#claimsOf.get(uid) ?? []) {
      const s = this.#claims.get(k);
      s?.delete(uid);
      if (s !== undefined && s.size === 0) this.#claims.delete(k);
    }
    this.#claimsOf.delete(uid);
  }

  #claimedByOther(key: string, exceptUid: string): boolean {
    for (const uid of this.#claims.get(key) ?? []) if (uid !== exceptUid) return true;
    return false;
  }

  /**
   * The region's backend services, or undefined when they were never read here (unknown is not
   * "unused": callers keep the shared resource).
   */
  #backendServicesOf(project: string, region: string): Iterable<IBackendService> | undefined {
    const rs = this.#projects.get(project)?.regions.get(region);
    return rs === undefined || !rs.ok ? undefined : rs.backendService.items.values();
  }

  /**
   * True when a Gateway other than `exceptUid` claims the NEG `key` (project/zone/name) or one of
   * its backend services references it, as far as this inventory knows; also true when the
   * backend services of the NEG's region were never read here.
   */
  negInUse(key: string, exceptUid: string): boolean {
    if (this.#claimedByOther(key, exceptUid)) return true;
    const [project, zone, name] = key.split('/') as [string, string, string];
    const live = this.#projects.get(project)?.neg.items.get(`${zone}/${name}`);
    const lb = decodeStamp(live?.description)?.lb;
    const [lbProject, lbRegion] = lb === undefined ? [project, regionOfZone(zone)] : (lb.split('/') as [string, string]);
    const bss = this.#backendServicesOf(lbProject, lbRegion);
    if (bss === undefined) return true;
    for (const bs of bss) {
      if (fleetStamp(bs.description, this.#o.fleetId)?.gatewayUid === exceptUid) continue;
      if ((bs.backends ?? []).some((b) => negKeyOfUrl(b.group) === key)) return true;
    }
    return false;
  }

  /** negInUse for the shared health check `name` of project/region. */
  healthCheckInUse(project: string, region: string, name: string, exceptUid: string): boolean {
    if (this.#claimedByOther(hcKey(project, region, name), exceptUid)) return true;
    const bss = this.#backendServicesOf(project, region);
    if (bss === undefined) return true;
    for (const bs of bss) {
      if (fleetStamp(bs.description, this.#o.fleetId)?.gatewayUid === exceptUid) continue;
      if ((bs.healthChecks ?? []).some((u) => lastSegment(u) === name)) return true;
    }
    return false;
  }

  /** Runs `fn` after every earlier step on the shared resource `key` in this process ended (one at a time). */
  async withShared<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#sharedLocks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#sharedLocks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.#sharedLocks.get(key) === tail) this.#sharedLocks.delete(key);
    }
  }

  /** The endpoints the inventory knows this NEG holds (kept by our own syncs), if any. */
  knownEndpoints(project: string, zone: string, name: string): readonly INetworkEndpoint[] | undefined {
    return this.#project(project).endpoints.get(negKey(project, zone, name));
  }

  // ---- refresh (resync) and whole-fleet views -----------------------------------------------

  /**
   * Re-reads every loaded scope: one list per kind per project/region, one NEG aggregatedList and one
   * instance aggregatedList per project, and the endpoints of each NEG already known. Entries written
   * while it runs stay unknown. A failed list keeps the previous facts.
   */
  async refresh(): Promise<RefreshStats> {
    const stats: RefreshStats = { lists: 0, endpointLists: 0, failed: 0 };
    this.#extrasRead.clear();
    for (const ps of this.#projects.values()) {
      const since = this.#seq;
      const cloud = this.#o.cloud.forProject(ps.project);
      const jobs: Array<Promise<void>> = [];
      for (const [region, rs] of ps.regions) {
        if (!rs.ok) continue;
        for (const kind of REGIONAL) {
          stats.lists++;
          jobs.push(
            cloud.list(kind, region, this.#filter()).then(
              (xs) => (rs[kind] as Collection<Named>).replace(xs as Named[], since),
              (err: unknown) => this.#refreshFailed(stats, ps.project, kind, err),
            ),
          );
        }
      }
      if (ps.globalOk) {
        stats.lists += 2;
        jobs.push(cloud.list('firewall', undefined, this.#filter()).then((xs) => ps.firewall.replace(xs, since), (err: unknown) => this.#refreshFailed(stats, ps.project, 'firewall', err)));
        jobs.push(
          cloud.listAllNegs().then(
            (xs) => ps.neg.replace(this.#negItems(xs), since),
            (err: unknown) => this.#refreshFailed(stats, ps.project, 'networkEndpointGroup', err),
          ),
        );
      }
      if (ps.instancesLoaded !== undefined) {
        stats.lists++;
        jobs.push(this.#loadInstances(ps).catch((err: unknown) => this.#refreshFailed(stats, ps.project, 'instance', err)));
      }
      await Promise.all(jobs);
      // Endpoints of the NEGs we know (one list each); NEGs gone are forgotten.
      const keys = [...ps.endpoints.keys()];
      const res = await mapLimit(keys, this.#o.concurrency ?? 4, async (k) => {
        const [, zone, name] = k.split('/') as [string, string, string];
        if (!ps.neg.items.has(`${zone}/${name}`)) {
          ps.endpoints.delete(k);
          return;
        }
        const seq = this.#seq;
        const eps = await cloud.listNetworkEndpoints(zone, name);
        stats.endpointLists++;
        if (this.#seq === seq || !ps.neg.unknown.has(`${zone}/${name}`)) ps.endpoints.set(k, eps);
      });
      for (const r of res) if (!r.ok) this.#refreshFailed(stats, ps.project, 'endpoints', r.error);
    }
    return stats;
  }

  /**
   * Every resource stamped for this fleet in `project` (loaded scopes of it, plus `regions` loaded
   * now if needed). For the sweep: reads the cache, refreshed by the resync.
   */
  async fleetResources(project: string, regions: readonly string[]): Promise<FleetResource[]> {
    const ps = this.#project(project);
    await Promise.all([...regions.map((r) => this.#loadRegion(ps, r, this.#region(ps, r))), this.#loadGlobal(ps)]);
    const out: FleetResource[] = [];
    const add = (kind: FleetResource['kind'], live: Named, scope: string | undefined): void => {
      const r = fleetResource(this.#o.fleetId, kind, live, scope, project);
      if (r !== undefined) out.push(r);
    };
    for (const [region, rs] of ps.regions) {
      for (const kind of REGIONAL) for (const x of (rs[kind] as Collection<Named>).items.values()) add(kind, x, region);
    }
    for (const x of ps.neg.items.values()) add('networkEndpointGroup', x.neg, x.zone);
    for (const x of ps.firewall.items.values()) add('firewall', x, undefined);
    return out;
  }

  /** Gateway uids holding resources in any loaded scope (sweep/teardown scope discovery). */
  /**
   * uids other than `uid` that stamps of Gateway `namespace/name` name, in every scope read so far:
   * earlier incarnations of a Gateway re-created with the same name. Two Gateways cannot share a
   * name at once, so each is gone from the apiserver, and what it left (its teardown skipped: a
   * finalizer stripped, a deletion while the controller was down) holds the names the new one needs.
   */
  previousIncarnations(gateway: string, uid: string): string[] {
    const out = new Set<string>();
    const scan = (c: Collection<Named>): void => {
      for (const u of c.byGateway.get(gateway)?.keys() ?? []) if (u !== uid) out.add(u);
    };
    for (const ps of this.#projects.values()) {
      scan(ps.firewall);
      scan(ps.neg);
      for (const rs of ps.regions.values()) for (const k of REGIONAL) scan(rs[k]);
    }
    return [...out].sort();
  }

  scopesOf(gatewayUid: string): Array<{ project: string; regions: string[] }> {
    const out: Array<{ project: string; regions: string[] }> = [];
    for (const ps of this.#projects.values()) {
      const has = (c: Collection<Named>): boolean => c.byUid.has(gatewayUid) || c.pendingByUid.has(gatewayUid);
      const regions = [...ps.regions].filter(([, rs]) => REGIONAL.some((k) => has(rs[k]))).map(([r]) => r);
      const global = has(ps.firewall) || has(ps.neg);
      if (regions.length > 0 || global) out.push({ project: ps.project, regions: regions.sort() });
    }
    return out;
  }

  // ---- internals ------------------------------------------------------------------------------

  #filter(): string {
    // compute.proto List `filter`: `name eq` takes an RE2 that must match the whole name.
    return `name eq '${this.#prefix}.*'`;
  }

  #project(project: string): ProjectState {
    let ps = this.#projects.get(project);
    if (ps === undefined) {
      ps = {
        project,
        regions: new Map(),
        firewall: new Collection(this.#o.fleetId),
        neg: new Collection(this.#o.fleetId),
        globalOk: false,
        endpoints: new Map(),
        tags: new Map(),
        noInstance: new Map(),
      };
      this.#projects.set(project, ps);
    }
    return ps;
  }

  #region(ps: ProjectState, region: string): RegionState {
    let rs = ps.regions.get(region);
    if (rs === undefined) {
      const f = this.#o.fleetId;
      rs = { address: new Collection(f), healthCheck: new Collection(f), backendService: new Collection(f), forwardingRule: new Collection(f), ok: false };
      ps.regions.set(region, rs);
    }
    return rs;
  }

  async #loadRegion(ps: ProjectState, region: string, rs: RegionState): Promise<void> {
    if (rs.ok) return;
    rs.loaded ??= (async () => {
      const since = this.#seq;
      const cloud = this.#o.cloud.forProject(ps.project);
      const lists = await Promise.all(REGIONAL.map((k) => cloud.list(k, region, this.#filter())));
      REGIONAL.forEach((k, i) => (rs[k] as Collection<Named>).replace(lists[i] as Named[], since));
      rs.ok = true;
    })();
    try {
      await rs.loaded;
    } catch (err) {
      rs.loaded = undefined; // the next reconcile tries again
      throw err;
    }
  }

  async #loadGlobal(ps: ProjectState): Promise<void> {
    if (ps.globalOk) return;
    ps.globalLoaded ??= (async () => {
      const since = this.#seq;
      const cloud = this.#o.cloud.forProject(ps.project);
      const [fws, negs] = await Promise.all([cloud.list('firewall', undefined, this.#filter()), cloud.listAllNegs()]);
      ps.firewall.replace(fws, since);
      ps.neg.replace(this.#negItems(negs), since);
      ps.globalOk = true;
    })();
    try {
      await ps.globalLoaded;
    } catch (err) {
      ps.globalLoaded = undefined;
      throw err;
    }
  }

  /** One aggregatedList: the instances it returns exist (with their tags); the rest are looked up by GET when asked. */
  async #loadInstances(ps: ProjectState): Promise<void> {
    const all = await this.#o.cloud.forProject(ps.project).listAllInstances();
    const tags = new Map<string, string[]>();
    for (const x of all) tags.set(`${x.zone}/${x.instance.name ?? ''}`, [...(x.instance.tags?.items ?? [])]);
    // Replaced, not merged: a VM deleted since the last list is no longer taken to exist.
    ps.tags = tags;
    for (const zi of tags.keys()) ps.noInstance.delete(zi);
  }

  #negItems(xs: ReadonlyArray<{ zone: string; neg: LiveNeg['neg'] }>): Array<Named & { neg: LiveNeg['neg']; zone: string }> {
    return xs
      .filter((x) => (x.neg.name ?? '').startsWith(this.#prefix) || fleetStamp(x.neg.description, this.#o.fleetId) !== undefined)
      .map((x) => ({ name: `${x.zone}/${x.neg.name ?? ''}`, description: x.neg.description ?? null, creationTimestamp: x.neg.creationTimestamp ?? null, neg: x.neg, zone: x.zone }));
  }

  #collection(ref: { project: string; kind: Kind; scope?: string }): Collection<Named> | undefined {
    const ps = this.#project(ref.project);
    if (ref.kind === 'firewall') return ps.firewall;
    if (ref.kind === 'networkEndpointGroup') return ps.neg;
    if (ref.scope === undefined) return undefined;
    return this.#region(ps, ref.scope)[ref.kind];
  }

  #itemKey(ref: { kind: Kind; scope?: string; name: string }): string {
    return ref.kind === 'networkEndpointGroup' ? `${ref.scope ?? ''}/${ref.name}` : ref.name;
  }

  /**
   * Names outside the fleet prefix (a user's own reserved address, `fleetilb.io/address-name`) are
   * not in the filtered lists: read once with a GET, then cached until the next refresh.
   */
  readonly #extrasRead = new Set<string>();
  #extraKey(ps: ProjectState, kind: Kind, scope: string | undefined, name: string): string {
    return `${ps.project}/${kind}/${scope ?? ''}/${name}`;
  }

  async #refetch<T extends Named>(ps: ProjectState, kind: Kind, scope: string | undefined, c: Collection<T>, names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const cloud = this.#o.cloud.forProject(ps.project);
    const res = await mapLimit(names, this.#o.concurrency ?? 4, async (n) => {
      const seq = this.#seq;
      if (kind === 'networkEndpointGroup') {
        const [zone, name] = n.split('/') as [string, string];
        const neg = await cloud.get('networkEndpointGroup', zone, name);
        return { n, seq, item: neg === undefined ? undefined : ({ name: n, description: neg.description ?? null, creationTimestamp: neg.creationTimestamp ?? null, neg, zone } as unknown as T) };
      }
      return { n, seq, item: (await cloud.get(kind, scope, n)) as T | undefined };
    });
    for (const r of res) {
      if (!r.ok) throw r.error;
      const { n, seq, item } = r.value;
      if (!n.startsWith(this.#prefix)) this.#extrasRead.add(this.#extraKey(ps, kind, scope, n));
      // A write that ran while this GET was in flight keeps the name unknown.
      if (c.stale(n, seq)) continue;
      c.set(n, item);
      c.writtenAt.delete(n);
    }
  }

  #refreshFailed(stats: RefreshStats, project: string, what: string, err: unknown): void {
    stats.failed++;
    this.#log.info({ project, what, error: errorMessage(err) }, 'inventory refresh failed; keeping the previous facts');
  }
}

const HC_KEY = 'hc:';

/** Kinds whose resources several Gateways share (never pending for one Gateway's uid). */
const SHARED_KINDS: ReadonlySet<Kind> = new Set(['networkEndpointGroup', 'healthCheck']);

/** The claim key of a shared health check (negKey is the NEGs'). */
export function hcKey(project: string, region: string, name: string): string {
  return `${HC_KEY}${project}/${region}/${name}`;
}
