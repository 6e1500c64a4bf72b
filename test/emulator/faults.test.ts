// SPDX-License-Identifier: Apache-2.0
//
// Every injectable fault reaches `@google-cloud/compute` in the form the real API produces: the GoogleError's gRPC
// `code` (gax's HttpCodeToRpcCodeMap), `httpStatusCode`, `message`, and on the wire `errors[].reason`
// (docs/compute-api.md "Errors as the Node client gives them"); failed operations as DONE + error + httpErrorStatusCode; timeouts with the change applied or
// not; count and probability limits, replayable from the seed.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Emulator } from './index.ts';
import { type Clients, P, REGION, clients, done, expectApiError, expectOpError, fails, hcBody, ok, start } from './testkit.ts';

let emu: Emulator;
let c: Clients;

beforeEach(async () => {
  emu = await start();
  c = clients(emu);
});
afterEach(async () => emu.stop());

const insertHc = (name = 'hc1'): Promise<unknown> => c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody(name) });
const getHc = (name = 'hc1', opts?: { timeout?: number; retry?: null }): Promise<unknown> =>
  c.hcs.get({ project: P, region: REGION, healthCheck: name }, opts as never);

describe('HTTP errors', () => {
  it.each([
    { status: 500, reason: undefined, code: 13, wireReason: 'backendError', message: /^Internal error\. Please try again or contact Google Support\./ },
    { status: 503, reason: undefined, code: 14, wireReason: 'backendError', message: /^The service is currently unavailable\.$/ },
    { status: 429, reason: undefined, code: 8, wireReason: 'rateLimitExceeded', message: /^Quota exceeded for quota metric 'Queries'/ },
    { status: 403, reason: 'rateLimitExceeded', code: 7, wireReason: 'rateLimitExceeded', message: /^Rate Limit Exceeded$/ },
    { status: 403, reason: 'quotaExceeded', code: 7, wireReason: 'quotaExceeded', message: /^Quota 'BACKEND_SERVICES' exceeded\. {2}Limit: 75\.0 globally\.$/ },
  ])('$status $wireReason on insert: code $code', async ({ status, reason, code, wireReason, message }) => {
    const id = emu.faults.inject({ method: 'regionHealthChecks.insert', action: { kind: 'http', status, ...(reason === undefined ? {} : { reason }) } });
    const err = await expectApiError(insertHc(), status, wireReason, message);
    expect(err.code).toBe(code);
    expect(emu.inventory().healthChecks).toEqual([]); // nothing applied
    expect(emu.audit().find((a) => a.method === 'regionHealthChecks.insert')).toMatchObject({ status, faults: [id], error: wireReason });
  });

  it('503 on a GET is retried by the client (idempotent, UNAVAILABLE) and succeeds; a 500 is not', async () => {
    await ok(c, insertHc());
    emu.faults.inject({ method: 'regionHealthChecks.get', times: 2, action: { kind: 'http', status: 503 } });
    await getHc();
    expect(emu.audit().filter((a) => a.method === 'regionHealthChecks.get').map((a) => a.status)).toEqual([503, 503, 200]);
    emu.faults.inject({ method: 'regionHealthChecks.get', times: 1, action: { kind: 'http', status: 500 } });
    expect((await fails(getHc())).httpStatusCode).toBe(500);
  });

  it('injects the errors real GCE returns on retried writes (409, 404 on delete, 400 in use) with their messages', async () => {
    emu.faults.inject({ method: 'regionHealthChecks.delete', times: 1, action: { kind: 'http', status: 404 } });
    await expectApiError(
      c.hcs.delete({ project: P, region: REGION, healthCheck: 'hc1' }),
      404,
      'notFound',
      /^The resource 'projects\/p1\/regions\/us-central1\/healthChecks\/hc1' was not found$/,
    );
    emu.faults.inject({ method: '*.insert', times: 1, action: { kind: 'http', status: 409 } });
    await expectApiError(insertHc('hc2'), 409, 'alreadyExists', /^The resource 'projects\/p1\/regions\/us-central1\/healthChecks\/hc2' already exists$/);
    emu.faults.inject({ path: '/healthChecks/hc3$', httpMethod: 'DELETE', action: { kind: 'http', status: 400, reason: 'resourceInUseByAnotherResource' } });
    await expectApiError(c.hcs.delete({ project: P, region: REGION, healthCheck: 'hc3' }), 400, 'resourceInUseByAnotherResource', /is already being used by/);
  });
});

