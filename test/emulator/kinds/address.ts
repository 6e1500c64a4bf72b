// SPDX-License-Identifier: Apache-2.0
//
// Regional addresses (the Gateway VIP): reservation, automatic allocation from the subnet, purpose
// SHARED_LOADBALANCER_VIP, status RESERVED/IN_USE, users[], setLabels.

import type { Engine, Mutation, Res } from '../engine.ts';
import { ApiError } from '../errors.ts';
import { checkName, intToIp, ipToInt, malformed, parseCidr, parseRef, resourcePath, usableInSubnet, str, sameFingerprint } from '../model.ts';
import { enumValues } from '../proto.ts';
import { type Call, type Handler, type KindDef, aggregated, getHandler, labelFingerprint, listHandler, regionScopes, render, writable } from './common.ts';
import { deleteMutation } from './refs.ts';
import { allocate } from './infra.ts';
import { ipHolders } from './ips.ts';

export const ADDRESS: KindDef = {
  collection: 'addresses',
  kind: 'compute#address',
  type: 'Address',
  typeWord: 'address',
  render: (e, r) => {
    const users = addressUsers(e, r);
    return {
      ...r.data,
      status: users.length > 0 ? 'IN_USE' : 'RESERVED',
      users: users.map((u) => u.data.selfLink),
    };
  },
};

/** Forwarding rules (and, for promoted ephemeral IPs, instances) using an address's IP. */
export function addressUsers(e: Engine, a: Res): Res[] {
  const ip = a.data.address;
  if (a.data.addressType !== 'INTERNAL') {
    return e.all(a.project, 'forwardingRules').filter((f) => f.data.IPAddress === ip && f.data.subnetwork === undefined);
  }
  const sub = subnetOf(e, a);
  if (sub === undefined) return [];
  const holders = ipHolders(e, sub).get(str(ip)) ?? [];
  return holders.filter((h) => h.kind !== 'address').map((h) => h.res);
}

function subnetOf(e: Engine, a: Res): Res | undefined {
  const ref = typeof a.data.subnetwork === 'string' ? parseRef(a.data.subnetwork, a.project, 'subnetworks') : undefined;
  return ref === undefined ? undefined : e.get(ref.path);
}

/** The reserved address holding an internal IP in a subnetwork, if any. */
export function addressForIp(e: Engine, sub: Res, ip: string): Res | undefined {
  return (ipHolders(e, sub).get(ip) ?? []).find((h) => h.kind === 'address')?.res;
}

/** Resolves a `subnetwork` reference to a seeded subnetwork in `region`. */
export function resolveSubnet(e: Engine, project: string, region: string, value: unknown, field: string): Res {
  const ref = typeof value === 'string' ? parseRef(value, project, 'subnetworks') : undefined;
  if (ref === undefined) throw malformed(field, str(value));
  const sub = e.must(ref.path);
  if (ref.scope.kind !== 'regions' || ref.scope.name !== region) {
    // [U] wording.
    throw ApiError.invalid(field, value, `Subnetwork must be in region '${region}'.`);
  }
  return sub;
}

/** Validates an internal IP literal against a subnetwork ([C] ingress-gce `l4/utils/errors.go` message). */
export function checkInternalIp(sub: Res, ip: string, field: string): void {
  const n = ipToInt(ip);
  if (n === undefined) throw ApiError.invalid(field, ip, 'Invalid IP address.');
  const c = parseCidr(str(sub.data.ipCidrRange))!;
  if (n < c.base || n >= c.base + c.size) {
    throw ApiError.invalid(field, ip, 'Requested internal IP address is outside the network/subnetwork range.');
  }
  if (!usableInSubnet(n, c)) {
    // The four reserved addresses of a subnet's primary range (vpc/docs/subnets). [U] wording.
    throw ApiError.invalid(field, ip, `Requested internal IP address is reserved in subnetwork '${sub.path}'.`);
  }
}

let externalNext = 0;

