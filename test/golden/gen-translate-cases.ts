// SPDX-License-Identifier: Apache-2.0
//
// Writes test/golden/translate/<case>.in.yaml from the builders. Run:
//   node test/golden/gen-translate-cases.ts && npm run golden:update
// then review every changed .out.yaml. The .in.yaml files are checked in (they are the inputs the
// golden test reads); this script is how they were made and how to make new ones consistently.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Gateway } from '../../controller/api/index.ts';
import { vipServiceName } from '../../controller/naming/names.ts';
import type { MemberSnapshot, Snapshot } from '../../controller/snapshot/types.ts';
import * as b from './builders.ts';
import { dump } from './golden.ts';

const DIR = join(import.meta.dirname, 'translate');
const ZONES = ['europe-west1-b', 'europe-west1-c', 'europe-west1-d'];

interface App {
  ns: string;
  name: string;
  ports: Array<{ port: number; protocol?: 'TCP' | 'UDP'; name?: string; targetPort?: number | string }>;
  /** Node indexes hosting a ready endpoint. */
  on: number[];
  exported?: boolean;
  exportCreated?: string;
  /** Export with GKE MCS's `net.gke.io/v1` ServiceExport; `both` adds an upstream one too. */
  exportGroup?: 'net.gke.io' | 'both';
  selector?: Record<string, string> | null;
}

/** A member with `nodes` nodes spread over zones and the given apps (Service + slice + export). */
function stdMember(id: string, octet: number, apps: App[], opts: { nodes?: number; zones?: string[]; extra?: Partial<MemberSnapshot> } = {}): MemberSnapshot {
  const zones = opts.zones ?? ZONES.slice(0, 2);
  const count = opts.nodes ?? 3;
  const nodes = Array.from({ length: count }, (_, i) => b.node(`${id}-node-${i}`, zones[i % zones.length] ?? 'europe-west1-b', `10.${octet}.0.${10 + i}`));
  const services = apps.map((a) =>
    b.service(a.ns, a.name, a.ports.map((p) => b.port(p.port, { protocol: p.protocol ?? 'TCP', name: p.name ?? `p${p.port}`, targetPort: p.targetPort ?? p.port })), { selector: a.selector === null ? null : (a.selector ?? { app: a.name }) }),
  );
  const slices = apps.map((a, k) =>
    b.slice(
      a.ns,
      a.name,
      `${a.name}-${id}-abc`,
      a.on.map((n, j) => ({ ip: `10.${octet}.${100 + k}.${j + 1}`, node: `${id}-node-${n}` })),
      a.ports.map((p) => ({ name: p.name ?? `p${p.port}`, port: typeof p.targetPort === 'number' ? p.targetPort : p.port, protocol: p.protocol ?? 'TCP' })),
    ),
  );
  const exports = apps
    .filter((a) => a.exported !== false)
    .flatMap((a) => {
      const gke = b.serviceExport(a.ns, a.name, a.exportCreated ?? b.T0, { group: 'net.gke.io' });
      if (a.exportGroup === 'net.gke.io') return [gke];
      const up = b.serviceExport(a.ns, a.name, a.exportCreated ?? b.T0);
      return a.exportGroup === 'both' ? [gke, up] : [up];
    });
  return b.member(id, { nodes, services, endpointSlices: slices, serviceExports: exports, ...(opts.extra ?? {}) });
}

const cases: Record<string, { description: string; snapshot: Snapshot; nodeVms?: Record<string, boolean> }> = {};
/** `nodeVms`: GCE's word on name-mapped node VMs (TranslateOptions.nodeVms) for the case. */
function add(name: string, description: string, snapshot: Snapshot, nodeVms?: Record<string, boolean>): void {
  cases[name] = { description, snapshot, ...(nodeVms === undefined ? {} : { nodeVms }) };
}

const NS = 'store';
const nsStore = b.namespace(NS);

// ---- store scenarios ----------------------------------------------------------------------
add(
  'design-store-cluster-specific-imports',
  'DESIGN scenario 1: store exported from two members plus cluster-specific exports (store-west-1, store-east-1); one Gateway, three TCP listeners, each to one ServiceImport (GKE MCS docs pattern).',
  b.snapshot({
    config: {
      namespaces: [nsStore],
      gateways: [b.gateway(NS, 'store', [b.listener('store', 8080), b.listener('west', 8081), b.listener('east', 8082)])],
      tcpRoutes: [
        b.tcpRoute(NS, 'store', [b.parent('store', { sectionName: 'store' })], [b.svcImportRef('store', 8080)]),
        b.tcpRoute(NS, 'store-west-1', [b.parent('store', { sectionName: 'west' })], [b.svcImportRef('store-west-1', 8080)]),
        b.tcpRoute(NS, 'store-east-1', [b.parent('store', { sectionName: 'east' })], [b.svcImportRef('store-east-1', 8080)]),
      ],
    },
    members: [
      stdMember('gke-west-1', 1, [
        { ns: NS, name: 'store', ports: [{ port: 8080 }], on: [0, 1] },
        { ns: NS, name: 'store-west-1', ports: [{ port: 8080 }], on: [2] },
      ]),
      stdMember('gke-east-1', 2, [
        { ns: NS, name: 'store', ports: [{ port: 8080 }], on: [1] },
        { ns: NS, name: 'store-east-1', ports: [{ port: 8080 }], on: [0, 2] },
      ], { zones: ['europe-west1-c', 'europe-west1-d'] }),
    ],
  }),
);

const GKE_REF = { group: 'net.gke.io' } as const;
add(
  'gke-mcs-store-tutorial',
  'The GKE multi-cluster Gateway store tutorial in L4: members export with net.gke.io/v1 ServiceExports (store from both, store-west-1 / store-east-1 from one each); three TCP listeners, each TCPRoute to a net.gke.io ServiceImport. No net.gke.io ServiceImport exists (no GKE importer): the references resolve to the exported services, fleet-ilb maintains the multicluster.x-k8s.io imports, and writes no condition on GKE\'s exports. gke-east-1 exports store with both APIs (mid-migration): one export, the upstream one gets the conditions.',
  b.snapshot({
    config: {
      namespaces: [nsStore],
      gateways: [b.gateway(NS, 'store', [b.listener('store', 8080), b.listener('west', 8081), b.listener('east', 8082)])],
      tcpRoutes: [
        b.tcpRoute(NS, 'store', [b.parent('store', { sectionName: 'store' })], [b.svcImportRef('store', 8080, GKE_REF)]),
        b.tcpRoute(NS, 'store-west-1', [b.parent('store', { sectionName: 'west' })], [b.svcImportRef('store-west-1', 8080, GKE_REF)]),
        b.tcpRoute(NS, 'store-east-1', [b.parent('store', { sectionName: 'east' })], [b.svcImportRef('store-east-1', 8080, GKE_REF)]),
      ],
    },
    members: [
      stdMember('gke-west-1', 1, [
        { ns: NS, name: 'store', ports: [{ port: 8080 }], on: [0, 1], exportGroup: 'net.gke.io' },
        { ns: NS, name: 'store-west-1', ports: [{ port: 8080 }], on: [2], exportGroup: 'net.gke.io' },
      ]),
      stdMember('gke-east-1', 2, [
        { ns: NS, name: 'store', ports: [{ port: 8080 }], on: [1], exportGroup: 'both' },
        { ns: NS, name: 'store-east-1', ports: [{ port: 8080 }], on: [0, 2], exportGroup: 'net.gke.io' },
      ], { zones: ['europe-west1-c', 'europe-west1-d'] }),
    ],
  }),
);

add(
  'backends-not-serving',
  'Never green when nothing serves: listener orphan routes to a net.gke.io ServiceImport no member exports (m1 has the Service without a ServiceExport), listener idle to an import whose only exporter has no ready endpoint, listener spare has no route, listener ok serves. Gateway fleetilb.io/BackendsServing=False/NoServingClusters naming each listener and what to do; each route carries the condition for its listener.',
  b.snapshot({
    config: {
      namespaces: [nsStore],
      serviceImports: [b.serviceImport(NS, 'orphan', [{ name: 'p8080', port: 8080, protocol: 'TCP' }], { group: 'net.gke.io' })],
      gateways: [b.gateway(NS, 'shop', [b.listener('orphan', 8080), b.listener('idle', 8081), b.listener('spare', 8082), b.listener('ok', 8083)])],
      tcpRoutes: [
        b.tcpRoute(NS, 'orphan', [b.parent('shop', { sectionName: 'orphan' })], [b.svcImportRef('orphan', 8080, { group: 'net.gke.io' })]),
        b.tcpRoute(NS, 'idle', [b.parent('shop', { sectionName: 'idle' })], [b.svcImportRef('idle', 8080)]),
        b.tcpRoute(NS, 'ok', [b.parent('shop', { sectionName: 'ok' })], [b.svcImportRef('ok', 8080)]),
      ],
    },
    members: [
      stdMember('m1', 1, [
        { ns: NS, name: 'orphan', ports: [{ port: 8080 }], on: [0], exported: false },
        { ns: NS, name: 'idle', ports: [{ port: 8080 }], on: [] },
        { ns: NS, name: 'ok', ports: [{ port: 8080 }], on: [1] },
      ]),
    ],
  }),
);

add(
  'design-app-8080-two-clusters-one-vip',
  'DESIGN scenario 2: an app on port 8080 in two clusters behind one VIP (one ServiceImport, one TCP listener, NEGs per member x zone).',
  b.snapshot({
    config: {
      namespaces: [b.namespace('app')],
      gateways: [b.gateway('app', 'app', [b.listener('tcp-8080', 8080)], { addresses: [{ type: 'IPAddress', value: '10.128.0.80' }] })],
      tcpRoutes: [b.tcpRoute('app', 'app', [b.parent('app')], [b.svcImportRef('app', 8080)])],
    },
    members: [
      stdMember('cluster-a', 1, [{ ns: 'app', name: 'app', ports: [{ port: 8080 }], on: [0, 1, 2] }]),
      stdMember('cluster-b', 2, [{ ns: 'app', name: 'app', ports: [{ port: 8080 }], on: [0] }]),
    ],
  }),
);


// ---- Gateway API v1.6 conformance (TCPRoute / UDPRoute), Service backends in one member --------
const INFRA = 'gateway-conformance-infra';
const WEB = 'gateway-conformance-web-backend';
const APP = 'gateway-conformance-app-backend';
const confNamespaces = [b.namespace(INFRA), b.namespace(APP), b.namespace(WEB)];

