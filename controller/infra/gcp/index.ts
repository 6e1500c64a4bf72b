// SPDX-License-Identifier: Apache-2.0
//
// What the controller wiring uses from the GCE side. The per-kind modules
// (address.ts, healthCheck.ts, neg.ts, backendService.ts, forwardingRule.ts, firewall.ts) are
// exported too, for tools and tests that need a single ensure/delete/equal.
export { GceCloud, MAX_ENDPOINTS_PER_CALL } from './cloud/client.ts';
export type { ComputeClientOptions, GceCallEvent, GceCloudOptions, Kind } from './cloud/client.ts';
export { DEFAULT_RATE_LIMITS, parseRateLimitFlags } from './cloud/ratelimit.ts';
export type { RateLimit, RateLimitConfig } from './cloud/ratelimit.ts';
export {
  GceTransientError,
  GceUserError,
  QUOTA_BACKOFF_MS,
  gceCategory,
  gceInfo,
  isGceCategory,
  withResource,
} from './cloud/errors.ts';
export type { GceErrorCategory, GceErrorInfo, ResourceRef } from './cloud/errors.ts';
export { applyGce, teardownGce } from './apply.ts';
export type { GatewayIdentity, GceApplyDeps, GceApplyResult, GceTeardownResult } from './apply.ts';
export { sweep, sweepGce } from './sweep.ts';
export type { SweepDeps, SweepResult } from './sweep.ts';
export { PHASES, WAVES, describePlan, planGce } from './plan.ts';
export type { GcePlan, Phase, PlanStep } from './plan.ts';
export type { WriteNote } from './context.ts';
