// SPDX-License-Identifier: Apache-2.0
//
// Battery A3 (docs/failure-rules.md "Reliability battery items"): rate limiting of GCE calls.
// * The controller runs with a small mutation quota (--gce-writes-per-minute 240, share 0.5: a
//   budget of 2 writes/s with a 2-s burst; infra/gcp/cloud/ratelimit.ts) while several Gateways are
//   created at once: in every window of WINDOW_S seconds the emulator's audit shows at most
//   qps × (window + burst seconds) writes, and the Gateways still reach Programmed.
// * A Gateway whose every GCE call is refused with 429 rateLimitExceeded stays Programmed=False with
//   a reason and a message, its retries are spaced further and further apart (the per-Gateway
//   backoff grows), and a sibling created meanwhile is programmed unhindered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_API, gatewayCondition, getGateway, waitGatewayCondition } from '../fixtures/conditions.ts';
import { waitFor } from '../fixtures/kube.ts';
import type { Scenario } from '../fixtures/scenario.ts';
import { auditMark, firewallsOf, itemFleet, newRow, quick, recordRow, releaseFleet, stamped, storeRoute, tcpGateway } from './lib.ts';

const NS = 'store';
const WRITES_PER_MINUTE = 240;
const SHARE = 0.5;
const QPS = (WRITES_PER_MINUTE * SHARE) / 60;
/** The budget holds 2 s of tokens (infra/gcp/cloud/ratelimit.ts gceQuotaBudgets). */
const BURST_S = 2;
const WINDOW_S = 5;
const GATEWAYS = quick() ? 2 : 4;
const LIMIT_MS = 120_000;

