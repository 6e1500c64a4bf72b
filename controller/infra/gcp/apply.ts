// SPDX-License-Identifier: Apache-2.0
//
// applyGce: make GCE hold exactly one Gateway's DesiredGce. observe (lists, observe.ts) -> plan (pure,
// plan.ts) -> execute in dependency order, independent steps in parallel with bounded concurrency
// (plan.ts WAVES), stopping after the first wave that fails (later waves depend on earlier ones: a
// forwarding rule must never point at a backend service that is missing; battery A7, docs/failure-rules.md).
// teardownGce: delete everything one Gateway owns, in reverse dependency order.
//
// Idempotency: nothing is written when the plan is empty, so applying the same DesiredGce twice makes
// zero writes the second time, and a restarted controller (no cache) converges with zero writes.
// A crash mid-apply leaves only resources with deterministic names and our stamp: the next apply
// lists them and adopts or finishes them (no duplicate), and removes what is no longer wanted (no leak).
import { addressNotUsable, foreignError, isFencedError, isGceCategory, isUserError, userErrorFor, withResource } from './cloud/errors.ts';
import type { GceCloud, IAddress, IBackendService, IFirewall, IForwardingRule, IHealthCheck, INetworkEndpoint, INetworkEndpointGroup } from './cloud/client.ts';
import { mapLimit } from './cloud/pool.ts';
import type { Owner } from './cloud/ownership.ts';
import { collectingContext, type KindContext, type WriteNote } from './context.ts';
import type { DesiredGce } from './desired.ts';
import { deleteAddress, ensureAddress } from './address.ts';
import { deleteBackendService, ensureBackendService } from './backendService.ts';
import { deleteFirewall, ensureFirewall } from './firewall.ts';
import { deleteForwardingRule, ensureForwardingRule } from './forwardingRule.ts';
import { deleteHealthCheck, ensureHealthCheck } from './healthCheck.ts';
import { deleteNeg, ensureNeg, syncNegEndpoints } from './neg.ts';
import { negKey, observeGateway, type Observed } from './observe.ts';
import { PHASES, WAVES, endpointsToList, negProjects, planGce, wantedNames, type GcePlan, type Phase, type PlanStep } from './plan.ts';
import { decodeStamp, isShared } from '../../naming/stamp.ts';
import { deleteOwned } from './resource.ts';
import { keepClusters, keepLiveFirewalls } from './keep.ts';
import { hcKey, type GceInventory } from './inventory.ts';
import { VIP_PLACEHOLDER } from './desired.ts';
import { checkRequestedIp } from './addresscheck.ts';

/** What applyGce / teardownGce need besides the desired state. */
export interface GceApplyDeps {
  cloud: GceCloud;
  /** This controller's fleet id (the stamp's `fleet`). */
  fleetId: string;
  /** Steps in flight at once within a wave. Default 8. */
  concurrency?: number;
  /** Run the phases strictly one after the other (docs/compute-api.md "Ordering") instead of WAVES. */
  strictOrder?: boolean;
  /** Plan only: read, diff, return the plan; no mutating call. */
  dryRun?: boolean;
  /**
   * Member clusters that are frozen (docs/failure-rules.md "Frozen members"): whatever GCE holds for them (NEGs, their
   * backends, firewall target tags) is kept even if `desired` lacks it (keep.ts).
   */
  keepClusters?: ReadonlySet<string>;
  /** Called after each executed step (logs, events, metrics). */
  onStep?: (step: PlanStep, outcome: { ok: true } | { ok: false; error: unknown }) => void;
  /**
   * The shared inventory (inventory.ts): facts come from it instead of listing per Gateway, and
   * every write is reported to it. Absent = list what this Gateway needs (tests, the CLI).
   */
  inventory?: GceInventory;
  /**
   * Runs once the VIP is known and before the first step that can send traffic to it (forwarding
   * rules): the member side (VIP Services) must translate the VIP before GCE delivers it, or a UDP
   * flow that arrives first is pinned by conntrack to no translation (docs/architecture.md). An
   * error stops the apply before any forwarding rule is written.
   */
  beforeTraffic?: (vip: string) => Promise<void>;
}

