// SPDX-License-Identifier: Apache-2.0
//
// Render goldens: test/golden/render/<case>.in.yaml (one GatewayIR) -> <case>.out.yaml
// ({gce: DesiredGce, vip: DesiredVip}); an optional `facts` (GCE facts: instance tags, NEG members).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderGce } from '../../controller/infra/gcp/render.ts';
import { renderVip } from '../../controller/infra/vip/render.ts';
import type { GatewayIR } from '../../controller/ir/types.ts';
import { validate } from '../../controller/ir/validate.ts';
import { cases, compare, readInput } from './golden.ts';

const DIR = join(import.meta.dirname, 'render');

describe('render goldens', () => {
  it.each(cases(DIR))('%s', (name) => {
    const { ir, facts } = readInput<{ description: string; ir: GatewayIR; facts?: { instanceTags?: Record<string, string[]>; negInstances?: Record<string, string[]> } }>(DIR, name);
    expect(validate(ir)).toEqual([]);
    const f = {
      instanceTags: new Map(Object.entries(facts?.instanceTags ?? {})),
      negInstances: new Map(Object.entries(facts?.negInstances ?? {})),
    };
    const [expected, actual] = compare(DIR, name, { gce: renderGce(ir, f), vip: renderVip(ir) });
    expect(actual).toBe(expected);
  });
});
