// SPDX-License-Identifier: Apache-2.0
//
// Writes the HealthCheckPolicy goldens (docs/policy.md, translate/DECISIONS.md 16):
// test/golden/translate/policy-*.in.yaml (Snapshots) and test/golden/render/policy-*.in.yaml (the
// IR translate makes of them). Run:
//   node test/golden/gen-policy-cases.ts && npm run golden:update
// then review every changed .out.yaml.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HealthCheckPolicy, HealthCheckPolicyDefault, PolicyTargetRef } from '../../controller/api/index.ts';
import type { GatewayIR } from '../../controller/ir/types.ts';
import type { MemberSnapshot, Snapshot } from '../../controller/snapshot/types.ts';
import { translate } from '../../controller/translate/index.ts';
import * as b from './builders.ts';
import { NOW, dump } from './golden.ts';

const TRANSLATE = join(import.meta.dirname, 'translate');
const RENDER = join(import.meta.dirname, 'render');
const NS = 'store';
const ZONES = ['europe-west1-b', 'europe-west1-c'];
const MCS = 'multicluster.x-k8s.io';

const importRef = (name: string): PolicyTargetRef => ({ group: MCS, kind: 'ServiceImport', name });
const serviceRef = (name: string): PolicyTargetRef => ({ group: '', kind: 'Service', name });
const gatewayRef = (name: string): PolicyTargetRef => ({ group: 'gateway.networking.k8s.io', kind: 'Gateway', name });

function policy(name: string, targetRefs: PolicyTargetRef[], d: HealthCheckPolicyDefault, created = b.T0, status?: HealthCheckPolicy['status']): HealthCheckPolicy {
  return {
    apiVersion: 'fleetilb.io/v1alpha1',
    kind: 'HealthCheckPolicy',
    metadata: { namespace: NS, name, uid: b.uid('HealthCheckPolicy', name), generation: 1, creationTimestamp: created },
    spec: { targetRefs, default: d },
    ...(status === undefined ? {} : { status }),
  };
}

/** A status with fleet-ilb's Accepted entry for Gateway `gateway` (as an earlier pass wrote it). */
function ourEntryFor(gateway: string): HealthCheckPolicy['status'] {
  return {
    ancestors: [
      {
        ancestorRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: NS, name: gateway },
        controllerName: 'fleetilb.io/gateway-controller',
        conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'old', observedGeneration: 1, lastTransitionTime: b.T0 }],
      },
    ],
  };
}

interface App {
  name: string;
  port?: number;
  protocol?: 'TCP' | 'UDP';
  /** Node indexes hosting an endpoint; `notReady` ones are not ready. */
  on: number[];
  notReady?: number[];
  /** Extra container port of the slices (a named health port). */
  health?: { name: string; port: number };
}

/** A member with 3 nodes over two zones and the given apps (Service + slice + export). */
function member(id: string, octet: number, apps: App[]): MemberSnapshot {
  const nodes = Array.from({ length: 3 }, (_, i) => b.node(`${id}-node-${i}`, ZONES[i % ZONES.length]!, `10.${octet}.0.${10 + i}`));
  const ports = (a: App): Array<{ name: string; port: number; protocol: 'TCP' | 'UDP' }> => [
    { name: 'main', port: a.port ?? 8080, protocol: a.protocol ?? 'TCP' },
    ...(a.health === undefined ? [] : [{ name: a.health.name, port: a.health.port, protocol: 'TCP' as const }]),
  ];
  return b.member(id, {
    nodes,
    services: apps.map((a) => b.service(NS, a.name, ports(a).map((p) => b.port(p.port, { name: p.name, protocol: p.protocol, targetPort: p.port })), { selector: { app: a.name } })),
    endpointSlices: apps.map((a, k) =>
      b.slice(
        NS,
        a.name,
        `${a.name}-${id}-abc`,
        [...a.on.map((n) => ({ n, ready: true })), ...(a.notReady ?? []).map((n) => ({ n, ready: false }))].map((e, j) => ({ ip: `10.${octet}.${100 + k}.${j + 1}`, node: `${id}-node-${e.n}`, ready: e.ready })),
        ports(a),
      ),
    ),
    serviceExports: apps.map((a) => b.serviceExport(NS, a.name)),
  });
}

const cases: Record<string, { description: string; snapshot: Snapshot }> = {};
const renders: Array<[string, string, string]> = [];
function add(name: string, description: string, snapshot: Snapshot, render?: string): void {
  cases[name] = { description, snapshot };
  if (render !== undefined) renders.push([name, render, description]);
}

