// SPDX-License-Identifier: Apache-2.0
//
// Hand-built DesiredGce objects for the GCE apply tests (the shape render.ts produces: full
// googleapis URLs for references, stamps in every description), plus the emulator seed they need:
// one VPC/subnet in us-central1 and two member "clusters" with nodes in zones a and b.
import type { DesiredGce, DesiredNeg, NetworkEndpoint } from '../../controller/infra/gcp/desired.ts';
import { CONTROLLER_NAME, encodeStamp } from '../../controller/naming/stamp.ts';
import { fleetPrefix } from '../../controller/naming/names.ts';
import type { Seed } from '../emulator/index.ts';

export const PROJECT = 'fleet-proj';
export const REGION = 'us-central1';
export const ZONE_A = 'us-central1-a';
export const ZONE_B = 'us-central1-b';
export const FLEET = 'fleet-1';
const API = 'https://www.googleapis.com/compute/v1/';
export const NETWORK = `${API}projects/${PROJECT}/global/networks/vpc1`;
export const SUBNET = `${API}projects/${PROJECT}/regions/${REGION}/subnetworks/sub1`;
export const SUBNET2 = `${API}projects/${PROJECT}/regions/${REGION}/subnetworks/sub2`;

/** Node VMs: cluster `a` and `b`, two zones each, plus spares for "a node moved" cases. */
export const NODES: Record<string, { zone: string; ip: string; tags: string[] }> = {
  'a-za-1': { zone: ZONE_A, ip: '10.0.0.11', tags: ['a-node'] },
  'a-za-2': { zone: ZONE_A, ip: '10.0.0.12', tags: ['a-node'] },
  'a-zb-1': { zone: ZONE_B, ip: '10.0.0.21', tags: ['a-node'] },
  'a-zb-2': { zone: ZONE_B, ip: '10.0.0.22', tags: ['a-node'] },
  'b-za-1': { zone: ZONE_A, ip: '10.0.1.11', tags: ['b-node'] },
  'b-za-2': { zone: ZONE_A, ip: '10.0.1.12', tags: ['b-node'] },
  'b-zb-1': { zone: ZONE_B, ip: '10.0.1.21', tags: ['b-node'] },
  'b-zb-2': { zone: ZONE_B, ip: '10.0.1.22', tags: ['b-node'] },
};

export function seed(): Seed {
  return {
    projects: {
      [PROJECT]: {
        networks: [{ name: 'vpc1' }],
        subnetworks: [
          { name: 'sub1', region: REGION, network: 'vpc1', ipCidrRange: '10.0.0.0/20' },
          { name: 'sub2', region: REGION, network: 'vpc1', ipCidrRange: '10.1.0.0/24' },
        ],
        instances: Object.entries(NODES).map(([name, n]) => ({ name, zone: n.zone, subnetwork: 'sub1', networkIP: n.ip, tags: n.tags })),
      },
    },
  };
}

export interface ListenerSpec {
  /** Listener key in the stamp and names, e.g. `tcp-80`. */
  key: string;
  protocol: 'TCP' | 'UDP';
  port: number;
  hcPort?: number;
  allowGlobalAccess?: boolean;
}

export interface GatewaySpec {
  name: string;
  uid: string;
  namespace?: string;
  listeners: ListenerSpec[];
  /** cluster -> zone -> node names. */
  members: Record<string, Record<string, string[]>>;
  frozen?: string[];
  vip?: string;
  clientRanges?: string[];
  subnetwork?: string;
}

const short = (uid: string): string => uid.replace(/[^a-z0-9]/g, '').slice(0, 8);

/** Deterministic names in the spirit of the namer (the real one lives in controller/naming). */
export function names(g: GatewaySpec) {
  // The fleet prefix, as every real name has: the shared inventory lists by it (inventory.ts).
  const base = `${fleetPrefix(FLEET)}${short(g.uid)}-${g.name}`;
  return {
    address: `${base}-vip`,
    hc: (l: string) => `${base}-${l}-hc`,
    bs: (l: string) => `${base}-${l}-bs`,
    fr: (l: string) => `${base}-${l}-fr`,
    neg: (l: string, cluster: string) => `${base}-${l}-${cluster}`,
    fwHc: `${base}-fw-hc`,
    fwClients: `${base}-fw-clients`,
  };
}

