// SPDX-License-Identifier: Apache-2.0
//
// keysForChange: each event maps to exactly the Gateways (and the global pass) it can affect, from
// the provider's indexes. The fleet: gw1 (ns-a) routes to ns-a/app, gw2 (ns-a) to ns-a/db, gw3
// (ns-a, a UDP listener) to ns-b/cache across namespaces, gw4 to nothing; member m1 runs app and
// cache, m2 runs db.
import { describe, expect, it } from 'vitest';
import type { Node } from './api/index.ts';
import { changeCanFix, enqueueChange, keysForChange, type KeySource } from './keys.ts';
import { OwnWrites } from './runtime/ownwrites.ts';
import { WorkQueue } from './runtime/workqueue.ts';
import type { Change } from './provider/index.ts';
import { FleetIndex } from './provider/indexes.ts';
import { GLOBAL_KEY, gatewayKey } from './reconciler.ts';
import type { StoredObject } from './runtime/reflector.ts';

const route = (kind: 'TCPRoute' | 'UDPRoute', ns: string, name: string, parents: string[], backend: { ns?: string; name: string }): StoredObject =>
  ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind,
    metadata: { namespace: ns, name, resourceVersion: '1' },
    spec: { parentRefs: parents.map((p) => ({ name: p })), rules: [{ backendRefs: [{ group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name: backend.name, ...(backend.ns === undefined ? {} : { namespace: backend.ns }), port: 80 }] }] },
  }) as StoredObject;
const gateway = (name: string, protocol = 'TCP'): StoredObject =>
  ({ metadata: { namespace: 'ns-a', name }, spec: { gatewayClassName: 'fleet-ilb', listeners: [{ name: 'l', port: 80, protocol }] } }) as StoredObject;
const service = (ns: string, name: string, extra: Record<string, unknown> = {}, labels?: Record<string, string>): StoredObject =>
  ({ metadata: { namespace: ns, name, resourceVersion: '1', ...(labels === undefined ? {} : { labels }) }, spec: { ports: [{ port: 80 }], ...extra } }) as StoredObject;
const slice = (ns: string, svc: string | undefined, name: string): StoredObject =>
  ({ metadata: { namespace: ns, name, labels: svc === undefined ? {} : { 'kubernetes.io/service-name': svc } }, endpoints: [] }) as StoredObject;
const exportOf = (ns: string, name: string): StoredObject => ({ apiVersion: 'multicluster.x-k8s.io/v1beta1', metadata: { namespace: ns, name } }) as StoredObject;

function node(name: string, over: (n: Node) => void = () => {}): Node {
  const n: Node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'topology.kubernetes.io/zone': 'z-b' }, annotations: { 'node.alpha.kubernetes.io/ttl': '0' }, resourceVersion: '10' },
    spec: { providerID: `gce://p/z-b/${name}` },
    // As a kubelet writes it: heartbeat times on every condition (not in our API type).
    status: JSON.parse(
      JSON.stringify({
        conditions: [
          { type: 'Ready', status: 'True', lastHeartbeatTime: '2026-01-01T00:00:00Z' },
          { type: 'MemoryPressure', status: 'False', lastHeartbeatTime: '2026-01-01T00:00:00Z' },
        ],
        addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
      }),
    ) as Node['status'],
  };
  over(n);
  return n;
}

