// SPDX-License-Identifier: Apache-2.0
//
// HealthCheckPolicy (docs/policy.md) beyond the goldens: a per-Gateway translate (the provider's
// scoped snapshot, provider/scoped.ts policiesFor) decides the same as a whole-fleet one for every
// policy golden; the event -> key mapping reaches the targeted Gateways and ignores our own status writes.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HealthCheckPolicy } from '../../controller/api/index.ts';
import { keysForChange } from '../../controller/keys.ts';
import { scopedSnapshot, snapshotSource } from '../../controller/provider/scoped.ts';
import { gatewayKey } from '../../controller/reconciler.ts';
import type { Snapshot } from '../../controller/snapshot/types.ts';
import { translate } from '../../controller/translate/index.ts';
import { NOW, cases, readInput } from '../golden/golden.ts';

const DIR = join(import.meta.dirname, '..', 'golden', 'translate');
const POLICY_CASES = cases(DIR).filter((n) => n.startsWith('policy-'));

describe('HealthCheckPolicy', () => {
  it('has the policy goldens', () => {
    expect(POLICY_CASES.length).toBeGreaterThanOrEqual(12);
  });

  it.each(POLICY_CASES)('%s: translate(scopedSnapshot(store/store)) = translate(whole) for the IR and the policy entries', (name) => {
    const { description: _d, ...snapshot } = readInput<Snapshot & { description?: string }>(DIR, name);
    const whole = translate(snapshot, { now: NOW });
    const scoped = translate(scopedSnapshot(snapshotSource(snapshot), 'store/store'), { now: NOW });
    expect(scoped.gateways).toEqual(whole.gateways);
    expect(scoped.statuses.healthCheckPolicies ?? []).toEqual(whole.statuses.healthCheckPolicies ?? []);
    expect((whole.statuses.healthCheckPolicies ?? []).length).toBeGreaterThan(0);
  });

  it('a policy change reaches the Gateway it targets and the Gateways serving its backend; our status write reaches none', () => {
    const p: HealthCheckPolicy = {
      metadata: { namespace: 'store', name: 'p', generation: 1 },
      spec: {
        targetRefs: [
          { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' },
          { group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name: 'store' },
        ],
        default: {},
      },
    };
    const src = {
      gatewayKeys: () => ['store/gw', 'store/other', 'store/unrelated'],
      index: {
        gatewaysForBackend: (k: string) => new Set(k === 'store/store' ? ['store/other'] : []),
        gatewaysForGrantNamespace: () => new Set<string>(),
        gatewaysUsingMember: () => new Set<string>(),
        udpGateways: new Set<string>(),
      },
    };
    const keys = keysForChange({ scope: 'config', resource: 'healthCheckPolicies', object: p }, src);
    expect(keys.sort()).toEqual([gatewayKey('store', 'gw'), gatewayKey('store', 'other')].sort());
    const written = { ...p, metadata: { ...p.metadata, resourceVersion: '2' }, status: { ancestors: [] } };
    expect(keysForChange({ scope: 'config', resource: 'healthCheckPolicies', object: written, oldObject: p }, src as never)).toEqual([]);
  });
});
