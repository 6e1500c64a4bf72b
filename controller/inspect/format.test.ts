// SPDX-License-Identifier: Apache-2.0
//
// The text of `fleet-ilb plan`: a changed field shows GCE's value cut to what fleet-ilb sets (decoded
// protos carry defaults) and the value it would set, resource URLs shortened; tables align.
import { describe, expect, it } from 'vitest';
import type { DesiredGce } from '../infra/gcp/desired.ts';
import type { Observed } from '../infra/gcp/observe.ts';
import type { PlanStep } from '../infra/gcp/plan.ts';
import { fieldDiff, table } from './format.ts';

const URL = 'https://www.googleapis.com/compute/v1/projects/p/zones/z/networkEndpointGroups/neg-a';

function observed(bs: Record<string, unknown>): Observed {
  const empty = new Map();
  return { address: empty, healthCheck: empty, backendService: new Map([['bs', bs]]), forwardingRule: empty, networkEndpointGroup: empty, firewall: empty, endpoints: empty };
}

describe('fleet-ilb plan text', () => {
  it('shows live -> desired of a changed field, live cut to the desired shape, URLs shortened', () => {
    const desired = {
      project: 'p',
      region: 'r',
      backendServices: [{ name: 'bs', description: 'x', backends: [{ group: URL, balancingMode: 'CONNECTION' }], connectionDraining: { drainingTimeoutSec: 42 } }],
    } as unknown as DesiredGce;
    const live = { name: 'bs', backends: [{ group: URL, balancingMode: 'CONNECTION', capacityScaler: 1, _failover: 'failover' }], connectionDraining: { drainingTimeoutSec: 0 } };
    const step: PlanStep = { phase: 'backendServices', kind: 'backendService', name: 'bs', scope: 'r', action: 'update', fields: ['backends', 'connectionDraining'] };
    expect(fieldDiff(step, 'connectionDraining', desired, observed(live))).toBe('connectionDraining: {"drainingTimeoutSec":0} -> {"drainingTimeoutSec":42}');
    expect(fieldDiff(step, 'backends', desired, observed(live))).toBe(
      'backends: [{"group":"projects/p/zones/z/networkEndpointGroups/neg-a","balancingMode":"CONNECTION"}] -> [{"group":"projects/p/zones/z/networkEndpointGroups/neg-a","balancingMode":"CONNECTION"}]',
    );
    expect(fieldDiff(step, 'sessionAffinity', desired, observed(live))).toBe('sessionAffinity: (unset) -> (unset)');
    // Nothing desired to cut to (backends emptied): the live value without virtual keys and empty defaults.
    const emptied = { ...desired, backendServices: [{ ...desired.backendServices[0]!, backends: [] }] } as DesiredGce;
    expect(fieldDiff(step, 'backends', emptied, observed({ ...live, backends: [{ group: URL, _group: 'group', customMetrics: [] }] }))).toBe(
      'backends: [{"group":"projects/p/zones/z/networkEndpointGroups/neg-a"}] -> []',
    );
  });

  it('aligns table columns', () => {
    expect(table(['A', 'LONGER'], [['xx', 'y'], ['z', '']])).toEqual(['A   LONGER', 'xx  y', 'z']);
  });
});
