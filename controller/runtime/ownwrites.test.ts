// SPDX-License-Identifier: Apache-2.0
//
// OwnWrites: the version our last write of an object produced is "own"; any other version, another
// object, another member, or an unknown version is not.
import { describe, expect, it } from 'vitest';
import { OwnWrites } from './ownwrites.ts';

describe('OwnWrites', () => {
  it('recognises the version its last write of that object produced, nothing else', () => {
    const w = new OwnWrites();
    w.record('m1', 'services', 'ns/a', '10');
    expect(w.isOwn('m1', 'services', 'ns/a', '10')).toBe(true);
    expect(w.isOwn('m1', 'services', 'ns/a', '11')).toBe(false); // someone else's change after ours
    expect(w.isOwn('m2', 'services', 'ns/a', '10')).toBe(false);
    expect(w.isOwn('m1', 'endpointslices', 'ns/a', '10')).toBe(false);
    expect(w.isOwn('m1', 'services', 'ns/a', undefined)).toBe(false);
    w.record('m1', 'services', 'ns/a', '12'); // a later write of ours replaces the earlier version
    expect(w.isOwn('m1', 'services', 'ns/a', '10')).toBe(false);
    expect(w.isOwn('m1', 'services', 'ns/a', '12')).toBe(true);
    w.record('m1', 'services', 'ns/a', undefined); // a write whose version we did not learn
    expect(w.isOwn('m1', 'services', 'ns/a', '12')).toBe(false);
  });
});
