// SPDX-License-Identifier: Apache-2.0
//
// Smoke test of `fleet-ilb demo --exit-after-ready` (what `npm run demo` runs, minus the waiting for
// Ctrl-C), as a separate process the way a user starts it: it must bring the store example to
// Programmed, report the load balancer, print its JSON summary last, exit 0 and leave nothing behind.
// Three members: the third gets a generated copy of the app (the example defines two).

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../fixtures/example.ts';
import type { DemoInfo } from '../harness/demo.ts';

/** Command lines of live processes that mention `needle`. */
function processesMentioning(needle: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(join('/proc', pid, 'cmdline'), 'utf8').replaceAll('\0', ' ');
      if (cmd.includes(needle)) out.push(`${pid} ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('fleet-ilb demo', () => {
  it('--exit-after-ready: the store Gateway is Programmed, the report is printed, exit 0, nothing left running', async () => {
    const node = join(repoRoot, 'node_modules', '.bin', 'node');
    const child = spawn(node, [join(repoRoot, 'controller', 'cli.ts'), 'demo', '--exit-after-ready', '--members', '3', '--timeout-seconds', '150'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code, `stderr:\n${stderr.slice(-4000)}`).toBe(0);

    const lines = stdout.trimEnd().split('\n');
    const info = JSON.parse(lines[lines.length - 1]!) as DemoInfo;
    expect(Object.keys(info.kubeconfigs).sort()).toEqual(['config', 'member-a', 'member-b', 'member-c']);
    expect(info.emulator).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.controller.health).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/healthz$/);
    expect(info.gateways).toHaveLength(1);
    const gw = info.gateways[0]!;
    expect(gw).toMatchObject({ namespace: 'store', name: 'store', programmed: true });
    expect(gw.vip).toMatch(/^10\.128\.\d+\.\d+$/);
    const vipRe = (gw.vip ?? '').replaceAll('.', '\\.');

    // The report names the forwarding rule on the VIP and a NEG per member x zone (3 members x 2 zones).
    expect(stdout).toMatch(new RegExp(`forwarding rule .*: ${vipRe} TCP ports=8080`));
    const negLines = lines.filter((l) => /^\s+NEG\s/.test(l));
    expect(negLines).toHaveLength(6);
    for (const m of ['member-a', 'member-b', 'member-c']) {
      expect(negLines.filter((l) => l.includes(`-${m}: GCE_VM_IP`)), m).toHaveLength(2);
      expect(stdout, m).toMatch(new RegExp(`${m}: store/\\S+ TCP/8080->8080 externalTrafficPolicy=Local ingress=${vipRe}`));
    }

    // Torn down: the temp fleet directory is gone and no process refers to it.
    expect(existsSync(info.dir)).toBe(false);
    expect(processesMentioning(info.dir)).toEqual([]);
  });
});
