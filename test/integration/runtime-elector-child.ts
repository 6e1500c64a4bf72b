// SPDX-License-Identifier: Apache-2.0
//
// One leader-election replica as its own OS process, for runtime-leaderelection.test.ts (so the
// test can SIGKILL or SIGSTOP it like a real pod). Prints JSON lines on stdout:
//   {ev:'campaigning'}                         started
//   {ev:'leading', wall}                       acquired the lease
//   {ev:'renew', wall, fenceUntil}             a renew succeeded; writes allowed until fenceUntil (wall ms)
//   {ev:'canWrite', value, wall}               every change of canWrite(), polled every 10 ms
//   {ev:'lost', wall}                          leadership lost: the process exits (code 3), as the controller does
// Configuration via env: KUBECONFIG_PATH, IDENTITY, LEASE_NS, LEASE_NAME, LEASE_MS, RENEW_MS, RETRY_MS.
import { ClusterClient } from '../../controller/clusters/client.ts';
import { LeaderElector, kubeLeaseClient } from '../../controller/runtime/leaderelection.ts';

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is required`);
  return v;
};
const out = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

const cluster = ClusterClient.fromFile('config', env('KUBECONFIG_PATH'));
const elector = new LeaderElector({
  lease: kubeLeaseClient(cluster, env('LEASE_NS'), env('LEASE_NAME')),
  identity: env('IDENTITY'),
  leaseDurationMs: Number(env('LEASE_MS')),
  renewDeadlineMs: Number(env('RENEW_MS')),
  retryPeriodMs: Number(env('RETRY_MS')),
  onStartedLeading: () => out({ ev: 'leading', wall: Date.now() }),
  onStoppedLeading: (reason) => {
    out({ ev: reason, wall: Date.now() });
    process.exit(3);
  },
});

let lastRenew: number | undefined;
let canWrite = false;
setInterval(() => {
  const r = elector.lastRenewTime();
  if (r !== undefined && r !== lastRenew) {
    lastRenew = r;
    out({ ev: 'renew', wall: r, fenceUntil: Date.now() + elector.remainingMs() });
  }
  const c = elector.canWrite();
  if (c !== canWrite) {
    canWrite = c;
    out({ ev: 'canWrite', value: c, wall: Date.now() });
  }
}, 10);

out({ ev: 'campaigning', wall: Date.now() });
await elector.run();
