// SPDX-License-Identifier: Apache-2.0
//
// `fleet-ilb gce-seed` on a real fleet: it reads the ILBConfig from the config cluster and the Nodes
// of every member, and prints the Compute API emulator's seed (docs/walkthrough.md step 4). Asserted
// against the objects it read: the ILBConfig's project, network and load-balancer subnetwork; exactly
// one VM per Node that has an InternalIP and a VM identity (same name and zone from
// `spec.providerID`, else the node name in its zone label, as for self-managed nodes), nic0 = the
// InternalIP, network tag `<member>-node`, a VM in another project put in that project; and that the
// emulator started with that seed serves those VMs and the project (no 404 on the project, the
// symptom of a missing seed). Also the failures a user meets: no such ILBConfig, no member
// kubeconfig (the CRD itself refuses an ILBConfig without project, region, network or subnetwork).
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startFleet, type Fleet } from '../harness/fleet.ts';
import { applyObjects, type KObject } from '../fixtures/kube.ts';

const root = join(import.meta.dirname, '..', '..');
const PROJECT = 'seed-proj';
const REGION = 'europe-west4';

/** A Node as the kubelet and the cloud provider would write it (status included). */
function node(name: string, opts: { providerID?: string; zone?: string; ip?: string }): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...(opts.zone === undefined ? {} : { 'topology.kubernetes.io/zone': opts.zone }) } },
    spec: opts.providerID === undefined ? {} : { providerID: opts.providerID },
    status: {
      addresses: [...(opts.ip === undefined ? [] : [{ type: 'InternalIP', address: opts.ip }]), { type: 'Hostname', address: name }],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ready' }],
    },
  };
}

