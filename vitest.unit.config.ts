// SPDX-License-Identifier: Apache-2.0
import { defineConfig } from 'vitest/config';

// Unit, golden and property tests: pure code, no processes, no network.
export default defineConfig({
  test: {
    include: ['controller/**/*.test.ts', 'test/unit/**/*.test.ts', 'test/golden/**/*.test.ts', 'test/emulator/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
  },
});
