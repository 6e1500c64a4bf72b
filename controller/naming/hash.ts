// SPDX-License-Identifier: Apache-2.0
//
// Deterministic content hashes. Same alphabet rule as ingress-gce's `ContentHash`
// (utils/common/common.go): the first n bytes of sha256 mapped to [0-9a-z] by `byte % 36`.
import { createHash } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** n (≤ 32) base-36 characters of sha256(s). */
export function contentHash(s: string, n: number): string {
  const digest = createHash('sha256').update(s).digest();
  let out = '';
  for (let i = 0; i < n; i++) out += ALPHABET[(digest[i] ?? 0) % 36];
  return out;
}

/** A uint32 from sha256(s), for deterministic orders and port picks. */
export function hash32(s: string): number {
  return createHash('sha256').update(s).digest().readUInt32BE(0);
}
