// SPDX-License-Identifier: Apache-2.0
//
// `fleet-ilb gce-emulator` runs standalone: one JSON line with its URL when ready, the seed file loaded, flags honoured,
// admin endpoints drive it, SIGTERM stops it cleanly.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'fleet-ilb-emu-cli-'));
let child: ChildProcess | undefined;

afterAll(() => {
  if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('fleet-ilb gce-emulator', () => {
  it('prints its URL, serves the seed, obeys the admin endpoints and stops on SIGTERM', async () => {
    const seed = join(dir, 'seed.yaml');
    writeFileSync(
      seed,
      [
        'projects:',
        '  p1:',
        '    networks: [{name: vpc1}]',
        '    subnetworks: [{name: sub1, region: us-central1, network: vpc1, ipCidrRange: 10.0.0.0/20}]',
        '    instances: [{name: node-a1, zone: us-central1-c, subnetwork: sub1, networkIP: 10.0.0.11, tags: [cluster-a-node]}]',
        '',
      ].join('\n'),
    );
    child = spawn(process.execPath, [join(root, 'controller/cli.ts'), 'gce-emulator', '--port', '0', '--seed', seed, '--operation-latency-ms', '200'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = createInterface({ input: child.stdout! });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child!.once('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    const ready = JSON.parse(first) as { url: string; port: number; computeEndpoint: string };
    expect(ready.url).toBe(`http://127.0.0.1:${ready.port}`);
    expect(ready.computeEndpoint).toBe(`${ready.url}/compute/v1/`);

    const inst = (await (await fetch(`${ready.computeEndpoint}projects/p1/zones/us-central1-c/instances/node-a1`)).json()) as {
      networkInterfaces: Array<{ networkIP: string }>;
      tags: { items: string[] };
    };
    expect([inst.networkInterfaces[0]!.networkIP, inst.tags.items]).toEqual(['10.0.0.11', ['cluster-a-node']]);

    const op = (await (
      await fetch(`${ready.computeEndpoint}projects/p1/global/healthChecks`, { method: 'POST', body: JSON.stringify({ name: 'hc', type: 'TCP' }) })
    ).json()) as { status: string };
    expect(op.status).toBe('PENDING'); // --operation-latency-ms

    const prober = await fetch(`${ready.url}/_emulator/prober`, { method: 'PUT', body: JSON.stringify({ default: 'UNHEALTHY', rules: [{ instance: 'node-a1', state: 'HEALTHY' }] }) });
    expect(await prober.json()).toEqual({ default: 'UNHEALTHY', rules: [{ instance: 'node-a1', state: 'HEALTHY' }] });
    const counters = (await (await fetch(`${ready.url}/_emulator/counters`)).json()) as Record<string, { reads: number; writes: number }>;
    expect(counters['instances.get']).toEqual({ reads: 1, writes: 0 });

    const exit = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
  });

  it('refuses bad flags with exit code 2', async () => {
    const p = spawn(process.execPath, [join(root, 'controller/cli.ts'), 'gce-emulator', '--bogus'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => p.once('exit', resolve));
    expect(code).toBe(2);
    expect(err).toMatch(/usage: fleet-ilb gce-emulator/);
  });
});
