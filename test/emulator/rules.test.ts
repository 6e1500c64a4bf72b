// SPDX-License-Identifier: Apache-2.0
//
// One focused test per API rule the emulator enforces (test/emulator/README.md), each through
// `@google-cloud/compute` so it asserts what the client surfaces. Removing a rule from the emulator fails its test.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Emulator } from './index.ts';
import {
  type Clients,
  P,
  REGION,
  ZONE_A,
  ZONE_B,
  bsBody,
  clients,
  done,
  expectApiError,
  expectOpError,
  frBody,
  hcBody,
  link,
  negBody,
  ok,
  start,
  vipBody,
} from './testkit.ts';

let emu: Emulator;
let c: Clients;

beforeEach(async () => {
  emu = await start();
  c = clients(emu);
});
afterEach(async () => emu.stop());

const negA = { zone: ZONE_A, name: 'neg-a' };
const negB = { zone: ZONE_B, name: 'neg-b' };

async function mkNeg(zone: string, name: string, endpoints: Array<{ instance: string; ipAddress?: string }> = []): Promise<void> {
  await ok(c, c.negs.insert({ project: P, zone, networkEndpointGroupResource: negBody(name) }));
  if (endpoints.length > 0) await attach(zone, name, endpoints);
}
function attach(zone: string, name: string, networkEndpoints: Array<Record<string, unknown>>): Promise<unknown> {
  return ok(c, c.negs.attachNetworkEndpoints({ project: P, zone, networkEndpointGroup: name, networkEndpointGroupsAttachEndpointsRequestResource: { networkEndpoints } }));
}
async function mkLb(opts: { vip?: string; purpose?: string; protocol?: string } = {}): Promise<void> {
  await mkNeg(ZONE_A, 'neg-a', [{ instance: 'node-a1' }]);
  await ok(c, c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody('hc1') }));
  await ok(c, c.bss.insert({ project: P, region: REGION, backendServiceResource: bsBody('bs1', 'hc1', [negA], opts.protocol ?? 'TCP') }));
  if (opts.vip !== undefined) await ok(c, c.addrs.insert({ project: P, region: REGION, addressResource: vipBody('vip', opts.vip, opts.purpose) }));
}
const vipLink = link(`regions/${REGION}/addresses/vip`);

describe('names and existence', () => {
  it.each(['Bad-Name', '1abc', 'a'.repeat(64), 'ends-with-dash-', 'under_score'])('rejects the name %j (RFC 1035, ≤63 chars)', async (name) => {
    await expectApiError(
      c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody(name) }),
      400,
      'invalid',
      /^Invalid value for field 'resource\.name': '.*'\. Must be a match of regex '\(\?:\[a-z\]\(\?:\[-a-z0-9\]\{0,61\}\[a-z0-9\]\)\?\)'$/,
    );
  });

  it('accepts a 63-character name', async () => {
    await ok(c, c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody(`a${'b'.repeat(62)}`) }));
  });

  it('requires a name', async () => {
    await expectApiError(c.hcs.insert({ project: P, region: REGION, healthCheckResource: { type: 'TCP' } }), 400, 'required', /^Required field 'resource\.name' not specified$/);
  });

  it('answers 409 alreadyExists for a taken name', async () => {
    await ok(c, c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody('hc1') }));
    const err = await expectApiError(
      c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody('hc1') }),
      409,
      'alreadyExists',
      /^The resource 'projects\/p1\/regions\/us-central1\/healthChecks\/hc1' already exists$/,
    );
    expect(err.code).toBe(10); // gax maps 409 to ABORTED (docs/compute-api.md "Errors as the Node client gives them")
  });

  it('answers 404 notFound for get and delete of a missing resource', async () => {
    const err = await expectApiError(
      c.bss.get({ project: P, region: REGION, backendService: 'nope' }),
      404,
      'notFound',
      /^The resource 'projects\/p1\/regions\/us-central1\/backendServices\/nope' was not found$/,
    );
    expect(err.code).toBe(5);
    await expectApiError(c.negs.delete({ project: P, zone: ZONE_A, networkEndpointGroup: 'nope' }), 404, 'notFound', /networkEndpointGroups\/nope' was not found/);
  });

  it('answers 404 for an unknown project and 400 for an unknown region', async () => {
    await expectApiError(c.hcs.get({ project: 'nope', region: REGION, healthCheck: 'x' }), 404, 'notFound', /^The resource 'projects\/nope' was not found$/);
    await expectApiError(c.hcs.get({ project: P, region: 'mars-north1', healthCheck: 'x' }), 400, 'invalid', /'mars-north1'/);
  });
});

