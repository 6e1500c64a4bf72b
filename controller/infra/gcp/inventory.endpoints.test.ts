// SPDX-License-Identifier: Apache-2.0
//
// The inventory's NEG endpoint facts (docs/architecture.md "The shared GCE inventory"): one list per
// NEG however many reconciles ask at once, and a reconcile that asks while another Gateway's sync
// of the same NEG runs takes the set that sync leaves instead of listing a NEG mid-change
// (bench:scale's one-endpoint change and restart at N = 1000 listed some NEGs several times).
import { describe, expect, it } from 'vitest';
import type { GceCloud, INetworkEndpoint } from './cloud/client.ts';
import { GceInventory } from './inventory.ts';
import { fleetPrefix } from '../../naming/names.ts';

const NEG = `${fleetPrefix('f')}neg-a`;

function fakeCloud(calls: string[], holds: () => INetworkEndpoint[]): { cloud: GceCloud; release: () => void } {
  let open: () => void = () => {};
  let gate = new Promise<void>((r) => (open = r));
  const view = {
    list: () => Promise.resolve([]),
    listAllNegs: () => Promise.resolve([{ zone: 'z-a', neg: { name: NEG, description: '' } }]),
    listNetworkEndpoints: async (zone: string, name: string) => {
      calls.push(`list ${zone}/${name}`);
      await gate;
      return holds();
    },
  };
  return {
    cloud: { forProject: () => view } as unknown as GceCloud,
    release: () => {
      open();
      gate = Promise.resolve();
    },
  };
}

const ep = (instance: string): INetworkEndpoint => ({ instance, ipAddress: '10.0.0.1' });

/**
 * Resolves once every promise chain started so far has run to a wait that needs the test (the fake
 * cloud's gate, the NEG's lock): the fake cloud answers without I/O, so nothing is left but those.
 * A macrotask runs only after the microtask queue is empty.
 */
const settled = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('GceInventory NEG endpoints', () => {
  it('reconciles asking at once share one list', async () => {
    const calls: string[] = [];
    const { cloud, release } = fakeCloud(calls, () => [ep('vm-1')]);
    const inv = new GceInventory({ cloud, fleetId: 'f' });
    const asks = Array.from({ length: 8 }, () => inv.negInstances('p', [{ zone: 'z-a', name: NEG }]));
    await settled();
    release();
    for (const r of await Promise.all(asks)) expect(r.get(`p/z-a/${NEG}`)).toEqual(['vm-1']);
    expect(calls).toEqual([`list z-a/${NEG}`]);
    // Known now: no list at all.
    await inv.negInstances('p', [{ zone: 'z-a', name: NEG }]);
    expect(calls).toHaveLength(1);
  });

  it('asked during another Gateway\'s sync of the NEG: the set that sync leaves, no list', async () => {
    const calls: string[] = [];
    const { cloud, release } = fakeCloud(calls, () => [ep('vm-old')]);
    release();
    const inv = new GceInventory({ cloud, fleetId: 'f' });
    expect((await inv.negInstances('p', [{ zone: 'z-a', name: NEG }])).get(`p/z-a/${NEG}`)).toEqual(['vm-old']);
    let finishSync: () => void = () => {};
    const synced = new Promise<void>((r) => (finishSync = r));
    // What apply's NEG step does inside the NEG's lock: forget, attach/detach, record the new set.
    const sync = inv.withShared(`p/z-a/${NEG}`, async () => {
      inv.forgetEndpoints('p', 'z-a', NEG);
      await synced;
      inv.setEndpoints('p', 'z-a', NEG, [ep('vm-new')]);
    });
    const asked = inv.negInstances('p', [{ zone: 'z-a', name: NEG }]);
    await settled();
    finishSync();
    await sync;
    expect((await asked).get(`p/z-a/${NEG}`)).toEqual(['vm-new']);
    expect(calls).toEqual([`list z-a/${NEG}`]);
  });

  it('a list that a sync overtook is returned to its caller but not kept', async () => {
    const calls: string[] = [];
    const { cloud, release } = fakeCloud(calls, () => [ep('vm-old')]);
    const inv = new GceInventory({ cloud, fleetId: 'f' });
    const asked = inv.negInstances('p', [{ zone: 'z-a', name: NEG }]);
    await settled();
    inv.setEndpoints('p', 'z-a', NEG, [ep('vm-new')]);
    release();
    await asked;
    expect(inv.knownEndpoints('p', 'z-a', NEG)?.map((e) => e.instance)).toEqual(['vm-new']);
  });
});
