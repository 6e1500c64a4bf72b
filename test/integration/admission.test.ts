// SPDX-License-Identifier: Apache-2.0
//
// The member admission policies (deploy/member/admission.yaml) on a real kube-apiserver. A VIP
// Service is the CVE-2020-8554 pattern (kubernetes/kubernetes#97076): whoever writes its
// status.loadBalancer.ingress makes every node capture that IP. `alice` holds full Service rights
// (spec, status, delete) and EndpointSlice rights in every namespace, like a broad app-team or CI
// role; fleet-ilb's identity holds only deploy/member's roles. Every request goes through the
// real kubectl, the way a person would try it. The VIP registry (fleet-ilb-system/fleet-ilb-vips) is
// written here as fleet-ilb would (server-side apply as its member identity);
// controller-least-privilege.test.ts shows the controller keeping it current.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFleet, type ClusterHandle, type Fleet, type Identity } from '../harness/fleet.ts';
import { applyBase, kubectl, kubectlOk, mintControllerIdentity, repoRoot, type KubectlResult } from './deploy-identity.ts';

const NS = 'shop';
const VIP = '10.20.0.10';

let fleet: Fleet;
let member: ClusterHandle;
let alice: Identity;
let fleetIlb: Identity;

function service(name: string, opts: { vip?: boolean; externalIPs?: string[] } = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NS },
    spec: {
      type: 'LoadBalancer',
      ...(opts.vip === true
        ? { loadBalancerClass: 'fleetilb.io/vip', externalTrafficPolicy: 'Local', allocateLoadBalancerNodePorts: false }
        : {}),
      ...(opts.externalIPs === undefined ? {} : { externalIPs: opts.externalIPs }),
      selector: { app: 'cart' },
      ports: [{ name: 'tcp', port: 8080, targetPort: 8080, protocol: 'TCP' }],
    },
  });
}
const create = (who: Identity, doc: string): Promise<KubectlResult> => kubectl(who.kubeconfigPath, ['create', '-f', '-'], doc);
const patchStatusIngress = (who: Identity, name: string, ip: string): Promise<KubectlResult> =>
  kubectl(who.kubeconfigPath, [
    '-n', NS, 'patch', 'service', name, '--subresource=status', '--type=merge',
    '-p', JSON.stringify({ status: { loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } } }),
  ]);
const patchSpec = (who: Identity, name: string, patch: object): Promise<KubectlResult> =>
  kubectl(who.kubeconfigPath, ['-n', NS, 'patch', 'service', name, '--type=merge', '-p', JSON.stringify(patch)]);
const del = (who: Identity, kind: string, name: string): Promise<KubectlResult> =>
  kubectl(who.kubeconfigPath, ['-n', NS, 'delete', kind, name, '--wait=false']);
const ingressOf = async (name: string): Promise<string> =>
  (await kubectlOk(member.kubeconfigPath, ['-n', NS, 'get', 'service', name, '-o', 'jsonpath={.status.loadBalancer.ingress[*].ip}'])).stdout;

function expectDenied(r: KubectlResult, policy: string, text: RegExp): void {
  expect(r.code, r.stdout).not.toBe(0);
  expect(r.stderr).toContain(`ValidatingAdmissionPolicy '${policy}' with binding '${policy}' denied request`);
  expect(r.stderr).toMatch(text);
}
function expectAllowed(r: KubectlResult): void {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}
/**
 * Policies (and their params) take effect once the apiserver's informers have them: retry `request`
 * (a dry run: nothing stored) until `done` says it is answered as expected, at most 30 s.
 */
