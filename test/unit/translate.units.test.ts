// SPDX-License-Identifier: Apache-2.0
//
// Unit tests for the small pure pieces of translate: the namer (exhaustive table, after ingress-gce
// l4_namer_test.go), the ILBConfig schema, condition time-keeping, node exclusions, capping, the
// health-check node port allocator and IR validation.
import { describe, expect, it } from 'vitest';
import type { Node } from '../../controller/api/index.ts';
import { parseILBConfigSpec } from '../../controller/config/ilbconfig.ts';
import type { GatewayIR } from '../../controller/ir/types.ts';
import { IRErrorCode, validate } from '../../controller/ir/validate.ts';
import * as names from '../../controller/naming/names.ts';
import { cond, stampConditions } from '../../controller/status/conditions.ts';
import { eligibleNodes, nameMappedVms, nodeExclusion, nodeTarget } from '../../controller/translate/checks/nodes.ts';
import { capEndpoints as capNodes } from '../../controller/infra/gcp/render.ts';
import { buildContext } from '../../controller/translate/context.ts';
import { vipServiceName } from '../../controller/naming/names.ts';
import { hcPortAllocator, parseHealthPort } from '../../controller/translate/hcports.ts';
import { translate } from '../../controller/translate/index.ts';
import * as b from '../golden/builders.ts';

const g = { fleetId: 'fleet-1', namespace: 'store', name: 'store' };

describe('namer', () => {
  it.each([
    ['address', names.addressName(g), 'fl-r0qg6x-store-store-v8ljxj97'],
    ['shared health check', names.sharedHealthCheckName({ fleetId: 'fleet-1', spec: { type: 'TCP', tcpHealthCheck: { port: 8080 } }, scope: ['p', 'r'] }), 'fl-r0qg6x-shared-hc-kfij6mll-tcp-8080'],
    ['backend service', names.backendServiceName(g, 'tcp-8080'), 'fl-r0qg6x-store-store-lqu407af-bs-tcp-8080'],
    ['shared NEG', names.sharedNegName({ fleetId: 'fleet-1', backends: ['ServiceImport|multicluster.x-k8s.io|store/store'], cluster: 'gke-west-1', scope: ['p', 'r', 'n', 's', 25] }), 'fl-r0qg6x-store-store-bvaducru-gke-west-1'],
    ['forwarding rule', names.forwardingRuleName(g, 'tcp-8080', 0), 'fl-r0qg6x-store-store-y0xu3y08-fr-tcp-8080-0'],
    ['HC firewall', names.firewallName(g, 'hc'), 'fl-r0qg6x-store-store-5k1d73af-fw-hc'],
    ['client firewall', names.firewallName(g, 'clients'), 'fl-r0qg6x-store-store-8whxxrvi-fw-clients'],
    ['VIP Service', names.vipServiceName(g, 'store'), 'fl-r0qg6x-store-store-3w2l38l8-store'],
    ['mirrored slice', names.mirroredSliceName(g, 'store', 'store', 'store-abc'), 'fl-r0qg6x-store-store-y9oa4hf1-ep-store-store-store-abc'],
    [
      '63-char trim keeps the hash',
      names.resourceName({ fleetId: 'f', namespace: 'a'.repeat(63), name: 'b'.repeat(253), suffix: ['neg', 'tcp-65535', 'c'.repeat(63)] }),
      'fl-1bgkig-aaaaaaaaa-bbbbbbbbb-q6ht94ha-neg-tcp-65535-cccccccccc',
    ],
  ])('%s', (_what, got, want) => {
    expect(got).toBe(want);
    expect(got.length).toBeLessThanOrEqual(63);
    expect(names.isValidName(got)).toBe(true);
  });
  it('every name of a fleet starts with the fleet prefix', () => {
    expect(names.fleetPrefix('fleet-1')).toBe('fl-r0qg6x-');
    expect(names.sharedNegName({ fleetId: 'fleet-1', backends: [], cluster: 'x', scope: [] }).startsWith(names.fleetPrefix('fleet-1'))).toBe(true);
  });
  it('a shared NEG name depends on the backends (any order) and the scope, not on a Gateway', () => {
    const id = { fleetId: 'fleet-1', backends: ['ServiceImport|multicluster.x-k8s.io|a/x', 'Service||a/y'], cluster: 'c1', scope: ['p', 'r', 'n', 's', 25] };
    const n = names.sharedNegName(id);
    expect(names.sharedNegName({ ...id, backends: [...id.backends].reverse() })).toBe(n);
    expect(names.sharedNegName({ ...id, scope: ['p', 'r', 'n', 's', 26] })).not.toBe(n);
    expect(names.sharedNegName({ ...id, cluster: 'c2' })).not.toBe(n);
    expect(names.sharedNegName({ ...id, backends: ['Service||a/y'] })).not.toBe(n);
  });
  it('sanitises names that are not DNS labels (dots, upper case)', () => {
    const n = names.vipServiceName({ fleetId: 'F', namespace: 'a.b', name: 'Gw' }, 'listener.one');
    expect(names.isValidName(n)).toBe(true);
    expect(n).toContain('a-b-gw');
  });
});

