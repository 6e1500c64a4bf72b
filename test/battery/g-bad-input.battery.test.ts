// SPDX-License-Identifier: Apache-2.0
//
// Battery G1/G2 (test/battery/README.md): malformed input. G1: manifests the API server must refuse
// (CRD schema and CEL rules of Gateway API v1.6 and fleet-ilb's own CRDs), each applied for real and
// each refused with a 4xx and a message. G2: inputs that are valid objects but that the controller must
// judge, each with the Gateway API (or fleet-ilb) condition type/status/reason the spec gives, and ZERO
// GCE calls naming its Gateway in the emulator's audit log where the whole Gateway is invalid (a valid
// Gateway with a bad route may be programmed: those are marked `gceAllowed`). Every input lives in its
// own namespace `bad-N`, so GCE names (`fl-<fleet>-bad-N-gw-…`) attribute calls to it. The sibling
// `store` Gateway must stay Programmed and get no GCE write.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_API, findCondition, gatewayCondition, getGateway, listenerCondition, routeCondition, waitGatewayCondition, type Condition } from '../fixtures/conditions.ts';
import { KubeError, waitFor, type KObject, type Kube } from '../fixtures/kube.ts';
import type { Scenario } from '../fixtures/scenario.ts';
import { firewallsOf, itemFleet, releaseFleet, auditMark, recordRow, newRow, stamped } from './lib.ts';

const FLEETILB = 'fleetilb.io/v1alpha1';
const JUDGE_MS = 60_000;

type Obj = KObject & Record<string, unknown>;

function gw(ns: string, spec: Record<string, unknown>, name = 'gw'): Obj {
  return { apiVersion: GATEWAY_API, kind: 'Gateway', metadata: { name, namespace: ns }, spec: { gatewayClassName: 'fleet-ilb', ...spec } };
}
const tcp = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'tcp', protocol: 'TCP', port: 8080, ...extra });
function route(ns: string, spec: Record<string, unknown>, kind = 'TCPRoute'): Obj {
  return { apiVersion: GATEWAY_API, kind, metadata: { name: 'rt', namespace: ns }, spec };
}
/** A ReferenceGrant in `store` letting routes of `kind` in `ns` use its ServiceImports. */
const grantFrom = (ns: string, kind: 'TCPRoute' | 'UDPRoute'): Obj => ({
  apiVersion: 'gateway.networking.k8s.io/v1beta1',
  kind: 'ReferenceGrant',
  metadata: { name: `from-${ns}`, namespace: 'store' },
  spec: { from: [{ group: 'gateway.networking.k8s.io', kind, namespace: ns }], to: [{ group: 'multicluster.x-k8s.io', kind: 'ServiceImport' }] },
});
const importRef = (name = 'store', extra: Record<string, unknown> = {}): Record<string, unknown> => ({ group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name, port: 8080, ...extra });

/** An input the API server must refuse. */
interface Rejected {
  id: string;
  what: string;
  objects: (ns: string) => Obj[];
}

/** An input the controller must judge: `check` returns undefined when the right condition is there. */
interface Judged {
  id: string;
  what: string;
  objects: (ns: string, ctx: Ctx) => Obj[];
  check: (kube: Kube, ns: string) => Promise<string | undefined>;
  /** GCE calls naming this namespace's Gateway are legitimate (a valid Gateway with a bad route). */
  gceAllowed?: boolean;
}

interface Ctx {
  storeVip: string;
  storeAddressName: string;
}

function cond(c: Condition | undefined, status: string, reason: string, what: string): string | undefined {
  if (c?.status === status && c.reason === reason) return undefined;
  return `${what}: want ${status}/${reason}, got ${c === undefined ? 'no condition' : `${c.status}/${c.reason}: ${c.message ?? ''}`}`;
}
async function gwCond(kube: Kube, ns: string, type: string, status: string, reason: string): Promise<string | undefined> {
  return cond(gatewayCondition(await getGateway(kube, ns, 'gw'), type), status, reason, `Gateway ${type}`);
}
async function listenerCond(kube: Kube, ns: string, listener: string, type: string, status: string, reason: string): Promise<string | undefined> {
  return cond(listenerCondition(await getGateway(kube, ns, 'gw'), listener, type), status, reason, `listener ${listener} ${type}`);
}
async function routeCond(kube: Kube, ns: string, type: string, status: string, reason: string, kind = 'TCPRoute', parent = 'gw'): Promise<string | undefined> {
  const r = await kube.get(GATEWAY_API, kind, 'rt', ns);
  return cond(routeCondition(r, parent, type), status, reason, `${kind} ${type}`);
}
async function notProgrammed(kube: Kube, ns: string): Promise<string | undefined> {
  const c = gatewayCondition(await getGateway(kube, ns, 'gw'), 'Programmed');
  return c?.status === 'True' ? 'Gateway Programmed=True for an invalid input' : undefined;
}
const all = async (...xs: Array<Promise<string | undefined>>): Promise<string | undefined> => (await Promise.all(xs)).find((x) => x !== undefined);

/**
 * An ILBConfig naming a VPC network or subnetwork GCE does not have (issue 12): the ILBConfig and its
 * GatewayClass are Accepted=False/InvalidParameters naming the missing resource, and the Gateway is
 * not Accepted (InvalidParameters), so it gets no cloud call.
 */
