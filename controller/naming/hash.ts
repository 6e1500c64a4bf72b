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

/**
 * Deep copy with object keys sorted and `undefined` members dropped (arrays keep their order): equal
 * JSON values give equal `JSON.stringify` output (names hashed from content, compare-before-write).
 */
export function canonical(x: unknown): unknown {
  if (Array.isArray(x)) return x.map((v) => (v === undefined ? null : canonical(v)));
  if (x !== null && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(x).sort()) {
      const v = (x as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = canonical(v);
    }
    return out;
  }
  return x;
}
