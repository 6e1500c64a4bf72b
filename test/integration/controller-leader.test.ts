// SPDX-License-Identifier: Apache-2.0
//
// Two controller replicas on one fleet (battery C1, docs/failure-rules.md "a deposed leader makes
// no write"): each replica is its own OS process (controller-replica-child.ts) with leader election
// on and a short lease (5 s, renew deadline 3.5 s, retry 0.5 s: 3 s / 2 s flapped on a loaded 2-core
// machine; the rules are those of the defaults 15 s / 10 s / 2 s). Who wrote what is measured outside the replicas' own logic:
// * GCE: each replica reaches the Compute API emulator through its own small proxy that adds
//   `x-emulator-caller: <replica>`, so the emulator's audit log names the caller of every call;
// * Kubernetes: each replica reports every non-GET request it sends to an apiserver, seen on
//   undici's diagnostics channel under the clients (Lease requests of the election are reported apart).
// Then the leader is SIGKILLed (no lease release, like a node that dies): the standby takes over
// within leaseDuration + retryPeriod and converges a change made after the kill, writing nothing
// else to GCE (its caches were warm).
import type { ChildProcess } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControllerOptions } from '../../controller/main.ts';
import { waitGatewayCondition } from '../fixtures/conditions.ts';
import { ofKind } from '../fixtures/example.ts';
import { actualNegs, expectedNegs } from '../fixtures/expect.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import { spawnReplica, type ReplicaLine } from '../fixtures/replica.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';
import type { AuditEntry } from '../emulator/index.ts';

const LEASE_MS = 5_000;
const RENEW_MS = 3_500;
const RETRY_MS = 500;
/** Process scheduling and HTTP latency on a shared 2-core machine. */
const SLACK_MS = 1_500;
const CONVERGE_MS = 90_000;

interface SliceObj extends KObject {
  endpoints?: Array<{ nodeName?: string; addresses: string[] }>;
}