interface ConfApp {
  ns?: string;
  name: string;
  port: number;
  protocol?: 'TCP' | 'UDP';
  /** Service port name (the suite's manifests: `tcp`, `udp`; coredns: `udp-dns`). */
  portName?: string;
  on?: number[];
}

/** The conformance cluster (the config cluster is also the only member) with the given Services. */
function confSnapshot(parts: { gateways: Gateway[]; tcpRoutes?: ReturnType<typeof b.tcpRoute>[]; udpRoutes?: ReturnType<typeof b.udpRoute>[]; grants?: ReturnType<typeof b.referenceGrant>[]; apps: ConfApp[] }): Snapshot {
  const m = stdMember(
    'conformance',
    9,
    parts.apps.map((a) => ({ ns: a.ns ?? INFRA, name: a.name, ports: [{ port: a.port, protocol: a.protocol ?? 'TCP', name: a.portName ?? (a.protocol ?? 'TCP').toLowerCase() }], on: a.on ?? [0], exported: false })),
  );
  return b.snapshot({
    config: {
      namespaces: confNamespaces,
      gateways: parts.gateways ?? [],
      tcpRoutes: parts.tcpRoutes ?? [],
      udpRoutes: parts.udpRoutes ?? [],
      referenceGrants: parts.grants ?? [],
    },
    members: [m],
  });
}

const tcpKinds = { kinds: [{ kind: 'TCPRoute' }] };
const udpKinds = { kinds: [{ kind: 'UDPRoute' }] };
const A2 = 'gateway.networking.k8s.io/v1alpha2';

// Each conf-* case below is the manifest of the Gateway API v1.6.3 conformance test it names
// (sigs.k8s.io/gateway-api/conformance, tests/<name>.yaml: v1 routes, the same names and ports),
// with the Deployments' pods as endpoints in the one member; docs/conformance.md has the suite's
// own results. Routes the test creates from Go (the newer route of *MultipleRoutesAttachment) are
// added here with a later creationTimestamp.
add(
  'conf-tcproute-parentref-port-and-section-name',
  'Conformance TCPRouteParentRefPortAndSectionName (v1.6.3): TCPRoutes attach by port (one), by sectionName (two), by sectionName+port (three); each listener has one attached route and its own backend.',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'tcp-multi-listener-gateway', [b.listener('one', 9300, 'TCP', tcpKinds), b.listener('two', 9301, 'TCP', tcpKinds), b.listener('three', 9302, 'TCP', tcpKinds)])],
    tcpRoutes: [
      b.tcpRoute(INFRA, 'tcp-route-by-port', [b.parent('tcp-multi-listener-gateway', { port: 9300 })], [b.svcRef('tcp-echo-one', 3000)]),
      b.tcpRoute(INFRA, 'tcp-route-by-section', [b.parent('tcp-multi-listener-gateway', { sectionName: 'two' })], [b.svcRef('tcp-echo-two', 3000)]),
      b.tcpRoute(INFRA, 'tcp-route-by-section-and-port', [b.parent('tcp-multi-listener-gateway', { sectionName: 'three', port: 9302 })], [b.svcRef('tcp-echo-three', 3000)]),
    ],
    apps: [{ name: 'tcp-echo-one', port: 3000, on: [0] }, { name: 'tcp-echo-two', port: 3000, on: [1] }, { name: 'tcp-echo-three', port: 3000, on: [2] }],
  }),
);

add(
  'conf-tcproute-parentref-attach-all',
  'Conformance TCPRouteParentRefAttachAll (v1.6.3): a parentRef without sectionName/port attaches to all four TCP listeners (attachedRoutes=1 each).',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'tcp-attach-all-gateway', [b.listener('one', 9310, 'TCP', tcpKinds), b.listener('two', 9311, 'TCP', tcpKinds), b.listener('three', 9312, 'TCP', tcpKinds), b.listener('four', 9313, 'TCP', tcpKinds)])],
    tcpRoutes: [b.tcpRoute(INFRA, 'tcp-route-attach-all', [b.parent('tcp-attach-all-gateway')], [b.svcRef('tcp-echo-attach-all', 3000)])],
    apps: [{ name: 'tcp-echo-attach-all', port: 3000 }],
  }),
);

add(
  'conf-tcproute-invalid-non-tcp-listener',
  'Conformance TCPRouteInvalidNonTCPListener (v1.6.3): a TCPRoute naming an HTTP listener (kinds [HTTPRoute]) is Accepted=False/NotAllowedByListeners, 0 attached routes. The HTTP listener itself is UnsupportedProtocol here, so the Gateway is not Accepted and the suite, which waits for it to be Programmed first, cannot pass (docs/conformance.md).',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'tcp-mixed-protocol-gateway', [b.listener('only-allow-http-routes', 5300, 'HTTP', { kinds: [{ kind: 'HTTPRoute' }] })])],
    tcpRoutes: [b.tcpRoute(INFRA, 'tcp-route', [b.parent('tcp-mixed-protocol-gateway', { sectionName: 'only-allow-http-routes' })], [b.svcRef('tcp-echo-backend', 8080)])],
    apps: [],
  }),
);

add(
  'conf-tcproute-invalid-backendref-nonexistent',
  'Conformance TCPRouteInvalidBackendRefNonexistent (v1.6.3): Accepted=True, ResolvedRefs=False/BackendNotFound; the listener is programmed with no backends (no NEG endpoints, no VIP Service).',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'tcp-gateway-invalid-backend', [b.listener('tcp', 9300, 'TCP', tcpKinds)])],
    tcpRoutes: [b.tcpRoute(INFRA, 'tcp-route-invalid-backend-ref-nonexistent', [b.parent('tcp-gateway-invalid-backend', { sectionName: 'tcp' })], [b.svcRef('nonexistent-service', 8080)])],
    apps: [],
  }),
);

add(
  'conf-tcproute-invalid-cross-namespace-backend-ref',
  'Conformance TCPRouteInvalidCrossNamespaceBackendRef (v1.6.3): cross-namespace backend without a ReferenceGrant is ResolvedRefs=False/RefNotPermitted (route still Accepted).',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'tcp-invalid-cross-namespace-backend-ref-gateway', [b.listener('tcp', 9321, 'TCP', tcpKinds)])],
    tcpRoutes: [b.tcpRoute(INFRA, 'tcp-invalid-cross-namespace-backend-ref', [b.parent('tcp-invalid-cross-namespace-backend-ref-gateway', { sectionName: 'tcp' })], [b.svcRef('tcp-invalid-xns-backend', 3000, { namespace: WEB })])],
    apps: [{ ns: WEB, name: 'tcp-invalid-xns-backend', port: 3000 }],
  }),
);

add(
  'conf-tcproute-reference-grant',
  'Conformance TCPRouteReferenceGrant (v1.6.3): the cross-namespace backend with a ReferenceGrant (from TCPRoute in the infra namespace, to that Service by name) resolves; the VIP Service lives in the backend namespace.',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'tcp-reference-grant-gateway', [b.listener('tcp', 9320, 'TCP', tcpKinds)])],
    tcpRoutes: [b.tcpRoute(INFRA, 'tcp-reference-grant', [b.parent('tcp-reference-grant-gateway', { sectionName: 'tcp' })], [b.svcRef('tcp-reference-grant-backend', 3000, { namespace: WEB })])],
    grants: [b.referenceGrant(WEB, 'tcp-reference-grant', [{ kind: 'TCPRoute', namespace: INFRA }], [{ group: '', kind: 'Service', name: 'tcp-reference-grant-backend' }])],
    apps: [{ ns: WEB, name: 'tcp-reference-grant-backend', port: 3000, on: [2] }],
  }),
);

add(
  'conf-tcproute-weighted-routing',
  'Conformance TCPRouteWeightedRouting (v1.6.3, weights 70/30/0): passthrough NLB has no per-connection weights, so weight 0 is excluded and 70/30 become equal; several backendRefs => selectorless VIP Service with mirrored EndpointSlices. (The suite checks the traffic ratio: skipped, docs/conformance.md.)',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'tcp-weighted-gateway', [b.listener('tcp', 9300, 'TCP', tcpKinds)])],
    tcpRoutes: [b.tcpRoute(INFRA, 'tcp-weighted-route', [b.parent('tcp-weighted-gateway', { sectionName: 'tcp' })], [b.svcRef('tcp-backend-v1', 3000, { weight: 70 }), b.svcRef('tcp-backend-v2', 3000, { weight: 30 }), b.svcRef('tcp-backend-v3', 3000, { weight: 0 })])],
    apps: [{ name: 'tcp-backend-v1', port: 3000, on: [0] }, { name: 'tcp-backend-v2', port: 3000, on: [1] }, { name: 'tcp-backend-v3', port: 3000, on: [2] }],
  }),
);

add(
  'conf-tcproute-multiple-routes-attachment',
  'Conformance TCPRouteMultipleRoutesAttachment (v1.6.3): tcproute-attach-older from the manifest, tcproute-attach-newer created a second later by the test; both Accepted, attachedRoutes=2, only the older route (creationTimestamp) carries traffic (its backend on node-0 only).',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'tcp-multi-route-attach-gateway', [b.listener('tcp', 9310, 'TCP', { kinds: [{ kind: 'TCPRoute', group: 'gateway.networking.k8s.io' }], namespaces: { from: 'Same' } })])],
    tcpRoutes: [
      b.tcpRoute(INFRA, 'tcproute-attach-newer', [b.parent('tcp-multi-route-attach-gateway', { sectionName: 'tcp' })], [b.svcRef('tcp-attach-backend-2', 3000)], b.t(5)),
      b.tcpRoute(INFRA, 'tcproute-attach-older', [b.parent('tcp-multi-route-attach-gateway', { sectionName: 'tcp' })], [b.svcRef('tcp-attach-backend-1', 3000)], b.t(1)),
    ],
    apps: [{ name: 'tcp-attach-backend-1', port: 3000, on: [0] }, { name: 'tcp-attach-backend-2', port: 3000, on: [1] }],
  }),
);

add(
  'conf-udproute-simple',
  'Conformance UDPRoute (v1.6.3, udproute-simple): listener coredns (UDP 5300) and a UDPRoute to the coredns Service of the base manifests (UDP 53, port name udp-dns); HTTP health check on the pinned healthCheckNodePort of the VIP Service.',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'udp-gateway', [b.listener('coredns', 5300, 'UDP', udpKinds)])],
    udpRoutes: [b.udpRoute(INFRA, 'udp-coredns', [b.parent('udp-gateway', { sectionName: 'coredns' })], [b.svcRef('coredns', 53)])],
    apps: [{ name: 'coredns', port: 53, protocol: 'UDP', portName: 'udp-dns', on: [0, 2] }],
  }),
);

