// SPDX-License-Identifier: Apache-2.0
//
// The controller of `npm run bench:scale` as its own OS process (so its RSS is its own): the same
// program as `fleet-ilb controller` (controller/main.ts startController), plus an on-demand resync
// for the benchmark. Options come as JSON (ControllerOptions) in FLEET_ILB_BENCH_OPTIONS.
//   SIGUSR1  resyncAll(): what the periodic resync does, now (the bench measures one resync)
//   SIGUSR2  a full GC (the bench starts this process with --expose-gc), then the live heap: what
//            the process really holds, apart from the garbage and free space V8 keeps between GCs
//   SIGTERM  stop (drain workers, close watches), then exit 0
// stdout: JSON lines {ev:'started', healthUrl, pid} | {ev:'resync'} |
//   {ev:'heap', liveMiB, committedMiB, limitMiB, rssMiB, fileMiB, brkMiB, anonMiB, externalMiB} | {ev:'stopped', why}.
// Logs go to stderr. The process exits when its stdin closes (the bench died): no orphan.
import { readFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { startController, type ControllerOptions } from '../../controller/main.ts';
import { createLogger } from '../../controller/telemetry/logger.ts';

const out = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

const raw = process.env['FLEET_ILB_BENCH_OPTIONS'];
if (raw === undefined) throw new Error('FLEET_ILB_BENCH_OPTIONS is required');
const opts = JSON.parse(raw) as ControllerOptions;
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

const ctl = await startController(opts, createLogger({ level: opts.logLevel ?? 'warn', destination: process.stderr }));
out({ ev: 'started', healthUrl: ctl.healthUrl, pid: process.pid });
process.on('SIGUSR1', () => {
  void ctl.resyncAll();
  out({ ev: 'resync' });
});
process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return;
  gc();
  const h = getHeapStatistics();
  const mib = (b: number): number => Math.round(b / 2 ** 20);
  out({ ev: 'heap', liveMiB: mib(h.used_heap_size), committedMiB: mib(h.total_heap_size), limitMiB: mib(h.heap_size_limit), ...rssParts() });
});

/**
 * RSS in parts (MiB), from /proc/self/smaps: `rssMiB` in all; `fileMiB` mapped files (the node
 * binary's code, shared libraries); `brkMiB` malloc's main arena; `anonMiB` other anonymous memory
 * (the V8 heap's pages, malloc's thread arenas, thread stacks); `externalMiB` what V8 reports held
 * outside its heap (Buffers, ArrayBuffers).
 */
function rssParts(): Record<string, number> {
  let file = 0;
  let brk = 0;
  let anon = 0;
  let path = '';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head !== null) {
      path = head[1]!;
      continue;
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (r === null) continue;
    const kb = Number(r[1]);
    if (path === '[heap]') brk += kb;
    else if (path === '' || path.startsWith('[')) anon += kb;
    else file += kb;
  }
  const mib = (kb: number): number => Math.round(kb / 1024);
  return { rssMiB: mib(file + brk + anon), fileMiB: mib(file), brkMiB: mib(brk), anonMiB: mib(anon), externalMiB: Math.round(process.memoryUsage().external / 2 ** 20) };
}
process.once('SIGTERM', () => void ctl.stop());
const why = await ctl.done;
out({ ev: 'stopped', why });
process.exit(0);
