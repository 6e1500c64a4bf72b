// SPDX-License-Identifier: Apache-2.0
//
// Battery D2 and E2 (test/battery/README.md) through a fault proxy between the controller and one
// member apiserver (test/battery/kubeproxy.ts; the member's kubeconfig Secret points at it):
// * E2: every member watch ends with 410 Gone; the controller relists data that did not change:
//   zero GCE writes and no change of the NEGs.
// * D2: the member answers ONE relist of its EndpointSlices and Nodes with a successful EMPTY list,
//   then the real data again: zero NEG detach calls (zero GCE writes at all), NEG endpoints unchanged
//   (ingress-gce's degraded-mode lesson: never apply a 100 % detach of a serving member on one list).
// * D2 control: the same empty answer that HOLDS for two lists at least the confirm delay apart is
//   applied — the store is then really empty (detach follows in the NEGs; not asserted here: the
//   data is restored right after, so the item leaves the fleet as it found it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitGatewayCondition } from '../fixtures/conditions.ts';
import { actualNegs } from '../fixtures/expect.ts';
import { waitFor } from '../fixtures/kube.ts';
import type { Scenario } from '../fixtures/scenario.ts';
import type { KubeFaultProxy } from './kubeproxy.ts';
import { firewallsOf, itemFleet, releaseFleet, quick, auditMark, recordRow, writesSince, newRow, proxyMember, MEMBER_SLICES, MEMBER_NODES, MEMBER_COLLECTIONS } from './lib.ts';

const SLICES = MEMBER_SLICES;
const NODES = MEMBER_NODES;
const MEMBER_WATCHES = MEMBER_COLLECTIONS;
/** Time for writes a relist might (wrongly) cause. */
const WINDOW_MS = quick() ? 5_000 : 10_000;

describe('D2/E2: empty relist and 410 relist of a member through a fault proxy', () => {
  let s: Scenario;
  let proxy: KubeFaultProxy;
  let members: string[];
  let restore: (() => Promise<void>) | undefined;
  const d2 = newRow('D2', 'one EMPTY relist of a serving member (slices + nodes)', /^D2:/);
  const e2 = newRow('E2', '410 Gone on every member watch, data unchanged', /^E2:/);

  beforeAll(async () => {
    s = await itemFleet(); // quick mode: --member-empty-list-confirm 5 s (lib.ts)
    members = s.fleet.members.map((m) => m.name);
    await waitGatewayCondition(s.kube('config'), 'store', 'store', 'Programmed', 120_000);
    await waitFor(() => firewallsOf(s.emulator, 'store', 'store') >= 2, 60_000, 'store firewalls');
    // Route member-a through the proxy (a credential rotation for the controller).
    ({ proxy, restore } = await proxyMember(s, 0));
    // Let the reconciles the rotation may cause finish.
    await new Promise((r) => setTimeout(r, WINDOW_MS));
  });

  afterAll(async () => {
    recordRow(d2);
    recordRow(e2);
    await restore?.();
    await releaseFleet(s);
  });

  it('E2: a 410 relist of unchanged data makes zero GCE writes', async () => {
    const before = actualNegs(s.emulator, members);
    const mark = auditMark(s.emulator);
    const lists0 = proxy.count(SLICES).lists + proxy.count(NODES).lists;
    expect(proxy.gone(MEMBER_WATCHES)).toBeGreaterThan(0);
    await waitFor(() => proxy.count(SLICES).lists + proxy.count(NODES).lists >= lists0 + 2, 60_000, 'the relists after 410');
    await new Promise((r) => setTimeout(r, WINDOW_MS)); // reconciles the relist might (wrongly) cause
    const writes = writesSince(s.emulator, mark);
    e2.runs++;
    e2.forbiddenWrites += writes.length;
    const failures: string[] = [];
    if (writes.length > 0) failures.push(`${writes.length} GCE writes after a 410 relist of unchanged data: ${writes.slice(0, 5).map((w) => w.method).join(', ')}`);
    if (JSON.stringify(actualNegs(s.emulator, members)) !== JSON.stringify(before)) failures.push('NEG endpoints changed');
    e2.failures.push(...failures);
    expect(failures).toEqual([]);
  });

  it('D2: one successful EMPTY relist of a serving member detaches nothing', async () => {
    const before = actualNegs(s.emulator, members);
    const mark = auditMark(s.emulator);
    const t0 = Date.now();
    proxy.emptyNextList(SLICES);
    proxy.emptyNextList(NODES);
    proxy.gone(MEMBER_WATCHES);
    await waitFor(() => proxy.count(SLICES).emptyLists >= 1 && proxy.count(NODES).emptyLists >= 1, 60_000, 'the empty lists served');
    const listsAfterEmpty = proxy.count(SLICES).lists;
    // The confirming list (the real data) comes after the controller's confirm delay (60 s by default, 5 s in quick mode).
    await waitFor(() => proxy.count(SLICES).lists > listsAfterEmpty, 150_000, 'the confirming relist').catch(() => undefined);
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const writes = writesSince(s.emulator, mark);
    const detaches = writes.filter((w) => w.method === 'networkEndpointGroups.detachNetworkEndpoints');
    d2.runs++;
    d2.forbiddenWrites += writes.length;
    d2.convergeMs = Date.now() - t0;
    const failures: string[] = [];
    if (detaches.length > 0) failures.push(`${detaches.length} NEG detach calls after one empty relist`);
    if (writes.length > detaches.length) failures.push(`${writes.length - detaches.length} other GCE writes: ${writes.filter((w) => !w.method.endsWith('detachNetworkEndpoints')).slice(0, 5).map((w) => w.method).join(', ')}`);
    if (JSON.stringify(actualNegs(s.emulator, members)) !== JSON.stringify(before)) failures.push('NEG endpoints changed');
    d2.failures.push(...failures);
    expect(failures).toEqual([]);
  });
});
