// SPDX-License-Identifier: Apache-2.0
//
// GceCloud against the Compute API emulator: requestId reuse, in-call retries, bounded operation
// waits, the write fence, and how IP-in-use and quota errors are classified (issue 9 defects 6 and 8,
// issue 12). Every test asserts what the emulator's audit log and inventory show.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isFencedError, isTransientError, isUserError, retryPolicy } from '../../../errors/index.ts';
import { type Emulator, startEmulator } from '../../../../test/emulator/index.ts';
import { P, REGION, SEED } from '../../../../test/emulator/testkit.ts';
import { GceCloud, withCallPriority, type GceCallEvent, type GceCloudOptions } from './client.ts';
import { gatewayReasonFor, gceInfo } from './errors.ts';

let emu: Emulator;
const clouds: GceCloud[] = [];
let n = 0;

function cloud(opts: Partial<GceCloudOptions> = {}): GceCloud {
  const c = new GceCloud({ project: P, clientOptions: emu.clientOptions(), operationRetryDelayMs: 20, retryBaseDelayMs: 10, ...opts });
  clouds.push(c);
  return c;
}

function address(ip?: string): { name: string; addressType: string; purpose: string; subnetwork: string; address?: string } {
  return {
    name: `addr-${++n}`,
    addressType: 'INTERNAL',
    purpose: 'SHARED_LOADBALANCER_VIP',
    subnetwork: `projects/${P}/regions/${REGION}/subnetworks/sub1`,
    ...(ip === undefined ? {} : { address: ip }),
  };
}

const inserts = (name: string): Array<{ requestId?: string; status: number }> =>
  emu.audit().filter((a) => a.method === 'addresses.insert' && a.resource?.endsWith(`/${name}`));
const exists = (name: string): boolean => emu.inventory().addresses.some((a) => a['name'] === name);

beforeAll(async () => {
  emu = await startEmulator({ seed: SEED });
});
afterEach(async () => {
  emu.faults.clear();
  emu.setOperationLatency(0);
  await Promise.all(clouds.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await emu.stop();
});

describe('requestId: replay only while the insert’s fate is unknown', () => {
  it('an operation that ended DONE with INTERNAL_ERROR is retried with a NEW requestId and the insert succeeds', async () => {
    const body = address();
    emu.faults.inject({ method: 'addresses.insert', action: { kind: 'operationError', code: 'INTERNAL_ERROR' }, times: 1 });
    await cloud().insert('address', REGION, body);
    const calls = inserts(body.name);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.requestId).not.toBe(calls[0]!.requestId);
    expect(exists(body.name)).toBe(true);
  });

  it('after an insert failed with a DONE operation error, the next attempt of the same insert does not replay the failed operation', async () => {
    const body = address();
    const c = cloud({ ambiguousRetries: 0 });
    emu.faults.inject({ method: 'addresses.insert', action: { kind: 'operationError', code: 'INTERNAL_ERROR' }, times: 1 });
    const err = await c.insert('address', REGION, body).catch((e: unknown) => e);
    expect(isTransientError(err)).toBe(true);
    await c.insert('address', REGION, body);
    const calls = inserts(body.name);
    expect(calls).toHaveLength(2);
    expect(new Set(calls.map((x) => x.requestId)).size).toBe(2);
    expect(exists(body.name)).toBe(true);
  });

  it('an insert applied but unanswered (timeout) is retried with the SAME requestId: one resource, no error', async () => {
    const body = address();
    emu.faults.inject({ method: 'addresses.insert', action: { kind: 'timeout', applied: true, mode: 'reset' }, times: 1 });
    await cloud().insert('address', REGION, body);
    const calls = inserts(body.name);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.requestId).toBe(calls[0]!.requestId);
    expect(emu.inventory().addresses.filter((a) => a['name'] === body.name)).toHaveLength(1);
  });
});