add(
  'conf-udproute-parentref-port-and-section-name',
  'Conformance UDPRouteParentRefPortAndSectionName (v1.6.3): UDPRoutes attach by port (by-port), by sectionName (by-section), by both (by-section-and-port).',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'udp-multi-listener-gateway', [b.listener('by-port', 5300, 'UDP', udpKinds), b.listener('by-section', 5301, 'UDP', udpKinds), b.listener('by-section-and-port', 5302, 'UDP', udpKinds)])],
    udpRoutes: [
      b.udpRoute(INFRA, 'udp-route-by-port', [b.parent('udp-multi-listener-gateway', { port: 5300 })], [b.svcRef('udp-echo-by-port', 8080)]),
      b.udpRoute(INFRA, 'udp-route-by-section', [b.parent('udp-multi-listener-gateway', { sectionName: 'by-section' })], [b.svcRef('udp-echo-by-section', 8080)]),
      b.udpRoute(INFRA, 'udp-route-by-section-and-port', [b.parent('udp-multi-listener-gateway', { sectionName: 'by-section-and-port', port: 5302 })], [b.svcRef('udp-echo-by-section-and-port', 8080)]),
    ],
    apps: [{ name: 'udp-echo-by-port', port: 8080, protocol: 'UDP', on: [0] }, { name: 'udp-echo-by-section', port: 8080, protocol: 'UDP', on: [1] }, { name: 'udp-echo-by-section-and-port', port: 8080, protocol: 'UDP', on: [2] }],
  }),
);

add(
  'conf-udproute-parentref-attach-all-listeners',
  'Conformance UDPRouteParentRefAttachAllListeners (v1.6.3): no port/sectionName attaches to all three UDP listeners (attachedRoutes=1 each).',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'udp-attach-all-listeners-gateway', [b.listener('udp-1', 5310, 'UDP', udpKinds), b.listener('udp-2', 5311, 'UDP', udpKinds), b.listener('udp-3', 5312, 'UDP', udpKinds)])],
    udpRoutes: [b.udpRoute(INFRA, 'udp-route-attach-all', [b.parent('udp-attach-all-listeners-gateway')], [b.svcRef('udp-echo-attach-all', 8080)])],
    apps: [{ name: 'udp-echo-attach-all', port: 8080, protocol: 'UDP' }],
  }),
);

add(
  'conf-udproute-not-allowed-by-listeners',
  'Conformance UDPRouteNotAllowedByListeners (v1.6.3): a UDPRoute naming a TLS (Passthrough) listener is Accepted=False/NotAllowedByListeners, 0 attached routes. (The suite runs its checks only for implementations that support TLSRoute.)',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'udproute-tls-only-gateway', [{ ...b.listener('tls', 443, 'TLS', { namespaces: { from: 'Same' } }), tls: { mode: 'Passthrough' } }])],
    udpRoutes: [b.udpRoute(INFRA, 'udproute-not-allowed-by-listeners', [b.parent('udproute-tls-only-gateway', { sectionName: 'tls' })], [b.svcRef('coredns', 53)])],
    apps: [{ name: 'coredns', port: 53, protocol: 'UDP', portName: 'udp-dns' }],
  }),
);

add(
  'conf-udproute-invalid-backendref-nonexistent',
  'Conformance UDPRouteInvalidBackendRefNonexistent (v1.6.3): ResolvedRefs=False/BackendNotFound, route Accepted.',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'udp-gateway-invalid-backend', [b.listener('udp', 5300, 'UDP', udpKinds)])],
    udpRoutes: [b.udpRoute(INFRA, 'udp-route-invalid-backend-ref-nonexistent', [b.parent('udp-gateway-invalid-backend', { sectionName: 'udp' })], [b.svcRef('nonexistent-service', 8080)])],
    apps: [],
  }),
);

add(
  'udproute-backend-tcp-port-only',
  'A UDPRoute to a Service that exists but has only a TCP port 53 (no UDP port) is ResolvedRefs=False/BackendNotFound (from the v1.6.0-v1.6.2 conformance manifest).',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'udp-invalid-backend-gateway', [b.listener('udp-2', 5321, 'UDP', udpKinds)])],
    udpRoutes: [b.udpRoute(INFRA, 'udp-wrong-protocol', [b.parent('udp-invalid-backend-gateway', { sectionName: 'udp-2' })], [b.svcRef('tcp-only', 53)])],
    apps: [{ name: 'tcp-only', port: 53, protocol: 'TCP' }],
  }),
);

add(
  'conf-udproute-invalid-cross-namespace-backend-ref',
  'Conformance UDPRouteInvalidCrossNamespaceBackendRef (v1.6.3): a backend in gateway-conformance-app-backend without a ReferenceGrant is ResolvedRefs=False/RefNotPermitted (checked before existence: the Service does not exist either).',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'udp-gateway-invalid-cross-namespace-backend-ref', [b.listener('udp', 5300, 'UDP', udpKinds)])],
    udpRoutes: [b.udpRoute(INFRA, 'udp-route-invalid-cross-namespace-backend-ref', [b.parent('udp-gateway-invalid-cross-namespace-backend-ref', { sectionName: 'udp' })], [b.svcRef('udp-echo-no-reference-grant', 8080, { namespace: APP })])],
    apps: [],
  }),
);

add(
  'udproute-grant-for-tcproute-only',
  'A ReferenceGrant that exists but is for TCPRoute only does not let a UDPRoute reference the Service: RefNotPermitted (from the v1.6.0-v1.6.2 conformance manifest).',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'udp-xns-gateway', [b.listener('udp', 5330, 'UDP', udpKinds)])],
    udpRoutes: [b.udpRoute(INFRA, 'udp-invalid-xns', [b.parent('udp-xns-gateway')], [b.svcRef('udp-xns-backend', 8080, { namespace: WEB })])],
    grants: [b.referenceGrant(WEB, 'tcp-only-grant', [{ kind: 'TCPRoute', namespace: INFRA }], [{ group: '', kind: 'Service' }])],
    apps: [{ ns: WEB, name: 'udp-xns-backend', port: 8080, protocol: 'UDP' }],
  }),
);

add(
  'conf-udproute-reference-grant',
  'Conformance UDPRouteReferenceGrant (v1.6.3): a grant from UDPRoute in the infra namespace to the Service udp-echo-reference-grant in gateway-conformance-app-backend.',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'udp-gateway-reference-grant', [b.listener('udp', 5300, 'UDP', udpKinds)])],
    udpRoutes: [b.udpRoute(INFRA, 'udp-route-reference-grant', [b.parent('udp-gateway-reference-grant', { sectionName: 'udp' })], [b.svcRef('udp-echo-reference-grant', 8080, { namespace: APP })])],
    grants: [b.referenceGrant(APP, 'udp-reference-grant', [{ kind: 'UDPRoute', namespace: INFRA }], [{ group: '', kind: 'Service', name: 'udp-echo-reference-grant' }])],
    apps: [{ ns: APP, name: 'udp-echo-reference-grant', port: 8080, protocol: 'UDP', on: [1] }],
  }),
);

add(
  'conf-udproute-weighted-routing',
  'Conformance UDPRouteWeightedRouting (v1.6.3, weights 70/30/0): weight 0 is excluded, 70/30 become equal (no per-connection weights on a passthrough NLB); mirrored EndpointSlices. (Traffic ratio check skipped, docs/conformance.md.)',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'udp-weighted-gateway', [b.listener('udp', 5300, 'UDP', udpKinds)])],
    udpRoutes: [b.udpRoute(INFRA, 'udp-weighted-route', [b.parent('udp-weighted-gateway', { sectionName: 'udp' })], [b.svcRef('udp-backend-v1', 8080, { weight: 70 }), b.svcRef('udp-backend-v2', 8080, { weight: 30 }), b.svcRef('udp-backend-v3', 8080, { weight: 0 })])],
    apps: [{ name: 'udp-backend-v1', port: 8080, protocol: 'UDP', on: [0] }, { name: 'udp-backend-v2', port: 8080, protocol: 'UDP', on: [2] }, { name: 'udp-backend-v3', port: 8080, protocol: 'UDP', on: [1] }],
  }),
);

add(
  'conf-udproute-multiple-routes-attachment',
  'Conformance UDPRouteMultipleRoutesAttachment (v1.6.3): udproute-attach-older from the manifest, udproute-attach-newer created later by the test; both Accepted, attachedRoutes=2, only the older one carries traffic.',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'udp-multi-route-attach-gateway', [b.listener('udp', 5301, 'UDP', udpKinds)])],
    udpRoutes: [
      b.udpRoute(INFRA, 'udproute-attach-newer', [b.parent('udp-multi-route-attach-gateway', { sectionName: 'udp' })], [b.svcRef('udp-attach-backend-2', 8080)], b.t(5)),
      b.udpRoute(INFRA, 'udproute-attach-older', [b.parent('udp-multi-route-attach-gateway', { sectionName: 'udp' })], [b.svcRef('udp-attach-backend-1', 8080)], b.t(1)),
    ],
    apps: [{ name: 'udp-attach-backend-1', port: 8080, protocol: 'UDP', on: [0] }, { name: 'udp-attach-backend-2', port: 8080, protocol: 'UDP', on: [1] }],
  }),
);

add(
  'udproute-same-creation-time-name-order',
  'Two UDPRoutes on one listener with the same creationTimestamp: namespace/name decides, udp-a is older than udp-b (Gateway API conflict resolution; from the v1.6.0-v1.6.2 conformance manifest).',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'udp-multi-route-gateway', [b.listener('udp', 5350, 'UDP', udpKinds)])],
    udpRoutes: [
      b.udpRoute(INFRA, 'udp-b', [b.parent('udp-multi-route-gateway', { sectionName: 'udp' })], [b.svcRef('udp-backend-b', 8080)]),
      b.udpRoute(INFRA, 'udp-a', [b.parent('udp-multi-route-gateway', { sectionName: 'udp' })], [b.svcRef('udp-backend-a', 8080)]),
    ],
    apps: [{ name: 'udp-backend-a', port: 8080, protocol: 'UDP', on: [0] }, { name: 'udp-backend-b', port: 8080, protocol: 'UDP', on: [1] }],
  }),
);

