// SPDX-License-Identifier: Apache-2.0
//
// Fault injection, modelled on k8s-cloud-provider's per-method `*Error` maps and hooks (battery A1, docs/failure-rules.md;
// conventions): rules matched by method name and/or path, limited by count or drawn with a seeded PRNG so a failing
// run replays with the same `randomSeed`.

import { ApiError } from './errors.ts';
import { Rng } from './rng.ts';
import type { ChaosKind, FaultAction, FaultSpec, FaultState } from './types.ts';

/** What a call looks like to the matcher. */
export interface FaultTarget {
  method: string;
  path: string;
  httpMethod: string;
  caller?: string;
  /** The resource the call is about (see FaultSpec `resource`), if any. */
  resource?: string;
  /** A read or a write (mutation); chaos picks only faults that fit. Defaults to read. */
  access?: 'read' | 'write' | 'admin';
}

/** Every chaos kind, in the order the PRNG indexes them. */
export const CHAOS_KINDS: readonly ChaosKind[] = [
  '500',
  '503',
  '429',
  '403-rate',
  '403-quota',
  'timeout-applied',
  'timeout-lost',
  'op-error',
  'op-quota',
  'op-not-ready',
  '409-applied',
  '404-delete',
  '400-in-use',
  'latency',
];

/** True when chaos kind `k` makes sense for the call `t`. */
function chaosFits(k: ChaosKind, t: FaultTarget): boolean {
  const write = t.access === 'write';
  const verb = t.method.slice(t.method.lastIndexOf('.') + 1);
  switch (k) {
    case 'op-error':
    case 'op-quota':
    case 'op-not-ready':
      return write;
    case '409-applied':
      return write && verb === 'insert';
    case '404-delete':
    case '400-in-use':
      return write && verb === 'delete';
    default:
      return true;
  }
}

/** The concrete action of chaos kind `k` (the battery's A1 fault list, in the real API's shapes). */
export function chaosAction(k: ChaosKind, opts: { latencyMs?: number; hangMs?: number } = {}): FaultAction {
  const hang = opts.hangMs ?? 2_000;
  switch (k) {
    case '500':
      return { kind: 'http', status: 500 };
    case '503':
      return { kind: 'http', status: 503 };
    case '429':
      return { kind: 'http', status: 429, reason: 'rateLimitExceeded' };
    case '403-rate':
      return { kind: 'http', status: 403, reason: 'rateLimitExceeded' };
    case '403-quota':
      return { kind: 'http', status: 403, reason: 'quotaExceeded' };
    case 'timeout-applied':
      return { kind: 'timeout', applied: true, mode: 'hang', ms: hang };
    case 'timeout-lost':
      return { kind: 'timeout', applied: false, mode: 'hang', ms: hang };
    case 'op-error':
      return { kind: 'operationError', code: 'INTERNAL_ERROR' };
    case 'op-quota':
      return { kind: 'operationError', code: 'QUOTA_EXCEEDED' };
    case 'op-not-ready':
      return { kind: 'operationError', code: 'RESOURCE_NOT_READY' };
    case '409-applied':
      return { kind: 'http', status: 409, reason: 'alreadyExists', applied: true };
    case '404-delete':
      return { kind: 'http', status: 404, reason: 'notFound', applied: true };
    case '400-in-use':
      return { kind: 'http', status: 400, reason: 'resourceInUseByAnotherResource' };
    case 'latency':
      return { kind: 'latency', ms: opts.latencyMs ?? 2_000 };
  }
}

/** A fired rule: the rule's state, with the concrete action (a chaos rule's drawn fault). */
export type FiredFault = FaultState & { chaosKind?: ChaosKind };

