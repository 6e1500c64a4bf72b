// SPDX-License-Identifier: Apache-2.0
//
// What `fleet-ilb plan` and `fleet-ilb status` print: pure text from what the reconcile computes
// (Reconciler.planGateway: translate → render → plan with apply in dry-run mode) and what the health
// reader found. No I/O. Values of changed fields are shown as GCE takes them, with resource URLs
// shortened to `projects/...` and only the parts fleet-ilb sets (plan.ts compares those only).
import type { Condition, Gateway } from '../api/index.ts';
import type { GceApplyResult } from '../infra/gcp/apply.ts';
import type { DesiredGce } from '../infra/gcp/desired.ts';
import { memberCounts, type GatewayHealth } from '../infra/gcp/health.ts';
import { negKey, type Observed } from '../infra/gcp/observe.ts';
import type { PlanStep } from '../infra/gcp/plan.ts';
import type { SweepResult } from '../infra/gcp/sweep.ts';
import type { GatewayIR } from '../ir/types.ts';
import type { GatewayPlan } from '../reconciler.ts';

const SYMBOL: Record<PlanStep['action'], string> = { create: '+', update: '~', patch: '~', recreate: '-/+', delete: '-', endpoints: '~' };

/** The lines of `fleet-ilb plan` for one Gateway. */
export function formatPlan(key: string, p: GatewayPlan): string[] {
  switch (p.kind) {
    case 'absent':
      return [`Gateway ${key}: not found`];
    case 'invalid': {
      const st = p.result.statuses.gateways.find((g) => `${g.namespace}/${g.name}` === key)?.status;
      const bad = (st?.conditions ?? []).filter((c) => c.status !== 'True' && c.type !== 'Programmed');
      return [`Gateway ${key}: not programmable (bad input); no GCE change`, ...bad.map((c) => `  ${c.type}=${c.status} ${c.reason}: ${c.message}`)];
    }
    case 'teardown': {
      const steps = p.teardown.flatMap((t) => t.result.steps.map((s) => ({ ...s, project: s.project ?? t.project })));
      const why = p.gateway.metadata.deletionTimestamp !== undefined ? 'being deleted' : 'no longer of a fleet-ilb class';
      if (steps.length === 0) return [`Gateway ${key}: ${why}; nothing left in GCE`];
      return [`Gateway ${key}: ${why}; ${count(steps.length, 'delete')}`, ...steps.map((s) => `  ${stepLine(s)}`)];
    }
    case 'apply':
      return formatApplyPlan(key, p.desired, p.apply);
  }
}

function formatApplyPlan(key: string, desired: DesiredGce, a: GceApplyResult): string[] {
  const head = `Gateway ${key} (project ${desired.project}, region ${desired.region})`;
  if (a.readFailed) return [`${head}: GCE could not be read, nothing planned: ${String((a.error as Error | undefined)?.message ?? a.error)}`];
  const out: string[] = [];
  const problems = [
    ...a.plan.conflicts.map((c) => `! conflict: ${c.kind} ${c.name}${c.scope === undefined ? '' : ` (${c.scope})`} is held by ${c.owner}; nothing is written while it is`),
    ...a.plan.addressProblems.map((m) => `! address: ${m}; nothing is written while it is`),
    ...a.plan.blocked.map((b) => `! blocked: NEG ${b.zone}/${b.name} must be re-created (${b.fields.join(', ')}) but ${b.referencedBy.join(', ')} still use it`),
  ];
  const steps = a.plan.steps;
  out.push(`${head}: ${steps.length === 0 ? 'no changes' : count(steps.length, 'change')}${problems.length > 0 ? `, ${count(problems.length, 'problem')}` : ''}`);
  for (const m of problems) out.push(`  ${m}`);
  const planned = a.planned ?? desired;
  for (const s of steps) {
    out.push(`  ${stepLine(s)}`);
    if (s.kind === 'networkEndpointGroup' && (s.attach !== undefined || s.detach !== undefined)) {
      const eps = (xs: typeof s.attach): string => (xs ?? []).map((e) => `${e.instance ?? '?'} (${e.ipAddress ?? '?'})`).join(', ');
      if ((s.attach ?? []).length > 0) out.push(`      attach ${eps(s.attach)}`);
      if ((s.detach ?? []).length > 0) out.push(`      detach ${eps(s.detach)}`);
    }
    if (a.observed !== undefined) for (const f of s.fields ?? []) out.push(`      ${fieldDiff(s, f, planned, a.observed)}`);
  }
  return out;
}

