// SPDX-License-Identifier: Apache-2.0
//
// TS types of the Kubernetes objects fleet-ilb reads and writes, in their JSON wire shape.
export type * from './meta.ts';
export { keyOf } from './meta.ts';
export type * from './gateway.ts';
export { GATEWAY_GROUP } from './gateway.ts';
export type * from './mcs.ts';
export { MCS_GROUP, GKE_MCS_GROUP } from './mcs.ts';
export type * from './core.ts';
export type * from './fleetilb.ts';
export { FLEETILB_GROUP, FLEETILB_VERSION } from './fleetilb.ts';