describe('operation errors', () => {
  it.each([
    { code: 'QUOTA_EXCEEDED', http: 403, message: /^Quota 'BACKEND_SERVICES' exceeded/ },
    { code: 'RESOURCE_NOT_READY', http: 400, message: /^The resource 'projects\/p1\/regions\/us-central1\/healthChecks\/hc1' is not ready$/ },
  ])('ends the operation DONE with $code (nothing applied)', async ({ code, http, message }) => {
    emu.setOperationLatency(30);
    emu.faults.inject({ method: 'regionHealthChecks.insert', action: { kind: 'operationError', code } });
    const [lro] = (await insertHc()) as [{ latestResponse: { status: string } }];
    expect(lro.latestResponse.status).toBe('PENDING'); // the call itself succeeds
    const op = await done(c, Promise.resolve([lro]));
    expectOpError(op, code, http, message);
    expect(emu.inventory().healthChecks).toEqual([]);
  });
});

describe('latency and timeouts', () => {
  it('delays a call', async () => {
    emu.faults.inject({ method: 'regionHealthChecks.insert', action: { kind: 'latency', ms: 300 } });
    const t0 = Date.now();
    await ok(c, insertHc());
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('times the client out after applying the change (ambiguous create: a retry with the same requestId adopts it)', async () => {
    emu.faults.inject({ method: 'regionHealthChecks.insert', times: 1, action: { kind: 'timeout', applied: true } });
    const requestId = '3f1e0c8a-8c1b-4b7e-9d2a-7e3c5b1a9f00';
    const err = await fails(c.hcs.insert({ project: P, region: REGION, requestId, healthCheckResource: hcBody('hc1') }, { timeout: 300 }));
    expect(err.code).toBe(4); // DEADLINE_EXCEEDED
    expect(err.message).toMatch(/Deadline exceeded/);
    expect(emu.inventory().healthChecks.map((h) => h.name)).toEqual(['hc1']); // applied anyway
    const retry = await ok(c, c.hcs.insert({ project: P, region: REGION, requestId, healthCheckResource: hcBody('hc1') }));
    expect(retry.targetLink).toMatch(/healthChecks\/hc1$/);
    expect(emu.inventory().healthChecks).toHaveLength(1);
  });

  it('times the client out without applying the change', async () => {
    emu.faults.inject({ method: 'regionHealthChecks.insert', times: 1, action: { kind: 'timeout', applied: false } });
    const err = await fails(c.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody('hc1') }, { timeout: 300 }));
    expect(err.code).toBe(4);
    expect(emu.inventory().healthChecks).toEqual([]);
  });

  it('drops the connection after applying the change', async () => {
    emu.faults.inject({ method: 'regionHealthChecks.insert', times: 1, action: { kind: 'timeout', applied: true, mode: 'reset' } });
    const err = await fails(insertHc());
    expect(err.message).toMatch(/socket hang up|ECONNRESET|fetch failed|terminated|other side closed/i);
    expect(emu.inventory().healthChecks).toHaveLength(1);
  });
});