function fleet(): KeySource & { index: FleetIndex } {
  const index = new FleetIndex();
  for (const g of [gateway('gw1'), gateway('gw2'), gateway('gw3', 'UDP'), gateway('gw4')]) index.onConfig('gateways', 'add', g);
  index.onConfig('tcpRoutes', 'add', route('TCPRoute', 'ns-a', 'r1', ['gw1'], { name: 'app' }));
  index.onConfig('tcpRoutes', 'add', route('TCPRoute', 'ns-a', 'r2', ['gw2'], { name: 'db' }));
  index.onConfig('udpRoutes', 'add', route('UDPRoute', 'ns-a', 'r3', ['gw3'], { ns: 'ns-b', name: 'cache' }));
  for (const [m, svcs] of [['m1', [['ns-a', 'app'], ['ns-b', 'cache']]], ['m2', [['ns-a', 'db']]]] as const) {
    for (const [ns, name] of svcs) {
      index.onMember(m, 'services', 'add', service(ns, name));
      index.onMember(m, 'serviceexports', 'add', exportOf(ns, name));
      index.onMember(m, 'endpointslices', 'add', slice(ns, name, `${name}-x`));
    }
    index.onMember(m, 'nodes', 'add', node(`${m}-n0`));
  }
  return { gatewayKeys: () => ['ns-a/gw1', 'ns-a/gw2', 'ns-a/gw3', 'ns-a/gw4'], index };
}

const G = (name: string): string => gatewayKey('ns-a', name);
const keys = (c: Change, src: KeySource = fleet()): string[] => keysForChange(c, src).sort();
const nodeUpdate = (clusterID: string, over: (n: Node) => void): Change => ({ scope: 'member', clusterID, resource: 'nodes', object: node(`${clusterID}-n0`, over), oldObject: node(`${clusterID}-n0`) });
const ALL = [GLOBAL_KEY, G('gw1'), G('gw2'), G('gw3'), G('gw4')].sort();

describe('keysForChange: Nodes', () => {
  it('maps a heartbeat-only Node update to no key', () => {
    const c = nodeUpdate('m1', (n) => {
      n.metadata.resourceVersion = '11';
      for (const cond of n.status?.conditions ?? []) (cond as { lastHeartbeatTime?: string }).lastHeartbeatTime = '2026-01-01T00:00:40Z';
      (n.status as Record<string, unknown>)['images'] = [{ names: ['x'], sizeBytes: 1 }];
      (n.status as Record<string, unknown>)['allocatable'] = { cpu: '3' };
      (n.metadata as { annotations?: Record<string, string> }).annotations = { 'node.alpha.kubernetes.io/ttl': '30' };
      n.status!.conditions![1]!.status = 'True'; // MemoryPressure: not read by node selection
    });
    expect(keys(c)).toEqual([]);
  });
  it('maps a Ready flip to the Gateways using the member and the global pass (FleetMember NodesEligible)', () => {
    expect(keys(nodeUpdate('m1', (n) => (n.status!.conditions![0]!.status = 'False')))).toEqual([GLOBAL_KEY, G('gw1'), G('gw3')].sort());
    expect(keys(nodeUpdate('m2', (n) => (n.status!.conditions![0]!.status = 'False')))).toEqual([GLOBAL_KEY, G('gw2')].sort());
  });
  it('maps labels, taints, providerID, addresses, unschedulable and deletion to the Gateways using the member and the global pass', () => {
    const cases: Array<(n: Node) => void> = [
      (n) => (n.metadata.labels = { ...n.metadata.labels, 'node.kubernetes.io/exclude-from-external-load-balancers': '' }),
      (n) => (n.spec = { ...n.spec, taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] }),
      (n) => (n.status!.addresses = [{ type: 'InternalIP', address: '10.0.0.2' }]),
      (n) => ((n.spec as { unschedulable?: boolean }).unschedulable = true),
      (n) => (n.metadata.deletionTimestamp = '2026-01-01T00:00:00Z'),
    ];
    for (const over of cases) expect(keys(nodeUpdate('m2', over))).toEqual([GLOBAL_KEY, G('gw2')].sort());
  });
  it('adds the global pass when the zone changes (FleetMember zones) or a Node comes or goes', () => {
    expect(keys(nodeUpdate('m2', (n) => (n.spec = { providerID: 'gce://p/z-c/m2-n0' })))).toEqual([GLOBAL_KEY, G('gw2')].sort());
    expect(keys({ scope: 'member', clusterID: 'm2', resource: 'nodes', object: node('m2-n1') })).toEqual([GLOBAL_KEY, G('gw2')].sort());
  });
  it('maps a Node of a member no route uses to the global pass only', () => {
    expect(keys({ scope: 'member', clusterID: 'm9', resource: 'nodes', object: node('m9-n0') })).toEqual([GLOBAL_KEY]);
    expect(keys(nodeUpdate('m9', (n) => (n.status!.conditions![0]!.status = 'False')))).toEqual([GLOBAL_KEY]);
  });
});