/** A DesiredGce the way render.ts would build it for `g`. */
export function desiredFor(g: GatewaySpec): DesiredGce {
  const ns = g.namespace ?? 'default';
  const n = names(g);
  const stamp = (extra: { listener?: string; cluster?: string } = {}): string =>
    encodeStamp({ controller: CONTROLLER_NAME, fleet: FLEET, gateway: `${ns}/${g.name}`, gatewayUid: g.uid, ...extra });
  const subnetwork = g.subnetwork ?? SUBNET;
  const negs: DesiredNeg[] = [];
  for (const l of g.listeners) {
    for (const [cluster, zones] of Object.entries(g.members)) {
      for (const [zone, nodes] of Object.entries(zones)) {
        const endpoints: NetworkEndpoint[] = [...nodes].sort().map((node) => ({ instance: node, ipAddress: NODES[node]!.ip }));
        negs.push({
          zone,
          cluster,
          frozen: (g.frozen ?? []).includes(cluster),
          endpoints,
          neg: {
            name: n.neg(l.key, cluster),
            description: stamp({ listener: l.key, cluster }),
            networkEndpointType: 'GCE_VM_IP',
            network: NETWORK,
            subnetwork,
          },
        });
      }
    }
  }
  const addrUrl = `${API}projects/${PROJECT}/regions/${REGION}/addresses/${n.address}`;
  const tags = [...new Set(Object.values(g.members).flatMap((z) => Object.values(z).flat().map((x) => NODES[x]!.tags).flat()))].sort();
  const hcPorts = [...new Set(g.listeners.map((l) => String(l.hcPort ?? l.port)))].sort();
  return {
    project: PROJECT,
    region: REGION,
    gateway: { namespace: ns, name: g.name, uid: g.uid },
    address: {
      name: n.address,
      description: stamp(),
      addressType: 'INTERNAL',
      purpose: 'SHARED_LOADBALANCER_VIP',
      subnetwork,
      ...(g.vip === undefined ? {} : { address: g.vip }),
    },
    healthChecks: g.listeners.map((l) => ({
      name: n.hc(l.key),
      description: stamp({ listener: l.key }),
      type: 'TCP',
      tcpHealthCheck: { port: l.hcPort ?? l.port },
      checkIntervalSec: 5,
      timeoutSec: 5,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
    })),
    negs,
    backendServices: g.listeners.map((l) => ({
      name: n.bs(l.key),
      description: stamp({ listener: l.key }),
      loadBalancingScheme: 'INTERNAL',
      protocol: l.protocol,
      sessionAffinity: 'NONE',
      connectionDraining: { drainingTimeoutSec: l.protocol === 'TCP' ? 30 : 0 },
      healthChecks: [`${API}projects/${PROJECT}/regions/${REGION}/healthChecks/${n.hc(l.key)}`],
      backends: negs
        .filter((x) => x.neg.name.startsWith(`${n.neg(l.key, '')}`))
        .map((x) => ({ group: `${API}projects/${PROJECT}/zones/${x.zone}/networkEndpointGroups/${x.neg.name}`, balancingMode: 'CONNECTION' })),
    })),
    forwardingRules: g.listeners.map((l) => ({
      name: n.fr(l.key),
      description: stamp({ listener: l.key }),
      loadBalancingScheme: 'INTERNAL',
      IPAddress: g.vip ?? addrUrl,
      IPProtocol: l.protocol,
      ports: [String(l.port)],
      backendService: `${API}projects/${PROJECT}/regions/${REGION}/backendServices/${n.bs(l.key)}`,
      network: NETWORK,
      subnetwork,
      allowGlobalAccess: l.allowGlobalAccess ?? false,
    })),
    firewalls: [
      {
        name: n.fwHc,
        description: stamp(),
        network: NETWORK,
        direction: 'INGRESS',
        priority: 1000,
        sourceRanges: ['130.211.0.0/22', '35.191.0.0/16'],
        targetTags: tags,
        allowed: [{ IPProtocol: 'tcp', ports: hcPorts }],
      },
      ...(g.clientRanges === undefined
        ? []
        : [
            {
              name: n.fwClients,
              description: stamp(),
              network: NETWORK,
              direction: 'INGRESS',
              priority: 1000,
              sourceRanges: g.clientRanges,
              targetTags: tags,
              ...(g.vip === undefined ? {} : { destinationRanges: [g.vip] }),
              allowed: g.listeners.map((l) => ({ IPProtocol: l.protocol.toLowerCase(), ports: [String(l.port)] })),
            },
          ]),
    ],
  };
}