/** One Gateway `store` with TCP listeners `<app>` on 8080, 8081, ... each routed to ServiceImport `<app>`. */
function gatewayFor(apps: string[], extra: Partial<Snapshot['config']> = {}): Partial<Snapshot['config']> {
  return {
    namespaces: [b.namespace(NS)],
    gateways: [b.gateway(NS, 'store', apps.map((a, i) => b.listener(a, 8080 + i)))],
    tcpRoutes: apps.map((a) => b.tcpRoute(NS, a, [b.parent('store', { sectionName: a })], [b.svcImportRef(a, 8080)])),
    ...extra,
  };
}

add(
  'policy-http-every-field',
  'A HealthCheckPolicy on ServiceImport store sets every field: interval 3, timeout 2, thresholds 3/4, HTTP on the pods\' named port "health" with host, requestPath and response => the group\'s health check is HTTP at VIP:P (P pinned like a UDP group\'s, avoiding the listener port), each VIP Service gets TCP port "health" P -> "health"; the policy is Accepted for Gateway store/store.',
  b.snapshot({
    config: gatewayFor(['store'], {
      healthCheckPolicies: [
        policy('store-hc', [importRef('store')], {
          checkIntervalSec: 3,
          timeoutSec: 2,
          healthyThreshold: 3,
          unhealthyThreshold: 4,
          config: { type: 'HTTP', httpHealthCheck: { portName: 'health', host: 'store.example', requestPath: '/ready', response: 'ok' } },
        }),
      ],
    }),
    members: [member('a', 1, [{ name: 'store', on: [0, 1], health: { name: 'health', port: 9000 } }]), member('b', 2, [{ name: 'store', on: [2], health: { name: 'health', port: 9000 } }])],
  }),
  'policy-http-every-field',
);

add(
  'policy-probe-types',
  'One policy per backend, each a probe type: tcp (TCP on pod port 9000 by number), https (HTTPS on the serving port, requestPath /tls), h2 (HTTP2 on the pods\' port "h2c"), grpc (GRPC on pod port 9090, grpcServiceName store.v1.Health). Only the groups with a pod port get a VIP "health" port.',
  b.snapshot({
    config: gatewayFor(['tcp', 'https', 'h2', 'grpc'], {
      healthCheckPolicies: [
        policy('tcp', [importRef('tcp')], { config: { type: 'TCP', tcpHealthCheck: { port: 9000 } } }),
        policy('https', [importRef('https')], { config: { type: 'HTTPS', httpsHealthCheck: { requestPath: '/tls' } } }),
        policy('h2', [importRef('h2')], { config: { type: 'HTTP2', http2HealthCheck: { portName: 'h2c' } } }),
        policy('grpc', [importRef('grpc')], { config: { type: 'GRPC', grpcHealthCheck: { port: 9090, grpcServiceName: 'store.v1.Health' } } }),
      ],
    }),
    members: [
      member('a', 1, [
        { name: 'tcp', on: [0] },
        { name: 'https', on: [1] },
        { name: 'h2', on: [2], health: { name: 'h2c', port: 9001 } },
        { name: 'grpc', on: [0] },
      ]),
    ],
  }),
  'policy-probe-types',
);

add(
  'policy-gateway-and-service-merge',
  'GEP-713 patch defaults: a Gateway policy (interval 10, timeout 5, HTTP /gw) and a ServiceImport policy on store (healthyThreshold 5, no config) => listener store gets interval 10, timeout 5, healthyThreshold 5, HTTP /gw (both policies named, Gateway first); listener cart\'s backend has a policy with its own config (TCP), which replaces the Gateway\'s probe as a whole; listener web has none: the Gateway\'s alone. All three Accepted.',
  b.snapshot({
    config: gatewayFor(['store', 'cart', 'web'], {
      healthCheckPolicies: [
        policy('gw-defaults', [gatewayRef('store')], { checkIntervalSec: 10, timeoutSec: 5, config: { type: 'HTTP', httpHealthCheck: { requestPath: '/gw' } } }),
        policy('store-thresholds', [importRef('store')], { healthyThreshold: 5 }),
        policy('cart-tcp', [importRef('cart')], { unhealthyThreshold: 6, config: { type: 'TCP' } }),
      ],
    }),
    members: [member('a', 1, [{ name: 'store', on: [0] }, { name: 'cart', on: [1] }, { name: 'web', on: [2] }])],
  }),
  'policy-gateway-and-service-merge',
);