/** The outcome of one applyGce. */
export interface GceApplyResult {
  /** The VIP (the reserved address's IP), when known. */
  vip?: string;
  /** True when the VIP is known, every desired forwarding rule exists and nothing failed. */
  programmed: boolean;
  /** Names of the desired forwarding rules that exist after this apply. */
  forwardingRules: string[];
  /** Number of successful mutating calls (0 on a resync with nothing to do). */
  changes: number;
  /** The writes, in order of completion. */
  writes: WriteNote[];
  /** What was (or, in a dry run, would be) done. */
  plan: GcePlan;
  /**
   * The error to report: a FencedError if a write was fenced, else the first user error (a condition;
   * do not hot-loop), else the first transient one (back off). Errors about one resource come wrapped
   * in the runtime's CloudResourceError naming it; retryPolicy() looks through it.
   */
  error?: unknown;
  /** Every error met (the first failing phase's, plus blocked NEGs). */
  errors: unknown[];
  /** True when GCE could not be read: nothing was planned or written, and nothing is known. */
  readFailed?: boolean;
  /** Dry runs only: what the plan was computed against (`fleet-ilb plan` shows live values of changed fields). */
  observed?: Observed;
  /** Dry runs only: the desired state the plan was computed for (after keep.ts and the VIP were applied). */
  planned?: DesiredGce;
}

function pickError(errors: readonly unknown[]): unknown {
  return errors.find(isFencedError) ?? errors.find(isUserError) ?? errors[0];
}

function ownerOf(d: DesiredGce, fleetId: string): Owner {
  // The desired stamps must describe the same owner apply checks against, or apply would create
  // resources it then refuses to manage.
  const s = decodeStamp(d.address.description);
  if (s === undefined || s.fleet !== fleetId || s.gatewayUid !== d.gateway.uid) {
    throw new Error(`DesiredGce for ${d.gateway.namespace}/${d.gateway.name}: address description is not a stamp of fleet ${fleetId} / uid ${d.gateway.uid}`);
  }
  return { fleet: fleetId, gatewayUid: d.gateway.uid };
}

interface Env {
  ctx: KindContext;
  desired: DesiredGce;
  observed: Observed;
  plan: GcePlan;
  vip: string | undefined;
  inventory: GceInventory | undefined;
}

/** The kinds fleet-ilb shares between Gateways (docs/architecture.md "Shared NEGs and health checks"). */
export type SharedKind = 'networkEndpointGroup' | 'healthCheck';

/** The claim and lock key of a shared resource in `ctx.project` (zone for NEGs, region for checks). */
export function sharedKey(ctx: KindContext, kind: SharedKind, scope: string, name: string): string {
  return kind === 'networkEndpointGroup' ? negKey(ctx.project, scope, name) : hcKey(ctx.project, scope, name);
}

/**
 * Deletes a NEG or health check this Gateway no longer uses (or owns, at teardown). A shared one
 * (docs/architecture.md "Shared NEGs and health checks") is kept while another Gateway claims or
 * references it, and GCE's own refusal (400 resourceInUseByAnotherResource: a backend service of
 * another Gateway holds it) is the same answer. Serialised with the resource's other steps in this
 * process. 'kept' = not deleted, not an error.
 */
export async function releaseShared(
  ctx: KindContext,
  kind: SharedKind,
  scope: string,
  name: string,
  live: INetworkEndpointGroup | IHealthCheck | undefined,
  inventory: GceInventory | undefined,
): Promise<'deleted' | 'kept'> {
  const del = async (): Promise<void> => {
    if (kind === 'networkEndpointGroup') await deleteNeg(ctx, scope, name, live);
    else await deleteHealthCheck({ ...ctx, region: scope }, name, live);
  };
  if (!isShared(decodeStamp(live?.description))) {
    await del();
    return 'deleted';
  }
  const key = sharedKey(ctx, kind, scope, name);
  const uid = ctx.owner.gatewayUid;
  const release = async (): Promise<'deleted' | 'kept'> => {
    const inUse = kind === 'networkEndpointGroup' ? inventory?.negInUse(key, uid) : inventory?.healthCheckInUse(ctx.project, scope, name, uid);
    if (inUse === true) return 'kept';
    try {
      await del();
    } catch (e) {
      if (isGceCategory(e, 'inUse')) return 'kept';
      throw e;
    }
    return 'deleted';
  };
  return inventory === undefined ? release() : inventory.withShared(key, release);
}

