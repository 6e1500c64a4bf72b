// SPDX-License-Identifier: Apache-2.0
//
// Benchmark: translate + render of a fleet-scale snapshot:
//   1 000 Gateways × 2 TCP listeners (each to its own ServiceImport) × 3 members × 300 nodes,
//   20 ready endpoints per service per member (120 000 endpoints), 2 000 exports per member.
// Prints the median of 5 runs for translate and for render (renderGce + renderVip of every IR),
// heap retained by one result, and peak RSS. Then the per-Gateway path the reconciler takes
// (controller/provider/scoped.ts): the provider's indexes built once from the snapshot, and for 50
// Gateways spread over the fleet the median (over Gateways) of the best of 5 of scopedSnapshot(key)
// + translate of it, before
// and after a one-endpoint change to one of the Gateway's EndpointSlices (applied to the index as
// the reflector would). That figure should not grow with GATEWAYS (compare GATEWAYS=100 and 1000).
//   npm run bench:translate            (GATEWAYS=100 npm run bench:translate for a quick run;
//                                       WHOLE=0 skips the whole-fleet runs)
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { renderGce } from '../../controller/infra/gcp/render.ts';
import { renderVip } from '../../controller/infra/vip/render.ts';
import type { EndpointSlice } from '../../controller/api/index.ts';
import { FleetIndex } from '../../controller/provider/indexes.ts';
import { scopedSnapshot, snapshotSource } from '../../controller/provider/scoped.ts';
import type { MemberSnapshot, Snapshot } from '../../controller/snapshot/types.ts';
import { translate } from '../../controller/translate/index.ts';
import * as b from '../golden/builders.ts';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

const GATEWAYS = Number(process.env['GATEWAYS'] ?? 1000);
const LISTENERS = 2;
const MEMBERS = 3;
const NODES = 300;
const ENDPOINTS = 20;
const RUNS = process.env['WHOLE'] === '0' ? 0 : 5;
const SCOPED_SAMPLE = 50;
const ZONES = ['europe-west1-b', 'europe-west1-c', 'europe-west1-d'];

function buildSnapshot(): Snapshot {
  const namespaces = Array.from({ length: 10 }, (_, i) => b.namespace(`team-${i}`));
  const gateways = [];
  const tcpRoutes = [];
  for (let g = 0; g < GATEWAYS; g++) {
    const ns = `team-${g % 10}`;
    gateways.push(b.gateway(ns, `gw-${g}`, Array.from({ length: LISTENERS }, (_, l) => b.listener(`l${l}`, 8000 + l))));
    for (let l = 0; l < LISTENERS; l++) {
      tcpRoutes.push(b.tcpRoute(ns, `r-${g}-${l}`, [b.parent(`gw-${g}`, { sectionName: `l${l}` })], [b.svcImportRef(`svc-${g}-${l}`, 80)], b.t(g)));
    }
  }
  const members: MemberSnapshot[] = [];
  for (let m = 0; m < MEMBERS; m++) {
    const id = `member-${m}`;
    const nodes = Array.from({ length: NODES }, (_, i) => b.node(`${id}-node-${i}`, ZONES[i % ZONES.length] ?? 'z', `10.${m}.${Math.floor(i / 250)}.${(i % 250) + 1}`));
    const services = [];
    const endpointSlices = [];
    const serviceExports = [];
    for (let g = 0; g < GATEWAYS; g++) {
      for (let l = 0; l < LISTENERS; l++) {
        const ns = `team-${g % 10}`;
        const name = `svc-${g}-${l}`;
        services.push(b.service(ns, name, [b.port(80, { name: 'http', targetPort: 8080 })]));
        serviceExports.push(b.serviceExport(ns, name));
        const eps = Array.from({ length: ENDPOINTS }, (_, e) => ({ ip: `100.${m}.${(g * LISTENERS + l) % 250}.${e + 1}`, node: `${id}-node-${(g * 7 + l * 13 + e * 15) % NODES}` }));
        endpointSlices.push(b.slice(ns, name, `${name}-abcde`, eps, [{ name: 'http', port: 8080 }]));
      }
    }
    members.push(b.member(id, { nodes, services, endpointSlices, serviceExports }));
  }
  return b.snapshot({ config: { namespaces, gateways, tcpRoutes }, members });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, c) => a - c);
  return s[Math.floor(s.length / 2)] ?? 0;
}

const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

const t0 = performance.now();
const snapshot = buildSnapshot();
const buildMs = performance.now() - t0;
gc();
const heapSnapshot = process.memoryUsage().heapUsed;