describe('ILBConfig schema', () => {
  it('applies the documented defaults', () => {
    const r = parseILBConfigSpec({ project: 'p', region: 'europe-west1', network: 'n', subnetwork: 's' });
    expect(r).toEqual({
      ok: true,
      spec: {
        project: 'p',
        region: 'europe-west1',
        network: 'n',
        subnetwork: 's',
        globalAccess: false,
        firewall: { managed: true, clientSourceRanges: [], priority: 1000 },
        healthCheck: { checkIntervalSec: 5, timeoutSec: 5, healthyThreshold: 2, unhealthyThreshold: 2 },
        nodeSubsetSize: 250,
        sessionAffinity: 'NONE',
        connectionDraining: { drainingTimeoutSec: 30 },
      },
    });
  });
  it.each([
    [{ network: 'n', subnetwork: 's', region: 'r' }, 'project: is required'],
    [{ project: 'p', region: 'r', network: 'n', subnetwork: 's', healthCheck: { timeoutSec: 6 } }, 'healthCheck.timeoutSec'],
    [{ project: 'p', region: 'r', network: 'n', subnetwork: 's', firewall: { clientSourceRanges: ['0.0.0.0/33'] } }, 'clientSourceRanges.0'],
    [{ project: 'p', region: 'r', network: 'n', subnetwork: 's', healthCheck: { udpHealthCheckNodePort: 29999 } }, 'udpHealthCheckNodePort'],
    [{ project: 'p', region: 'r', network: 'n', subnetwork: 's', sessionAffinity: 'COOKIE' }, 'sessionAffinity'],
    [{ project: 'p', region: 'r', network: 'n', subnetwork: 's', typo: 1 }, 'typo'],
  ])('rejects %j naming the field', (spec, field) => {
    const r = parseILBConfigSpec(spec);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain(field);
  });
  it('accepts 0.0.0.0/0 only because it is written', () => {
    expect(parseILBConfigSpec({ project: 'p', region: 'r', network: 'n', subnetwork: 's', firewall: { clientSourceRanges: ['0.0.0.0/0'] } }).ok).toBe(true);
  });
});

describe('conditions', () => {
  const old = '2025-01-01T00:00:00Z';
  const existing = [{ type: 'Accepted', status: 'True' as const, reason: 'Accepted', message: 'old', lastTransitionTime: old }];
  it('keeps lastTransitionTime when the status does not flip, even if reason/message change', () => {
    const [c] = stampConditions([cond('Accepted', true, 'ListenersNotValid', 'new')], existing, 4, 'NOW');
    expect(c).toEqual({ type: 'Accepted', status: 'True', reason: 'ListenersNotValid', message: 'new', observedGeneration: 4, lastTransitionTime: old });
  });
  it('moves lastTransitionTime when the status flips', () => {
    const [c] = stampConditions([cond('Accepted', false, 'Invalid', 'x')], existing, 4, 'NOW');
    expect(c?.lastTransitionTime).toBe('NOW');
  });
  it('caps messages at 32768 characters', () => {
    expect(cond('A', true, 'R', 'x'.repeat(40000)).message.length).toBe(32768);
  });
});

