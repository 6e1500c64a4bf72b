// SPDX-License-Identifier: Apache-2.0
// The controller's flags are declared once (options.ts): parsing, environment, help and the README
// table all come from that declaration.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONTROLLER_FLAGS, ControllerOptionsSchema, controllerFlagsMarkdown, controllerUsage, envName, parseControllerArgs, UsageRequested } from './options.ts';

describe('controller flags', () => {
  it('parses flags, then FLEET_ILB_* variables (a flag wins), converting booleans and seconds', () => {
    const o = parseControllerArgs(['--compute-endpoint', 'http://127.0.0.1:8085', '--leader-elect=false', '--resync-period', '30'], {
      FLEET_ILB_COMPUTE_ENDPOINT: 'http://ignored:1',
      FLEET_ILB_WORKERS: '8',
      FLEET_ILB_MCS_IMPORTER: 'false',
      POD_NAME: 'pod-0',
    });
    expect(o).toEqual({ computeEndpoint: 'http://127.0.0.1:8085', leaderElect: false, resyncPeriodMs: 30_000, workers: 8, mcsImporter: false, identity: 'pod-0' });
    expect(ControllerOptionsSchema.parse(o).metricsAddr).toBe('127.0.0.1:8080');
  });

  it('reads the GCE quota budget, its share (a fraction), the resync spread and the member TTL', () => {
    const o = ControllerOptionsSchema.parse(
      parseControllerArgs(['--gce-reads-per-minute', '3000', '--gce-quota-share', '0.25', '--resync-spread', '60', '--member-frozen-ttl', '3600'], { FLEET_ILB_GCE_WRITES_PER_MINUTE: '600' }),
    );
    expect(o).toMatchObject({ gceReadsPerMinute: 3000, gceWritesPerMinute: 600, gceQuotaShare: 0.25, resyncSpreadMs: 60_000, memberFrozenTtlMs: 3_600_000 });
    expect(ControllerOptionsSchema.parse({})).toMatchObject({ gceReadsPerMinute: 1500, gceWritesPerMinute: 1500, gceQuotaShare: 0.5, memberFrozenTtlMs: 0 });
    expect(() => ControllerOptionsSchema.parse(parseControllerArgs(['--gce-quota-share', '2'], {}))).toThrow();
  });

  it('defaults to a loopback metrics address; an empty host means every interface', () => {
    expect(ControllerOptionsSchema.parse({}).metricsAddr).toBe('127.0.0.1:8080');
    expect(ControllerOptionsSchema.parse(parseControllerArgs(['--metrics-addr=:8080'], {})).metricsAddr).toBe(':8080');
  });

  it('refuses unknown flags and values that are not what the flag takes', () => {
    expect(() => parseControllerArgs(['--no-such-flag'], {})).toThrow();
    expect(() => parseControllerArgs(['--leader-elect=maybe'], {})).toThrow(/--leader-elect: expected true or false/);
    expect(() => parseControllerArgs([], { FLEET_ILB_WORKERS: 'many' })).toThrow(/--workers: expected a number/);
    expect(() => parseControllerArgs(['--help'], {})).toThrow(UsageRequested);
  });

  it('help lists every flag once with its default; every flag maps to a schema option', () => {
    const help = controllerUsage();
    for (const f of CONTROLLER_FLAGS) {
      expect(help.split('\n').filter((l) => l.trimStart().startsWith(`--${f.name}`)), f.name).toHaveLength(1);
      expect(Object.keys(ControllerOptionsSchema.shape)).toContain(f.option);
    }
    expect(new Set(CONTROLLER_FLAGS.map((f) => f.name)).size).toBe(CONTROLLER_FLAGS.length);
    expect(envName('metrics-addr')).toBe('FLEET_ILB_METRICS_ADDR');
  });

  it('--gce-ratelimit takes ingress-gce limits separated by ; and refuses anything else', () => {
    expect(ControllerOptionsSchema.parse({ gceRateLimit: '*,qps,20,40; ForwardingRules.insert,qps,10,20' }).gceRateLimit).toContain('*,qps,20,40');
    expect(() => ControllerOptionsSchema.parse({ gceRateLimit: '*,qps,0,1' })).toThrow(/Service\.method,qps/);
    expect(() => ControllerOptionsSchema.parse({ gceRateLimit: 'ForwardingRules.insert,20' })).toThrow(/Service\.method,qps/);
  });

  it("README.md's flag table is the generated one (fleet-ilb controller --help-markdown)", () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const m = /<!-- flags:begin[^>]*-->\n([\s\S]*?)<!-- flags:end -->/.exec(readme);
    expect(m?.[1]).toBe(controllerFlagsMarkdown());
  });
});
