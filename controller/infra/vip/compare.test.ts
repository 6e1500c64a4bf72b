// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import type { EndpointSlice, Service } from '../../api/index.ts';
import { APPLIED_HASH_ANNOTATION, ingressMatches, labelSelector, serviceApplyBody, serviceMatches, sliceApplyBody, sliceMatches } from './compare.ts';

const desired: Service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 's', namespace: 'n', labels: { 'fleetilb.io/managed-by': 'fleet-ilb' } },
  spec: {
    type: 'LoadBalancer',
    loadBalancerClass: 'fleetilb.io/vip',
    externalTrafficPolicy: 'Local',
    allocateLoadBalancerNodePorts: false,
    ports: [{ name: 'tcp', protocol: 'TCP', port: 80 }],
    sessionAffinity: 'None',
    selector: { app: 'a' },
  },
  status: { loadBalancer: { ingress: [{ ip: '10.0.0.1', ipMode: 'VIP' }] } },
};

/** What the apiserver returns after applying `body`: defaults and allocations added. */
function served(body: Service): Service {
  return {
    ...body,
    metadata: { ...body.metadata, uid: 'u', resourceVersion: '7', labels: { ...body.metadata.labels, extra: 'x' } },
    spec: {
      ...body.spec,
      clusterIP: '10.96.0.5',
      healthCheckNodePort: 31234,
      internalTrafficPolicy: 'Cluster',
      ports: (body.spec.ports ?? []).map((p) => ({ ...p, targetPort: p.targetPort ?? p.port })),
    },
  };
}

describe('serviceMatches', () => {
  it('is true for what the server holds after our apply (defaults, allocations, foreign labels)', () => {
    const body = serviceApplyBody(desired);
    expect(body.metadata.annotations?.[APPLIED_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{16}$/);
    expect(serviceMatches(served(body), body)).toBe(true);
  });

  it('is false after drift on a field we own, a selector added to a selectorless Service, or a changed body', () => {
    const body = serviceApplyBody(desired);
    const live = served(body);
    expect(serviceMatches({ ...live, spec: { ...live.spec, selector: { app: 'b' } } }, body)).toBe(false);
    const selectorless = serviceApplyBody({ ...desired, spec: { ...desired.spec, selector: undefined } });
    expect(serviceMatches(served(selectorless), selectorless)).toBe(true);
    expect(serviceMatches({ ...served(selectorless), spec: { ...served(selectorless).spec, selector: { x: 'y' } } }, selectorless)).toBe(false);
    // A label we no longer apply: only the hash tells.
    const withLabel = serviceApplyBody({ ...desired, metadata: { ...desired.metadata, labels: { ...desired.metadata.labels, team: 'x' } } });
    expect(serviceMatches(served(withLabel), body)).toBe(false);
  });

  it('compares a pinned health-check node port, ignores an allocated one', () => {
    const pinned = serviceApplyBody({ ...desired, spec: { ...desired.spec, healthCheckNodePort: 30500 } });
    expect(serviceMatches(served(pinned), pinned)).toBe(false); // served() allocated 31234
    expect(serviceMatches({ ...served(pinned), spec: { ...served(pinned).spec, healthCheckNodePort: 30500 } }, pinned)).toBe(true);
  });
});

describe('ingressMatches', () => {
  it('treats an unset ipMode as the server default VIP', () => {
    expect(ingressMatches({ ...desired, status: { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } } }, desired)).toBe(true);
    expect(ingressMatches({ ...desired, status: { loadBalancer: {} } }, desired)).toBe(false);
  });
});

describe('sliceMatches', () => {
  const slice: EndpointSlice = {
    metadata: { name: 'e', namespace: 'n', labels: { a: 'b' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.1.0.1'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n1' }],
    ports: [{ name: 'tcp', protocol: 'TCP', port: 3000 }],
  };
  it('is true for the applied body and false when an endpoint changed', () => {
    const body = sliceApplyBody(slice);
    expect(sliceMatches(body, body)).toBe(true);
    expect(sliceMatches({ ...body, endpoints: [{ ...body.endpoints[0]!, addresses: ['10.1.0.2'] }] }, body)).toBe(false);
  });
});

it('labelSelector is sorted and comma-joined', () => {
  expect(labelSelector({ b: '2', a: '1' })).toBe('a=1,b=2');
});
