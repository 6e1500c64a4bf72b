// SPDX-License-Identifier: Apache-2.0
//
// How `npm run test:conformance` reads the suite's `go test -v` output (test/conformance/run.ts):
// what a user sees in the printed table and in CI's counts.
import { describe, expect, it } from 'vitest';
import { PARTS, SKIPPED, parseResults, resultTable, type RunResult } from '../conformance/run.ts';

// Shaped like the suite's output: parallel tests print their results late and interleaved, the
// reason of a skip is a log line of the skipped test.
const LOG = [
  '=== RUN   TestConformance',
  '=== RUN   TestConformance/GatewayInfrastructureMetadata',
  '    conformance.go:49: Skipping GatewayInfrastructureMetadata: suite does not support GatewayInfrastructure',
  '=== RUN   TestConformance/TCPRouteWeightedRouting',
  '    conformance.go:66: Skipping TCPRouteWeightedRouting: test explicitly skipped',
  '--- FAIL: TestConformance (149.91s)',
  '    --- FAIL: TestConformance/TCPRouteParentRefAttachAll (76.58s)',
  '        --- PASS: TestConformance/TCPRouteParentRefAttachAll/TCPRoute_is_Accepted_on_the_Gateway (0.52s)',
  '        --- FAIL: TestConformance/TCPRouteParentRefAttachAll/Listener_one_routes_to_the_attach-all_backend (30.02s)',
  '    --- SKIP: TestConformance/TCPRouteWeightedRouting (0.00s)',
  '    --- PASS: TestConformance/UDPRoute (8.91s)',
  '    --- SKIP: TestConformance/GatewayInfrastructureMetadata (0.00s)',
  'FAIL',
];

describe('conformance results', () => {
  it('reads every test once with its result, time and skip reason', () => {
    const r = parseResults(LOG);
    expect(r.map((t) => [t.name, t.result, t.seconds])).toEqual([
      ['TCPRouteParentRefAttachAll', 'FAIL', 76.58],
      ['TCPRouteWeightedRouting', 'SKIP', 0],
      ['UDPRoute', 'PASS', 8.91],
      ['GatewayInfrastructureMetadata', 'SKIP', 0],
    ]);
    expect(r.find((t) => t.name === 'TCPRouteWeightedRouting')?.reason).toBe(`skipped by name: ${SKIPPED['TCPRouteWeightedRouting']}`);
    expect(r.find((t) => t.name === 'GatewayInfrastructureMetadata')?.reason).toBe('suite does not support GatewayInfrastructure');
  });

  it('reads subtests at depth 2 (the parts of skipped tests run on their own)', () => {
    const r = parseResults(LOG, 2);
    expect(r.map((t) => [t.name, t.result])).toEqual([
      ['TestConformance/TCPRouteParentRefAttachAll/TCPRoute_is_Accepted_on_the_Gateway', 'PASS'],
      ['TestConformance/TCPRouteParentRefAttachAll/Listener_one_routes_to_the_attach-all_backend', 'FAIL'],
    ]);
  });

  it('shows tests that ran and tests skipped by name; only counts the ones of unclaimed features', () => {
    const result: RunResult = { tests: parseResults(LOG), parts: [], reportPath: 'r.yaml', report: undefined, suiteExitCode: 1, seconds: 1 };
    const table = resultTable(result);
    expect(table).toContain('| TCPRouteParentRefAttachAll | FAIL | 76.6 |');
    expect(table).toContain('| TCPRouteWeightedRouting | SKIP |');
    expect(table).not.toContain('GatewayInfrastructureMetadata');
    expect(table).toContain('1 more tests not run');
  });

  it('names each skipped part under a test that is skipped by name', () => {
    for (const p of PARTS) {
      const test = p.split('/')[1] ?? '';
      expect(SKIPPED[test], p).toBeDefined();
    }
  });
});
