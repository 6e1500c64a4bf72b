// SPDX-License-Identifier: Apache-2.0
//
// GCE label values from Kubernetes names (https://cloud.google.com/resource-manager/docs/labels-overview
// "Requirements for labels": lowercase letters, digits, `_`, `-`; at most 63 characters).
import { describe, expect, it } from 'vitest';
import { gceLabelValue, gceLabels, mergedLabels } from './gcelabels.ts';

const VALID = /^[a-z0-9_-]{0,63}$/;

describe('GCE labels', () => {
  it('keeps a DNS label as is, turns dots and other characters into -', () => {
    expect(gceLabelValue('store')).toBe('store');
    expect(gceLabelValue('api.v2.example')).toBe('api-v2-example');
    expect(gceLabelValue('Fleet_ID:1')).toBe('fleet_id-1');
  });
  it('shortens a value past 63 characters with a hash of the whole (distinct names stay distinct)', () => {
    const a = gceLabelValue(`${'a'.repeat(70)}.x`);
    const b = gceLabelValue(`${'a'.repeat(70)}.y`);
    expect(a).toMatch(VALID);
    expect(a).toHaveLength(63);
    expect(a).not.toBe(b);
    expect(a.startsWith('a'.repeat(54))).toBe(true);
  });
  it('labels a Gateway by fleet, namespace and name, every value valid', () => {
    const l = gceLabels('6f1c2a7e-9b1d-4c3e-8a55-0c9d7e1f2a3b', 'team-a', `${'gw.'.repeat(40)}end`);
    expect(Object.keys(l)).toEqual(['fleetilb-fleet', 'fleetilb-gateway-namespace', 'fleetilb-gateway']);
    for (const v of Object.values(l)) expect(v).toMatch(VALID);
  });
  it('merges ours over the live labels only when one of ours differs', () => {
    const ours = { 'fleetilb-gateway': 'gw' };
    expect(mergedLabels(ours, { 'fleetilb-gateway': 'gw', team: 'x' })).toBeUndefined();
    expect(mergedLabels(ours, { team: 'x' })).toEqual({ team: 'x', 'fleetilb-gateway': 'gw' });
    expect(mergedLabels(ours, null)).toEqual(ours);
    expect(mergedLabels(undefined, { team: 'x' })).toBeUndefined();
  });
});