describe('node eligibility', () => {
  it('memoizes eligible nodes on the provider\'s frozen Node array only, and sees a changed Node in the next array', () => {
    // The provider hands every scoped snapshot the same frozen array until a Node changes
    // (provider/indexes.ts nodeList): what depends on the Nodes alone is computed once per array.
    const snap = (nodes: readonly Node[]) => b.snapshot({ members: [b.member('a', { nodes: nodes })] });
    const view = (nodes: readonly Node[]) => buildContext(snap(nodes), 'NOW').members[0]!;
    const n1 = b.node('n1', 'europe-west1-b', '10.0.0.1');
    const n2 = b.node('n2', 'europe-west1-c', '10.0.0.2');
    const frozen = Object.freeze([n1, n2]);
    const first = eligibleNodes(view(frozen), 'p');
    expect([...first.byName.keys()]).toEqual(['n1', 'n2']);
    expect(eligibleNodes(view(frozen), 'p')).toBe(first); // same array: shared
    // n2 tainted by the autoscaler: a new array (the provider's next nodeList), a new answer.
    const n2Draining = { ...n2, spec: { ...n2.spec, taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] } } as Node;
    expect([...eligibleNodes(view(Object.freeze([n1, n2Draining])), 'p').byName.keys()]).toEqual(['n1']);
    // A hand-built (unfrozen) array is never memoized: changing it in place is seen.
    const loose = [n1, n2];
    expect([...eligibleNodes(view(loose), 'p').byName.keys()]).toEqual(['n1', 'n2']);
    loose.pop();
    expect([...eligibleNodes(view(loose), 'p').byName.keys()]).toEqual(['n1']);
  });
  const base = (): Node => b.node('n1', 'europe-west1-b', '10.0.0.1');
  it.each<[string, (n: Node) => void, string | undefined]>([
    ['eligible', () => undefined, undefined],
    ['exclude label (any value)', (n) => (n.metadata.labels = { ...n.metadata.labels, 'node.kubernetes.io/exclude-from-external-load-balancers': 'false' }), 'ExcludedByLabel'],
    ['not Ready', (n) => (n.status = { ...n.status, conditions: [{ type: 'Ready', status: 'Unknown' }] }), 'NotReady'],
    ['autoscaler taint', (n) => (n.spec = { ...n.spec, taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] }), 'ToBeDeleted'],
    ['no providerID', (n) => (n.spec = {}), 'NoProviderID'],
    ['aws providerID', (n) => (n.spec = { providerID: 'aws:///us-east-1a/i-123' }), 'NoProviderID'],
    ['no InternalIP', (n) => (n.status = { ...n.status, addresses: [{ type: 'ExternalIP', address: '1.2.3.4' }] }), 'NoInternalIP'],
    ['deleting (wins over the rest)', (n) => { n.metadata.deletionTimestamp = 'x'; n.spec = {}; }, 'Deleting'],
  ])('%s', (_name, mutate, reason) => {
    const n = base();
    mutate(n);
    expect(nodeExclusion(n, { mapping: 'ProviderID', projects: [] })?.reason).toBe(reason);
  });
  it('maps providerID to project/zone/instance and NodeName to name + zone label', () => {
    const n = b.node('gke-pool-1-abcd', 'us-east1-c', '10.1.1.1', { project: 'proj-9' });
    expect(nodeTarget(n, { mapping: 'ProviderID', projects: [] })).toEqual({ node: 'gke-pool-1-abcd', project: 'proj-9', zone: 'us-east1-c', instance: 'gke-pool-1-abcd', ip: '10.1.1.1' });
    expect(nodeTarget(n, { mapping: 'Auto', projects: ['other'] })?.project).toBe('proj-9');
    n.spec = {};
    expect(nodeTarget(n, { mapping: 'ProviderID', projects: [] })).toBeUndefined();
    expect(nodeTarget(n, { mapping: 'NodeName', projects: [] })).toEqual({ node: 'gke-pool-1-abcd', project: undefined, zone: 'us-east1-c', instance: 'gke-pool-1-abcd', ip: '10.1.1.1' });
  });
  describe('Auto: a node without a providerID is its VM by name, verified against GCE', () => {
    const selfManaged = (): Node => {
      const n = b.node('kube-worker-1', 'us-east1-c', '10.1.1.1');
      n.spec = {};
      return n;
    };
    const KEY = 'proj-a/us-east1-c/kube-worker-1';
    it('the VM exists: eligible, in the project GCE holds it in', () => {
      const vms = new Map([[KEY, false], ['proj-b/us-east1-c/kube-worker-1', true]]);
      expect(nodeTarget(selfManaged(), { mapping: 'Auto', projects: ['proj-a', 'proj-b'], vms })).toEqual({ node: 'kube-worker-1', project: 'proj-b', zone: 'us-east1-c', instance: 'kube-worker-1', ip: '10.1.1.1' });
    });
    it('GCE holds no such VM: NoInstance, not attached', () => {
      const f = nodeExclusion(selfManaged(), { mapping: 'Auto', projects: ['proj-a'], vms: new Map([[KEY, false]]) });
      expect(f).toEqual({ reason: 'NoInstance', message: 'no VM kube-worker-1 in zone us-east1-c of project proj-a' });
    });
    it('unknown (the lookup failed) is not absent: kept', () => {
      expect(nodeExclusion(selfManaged(), { mapping: 'Auto', projects: ['proj-a'], vms: new Map() })).toBeUndefined();
      // absent in one project, unknown in the other: still not known absent
      expect(nodeExclusion(selfManaged(), { mapping: 'Auto', projects: ['proj-a', 'proj-b'], vms: new Map([[KEY, false]]) })).toBeUndefined();
    });
    it('no zone label either: NoZone', () => {
      const n = selfManaged();
      n.metadata.labels = {};
      expect(nodeExclusion(n, { mapping: 'Auto', projects: ['proj-a'] })?.reason).toBe('NoZone');
    });
    it('a providerID node is never looked up', () => {
      const n = b.node('gke-1', 'us-east1-c', '10.1.1.2', { project: 'proj-a' });
      expect(nodeExclusion(n, { mapping: 'Auto', projects: ['proj-a'], vms: new Map([['proj-a/us-east1-c/gke-1', false]]) })).toBeUndefined();
      expect(nameMappedVms([{ fleetMember: b.fleetMember('m'), nodes: [n, selfManaged()] }], ['proj-a', 'proj-b'])).toEqual([KEY, 'proj-b/us-east1-c/kube-worker-1']);
    });
    it('the FleetMember project replaces the ILBConfig projects', () => {
      const fm = b.fleetMember('m');
      fm.spec.gcp = { project: 'onprem-1' };
      expect(nameMappedVms([{ fleetMember: fm, nodes: [selfManaged()] }], ['proj-a'])).toEqual(['onprem-1/us-east1-c/kube-worker-1']);
    });
  });
});

