// SPDX-License-Identifier: Apache-2.0
//
// The manual recipe for an internal passthrough load balancer across two clusters, through `@google-cloud/compute`:
// two GCE_VM_IP NEGs in two zones with endpoints, a regional TCP health check, a regional INTERNAL backend service with
// both NEGs, a SHARED_LOADBALANCER_VIP address on a chosen IP, a forwarding rule on it. The gcloud contract test runs
// the same recipe with the CLI and compares the resulting inventory with {@link normalizedInventory}.

import type { Emulator } from './index.ts';
import { type Clients, P, REGION, ZONE_A, ZONE_B, bsBody, frBody, hcBody, link, negBody, ok, vipBody } from './testkit.ts';

export const VIP = '10.0.0.50';

/** Builds the load balancer. */
export async function buildRecipe(c: Clients): Promise<void> {
  await ok(c, c.negs.insert({ project: P, zone: ZONE_A, networkEndpointGroupResource: negBody('neg-a') }));
  await ok(c, c.negs.insert({ project: P, zone: ZONE_B, networkEndpointGroupResource: negBody('neg-b') }));
  // Endpoints as ingress-gce sends them: {instance, ipAddress}; one without ipAddress (the API fills in the NIC IP).
  await ok(
    c,
    c.negs.attachNetworkEndpoints({
      project: P,
      zone: ZONE_A,
      networkEndpointGroup: 'neg-a',
      networkEndpointGroupsAttachEndpointsRequestResource: {
        networkEndpoints: [{ instance: 'node-a1', ipAddress: '10.0.0.11' }, { instance: 'node-a2' }],
      },
    }),
  );
  await ok(
    c,
    c.negs.attachNetworkEndpoints({
      project: P,
      zone: ZONE_B,
      networkEndpointGroup: 'neg-b',
      networkEndpointGroupsAttachEndpointsRequestResource: {
        networkEndpoints: [
          { instance: 'node-b1', ipAddress: '10.0.0.21' },
          { instance: 'node-b2', ipAddress: '10.0.0.22' },
        ],
      },
    }),
  );
  await ok(c, c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody('hc1') }));
  await ok(
    c,
    c.bss.insert({
      project: P,
      region: REGION,
      backendServiceResource: bsBody('bs1', 'hc1', [
        { zone: ZONE_A, name: 'neg-a' },
        { zone: ZONE_B, name: 'neg-b' },
      ]),
    }),
  );
  await ok(c, c.addrs.insert({ project: P, region: REGION, addressResource: vipBody('vip', VIP) }));
  await ok(
    c,
    c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr1', 'bs1', link(`regions/${REGION}/addresses/vip`)) }),
  );
}

/** Tears it down in the right order: forwarding rule, address, backend service, health check, NEGs. */
export async function teardownRecipe(c: Clients): Promise<void> {
  await ok(c, c.frs.delete({ project: P, region: REGION, forwardingRule: 'fr1' }));
  await ok(c, c.addrs.delete({ project: P, region: REGION, address: 'vip' }));
  await ok(c, c.bss.delete({ project: P, region: REGION, backendService: 'bs1' }));
  await ok(c, c.hcs.delete({ project: P, region: REGION, healthCheck: 'hc1' }));
  await ok(c, c.negs.delete({ project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a' }));
  await ok(c, c.negs.delete({ project: P, zone: ZONE_B, networkEndpointGroup: 'neg-b' }));
}

const VOLATILE = new Set(['id', 'creationTimestamp', 'fingerprint', 'labelFingerprint', 'selfLinkWithId']);

function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => !VOLATILE.has(k))
      .map(([k, x]) => [k, strip(x)]),
  );
}

/** The load-balancer part of the inventory without ids, timestamps and fingerprints (comparable across runs). */
export function normalizedInventory(emu: Emulator): Record<string, unknown> {
  const inv = emu.inventory();
  return strip({
    addresses: inv.addresses,
    healthChecks: inv.healthChecks,
    backendServices: inv.backendServices,
    networkEndpointGroups: inv.networkEndpointGroups,
    forwardingRules: inv.forwardingRules,
    firewalls: inv.firewalls,
  }) as Record<string, unknown>;
}
