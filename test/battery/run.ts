// SPDX-License-Identifier: Apache-2.0
//
// `npm run battery [-- --quick] [-- item-filter...]`: runs every battery item (test/battery/*.battery.test.ts)
// through vitest, one file at a time, collects the row each item records, prints the table, and
// exits non-zero on any loss (a leak, a duplicate, a forbidden write, a failed check) or a failed test.
// `--quick` (BATTERY_QUICK=1, what CI runs) uses fewer seeds and inputs with the same checks.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BatteryRow, lost } from './lib.ts';

const root = new URL('../..', import.meta.url).pathname;
const args = process.argv.slice(2);
const quickMode = args.includes('--quick') || process.env['BATTERY_QUICK'] === '1';
const filters = args.filter((a) => !a.startsWith('--'));

function table(rows: BatteryRow[]): string {
  const head = ['item', 'what', 'runs', 'GCE leaks', 'dups', 'k8s leaks', 'forbidden writes', 'converge after fault (s)', 'result'];
  const body = rows.map((r) => [
    r.id,
    r.what,
    String(r.runs),
    String(r.gceLeaks),
    String(r.duplicates),
    String(r.kubeLeaks),
    String(r.forbiddenWrites),
    r.convergeMs === undefined ? '-' : (r.convergeMs / 1000).toFixed(1),
    lost(r) ? 'FAIL' : 'pass',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-ilb-battery-'));
  const out = join(dir, 'rows.jsonl');
  const started = Date.now();
  // The files vitest will run (its positional filters match a substring of the path): the items
  // share one fleet, stopped after the last of them (lib.ts itemFleet / releaseFleet).
  const files = readdirSync(join(root, 'test/battery'))
    .filter((f) => f.endsWith('.battery.test.ts'))
    .filter((f) => filters.length === 0 || filters.some((x) => `test/battery/${f}`.includes(x)));
  const code = await new Promise<number>((resolve) => {
    const child = spawn('npx', ['vitest', 'run', '--config', 'test/battery/vitest.config.ts', ...filters], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, BATTERY_OUT: out, BATTERY_SHARED: '1', BATTERY_SHARED_FILES: String(files.length), ...(quickMode ? { BATTERY_QUICK: '1' } : {}) },
    });
    child.on('exit', (c, sig) => resolve(c ?? (sig === null ? 1 : 128)));
  });
  let rows: BatteryRow[] = [];
  try {
    rows = readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as BatteryRow);
  } catch {
    // No item recorded a row (they all failed before the end).
  }
  rmSync(dir, { recursive: true, force: true });
  rows.sort((a, b) => a.id.localeCompare(b.id));
  const mins = ((Date.now() - started) / 60_000).toFixed(1);
  process.stdout.write(`\nreliability battery (${quickMode ? 'quick' : 'full'}), ${mins} min\n${table(rows)}\n`);
  for (const r of rows) {
    if (r.notes) process.stdout.write(`${r.id}: ${r.notes}\n`);
    for (const f of r.failures) process.stdout.write(`${r.id} FAIL: ${f}\n`);
  }
  if (rows.length === 0) process.stdout.write('no item reported a row\n');
  // Rows are the items' own account; vitest's exit code is the tests'. A failed test that reached
  // no row (its file recorded none, or its name matched no row) still fails the battery, and says so.
  if (code !== 0 && rows.length > 0 && !rows.some(lost)) process.stdout.write(`vitest failed (exit ${code}) although every row passed: see the test output above\n`);
  return code !== 0 || rows.length === 0 || rows.some(lost) ? 1 : 0;
}

process.exitCode = await main();
