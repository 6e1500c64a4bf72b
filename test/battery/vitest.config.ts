// SPDX-License-Identifier: Apache-2.0
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * Item files in this order (others after them, by name): the items on the shared fleet's default
 * controller first, then A6 (its own sweep/resync periods), then B3, E1/E3 and D1 (lib.ts
 * SHORT_TIMERS; D1's second half restarts it with a frozen-member TTL), then the items that run the
 * controller as child processes — each change of controller is a restart (test/battery/lib.ts itemFleet).
 */
const ORDER = ['a1-', 'd-relist', 'd5-', 'g-', 'a3-', 'a6-', 'b3-', 'e-', 'd1-', 'b-', 'c-'];
const rank = (f: string): number => {
  const base = f.slice(f.lastIndexOf('/') + 1);
  const i = ORDER.findIndex((p) => base.startsWith(p));
  return i === -1 ? ORDER.length : i;
};

class ItemOrder extends BaseSequencer {
  override sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return Promise.resolve([...files].sort((a, b) => rank(a.moduleId) - rank(b.moduleId) || a.moduleId.localeCompare(b.moduleId)));
  }
}

// The reliability battery (test/battery/README.md): real kube-apiservers + the Compute API emulator,
// one item file at a time (a 2-core machine has no room for two fleets). Under `npm run battery`
// (BATTERY_SHARED=1) every file runs in ONE process with one module graph (`isolate: false`), so the
// items share one fleet (test/battery/lib.ts itemFleet); alone, a file starts its own.
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/battery/**/*.battery.test.ts'],
    environment: 'node',
    fileParallelism: false,
    isolate: process.env['BATTERY_SHARED'] !== '1',
    sequence: { sequencer: ItemOrder },
    globalSetup: ['test/harness/global-setup.ts'],
    testTimeout: 1_800_000,
    hookTimeout: 600_000,
    teardownTimeout: 60_000,
  },
});