add(
  'udproute-valid-invalid-listeners',
  'UDP and TCP listeners on different ports; a UDPRoute without sectionName attaches to the UDP listener only (attachedRoutes udp=1, tcp=0, both ResolvedRefs=True) (from the v1.6.0-v1.6.2 conformance manifest).',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'udp-tcp-listeners-gateway', [b.listener('udp', 5360, 'UDP', udpKinds), b.listener('tcp', 5361, 'TCP', tcpKinds)])],
    udpRoutes: [b.udpRoute(INFRA, 'udp-route-on-mixed-listener-gateway', [b.parent('udp-tcp-listeners-gateway')], [b.svcRef('udp-echo', 8080)])],
    apps: [{ name: 'udp-echo', port: 8080, protocol: 'UDP' }],
  }),
);

add(
  'udp-tcp-listener-merge',
  'A TCP and a UDP listener on the same port coexist (no conflict): two forwarding rules on the VIP, one per protocol (from the v1.6.0-v1.6.2 conformance manifest).',
  confSnapshot({
    gateways: [b.gateway(INFRA, 'udp-tcp-listener-merge-gateway', [b.listener('udp', 5300, 'UDP', udpKinds), b.listener('tcp', 5300, 'TCP', tcpKinds)])],
    udpRoutes: [b.udpRoute(INFRA, 'udp-route-listener-merge', [b.parent('udp-tcp-listener-merge-gateway', { sectionName: 'udp' })], [b.svcRef('echo', 8080)])],
    tcpRoutes: [b.tcpRoute(INFRA, 'tcp-route-listener-merge', [b.parent('udp-tcp-listener-merge-gateway', { sectionName: 'tcp' })], [b.svcRef('echo', 3000)])],
    apps: [{ name: 'echo', port: 8080, protocol: 'UDP', on: [0] }],
  }),
);
// The echo Service above needs both ports: patch the generated member.
{
  const c = cases['udp-tcp-listener-merge'];
  const m = c?.snapshot.members['conformance'];
  const svc = m?.services[0];
  const sl = m?.endpointSlices[0];
  if (svc?.spec.ports !== undefined && sl?.ports !== undefined) {
    svc.spec.ports.push(b.port(3000, { name: 'tcp', protocol: 'TCP' }));
    sl.ports.push({ name: 'tcp', port: 3000, protocol: 'TCP' });
  }
}

add(
  'conf-gateway-invalid-route-kind',
  'Conformance GatewayInvalidRouteKind (v1.6.3 manifest): HTTP listeners with kinds [InvalidRoute] and [InvalidRoute, HTTPRoute]. Both listeners are UnsupportedProtocol here, so every requested kind is unsupported: ResolvedRefs=False/InvalidRouteKinds, supportedKinds empty (the suite also wants HTTPRoute in the second supportedKinds: an HTTP listener, docs/conformance.md).',
  b.snapshot({
    config: {
      namespaces: confNamespaces,
      gateways: [
        b.gateway(INFRA, 'gateway-only-invalid-route-kind', [b.listener('http', 80, 'HTTP', { namespaces: { from: 'All' }, kinds: [{ kind: 'InvalidRoute' }] })]),
        b.gateway(INFRA, 'gateway-supported-and-invalid-route-kind', [b.listener('http', 80, 'HTTP', { namespaces: { from: 'All' }, kinds: [{ kind: 'InvalidRoute' }, { kind: 'HTTPRoute' }] })]),
      ],
    },
  }),
);
add(
  'conf-gateway-static-addresses',
  'Conformance GatewayStaticAddresses (v1.6.3 manifest, first step): an address of an unsupported type next to two IPAddress entries => Accepted=False/UnsupportedAddress, no cloud call. fleet-ilb does not claim the feature (one Gateway = one VIP; docs/conformance.md), so the suite does not run the later steps.',
  b.snapshot({
    config: {
      namespaces: confNamespaces,
      gateways: [
        b.gateway(INFRA, 'gateway-static-addresses', [b.listener('http', 8080, 'HTTP')], {
          addresses: [{ type: 'test/fake-invalid-type', value: 'fake address teehee!' }, { type: 'IPAddress', value: '10.9.255.254' }, { type: 'IPAddress', value: '10.9.0.200' }],
        }),
      ],
    },
  }),
);

// ---- Gateway and listener rules ----------------------------------------------------------
const G = 'gateways';
add(
  'gateway-unsupported-protocol-only',
  'Conformance GatewayListenerUnsupportedProtocol (only invalid): HTTP and TLS listeners are Accepted=False/UnsupportedProtocol with no supportedKinds; the Gateway is Accepted=False/ListenersNotValid, no IR.',
  b.snapshot({ config: { namespaces: [b.namespace(G)], gateways: [b.gateway(G, 'only-unsupported', [b.listener('http', 80, 'HTTP'), b.listener('tls', 443, 'TLS')])] } }),
);
add(
  'gateway-unsupported-protocol-mixed',
  'Conformance GatewayListenerUnsupportedProtocol (mixed): a TCP and an HTTP listener; Gateway Accepted=True/ListenersNotValid, only the TCP listener is programmed.',
  b.snapshot({ config: { namespaces: [b.namespace(G)], gateways: [b.gateway(G, 'mixed', [b.listener('http', 80, 'HTTP'), b.listener('tcp', 5432)])] } }),
);
add(
  'gateway-invalid-route-kind',
  'Conformance GatewayInvalidRouteKind adapted to L4: allowedRoutes.kinds only HTTPRoute => ResolvedRefs=False/InvalidRouteKinds, supportedKinds empty, a TCPRoute cannot attach; kinds TCPRoute+HTTPRoute => supportedKinds [TCPRoute], still InvalidRouteKinds; UDP listener with kinds [TCPRoute] is invalid too.',
  b.snapshot({
    config: {
      namespaces: [b.namespace(G)],
      gateways: [
        b.gateway(G, 'kinds', [
          b.listener('only-invalid', 7000, 'TCP', { kinds: [{ kind: 'HTTPRoute' }] }),
          b.listener('mixed', 7001, 'TCP', { kinds: [{ kind: 'TCPRoute' }, { group: 'example.com', kind: 'FooRoute' }] }),
          b.listener('udp-wrong', 7002, 'UDP', { kinds: [{ kind: 'TCPRoute' }] }),
        ]),
      ],
      tcpRoutes: [b.tcpRoute(G, 'r', [b.parent('kinds')], [])],
    },
  }),
);
add(
  'listener-protocol-conflict',
  'Two TCP listeners on one port (older CRD bundles allow it) and a TCP + HTTPS pair on another: all Conflicted=True/ProtocolConflict, Accepted=False/Invalid, not programmed; TCP+UDP on 53 do not conflict.',
  b.snapshot({
    crdBundleVersion: 'v1.6.1',
    config: {
      namespaces: [b.namespace(G)],
      gateways: [b.gateway(G, 'conflicts', [b.listener('tcp-a', 9000), b.listener('tcp-b', 9000), b.listener('tcp-c', 443), b.listener('https', 443, 'HTTPS'), b.listener('dns-tcp', 53), b.listener('dns-udp', 53, 'UDP')])],
      tcpRoutes: [b.tcpRoute(G, 'to-a', [b.parent('conflicts', { sectionName: 'tcp-a' })], [])],
    },
  }),
);

const ALLOWED = 'infra';
const allowedBase = (from: 'All' | 'Same' | 'Selector', selector?: Record<string, string>): Snapshot =>
  b.snapshot({
    config: {
      namespaces: [b.namespace(ALLOWED), b.namespace('team-a', { env: 'prod' }), b.namespace('team-b', { env: 'dev' })],
      gateways: [b.gateway(ALLOWED, 'shared', [b.listener('tcp', 6000, 'TCP', from === 'Selector' ? { namespaces: { from, selector: { matchLabels: selector ?? {} } } } : { namespaces: { from } })])],
      tcpRoutes: [
        b.tcpRoute(ALLOWED, 'same-ns', [b.parent('shared')], [b.svcRef('app', 6000)], b.t(1)),
        b.tcpRoute('team-a', 'from-a', [b.parent('shared', { namespace: ALLOWED })], [b.svcRef('app', 6000)], b.t(2)),
        b.tcpRoute('team-b', 'from-b', [b.parent('shared', { namespace: ALLOWED })], [b.svcRef('app', 6000)], b.t(3)),
      ],
    },
    members: [
      stdMember('m1', 1, [
        { ns: ALLOWED, name: 'app', ports: [{ port: 6000 }], on: [0], exported: false },
        { ns: 'team-a', name: 'app', ports: [{ port: 6000 }], on: [1], exported: false },
        { ns: 'team-b', name: 'app', ports: [{ port: 6000 }], on: [2], exported: false },
      ]),
    ],
  });
add('allowed-routes-same', 'allowedRoutes.namespaces.from Same: only the route in the Gateway namespace attaches; the others are NotAllowedByListeners.', allowedBase('Same'));
add('allowed-routes-all', 'allowedRoutes.namespaces.from All: all three routes attach (attachedRoutes=3); the oldest (infra/same-ns) carries traffic.', allowedBase('All'));
add('allowed-routes-selector', 'allowedRoutes.namespaces.from Selector env=prod: team-a attaches, team-b and the Gateway namespace (no label) do not.', allowedBase('Selector', { env: 'prod' }));

add(
  'parentref-no-matching-parent',
  'parentRef sectionName and port that match no listener => Accepted=False/NoMatchingParent; a parentRef to a Gateway of another class gets no status entry from fleet-ilb; a parentRef to a missing Gateway neither.',
  b.snapshot({
    config: {
      namespaces: [b.namespace(G)],
      gatewayClasses: [b.gatewayClass('other', null, 'example.com/other-controller')],
      gateways: [b.gateway(G, 'gw', [b.listener('tcp', 7100)]), b.gateway(G, 'foreign', [b.listener('tcp', 7100)], { className: 'other' })],
      tcpRoutes: [
        b.tcpRoute(G, 'bad-section', [b.parent('gw', { sectionName: 'nope' })], []),
        b.tcpRoute(G, 'bad-port', [b.parent('gw', { port: 7101 })], []),
        b.tcpRoute(G, 'section-port-mismatch', [b.parent('gw', { sectionName: 'tcp', port: 7101 })], []),
        b.tcpRoute(G, 'two-parents', [b.parent('gw', { sectionName: 'tcp' }), b.parent('foreign'), b.parent('missing')], []),
      ],
    },
  }),
);

