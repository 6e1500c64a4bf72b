// SPDX-License-Identifier: Apache-2.0
//
// Writes test/golden/render/<case>.in.yaml: one GatewayIR each, taken from a translate golden input
// (so render inputs are real translate outputs). Run:
//   node test/golden/gen-render-cases.ts && npm run golden:update
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GatewayIR } from '../../controller/ir/types.ts';
import type { Snapshot } from '../../controller/snapshot/types.ts';
import { translate } from '../../controller/translate/index.ts';
import { NOW, dump, readInput } from './golden.ts';

const TRANSLATE = join(import.meta.dirname, 'translate');
const DIR = join(import.meta.dirname, 'render');

function irOf(translateCase: string, key: string): GatewayIR {
  const input = readInput<Snapshot & { description?: string }>(TRANSLATE, translateCase);
  const { description: _d, ...snapshot } = input;
  const ir = translate(snapshot, { now: NOW }).gateways.find((g) => g.key === key);
  if (ir === undefined) throw new Error(`${translateCase}: no IR for ${key}`);
  return ir;
}

/** GCE facts as written in the YAML (render.test.ts turns them into Maps). */
interface FactsIn {
  instanceTags?: Record<string, string[]>;
  negInstances?: Record<string, string[]>;
}

/** Every instance of the IR's NEGs of `cluster` gets `tags` (instance key `project/zone/name`). */
function tagsOf(ir: GatewayIR, byCluster: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const g of ir.groups) for (const n of g.negs) for (const e of n.endpoints) if (byCluster[n.cluster] !== undefined) out[`${n.project}/${n.zone}/${e.instance}`] = byCluster[n.cluster]!;
  return out;
}

const facts: Record<string, FactsIn> = {};

const cases: Array<[string, string, GatewayIR]> = [
  ['design-store', 'DESIGN scenario 1: three TCP listeners, NEGs per member x zone, VIP allocated by GCE (FR IPAddress is the address URL until apply knows it; firewall destinationRanges the $VIP placeholder apply fills in); member b has an instance whose tags are unknown, so the firewall is marked firewallTagsIncomplete (apply keeps the live targets).', irOf('design-store-cluster-specific-imports', 'store/store')],
  ['design-app-8080-pinned-ip', 'DESIGN scenario 2 with spec.addresses IPAddress: the address pins the IP, FR uses it, VIP Services get status.loadBalancer.ingress with ipMode VIP.', irOf('design-app-8080-two-clusters-one-vip', 'app/app')],
  ['firewalls-and-global-access', 'Firewalls: health-check sources to HC ports (TCP serving port + UDP healthCheckNodePort), client ranges to listener ports, destinationRanges = VIP, targetTags = node tags; allowGlobalAccess true, CLIENT_IP affinity, UDP draining 0.', irOf('firewall-client-ranges-and-tags', 'svc/gw')],
  ['udp-health-check-vip-unknown', 'UDP listener: HTTP /healthz health check on the pinned healthCheckNodePort, VIP Service pins spec.healthCheckNodePort; VIP not known yet so the FR IPAddress is the address URL and the VIP Service has no status.', irOf('conf-udproute-simple', 'gateway-conformance-infra/udp-gateway')],
  ['mirrored-endpointslices', 'Several backendRefs: selectorless VIP Service plus mirrored EndpointSlices (labels kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by).', irOf('conf-tcproute-weighted-routing', 'gateway-conformance-infra/tcp-weighted-gateway')],
  ['existing-address', 'spec.addresses fleetilb.io/address-name: the address is the user\'s (addressOwned false); the VIP is a GCE fact apply reads from the address.', irOf('spec-addresses-address-name', 'addr/named')],
  ['frozen-member', 'Member b unreachable: its NEGs and its VIP Services are marked frozen (apply keeps them as they are).', irOf('member-unreachable-frozen', 'svc/gw')],
  ['shared-forwarding-rules', '11 listeners: shared backend services, forwarding rules with up to 5 ports.', irOf('eleven-listeners-sharing', 'svc/gw')],
  ['nodename-mapping-other-project', 'A member with nodeMapping NodeName in another project: its NEGs carry project onprem-project (fully-qualified NEG URLs in that project).', irOf('node-exclusions-and-zones', 'svc/gw')],
  ['udp-health-pod-port', 'UDP listener checked through its pods (translate DECISIONS 8): TCP health check on VIP:P; each VIP Service of the UDP listener gets a second port, TCP "health" P -> the pods\' named port ("health") or number (8080), and still pins healthCheckNodePort P.', irOf('udp-healthcheck-pod-port', 'svc/dns')],
  ['udp-health-pod-port-mirrored', 'UDP listener with two backendRefs checked through its pods: selectorless VIP Service port "health" (no targetPort); every mirrored EndpointSlice carries port "health" with the number resolved from its source (8080 by name, 8081 by number).', irOf('udp-healthcheck-pod-port-mirrored', 'svc/dns')],
  ['own-ilbconfig-no-backends', 'Per-Gateway ILBConfig (us-central1, global access, CLIENT_IP, draining 120 s); a listener without routes still gets HC, BS (no backends) and FR.', irOf('gateway-infrastructure-parametersref', 'params/gw-own')],
];

// Facts: discovered node tags where the firewall needs them; the NEG's current members for capping.
{
  const fw = cases.find((c) => c[0] === 'firewalls-and-global-access');
  if (fw !== undefined) facts[fw[0]] = { instanceTags: tagsOf(fw[2], { b: ['gke-b-node', 'gke-b-pool2'], c: [] }) };
  const store = cases.find((c) => c[0] === 'design-store');
  if (store !== undefined) {
    // One instance of member b unknown (its lookup failed): the firewall keeps the live targets.
    const tags = tagsOf(store[2], { 'gke-west-1': ['gke-west-node'], 'gke-east-1': ['gke-east-node'] });
    const unknown = Object.keys(tags).find((k) => k.includes('east'));
    if (unknown !== undefined) delete tags[unknown];
    facts[store[0]] = { instanceTags: tags };
  }
}
cases.push([
  'node-subset-cap-stable',
  'nodeSubsetSize 3 with 8 candidate nodes in one zone: the NEG keeps the 2 nodes it holds now (facts.negInstances) and fills up in hash order (minimal churn); the other zone is under the cap.',
  irOf('node-subset-cap-stable', 'svc/gw'),
]);
{
  const ir = cases.at(-1)![2];
  const neg = ir.groups[0]?.negs.find((n) => n.zone === 'europe-west1-b');
  if (neg !== undefined) facts['node-subset-cap-stable'] = { negInstances: { [`${neg.project}/${neg.zone}/${neg.name}`]: ['a-node-6', 'a-node-7', 'a-node-gone'] } };
}

for (const [name, description, ir] of cases) writeFileSync(join(DIR, `${name}.in.yaml`), dump({ description, ir, ...(facts[name] === undefined ? {} : { facts: facts[name] }) }));
console.log(`wrote ${cases.length} render cases`);