async function vpcInvalid(kube: Kube, ns: string, what: 'network' | 'subnetwork'): Promise<string | undefined> {
  const conds = async (apiVersion: string, kind: string, name: string, namespace?: string): Promise<Condition[] | undefined> =>
    ((await kube.get(apiVersion, kind, name, namespace)) as { status?: { conditions?: Condition[] } } | undefined)?.status?.conditions;
  const named = (c: Condition | undefined, label: string): string | undefined =>
    cond(c, 'False', 'InvalidParameters', label) ?? (new RegExp(`${what} \\S+ does not exist`).test(c?.message ?? '') ? undefined : `${label}: message does not name the missing ${what}: ${c?.message ?? ''}`);
  return all(
    Promise.resolve(named(findCondition(await conds(GATEWAY_API, 'GatewayClass', `${ns}-class`), 'Accepted'), 'GatewayClass Accepted')),
    Promise.resolve(named(findCondition(await conds(FLEETILB, 'ILBConfig', ns, 'fleet-ilb-system'), 'Accepted'), 'ILBConfig Accepted')),
    gwCond(kube, ns, 'Accepted', 'False', 'InvalidParameters'),
    notProgrammed(kube, ns),
  );
}

const manyListeners = (n: number): Array<Record<string, unknown>> => Array.from({ length: n }, (_, i) => tcp({ name: `l${i}`, port: 1000 + i }));

const REJECTED: Rejected[] = [
  { id: 'G1-01', what: 'Gateway without listeners', objects: (ns) => [gw(ns, { listeners: [] })] },
  { id: 'G1-02', what: 'listener port 0', objects: (ns) => [gw(ns, { listeners: [tcp({ port: 0 })] })] },
  { id: 'G1-03', what: 'listener port 65536', objects: (ns) => [gw(ns, { listeners: [tcp({ port: 65536 })] })] },
  { id: 'G1-04', what: 'listener name not a DNS label', objects: (ns) => [gw(ns, { listeners: [tcp({ name: 'Bad_Name' })] })] },
  { id: 'G1-05', what: 'two listeners with one name', objects: (ns) => [gw(ns, { listeners: [tcp(), tcp({ port: 9090 })] })] },
  { id: 'G1-06', what: 'listener without protocol', objects: (ns) => [gw(ns, { listeners: [{ name: 'x', port: 8080, protocol: '' }] })] },
  { id: 'G1-07', what: 'TCP listener with a hostname', objects: (ns) => [gw(ns, { listeners: [tcp({ hostname: 'a.example.com' })] })] },
  { id: 'G1-08', what: '65 listeners (max 64)', objects: (ns) => [gw(ns, { listeners: manyListeners(65) })] },
  { id: 'G1-09', what: '17 addresses (max 16)', objects: (ns) => [gw(ns, { listeners: [tcp()], addresses: Array.from({ length: 17 }, (_, i) => ({ type: 'IPAddress', value: `10.128.1.${i + 1}` })) })] },
  { id: 'G1-10', what: 'Gateway without gatewayClassName', objects: (ns) => [{ apiVersion: GATEWAY_API, kind: 'Gateway', metadata: { name: 'gw', namespace: ns }, spec: { listeners: [tcp()] } }] },
  { id: 'G1-11', what: 'parentRef sectionName not a DNS label', objects: (ns) => [route(ns, { parentRefs: [{ name: 'gw', sectionName: 'Bad_Section' }], rules: [{ backendRefs: [importRef()] }] })] },
  { id: 'G1-12', what: 'IPAddress address that is not an IP', objects: (ns) => [gw(ns, { listeners: [tcp()], addresses: [{ type: 'IPAddress', value: 'not-an-ip' }] })] },
  { id: 'G1-13', what: 'TCPRoute with two rules (max 1)', objects: (ns) => [route(ns, { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [importRef()] }, { backendRefs: [importRef()] }] })] },
  { id: 'G1-14', what: 'TCPRoute with 17 backendRefs (max 16)', objects: (ns) => [route(ns, { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: Array.from({ length: 17 }, (_, i) => importRef(`s${i}`)) }] })] },
  { id: 'G1-15', what: 'TCPRoute with 33 parentRefs (max 32)', objects: (ns) => [route(ns, { parentRefs: Array.from({ length: 33 }, (_, i) => ({ name: `g${i}` })), rules: [{ backendRefs: [importRef()] }] })] },
  { id: 'G1-16', what: 'backendRef port 0', objects: (ns) => [route(ns, { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [importRef('store', { port: 0 })] }] })] },
  { id: 'G1-17', what: 'Service backendRef without a port', objects: (ns) => [route(ns, { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'svc' }] }] })] },
  { id: 'G1-18', what: 'UDPRoute without rules', objects: (ns) => [route(ns, { parentRefs: [{ name: 'gw' }], rules: [] }, 'UDPRoute')] },
  { id: 'G1-19', what: 'FleetMember clusterID not a DNS label', objects: () => [{ apiVersion: FLEETILB, kind: 'FleetMember', metadata: { name: 'bad-g1-19' }, spec: { clusterID: 'Bad_ID', kubeconfigSecretRef: { name: 'x' } } }] },
  { id: 'G1-20', what: 'FleetMember without kubeconfigSecretRef', objects: () => [{ apiVersion: FLEETILB, kind: 'FleetMember', metadata: { name: 'bad-g1-20' }, spec: { clusterID: 'c20' } }] },
  { id: 'G1-21', what: 'FleetMember Secret name not a DNS subdomain', objects: () => [{ apiVersion: FLEETILB, kind: 'FleetMember', metadata: { name: 'bad-g1-21' }, spec: { clusterID: 'c21', kubeconfigSecretRef: { name: 'Bad Name' } } }] },
  { id: 'G1-22', what: 'ILBConfig without region', objects: (ns) => [{ apiVersion: FLEETILB, kind: 'ILBConfig', metadata: { name: 'c', namespace: ns }, spec: { project: 'p' } }] },
  { id: 'G1-23', what: 'ILBConfig sessionAffinity not an enum value', objects: (ns) => [{ apiVersion: FLEETILB, kind: 'ILBConfig', metadata: { name: 'c', namespace: ns }, spec: { project: 'p', region: 'r', sessionAffinity: 'BOGUS' } }] },
  { id: 'G1-24', what: 'ILBConfig checkIntervalSec 0', objects: (ns) => [{ apiVersion: FLEETILB, kind: 'ILBConfig', metadata: { name: 'c', namespace: ns }, spec: { project: 'p', region: 'r', healthCheck: { checkIntervalSec: 0 } } }] },
  { id: 'G1-25', what: 'ILBConfig nodeSubsetSize 251 (max 250)', objects: (ns) => [{ apiVersion: FLEETILB, kind: 'ILBConfig', metadata: { name: 'c', namespace: ns }, spec: { project: 'p', region: 'r', nodeSubsetSize: 251 } }] },
  { id: 'G1-26', what: 'ReferenceGrant without from', objects: (ns) => [{ apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'rg', namespace: ns }, spec: { from: [], to: [{ group: '', kind: 'Service' }] } }] },
  { id: 'G1-27', what: 'two TCP listeners on one port (CEL: port, protocol and hostname unique)', objects: (ns) => [gw(ns, { listeners: [tcp({ name: 'tcp-a', port: 9000 }), tcp({ name: 'tcp-b', port: 9000 })] })] },
];