function globToRegex(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/** Checks a fault spec (admin endpoint input is untrusted JSON). */
export function validateFault(f: FaultSpec): void {
  const a = f.action as FaultSpec['action'] | undefined;
  if (a === undefined || typeof a !== 'object') throw new Error('fault: action is required');
  switch (a.kind) {
    case 'http':
      if (!Number.isInteger(a.status) || a.status < 400 || a.status > 599) throw new Error('fault: http status must be 4xx/5xx');
      break;
    case 'latency':
      if (!(a.ms >= 0)) throw new Error('fault: latency ms must be >= 0');
      break;
    case 'operationError':
      if (typeof a.code !== 'string' || a.code === '') throw new Error('fault: operationError needs a code');
      break;
    case 'timeout':
      if (typeof a.applied !== 'boolean') throw new Error('fault: timeout needs applied: boolean');
      break;
    case 'chaos':
      if (!(a.rate >= 0 && a.rate <= 1)) throw new Error('fault: chaos rate must be in [0,1]');
      for (const k of a.kinds ?? []) if (!CHAOS_KINDS.includes(k)) throw new Error(`fault: unknown chaos kind ${String(k)}`);
      break;
    default:
      throw new Error(`fault: unknown action kind ${String((a as { kind?: unknown }).kind)}`);
  }
  if (f.probability !== undefined && !(f.probability >= 0 && f.probability <= 1)) throw new Error('fault: probability must be in [0,1]');
  if (f.path !== undefined) new RegExp(f.path);
  if (f.resource !== undefined) new RegExp(f.resource);
}

/** The registry of active faults. */
export class Faults {
  private readonly rules: FaultState[] = [];
  private readonly rng: Rng;
  /** Chaos rules with their own seed. */
  private readonly ruleRngs = new Map<string, Rng>();
  private next = 1;

  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  /** Adds a rule; returns its id. */
  inject(spec: FaultSpec): string {
    validateFault(spec);
    const id = `f${this.next++}`;
    this.rules.push({ ...structuredClone(spec), id, fired: 0, matched: 0 });
    return id;
  }

  /** Removes one rule, or all. */
  clear(id?: string): void {
    if (id === undefined) this.rules.length = 0;
    else {
      const i = this.rules.findIndex((r) => r.id === id);
      if (i >= 0) this.rules.splice(i, 1);
    }
  }

  /** The rules with their counters. */
  list(): FaultState[] {
    return this.rules.map((r) => structuredClone(r));
  }

  /** The rules that fire for a call (counters updated), in insertion order. */
  fire(t: FaultTarget): FiredFault[] {
    const out: FiredFault[] = [];
    for (const r of this.rules) {
      if (r.method !== undefined && !globToRegex(r.method).test(t.method)) continue;
      if (r.path !== undefined && !new RegExp(r.path).test(t.path)) continue;
      if (r.httpMethod !== undefined && r.httpMethod.toUpperCase() !== t.httpMethod) continue;
      if (r.caller !== undefined && r.caller !== t.caller) continue;
      if (r.resource !== undefined && !new RegExp(r.resource).test(t.resource ?? '')) continue;
      r.matched++;
      if (r.skip !== undefined && r.matched <= r.skip) continue;
      if (r.times !== undefined && r.fired >= r.times) continue;
      if (r.probability !== undefined && this.rng.next() >= r.probability) continue;
      if (r.action.kind === 'chaos') {
        const a = r.action;
        // Two draws per matching call, whether or not it fires, so a seed replays the same faults
        // for the same sequence of calls.
        const rng = a.seed === undefined ? this.rng : (this.ruleRngs.get(r.id) ?? this.ruleRngs.set(r.id, new Rng(a.seed)).get(r.id)!);
        const hit = rng.next() < a.rate;
        const pick = rng.next();
        if (!hit) continue;
        const fits = (a.kinds ?? CHAOS_KINDS).filter((k) => chaosFits(k, t));
        const k = fits[Math.floor(pick * fits.length)];
        if (k === undefined) continue;
        r.fired++;
        out.push({ ...r, action: chaosAction(k, a), chaosKind: k });
        continue;
      }
      r.fired++;
      out.push(r);
    }
    return out;
  }
}

/** Default reason and message of an injected HTTP error, in the real API's words. */
export function httpFaultError(a: { status: number; reason?: string; message?: string }, target: string): ApiError {
  const reason =
    a.reason ??
    ({ 400: 'invalid', 403: 'rateLimitExceeded', 404: 'notFound', 409: 'alreadyExists', 412: 'conditionNotMet', 429: 'rateLimitExceeded' } as Record<number, string>)[
      a.status
    ] ??
    'backendError';
  const defaults: Record<string, string> = {
    // compute/docs/api-rate-limits: over the per-minute quota the API answers 403 rateLimitExceeded.
    rateLimitExceeded: a.status === 429
      ? "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service 'compute.googleapis.com' for consumer 'project_number:000000000000'."
      : 'Rate Limit Exceeded',
    // Shape from the public reports of kubernetes/kubernetes#17464: "Quota 'BACKEND_SERVICES' exceeded. Limit: 5.0".
    quotaExceeded: "Quota 'BACKEND_SERVICES' exceeded.  Limit: 75.0 globally.",
    notFound: `The resource '${target}' was not found`,
    alreadyExists: `The resource '${target}' already exists`,
    resourceInUseByAnotherResource: `The resource '${target}' is already being used by another resource`,
    conditionNotMet: 'Invalid fingerprint.',
    resourceNotReady: `The resource '${target}' is not ready`,
    forbidden: `Required permission for '${target}' is missing.`,
    backendError:
      a.status === 503 ? 'The service is currently unavailable.' : "Internal error. Please try again or contact Google Support. (Code: '0000000000000000')",
  };
  const domain = reason === 'rateLimitExceeded' || reason === 'quotaExceeded' ? 'usageLimits' : 'global';
  return new ApiError(a.status, reason, a.message ?? defaults[reason] ?? `Injected error ${a.status}`, { domain });
}

/** The error an injected operation failure carries. */
export function operationFaultError(a: { code: string; message?: string; httpStatus?: number }, target: string): ApiError {
  const status =
    a.httpStatus ??
    ({
      QUOTA_EXCEEDED: 403,
      RATE_LIMIT_EXCEEDED: 403,
      RESOURCE_NOT_READY: 400,
      RESOURCE_IN_USE_BY_ANOTHER_RESOURCE: 400,
      RESOURCE_ALREADY_EXISTS: 409,
      IP_IN_USE_BY_ANOTHER_RESOURCE: 409,
      RESOURCE_NOT_FOUND: 404,
      CONDITION_NOT_MET: 412,
      INTERNAL_ERROR: 500,
    } as Record<string, number>)[a.code] ??
    400;
  const defaults: Record<string, string> = {
    QUOTA_EXCEEDED: "Quota 'BACKEND_SERVICES' exceeded.  Limit: 75.0 globally.",
    RESOURCE_NOT_READY: `The resource '${target}' is not ready`,
    INTERNAL_ERROR: 'Internal error. Please try again or contact Google Support.',
  };
  return new ApiError(status, a.code.toLowerCase(), a.message ?? defaults[a.code] ?? `Injected operation error ${a.code}`, {
    opCode: a.code,
  });
}
