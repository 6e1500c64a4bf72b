// SPDX-License-Identifier: Apache-2.0
//
// A local fleet of real Kubernetes control planes for tests: one config cluster plus N member
// clusters, each one OS process (fleet-apiserver: embedded etcd + kube-apiserver, built from the
// upstream Go modules by test/apiserver) on a loopback port, with RBAC on, an admin identity,
// identities mintable at any time, and the Gateway API (standard channel), MCS API and fleet-ilb
// CRDs installed and served in every cluster (README "A local fleet").
//
// Layout of a fleet directory:
//   <dir>/config.kubeconfig, <dir>/member-a.kubeconfig, ...   admin kubeconfigs (work with kubectl)
//   <dir>/identities/*.kubeconfig                             minted identities
//   <dir>/clusters/<name>/{pki,data,apiserver.log}            per-cluster state (data survives stop/start)
//   <dir>/fleet.json                                          owner pid, ports, child pids
//
// Nothing is left behind: stop() ends every process and removes the directory (or, for a
// directory that existed before, what the harness put in it). The same happens on SIGINT, SIGTERM,
// SIGHUP and normal exit; and fleet-apiserver exits by itself when its parent dies, so even a test
// runner killed with SIGKILL leaves no orphan (its directory is swept by the next startFleet).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { controlPlaneBinaries, pidAlive, type ControlPlaneBinaries } from './binaries.ts';
import { fleetManifests, installManifests, waitCrdsServed } from './crds.ts';
import { createClusterPki, mintClientCredential, pkiPaths, type ClientCredential, type ClusterPki } from './pki.ts';

/** One cluster of the fleet. */
export interface ClusterHandle {
  /** 'config', 'member-a', 'member-b', ... */
  name: string;
  /** Admin kubeconfig (user `admin` in group `system:masters`); works with real kubectl. */
  kubeconfigPath: string;
  /** https://127.0.0.1:PORT */
  server: string;
  /** A NEW @kubernetes/client-node KubeConfig each call (never share one between clusters). */
  kubeConfig(): KubeConfig;
  /** Stops the apiserver process (data kept): simulates an outage. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data; resolves once it is ready and its CRDs are served. */
  start(): Promise<void>;
}

/** A user minted with a client certificate of one cluster. RBAC decides what it may do. */
export interface Identity {
  user: string;
  groups: string[];
  kubeconfigPath: string;
  kubeConfig(): KubeConfig;
}

/** A running fleet. */
export interface Fleet {
  dir: string;
  config: ClusterHandle;
  members: ClusterHandle[];
  /** Starts one more member cluster (default name: the next `member-<letter>`). */
  addMember(name?: string): Promise<ClusterHandle>;
  /** Mints a client-certificate identity for `user` in `groups` on `cluster`; works right away. */
  mintIdentity(cluster: ClusterHandle, user: string, groups?: string[]): Promise<Identity>;
  /** Everything gone: processes, ports, temp dirs. Idempotent. */
  stop(): Promise<void>;
}

/** Options of startFleet. */
export interface StartFleetOptions {
  /** Number of member clusters (default 2). */
  members?: number;
  /** Member cluster names (DNS labels) instead of `member-a`, `member-b`, ...; overrides `members`. */
  memberNames?: readonly string[];
  /** Fleet directory (default: a new temp dir). Created if missing. */
  dir?: string;
  /** Progress messages (default: only the one-time binary build is reported, on stderr). */
  log?: (msg: string) => void;
}

const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 20_000;
const ADMIN_USER = 'admin';
const ADMIN_GROUPS = ['system:masters'];

