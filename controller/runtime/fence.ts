// SPDX-License-Identifier: Apache-2.0
//
// Write fencing (docs/failure-rules.md "A deposed leader makes no write"; battery C1/C2). Every
// write path of the controller (GCE calls, Kubernetes writes, Events) asks the fence first. The
// leader elector implements it: writes are allowed only while
//   now < lastSuccessfulRenew + renewDeadline − margin      (monotonic clock)
// which is strictly before any other replica can take the lease (they wait a full lease duration
// after they *observe* our last renew, and leaseDuration > renewDeadline).
import { FencedError } from '../errors/index.ts';

/** The question every writer asks before writing. */
export interface Fence {
  /** True while this replica may write. */
  canWrite(): boolean;
  /** Throw a {@link FencedError} unless {@link canWrite}. Call right before each write. */
  check(): void;
  /**
   * Milliseconds until the right to write lapses (0 = already lapsed). A writer can cap its request
   * timeout with it so an in-flight write is abandoned when the fence closes.
   */
  remainingMs(): number;
}

/** A fence that always allows writes (single-replica mode with election disabled, tests). */
export const openFence: Fence = {
  canWrite: () => true,
  check: () => {},
  remainingMs: () => Number.POSITIVE_INFINITY,
};

/** A fence that never allows writes (dry runs, tests of the refusal path). */
export const closedFence: Fence = {
  canWrite: () => false,
  check: () => {
    throw new FencedError();
  },
  remainingMs: () => 0,
};

/**
 * Run `write` only if the fence is open, with an AbortSignal that fires when the fence closes (or
 * after `timeoutMs`, whichever is first). Throws FencedError without calling `write` otherwise.
 */
export async function fenced<T>(fence: Fence, write: (signal: AbortSignal) => Promise<T>, timeoutMs = 30_000): Promise<T> {
  fence.check();
  const remaining = fence.remainingMs();
  // AbortSignal.timeout takes whole milliseconds (a fraction throws ERR_OUT_OF_RANGE), and the
  // elector's remainingMs() comes from a fractional monotonic clock.
  const signal = AbortSignal.timeout(Math.max(1, Math.floor(Math.min(timeoutMs, Number.isFinite(remaining) ? remaining : timeoutMs))));
  return write(signal);
}
