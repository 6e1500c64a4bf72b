// SPDX-License-Identifier: Apache-2.0
//
// translate() goldens: test/golden/translate/<case>.in.yaml (a Snapshot) -> <case>.out.yaml
// (IR of every programmable Gateway, invalid Gateways, every status). Fixed clock. An input may
// carry `nodeVms` (GCE's word on name-mapped node VMs, `project/zone/instance: exists`).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../../controller/snapshot/types.ts';
import { translate } from '../../controller/translate/index.ts';
import { NOW, cases, compare, readInput } from './golden.ts';

const DIR = join(import.meta.dirname, 'translate');

describe('translate goldens', () => {
  const names = cases(DIR);
  it('has at least 40 cases', () => {
    expect(names.length).toBeGreaterThanOrEqual(40);
  });
  it.each(names)('%s', (name) => {
    const input = readInput<Snapshot & { description?: string; nodeVms?: Record<string, boolean> }>(DIR, name);
    const { description: _d, nodeVms, ...snapshot } = input;
    // nodeVms: what GCE said about name-mapped node VMs (TranslateOptions.nodeVms), when the case needs it.
    const result = translate(snapshot, { now: NOW, ...(nodeVms === undefined ? {} : { nodeVms: new Map(Object.entries(nodeVms)) }) });
    const [expected, actual] = compare(DIR, name, result);
    expect(actual).toBe(expected);
  });
});
