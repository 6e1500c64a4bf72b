// SPDX-License-Identifier: Apache-2.0
//
// Time sources. Deadlines (lease expiry, write fencing, backoff) are measured on a MONOTONIC clock:
// a wall-clock step (NTP, a VM migration) must neither extend a fenced leader's right to write nor
// make it give up early (client-go measures lease validity with the local `clock.Now()` for the same
// reason, `tools/leaderelection/leaderelection.go`). `performance.now()` is CLOCK_MONOTONIC, which
// keeps counting while the process is stopped (SIGSTOP), so a frozen leader sees its deadline as
// passed the moment it resumes (battery C2).

/** A source of milliseconds. Only differences are meaningful. */
export interface Clock {
  now(): number;
}

/** The monotonic process clock (`performance.now()`). */
export const monotonicClock: Clock = { now: () => performance.now() };

/** Wall-clock milliseconds since the epoch; only for timestamps shown to humans or the API. */
export const wallClock: Clock = { now: () => Date.now() };

/**
 * `base * (1 + factor * random())`: a delay stretched by up to `factor` (client-go `wait.Jitter`).
 * Only ever lengthens the delay, so a minimum stays a minimum.
 */
export function jitter(baseMs: number, factor: number, random: () => number = Math.random): number {
  if (factor <= 0) return baseMs;
  return baseMs * (1 + factor * random());
}

/** A promise that resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
