// SPDX-License-Identifier: Apache-2.0
//
// Builds the Go programs of the conformance run into .cache/bin, keyed by a hash of this module's
// go.mod, go.sum and Go sources and the Go version (the same scheme as the control plane's build,
// test/harness/binaries.ts), in ONE `go build`:
//   * fleet-conformance: the upstream suite (main.go);
//   * echo-basic: the suite's own echo server (sigs.k8s.io/gateway-api/conformance/echo-basic), the
//     conformance backends;
//   * fleet-dns: the DNS server behind the suite's `coredns` Service (dnsresponder/).
// It is a separate Go module (test/conformance/go.mod): the suite needs controller-runtime and newer
// grpc/otel than k8s.io/kubernetes v1.36.3 pins, and putting them into test/apiserver would change
// the control plane's dependency versions. The build flags equal the control plane's (-trimpath,
// CGO_ENABLED=0), so packages both use at the same version (client-go, apimachinery, api v0.36.3)
// come from the Go build cache.

import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binCacheDir, goCommand, repoRoot } from '../harness/binaries.ts';

const execFileAsync = promisify(execFile);

export const conformanceModuleDir = join(repoRoot, 'test', 'conformance');

/** Paths of the built programs. */
export interface ConformanceBinaries {
  suite: string;
  echoBasic: string;
  dns: string;
}

const BUILT: ReadonlyArray<{ pkg: string; out: string; name: string; field: keyof ConformanceBinaries }> = [
  // `go build -o DIR/` names each binary after the last element of its import path.
  { pkg: '.', out: 'conformance', name: 'fleet-conformance', field: 'suite' },
  { pkg: 'sigs.k8s.io/gateway-api/conformance/echo-basic', out: 'echo-basic', name: 'echo-basic', field: 'echoBasic' },
  { pkg: './dnsresponder', out: 'dnsresponder', name: 'fleet-dns', field: 'dns' },
];

function goEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' };
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The Gateway API version the control plane pins (test/apiserver/go.mod), which this module must use too. */
export async function pinnedGatewayApiVersion(): Promise<string> {
  const mod = await readFile(join(repoRoot, 'test', 'apiserver', 'go.mod'), 'utf8');
  const m = /^\s*sigs\.k8s\.io\/gateway-api\s+(v\S+)/m.exec(mod);
  if (m?.[1] === undefined) throw new Error('test/apiserver/go.mod does not require sigs.k8s.io/gateway-api');
  return m[1];
}

async function buildKey(goVer: string): Promise<string> {
  const h = createHash('sha256');
  h.update(goVer);
  const files = (await readdir(conformanceModuleDir, { recursive: true })).filter((f) => f === 'go.mod' || f === 'go.sum' || f.endsWith('.go')).sort();
  for (const f of files) {
    h.update(f);
    h.update(await readFile(join(conformanceModuleDir, f)));
  }
  return h.digest('hex').slice(0, 16);
}

/** Builds (or finds) fleet-conformance, echo-basic and fleet-dns; progress goes to `log`. */
export async function buildConformanceBinaries(log: (msg: string) => void = () => {}): Promise<ConformanceBinaries & { builtSeconds?: number }> {
  const mod = await readFile(join(conformanceModuleDir, 'go.mod'), 'utf8');
  const pinned = await pinnedGatewayApiVersion();
  const m = /^\s*sigs\.k8s\.io\/gateway-api\/conformance\s+(v\S+)/m.exec(mod);
  if (m?.[1] !== pinned) {
    throw new Error(`test/conformance/go.mod requires sigs.k8s.io/gateway-api/conformance ${m?.[1] ?? '(none)'}, test/apiserver/go.mod pins gateway-api ${pinned}: make them equal`);
  }
  const goVer = (await execFileAsync(goCommand(), ['env', 'GOVERSION'], { env: goEnv() })).stdout.trim();
  const key = await buildKey(goVer);
  const bins = Object.fromEntries(BUILT.map((b) => [b.field, join(binCacheDir, `${b.name}-${key}`)])) as unknown as ConformanceBinaries;
  if (Object.values(bins).every((p) => isFile(p))) return bins;

  await mkdir(binCacheDir, { recursive: true });
  const lock = join(binCacheDir, `.conformance-build-${key}.lock`);
  await acquireLock(lock, log);
  try {
    if (Object.values(bins).every((p) => isFile(p))) return bins;
    log(`building ${BUILT.map((b) => b.name).join(', ')} (sigs.k8s.io/gateway-api/conformance ${pinned}, ${goVer}) into ${binCacheDir} (key ${key})`);
    const started = performance.now();
    const tmpDir = join(binCacheDir, `.conformance-build-${key}-${process.pid}`);
    await rm(tmpDir, { recursive: true, force: true });
    await mkdir(tmpDir);
    try {
      await run(goCommand(), ['build', '-trimpath', '-ldflags', '-s -w', '-o', `${tmpDir}/`, ...BUILT.map((b) => b.pkg)], conformanceModuleDir, log, started);
      for (const b of BUILT) await rename(join(tmpDir, b.out), bins[b.field]);
    } finally {
      await rm(tmpDir, { recursive: true, force: true });
    }
    const builtSeconds = Math.round((performance.now() - started) / 100) / 10;
    await writeFile(`${bins.suite}.json`, `${JSON.stringify({ key, goVersion: goVer, gatewayApi: pinned, buildSeconds: builtSeconds, builtAt: new Date().toISOString() }, null, 2)}\n`);
    log(`built ${BUILT.map((b) => b.name).join(', ')} in ${builtSeconds}s`);
    return { ...bins, builtSeconds };
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], cwd: string, log: (msg: string) => void, started: number): Promise<void> {
  return new Promise((resolveP, reject) => {
    const child = spawn(cmd, args, { cwd, env: goEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-20_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const tick = setInterval(() => log(`still building (${Math.round((performance.now() - started) / 1000)}s)`), 30_000);
    child.on('error', (e) => {
      clearInterval(tick);
      reject(e);
    });
    child.on('close', (code) => {
      clearInterval(tick);
      if (code === 0) resolveP();
      else reject(new Error(`${cmd} ${args.join(' ')} failed (exit ${code}):\n${output}`));
    });
  });
}

/** A directory lock (mkdir is atomic); a lock whose owner died is taken over. */
async function acquireLock(lock: string, log: (msg: string) => void): Promise<void> {
  let announced = false;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'pid'), String(process.pid));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number((await readFile(join(lock, 'pid'), 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (!announced) {
        log(`waiting for another build of the conformance binaries (${lock})`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// `node test/conformance/binaries.ts` builds them (npm run build:conformance).
if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = performance.now();
  buildConformanceBinaries((m) => process.stderr.write(`[conformance build] ${m}\n`)).then(
    (b) => {
      process.stdout.write(`${JSON.stringify({ ...b, seconds: Math.round((performance.now() - t0) / 100) / 10 })}\n`);
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
