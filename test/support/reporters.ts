// SPDX-License-Identifier: Apache-2.0
//
// Vitest reporters for both configs. With FLEET_ILB_TEST_REPORT=<dir> (set by .ci/run), each suite
// also writes a JSON report there, from which .ci/run prints one "N passed, N failed" closing line.
import { join } from 'node:path';

type Reporter = string | [string, Record<string, unknown>];

export function reporters(suite: 'unit' | 'integration' | 'datapath' | 'conformance'): Reporter[] {
  const dir = process.env['FLEET_ILB_TEST_REPORT'];
  if (dir === undefined || dir === '') return ['default'];
  return ['default', ['json', { outputFile: join(dir, `${suite}.json`) }]];
}