/** Starts a fleet; resolves once every cluster is ready and every CRD is Established and served. */
export async function startFleet(opts: StartFleetOptions = {}): Promise<Fleet> {
  const members = opts.memberNames?.length ?? opts.members ?? 2;
  if (!Number.isInteger(members) || members < 0) throw new Error(`members must be a non-negative integer, got ${members}`);
  const log = opts.log ?? ((msg: string) => process.stderr.write(`[fleet] ${msg}\n`));
  sweepStaleFleets();
  installExitHandlers();
  // Build (or find) the binary and read the CRDs while nothing else runs yet.
  const [binaries] = await Promise.all([controlPlaneBinaries(log), fleetManifests()]);

  const fleet = await FleetImpl.create(opts.dir, binaries, opts.log ?? (() => {}));
  try {
    const names = ['config', ...(opts.memberNames ?? Array.from({ length: members }, (_, i) => memberName(i)))];
    const clusters = await Promise.all(names.map((n) => fleet.newCluster(n)));
    fleet.configCluster = clusters[0]!;
    fleet.memberClusters.push(...clusters.slice(1));
    await fleet.saveState();
    return fleet;
  } catch (e) {
    await fleet.stop();
    throw e;
  }
}

/** member-a ... member-z, member-aa, ... */
export function memberName(index: number): string {
  let s = '';
  let n = index;
  do {
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return `member-${s}`;
}

// ---------------------------------------------------------------------------------------------
// Process bookkeeping shared by every fleet of this process.

const liveFleets = new Set<FleetImpl>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // Last resort, synchronous: kill what is still running and remove the directories.
  process.on('exit', () => {
    for (const f of liveFleets) f.killSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      process.removeListener(sig, onSignal);
      const others = process.listenerCount(sig) > 0;
      void Promise.race([
        Promise.allSettled([...liveFleets].map((f) => f.stop())),
        new Promise((r) => setTimeout(r, STOP_TIMEOUT_MS + 5_000).unref()),
      ]).then(() => {
        // Someone else handles the signal (a test runner, the CLI): let them. Otherwise behave as
        // if we had never listened: re-raise for the default action (terminate).
        if (!others) process.kill(process.pid, sig);
      });
    };
    process.on(sig, onSignal);
  }
}

interface FleetState {
  ownerPid: number;
  createdAt: string;
  clusters: Record<string, { server: string; kubeconfig: string; pids: number[] }>;
}

/** Removes fleet directories under the temp dir whose owner and processes are all gone. */
function sweepStaleFleets(): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter((e) => e.startsWith('fleet-ilb-'));
  } catch {
    return;
  }
  for (const e of entries) {
    const dir = join(tmpdir(), e);
    try {
      const state = JSON.parse(readFileSync(join(dir, 'fleet.json'), 'utf8')) as FleetState;
      const pids = [state.ownerPid, ...Object.values(state.clusters).flatMap((c) => c.pids)];
      if (pids.every((p) => !pidAlive(p))) rmSync(dir, { recursive: true, force: true });
    } catch {
      // not ours, or being created right now
    }
  }
}

class FleetImpl implements Fleet {
  readonly dir: string;
  readonly members: ClusterHandle[];
  configCluster: LocalCluster | undefined;
  readonly memberClusters: LocalCluster[] = [];
  private readonly createdDir: boolean;
  private readonly binaries: ControlPlaneBinaries;
  private readonly log: (msg: string) => void;
  private stopping: Promise<void> | undefined;
  private identityCount = 0;
  private readonly clusters = new Map<string, LocalCluster>();

  private constructor(dir: string, createdDir: boolean, binaries: ControlPlaneBinaries, log: (msg: string) => void) {
    this.dir = dir;
    this.createdDir = createdDir;
    this.binaries = binaries;
    this.log = log;
    this.members = this.memberClusters;
  }

  static async create(dirOpt: string | undefined, binaries: ControlPlaneBinaries, log: (msg: string) => void): Promise<FleetImpl> {
    let dir: string;
    let created: boolean;
    if (dirOpt === undefined) {
      dir = mkdtempSync(join(tmpdir(), 'fleet-ilb-'));
      created = true;
    } else {
      dir = resolve(dirOpt);
      created = !existsSync(dir);
      await mkdir(dir, { recursive: true });
      const statePath = join(dir, 'fleet.json');
      if (existsSync(statePath)) {
        const state = JSON.parse(await readFile(statePath, 'utf8')) as FleetState;
        if (pidAlive(state.ownerPid) && state.ownerPid !== process.pid) {
          throw new Error(`a fleet owned by pid ${state.ownerPid} is already running in ${dir}`);
        }
        // Leftovers of a fleet whose owner died: start clean.
        await removeFleetFiles(dir, false);
      }
    }
    const f = new FleetImpl(dir, created, binaries, log);
    liveFleets.add(f);
    await f.saveState();
    return f;
  }

