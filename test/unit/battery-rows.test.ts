// SPDX-License-Identifier: Apache-2.0
//
// The battery table (test/battery/run.ts) says FAIL for an item whose test failed, also when the
// test threw before it added anything to its row (newRow's tracking, test/battery/lib.ts).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { lost, type BatteryRow } from '../battery/lib.ts';

const root = new URL('../..', import.meta.url).pathname;

it('a test that throws before recording a failure makes its row fail, with the error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'battery-rows-'));
  try {
    const out = join(dir, 'rows.jsonl');
    const r = spawnSync(join(root, 'node_modules/.bin/vitest'), ['run', '--config', 'test/unit/fixtures/battery-row.config.ts'], {
      cwd: root,
      env: { ...process.env, BATTERY_OUT: out },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    const rows = new Map(
      readFileSync(out, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as BatteryRow)
        .map((row) => [row.id, row]),
    );
    expect(rows.get('T1')?.failures).toEqual(['test "T1: throws" failed: fleet did not answer']);
    expect(lost(rows.get('T1')!)).toBe(true);
    // A test that recorded its own failure gets no second line; a passing one stays clean.
    expect(rows.get('T2')?.failures).toEqual(['2 leaks']);
    expect(rows.get('T3')?.failures).toEqual([]);
    expect(lost(rows.get('T3')!)).toBe(false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
