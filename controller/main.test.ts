// SPDX-License-Identifier: Apache-2.0
//
// The controller's GCE client as main.ts builds it (gceCloudOptions), against the Compute API
// emulator: the leader's fence is the client's own (a write in flight is aborted when the fence
// closes, battery C1), and the shared budget follows the quota flags.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFencedError } from './errors/index.ts';
import { GceCloud, type GceCallEvent } from './infra/gcp/cloud/client.ts';
import { gceCloudOptions, healthReadsPerMinute } from './main.ts';
import { ControllerOptionsSchema } from './options.ts';
import type { Fence } from './runtime/fence.ts';
import { type Emulator, startEmulator } from '../test/emulator/index.ts';
import { P, REGION, SEED } from '../test/emulator/testkit.ts';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ seed: SEED });
});
afterAll(async () => {
  await emu.stop();
});

const options = (flags: Record<string, unknown> = {}) => ControllerOptionsSchema.parse({ computeEndpoint: emu.url, project: P, ...flags });

/** A fence open for `ms` from now (the elector's shape: remainingMs shrinks to 0). */
function fenceFor(ms: number): Fence {
  const closesAt = Date.now() + ms;
  return {
    canWrite: () => Date.now() < closesAt,
    check: () => {},
    remainingMs: () => Math.max(0, closesAt - Date.now()),
  };
}

const address = (name: string) => ({ name, addressType: 'INTERNAL', purpose: 'SHARED_LOADBALANCER_VIP', subnetwork: `projects/${P}/regions/${REGION}/subnetworks/sub1` });

describe('gceCloudOptions (the controller GCE client)', () => {
  it('carries the leader fence: a write still in flight when the lease lapses is aborted, not finished', async () => {
    const cloud = new GceCloud(gceCloudOptions(options(), fenceFor(1_500)));
    try {
      // Warm the client (first-call setup is not what this measures), then a write the emulator holds.
      await cloud.get('address', REGION, 'warm-up');
      emu.faults.inject({ method: 'addresses.insert', action: { kind: 'latency', ms: 8_000 }, times: 1 });
      const t0 = Date.now();
      const err = await cloud.insert('address', REGION, address('fenced-1')).catch((e: unknown) => e);
      expect(isFencedError(err)).toBe(true);
      // Aborted at the fence (≈1.5 s), long before the emulator would have answered (8 s).
      expect(Date.now() - t0).toBeLessThan(6_000);
    } finally {
      emu.faults.clear();
      await cloud.close();
    }
  });

  it('sizes the shared budget from the quota flags: 60 reads/min at share 1 spaces reads 1 s apart after the burst', async () => {
    const events: GceCallEvent[] = [];
    const cloud = new GceCloud(gceCloudOptions(options({ gceReadsPerMinute: 60, gceQuotaShare: 1 }), fenceFor(60_000), (e) => events.push(e)));
    try {
      for (let i = 0; i < 4; i++) await cloud.get('address', REGION, `none-${i}`);
      // Burst = 2 s of rate (2 calls), then one token a second.
      const throttled = events.map((e) => e.throttledMs);
      expect(throttled.slice(0, 2)).toEqual([0, 0]);
      expect(Math.min(...throttled.slice(2))).toBeGreaterThan(300);
    } finally {
      await cloud.close();
    }
  });
});

describe('healthReadsPerMinute (the backend-health reader bound)', () => {
  it('is --health-read-share of the read budget, or the getHealth per-method limit when lower', () => {
    // Defaults: 1,500 reads/min × quota share 0.5 × health share 0.25 = 187.5/min; the default
    // per-method limit (5 qps = 300/min) is higher.
    expect(healthReadsPerMinute(ControllerOptionsSchema.parse({}))).toBe(187.5);
    // A raised quota: 8,000 × 0.5 × 0.5 = 2,000/min, under a raised per-method limit (50 qps = 3,000/min).
    expect(healthReadsPerMinute(ControllerOptionsSchema.parse({ gceReadsPerMinute: 8000, healthReadShare: 0.5, gceRateLimit: '*,qps,50,100' }))).toBe(2000);
    // The default per-method limit (5 qps) binds before that share.
    expect(healthReadsPerMinute(ControllerOptionsSchema.parse({ gceReadsPerMinute: 8000, healthReadShare: 0.5 }))).toBe(300);
    // A per-method limit below the share wins: 1 qps = 60/min.
    expect(healthReadsPerMinute(ControllerOptionsSchema.parse({ gceReadsPerMinute: 8000, gceRateLimit: 'RegionBackendServices.getHealth,qps,1,1' }))).toBe(60);
  });
});