add(
  'policy-conflict-same-target',
  'Same target, several policies (GEP-713: oldest creationTimestamp, then namespace/name, is established and wins): store-old (T0) beats store-new (T0 + 1 min) on ServiceImport store => store-new Accepted=False/Conflicted; on the Gateway gw-a and gw-b have the same timestamp => gw-a (alphabetical) wins, gw-b Conflicted.',
  b.snapshot({
    config: gatewayFor(['store'], {
      healthCheckPolicies: [
        policy('store-new', [importRef('store')], { checkIntervalSec: 7, timeoutSec: 7 }, b.t(1)),
        policy('store-old', [importRef('store')], { checkIntervalSec: 4, timeoutSec: 4 }),
        policy('gw-b', [gatewayRef('store')], { unhealthyThreshold: 9 }),
        policy('gw-a', [gatewayRef('store')], { unhealthyThreshold: 3 }),
      ],
    }),
    members: [member('a', 1, [{ name: 'store', on: [0] }])],
  }),
);

add(
  'policy-conflict-group-backends',
  'A route with two backendRefs (store, store-2) is one backend service with one health check: their policies (store-2-hc older than store-hc) conflict; the older applies, store-hc is Conflicted naming it.',
  b.snapshot({
    config: {
      namespaces: [b.namespace(NS)],
      gateways: [b.gateway(NS, 'store', [b.listener('store', 8080)])],
      tcpRoutes: [b.tcpRoute(NS, 'store', [b.parent('store')], [b.svcImportRef('store', 8080), b.svcImportRef('store-2', 8080)])],
      healthCheckPolicies: [
        policy('store-hc', [importRef('store')], { config: { type: 'HTTP', httpHealthCheck: { requestPath: '/a' } } }, b.t(2)),
        policy('store-2-hc', [importRef('store-2')], { config: { type: 'HTTP', httpHealthCheck: { requestPath: '/b' } } }, b.t(1)),
      ],
    },
    members: [member('a', 1, [{ name: 'store', on: [0] }, { name: 'store-2', on: [1] }])],
  }),
);

add(
  'policy-target-not-found',
  'TargetNotFound: svc-store names Service store (group "") but the route\'s backend is ServiceImport store; missing names ServiceImport ghost, which the route names and which does not exist (the route has ResolvedRefs=False). stale targets nothing of this Gateway any more but carries our entry for it: ancestors [] (the writer drops it).',
  b.snapshot({
    config: {
      namespaces: [b.namespace(NS)],
      gateways: [b.gateway(NS, 'store', [b.listener('store', 8080)])],
      tcpRoutes: [b.tcpRoute(NS, 'store', [b.parent('store')], [b.svcImportRef('store', 8080), b.svcImportRef('ghost', 8080)])],
      healthCheckPolicies: [
        policy('svc-store', [serviceRef('store')], { healthyThreshold: 3 }),
        policy('missing', [importRef('ghost')], { healthyThreshold: 3 }),
        policy('stale', [importRef('elsewhere')], { healthyThreshold: 3 }, b.T0, ourEntryFor('store')),
      ],
    },
    members: [member('a', 1, [{ name: 'store', on: [0] }])],
  }),
);

add(
  'policy-invalid',
  'Invalid: bad-timeout has timeoutSec 9 > checkIntervalSec 3 (its own spec; the CRD refuses it too); merged-timeout sets timeoutSec 8 on ServiceImport store, above the Gateway policy\'s checkIntervalSec 4 once merged => Invalid and not applied, the Gateway policy alone applies; two-ports sets port and portName.',
  b.snapshot({
    config: gatewayFor(['store', 'cart'], {
      healthCheckPolicies: [
        policy('gw', [gatewayRef('store')], { checkIntervalSec: 4, timeoutSec: 4 }),
        policy('merged-timeout', [importRef('store')], { timeoutSec: 8 }),
        policy('bad-timeout', [importRef('cart')], { checkIntervalSec: 3, timeoutSec: 9 }),
        policy('two-ports', [importRef('cart')], { config: { type: 'TCP', tcpHealthCheck: { port: 9000, portName: 'health' } } }),
      ],
    }),
    members: [member('a', 1, [{ name: 'store', on: [0] }, { name: 'cart', on: [1] }])],
  }),
);