const JUDGED: Judged[] = [
  {
    id: 'G2-01', what: 'HTTP listener (fleet-ilb is L4 only)',
    objects: (ns) => [gw(ns, { listeners: [{ name: 'http', protocol: 'HTTP', port: 80 }] })],
    check: (k, ns) => all(listenerCond(k, ns, 'http', 'Accepted', 'False', 'UnsupportedProtocol'), notProgrammed(k, ns)),
  },
  {
    id: 'G2-02', what: 'TLS listener',
    objects: (ns) => [gw(ns, { listeners: [{ name: 'tls', protocol: 'TLS', port: 443, tls: { mode: 'Passthrough' } }] })],
    check: (k, ns) => all(listenerCond(k, ns, 'tls', 'Accepted', 'False', 'UnsupportedProtocol'), notProgrammed(k, ns)),
  },
  {
    id: 'G2-03', what: 'TCP listener allowing only HTTPRoute',
    objects: (ns) => [gw(ns, { listeners: [tcp({ allowedRoutes: { kinds: [{ kind: 'HTTPRoute' }] } })] })],
    check: (k, ns) => listenerCond(k, ns, 'tcp', 'ResolvedRefs', 'False', 'InvalidRouteKinds'),
    gceAllowed: true,
  },
  {
    id: 'G2-04', what: 'UDP listener allowing only TCPRoute',
    objects: (ns) => [gw(ns, { listeners: [{ name: 'udp', protocol: 'UDP', port: 53, allowedRoutes: { kinds: [{ kind: 'TCPRoute' }] } }] })],
    check: (k, ns) => listenerCond(k, ns, 'udp', 'ResolvedRefs', 'False', 'InvalidRouteKinds'),
    gceAllowed: true,
  },
  {
    id: 'G2-05', what: 'address of type Hostname',
    objects: (ns) => [gw(ns, { listeners: [tcp()], addresses: [{ type: 'Hostname', value: 'lb.example.com' }] })],
    check: (k, ns) => all(gwCond(k, ns, 'Accepted', 'False', 'UnsupportedAddress'), notProgrammed(k, ns)),
  },
  {
    id: 'G2-06', what: 'IPAddress outside the ILBConfig subnetwork',
    objects: (ns) => [gw(ns, { listeners: [tcp()], addresses: [{ type: 'IPAddress', value: '192.168.77.5' }] })],
    check: (k, ns) => gwCond(k, ns, 'Programmed', 'False', 'AddressNotUsable'),
  },
  {
    id: 'G2-07', what: 'IPAddress already in use (the store Gateway VIP)',
    objects: (ns, c) => [gw(ns, { listeners: [tcp()], addresses: [{ type: 'IPAddress', value: c.storeVip }] })],
    check: (k, ns) => gwCond(k, ns, 'Programmed', 'False', 'AddressNotUsable'),
  },
  {
    // With a route to a served backend, a wrongly accepted VIP would also reach the members: a VIP
    // Service carrying the store VIP would translate store's traffic to this Gateway's pods.
    id: 'G2-20', what: 'IPAddress already in use (the store VIP), with a route to a served backend',
    objects: (ns, c) => [
      gw(ns, { listeners: [tcp()], addresses: [{ type: 'IPAddress', value: c.storeVip }] }),
      route(ns, { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [importRef('store', { namespace: 'store' })] }] }),
      grantFrom(ns, 'TCPRoute'),
    ],
    check: (k, ns) => all(gwCond(k, ns, 'Programmed', 'False', 'AddressNotUsable'), routeCond(k, ns, 'ResolvedRefs', 'True', 'ResolvedRefs')),
  },
  {
    id: 'G2-08', what: "fleetilb.io/address-name naming another Gateway's fleet-ilb address (VIP hijack)",
    objects: (ns, c) => [gw(ns, { listeners: [tcp({ port: 9999 })], addresses: [{ type: 'fleetilb.io/address-name', value: c.storeAddressName }] })],
    check: (k, ns) => gwCond(k, ns, 'Programmed', 'False', 'AddressNotUsable'),
  },
  {
    id: 'G2-09', what: 'two addresses (one VIP per Gateway)',
    objects: (ns) => [gw(ns, { listeners: [tcp()], addresses: [{ type: 'IPAddress', value: '10.128.3.1' }, { type: 'IPAddress', value: '10.128.3.2' }] })],
    check: (k, ns) => notProgrammed(k, ns),
  },
  {
    id: 'G2-10', what: 'TCPRoute to a ServiceImport that does not exist',
    objects: (ns) => [gw(ns, { listeners: [tcp()] }), route(ns, { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [importRef('nope')] }] })],
    check: (k, ns) => routeCond(k, ns, 'ResolvedRefs', 'False', 'BackendNotFound'),
    gceAllowed: true,
  },
  {
    id: 'G2-11', what: 'TCPRoute backendRef of an unknown kind',
    objects: (ns) => [gw(ns, { listeners: [tcp()] }), route(ns, { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ group: 'example.com', kind: 'Foo', name: 'x', port: 1 }] }] })],
    check: (k, ns) => routeCond(k, ns, 'ResolvedRefs', 'False', 'InvalidKind'),
    gceAllowed: true,
  },
  {
    id: 'G2-12', what: 'TCPRoute to a ServiceImport in another namespace without a ReferenceGrant',
    objects: (ns) => [gw(ns, { listeners: [tcp()] }), route(ns, { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [importRef('store', { namespace: 'store' })] }] })],
    check: (k, ns) => routeCond(k, ns, 'ResolvedRefs', 'False', 'RefNotPermitted'),
    gceAllowed: true,
  },
  {
    id: 'G2-13', what: 'TCPRoute to a listener (sectionName) that does not exist',
    objects: (ns) => [gw(ns, { listeners: [tcp()] }), route(ns, { parentRefs: [{ name: 'gw', sectionName: 'nope' }], rules: [{ backendRefs: [importRef()] }] })],
    check: (k, ns) => routeCond(k, ns, 'Accepted', 'False', 'NoMatchingParent'),
    gceAllowed: true,
  },
  {
    id: 'G2-14', what: "TCPRoute attaching to the store Gateway from another namespace (listener allows Same)",
    objects: (ns) => [route(ns, { parentRefs: [{ name: 'store', namespace: 'store' }], rules: [{ backendRefs: [importRef()] }] })],
    check: (k, ns) => routeCond(k, ns, 'Accepted', 'False', 'NotAllowedByListeners', 'TCPRoute', 'store'),
  },
  {
    id: 'G2-15', what: 'GatewayClass whose ILBConfig does not exist',
    objects: (ns) => [
      { apiVersion: GATEWAY_API, kind: 'GatewayClass', metadata: { name: `${ns}-class` }, spec: { controllerName: 'fleetilb.io/gateway-controller', parametersRef: { group: 'fleetilb.io', kind: 'ILBConfig', name: 'missing', namespace: 'fleet-ilb-system' } } },
      { ...gw(ns, { listeners: [tcp()] }), spec: { gatewayClassName: `${ns}-class`, listeners: [tcp()] } },
    ],
    check: async (k, ns) => cond(findCondition(((await k.get(GATEWAY_API, 'GatewayClass', `${ns}-class`)) as { status?: { conditions?: Condition[] } } | undefined)?.status?.conditions, 'Accepted'), 'False', 'InvalidParameters', 'GatewayClass Accepted'),
  },
  {
    id: 'G2-16', what: 'ILBConfig naming a network that does not exist',
    objects: (ns) => [
      { apiVersion: FLEETILB, kind: 'ILBConfig', metadata: { name: ns, namespace: 'fleet-ilb-system' }, spec: { project: 'PROJECT', region: 'REGION', network: 'no-such-network', subnetwork: 'ilb-subnet' } },
      { apiVersion: GATEWAY_API, kind: 'GatewayClass', metadata: { name: `${ns}-class` }, spec: { controllerName: 'fleetilb.io/gateway-controller', parametersRef: { group: 'fleetilb.io', kind: 'ILBConfig', name: ns, namespace: 'fleet-ilb-system' } } },
      { ...gw(ns, { listeners: [tcp()] }), spec: { gatewayClassName: `${ns}-class`, listeners: [tcp()] } },
    ],
    check: (k, ns) => vpcInvalid(k, ns, 'network'),
  },
  {
    id: 'G2-17', what: 'ILBConfig naming a subnetwork that does not exist',
    objects: (ns) => [
      { apiVersion: FLEETILB, kind: 'ILBConfig', metadata: { name: ns, namespace: 'fleet-ilb-system' }, spec: { project: 'PROJECT', region: 'REGION', network: 'NETWORK', subnetwork: 'no-such-subnet' } },
      { apiVersion: GATEWAY_API, kind: 'GatewayClass', metadata: { name: `${ns}-class` }, spec: { controllerName: 'fleetilb.io/gateway-controller', parametersRef: { group: 'fleetilb.io', kind: 'ILBConfig', name: ns, namespace: 'fleet-ilb-system' } } },
      { ...gw(ns, { listeners: [tcp()] }), spec: { gatewayClassName: `${ns}-class`, listeners: [tcp()] } },
    ],
    check: (k, ns) => vpcInvalid(k, ns, 'subnetwork'),
  },
  {
    id: 'G2-18', what: 'FleetMember whose kubeconfig Secret does not exist',
    objects: (ns) => [{ apiVersion: FLEETILB, kind: 'FleetMember', metadata: { name: ns }, spec: { clusterID: ns, kubeconfigSecretRef: { name: `${ns}-missing` } } }],
    check: async (k, ns) => cond(findCondition(((await k.get(FLEETILB, 'FleetMember', ns)) as { status?: { conditions?: Condition[] } } | undefined)?.status?.conditions, 'Ready'), 'False', 'SecretNotFound', 'FleetMember Ready'),
  },
  {
    id: 'G2-19', what: 'FleetMember whose kubeconfig is not a kubeconfig',
    objects: (ns) => [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${ns}-kc`, namespace: 'fleet-ilb-system' }, data: { kubeconfig: Buffer.from('this: [is not a kubeconfig').toString('base64') } },
      { apiVersion: FLEETILB, kind: 'FleetMember', metadata: { name: ns }, spec: { clusterID: ns, kubeconfigSecretRef: { name: `${ns}-kc` } } },
    ],
    check: async (k, ns) => cond(findCondition(((await k.get(FLEETILB, 'FleetMember', ns)) as { status?: { conditions?: Condition[] } } | undefined)?.status?.conditions, 'Ready'), 'False', 'InvalidKubeconfig', 'FleetMember Ready'),
  },
  // Expected conditions as in the translate goldens (test/golden/translate/*.out.yaml named below).
  {
    id: 'G2-22', what: 'a custom (domain-prefixed) protocol',
    objects: (ns) => [gw(ns, { listeners: [{ name: 'custom', protocol: 'example.com/custom', port: 7000 }] })],
    check: (k, ns) => all(listenerCond(k, ns, 'custom', 'Accepted', 'False', 'UnsupportedProtocol'), notProgrammed(k, ns)),
  },
  {
    id: 'G2-23', what: 'UDPRoute to a TCP-only listener (conf-udproute-not-allowed-by-listeners)',
    objects: (ns) => [gw(ns, { listeners: [tcp()] }), route(ns, { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [importRef()] }] }, 'UDPRoute')],
    check: (k, ns) => routeCond(k, ns, 'Accepted', 'False', 'NotAllowedByListeners', 'UDPRoute'),
    gceAllowed: true,
  },
  {
    id: 'G2-24', what: 'TCPRoute parentRef port that no listener has (parentref-no-matching-parent)',
    objects: (ns) => [gw(ns, { listeners: [tcp()] }), route(ns, { parentRefs: [{ name: 'gw', port: 9999 }], rules: [{ backendRefs: [importRef()] }] })],
    check: (k, ns) => routeCond(k, ns, 'Accepted', 'False', 'NoMatchingParent'),
    gceAllowed: true,
  },
  {
    id: 'G2-25', what: 'UDPRoute to a ServiceImport port that is TCP only (udproute-backend-tcp-port-only)',
    objects: (ns) => [
      gw(ns, { listeners: [{ name: 'udp', protocol: 'UDP', port: 53 }] }),
      route(ns, { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [importRef('store', { namespace: 'store' })] }] }, 'UDPRoute'),
      grantFrom(ns, 'UDPRoute'),
    ],
    check: (k, ns) => routeCond(k, ns, 'ResolvedRefs', 'False', 'BackendNotFound', 'UDPRoute'),
    gceAllowed: true,
  },
  {
    id: 'G2-26', what: 'UDPRoute across namespaces with a ReferenceGrant for TCPRoutes only (udproute-grant-for-tcproute-only)',
    objects: (ns) => [
      gw(ns, { listeners: [{ name: 'udp', protocol: 'UDP', port: 53 }] }),
      route(ns, { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [importRef('store', { namespace: 'store' })] }] }, 'UDPRoute'),
      grantFrom(ns, 'TCPRoute'),
    ],
    check: (k, ns) => routeCond(k, ns, 'ResolvedRefs', 'False', 'RefNotPermitted', 'UDPRoute'),
    gceAllowed: true,
  },
  {
    id: 'G2-27', what: 'TCPRoute to a ServiceImport port it does not have',
    objects: (ns) => [gw(ns, { listeners: [tcp()] }), route(ns, { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [importRef('store', { namespace: 'store', port: 9999 })] }] }), grantFrom(ns, 'TCPRoute')],
    check: (k, ns) => routeCond(k, ns, 'ResolvedRefs', 'False', 'BackendNotFound'),
    gceAllowed: true,
  },
  {
    id: 'G2-28', what: 'infrastructure.parametersRef naming a ConfigMap (conformance GatewayInvalidParametersRef)',
    objects: (ns) => [gw(ns, { listeners: [tcp()], infrastructure: { parametersRef: { group: '', kind: 'ConfigMap', name: 'cm' } } })],
    check: (k, ns) => all(gwCond(k, ns, 'Accepted', 'False', 'InvalidParameters'), notProgrammed(k, ns)),
  },
  {
    id: 'G2-29', what: 'infrastructure.parametersRef naming an ILBConfig that does not exist',
    objects: (ns) => [gw(ns, { listeners: [tcp()], infrastructure: { parametersRef: { group: 'fleetilb.io', kind: 'ILBConfig', name: 'missing' } } })],
    check: (k, ns) => all(gwCond(k, ns, 'Accepted', 'False', 'InvalidParameters'), notProgrammed(k, ns)),
  },
  {
    id: 'G2-30', what: 'GatewayClass without parametersRef and a Gateway that names no ILBConfig',
    objects: (ns) => [
      { apiVersion: GATEWAY_API, kind: 'GatewayClass', metadata: { name: `${ns}-class` }, spec: { controllerName: 'fleetilb.io/gateway-controller' } },
      { ...gw(ns, { listeners: [tcp()] }), spec: { gatewayClassName: `${ns}-class`, listeners: [tcp()] } },
    ],
    check: async (k, ns) =>
      all(
        // The class is valid without parameters (each Gateway may name its own ILBConfig in
        // spec.infrastructure.parametersRef); a Gateway that names none cannot be programmed.
        Promise.resolve(cond(findCondition(((await k.get(GATEWAY_API, 'GatewayClass', `${ns}-class`)) as { status?: { conditions?: Condition[] } } | undefined)?.status?.conditions, 'Accepted'), 'True', 'Accepted', 'GatewayClass Accepted')),
        notProgrammed(k, ns),
      ),
  },
  {
    id: 'G2-31', what: 'GatewayClass parametersRef naming a ConfigMap',
    objects: (ns) => [
      { apiVersion: GATEWAY_API, kind: 'GatewayClass', metadata: { name: `${ns}-class` }, spec: { controllerName: 'fleetilb.io/gateway-controller', parametersRef: { group: '', kind: 'ConfigMap', name: 'cm', namespace: 'fleet-ilb-system' } } },
      { ...gw(ns, { listeners: [tcp()] }), spec: { gatewayClassName: `${ns}-class`, listeners: [tcp()] } },
    ],
    check: async (k, ns) =>
      all(
        Promise.resolve(cond(findCondition(((await k.get(GATEWAY_API, 'GatewayClass', `${ns}-class`)) as { status?: { conditions?: Condition[] } } | undefined)?.status?.conditions, 'Accepted'), 'False', 'InvalidParameters', 'GatewayClass Accepted')),
        notProgrammed(k, ns),
      ),
  },
  {
    id: 'G2-32', what: 'address of type Hostname next to an IPAddress',
    objects: (ns) => [gw(ns, { listeners: [tcp()], addresses: [{ type: 'IPAddress', value: '10.128.3.9' }, { type: 'Hostname', value: 'lb.example.com' }] })],
    check: (k, ns) => all(gwCond(k, ns, 'Accepted', 'False', 'UnsupportedAddress'), notProgrammed(k, ns)),
  },
  {
    id: 'G2-33', what: 'fleetilb.io/address-name naming an address that does not exist',
    objects: (ns) => [gw(ns, { listeners: [tcp()], addresses: [{ type: 'fleetilb.io/address-name', value: 'no-such-address' }] })],
    check: (k, ns) => gwCond(k, ns, 'Programmed', 'False', 'AddressNotUsable'),
  },
  {
    id: 'G2-34', what: 'TCPRoute backendRef to a ServiceImport in a namespace that does not exist, granted nowhere',
    objects: (ns) => [gw(ns, { listeners: [tcp()] }), route(ns, { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [importRef('store', { namespace: 'no-such-namespace' })] }] })],
    check: (k, ns) => routeCond(k, ns, 'ResolvedRefs', 'False', 'RefNotPermitted'),
    gceAllowed: true,
  },
  {
    id: 'G2-35', what: 'Gateway of a class that is not ours',
    objects: (ns) => [
      { apiVersion: GATEWAY_API, kind: 'GatewayClass', metadata: { name: `${ns}-other` }, spec: { controllerName: 'example.com/other-controller' } },
      { ...gw(ns, { listeners: [tcp()] }), spec: { gatewayClassName: `${ns}-other`, listeners: [tcp()] } },
    ],
    // Not ours: no condition written on it (no other controller runs here) and no cloud call.
    check: async (k, ns) => {
      const n = ((await getGateway(k, ns, 'gw'))?.status?.conditions ?? []).filter((c) => c.observedGeneration !== undefined && c.reason !== 'Pending').length;
      return n > 0 ? `${n} conditions written on a Gateway of another controller's class` : undefined;
    },
  },
  {
    id: 'G2-36', what: 'IPAddress that is the subnetwork address itself (10.128.0.0)',
    objects: (ns) => [gw(ns, { listeners: [tcp()], addresses: [{ type: 'IPAddress', value: '10.128.0.0' }] })],
    check: (k, ns) => gwCond(k, ns, 'Programmed', 'False', 'AddressNotUsable'),
  },
  {
    id: 'G2-37', what: 'IPv6 IPAddress in an IPv4 subnetwork',
    objects: (ns) => [gw(ns, { listeners: [tcp()], addresses: [{ type: 'IPAddress', value: 'fd00::5' }] })],
    // Not accepted (an address it cannot use), so Programmed=False/Invalid and no cloud call.
    check: (k, ns) => gwCond(k, ns, 'Programmed', 'False', 'Invalid'),
  },
  {
    id: 'G2-21', what: 'TCP listener allowing a route kind of another group',
    objects: (ns) => [gw(ns, { listeners: [tcp({ allowedRoutes: { kinds: [{ group: 'example.com', kind: 'TCPRoute' }] } })] })],
    check: (k, ns) => listenerCond(k, ns, 'tcp', 'ResolvedRefs', 'False', 'InvalidRouteKinds'),
    gceAllowed: true,
  },
  {
    id: 'G2-38', what: 'FleetMember whose kubeconfig Secret has no kubeconfig key',
    objects: (ns) => [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${ns}-kc`, namespace: 'fleet-ilb-system' }, data: { other: Buffer.from('x').toString('base64') } },
      { apiVersion: FLEETILB, kind: 'FleetMember', metadata: { name: ns }, spec: { clusterID: ns, kubeconfigSecretRef: { name: `${ns}-kc` } } },
    ],
    check: async (k, ns) => {
      const c = findCondition(((await k.get(FLEETILB, 'FleetMember', ns)) as { status?: { conditions?: Condition[] } } | undefined)?.status?.conditions, 'Ready');
      return c?.status === 'False' && (c.reason === 'InvalidKubeconfig' || c.reason === 'SecretNotFound') ? undefined : `FleetMember Ready: want False/InvalidKubeconfig, got ${c?.status ?? '-'}/${c?.reason ?? '-'}`;
    },
  },
  {
    id: 'G2-39', what: 'FleetMember whose kubeconfig points at nothing (a closed loopback port)',
    objects: (ns) => [
      {
        apiVersion: 'v1', kind: 'Secret', metadata: { name: `${ns}-kc`, namespace: 'fleet-ilb-system' },
        data: { kubeconfig: Buffer.from(JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }], users: [{ name: 'u', user: { token: 't' } }], contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }], 'current-context': 'c' })).toString('base64') },
      },
      { apiVersion: FLEETILB, kind: 'FleetMember', metadata: { name: ns }, spec: { clusterID: ns, kubeconfigSecretRef: { name: `${ns}-kc` } } },
    ],
    check: async (k, ns) => cond(findCondition(((await k.get(FLEETILB, 'FleetMember', ns)) as { status?: { conditions?: Condition[] } } | undefined)?.status?.conditions, 'Ready'), 'False', 'Unreachable', 'FleetMember Ready'),
  },
];

describe('G1/G2 bad input: the spec condition, and no GCE call on its behalf', () => {
  let s: Scenario;
  const row = newRow('G1/G2', 'malformed inputs: refused or judged, 0 GCE calls');
  let mark = 0;
  let ctx: Ctx;
  /** What G2 applied, in order (deleted again by the last test). */
  const applied: Obj[] = [];

  beforeAll(async () => {
    s = await itemFleet();
    const store = await waitGatewayCondition(s.kube('config'), 'store', 'store', 'Programmed', 120_000);
    await waitFor(() => firewallsOf(s.emulator, 'store', 'store') >= 2, 60_000, 'store firewalls');
    const addr = s.emulator.inventory().addresses.find((a) => String(a['name']).includes('-store-store-'));
    ctx = { storeVip: store.status?.addresses?.[0]?.value ?? '', storeAddressName: typeof addr?.['name'] === 'string' ? addr['name'] : '' };
    mark = auditMark(s.emulator);
  });

  afterAll(async () => {
    recordRow(row);
    await releaseFleet(s);
  });

  it(`the API server refuses ${REJECTED.length} malformed manifests`, async () => {
    const kube = s.kube('config');
    const failures: string[] = [];
    for (const [i, c] of REJECTED.entries()) {
      const ns = `bad1-${i + 1}`;
      await kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      const objects = c.objects(ns).map((o) => JSON.parse(JSON.stringify(o).replaceAll('"PROJECT"', JSON.stringify(s.gcp.project))) as Obj);
      let refused: KubeError | undefined;
      let stored = false;
      for (const o of objects) {
        try {
          await kube.apply(o);
        } catch (e) {
          if (e instanceof KubeError) refused = e;
          else throw e;
        }
        if ((await kube.get(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace)) !== undefined) stored = true;
      }
      row.runs++;
      // Refused = an error with a message and nothing stored. (Server-side apply answers a list-map
      // with duplicate keys — two listeners of one name — with a 500, not a 422; still refused.)
      if (refused === undefined || stored || refused.message.length < 20) {
        failures.push(`${c.id} ${c.what}: not refused by the API server${refused === undefined ? '' : ` (HTTP ${refused.status}${stored ? ', stored anyway' : ''})`}`);
      }
    }
    // Refused means no cloud call either: nothing in the audit names these namespaces.
    const calls = s.emulator.audit().filter((a) => a.seq > mark && REJECTED.some((_, i) => a.resource?.includes(`-bad1-${i + 1}-`) === true));
    row.forbiddenWrites += calls.filter((a) => a.access === 'write').length;
    if (calls.length > 0) failures.push(`${calls.length} GCE calls for refused manifests: ${calls.slice(0, 3).map((a) => `${a.method} ${a.resource ?? ''}`).join(', ')}`);
    row.failures.push(...failures);
    expect(failures).toEqual([]);
  });

  it(`the controller judges ${JUDGED.length} inputs with the spec's condition, with no GCE call for an invalid Gateway`, async () => {
    const kube = s.kube('config');
    const sub = (o: Obj): Obj =>
      JSON.parse(
        JSON.stringify(o).replaceAll('"PROJECT"', JSON.stringify(s.gcp.project)).replaceAll('"REGION"', JSON.stringify(s.gcp.region)).replaceAll('"NETWORK"', JSON.stringify(s.gcp.network)),
      ) as Obj;
    const namespaces = JUDGED.map((_, i) => `bad2-${i + 1}`);
    for (const [i, c] of JUDGED.entries()) {
      const ns = namespaces[i]!;
      await kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      for (const o of c.objects(ns, ctx)) {
        const x = sub(o);
        await kube.apply(x);
        applied.push(x);
      }
    }
    const results = new Map<string, string | undefined>();
    await waitFor(
      async () => {
        for (const [i, c] of JUDGED.entries()) {
          if (results.has(c.id) && results.get(c.id) === undefined) continue;
          results.set(c.id, await c.check(kube, namespaces[i]!).catch((e: unknown) => `check failed: ${String(e)}`));
        }
        return [...results.values()].every((r) => r === undefined);
      },
      JUDGE_MS,
      'every input judged',
    ).catch(() => undefined);
    // A little longer for calls that would follow a (wrong) acceptance.
    await new Promise((r) => setTimeout(r, 5_000));
    const failures: string[] = [];
    const audit = s.emulator.audit().filter((a) => a.seq > mark);
    for (const [i, c] of JUDGED.entries()) {
      row.runs++;
      const r = results.get(c.id);
      if (r !== undefined) failures.push(`${c.id} ${c.what}: ${r}`);
      if (c.gceAllowed === true) continue;
      const calls = audit.filter((a) => a.resource?.includes(`-${namespaces[i]!}-`));
      if (calls.length > 0) {
        row.forbiddenWrites += calls.filter((a) => a.access === 'write').length;
        failures.push(`${c.id} ${c.what}: ${calls.length} GCE calls on its behalf (${calls.filter((a) => a.access === 'write').length} writes), e.g. ${calls.slice(0, 3).map((a) => `${a.method} ${a.status}`).join(', ')}`);
      }
    }
    // No VIP Service for an invalid Gateway: it would carry an IP the Gateway does not hold.
    for (const [i, c] of JUDGED.entries()) {
      if (c.gceAllowed === true) continue;
      for (const m of s.fleet.members) {
        const svcs = await s.kube(m.name).list('v1', 'Service', { labelSelector: `fleetilb.io/managed-by=fleet-ilb,fleetilb.io/gateway-namespace=${namespaces[i]!}` });
        if (svcs.length === 0) continue;
        row.kubeLeaks += svcs.length;
        failures.push(`${c.id} ${c.what}: ${svcs.length} VIP Services in ${m.name} (${svcs.map((x) => JSON.stringify((x.status as { loadBalancer?: { ingress?: unknown[] } } | undefined)?.loadBalancer?.ingress ?? [])).join(', ')})`);
      }
    }
    // Siblings: the store Gateway stays Programmed and gets no GCE write.
    const store = await getGateway(kube, 'store', 'store');
    if (gatewayCondition(store, 'Programmed')?.status !== 'True') failures.push('sibling store Gateway no longer Programmed');
    const sibling = audit.filter((a) => a.access === 'write' && a.resource !== undefined && /-store-store-/.test(a.resource));
    row.forbiddenWrites += sibling.length;
    if (sibling.length > 0) failures.push(`${sibling.length} GCE writes to the untouched store Gateway`);
    row.failures.push(...failures);
    expect(failures).toEqual([]);
  });

  // Also what leaves a shared fleet as G found it (test/battery/lib.ts itemFleet); the namespaces
  // stay (the test fleet has no namespace controller to empty them).
  it('every judged input deleted: nothing of theirs is left in GCE or in the members', async () => {
    const kube = s.kube('config');
    for (const o of [...applied].reverse()) {
      if (o.kind === 'Namespace') continue;
      await kube.delete(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace);
    }
    const theirs = (): string[] => [...new Set(stamped(s.emulator.inventory()).filter((x) => x.gateway.startsWith('bad2-')).map((x) => x.name))];
    const vipServices = async (): Promise<number> => {
      let n = 0;
      for (const m of s.fleet.members) n += (await s.kube(m.name).list('v1', 'Service', { labelSelector: 'fleetilb.io/managed-by=fleet-ilb' })).filter((x) => x.metadata.namespace?.startsWith('bad2-') === true || x.metadata.labels?.['fleetilb.io/gateway-namespace']?.startsWith('bad2-') === true).length;
      return n;
    };
    const gateways = async (): Promise<number> => (await kube.list(GATEWAY_API, 'Gateway')).filter((g) => g.metadata.namespace?.startsWith('bad2-') === true).length;
    await waitFor(async () => theirs().length === 0 && (await vipServices()) === 0 && (await gateways()) === 0, JUDGE_MS, 'bad inputs torn down').catch(() => undefined);
    const left = theirs();
    const vips = await vipServices();
    const gws = await gateways();
    row.gceLeaks += left.length;
    row.kubeLeaks += vips + gws;
    const failures: string[] = [];
    if (left.length > 0) failures.push(`${left.length} GCE resources of deleted inputs left: ${left.slice(0, 4).join(', ')}`);
    if (vips + gws > 0) failures.push(`${vips} VIP Services and ${gws} Gateways of deleted inputs left`);
    row.failures.push(...failures);
    expect(failures).toEqual([]);
  });
});
