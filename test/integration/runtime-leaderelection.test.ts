// SPDX-License-Identifier: Apache-2.0
//
// Leader election on a real apiserver's Lease (battery C1/C2, docs/failure-rules.md): exactly one
// leader; a killed leader is replaced within leaseDuration + retryPeriod; a FROZEN leader
// (SIGSTOP, like a paused VM or a GC pause) cannot write from the instant it resumes, its write fence closed before
// the successor acquired, and it never renews again; a graceful stop hands over within a retry
// period. Replicas run as separate OS processes (runtime-elector-child.ts) so the signals are real.
// Durations are shortened (lease 4 s, renew deadline 3 s, retry 1 s) to keep the test fast; the
// rules are the same as with the defaults 15 s / 10 s / 2 s.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ApiException, CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClusterClient } from '../../controller/clusters/client.ts';
import { LeaderElector, kubeLeaseClient } from '../../controller/runtime/leaderelection.ts';
import { type Fleet, startFleet } from '../harness/fleet.ts';

const NS = 'fleet-ilb-system';
const LEASE_MS = 4_000;
const RENEW_MS = 3_000;
const RETRY_MS = 1_000;
/** Process scheduling and HTTP latency on a shared 2-core machine. */
const SLACK_MS = 1_500;

let fleet: Fleet;
let client: ClusterClient;
const children: ChildProcess[] = [];

interface Line {
  ev: string;
  wall: number;
  value?: boolean;
  fenceUntil?: number;
}

