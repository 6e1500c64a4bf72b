// SPDX-License-Identifier: Apache-2.0
//
// Prints the closing line of a CI run from the suites' JSON reports (test/support/reporters.ts):
//   unit: 380 passed, 0 failed
//   integration: 204 passed, 0 failed
//   datapath: 12 passed, 0 failed
//   conformance: 17 passed, 0 failed
//   total: 584 passed, 0 failed
// Exits non-zero when a report is missing or ran no test.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '.cache/test-results';
let passed = 0;
let failed = 0;
let ok = true;
for (const suite of ['unit', 'integration', 'datapath', 'conformance']) {
  try {
    const r = JSON.parse(readFileSync(join(dir, `${suite}.json`), 'utf8')) as { numPassedTests: number; numFailedTests: number; numTotalTests: number };
    console.log(`${suite}: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    if (r.numTotalTests === 0) ok = false;
  } catch (e) {
    console.log(`${suite}: no report (${(e as Error).message})`);
    ok = false;
  }
}
console.log(`total: ${passed} passed, ${failed} failed`);
process.exitCode = ok && failed === 0 ? 0 : 1;
