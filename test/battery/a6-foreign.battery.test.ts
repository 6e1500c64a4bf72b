// SPDX-License-Identifier: Apache-2.0
//
// Battery A6 (test/battery/README.md): foreign resources of every kind fleet-ilb manages (address,
// health check, NEG, backend service, forwarding rule, firewall) sit in the fleet's project, named
// with this fleet's own prefix (so the shared inventory lists them) but not stamped by this fleet:
// one set without any stamp (someone's hand-made objects) and one stamped by another fleet. A
// Gateway is then created, changed and deleted, and the controller runs several resyncs and orphan
// sweeps (periods shortened to seconds). fleet-ilb must never write to any of them (README: "fleet-ilb
// never touches one that is not its own"): zero writes naming them in the emulator audit, all still
// there, unchanged; and the test Gateway still converges and leaves nothing behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GceCloud } from '../../controller/infra/gcp/cloud/client.ts';
import { fleetPrefix } from '../../controller/naming/names.ts';
import { CONTROLLER_NAME, encodeStamp } from '../../controller/naming/stamp.ts';
import { GATEWAY_API, gatewayCondition, getGateway, waitGatewayCondition } from '../fixtures/conditions.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import type { Scenario } from '../fixtures/scenario.ts';
import { itemFleet, releaseFleet, auditMark, recordRow, stamped, newRow, storeRoute, tcpGateway } from './lib.ts';

const NS = 'store';
const FLEET = 'demo'; // the scenario controller's --fleet-id
const SWEEP_MS = 3_000;

const gateway = (name: string, port: number): KObject => tcpGateway(NS, name, port);
const route = (name: string): KObject => storeRoute(NS, name);

