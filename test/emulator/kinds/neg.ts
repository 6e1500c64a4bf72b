// SPDX-License-Identifier: Apache-2.0
//
// Zonal network endpoint groups of type GCE_VM_IP (and a plain GCE_VM_IP_PORT for completeness): insert, delete,
// attach/detach endpoints, listNetworkEndpoints with health, aggregatedList.

import type { Engine, Mutation, NegEndpoint, Res } from '../engine.ts';
import { ApiError } from '../errors.ts';
import { type Scope, checkName, malformed, parseRef, regionOfZone, resourcePath, url, str } from '../model.ts';
import { enumValues } from '../proto.ts';
import { type Call, type Handler, type KindDef, aggregated, getHandler, listHandler, page, render, writable, zoneScopes } from './common.ts';
import { endpointHealths } from './health.ts';
import { deleteMutation } from './refs.ts';

export const NEG: KindDef = {
  collection: 'networkEndpointGroups',
  kind: 'compute#networkEndpointGroup',
  type: 'NetworkEndpointGroup',
  typeWord: 'network_endpoint_group',
  render: (_e, r) => ({ ...r.data, size: r.endpoints?.size ?? 0 }),
};

/** At most 500 endpoints per attach/detach call ([C] ingress-gce MAX_NETWORK_ENDPOINTS_PER_BATCH; terraform: "API
 * only accepts 500 endpoints at a time"). */
export const MAX_ENDPOINTS_PER_CALL = 500;

function insert(c: Call): Mutation {
  const e = c.engine;
  const zone = c.scope.kind === 'zones' ? c.scope.name : '';
  const body = writable(c.body, ['size']);
  const name = checkName(body.name);
  const path = resourcePath(c.project, c.scope, 'networkEndpointGroups', name);
  const id = e.newId();
  const type = (body.networkEndpointType as string | undefined) ?? 'GCE_VM_IP_PORT';
  if (!(enumValues('NetworkEndpointGroup', 'networkEndpointType') ?? []).includes(type)) {
    throw ApiError.invalid('resource.networkEndpointType', type, '');
  }
  if (type !== 'GCE_VM_IP' && type !== 'GCE_VM_IP_PORT') {
    throw new ApiError(501, 'notImplemented', `emulator: networkEndpointType ${type} is not emulated`);
  }
  if (type === 'GCE_VM_IP' && body.defaultPort !== undefined) {
    // compute.proto NetworkEndpointGroup.defaultPort: "The default port used if the port number is not specified in
    // the network endpoint. If the network endpoint type is either GCE_VM_IP, SERVERLESS or PRIVATE_SERVICE_CONNECT,
    // this field must not be specified." [U] message wording.
    throw ApiError.invalid('resource.defaultPort', body.defaultPort, 'Default port must not be specified for GCE_VM_IP network endpoint groups.');
  }
  return {
    operationType: 'insert',
    targetPath: path,
    targetId: id,
    scope: c.scope,
    prepare: () => {
      if (e.get(path) !== undefined) throw ApiError.alreadyExists(path);
      // compute.proto: network "Uses default project network if unspecified."
      const netValue = (body.network as string | undefined) ?? 'global/networks/default';
      const netRef = parseRef(netValue, c.project, 'networks');
      if (netRef === undefined) throw malformed('resource.network', netValue);
      const net = e.must(netRef.path);
      const data: Record<string, unknown> = {
        ...body,
        description: body.description ?? '',
        networkEndpointType: type,
        network: net.data.selfLink,
      };
      if (body.subnetwork !== undefined) {
        const ref = typeof body.subnetwork === 'string' ? parseRef(body.subnetwork, c.project, 'subnetworks') : undefined;
        if (ref === undefined) throw malformed('resource.subnetwork', str(body.subnetwork));
        const sub = e.must(ref.path);
        if (ref.scope.kind !== 'regions' || ref.scope.name !== regionOfZone(zone)) {
          throw ApiError.invalid('resource.subnetwork', body.subnetwork, `Subnetwork must be in region '${regionOfZone(zone)}'.`);
        }
        if (sub.data.network !== net.data.selfLink) {
          throw ApiError.invalid('resource.subnetwork', body.subnetwork, 'Subnetwork must belong to the network of the network endpoint group.');
        }
        data.subnetwork = sub.data.selfLink;
      }
      return () => {
        const res = e.newRes(c.project, c.scope, 'networkEndpointGroups', name, NEG.kind, id);
        Object.assign(res.data, data);
        res.endpoints = new Map();
        e.put(res);
      };
    },
  };
}