function ilbConfig(namespace: string, name: string, spec: Record<string, unknown>): KObject {
  return { apiVersion: 'fleetilb.io/v1alpha1', kind: 'ILBConfig', metadata: { namespace, name }, spec };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function seedCli(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(root, 'controller/cli.ts'), 'gce-seed', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.once('error', reject);
    p.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

interface SeedInstance {
  name: string;
  zone: string;
  subnetwork: string;
  networkIP: string;
  tags: string[];
}
interface SeedFile {
  projects: Record<string, { networks: Array<{ name: string }>; subnetworks: Array<{ name: string; region: string; network: string; ipCidrRange: string }>; instances: SeedInstance[] }>;
}

let fleet: Fleet;
let emulator: ChildProcess | undefined;

// member-a: GKE-style Nodes (providerID), one of them in another project (a member of a Shared VPC
// service project), one in the load balancer's subnetwork range; member-b: a self-managed Node (no
// providerID, zone label), a Node without InternalIP and one with neither providerID nor zone: both
// get no VM.
const MEMBER_A = [
  node('a-pool-0', { providerID: `gce://${PROJECT}/${REGION}-a/a-pool-0`, ip: '10.20.0.10' }),
  node('a-pool-1', { providerID: `gce://${PROJECT}/${REGION}-b/a-pool-1-vm`, ip: '10.20.0.11' }),
  node('a-lb-range', { providerID: `gce://${PROJECT}/${REGION}-a/a-lb-range`, ip: '10.128.3.4' }),
  node('a-other', { providerID: `gce://other-proj/${REGION}-c/a-other`, ip: '10.30.1.5' }),
];
const MEMBER_B = [
  node('b-self-0', { zone: `${REGION}-c`, ip: '10.40.2.20' }),
  node('b-no-ip', { providerID: `gce://${PROJECT}/${REGION}-c/b-no-ip` }),
  node('b-nothing', { ip: '10.40.2.21' }),
];

beforeAll(async () => {
  fleet = await startFleet({ members: 2 });
  await applyObjects(fleet.config, [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fleet-ilb-system' } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } },
    ilbConfig('fleet-ilb-system', 'default', { project: PROJECT, region: REGION, network: 'seed-vpc', subnetwork: 'lb-sub' }),
    ilbConfig('team', 'other', { project: 'team-proj', region: 'us-east1', network: 'team-vpc', subnetwork: 'team-sub' }),
  ]);
  await applyObjects(fleet.members[0]!, MEMBER_A);
  await applyObjects(fleet.members[1]!, MEMBER_B);
});

afterAll(async () => {
  if (emulator !== undefined && emulator.exitCode === null) emulator.kill('SIGKILL');
  await fleet?.stop();
});

describe('fleet-ilb gce-seed', () => {
  let seed: SeedFile;
  let run: Run;

  it('prints one VM per Node that has an InternalIP and a VM identity, in the ILBConfig VPC', async () => {
    const [a, b] = fleet.members;
    run = await seedCli('--config', fleet.config.kubeconfigPath, a!.kubeconfigPath, b!.kubeconfigPath);
    expect(run.code, run.stderr).toBe(0);
    seed = parse(run.stdout) as SeedFile;

    expect(Object.keys(seed.projects).sort()).toEqual(['other-proj', PROJECT]);
    const main = seed.projects[PROJECT]!;
    expect(main.networks.map((n) => n.name)).toEqual(['seed-vpc']);
    // The load balancer's subnetwork (default range), plus one /24 per node range outside it.
    expect(main.subnetworks.find((s) => s.name === 'lb-sub')).toMatchObject({ region: REGION, network: 'seed-vpc', ipCidrRange: '10.128.0.0/20' });

    const vms = (p: string): Array<Omit<SeedInstance, 'subnetwork'>> =>
      seed.projects[p]!.instances.map(({ name, zone, networkIP, tags }) => ({ name, zone, networkIP, tags })).sort((x, y) => x.name.localeCompare(y.name));
    expect(vms(PROJECT)).toEqual([
      { name: 'a-lb-range', zone: `${REGION}-a`, networkIP: '10.128.3.4', tags: ['member-a-node'] },
      { name: 'a-pool-0', zone: `${REGION}-a`, networkIP: '10.20.0.10', tags: ['member-a-node'] },
      // The VM name comes from the providerID, not the Node name.
      { name: 'a-pool-1-vm', zone: `${REGION}-b`, networkIP: '10.20.0.11', tags: ['member-a-node'] },
      // Self-managed: the node name, in the zone of its topology label, in the ILBConfig's project.
      { name: 'b-self-0', zone: `${REGION}-c`, networkIP: '10.40.2.20', tags: ['member-b-node'] },
    ]);
    expect(vms('other-proj')).toEqual([{ name: 'a-other', zone: `${REGION}-c`, networkIP: '10.30.1.5', tags: ['member-a-node'] }]);
    expect(seed.projects['other-proj']!.networks.map((n) => n.name)).toEqual(['seed-vpc']);

    // Every VM's nic0 is in a subnetwork of its project and region that contains its IP.
    const ipInt = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
    for (const [p, proj] of Object.entries(seed.projects)) {
      for (const vm of proj.instances) {
        const sub = proj.subnetworks.find((s) => s.name === vm.subnetwork && vm.zone.startsWith(`${s.region}-`));
        expect(sub, `${p}/${vm.name}: subnetwork ${vm.subnetwork}`).toBeDefined();
        const [base, bits] = sub!.ipCidrRange.split('/');
        const size = 2 ** (32 - Number(bits));
        expect(ipInt(vm.networkIP) - ipInt(base!), `${vm.networkIP} in ${sub!.ipCidrRange}`).toBeGreaterThanOrEqual(0);
        expect(ipInt(vm.networkIP) - ipInt(base!)).toBeLessThan(size);
      }
    }
    expect(seed.projects[PROJECT]!.instances.find((i) => i.name === 'a-lb-range')!.subnetwork).toBe('lb-sub');

    // stderr says what it did, and that some Nodes got no VM.
    expect(run.stderr).toContain(`gce-seed: project ${PROJECT}, network seed-vpc, subnetwork lb-sub (${REGION}); 5 VM(s) for 7 Node(s) of member-a, member-b`);
    expect(run.stderr).toContain('some Nodes have no gce:// providerID or no InternalIP and got no VM');
  });

  it('the emulator started with that seed serves the project and the VMs', async () => {
    const file = join(fleet.dir, 'seed.yaml');
    writeFileSync(file, run.stdout);
    emulator = spawn(process.execPath, [join(root, 'controller/cli.ts'), 'gce-emulator', '--port', '0', '--seed', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const first = await new Promise<string>((resolve, reject) => {
      createInterface({ input: emulator!.stdout! }).once('line', resolve);
      emulator!.once('exit', (code) => reject(new Error(`gce-emulator exited ${code}`)));
    });
    const { computeEndpoint } = JSON.parse(first) as { computeEndpoint: string };
    const get = async (path: string): Promise<{ status: number; body: Record<string, unknown> }> => {
      const r = await fetch(`${computeEndpoint}${path}`);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    const sub = await get(`projects/${PROJECT}/regions/${REGION}/subnetworks/lb-sub`);
    expect(sub.status).toBe(200);
    expect(sub.body['ipCidrRange']).toBe('10.128.0.0/20');
    const vm = await get(`projects/${PROJECT}/zones/${REGION}-b/instances/a-pool-1-vm`);
    expect(vm.status).toBe(200);
    expect((vm.body['networkInterfaces'] as Array<{ networkIP: string }>)[0]!.networkIP).toBe('10.20.0.11');
    expect((vm.body['tags'] as { items: string[] }).items).toEqual(['member-a-node']);
    const other = await get(`projects/other-proj/zones/${REGION}-c/instances/a-other`);
    expect(other.status).toBe(200);
    // A project the seed does not hold answers 404 (what the controller reports when the seed is missing).
    expect((await get(`projects/not-seeded/regions/${REGION}/subnetworks/lb-sub`)).status).toBe(404);

    const exit = new Promise<number | null>((resolve) => emulator!.once('exit', (code) => resolve(code)));
    emulator.kill('SIGTERM');
    expect(await exit).toBe(0);
  });

  it('--ilbconfig NS/NAME and --subnetwork-cidr choose another ILBConfig and range', async () => {
    const r = await seedCli('--config', fleet.config.kubeconfigPath, '--ilbconfig', 'team/other', '--subnetwork-cidr', '10.40.0.0/16', fleet.members[1]!.kubeconfigPath);
    expect(r.code, r.stderr).toBe(0);
    const s = parse(r.stdout) as SeedFile;
    expect(Object.keys(s.projects)).toEqual(['team-proj']);
    const p = s.projects['team-proj']!;
    expect(p.networks.map((n) => n.name)).toEqual(['team-vpc']);
    expect(p.subnetworks.find((x) => x.name === 'team-sub')).toMatchObject({ region: 'us-east1', ipCidrRange: '10.40.0.0/16' });
    // The self-managed Node's zone is in europe-west4, not the ILBConfig's region: its own subnetwork.
    expect(p.instances).toEqual([expect.objectContaining({ name: 'b-self-0', zone: `${REGION}-c`, networkIP: '10.40.2.20', tags: ['member-b-node'] })]);
    expect(p.instances[0]!.subnetwork).not.toBe('team-sub');
  });

  it('fails with a message when the ILBConfig is missing, and with usage without members', async () => {
    const missing = await seedCli('--config', fleet.config.kubeconfigPath, '--ilbconfig', 'team/nope', fleet.members[0]!.kubeconfigPath);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('gce-seed: ILBConfig team/nope not found in the config cluster');
    expect(missing.stdout).toBe('');

    const usage = await seedCli('--config', fleet.config.kubeconfigPath);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^usage: fleet-ilb gce-seed/);
  });
});
