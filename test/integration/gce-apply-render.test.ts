// SPDX-License-Identifier: Apache-2.0
//
// Applies what translate's renderGce really produces (the render goldens' IRs) to the emulator:
// it must program (VIP known, forwarding rules present) and a second apply must write nothing.
// The emulator is seeded with the networks, subnetworks and node VMs the DesiredGce refers to.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { startEmulator, type Emulator, type Seed, type SeedProject } from '../emulator/index.ts';
import { GceCloud } from '../../controller/infra/gcp/cloud/client.ts';
import { applyGce, teardownGce } from '../../controller/infra/gcp/apply.ts';
import { describePlan } from '../../controller/infra/gcp/plan.ts';
import { renderGce } from '../../controller/infra/gcp/render.ts';
import { isIpLiteral } from '../../controller/infra/gcp/forwardingRule.ts';
import type { DesiredGce } from '../../controller/infra/gcp/desired.ts';
import type { GatewayIR } from '../../controller/ir/types.ts';

const DIR = join(import.meta.dirname, '..', 'golden', 'render');

function irOf(name: string): GatewayIR {
  return (parse(readFileSync(join(DIR, `${name}.in.yaml`), 'utf8')) as { ir: GatewayIR }).ir;
}

/** `projects/P/.../NAME` parts of a URL. */
function parts(url: string): { project: string; region?: string; name: string } {
  const m = /projects\/([^/]+)\/(?:regions\/([^/]+)\/|global\/)[^/]+\/([^/]+)$/.exec(url);
  if (!m) throw new Error(`unexpected URL ${url}`);
  return { project: m[1]!, name: m[3]!, ...(m[2] ? { region: m[2] } : {}) };
}

/** The infrastructure a DesiredGce presumes: networks, the ILB subnet, node VMs (one subnet per project x region). */
function seedFor(d: DesiredGce): Seed {
  const projects: Record<string, SeedProject> = {};
  const proj = (p: string): SeedProject => (projects[p] ??= { networks: [], subnetworks: [], instances: [] });
  const net = parts(d.backendServices[0]?.network ?? d.negs[0]?.neg.network ?? `projects/${d.project}/global/networks/default`);
  const sub = parts(String(d.address.subnetwork));
  proj(net.project).networks!.push({ name: net.name });
  proj(sub.project).subnetworks!.push({ name: sub.name, region: sub.region!, network: net.name, ipCidrRange: '10.0.0.0/8' });
  for (const n of d.negs) {
    const p = n.project ?? d.project;
    const region = n.zone.replace(/-[a-z]$/, '');
    const sp = proj(p);
    if (!sp.networks!.some((x) => x.name === net.name)) sp.networks!.push({ name: net.name });
    const subName = p === sub.project && region === sub.region ? sub.name : `nodes-${region}`;
    if (!sp.subnetworks!.some((x) => x.name === subName && x.region === region)) {
      sp.subnetworks!.push({ name: subName, region, network: net.name, ipCidrRange: '10.0.0.0/8' });
    }
    for (const e of n.endpoints) {
      if (!sp.instances!.some((i) => i.name === e.instance)) sp.instances!.push({ name: e.instance, zone: n.zone, subnetwork: subName, networkIP: e.ipAddress, tags: [`${n.cluster}-node`] });
    }
  }
  return { projects };
}

let emu: Emulator | undefined;
let cloud: GceCloud | undefined;
afterEach(async () => {
  await cloud?.close();
  await emu?.stop();
  cloud = undefined;
  emu = undefined;
});