/** Resolves one GCE_VM_IP endpoint to (instance name, NIC IP) or throws the API's error. */
function resolveEndpoint(e: Engine, neg: Res, ep: Record<string, unknown>, i: number): NegEndpoint {
  const zone = neg.scope.kind === 'zones' ? neg.scope.name : '';
  if (ep.port !== undefined) {
    // compute.proto NetworkEndpoint.port: "Optional port number of network endpoint. If not specified, the defaultPort
    // for the network endpoint group will be used. This field can not be set for network endpoints of type GCE_VM_IP."
    throw ApiError.invalid(`resource.networkEndpoints[${i}].port`, ep.port, 'Port must not be specified for GCE_VM_IP network endpoints.');
  }
  const inst = ep.instance;
  if (typeof inst !== 'string' || inst === '') throw ApiError.required(`resource.networkEndpoints[${i}].instance`);
  const zoneScope: Scope = { kind: 'zones', name: zone };
  const ref = parseRef(inst, neg.project, 'instances', { bare: zoneScope });
  if (ref === undefined) throw malformed(`resource.networkEndpoints[${i}].instance`, inst);
  if (ref.scope.kind !== 'zones' || ref.scope.name !== zone) {
    // compute.proto NetworkEndpoint.instance: "The instance must be in the same zone of network endpoint group". [U] wording.
    throw ApiError.invalid(
      `resource.networkEndpoints[${i}].instance`,
      inst,
      `The instance must be in the same zone as the network endpoint group (${zone}).`,
    );
  }
  const vm = e.must(ref.path);
  const nics = (vm.data.networkInterfaces as Array<Record<string, unknown>> | undefined) ?? [];
  const nic = nics.find(
    (n) => n.network === neg.data.network && (neg.data.subnetwork === undefined || n.subnetwork === neg.data.subnetwork),
  );
  const netName = str(neg.data.subnetwork ?? neg.data.network).split('/').pop();
  const ip = ep.ipAddress as string | undefined;
  if (nic === undefined || (ip !== undefined && ip !== nic.networkIP)) {
    // [C] kubernetes/ingress-gce#1463: "Invalid value for field 'resource.ipAddress': '10.0.0.13'. Specified IP address
    // 10.0.0.13 doesn't belong to the (sub)network default or to the instance gke-…". A GCE_VM_IP endpoint is the
    // primary IP of the instance's NIC in the NEG's (sub)network (zonal-neg-concepts).
    const shown = ip ?? '';
    throw ApiError.invalid(
      'resource.ipAddress',
      shown,
      `Specified IP address ${shown} doesn't belong to the (sub)network ${netName ?? ''} or to the instance ${ref.name}.`,
    );
  }
  return { instance: ref.name, ipAddress: str(nic.networkIP) };
}

function endpointsChange(c: Call, op: 'attachNetworkEndpoints' | 'detachNetworkEndpoints'): Mutation {
  const e = c.engine;
  const path = resourcePath(c.project, c.scope, 'networkEndpointGroups', c.params.networkEndpointGroup!);
  const cur = e.must(path);
  const list = (c.body.networkEndpoints as Array<Record<string, unknown>> | undefined) ?? [];
  if (list.length > MAX_ENDPOINTS_PER_CALL) {
    // [U] wording; the limit is [C].
    throw ApiError.invalid(
      'resource.networkEndpoints',
      str(list.length),
      `Exceeded the maximum number of network endpoints per request (${MAX_ENDPOINTS_PER_CALL}).`,
    );
  }
  return {
    operationType: op,
    targetPath: path,
    targetId: str(cur.data.id),
    scope: c.scope,
    prepare: () => {
      const neg = e.must(path);
      if (neg.data.networkEndpointType !== 'GCE_VM_IP') {
        throw new ApiError(501, 'notImplemented', 'emulator: endpoints are emulated for GCE_VM_IP NEGs only');
      }
      const eps = list.map((ep, i) => resolveEndpoint(e, neg, ep, i));
      if (op === 'detachNetworkEndpoints') {
        for (const ep of eps) {
          if (neg.endpoints?.get(ep.instance)?.ipAddress !== ep.ipAddress) {
            // [U] behaviour: like ingress-gce's NEG mock, detaching an endpoint that is not attached fails the call.
            throw ApiError.notFound(`${path}/networkEndpoints/${ep.instance}:${ep.ipAddress}`);
          }
        }
      }
      return () => {
        neg.endpoints ??= new Map();
        // Attaching an endpoint that is already attached is a no-op ([U]; ingress-gce's mock ignores duplicates).
        for (const ep of eps) {
          if (op === 'attachNetworkEndpoints') neg.endpoints.set(ep.instance, ep);
          else neg.endpoints.delete(ep.instance);
        }
      };
    },
  };
}

