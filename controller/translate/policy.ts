// SPDX-License-Identifier: Apache-2.0
//
// HealthCheckPolicy (fleetilb.io/v1alpha1, crds/fleetilb.io_healthcheckpolicies.yaml; docs/policy.md):
// which policies set the health check and the failover of each backend group of ONE Gateway, and
// each policy's `Accepted` condition for that Gateway, its ancestor. Policy attachment, GEP-713
// (https://gateway-api.sigs.k8s.io/geps/gep-713/, "Resolving conflicts"):
// * targets: the Gateway (higher, less specific) or a backend of its routes, a ServiceImport or a
//   Service (lower, more specific);
// * several policies on the same target: the oldest (creationTimestamp, then `namespace/name`) is
//   the established one and wins; the others are `Accepted=False/Conflicted`;
// * a Gateway policy and a backend policy: the backend's spec is merged over the Gateway's field by
//   field (GEP-713 "Patch defaults": the challenger, lower, wins conflicting scalars), except that
//   `config` (one probe) and `failover` (one set of clusters) are atomic;
// * a backend group (one backend service, one health check) whose backends carry different winning
//   policies: the oldest of them wins, the others are Conflicted;
// * a policy that names a backend of this Gateway's routes that resolves to no backend of that kind
//   and group: `Accepted=False/TargetNotFound`; contradicting fields (also a timeout above the merged
//   interval, which GCE refuses): `Accepted=False/Invalid`.
// Pure: called by translate for each Gateway with an IR (translate/index.ts, build.ts).
import type { Gateway, HealthCheckPolicy, HealthCheckPolicyDefault, PolicyAncestorStatus, PolicyTargetRef } from '../api/index.ts';
import { GATEWAY_GROUP, keyOf } from '../api/index.ts';
import type { EffectiveBackend, HealthCheckTiming, ProbeType } from '../ir/types.ts';
import { CONTROLLER_NAME } from '../naming/stamp.ts';
import { CondType, Reason, cond, stampConditions } from '../status/conditions.ts';
import type { Ctx } from './context.ts';
import { cmp } from './context.ts';
import { parseHealthPort } from './hcports.ts';

/** The policies' status entries for one Gateway (the writer replaces only our entry for it). */
export interface PolicyStatusOut {
  namespace: string;
  name: string;
  /** fleet-ilb's entry for the Gateway in `scope`, or none (drop a stale one). */
  ancestors: PolicyAncestorStatus[];
  scope: { namespace: string; name: string };
}

/** What the policies decide for one backend group. */
export interface GroupPolicy {
  /** `namespace/name` of the deciding policies: the Gateway's, then the backend's. */
  policies: string[];
  timing: HealthCheckTiming;
  /** The probe (`config`), when a policy sets one. */
  probe?: { type: ProbeType; requestPath?: string; host?: string; response?: string; grpcServiceName?: string };
  /** The pods' port the probe targets (`port` or `portName` of the config block), when set. */
  podPort?: number | string;
  failover?: NonNullable<HealthCheckPolicyDefault['failover']>;
}

const TYPES: readonly ProbeType[] = ['TCP', 'HTTP', 'HTTPS', 'HTTP2', 'GRPC'];
const BLOCK = { TCP: 'tcpHealthCheck', HTTP: 'httpHealthCheck', HTTPS: 'httpsHealthCheck', HTTP2: 'http2HealthCheck', GRPC: 'grpcHealthCheck' } as const;
const TIMING_FIELDS = ['checkIntervalSec', 'timeoutSec', 'healthyThreshold', 'unhealthyThreshold'] as const;

type Config = NonNullable<HealthCheckPolicyDefault['config']>;
type Block = { port?: number; portName?: string; host?: string; requestPath?: string; response?: string; grpcServiceName?: string };

function blockOf(c: Config): Block {
  return ((c as Record<string, unknown>)[BLOCK[c.type]] as Block | undefined) ?? {};
}

/**
 * Why a policy's own spec cannot apply (the CRD's CEL rules say the same at admission; this guards a
 * policy admitted by an older CRD), or undefined.
 */