/** A proxy to the emulator that names its caller (the emulator's audit `caller`). */
async function callerProxy(target: string, caller: string): Promise<{ url: string; server: Server }> {
  const t = new URL(target);
  const server = createServer((req, res) => {
    const up = httpRequest(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, 'x-emulator-caller': caller } },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

class Replica {
  readonly lines: ReplicaLine[] = [];
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly identity: string;
  constructor(identity: string, opts: ControllerOptions) {
    this.identity = identity;
    ({ proc: this.proc, exited: this.exited } = spawnReplica(opts, (l) => this.lines.push(l)));
  }
  first(ev: string): ReplicaLine | undefined {
    return this.lines.find((l) => l.ev === ev);
  }
  leading(): boolean {
    return this.lines.filter((l) => l.ev === 'leading' || l.ev === 'not-leading').at(-1)?.ev === 'leading';
  }
  kubeWrites(): string[] {
    return this.lines.filter((l) => l.ev === 'kubeWrite').map((l) => `${l.method ?? ''} ${l.path ?? ''}`);
  }
}

const writesOf = (audit: readonly AuditEntry[]): AuditEntry[] => audit.filter((e) => e.access === 'write');

describe('leader election with two controller replicas', () => {
  let s: Scenario;
  let members: string[];
  const replicas: Replica[] = [];
  const proxies: Server[] = [];
  let leader: Replica;
  let standby: Replica;

  const quietGce = async (): Promise<void> => {
    let prev = -1;
    await waitFor(
      async () => {
        const n = writesOf(s.emulator.audit()).length;
        const ok = n === prev;
        prev = n;
        if (!ok) await new Promise((r) => setTimeout(r, 1_500));
        return ok;
      },
      60_000,
      'GCE to be quiet',
    );
  };

  beforeAll(async () => {
    // The controller is not started in this process: the replicas are the controllers.
    s = await startScenario({ controller: false });
    members = s.fleet.members.map((m) => m.name);
    for (const id of ['replica-1', 'replica-2']) {
      const p = await callerProxy(s.emulator.url, id);
      proxies.push(p.server);
      replicas.push(
        new Replica(id, {
          kubeconfig: s.fleet.config.kubeconfigPath,
          computeEndpoint: p.url,
          project: s.gcp.project,
          fleetId: 'demo',
          identity: id,
          leaderElect: true,
          leaseDurationMs: LEASE_MS,
          renewDeadlineMs: RENEW_MS,
          retryPeriodMs: RETRY_MS,
          metricsAddr: '127.0.0.1:0',
          sweepMinAgeMs: 0,
          logLevel: 'warn',
        }),
      );
    }
  });

  afterAll(async () => {
    for (const r of replicas) {
      if (r.proc.exitCode === null && r.proc.signalCode === null) {
        r.proc.kill('SIGKILL');
        await r.exited;
      }
    }
    for (const p of proxies) p.closeAllConnections();
    await Promise.all(proxies.map((p) => new Promise((r) => p.close(r))));
    await s?.stop();
  });

  it('exactly one replica leads; only the leader writes to GCE and to Kubernetes', async () => {
    await waitFor(() => replicas.some((r) => r.leading()), 60_000, 'a leader');
    leader = replicas.find((r) => r.leading())!;
    standby = replicas.find((r) => r !== leader)!;
    await waitFor(() => standby.first('started'), 60_000, 'the standby to run');

    await waitGatewayCondition(s.kube('config'), 'store', 'store', 'Programmed', CONVERGE_MS);
    await quietGce();
    expect(actualNegs(s.emulator, members)).toEqual(expectedNegs(s.objects, members, 'store', 'store'));

    // One leader all along: neither replica changed its role (the lease was renewed in time).
    expect(leader.lines.filter((l) => l.ev === 'leading' || l.ev === 'not-leading').map((l) => l.ev)).toEqual(['leading']);
    expect(standby.first('leading'), 'the standby never led').toBeUndefined();

    const audit = s.emulator.audit();
    const byCaller = (c: string): AuditEntry[] => audit.filter((e) => e.caller === c);
    expect(writesOf(byCaller(leader.identity)).length, 'GCE writes by the leader').toBeGreaterThan(0);
    expect(writesOf(byCaller(standby.identity)).map((e) => `${e.method} ${e.resource ?? ''}`), 'GCE writes by the standby').toEqual([]);
    // Every GCE write in the audit came from the leader's proxy (nothing bypassed the attribution).
    expect(writesOf(audit).filter((e) => e.caller !== leader.identity).map((e) => `${e.caller} ${e.method}`)).toEqual([]);
    expect(leader.kubeWrites().length, 'Kubernetes writes by the leader').toBeGreaterThan(0);
    expect(standby.kubeWrites(), 'Kubernetes writes by the standby').toEqual([]);
  });

  it('a SIGKILLed leader is replaced within leaseDuration + retryPeriod; the new leader converges a change made after the kill and writes nothing else', async () => {
    const member = 'member-a';
    const slice = ofKind<SliceObj>(s.objects[member] ?? [], 'EndpointSlice')[0]!;
    const moved: SliceObj = {
      ...slice,
      endpoints: (slice.endpoints ?? []).map((e) => (e.nodeName === 'member-a-pool-a-1' ? { ...e, nodeName: 'member-a-pool-a-2', addresses: ['10.110.5.8'] } : e)),
    };
    const target = expectedNegs({ ...s.objects, [member]: (s.objects[member] ?? []).map((o) => (o === slice ? moved : o)) }, members, 'store', 'store');
    expect(target[member]?.['us-central1-a']).toEqual(['member-a-pool-a-0', 'member-a-pool-a-2']);

    s.emulator.resetAudit();
    const killedAt = Date.now();
    leader.proc.kill('SIGKILL');
    await leader.exited;
    // A change nobody has reconciled yet: the pod on member-a-pool-a-1 moved to member-a-pool-a-2.
    await s.kube(member).apply(moved);

    const took = await waitFor(() => standby.first('leading'), LEASE_MS + RETRY_MS + 30_000, 'the standby to lead');
    const handover = took.wall - killedAt;
    expect(handover, `hand-over took ${handover} ms`).toBeLessThanOrEqual(LEASE_MS + RETRY_MS + SLACK_MS);

    await waitFor(() => JSON.stringify(actualNegs(s.emulator, members)) === JSON.stringify(target), CONVERGE_MS, 'the new leader to move the NEG endpoint');
    await quietGce();
    const audit = s.emulator.audit();
    expect(audit.filter((e) => e.caller === leader.identity).map((e) => e.method), 'calls by the killed leader').toEqual([]);
    // Warm caches: the new leader's first full reconcile writes only the change (one endpoint out,
    // one in, on member-a's NEG in us-central1-a).
    const writes = writesOf(audit).map((e) => `${e.caller} ${e.method} ${e.resource?.split('/').slice(-3, -2)[0] ?? ''} ${(e.resource ?? '').endsWith(`-${member}`) ? member : ''}`);
    expect(writes.sort()).toEqual([
      `${standby.identity} networkEndpointGroups.attachNetworkEndpoints us-central1-a ${member}`,
      `${standby.identity} networkEndpointGroups.detachNetworkEndpoints us-central1-a ${member}`,
    ]);
    console.log(
      JSON.stringify({
        handoverMs: handover,
        newLeaderKubeWrites: standby.kubeWrites(),
        newLeaderGceCalls: audit.filter((e) => e.caller === standby.identity).length,
      }),
    );
  });
});
