// SPDX-License-Identifier: Apache-2.0
//
// Reference integrity: which resources use a given one. References are stored as canonical
// `https://www.googleapis.com/compute/v1/...` URLs, so matching is string equality.

import { str } from '../model.ts';
import type { Engine, Mutation, Res } from '../engine.ts';
import { ApiError } from '../errors.ts';
import type { Call, KindDef } from './common.ts';

/**
 * The resources that reference `res` and so block its deletion (400 resourceInUseByAnotherResource):
 * health check ← backend service `healthChecks[]`, NEG ← backend service `backends[].group`,
 * backend service ← forwarding rule `backendService` (test/emulator/README.md).
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

/**
 * The `delete` of any kind: 404 when missing (at request time and again when the operation runs),
 * 400 resourceInUseByAnotherResource while another resource references it ({@link referrers}).
 */
export function deleteMutation(c: Call, def: KindDef, path: string): Mutation {
  const cur = c.engine.must(path);
  return {
    operationType: 'delete',
    targetPath: path,
    targetId: str(cur.data.id),
    scope: c.scope,
    prepare: () => {
      const res = c.engine.must(path);
      const users = referrers(c.engine, res);
      if (users.length > 0) throw ApiError.inUse(def.typeWord, path, users[0]!.path);
      return () => c.engine.remove(path);
    },
  };
}