add(
  'policy-udp',
  'UDP listeners: dns has a policy with HTTP on the pods\' port "health" (replaces the fleetilb.io/health-check-port annotation) => HTTP /ready at VIP:P through the pods; syslog has a policy with timing only and no pod health port anywhere => the node health-server fallback (HTTP /healthz) keeps its probe, with the policy\'s timing.',
  b.snapshot({
    config: {
      namespaces: [b.namespace(NS)],
      gateways: [b.gateway(NS, 'store', [b.listener('dns', 53, 'UDP'), b.listener('syslog', 514, 'UDP')])],
      udpRoutes: [
        b.udpRoute(NS, 'dns', [b.parent('store', { sectionName: 'dns' })], [b.svcImportRef('dns', 53)]),
        b.udpRoute(NS, 'syslog', [b.parent('store', { sectionName: 'syslog' })], [b.svcImportRef('syslog', 514)]),
      ],
      healthCheckPolicies: [
        policy('dns', [importRef('dns')], { config: { type: 'HTTP', httpHealthCheck: { portName: 'health', requestPath: '/ready' } } }),
        policy('syslog', [importRef('syslog')], { checkIntervalSec: 2, timeoutSec: 1 }),
      ],
    },
    members: [member('a', 1, [{ name: 'dns', port: 53, protocol: 'UDP', on: [0], health: { name: 'health', port: 9000 } }, { name: 'syslog', port: 514, protocol: 'UDP', on: [1] }])],
  }),
  'policy-udp',
);

add(
  'policy-gateway-gone',
  'A policy carries our Accepted entry for Gateway store/old, which no longer exists (deleted): it gets ancestors [] scoped to store/old (the writer drops that entry when old\'s key is reconciled) and its entry for store/store.',
  b.snapshot({
    config: gatewayFor(['store'], {
      healthCheckPolicies: [
        policy('store-hc', [importRef('store')], { healthyThreshold: 3 }, b.T0, ourEntryFor('old')),
      ],
    }),
    members: [member('a', 1, [{ name: 'store', on: [0] }])],
  }),
);

/** store in members a (primary) and b (failover), a's endpoints as given, b ready on node 0. */
function failoverCase(a: Pick<App, 'on' | 'notReady'>, fo: NonNullable<HealthCheckPolicyDefault['failover']>, bReady = true): Snapshot {
  return b.snapshot({
    config: gatewayFor(['store'], { healthCheckPolicies: [policy('store-failover', [importRef('store')], { failover: fo })] }),
    members: [member('a', 1, [{ name: 'store', ...a }]), member('b', 2, [{ name: 'store', on: bReady ? [0] : [], notReady: bReady ? [] : [0] }])],
  });
}
add(
  'policy-failover-primary',
  'Failover (docs/policy.md): member a primary (2 of 2 nodes ready), b the failover cluster => pool primary: the backend service holds a\'s NEGs only; b\'s NEGs exist (kept in sync) and are marked failover.',
  failoverCase({ on: [0, 1] }, { primaryClusters: ['a'], failoverClusters: ['b'] }),
  'policy-failover-primary',
);
add(
  'policy-failover-active',
  'Failover: a\'s pods are gone (no endpoint) => no healthy primary node => pool failover: the backend service holds b\'s NEGs only.',
  failoverCase({ on: [] }, { failoverClusters: ['b'] }),
  'policy-failover-active',
);
add(
  'policy-failover-ratio',
  'Failover ratio 0.5: 1 of 3 of a\'s nodes hosts a ready endpoint (2 not ready) => 1/3 < 0.5 => pool failover. With the default ratio 0 it would stay primary.',
  failoverCase({ on: [0], notReady: [1, 2] }, { failoverClusters: ['b'], failoverRatio: 0.5 }),
);
add(
  'policy-failover-drop',
  'dropTrafficIfUnhealthy: neither a nor b has a ready endpoint => pool none: the backend service holds no NEG (new connections are dropped, as GCE does with dropTrafficIfUnhealthy).',
  failoverCase({ on: [], notReady: [0] }, { failoverClusters: ['b'], dropTrafficIfUnhealthy: true }, false),
  'policy-failover-drop',
);
add(
  'policy-failover-all-unhealthy',
  'Without dropTrafficIfUnhealthy: neither a nor b has a ready endpoint => pool primary (GCE: connections go to the primary VMs as a last resort).',
  failoverCase({ on: [], notReady: [0] }, { failoverClusters: ['b'] }, false),
);

for (const [name, c] of Object.entries(cases)) writeFileSync(join(TRANSLATE, `${name}.in.yaml`), dump({ description: c.description, ...c.snapshot }));
for (const [name, translateCase, description] of renders) {
  const ir: GatewayIR | undefined = translate(cases[translateCase]!.snapshot, { now: NOW }).gateways.find((g) => g.key === `${NS}/store`);
  if (ir === undefined) throw new Error(`${translateCase}: no IR`);
  writeFileSync(join(RENDER, `${name}.in.yaml`), dump({ description, ir }));
}
console.log(`wrote ${Object.keys(cases).length} translate and ${renders.length} render policy cases`);