const translateMs: number[] = [];
const renderMs: number[] = [];
let kept: unknown;
let counts = { irs: 0, negs: 0, endpoints: 0, vipServices: 0, gceObjects: 0 };
for (let run = 0; run < RUNS; run++) {
  gc();
  const a = performance.now();
  const result = translate(snapshot, { now: '2026-01-01T00:00:00Z' });
  const b1 = performance.now();
  const rendered = result.gateways.map((ir) => ({ gce: renderGce(ir), vip: renderVip(ir) }));
  const c = performance.now();
  translateMs.push(b1 - a);
  renderMs.push(c - b1);
  counts = {
    irs: result.gateways.length,
    negs: rendered.reduce((n, r) => n + r.gce.negs.length, 0),
    endpoints: rendered.reduce((n, r) => n + r.gce.negs.reduce((k, x) => k + x.endpoints.length, 0), 0),
    vipServices: rendered.reduce((n, r) => n + r.vip.members.reduce((k, x) => k + x.services.length, 0), 0),
    gceObjects: rendered.reduce((n, r) => n + 1 + r.gce.healthChecks.length + r.gce.negs.length + r.gce.backendServices.length + r.gce.forwardingRules.length + r.gce.firewalls.length, 0),
  };
  kept = run === RUNS - 1 ? { result, rendered } : undefined;
}
gc();
const heapWithResult = process.memoryUsage().heapUsed;

// The per-Gateway path: indexes once, then scopedSnapshot + translate per Gateway.
const NOW = '2026-01-01T00:00:00Z';
const i0 = performance.now();
const index = new FleetIndex();
const src = snapshotSource(snapshot, index);
const indexMs = performance.now() - i0;
const keys = snapshot.config.gateways.map((g) => `${g.metadata.namespace ?? ''}/${g.metadata.name}`);
const sample = Array.from({ length: Math.min(SCOPED_SAMPLE, keys.length) }, (_, i) => keys[Math.floor((i * keys.length) / Math.min(SCOPED_SAMPLE, keys.length))]!);
/** Best of 5 (the machine is shared: the minimum is the cost, the rest is other processes). */
function perGateway(key: string): { snapshotMs: number; translateMs: number } {
  let best = { snapshotMs: Infinity, translateMs: Infinity };
  for (let rep = 0; rep < 5; rep++) {
    const a = performance.now();
    const scoped = scopedSnapshot(src, key);
    const b2 = performance.now();
    const r = translate(scoped, { now: NOW });
    const c2 = performance.now();
    if (r.gateways.length !== 1) throw new Error(`${key}: scoped translate gave ${r.gateways.length} IRs`);
    if (c2 - a < best.snapshotMs + best.translateMs) best = { snapshotMs: b2 - a, translateMs: c2 - b2 };
  }
  return best;
}
for (let round = 0; round < 2; round++) sample.forEach(perGateway); // warm-up (JIT, caches)
const cold = sample.map(perGateway);
// One endpoint changes (ready -> not ready) in one slice of each sampled Gateway's first backend.
const changed = sample.map((key) => {
  const [ns, name] = key.split('/');
  const svc = `${ns ?? ''}/svc-${(name ?? '').replace('gw-', '')}-0`;
  const ix = index.member('member-0');
  const [sliceObj] = [...(ix?.slices.get(svc)?.values() ?? [])];
  if (sliceObj !== undefined) {
    const next: EndpointSlice = structuredClone(sliceObj);
    const ep = next.endpoints?.[0];
    if (ep !== undefined) ep.conditions = { ...ep.conditions, ready: ep.conditions?.ready === false };
    index.onMember('member-0', 'endpointslices', 'update', next, sliceObj);
  }
  return perGateway(key);
});
const med = (xs: number[]): number => Math.round(median(xs) * 100) / 100;
const maxRss = process.resourceUsage().maxRSS * 1024;

console.log(
  JSON.stringify(
    {
      scale: { gateways: GATEWAYS, listenersPerGateway: LISTENERS, members: MEMBERS, nodesPerMember: NODES, endpointsPerServicePerMember: ENDPOINTS },
      output: counts,
      buildSnapshotMs: Math.round(buildMs),
      translateMsMedian: RUNS === 0 ? null : Math.round(median(translateMs)),
      renderMsMedian: Math.round(median(renderMs)),
      translatePlusRenderMsMedian: Math.round(median(translateMs.map((x, i) => x + (renderMs[i] ?? 0)))),
      runsMs: translateMs.map((x, i) => Math.round(x + (renderMs[i] ?? 0))),
      heapSnapshot: mb(heapSnapshot),
      heapRetainedByOneResult: mb(heapWithResult - heapSnapshot),
      perGateway: {
        sampledGateways: sample.length,
        buildIndexesOnceMs: Math.round(indexMs),
        scopedSnapshotMsMedian: med(cold.map((x) => x.snapshotMs)),
        translateScopedMsMedian: med(cold.map((x) => x.translateMs)),
        totalMsMedian: med(cold.map((x) => x.snapshotMs + x.translateMs)),
        afterOneEndpointChangeMsMedian: med(changed.map((x) => x.snapshotMs + x.translateMs)),
      },
      peakRss: mb(maxRss),
    },
    null,
    2,
  ),
);
void kept;
