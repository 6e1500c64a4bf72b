// SPDX-License-Identifier: Apache-2.0
//
// Names fleet-ilb puts on the Gateway object itself.

/** Finalizer held while the Gateway owns GCE resources or VIP Services (DESIGN.md §2). */
export const FINALIZER = 'fleetilb.io/cleanup';

/** Annotation prefix for the GCE resources a Gateway owns (as GKE annotates its Gateways/Services). */
export const GCE_ANNOTATION_PREFIX = 'fleetilb.io/';
/** The project and region the Gateway's resources live in: teardown needs them after the ILBConfig is gone. */
export const GCE_ANNOTATION_PROJECT = 'fleetilb.io/gce-project';
export const GCE_ANNOTATION_REGION = 'fleetilb.io/gce-region';
export const GCE_ANNOTATION_ADDRESS = 'fleetilb.io/address';
export const GCE_ANNOTATION_FORWARDING_RULES = 'fleetilb.io/forwarding-rules';
export const GCE_ANNOTATION_BACKEND_SERVICES = 'fleetilb.io/backend-services';
export const GCE_ANNOTATION_HEALTH_CHECKS = 'fleetilb.io/health-checks';
export const GCE_ANNOTATION_NEGS = 'fleetilb.io/negs';
export const GCE_ANNOTATION_FIREWALLS = 'fleetilb.io/firewalls';
