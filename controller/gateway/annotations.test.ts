// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { GCE_ANNOTATIONS, annotationPatch, gceAnnotations } from './annotations.ts';

describe('gceAnnotations / annotationPatch', () => {
  it('undefined (nothing in GCE) clears every key', () => {
    const want = gceAnnotations(undefined);
    expect(Object.values(want).every((v) => v === null)).toBe(true);
    expect(annotationPatch({ [GCE_ANNOTATIONS.negs]: 'x', other: 'y' }, want)).toEqual({ [GCE_ANNOTATIONS.negs]: null });
    expect(annotationPatch({ other: 'y' }, want)).toBeUndefined();
  });

  it('patches only differing keys', () => {
    const want = { [GCE_ANNOTATIONS.address]: 'a', [GCE_ANNOTATIONS.firewalls]: null };
    expect(annotationPatch({ [GCE_ANNOTATIONS.address]: 'a' }, want)).toBeUndefined();
    expect(annotationPatch({ [GCE_ANNOTATIONS.address]: 'b', [GCE_ANNOTATIONS.firewalls]: 'f' }, want)).toEqual({
      [GCE_ANNOTATIONS.address]: 'a',
      [GCE_ANNOTATIONS.firewalls]: null,
    });
  });
});
