// SPDX-License-Identifier: Apache-2.0
//
// The controller of `npm run bench:scale` as its own OS process (so its RSS is its own): the same
// program as `fleet-ilb controller` (controller/main.ts startController), plus an on-demand resync
// for the benchmark. Options come as JSON (ControllerOptions) in FLEET_ILB_BENCH_OPTIONS.
//   SIGUSR1  resyncAll(): what the periodic resync does, now (the bench measures one resync)
//   SIGTERM  stop (drain workers, close watches), then exit 0
// stdout: JSON lines {ev:'started', healthUrl, pid} | {ev:'resync'} | {ev:'stopped', why}.
// Logs go to stderr. The process exits when its stdin closes (the bench died): no orphan.
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
process.once('SIGTERM', () => void ctl.stop());
const why = await ctl.done;
out({ ev: 'stopped', why });
process.exit(0);
