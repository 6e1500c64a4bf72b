// SPDX-License-Identifier: Apache-2.0
//
// Network namespaces, veth pairs and processes for the data-path harness (docs/datapath.md).
//
// Safety (hard rule, README "Testing"): every address configured here lives inside a namespace this
// module created; no interface is ever created in the root namespace (veth pairs are created with
// both ends placed in their namespaces by the same `ip link add` call), and nothing here sends a
// packet. Every namespace is named `fdp<pid>-<role>` so a later run can remove what a killed run left
// behind (its pid is dead), and the run's own exit handler removes its namespaces synchronously.

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { pidAlive } from '../harness/binaries.ts';

const execFileAsync = promisify(execFile);

/** Prefix of every namespace of this process. */
export const NS_PREFIX = `fdp${process.pid}-`;

/** Runs a command, rejecting with its stderr on failure. */
export async function sh(cmd: string, args: string[], input?: string): Promise<string> {
  if (input === undefined) {
    try {
      const { stdout } = await execFileAsync(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
      return stdout;
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`${cmd} ${args.join(' ')}: ${(err.stderr ?? '').trim() || err.message}`, { cause: e });
    }
  }
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`))));
    child.stdin.end(input);
  });
}

/** `ip netns exec NS cmd args...`. */
export function inNs(ns: string, cmd: string, args: string[], input?: string): Promise<string> {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], input);
}

/** What the harness needs from the machine; the reason it cannot run otherwise. */
export function dataPathUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'the data path needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'the data path needs root (it creates network namespaces)';
  for (const tool of ['ip', 'nft', 'iptables', 'conntrack']) {
    if (!['/usr/sbin', '/sbin', '/usr/bin', '/bin'].some((d) => existsSync(`${d}/${tool}`))) {
      return `${tool} is not installed (apt-get install iproute2 nftables iptables conntrack)`;
    }
  }
  return undefined;
}

/** Namespaces whose name says they belong to process `pid` (`fdp<pid>-...`). */
export async function namespacesOf(pid?: number): Promise<string[]> {
  const out = await sh('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => (pid === undefined ? /^fdp\d+-/.test(n) : n.startsWith(`fdp${pid}-`)));
}

/** Kills every process inside `ns`, then deletes it (its veths go with it). */
export async function deleteNs(ns: string): Promise<void> {
  const pids = await sh('ip', ['netns', 'pids', ns]).catch(() => '');
  for (const p of pids.split('\n').filter((x) => x !== '')) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
}

/** Removes namespaces left by data-path runs whose process is gone. Returns their names. */
export async function sweepStale(): Promise<string[]> {
  const stale = (await namespacesOf()).filter((n) => !pidAlive(Number(/^fdp(\d+)-/.exec(n)?.[1] ?? 0)));
  for (const ns of stale) await deleteNs(ns);
  return stale;
}

/** Synchronous last-resort cleanup for process exit: kill what runs in our namespaces, delete them. */
export function cleanupSync(): void {
  let list: string;
  try {
    list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const ns of list.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(NS_PREFIX))) {
    try {
      const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
      for (const p of pids.split('\n').filter((x) => x !== '')) {
        try {
          process.kill(Number(p), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      execFileSync('ip', ['netns', 'del', ns]);
    } catch {
      /* best effort */
    }
  }
}

/** Creates a namespace with loopback up and the sysctls every harness namespace needs. */
export async function createNs(ns: string, sysctls: Record<string, string> = {}): Promise<void> {
  await sh('ip', ['netns', 'add', ns]);
  await inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
  // New namespaces start with ip_forward=0 and rp_filter as the kernel default; a router or a node
  // needs forwarding, and asymmetric paths (client -> vpc -> node, reply node -> vpc) need rp_filter off.
  const all: Record<string, string> = { 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.default.rp_filter': '0', ...sysctls };
  await inNs(ns, 'sysctl', ['-q', '-w', ...Object.entries(all).map(([k, v]) => `${k}=${v}`)]);
}

/**
 * A veth pair between two namespaces, created with both ends already inside them (never in the root
 * namespace), brought up, rp_filter off on both ends.
 */
export async function veth(a: { ns: string; ifname: string }, b: { ns: string; ifname: string }): Promise<void> {
  await sh('ip', ['link', 'add', 'name', a.ifname, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.ifname, 'netns', b.ns]);
  for (const end of [a, b]) {
    await inNs(end.ns, 'ip', ['link', 'set', end.ifname, 'up']);
    await inNs(end.ns, 'sysctl', ['-q', '-w', `net.ipv4.conf.${end.ifname}.rp_filter=0`]);
  }
}

/**
 * Point-to-point addressing like a GCE VM's NIC: the inner end holds `ip/32` with a route to the
 * gateway `gw` on the link and a default route through it; the outer end holds `gw/32` (the same
 * gateway address may sit on many outer links) and a route to `ip/32` on the link.
 */
export async function p2p(inner: { ns: string; ifname: string; ip: string }, outer: { ns: string; ifname: string; gw: string }): Promise<void> {
  await inNs(inner.ns, 'ip', ['addr', 'add', `${inner.ip}/32`, 'dev', inner.ifname]);
  await inNs(inner.ns, 'ip', ['route', 'add', `${outer.gw}/32`, 'dev', inner.ifname, 'scope', 'link']);
  await inNs(inner.ns, 'ip', ['route', 'add', 'default', 'via', outer.gw, 'dev', inner.ifname]);
  await inNs(outer.ns, 'ip', ['addr', 'add', `${outer.gw}/32`, 'dev', outer.ifname]).catch((e: unknown) => {
    if (!String(e).includes('File exists')) throw e;
  });
  await inNs(outer.ns, 'ip', ['route', 'add', `${inner.ip}/32`, 'dev', outer.ifname, 'scope', 'link']);
}

/** A long-running process of the harness, with its output lines. */
export interface Proc {
  name: string;
  child: ChildProcess;
  /** Last lines of stdout+stderr (for error messages). */
  tail(): string;
  /** Resolves with the first stdout line matching `re`, rejects when the process exits first or after `ms`. */
  waitLine(re: RegExp, ms: number): Promise<string>;
  onLine(fn: (line: string) => void): void;
  exited: Promise<number | null>;
  /** Closes stdin, SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a process whose stdin stays open: every helper of the harness exits when its stdin closes,
 * so a harness process that dies (even SIGKILL) takes them with it.
 */
export function startProc(name: string, cmd: string, args: string[], log?: (line: string) => void, env?: Record<string, string>): Proc {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(env === undefined ? {} : { env: { ...process.env, ...env } }) });
  const lines: string[] = [];
  const listeners: Array<(l: string) => void> = [];
  let partial = { out: '', err: '' };
  const feed = (which: 'out' | 'err', b: Buffer): void => {
    const parts = (partial[which] + b.toString()).split('\n');
    partial = { ...partial, [which]: parts.pop() ?? '' };
    for (const l of parts) {
      lines.push(l);
      if (lines.length > 200) lines.shift();
      log?.(`${name}: ${l}`);
      if (which === 'out') for (const fn of listeners) fn(l);
    }
  };
  child.stdout?.on('data', (b: Buffer) => feed('out', b));
  child.stderr?.on('data', (b: Buffer) => feed('err', b));
  child.stdin?.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code));
    child.on('error', () => resolve(-1));
  });
  return {
    name,
    child,
    tail: () => lines.slice(-30).join('\n'),
    onLine: (fn) => listeners.push(fn),
    waitLine: (re, ms) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: no line matching ${re} within ${ms} ms:\n${lines.slice(-30).join('\n')}`)), ms);
        listeners.push((l) => {
          if (re.test(l)) {
            clearTimeout(timer);
            resolve(l);
          }
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (${code}) before printing ${re}:\n${lines.slice(-30).join('\n')}`));
        });
      }),
    exited,
    stop: async (graceMs = 3000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin?.end();
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}
