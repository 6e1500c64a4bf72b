// SPDX-License-Identifier: Apache-2.0
import { defineConfig } from 'vitest/config';
import { reporters } from './test/support/reporters.ts';

// Integration tests: real kube-apiservers (one process per cluster) and the Compute API emulator.
// Files run one at a time: each starts its own fleet, and a 2-core machine has no room for two.
export default defineConfig({
  test: {
    include: ['test/integration/**/*.test.ts'],
    environment: 'node',
    reporters: reporters('integration'),
    fileParallelism: false,
    // Builds (once) the fleet-apiserver binary the local fleets run, before any file starts.
    globalSetup: ['test/harness/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 600_000,
    teardownTimeout: 60_000,
  },
});
