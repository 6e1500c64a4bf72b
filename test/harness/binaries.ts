// SPDX-License-Identifier: Apache-2.0
//
// Finding (or building) the control-plane binaries the harness runs, and the upstream CRD files.
//
// Lookup order, following envtest's conventions (controller-runtime pkg/envtest/server.go):
//   1. FLEET_ILB_APISERVER: path of a fleet-apiserver binary (etcd + kube-apiserver in one process).
//   2. TEST_ASSET_KUBE_APISERVER + TEST_ASSET_ETCD: separate envtest-style binaries.
//   3. KUBEBUILDER_ASSETS: a directory holding `fleet-apiserver`, or `kube-apiserver` and `etcd`.
//   4. Otherwise build test/apiserver (Go, from the upstream modules) into .cache/bin/, keyed by a
//      hash of its go.mod, go.sum and Go sources and the Go version, so a checkout builds it once.
//
// One `go build` makes every Go binary the tests run (buildTestBinaries): fleet-apiserver, the
// upstream kube-proxy (k8s.io/kubernetes/cmd/kube-proxy from the same module version, for the
// data-path tests, docs/datapath.md) and fleet-datapath (the data-path helper). Sharing one
// invocation compiles the packages they share once; kube-proxy adds ~60 packages to the apiserver's.

import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Root of the repository (this file is test/harness/binaries.ts). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The Go module that builds fleet-apiserver and pins the upstream CRD modules. */
export const apiserverModuleDir = join(repoRoot, 'test', 'apiserver');
/** Build outputs live outside git (.gitignore has .cache/). */
export const binCacheDir = join(repoRoot, '.cache', 'bin');

/** How a cluster's control plane is run. */
export type ControlPlaneBinaries =
  | { mode: 'combined'; fleetApiserver: string }
  | { mode: 'envtest'; kubeApiserver: string; etcd: string };

/** Timing record written next to a built binary (read by the benchmark). */
export interface BuildRecord {
  /** fleet-apiserver (kept for readers of older records). */
  binary: string;
  /** Every binary of the build (absent in records written before kube-proxy joined it). */
  binaries?: TestBinaries;
  key: string;
  goVersion: string;
  kubernetesVersion: string;
  buildSeconds: number;
  builtAt: string;
  /** Size of GOCACHE before the build, a hint whether it was a cold build. */
  goCacheBytesBefore: number | null;
}

let resolved: Promise<ControlPlaneBinaries> | undefined;

/**
 * Returns the binaries to run, building fleet-apiserver on first use. Memoised per process;
 * concurrent processes share one build through a lock directory.
 */
export function controlPlaneBinaries(log: (msg: string) => void = () => {}): Promise<ControlPlaneBinaries> {
  resolved ??= findOrBuild(log);
  resolved.catch(() => {
    resolved = undefined;
  });
  return resolved;
}

function isFile(p: string | undefined): boolean {
  try {
    return p !== undefined && p !== '' && statSync(p).isFile();
  } catch {
    return false;
  }
}

async function findOrBuild(log: (msg: string) => void): Promise<ControlPlaneBinaries> {
  const env = process.env;
  const { FLEET_ILB_APISERVER: combinedBin, TEST_ASSET_KUBE_APISERVER: kaBin, TEST_ASSET_ETCD: etcdBin } = env;
  if (combinedBin !== undefined && isFile(combinedBin)) return { mode: 'combined', fleetApiserver: resolve(combinedBin) };
  if (kaBin !== undefined && etcdBin !== undefined && isFile(kaBin) && isFile(etcdBin)) {
    return { mode: 'envtest', kubeApiserver: resolve(kaBin), etcd: resolve(etcdBin) };
  }
  const assets = env.KUBEBUILDER_ASSETS;
  if (assets !== undefined && assets !== '') {
    const combined = join(assets, 'fleet-apiserver');
    if (isFile(combined)) return { mode: 'combined', fleetApiserver: resolve(combined) };
    const ka = join(assets, 'kube-apiserver');
    const etcd = join(assets, 'etcd');
    if (isFile(ka) && isFile(etcd)) return { mode: 'envtest', kubeApiserver: resolve(ka), etcd: resolve(etcd) };
    log(`KUBEBUILDER_ASSETS=${assets} has neither fleet-apiserver nor kube-apiserver+etcd; building fleet-apiserver`);
  }
  return { mode: 'combined', fleetApiserver: await buildFleetApiserver(log) };
}

