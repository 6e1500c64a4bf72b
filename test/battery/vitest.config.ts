// SPDX-License-Identifier: Apache-2.0
import { defineConfig } from 'vitest/config';

// The reliability battery (test/battery/README.md): real kube-apiservers + the Compute API emulator,
// one item file at a time (each starts its own fleet; a 2-core machine has no room for two).
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/battery/**/*.battery.test.ts'],
    environment: 'node',
    fileParallelism: false,
    globalSetup: ['test/harness/global-setup.ts'],
    testTimeout: 1_800_000,
    hookTimeout: 600_000,
    teardownTimeout: 60_000,
  },
});
