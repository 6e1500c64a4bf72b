// SPDX-License-Identifier: Apache-2.0
//
// Gateway object helpers: the cleanup finalizer and the GCE resource annotations.
export { CLASS_FINALIZER, FINALIZER, addFinalizer, ensureFinalizer, hasFinalizer, removeFinalizer, syncClassFinalizer } from './finalizer.ts';
export { GCE_ANNOTATIONS, annotationPatch, gceAnnotations, setGceAnnotations, setGceScope } from './annotations.ts';
export type { GatewayHelperDeps, GatewayLike } from './deps.ts';
