// SPDX-License-Identifier: Apache-2.0
//
// One `fleet-ilb controller` replica as its own OS process, for controller-leader.test.ts (so the
// test can SIGKILL it like a pod). Options come as JSON in FLEET_ILB_REPLICA_OPTIONS (the
// ControllerOptions of controller/main.ts). Prints JSON lines on stdout:
//   {ev:'started', wall, healthUrl}
//   {ev:'leading' | 'not-leading', wall}          every change of isLeader() (polled every 20 ms)
//   {ev:'kubeWrite', method, origin, path, wall}   every non-GET request to an apiserver, except the
//   {ev:'leaseWrite', method, path, wall}          Lease (leader election itself)
//   {ev:'fenceClosed', at, wall}                   the write fence closed; `at` = when, exactly (wall ms:
//                                                  lastRenewSent + renewDeadline − margin, runtime/fence.ts)
//   {ev:'stopped', why, wall}                      the controller stopped (then the process exits)
// Kubernetes requests are seen on undici's `undici:request:create` diagnostics channel, which every
// Kubernetes client of the controller goes through (client-node, clusters/http.ts, status/kube.ts),
// before they are sent. The Compute API endpoint is plain http here, apiservers are https.
// The process exits when its stdin closes (the test process died): no orphaned replica.
import { subscribe } from 'node:diagnostics_channel';
import { startController, type ControllerOptions } from '../../controller/main.ts';
import { createLogger } from '../../controller/telemetry/logger.ts';

const out = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

subscribe('undici:request:create', (msg: unknown) => {
  const r = (msg as { request?: { origin?: unknown; method?: unknown; path?: unknown } }).request;
  const method = typeof r?.method === 'string' ? r.method.toUpperCase() : '';
  if (method === '' || method === 'GET' || method === 'HEAD') return;
  const origin = typeof r?.origin === 'string' ? r.origin : r?.origin instanceof URL ? r.origin.origin : '';
  if (!origin.startsWith('https://')) return;
  const path = typeof r?.path === 'string' ? r.path : '';
  out({ ev: path.includes('/apis/coordination.k8s.io/') ? 'leaseWrite' : 'kubeWrite', method, origin, path, wall: Date.now() });
});

const raw = process.env['FLEET_ILB_REPLICA_OPTIONS'];
if (raw === undefined) throw new Error('FLEET_ILB_REPLICA_OPTIONS is required');
const opts = JSON.parse(raw) as ControllerOptions;
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

const ctl = await startController(opts, createLogger({ level: opts.logLevel ?? 'warn', destination: process.stderr }));
out({ ev: 'started', wall: Date.now(), healthUrl: ctl.healthUrl });
let leading = false;
/** While the fence is open: when it will close unless the lease is renewed first (wall ms). */
let closesAt: number | undefined;
const poll = setInterval(() => {
  const l = ctl.isLeader();
  if (l !== leading) {
    leading = l;
    out({ ev: l ? 'leading' : 'not-leading', wall: Date.now() });
  }
  // The close time is computed while the fence is open (now + remainingMs), so the poll's own
  // period and any event-loop lag do not blur it.
  const remaining = ctl.fenceRemainingMs();
  if (remaining > 0 && Number.isFinite(remaining)) closesAt = Date.now() + remaining;
  else if (remaining === 0 && closesAt !== undefined) {
    out({ ev: 'fenceClosed', at: Math.round(closesAt), wall: Date.now() });
    closesAt = undefined;
  }
}, 20);
process.once('SIGTERM', () => void ctl.stop());
const why = await ctl.done;
clearInterval(poll);
out({ ev: 'stopped', why, wall: Date.now() });
process.exit(why === 'lease-lost' ? 3 : 0);
