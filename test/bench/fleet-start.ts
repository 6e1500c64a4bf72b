// SPDX-License-Identifier: Apache-2.0
//
// Benchmark of the local fleet (test/harness/fleet.ts):
//   node test/bench/fleet-start.ts [--runs 5] [--members 2] [--cold-build]
//
// Prints (and writes as JSON to .cache/bench/fleet-start.json):
//  - the cold build time of fleet-apiserver: with --cold-build, measured now with an empty temporary
//    GOCACHE (slow; kept in .cache/bench/cold-build.json for later runs), else the timing record the
//    build step wrote next to the binary;
//  - the median (and min/max) warm start of config + N members until every CRD is served;
//  - the stop time;
//  - memory: peak RSS (VmHWM) and current RSS of each apiserver process, and their sum.

import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { apiserverModuleDir, controlPlaneBinaries, currentBuildRecord, goCommand, repoRoot } from '../harness/binaries.ts';
import { startFleet } from '../harness/fleet.ts';

const execFileAsync = promisify(execFile);

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, members: { type: 'string', default: '2' }, 'cold-build': { type: 'boolean', default: false } },
});
const runs = Number(values.runs);
const members = Number(values.members);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function procMemKiB(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

async function coldBuildSeconds(): Promise<number> {
  // A throwaway GOCACHE makes every package compile again; modules come from GOMODCACHE (a cold
  // CI machine would also download ~1 GB of modules first; that is not included here).
  const cache = await mkdtemp(join(tmpdir(), 'fleet-ilb-gocache-'));
  const out = join(cache, 'fleet-apiserver');
  const t0 = performance.now();
  try {
    await execFileAsync(goCommand(), ['build', '-trimpath', '-ldflags', '-s -w', '-o', out, '.'], {
      cwd: apiserverModuleDir,
      env: { ...process.env, GOCACHE: cache, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' },
      maxBuffer: 64 * 1024 * 1024,
    });
    return (performance.now() - t0) / 1000;
  } finally {
    await rm(cache, { recursive: true, force: true });
  }
}

const binaries = await controlPlaneBinaries((m) => process.stderr.write(`${m}\n`));
const record = await currentBuildRecord();
// A cold build measured earlier with --cold-build is kept here (it takes many minutes).
const coldRecordPath = join(repoRoot, '.cache', 'bench', 'cold-build.json');
let cold: { seconds: number; measuredAt: string; loadavgBefore: number[] } | undefined;
if (values['cold-build']) {
  const loadavgBefore = (await import('node:os')).loadavg().map((x) => Math.round(x * 100) / 100);
  cold = { seconds: Math.round((await coldBuildSeconds()) * 10) / 10, measuredAt: new Date().toISOString(), loadavgBefore };
  await mkdir(join(repoRoot, '.cache', 'bench'), { recursive: true });
  await writeFile(coldRecordPath, `${JSON.stringify(cold, null, 2)}\n`);
} else {
  cold = await readFile(coldRecordPath, 'utf8').then((t) => JSON.parse(t) as typeof cold, () => undefined);
}

const starts: number[] = [];
const stops: number[] = [];
let peak = { processes: [] as { cluster: string; rssMiB: number; peakRssMiB: number }[], totalRssMiB: 0, totalPeakRssMiB: 0 };
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const fleet = await startFleet({ members });
  const started = performance.now() - t0;
  starts.push(started);
  const state = JSON.parse(await readFile(join(fleet.dir, 'fleet.json'), 'utf8')) as { clusters: Record<string, { pids: number[] }> };
  const processes: typeof peak.processes = [];
  for (const [cluster, c] of Object.entries(state.clusters)) {
    for (const pid of c.pids) {
      const m = await procMemKiB(pid);
      processes.push({ cluster, rssMiB: Math.round(m.rss / 1024), peakRssMiB: Math.round(m.hwm / 1024) });
    }
  }
  const totalPeak = processes.reduce((a, p) => a + p.peakRssMiB, 0);
  if (totalPeak > peak.totalPeakRssMiB) {
    peak = { processes, totalRssMiB: processes.reduce((a, p) => a + p.rssMiB, 0), totalPeakRssMiB: totalPeak };
  }
  const t1 = performance.now();
  await fleet.stop();
  stops.push(performance.now() - t1);
  process.stderr.write(`run ${i + 1}/${runs}: start ${(started / 1000).toFixed(1)} s, stop ${((performance.now() - t1) / 1000).toFixed(1)} s\n`);
}

const s = (ms: number): number => Math.round(ms / 100) / 10;
const result = {
  machine: { cpus: (await import('node:os')).availableParallelism(), loadavg: (await import('node:os')).loadavg().map((x) => Math.round(x * 100) / 100) },
  binaries,
  coldBuild: {
    recordedSeconds: record?.buildSeconds ?? null,
    recordedAt: record?.builtAt ?? null,
    goCacheBytesBeforeRecordedBuild: record?.goCacheBytesBefore ?? null,
    emptyGoCache: cold ?? null,
  },
  warmStart: { clusters: 1 + members, runs, medianSeconds: s(median(starts)), minSeconds: s(Math.min(...starts)), maxSeconds: s(Math.max(...starts)), allSeconds: starts.map(s) },
  stop: { medianSeconds: s(median(stops)) },
  memory: peak,
};
await mkdir(join(repoRoot, '.cache', 'bench'), { recursive: true });
await writeFile(join(repoRoot, '.cache', 'bench', 'fleet-start.json'), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(
  [
    cold === undefined
      ? `cold build of fleet-apiserver: ${result.coldBuild.recordedSeconds ?? 'unknown'} s (recorded by the build step at ${result.coldBuild.recordedAt ?? '?'}; ` +
        `GOCACHE held ${Math.round((result.coldBuild.goCacheBytesBeforeRecordedBuild ?? 0) / 2 ** 20)} MiB before it; --cold-build measures with an empty one)`
      : `cold build of fleet-apiserver with an empty GOCACHE: ${cold.seconds} s (measured ${cold.measuredAt}, load average before ${cold.loadavgBefore.join(' ')}); ` +
        `last recorded build: ${result.coldBuild.recordedSeconds ?? '?'} s`,
    `warm start, config + ${members} members until all CRDs served: median ${result.warmStart.medianSeconds} s over ${runs} runs (min ${result.warmStart.minSeconds}, max ${result.warmStart.maxSeconds})`,
    `stop: median ${result.stop.medianSeconds} s`,
    `memory: peak RSS ${result.memory.totalPeakRssMiB} MiB total over ${result.memory.processes.length} apiserver processes ` +
      `(${result.memory.processes.map((p) => `${p.cluster} ${p.peakRssMiB}`).join(', ')} MiB); RSS after start ${result.memory.totalRssMiB} MiB`,
    '',
  ].join('\n'),
);
