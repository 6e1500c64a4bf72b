// SPDX-License-Identifier: Apache-2.0
//
// Wire-level behaviour: exact JSON types, lenient bodies, lists (paging, filter, aggregated), the batch endpoint,
// health reporting, the audit log and the admin endpoints.

import * as compute from '@google-cloud/compute';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Emulator } from './index.ts';
import { normalizeOut } from './proto.ts';
import { type Clients, P, REGION, ZONE_A, ZONE_B, bsBody, clients, frBody, hcBody, link, negBody, ok, start, vipBody } from './testkit.ts';

let emu: Emulator;
let c: Clients;

beforeEach(async () => {
  emu = await start();
  c = clients(emu);
});
afterEach(async () => emu.stop());

async function raw(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const r = await fetch(`${emu.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await r.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  return { status: r.status, json, text };
}

async function lb(): Promise<void> {
  await ok(c, c.negs.insert({ project: P, zone: ZONE_A, networkEndpointGroupResource: negBody('neg-a') }));
  await ok(
    c,
    c.negs.attachNetworkEndpoints({
      project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a',
      networkEndpointGroupsAttachEndpointsRequestResource: { networkEndpoints: [{ instance: 'node-a1' }, { instance: 'node-a2' }] },
    }),
  );
  await ok(c, c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody('hc1', 10256) }));
  await ok(c, c.bss.insert({ project: P, region: REGION, backendServiceResource: bsBody('bs1', 'hc1', [{ zone: ZONE_A, name: 'neg-a' }]) }));
  await ok(c, c.addrs.insert({ project: P, region: REGION, addressResource: vipBody('vip', '10.0.0.50') }));
  const vip = link(`regions/${REGION}/addresses/vip`);
  await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr-80', 'bs1', vip, ['80']) }));
  await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr-443', 'bs1', vip, ['443']) }));
}

describe('JSON on the wire', () => {
  it('emits proto3-JSON types: uint64 as strings, int32 as numbers, full URLs', async () => {
    await lb();
    const r = await raw('GET', `/compute/v1/projects/${P}/regions/${REGION}/backendServices/bs1`);
    expect(typeof r.json.id).toBe('string');
    expect(r.json.id).toMatch(/^\d+$/);
    expect(typeof r.json.timeoutSec).toBe('number');
    expect(r.json.kind).toBe('compute#backendService');
    expect(r.json.selfLink).toBe(link(`regions/${REGION}/backendServices/bs1`));
    expect(r.json.region).toBe(link(`regions/${REGION}`));
    expect(r.json.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}-07:00$/);
    // Every field the emulator emits exists in the proto with that type (normalizeOut throws otherwise).
    expect(normalizeOut('BackendService', r.json)).toEqual(r.json);
    const op = await raw('POST', `/compute/v1/projects/${P}/regions/${REGION}/healthChecks`, JSON.stringify(hcBody('hc2')));
    expect(typeof op.json.id).toBe('string');
    expect(typeof op.json.targetId).toBe('string');
    expect(typeof op.json.progress).toBe('number');
  });

  it('reads "" and empty bodies as no body; rejects malformed JSON with parseError', async () => {
    const op = await raw('POST', `/compute/v1/projects/${P}/regions/${REGION}/healthChecks`, JSON.stringify(hcBody('hc1')));
    const name = String(op.json.name);
    expect((await raw('POST', `/compute/v1/projects/${P}/regions/${REGION}/operations/${name}/wait`, '""')).json.status).toBe('DONE');
    expect((await raw('POST', `/compute/v1/projects/${P}/regions/${REGION}/operations/${name}/wait?`, '')).json.status).toBe('DONE');
    const bad = await raw('POST', `/compute/v1/projects/${P}/regions/${REGION}/healthChecks`, '{"name":');
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: { code: 400, errors: [{ reason: 'parseError' }] } });
    expect(String((bad.json.error as { message: string }).message)).toMatch(/^Invalid JSON payload received\./);
  });

  it('answers unknown paths with 404 and methods it does not emulate with 501', async () => {
    expect((await raw('GET', '/compute/v1/nothing/here')).status).toBe(404);
    const r = await raw('POST', `/compute/v1/projects/${P}/zones/${ZONE_A}/instances`, '{}');
    expect(r.status).toBe(501);
    expect(r.json).toMatchObject({ error: { errors: [{ reason: 'notImplemented' }] } });
  });
});

describe('lists', () => {
  it('pages with maxResults/pageToken (the client follows nextPageToken)', async () => {
    for (const n of ['hc-c', 'hc-a', 'hc-b']) await ok(c, c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody(n) }));
    emu.resetAudit();
    const [all] = await c.hcs.list({ project: P, region: REGION, maxResults: 2 });
    expect(all.map((h) => h.name)).toEqual(['hc-a', 'hc-b', 'hc-c']);
    const calls = emu.audit().filter((a) => a.method === 'regionHealthChecks.list');
    expect(calls).toHaveLength(2);
    expect(calls[1]!.query).toMatch(/pageToken=/);
    const first = await raw('GET', `/compute/v1/projects/${P}/regions/${REGION}/healthChecks?maxResults=1`);
    expect((first.json.items as unknown[]).length).toBe(1);
    expect(typeof first.json.nextPageToken).toBe('string');
    expect((await raw('GET', `/compute/v1/projects/${P}/regions/${REGION}/healthChecks?maxResults=501`)).status).toBe(400);
  });

  it('filters with `name eq <regex>`, `name = "x"`, `!=`, `:` and AND/OR', async () => {
    for (const n of ['fleet-a', 'fleet-b', 'other']) await ok(c, c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody(n) }));
    const names = async (filter: string): Promise<Array<string | null | undefined>> => {
      const [items] = await c.hcs.list({ project: P, region: REGION, filter });
      return items.map((h) => h.name);
    };
    expect(await names('name eq fleet-.*')).toEqual(['fleet-a', 'fleet-b']);
    expect(await names("name eq 'fleet'")).toEqual([]); // must match the whole field
    expect(await names('name = "other"')).toEqual(['other']);
    expect(await names('name != "other"')).toEqual(['fleet-a', 'fleet-b']);
    expect(await names('(name = "fleet-a") OR (name = "other")')).toEqual(['fleet-a', 'other']);
    expect(await names('(name : "fleet") (tcpHealthCheck.port = 8080)')).toEqual(['fleet-a', 'fleet-b']);
    const bad = await raw('GET', `/compute/v1/projects/${P}/regions/${REGION}/healthChecks?filter=${encodeURIComponent('(name = "x"')}`);
    expect(bad.status).toBe(400);
  });

  it('aggregates by scope with NO_RESULTS_ON_PAGE warnings for empty scopes', async () => {
    await ok(c, c.negs.insert({ project: P, zone: ZONE_A, networkEndpointGroupResource: negBody('neg-a') }));
    await ok(c, c.negs.insert({ project: P, zone: ZONE_B, networkEndpointGroupResource: negBody('neg-b') }));
    const seen: Record<string, string[]> = {};
    let warnings = 0;
    for await (const [scope, v] of c.negs.aggregatedListAsync({ project: P })) {
      if (v.warning?.code === 'NO_RESULTS_ON_PAGE') warnings++;
      if (v.networkEndpointGroups?.length) seen[scope] = v.networkEndpointGroups.map((n) => n.name!);
    }
    expect(seen).toEqual({ [`zones/${ZONE_A}`]: ['neg-a'], [`zones/${ZONE_B}`]: ['neg-b'] });
    expect(warnings).toBeGreaterThan(0);
    const inst: string[] = [];
    for await (const [, v] of new compute.InstancesClient(emu.clientOptions()).aggregatedListAsync({ project: P })) {
      for (const i of v.instances ?? []) inst.push(`${i.name} ${i.networkInterfaces?.[0]?.networkIP} ${i.tags?.items?.join(',')}`);
    }
    expect(inst.sort()).toEqual(['node-a1 10.0.0.11 cluster-a-node', 'node-a2 10.0.0.12 cluster-a-node', 'node-b1 10.0.0.21 cluster-b-node', 'node-b2 10.0.0.22 cluster-b-node']);
  });
});

describe('health', () => {
  it('reports getHealth per endpoint × forwarding rule from the prober, with the VIP and the health-check port', async () => {
    await lb();
    const probes: string[] = [];
    emu.setProber((t) => {
      probes.push(`${t.zone}/${t.instance} ${t.ipAddress} via ${t.forwardingRuleIp}:${t.port}`);
      return t.instance === 'node-a2' ? 'UNHEALTHY' : 'HEALTHY';
    });
    const [h] = await c.bss.getHealth({
      project: P, region: REGION, backendService: 'bs1',
      resourceGroupReferenceResource: { group: link(`zones/${ZONE_A}/networkEndpointGroups/neg-a`) },
    });
    expect(h.kind).toBe('compute#backendServiceGroupHealth');
    expect(h.healthStatus?.map((s) => `${s.instance?.split('/').pop()} ${s.forwardingRule?.split('/').pop()} ${s.healthState}`)).toEqual([
      'node-a1 fr-443 HEALTHY', 'node-a1 fr-80 HEALTHY', 'node-a2 fr-443 UNHEALTHY', 'node-a2 fr-80 UNHEALTHY',
    ]);
    expect(probes).toContain(`${ZONE_A}/node-a1 10.0.0.11 via 10.0.0.50:10256`);
  });

  it('lists network endpoints with healths when asked (healthStatus: SHOW)', async () => {
    await lb();
    emu.setProberRules({ default: 'HEALTHY', rules: [{ instance: 'node-a1', forwardingRuleIp: '10.0.0.50', state: 'UNHEALTHY' }] });
    const items = [];
    for await (const e of c.negs.listNetworkEndpointsAsync({
      project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a',
      networkEndpointGroupsListEndpointsRequestResource: { healthStatus: 'SHOW' },
    })) items.push(e);
    expect(items[0]?.networkEndpoint?.instance).toBe('node-a1');
    expect(items[0]?.healths?.map((x) => [x.backendService?.backendService, x.forwardingRule?.forwardingRule?.split('/').pop(), x.healthCheck?.healthCheck, x.healthState])).toEqual([
      [link(`regions/${REGION}/backendServices/bs1`), 'fr-443', link(`regions/${REGION}/healthChecks/hc1`), 'UNHEALTHY'],
      [link(`regions/${REGION}/backendServices/bs1`), 'fr-80', link(`regions/${REGION}/healthChecks/hc1`), 'UNHEALTHY'],
    ]);
    expect(items[1]?.healths?.every((x) => x.healthState === 'HEALTHY')).toBe(true);
    const skip = await raw('POST', `/compute/v1/projects/${P}/zones/${ZONE_A}/networkEndpointGroups/neg-a/listNetworkEndpoints`, '""');
    expect((skip.json.items as Array<Record<string, unknown>>)[0]).toEqual({ networkEndpoint: { instance: 'node-a1', ipAddress: '10.0.0.11' } });
  });
});

describe('batch endpoint', () => {
  it('serves multipart/mixed batches the way apitools sends them', async () => {
    await ok(c, c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody('hc1') }));
    const b = '===============7330845974216740156==';
    const part = (id: number, line: string, body?: string): string =>
      `--${b}\nContent-Type: application/http\nMIME-Version: 1.0\nContent-Transfer-Encoding: binary\nContent-ID: <a1b2c3+${id}>\n\n${line}\ncontent-type: application/json\nHost: 127.0.0.1\n\n${body ?? ''}`;
    const body = [
      part(0, `GET /compute/v1/projects/${P}/regions/${REGION}/healthChecks/hc1?alt=json HTTP/1.1`),
      part(1, `GET /compute/v1/projects/${P}/regions/${REGION}/healthChecks/missing?alt=json HTTP/1.1`),
      part(2, `POST /compute/v1/projects/${P}/regions/${REGION}/healthChecks?alt=json HTTP/1.1`, JSON.stringify(hcBody('hc2'))),
    ].join('\n') + `\n--${b}--\n`;
    const r = await fetch(`${emu.url}/batch/compute/v1`, { method: 'POST', headers: { 'content-type': `multipart/mixed; boundary="${b}"` }, body });
    expect(r.status).toBe(200);
    const ct = r.headers.get('content-type')!;
    expect(ct).toMatch(/^multipart\/mixed; boundary=/);
    const rb = ct.split('boundary=')[1]!;
    const text = await r.text();
    const parts = text.split(`--${rb}`).slice(1, -1);
    expect(parts).toHaveLength(3);
    expect(parts.map((p) => /Content-ID: (<[^>]+>)/.exec(p)?.[1])).toEqual(['<response-a1b2c3+0>', '<response-a1b2c3+1>', '<response-a1b2c3+2>']);
    expect(parts.map((p) => /HTTP\/1\.1 (\d+)/.exec(p)?.[1])).toEqual(['200', '404', '200']);
    expect(JSON.parse(parts[0]!.slice(parts[0]!.indexOf('{'))).name).toBe('hc1');
    expect(emu.inventory().healthChecks.map((h) => h.name)).toEqual(['hc1', 'hc2']);
    expect(emu.audit().filter((a) => a.batch).map((a) => a.method)).toEqual(['regionHealthChecks.get', 'regionHealthChecks.get', 'regionHealthChecks.insert']);
  });
});

describe('audit, counters, admin', () => {
  it('records every call with method, status, latency, caller and requestId; counts reads and writes', async () => {
    emu.resetAudit();
    const requestId = '5d1c6a1e-43a1-4c67-8c1b-3c0f8b7e2a10';
    await ok(c, c.hcs.insert({ project: P, region: REGION, requestId, healthCheckResource: hcBody('hc1') }, { otherArgs: { headers: { 'x-emulator-caller': 'ctrl-1/epoch-3' } } }));
    await c.hcs.get({ project: P, region: REGION, healthCheck: 'hc1' });
    const a = emu.audit();
    expect(a[0]).toMatchObject({
      method: 'regionHealthChecks.insert', httpMethod: 'POST', path: `/compute/v1/projects/${P}/regions/${REGION}/healthChecks`,
      status: 200, caller: 'ctrl-1/epoch-3', requestId, resource: `projects/${P}/regions/${REGION}/healthChecks/hc1`, access: 'write',
    });
    expect(a[0]!.apiClient).toMatch(/gax\//);
    expect(a[0]!.operation).toMatch(/^operation-/);
    expect(typeof a[0]!.latencyMs).toBe('number');
    expect(a[1]!.caller).toMatch(/google-api-nodejs-client/);
    expect(emu.counters()).toEqual({ 'regionHealthChecks.insert': { reads: 0, writes: 1 }, 'regionHealthChecks.get': { reads: 1, writes: 0 } });
  });

  it('exposes audit, counters, inventory, faults, seed, prober and config over /_emulator/', async () => {
    await ok(c, c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody('hc1') }));
    expect(((await raw('GET', '/_emulator/audit')).json.entries as unknown[]).length).toBe(emu.audit().length);
    expect((await raw('GET', '/_emulator/counters')).json).toEqual(emu.counters());
    expect(((await raw('GET', '/_emulator/inventory')).json.healthChecks as Array<{ name: string }>).map((h) => h.name)).toEqual(['hc1']);

    const f = await raw('POST', '/_emulator/faults', JSON.stringify({ method: 'regionHealthChecks.get', times: 1, action: { kind: 'http', status: 429 } }));
    expect((await raw('GET', `/compute/v1/projects/${P}/regions/${REGION}/healthChecks/hc1`)).status).toBe(429);
    expect(((await raw('GET', '/_emulator/faults')).json.faults as Array<{ id: string; fired: number }>)).toMatchObject([{ id: f.json.id, fired: 1 }]);
    await raw('DELETE', '/_emulator/faults');
    expect((await raw('POST', '/_emulator/faults', '{"action":{"kind":"nope"}}')).status).toBe(400);

    await raw('POST', '/_emulator/seed', `projects:\n  p2:\n    networks: [{name: n2}]\n    subnetworks: [{name: s2, region: ${REGION}, network: n2, ipCidrRange: 192.168.0.0/24}]\n    instances: [{name: vm, zone: ${ZONE_A}, subnetwork: s2}]\n`);
    const vm = await raw('GET', `/compute/v1/projects/p2/zones/${ZONE_A}/instances/vm`);
    expect((vm.json.networkInterfaces as Array<{ networkIP: string }>)[0]!.networkIP).toBe('192.168.0.2');

    await raw('PUT', '/_emulator/prober', JSON.stringify({ default: 'UNHEALTHY' }));
    await ok(c, c.negs.insert({ project: P, zone: ZONE_A, networkEndpointGroupResource: negBody('neg-a') }));
    await ok(c, c.negs.attachNetworkEndpoints({ project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a', networkEndpointGroupsAttachEndpointsRequestResource: { networkEndpoints: [{ instance: 'node-a1' }] } }));
    await ok(c, c.bss.insert({ project: P, region: REGION, backendServiceResource: bsBody('bs1', 'hc1', [{ zone: ZONE_A, name: 'neg-a' }]) }));
    const [h] = await c.bss.getHealth({ project: P, region: REGION, backendService: 'bs1', resourceGroupReferenceResource: { group: link(`zones/${ZONE_A}/networkEndpointGroups/neg-a`) } });
    expect(h.healthStatus?.[0]?.healthState).toBe('UNHEALTHY');

    expect((await raw('PUT', '/_emulator/config', JSON.stringify({ operationLatencyMs: 50 }))).json).toMatchObject({ operationLatencyMs: 50 });
    const op = await raw('POST', `/compute/v1/projects/${P}/regions/${REGION}/healthChecks`, JSON.stringify(hcBody('hc9')));
    expect(op.json.status).toBe('PENDING');
    await raw('DELETE', '/_emulator/audit');
    expect(emu.audit()).toEqual([]);
  });

  it('rejects a seed that does not fit (IP outside the subnet, taken IP, unknown subnetwork)', () => {
    expect(() => emu.seed({ projects: { [P]: { instances: [{ name: 'x', zone: ZONE_A, subnetwork: 'sub1', networkIP: '10.9.9.9' }] } } })).toThrow(/not usable/);
    expect(() => emu.seed({ projects: { [P]: { instances: [{ name: 'x', zone: ZONE_A, subnetwork: 'sub1', networkIP: '10.0.0.11' }] } } })).toThrow(/in use/);
    expect(() => emu.seed({ projects: { [P]: { instances: [{ name: 'x', zone: ZONE_A, subnetwork: 'nope' }] } } })).toThrow(/not seeded/);
  });
});
