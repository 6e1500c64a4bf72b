// SPDX-License-Identifier: Apache-2.0
//
// What the Gateway helpers need: the config cluster's client, the leader fence and an optional
// request hook (metrics, tests). Shared by finalizer.ts and annotations.ts.
import type { ObjectMeta } from '../api/index.ts';
import type { Fence } from '../runtime/fence.ts';
import { KubeApi, type KubeTarget, type RequestHook } from '../status/kube.ts';

/** Dependencies of the Gateway helpers. */
export interface GatewayHelperDeps {
  /** The config cluster (a ClusterClient). */
  client: KubeTarget;
  fence: Fence;
  onRequest?: RequestHook;
  /** Attempts when a `test` fails or a conflict occurs (default 5). */
  maxAttempts?: number;
  timeoutMs?: number;
}

/** The part of a Gateway the helpers read (a cached Gateway object fits). */
export interface GatewayLike {
  metadata: ObjectMeta;
}

/** A fenced KubeApi on the config cluster. */
export function gatewayApi(deps: GatewayHelperDeps): KubeApi {
  return new KubeApi(deps.client, {
    fence: deps.fence,
    ...(deps.onRequest === undefined ? {} : { onRequest: deps.onRequest }),
    ...(deps.timeoutMs === undefined ? {} : { timeoutMs: deps.timeoutMs }),
  });
}
