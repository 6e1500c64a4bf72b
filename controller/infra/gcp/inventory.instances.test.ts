// SPDX-License-Identifier: Apache-2.0
//
// The inventory's instance facts for name-mapped nodes (translate/checks/nodes.ts): exists, known
// absent (re-read after ABSENT_RECHECK_MS), unknown when a read fails (never taken as absent).
import { describe, expect, it } from 'vitest';
import type { GceCloud } from './cloud/client.ts';
import { ABSENT_RECHECK_MS, GceInventory } from './inventory.ts';

function fakeCloud(vms: Map<string, string[]>, calls: string[], fail: { list?: boolean; get?: boolean } = {}): GceCloud {
  const view = {
    listAllInstances: () => {
      calls.push('list');
      if (fail.list === true) return Promise.reject(new Error('403 forbidden'));
      return Promise.resolve([...vms].map(([zi, tags]) => ({ zone: zi.split('/')[0] ?? '', instance: { name: zi.split('/')[1] ?? '', tags: { items: tags } } })));
    },
    getInstance: (zone: string, name: string) => {
      calls.push(`get ${zone}/${name}`);
      if (fail.get === true) return Promise.reject(new Error('503 backend error'));
      const t = vms.get(`${zone}/${name}`);
      return Promise.resolve(t === undefined ? undefined : { name, tags: { items: t } });
    },
  };
  return { forProject: () => view } as unknown as GceCloud;
}

describe('GceInventory.instancesExist', () => {
  it('exists from the one list; absent after one GET, not read again until the recheck, then seen once created', async () => {
    const vms = new Map([['z-b/vm-1', ['t1']]]);
    const calls: string[] = [];
    let now = 1_000;
    const inv = new GceInventory({ cloud: fakeCloud(vms, calls), fleetId: 'f', nowMs: () => now });
    expect(await inv.instancesExist('p', ['z-b/vm-1', 'z-b/vm-2'])).toEqual(new Map([['z-b/vm-1', true], ['z-b/vm-2', false]]));
    expect(calls).toEqual(['list', 'get z-b/vm-2']);
    // Known absent: no GET per reconcile; its tags are known to be none.
    expect(await inv.instancesExist('p', ['z-b/vm-2'])).toEqual(new Map([['z-b/vm-2', false]]));
    expect(await inv.instanceTags('p', ['z-b/vm-1', 'z-b/vm-2'])).toEqual(new Map([['z-b/vm-1', ['t1']], ['z-b/vm-2', []]]));
    expect(calls).toHaveLength(2);
    vms.set('z-b/vm-2', ['t2']);
    now += ABSENT_RECHECK_MS;
    expect(await inv.instancesExist('p', ['z-b/vm-2'])).toEqual(new Map([['z-b/vm-2', true]]));
    expect(calls).toEqual(['list', 'get z-b/vm-2', 'get z-b/vm-2']);
  });
  it('unknown is not absent: a failed list or GET leaves the instance out of the map', async () => {
    const calls: string[] = [];
    const listFails = new GceInventory({ cloud: fakeCloud(new Map(), calls, { list: true }), fleetId: 'f' });
    expect(await listFails.instancesExist('p', ['z-b/vm-1'])).toEqual(new Map());
    const getFails = new GceInventory({ cloud: fakeCloud(new Map(), calls, { get: true }), fleetId: 'f' });
    expect(await getFails.instancesExist('p', ['z-b/vm-1'])).toEqual(new Map());
  });
  it('a refresh replaces the list: a VM deleted since is no longer taken to exist', async () => {
    const vms = new Map([['z-b/vm-1', []]]);
    const calls: string[] = [];
    const inv = new GceInventory({ cloud: fakeCloud(vms, calls), fleetId: 'f' });
    expect(await inv.instancesExist('p', ['z-b/vm-1'])).toEqual(new Map([['z-b/vm-1', true]]));
    vms.clear();
    await inv.refresh();
    expect(await inv.instancesExist('p', ['z-b/vm-1'])).toEqual(new Map([['z-b/vm-1', false]]));
  });
});