describe('limits and replay', () => {
  it('fires `times` times, after `skip`', async () => {
    await ok(c, insertHc());
    emu.faults.inject({ method: 'regionHealthChecks.get', skip: 1, times: 2, action: { kind: 'http', status: 500 } });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push(await getHc().then(() => 200, (e: { httpStatusCode: number }) => e.httpStatusCode));
    expect(statuses).toEqual([200, 500, 500, 200, 200]);
  });

  it('draws probabilistic faults from the seeded PRNG: the same seed replays the same pattern', async () => {
    const pattern = async (seed: number): Promise<number[]> => {
      const e = await start({ randomSeed: seed });
      try {
        const cc = clients(e);
        await ok(cc, cc.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody('hc1') }));
        e.faults.inject({ method: 'regionHealthChecks.get', probability: 0.5, action: { kind: 'http', status: 500 } });
        const out = [];
        for (let i = 0; i < 16; i++) {
          out.push(await cc.hcs.get({ project: P, region: REGION, healthCheck: 'hc1' }).then(() => 200, (x: { httpStatusCode: number }) => x.httpStatusCode));
        }
        return out;
      } finally {
        await e.stop();
      }
    };
    const a = await pattern(42);
    expect(await pattern(42)).toEqual(a);
    expect(a).toContain(500);
    expect(a).toContain(200);
    expect(await pattern(7)).not.toEqual(a);
  });

  it('matches by path regex and by caller header; clear removes faults', async () => {
    const id = emu.faults.inject({ path: 'healthChecks/hc-bad', action: { kind: 'http', status: 500 } });
    await ok(c, insertHc('hc-good'));
    expect(emu.faults.list()).toMatchObject([{ id, matched: 0, fired: 0 }]);
    const raw = await fetch(`${emu.url}/compute/v1/projects/${P}/regions/${REGION}/healthChecks/hc-bad`);
    expect(raw.status).toBe(500);
    emu.faults.clear(id);
    emu.faults.inject({ caller: 'leader-2', action: { kind: 'http', status: 403, reason: 'rateLimitExceeded' } });
    expect((await fetch(`${emu.url}/compute/v1/projects/${P}/regions/${REGION}/healthChecks/hc-good`, { headers: { 'x-emulator-caller': 'leader-2' } })).status).toBe(403);
    expect((await fetch(`${emu.url}/compute/v1/projects/${P}/regions/${REGION}/healthChecks/hc-good`, { headers: { 'x-emulator-caller': 'leader-1' } })).status).toBe(200);
    emu.faults.clear();
    expect(emu.faults.list()).toEqual([]);
  });

  it('matches by resource: an insert by its body name, a get by its path, an operation poll by the operation target, a list as the empty string', async () => {
    emu.faults.inject({ resource: '/healthChecks/mine-', action: { kind: 'http', status: 503 } });
    await expectApiError(insertHc('mine-1'), 503, 'backendError', /unavailable/);
    await ok(c, insertHc('other-1'));
    emu.faults.clear();
    await ok(c, insertHc('mine-1'));
    const rule = emu.faults.inject({ resource: '/healthChecks/mine-', method: 'regionOperations.*', action: { kind: 'http', status: 500 } });
    const op = emu.inventory().operations.find((o) => String(o['targetLink']).endsWith('/healthChecks/mine-1'));
    expect((await fetch(`${emu.url}/compute/v1/projects/${P}/regions/${REGION}/operations/${String(op?.['name'])}`)).status).toBe(500);
    expect((await fetch(`${emu.url}/compute/v1/projects/${P}/regions/${REGION}/healthChecks/mine-1`)).status).toBe(200);
    emu.faults.clear(rule);
    const named = emu.faults.inject({ resource: '.', action: { kind: 'http', status: 500 } });
    expect((await fetch(`${emu.url}/compute/v1/projects/${P}/regions/${REGION}/healthChecks`)).status).toBe(200);
    expect((await fetch(`${emu.url}/compute/v1/projects/${P}/regions/${REGION}/healthChecks/other-1`)).status).toBe(500);
    emu.faults.clear(named);
    // Everything but the `mine-` resources, lists included.
    emu.faults.inject({ resource: '^(?!.*/healthChecks/mine-)', action: { kind: 'http', status: 500 } });
    expect((await fetch(`${emu.url}/compute/v1/projects/${P}/regions/${REGION}/healthChecks`)).status).toBe(500);
    expect((await fetch(`${emu.url}/compute/v1/projects/${P}/regions/${REGION}/healthChecks/other-1`)).status).toBe(500);
    expect((await fetch(`${emu.url}/compute/v1/projects/${P}/regions/${REGION}/healthChecks/mine-1`)).status).toBe(200);
  });
});