async function waitUntil(what: string, request: () => Promise<KubectlResult>, done: (r: KubectlResult) => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await request();
    if (done(r)) return;
    if (Date.now() > deadline) throw new Error(`${what} after 30s: ${r.stderr || r.stdout}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}
const dryRun = (who: Identity, doc: string) => (): Promise<KubectlResult> => kubectl(who.kubeconfigPath, ['create', '--dry-run=server', '-f', '-'], doc);
const deniedBy = (text: string) => (r: KubectlResult): boolean => r.code !== 0 && r.stderr.includes(text);
const waitAllowed = (request: () => Promise<KubectlResult>): Promise<void> => waitUntil('still refused', request, (r) => r.code === 0);

beforeAll(async () => {
  fleet = await startFleet({ members: 1 });
  member = fleet.members[0]!;
  const applied = await applyBase(member, 'deploy/member');
  if (applied.code !== 0) throw new Error(applied.stderr);
  await kubectlOk(member.kubeconfigPath, ['create', 'namespace', NS]);
  // alice: everything on Services (incl. status) and EndpointSlices, cluster-wide.
  await kubectlOk(member.kubeconfigPath, ['create', 'clusterrole', 'service-admin',
    '--verb=get,list,watch,create,update,patch,delete',
    '--resource=services,services/status,endpointslices.discovery.k8s.io']);
  await kubectlOk(member.kubeconfigPath, ['create', 'clusterrolebinding', 'alice-service-admin', '--clusterrole=service-admin', '--user=alice']);
  alice = await fleet.mintIdentity(member, 'alice', ['app-team', 'system:authenticated']);
  fleetIlb = await mintControllerIdentity(fleet, member);
  // Policies take effect once the apiserver's policy informer has them: wait until a request that
  // must be denied is denied (dry-run, nothing stored).
  await waitUntil('admission policy not active', dryRun(alice, service('probe', { vip: true })), deniedBy('fleet-ilb-vip-guard'));
});

afterAll(async () => {
  await fleet?.stop();
});

describe('fleet-ilb-vip-guard: nobody but fleet-ilb owns a VIP Service', () => {
  it('denies alice creating a Service of loadBalancerClass fleetilb.io/vip', async () => {
    expectDenied(await create(alice, service('stolen', { vip: true })), 'fleet-ilb-vip-guard',
      /only fleet-ilb may create a Service of loadBalancerClass fleetilb\.io\/vip/);
    const r = await kubectl(member.kubeconfigPath, ['-n', NS, 'get', 'service', 'stolen']);
    expect(r.stderr).toMatch(/NotFound|not found/);
  });

  it('allows alice an ordinary LoadBalancer Service, its status included', async () => {
    expectAllowed(await create(alice, service('shop-lb')));
    expectAllowed(await patchStatusIngress(alice, 'shop-lb', '192.0.2.7'));
    expect(await ingressOf('shop-lb')).toBe('192.0.2.7');
  });

  it('allows fleet-ilb to create the VIP Service and publish the VIP in its status', async () => {
    expectAllowed(await create(fleetIlb, service('cart-vip', { vip: true })));
    expectAllowed(await patchStatusIngress(fleetIlb, 'cart-vip', VIP));
    expect(await ingressOf('cart-vip')).toBe(VIP);
  });

  it('denies alice pointing the VIP Service status elsewhere, or changing its spec, labels or type', async () => {
    expectDenied(await patchStatusIngress(alice, 'cart-vip', '10.99.0.66'), 'fleet-ilb-vip-guard',
      /only fleet-ilb may change the status of a Service of loadBalancerClass fleetilb\.io\/vip/);
    expectDenied(await patchSpec(alice, 'cart-vip', { spec: { selector: { app: 'evil' } } }), 'fleet-ilb-vip-guard', /only fleet-ilb may change/);
    expectDenied(await patchSpec(alice, 'cart-vip', { metadata: { labels: { x: 'y' } } }), 'fleet-ilb-vip-guard', /only fleet-ilb may change/);
    expectDenied(
      await patchSpec(alice, 'cart-vip', { spec: { type: 'ClusterIP', loadBalancerClass: null, externalTrafficPolicy: null, allocateLoadBalancerNodePorts: null } }),
      'fleet-ilb-vip-guard',
      /only fleet-ilb may change/,
    );
    expect(await ingressOf('cart-vip')).toBe(VIP);
    const sel = await kubectlOk(member.kubeconfigPath, ['-n', NS, 'get', 'service', 'cart-vip', '-o', 'jsonpath={.spec.selector.app}']);
    expect(sel.stdout).toBe('cart');
  });

  it('denies alice turning her own Service into a VIP Service', async () => {
    // loadBalancerClass is immutable on a LoadBalancer Service; going through ClusterIP is the way
    // around that immutability, and the policy sees the new class.
    expectAllowed(await create(alice, JSON.stringify({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'plain', namespace: NS },
      spec: { type: 'ClusterIP', selector: { app: 'cart' }, ports: [{ port: 80 }] },
    })));
    expectDenied(await patchSpec(alice, 'plain', { spec: { type: 'LoadBalancer', loadBalancerClass: 'fleetilb.io/vip' } }),
      'fleet-ilb-vip-guard', /only fleet-ilb may change/);
  });
});

describe('fleet-ilb-member-scope: fleet-ilb writes only its own objects', () => {
  it('denies fleet-ilb creating, changing or deleting an ordinary Service', async () => {
    expectDenied(await create(fleetIlb, service('not-ours')), 'fleet-ilb-member-scope-services',
      /fleet-ilb may only create, change or delete Services of loadBalancerClass fleetilb\.io\/vip/);
    expectDenied(await patchStatusIngress(fleetIlb, 'shop-lb', VIP), 'fleet-ilb-member-scope-services', /fleet-ilb may only/);
    expectDenied(await patchSpec(fleetIlb, 'shop-lb', { spec: { selector: { app: 'x' } } }), 'fleet-ilb-member-scope-services', /fleet-ilb may only/);
    expectDenied(await del(fleetIlb, 'service', 'shop-lb'), 'fleet-ilb-member-scope-services', /fleet-ilb may only/);
    expect(await ingressOf('shop-lb')).toBe('192.0.2.7');
  });

  it('lets fleet-ilb write EndpointSlices labelled as its own, and no others', async () => {
    const slice = (name: string, managedBy: string): string => JSON.stringify({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name, namespace: NS, labels: { 'kubernetes.io/service-name': 'cart-vip', 'endpointslice.kubernetes.io/managed-by': managedBy } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.1.5'], conditions: { ready: true } }],
      ports: [{ name: 'tcp', port: 8080, protocol: 'TCP' }],
    });
    expectAllowed(await create(fleetIlb, slice('cart-vip-mirror', 'gateway-controller.fleetilb.io')));
    expectDenied(await create(fleetIlb, slice('cart-vip-other', 'endpointslice-controller.k8s.io')),
      'fleet-ilb-member-scope-endpointslices', /fleet-ilb may only write EndpointSlices labelled/);
    expectAllowed(await del(fleetIlb, 'endpointslice', 'cart-vip-mirror'));
  });
});

describe('fleet-ilb-vip-neighbours: the default install (no vipCIDRs) guards the VIPs of a namespace', () => {
  // A VIP outside any configured range: nothing here depends on vipCIDRs.
  const VIP2 = '10.0.5.5';
  const labelled = (name: string, extra: object = {}): string =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: NS, labels: { 'fleetilb.io/managed-by': 'fleet-ilb', 'fleetilb.io/fleet': 'f1' } },
      spec: { type: 'LoadBalancer', loadBalancerClass: 'fleetilb.io/vip', externalTrafficPolicy: 'Local', allocateLoadBalancerNodePorts: false, ports: [{ name: 'tcp', port: 9090, protocol: 'TCP' }] },
      ...extra,
    });
  const slice = (name: string, service: string, labels: Record<string, string> = {}): string =>
    JSON.stringify({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name, namespace: NS, labels: { 'kubernetes.io/service-name': service, ...labels } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.9.9'], conditions: { ready: true } }],
      ports: [{ name: 'tcp', port: 9090, protocol: 'TCP' }],
    });

  beforeAll(async () => {
    // alice may also write Endpoints (a broad app-team role): only admission stands in her way.
    await kubectlOk(member.kubeconfigPath, ['create', 'clusterrole', 'endpoints-admin', '--verb=get,list,create,update,patch,delete', '--resource=endpoints']);
    await kubectlOk(member.kubeconfigPath, ['create', 'clusterrolebinding', 'alice-endpoints-admin', '--clusterrole=endpoints-admin', '--user=alice']);
    // What fleet-ilb does for a Gateway: a labelled VIP Service whose status carries the VIP.
    expectAllowed(await create(fleetIlb, labelled('store-vip')));
    expectAllowed(await patchStatusIngress(fleetIlb, 'store-vip', VIP2));
    // The policy reads its params (the VIP Services) from the apiserver's informer: wait until a
    // request that must be denied is denied (dry-run, nothing stored).
    await waitUntil('fleet-ilb-vip-neighbours not in force', dryRun(alice, service('probe3', { externalIPs: [VIP2] })), deniedBy('fleet-ilb-vip-neighbours'));
  });

  it('denies alice claiming the VIP in another Service of the namespace (externalIPs or status)', async () => {
    expectDenied(await create(alice, service('hijack', { externalIPs: [VIP2] })), 'fleet-ilb-vip-neighbours',
      /only fleet-ilb may put the VIP 10\.0\.5\.5 of store-vip into spec\.externalIPs or status\.loadBalancer\.ingress of another Service/);
    expectAllowed(await create(alice, service('neighbour-lb')));
    expectDenied(await patchStatusIngress(alice, 'neighbour-lb', VIP2), 'fleet-ilb-vip-neighbours', /only fleet-ilb may put the VIP 10\.0\.5\.5/);
    expect(await ingressOf('neighbour-lb')).toBe('');
    // Any other address is still hers to use.
    expectAllowed(await patchStatusIngress(alice, 'neighbour-lb', '10.0.5.6'));
  });

  it('denies alice an EndpointSlice or Endpoints for the VIP Service, and any object with fleet-ilb labels', async () => {
    expectDenied(await create(alice, slice('store-vip-evil', 'store-vip')), 'fleet-ilb-vip-neighbours',
      /only fleet-ilb may create or change EndpointSlices of the VIP Service store-vip/);
    expectDenied(
      await create(alice, JSON.stringify({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'store-vip', namespace: NS }, subsets: [{ addresses: [{ ip: '10.244.9.9' }], ports: [{ port: 9090 }] }] })),
      'fleet-ilb-vip-neighbours',
      /only fleet-ilb may create or change Endpoints named like the VIP Service store-vip/,
    );
    expectDenied(await create(alice, slice('mirror-lookalike', 'neighbour-lb', { 'endpointslice.kubernetes.io/managed-by': 'gateway-controller.fleetilb.io' })),
      'fleet-ilb-vip-guard', /only fleet-ilb may create or change an EndpointSlice labelled/);
    expectDenied(await create(alice, JSON.stringify({ ...JSON.parse(service('fake-owned')), metadata: { name: 'fake-owned', namespace: NS, labels: { 'fleetilb.io/managed-by': 'fleet-ilb' } } })),
      'fleet-ilb-vip-guard', /only fleet-ilb may create or change a Service labelled fleetilb\.io\/managed-by/);
    // Her own Services' slices are fine.
    expectAllowed(await create(alice, slice('neighbour-lb-1', 'neighbour-lb')));
    const got = await kubectl(member.kubeconfigPath, ['-n', NS, 'get', 'endpointslice', 'store-vip-evil']);
    expect(got.stderr).toMatch(/NotFound|not found/);
  });

  it("lets the EndpointSlice controller write a selector VIP Service's slices (the Service's fleet-ilb labels copied), not alice with the same labels", async () => {
    // kube-controller-manager's identity with per-controller credentials; the apiserver's RBAC
    // bootstrap binds system:controller:endpointslice-controller to it.
    const esc = await fleet.mintIdentity(member, 'system:serviceaccount:kube-system:endpointslice-controller', ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated']);
    const labels = { 'fleetilb.io/managed-by': 'fleet-ilb', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' };
    expectAllowed(await create(esc, slice('store-vip-esc', 'store-vip', labels)));
    // Two policies refuse it (its labels, and the VIP Service it names); the apiserver reports
    // whichever it evaluated first, in no fixed order.
    const r = await create(alice, slice('store-vip-esc-2', 'store-vip', labels));
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr).toMatch(
      /ValidatingAdmissionPolicy 'fleet-ilb-vip-guard' with binding 'fleet-ilb-vip-guard' denied request: only fleet-ilb may create or change an EndpointSlice labelled|ValidatingAdmissionPolicy 'fleet-ilb-vip-neighbours' with binding 'fleet-ilb-vip-neighbours' denied request: only fleet-ilb may create or change EndpointSlices of the VIP Service store-vip/,
    );
  });

  it('lets fleet-ilb write its mirrored slices of the VIP Service', async () => {
    expectAllowed(await create(fleetIlb, slice('store-vip-ep', 'store-vip', { 'endpointslice.kubernetes.io/managed-by': 'gateway-controller.fleetilb.io' })));
  });
});

describe('fleet-ilb-vip-registry: the default install guards every VIP of the fleet in every namespace', () => {
  // store-vip's VIP (the describe above): another namespace holds no fleet-ilb VIP Service, so
  // fleet-ilb-vip-neighbours has no param there; only the registry can refuse it.
  const VIP2 = '10.0.5.5';
  const OTHER = 'elsewhere';
  const inOther = (name: string, spec: object): string =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: OTHER },
      spec: { type: 'LoadBalancer', selector: { app: 'x' }, ports: [{ name: 'tcp', port: 9090, protocol: 'TCP' }], ...spec },
    });
  const registry = (data: Record<string, string>): string =>
    JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fleet-ilb-vips', namespace: 'fleet-ilb-system' }, data });
  /** What fleet-ilb does (infra/vip/registry.ts): server-side apply of the data, as its member identity. */
  const publish = (who: Identity, data: Record<string, string>): Promise<KubectlResult> =>
    kubectl(who.kubeconfigPath, ['apply', '--server-side', '--force-conflicts', '--field-manager=fleet-ilb', '-f', '-'], registry(data));
  const registryData = async (): Promise<Record<string, string>> =>
    (JSON.parse((await kubectlOk(member.kubeconfigPath, ['-n', 'fleet-ilb-system', 'get', 'configmap', 'fleet-ilb-vips', '-o', 'json'])).stdout) as { data?: Record<string, string> }).data ?? {};

  beforeAll(async () => {
    await kubectlOk(member.kubeconfigPath, ['create', 'namespace', OTHER]);
    // alice may also write ConfigMaps in fleet-ilb-system (say, a namespace admin there).
    await kubectlOk(member.kubeconfigPath, ['-n', 'fleet-ilb-system', 'create', 'role', 'cm-admin', '--verb=get,list,create,update,patch', '--resource=configmaps']);
    await kubectlOk(member.kubeconfigPath, ['-n', 'fleet-ilb-system', 'create', 'rolebinding', 'alice-cm-admin', '--role=cm-admin', '--user=alice']);
  });

  it('the install ships the registry empty; until fleet-ilb publishes a VIP, another namespace may claim it (what the registry closes)', async () => {
    expect(await registryData()).toEqual({});
    const r = await kubectl(alice.kubeconfigPath, ['create', '--dry-run=server', '-f', '-'], inOther('x', { externalIPs: [VIP2] }));
    // Allowed (the apiserver only warns that externalIPs is deprecated).
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('denied');
  });

  it('fleet-ilb publishes the VIP with its member identity (get + patch of that one ConfigMap)', async () => {
    expectAllowed(await publish(fleetIlb, { [VIP2]: 'shop/store' }));
    expect(await registryData()).toEqual({ [VIP2]: 'shop/store' });
    // The policy reads its param from the apiserver's informer: wait until it is in force.
    await waitUntil('fleet-ilb-vip-registry not in force', dryRun(alice, inOther('probe', { externalIPs: [VIP2] })), deniedBy('fleet-ilb-vip-registry'));
  });

  it('denies alice the VIP in another namespace: externalIPs, loadBalancerIP, status.loadBalancer.ingress', async () => {
    const text = /only fleet-ilb may put the fleet VIP 10\.0\.5\.5 \(Gateway shop\/store\) into spec\.externalIPs, spec\.loadBalancerIP or status\.loadBalancer\.ingress of a Service/;
    expectDenied(await create(alice, inOther('hijack-ext', { externalIPs: [VIP2] })), 'fleet-ilb-vip-registry', text);
    expectDenied(await create(alice, inOther('hijack-lbip', { loadBalancerIP: VIP2 })), 'fleet-ilb-vip-registry', text);
    const own = await create(alice, inOther('own-lb', {}));
    expect(own.code, own.stderr).toBe(0);
    const status = await kubectl(alice.kubeconfigPath, [
      '-n', OTHER, 'patch', 'service', 'own-lb', '--subresource=status', '--type=merge',
      '-p', JSON.stringify({ status: { loadBalancer: { ingress: [{ ip: VIP2, ipMode: 'VIP' }] } } }),
    ]);
    expectDenied(status, 'fleet-ilb-vip-registry', text);
    const spec = await kubectl(alice.kubeconfigPath, ['-n', OTHER, 'patch', 'service', 'own-lb', '--type=merge', '-p', JSON.stringify({ spec: { externalIPs: ['10.0.5.6', VIP2] } })]);
    expectDenied(spec, 'fleet-ilb-vip-registry', text);
    // Nothing was stored; any other address is still hers.
    for (const name of ['hijack-ext', 'hijack-lbip']) expect((await kubectl(member.kubeconfigPath, ['-n', OTHER, 'get', 'service', name])).stderr).toMatch(/not found/);
    const ext = await kubectlOk(member.kubeconfigPath, ['-n', OTHER, 'get', 'service', 'own-lb', '-o', 'jsonpath={.spec.externalIPs}']);
    expect(ext.stdout).toBe('');
    const other = await kubectl(alice.kubeconfigPath, ['-n', OTHER, 'patch', 'service', 'own-lb', '--type=merge', '-p', JSON.stringify({ spec: { externalIPs: ['10.0.5.6'] } })]);
    expect(other.code, other.stderr).toBe(0);
  });

  it('denies alice writing the registry; the install may be applied again', async () => {
    expectDenied(await publish(alice, { [VIP2]: 'shop/store', '10.0.5.6': 'evil/x' }), 'fleet-ilb-vip-guard',
      /only fleet-ilb may write the data of the VIP registry fleet-ilb-system\/fleet-ilb-vips/);
    expectDenied(await publish(alice, {}), 'fleet-ilb-vip-guard', /only fleet-ilb may write the data of the VIP registry/);
    const again = await applyBase(member, 'deploy/member');
    expect(again.code, again.stderr).toBe(0);
    expect(await registryData()).toEqual({ [VIP2]: 'shop/store' });
  });

  it('a VIP fleet-ilb no longer publishes is free again', async () => {
    expectAllowed(await publish(fleetIlb, {}));
    expect(await registryData()).toEqual({});
    await waitAllowed(() => kubectl(alice.kubeconfigPath, ['create', '--dry-run=server', '-f', '-'], inOther('y', { externalIPs: [VIP2] })));
  });
});

describe('vipCIDRs: no Service may claim an address from the VIP range', () => {
  beforeAll(async () => {
    // The platform team's recommended setting (deploy/README.md "VIP ranges"): the same policy with
    // vipCIDRs filled in, applied as an edit of the shipped manifest.
    interface Policy {
      kind: string;
      metadata: { name: string };
      spec: { variables: { name: string; expression: string }[] };
    }
    const docs = parseAllDocuments(readFileSync(join(repoRoot, 'deploy/member/admission.yaml'), 'utf8')).map((d) => d.toJS() as Policy);
    const guard = docs.find((d) => d.kind === 'ValidatingAdmissionPolicy' && d.metadata.name === 'fleet-ilb-vip-guard')!;
    const v = guard.spec.variables.find((x) => x.name === 'vipCIDRs')!;
    v.expression = "['10.20.0.0/24']";
    await kubectlOk(member.kubeconfigPath, ['apply', '--server-side', '--field-manager=fleet-ilb-install', '-f', '-'], stringify(guard));
    // Wait until the new version is in force.
    await waitUntil('vipCIDRs not in force', dryRun(alice, service('probe2', { externalIPs: ['10.20.0.200'] })), deniedBy('fleet-ilb VIP addresses'));
  });

  it('denies alice putting a VIP-range address in her Service status or externalIPs', async () => {
    expectDenied(await patchStatusIngress(alice, 'shop-lb', '10.20.0.99'), 'fleet-ilb-vip-guard',
      /only fleet-ilb may put fleet-ilb VIP addresses \(10\.20\.0\.99\) into spec\.externalIPs or status\.loadBalancer\.ingress/);
    expectDenied(await create(alice, service('ext', { externalIPs: [VIP] })), 'fleet-ilb-vip-guard', /fleet-ilb VIP addresses \(10\.20\.0\.10\)/);
    expect(await ingressOf('shop-lb')).toBe('192.0.2.7');
  });

  it('still allows addresses outside the range, and fleet-ilb inside it', async () => {
    expectAllowed(await patchStatusIngress(alice, 'shop-lb', '10.99.0.5'));
    expect(await ingressOf('shop-lb')).toBe('10.99.0.5');
    expectAllowed(await patchStatusIngress(fleetIlb, 'cart-vip', '10.20.0.11'));
    expect(await ingressOf('cart-vip')).toBe('10.20.0.11');
  });
});

describe('deleting a VIP Service', () => {
  it('is allowed to others (a member-local outage fleet-ilb repairs; namespace deletion must work)', async () => {
    expectAllowed(await del(alice, 'service', 'cart-vip'));
    const r = await kubectl(member.kubeconfigPath, ['-n', NS, 'get', 'service', 'cart-vip']);
    expect(r.stderr).toMatch(/not found/);
  });
});
