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

const cases: Array<[string, string, GatewayIR]> = [
  ['design-store', 'DESIGN scenario 1: three TCP listeners, NEGs per member x zone, VIP known (FR IPAddress is the literal), no node tags known yet (no firewall rendered).', irOf('design-store-cluster-specific-imports', 'store/store')],
  ['design-app-8080-pinned-ip', 'DESIGN scenario 2 with spec.addresses IPAddress: the address pins the IP, FR uses it, VIP Services get status.loadBalancer.ingress with ipMode VIP.', irOf('design-app-8080-two-clusters-one-vip', 'app/app')],
  ['firewalls-and-global-access', 'Firewalls: health-check sources to HC ports (TCP serving port + UDP healthCheckNodePort), client ranges to listener ports, destinationRanges = VIP, targetTags = node tags; allowGlobalAccess true, CLIENT_IP affinity, UDP draining 0.', irOf('firewall-client-ranges-and-tags', 'svc/gw')],
  ['udp-health-check-vip-unknown', 'UDP listener: HTTP /healthz health check on the pinned healthCheckNodePort, VIP Service pins spec.healthCheckNodePort; VIP not known yet so the FR IPAddress is the address URL and the VIP Service has no status.', irOf('conf-udproute-simple', 'gateway-conformance-infra/udp-gateway')],
  ['mirrored-endpointslices', 'Several backendRefs: selectorless VIP Service plus mirrored EndpointSlices (labels kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by).', irOf('conf-tcproute-weighted-routing', 'gateway-conformance-infra/tcp-weighted-gateway')],
  ['existing-address', 'spec.addresses fleetilb.io/address-name: the address is the user\'s (addressOwned false); FR uses the VIP apply reported.', irOf('spec-addresses-address-name', 'addr/named')],
  ['frozen-member', 'Member b unreachable: its NEGs and its VIP Services are marked frozen (apply keeps them as they are).', irOf('member-unreachable-frozen', 'svc/gw')],
  ['shared-forwarding-rules', '11 listeners: shared backend services, forwarding rules with up to 5 ports.', irOf('eleven-listeners-sharing', 'svc/gw')],
  ['nodename-mapping-other-project', 'A member with nodeMapping NodeName in another project: its NEGs carry project onprem-project (fully-qualified NEG URLs in that project).', irOf('node-exclusions-and-zones', 'svc/gw')],
  ['own-ilbconfig-no-backends', 'Per-Gateway ILBConfig (us-central1, global access, CLIENT_IP, draining 120 s); a listener without routes still gets HC, BS (no backends) and FR.', irOf('gateway-infrastructure-parametersref', 'params/gw-own')],
];

for (const [name, description, ir] of cases) writeFileSync(join(DIR, `${name}.in.yaml`), dump({ description, ir }));
console.log(`wrote ${cases.length} render cases`);
