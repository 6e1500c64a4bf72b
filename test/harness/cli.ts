// SPDX-License-Identifier: Apache-2.0
//
// `fleet-ilb local ...`: a local fleet of real kube-apiservers for trying fleet-ilb by hand.
//
//   fleet-ilb local up [--members N] [--dir D] [--foreground]
//   fleet-ilb local down [--dir D]
//
// `up` starts the fleet in a background process (detached; its log is D/local-fleet.log) and
// returns once every cluster is ready; its last stdout line is one JSON object
// {"dir": D, "kubeconfigs": {"config": ..., "member-a": ...}}. With --foreground it stays in the
// foreground instead and stops the fleet on SIGINT/SIGTERM. `down` stops it and removes what `up`
// created. D defaults to .cache/local-fleet in the repository.

import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { controlPlaneBinaries, pidAlive, repoRoot } from './binaries.ts';
import { startFleet, type Fleet } from './fleet.ts';

const DEFAULT_DIR = join(repoRoot, '.cache', 'local-fleet');
const STATE_FILE = 'local.json';
const LOG_FILE = 'local-fleet.log';
const UP_TIMEOUT_MS = 15 * 60_000; // includes a first (cold) build of fleet-apiserver
const DOWN_TIMEOUT_MS = 60_000;

/** What `local up` prints (last stdout line) and stores in D/local.json. */
export interface LocalFleetInfo {
  dir: string;
  kubeconfigs: Record<string, string>;
}

interface LocalState extends LocalFleetInfo {
  pid: number;
}

const USAGE = `usage:
  fleet-ilb local up [--members N] [--dir D] [--foreground]
      start a config cluster and N member clusters (default 2) of real kube-apiservers;
      prints {"dir":...,"kubeconfigs":{...}} as its last line. Default D: ${DEFAULT_DIR}
  fleet-ilb local down [--dir D]
      stop the fleet started in D and remove what it created
`;