describe('bounded operation waits', () => {
  it('gives up on an operation past its budget with a transient error naming it; the next insert re-observes it by requestId', async () => {
    emu.setOperationLatency(1500);
    const body = address();
    const c = cloud({ operationTimeoutMs: 200 });
    const t0 = Date.now();
    const err = await c.insert('address', REGION, body).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(1400);
    expect(isTransientError(err)).toBe(true);
    expect(gceInfo(err)?.pendingOperation).toMatch(/^operation-/);
    await new Promise((r) => setTimeout(r, 1600)); // the operation's own latency, not a stand-in for a condition
    emu.setOperationLatency(0);
    await c.insert('address', REGION, body);
    const calls = inserts(body.name);
    expect(calls.length).toBe(2);
    expect(calls[1]!.requestId).toBe(calls[0]!.requestId);
    expect(emu.inventory().addresses.filter((a) => a['name'] === body.name)).toHaveLength(1);
  });
});

describe('classification the status composer relies on', () => {
  it('an address insert on an IP another address holds is AddressNotUsable: a user error, one write, no retry', async () => {
    const ip = '10.0.3.7';
    const c = cloud();
    await c.insert('address', REGION, address(ip));
    const second = address(ip);
    const err = await c.insert('address', REGION, second).catch((e: unknown) => e);
    expect(isUserError(err)).toBe(true);
    expect((err as { reason?: string }).reason).toBe('AddressNotUsable');
    expect(gatewayReasonFor(err)).toBe('AddressNotUsable');
    expect(retryPolicy(err)).toEqual({ kind: 'none', reason: 'user' });
    expect(inserts(second.name)).toHaveLength(1);
    expect(exists(second.name)).toBe(false);
  });

  it('QUOTA_EXCEEDED is NoResources, retried by the queue no sooner than 30 s and (with the runtime cap) within 60 s', async () => {
    const body = address();
    emu.faults.inject({ method: 'addresses.insert', action: { kind: 'operationError', code: 'QUOTA_EXCEEDED' }, times: 1 });
    const err = await cloud().insert('address', REGION, body).catch((e: unknown) => e);
    expect(gatewayReasonFor(err)).toBe('NoResources');
    expect(retryPolicy(err)).toEqual({ kind: 'backoff', minDelayMs: 30_000 });
    expect(inserts(body.name)).toHaveLength(1);
  });

  it('403 permission denied is a user error re-checked after a while (the fix is in IAM, not Kubernetes)', async () => {
    emu.faults.inject({ method: 'addresses.insert', action: { kind: 'http', status: 403, reason: 'forbidden' }, times: 1 });
    const err = await cloud().insert('address', REGION, address()).catch((e: unknown) => e);
    expect(isUserError(err)).toBe(true);
    expect(gatewayReasonFor(err)).toBe('Invalid');
    expect(retryPolicy(err)).toMatchObject({ kind: 'none', reason: 'user', recheckAfterMs: 15_000 });
  });
});

describe('in-call retries', () => {
  it('a read that fails with 500 twice succeeds on the third attempt; three failures reach the caller', async () => {
    const c = cloud();
    const body = address();
    await c.insert('address', REGION, body);
    const events: GceCallEvent[] = [];
    const c2 = cloud({ onCall: (e) => events.push(e) });
    emu.faults.inject({ method: 'addresses.get', action: { kind: 'http', status: 500 }, times: 2 });
    expect((await c2.get('address', REGION, body.name))?.name).toBe(body.name);
    expect(events.map((e) => [e.outcome, e.attempt])).toEqual([
      ['server', 0],
      ['server', 1],
      ['ok', 2],
    ]);
    emu.faults.inject({ method: 'addresses.get', action: { kind: 'http', status: 500 }, times: 3 });
    await expect(c2.get('address', REGION, body.name)).rejects.toSatisfy(isTransientError);
  });

  it('a 400 invalid is not retried in the call', async () => {
    emu.faults.inject({ method: 'addresses.insert', action: { kind: 'http', status: 400 }, times: 5 });
    const body = address();
    await expect(cloud().insert('address', REGION, body)).rejects.toSatisfy(isUserError);
    expect(inserts(body.name)).toHaveLength(1);
  });
});