describe('capNodes (minimal churn)', () => {
  const nodes = Array.from({ length: 10 }, (_, i) => ({ node: `n${i}`, project: 'p', zone: 'z', instance: `n${i}`, ip: `10.0.0.${i}` }));
  it('keeps the nodes already in the NEG, then fills deterministically', () => {
    const a = capNodes(nodes, 4, 'neg', ['n7', 'n2']).map((x) => x.instance);
    expect(a).toContain('n7');
    expect(a).toContain('n2');
    expect(a).toHaveLength(4);
    expect(capNodes([...nodes].reverse(), 4, 'neg', ['n2', 'n7']).map((x) => x.instance)).toEqual(a);
  });
  it('adding a node does not evict chosen nodes', () => {
    const first = capNodes(nodes, 4, 'neg', []).map((x) => x.instance);
    const more = [...nodes, { node: 'n10', project: 'p', zone: 'z', instance: 'n10', ip: '10.0.0.10' }];
    const second = capNodes(more, 4, 'neg', first).map((x) => x.instance);
    expect(second).toEqual(first);
  });
});

describe('hcPortAllocator', () => {
  it('avoids ports any member uses and hands each port out once per Gateway', () => {
    // Per Gateway, not per pass: a scoped translate sees one Gateway, and the whole-fleet translate
    // must give it the same ports (test/unit/provider.scoped.test.ts).
    const gw = b.gateway('x', 'gw', [b.listener('u1', 53, 'UDP'), b.listener('u2', 54, 'UDP')]);
    const snap = b.snapshot({
      config: { gateways: [gw] },
      members: [b.member('a', { services: [b.service('x', 'np', [b.port(80, { nodePort: 30000 })], { type: 'NodePort' })] })],
      settings: { nodePortRange: { min: 30000, max: 30002 } },
    });
    const alloc = hcPortAllocator(buildContext(snap, 'NOW'));
    const g = { fleetId: snap.fleetId, namespace: 'x', name: 'gw' };
    const ports = [alloc.allocate(vipServiceName(g, 'u1'), 30000), alloc.allocate(vipServiceName(g, 'u2'), 30000)];
    expect(ports).toEqual([30001, 30002]);
  });
  it('keeps the port a VIP Service already has unless another Service holds it in some member', () => {
    const vip = (hc: number) => b.service('x', 'vip', [b.port(53, { protocol: 'UDP' })], { type: 'LoadBalancer', labels: { 'fleetilb.io/managed-by': 'fleet-ilb' }, healthCheckNodePort: hc });
    const keep = b.snapshot({ members: [b.member('a', { services: [vip(31000)] }), b.member('b', { services: [vip(31000)] })] });
    expect(hcPortAllocator(buildContext(keep, 'NOW')).allocate('vip', undefined)).toBe(31000);
    const clash = b.snapshot({ members: [b.member('a', { services: [vip(31000)] }), b.member('b', { services: [b.service('y', 'np', [b.port(80, { nodePort: 31000 })], { type: 'NodePort' })] })] });
    expect(hcPortAllocator(buildContext(clash, 'NOW')).allocate('vip', undefined)).not.toBe(31000);
  });
  it("never hands out one of the Gateway's TCP listener ports (the VIP Service's TCP health port shares the VIP), not even a kept one", () => {
    const vip = b.service('x', 'vip', [b.port(53, { protocol: 'UDP' })], { type: 'LoadBalancer', labels: { 'fleetilb.io/managed-by': 'fleet-ilb' }, healthCheckNodePort: 31000 });
    const snap = b.snapshot({ members: [b.member('a', { services: [vip] })] });
    expect(hcPortAllocator(buildContext(snap, 'NOW')).allocate('vip', undefined, [31000])).not.toBe(31000);
    expect(hcPortAllocator(buildContext(snap, 'NOW')).allocate('other', 30100, [30100, 30101])).toBe(30102);
  });
});