// ---- Parameters (ILBConfig), versions, addresses ------------------------------------------
const P = 'params';
add(
  'ilbconfig-missing',
  'GatewayClass parametersRef names an ILBConfig that does not exist: class Accepted=False/InvalidParameters; its Gateway Accepted=False/InvalidParameters, Programmed=False/Invalid, no IR (invalidGateways lists it, so apply leaves its resources alone).',
  b.snapshot({
    base: false,
    config: {
      gatewayClasses: [b.gatewayClass('fleet-ilb', { namespace: 'fleet-ilb-system', name: 'missing' })],
      namespaces: [b.namespace(P)],
      gateways: [b.gateway(P, 'gw', [b.listener('tcp', 7200)])],
    },
  }),
);
add(
  'ilbconfig-invalid',
  'ILBConfig with several errors (uppercase network name, missing subnetwork, timeout > interval, bad CIDR, nodeSubsetSize 0): one InvalidParameters message listing every field; the ILBConfig itself gets Accepted=False.',
  b.snapshot({
    base: false,
    config: {
      gatewayClasses: [b.gatewayClass()],
      ilbConfigs: [
        { ...b.ilbConfig('fleet-ilb-system', 'default'), spec: { project: 'p', region: 'europe-west1', network: 'Fleet_VPC', healthCheck: { checkIntervalSec: 5, timeoutSec: 10 }, firewall: { clientSourceRanges: ['10.0.0.0/8', '10.1.2.3/40'] }, nodeSubsetSize: 0 } },
      ],
      namespaces: [b.namespace(P)],
      gateways: [b.gateway(P, 'gw', [b.listener('tcp', 7200)])],
    },
  }),
);
add(
  'gateway-infrastructure-parametersref',
  'spec.infrastructure.parametersRef: gw-own uses its own ILBConfig (replaces the class one: other region, global access, CLIENT_IP affinity); gw-missing names a missing one; gw-configmap names a ConfigMap (conformance GatewayInvalidParametersRef) => InvalidParameters. Infrastructure labels/annotations go to the IR (VIP Services).',
  b.snapshot({
    config: {
      namespaces: [b.namespace(P)],
      ilbConfigs: [b.ilbConfig(P, 'own', { region: 'us-central1', globalAccess: true, sessionAffinity: 'CLIENT_IP', connectionDraining: { drainingTimeoutSec: 120 } })],
      gateways: [
        b.gateway(P, 'gw-own', [b.listener('tcp', 7300)], { infrastructure: { parametersRef: { group: 'fleetilb.io', kind: 'ILBConfig', name: 'own' }, labels: { team: 'payments' }, annotations: { 'example.com/owner': 'payments' } } }),
        b.gateway(P, 'gw-missing', [b.listener('tcp', 7300)], { infrastructure: { parametersRef: { group: 'fleetilb.io', kind: 'ILBConfig', name: 'nope' } } }),
        b.gateway(P, 'gw-configmap', [b.listener('tcp', 7300)], { infrastructure: { parametersRef: { group: '', kind: 'ConfigMap', name: 'invalid' } } }),
      ],
    },
  }),
);
add(
  'class-without-parametersref',
  'A GatewayClass without parametersRef is Accepted (message says every Gateway needs its own ILBConfig); a Gateway without one is InvalidParameters, a Gateway with one works.',
  b.snapshot({
    base: false,
    config: {
      gatewayClasses: [b.gatewayClass('fleet-ilb', null)],
      namespaces: [b.namespace(P)],
      ilbConfigs: [b.ilbConfig(P, 'mine')],
      gateways: [b.gateway(P, 'no-config', [b.listener('tcp', 7400)]), b.gateway(P, 'with-config', [b.listener('tcp', 7400)], { infrastructure: { parametersRef: { group: 'fleetilb.io', kind: 'ILBConfig', name: 'mine' } } })],
    },
  }),
);
add(
  'unsupported-crd-bundle-version',
  'Gateway API CRD bundle v1.5.1 (no TCPRoute v1): GatewayClass SupportedVersion=False and Accepted=False/UnsupportedVersion; a second class for the same controller reports the same. Gateways keep being translated.',
  b.snapshot({
    crdBundleVersion: 'v1.5.1',
    config: { gatewayClasses: [b.gatewayClass('fleet-ilb-b')], namespaces: [b.namespace(P)], gateways: [b.gateway(P, 'gw', [b.listener('tcp', 7500)])] },
  }),
);
add(
  'crd-bundle-version-unknown',
  'The runtime did not read the CRD bundle version: SupportedVersion=Unknown/Pending, Accepted unaffected.',
  b.snapshot({ crdBundleVersion: null, config: { namespaces: [b.namespace(P)] } }),
);

const A = 'addr';
add(
  'spec-addresses-ipaddress',
  'spec.addresses IPAddress 10.128.0.9: the address request pins that IP (the IR knows the VIP before apply); apply has not reported yet => Programmed=False/Pending, no status.addresses. An empty IPAddress value means "any" (conformance GatewayOptionalAddressValue).',
  b.snapshot({
    config: {
      namespaces: [b.namespace(A)],
      gateways: [b.gateway(A, 'pinned', [b.listener('tcp', 7600)], { addresses: [{ type: 'IPAddress', value: '10.128.0.9' }] }), b.gateway(A, 'any', [b.listener('tcp', 7600)], { addresses: [{ type: 'IPAddress' }] })],
    },
  }),
);
add(
  'spec-addresses-address-name',
  'spec.addresses type fleetilb.io/address-name: the IR uses the existing address by name (render marks it not owned); apply reported it ready with its IP => Programmed=True and status.addresses.',
  b.snapshot({
    config: { namespaces: [b.namespace(A)], gateways: [b.gateway(A, 'named', [b.listener('tcp', 7700)], { addresses: [{ type: 'fleetilb.io/address-name', value: 'team-reserved-vip' }] })] },
  }),
);
add(
  'spec-addresses-unsupported',
  'Unusable spec.addresses: Hostname type, two addresses, a non-IPv4 value, an invalid address name: each Gateway Accepted=False/UnsupportedAddress, no IR.',
  b.snapshot({
    config: {
      namespaces: [b.namespace(A)],
      gateways: [
        b.gateway(A, 'hostname', [b.listener('tcp', 7800)], { addresses: [{ type: 'Hostname', value: 'lb.example.com' }] }),
        b.gateway(A, 'two', [b.listener('tcp', 7800)], { addresses: [{ type: 'IPAddress', value: '10.0.0.1' }, { type: 'IPAddress', value: '10.0.0.2' }] }),
        b.gateway(A, 'ipv6', [b.listener('tcp', 7800)], { addresses: [{ type: 'IPAddress', value: 'fd00::1' }] }),
        b.gateway(A, 'bad-name', [b.listener('tcp', 7800)], { addresses: [{ type: 'fleetilb.io/address-name', value: 'Not_A_Name' }] }),
      ],
    },
  }),
);
// ---- MCS importer (KEP-1645) ----------------------------------------------------------------
const M = 'shop';
const mcsGw = (port: number, importName = 'cart', proto: 'TCP' | 'UDP' = 'TCP'): { gateways: Gateway[]; tcpRoutes: ReturnType<typeof b.tcpRoute>[] } => ({
  gateways: [b.gateway(M, 'shop', [b.listener('l', port, proto)])],
  tcpRoutes: proto === 'TCP' ? [b.tcpRoute(M, 'cart', [b.parent('shop')], [b.svcImportRef(importName, port)])] : [],
});
add(
  'mcs-port-union',
  'Ports are the union of every export, merged by name, then by protocol+port: a has http/8080, b has http/8080 + metrics/9090, c has an unnamed 7000/UDP; no conflict. The route to port 9090 only reaches member b.',
  b.snapshot({
    config: { namespaces: [b.namespace(M)], ...mcsGw(9090) },
    members: [
      stdMember('a', 1, [{ ns: M, name: 'cart', ports: [{ port: 8080, name: 'http' }], on: [0], exportCreated: b.t(1) }]),
      stdMember('b', 2, [{ ns: M, name: 'cart', ports: [{ port: 8080, name: 'http' }, { port: 9090, name: 'metrics' }], on: [1], exportCreated: b.t(2) }]),
      stdMember('c', 3, [{ ns: M, name: 'cart', ports: [{ port: 7000, name: '', protocol: 'UDP' }], on: [2], exportCreated: b.t(3) }]),
    ],
  }),
);
add(
  'mcs-port-conflict-oldest-wins',
  'Port conflict: the oldest export (b, created first) names http=8080; a (newer) names http=8081. The import keeps http/8080; every export of the service shows Conflict=True/PortConflict naming a. Ports match by name (as MCS EndpointSlices do), so member a still serves import port http through its own http port (targetPort 8081).',
  b.snapshot({
    config: { namespaces: [b.namespace(M)], ...mcsGw(8080) },
    members: [
      stdMember('a', 1, [{ ns: M, name: 'cart', ports: [{ port: 8081, name: 'http' }], on: [0], exportCreated: b.t(10) }]),
      stdMember('b', 2, [{ ns: M, name: 'cart', ports: [{ port: 8080, name: 'http' }], on: [0], exportCreated: b.t(1) }]),
    ],
  }),
);
add(
  'mcs-type-and-affinity-conflict',
  'Type and session affinity follow the oldest export: a (oldest) is ClusterSetIP with ClientIP affinity; b is headless; c has no affinity. Conflict=True with TypeConflict,SessionAffinityConflict on every export.',
  (() => {
    const snap = b.snapshot({
      config: { namespaces: [b.namespace(M)], ...mcsGw(8080) },
      members: [
        stdMember('a', 1, [{ ns: M, name: 'cart', ports: [{ port: 8080, name: 'http' }], on: [0], exportCreated: b.t(1) }]),
        stdMember('b', 2, [{ ns: M, name: 'cart', ports: [{ port: 8080, name: 'http' }], on: [0], exportCreated: b.t(2) }]),
        stdMember('c', 3, [{ ns: M, name: 'cart', ports: [{ port: 8080, name: 'http' }], on: [0], exportCreated: b.t(3) }]),
      ],
    });
    const sa = snap.members['a']?.services[0];
    if (sa !== undefined) sa.spec.sessionAffinity = 'ClientIP';
    const sb = snap.members['b']?.services[0];
    if (sb !== undefined) {
      sb.spec.clusterIP = 'None';
      sb.spec.sessionAffinity = 'ClientIP';
    }
    return snap;
  })(),
);
add(
  'mcs-unnamed-port-conflict',
  'KEP-1645 "Service Port": no duplicated names, the empty name included. a (oldest) exports one unnamed port 8080, b (newer) one unnamed port 9090: the import keeps only the oldest (unnamed/8080) and both exports show Conflict=True/PortConflict naming b.',
  b.snapshot({
    config: { namespaces: [b.namespace(M)], ...mcsGw(8080) },
    members: [
      stdMember('a', 1, [{ ns: M, name: 'cart', ports: [{ port: 8080, name: '' }], on: [0], exportCreated: b.t(1) }]),
      stdMember('b', 2, [{ ns: M, name: 'cart', ports: [{ port: 9090, name: '' }], on: [0], exportCreated: b.t(2) }]),
    ],
  }),
);
add(
  'mcs-traffic-policy-conflict',
  'internalTrafficPolicy and trafficDistribution (mcs-api v1beta1 ServiceImport fields) follow the oldest export: a (oldest) is Local + PreferClose, b has neither (the apiserver default Cluster, no distribution). The import carries Local + PreferClose; Conflict=True/InternalTrafficPolicyConflict,TrafficDistributionConflict on both exports.',
  (() => {
    const snap = b.snapshot({
      config: { namespaces: [b.namespace(M)], ...mcsGw(8080) },
      members: [
        stdMember('a', 1, [{ ns: M, name: 'cart', ports: [{ port: 8080, name: 'http' }], on: [0], exportCreated: b.t(1) }]),
        stdMember('b', 2, [{ ns: M, name: 'cart', ports: [{ port: 8080, name: 'http' }], on: [0], exportCreated: b.t(2) }]),
      ],
    });
    const sa = snap.members['a']?.services[0];
    if (sa !== undefined) {
      sa.spec.internalTrafficPolicy = 'Local';
      sa.spec.trafficDistribution = 'PreferClose';
    }
    return snap;
  })(),
);
add(
  'mcs-invalid-exports',
  'An export without a Service (Valid=False/NoService, Ready=False/Failed) and an ExternalName export (Valid=False/InvalidServiceType); neither contributes to the import; a member-side Service that is not exported is not part of a ServiceImport backend.',
  (() => {
    const snap = b.snapshot({
      config: { namespaces: [b.namespace(M)], ...mcsGw(8080) },
      members: [
        stdMember('a', 1, [{ ns: M, name: 'cart', ports: [{ port: 8080, name: 'http' }], on: [0] }]),
        stdMember('b', 2, [{ ns: M, name: 'cart', ports: [{ port: 8080, name: 'http' }], on: [0] }]),
        stdMember('c', 3, [{ ns: M, name: 'cart', ports: [{ port: 8080, name: 'http' }], on: [0], exported: false }]),
        b.member('d', { serviceExports: [b.serviceExport(M, 'cart')] }),
      ],
    });
    const sb = snap.members['b']?.services[0];
    if (sb !== undefined) {
      sb.spec.type = 'ExternalName';
      sb.spec.externalName = 'cart.example.com';
    }
    return snap;
  })(),
);
add(
  'mcs-foreign-imports',
  'Another MCS implementation owns multicluster.x-k8s.io/ServiceImport shop/cart (no fleetilb.io label): fleet-ilb writes no import for it, ServiceExport Ready=False/Pending, and uses it as a name. A net.gke.io ServiceImport backend (GKE MCS) resolves through the members that export it.',
  b.snapshot({
    config: {
      namespaces: [b.namespace(M)],
      serviceImports: [b.serviceImport(M, 'cart', [{ name: 'http', port: 8080, protocol: 'TCP' }]), b.serviceImport(M, 'search', [{ name: 'grpc', port: 9000, protocol: 'TCP' }], { group: 'net.gke.io' })],
      gateways: [b.gateway(M, 'shop', [b.listener('cart', 8080), b.listener('search', 9000)])],
      tcpRoutes: [
        b.tcpRoute(M, 'cart', [b.parent('shop', { sectionName: 'cart' })], [b.svcImportRef('cart', 8080)]),
        b.tcpRoute(M, 'search', [b.parent('shop', { sectionName: 'search' })], [b.svcImportRef('search', 9000, { group: 'net.gke.io' })]),
      ],
    },
    members: [stdMember('a', 1, [{ ns: M, name: 'cart', ports: [{ port: 8080, name: 'http' }], on: [0] }, { ns: M, name: 'search', ports: [{ port: 9000, name: 'grpc' }], on: [1] }])],
  }),
);
add(
  'mcs-importer-disabled',
  'settings.mcsImporter=false: no ServiceImports or ServiceExport conditions are written; a multicluster.x-k8s.io backend resolves only through an existing ServiceImport (here none: BackendNotFound).',
  b.snapshot({
    settings: { mcsImporter: false },
    config: { namespaces: [b.namespace(M)], ...mcsGw(8080) },
    members: [stdMember('a', 1, [{ ns: M, name: 'cart', ports: [{ port: 8080, name: 'http' }], on: [0] }])],
  }),
);