/** The `go` command: from PATH, else the standard install location. */
export function goCommand(): string {
  return process.env.GO ?? (existsSync('/usr/local/go/bin/go') && !onPath('go') ? '/usr/local/go/bin/go' : 'go');
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d !== '' && isFile(join(d, cmd)));
}

/** Environment for every go invocation: never download a toolchain, no cgo. */
function goEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' };
}

async function goVersion(): Promise<string> {
  const { stdout } = await execFileAsync(goCommand(), ['env', 'GOVERSION'], { env: goEnv() });
  return stdout.trim();
}

/** Version of a required module, read from test/apiserver/go.mod. */
export async function requiredVersion(module: string): Promise<string> {
  const gomod = await readFile(join(apiserverModuleDir, 'go.mod'), 'utf8');
  const m = new RegExp(`^\\s*${module.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+(v\\S+)`, 'm').exec(gomod);
  if (m?.[1] === undefined) throw new Error(`${module} is not required in ${apiserverModuleDir}/go.mod`);
  return m[1];
}

/** Cache key of the binaries: go.mod, go.sum, every .go file of the module (subdirectories too), and the Go version. */
export async function buildKey(goVer: string): Promise<string> {
  const h = createHash('sha256');
  h.update(goVer);
  const files = (await readdir(apiserverModuleDir, { recursive: true }))
    .filter((f) => f === 'go.mod' || f === 'go.sum' || f.endsWith('.go'))
    .sort();
  for (const f of files) {
    h.update(f);
    h.update(await readFile(join(apiserverModuleDir, f)));
  }
  return h.digest('hex').slice(0, 16);
}

/** The Go binaries one build makes, by the name they get in .cache/bin (`<name>-<key>`). */
export interface TestBinaries {
  fleetApiserver: string;
  /** Upstream kube-proxy of the same k8s.io/kubernetes version as the apiserver. */
  kubeProxy: string;
  /** The data-path helper (test/apiserver/fleet-datapath). */
  datapath: string;
}

/** Package built → file name in .cache/bin (without the key) and its field in {@link TestBinaries}. */
const BUILT: ReadonlyArray<{ pkg: string; out: string; name: string; field: keyof TestBinaries }> = [
  // `go build -o DIR` names each binary after the last element of its import path (fleetilb.io/test/apiserver).
  { pkg: '.', out: 'apiserver', name: 'fleet-apiserver', field: 'fleetApiserver' },
  { pkg: 'k8s.io/kubernetes/cmd/kube-proxy', out: 'kube-proxy', name: 'kube-proxy', field: 'kubeProxy' },
  { pkg: './fleet-datapath', out: 'fleet-datapath', name: 'fleet-datapath', field: 'datapath' },
];

function binariesFor(key: string): TestBinaries {
  const b = Object.fromEntries(BUILT.map((x) => [x.field, join(binCacheDir, `${x.name}-${key}`)]));
  return b as unknown as TestBinaries;
}

/** Path of the record of the build that produced the current binary, if any. */
export async function currentBuildRecord(): Promise<BuildRecord | undefined> {
  const key = await buildKey(await goVersion());
  try {
    return JSON.parse(await readFile(join(binCacheDir, `fleet-apiserver-${key}.json`), 'utf8')) as BuildRecord;
  } catch {
    return undefined;
  }
}

/** Builds fleet-apiserver unless the binary for the current sources already exists; returns its path. */
export async function buildFleetApiserver(log: (msg: string) => void = () => {}): Promise<string> {
  return (await buildTestBinaries(log)).fleetApiserver;
}