describe('seeded random faults (chaos)', () => {
  /** A fixed mixed call sequence: inserts, gets, deletes of health checks. */
  async function run(e: Emulator, cl: Clients): Promise<string[]> {
    for (let i = 0; i < 60; i++) {
      const name = `hc-${i % 6}`;
      const op = i % 3;
      const p =
        op === 0
          ? cl.hcs.insert({ project: P, region: REGION, healthCheckResource: hcBody(name) })
          : op === 1
            ? cl.hcs.get({ project: P, region: REGION, healthCheck: name }, { retry: null } as never)
            : cl.hcs.delete({ project: P, region: REGION, healthCheck: name });
      await p.catch(() => undefined);
    }
    return e.audit().filter((a) => a.method.startsWith('regionHealthChecks.')).map((a) => `${a.method} ${a.status} ${(a.chaos ?? []).join(',')}`);
  }

  it('fails about `rate` of the calls with faults that fit each call, and replays exactly from the seed', async () => {
    await emu.stop();
    const runs: string[][] = [];
    for (let k = 0; k < 2; k++) {
      emu = await start({ randomSeed: 42 });
      c = clients(emu);
      emu.faults.inject({ method: 'regionHealthChecks.*', action: { kind: 'chaos', rate: 0.5, hangMs: 50, latencyMs: 10 } });
      runs.push(await run(emu, c));
      const audit = emu.audit().filter((a) => a.chaos !== undefined);
      for (const a of audit) {
        for (const k2 of a.chaos!) {
          if (k2.startsWith('op-')) expect(a.access).toBe('write');
          if (k2 === '409-applied') expect(a.method).toBe('regionHealthChecks.insert');
          if (k2 === '404-delete' || k2 === '400-in-use') expect(a.method).toBe('regionHealthChecks.delete');
        }
      }
      const faulted = audit.length / runs[k]!.length;
      expect(faulted).toBeGreaterThan(0.3);
      expect(faulted).toBeLessThan(0.7);
      if (k === 0) await emu.stop();
    }
    expect(runs[1]).toEqual(runs[0]);
    const kinds = new Set(runs[0]!.flatMap((l) => l.split(' ')[2]!.split(',').filter(Boolean)));
    expect(kinds.size).toBeGreaterThanOrEqual(8);
  });

  it('409-applied inserts the resource and answers alreadyExists; 404-delete deletes it and answers notFound', async () => {
    emu.faults.inject({ method: 'regionHealthChecks.insert', action: { kind: 'chaos', rate: 1, kinds: ['409-applied'] } });
    await expectApiError(insertHc('hc9'), 409, 'alreadyExists', /already exists/);
    expect(emu.inventory().healthChecks.map((h) => h['name'])).toEqual(['hc9']);
    emu.faults.clear();
    emu.faults.inject({ method: 'regionHealthChecks.delete', action: { kind: 'chaos', rate: 1, kinds: ['404-delete'] } });
    await expectApiError(c.hcs.delete({ project: P, region: REGION, healthCheck: 'hc9' }), 404, 'notFound', /was not found/);
    expect(emu.inventory().healthChecks).toEqual([]);
  });
});

describe('requestId replay of a FAILED operation', () => {
  it('a retry with the same requestId gets the same failed operation back (nothing attempted) until the id is forgotten', async () => {
    const requestId = '5d1c1a3e-8c1b-4f0e-9a61-2a7f1c0b9e77';
    emu.faults.inject({ method: 'regionHealthChecks.insert', action: { kind: 'operationError', code: 'INTERNAL_ERROR' }, times: 1 });
    const ins = (): Promise<unknown> => c.hcs.insert({ project: P, region: REGION, requestId, healthCheckResource: hcBody('hc7') });
    const first = await done(c, ins());
    expectOpError(first, 'INTERNAL_ERROR', 500, /Internal error/);
    const again = await done(c, ins());
    expectOpError(again, 'INTERNAL_ERROR', 500, /Internal error/);
    expect(again.name).toBe(first.name);
    expect(emu.inventory().healthChecks).toEqual([]);
    emu.setRequestIdTtl(0);
    await new Promise((r) => setTimeout(r, 5));
    await done(c, ins());
    expect(emu.inventory().healthChecks.map((h) => h['name'])).toEqual(['hc7']);
  });
});
