// SPDX-License-Identifier: Apache-2.0
export type * from './types.ts';
export { validate, IRErrorCode } from './validate.ts';
export type { IRError } from './validate.ts';