describe('call deadline (ours, not google-gax’s: gax keeps every finished call until its own deadline)', () => {
  it('a read the server never answers fails as a timeout at callTimeoutMs, and a timed-out insert is retried with the same requestId', async () => {
    const c = cloud();
    const body = address();
    await c.insert('address', REGION, body);
    const events: GceCallEvent[] = [];
    const c2 = cloud({ callTimeoutMs: 300, ambiguousRetries: 0, onCall: (e) => events.push(e) });
    emu.faults.inject({ method: 'addresses.get', action: { kind: 'timeout', applied: false, mode: 'hang', ms: 10_000 }, times: 1 });
    const t0 = Date.now();
    const err = await c2.get('address', REGION, body.name).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(gceInfo(err)?.category).toBe('timeout');
    expect((err as Error).message).toMatch(/Deadline exceeded: Addresses\.get did not respond within 300 milliseconds/);
    expect(events.map((e) => e.outcome)).toEqual(['timeout']);
    // The next call on the same client is not affected by the cancelled one.
    expect((await c2.get('address', REGION, body.name))?.name).toBe(body.name);

    const body2 = address();
    const c3 = cloud({ callTimeoutMs: 300, ambiguousRetries: 1 });
    emu.faults.inject({ method: 'addresses.insert', action: { kind: 'timeout', applied: true, mode: 'hang', ms: 10_000 }, times: 1 });
    await c3.insert('address', REGION, body2);
    const calls = inserts(body2.name);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.requestId).toBe(calls[0]!.requestId);
    expect(exists(body2.name)).toBe(true);
  });

  it('nothing keeps a finished call’s response once the caller drops it (gax’s own deadline kept it for 60 s)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const c = cloud();
    const refs: Array<WeakRef<object>> = [];
    for (let i = 0; i < 5; i++) refs.push(new WeakRef((await c.getNetwork('vpc1'))!));
    // Let the calls' promise jobs and timers settle, then collect.
    await new Promise((r) => setImmediate(r));
    gc();
    expect(refs.filter((r) => r.deref() !== undefined)).toHaveLength(0);
  });
});

describe('call priority', () => {
  it('calls made inside withCallPriority("low") use the low lane, through any view; others stay high', async () => {
    const events: GceCallEvent[] = [];
    const c = cloud({ onCall: (e) => events.push(e) });
    await c.get('address', REGION, 'none-1');
    await withCallPriority('low', async () => {
      await c.get('address', REGION, 'none-2');
      await c.forProject(P).list('address', REGION);
    });
    await c.withPriority('low').get('address', REGION, 'none-3');
    expect(events.map((e) => [e.method, e.priority])).toEqual([
      ['Addresses.get', 'high'],
      ['Addresses.get', 'low'],
      ['Addresses.list', 'low'],
      ['Addresses.get', 'low'],
    ]);
  });

  it('with the shared budget exhausted, a waiting reconcile call goes before a waiting resync call', async () => {
    // 60 reads/min × share 1 = 1 qps, burst 2: the first two calls pass, the rest wait in their lanes.
    const order: string[] = [];
    const c = cloud({ quota: { readsPerMinute: 60, share: 1 }, rateLimits: { '*': { qps: 1000, burst: 1000 } } });
    await Promise.all([c.get('address', REGION, 'x1'), c.get('address', REGION, 'x2')]);
    const low = withCallPriority('low', () => c.get('address', REGION, 'low').then(() => order.push('low')));
    const high = c.get('address', REGION, 'high').then(() => order.push('high'));
    await Promise.all([low, high]);
    expect(order).toEqual(['high', 'low']);
  });
});

describe('write fence', () => {
  it('an in-flight write is aborted when the fence closes (FencedError, not a transient retry)', async () => {
    const closesAt = Date.now() + 300;
    const fence = { canWrite: () => Date.now() < closesAt, remainingMs: () => closesAt - Date.now() };
    // The answer would come after 20 s: a FencedError well before it means the call was aborted
    // (the bound is loose on purpose: shared CI machines are slow, an unaborted call is not early).
    emu.faults.inject({ method: 'addresses.insert', action: { kind: 'latency', ms: 20_000 }, times: 1 });
    const t0 = Date.now();
    const err = await cloud({ fence }).insert('address', REGION, address()).catch((e: unknown) => e);
    expect(isFencedError(err)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('no request at all once the fence is closed', async () => {
    const fence = { canWrite: () => false, remainingMs: () => 0 };
    const body = address();
    await expect(cloud({ fence }).insert('address', REGION, body)).rejects.toSatisfy(isFencedError);
    expect(inserts(body.name)).toHaveLength(0);
  });
});