describe('A6 foreign resources of every kind are never touched', () => {
  let s: Scenario;
  let cloud: GceCloud;
  const row = newRow('A6', 'foreign resources (no stamp / other fleet) of 6 kinds, fleet prefix');
  const foreign: string[] = [];
  let before = '';
  let zone = '';

  const snapshot = (): string => {
    const inv = s.emulator.inventory();
    const pick = (xs: Array<Record<string, unknown>>): unknown[] => xs.filter((x) => foreign.includes(String(x['name']))).map((x) => ({ ...x, status: undefined, users: undefined }));
    return JSON.stringify([inv.addresses, inv.healthChecks, inv.networkEndpointGroups, inv.backendServices, inv.forwardingRules, inv.firewalls].map(pick));
  };

  beforeAll(async () => {
    s = await itemFleet({ controller: { sweepPeriodMs: SWEEP_MS, resyncPeriodMs: SWEEP_MS, sweepMinAgeMs: 0 } });
    await waitGatewayCondition(s.kube('config'), NS, 'store', 'Programmed', 120_000);
    cloud = new GceCloud({ project: s.gcp.project, clientOptions: s.emulator.clientOptions() });
    const { project, region, network, subnetwork } = s.gcp;
    const z = s.emulator.inventory().instances[0]?.['zone'];
    zone = (typeof z === 'string' ? z : '').split('/').pop() ?? '';
    const api = `https://www.googleapis.com/compute/v1/projects/${project}`;
    const net = `${api}/global/networks/${network}`;
    const sub = `${api}/regions/${region}/subnetworks/${subnetwork}`;
    const sets: Array<[string, string]> = [
      ['hand', 'made by hand'],
      ['other', encodeStamp({ controller: CONTROLLER_NAME, fleet: 'another-fleet', gateway: `${NS}/store`, gatewayUid: 'uid-of-another-fleet' })],
    ];
    for (const [tag, description] of sets) {
      const n = (k: string): string => {
        const name = `${fleetPrefix(FLEET)}${tag}-${k}`;
        foreign.push(name);
        return name;
      };
      await cloud.insert('address', region, { name: n('vip'), description, addressType: 'INTERNAL', purpose: 'SHARED_LOADBALANCER_VIP', subnetwork: sub });
      const hc = n('hc');
      await cloud.insert('healthCheck', region, { name: hc, description, type: 'TCP', tcpHealthCheck: { port: 8080 } });
      const neg = n('neg');
      await cloud.insert('networkEndpointGroup', zone, { name: neg, description, networkEndpointType: 'GCE_VM_IP', network: net });
      const bs = n('bs');
      await cloud.insert('backendService', region, {
        name: bs,
        description,
        loadBalancingScheme: 'INTERNAL',
        protocol: 'TCP',
        healthChecks: [`${api}/regions/${region}/healthChecks/${hc}`],
        backends: [{ group: `${api}/zones/${zone}/networkEndpointGroups/${neg}`, balancingMode: 'CONNECTION' }],
      });
      await cloud.insert('forwardingRule', region, {
        name: n('fr'),
        description,
        loadBalancingScheme: 'INTERNAL',
        IPProtocol: 'TCP',
        ports: ['9999'],
        backendService: `${api}/regions/${region}/backendServices/${bs}`,
        network: net,
        subnetwork: sub,
      });
      await cloud.insert('firewall', undefined, { name: n('fw'), description, network: net, direction: 'INGRESS', sourceRanges: ['10.0.0.0/8'], targetTags: ['nobody'], allowed: [{ IPProtocol: 'tcp', ports: ['9999'] }] });
    }
    before = snapshot();
  });

  afterAll(async () => {
    recordRow(row);
    // The foreign resources go again, dependents first (the fleet may be shared with the next item).
    const kinds = ['forwardingRule', 'backendService', 'networkEndpointGroup', 'healthCheck', 'firewall', 'address'] as const;
    const suffix = { forwardingRule: 'fr', backendService: 'bs', networkEndpointGroup: 'neg', healthCheck: 'hc', firewall: 'fw', address: 'vip' } as const;
    for (const kind of kinds) {
      for (const name of foreign.filter((n) => n.endsWith(`-${suffix[kind]}`))) {
        await cloud?.delete(kind, kind === 'firewall' ? undefined : kind === 'networkEndpointGroup' ? zone : s.gcp.region, name).catch(() => undefined);
      }
    }
    await cloud?.close();
    await releaseFleet(s);
  });

  it('create, change and delete a Gateway through resyncs and sweeps: no write to a foreign resource', async () => {
    const kube = s.kube('config');
    const mark = auditMark(s.emulator);
    const failures: string[] = [];
    const name = 'a6';
    await kube.apply(gateway(name, 8080));
    await kube.apply(route(name));
    const programmed = async (): Promise<boolean> => {
      const g = await getGateway(kube, NS, name);
      const c = gatewayCondition(g, 'Programmed');
      return c?.status === 'True' && c.observedGeneration === g?.metadata.generation;
    };
    await waitFor(programmed, 60_000, 'a6 Programmed').catch(() => failures.push('a6 not Programmed'));
    await kube.apply(gateway(name, 8081));
    await waitFor(programmed, 60_000, 'a6 Programmed after the port change').catch(() => failures.push('a6 not Programmed after the port change'));
    await kube.delete(GATEWAY_API, 'TCPRoute', name, NS);
    await kube.delete(GATEWAY_API, 'Gateway', name, NS);
    await waitFor(async () => (await getGateway(kube, NS, name)) === undefined && !stamped(s.emulator.inventory()).some((x) => x.gateway === `${NS}/${name}`), 60_000, 'a6 gone').catch(() =>
      failures.push('a6 not torn down'),
    );
    // Several sweeps and resyncs over the foreign objects (every SWEEP_MS).
    const sweepsFrom = s.emulator.audit().filter((a) => a.seq > mark && a.method === 'firewalls.list').length;
    await waitFor(() => s.emulator.audit().filter((a) => a.seq > mark && a.method === 'firewalls.list').length >= sweepsFrom + 3, 60_000, 'three more sweeps/resyncs').catch(() =>
      failures.push('no sweep or resync ran'),
    );
    const touched = s.emulator.audit().filter((a) => a.seq > mark && a.access === 'write' && foreign.some((f) => a.resource?.endsWith(`/${f}`) === true));
    row.runs++;
    row.forbiddenWrites += touched.length;
    if (touched.length > 0) failures.push(`${touched.length} writes to foreign resources: ${touched.slice(0, 4).map((a) => `${a.method} ${a.resource ?? ''}`).join(', ')}`);
    if (snapshot() !== before) failures.push('a foreign resource changed or disappeared');
    const left = stamped(s.emulator.inventory()).filter((x) => x.gateway === `${NS}/${name}`);
    row.gceLeaks += left.length;
    if (gatewayCondition(await getGateway(kube, NS, 'store'), 'Programmed')?.status !== 'True') failures.push('sibling store Gateway no longer Programmed');
    row.failures.push(...failures);
    expect(failures).toEqual([]);
  });
});
