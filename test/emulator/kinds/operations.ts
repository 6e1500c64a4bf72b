// SPDX-License-Identifier: Apache-2.0
//
// zoneOperations / regionOperations / globalOperations: get, list, wait, delete; globalOperations.aggregatedList.

import type { Engine, OpRecord } from '../engine.ts';
import type { Scope } from '../model.ts';
import { normalizeOut } from '../proto.ts';
import { type Call, type Handler, aggregated, listResponse, regionScopes, zoneScopes } from './common.ts';

/** The API representation of an operation. */
export function renderOp(op: OpRecord): Record<string, unknown> {
  return normalizeOut('Operation', op.data);
}

function listOps(e: Engine, c: Call, scope: Scope): Array<Record<string, unknown>> {
  return e.listOps(c.project, scope).map(renderOp);
}

function handlers(service: string): Record<string, Handler> {
  return {
    [`${service}.get`]: (c) => ({ value: renderOp(c.engine.findOp(c.project, c.scope, c.params.operation!)), type: 'Operation' }),
    [`${service}.wait`]: (c) => ({ waitOp: c.engine.findOp(c.project, c.scope, c.params.operation!) }),
    [`${service}.list`]: (c) => ({
      value: listResponse(
        c,
        'compute#operationList',
        `projects/${c.project}/${c.scope.kind === 'global' ? 'global' : `${c.scope.kind}/${c.scope.name}`}/operations`,
        listOps(c.engine, c, c.scope),
      ),
      type: 'OperationList',
    }),
    [`${service}.delete`]: (c) => {
      c.engine.deleteOp(c.engine.findOp(c.project, c.scope, c.params.operation!));
      // The delete methods of the operation services return an empty message.
      return { value: {}, type: `Delete${service.charAt(0).toUpperCase()}${service.slice(1)}Response` };
    },
  };
}

/** Operation handlers. */
export const operationHandlers: Record<string, Handler> = {
  ...handlers('zoneOperations'),
  ...handlers('regionOperations'),
  ...handlers('globalOperations'),
  'globalOperations.aggregatedList': (c) => ({
    value: aggregated(c, {
      aggKind: 'compute#operationAggregatedList',
      collection: 'operations',
      field: 'operations',
      scopes: [{ kind: 'global' }, ...regionScopes(c.engine), ...zoneScopes(c.engine)],
      items: (s) => listOps(c.engine, c, s),
    }),
    type: 'OperationAggregatedList',
  }),
};