describe('keysForChange: member services', () => {
  it('maps a ServiceExport to the Gateways whose backends name it, and the global pass', () => {
    expect(keys({ scope: 'member', clusterID: 'm2', resource: 'serviceexports', object: exportOf('ns-a', 'app') })).toEqual([GLOBAL_KEY, G('gw1')].sort());
    expect(keys({ scope: 'member', clusterID: 'm1', resource: 'gkeserviceexports', object: exportOf('ns-b', 'cache') })).toEqual([GLOBAL_KEY, G('gw3')].sort());
    expect(keys({ scope: 'member', clusterID: 'm1', resource: 'serviceexports', object: exportOf('ns-a', 'unused') })).toEqual([GLOBAL_KEY]);
  });
  it('maps a Service to the Gateways naming it + global; a node-port change also to every UDP Gateway', () => {
    const old = service('ns-a', 'db');
    expect(keys({ scope: 'member', clusterID: 'm2', resource: 'services', object: service('ns-a', 'db', { selector: { app: 'x' } }), oldObject: old })).toEqual([GLOBAL_KEY, G('gw2')].sort());
    expect(keys({ scope: 'member', clusterID: 'm2', resource: 'services', object: service('ns-a', 'db', { healthCheckNodePort: 30001 }), oldObject: old })).toEqual([GLOBAL_KEY, G('gw2'), G('gw3')].sort());
    expect(keys({ scope: 'member', clusterID: 'm2', resource: 'services', object: service('ns-x', 'other', { ports: [{ port: 1, nodePort: 30002 }] }) })).toEqual([GLOBAL_KEY, G('gw3')].sort());
  });
  it("maps fleet-ilb's own VIP Services and mirrored slices to their Gateway only", () => {
    const labels = { 'fleetilb.io/gateway-namespace': 'ns-a', 'fleetilb.io/gateway-name': 'gw4', 'fleetilb.io/managed-by': 'fleet-ilb' };
    expect(keys({ scope: 'member', clusterID: 'm1', resource: 'services', object: service('ns-a', 'fl-vip', { healthCheckNodePort: 30003 }, labels) })).toEqual([G('gw4')]);
    const s = slice('ns-a', 'fl-vip', 'fl-vip-ep');
    (s.metadata as { labels: Record<string, string> }).labels = { ...labels, 'kubernetes.io/service-name': 'fl-vip' };
    expect(keys({ scope: 'member', clusterID: 'm1', resource: 'endpointslices', object: s })).toEqual([G('gw4')]);
    // The echo of our own write (the version it produced) is not drift; another version is.
    const own: KeySource = { ...fleet(), isOwnWrite: (c, r, k, rv) => c === 'm1' && r === 'services' && k === 'ns-a/fl-vip' && rv === '1' };
    expect(keys({ scope: 'member', clusterID: 'm1', resource: 'services', object: service('ns-a', 'fl-vip', {}, labels) }, own)).toEqual([]);
    const edited = service('ns-a', 'fl-vip', {}, labels);
    (edited.metadata as { resourceVersion: string }).resourceVersion = '2';
    expect(keys({ scope: 'member', clusterID: 'm1', resource: 'services', object: edited }, own)).toEqual([G('gw4')]);
  });
  it('queues a user edit that lands between our two writes of a VIP Service and their echoes; the echoes queue nothing', () => {
    const labels = { 'fleetilb.io/gateway-namespace': 'ns-a', 'fleetilb.io/gateway-name': 'gw4', 'fleetilb.io/managed-by': 'fleet-ilb' };
    const w = new OwnWrites();
    const src: KeySource = { ...fleet(), isOwnWrite: (c, r, k, rv) => w.isOwn(c, r, k, rv) };
    const at = (rv: string, selector: Record<string, string>): StoredObject => {
      const o = service('ns-a', 'fl-vip', { selector }, labels);
      (o.metadata as { resourceVersion: string }).resourceVersion = rv;
      return o;
    };
    // Our apply (rv 10), a user's edit of the selector (rv 11), our status write (rv 12): the three
    // watch events arrive in resourceVersion order after both our writes returned.
    w.record('m1', 'services', 'ns-a/fl-vip', '10');
    w.record('m1', 'services', 'ns-a/fl-vip', '12');
    const queue = new WorkQueue<string>();
    expect(enqueueChange(queue, { scope: 'member', clusterID: 'm1', resource: 'services', object: at('10', { app: 'a' }) }, src)).toEqual([]);
    expect(enqueueChange(queue, { scope: 'member', clusterID: 'm1', resource: 'services', object: at('11', { app: 'x' }), oldObject: at('10', { app: 'a' }) }, src)).toEqual([G('gw4')]);
    expect(enqueueChange(queue, { scope: 'member', clusterID: 'm1', resource: 'services', object: at('12', { app: 'x' }), oldObject: at('11', { app: 'x' }) }, src)).toEqual([]);
    expect(queue.has(G('gw4'))).toBe(true);
    // A later delete by someone else carries a new version: queued.
    expect(keys({ scope: 'member', clusterID: 'm1', resource: 'services', object: at('13', { app: 'x' }) }, src)).toEqual([G('gw4')]);
  });
  it('maps an EndpointSlice to the Gateways naming its service (old and new), a slice of no service to none', () => {
    expect(keys({ scope: 'member', clusterID: 'm1', resource: 'endpointslices', object: slice('ns-a', 'app', 'app-x') })).toEqual([G('gw1')]);
    expect(keys({ scope: 'member', clusterID: 'm1', resource: 'endpointslices', object: slice('ns-a', 'db', 's'), oldObject: slice('ns-a', 'app', 's') })).toEqual([G('gw1'), G('gw2')]);
    expect(keys({ scope: 'member', clusterID: 'm1', resource: 'endpointslices', object: slice('ns-a', undefined, 'orphan') })).toEqual([]);
  });
});

