// SPDX-License-Identifier: Apache-2.0
//
// Contract: the real `gcloud` CLI (Cloud SDK 528, /usr/bin/gcloud) pointed at the Compute API emulator runs the manual
// two-cluster internal passthrough LB recipe, gets the real errors on a wrong-order teardown, tears down in the right
// order, and ends in the same state as the same recipe through `@google-cloud/compute`. gcloud needs ~2–4 s per
// command here, so the suite is one pass with few commands.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../emulator/index.ts';
import { VIP, buildRecipe, normalizedInventory } from '../emulator/recipe.ts';
import { P, REGION, ZONE_A, ZONE_B, clients, start } from '../emulator/testkit.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let emu: Emulator;
let configDir: string;

/** Runs one gcloud command against the emulator with an isolated, prompt-free, offline configuration. */
function gcloud(...args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: configDir,
    CLOUDSDK_CONFIG: configDir,
    CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE: `${emu.url}/compute/v1/`,
    CLOUDSDK_AUTH_DISABLE_CREDENTIALS: 'true',
    CLOUDSDK_CORE_PROJECT: P,
    CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
    CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: 'true',
    CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: 'true',
    CLOUDSDK_CORE_CHECK_GCE_METADATA: 'false',
    CLOUDSDK_CORE_SHOW_STRUCTURED_LOGS: 'never',
  };
  return new Promise((resolve) => {
    execFile('/usr/bin/gcloud', args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function ok(...args: string[]): Promise<Run> {
  const r = await gcloud(...args);
  expect(r.code, `gcloud ${args.join(' ')}\n${r.stderr}`).toBe(0);
  return r;
}

describe('gcloud against the Compute API emulator', () => {
  beforeAll(async () => {
    configDir = mkdtempSync(join(tmpdir(), 'fleet-ilb-gcloud-'));
    // Latency > 0 so gcloud polls operations (wait) as it does against GCP.
    emu = await start({ operationLatencyMs: 150 });
  });
  afterAll(async () => {
    await emu.stop();
    rmSync(configDir, { recursive: true, force: true });
  });

  it('builds the two-cluster internal passthrough load balancer; output looks like GCP', async () => {
    const neg = await ok(
      'compute', 'network-endpoint-groups', 'create', 'neg-a', `--zone=${ZONE_A}`,
      '--network-endpoint-type=gce-vm-ip', '--network=vpc1', '--subnet=sub1',
    );
    expect(neg.stderr).toContain(`Created [https://www.googleapis.com/compute/v1/projects/${P}/zones/${ZONE_A}/networkEndpointGroups/neg-a].`);
    await ok(
      'compute', 'network-endpoint-groups', 'create', 'neg-b', `--zone=${ZONE_B}`,
      '--network-endpoint-type=gce-vm-ip', '--network=vpc1', '--subnet=sub1',
    );
    const attach = await ok(
      'compute', 'network-endpoint-groups', 'update', 'neg-a', `--zone=${ZONE_A}`,
      '--add-endpoint=instance=node-a1,ip=10.0.0.11', '--add-endpoint=instance=node-a2',
    );
    expect(attach.stderr).toContain('Attaching 2 endpoints to [neg-a]');
    await ok(
      'compute', 'network-endpoint-groups', 'update', 'neg-b', `--zone=${ZONE_B}`,
      '--add-endpoint=instance=node-b1,ip=10.0.0.21', '--add-endpoint=instance=node-b2,ip=10.0.0.22',
    );
    const hc = await ok('compute', 'health-checks', 'create', 'tcp', 'hc1', `--region=${REGION}`, '--port=8080', '--check-interval=5s', '--timeout=5s');
    expect(hc.stdout).toMatch(/^NAME\s+PROTOCOL\nhc1\s+TCP\n$/);
    await ok(
      'compute', 'backend-services', 'create', 'bs1', '--load-balancing-scheme=internal', '--protocol=tcp',
      `--region=${REGION}`, '--health-checks=hc1', `--health-checks-region=${REGION}`,
    );
    for (const [n, z] of [['neg-a', ZONE_A], ['neg-b', ZONE_B]] as const) {
      // add-backend is GET + PUT update carrying the fingerprint it just read.
      await ok('compute', 'backend-services', 'add-backend', 'bs1', `--region=${REGION}`, `--network-endpoint-group=${n}`, `--network-endpoint-group-zone=${z}`);
    }
    await ok('compute', 'addresses', 'create', 'vip', `--region=${REGION}`, '--subnet=sub1', `--addresses=${VIP}`, '--purpose=SHARED_LOADBALANCER_VIP');
    const fr = await ok(
      'compute', 'forwarding-rules', 'create', 'fr1', `--region=${REGION}`, '--load-balancing-scheme=internal',
      '--network=vpc1', '--subnet=sub1', '--address=vip', '--ip-protocol=TCP', '--ports=8080',
      '--backend-service=bs1', `--backend-service-region=${REGION}`,
    );
    expect(fr.stderr).toContain(`Created [https://www.googleapis.com/compute/v1/projects/${P}/regions/${REGION}/forwardingRules/fr1].`);

    const health = await ok('compute', 'backend-services', 'get-health', 'bs1', `--region=${REGION}`, '--format=json');
    const groups = JSON.parse(health.stdout) as Array<{ backend: string; status: { healthStatus: Array<Record<string, string>> } }>;
    expect(groups.map((g) => g.backend.split('/').pop())).toEqual(['neg-a', 'neg-b']);
    for (const g of groups) {
      expect(g.status.healthStatus).toHaveLength(2);
      for (const h of g.status.healthStatus) {
        expect(h).toMatchObject({ healthState: 'HEALTHY', forwardingRuleIp: VIP });
        expect(h.forwardingRule).toBe(`https://www.googleapis.com/compute/v1/projects/${P}/regions/${REGION}/forwardingRules/fr1`);
      }
    }

    const list = await ok('compute', 'forwarding-rules', 'list');
    expect(list.stdout).toMatch(/^NAME\s+REGION\s+IP_ADDRESS\s+IP_PROTOCOL\s+TARGET\nfr1\s+us-central1\s+10\.0\.0\.50\s+TCP\s+us-central1\/backendServices\/bs1\n$/);

    // Same state as the same recipe through @google-cloud/compute.
    const other = await start();
    try {
      await buildRecipe(clients(other));
      expect(normalizedInventory(emu)).toEqual(normalizedInventory(other));
    } finally {
      await other.stop();
    }

    // Labels, as fleet-ilb sets them (controller/naming/gcelabels.ts): gcloud's --update-labels is a
    // forwardingRules.setLabels with the live labelFingerprint; --filter=labels.KEY=VALUE finds the rule.
    await ok('compute', 'forwarding-rules', 'update', 'fr1', `--region=${REGION}`, '--update-labels=fleetilb-gateway=store,fleetilb-gateway-namespace=store');
    expect(emu.audit().some((e) => e.method === 'forwardingRules.setLabels' && e.status === 200)).toBe(true);
    const byLabel = await ok('compute', 'forwarding-rules', 'list', '--filter=labels.fleetilb-gateway=store', '--format=value(name)');
    expect(byLabel.stdout.trim()).toBe('fr1');
    const none = await ok('compute', 'forwarding-rules', 'list', '--filter=labels.fleetilb-gateway=other', '--format=value(name)');
    expect(none.stdout.trim()).toBe('');
  }, 400_000);

  it('gets the real in-use errors when tearing down in the wrong order', async () => {
    const hc = await gcloud('compute', 'health-checks', 'delete', 'hc1', `--region=${REGION}`, '--quiet');
    expect(hc.code).toBe(1);
    expect(hc.stderr).toContain(
      `The health_check resource 'projects/${P}/regions/${REGION}/healthChecks/hc1' is already being used by 'projects/${P}/regions/${REGION}/backendServices/bs1'`,
    );
    const neg = await gcloud('compute', 'network-endpoint-groups', 'delete', 'neg-a', `--zone=${ZONE_A}`, '--quiet');
    expect(neg.code).toBe(1);
    expect(neg.stderr).toContain(
      `The network_endpoint_group resource 'projects/${P}/zones/${ZONE_A}/networkEndpointGroups/neg-a' is already being used by 'projects/${P}/regions/${REGION}/backendServices/bs1'`,
    );
    const bs = await gcloud('compute', 'backend-services', 'delete', 'bs1', `--region=${REGION}`, '--quiet');
    expect(bs.code).toBe(1);
    expect(bs.stderr).toContain(
      `The backend_service resource 'projects/${P}/regions/${REGION}/backendServices/bs1' is already being used by 'projects/${P}/regions/${REGION}/forwardingRules/fr1'`,
    );
    const inv = emu.inventory();
    expect([inv.healthChecks.length, inv.networkEndpointGroups.length, inv.backendServices.length]).toEqual([1, 2, 1]);
  });

  it('tears down in the right order and leaves nothing behind', async () => {
    const fr = await ok('compute', 'forwarding-rules', 'delete', 'fr1', `--region=${REGION}`, '--quiet');
    expect(fr.stderr).toContain(`Deleted [https://www.googleapis.com/compute/v1/projects/${P}/regions/${REGION}/forwardingRules/fr1].`);
    await ok('compute', 'addresses', 'delete', 'vip', `--region=${REGION}`, '--quiet');
    await ok('compute', 'backend-services', 'delete', 'bs1', `--region=${REGION}`, '--quiet');
    await ok('compute', 'health-checks', 'delete', 'hc1', `--region=${REGION}`, '--quiet');
    await ok('compute', 'network-endpoint-groups', 'delete', 'neg-a', `--zone=${ZONE_A}`, '--quiet');
    await ok('compute', 'network-endpoint-groups', 'delete', 'neg-b', `--zone=${ZONE_B}`, '--quiet');
    expect(normalizedInventory(emu)).toEqual({
      addresses: [],
      healthChecks: [],
      backendServices: [],
      networkEndpointGroups: [],
      forwardingRules: [],
      firewalls: [],
    });
    const list = await ok('compute', 'forwarding-rules', 'list');
    expect(list.stdout).toBe('');
    expect(list.stderr).toContain('Listed 0 items.');
    // gcloud used the batch endpoint or plain calls, never an unknown route.
    expect(emu.audit().filter((e) => e.method === 'unknown' || e.status === 501)).toEqual([]);
  }, 300_000);
});