export function policyProblem(p: HealthCheckPolicy): string | undefined {
  const d = p.spec?.default ?? {};
  const c = d.config;
  if (c !== undefined) {
    if (!TYPES.includes(c.type)) return `config.type ${String(c.type)} is not one of ${TYPES.join(', ')}`;
    for (const [t, block] of Object.entries(BLOCK)) {
      if (t !== c.type && (c as Record<string, unknown>)[block] !== undefined) return `config.${block} needs type ${t}, not ${c.type}`;
    }
    const b = blockOf(c);
    if (b.port !== undefined && b.portName !== undefined) return `config.${BLOCK[c.type]}: set port or portName, not both`;
    if (b.portName !== undefined && typeof parseHealthPort(b.portName) !== 'string') return `config.${BLOCK[c.type]}.portName ${b.portName} is not a container port name`;
    if (b.port !== undefined && parseHealthPort(String(b.port)) === undefined) return `config.${BLOCK[c.type]}.port ${b.port} is not a port`;
  }
  if (d.timeoutSec !== undefined && d.checkIntervalSec !== undefined && d.timeoutSec > d.checkIntervalSec) {
    return `timeoutSec ${d.timeoutSec} exceeds checkIntervalSec ${d.checkIntervalSec} (GCE refuses such a health check)`;
  }
  const f = d.failover;
  if (f !== undefined) {
    if ((f.failoverClusters ?? []).length === 0) return 'failover.failoverClusters is empty';
    const both = (f.primaryClusters ?? []).filter((x) => f.failoverClusters.includes(x));
    if (both.length > 0) return `failover: ${both.join(', ')} cannot be both primary and failover`;
    if (f.failoverRatio !== undefined && !(f.failoverRatio >= 0 && f.failoverRatio <= 1)) return `failover.failoverRatio ${f.failoverRatio} is not within [0, 1]`;
  }
  return undefined;
}

function targetsGateway(t: PolicyTargetRef, ns: string, gw: Gateway): boolean {
  return t.kind === 'Gateway' && t.group === GATEWAY_GROUP && ns === (gw.metadata.namespace ?? '') && t.name === gw.metadata.name;
}

function targetsBackend(t: PolicyTargetRef, ns: string, b: EffectiveBackend): boolean {
  return t.kind === b.kind && t.group === b.group && ns === b.namespace && t.name === b.name;
}

interface Tally {
  applied: string[];
  conflicts: string[];
  invalid?: string;
  gateway: boolean;
}

/** Judges the policies of one Gateway: {@link PolicyJudge.forGroup} per backend group, then statuses. */
export class PolicyJudge {
  readonly #ctx: Ctx;
  readonly #gw: Gateway;
  readonly #base: HealthCheckTiming;
  readonly #valid: HealthCheckPolicy[];
  readonly #tally = new Map<string, Tally>();
  readonly #gwPolicy: HealthCheckPolicy | undefined;

  constructor(ctx: Ctx, gw: Gateway, base: HealthCheckTiming) {
    this.#ctx = ctx;
    this.#gw = gw;
    this.#base = { checkIntervalSec: base.checkIntervalSec, timeoutSec: base.timeoutSec, healthyThreshold: base.healthyThreshold, unhealthyThreshold: base.unhealthyThreshold };
    this.#valid = [];
    for (const p of ctx.healthCheckPolicies) {
      const problem = policyProblem(p);
      if (problem === undefined) this.#valid.push(p);
      else this.#t(p).invalid = problem;
    }
    // ctx.healthCheckPolicies is oldest first: the first is the established one.
    const onGateway = this.#valid.filter((p) => (p.spec.targetRefs ?? []).some((t) => targetsGateway(t, p.metadata.namespace ?? '', gw)));
    this.#gwPolicy = onGateway[0];
    for (const p of onGateway) this.#t(p).gateway = true;
    for (const p of onGateway.slice(1)) this.#t(p).conflicts.push(`${keyOf(onGateway[0]!.metadata)} is older and targets the same Gateway`);
  }

