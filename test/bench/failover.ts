// SPDX-License-Identifier: Apache-2.0
//
// `npm run bench:failover`: the store example on the data path (docs/datapath.md; needs root), three
// rounds of each, median reported:
//   - failover: all pods of member-b die while a client opens a connection every 50 ms; the time
//     from the first pod's death to the start of an unbroken run of successful connections that all
//     reach member-a (bounded by interval x unhealthy threshold + 2 s);
//   - pod move: a member-a pod moves to another node while the client runs; the share of
//     connections that succeeded from the move until the NEG and health checks followed.
// Options: --rounds N (default 3), --interval-sec S (health check interval, default 2).

import { parseArgs } from 'node:util';
import { waitGatewayCondition } from '../fixtures/conditions.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import { startScenario } from '../fixtures/scenario.ts';
import { startDataPath } from '../datapath/harness.ts';
import { dataPathUnavailable } from '../datapath/netns.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, 'interval-sec': { type: 'string', default: '2' } } });
const rounds = Number(values.rounds);
const interval = Number(values['interval-sec']);
const HC = { checkIntervalSec: interval, timeoutSec: Math.max(1, interval - 1), healthyThreshold: 2, unhealthyThreshold: 2 };
const log = (m: string): void => {
  process.stderr.write(`${m}\n`);
};
const why = dataPathUnavailable();
if (why !== undefined) {
  log(`bench:failover skipped: ${why}`);
  process.exit(2);
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const s = await startScenario({ apply: 'members', log });
const dp = await startDataPath(s, { proxyMode: { 'member-a': 'iptables', 'member-b': 'nftables' }, log });
const failovers: number[] = [];
const moveRates: number[] = [];
try {
  const ilb = s.ilbConfig as KObject & { spec: Record<string, unknown> };
  await s.kube('config').apply({ ...ilb, spec: { ...ilb.spec, healthCheck: HC } });
  await s.apply('config');
  const gw = await waitGatewayCondition(s.kube('config'), 'store', 'store', 'Programmed', 120_000);
  const vip = gw.status?.addresses?.[0]?.value ?? '';
  await dp.waitProgrammed(vip);
  const memberOf = (pod: string | undefined): string | undefined => dp.pods().find((p) => p.name === pod)?.member;
  const allHealthy = (): boolean => [...dp.health().values()].length > 0 && [...dp.health().values()].every((x) => x === 'HEALTHY');
  const backendMembers = (): number => new Set((dp.plan()?.rules.find((r) => r.ip === vip)?.backends ?? []).map((i) => dp.nodes.find((n) => n.index === i)?.member)).size;
  await waitFor(() => backendMembers() === 2 && allHealthy(), 120_000, 'both members healthy');

  for (let r = 0; r < rounds; r++) {
    // ---- failover ----
    const victims = dp.pods().filter((p) => p.member === 'member-b');
    const t = dp.startTraffic('tcp', vip, 8080, { durationMs: 120_000, intervalMs: 50, timeoutMs: 500 });
    await waitFor(() => t.attempts().length >= 10, 10_000, 'traffic');
    const start = t.clientTime(Math.min(...(await Promise.all(victims.map((p) => dp.killPod(p.name))))));
    const lastBad = (): number => {
      const after = t.attempts().filter((a) => a.t > start);
      return after.filter((a) => !a.ok || memberOf(a.pod) !== 'member-a').at(-1)?.t ?? start;
    };
    await waitFor(() => (t.attempts().at(-1)?.t ?? 0) - lastBad() > 3000, 60_000, '3 s of connections all to member-a');
    failovers.push(Math.round(lastBad() - start));
    await t.stop();
    for (const p of victims) await dp.addPod({ member: p.member, namespace: p.namespace, name: p.name, node: p.node, ip: p.ip, labels: p.labels, tcp: p.tcp, ready: p.ready });
    await waitFor(() => backendMembers() === 2 && allHealthy(), 60_000, 'member-b back and healthy');

    // ---- pod move (there and back, alternating rounds) ----
    const from = r % 2 === 0 ? 'member-a-pool-a-0' : 'member-a-pool-a-2';
    const to = r % 2 === 0 ? 'member-a-pool-a-2' : 'member-a-pool-a-0';
    const pod = dp.pods().find((p) => p.node === from)!;
    const toIp = dp.nodes.find((n) => n.name === to)!.ip;
    const m = dp.startTraffic('tcp', vip, 8080, { durationMs: 120_000, intervalMs: 50, timeoutMs: 1000 });
    await waitFor(() => m.attempts().length >= 10, 10_000, 'traffic');
    const mark = m.attempts().length;
    await dp.movePod(pod.name, to);
    await waitFor(() => [...dp.health()].some(([id, st]) => id.startsWith(`${toIp}|`) && st === 'HEALTHY') && !dp.plan()?.rules.some((r2) => r2.backends.some((i) => dp.nodes.find((n) => n.index === i)?.name === from)), 60_000, 'the NEG follows the pod');
    const during = (await m.stop()).slice(mark);
    moveRates.push(during.length === 0 ? 1 : during.filter((a) => a.ok).length / during.length);
    log(`round ${r + 1}: failover ${failovers.at(-1)} ms; pod move ${during.filter((a) => a.ok).length}/${during.length} connections succeeded`);
    await waitFor(allHealthy, 60_000, 'healthy');
  }
  process.stdout.write(
    `${JSON.stringify({
      healthCheck: HC,
      boundMs: HC.checkIntervalSec * HC.unhealthyThreshold * 1000 + 2000,
      failoverMs: { median: median(failovers), rounds: failovers },
      podMoveSuccessRate: { median: median(moveRates), rounds: moveRates.map((x) => Math.round(x * 1000) / 1000) },
    })}\n`,
  );
} finally {
  const report = await dp.stop();
  await s.stop();
  if (report.leftoverNamespaces.length > 0 || report.leftoverPids.length > 0) {
    log(`left behind: ${JSON.stringify(report)}`);
    process.exitCode = 1;
  }
}