function insert(c: Call): Mutation {
  const e = c.engine;
  const region = c.scope.kind === 'regions' ? c.scope.name : '';
  const body = writable(c.body, ['status', 'users', 'labelFingerprint']);
  const name = checkName(body.name);
  const path = resourcePath(c.project, c.scope, 'addresses', name);
  const id = e.newId();
  const addressType = (body.addressType as string | undefined) ?? 'EXTERNAL';
  const purpose = body.purpose as string | undefined;
  const purposes = enumValues('Address', 'purpose') ?? [];
  if (purpose !== undefined && !purposes.includes(purpose)) throw ApiError.invalid('resource.purpose', purpose, '');
  return {
    operationType: 'insert',
    targetPath: path,
    targetId: id,
    scope: c.scope,
    prepare: (phase) => {
      if (e.get(path) !== undefined) throw ApiError.alreadyExists(path);
      const data: Record<string, unknown> = { ...body, description: body.description ?? '', addressType };
      if (addressType === 'INTERNAL') {
        if (body.subnetwork === undefined) {
          // [U] the API needs the subnetwork to place an internal address (custom-mode VPCs).
          throw ApiError.invalid('resource.subnetwork', '', 'Subnetwork must be specified for an INTERNAL address.');
        }
        const sub = resolveSubnet(e, c.project, region, body.subnetwork, 'resource.subnetwork');
        data.subnetwork = sub.data.selfLink;
        data.purpose = purpose ?? 'GCE_ENDPOINT';
        if (!['GCE_ENDPOINT', 'SHARED_LOADBALANCER_VIP', 'DNS_RESOLVER'].includes(str(data.purpose))) {
          throw ApiError.invalid('resource.purpose', data.purpose, 'Purpose is not valid for a regional INTERNAL address.');
        }
        data.networkTier = 'PREMIUM';
        if (body.address !== undefined) {
          checkInternalIp(sub, str(body.address), 'resource.address');
          if (phase === 'commit') {
            // Another reservation of the same IP fails in the operation with IP_IN_USE_BY_ANOTHER_RESOURCE; an IP
            // held by an ephemeral forwarding rule or a VM is "promoted" to this static address (docs/compute-api.md "Ordering" [C]).
            const holders = ipHolders(e, sub).get(str(body.address)) ?? [];
            if (holders.some((h) => h.kind === 'address')) throw ApiError.ipInUse(str(body.address));
          }
        }
        return () => {
          if (data.address === undefined) data.address = allocate(e, sub);
          commitNew(e, c, name, id, data);
        };
      }
      data.networkTier = body.networkTier ?? 'PREMIUM';
      return () => {
        if (data.address === undefined) data.address = intToIp((ipToInt('34.118.0.0')! + ++externalNext) >>> 0);
        commitNew(e, c, name, id, data);
      };
    },
  };
}

function commitNew(e: Engine, c: Call, name: string, id: string, data: Record<string, unknown>): void {
  const res = e.newRes(c.project, c.scope, 'addresses', name, ADDRESS.kind, id);
  Object.assign(res.data, data, { labelFingerprint: labelFingerprint(data.labels as Record<string, string> | undefined) });
  // Keep the API's field order: kind, id, creationTimestamp first (from newRes), then the rest.
  e.put(res);
}

/**
 * Delete. An internal address still IN_USE may be deleted: the rules keep the IP as an ephemeral one — both GKE
 * controllers rely on this ("hold the IP" then release, docs/compute-api.md "Ordering" [C ingress-gce address/manager.go]).
 */

/** `setLabels` (addresses and forwarding rules): replaces labels; a stale `labelFingerprint` is 412. */
export function setLabels(c: Call, collection: string): Mutation {
  const path = resourcePath(c.project, c.scope, collection, c.params.resource!);
  const res = c.engine.must(path);
  const labels = (c.body.labels as Record<string, string> | undefined) ?? {};
  for (const [k, v] of Object.entries(labels)) {
    // Label keys/values: lowercase letters, digits, `_` and `-`, keys start with a letter, ≤63 chars (labels docs).
    if (!/^[a-z][a-z0-9_-]{0,62}$/.test(k)) throw ApiError.invalid(`labels.${k}`, k, 'Label key is invalid.');
    if (!/^[a-z0-9_-]{0,63}$/.test(v)) throw ApiError.invalid(`labels.${k}`, v, 'Label value is invalid.');
  }
  const given = c.body.labelFingerprint;
  return {
    operationType: 'setLabels',
    targetPath: path,
    targetId: str(res.data.id),
    scope: c.scope,
    prepare: () => {
      const cur = c.engine.must(path);
      if (given === undefined) throw ApiError.required('resource.labelFingerprint');
      // Stale fingerprint → 412 conditionNotMet. The wording is the one GCE uses for labels ("Labels fingerprint
      // either invalid or resource labels have changed", quoted in skypilot-org/skypilot#1843).
      if (!sameFingerprint(given, cur.data.labelFingerprint)) {
        throw ApiError.conditionNotMet('Labels fingerprint either invalid or resource labels have changed');
      }
      return () => {
        cur.data.labels = labels;
        cur.data.labelFingerprint = labelFingerprint(labels);
      };
    },
  };
}

/** Address handlers. */
export const addressHandlers: Record<string, Handler> = {
  'addresses.get': getHandler(ADDRESS, 'address'),
  'addresses.list': listHandler(ADDRESS, 'AddressList', 'compute#addressList'),
  'addresses.aggregatedList': (c) => ({
    value: aggregated(c, {
      aggKind: 'compute#addressAggregatedList',
      collection: 'addresses',
      field: 'addresses',
      scopes: regionScopes(c.engine),
      items: (s) => c.engine.list(c.project, s, 'addresses').map((r) => render(c.engine, ADDRESS, r)),
    }),
    type: 'AddressAggregatedList',
  }),
  'addresses.insert': (c) => ({ mutation: insert(c) }),
  'addresses.delete': (c) => ({ mutation: deleteMutation(c, ADDRESS, resourcePath(c.project, c.scope, 'addresses', c.params.address!)) }),
  'addresses.setLabels': (c) => ({ mutation: setLabels(c, 'addresses') }),
};
