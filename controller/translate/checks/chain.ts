// SPDX-License-Identifier: Apache-2.0
//
// Checks as ordered chains of small pure functions (after cert-manager policies.Chain):
// each returns a failure or undefined; the first failure wins, so chain order = condition priority.

export interface Failure {
  reason: string;
  message: string;
}

export type Check<I> = (input: I) => Failure | undefined;

/** Runs checks in order; returns the first failure, or undefined when every check passes. */
export function firstFailure<I>(checks: ReadonlyArray<Check<I>>, input: I): Failure | undefined {
  for (const check of checks) {
    const f = check(input);
    if (f !== undefined) return f;
  }
  return undefined;
}
