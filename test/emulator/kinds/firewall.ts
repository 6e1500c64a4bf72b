// SPDX-License-Identifier: Apache-2.0
//
// Global firewall rules: insert, get, list, patch (merge), update (replace), delete.

import type { Engine, Mutation } from '../engine.ts';
import { ApiError } from '../errors.ts';
import { checkName, malformed, parseCidr, parseRef, resourcePath, str } from '../model.ts';
import { type Call, type Handler, type KindDef, getHandler, listHandler, mergePatch, writable } from './common.ts';
import { deleteMutation } from './refs.ts';

export const FIREWALL: KindDef = { collection: 'firewalls', kind: 'compute#firewall', type: 'Firewall', typeWord: 'firewall' };

const PROTOCOL_NAMES = ['tcp', 'udp', 'icmp', 'esp', 'ah', 'sctp', 'ipip', 'all'];
const WITH_PORTS = ['tcp', 'udp', 'sctp', 'all'];

function checkRules(field: 'allowed' | 'denied', rules: Array<Record<string, unknown>>): void {
  for (const [i, r] of rules.entries()) {
    const proto = r.IPProtocol;
    // compute.proto Allowed.IPProtocol: "tcp, udp, icmp, esp, ah, ipip, sctp, or the IP protocol number" (and "all").
    if (typeof proto !== 'string' || !(PROTOCOL_NAMES.includes(proto) || (/^\d+$/.test(proto) && Number(proto) <= 255))) {
      throw ApiError.invalid(`resource.${field}[${i}].IPProtocol`, proto, 'Invalid IP protocol.');
    }
    for (const [j, p] of ((r.ports as string[] | undefined) ?? []).entries()) {
      if (!WITH_PORTS.includes(proto)) {
        throw ApiError.invalid(`resource.${field}[${i}].ports[${j}]`, p, 'Ports can be specified only for TCP, UDP, SCTP or all.');
      }
      const m = /^(\d+)(?:-(\d+))?$/.exec(p);
      const a = Number(m?.[1]);
      const b = Number(m?.[2] ?? m?.[1]);
      if (m === null || a > 65535 || b > 65535 || a > b) {
        throw ApiError.invalid(`resource.${field}[${i}].ports[${j}]`, p, 'Invalid port or port range.');
      }
    }
  }
}

/** Validates a complete firewall body and fills the API's defaults (direction INGRESS, priority 1000). */
function normalize(e: Engine, project: string, body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  out.description ??= '';
  // compute.proto Firewall.network: "If not specified when creating a firewall rule, the default network is used".
  const netValue = (out.network as string | undefined) ?? 'global/networks/default';
  const ref = parseRef(netValue, project, 'networks');
  if (ref === undefined) throw malformed('resource.network', netValue);
  out.network = e.must(ref.path).data.selfLink;
  out.direction ??= 'INGRESS';
  if (out.direction !== 'INGRESS' && out.direction !== 'EGRESS') throw ApiError.invalid('resource.direction', out.direction, '');
  out.priority ??= 1000;
  if (typeof out.priority !== 'number' || out.priority < 0 || out.priority > 65535) {
    throw ApiError.invalid('resource.priority', out.priority, 'Must be between 0 and 65535.');
  }
  const allowed = (out.allowed as Array<Record<string, unknown>> | undefined) ?? [];
  const denied = (out.denied as Array<Record<string, unknown>> | undefined) ?? [];
  if ((allowed.length > 0) === (denied.length > 0)) {
    // A rule either allows or denies ([U] wording).
    throw ApiError.invalid('resource.allowed', '', 'Exactly one of allowed or denied must be specified.');
  }
  checkRules('allowed', allowed);
  checkRules('denied', denied);
  for (const f of ['sourceRanges', 'destinationRanges'] as const) {
    for (const [i, r] of ((out[f] as string[] | undefined) ?? []).entries()) {
      if (parseCidr(r.includes('/') ? r : `${r}/32`) === undefined) throw ApiError.invalid(`resource.${f}[${i}]`, r, 'Invalid CIDR.');
    }
  }
  const has = (f: string): boolean => ((out[f] as unknown[] | undefined) ?? []).length > 0;
  // compute.proto: "sourceServiceAccounts cannot be used at the same time as sourceTags or targetTags";
  // targetServiceAccounts likewise with targetTags.
  if (has('targetServiceAccounts') && has('targetTags')) {
    throw ApiError.invalid('resource.targetServiceAccounts', '', 'targetServiceAccounts cannot be used with targetTags.');
  }
  if (has('sourceServiceAccounts') && (has('sourceTags') || has('targetTags'))) {
    throw ApiError.invalid('resource.sourceServiceAccounts', '', 'sourceServiceAccounts cannot be used with sourceTags or targetTags.');
  }
  out.logConfig ??= { enable: false };
  out.disabled ??= false;
  return out;
}

function pathOf(c: Call, name: string): string {
  return resourcePath(c.project, c.scope, 'firewalls', name);
}

function insert(c: Call): Mutation {
  const e = c.engine;
  const body = writable(c.body);
  const name = checkName(body.name);
  const path = pathOf(c, name);
  const id = e.newId();
  return {
    operationType: 'insert',
    targetPath: path,
    targetId: id,
    scope: c.scope,
    prepare: () => {
      if (e.get(path) !== undefined) throw ApiError.alreadyExists(path);
      const data = normalize(e, c.project, body);
      return () => {
        const res = e.newRes(c.project, c.scope, 'firewalls', name, FIREWALL.kind, id);
        Object.assign(res.data, data);
        e.put(res);
      };
    },
  };
}

function modify(c: Call, mode: 'patch' | 'update'): Mutation {
  const e = c.engine;
  const path = pathOf(c, c.params.firewall!);
  const cur = e.must(path);
  const body = writable(c.body);
  if (body.name !== undefined && body.name !== cur.name) throw ApiError.invalid('resource.name', body.name, 'Name cannot be changed.');
  return {
    operationType: mode,
    targetPath: path,
    targetId: str(cur.data.id),
    scope: c.scope,
    prepare: () => {
      const res = e.must(path);
      const { kind: _k, id: _i, creationTimestamp: _c, selfLink: _s, ...rest } = res.data;
      const next = normalize(e, c.project, mode === 'update' ? { name: res.name, ...body } : mergePatch(rest, body));
      if (next.direction !== res.data.direction) throw ApiError.invalid('resource.direction', next.direction, 'Field cannot be changed.');
      return () => {
        res.data = { kind: res.data.kind, id: res.data.id, creationTimestamp: res.data.creationTimestamp, ...next, name: res.name, selfLink: res.data.selfLink };
      };
    },
  };
}


/** Firewall handlers. */
export const firewallHandlers: Record<string, Handler> = {
  'firewalls.get': getHandler(FIREWALL, 'firewall'),
  'firewalls.list': listHandler(FIREWALL, 'FirewallList', 'compute#firewallList'),
  'firewalls.insert': (c) => ({ mutation: insert(c) }),
  'firewalls.patch': (c) => ({ mutation: modify(c, 'patch') }),
  'firewalls.update': (c) => ({ mutation: modify(c, 'update') }),
  'firewalls.delete': (c) => ({ mutation: deleteMutation(c, FIREWALL, pathOf(c, c.params.firewall!)) }),
};
