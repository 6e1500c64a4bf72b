// SPDX-License-Identifier: Apache-2.0
//
// translate(snapshot) -> { gateways: GatewayIR[], statuses }: every Gateway API v1.6 (TCP/UDP) and
// MCS rule fleet-ilb implements, as one pure function (docs/architecture.md; translate/DECISIONS.md). No I/O; the only
// impurity is the default clock, which callers (and every golden) pass in.
//
// Phases, in order (each a family of small checks in checks/):
//   1. ILBConfigs parsed (zod), GatewayClasses judged (parameters, bundle version)
//   2. MCS import: ServiceImports merged from ServiceExports (mcs.ts)
//   3. Gateways: parameters, addresses, listeners (checks/gateway.ts, checks/listeners.ts)
//   4. Routes: attachment and backend resolution (checks/routes.ts, checks/backends.ts)
//   5. IR per Gateway: groups, forwarding rules, NEG node sets, VIP Services, firewall (build.ts)
//   6. Statuses (status.ts)
import type { Gateway, GatewayClass, TCPRoute, UDPRoute } from '../api/index.ts';
import type { GatewayIR } from '../ir/types.ts';
import { validate } from '../ir/validate.ts';
import { CONTROLLER_NAME } from '../naming/stamp.ts';
import { Reason } from '../status/conditions.ts';
import type { Snapshot } from '../snapshot/types.ts';
import type { Failure } from './checks/chain.ts';
import type { ParamsVerdict } from './checks/gateway.ts';
import { bundleVersionSupported, classParams, gatewayAddress, gatewayParams, parseILBConfigs } from './checks/gateway.ts';
import { evaluateListeners } from './checks/listeners.ts';
import type { ListenerState } from './checks/listeners.ts';
import type { GatewayForRoutes, RouteEval } from './checks/routes.ts';
import { evaluateRoutes } from './checks/routes.ts';
import { buildContext } from './context.ts';
import { buildGatewayIR, routeKey } from './build.ts';
import { hcPortAllocator } from './hcports.ts';
import { computeMcs } from './mcs.ts';
import { PolicyJudge, routeBackendNames, stalePolicyStatuses } from './policy.ts';
import type { PolicyStatusOut } from './policy.ts';
import { gatewayServing } from './serving.ts';
import type { ClassVerdict, GatewayWork } from './status.ts';
import {
  fleetMemberStatuses,
  gatewayClassStatus,
  gatewayStatus,
  ilbConfigStatuses,
  routeStatuses,
} from './status.ts';
import type { InvalidGateway, RouteStatusOut, TranslateOptions, TranslateResult } from './types.ts';

export type * from './types.ts';

function judgeClass(snapshot: Snapshot, results: ReturnType<typeof parseILBConfigs>, gc: GatewayClass): ClassVerdict {
  const params: ParamsVerdict = classParams(results, gc);
  const version = snapshot.crdBundleVersion;
  const versionOk = version === undefined ? undefined : bundleVersionSupported(version);
  let failure: Failure | undefined;
  if (params.ok === false) failure = params.failure;
  else if (versionOk === false) {
    failure = { reason: Reason.UnsupportedVersion, message: `Gateway API CRD bundle ${version} is not supported (need v1.6 or later v1)` };
  }
  const message =
    params.ok === 'none'
      ? 'accepted without parametersRef: every Gateway must name an ILBConfig in spec.infrastructure.parametersRef'
      : params.ok
        ? `using ILBConfig ${params.settings.source}`
        : '';
  return { name: gc.metadata.name, gc, params, failure, message, versionOk, version };
}

/**
 * Routes that no longer name any Gateway of ours but still carry our parent entries (their
 * parentRef moved elsewhere, or our Gateway is gone): emitted with `parents: []` so the writer
 * drops our entries. Routes never touched by us are not listed.
 */
function staleRouteStatuses(ctx: ReturnType<typeof buildContext>, evaluated: ReadonlyMap<string, RouteEval>): RouteStatusOut[] {
  const out: RouteStatusOut[] = [];
  const all: Array<['TCPRoute' | 'UDPRoute', TCPRoute | UDPRoute]> = [
    ...ctx.tcpRoutes.map((r): ['TCPRoute', TCPRoute] => ['TCPRoute', r]),
    ...ctx.udpRoutes.map((r): ['UDPRoute', UDPRoute] => ['UDPRoute', r]),
  ];
  for (const [kind, r] of all) {
    const ns = r.metadata.namespace ?? '';
    if (evaluated.has(routeKey(kind, ns, r.metadata.name))) continue;
    if (!(r.status?.parents ?? []).some((p) => p.controllerName === CONTROLLER_NAME)) continue;
    out.push({ kind, namespace: ns, name: r.metadata.name, parents: [] });
  }
  return out;
}

