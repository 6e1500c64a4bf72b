// SPDX-License-Identifier: Apache-2.0
//
// Contract: the manual two-cluster internal passthrough LB recipe through `@google-cloud/compute`, then teardown in
// the wrong order (the real "in use" errors) and in the right one. Run with instant and with delayed operations.

import { afterEach, describe, expect, it } from 'vitest';
import type { Emulator } from './index.ts';
import { VIP, buildRecipe, teardownRecipe } from './recipe.ts';
import { P, REGION, ZONE_A, ZONE_B, clients, expectApiError, link, start } from './testkit.ts';

describe.each([
  { latency: 0, label: 'operations DONE at once' },
  { latency: 40, label: 'operations PENDING → RUNNING → DONE' },
])('manual ILB recipe through @google-cloud/compute ($label)', ({ latency }) => {
  let emu: Emulator;
  afterEach(async () => emu.stop());

  it('builds two NEGs, a health check, a backend service, a shared VIP and a forwarding rule; reports health', async () => {
    emu = await start({ operationLatencyMs: latency });
    const c = clients(emu);
    await buildRecipe(c);

    const [bs] = await c.bss.get({ project: P, region: REGION, backendService: 'bs1' });
    expect(bs.backends?.map((b) => b.group)).toEqual([
      link(`zones/${ZONE_A}/networkEndpointGroups/neg-a`),
      link(`zones/${ZONE_B}/networkEndpointGroups/neg-b`),
    ]);
    expect(bs.backends?.map((b) => b.balancingMode)).toEqual(['CONNECTION', 'CONNECTION']);
    expect(bs.healthChecks).toEqual([link(`regions/${REGION}/healthChecks/hc1`)]);
    expect(bs.fingerprint).toMatch(/^[A-Za-z0-9+/]+=*$/);

    const [fr] = await c.frs.get({ project: P, region: REGION, forwardingRule: 'fr1' });
    expect(fr.IPAddress).toBe(VIP); // reads return the literal IP even when created from an address URL
    expect(fr.backendService).toBe(link(`regions/${REGION}/backendServices/bs1`));

    const [addr] = await c.addrs.get({ project: P, region: REGION, address: 'vip' });
    expect(addr.status).toBe('IN_USE');
    expect(addr.users).toEqual([link(`regions/${REGION}/forwardingRules/fr1`)]);

    const [negA] = await c.negs.get({ project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a' });
    expect(negA.size).toBe(2);

    emu.setProber((t) => (t.instance === 'node-b2' ? 'UNHEALTHY' : 'HEALTHY'));
    const [hb] = await c.bss.getHealth({
      project: P,
      region: REGION,
      backendService: 'bs1',
      resourceGroupReferenceResource: { group: link(`zones/${ZONE_B}/networkEndpointGroups/neg-b`) },
    });
    expect(
      hb.healthStatus?.map((h) => [h.instance, h.ipAddress, h.healthState, h.forwardingRule, h.forwardingRuleIp]),
    ).toEqual([
      [link(`zones/${ZONE_B}/instances/node-b1`), '10.0.0.21', 'HEALTHY', link(`regions/${REGION}/forwardingRules/fr1`), VIP],
      [link(`zones/${ZONE_B}/instances/node-b2`), '10.0.0.22', 'UNHEALTHY', link(`regions/${REGION}/forwardingRules/fr1`), VIP],
    ]);
  });

  it('refuses the wrong teardown order with resourceInUseByAnotherResource, then tears down in the right one', async () => {
    emu = await start({ operationLatencyMs: latency });
    const c = clients(emu);
    await buildRecipe(c);
    const before = JSON.stringify(emu.inventory().backendServices);

    await expectApiError(
      c.hcs.delete({ project: P, region: REGION, healthCheck: 'hc1' }),
      400,
      'resourceInUseByAnotherResource',
      /^The health_check resource 'projects\/p1\/regions\/us-central1\/healthChecks\/hc1' is already being used by 'projects\/p1\/regions\/us-central1\/backendServices\/bs1'$/,
    );
    await expectApiError(
      c.negs.delete({ project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a' }),
      400,
      'resourceInUseByAnotherResource',
      /^The network_endpoint_group resource 'projects\/p1\/zones\/us-central1-a\/networkEndpointGroups\/neg-a' is already being used by 'projects\/p1\/regions\/us-central1\/backendServices\/bs1'$/,
    );
    await expectApiError(
      c.bss.delete({ project: P, region: REGION, backendService: 'bs1' }),
      400,
      'resourceInUseByAnotherResource',
      /^The backend_service resource 'projects\/p1\/regions\/us-central1\/backendServices\/bs1' is already being used by 'projects\/p1\/regions\/us-central1\/forwardingRules\/fr1'$/,
    );
    expect(JSON.stringify(emu.inventory().backendServices)).toBe(before);

    await teardownRecipe(c);
    const inv = emu.inventory();
    expect([inv.addresses, inv.healthChecks, inv.backendServices, inv.networkEndpointGroups, inv.forwardingRules]).toEqual([[], [], [], [], []]);
  });
});