/**
 * Builds fleet-apiserver, kube-proxy and fleet-datapath in one `go build` unless the binaries for
 * the current sources already exist; returns their paths. Progress (elapsed time, packages compiled)
 * goes to `log` every 30 s while it builds: a cold build is many minutes on 2 cores.
 */
export async function buildTestBinaries(log: (msg: string) => void = () => {}): Promise<TestBinaries> {
  const goVer = await goVersion();
  const key = await buildKey(goVer);
  const bins = binariesFor(key);
  const built = (): boolean => Object.values(bins).every((p) => isFile(p));
  if (built()) return bins;
  await mkdir(binCacheDir, { recursive: true });
  const lock = join(binCacheDir, `.build-${key}.lock`);
  await acquireLock(lock, log);
  try {
    if (built()) return bins; // another process built them while we waited
    const k8s = await requiredVersion('k8s.io/kubernetes');
    const [, major = '1', minor = '0'] = /^v(\d+)\.(\d+)/.exec(k8s) ?? [];
    const ldflags = [
      '-s', '-w',
      // Without these, /version reports v0.0.0-master (reference §1.4); kube-proxy reads the same variables.
      `-X k8s.io/component-base/version.gitVersion=${k8s}`,
      `-X k8s.io/component-base/version.gitMajor=${major}`,
      `-X k8s.io/component-base/version.gitMinor=${minor}`,
      `-X k8s.io/client-go/pkg/version.gitVersion=${k8s}`,
    ].join(' ');
    const goCacheBytesBefore = await goCacheSize();
    const pkgs = BUILT.map((b) => b.pkg);
    const total = await depCount(pkgs);
    log(
      `building ${BUILT.map((b) => b.name).join(', ')} (k8s.io/kubernetes ${k8s}, ${goVer}) into ${binCacheDir} (key ${key}); ` +
        `${total ?? '?'} packages, a cold build takes 20+ minutes on 2 cores, a warm one seconds`,
    );
    const started = performance.now();
    const tmpDir = join(binCacheDir, `.build-${key}-${process.pid}`);
    await rm(tmpDir, { recursive: true, force: true });
    await mkdir(tmpDir);
    try {
      await run(goCommand(), ['build', '-v', '-trimpath', '-ldflags', ldflags, '-o', `${tmpDir}/`, ...pkgs], apiserverModuleDir, log, started, total);
      for (const b of BUILT) await rename(join(tmpDir, b.out), bins[b.field]);
    } finally {
      await rm(tmpDir, { recursive: true, force: true });
    }
    const record: BuildRecord = {
      binary: bins.fleetApiserver,
      binaries: bins,
      key,
      goVersion: goVer,
      kubernetesVersion: k8s,
      buildSeconds: Math.round((performance.now() - started) / 100) / 10,
      builtAt: new Date().toISOString(),
      goCacheBytesBefore,
    };
    await writeFile(`${bins.fleetApiserver}.json`, `${JSON.stringify(record, null, 2)}\n`);
    log(`built ${BUILT.map((b) => b.name).join(', ')} in ${record.buildSeconds}s`);
    return bins;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** How many packages the build involves (an upper bound of what `go build -v` prints), or undefined. */
async function depCount(pkgs: string[]): Promise<number | undefined> {
  try {
    const { stdout } = await execFileAsync(goCommand(), ['list', '-deps', ...pkgs], { cwd: apiserverModuleDir, env: goEnv(), maxBuffer: 32 * 1024 * 1024 });
    return new Set(stdout.split('\n').filter((l) => l !== '')).size;
  } catch {
    return undefined;
  }
}

async function goCacheSize(): Promise<number | null> {
  try {
    const { stdout } = await execFileAsync('du', ['-sb', (await execFileAsync(goCommand(), ['env', 'GOCACHE'], { env: goEnv() })).stdout.trim()]);
    return Number(stdout.split('\t')[0]);
  } catch {
    return null;
  }
}

/**
 * Runs `go build -v`, which prints each package as it compiles it (cache hits are not printed):
 * every 30 s, log the elapsed time, how many packages were compiled, and the last one.
 */
function run(cmd: string, args: string[], cwd: string, log: (msg: string) => void, started: number, total: number | undefined): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env: goEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let compiled = 0;
    let last = '';
    let partial = '';
    const collect = (b: Buffer): void => {
      const text = b.toString();
      output += text;
      if (output.length > 100_000) output = output.slice(-50_000);
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        // -v lines are bare import paths; anything with a space or colon is a diagnostic.
        if (/^[\w.\-/]+$/.test(l)) {
          compiled++;
          last = l;
        }
      }
    };
    const timer = setInterval(() => {
      const secs = Math.round((performance.now() - started) / 1000);
      log(`  go build: ${Math.floor(secs / 60)}m${String(secs % 60).padStart(2, '0')}s, ${compiled} packages compiled${total === undefined ? '' : ` (of at most ${total})`}${last === '' ? '' : `, last ${last}`}`);
    }, 30_000);
    timer.unref();
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (e) => {
      clearInterval(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearInterval(timer);
      if (code === 0) resolvePromise();
      else {
        log(output);
        reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${output.slice(-4000)}`));
      }
    });
  });
}

/** mkdir-based lock; a lock whose owner process is gone is taken over. */
async function acquireLock(lock: string, log: (msg: string) => void): Promise<void> {
  let announced = false;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'pid'), String(process.pid));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => ''));
    if (owner > 0 && !pidAlive(owner)) {
      await rm(lock, { recursive: true, force: true });
      continue;
    }
    if (owner === 0) {
      // Lock dir created but pid not yet written: give the owner a moment; a dir that stays
      // without pid for a minute is stale.
      const age = Date.now() - (await stat(lock).then((s) => s.mtimeMs, () => Date.now()));
      if (age > 60_000) await rm(lock, { recursive: true, force: true });
    }
    if (!announced) {
      log(`waiting for another process (pid ${owner}) to finish building the test binaries`);
      announced = true;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** True when a process with this pid exists (and is not a zombie). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers kill(0) but does nothing any more (on Linux; elsewhere trust kill(0)).
  const procStat = readFileSyncSafe(`/proc/${pid}/stat`);
  if (procStat === undefined) return !existsSync('/proc/self/stat');
  return !/^\d+ \(.*\) Z/.test(procStat);
}

function readFileSyncSafe(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** Directories of the upstream CRD modules, from `go mod download -json` (never copied into the repo). */
export interface UpstreamCrdDirs {
  gatewayApi: { version: string; dir: string };
  mcsApi: { version: string; dir: string };
}

let crdDirs: Promise<UpstreamCrdDirs> | undefined;

/** Downloads (if needed) the Gateway API and MCS API modules at the versions pinned in go.mod. */
export function upstreamCrdDirs(): Promise<UpstreamCrdDirs> {
  crdDirs ??= (async () => {
    const { stdout } = await execFileAsync(goCommand(), ['mod', 'download', '-json', 'sigs.k8s.io/gateway-api', 'sigs.k8s.io/mcs-api'], {
      cwd: apiserverModuleDir,
      env: goEnv(),
      maxBuffer: 10 * 1024 * 1024,
    });
    // The output is a stream of JSON objects, one per module.
    const mods = stdout
      .split(/\n}\n?/)
      .filter((s) => s.trim() !== '')
      .map((s) => JSON.parse(`${s}\n}`) as { Path: string; Version: string; Dir?: string; Error?: string });
    const get = (path: string): { version: string; dir: string } => {
      const m = mods.find((x) => x.Path === path);
      if (m?.Dir === undefined) throw new Error(`go mod download ${path}: ${m?.Error ?? 'no Dir in output'}`);
      return { version: m.Version, dir: m.Dir };
    };
    return { gatewayApi: get('sigs.k8s.io/gateway-api'), mcsApi: get('sigs.k8s.io/mcs-api') };
  })();
  crdDirs.catch(() => {
    crdDirs = undefined;
  });
  return crdDirs;
}
