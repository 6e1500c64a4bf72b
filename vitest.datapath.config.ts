// SPDX-License-Identifier: Apache-2.0
import { defineConfig } from 'vitest/config';
import { reporters } from './test/support/reporters.ts';

// Data-path tests (docs/datapath.md): real packets through network namespaces, kube-proxy per
// simulated node, the simulated Google Cloud data plane. Needs root (network namespaces). One file
// at a time: each starts a fleet and a dozen namespaces with their processes.
export default defineConfig({
  test: {
    include: ['test/datapath/**/*.test.ts'],
    environment: 'node',
    reporters: reporters('datapath'),
    fileParallelism: false,
    // Builds (once) fleet-apiserver, kube-proxy and fleet-datapath (one go build) before any file starts.
    globalSetup: ['test/harness/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 600_000,
    teardownTimeout: 60_000,
  },
});
