// SPDX-License-Identifier: Apache-2.0
//
// The read-only infrastructure the caller seeds: networks, subnetworks, instances, and the regions/zones lists.
// (fleet-ilb never creates these; the emulator serves get/list/aggregatedList and uses them to validate references.)

import { createHash } from 'node:crypto';
import type { Engine, Res } from '../engine.ts';
import { ApiError } from '../errors.ts';
import { type Scope, checkName, inRange, intToIp, ipToInt, parseCidr, regionOfZone, resourcePath, url, usableInSubnet, str } from '../model.ts';
import type { Seed } from '../types.ts';
import { type Handler, type KindDef, aggregated, getHandler, listHandler, listResponse, render, zoneScopes, regionScopes } from './common.ts';
import { usedIps } from './ips.ts';

const GLOBAL: Scope = { kind: 'global' };

export const NETWORK: KindDef = { collection: 'networks', kind: 'compute#network', type: 'Network', typeWord: 'network' };
export const SUBNETWORK: KindDef = {
  collection: 'subnetworks',
  kind: 'compute#subnetwork',
  type: 'Subnetwork',
  typeWord: 'subnetwork',
};
export const INSTANCE: KindDef = { collection: 'instances', kind: 'compute#instance', type: 'Instance', typeWord: 'instance' };

NETWORK.render = (e, r) => ({
  ...r.data,
  subnetworks: e
    .all(r.project, 'subnetworks')
    .filter((s) => s.data.network === r.data.selfLink)
    .map((s) => s.data.selfLink),
});

/** Applies a seed: projects, networks, subnetworks and instances. Throws on invalid or conflicting entries. */
export function applySeed(e: Engine, seed: Seed): void {
  for (const [project, p] of Object.entries(seed.projects ?? {})) {
    e.projects.add(project);
    for (const n of p.networks ?? []) {
      checkName(n.name);
      const path = resourcePath(project, GLOBAL, 'networks', n.name);
      if (e.get(path) !== undefined) continue;
      const res = e.newRes(project, GLOBAL, 'networks', n.name, NETWORK.kind, e.newId());
      Object.assign(res.data, {
        description: n.description ?? '',
        selfLinkWithId: url(`projects/${project}/global/networks/${str(res.data.id)}`),
        autoCreateSubnetworks: false,
        routingConfig: { routingMode: 'REGIONAL' },
        mtu: 1460,
        networkFirewallPolicyEnforcementOrder: 'AFTER_CLASSIC_FIREWALL',
      });
      e.put(res);
    }
    for (const s of p.subnetworks ?? []) {
      checkName(s.name);
      const scope: Scope = { kind: 'regions', name: s.region };
      e.addRegion(s.region);
      const cidr = parseCidr(s.ipCidrRange);
      if (cidr === undefined) throw new Error(`seed: subnetwork ${s.name}: bad ipCidrRange ${s.ipCidrRange}`);
      const net = e.get(resourcePath(project, GLOBAL, 'networks', s.network));
      if (net === undefined) throw new Error(`seed: subnetwork ${s.name}: network ${s.network} not seeded`);
      const path = resourcePath(project, scope, 'subnetworks', s.name);
      if (e.get(path) !== undefined) continue;
      const res = e.newRes(project, scope, 'subnetworks', s.name, SUBNETWORK.kind, e.newId());
      Object.assign(res.data, {
        description: s.description ?? '',
        network: net.data.selfLink,
        ipCidrRange: s.ipCidrRange,
        gatewayAddress: intToIp(cidr.base + 1),
        privateIpGoogleAccess: false,
        fingerprint: e.fingerprint(),
        purpose: 'PRIVATE',
        stackType: 'IPV4_ONLY',
      });
      e.put(res);
    }
    // IPs in use per subnetwork, computed once per seed and updated as instances are added (seeding is O(n)).
    const used = new Map<string, Set<string>>();
    const usedIn = (sub: Res): Set<string> => {
      let u = used.get(sub.path);
      if (u === undefined) used.set(sub.path, (u = usedIps(e, sub)));
      return u;
    };
    for (const i of p.instances ?? []) {
      checkName(i.name);
      const scope: Scope = { kind: 'zones', name: i.zone };
      e.addZone(i.zone);
      const path = resourcePath(project, scope, 'instances', i.name);
      if (e.get(path) !== undefined) throw new Error(`seed: instance ${i.zone}/${i.name} already exists`);
      const nics = [{ subnetwork: i.subnetwork, networkIP: i.networkIP }, ...(i.extraNics ?? [])].map((n, idx) => {
        const sub = e.get(resourcePath(project, { kind: 'regions', name: regionOfZone(i.zone) }, 'subnetworks', n.subnetwork));
        if (sub === undefined) throw new Error(`seed: instance ${i.name}: subnetwork ${n.subnetwork} not seeded in ${regionOfZone(i.zone)}`);
        const taken = usedIn(sub);
        const ip = n.networkIP ?? allocate(e, sub, taken);
        const cidr = parseCidr(str(sub.data.ipCidrRange))!;
        const ipn = ipToInt(ip);
        if (ipn === undefined || !usableInSubnet(ipn, cidr)) throw new Error(`seed: instance ${i.name}: ${ip} not usable in ${n.subnetwork}`);
        if (taken.has(ip)) throw new Error(`seed: instance ${i.name}: ${ip} already in use`);
        taken.add(ip);
        return {
          kind: 'compute#networkInterface',
          network: sub.data.network,
          subnetwork: sub.data.selfLink,
          networkIP: ip,
          name: `nic${idx}`,
          fingerprint: e.fingerprint(),
          stackType: 'IPV4_ONLY',
        };
      });
      const res = e.newRes(project, scope, 'instances', i.name, INSTANCE.kind, e.newId());
      Object.assign(res.data, {
        description: '',
        tags: { items: i.tags ?? [], fingerprint: e.fingerprint() },
        machineType: url(`projects/${project}/zones/${i.zone}/machineTypes/e2-standard-4`),
        status: i.status ?? 'RUNNING',
        canIpForward: false,
        networkInterfaces: nics,
        labels: i.labels ?? {},
        labelFingerprint: e.fingerprint(),
        fingerprint: e.fingerprint(),
        cpuPlatform: 'Intel Broadwell',
        deletionProtection: false,
        startRestricted: false,
      });
      e.put(res);
    }
  }
}