function listEndpoints(c: Call): Record<string, unknown> {
  const e = c.engine;
  const path = resourcePath(c.project, c.scope, 'networkEndpointGroups', c.params.networkEndpointGroup!);
  const neg = e.must(path);
  const show = c.body.healthStatus === 'SHOW';
  const eps = [...(neg.endpoints?.values() ?? [])].sort((a, b) => (a.instance < b.instance ? -1 : 1));
  // The API returns the instance by name (ingress-gce reads `NetworkEndpoint.Instance` as the node name).
  const items = eps.map((ep) => ({ networkEndpoint: { instance: ep.instance, ipAddress: ep.ipAddress } }));
  const p = page(c.query, items);
  // Health only for the endpoints on this page.
  const withHealth = show
    ? p.items.map((it) => {
        const ne = it.networkEndpoint as NegEndpoint;
        return { ...it, healths: endpointHealths(e, neg, ne) };
      })
    : p.items;
  return {
    kind: 'compute#networkEndpointGroupsListNetworkEndpoints',
    items: withHealth,
    ...(p.nextPageToken === undefined ? {} : { nextPageToken: p.nextPageToken }),
  };
}

/** NEG handlers. */
export const negHandlers: Record<string, Handler> = {
  'networkEndpointGroups.get': getHandler(NEG, 'networkEndpointGroup'),
  'networkEndpointGroups.list': listHandler(NEG, 'NetworkEndpointGroupList', 'compute#networkEndpointGroupList'),
  'networkEndpointGroups.aggregatedList': (c) => ({
    value: aggregated(c, {
      aggKind: 'compute#networkEndpointGroupAggregatedList',
      collection: 'networkEndpointGroups',
      field: 'networkEndpointGroups',
      scopes: zoneScopes(c.engine),
      items: (s) => c.engine.list(c.project, s, 'networkEndpointGroups').map((r) => render(c.engine, NEG, r)),
    }),
    type: 'NetworkEndpointGroupAggregatedList',
  }),
  'networkEndpointGroups.insert': (c) => ({ mutation: insert(c) }),
  'networkEndpointGroups.delete': (c) => ({ mutation: deleteMutation(c, NEG, resourcePath(c.project, c.scope, 'networkEndpointGroups', c.params.networkEndpointGroup!)) }),
  'networkEndpointGroups.attachNetworkEndpoints': (c) => ({ mutation: endpointsChange(c, 'attachNetworkEndpoints') }),
  'networkEndpointGroups.detachNetworkEndpoints': (c) => ({ mutation: endpointsChange(c, 'detachNetworkEndpoints') }),
  'networkEndpointGroups.listNetworkEndpoints': (c) => ({
    value: listEndpoints(c),
    type: 'NetworkEndpointGroupsListNetworkEndpoints',
  }),
};

/** A NEG's endpoints as the inventory shows them. */
export function negEndpoints(neg: Res): NegEndpoint[] {
  return [...(neg.endpoints?.values() ?? [])].map((x) => ({ ...x }));
}

/** The instance URL of an endpoint (for getHealth). */
export function instanceUrl(neg: Res, ep: NegEndpoint): string {
  return url(`projects/${neg.project}/zones/${neg.scope.kind === 'zones' ? neg.scope.name : ''}/instances/${ep.instance}`);
}