/** Executes one step; 'kept' when a shared NEG was left to the Gateways that still use it. */
async function execStep(step: PlanStep, env: Env): Promise<'kept' | undefined> {
  const { ctx, desired, observed } = env;
  switch (step.kind) {
    case 'address': {
      const live = observed.address.get(step.name);
      if (step.action === 'delete') {
        await deleteAddress(ctx, step.name, live);
        return;
      }
      const body = env.plan.addressIp !== undefined && !desired.address.address ? { ...desired.address, address: env.plan.addressIp } : desired.address;
      const out = await ensureAddress(ctx, body, step.action === 'create' ? null : (live ?? null));
      if (out.vip !== undefined) env.vip = out.vip;
      return;
    }
    case 'healthCheck': {
      const live = observed.healthCheck.get(step.name);
      if (step.action === 'delete') return (await releaseShared(ctx, 'healthCheck', ctx.region, step.name, live, env.inventory)) === 'kept' ? 'kept' : undefined;
      await ensureHealthCheck(ctx, find(desired.healthChecks, step.name), live ?? null);
      return;
    }
    case 'networkEndpointGroup': {
      const zone = step.scope ?? '';
      const project = step.project ?? desired.project;
      const key = negKey(project, zone, step.name);
      const live = observed.networkEndpointGroup.get(key)?.neg;
      const nctx = projectContext(ctx, project);
      if (step.action === 'delete') return (await releaseShared(nctx, 'networkEndpointGroup', zone, step.name, live, env.inventory)) === 'kept' ? 'kept' : undefined;
      const d = desired.negs.find((n) => (n.project ?? desired.project) === project && n.zone === zone && n.neg.name === step.name);
      if (d === undefined) throw new Error(`plan step for unknown NEG ${key}`);
      const inv = env.inventory;
      const sync = async (): Promise<void> => {
        // Inside the NEG's lock: another Gateway sharing the NEG may have created or synced it
        // since this reconcile observed it; the inventory's copy (kept by every sync) is current.
        // Endpoints are known only for a NEG that exists: one another Gateway created meanwhile is
        // not inserted again (no 409).
        const known = inv?.knownEndpoints(project, zone, step.name);
        let current: readonly INetworkEndpoint[] | undefined = known ?? observed.endpoints.get(key);
        if ((step.action === 'create' && known === undefined) || step.action === 'recreate') {
          const r = await ensureNeg(nctx, zone, d.neg, step.action === 'create' ? null : (live ?? null));
          current = r === 'created' || r === 'recreated' ? [] : inv?.knownEndpoints(project, zone, step.name); // adopted: list what it holds
        }
        if (d.frozen) return;
        inv?.forgetEndpoints(project, zone, step.name);
        await syncNegEndpoints(nctx, zone, step.name, d.endpoints, current);
        inv?.setEndpoints(project, zone, step.name, d.endpoints);
      };
      await (inv === undefined ? sync() : inv.withShared(key, sync));
      return;
    }
    case 'backendService': {
      const live = observed.backendService.get(step.name);
      if (step.action === 'delete') {
        await deleteBackendService(ctx, step.name, live);
        return;
      }
      await ensureBackendService(ctx, find(desired.backendServices, step.name), live ?? null);
      return;
    }
    case 'forwardingRule': {
      const live = observed.forwardingRule.get(step.name);
      if (step.action === 'delete') {
        await deleteForwardingRule(ctx, step.name, live);
        return;
      }
      const recreate = step.action === 'create';
      await ensureForwardingRule(ctx, find(desired.forwardingRules, step.name), recreate ? null : (live ?? null), env.vip);
      return;
    }
    case 'firewall': {
      const live = observed.firewall.get(step.name);
      if (step.action === 'delete') {
        await deleteFirewall(ctx, step.name, live);
        return;
      }
      const fw = find(desired.firewalls, step.name);
      if ((fw.destinationRanges ?? []).includes(VIP_PLACEHOLDER)) {
        // First create: the address step of this apply reserved the VIP.
        if (env.vip === undefined) throw new Error(`firewall ${step.name}: the VIP is not known yet`);
        await ensureFirewall(ctx, withVip(fw, env.vip), live ?? null);
        return;
      }
      await ensureFirewall(ctx, fw, live ?? null);
      return;
    }
  }
}

