// SPDX-License-Identifier: Apache-2.0
//
// outcomeOf: what a failed GCE read means for Programmed (issue 13: a Gateway failing on a bad
// project must say so, and when it retries, instead of keeping the last word forever).
import { describe, expect, it } from 'vitest';
import type { GceApplyResult } from './infra/gcp/apply.ts';
import { classifyCallError } from './infra/gcp/cloud/errors.ts';
import { outcomeOf } from './reconciler.ts';

const gax = (status: number, message: string): Error => Object.assign(new Error(message), { httpStatusCode: status });
const readFailed = (err: unknown): GceApplyResult => ({ programmed: false, forwardingRules: [], changes: 0, writes: [], error: err, errors: [err], readFailed: true }) as unknown as GceApplyResult;

const noProject = classifyCallError(gax(404, "The resource 'projects/typo' was not found"), 'Addresses.list');
const denied = classifyCallError(gax(403, "Required 'compute.addresses.list' permission for 'projects/p'"), 'Addresses.list');
const unavailable = classifyCallError(gax(503, 'Service Unavailable'), 'Addresses.list');

describe('outcomeOf a failed read', () => {
  it('a project that does not exist is Programmed=False/Invalid with GCE’s message, programmed before or not', () => {
    for (const programmedNow of [false, true]) {
      expect(outcomeOf(readFailed(noProject), programmedNow)).toMatchObject({ kind: 'applied', ready: false, reason: 'Invalid', message: expect.stringContaining("projects/typo' was not found") });
    }
  });
  it('a refused read (permission) says so on a Gateway not programmed yet; a programmed one keeps its last word', () => {
    expect(outcomeOf(readFailed(denied), false)).toMatchObject({ kind: 'applied', ready: false, reason: 'Invalid' });
    expect(outcomeOf(readFailed(denied), true)).toMatchObject({ kind: 'unknown' });
  });
  it('a transient read failure is not news about the load balancer', () => {
    expect(outcomeOf(readFailed(unavailable), false)).toMatchObject({ kind: 'unknown' });
  });
});