describe('A3 GCE calls stay under the client-side rate; a throttled Gateway backs off with a reason', () => {
  let s: Scenario;
  const row = newRow('A3', `writes ≤ ${QPS}/s budget with ${GATEWAYS} Gateways at once; persistent 429 backs off`);
  const names = Array.from({ length: GATEWAYS }, (_, i) => `a3-g${i}`);

  beforeAll(async () => {
    s = await itemFleet({ controller: { gceWritesPerMinute: WRITES_PER_MINUTE, gceQuotaShare: SHARE } });
    await waitGatewayCondition(s.kube('config'), NS, 'store', 'Programmed', 120_000);
    await waitFor(() => firewallsOf(s.emulator, NS, 'store') >= 2, 60_000, 'store firewalls');
  });

  afterAll(async () => {
    recordRow(row);
    for (const n of [...names, 'a3-throttled']) {
      await s.kube('config').delete(GATEWAY_API, 'TCPRoute', n, NS);
      await s.kube('config').delete(GATEWAY_API, 'Gateway', n, NS);
    }
    await waitFor(() => !stamped(s.emulator.inventory()).some((x) => x.gateway.startsWith(`${NS}/a3-`)), 60_000, 'A3 Gateways torn down').catch(() => {
      row.gceLeaks += stamped(s.emulator.inventory()).filter((x) => x.gateway.startsWith(`${NS}/a3-`)).length;
    });
    await releaseFleet(s);
  });

  it(`A3: ${GATEWAYS} Gateways created at once: every ${WINDOW_S}-s window of GCE writes within the budget, all Programmed`, async () => {
    const mark = auditMark(s.emulator);
    const failures: string[] = [];
    for (const n of names) {
      await s.kube('config').apply(tcpGateway(NS, n, 8080));
      await s.kube('config').apply(storeRoute(NS, n));
    }
    const t0 = Date.now();
    const ok = await waitFor(
      async () => {
        for (const n of names) {
          const g = await getGateway(s.kube('config'), NS, n);
          if (gatewayCondition(g, 'Programmed')?.status !== 'True' || firewallsOf(s.emulator, NS, n) < 2) return false;
        }
        return true;
      },
      LIMIT_MS,
      'A3 Gateways Programmed',
    ).then(
      () => true,
      () => false,
    );
    if (!ok) failures.push(`not every Gateway Programmed within ${LIMIT_MS / 1000} s under the budget`);
    else row.convergeMs = Date.now() - t0;
    const writes = s.emulator.audit().filter((a) => a.seq > mark && a.access === 'write').map((a) => a.time);
    const allowed = Math.floor(QPS * (WINDOW_S + BURST_S)) + 1; // +1: a token that refilled at the window's edge
    let worst = 0;
    for (let i = 0; i < writes.length; i++) {
      let j = i;
      while (j < writes.length && writes[j]! - writes[i]! < WINDOW_S * 1000) j++;
      worst = Math.max(worst, j - i);
    }
    row.runs++;
    row.notes = `${writes.length} writes in ${((writes.at(-1)! - writes[0]!) / 1000).toFixed(1)} s, at most ${worst} in a ${WINDOW_S}-s window (budget ${allowed})`;
    if (writes.length < names.length * 5) failures.push(`only ${writes.length} writes: the Gateways were not created`);
    if (worst > allowed) {
      row.forbiddenWrites += worst - allowed;
      failures.push(`${worst} GCE writes in one ${WINDOW_S}-s window, budget ${allowed} (${QPS}/s + ${BURST_S}-s burst)`);
    }
    row.failures.push(...failures);
    expect(failures).toEqual([]);
  });

  it('A3: a Gateway whose every insert gets 429 stays Programmed=False with a reason and backs off', async () => {
    const failures: string[] = [];
    const name = 'a3-throttled';
    const path = `-${NS}-${name}-`;
    // Every insert refused (an insert names its resource in the body, not the path; the rest of the
    // fleet is converged and writes nothing meanwhile); the audit still names the resource.
    const fault = s.emulator.faults.inject({ httpMethod: 'POST', action: { kind: 'http', status: 429, reason: 'rateLimitExceeded' } });
    const mark = auditMark(s.emulator);
    try {
      await s.kube('config').apply(tcpGateway(NS, name, 8080));
      await s.kube('config').apply(storeRoute(NS, name));
      // Long enough for several rounds of the per-Gateway backoff (5 ms · 2^n, jittered).
      const mine = (): Array<{ time: number; resource: string }> =>
        s.emulator
          .audit()
          .filter((a) => a.seq > mark && a.access === 'write' && a.resource?.includes(path) === true)
          .map((a) => ({ time: a.time, resource: a.resource ?? '' }));
      const attempts = (): number[] => mine().map((a) => a.time);
      await waitFor(() => attempts().length >= 8 && attempts().at(-1)! - attempts()[0]! > 10_000, 60_000, 'throttled retries').catch(() => failures.push(`too few attempts: ${attempts().length}`));
      const g = await getGateway(s.kube('config'), NS, name);
      const c = gatewayCondition(g, 'Programmed');
      if (c?.status !== 'False' || (c.reason ?? '') === '' || (c.message ?? '') === '') failures.push(`Programmed is ${c === undefined ? 'absent' : `${c.status}/${c.reason}: ${c.message}`}, want False with a reason and message`);
      // One resource's inserts (the one tried most: each reconcile inserts several in parallel, paced
      // by the write budget): the gaps between its attempts grow — in-call retries, then the
      // per-Gateway backoff.
      const byResource = new Map<string, number[]>();
      for (const a of mine()) byResource.set(a.resource, [...(byResource.get(a.resource) ?? []), a.time]);
      const [res, t] = [...byResource.entries()].sort((a, b) => b[1].length - a[1].length)[0] ?? ['', []];
      const gaps = t.slice(1).map((x, i) => x - t[i]!);
      const shortest = gaps.length === 0 ? 0 : Math.min(...gaps);
      const longest = gaps.length === 0 ? 0 : Math.max(...gaps);
      row.runs++;
      row.notes = `${row.notes ?? ''}; throttled Gateway: ${attempts().length} refused inserts, ${t.length} of ${res.split('/').pop() ?? ''} with gaps ${gaps.map((g) => (g / 1000).toFixed(1)).join(', ')} s; Programmed ${c?.status}/${c?.reason}`;
      // Backed off: the retry delay doubles (200 ms × 5 for rate limits, then ×2 per attempt,
      // jittered; infra/gcp/cloud/client.ts), so the longest gap is several times the shortest and
      // at least 2 s — a hot loop would show even gaps at the write budget's pace (0.5 s).
      if (gaps.length < 3 || !(longest >= 3 * shortest && longest >= 2_000)) failures.push(`retries did not back off: ${gaps.length} gaps, shortest ${shortest} ms, longest ${longest} ms`);
      // The Gateways programmed before keep their status.
      const sib = await getGateway(s.kube('config'), NS, names[0]!);
      if (gatewayCondition(sib, 'Programmed')?.status !== 'True') failures.push(`${names[0]!} no longer Programmed`);
    } finally {
      s.emulator.faults.clear(fault);
    }
    row.failures.push(...failures);
    expect(failures).toEqual([]);
  });
});