/** The firewall with VIP_PLACEHOLDER replaced by the VIP. */
function withVip<T extends { destinationRanges?: string[] | null }>(fw: T, vip: string): T {
  return { ...fw, destinationRanges: (fw.destinationRanges ?? []).map((r) => (r === VIP_PLACEHOLDER ? vip : r)) };
}

/** The same context acting on another project (member NEGs in a Shared VPC service project). */
function projectContext(ctx: KindContext, project: string): KindContext {
  return project === ctx.project ? ctx : { ...ctx, project, cloud: ctx.cloud.forProject(project) };
}

function find<T extends { name: string }>(xs: readonly T[], name: string): T {
  const x = xs.find((y) => y.name === name);
  if (x === undefined) throw new Error(`plan step for unknown resource ${name}`);
  return x;
}

/** Runs the steps wave by wave; returns the errors of the first failing wave (none = all done). */
async function execute(
  steps: readonly PlanStep[],
  waves: ReadonlyArray<readonly Phase[]>,
  concurrency: number,
  run: (s: PlanStep) => Promise<void>,
  onStep: GceApplyDeps['onStep'],
  done: Set<PlanStep>,
  beforeWave?: (wave: readonly Phase[]) => Promise<void>,
): Promise<unknown[]> {
  for (const wave of waves) {
    const ps = steps.filter((s) => wave.includes(s.phase));
    if (ps.length === 0) continue;
    if (beforeWave !== undefined) {
      try {
        await beforeWave(wave);
      } catch (e) {
        return [e];
      }
    }
    const results = await mapLimit(ps, concurrency, async (s) => {
      await run(s);
      return s;
    });
    const errors: unknown[] = [];
    results.forEach((r, i) => {
      const s = ps[i]!;
      if (r.ok) done.add(s);
      else errors.push(withResource(r.error));
      onStep?.(s, r.ok ? { ok: true } : { ok: false, error: r.error });
    });
    if (errors.length > 0) return errors;
  }
  return [];
}

/**
 * Applies one Gateway's desired GCE state. Never throws for cloud failures: they come back in
 * `error` (classified); it throws only on a malformed DesiredGce (a bug upstream).
 */
