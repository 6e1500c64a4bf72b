#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// The `fleet-ilb` command. Each subcommand lives in its own module and is loaded on demand, so the
// production image (which ships only controller/) never loads the development tools under test/.

interface Subcommand {
  summary: string;
  load: () => Promise<{ main: (argv: string[]) => Promise<number> }>;
}

const subcommands: Record<string, Subcommand> = {
  controller: {
    summary: 'run the controller against a config cluster (see `fleet-ilb controller --help`)',
    load: () => import('./main.ts'),
  },
  plan: {
    summary: 'the GCE changes the controller would make now, without making them: `plan [--gateway NS/NAME] --kubeconfig CONFIG [--compute-endpoint URL]`',
    load: () => import('./inspect/main.ts').then((m) => ({ main: m.planMain })),
  },
  status: {
    summary: 'a readable summary of a Gateway (VIP, listeners, routes, members, NEGs, health, GCE resources): `status --gateway NS/NAME --kubeconfig CONFIG`',
    load: () => import('./inspect/main.ts').then((m) => ({ main: m.statusMain })),
  },
  local: {
    summary: 'start/stop a local fleet of real kube-apiservers: `local up [--members N] [--dir D]`, `local down [--dir D]`',
    load: () => import('../test/harness/cli.ts'),
  },
  'gce-emulator': {
    summary: 'run the Compute API emulator: `gce-emulator [--port P] [--seed FILE]`',
    load: () => import('../test/emulator/cli.ts'),
  },
  'gce-seed': {
    summary: 'print the emulator seed for a fleet: `gce-seed --config CONFIG_KUBECONFIG MEMBER_KUBECONFIG...` (VPC from the ILBConfig, VMs from the Nodes)',
    load: () => import('../test/harness/seed-from.ts'),
  },
  demo: {
    summary: 'start a local fleet + emulator, run the controller on it and apply the example',
    load: () => import('../test/harness/demo.ts'),
  },
};

function usage(): string {
  const lines = Object.entries(subcommands).map(([name, s]) => `  ${name.padEnd(14)} ${s.summary}`);
  return `usage: fleet-ilb <command> [flags]\n\ncommands:\n${lines.join('\n')}\n`;
}

const [name, ...rest] = process.argv.slice(2);
const sub = name === undefined ? undefined : subcommands[name];
if (sub === undefined) {
  process.stderr.write(usage());
  process.exitCode = name === undefined || name === '--help' || name === '-h' ? 0 : 2;
} else {
  const mod = await sub.load();
  process.exitCode = await mod.main(rest);
  // Every command's main resolves only when its work is done (a stopped controller or emulator, a
  // written seed, a fleet handed to its background process). Whatever still holds the event loop
  // then (an idle keep-alive socket, a pending request timer) must not keep the process alive: a
  // stopped controller took 30 s to exit (docs/walkthrough.md, teardown). unref: a clean exit is
  // not delayed.
  setTimeout(() => process.exit(), 5_000).unref();
}