/** Entry point of `fleet-ilb local`. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: {
        members: { type: 'string' },
        dir: { type: 'string' },
        foreground: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  const { values } = parsed;
  if (values.help === true || cmd === undefined) {
    process.stdout.write(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  const dir = resolve(values.dir ?? DEFAULT_DIR);
  const members = values.members === undefined ? 2 : Number(values.members);
  if (!Number.isInteger(members) || members < 0 || members > 26) {
    process.stderr.write(`--members must be an integer between 0 and 26\n`);
    return 2;
  }
  switch (cmd) {
    case 'up':
      return values.foreground === true ? serve(dir, members, true) : up(dir, members);
    case '__serve': // the background process started by `up`
      return serve(dir, members, false);
    case 'down':
      return down(dir);
    default:
      process.stderr.write(`unknown command: local ${cmd}\n${USAGE}`);
      return 2;
  }
}

async function readState(dir: string): Promise<LocalState | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as LocalState;
  } catch {
    return undefined;
  }
}

async function up(dir: string, members: number): Promise<number> {
  const existing = await readState(dir);
  if (existing !== undefined && pidAlive(existing.pid)) {
    process.stderr.write(`a local fleet is already running in ${dir} (pid ${existing.pid}); run \`fleet-ilb local down --dir ${dir}\` first\n`);
    return 1;
  }
  // Build the binary here, in the foreground, so that progress and errors reach the user.
  await controlPlaneBinaries((m) => process.stderr.write(`${m}\n`));
  await mkdir(dir, { recursive: true });
  await rm(join(dir, STATE_FILE), { force: true });
  const logPath = join(dir, LOG_FILE);
  const fd = openSync(logPath, 'w');
  const cli = fileURLToPath(new URL('../../controller/cli.ts', import.meta.url));
  let child;
  try {
    child = spawn(process.execPath, [cli, 'local', '__serve', '--members', String(members), '--dir', dir], {
      detached: true, // its own session: survives this command and the terminal
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  let exitCode: number | null = null;
  child.on('exit', (code) => {
    exitCode = code ?? 1;
  });
  child.unref();
  process.stderr.write(`starting a local fleet (config + ${members} members) in ${dir} ...\n`);
  const deadline = Date.now() + UP_TIMEOUT_MS;
  for (;;) {
    const state = await readState(dir);
    if (state !== undefined && state.pid === child.pid) {
      const info: LocalFleetInfo = { dir: state.dir, kubeconfigs: state.kubeconfigs };
      process.stderr.write(`ready; stop it with: fleet-ilb local down --dir ${dir}\n`);
      process.stdout.write(`${JSON.stringify(info)}\n`);
      return 0;
    }
    if (exitCode !== null || Date.now() > deadline) {
      if (exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      const log = await readFile(logPath, 'utf8').catch(() => '');
      process.stderr.write(`local fleet failed to start (see ${logPath}):\n${log.split('\n').slice(-30).join('\n')}\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function serve(dir: string, members: number, foreground: boolean): Promise<number> {
  let fleet: Fleet | undefined;
  let stopRequested = false;
  let failed = false;
  let wake: () => void = () => {};
  const stopped = new Promise<void>((r) => {
    wake = r;
  });
  const onSignal = (): void => {
    stopRequested = true;
    wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  const keepAlive = setInterval(() => {}, 1 << 30);
  try {
    fleet = await startFleet({ members, dir, log: (m) => process.stderr.write(`${new Date().toISOString()} ${m}\n`) });
    if (stopRequested) return 0;
    const info: LocalFleetInfo = {
      dir: fleet.dir,
      kubeconfigs: Object.fromEntries([fleet.config, ...fleet.members].map((c) => [c.name, c.kubeconfigPath])),
    };
    const state: LocalState = { ...info, pid: process.pid };
    await writeFile(join(dir, `${STATE_FILE}.tmp`), `${JSON.stringify(state, null, 2)}\n`);
    await rename(join(dir, `${STATE_FILE}.tmp`), join(dir, STATE_FILE));
    if (foreground) {
      process.stderr.write(`local fleet ready; Ctrl-C or \`fleet-ilb local down --dir ${dir}\` stops it\n`);
      process.stdout.write(`${JSON.stringify(info)}\n`);
    }
    await stopped;
    return 0;
  } catch (e) {
    failed = true;
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  } finally {
    await fleet?.stop();
    await rm(join(dir, STATE_FILE), { force: true });
    // After a failure the log stays: `up` shows its tail and names it.
    if (!foreground && !failed) await rm(join(dir, LOG_FILE), { force: true });
    await rmdirIfEmpty(dir);
    clearInterval(keepAlive);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

async function rmdirIfEmpty(dir: string): Promise<void> {
  try {
    await rmdir(dir);
  } catch {
    // not empty or already gone
  }
}

async function down(dir: string): Promise<number> {
  const state = await readState(dir);
  if (state === undefined || !pidAlive(state.pid)) {
    process.stderr.write(`no local fleet running in ${dir}\n`);
    if (state !== undefined) await rm(join(dir, STATE_FILE), { force: true });
    return 0;
  }
  const fleetState = await readFile(join(dir, 'fleet.json'), 'utf8')
    .then((s) => JSON.parse(s) as { clusters: Record<string, { pids: number[] }> })
    .catch(() => undefined);
  const childPids = Object.values(fleetState?.clusters ?? {}).flatMap((c) => c.pids);
  process.kill(state.pid, 'SIGTERM');
  const deadline = Date.now() + DOWN_TIMEOUT_MS;
  while ([state.pid, ...childPids].some((p) => pidAlive(p))) {
    if (Date.now() > deadline) {
      process.stderr.write(`local fleet in ${dir} did not stop within ${DOWN_TIMEOUT_MS} ms; killing it\n`);
      for (const p of [state.pid, ...childPids]) if (pidAlive(p)) process.kill(p, 'SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stderr.write(`local fleet in ${dir} stopped\n`);
  if (existsSync(join(dir, STATE_FILE))) await rm(join(dir, STATE_FILE), { force: true });
  return 0;
}