export async function applyGce(desired: DesiredGce, deps: GceApplyDeps): Promise<GceApplyResult> {
  if (desired.project !== deps.cloud.project) throw new Error(`DesiredGce project ${desired.project} != GceCloud project ${deps.cloud.project}`);
  const owner = ownerOf(desired, deps.fleetId);
  const concurrency = deps.concurrency ?? 8;
  const ctx = collectingContext({ cloud: deps.cloud, project: desired.project, region: desired.region, owner });
  const emptyPlan: GcePlan = { steps: [], conflicts: [], blocked: [], addressProblems: [] };
  let observed: Observed;
  try {
    const q = { region: desired.region, owner, wanted: wantedNames(desired), endpointsFor: endpointsToList(desired), negProjects: negProjects(desired) };
    observed = deps.inventory !== undefined ? await deps.inventory.observe({ ...q, project: desired.project }) : await observeGateway(deps.cloud, { ...q, concurrency });
  } catch (e) {
    // Facts unknown: plan nothing. A failed read must never look like "nothing exists" (it would
    // delete live firewalls whose VIP or tags it did not see; docs/architecture.md).
    return { programmed: false, forwardingRules: [], changes: 0, writes: [], plan: emptyPlan, error: withResource(e), errors: [e], readFailed: true };
  }
  if (deps.keepClusters !== undefined) desired = keepClusters(desired, observed, owner, deps.keepClusters);
  desired = resolveFirewallVip(desired, observed);
  if (desired.firewallTagsIncomplete === true) desired = keepLiveFirewalls(desired, observed, owner);
  const plan = planGce(desired, observed, owner);
  const existingFrs = desired.forwardingRules.filter((f) => observed.forwardingRule.has(f.name)).map((f) => f.name);
  // The IP the Gateway asks for, checked with two reads before the wave that would reserve it
  // writes anything (addresscheck.ts): outside the subnetwork or held by another address is
  // AddressNotUsable with no write, not a failed insert after the health checks and NEGs.
  const askedIp = desired.addressOwned !== false ? (desired.address.address ?? undefined) : undefined;
  if (askedIp && plan.conflicts.length === 0 && plan.steps.some((s) => s.kind === 'address' && (s.action === 'create' || s.action === 'recreate'))) {
    try {
      const problem = await checkRequestedIp(deps.cloud, { region: desired.region, subnetwork: desired.address.subnetwork ?? '', ip: askedIp, self: desired.address.name });
      if (problem !== undefined) plan.addressProblems.push(problem);
    } catch (e) {
      return { programmed: false, forwardingRules: existingFrs, changes: 0, writes: [], plan: emptyPlan, error: withResource(e), errors: [e], readFailed: true };
    }
  }

  // A desired name held by someone else: write nothing for this Gateway and say which resource
  // (battery A6, docs/failure-rules.md). Partial programming around a foreign object would be guesswork.
  if (plan.conflicts.length > 0 || plan.addressProblems.length > 0) {
    const errors = [
      ...plan.addressProblems.map((m) => addressNotUsable({ kind: 'address', name: desired.address.name, scope: desired.region }, m)),
      ...plan.conflicts.map((c) => foreignError({ kind: c.kind, name: c.name, ...(c.scope === undefined ? {} : { scope: c.scope }) }, c.owner)),
    ];
    return {
      // An unusable address has no VIP: the member VIP Services must not carry an IP this Gateway
      // does not hold (another Gateway's VIP would be translated to this Gateway's backends).
      ...(plan.vip === undefined || plan.addressProblems.length > 0 ? {} : { vip: plan.vip }),
      programmed: false,
      forwardingRules: existingFrs,
      changes: 0,
      writes: [],
      plan,
      error: withResource(errors[0]),
      errors: errors.map(withResource),
      ...(deps.dryRun === true ? { observed, planned: desired } : {}),
    };
  }
  const blockedErrors = plan.blocked.map((b) =>
    withResource(
      userErrorFor(
        { kind: 'networkEndpointGroup', name: b.name, scope: b.zone },
        `network endpoint group ${b.zone}/${b.name} must be re-created (${b.fields.join(', ')} changed) but backend service(s) ${b.referencedBy.join(', ')} still use it`,
      ),
    ),
  );

  if (deps.dryRun) {
    const programmed = plan.steps.length === 0 && plan.blocked.length === 0 && plan.vip !== undefined && existingFrs.length === desired.forwardingRules.length;
    return {
      ...(plan.vip === undefined ? {} : { vip: plan.vip }),
      programmed,
      forwardingRules: existingFrs,
      changes: 0,
      writes: [],
      plan,
      ...(blockedErrors.length > 0 ? { error: blockedErrors[0] } : {}),
      errors: blockedErrors,
      observed,
      planned: desired,
    };
  }

  const env: Env = { ctx, desired, observed, plan, vip: plan.vip, inventory: deps.inventory };
  const done = new Set<PlanStep>();
  const waves = deps.strictOrder ? PHASES.map((p) => [p]) : WAVES;
  const inv = deps.inventory;
  let hooked = false;
  const beforeWave = async (wave: readonly Phase[]): Promise<void> => {
    if (hooked || deps.beforeTraffic === undefined || !wave.includes('forwardingRules')) return;
    if (env.vip === undefined) throw new Error('the VIP is not known yet');
    hooked = true;
    await deps.beforeTraffic(env.vip);
  };
  const run = async (s: PlanStep): Promise<void> => {
    const ref = { project: s.project ?? desired.project, kind: s.kind, name: s.name, uid: owner.gatewayUid, ...(s.scope === undefined ? {} : { scope: s.scope }) };
    // The inventory forgets what a step may change (re-read before next use); a delete that
    // succeeded is known absent; an endpoint sync keeps the NEG's endpoint set itself (execStep).
    const marks = inv !== undefined && !(s.kind === 'networkEndpointGroup' && s.action === 'endpoints');
    if (marks) inv.beginWrite(ref);
    let kept: 'kept' | undefined;
    try {
      kept = await execStep(s, env);
    } finally {
      if (marks) inv.endWrite(ref);
    }
    if (inv !== undefined && s.action === 'delete' && kept === undefined) inv.deleted(ref);
  };
  const phaseErrors = await execute(plan.steps, waves, concurrency, run, deps.onStep, done, beforeWave);
  // Nothing to write before the forwarding rules, yet the member side must still be there.
  if (phaseErrors.length === 0 && !hooked && deps.beforeTraffic !== undefined && env.vip !== undefined) {
    try {
      await deps.beforeTraffic(env.vip);
    } catch (e) {
      phaseErrors.push(e);
    }
  }
  const errors = [...phaseErrors, ...blockedErrors];

  // Which desired forwarding rules exist now: those that existed and were not deleted (or whose
  // delete failed), plus those created.
  const exists = new Set(existingFrs);
  for (const s of plan.steps) {
    if (s.kind !== 'forwardingRule' || !done.has(s)) continue;
    if (s.action === 'delete') exists.delete(s.name);
    if (s.action === 'create') exists.add(s.name);
  }
  const forwardingRules = desired.forwardingRules.map((f) => f.name).filter((n) => exists.has(n));
  const error = pickError(errors);
  // A requested IP whose reservation did not happen (e.g. 409 IP_IN_USE_BY_ANOTHER_RESOURCE) is not
  // this Gateway's VIP: not reported, so no VIP Service carries it.
  const reserve = plan.steps.find((s) => s.kind === 'address' && (s.action === 'create' || s.action === 'recreate'));
  const vipHeld = env.vip !== undefined && (reserve === undefined || done.has(reserve));
  return {
    ...(vipHeld ? { vip: env.vip } : {}),
    programmed: errors.length === 0 && env.vip !== undefined && forwardingRules.length === desired.forwardingRules.length,
    forwardingRules,
    changes: ctx.writes.length,
    writes: ctx.writes,
    plan,
    ...(error === undefined ? {} : { error }),
    errors,
  };
}

