// SPDX-License-Identifier: Apache-2.0
//
// The shared GCE inventory (controller/infra/gcp/inventory.ts) against the Compute API emulator:
// apply reads its facts from the inventory instead of listing per Gateway, a resync is one list per
// kind per project/region plus one endpoint list per NEG, and a failed read never deletes anything
// (issue 9 defect 1: a 403 on firewalls.list once deleted and re-created both live firewalls).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../emulator/index.ts';
import { GceCloud } from '../../controller/infra/gcp/cloud/client.ts';
import { applyGce, teardownGce } from '../../controller/infra/gcp/apply.ts';
import { GceInventory, hcKey } from '../../controller/infra/gcp/inventory.ts';
import type { DesiredGce } from '../../controller/infra/gcp/desired.ts';
import { FLEET, PROJECT, desiredFor, names, oneListener, seed, sharingHealthChecks, sharingNegs } from './gce-apply.fixture.ts';
import { negKey } from '../../controller/infra/gcp/observe.ts';
import { sweepGce } from '../../controller/infra/gcp/sweep.ts';

let emu: Emulator;
const clouds: GceCloud[] = [];

function cloud(): GceCloud {
  const c = new GceCloud({ project: PROJECT, clientOptions: emu.clientOptions(), operationRetryDelayMs: 20 });
  clouds.push(c);
  return c;
}

const reads = (): string[] => emu.audit().filter((a) => a.access !== 'write').map((a) => a.method);
const writes = (): string[] => emu.audit().filter((a) => a.access === 'write').map((a) => `${a.method} ${a.resource ?? ''}`);

/** The fixture Gateway with client ranges (two firewalls) and the VIP as render gives it. */
function gateway(): { desired: DesiredGce; n: ReturnType<typeof names> } {
  const g = oneListener({ clientRanges: ['10.0.0.0/8'] });
  return { desired: desiredFor(g), n: names(g) };
}

beforeEach(async () => {
  emu = await startEmulator({ seed: seed(), operationLatencyMs: 0 });
});

afterEach(async () => {
  await Promise.all(clouds.splice(0).map((c) => c.close()));
  await emu.stop();
});