// ---- Members, nodes, endpoints ----------------------------------------------------------
const S = 'svc';
const oneListener = (proto: 'TCP' | 'UDP' = 'TCP', port = 8443): Partial<Snapshot['config']> => ({
  namespaces: [b.namespace(S)],
  gateways: [b.gateway(S, 'gw', [b.listener('l', port, proto)])],
  ...(proto === 'TCP' ? { tcpRoutes: [b.tcpRoute(S, 'r', [b.parent('gw')], [b.svcImportRef('api', port)])] } : { udpRoutes: [b.udpRoute(S, 'r', [b.parent('gw')], [b.svcImportRef('api', port)])] }),
});
add(
  'member-unreachable-frozen',
  'Member b is unreachable since 12:00 (last known data kept, frozen): its NEGs are frozen, its VIP Service frozen, its export still counts, Gateway fleetilb.io/MembersReachable=False names it; FleetMember b Ready=False/Unreachable, c AuthFailed (frozen, no data), d never synced (Unknown/Pending).',
  b.snapshot({
    config: { ...oneListener() },
    members: [
      stdMember('a', 1, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [0, 1] }]),
      stdMember('b', 2, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [2] }], { extra: { reachability: { state: 'unreachable', message: 'dial tcp 10.0.0.2:443: i/o timeout', since: '2025-12-31T12:00:00Z' }, frozen: true } }),
      b.member('c', { reachability: { state: 'authFailed', message: 'Unauthorized', since: '2025-12-31T11:00:00Z' }, frozen: true }),
      b.member('d', { reachability: { state: 'pending' }, frozen: true }),
    ],
  }),
);
add(
  'member-never-synced-frozen',
  'The controller started while member d was down, so it has never listed d (no data, no lastSyncTime): translate cannot tell whether d serves the Gateway, so MembersReachable=False names d as well (apply keeps whatever GCE holds for d); FleetMember d Ready=False/Unreachable.',
  (() => {
    const snap = b.snapshot({
      config: { ...oneListener() },
      members: [
        stdMember('a', 1, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [0, 1] }]),
        b.member('d', { reachability: { state: 'unreachable', message: 'dial tcp 10.0.0.4:443: connect: connection refused', since: '2025-12-31T12:00:00Z' }, frozen: true }),
      ],
    });
    const d = snap.members['d'];
    if (d !== undefined) delete d.lastSyncTime;
    return snap;
  })(),
);
add(
  'node-exclusions-and-zones',
  'Every node exclusion: exclude-from-external-load-balancers label, NotReady, ToBeDeletedByClusterAutoscaler taint, no providerID (member p sets nodeMapping ProviderID: no fallback to the node name), no InternalIP, being deleted; all host endpoints, none is in a NEG; FleetMember p NodesEligible=False counts them by reason. Member n uses nodeMapping NodeName (instance = node name, zone label) and FleetMember project override.',
  (() => {
    const pm = stdMember('p', 1, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [0, 1, 2, 3, 4, 5, 6] }], { nodes: 7, zones: ZONES });
    const nodes = pm.nodes;
    const set = (i: number, f: (n: (typeof nodes)[number]) => void): void => {
      const n = nodes[i];
      if (n !== undefined) f(n);
    };
    set(1, (n) => { n.metadata.labels = { ...n.metadata.labels, 'node.kubernetes.io/exclude-from-external-load-balancers': '' }; });
    set(2, (n) => { n.status = { ...n.status, conditions: [{ type: 'Ready', status: 'False' }] }; });
    set(3, (n) => { n.spec = { ...n.spec, taints: [{ key: 'ToBeDeletedByClusterAutoscaler', value: '1735600000', effect: 'NoSchedule' }] }; });
    set(4, (n) => { n.spec = {}; });
    set(5, (n) => { n.status = { ...n.status, addresses: [{ type: 'Hostname', address: n.metadata.name }] }; });
    set(6, (n) => { n.metadata.deletionTimestamp = '2025-12-31T23:00:00Z'; });
    const nm = stdMember('n', 2, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [0, 1, 2] }], { zones: ['us-east1-b', 'us-east1-c'] });
    for (const n of nm.nodes) n.spec = {};
    const snap = b.snapshot({ config: oneListener(), members: [pm, nm] });
    const fm = snap.config.fleetMembers.find((f) => f.spec.clusterID === 'n');
    if (fm !== undefined) fm.spec.gcp = { nodeMapping: 'NodeName', project: 'onprem-project', networkTags: ['onprem-nodes'] };
    const fp = snap.config.fleetMembers.find((f) => f.spec.clusterID === 'p');
    if (fp !== undefined) fp.spec.gcp = { nodeMapping: 'ProviderID' };
    return snap;
  })(),
);
add(
  'self-managed-nodes-by-name',
  'A self-managed member s (kubeadm on GCE VMs): no Node has a providerID and the FleetMember sets no nodeMapping (Auto), so each Node is the VM of its name in the zone of its label, in the ILBConfig project. GCE holds s-node-0 (in the NEG), holds no s-node-1 (NoInstance: left out, FleetMember NodesEligible=False names it), and the lookup of s-node-2 failed (unknown is not absent: kept). Member a (providerIDs) is never looked up.',
  (() => {
    const sm = stdMember('s', 3, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [0, 1, 2] }], { zones: ['europe-west1-b'] });
    for (const n of sm.nodes) n.spec = {};
    return b.snapshot({ config: oneListener(), members: [stdMember('a', 1, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [0] }]), sm] });
  })(),
  { 'net-project/europe-west1-b/s-node-0': true, 'net-project/europe-west1-b/s-node-1': false },
);
add(
  'endpoints-serving-terminating',
  'Endpoint readiness: member a has only a terminating-but-serving endpoint, member b a ready one => only b hosts traffic (terminating is a fallback only when nothing is ready); a nil ready condition counts as ready. udp listener: no ready endpoint anywhere => serving+terminating nodes are used.',
  (() => {
    const a = stdMember('a', 1, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [] }, { ns: S, name: 'dns', ports: [{ port: 53, protocol: 'UDP' }], on: [] }]);
    const bb = stdMember('b', 2, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [] }]);
    const sa = a.endpointSlices[0];
    if (sa !== undefined) sa.endpoints = [{ addresses: ['10.1.100.1'], nodeName: 'a-node-0', conditions: { ready: false, serving: true, terminating: true } }];
    const sd = a.endpointSlices[1];
    if (sd !== undefined) sd.endpoints = [{ addresses: ['10.1.101.1'], nodeName: 'a-node-2', conditions: { ready: false, serving: true, terminating: true } }, { addresses: ['10.1.101.2'], nodeName: 'a-node-1', conditions: { ready: false, serving: false, terminating: true } }];
    const sb = bb.endpointSlices[0];
    if (sb !== undefined) sb.endpoints = [{ addresses: ['10.2.100.1'], nodeName: 'b-node-1' }];
    return b.snapshot({
      config: {
        namespaces: [b.namespace(S)],
        gateways: [b.gateway(S, 'gw', [b.listener('api', 8443), b.listener('dns', 53, 'UDP')])],
        tcpRoutes: [b.tcpRoute(S, 'api', [b.parent('gw', { sectionName: 'api' })], [b.svcImportRef('api', 8443)])],
        udpRoutes: [b.udpRoute(S, 'dns', [b.parent('gw', { sectionName: 'dns' })], [b.svcImportRef('dns', 53)])],
      },
      members: [a, bb],
    });
  })(),
);
add(
  'node-subset-cap-stable',
  'nodeSubsetSize 3 with 8 endpoint nodes in one zone: the IR lists all 8 (uncapped); render caps them keeping the nodes the NEG already holds (a GCE fact, render goldens); the other zone has 2 nodes.',
  (() => {
    const m = stdMember('a', 1, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }], { nodes: 10, zones: ['europe-west1-b', 'europe-west1-b', 'europe-west1-b', 'europe-west1-b', 'europe-west1-c'] });
    const snap = b.snapshot({ config: oneListener(), members: [m] });
    const cfg = snap.config.ilbConfigs[0];
    if (cfg !== undefined) cfg.spec = { ...(cfg.spec as object), nodeSubsetSize: 3 };
    return snap;
  })(),
);