/**
 * Firewalls rendered before the VIP was known carry VIP_PLACEHOLDER: with the live address's IP
 * (or the pinned one) it is replaced now, so the plan compares real values. Still unknown = the
 * address is created in this apply; the firewall step fills it in.
 */
function resolveFirewallVip(d: DesiredGce, observed: Observed): DesiredGce {
  if (!d.firewalls.some((f) => (f.destinationRanges ?? []).includes(VIP_PLACEHOLDER))) return d;
  const vip = observed.address.get(d.address.name)?.address ?? d.address.address ?? undefined;
  if (!vip) return d;
  return { ...d, firewalls: d.firewalls.map((f) => withVip(f, vip)) };
}

/** The Gateway whose GCE resources teardownGce removes. */
export interface GatewayIdentity {
  /** Region(s) where its regional resources live (NEGs and firewalls are found everywhere). */
  region: string | readonly string[];
  /** The Gateway's metadata.uid (the stamp's `gatewayUid`). */
  uid: string;
  /** Projects besides the cloud's where its NEGs may live (Shared VPC service projects of members). */
  negProjects?: readonly string[];
  /**
   * Only the regional kinds (addresses, health checks, backend services, forwarding rules): for a
   * region the Gateway left while staying in the project, whose NEGs and firewalls are current.
   */
  regionalOnly?: boolean;
}

/** The outcome of one teardownGce. */
export interface GceTeardownResult {
  /** True when nothing owned by the Gateway is left. */
  done: boolean;
  /** Successful deletes. */
  changes: number;
  writes: WriteNote[];
  /** Delete steps in order (what was, or in a dry run would be, deleted). */
  steps: PlanStep[];
  /** Steps not done (a phase failed, or dry run). */
  remaining: PlanStep[];
  error?: unknown;
  errors: unknown[];
}

const TEARDOWN_ORDER = [
  ['forwardingRules:delete', 'forwardingRule'],
  ['backendServices:delete', 'backendService'],
  ['healthChecks:delete', 'healthCheck'],
  ['negs:delete', 'networkEndpointGroup'],
  ['firewalls:delete', 'firewall'],
  ['address:delete', 'address'],
] as const;

/**
 * Deletes everything stamped for this fleet and Gateway uid, in reverse dependency order (forwarding
 * rules -> backend services -> health checks -> NEGs -> firewalls -> address). 404 = done; a 400
 * in-use comes back as a transient error (retry later). Found by listing, not by names, so it also
 * removes what a renamed listener or an older controller version left behind.
 */