describe('keysForChange: reachability and config', () => {
  it('maps a reachability change of a synced member to the Gateways using it + global', () => {
    expect(keys({ scope: 'reachability', clusterID: 'm2', synced: { before: true, after: true } })).toEqual([GLOBAL_KEY, G('gw2')].sort());
  });
  it('maps a reachability change of a member without synced data (before or after) to every Gateway', () => {
    expect(keys({ scope: 'reachability', clusterID: 'm2', synced: { before: false, after: true } })).toEqual(ALL);
    expect(keys({ scope: 'reachability', clusterID: 'm3', synced: { before: false, after: false } })).toEqual(ALL);
  });
  it('maps a Gateway to itself and a route to its old and new parents', () => {
    // Created or deleted (no old object) or moved to another class: + global (the GatewayClass finalizer).
    expect(keys({ scope: 'config', resource: 'gateways', object: gateway('gw4') })).toEqual([G('gw4'), GLOBAL_KEY].sort());
    expect(keys({ scope: 'config', resource: 'gateways', object: gateway('gw4'), oldObject: gateway('gw4') })).toEqual([G('gw4')]);
    const other = { ...gateway('gw4'), spec: { ...(gateway('gw4') as { spec: object }).spec, gatewayClassName: 'other' } } as StoredObject;
    expect(keys({ scope: 'config', resource: 'gateways', object: other, oldObject: gateway('gw4') })).toEqual([G('gw4'), GLOBAL_KEY].sort());
    expect(keys({ scope: 'config', resource: 'tcpRoutes', object: route('TCPRoute', 'ns-a', 'r1', ['gw4'], { name: 'app' }), oldObject: route('TCPRoute', 'ns-a', 'r1', ['gw1'], { name: 'app' }) })).toEqual([G('gw1'), G('gw4')]);
  });
  it('maps a ServiceImport to the Gateways naming it + global, a ReferenceGrant to the routes reaching into its namespace', () => {
    expect(keys({ scope: 'config', resource: 'serviceImports', object: exportOf('ns-a', 'db') })).toEqual([GLOBAL_KEY, G('gw2')].sort());
    expect(keys({ scope: 'config', resource: 'referenceGrants', object: { metadata: { namespace: 'ns-b', name: 'g' } } })).toEqual([G('gw3')]);
    expect(keys({ scope: 'config', resource: 'referenceGrants', object: { metadata: { namespace: 'ns-a', name: 'g' } } })).toEqual([]);
  });
  it('maps rare fleet-wide inputs (GatewayClass, ILBConfig, FleetMember, Namespace) to every Gateway + global', () => {
    for (const resource of ['gatewayClasses', 'ilbConfigs', 'fleetMembers', 'namespaces'] as const) {
      expect(keys({ scope: 'config', resource, object: { metadata: { name: 'x' } } })).toEqual(ALL);
    }
    // Their status is the global pass's own output: a status-only update reaches it alone.
    for (const resource of ['gatewayClasses', 'ilbConfigs', 'fleetMembers'] as const) {
      const old = { metadata: { name: 'x', resourceVersion: '1' }, spec: { a: 1 } } as StoredObject;
      const written = { ...old, metadata: { name: 'x', resourceVersion: '2' }, status: { conditions: [] } } as StoredObject;
      expect(keys({ scope: 'config', resource, object: written, oldObject: old }), resource).toEqual([GLOBAL_KEY]);
      expect(keys({ scope: 'config', resource, object: { ...written, spec: { a: 2 } } as StoredObject, oldObject: old }), resource).toEqual(ALL);
    }
  });
  it('maps a GatewayClass update that only added or removed the gateway-exists finalizer (the global pass\'s write) to global only', () => {
    const old = { metadata: { name: 'fleet-ilb', resourceVersion: '1' }, spec: { controllerName: 'fleetilb.io/gateway-controller' } } as StoredObject;
    const fin = { ...old, metadata: { name: 'fleet-ilb', resourceVersion: '2', finalizers: ['gateway-exists-finalizer.gateway.networking.k8s.io'] } } as StoredObject;
    expect(keys({ scope: 'config', resource: 'gatewayClasses', object: fin, oldObject: old })).toEqual([GLOBAL_KEY]);
    expect(keys({ scope: 'config', resource: 'gatewayClasses', object: old, oldObject: fin })).toEqual([GLOBAL_KEY]);
    // Someone else's finalizer, a deletion, or a spec change with it: every Gateway.
    const other = { ...old, metadata: { name: 'fleet-ilb', resourceVersion: '2', finalizers: ['example.com/keep'] } } as StoredObject;
    expect(keys({ scope: 'config', resource: 'gatewayClasses', object: other, oldObject: old })).toEqual(ALL);
    const deleting = { ...fin, metadata: { ...(fin.metadata as object), deletionTimestamp: '2026-01-01T00:00:00Z' } } as StoredObject;
    expect(keys({ scope: 'config', resource: 'gatewayClasses', object: deleting, oldObject: fin })).toEqual(ALL);
    expect(keys({ scope: 'config', resource: 'gatewayClasses', object: { ...fin, spec: { controllerName: 'x' } } as StoredObject, oldObject: old })).toEqual(ALL);
    // Not for another kind.
    expect(keys({ scope: 'config', resource: 'ilbConfigs', object: fin, oldObject: old })).toEqual(ALL);
  });
  it("maps a Gateway update that changed only its status (our own status write) to nothing", () => {
    const before = { ...gateway('gw4'), metadata: { namespace: 'ns-a', name: 'gw4', resourceVersion: '5' } } as StoredObject;
    const after = { ...before, metadata: { ...before.metadata, resourceVersion: '6', managedFields: [{ manager: 'fleet-ilb' }] }, status: { conditions: [{ type: 'Programmed', message: 'retrying in 40 s' }] } } as StoredObject;
    expect(keys({ scope: 'config', resource: 'gateways', object: after, oldObject: before })).toEqual([]);
    // Someone else's annotation is news.
    const annotated = { ...after, metadata: { ...after.metadata, annotations: { 'example.com/owner': 'team-a' } } } as StoredObject;
    expect(keys({ scope: 'config', resource: 'gateways', object: annotated, oldObject: after })).toEqual([G('gw4')]);
  });
  it('maps the echo of our own Gateway metadata writes (GCE annotations, our finalizer added) to nothing; a finalizer removed or another change to the Gateway', () => {
    const before = { ...gateway('gw4'), metadata: { namespace: 'ns-a', name: 'gw4', resourceVersion: '5', annotations: { 'example.com/owner': 'team-a' } } } as StoredObject;
    const meta = (o: StoredObject, m: Record<string, unknown>): StoredObject => ({ ...o, metadata: { ...o.metadata, ...m } });
    const ours = meta(before, {
      resourceVersion: '6',
      finalizers: ['fleetilb.io/cleanup'],
      annotations: { 'example.com/owner': 'team-a', 'fleetilb.io/gce-project': 'p', 'fleetilb.io/gce-region': 'r', 'fleetilb.io/address': 'fl-x' },
    });
    expect(keys({ scope: 'config', resource: 'gateways', object: ours, oldObject: before })).toEqual([]);
    expect(keys({ scope: 'config', resource: 'gateways', object: meta(ours, { annotations: { ...(ours.metadata as { annotations: object }).annotations, 'example.com/owner': 'team-b' } }), oldObject: before })).toEqual([G('gw4')]);
    expect(keys({ scope: 'config', resource: 'gateways', object: meta(ours, { finalizers: [] }), oldObject: ours })).toEqual([G('gw4')]);
    expect(keys({ scope: 'config', resource: 'gateways', object: meta(ours, { labels: { a: 'b' } }), oldObject: before })).toEqual([G('gw4')]);
    expect(keys({ scope: 'config', resource: 'gateways', object: meta(ours, { deletionTimestamp: '2026-01-01T00:00:00Z' }), oldObject: ours })).toEqual([G('gw4')]);
  });
  it('maps a route update that changed only its status (our parent entries) to nothing', () => {
    const r = route('TCPRoute', 'ns-a', 'r1', ['gw1'], { name: 'app' });
    const written = { ...r, metadata: { ...r.metadata, resourceVersion: '2' }, status: { parents: [{ controllerName: 'fleetilb.io/gateway-controller' }] } } as StoredObject;
    expect(keys({ scope: 'config', resource: 'tcpRoutes', object: written, oldObject: r })).toEqual([]);
    expect(keys({ scope: 'config', resource: 'tcpRoutes', object: r })).toEqual([G('gw1')]);
  });
  it('follows the index: a route deleted no longer maps its backend to its Gateway', () => {
    const src = fleet();
    src.index.onConfig('tcpRoutes', 'delete', route('TCPRoute', 'ns-a', 'r1', ['gw1'], { name: 'app' }));
    expect(keys({ scope: 'member', clusterID: 'm1', resource: 'endpointslices', object: slice('ns-a', 'app', 'app-x') }, src)).toEqual([]);
    expect(keys(nodeUpdate('m1', (n) => (n.status!.conditions![0]!.status = 'False')), src)).toEqual([GLOBAL_KEY, G('gw3')].sort());
  });
});