describe('parseHealthPort (fleetilb.io/health-check-port)', () => {
  it.each([
    ['8080', 8080],
    [' 8080 ', 8080],
    ['health', 'health'],
    ['http-2', 'http-2'],
    ['0', undefined],
    ['65536', undefined],
    ['123', 123],
    ['Health', undefined],
    ['no--double', undefined],
    ['-health', undefined],
    ['a-name-too-long-x', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%j -> %j', (value, want) => {
    expect(parseHealthPort(value)).toBe(want);
  });
});

describe('IR validation', () => {
  const ir = (): GatewayIR => {
    const snap = b.snapshot({ config: { namespaces: [b.namespace('n')], gateways: [b.gateway('n', 'gw', [b.listener('a', 80), b.listener('b', 81)])] } });
    const out = translate(snap, { now: 'NOW' }).gateways[0];
    if (out === undefined) throw new Error('no IR');
    return out;
  };
  it('accepts what translate produces', () => {
    expect(validate(ir())).toEqual([]);
  });
  it.each<[string, (x: GatewayIR) => void, string]>([
    ['invalid name', (x) => { x.address.name = 'Bad_Name'; }, IRErrorCode.InvalidName],
    ['duplicate FR', (x) => { const f = x.forwardingRules[0]; if (f) x.forwardingRules.push({ ...f, ports: [99] }); }, IRErrorCode.DuplicateName],
    ['11 rules', (x) => { for (let i = 0; i < 9; i++) x.forwardingRules.push({ name: `fr-${i}`, protocol: 'UDP', ports: [i + 1], group: x.groups[0]?.id ?? '', listeners: [] }); }, IRErrorCode.TooManyForwardingRules],
    ['6 ports', (x) => { const f = x.forwardingRules[0]; if (f) f.ports = [1, 2, 3, 4, 5, 6]; }, IRErrorCode.TooManyPortsPerRule],
    ['port overlap', (x) => { const [f1, f2] = x.forwardingRules; if (f1 && f2) f2.ports = [...f1.ports]; }, IRErrorCode.PortOverlap],
    ['unknown group', (x) => { const f = x.forwardingRules[0]; if (f) f.group = 'nope'; }, IRErrorCode.UnknownGroup],
    ['listener without rule', (x) => { const l = x.listeners[0]; if (l) l.forwardingRule = 'gone'; }, IRErrorCode.ListenerWithoutRule],
    ['duplicate endpoint IP', (x) => { const gr = x.groups[0]; if (gr) gr.negs.push({ name: 'neg', project: 'p', zone: 'z', cluster: 'c', frozen: false, endpoints: [{ instance: 'a', ipAddress: '1.1.1.1', node: 'a' }, { instance: 'b', ipAddress: '1.1.1.1', node: 'b' }] }); }, IRErrorCode.DuplicateEndpointIP],
    ['open firewall not asked for', (x) => { x.firewall.healthCheck.sourceRanges.push('0.0.0.0/0'); }, IRErrorCode.OpenFirewall],
    ['51 NEGs', (x) => { const gr = x.groups[0]; if (gr) for (let i = 0; i < 51; i++) gr.negs.push({ name: `neg${i}`, project: 'p', zone: `z${i}`, cluster: 'c', frozen: false, endpoints: [] }); }, IRErrorCode.TooManyNegs],
  ])('%s', (_what, mutate, code) => {
    const x = ir();
    mutate(x);
    expect(validate(x).map((e) => e.code)).toContain(code);
  });
});