export async function teardownGce(gw: GatewayIdentity, deps: GceApplyDeps): Promise<GceTeardownResult> {
  const owner: Owner = { fleet: deps.fleetId, gatewayUid: gw.uid };
  const regions = typeof gw.region === 'string' ? [gw.region] : [...gw.region];
  const concurrency = deps.concurrency ?? 4;
  const steps: PlanStep[] = [];
  const lives = new Map<PlanStep, { name?: string | null; description?: string | null }>();
  const writes: WriteNote[] = [];
  try {
    for (const region of regions) {
      const o =
        deps.inventory !== undefined
          ? await deps.inventory.observe({ project: deps.cloud.project, region, owner, negProjects: gw.negProjects ?? [] })
          : await observeGateway(deps.cloud, { region, owner, negProjects: gw.negProjects ?? [] });
      const push = (
        phase: PlanStep['phase'],
        kind: PlanStep['kind'],
        name: string,
        scope: string | undefined,
        live: { name?: string | null; description?: string | null },
        project?: string,
      ): void => {
        // Global kinds and NEGs are listed once per region: keep one step each.
        if (steps.some((s) => s.kind === kind && s.name === name && s.scope === scope && s.project === project)) return;
        const s: PlanStep = {
          phase,
          kind,
          name,
          action: 'delete',
          reason: 'teardown',
          ...(scope === undefined ? {} : { scope }),
          ...(project === undefined ? {} : { project }),
        };
        steps.push(s);
        lives.set(s, live);
      };
      for (const [phase, kind] of TEARDOWN_ORDER) {
        if (gw.regionalOnly === true && (kind === 'networkEndpointGroup' || kind === 'firewall')) continue;
        if (kind === 'networkEndpointGroup') {
          // Its own NEGs and the shared ones its backend services use (observe) or its latest
          // render claimed (a release that failed before): releaseShared keeps those still in use.
          const negs = [...o.networkEndpointGroup.values(), ...(deps.inventory?.claimedNegs(gw.uid) ?? [])];
          for (const x of negs) push(phase, kind, x.neg.name ?? '', x.zone, x.neg, x.project);
        } else if (kind === 'healthCheck') {
          // Same for the shared health checks (render claims them too).
          const hcs = new Map([...o.healthCheck, ...(deps.inventory?.claimedHealthChecks(gw.uid, deps.cloud.project, region) ?? [])]);
          for (const [name, live] of hcs) push(phase, kind, name, region, live);
        } else {
          const m = o[kind] as Map<string, IAddress | IHealthCheck | IBackendService | IForwardingRule | IFirewall>;
          for (const [name, live] of m) push(phase, kind, name, kind === 'firewall' ? undefined : region, live);
        }
      }
    }
  } catch (e) {
    return { done: false, changes: 0, writes, steps, remaining: steps, error: withResource(e), errors: [e] };
  }
  steps.sort((a, b) => PHASES.indexOf(a.phase) - PHASES.indexOf(b.phase));
  if (deps.dryRun) return { done: steps.length === 0, changes: 0, writes, steps, remaining: steps, errors: [] };
  const done = new Set<PlanStep>();
  const errors = await execute(
    steps,
    PHASES.map((p) => [p]),
    concurrency,
    async (s) => {
      const project = s.project ?? deps.cloud.project;
      const ctx: KindContext = {
        cloud: deps.cloud.forProject(project),
        project,
        region: s.scope ?? regions[0] ?? '',
        owner,
        note: (w) => writes.push(w),
      };
      const live = lives.get(s);
      const ref = { project, kind: s.kind, name: s.name, uid: gw.uid, ...(s.scope === undefined ? {} : { scope: s.scope }) };
      deps.inventory?.beginWrite(ref);
      let kept = false;
      try {
        if (s.kind === 'networkEndpointGroup' || s.kind === 'healthCheck') kept = (await releaseShared(ctx, s.kind, s.scope ?? '', s.name, live, deps.inventory)) === 'kept';
        else await deleteOwned(ctx, s.kind, s.scope, s.name, live);
      } finally {
        deps.inventory?.endWrite(ref);
      }
      if (!kept) deps.inventory?.deleted(ref);
    },
    deps.onStep,
    done,
  );
  const remaining = steps.filter((s) => !done.has(s));
  const error = pickError(errors);
  return { done: remaining.length === 0, changes: writes.length, writes, steps, remaining, ...(error === undefined ? {} : { error }), errors };
}