  #t(p: HealthCheckPolicy): Tally {
    const k = keyOf(p.metadata);
    let t = this.#tally.get(k);
    if (t === undefined) this.#tally.set(k, (t = { applied: [], conflicts: [], gateway: false }));
    return t;
  }

  /**
   * The effective policy of one backend group (`label` names it in messages: its listeners), or
   * undefined when no policy applies.
   */
  forGroup(label: string, backends: readonly EffectiveBackend[]): GroupPolicy | undefined {
    const winners: HealthCheckPolicy[] = [];
    for (const b of backends) {
      const on = this.#valid.filter((p) => (p.spec.targetRefs ?? []).some((t) => targetsBackend(t, p.metadata.namespace ?? '', b)));
      const first = on[0];
      if (first === undefined) continue;
      if (!winners.includes(first)) winners.push(first);
      for (const p of on.slice(1)) this.#loss(p, `${keyOf(first.metadata)} is older and targets the same ${b.kind} ${b.namespace}/${b.name}`);
    }
    // The oldest of the backends' winners: ctx order is age order.
    winners.sort((a, b) => this.#ctx.healthCheckPolicies.indexOf(a) - this.#ctx.healthCheckPolicies.indexOf(b));
    let backend = winners[0];
    for (const p of winners.slice(1)) {
      this.#loss(p, `listeners ${label} are one backend service with one health check, and ${keyOf(backend!.metadata)}, on another of their backends, is older`);
    }
    let gw = this.#gwPolicy;
    let timing = this.#timing(gw, backend);
    // A timeout above the merged interval: the more specific policy that broke it does not apply.
    if (timing.timeoutSec > timing.checkIntervalSec && backend !== undefined) {
      this.#t(backend).invalid = `timeoutSec ${timing.timeoutSec} exceeds checkIntervalSec ${timing.checkIntervalSec} once merged over ${gw === undefined ? 'the ILBConfig' : keyOf(gw.metadata)}`;
      backend = undefined;
      timing = this.#timing(gw, undefined);
    }
    if (timing.timeoutSec > timing.checkIntervalSec && gw !== undefined) {
      this.#t(gw).invalid = `timeoutSec ${timing.timeoutSec} exceeds checkIntervalSec ${timing.checkIntervalSec} once merged over the ILBConfig`;
      gw = undefined;
      timing = this.#timing(undefined, undefined);
    }
    if (gw === undefined && backend === undefined) return undefined;
    const used = [gw, backend].filter((p): p is HealthCheckPolicy => p !== undefined);
    for (const p of used) this.#t(p).applied.push(label);
    const config = backend?.spec.default.config ?? gw?.spec.default.config;
    const failover = backend?.spec.default.failover ?? gw?.spec.default.failover;
    const out: GroupPolicy = { policies: used.map((p) => keyOf(p.metadata)), timing };
    if (config !== undefined) {
      const b = blockOf(config);
      const probe: NonNullable<GroupPolicy['probe']> = { type: config.type };
      if (config.type === 'HTTP' || config.type === 'HTTPS' || config.type === 'HTTP2') {
        if (b.requestPath !== undefined) probe.requestPath = b.requestPath;
        if (b.host !== undefined) probe.host = b.host;
        if (b.response !== undefined) probe.response = b.response;
      }
      if (config.type === 'GRPC' && b.grpcServiceName !== undefined) probe.grpcServiceName = b.grpcServiceName;
      out.probe = probe;
      const podPort = b.port ?? b.portName;
      if (podPort !== undefined) out.podPort = podPort;
    }
    if (failover !== undefined) out.failover = failover;
    return out;
  }

  #loss(p: HealthCheckPolicy, why: string): void {
    const t = this.#t(p);
    if (!t.conflicts.includes(why)) t.conflicts.push(why);
  }

  #timing(gw: HealthCheckPolicy | undefined, backend: HealthCheckPolicy | undefined): HealthCheckTiming {
    const t: HealthCheckTiming = { ...this.#base };
    for (const p of [gw, backend]) {
      for (const f of TIMING_FIELDS) {
        const v = p?.spec.default[f];
        if (v !== undefined) t[f] = v;
      }
    }
    return t;
  }

  /**
   * Every policy's entry for this Gateway. `routeBackends`: `namespace/name` of every backendRef of
   * the routes attached to it (a policy naming one that resolved to no backend of its kind is
   * TargetNotFound). A policy neither applying here nor naming such a backend gets no entry (and
   * loses a stale one: `ancestors: []`) when it carried ours.
   */
  statuses(routeBackends: ReadonlySet<string>, groupsBackends: readonly EffectiveBackend[]): PolicyStatusOut[] {
    const gwNs = this.#gw.metadata.namespace ?? '';
    const scope = { namespace: gwNs, name: this.#gw.metadata.name };
    const ancestorRef = { group: GATEWAY_GROUP, kind: 'Gateway', namespace: gwNs, name: this.#gw.metadata.name };
    const out: PolicyStatusOut[] = [];
    for (const p of this.#ctx.healthCheckPolicies) {
      const ns = p.metadata.namespace ?? '';
      const targets = p.spec?.targetRefs ?? [];
      const t = this.#tally.get(keyOf(p.metadata));
      const onGateway = targets.some((x) => targetsGateway(x, ns, this.#gw));
      const onBackend = targets.some((x) => groupsBackends.some((b) => targetsBackend(x, ns, b)));
      const named = targets.filter((x) => x.kind !== 'Gateway' && routeBackends.has(`${ns}/${x.name}`));
      let c;
      if (t?.invalid !== undefined && (onGateway || onBackend || named.length > 0)) c = cond(CondType.Accepted, false, Reason.Invalid, t.invalid);
      else if (t !== undefined && t.conflicts.length > 0) c = cond(CondType.Accepted, false, Reason.Conflicted, `not applied here: ${t.conflicts.join('; ')}`);
      else if (onGateway || onBackend) {
        const where = t === undefined || t.applied.length === 0 ? 'no listener is programmed yet' : `health check of listeners ${t.applied.join(' / ')}`;
        c = cond(CondType.Accepted, true, Reason.Accepted, `applies to Gateway ${gwNs}/${this.#gw.metadata.name}: ${where}`);
      } else if (named.length > 0) {
        const what = named.map((x) => `${x.kind} ${ns}/${x.name}${x.group === '' ? '' : ` (${x.group})`}`).sort(cmp).join(', ');
        c = cond(CondType.Accepted, false, Reason.TargetNotFound, `no route of Gateway ${gwNs}/${this.#gw.metadata.name} has ${what} as a resolved backend`);
      }
      const existing = (p.status?.ancestors ?? []).find(
        (a) => a.controllerName === CONTROLLER_NAME && (a.ancestorRef.namespace ?? ns) === gwNs && a.ancestorRef.name === this.#gw.metadata.name && (a.ancestorRef.kind ?? 'Gateway') === 'Gateway',
      );
      if (c === undefined) {
        if (existing !== undefined) out.push({ namespace: ns, name: p.metadata.name, ancestors: [], scope });
        continue;
      }
      const conditions = stampConditions([c], existing?.conditions, p.metadata.generation, this.#ctx.now);
      out.push({ namespace: ns, name: p.metadata.name, ancestors: [{ ancestorRef, controllerName: CONTROLLER_NAME, conditions }], scope });
    }
    return out;
  }
}

/** `namespace/name` of every backendRef of the routes whose spec names the Gateway as a parent. */
export function routeBackendNames(ctx: Ctx, gw: Gateway): Set<string> {
  const gwNs = gw.metadata.namespace ?? '';
  const out = new Set<string>();
  for (const r of [...ctx.tcpRoutes, ...ctx.udpRoutes]) {
    const rns = r.metadata.namespace ?? '';
    const parent = (r.spec.parentRefs ?? []).some(
      (p) => (p.kind ?? 'Gateway') === 'Gateway' && (p.group ?? GATEWAY_GROUP) === GATEWAY_GROUP && (p.namespace ?? rns) === gwNs && p.name === gw.metadata.name,
    );
    if (!parent) continue;
    for (const rule of r.spec.rules ?? []) for (const b of rule.backendRefs ?? []) out.add(`${b.namespace ?? rns}/${b.name}`);
  }
  return out;
}

/**
 * Our ancestor entries that name a Gateway translate no longer judges (deleted, being deleted, or
 * no longer of a fleet-ilb class): `ancestors: []` scoped to that Gateway, so its reconcile drops
 * them (the controller "should ensure that entries to status populated with their ControllerName
 * are cleaned up when they are no longer necessary", PolicyAncestorStatus).
 */
export function stalePolicyStatuses(ctx: Ctx, judged: ReadonlySet<string>): PolicyStatusOut[] {
  const out: PolicyStatusOut[] = [];
  for (const p of ctx.healthCheckPolicies) {
    const ns = p.metadata.namespace ?? '';
    for (const a of p.status?.ancestors ?? []) {
      if (a.controllerName !== CONTROLLER_NAME || (a.ancestorRef.kind ?? 'Gateway') !== 'Gateway') continue;
      const gw = `${a.ancestorRef.namespace ?? ns}/${a.ancestorRef.name}`;
      if (judged.has(gw)) continue;
      out.push({ namespace: ns, name: p.metadata.name, ancestors: [], scope: { namespace: a.ancestorRef.namespace ?? ns, name: a.ancestorRef.name } });
    }
  }
  return out;
}