/** Translates a snapshot into IR and statuses. Pure; never throws on valid API objects. */
export function translate(snapshot: Snapshot, opts: TranslateOptions = {}): TranslateResult {
  const now = opts.now ?? new Date().toISOString();
  const ctx = buildContext(snapshot, now);
  if (opts.nodeVms !== undefined) ctx.nodeVms = opts.nodeVms;
  const ilb = parseILBConfigs(ctx, opts.ilbConfigProblems);
  const classes = new Map<string, ClassVerdict>();
  for (const gc of ctx.gatewayClasses) {
    if (gc.spec.controllerName !== CONTROLLER_NAME) continue;
    classes.set(gc.metadata.name, judgeClass(snapshot, ilb, gc));
  }
  const mcs = computeMcs(ctx);

  // Gateways of our classes (being deleted = the runtime tears them down; no IR, no status).
  const work: GatewayWork[] = [];
  const forRoutes = new Map<string, GatewayForRoutes>();
  for (const gw of ctx.gateways) {
    const cls = classes.get(gw.spec.gatewayClassName);
    if (cls === undefined || gw.metadata.deletionTimestamp !== undefined) continue;
    const w = judgeGateway(ilb, gw, cls);
    work.push(w);
    forRoutes.set(w.key, { key: w.key, namespace: gw.metadata.namespace ?? '', listeners: w.listeners });
  }

  const routes = evaluateRoutes(ctx, mcs, forRoutes);
  const routeMap = new Map<string, RouteEval>(routes.map((r) => [routeKey(r.kind, r.namespace, r.name), r]));
  const hcPorts = hcPortAllocator(ctx);
  const gateways: GatewayIR[] = [];
  const invalidGateways: InvalidGateway[] = [];
  const policyStatuses: PolicyStatusOut[] = [];
  for (const w of work) {
    if (w.failure === undefined && w.settings !== undefined && w.address !== undefined && anyValid(w.listeners)) {
      const policies = new PolicyJudge(ctx, w.gateway, w.settings.healthCheck);
      const ir = buildGatewayIR({ ctx, gateway: w.gateway, settings: w.settings, address: w.address, listeners: w.listeners, routes: routeMap, hcPorts, policies });
      const errors = validate(ir);
      if (errors.length === 0) {
        w.ir = ir;
        gateways.push(ir);
        policyStatuses.push(...policies.statuses(routeBackendNames(ctx, w.gateway), ir.listeners.flatMap((l) => l.backends)));
      } else {
        w.irErrors = errors.map((e) => `${e.code}: ${e.message}`);
      }
    }
    if (w.ir === undefined) {
      const f = w.failure ?? { reason: w.irErrors === undefined ? Reason.ListenersNotValid : Reason.Invalid, message: w.irErrors?.join('; ') ?? 'no valid listener' };
      invalidGateways.push({ key: w.key, uid: w.gateway.metadata.uid ?? '', reason: f.reason, message: f.message });
    }
  }
  for (const w of work) if (w.ir !== undefined) w.serving = gatewayServing(ctx, w.ir);
  let fleetMembers: ReturnType<typeof fleetMemberStatuses> | undefined;
  policyStatuses.push(...stalePolicyStatuses(ctx, new Set(work.map((w) => w.key))));

  return {
    gateways,
    invalidGateways,
    statuses: {
      gatewayClasses: [...classes.values()].map((c) => ({ name: c.name, status: gatewayClassStatus(ctx, c) })),
      gateways: work.map((w) => ({ namespace: w.gateway.metadata.namespace ?? '', name: w.gateway.metadata.name, status: gatewayStatus(ctx, w) })),
      routes: [...routeStatuses(ctx, routes, work), ...staleRouteStatuses(ctx, routeMap)],
      // Evaluated when read: only the global pass writes them, and a Gateway's reconcile (a scoped
      // snapshot) would otherwise judge every Node of every member for nothing.
      get fleetMembers() {
        return (fleetMembers ??= fleetMemberStatuses(ctx, ilb));
      },
      ilbConfigs: ilbConfigStatuses(ctx, ilb),
      serviceImports: mcs.desiredImports,
      serviceExports: mcs.exportStatuses,
      ...(policyStatuses.length === 0 ? {} : { healthCheckPolicies: policyStatuses }),
    },
  };
}

function anyValid(ls: readonly ListenerState[]): boolean {
  return ls.some((l) => l.rejected === undefined);
}

function judgeGateway(ilb: ReturnType<typeof parseILBConfigs>, gw: Gateway, cls: ClassVerdict): GatewayWork {
  const key = `${gw.metadata.namespace ?? ''}/${gw.metadata.name}`;
  const listeners = evaluateListeners(gw);
  const w: GatewayWork = { key, gateway: gw, listeners, failure: undefined };
  const params = gatewayParams(ilb, gw, { accepted: cls.failure === undefined, params: cls.params, name: cls.name, message: cls.message });
  if (!params.ok) {
    w.failure = params.failure;
    return w;
  }
  w.settings = params.settings;
  const addr = gatewayAddress(gw);
  if (!addr.ok) {
    w.failure = addr.failure;
    return w;
  }
  w.address = addr.request;
  return w;
}