describe('request bodies', () => {
  it('rejects unknown fields like the JSON front end, and types that do not match the proto', async () => {
    const raw = await fetch(`${emu.url}/compute/v1/projects/${P}/regions/${REGION}/healthChecks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...hcBody('hc1'), foo: 1 }),
    });
    expect(raw.status).toBe(400);
    const body = (await raw.json()) as { error: { message: string; errors: Array<{ reason: string }>; status: string } };
    expect(body.error.message).toBe(`Invalid JSON payload received. Unknown name "foo" at 'resource': Cannot find field.`);
    expect(body.error.errors[0]!.reason).toBe('invalid');
    expect(body.error.status).toBe('INVALID_ARGUMENT');

    const nested = await fetch(`${emu.url}/compute/v1/projects/${P}/regions/${REGION}/healthChecks`, {
      method: 'POST',
      body: JSON.stringify({ ...hcBody('hc1'), tcpHealthCheck: { port: 80, bar: true } }),
    });
    expect(((await nested.json()) as { error: { message: string } }).error.message).toBe(
      `Invalid JSON payload received. Unknown name "bar" at 'resource.tcpHealthCheck': Cannot find field.`,
    );
    const typed = await fetch(`${emu.url}/compute/v1/projects/${P}/regions/${REGION}/healthChecks`, {
      method: 'POST',
      body: JSON.stringify({ ...hcBody('hc1'), checkIntervalSec: 'often' }),
    });
    expect(typed.status).toBe(400);
    expect(((await typed.json()) as { error: { message: string } }).error.message).toBe(`Invalid value at 'resource.checkIntervalSec' (TYPE_INT32), "often"`);
  });

  it('accepts what the Node client sends (metadatas: {}, explicit false/0, "" bodies)', async () => {
    await mkLb();
    const [bs] = await c.bss.get({ project: P, region: REGION, backendService: 'bs1' });
    // The decoded object carries proto virtual keys (`_name: 'name'`, …); the client does not send them back (the
    // emulator would reject them as unknown names), but it does add `metadatas: {}` and explicit false/0 values.
    expect(Object.keys(bs)).toContain('_name');
    emu.resetAudit();
    await ok(
      c,
      c.bss.update({
        project: P, region: REGION, backendService: 'bs1',
        backendServiceResource: { ...bs, connectionDraining: { drainingTimeoutSec: 0 }, failoverPolicy: { dropTrafficIfUnhealthy: false } },
      }),
    );
    expect(emu.audit().map((a) => [a.method, a.status])).toEqual([['regionBackendServices.update', 200]]);
    const [after] = await c.bss.get({ project: P, region: REGION, backendService: 'bs1' });
    expect(after.failoverPolicy?.dropTrafficIfUnhealthy).toBe(false);
  });
});

describe('operations', () => {
  it('goes PENDING → RUNNING → DONE and applies the change only at DONE', async () => {
    emu.setOperationLatency(300);
    const [lro] = (await c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody('hc1') })) as unknown as [{ latestResponse: { status: string; name: string } }];
    expect(lro.latestResponse.status).toBe('PENDING');
    await expectApiError(c.hcs.get({ project: P, region: REGION, healthCheck: 'hc1' }), 404, 'notFound', /hc1/);
    await new Promise((r) => setTimeout(r, 180));
    const [mid] = await c.regionOps.get({ project: P, region: REGION, operation: lro.latestResponse.name });
    expect(mid.status).toBe('RUNNING');
    const t0 = Date.now();
    const [end] = await c.regionOps.wait({ project: P, region: REGION, operation: lro.latestResponse.name });
    expect(end.status).toBe('DONE');
    expect(Date.now() - t0).toBeLessThan(1000); // wait returns as soon as the op is DONE
    expect(end.progress).toBe(100);
    expect(end.targetLink).toBe(link(`regions/${REGION}/healthChecks/hc1`));
    const [hc] = await c.hcs.get({ project: P, region: REGION, healthCheck: 'hc1' });
    expect(String(hc.id)).toBe(String(end.targetId));
  });

  it('returns from wait after the bound even when the operation is not DONE', async () => {
    emu.setOperationLatency(5000);
    emu.setWaitTimeout(200);
    const [lro] = (await c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody('hc1') })) as unknown as [{ latestResponse: { name: string } }];
    const t0 = Date.now();
    const [op] = await c.regionOps.wait({ project: P, region: REGION, operation: lro.latestResponse.name });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(180);
    expect(op.status).not.toBe('DONE');
  });

  it('finds an operation by numeric id as well as by name', async () => {
    const op = await ok(c, c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody('hc1') }));
    const [byId] = await c.regionOps.get({ project: P, region: REGION, operation: String(op.id) });
    expect(byId.name).toBe(op.name);
  });

  it('replays a requestId: the original operation comes back and nothing is done twice', async () => {
    const requestId = '0b2f6f7e-2f52-4d63-9a35-6d6f0f0e6a11';
    const first = await ok(c, c.hcs.insert({ project: P, region: REGION, requestId, healthCheckResource: hcBody('hc1') }));
    const again = await done(c, c.hcs.insert({ project: P, region: REGION, requestId, healthCheckResource: hcBody('hc1') }));
    expect(again.name).toBe(first.name);
    expect(again.error).toBeFalsy();
    expect(again.clientOperationId).toBe(requestId);
    expect(emu.inventory().healthChecks).toHaveLength(1);
    // Without the requestId the same insert is a conflict.
    await expectApiError(c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody('hc1') }), 409, 'alreadyExists', /already exists/);
  });

  it('rejects a requestId that is not a UUID, and the zero UUID', async () => {
    await expectApiError(c.hcs.insert({ project: P, region: REGION, requestId: 'abc', healthCheckResource: hcBody('hc1') }), 400, 'invalid', /requestId/);
    await expectApiError(
      c.hcs.insert({ project: P, region: REGION, requestId: '00000000-0000-0000-0000-000000000000', healthCheckResource: hcBody('hc1') }),
      400,
      'invalid',
      /zero UUID/,
    );
  });

  it('ends the operation with an error when the state changed before it ran (in-operation error form)', async () => {
    await mkLb();
    emu.setOperationLatency(100);
    const a = c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr-a', 'bs1', '10.0.0.60') });
    const b = c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr-b', 'bs1', '10.0.0.60', ['9090']) });
    const [opA, opB] = await Promise.all([done(c, a), done(c, b)]);
    expect(opA.error).toBeFalsy();
    expectOpError(opB, 'IP_IN_USE_BY_ANOTHER_RESOURCE', 409, /^IP '10\.0\.0\.60' is already being used by another resource\.$/);
    expect(opB.httpErrorMessage).toBe('CONFLICT');
  });
});

describe('reference integrity', () => {
  it('refuses to delete a health check, NEG or backend service in use (400 resourceInUseByAnotherResource)', async () => {
    await mkLb();
    await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr1', 'bs1', undefined) }));
    await expectApiError(c.hcs.delete({ project: P, region: REGION, healthCheck: 'hc1' }), 400, 'resourceInUseByAnotherResource', /is already being used by '.*backendServices\/bs1'$/);
    await expectApiError(c.negs.delete({ project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a' }), 400, 'resourceInUseByAnotherResource', /is already being used by/);
    await expectApiError(c.bss.delete({ project: P, region: REGION, backendService: 'bs1' }), 400, 'resourceInUseByAnotherResource', /is already being used by '.*forwardingRules\/fr1'$/);
  });

  it('refuses references to missing resources with 404 naming the missing one', async () => {
    await mkNeg(ZONE_A, 'neg-a');
    await expectApiError(
      c.bss.insert({ project: P, region: REGION, backendServiceResource: bsBody('bs1', 'missing-hc', [negA]) }),
      404,
      'notFound',
      /^The resource 'projects\/p1\/regions\/us-central1\/healthChecks\/missing-hc' was not found$/,
    );
    await ok(c, c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody('hc1') }));
    await expectApiError(
      c.bss.insert({ project: P, region: REGION, backendServiceResource: bsBody('bs1', 'hc1', [negB]) }),
      404,
      'notFound',
      /networkEndpointGroups\/neg-b' was not found$/,
    );
    await expectApiError(c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr1', 'nope', undefined) }), 404, 'notFound', /backendServices\/nope' was not found$/);
    await ok(c, c.bss.insert({ project: P, region: REGION, backendServiceResource: bsBody('bs1', 'hc1', [negA]) }));
    await expectApiError(c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr1', 'bs1', vipLink) }), 404, 'notFound', /addresses\/vip' was not found$/);
  });
});

describe('health checks', () => {
  it('requires timeoutSec ≤ checkIntervalSec', async () => {
    await expectApiError(
      c.hcs.insert({ project: P, region: REGION, healthCheckResource: { ...hcBody('hc1'), checkIntervalSec: 5, timeoutSec: 10 } }),
      400,
      'invalid',
      /^Invalid value for field 'resource\.timeoutSec': '10'\. TimeoutSec should be less than checkIntervalSec\.$/,
    );
    await ok(c, c.hcs.insert({ project: P, region: REGION, healthCheckResource: { ...hcBody('hc1'), checkIntervalSec: 10, timeoutSec: 10 } }));
  });

  it('requires the sub-message to match the type', async () => {
    await expectApiError(
      c.hcs.insert({ project: P, region: REGION, healthCheckResource: { name: 'hc1', type: 'TCP', httpHealthCheck: { port: 80 } } }),
      400,
      'invalid',
      /^Invalid value for field 'resource\.httpHealthCheck'/,
    );
  });

  it('fills the API defaults', async () => {
    await ok(c, c.globalHcs.insert({ project: P, healthCheckResource: { name: 'hc1', type: 'HTTP' } }));
    const [hc] = await c.globalHcs.get({ project: P, healthCheck: 'hc1' });
    expect([hc.checkIntervalSec, hc.timeoutSec, hc.healthyThreshold, hc.unhealthyThreshold]).toEqual([5, 5, 2, 2]);
    expect(hc.httpHealthCheck).toMatchObject({ port: 80, requestPath: '/', proxyHeader: 'NONE' });
    expect(hc.region).toBeFalsy();
  });
});

describe('network endpoint groups (GCE_VM_IP)', () => {
  it('rejects defaultPort', async () => {
    await expectApiError(
      c.negs.insert({ project: P, zone: ZONE_A, networkEndpointGroupResource: { ...negBody('neg-a'), defaultPort: 80 } }),
      400,
      'invalid',
      /^Invalid value for field 'resource\.defaultPort': '80'/,
    );
  });

  it('rejects an endpoint port', async () => {
    await mkNeg(ZONE_A, 'neg-a');
    await expectApiError(
      c.negs.attachNetworkEndpoints({ project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a', networkEndpointGroupsAttachEndpointsRequestResource: { networkEndpoints: [{ instance: 'node-a1', port: 80 }] } }),
      400,
      'invalid',
      /^Invalid value for field 'resource\.networkEndpoints\[0\]\.port': '80'/,
    );
  });

  it('requires the instance to be in the NEG zone', async () => {
    await mkNeg(ZONE_A, 'neg-a');
    await expectApiError(
      c.negs.attachNetworkEndpoints({
        project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a',
        networkEndpointGroupsAttachEndpointsRequestResource: { networkEndpoints: [{ instance: link(`zones/${ZONE_B}/instances/node-b1`) }] },
      }),
      400,
      'invalid',
      /same zone/,
    );
    // By name, an instance of another zone does not exist in this one.
    await expectApiError(
      c.negs.attachNetworkEndpoints({ project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a', networkEndpointGroupsAttachEndpointsRequestResource: { networkEndpoints: [{ instance: 'node-b1' }] } }),
      404,
      'notFound',
      /zones\/us-central1-a\/instances\/node-b1' was not found$/,
    );
  });

  it("requires ipAddress to be the instance's NIC IP in the NEG's network", async () => {
    await mkNeg(ZONE_A, 'neg-a');
    await expectApiError(
      c.negs.attachNetworkEndpoints({ project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a', networkEndpointGroupsAttachEndpointsRequestResource: { networkEndpoints: [{ instance: 'node-a1', ipAddress: '10.0.0.13' }] } }),
      400,
      'invalid',
      /^Invalid value for field 'resource\.ipAddress': '10\.0\.0\.13'\. Specified IP address 10\.0\.0\.13 doesn't belong to the \(sub\)network sub1 or to the instance node-a1\.$/,
    );
  });

  it('takes at most 500 endpoints per call', async () => {
    await mkNeg(ZONE_A, 'neg-a');
    const many = Array.from({ length: 501 }, () => ({ instance: 'node-a1' }));
    await expectApiError(
      c.negs.attachNetworkEndpoints({ project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a', networkEndpointGroupsAttachEndpointsRequestResource: { networkEndpoints: many } }),
      400,
      'invalid',
      /500/,
    );
    await attach(ZONE_A, 'neg-a', many.slice(0, 500)); // 500 is fine (duplicates collapse)
  });

  it('reports size, fills ipAddress, detaches, and refuses to detach what is not attached', async () => {
    await mkNeg(ZONE_A, 'neg-a', [{ instance: 'node-a1' }, { instance: link(`zones/${ZONE_A}/instances/node-a2`), ipAddress: '10.0.0.12' }]);
    let [neg] = await c.negs.get({ project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a' });
    expect(neg.size).toBe(2);
    const eps = [];
    for await (const e of c.negs.listNetworkEndpointsAsync({ project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a' })) eps.push(e.networkEndpoint);
    expect(eps.map((e) => [e?.instance, e?.ipAddress])).toEqual([['node-a1', '10.0.0.11'], ['node-a2', '10.0.0.12']]);
    await ok(c, c.negs.detachNetworkEndpoints({ project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a', networkEndpointGroupsDetachEndpointsRequestResource: { networkEndpoints: [{ instance: 'node-a1', ipAddress: '10.0.0.11' }] } }));
    [neg] = await c.negs.get({ project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a' });
    expect(neg.size).toBe(1);
    await expectApiError(
      c.negs.detachNetworkEndpoints({ project: P, zone: ZONE_A, networkEndpointGroup: 'neg-a', networkEndpointGroupsDetachEndpointsRequestResource: { networkEndpoints: [{ instance: 'node-a1' }] } }),
      404,
      'notFound',
      /node-a1/,
    );
  });
});

describe('backend services', () => {
  beforeEach(async () => {
    await mkNeg(ZONE_A, 'neg-a');
    await mkNeg(ZONE_B, 'neg-b');
    await ok(c, c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody('hc1') }));
  });

  it('requires backend groups as full URLs', async () => {
    const body = bsBody('bs1', 'hc1', []);
    body.backends = [{ group: `projects/${P}/zones/${ZONE_A}/networkEndpointGroups/neg-a` }];
    await expectApiError(c.bss.insert({ project: P, region: REGION, backendServiceResource: body }), 400, 'invalid', /^Invalid value for field 'resource\.backends\[0\]\.group'/);
  });

  it('refuses duplicate backend groups', async () => {
    await expectApiError(c.bss.insert({ project: P, region: REGION, backendServiceResource: bsBody('bs1', 'hc1', [negA, negA]) }), 400, 'invalid', /backends\[1\]\.group.*Duplicate/);
  });

  it('takes at most 50 backends', async () => {
    const body = bsBody('bs1', 'hc1', []);
    body.backends = Array.from({ length: 51 }, () => ({ group: link(`zones/${ZONE_A}/networkEndpointGroups/neg-a`) }));
    await expectApiError(c.bss.insert({ project: P, region: REGION, backendServiceResource: body }), 400, 'invalid', /maximum number of backends \(50\)/);
  });

  it('requires a health check with NEG backends', async () => {
    const body = bsBody('bs1', 'hc1', [negA]);
    body.healthChecks = [];
    await expectApiError(c.bss.insert({ project: P, region: REGION, backendServiceResource: body }), 400, 'invalid', /resource\.healthChecks.*health check must be specified/i);
  });

  it('refuses CONNECTION-incompatible backend settings for INTERNAL', async () => {
    const body = bsBody('bs1', 'hc1', [negA]);
    body.backends![0]!.balancingMode = 'RATE';
    await expectApiError(c.bss.insert({ project: P, region: REGION, backendServiceResource: body }), 400, 'invalid', /balancingMode/);
  });

  it('locks update with the fingerprint: missing → 400 required, stale → 412 Invalid fingerprint.', async () => {
    await ok(c, c.bss.insert({ project: P, region: REGION, backendServiceResource: bsBody('bs1', 'hc1', [negA]) }));
    const [bs] = await c.bss.get({ project: P, region: REGION, backendService: 'bs1' });
    const { fingerprint, ...noFp } = bs;
    await expectApiError(c.bss.update({ project: P, region: REGION, backendService: 'bs1', backendServiceResource: noFp }), 400, 'required', /^Required field 'resource\.fingerprint' not specified$/);
    await ok(c, c.bss.update({ project: P, region: REGION, backendService: 'bs1', backendServiceResource: { ...bs, sessionAffinity: 'CLIENT_IP' } }));
    const err = await expectApiError(
      c.bss.update({ project: P, region: REGION, backendService: 'bs1', backendServiceResource: { ...bs, fingerprint } }),
      412,
      'conditionNotMet',
      /^Invalid fingerprint\.$/,
    );
    expect(err.code).toBe(9); // other 4xx → FAILED_PRECONDITION
    await expectApiError(
      c.bss.patch({ project: P, region: REGION, backendService: 'bs1', backendServiceResource: { fingerprint, sessionAffinity: 'NONE' } }),
      412,
      'conditionNotMet',
      /^Invalid fingerprint\.$/,
    );
  });

  it('PATCH merges (absent = unchanged), PUT replaces (absent = cleared)', async () => {
    await ok(c, c.bss.insert({ project: P, region: REGION, backendServiceResource: bsBody('bs1', 'hc1', [negA, negB]) }));
    await ok(c, c.bss.patch({ project: P, region: REGION, backendService: 'bs1', backendServiceResource: { sessionAffinity: 'CLIENT_IP', connectionDraining: { drainingTimeoutSec: 30 } } }));
    let [bs] = await c.bss.get({ project: P, region: REGION, backendService: 'bs1' });
    expect([bs.sessionAffinity, bs.backends?.length, bs.connectionDraining?.drainingTimeoutSec]).toEqual(['CLIENT_IP', 2, 30]);
    await ok(c, c.bss.update({ project: P, region: REGION, backendService: 'bs1', backendServiceResource: { name: 'bs1', loadBalancingScheme: 'INTERNAL', protocol: 'TCP', fingerprint: bs.fingerprint } }));
    [bs] = await c.bss.get({ project: P, region: REGION, backendService: 'bs1' });
    expect([bs.sessionAffinity, bs.backends?.length ?? 0, bs.healthChecks?.length ?? 0]).toEqual(['NONE', 0, 0]);
  });

  it('keeps loadBalancingScheme immutable', async () => {
    await ok(c, c.bss.insert({ project: P, region: REGION, backendServiceResource: bsBody('bs1', 'hc1', [negA]) }));
    await expectApiError(c.bss.patch({ project: P, region: REGION, backendService: 'bs1', backendServiceResource: { loadBalancingScheme: 'EXTERNAL' } }), 400, 'invalid', /loadBalancingScheme/);
  });
});

describe('forwarding rules and addresses', () => {
  it('takes ≤5 ports', async () => {
    await mkLb();
    await expectApiError(
      c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr1', 'bs1', undefined, ['1', '2', '3', '4', '5', '6']) }),
      400,
      'invalid',
      /^Invalid value for field 'resource\.ports'.*Maximum is 5\.$/,
    );
    await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr1', 'bs1', undefined, ['1', '2', '3', '4', '5']) }));
  });

  it('takes ports xor allPorts', async () => {
    await mkLb();
    await expectApiError(
      c.frs.insert({ project: P, region: REGION, forwardingRuleResource: { ...frBody('fr1', 'bs1', undefined), allPorts: true } }),
      400,
      'invalid',
      /mutually exclusive/,
    );
    await expectApiError(c.frs.insert({ project: P, region: REGION, forwardingRuleResource: { ...frBody('fr1', 'bs1', undefined), ports: [] } }), 400, 'invalid', /Either ports or allPorts/);
    const allPorts = { ...frBody('fr1', 'bs1', undefined), allPorts: true };
    delete allPorts.ports;
    await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: allPorts }));
  });

  it('requires the protocol to match the backend service, also when the service changes', async () => {
    await mkLb();
    await expectApiError(c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr1', 'bs1', undefined, ['53'], 'UDP') }), 400, 'invalid', /resource\.IPProtocol.*must match/);
    await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr1', 'bs1', undefined) }));
    await expectApiError(c.bss.patch({ project: P, region: REGION, backendService: 'bs1', backendServiceResource: { protocol: 'UDP' } }), 400, 'invalid', /resource\.protocol.*forwarding rule/);
  });

  it('allocates an IP from the subnet when none is given (address and forwarding rule), avoiding used ones', async () => {
    await mkLb();
    await ok(c, c.addrs.insert({ project: P, region: REGION, addressResource: vipBody('auto', undefined, 'GCE_ENDPOINT') }));
    await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr1', 'bs1', undefined) }));
    const [a] = await c.addrs.get({ project: P, region: REGION, address: 'auto' });
    const [f] = await c.frs.get({ project: P, region: REGION, forwardingRule: 'fr1' });
    // .0 network, .1 gateway are reserved; .11/.12/.21/.22 are node NICs.
    expect([a.address, f.IPAddress]).toEqual(['10.0.0.2', '10.0.0.3']);
  });

  it('keeps internal IPs inside the subnet and off its reserved addresses', async () => {
    await expectApiError(c.addrs.insert({ project: P, region: REGION, addressResource: vipBody('vip', '10.9.0.5') }), 400, 'invalid', /outside the network\/subnetwork range/);
    await expectApiError(c.addrs.insert({ project: P, region: REGION, addressResource: vipBody('vip', '10.0.0.1') }), 400, 'invalid', /reserved/);
    await mkLb();
    await expectApiError(c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr1', 'bs1', '10.9.0.5') }), 400, 'invalid', /outside the network\/subnetwork range/);
  });

  it('refuses a second reservation of a taken IP (IP_IN_USE_BY_ANOTHER_RESOURCE in the operation)', async () => {
    await ok(c, c.addrs.insert({ project: P, region: REGION, addressResource: vipBody('vip', '10.0.0.50') }));
    const op = await done(c, c.addrs.insert({ project: P, region: REGION, addressResource: vipBody('vip2', '10.0.0.50') }));
    expectOpError(op, 'IP_IN_USE_BY_ANOTHER_RESOURCE', 409, /^IP '10\.0\.0\.50' is already being used by another resource\.$/);
    expect(emu.inventory().addresses).toHaveLength(1);
  });

  it('refuses a second rule on a non-shared address with 409 IP_IN_USE_BY_ANOTHER_RESOURCE', async () => {
    await mkLb({ vip: '10.0.0.50', purpose: 'GCE_ENDPOINT' });
    await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr1', 'bs1', vipLink) }));
    const op = await done(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr2', 'bs1', vipLink, ['9090']) }));
    expectOpError(op, 'IP_IN_USE_BY_ANOTHER_RESOURCE', 409, /10\.0\.0\.50/);
  });

  it('shares a SHARED_LOADBALANCER_VIP among ≤10 rules without port overlap per protocol', async () => {
    await mkLb({ vip: '10.0.0.50' });
    await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr1', 'bs1', vipLink, ['8080', '8081']) }));
    await expectApiError(
      c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr-overlap', 'bs1', vipLink, ['8081']) }),
      400,
      'invalid',
      /port range is conflicting with forwarding rule '.*fr1'/,
    );
    // Same port, other protocol: fine (needs a UDP backend service).
    await ok(c, c.bss.insert({ project: P, region: REGION, backendServiceResource: bsBody('bs-udp', 'hc1', [negA], 'UDP') }));
    await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr-udp', 'bs-udp', '10.0.0.50', ['8081'], 'UDP') }));
    for (let i = 3; i <= 10; i++) {
      await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody(`fr${i}`, 'bs1', vipLink, [String(9000 + i)]) }));
    }
    await expectApiError(
      c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr11', 'bs1', vipLink, ['9999']) }),
      400,
      'invalid',
      /at most 10 forwarding rules/,
    );
    const [addr] = await c.addrs.get({ project: P, region: REGION, address: 'vip' });
    expect(addr.users).toHaveLength(10);
  });

  it('reports address status RESERVED / IN_USE and users[]; an in-use internal address may be released', async () => {
    await mkLb({ vip: '10.0.0.50' });
    let [addr] = await c.addrs.get({ project: P, region: REGION, address: 'vip' });
    expect([addr.status, addr.users ?? []]).toEqual(['RESERVED', []]);
    await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr1', 'bs1', vipLink) }));
    [addr] = await c.addrs.get({ project: P, region: REGION, address: 'vip' });
    expect([addr.status, addr.users]).toEqual(['IN_USE', [link(`regions/${REGION}/forwardingRules/fr1`)]]);
    await ok(c, c.addrs.delete({ project: P, region: REGION, address: 'vip' }));
    const [fr] = await c.frs.get({ project: P, region: REGION, forwardingRule: 'fr1' });
    expect(fr.IPAddress).toBe('10.0.0.50');
  });

  it('patches only networkTier and allowGlobalAccess; other fields are immutable', async () => {
    await mkLb();
    await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr1', 'bs1', undefined) }));
    await ok(c, c.frs.patch({ project: P, region: REGION, forwardingRule: 'fr1', forwardingRuleResource: { allowGlobalAccess: true } }));
    const [fr] = await c.frs.get({ project: P, region: REGION, forwardingRule: 'fr1' });
    expect(fr.allowGlobalAccess).toBe(true);
    await expectApiError(c.frs.patch({ project: P, region: REGION, forwardingRule: 'fr1', forwardingRuleResource: { ports: ['9090'] } }), 400, 'invalid', /resource\.ports.*cannot be patched/);
    await expectApiError(
      c.frs.patch({ project: P, region: REGION, forwardingRule: 'fr1', forwardingRuleResource: { backendService: link(`regions/${REGION}/backendServices/other`) } }),
      400,
      'invalid',
      /backendService/,
    );
    // Sending back unchanged fields is fine.
    await ok(c, c.frs.patch({ project: P, region: REGION, forwardingRule: 'fr1', forwardingRuleResource: { ports: ['8080'], allowGlobalAccess: false } }));
    await expectApiError(
      c.frs.patch({ project: P, region: REGION, forwardingRule: 'fr1', forwardingRuleResource: { allowGlobalAccess: true, fingerprint: fr.fingerprint } }),
      412,
      'conditionNotMet',
      /^Invalid fingerprint\.$/,
    );
  });

  it('locks setLabels with labelFingerprint', async () => {
    await mkLb();
    await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: frBody('fr1', 'bs1', undefined) }));
    const [fr] = await c.frs.get({ project: P, region: REGION, forwardingRule: 'fr1' });
    expect(fr.labelFingerprint).toBe('42WmSpB8rSM=');
    await ok(c, c.frs.setLabels({ project: P, region: REGION, resource: 'fr1', regionSetLabelsRequestResource: { labels: { owner: 'fleet-ilb' }, labelFingerprint: fr.labelFingerprint } }));
    const [after] = await c.frs.get({ project: P, region: REGION, forwardingRule: 'fr1' });
    expect(after.labels).toEqual({ owner: 'fleet-ilb' });
    expect(after.labelFingerprint).not.toBe(fr.labelFingerprint);
    await expectApiError(
      c.frs.setLabels({ project: P, region: REGION, resource: 'fr1', regionSetLabelsRequestResource: { labels: {}, labelFingerprint: fr.labelFingerprint } }),
      412,
      'conditionNotMet',
      /Labels fingerprint either invalid or resource labels have changed/,
    );
  });
});

describe('labels', () => {
  // Only addresses and forwarding rules take labels among the kinds fleet-ilb creates (compute.proto
  // v1: no `labels` on BackendService, HealthCheck, NetworkEndpointGroup, Firewall; controller/naming/gcelabels.ts).
  const post = async (path: string, body: Record<string, unknown>): Promise<{ status: number; message: string }> => {
    const r = await fetch(`${emu.url}/compute/v1/projects/${P}/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, message: r.status >= 400 ? ((await r.json()) as { error: { message: string } }).error.message : '' };
  };
  const labels = { 'fleetilb-gateway': 'store', 'fleetilb-gateway-namespace': 'store' };
  it.each<[string, string, Record<string, unknown>]>([
    ['health check', `regions/${REGION}/healthChecks`, { ...hcBody('hc9') }],
    ['backend service', `regions/${REGION}/backendServices`, { ...bsBody('bs9', 'hc1', []) }],
    ['NEG', `zones/${ZONE_A}/networkEndpointGroups`, { ...negBody('neg9') }],
    ['firewall', 'global/firewalls', { name: 'fw9', network: link('global/networks/vpc1'), sourceRanges: ['10.0.0.0/8'], allowed: [{ IPProtocol: 'tcp', ports: ['80'] }] }],
  ])('rejects labels on a %s as an unknown field, like the API', async (_kind, path, body) => {
    expect(await post(path, { ...body, labels })).toEqual({ status: 400, message: `Invalid JSON payload received. Unknown name "labels" at 'resource': Cannot find field.` });
  });
  it('stores labels given at insert on addresses and forwarding rules, and lists by them (gcloud --filter=labels.KEY=VALUE)', async () => {
    await mkLb();
    await ok(c, c.addrs.insert({ project: P, region: REGION, addressResource: { ...vipBody('vip'), labels } }));
    await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: { ...frBody('fr1', 'bs1', undefined), labels } }));
    await ok(c, c.frs.insert({ project: P, region: REGION, forwardingRuleResource: { ...frBody('fr2', 'bs1', undefined, ['8081']), labels: { 'fleetilb-gateway': 'other' } } }));
    const [a] = await c.addrs.get({ project: P, region: REGION, address: 'vip' });
    expect(a.labels).toEqual(labels);
    expect(a.labelFingerprint).not.toBe('42WmSpB8rSM=');
    const [frs] = await c.frs.list({ project: P, region: REGION, filter: 'labels.fleetilb-gateway = store' }, { autoPaginate: false });
    expect(frs.map((f) => f.name)).toEqual(['fr1']);
  });
});