/** The first free usable IP of a subnetwork (the API's automatic allocation). */
export function allocate(e: Engine, sub: Res, used: Set<string> = usedIps(e, sub)): string {
  const cidr = parseCidr(str(sub.data.ipCidrRange))!;
  for (let ip = cidr.base + 2; ip <= cidr.base + cidr.size - 3; ip++) {
    const s = intToIp(ip);
    if (!used.has(s)) return s;
  }
  // [U] wording; the real API reports an exhausted subnet as IP_SPACE_EXHAUSTED.
  throw new ApiError(400, 'ipSpaceExhausted', `IP space of '${sub.path}' is exhausted.`, { opCode: 'IP_SPACE_EXHAUSTED' });
}

/** Whether an IP lies in a subnetwork's primary range. */
export function subnetContains(sub: Res, ip: string): boolean {
  const n = ipToInt(ip);
  const c = parseCidr(str(sub.data.ipCidrRange));
  return n !== undefined && c !== undefined && inRange(n, c);
}

function stableId(s: string): string {
  return (BigInt(`0x${createHash('sha256').update(s).digest('hex').slice(0, 15)}`) + 1000000000000000000n).toString();
}

function regionJson(e: Engine, project: string, region: string): Record<string, unknown> {
  return {
    kind: 'compute#region',
    id: stableId(region),
    creationTimestamp: '1969-12-31T16:00:00.000-08:00',
    name: region,
    description: region,
    status: 'UP',
    zones: [...e.zones].filter(([, r]) => r === region).map(([z]) => url(`projects/${project}/zones/${z}`)),
    selfLink: url(`projects/${project}/regions/${region}`),
    supportsPzs: false,
  };
}

function zoneJson(project: string, zone: string, region: string): Record<string, unknown> {
  return {
    kind: 'compute#zone',
    id: stableId(zone),
    creationTimestamp: '1969-12-31T16:00:00.000-08:00',
    name: zone,
    description: zone,
    status: 'UP',
    region: url(`projects/${project}/regions/${region}`),
    selfLink: url(`projects/${project}/zones/${zone}`),
    availableCpuPlatforms: ['Intel Broadwell', 'AMD Milan'],
    supportsPzs: false,
  };
}

/** Handlers for networks, subnetworks, instances, regions and zones. */
export const infraHandlers: Record<string, Handler> = {
  'networks.get': getHandler(NETWORK, 'network'),
  'networks.list': listHandler(NETWORK, 'NetworkList', 'compute#networkList'),
  'subnetworks.get': getHandler(SUBNETWORK, 'subnetwork'),
  'subnetworks.list': listHandler(SUBNETWORK, 'SubnetworkList', 'compute#subnetworkList'),
  'subnetworks.aggregatedList': (c) => ({
    value: aggregated(c, {
      aggKind: 'compute#subnetworkAggregatedList',
      collection: 'subnetworks',
      field: 'subnetworks',
      scopes: regionScopes(c.engine),
      items: (s) => c.engine.list(c.project, s, 'subnetworks').map((r) => render(c.engine, SUBNETWORK, r)),
    }),
    type: 'SubnetworkAggregatedList',
  }),
  'instances.get': getHandler(INSTANCE, 'instance'),
  'instances.list': listHandler(INSTANCE, 'InstanceList', 'compute#instanceList'),
  'instances.aggregatedList': (c) => ({
    value: aggregated(c, {
      aggKind: 'compute#instanceAggregatedList',
      collection: 'instances',
      field: 'instances',
      scopes: zoneScopes(c.engine),
      items: (s) => c.engine.list(c.project, s, 'instances').map((r) => render(c.engine, INSTANCE, r)),
    }),
    type: 'InstanceAggregatedList',
  }),
  'regions.get': (c) => {
    const region = c.params.region!;
    if (!c.engine.regions.has(region)) throw ApiError.notFound(`projects/${c.project}/regions/${region}`);
    return { value: regionJson(c.engine, c.project, region), type: 'Region' };
  },
  'regions.list': (c) => ({
    value: listResponse(
      c,
      'compute#regionList',
      `projects/${c.project}/regions`,
      [...c.engine.regions].sort().map((r) => regionJson(c.engine, c.project, r)),
    ),
    type: 'RegionList',
  }),
  'zones.get': (c) => {
    const zone = c.params.zone!;
    const region = c.engine.zones.get(zone);
    if (region === undefined) throw ApiError.notFound(`projects/${c.project}/zones/${zone}`);
    return { value: zoneJson(c.project, zone, region), type: 'Zone' };
  },
  'zones.list': (c) => ({
    value: listResponse(
      c,
      'compute#zoneList',
      `projects/${c.project}/zones`,
      [...c.engine.zones].sort(([a], [b]) => (a < b ? -1 : 1)).map(([z, r]) => zoneJson(c.project, z, r)),
    ),
    type: 'ZoneList',
  }),
};