describe('shared inventory', () => {
  it('a converged Gateway re-applied from the inventory reads nothing and writes nothing', async () => {
    const { desired } = gateway();
    const c = cloud();
    const inv = new GceInventory({ cloud: c, fleetId: FLEET });
    const first = await applyGce(desired, { cloud: c, fleetId: FLEET, inventory: inv });
    expect(first.error).toBeUndefined();
    expect(first.programmed).toBe(true);
    // The next apply re-reads (one GET each) only what the first one wrote...
    await applyGce(desired, { cloud: c, fleetId: FLEET, inventory: inv });
    emu.resetAudit();
    // ...and the one after that needs no call at all.
    const third = await applyGce(desired, { cloud: c, fleetId: FLEET, inventory: inv });
    expect(third.changes).toBe(0);
    expect(third.programmed).toBe(true);
    expect(emu.audit()).toEqual([]);
  });

  it('a resync is one list per kind per project/region plus one endpoint list per NEG, and writes nothing', async () => {
    const { desired } = gateway();
    const c = cloud();
    const inv = new GceInventory({ cloud: c, fleetId: FLEET });
    await applyGce(desired, { cloud: c, fleetId: FLEET, inventory: inv });
    emu.resetAudit();
    const stats = await inv.refresh();
    const negs = desired.negs.length;
    // addresses, health checks, backend services, forwarding rules (region) + firewalls + NEGs (aggregated).
    expect(stats).toMatchObject({ lists: 6, endpointLists: negs, failed: 0 });
    expect(reads().sort()).toEqual(
      [
        'addresses.list',
        'firewalls.list',
        'networkEndpointGroups.aggregatedList',
        'regionBackendServices.list',
        'regionHealthChecks.list',
        'forwardingRules.list',
        ...Array.from({ length: negs }, () => 'networkEndpointGroups.listNetworkEndpoints'),
      ].sort(),
    );
    emu.resetAudit();
    const again = await applyGce(desired, { cloud: c, fleetId: FLEET, inventory: inv });
    expect(again.changes).toBe(0);
    expect(emu.audit()).toEqual([]);
  });

  it('a failed read never deletes a live firewall: 403 on firewalls.list at a restart and during a resync', async () => {
    const { desired, n } = gateway();
    const c = cloud();
    const inv = new GceInventory({ cloud: c, fleetId: FLEET });
    expect((await applyGce(desired, { cloud: c, fleetId: FLEET, inventory: inv })).programmed).toBe(true);
    const live = (): string[] => emu.inventory().firewalls.map((f) => String(f['name'])).sort();
    expect(live()).toEqual([n.fwClients, n.fwHc].sort());

    // A resync whose firewall list is refused keeps the facts it had; the apply after it writes nothing.
    const forbidden = { kind: 'http' as const, status: 403, reason: 'rateLimitExceeded', message: 'Rate Limit Exceeded' };
    const f1 = emu.faults.inject({ method: 'firewalls.list', action: forbidden });
    emu.resetAudit();
    const stats = await inv.refresh();
    expect(stats.failed).toBe(1);
    const res = await applyGce(desired, { cloud: c, fleetId: FLEET, inventory: inv });
    expect(writes()).toEqual([]);
    expect(res.programmed).toBe(true);
    expect(live()).toEqual([n.fwClients, n.fwHc].sort());

    // A restarted controller (empty inventory) whose first firewall list fails plans nothing at all.
    const fresh = new GceInventory({ cloud: c, fleetId: FLEET });
    const r2 = await applyGce(desired, { cloud: c, fleetId: FLEET, inventory: fresh });
    expect(r2.readFailed).toBe(true);
    expect(r2.changes).toBe(0);
    expect(writes()).toEqual([]);
    emu.faults.clear(f1);
    // Once the list answers, the same inventory converges with no write.
    const r3 = await applyGce(desired, { cloud: c, fleetId: FLEET, inventory: fresh });
    expect(r3.readFailed).toBeUndefined();
    expect(r3.changes).toBe(0);
    expect(live()).toEqual([n.fwClients, n.fwHc].sort());
  });

  it('unknown node tags keep the live firewall targets (firewallTagsIncomplete); known tags may narrow them', async () => {
    const { desired, n } = gateway();
    const c = cloud();
    const inv = new GceInventory({ cloud: c, fleetId: FLEET });
    await applyGce(desired, { cloud: c, fleetId: FLEET, inventory: inv });
    const targets = (): string[] => (emu.inventory().firewalls.find((f) => f['name'] === n.fwHc)?.['targetTags'] as string[]).slice().sort();
    const before = targets();
    expect(before.length).toBeGreaterThan(1);
    // Render saw only the first tag (the other members' instance lookups failed): incomplete.
    const narrowed = (d: DesiredGce): DesiredGce => ({ ...d, firewalls: d.firewalls.map((f) => ({ ...f, targetTags: [before[0]!] })) });
    const kept = await applyGce({ ...narrowed(desired), firewallTagsIncomplete: true }, { cloud: c, fleetId: FLEET, inventory: inv });
    expect(kept.changes).toBe(0);
    expect(targets()).toEqual(before);
    // Positive control: with every tag known, the same desired state does narrow the targets.
    const known = await applyGce(narrowed(desired), { cloud: c, fleetId: FLEET, inventory: inv });
    expect(known.changes).toBeGreaterThan(0);
    expect(targets()).toEqual([before[0]]);
  });

  it('instance tags: one aggregatedList per project, then known per instance; a failed lookup stays unknown', async () => {
    const c = cloud();
    const inv = new GceInventory({ cloud: c, fleetId: FLEET });
    emu.resetAudit();
    const tags = await inv.instanceTags(PROJECT, ['us-central1-a/a-za-1', 'us-central1-a/b-za-1', 'us-central1-a/no-such-vm']);
    expect(Object.fromEntries(tags)).toEqual({ 'us-central1-a/a-za-1': ['a-node'], 'us-central1-a/b-za-1': ['b-node'], 'us-central1-a/no-such-vm': [] });
    expect(reads().filter((m) => m !== 'instances.get')).toEqual(['instances.aggregatedList']);
    // A fresh inventory whose instance list fails knows no tag at all (unknown, not "none").
    const f = emu.faults.inject({ method: 'instances.aggregatedList', action: { kind: 'http', status: 403, reason: 'forbidden', message: 'Required compute.instances.list permission' } });
    const other = new GceInventory({ cloud: c, fleetId: FLEET });
    expect((await other.instanceTags(PROJECT, ['us-central1-a/a-za-1'])).size).toBe(0);
    emu.faults.clear(f);
  });

  it('a teardown right after a create finds what the create wrote (not read back yet) and deletes it all', async () => {
    const { desired } = gateway();
    const c = cloud();
    const inv = new GceInventory({ cloud: c, fleetId: FLEET });
    expect((await applyGce(desired, { cloud: c, fleetId: FLEET, inventory: inv })).programmed).toBe(true);
    const td = await teardownGce({ region: desired.region, uid: desired.gateway.uid }, { cloud: c, fleetId: FLEET, inventory: inv });
    expect(td.done).toBe(true);
    const left = emu.inventory();
    for (const kind of ['addresses', 'healthChecks', 'backendServices', 'forwardingRules', 'networkEndpointGroups', 'firewalls'] as const) expect(left[kind], kind).toEqual([]);
  });

  it('previousIncarnations: another uid stamped for the same Gateway name is found from a fresh read, and forgotten once torn down', async () => {
    const { desired } = gateway();
    const c = cloud();
    expect((await applyGce(desired, { cloud: c, fleetId: FLEET })).programmed).toBe(true);
    // A new process (restart): it learns the old incarnation from its first read of the scope.
    const inv = new GceInventory({ cloud: c, fleetId: FLEET });
    await inv.load(PROJECT, desired.region);
    const key = `${desired.gateway.namespace}/${desired.gateway.name}`;
    expect(inv.previousIncarnations(key, 'uid-web-0002')).toEqual([desired.gateway.uid]);
    expect(inv.previousIncarnations(key, desired.gateway.uid)).toEqual([]);
    expect(inv.previousIncarnations('other/gateway', 'uid-web-0002')).toEqual([]);
    const td = await teardownGce({ region: desired.region, uid: desired.gateway.uid }, { cloud: c, fleetId: FLEET, inventory: inv });
    expect(td.done).toBe(true);
    expect(inv.previousIncarnations(key, 'uid-web-0002')).toEqual([]);
  });

  it('shared NEGs and health checks: a second Gateway writes none; a teardown keeps those another Gateway references or claims; the last user deletes them', async () => {
    const a = sharingHealthChecks(sharingNegs(desiredFor(oneListener())));
    const b = sharingHealthChecks(sharingNegs(desiredFor(oneListener({ name: 'api', uid: 'uid-api-0002' }))));
    const negNames = (): string[] => emu.inventory().networkEndpointGroups.map((x) => `${String(x['zone']).split('/').pop()}/${String(x['name'])}`).sort();
    const hcNames = (): string[] => emu.inventory().healthChecks.map((x) => String(x['name'])).sort();
    const negWrites = (): string[] => writes().filter((w) => w.startsWith('NetworkEndpointGroups') || /networkEndpointGroups/i.test(w));
    const hcWrites = (): string[] => writes().filter((w) => /healthChecks/i.test(w));
    const c = cloud();
    const inv = new GceInventory({ cloud: c, fleetId: FLEET });
    expect((await applyGce(a, { cloud: c, fleetId: FLEET, inventory: inv })).programmed).toBe(true);
    const shared = negNames();
    expect(shared).toHaveLength(4);
    const sharedHcs = hcNames();
    expect(sharedHcs).toEqual(a.healthChecks.map((h) => h.name));
    emu.resetAudit();
    const rb = await applyGce(b, { cloud: c, fleetId: FLEET, inventory: inv });
    expect(rb.programmed).toBe(true);
    expect(negWrites()).toEqual([]);
    expect(hcWrites()).toEqual([]);

    // b's backend service references the NEGs: a's teardown leaves them.
    const ta = await teardownGce({ region: a.region, uid: a.gateway.uid }, { cloud: c, fleetId: FLEET, inventory: inv });
    expect(ta.done).toBe(true);
    expect(negNames()).toEqual(shared);
    expect(hcNames()).toEqual(sharedHcs);
    expect(emu.inventory().backendServices.map((x) => x['name'])).toEqual(b.backendServices.map((x) => x.name));

    // Claimed by a Gateway whose backend service does not exist yet (rendered, not applied): kept too.
    const keys = [...b.negs.map((n) => negKey(b.project, n.zone, n.neg.name)), ...b.healthChecks.map((h) => hcKey(b.project, b.region, h.name))];
    inv.claim('uid-third', keys);
    const tb1 = await teardownGce({ region: b.region, uid: b.gateway.uid }, { cloud: c, fleetId: FLEET, inventory: inv });
    expect(tb1.done).toBe(true);
    expect(negNames()).toEqual(shared);
    expect(hcNames()).toEqual(sharedHcs);
    expect(emu.inventory().backendServices).toEqual([]);

    // The claim goes (that Gateway was deleted): the sweep finds them unused and deletes them.
    inv.release('uid-third');
    const sw = await sweepGce(FLEET, [], { cloud: c, regions: [a.region], minAgeMs: 0, inventory: inv });
    expect(sw.errors).toEqual([]);
    expect(negNames()).toEqual([]);
    expect(hcNames()).toEqual([]);
  });

  it('shared NEGs: two Gateways applied at once insert each NEG once and attach each endpoint once', async () => {
    const a = sharingNegs(desiredFor(oneListener()));
    const b = sharingNegs(desiredFor(oneListener({ name: 'api', uid: 'uid-api-0002' })));
    const c = cloud();
    const inv = new GceInventory({ cloud: c, fleetId: FLEET });
    const [ra, rb] = await Promise.all([applyGce(a, { cloud: c, fleetId: FLEET, inventory: inv }), applyGce(b, { cloud: c, fleetId: FLEET, inventory: inv })]);
    expect([ra.error, rb.error]).toEqual([undefined, undefined]);
    expect([ra.programmed, rb.programmed]).toEqual([true, true]);
    const negCalls = emu.audit().filter((x) => /networkEndpointGroups/i.test(x.path) && x.access === 'write');
    const count = (m: RegExp): number => negCalls.filter((x) => m.test(x.method)).length;
    expect(count(/insert/i)).toBe(a.negs.length);
    expect(count(/attachNetworkEndpoints/i)).toBe(a.negs.length);
    expect(count(/detach/i)).toBe(0);
  });
});