  get config(): ClusterHandle {
    if (this.configCluster === undefined) throw new Error('fleet has no config cluster');
    return this.configCluster;
  }

  /** Every cluster, including ones still starting (so that teardown reaches them too). */
  private allClusters(): LocalCluster[] {
    return [...this.clusters.values()];
  }

  async newCluster(name: string): Promise<LocalCluster> {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) throw new Error(`cluster name must be a DNS label: ${name}`);
    if (this.clusters.has(name)) throw new Error(`cluster ${name} already exists`);
    const c = LocalCluster.create(this, name, this.binaries, this.log);
    this.clusters.set(name, c);
    try {
      await c.init();
      await c.start();
    } catch (e) {
      await c.stop();
      this.clusters.delete(name);
      throw e;
    }
    return c;
  }

  async addMember(name?: string): Promise<ClusterHandle> {
    this.assertRunning();
    let n = name;
    if (n === undefined) {
      let i = this.memberClusters.length;
      while (this.allClusters().some((c) => c.name === memberName(i))) i++;
      n = memberName(i);
    }
    const c = await this.newCluster(n);
    this.memberClusters.push(c);
    await this.saveState();
    return c;
  }

  async mintIdentity(cluster: ClusterHandle, user: string, groups: string[] = []): Promise<Identity> {
    this.assertRunning();
    const c = this.allClusters().find((x) => x === cluster || x.name === cluster.name);
    if (c === undefined) throw new Error(`cluster ${cluster.name} is not part of this fleet`);
    const idDir = join(this.dir, 'identities');
    const cred = await mintClientCredential(c.pki, user, groups, join(idDir, '.certs'));
    const file = join(idDir, `${c.name}-${user.replace(/[^A-Za-z0-9._-]/g, '_')}-${++this.identityCount}.kubeconfig`);
    await writeKubeconfig(file, c.name, c.server, await c.servingCaPem(), `${user}@${c.name}`, cred);
    return {
      user,
      groups: [...groups],
      kubeconfigPath: file,
      kubeConfig: () => loadKubeConfig(file),
    };
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.allSettled(this.allClusters().map((c) => c.stop()));
      await removeFleetFiles(this.dir, this.createdDir);
      liveFleets.delete(this);
    })();
    return this.stopping;
  }

  /** Synchronous teardown for process exit. */
  killSync(): void {
    const pids: number[] = [];
    for (const c of this.allClusters()) pids.push(...c.killSync());
    // Wait (briefly) until the killed processes no longer write into the directory.
    const until = Date.now() + 3_000;
    while (pids.some((p) => pidAlive(p)) && Date.now() < until) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
    removeFleetFilesSync(this.dir, this.createdDir);
  }

  private assertRunning(): void {
    if (this.stopping !== undefined) throw new Error('fleet is stopped');
  }

  /** Saves run one after another: clusters start concurrently and share one temp file. */
  #saveChain: Promise<void> = Promise.resolve();

  saveState(): Promise<void> {
    const next = this.#saveChain.then(() => this.#saveStateNow());
    this.#saveChain = next.catch(() => {});
    return next;
  }

  async #saveStateNow(): Promise<void> {
    if (this.stopping !== undefined) return;
    const state: FleetState = {
      ownerPid: process.pid,
      createdAt: new Date().toISOString(),
      clusters: Object.fromEntries(
        this.allClusters().map((c) => [c.name, { server: c.hasPort() ? c.server : '', kubeconfig: c.kubeconfigPath, pids: c.pids() }]),
      ),
    };
    const p = join(this.dir, 'fleet.json');
    await writeFile(`${p}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
    await rename(`${p}.tmp`, p);
  }
}

/** What the harness puts into a fleet directory. */
function fleetEntries(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n === 'clusters' || n === 'identities' || n === 'fleet.json' || n === 'fleet.json.tmp' || n.endsWith('.kubeconfig'))
    .map((n) => join(dir, n));
}

async function removeFleetFiles(dir: string, wholeDir: boolean): Promise<void> {
  if (wholeDir) {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    return;
  }
  await Promise.all(fleetEntries(dir).map((p) => rm(p, { recursive: true, force: true, maxRetries: 3 })));
}

function removeFleetFilesSync(dir: string, wholeDir: boolean): void {
  try {
    if (wholeDir) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    else for (const p of fleetEntries(dir)) rmSync(p, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // best effort at exit
  }
}

// ---------------------------------------------------------------------------------------------
// One cluster.

class LocalCluster implements ClusterHandle {
  readonly name: string;
  readonly kubeconfigPath: string;
  readonly pki: ClusterPki;
  private portNumber: number | undefined;
  private admin: ClientCredential | undefined;
  private readonly fleet: FleetImpl;
  private readonly clusterDir: string;
  private readonly binaries: ControlPlaneBinaries;
  private readonly log: (msg: string) => void;
  private procs: ChildProcess[] = [];
  private started = false;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(fleet: FleetImpl, name: string, binaries: ControlPlaneBinaries, log: (msg: string) => void) {
    this.fleet = fleet;
    this.name = name;
    this.binaries = binaries;
    this.log = log;
    this.clusterDir = join(fleet.dir, 'clusters', name);
    this.kubeconfigPath = join(fleet.dir, `${name}.kubeconfig`);
    this.pki = pkiPaths(join(this.clusterDir, 'pki'));
  }

  static create(fleet: FleetImpl, name: string, binaries: ControlPlaneBinaries, log: (msg: string) => void): LocalCluster {
    return new LocalCluster(fleet, name, binaries, log);
  }

  get port(): number {
    if (this.portNumber === undefined) throw new Error(`cluster ${this.name} has no port yet`);
    return this.portNumber;
  }

  get server(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Creates the PKI and the admin kubeconfig, and picks the port (kept across stop/start). */
  async init(): Promise<void> {
    const [, port] = await Promise.all([createClusterPki(this.pki.dir, this.name), freePort()]);
    this.admin = await mintClientCredential(this.pki, ADMIN_USER, ADMIN_GROUPS, join(this.pki.dir, 'clients'));
    await this.usePort(port);
  }

  private async usePort(port: number): Promise<void> {
    this.portNumber = port;
    if (this.admin === undefined) throw new Error('init() first');
    await writeKubeconfig(this.kubeconfigPath, this.name, this.server, await this.servingCaPem(), `${ADMIN_USER}@${this.name}`, this.admin);
  }

  hasPort(): boolean {
    return this.portNumber !== undefined;
  }

  kubeConfig(): KubeConfig {
    return loadKubeConfig(this.kubeconfigPath);
  }

  servingCaPem(): Promise<string> {
    return readFile(this.pki.servingCaCert, 'utf8');
  }

  pids(): number[] {
    return this.procs.map((p) => p.pid).filter((p): p is number => p !== undefined);
  }

  start(): Promise<void> {
    return this.serialize(async () => {
      if (this.procs.length > 0) return;
      const t0 = performance.now();
      for (let attempt = 1; ; attempt++) {
        try {
          await this.launch();
          break;
        } catch (e) {
          // freePort() released the port before the apiserver bound it; on a first start another
          // process may have taken it meanwhile. A restart must keep its port, so it fails instead.
          if (this.started || attempt >= 3 || !String(e).includes('address already in use')) throw e;
          this.log(`${this.name}: port ${this.port} was taken, retrying on another port`);
          await this.usePort(await freePort());
        }
      }
      const t1 = performance.now();
      const manifests = await fleetManifests();
      const log = (m: string): void => this.log(`${this.name}: ${m}`);
      if (!this.started) await installManifests(this.kubeConfig(), manifests, undefined, log);
      else await waitCrdsServed(this.kubeConfig(), manifests.crds, undefined, log);
      this.started = true;
      this.log(`${this.name}: ready in ${Math.round(t1 - t0)} ms, CRDs served after ${Math.round(performance.now() - t1)} ms more`);
      await this.fleet.saveState();
    });
  }

  stop(): Promise<void> {
    return this.serialize(async () => {
      const procs = this.procs;
      this.procs = [];
      // Stop the apiserver before its etcd (envtest mode has two processes).
      for (const p of [...procs].reverse()) await stopProcess(p);
      await this.fleet.saveState();
    });
  }

  /** SIGKILLs the processes (process exit); returns their pids. */
  killSync(): number[] {
    const pids = this.pids();
    for (const p of this.procs) {
      try {
        p.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    this.procs = [];
    return pids;
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async launch(): Promise<void> {
    const dataDir = join(this.clusterDir, 'data');
    await mkdir(dataDir, { recursive: true });
    const logPath = join(this.clusterDir, 'apiserver.log');
    const flags = apiserverFlags(this.port, this.pki, dataDir);
    if (this.binaries.mode === 'combined') {
      const child = spawnLogged(
        this.binaries.fleetApiserver,
        ['--data-dir', dataDir, '--kubeconfig', this.kubeconfigPath, '--exit-with-parent', '--', ...flags],
        logPath,
      );
      this.procs = [child];
      try {
        await waitForLine(child, /^READY /, READY_TIMEOUT_MS);
      } catch (e) {
        await this.failStart(e, logPath);
      }
    } else {
      const [clientPort, peerPort] = [await freePort(), await freePort()];
      const client = `http://127.0.0.1:${clientPort}`;
      const peer = `http://127.0.0.1:${peerPort}`;
      const etcd = spawnLogged(
        this.binaries.etcd,
        [
          `--data-dir=${join(dataDir, 'etcd')}`, `--listen-client-urls=${client}`, `--advertise-client-urls=${client}`,
          `--listen-peer-urls=${peer}`, `--initial-advertise-peer-urls=${peer}`, `--initial-cluster=default=${peer}`,
          '--unsafe-no-fsync', '--log-level=error',
        ],
        join(this.clusterDir, 'etcd.log'),
      );
      this.procs = [etcd];
      const apiserver = spawnLogged(this.binaries.kubeApiserver, [...flags, `--etcd-servers=${client}`], logPath);
      this.procs = [etcd, apiserver];
      try {
        await pollReady(this.server, await this.servingCaPem(), this.kubeconfigPath, apiserver, READY_TIMEOUT_MS);
      } catch (e) {
        await this.failStart(e, logPath);
      }
    }
    for (const p of this.procs) {
      // Unexpected exits are logged; a crashed cluster looks like a stopped one.
      p.once('exit', (code, signal) => {
        if (this.procs.includes(p)) {
          this.log(`${this.name}: process ${p.pid} exited unexpectedly (code ${code}, signal ${signal})`);
          this.procs = this.procs.filter((x) => x !== p);
        }
      });
      // Once ready, the children must not keep the test process alive: if a test forgets stop(),
      // the process still exits and the exit handler kills them.
      detachFromLoop(p);
    }
  }

  private async failStart(e: unknown, logPath: string): Promise<never> {
    const procs = this.procs;
    this.procs = [];
    for (const p of procs.reverse()) await stopProcess(p);
    const tail = (await readFile(logPath, 'utf8').catch(() => '')).split('\n').slice(-40).join('\n');
    throw new Error(`cluster ${this.name} did not start: ${e instanceof Error ? e.message : String(e)}\n--- ${logPath} (tail) ---\n${tail}`);
  }
}

