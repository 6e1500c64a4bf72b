// SPDX-License-Identifier: Apache-2.0
//
// Writes test/golden/translate/<case>.in.yaml from the builders. Run:
//   node test/golden/gen-translate-cases.ts && npm run golden:update
// then review every changed .out.yaml. The .in.yaml files are checked in (they are the inputs the
// golden test reads); this script is how they were made and how to make new ones consistently.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
  const exports = apps.filter((a) => a.exported !== false).map((a) => b.serviceExport(a.ns, a.name, a.exportCreated ?? b.T0));
  return b.member(id, { nodes, services, endpointSlices: slices, serviceExports: exports, ...(opts.extra ?? {}) });
}

const cases: Record<string, { description: string; snapshot: Snapshot }> = {};
function add(name: string, description: string, snapshot: Snapshot): void {
  cases[name] = { description, snapshot };
}

const NS = 'store';
const nsStore = b.namespace(NS);

// ---- DESIGN.md scenarios -------------------------------------------------------------------
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
    programmed: { 'store/store': { ready: true, vip: '10.128.0.50', gatewayUid: 'gw-store-uid' } },
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

for (const [name, c] of Object.entries(cases)) {
  writeFileSync(join(DIR, `${name}.in.yaml`), dump({ description: c.description, ...c.snapshot }));
}
console.log(`wrote ${Object.keys(cases).length} cases`);
