// SPDX-License-Identifier: Apache-2.0
export * from './names.ts';
export * from './labels.ts';
export * from './stamp.ts';
export { contentHash, hash32 } from './hash.ts';
