// SPDX-License-Identifier: Apache-2.0
//
// Golden-file helpers: `<case>.in.yaml` -> `<case>.out.yaml`. `UPDATE_GOLDEN=1` rewrites the
// expectations (npm run golden:update); otherwise a missing or different .out.yaml fails.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

export const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
/** The fixed clock every golden uses. */
export const NOW = '2026-01-01T00:00:00Z';

/** Case names (without `.in.yaml`) in a directory, sorted. */
export function cases(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.in.yaml'))
    .map((f) => f.slice(0, -'.in.yaml'.length))
    .sort();
}

export function readInput<T>(dir: string, name: string): T {
  return parse(readFileSync(join(dir, `${name}.in.yaml`), 'utf8')) as T;
}

/** Deterministic YAML (no anchors/aliases, long lines kept). */
export function dump(v: unknown): string {
  return stringify(v, { aliasDuplicateObjects: false, lineWidth: 0 });
}

/** Returns [expected, actual] texts; writes the file instead when updating. */
export function compare(dir: string, name: string, actual: unknown): [string, string] {
  const path = join(dir, `${name}.out.yaml`);
  const text = dump(actual);
  if (UPDATE || !existsSync(path)) {
    if (UPDATE) writeFileSync(path, text);
    return [UPDATE ? text : '<missing: run npm run golden:update>', text];
  }
  return [readFileSync(path, 'utf8'), text];
}