/** The 1-listener, 2-member x 2-zone Gateway of the brief. */
export function oneListener(over: Partial<GatewaySpec> = {}): GatewaySpec {
  return {
    name: 'web',
    uid: 'uid-web-0001',
    listeners: [{ key: 'tcp-80', protocol: 'TCP', port: 80 }],
    members: {
      a: { [ZONE_A]: ['a-za-1'], [ZONE_B]: ['a-zb-1'] },
      b: { [ZONE_A]: ['b-za-1'], [ZONE_B]: ['b-zb-1'] },
    },
    ...over,
  };
}

/**
 * `d` with its NEGs shared the way render makes them (docs/architecture.md "Shared NEGs"): named by
 * `tag` and the cluster instead of the Gateway, stamped with no Gateway, and the backend services
 * pointing at those names. Two Gateways given the same tag use the same NEGs.
 */
export function sharingNegs(d: DesiredGce, tag: string = 'web'): DesiredGce {
  const renamed = new Map<string, string>();
  const negs = d.negs.map((n) => {
    const name = `${fleetPrefix(FLEET)}shared-${tag}-${n.cluster}`;
    renamed.set(n.neg.name, name);
    return {
      ...n,
      neg: { ...n.neg, name, description: encodeStamp({ controller: CONTROLLER_NAME, fleet: FLEET, gateway: '', gatewayUid: '', cluster: n.cluster, lb: `${d.project}/${d.region}` }) },
    };
  });
  const backendServices = d.backendServices.map((bs) => ({
    ...bs,
    backends: (bs.backends ?? []).map((b) => {
      const old = (b.group ?? '').split('/').pop() ?? '';
      return { ...b, group: (b.group ?? '').replace(new RegExp(`${old}$`), renamed.get(old) ?? old) };
    }),
  }));
  const seen = new Set<string>();
  return { ...d, negs: negs.filter((n) => !seen.has(`${n.zone}/${n.neg.name}`) && seen.add(`${n.zone}/${n.neg.name}`)), backendServices };
}

/**
 * `d` with its health checks shared the way render makes them (docs/architecture.md "Shared NEGs
 * and health checks"): named by the check (here its port), stamped with no Gateway, and the backend
 * services pointing at those names. Two Gateways with the same ports use the same checks.
 */
export function sharingHealthChecks(d: DesiredGce): DesiredGce {
  const renamed = new Map<string, string>();
  const hcs = d.healthChecks.map((h) => {
    const name = `${fleetPrefix(FLEET)}shared-hc-${h.tcpHealthCheck?.port ?? 0}`;
    renamed.set(h.name, name);
    return { ...h, name, description: encodeStamp({ controller: CONTROLLER_NAME, fleet: FLEET, gateway: '', gatewayUid: '', lb: `${d.project}/${d.region}` }) };
  });
  const seen = new Set<string>();
  const backendServices = d.backendServices.map((bs) => ({
    ...bs,
    healthChecks: (bs.healthChecks ?? []).map((u) => {
      const old = u.split('/').pop() ?? '';
      return u.replace(new RegExp(`${old}$`), renamed.get(old) ?? old);
    }),
  }));
  return { ...d, healthChecks: hcs.filter((h) => !seen.has(h.name) && seen.add(h.name)), backendServices };
}
