// SPDX-License-Identifier: Apache-2.0
//
// What every per-kind ensure/delete function needs: the cloud client, where (project/region), who
// (owner = fleet + Gateway uid), and a sink that counts the writes made (apply reports `changes`).
import type { GceCloud, Kind } from './cloud/client.ts';
import type { Owner } from './cloud/ownership.ts';

/** A write that was made, for the change count and logs. */
export interface WriteNote {
  kind: Kind;
  name: string;
  scope?: string;
  verb: 'insert' | 'update' | 'patch' | 'setLabels' | 'delete' | 'attach' | 'detach';
}

export interface KindContext {
  cloud: GceCloud;
  project: string;
  region: string;
  owner: Owner;
  /** Called after each successful mutating call. */
  note(w: WriteNote): void;
}

/** A context whose notes are collected into `writes`. */
export function collectingContext(base: Omit<KindContext, 'note'>): KindContext & { writes: WriteNote[] } {
  const writes: WriteNote[] = [];
  return { ...base, writes, note: (w) => writes.push(w) };
}
