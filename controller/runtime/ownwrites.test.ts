// SPDX-License-Identifier: Apache-2.0
//
// OwnWrites: the versions our recent writes of an object produced are "own"; any other version,
// another object, another member, or an unknown version is not.
import { describe, expect, it } from 'vitest';
import { OwnWrites } from './ownwrites.ts';

describe('OwnWrites', () => {
  it('recognises the version its write of that object produced, nothing else', () => {
    const w = new OwnWrites();
    w.record('m1', 'services', 'ns/a', '10');
    expect(w.isOwn('m1', 'services', 'ns/a', '11')).toBe(false); // someone else's change after ours
    expect(w.isOwn('m2', 'services', 'ns/a', '10')).toBe(false);
    expect(w.isOwn('m1', 'endpointslices', 'ns/a', '10')).toBe(false);
    expect(w.isOwn('m1', 'services', 'ns/a', undefined)).toBe(false);
    expect(w.isOwn('m1', 'services', 'ns/a', '10')).toBe(true);
  });

  it('knows both versions of a write followed by a status write; a change between them is not ours', () => {
    const w = new OwnWrites();
    w.record('m1', 'services', 'ns/a', '10'); // apply
    w.record('m1', 'services', 'ns/a', '12'); // status patch (someone else wrote 11 in between)
    expect(w.isOwn('m1', 'services', 'ns/a', '10')).toBe(true);
    expect(w.isOwn('m1', 'services', 'ns/a', '11')).toBe(false);
    expect(w.isOwn('m1', 'services', 'ns/a', '12')).toBe(true);
    // The latest echo arrived: the entry is gone (only writes in flight are held).
    expect(w.size).toBe(0);
    expect(w.isOwn('m1', 'services', 'ns/a', '12')).toBe(false);
  });

  it('forgets what a write whose version was not learned overwrote', () => {
    const w = new OwnWrites();
    w.record('m1', 'services', 'ns/a', '12');
    w.record('m1', 'services', 'ns/a', undefined);
    expect(w.isOwn('m1', 'services', 'ns/a', '12')).toBe(false);
  });

  it('holds a bounded number of versions per object', () => {
    const w = new OwnWrites();
    for (let v = 1; v <= 6; v++) w.record('m1', 'services', 'ns/a', String(v));
    expect(w.isOwn('m1', 'services', 'ns/a', '1')).toBe(false);
    expect(w.isOwn('m1', 'services', 'ns/a', '3')).toBe(true);
  });
});
