// SPDX-License-Identifier: Apache-2.0
//
// MemberIndex: fleet-ilb's own VIP Services and mirrored EndpointSlices by their Gateway uid label,
// kept by add/update/delete events (a label changed or removed moves or drops the entry), and
// EndpointSlices by key. The VIP apply of one Gateway reads these instead of scanning the member.
import { describe, expect, it } from 'vitest';
import { LABEL_GATEWAY_UID } from '../naming/labels.ts';
import type { StoredObject } from '../runtime/reflector.ts';
import { MemberIndex } from './indexes.ts';

const obj = (name: string, labels: Record<string, string> = {}): StoredObject => ({ metadata: { namespace: 'ns', name, labels }, spec: { ports: [] } }) as StoredObject;
const names = (os: ReadonlyArray<{ metadata: { name: string } }>): string[] => os.map((o) => o.metadata.name).sort();

describe('MemberIndex owned VIP objects', () => {
  it('indexes Services by their Gateway uid label through add, relabel and delete', () => {
    const m = new MemberIndex();
    m.apply('services', 'add', obj('app'));
    m.apply('services', 'add', obj('vip-a1', { [LABEL_GATEWAY_UID]: 'uid-a' }));
    m.apply('services', 'add', obj('vip-a2', { [LABEL_GATEWAY_UID]: 'uid-a' }));
    m.apply('services', 'add', obj('vip-b1', { [LABEL_GATEWAY_UID]: 'uid-b' }));
    expect(names(m.ownedServices('uid-a'))).toEqual(['vip-a1', 'vip-a2']);
    expect(names(m.ownedServices('uid-b'))).toEqual(['vip-b1']);
    expect(m.ownedServices('uid-c')).toEqual([]);
    // Someone relabels a2 to b, strips b1's label: the index follows.
    m.apply('services', 'update', obj('vip-a2', { [LABEL_GATEWAY_UID]: 'uid-b' }), obj('vip-a2', { [LABEL_GATEWAY_UID]: 'uid-a' }));
    m.apply('services', 'update', obj('vip-b1'), obj('vip-b1', { [LABEL_GATEWAY_UID]: 'uid-b' }));
    expect(names(m.ownedServices('uid-a'))).toEqual(['vip-a1']);
    expect(names(m.ownedServices('uid-b'))).toEqual(['vip-a2']);
    m.apply('services', 'delete', obj('vip-a1', { [LABEL_GATEWAY_UID]: 'uid-a' }));
    expect(m.ownedServices('uid-a')).toEqual([]);
    expect(m.services.has('ns/app')).toBe(true);
  });

  it('indexes EndpointSlices by key and by their Gateway uid label', () => {
    const m = new MemberIndex();
    const s = (name: string, uid?: string): StoredObject =>
      obj(name, { 'kubernetes.io/service-name': 'vip', ...(uid === undefined ? {} : { [LABEL_GATEWAY_UID]: uid }) });
    m.apply('endpointslices', 'add', s('vip-1', 'uid-a'));
    m.apply('endpointslices', 'add', s('app-x'));
    expect(m.slice('ns/vip-1')?.metadata.name).toBe('vip-1');
    expect(m.slice('ns/app-x')?.metadata.name).toBe('app-x');
    expect(names(m.ownedSlices('uid-a'))).toEqual(['vip-1']);
    m.apply('endpointslices', 'update', s('vip-1', 'uid-b'), s('vip-1', 'uid-a'));
    expect(m.ownedSlices('uid-a')).toEqual([]);
    expect(names(m.ownedSlices('uid-b'))).toEqual(['vip-1']);
    m.apply('endpointslices', 'delete', s('vip-1', 'uid-b'));
    expect(m.slice('ns/vip-1')).toBeUndefined();
    expect(m.ownedSlices('uid-b')).toEqual([]);
  });
});

describe('MemberIndex nodeList', () => {
  it('is the same frozen array until a Node is added, changed or deleted', () => {
    const m = new MemberIndex();
    const n = (name: string, rv: string): StoredObject => ({ metadata: { name, resourceVersion: rv } });
    m.apply('nodes', 'add', n('a', '1'));
    const l1 = m.nodeList();
    expect(Object.isFrozen(l1)).toBe(true);
    expect(m.nodeList()).toBe(l1);
    m.apply('services', 'add', obj('svc')); // not a Node: same array
    expect(m.nodeList()).toBe(l1);
    m.apply('nodes', 'update', n('a', '2'), n('a', '1'));
    const l2 = m.nodeList();
    expect(l2).not.toBe(l1);
    expect(l2.map((x) => x.metadata.resourceVersion)).toEqual(['2']);
    m.apply('nodes', 'delete', n('a', '2'));
    expect(m.nodeList()).toEqual([]);
  });
});
