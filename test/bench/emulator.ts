// SPDX-License-Identifier: Apache-2.0
//
// Benchmark of the Compute API emulator.
//   node --expose-gc test/bench/emulator.ts [--runs 5] [--iterations 200] [--endpoints 10000]
// 1. Throughput: a create → get → delete loop on regional health checks through `@google-cloud/compute` (operations
//    instant), requests/s, median of several runs.
// 2. Memory: 10 000 GCE_VM_IP endpoints (10 000 seeded instances, attached 500 per call to one NEG per zone); heap and
//    RSS growth of the process, and the time to list one NEG's endpoints with health.
// Prints a human summary and one JSON line.

import * as compute from '@google-cloud/compute';
import { parseArgs } from 'node:util';
import { startEmulator } from '../emulator/index.ts';
import type { Seed } from '../emulator/types.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    iterations: { type: 'string', default: '200' },
    endpoints: { type: 'string', default: '10000' },
  },
});
const RUNS = Number(values.runs);
const ITER = Number(values.iterations);
const ENDPOINTS = Number(values.endpoints);
const P = 'bench';
const REGION = 'us-central1';
const ZONES = ['us-central1-a', 'us-central1-b', 'us-central1-c', 'us-central1-f'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const baseSeed: Seed = {
  projects: {
    [P]: {
      networks: [{ name: 'vpc' }],
      subnetworks: [{ name: 'nodes', region: REGION, network: 'vpc', ipCidrRange: '10.0.0.0/16' }],
    },
  },
};

async function throughput(): Promise<{ rps: number[]; median: number }> {
  const emu = await startEmulator({ seed: structuredClone(baseSeed) });
  const hcs = new compute.RegionHealthChecksClient(emu.clientOptions());
  const rps: number[] = [];
  try {
    // Warm up (client proto parsing, JIT).
    for (let i = 0; i < 150; i++) {
      await hcs.insert({ project: P, region: REGION, healthCheckResource: { name: `warm-${i}`, type: 'TCP' } });
      await hcs.delete({ project: P, region: REGION, healthCheck: `warm-${i}` });
    }
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      for (let i = 0; i < ITER; i++) {
        const name = `hc-${r}-${i}`;
        await hcs.insert({ project: P, region: REGION, healthCheckResource: { name, type: 'TCP', tcpHealthCheck: { port: 8080 } } });
        await hcs.get({ project: P, region: REGION, healthCheck: name });
        await hcs.delete({ project: P, region: REGION, healthCheck: name });
      }
      rps.push(Math.round((3 * ITER) / ((performance.now() - t0) / 1000)));
    }
  } finally {
    await hcs.close();
    await emu.stop();
  }
  return { rps, median: median(rps) };
}

async function memory(): Promise<Record<string, number>> {
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const rss0 = process.memoryUsage().rss;
  const seed = structuredClone(baseSeed);
  seed.projects[P]!.instances = Array.from({ length: ENDPOINTS }, (_, i) => ({
    name: `node-${i}`,
    zone: ZONES[i % ZONES.length]!,
    subnetwork: 'nodes',
    networkIP: intToIp((10 << 24) + 10 + i),
  }));
  const tSeed = performance.now();
  const emu = await startEmulator({ seed });
  const seedMs = Math.round(performance.now() - tSeed);
  const negs = new compute.NetworkEndpointGroupsClient(emu.clientOptions());
  try {
    // Warm the client (proto parsing) before the baseline so its allocations do not count as endpoint memory.
    await negs.list({ project: P, zone: ZONES[0]! });
    gc();
    const heapSeeded = process.memoryUsage().heapUsed;
    const tAttach = performance.now();
    let calls = 0;
    for (const zone of ZONES) {
      await negs.insert({
        project: P,
        zone,
        networkEndpointGroupResource: { name: 'neg', networkEndpointType: 'GCE_VM_IP', network: 'global/networks/vpc', subnetwork: `regions/${REGION}/subnetworks/nodes` },
      });
      const mine = seed.projects[P]!.instances.filter((i) => i.zone === zone);
      for (let i = 0; i < mine.length; i += 500) {
        await negs.attachNetworkEndpoints({
          project: P,
          zone,
          networkEndpointGroup: 'neg',
          networkEndpointGroupsAttachEndpointsRequestResource: {
            networkEndpoints: mine.slice(i, i + 500).map((x) => ({ instance: x.name, ipAddress: x.networkIP! })),
          },
        });
        calls++;
      }
    }
    const attachMs = Math.round(performance.now() - tAttach);
    gc();
    const heapAttached = process.memoryUsage().heapUsed;
    const total = emu.inventory().networkEndpointGroups.reduce((n, g) => n + g.endpoints.length, 0);
    if (total !== ENDPOINTS) throw new Error(`attached ${total}, want ${ENDPOINTS}`);
    const tList = performance.now();
    let listed = 0;
    for await (const _ of negs.listNetworkEndpointsAsync({
      project: P,
      zone: ZONES[0]!,
      networkEndpointGroup: 'neg',
      networkEndpointGroupsListEndpointsRequestResource: { healthStatus: 'SHOW' },
    })) {
      listed++;
    }
    const listMs = Math.round(performance.now() - tList);
    return {
      endpoints: total,
      seedMs,
      attachCalls: calls,
      attachMs,
      listedEndpoints: listed,
      listOneNegMs: listMs,
      heapSeededInstancesMiB: +((heapSeeded - heap0) / 2 ** 20).toFixed(1),
      heapEndpointsMiB: +((heapAttached - heapSeeded) / 2 ** 20).toFixed(1),
      heapTotalDeltaMiB: +((heapAttached - heap0) / 2 ** 20).toFixed(1),
      rssDeltaMiB: +((process.memoryUsage().rss - rss0) / 2 ** 20).toFixed(1),
    };
  } finally {
    await negs.close();
    await emu.stop();
  }
}

const t = await throughput();
process.stdout.write(`throughput (create-get-delete, ${ITER} iterations x ${RUNS} runs): median ${t.median} req/s  [${t.rps.join(', ')}]\n`);
const m = await memory();
process.stdout.write(
  `memory with ${m.endpoints} NEG endpoints: heap +${m.heapTotalDeltaMiB} MiB (instances ${m.heapSeededInstancesMiB} MiB, endpoints ${m.heapEndpointsMiB} MiB), rss +${m.rssDeltaMiB} MiB; ` +
    `seed ${m.seedMs} ms, ${m.attachCalls} attach calls in ${m.attachMs} ms, list ${m.listedEndpoints} endpoints (SHOW) in ${m.listOneNegMs} ms\n`,
);
if ((globalThis as { gc?: unknown }).gc === undefined) process.stdout.write('(run with --expose-gc for stable heap figures)\n');
process.stdout.write(`${JSON.stringify({ throughput: t, memory: m })}\n`);