/**
 * kube-apiserver flags, the same for fleet-apiserver and an envtest kube-apiserver binary
 * (envtest's defaults, controlplane/apiserver.go, plus RBAC and client-certificate auth).
 */
function apiserverFlags(port: number, pki: ClusterPki, dataDir: string): string[] {
  return [
    // --advertise-address is mandatory on hosts without a default route (reference §1.4).
    '--bind-address=127.0.0.1', `--secure-port=${port}`, '--advertise-address=127.0.0.1',
    `--tls-cert-file=${pki.servingCert}`, `--tls-private-key-file=${pki.servingKey}`,
    `--cert-dir=${join(dataDir, 'certs')}`,
    // Client certificates only: anonymous requests are rejected, RBAC is real.
    `--client-ca-file=${pki.clientCaCert}`, '--anonymous-auth=false', '--authorization-mode=RBAC',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.serviceAccountKey}`, `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    // No controller-manager creates the default ServiceAccount, so its admission check would
    // reject every Pod (envtest disables it too).
    '--disable-admission-plugins=ServiceAccount',
    '--allow-privileged=true',
    // Startup speed: no APF bootstrap objects, no profiling handlers.
    '--enable-priority-and-fairness=false', '--profiling=false',
    // The endpoint reconciler would publish 127.0.0.1 as the `kubernetes` Service's endpoint, which
    // the API rejects as loopback (and logs every 10 s); nothing needs that endpoint here.
    '--endpoint-reconciler-type=none',
    '--v=0',
    // Extra kube-apiserver flags (e.g. --feature-gates=...), space-separated.
    ...(process.env.FLEET_ILB_APISERVER_FLAGS ?? '').split(/\s+/).filter((f) => f !== ''),
  ];
}

