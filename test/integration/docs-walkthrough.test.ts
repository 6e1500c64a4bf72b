// SPDX-License-Identifier: Apache-2.0
//
// docs/walkthrough.md, executed: every ```sh block of the page, in order, in one bash with
// `set -euo pipefail`, exactly as written except the fleet directory and the two loopback ports
// (a fresh temp dir and free ports instead of /tmp/fleet, 8085 and 8080). The page promises that
// its commands work as written; this keeps that true when a flag, a printer column, a condition or
// a tool changes. Needs kubectl and gcloud on PATH (as the README's requirements and
// emulator-gcloud.test.ts); gcloud runs with the page's settings, so everything stays on loopback.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/fleet.ts';

const root = join(import.meta.dirname, '..', '..');
const dir = join(mkdtempSync(join(tmpdir(), 'fleet-ilb-walkthrough-')), 'fleet');
let bash: ChildProcess | undefined;

/** The page's shell blocks, joined, with the fleet directory and the ports replaced. */
function script(emuPort: number, metricsPort: number): string {
  const page = readFileSync(join(root, 'docs/walkthrough.md'), 'utf8');
  const blocks = [...page.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  const body = blocks.join('\n');
  const replaced = body
    .replace(/^DIR=\/tmp\/fleet\b/m, `DIR=${dir}`)
    .replace(/^EMU_PORT=8085 METRICS=127\.0\.0\.1:8080\b/m, `EMU_PORT=${emuPort} METRICS=127.0.0.1:${metricsPort}`);
  // The page must still set what is replaced (else the test would run against /tmp/fleet and 8085).
  expect(replaced).not.toBe(body);
  expect(replaced).toContain(`DIR=${dir}`);
  expect(replaced).toContain(`EMU_PORT=${emuPort}`);
  return `set -euo pipefail\n${replaced}\n`;
}

afterAll(() => {
  if (bash !== undefined && bash.exitCode === null) bash.kill('SIGKILL');
  // Whatever the page started and did not stop (a failure midway): its processes by PID file, then the fleet.
  for (const f of ['controller.pid', 'emulator.pid']) {
    const p = join(dir, f);
    if (!existsSync(p)) continue;
    const pid = Number(readFileSync(p, 'utf8').trim());
    try {
      if (pid > 0) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (existsSync(dir)) spawnSync(process.execPath, [join(root, 'controller/cli.ts'), 'local', 'down', '--dir', dir], { stdio: 'ignore', timeout: 60_000 });
  rmSync(join(dir, '..'), { recursive: true, force: true });
});

describe('docs/walkthrough.md', () => {
  it('runs as written: fleet, seeded emulator, members, controller, Gateway, kubectl and gcloud checks, a pod move, teardown', async () => {
    const [emuPort, metricsPort] = [await freePort(), await freePort()];
    let out = '';
    bash = spawn('bash', ['-c', script(emuPort, metricsPort)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: `${join(root, 'node_modules/.bin')}:${process.env.PATH ?? ''}` },
    });
    bash.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    bash.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => bash!.once('exit', resolve));
    expect(code, out.slice(-4000)).toBe(0);

    // What the page says you will see.
    expect(out).toContain('10 VM(s) for 10 Node(s) of member-a, member-b');
    expect(out).toMatch(/^member-a\s+member-a\s+True\s+Connected\s+6\s/m);
    expect(out).toContain('Programmed=True Programmed');
    expect(out).toContain('fleetilb.io/BackendsServing=True BackendsServing');
    // 9b: fleet-ilb status shows the VIP and every NEG endpoint HEALTHY in GCE; plan has nothing to do.
    expect(out).toMatch(/^ {2}VIP: \d+\.\d+\.\d+\.\d+$/m);
    expect(out).toMatch(/^ {2}healthy\/total per member: member-a \d+\/\d+, member-b \d+\/\d+$/m);
    expect(out).toMatch(/^Gateway store\/store \(project fleet-ilb-demo, region us-central1\): no changes$/m);
    expect(out).toContain('Ready=True Exported');
    expect(out).toMatch(/^member-a-pool-a-2\s+10\.10\.0\.12$/m); // the NEG followed the moved pod
    expect(out).toContain('Listed 0 items.'); // no forwarding rule left after the Gateway's deletion
    expect(out).toContain(`local fleet in ${dir} stopped`);
  }, 600_000);
});
