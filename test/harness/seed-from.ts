// SPDX-License-Identifier: Apache-2.0
//
// `fleet-ilb gce-seed`: writes the Compute API emulator's seed for a fleet you started yourself
// (docs/walkthrough.md). The emulator must already know what real GCE would: the ILBConfig's
// project, network and subnetwork, and one VM per member Node (same name and zone, nic0 = the
// Node's InternalIP, network tag `<member>-node`). Without it every call on the project answers 404.
// The VPC comes from the ILBConfig in the config cluster; the VMs from the members' Nodes.
//
//   fleet-ilb gce-seed --config CONFIG.kubeconfig [--ilbconfig NS/NAME] [--subnetwork-cidr CIDR] MEMBER.kubeconfig... > seed.yaml
//   fleet-ilb gce-emulator --seed seed.yaml
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { emulatorSeedFromNodes } from '../fixtures/seed.ts';
import { Kube, type KObject } from '../fixtures/kube.ts';

const USAGE = `usage: fleet-ilb gce-seed --config CONFIG_KUBECONFIG [--ilbconfig NS/NAME] [--subnetwork-cidr CIDR] MEMBER_KUBECONFIG...

Prints (YAML) the Compute API emulator seed for a fleet: project, region, network and subnetwork
from the ILBConfig (default fleet-ilb-system/default), one VM per Node of each member (member name =
the kubeconfig file name without .kubeconfig; VMs tagged <member>-node).
  --subnetwork-cidr CIDR   the load balancer subnetwork's range (default 10.128.0.0/20)
Then: fleet-ilb gce-emulator --seed seed.yaml
`;

function kubeFrom(path: string, name: string): Kube {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return new Kube(name, kc);
}

interface ILBSpec {
  project?: string;
  region?: string;
  network?: string;
  subnetwork?: string;
}

/** `fleet-ilb gce-seed` entry point. */
export async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { config: { type: 'string' }, ilbconfig: { type: 'string' }, 'subnetwork-cidr': { type: 'string' }, help: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values['help'] === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const configPath = values['config'];
  if (typeof configPath !== 'string' || positionals.length === 0) {
    process.stderr.write(USAGE);
    return 2;
  }
  const [ns = '', name = ''] = (typeof values['ilbconfig'] === 'string' ? values['ilbconfig'] : 'fleet-ilb-system/default').split('/');
  const ilb = await kubeFrom(configPath, 'config').get<KObject & { spec?: ILBSpec }>('fleetilb.io/v1alpha1', 'ILBConfig', name, ns);
  const spec = ilb?.spec;
  const missing = (['project', 'region', 'network', 'subnetwork'] as const).filter((k) => typeof spec?.[k] !== 'string' || spec[k] === '');
  if (ilb === undefined || missing.length > 0) {
    process.stderr.write(`gce-seed: ILBConfig ${ns}/${name} ${ilb === undefined ? 'not found' : `has no ${missing.join(', ')}`} in the config cluster\n`);
    return 1;
  }
  const members: Record<string, KObject[]> = {};
  for (const p of positionals) {
    const member = basename(p).replace(/\.kubeconfig$/, '');
    members[member] = await kubeFrom(p, member).list('v1', 'Node');
  }
  const seed = emulatorSeedFromNodes(spec!.project!, spec!.region!, spec!.network!, spec!.subnetwork!, members, {
    ...(typeof values['subnetwork-cidr'] === 'string' ? { subnetworkCidr: values['subnetwork-cidr'] } : {}),
  });
  const vms = Object.values(seed.projects).reduce((n, p) => n + (p.instances?.length ?? 0), 0);
  const nodes = Object.values(members).reduce((n, l) => n + l.length, 0);
  process.stderr.write(`gce-seed: project ${spec!.project}, network ${spec!.network}, subnetwork ${spec!.subnetwork} (${spec!.region}); ${vms} VM(s) for ${nodes} Node(s) of ${Object.keys(members).join(', ')}\n`);
  if (vms < nodes) process.stderr.write('gce-seed: some Nodes have no gce:// providerID or no InternalIP and got no VM\n');
  process.stdout.write(stringify(seed));
  return 0;
}