describe('applyGce(renderGce(ir))', () => {
  it.each(['design-store', 'design-app-8080-pinned-ip', 'firewalls-and-global-access', 'shared-forwarding-rules', 'frozen-member', 'udp-health-check-vip-unknown'])(
    '%s: programs, then re-applies with zero writes, then tears down to nothing',
    async (name) => {
      const ir = irOf(name);
      const d = renderGce(ir);
      emu = await startEmulator({ seed: seedFor(d) });
      cloud = new GceCloud({ project: d.project, clientOptions: emu.clientOptions(), operationRetryDelayMs: 20 });
      const r = await applyGce(d, { cloud, fleetId: ir.fleetId });
      expect(r.error, `${String((r.error as Error | undefined)?.message)}\n${describePlan(r.plan).join('\n')}`).toBeUndefined();
      expect(r.programmed).toBe(true);
      expect(r.forwardingRules.sort()).toEqual(d.forwardingRules.map((f) => f.name).sort());
      if (d.address.address) expect(r.vip).toBe(d.address.address);
      // A VIP render already knew (Gateway status) is re-reserved rather than replaced.
      const known = d.forwardingRules.map((f) => f.IPAddress ?? '').find(isIpLiteral);
      if (known) expect(r.vip).toBe(known);

      const before = Object.values(emu.counters()).reduce((n, c) => n + c.writes, 0);
      const again = await applyGce(d, { cloud, fleetId: ir.fleetId });
      expect(describePlan(again.plan)).toEqual([]);
      expect(Object.values(emu.counters()).reduce((n, c) => n + c.writes, 0)).toBe(before);

      const t = await teardownGce({ region: d.region, uid: d.gateway.uid }, { cloud, fleetId: ir.fleetId });
      expect(t.error).toBeUndefined();
      const inv = emu.inventory();
      expect([inv.addresses, inv.healthChecks, inv.backendServices, inv.networkEndpointGroups, inv.forwardingRules, inv.firewalls].flat()).toEqual([]);
    },
  );

  it("existing-address: uses the user's reserved address read-only and never deletes it", async () => {
    const ir = irOf('existing-address');
    const d = renderGce(ir);
    expect(d.addressOwned).toBe(false);
    emu = await startEmulator({ seed: seedFor(d) });
    cloud = new GceCloud({ project: d.project, clientOptions: emu.clientOptions(), operationRetryDelayMs: 20 });
    // Missing address: a user error, nothing written.
    const missing = await applyGce(d, { cloud, fleetId: ir.fleetId });
    expect(missing.programmed).toBe(false);
    expect((missing.error as Error).message).toMatch(/does not exist/);
    expect(Object.values(emu.counters()).reduce((n, c) => n + c.writes, 0)).toBe(0);
    // The user reserves it (no stamp).
    await cloud.insert('address', d.region, {
      name: d.address.name,
      addressType: 'INTERNAL',
      purpose: 'SHARED_LOADBALANCER_VIP',
      subnetwork: d.address.subnetwork ?? null,
      address: '10.77.0.7',
    });
    const r = await applyGce(d, { cloud, fleetId: ir.fleetId });
    expect(r.error).toBeUndefined();
    expect(r.programmed).toBe(true);
    expect(r.vip).toBe('10.77.0.7');
    expect(emu.audit().filter((a) => a.access === 'write' && a.method.startsWith('addresses.'))).toHaveLength(1); // the user's insert only
    const t = await teardownGce({ region: d.region, uid: d.gateway.uid }, { cloud, fleetId: ir.fleetId });
    expect(t.done).toBe(true);
    expect(emu.inventory().addresses.map((a) => a['name'])).toEqual([d.address.name]);
    expect(emu.inventory().forwardingRules).toEqual([]);
  });

  it('nodename-mapping-other-project: NEGs in a member project are created, diffed and torn down there', async () => {
    const ir = irOf('nodename-mapping-other-project');
    // This golden puts member n's nodes in us-east1 while the ILB is in europe-west1; GCE (and the
    // emulator) refuse backends outside the backend service's region, so move them into the region.
    const d = JSON.parse(
      JSON.stringify(renderGce(ir)).replaceAll('us-east1-b', 'europe-west1-c').replaceAll('us-east1-c', 'europe-west1-d'),
    ) as DesiredGce;
    const other = [...new Set(d.negs.map((n) => n.project).filter((p): p is string => p !== undefined))];
    // The emulator's seed cannot put a service-project VM on a host-project subnet (Shared VPC), so
    // the member's NEGs use the member project's own network of the same name here.
    for (const n of d.negs) if (n.project !== undefined) n.neg.network = String(n.neg.network).replace(`/projects/${d.project}/`, `/projects/${n.project}/`);
    expect(other.length).toBeGreaterThan(0);
    emu = await startEmulator({ seed: seedFor(d) });
    cloud = new GceCloud({ project: d.project, clientOptions: emu.clientOptions(), operationRetryDelayMs: 20 });
    const r = await applyGce(d, { cloud, fleetId: ir.fleetId });
    expect(r.error, `${String((r.error as Error | undefined)?.message)}`).toBeUndefined();
    expect(r.programmed).toBe(true);
    const negProjects = emu.inventory().networkEndpointGroups.map((n) => String(n['selfLink']).split('/projects/')[1]!.split('/')[0]);
    expect(new Set(negProjects)).toEqual(new Set([d.project, ...other]));
    const before = Object.values(emu.counters()).reduce((n, c) => n + c.writes, 0);
    const again = await applyGce(d, { cloud, fleetId: ir.fleetId });
    expect(describePlan(again.plan)).toEqual([]);
    expect(Object.values(emu.counters()).reduce((n, c) => n + c.writes, 0)).toBe(before);
    const t = await teardownGce({ region: d.region, uid: d.gateway.uid, negProjects: other }, { cloud, fleetId: ir.fleetId });
    expect(t.error).toBeUndefined();
    expect(emu.inventory().networkEndpointGroups).toEqual([]);
  });
});
