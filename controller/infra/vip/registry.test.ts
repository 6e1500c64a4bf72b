// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import type { Gateway, GatewayClass, Service } from '../../api/index.ts';
import type { Change } from '../../provider/index.ts';
import { registryData, registryTouched } from './registry.ts';

const classes: GatewayClass[] = [
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'fleet-ilb' }, spec: { controllerName: 'fleetilb.io/gateway-controller' } },
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'other' }, spec: { controllerName: 'example.com/lb' } },
];
const gw = (ns: string, name: string, cls: string, addresses: Array<{ type?: string; value: string }>): Gateway =>
  ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { namespace: ns, name },
    spec: { gatewayClassName: cls, listeners: [] },
    status: { addresses },
  });
const vipSvc = (ns: string, name: string, ip: string, labels: Record<string, string> = {}): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    namespace: ns,
    name,
    labels: { 'fleetilb.io/managed-by': 'fleet-ilb', 'fleetilb.io/fleet': 'f1', 'fleetilb.io/gateway-namespace': 'shop', 'fleetilb.io/gateway-name': 'store', ...labels },
  },
  spec: { type: 'LoadBalancer', loadBalancerClass: 'fleetilb.io/vip' },
  status: { loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } },
});

describe('registryData: the VIPs of the fleet', () => {
  it('takes the addresses of our Gateways and the ingress of this fleet’s VIP Services, one key per VIP', () => {
    const data = registryData({
      classes,
      gateways: [
        gw('shop', 'store', 'fleet-ilb', [{ type: 'IPAddress', value: '10.0.0.1' }]),
        gw('a', 'two', 'fleet-ilb', [{ value: '10.0.0.2' }, { type: 'Hostname', value: 'x.example.com' }]),
        // Another controller's Gateway: its addresses are not ours to guard.
        gw('b', 'foreign', 'other', [{ type: 'IPAddress', value: '10.0.0.9' }]),
      ],
      memberServices: [
        // Same VIP as shop/store's Gateway: one key.
        vipSvc('shop', 'store-vip', '10.0.0.1'),
        // A VIP Service whose Gateway has no status yet (written before the forwarding rules).
        vipSvc('c', 'new-vip', '10.0.0.3', { 'fleetilb.io/gateway-namespace': 'c', 'fleetilb.io/gateway-name': 'new' }),
        // Another fleet's, and an ordinary Service: not ours.
        vipSvc('d', 'x', '10.0.0.4', { 'fleetilb.io/fleet': 'f2' }),
        { ...vipSvc('d', 'y', '10.0.0.5'), metadata: { namespace: 'd', name: 'y' } },
      ],
      fleetId: 'f1',
    });
    expect(data).toEqual({ '10.0.0.1': 'shop/store', '10.0.0.2': 'a/two', '10.0.0.3': 'c/new' });
  });

  it('lists every owner of a VIP (two Gateways naming one address), sorted; no IPv6 or hostnames as keys', () => {
    const data = registryData({
      classes,
      gateways: [gw('z', 'b', 'fleet-ilb', [{ value: '10.0.0.1' }]), gw('a', 'a', 'fleet-ilb', [{ value: '10.0.0.1' }, { value: 'fd00::1' }])],
      memberServices: [],
      fleetId: 'f1',
    });
    expect(data).toEqual({ '10.0.0.1': 'a/a z/b' });
  });
});

describe('registryTouched: which changes queue a publish', () => {
  const g = gw('shop', 'store', 'fleet-ilb', [{ value: '10.0.0.1' }]) as never;
  it('a Gateway added, deleted, re-addressed or moved to another class; not a condition-only status write', () => {
    expect(registryTouched({ scope: 'config', resource: 'gateways', object: g })).toBe(true);
    const conditions = { ...(g as object), status: { addresses: [{ value: '10.0.0.1' }], conditions: [{ type: 'Programmed' }] } } as never;
    expect(registryTouched({ scope: 'config', resource: 'gateways', object: conditions, oldObject: g })).toBe(false);
    const moved = gw('shop', 'store', 'fleet-ilb', [{ value: '10.0.0.2' }]) as never;
    expect(registryTouched({ scope: 'config', resource: 'gateways', object: moved, oldObject: g })).toBe(true);
    const other = gw('shop', 'store', 'other', [{ value: '10.0.0.1' }]) as never;
    expect(registryTouched({ scope: 'config', resource: 'gateways', object: other, oldObject: g })).toBe(true);
  });

  it('a VIP Service created, deleted or with a new ingress; not other Services, nor other resources', () => {
    const s = vipSvc('shop', 'store-vip', '10.0.0.1') as never;
    const member = (object: never, oldObject?: never): Change => ({ scope: 'member', clusterID: 'm', resource: 'services', object, ...(oldObject === undefined ? {} : { oldObject }) });
    expect(registryTouched(member(s))).toBe(true);
    expect(registryTouched(member(vipSvc('shop', 'store-vip', '10.0.0.2') as never, s))).toBe(true);
    expect(registryTouched(member({ ...(s as object), spec: { type: 'LoadBalancer', ports: [] } } as never, s))).toBe(false);
    const plain = { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'a', name: 'b' } } as never;
    expect(registryTouched(member(plain))).toBe(false);
    expect(registryTouched({ scope: 'member', clusterID: 'm', resource: 'endpointslices', object: s })).toBe(false);
    expect(registryTouched({ scope: 'config', resource: 'tcpRoutes', object: g })).toBe(false);
    expect(registryTouched({ scope: 'reachability', clusterID: 'm' })).toBe(true);
  });
});