describe('firewalls', () => {
  const fw = { name: 'fw1', network: link('global/networks/vpc1'), sourceRanges: ['35.191.0.0/16', '130.211.0.0/22'], targetTags: ['cluster-a-node'], allowed: [{ IPProtocol: 'tcp', ports: ['8080'] }] };

  it('fills defaults; PATCH merges; PUT replaces', async () => {
    await ok(c, c.fws.insert({ project: P, firewallResource: fw }));
    let [got] = await c.fws.get({ project: P, firewall: 'fw1' });
    expect([got.direction, got.priority, got.disabled]).toEqual(['INGRESS', 1000, false]);
    await ok(c, c.fws.patch({ project: P, firewall: 'fw1', firewallResource: { destinationRanges: ['10.0.0.50/32'] } }));
    [got] = await c.fws.get({ project: P, firewall: 'fw1' });
    expect([got.sourceRanges, got.destinationRanges]).toEqual([fw.sourceRanges, ['10.0.0.50/32']]);
    await ok(c, c.fws.update({ project: P, firewall: 'fw1', firewallResource: { name: 'fw1', network: fw.network, allowed: [{ IPProtocol: 'udp' }] } }));
    [got] = await c.fws.get({ project: P, firewall: 'fw1' });
    expect([got.sourceRanges ?? [], got.targetTags ?? [], got.allowed?.[0]?.IPProtocol]).toEqual([[], [], 'udp']);
  });

  it('rejects allowed+denied together, bad ports and targetServiceAccounts with targetTags', async () => {
    await expectApiError(c.fws.insert({ project: P, firewallResource: { ...fw, denied: [{ IPProtocol: 'tcp' }] } }), 400, 'invalid', /Exactly one of allowed or denied/);
    await expectApiError(c.fws.insert({ project: P, firewallResource: { ...fw, allowed: [{ IPProtocol: 'tcp', ports: ['70000'] }] } }), 400, 'invalid', /ports\[0\]/);
    await expectApiError(c.fws.insert({ project: P, firewallResource: { ...fw, targetServiceAccounts: ['sa@p1.iam.gserviceaccount.com'] } }), 400, 'invalid', /targetServiceAccounts/);
  });
});
