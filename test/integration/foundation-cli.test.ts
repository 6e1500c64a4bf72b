// SPDX-License-Identifier: Apache-2.0
//
// `fleet-ilb local up` / `local down` as a user runs them: up returns with kubeconfigs that kubectl
// can use, down leaves no process, port or file behind.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const execFileAsync = promisify(execFile);
const cli = resolve(import.meta.dirname, '..', '..', 'controller', 'cli.ts');

function fleetIlb(args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  const p = execFileAsync(process.execPath, [cli, ...args], { timeout: 10 * 60_000 });
  if (input !== undefined) {
    p.child.stdin?.end(input);
  }
  return p;
}

function kubectl(kubeconfig: string, args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  const p = execFileAsync('kubectl', ['--kubeconfig', kubeconfig, ...args]);
  if (input !== undefined) p.child.stdin?.end(input);
  return p;
}

/** Processes whose command line mentions `s` (the fleet dir appears in every apiserver's flags). */
function processesMentioning(s: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(s)) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('error', () => r(false));
  });
}

describe('fleet-ilb local up / down', () => {
  const base = mkdtempSync(join(tmpdir(), 'fleet-ilb-cli-test-'));
  const dir = join(base, 'fleet');

  afterAll(async () => {
    // If an assertion failed midway, still stop the fleet.
    if (existsSync(join(dir, 'local.json'))) await fleetIlb(['local', 'down', '--dir', dir]).catch(() => undefined);
    rmSync(base, { recursive: true, force: true });
  });

  it('up starts a fleet kubectl can use; down leaves nothing behind', async () => {
    const up = await fleetIlb(['local', 'up', '--members', '2', '--dir', dir]);
    const lastLine = up.stdout.trim().split('\n').at(-1)!;
    const info = JSON.parse(lastLine) as { dir: string; kubeconfigs: Record<string, string> };
    expect(info.dir).toBe(dir);
    expect(Object.keys(info.kubeconfigs).sort()).toEqual(['config', 'member-a', 'member-b']);
    expect(info.kubeconfigs['member-a']).toBe(join(dir, 'member-a.kubeconfig'));

    // `up` has returned: the fleet runs in the background.
    const member = info.kubeconfigs['member-a']!;
    const empty = await kubectl(member, ['get', 'nodes']);
    expect(empty.stderr).toContain('No resources found');
    await kubectl(member, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' } }));
    const nodes = await kubectl(member, ['get', 'nodes', '-o', 'name']);
    expect(nodes.stdout.trim()).toBe('node/node-1');
    // Each cluster is separate: the config cluster has no such node.
    const cfgNodes = await kubectl(info.kubeconfigs.config!, ['get', 'nodes', '-o', 'name']);
    expect(cfgNodes.stdout.trim()).toBe('');
    const crds = await kubectl(info.kubeconfigs.config!, ['get', 'crd', '-o', 'name']);
    expect(crds.stdout).toContain('customresourcedefinition.apiextensions.k8s.io/tcproutes.gateway.networking.k8s.io');
    expect(crds.stdout).toContain('customresourcedefinition.apiextensions.k8s.io/fleetmembers.fleetilb.io');

    // A second `up` on the same dir refuses instead of starting a second fleet.
    await expect(fleetIlb(['local', 'up', '--dir', dir])).rejects.toMatchObject({ code: 1 });

    const state = JSON.parse(readFileSync(join(dir, 'fleet.json'), 'utf8')) as { clusters: Record<string, { server: string; pids: number[] }> };
    const ports = Object.values(state.clusters).map((c) => Number(new URL(c.server).port));
    expect(processesMentioning(dir).length).toBeGreaterThanOrEqual(4); // the server + 3 apiservers

    await fleetIlb(['local', 'down', '--dir', dir]);
    expect(processesMentioning(dir)).toEqual([]);
    for (const p of ports) expect(await portOpen(p), `port ${p}`).toBe(false);
    expect(existsSync(dir)).toBe(false);

    // down again is a no-op.
    const again = await fleetIlb(['local', 'down', '--dir', dir]);
    expect(again.stderr).toContain('no local fleet running');
  });
});
