// SPDX-License-Identifier: Apache-2.0
//
// Reference integrity: which resources use a given one. References are stored as canonical
// `https://www.googleapis.com/compute/v1/...` URLs, so matching is string equality.

import { str } from '../model.ts';
import type { Engine, Res } from '../engine.ts';

/**
 * The resources that reference `res` and so block its deletion (400 resourceInUseByAnotherResource):
 * health check ← backend service `healthChecks[]`, NEG ← backend service `backends[].group`,
 * backend service ← forwarding rule `backendService` (gcp-ilb-api.md §9 item 4).
 */
export function referrers(e: Engine, res: Res): Res[] {
  const link = res.data.selfLink;
  switch (res.collection) {
    case 'healthChecks':
      return e
        .all(res.project, 'backendServices')
        .filter((b) => ((b.data.healthChecks as string[] | undefined) ?? []).includes(str(link)));
    case 'networkEndpointGroups':
      return e
        .all(res.project, 'backendServices')
        .filter((b) => ((b.data.backends as Array<{ group?: string }> | undefined) ?? []).some((x) => x.group === link));
    case 'backendServices':
      return e.all(res.project, 'forwardingRules').filter((f) => f.data.backendService === link);
    default:
      return [];
  }
}
