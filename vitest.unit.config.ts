// SPDX-License-Identifier: Apache-2.0
import { defineConfig } from 'vitest/config';
import { reporters } from './test/support/reporters.ts';

// Unit, golden and property tests: pure code, no processes, no network.
export default defineConfig({
  test: {
    include: ['controller/**/*.test.ts', 'test/unit/**/*.test.ts', 'test/golden/**/*.test.ts', 'test/emulator/**/*.test.ts'],
    environment: 'node',
    reporters: reporters('unit'),
    testTimeout: 30_000,
  },
});