class Replica {
  readonly lines: Line[] = [];
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  constructor(identity: string, lease: string) {
    const child = fileURLToPath(new URL('./runtime-elector-child.ts', import.meta.url));
    this.proc = spawn(process.execPath, [child], {
      env: {
        ...process.env,
        KUBECONFIG_PATH: fleet.config.kubeconfigPath,
        IDENTITY: identity,
        LEASE_NS: NS,
        LEASE_NAME: lease,
        LEASE_MS: String(LEASE_MS),
        RENEW_MS: String(RENEW_MS),
        RETRY_MS: String(RETRY_MS),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(this.proc);
    let buf = '';
    this.proc.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(JSON.parse(buf.slice(0, i)) as Line);
        buf = buf.slice(i + 1);
      }
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
  }
  first(ev: string): Line | undefined {
    return this.lines.find((l) => l.ev === ev);
  }
  last(ev: string): Line | undefined {
    return this.lines.filter((l) => l.ev === ev).at(-1);
  }
  leading(): boolean {
    return this.first('leading') !== undefined;
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function holder(lease: string): Promise<{ holder: string; transitions: number }> {
  const l = await client.api(CoordinationV1Api).readNamespacedLease({ name: lease, namespace: NS });
  return { holder: l.spec?.holderIdentity ?? '', transitions: l.spec?.leaseTransitions ?? 0 };
}

beforeAll(async () => {
  fleet = await startFleet({ members: 0 });
  client = ClusterClient.fromKubeConfig('config', fleet.config.kubeConfig());
  try {
    await client.api(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
  } catch (e) {
    if (!(e instanceof ApiException && e.code === 409)) throw e;
  }
});

afterEach(() => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGCONT');
      c.kill('SIGKILL');
    }
  }
});

afterAll(async () => {
  await fleet?.stop();
});

describe('leader election on a real Lease', () => {
  it('two in-process electors: one leads, never both may write; a graceful stop hands over within a retry period', async () => {
    const mk = (id: string) =>
      new LeaderElector({ lease: kubeLeaseClient(client, NS, 'inproc'), identity: id, leaseDurationMs: LEASE_MS, renewDeadlineMs: RENEW_MS, retryPeriodMs: RETRY_MS });
    const a = mk('a');
    const b = mk('b');
    void a.run();
    await until('a leads', () => a.isLeader());
    void b.run();
    let both = 0;
    for (let i = 0; i < 100; i++) {
      if (a.canWrite() && b.canWrite()) both++;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(both).toBe(0);
    expect(a.isLeader()).toBe(true);
    expect(b.isLeader()).toBe(false);
    expect(b.leader()).toBe('a');
    expect(await holder('inproc')).toEqual({ holder: 'a', transitions: 0 });
    const t0 = Date.now();
    await a.stop();
    expect(a.canWrite()).toBe(false);
    await until('b leads', () => b.isLeader(), 10_000);
    expect(Date.now() - t0).toBeLessThanOrEqual(RETRY_MS + SLACK_MS);
    expect(await holder('inproc')).toEqual({ holder: 'b', transitions: 1 });
    await b.stop();
    expect((await holder('inproc')).holder).toBe('');
  });

  it('a killed leader is replaced within leaseDuration + retryPeriod of its last renew', async () => {
    const a = new Replica('pod-a', 'kill');
    await until('a leads', () => a.leading());
    const b = new Replica('pod-b', 'kill');
    await until('b campaigns', () => b.first('campaigning') !== undefined);
    await new Promise((r) => setTimeout(r, 2 * RETRY_MS)); // b has observed a's renewals
    a.proc.kill('SIGKILL');
    const killedAt = Date.now();
    await a.exited;
    await until('b leads', () => b.leading(), LEASE_MS + RETRY_MS + 10_000);
    const lastRenew = a.last('renew')!;
    const acquired = b.first('leading')!.wall;
    console.log(`kill: b acquired ${acquired - lastRenew.wall} ms after a's last renew (${acquired - killedAt} ms after the kill)`);
    expect(acquired - lastRenew.wall).toBeGreaterThanOrEqual(LEASE_MS);
    expect(acquired - lastRenew.wall).toBeLessThanOrEqual(LEASE_MS + RETRY_MS + SLACK_MS);
    expect(lastRenew.fenceUntil!).toBeLessThan(acquired);
    expect(await holder('kill')).toEqual({ holder: 'pod-b', transitions: 1 });
  });

  it('a frozen leader (SIGSTOP) is fenced the moment it resumes, before the successor acquired, and never renews again', async () => {
    const a = new Replica('pod-a', 'freeze');
    await until('a leads', () => a.leading());
    const b = new Replica('pod-b', 'freeze');
    await until('b campaigns', () => b.first('campaigning') !== undefined);
    await new Promise((r) => setTimeout(r, 2 * RETRY_MS));
    a.proc.kill('SIGSTOP');
    const frozenAt = Date.now();
    await until('b leads', () => b.leading(), LEASE_MS + RETRY_MS + 10_000);
    const acquired = b.first('leading')!.wall;
    const renewsBefore = a.lines.filter((l) => l.ev === 'renew').length;
    await new Promise((r) => setTimeout(r, 1_000));
    const resumedAt = Date.now();
    a.proc.kill('SIGCONT');
    const code = await a.exited;

    const lastRenew = a.last('renew')!;
    const afterResume = a.lines.filter((l) => l.wall >= resumedAt);
    console.log(`freeze: frozen ${resumedAt - frozenAt} ms; a's fence closed at +${lastRenew.fenceUntil! - lastRenew.wall} ms after its last renew; b acquired ${acquired - lastRenew.wall} ms after it; a after resume: ${JSON.stringify(afterResume)}`);
    // The fence had closed (on a's own monotonic clock) before b acquired.
    expect(lastRenew.fenceUntil!).toBeLessThan(acquired);
    // After resuming: never allowed to write, no renew, and it gives up (exit 3 = "leader election lost").
    expect(afterResume.filter((l) => l.ev === 'canWrite' && l.value === true)).toEqual([]);
    expect(afterResume.filter((l) => l.ev === 'renew')).toEqual([]);
    expect(a.lines.filter((l) => l.ev === 'renew')).toHaveLength(renewsBefore);
    expect(afterResume.map((l) => l.ev)).toContain('lost');
    expect(code).toBe(3);
    expect(await holder('freeze')).toEqual({ holder: 'pod-b', transitions: 1 });
  });
});