// ---- GCE limits ---------------------------------------------------------------------------
add(
  'too-many-negs',
  'More than 50 NEGs on one backend service: 26 members x 2 zones = 52 NEGs; the first 50 by (cluster, zone) are kept, 2 are left out and named in fleetilb.io/WithinLimits=False/TooManyNEGs.',
  b.snapshot({
    config: oneListener(),
    members: Array.from({ length: 26 }, (_, i) => stdMember(`m${String(i).padStart(2, '0')}`, 10 + i, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [0, 1] }], { nodes: 2 })),
  }),
);
add(
  'listeners-64',
  '64 TCP listeners (the Gateway maximum): 40 share one route/backend, 24 have no route. Beyond 10 listeners, listeners with the same backends share a backend service and pack ≤5 ports per forwarding rule: 8 rules for the 40, 2 rules for 10 route-less ones; the other 14 route-less listeners are Accepted=False/PortUnavailable and WithinLimits=False.',
  b.snapshot({
    config: {
      namespaces: [b.namespace(S)],
      gateways: [b.gateway(S, 'gw', Array.from({ length: 64 }, (_, i) => b.listener(`l${i}`, 20000 + i)))],
      tcpRoutes: Array.from({ length: 40 }, (_, i) => b.tcpRoute(S, `r${i}`, [b.parent('gw', { sectionName: `l${i}` })], [b.svcImportRef('api', 8443)], b.t(i))),
    },
    members: [stdMember('a', 1, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [0] }])],
  }),
);
add(
  'eleven-listeners-sharing',
  '11 listeners: 9 TCP to one backend, 2 UDP to another. With > 10 listeners the 9 TCP share one backend service (rules of 5+4 ports) and the 2 UDP one (one rule); all accepted. The UDP health check is pinned on the first UDP listener VIP Service.',
  b.snapshot({
    config: {
      namespaces: [b.namespace(S)],
      gateways: [b.gateway(S, 'gw', [...Array.from({ length: 9 }, (_, i) => b.listener(`tcp${i}`, 9000 + i)), b.listener('udp0', 9100, 'UDP'), b.listener('udp1', 9101, 'UDP')])],
      tcpRoutes: [b.tcpRoute(S, 'api', [b.parent('gw')], [b.svcImportRef('api', 8443)])],
      udpRoutes: [b.udpRoute(S, 'dns', [b.parent('gw')], [b.svcImportRef('dns', 53)])],
    },
    members: [stdMember('a', 1, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [0] }, { ns: S, name: 'dns', ports: [{ port: 53, protocol: 'UDP' }], on: [1] }])],
  }),
);