function stepLine(s: PlanStep): string {
  const where = s.scope === undefined ? '' : ` (${s.scope})`;
  const why = s.reason === undefined ? '' : ` — ${s.reason}`;
  const fields = s.fields !== undefined && s.fields.length > 0 && s.action !== 'endpoints' ? ` [${s.fields.join(', ')}]` : '';
  return `${SYMBOL[s.action]} ${s.action} ${s.kind} ${s.name}${where}${fields}${why}`;
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** `field: <live> -> <desired>` for one changed field of a step. */
export function fieldDiff(s: PlanStep, field: string, desired: DesiredGce, observed: Observed): string {
  const want = desiredOf(s, desired) as Record<string, unknown> | undefined;
  const live = liveOf(s, desired, observed) as Record<string, unknown> | undefined;
  const d = want?.[field];
  return `${field}: ${show(project(d, live?.[field]))} -> ${show(d)}`;
}

function desiredOf(s: PlanStep, d: DesiredGce): object | undefined {
  switch (s.kind) {
    case 'address':
      return d.address;
    case 'healthCheck':
      return d.healthChecks.find((x) => x.name === s.name);
    case 'backendService':
      return d.backendServices.find((x) => x.name === s.name);
    case 'forwardingRule':
      return d.forwardingRules.find((x) => x.name === s.name);
    case 'firewall':
      return d.firewalls.find((x) => x.name === s.name);
    case 'networkEndpointGroup':
      return d.negs.find((x) => x.neg.name === s.name && x.zone === s.scope)?.neg;
  }
}

function liveOf(s: PlanStep, d: DesiredGce, o: Observed): object | undefined {
  switch (s.kind) {
    case 'address':
      return o.address.get(s.name);
    case 'healthCheck':
      return o.healthCheck.get(s.name);
    case 'backendService':
      return o.backendService.get(s.name);
    case 'forwardingRule':
      return o.forwardingRule.get(s.name);
    case 'firewall':
      return o.firewall.get(s.name);
    case 'networkEndpointGroup':
      return o.networkEndpointGroup.get(negKey(s.project ?? d.project, s.scope ?? '', s.name))?.neg;
  }
}

/** The live value cut to the shape of the desired one (decoded protos carry defaults and virtual keys). */
function project(desired: unknown, live: unknown): unknown {
  if (live === undefined || live === null) return live;
  if (Array.isArray(live)) {
    const shape: unknown = Array.isArray(desired) ? (desired as unknown[]).find((x) => typeof x === 'object' && x !== null) : undefined;
    return (live as unknown[]).map((x) => (shape === undefined ? clean(x) : project(shape, x)));
  }
  if (typeof live === 'object' && typeof desired === 'object' && desired !== null && !Array.isArray(desired)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(desired)) {
      const v = (live as Record<string, unknown>)[k];
      if (v !== undefined && v !== null) out[k] = project((desired as Record<string, unknown>)[k], v);
    }
    return out;
  }
  return live;
}

/** A live value without the decoder's virtual keys (`_name`) and empty defaults. */
function clean(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clean);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith('_') || x === undefined || x === null || (Array.isArray(x) && x.length === 0)) continue;
    out[k] = clean(x);
  }
  return out;
}