describe('changeCanFix: which changes run failing Gateways at once, backoff reset', () => {
  const obj = (spec: unknown, status?: unknown, rv = '1'): StoredObject => ({ metadata: { name: 'x', resourceVersion: rv }, spec, ...(status === undefined ? {} : { status }) }) as StoredObject;
  it('an ILBConfig, GatewayClass, FleetMember, Secret or ServiceImport created, edited or deleted can fix one', () => {
    for (const resource of ['ilbConfigs', 'gatewayClasses', 'fleetMembers', 'secrets', 'serviceImports', 'gkeServiceImports'] as const) {
      expect(changeCanFix({ scope: 'config', resource, object: obj({ project: 'good' }) }), resource).toBe(true);
      expect(changeCanFix({ scope: 'config', resource, object: obj({ project: 'good' }, undefined, '2'), oldObject: obj({ project: 'bad' }) }), resource).toBe(true);
    }
    expect(changeCanFix({ scope: 'member', clusterID: 'm1', resource: 'serviceexports', object: exportOf('ns-a', 'app') })).toBe(true);
    expect(changeCanFix({ scope: 'member', clusterID: 'm1', resource: 'gkeserviceexports', object: exportOf('ns-a', 'app') })).toBe(true);
  });
  it('a status write (the controller’s own, mostly), Gateways, routes, Nodes, slices and reachability do not reset backoffs', () => {
    expect(changeCanFix({ scope: 'config', resource: 'ilbConfigs', object: obj({ project: 'p' }, { conditions: [1] }, '2'), oldObject: obj({ project: 'p' }) })).toBe(false);
    expect(changeCanFix({ scope: 'config', resource: 'ilbConfigs', object: obj({ project: 'p' }), oldObject: obj({ project: 'p' }) })).toBe(false);
    const exp = exportOf('ns-a', 'app');
    expect(changeCanFix({ scope: 'member', clusterID: 'm1', resource: 'serviceexports', object: { ...exp, status: { conditions: [] } } as StoredObject, oldObject: exp })).toBe(false);
    expect(changeCanFix({ scope: 'config', resource: 'gateways', object: gateway('gw1') })).toBe(false);
    expect(changeCanFix({ scope: 'config', resource: 'tcpRoutes', object: route('TCPRoute', 'ns-a', 'r1', ['gw1'], { name: 'app' }) })).toBe(false);
    expect(changeCanFix(nodeUpdate('m1', (n) => (n.status!.conditions![0]!.status = 'False')))).toBe(false);
    expect(changeCanFix({ scope: 'member', clusterID: 'm1', resource: 'endpointslices', object: slice('ns-a', 'app', 'app-x') })).toBe(false);
    expect(changeCanFix({ scope: 'reachability', clusterID: 'm1', synced: { before: true, after: true } })).toBe(false);
  });
});