// ---- Health-check node ports, backends, firewall ------------------------------------------
add(
  'udp-healthcheck-nodeport',
  'UDP health-check node port: ILBConfig asks 30100, but a Service in member b already uses NodePort 30100 => 30101 (free in every member); a second Gateway whose VIP Service already has healthCheckNodePort 31999 in both members keeps it.',
  (() => {
    const snap = b.snapshot({
      config: {
        namespaces: [b.namespace(S)],
        gateways: [b.gateway(S, 'dns', [b.listener('dns', 53, 'UDP')]), b.gateway(S, 'ntp', [b.listener('ntp', 123, 'UDP')])],
        udpRoutes: [b.udpRoute(S, 'dns', [b.parent('dns')], [b.svcImportRef('dns', 53)]), b.udpRoute(S, 'ntp', [b.parent('ntp')], [b.svcImportRef('ntp', 123)])],
      },
      members: [
        stdMember('a', 1, [{ ns: S, name: 'dns', ports: [{ port: 53, protocol: 'UDP' }], on: [0] }, { ns: S, name: 'ntp', ports: [{ port: 123, protocol: 'UDP' }], on: [1] }]),
        stdMember('b', 2, [{ ns: S, name: 'dns', ports: [{ port: 53, protocol: 'UDP' }], on: [0] }, { ns: S, name: 'ntp', ports: [{ port: 123, protocol: 'UDP' }], on: [1] }]),
      ],
    });
    const cfg = snap.config.ilbConfigs[0];
    if (cfg !== undefined) cfg.spec = { ...(cfg.spec as object), healthCheck: { udpHealthCheckNodePort: 30100 } };
    snap.members['b']?.services.push(b.service('other', 'nodeport-user', [b.port(80, { nodePort: 30100 })], { type: 'NodePort' }));
    const vipName = vipServiceName({ fleetId: 'fleet-1', namespace: S, name: 'ntp' }, 'ntp');
    for (const id of ['a', 'b']) {
      snap.members[id]?.services.push(b.service(S, vipName, [b.port(123, { protocol: 'UDP', name: 'udp' })], { type: 'LoadBalancer', selector: { app: 'ntp' }, labels: { 'fleetilb.io/managed-by': 'fleet-ilb' }, healthCheckNodePort: 31999 }));
    }
    return snap;
  })(),
);
/** Sets the `fleetilb.io/health-check-port` annotation on a member Service of the snapshot. */
function healthPortAnnotation(snap: Snapshot, member: string, ns: string, name: string, value: string): void {
  const svc = snap.members[member]?.services.find((x) => x.metadata.namespace === ns && x.metadata.name === name);
  if (svc !== undefined) svc.metadata.annotations = { ...(svc.metadata.annotations ?? {}), 'fleetilb.io/health-check-port': value };
}
add(
  'udp-healthcheck-pod-port',
  'UDP health check through the pods (DECISIONS 8): both members annotate Service dns with fleetilb.io/health-check-port (a: the container port name "health", b: the number 8080) => TCP check of VIP:P, each VIP Service of the UDP listener gets the TCP port "health" P -> that target, fleetilb.io/UDPHealthCheck=True. P avoids the TCP listener on 30100 (the ILBConfig asks 30100 => 30101).',
  (() => {
    const snap = b.snapshot({
      config: {
        namespaces: [b.namespace(S)],
        gateways: [b.gateway(S, 'dns', [b.listener('dns', 53, 'UDP'), b.listener('dns-tcp', 53), b.listener('admin', 30100)])],
        udpRoutes: [b.udpRoute(S, 'dns', [b.parent('dns', { sectionName: 'dns' })], [b.svcImportRef('dns', 53)])],
        tcpRoutes: [b.tcpRoute(S, 'dns-tcp', [b.parent('dns', { sectionName: 'dns-tcp' })], [b.svcImportRef('dns', 53)])],
      },
      members: [
        stdMember('a', 1, [{ ns: S, name: 'dns', ports: [{ port: 53, protocol: 'UDP', name: 'dns', targetPort: 5353 }, { port: 53, name: 'dns-tcp', targetPort: 5353 }], on: [0, 1] }]),
        stdMember('b', 2, [{ ns: S, name: 'dns', ports: [{ port: 53, protocol: 'UDP', name: 'dns', targetPort: 5353 }, { port: 53, name: 'dns-tcp', targetPort: 5353 }], on: [0] }]),
      ],
    });
    const cfg = snap.config.ilbConfigs[0];
    if (cfg !== undefined) cfg.spec = { ...(cfg.spec as object), healthCheck: { udpHealthCheckNodePort: 30100 } };
    healthPortAnnotation(snap, 'a', S, 'dns', 'health');
    healthPortAnnotation(snap, 'b', S, 'dns', '8080');
    return snap;
  })(),
);
add(
  'udp-healthcheck-pod-port-mirrored',
  'UDP health check through the pods with mirrored slices (two backendRefs): Service dns names the Service port "health" (its slices carry it: 8080), dns-2 the number 8081 (annotation value " 8081 " is trimmed) => each mirrored slice carries port "health" with the resolved number, the VIP Service a selectorless TCP port "health"; TCP check.',
  (() => {
    const snap = b.snapshot({
      config: {
        namespaces: [b.namespace(S)],
        gateways: [b.gateway(S, 'dns', [b.listener('dns', 53, 'UDP')])],
        udpRoutes: [b.udpRoute(S, 'dns', [b.parent('dns')], [b.svcImportRef('dns', 53), b.svcImportRef('dns-2', 53)])],
      },
      members: [
        stdMember('a', 1, [
          { ns: S, name: 'dns', ports: [{ port: 53, protocol: 'UDP', name: 'dns', targetPort: 5353 }, { port: 8080, name: 'health' }], on: [0] },
          { ns: S, name: 'dns-2', ports: [{ port: 53, protocol: 'UDP', name: 'dns', targetPort: 5353 }], on: [1] },
        ]),
      ],
    });
    healthPortAnnotation(snap, 'a', S, 'dns', 'health');
    healthPortAnnotation(snap, 'a', S, 'dns-2', ' 8081 ');
    return snap;
  })(),
);
add(
  'udp-healthcheck-pod-port-missing',
  'UDP health check fallback (DECISIONS 8): member a names a pod health port, member b has none and member c an invalid value ("no_such--port") => the whole group falls back to HTTP /healthz on the pinned healthCheckNodePort, no VIP Service gets a "health" port, fleetilb.io/UDPHealthCheck=False/NodeHealthCheckFallback names b and c.',
  (() => {
    const app = (): App[] => [{ ns: S, name: 'dns', ports: [{ port: 53, protocol: 'UDP', name: 'dns', targetPort: 5353 }], on: [0] }];
    const snap = b.snapshot({
      config: {
        namespaces: [b.namespace(S)],
        gateways: [b.gateway(S, 'dns', [b.listener('dns', 53, 'UDP')])],
        udpRoutes: [b.udpRoute(S, 'dns', [b.parent('dns')], [b.svcImportRef('dns', 53)])],
      },
      members: [stdMember('a', 1, app()), stdMember('b', 2, app()), stdMember('c', 3, app())],
    });
    healthPortAnnotation(snap, 'a', S, 'dns', 'health');
    healthPortAnnotation(snap, 'c', S, 'dns', 'no_such--port');
    return snap;
  })(),
);
add(
  'backend-service-selectorless',
  'A Service backend without a selector (endpoints managed by hand) => the VIP Service is selectorless and fleet-ilb mirrors its EndpointSlices, with the target port resolved per slice by port name.',
  (() => {
    const snap = b.snapshot({
      config: { namespaces: [b.namespace(S)], gateways: [b.gateway(S, 'gw', [b.listener('db', 5432)])], tcpRoutes: [b.tcpRoute(S, 'db', [b.parent('gw')], [b.svcRef('external-db', 5432)])] },
      members: [stdMember('a', 1, [{ ns: S, name: 'external-db', ports: [{ port: 5432, name: 'pg', targetPort: 15432 }], on: [0, 1], selector: null, exported: false }])],
    });
    return snap;
  })(),
);
add(
  'firewall-client-ranges-and-tags',
  'Firewall plan: ILBConfig clientSourceRanges => a client rule for TCP and UDP listener ports; node tags from FleetMember a (override) and discovered tags of b; member c serves but has no known tags (membersWithoutTags). Global access and CLIENT_IP affinity propagate.',
  (() => {
    const snap = b.snapshot({
      config: {
        namespaces: [b.namespace(S)],
        gateways: [b.gateway(S, 'gw', [b.listener('api', 8443), b.listener('dns', 53, 'UDP')])],
        tcpRoutes: [b.tcpRoute(S, 'api', [b.parent('gw')], [b.svcImportRef('api', 8443)])],
        udpRoutes: [b.udpRoute(S, 'dns', [b.parent('gw')], [b.svcImportRef('dns', 53)])],
      },
      members: ['a', 'b', 'c'].map((id, i) => stdMember(id, i + 1, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [0] }, { ns: S, name: 'dns', ports: [{ port: 53, protocol: 'UDP' }], on: [1] }], { nodes: 2 })),
    });
    const cfg = snap.config.ilbConfigs[0];
    if (cfg !== undefined) cfg.spec = { ...(cfg.spec as object), globalAccess: true, sessionAffinity: 'CLIENT_IP', firewall: { clientSourceRanges: ['10.0.0.0/8', '192.168.0.0/16'], priority: 900 } };
    const fm = snap.config.fleetMembers.find((f) => f.spec.clusterID === 'a');
    if (fm !== undefined) fm.spec.gcp = { networkTags: ['override-a'] };
    return snap;
  })(),
);
add(
  'backendref-invalid-kind-and-port',
  'backendRef chain order: an unknown kind (InvalidKind) wins over a missing port; a ServiceImport with several TCP ports and no port in the backendRef is BackendNotFound ("port is required"); the valid third backend still carries traffic.',
  b.snapshot({
    config: {
      namespaces: [b.namespace(S)],
      gateways: [b.gateway(S, 'gw', [b.listener('l', 8443)])],
      tcpRoutes: [b.tcpRoute(S, 'r', [b.parent('gw')], [{ group: 'example.com', kind: 'Backend', name: 'x', port: 1 }, b.svcImportRef('multi'), b.svcImportRef('api', 8443)])],
    },
    members: [stdMember('a', 1, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [0] }, { ns: S, name: 'multi', ports: [{ port: 1000 }, { port: 2000 }], on: [1] }])],
  }),
);
add(
  'cross-namespace-serviceimport-grant',
  'ServiceImport backend in another namespace: allowed by a grant to kind ServiceImport of group multicluster.x-k8s.io with a name; a grant naming another ServiceImport does not allow the second ref (RefNotPermitted, without revealing existence).',
  b.snapshot({
    config: {
      namespaces: [b.namespace(S), b.namespace('backends')],
      gateways: [b.gateway(S, 'gw', [b.listener('a', 8443), b.listener('b', 8444)])],
      tcpRoutes: [
        b.tcpRoute(S, 'to-api', [b.parent('gw', { sectionName: 'a' })], [b.svcImportRef('api', 8443, { namespace: 'backends' })]),
        b.tcpRoute(S, 'to-secret', [b.parent('gw', { sectionName: 'b' })], [b.svcImportRef('secret', 8443, { namespace: 'backends' })]),
      ],
      referenceGrants: [b.referenceGrant('backends', 'api-only', [{ kind: 'TCPRoute', namespace: S }], [{ group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name: 'api' }])],
    },
    members: [stdMember('a', 1, [{ ns: 'backends', name: 'api', ports: [{ port: 8443 }], on: [0] }, { ns: 'backends', name: 'secret', ports: [{ port: 8443 }], on: [1] }])],
  }),
);

// ---- Status bookkeeping -------------------------------------------------------------------
add(
  'status-last-transition-preserved',
  'Existing statuses carry older lastTransitionTimes: conditions whose status did not flip keep them (even when the message changed), flipped ones get the fixed clock; observedGeneration follows each object (Gateway generation 3). Foreign RouteParentStatus entries are not in fleet-ilb output (the writer keeps them).',
  (() => {
    const old = '2025-10-10T10:10:10Z';
    const gw = b.gateway(S, 'gw', [b.listener('l', 8443)], { generation: 3 });
    gw.status = {
      conditions: [
        { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'old message', lastTransitionTime: old, observedGeneration: 2 },
        { type: 'Programmed', status: 'True', reason: 'Programmed', message: 'was programmed', lastTransitionTime: old, observedGeneration: 2 },
      ],
      listeners: [{ name: 'l', supportedKinds: [], attachedRoutes: 0, conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'x', lastTransitionTime: old }] }],
    };
    const route = b.tcpRoute(S, 'r', [b.parent('gw')], [b.svcImportRef('api', 8443)]);
    route.status = {
      parents: [
        { parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: S, name: 'gw' }, controllerName: 'fleetilb.io/gateway-controller', conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'm', lastTransitionTime: old }, { type: 'ResolvedRefs', status: 'False', reason: 'BackendNotFound', message: 'm', lastTransitionTime: old }] },
        { parentRef: { name: 'other-gw' }, controllerName: 'example.com/other', conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'theirs', lastTransitionTime: old }] },
      ],
    };
    const gc = b.gatewayClass();
    gc.status = { conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'm', lastTransitionTime: old, observedGeneration: 1 }] };
    return b.snapshot({
      base: false,
      config: { gatewayClasses: [gc], ilbConfigs: [b.ilbConfig('fleet-ilb-system', 'default')], fleetMembers: [b.fleetMember('a')], namespaces: [b.namespace(S)], gateways: [gw], tcpRoutes: [route] },
      members: [stdMember('a', 1, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [0] }])],
    });
  })(),
);
add(
  'gateway-deleting-and-other-class',
  'A Gateway being deleted (deletionTimestamp) gets no IR and no status (the runtime tears it down); a Gateway of another controller is ignored; a route pointing at both gets a status entry for neither.',
  (() => {
    const del = b.gateway(S, 'going', [b.listener('l', 8443)]);
    del.metadata.deletionTimestamp = '2025-12-31T23:00:00Z';
    return b.snapshot({
      config: {
        namespaces: [b.namespace(S)],
        gatewayClasses: [b.gatewayClass('nginx', null, 'gateway.nginx.org/nginx-gateway-controller')],
        gateways: [del, b.gateway(S, 'theirs', [b.listener('l', 8443)], { className: 'nginx' })],
        tcpRoutes: [b.tcpRoute(S, 'r', [b.parent('going'), b.parent('theirs')], [b.svcImportRef('api', 8443)])],
      },
    });
  })(),
);
add(
  'route-v1alpha2-multiple-rules',
  'A v1alpha2 TCPRoute with two rules (allowed before v1): all rules backends form one pool (no L4 matching between rules); equal weights, mirrored slices across two backends in two members.',
  (() => {
    const r = b.tcpRoute(S, 'legacy', [b.parent('gw')], [b.svcImportRef('api', 8443)], b.T0, A2);
    r.spec.rules.push({ backendRefs: [b.svcImportRef('api-canary', 8443)] });
    return b.snapshot({
      config: { namespaces: [b.namespace(S)], gateways: [b.gateway(S, 'gw', [b.listener('l', 8443)])], tcpRoutes: [r] },
      members: [
        stdMember('a', 1, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [0] }, { ns: S, name: 'api-canary', ports: [{ port: 8443 }], on: [1] }]),
        stdMember('b', 2, [{ ns: S, name: 'api', ports: [{ port: 8443 }], on: [1] }]),
      ],
    });
  })(),
);

for (const [name, c] of Object.entries(cases)) {
  writeFileSync(join(DIR, `${name}.in.yaml`), dump({ description: c.description, ...(c.nodeVms === undefined ? {} : { nodeVms: c.nodeVms }), ...c.snapshot }));
}
console.log(`wrote ${Object.keys(cases).length} cases`);