function show(v: unknown): string {
  if (v === undefined || v === null) return '(unset)';
  const s = JSON.stringify(v).replaceAll(/https?:\/\/[^"]*?\/(projects\/)/g, '$1');
  return s.length > 240 ? `${s.slice(0, 237)}...` : s;
}

/** The lines of `fleet-ilb plan` for the orphan sweep (resources of this fleet no Gateway owns). */
export function formatSweep(sweeps: ReadonlyArray<{ project: string; result: SweepResult }>): string[] {
  const orphans = sweeps.flatMap((x) => x.result.orphans);
  const young = sweeps.reduce((n, x) => n + x.result.skippedYoung, 0);
  const failed = sweeps.flatMap((x) => x.result.errors.map((e) => `${x.project}: ${String((e as Error | undefined)?.message ?? e)}`));
  const out = [`Orphans (this fleet's, owned by no Gateway; the periodic sweep deletes them): ${orphans.length === 0 ? 'none' : count(orphans.length, 'delete')}`];
  for (const o of orphans) out.push(`  - delete ${o.kind} ${o.name}${o.scope === undefined ? '' : ` (${o.scope})`} — left by Gateway ${o.stamp.gateway} (uid ${o.stamp.gatewayUid})`);
  if (young > 0) out.push(`  ${count(young, 'more')} younger than the sweep's minimum age (in-flight creates) left alone for now`);
  for (const f of failed) out.push(`  ! not read: ${f}`);
  return out;
}

// ---- status ---------------------------------------------------------------------------------

/** What `fleet-ilb status` prints for one Gateway (everything already read). */
export interface StatusInput {
  key: string;
  gateway: Gateway;
  plan: GatewayPlan;
  health?: GatewayHealth;
  members: Array<{ clusterID: string; fleetMember: string; state: string; message?: string; frozen: boolean }>;
}

/** A left-aligned table: a header row and rows, columns two spaces apart. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

function condText(c: Condition): string {
  return `${c.type}=${c.status} (${c.reason})${c.status === 'True' ? '' : `: ${c.message}`}`;
}

/** The lines of `fleet-ilb status`. */
export function formatStatus(s: StatusInput): string[] {
  const gw = s.gateway;
  const out: string[] = [];
  const vip = gw.status?.addresses?.[0]?.value ?? (s.plan.kind === 'apply' ? s.plan.apply.vip : undefined);
  out.push(`Gateway ${s.key}  class ${gw.spec.gatewayClassName}  generation ${gw.metadata.generation ?? '?'}`);
  out.push(`  VIP: ${vip ?? '(none yet)'}`);
  if (s.plan.kind === 'apply') {
    const n = s.plan.apply.plan.steps.length;
    const gce = s.plan.apply.readFailed ? 'GCE could not be read' : n === 0 ? 'in sync with the clusters' : `${count(n, 'pending change')} (fleet-ilb plan --gateway ${s.key})`;
    out.push(`  GCE: project ${s.plan.desired.project}, region ${s.plan.desired.region}; ${gce}`);
  } else if (s.plan.kind !== 'absent') {
    out.push(`  GCE: ${formatPlan(s.key, s.plan)[0]!.replace(`Gateway ${s.key}: `, '')}`);
  }
  out.push('  Conditions:');
  for (const c of gw.status?.conditions ?? []) out.push(`    ${condText(c)}`);

  const ir: GatewayIR | undefined = s.plan.kind === 'apply' ? s.plan.ir : undefined;
  out.push('', 'Listeners');
  const frOf = new Map((ir?.listeners ?? []).map((l) => [l.name, l] as const));
  out.push(
    ...indent(
      table(
        ['NAME', 'PROTOCOL', 'PORT', 'ROUTES', 'ROUTE', 'PROGRAMMED', 'FORWARDING RULE'],
        gw.spec.listeners.map((l) => {
          const st = gw.status?.listeners?.find((x) => x.name === l.name);
          const programmed = st?.conditions?.find((c) => c.type === 'Programmed');
          const lir = frOf.get(l.name);
          const route = lir?.route === undefined ? '-' : `${lir.route.kind} ${lir.route.namespace}/${lir.route.name}`;
          return [l.name, l.protocol, String(l.port), String(st?.attachedRoutes ?? 0), route, programmed === undefined ? '-' : `${programmed.status}`, lir?.forwardingRule ?? '-'];
        }),
      ),
    ),
  );

  out.push('', 'Members');
  out.push(...indent(table(['MEMBER', 'FLEETMEMBER', 'STATE', 'DATA'], s.members.map((m) => [m.clusterID, m.fleetMember, m.state, m.frozen ? `frozen (last known)${m.message === undefined ? '' : `: ${m.message}`}` : 'live']))));

  out.push('', 'Backends (NEG endpoints and their health in GCE)');
  if (s.health === undefined || s.health.services.length === 0) {
    out.push('  (none)');
  } else {
    const rows: string[][] = [];
    for (const svc of s.health.services) {
      for (const b of svc.backends) {
        const eps = b.endpoints ?? [];
        const base = [svc.listeners.join(',') || '-', svc.backendService, b.cluster || '?', b.zone, b.neg];
        if (eps.length === 0) rows.push([...base, '-', '-', b.error !== undefined ? `not read: ${b.error}` : b.endpoints === undefined ? 'not read' : 'no endpoints']);
        for (const e of eps) rows.push([...base, e.instance, e.ipAddress, e.state + (e.detail === undefined ? '' : ` (${e.detail.join(',')})`)]);
      }
    }
    out.push(...indent(table(['LISTENERS', 'BACKEND SERVICE', 'MEMBER', 'ZONE', 'NEG', 'INSTANCE', 'IP', 'HEALTH'], rows)));
    const counts = memberCounts(s.health).map((c) => `${c.cluster} ${c.healthy}/${c.total}`);
    out.push(`  healthy/total per member: ${counts.length > 0 ? counts.join(', ') : 'no endpoints'}`);
  }

  if (s.plan.kind === 'apply') {
    out.push('', 'GCE resources');
    out.push(...indent(table(['KIND', 'NAME', 'SCOPE', 'STATE'], resourceRows(s.plan.desired, s.plan.apply))));
  }
  return out;
}

function indent(lines: string[]): string[] {
  return lines.map((l) => `  ${l}`);
}

/** Every resource the Gateway should have, with whether GCE holds it as wanted. */
function resourceRows(d: DesiredGce, a: GceApplyResult): string[][] {
  const o = a.observed;
  const steps = new Map(a.plan.steps.map((s) => [`${s.kind}/${s.scope ?? ''}/${s.name}`, s] as const));
  const state = (kind: PlanStep['kind'], scope: string | undefined, name: string, exists: boolean): string => {
    const s = steps.get(`${kind}/${scope ?? ''}/${name}`);
    if (s === undefined) return exists ? 'ok' : 'missing';
    if (s.action === 'create') return 'missing (would be created)';
    if (s.action === 'endpoints') return 'endpoints differ';
    return `${s.action} needed${s.fields === undefined || s.fields.length === 0 ? '' : ` (${s.fields.join(', ')})`}`;
  };
  const rows: string[][] = [];
  rows.push(['address', d.address.name, d.region, state('address', d.region, d.address.name, o?.address.has(d.address.name) === true) + (a.vip === undefined ? '' : ` ${a.vip}`)]);
  for (const x of d.healthChecks) rows.push(['healthCheck', x.name, d.region, state('healthCheck', d.region, x.name, o?.healthCheck.has(x.name) === true)]);
  for (const n of d.negs) {
    const exists = o?.networkEndpointGroup.has(negKey(n.project ?? d.project, n.zone, n.neg.name)) === true;
    rows.push(['networkEndpointGroup', n.neg.name, n.zone, `${state('networkEndpointGroup', n.zone, n.neg.name, exists)}; ${count(n.endpoints.length, 'endpoint')}${n.frozen ? ', frozen' : ''}`]);
  }
  for (const x of d.backendServices) rows.push(['backendService', x.name, d.region, state('backendService', d.region, x.name, o?.backendService.has(x.name) === true)]);
  for (const x of d.forwardingRules) rows.push(['forwardingRule', x.name, d.region, `${state('forwardingRule', d.region, x.name, o?.forwardingRule.has(x.name) === true)}; ${x.IPProtocol ?? ''} ${(x.ports ?? []).join(',')}`]);
  for (const x of d.firewalls) rows.push(['firewall', x.name, 'global', state('firewall', undefined, x.name, o?.firewall.has(x.name) === true)]);
  for (const s of a.plan.steps.filter((x) => x.action === 'delete')) rows.push([s.kind, s.name, s.scope ?? 'global', 'stale (would be deleted)']);
  return rows;
}