function spawnLogged(cmd: string, args: string[], logPath: string): ChildProcess {
  const fd = openSync(logPath, 'a');
  try {
    // stdin stays an open pipe: fleet-apiserver exits when it reaches EOF (our death).
    return spawn(cmd, args, { stdio: ['pipe', 'pipe', fd], env: { ...process.env } });
  } finally {
    closeSync(fd);
  }
}

function detachFromLoop(p: ChildProcess): void {
  p.unref();
  for (const s of [p.stdin, p.stdout]) (s as unknown as { unref?: () => void } | null)?.unref?.();
  p.stdout?.resume(); // keep draining
}

function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let buf = '';
    const timer = setTimeout(() => finish(new Error(`no ${re.source} line after ${timeoutMs} ms`)), timeoutMs);
    const onData = (b: Buffer): void => {
      buf += b.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      const hit = lines.find((l) => re.test(l));
      if (hit !== undefined) finish(undefined, hit);
    };
    const onExit = (code: number | null, signal: string | null): void => finish(new Error(`exited (code ${code}, signal ${signal})`));
    const onError = (e: Error): void => finish(e);
    function finish(err?: Error, line?: string): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      if (err !== undefined) reject(err);
      else resolvePromise(line ?? '');
    }
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

/** Polls /readyz with the admin credentials (envtest mode, where no READY line is printed). */
async function pollReady(server: string, caPem: string, kubeconfigPath: string, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const kc = loadKubeConfig(kubeconfigPath);
  const user = kc.getCurrentUser();
  const cert = Buffer.from(user?.certData ?? '', 'base64').toString();
  const key = Buffer.from(user?.keyData ?? '', 'base64').toString();
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  proc.once('exit', () => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error('kube-apiserver exited');
    const ok = await new Promise<boolean>((r) => {
      const req = request(`${server}/readyz`, { ca: caPem, cert, key, timeout: 2_000 }, (res) => {
        res.resume();
        r(res.statusCode === 200);
      });
      req.on('error', () => r(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), STOP_TIMEOUT_MS);
  });
  try {
    if ((await Promise.race([exited, timedOut])) === 'timeout') {
      p.kill('SIGKILL');
      await exited;
    }
  } finally {
    clearTimeout(timer); // a pending timer would keep the process alive for STOP_TIMEOUT_MS
  }
}

/** A free loopback TCP port (the kernel picks it; the apiserver binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolvePromise(addr.port) : reject(new Error('no port'))));
    });
  });
}

function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** Writes a kubeconfig with embedded credentials, atomically (no half-written file is ever read). */
async function writeKubeconfig(path: string, cluster: string, server: string, caPem: string, userName: string, cred: ClientCredential): Promise<void> {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    // A user name unique per cluster: client-node caches credentials by user name (#592).
    users: [{ name: userName, user: { 'client-certificate-data': b64(cred.certPem), 'client-key-data': b64(cred.keyPem) } }],
    contexts: [{ name: cluster, context: { cluster, user: userName } }],
    'current-context': cluster,
  };
  await mkdir(resolve(path, '..'), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, stringify(doc), { mode: 0o600 });
  await rename(tmp, path);
}