describe('enqueueChange: what the controller does with a change', () => {
  /** A key that failed `n` times: its backoff has grown and a retry timer is pending. */
  const failing = (n: number): WorkQueue => {
    const q = new WorkQueue();
    for (let i = 0; i < n; i++) q.addRateLimited(G('gw1'));
    return q;
  };
  it('an ILBConfig fix runs the failing Gateway now with its backoff reset and its old retry dropped', async () => {
    const q = failing(14); // 5 ms·2^13 ≈ 41 s: the next failure would wait about a minute
    expect(q.retryInfo(G('gw1')).nextRetryInMs).toBeGreaterThan(0);
    const keys = enqueueChange(q, { scope: 'config', resource: 'ilbConfigs', object: { metadata: { name: 'x' }, spec: { project: 'good' } } as StoredObject }, fleet());
    expect(keys.sort()).toEqual(ALL);
    expect(q.retryInfo(G('gw1'))).toEqual({ retries: 0 });
    expect(q.len()).toBe(ALL.length);
    // A new failure starts from the shortest delay again.
    const item = await q.get();
    if (!item.shutdown) q.done(item.key);
    expect(q.addRateLimited(G('gw1'), {})).toBeLessThan(1_000);
    q.shutDown();
  });
  it('an EndpointSlice change runs the Gateway too, but keeps its backoff (it fixes nothing that failed)', () => {
    const q = failing(14);
    enqueueChange(q, { scope: 'member', clusterID: 'm1', resource: 'endpointslices', object: slice('ns-a', 'app', 'app-x') }, fleet());
    expect(q.len()).toBe(1);
    expect(q.retryInfo(G('gw1')).retries).toBe(14);
    q.shutDown();
  });
});
