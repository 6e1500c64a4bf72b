// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { diffOwned } from './compare.ts';

const API = 'https://www.googleapis.com/compute/v1/projects/p';

describe('diffOwned: compare only what desired sets, the way GCE echoes it', () => {
  it('ignores decoded-proto virtual keys, output-only fields and fields desired leaves unset', () => {
    const desired = { name: 'bs', protocol: 'TCP', sessionAffinity: 'NONE' };
    const live = {
      _name: 'name',
      name: 'bs',
      _protocol: 'protocol',
      protocol: 'TCP',
      sessionAffinity: 'NONE',
      fingerprint: 'abc=',
      id: '123456789012345678',
      selfLink: `${API}/regions/r/backendServices/bs`,
      timeoutSec: 30, // a server default we never set
      metadatas: {},
    };
    expect(diffOwned(desired, live)).toEqual([]);
  });

  it('compares references by resource path (host, scheme and API version ignored)', () => {
    const d = { network: `${API}/global/networks/vpc`, healthChecks: [`${API}/regions/r/healthChecks/hc`] };
    const a = {
      network: 'https://compute.googleapis.com/compute/beta/projects/p/global/networks/vpc',
      healthChecks: ['projects/p/regions/r/healthChecks/hc'],
    };
    expect(diffOwned(d, a)).toEqual([]);
    expect(diffOwned(d, { ...a, network: `${API}/global/networks/other` })).toEqual(['network']);
  });

  it('treats arrays as sets, protocols case-insensitively and numbers by value', () => {
    const d = { ports: ['80', '443'], IPProtocol: 'TCP', allowed: [{ IPProtocol: 'tcp', ports: ['80'] }], priority: 1000 };
    const a = { ports: ['443', '80'], IPProtocol: 'tcp', allowed: [{ IPProtocol: 'TCP', ports: [80] }], priority: '1000' };
    expect(diffOwned(d, a)).toEqual([]);
    expect(diffOwned(d, { ...a, ports: ['80'] })).toEqual(['ports']);
  });

  it('backends: set of objects, each compared on the fields desired sets', () => {
    const g = (z: string): string => `${API}/zones/${z}/networkEndpointGroups/neg`;
    const d = { backends: [{ group: g('a'), balancingMode: 'CONNECTION' }, { group: g('b'), balancingMode: 'CONNECTION' }] };
    const a = {
      backends: [
        { _group: 'group', group: g('b'), balancingMode: 'CONNECTION', capacityScaler: 0, failover: false },
        { group: g('a'), balancingMode: 'CONNECTION', failover: false },
      ],
    };
    expect(diffOwned(d, a)).toEqual([]);
    expect(diffOwned(d, { backends: [a.backends[0]] })).toEqual(['backends']);
    expect(diffOwned({ backends: [] }, { backends: a.backends })).toEqual(['backends']);
  });

  it('false / 0 / empty in desired equal an absent live field (proto3 omits defaults)', () => {
    expect(diffOwned({ allowGlobalAccess: false, connectionDraining: { drainingTimeoutSec: 0 }, sourceTags: [] }, {})).toEqual([]);
    expect(diffOwned({ allowGlobalAccess: true }, {})).toEqual(['allowGlobalAccess']);
    expect(diffOwned({ allowGlobalAccess: false }, { allowGlobalAccess: true })).toEqual(['allowGlobalAccess']);
  });

  it('nested objects compare as subsets', () => {
    const d = { tcpHealthCheck: { port: 80 } };
    expect(diffOwned(d, { tcpHealthCheck: { port: 80, portSpecification: 'USE_FIXED_PORT', proxyHeader: 'NONE' } })).toEqual([]);
    expect(diffOwned(d, { tcpHealthCheck: { port: 81 } })).toEqual(['tcpHealthCheck']);
  });
});
