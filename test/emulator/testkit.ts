// SPDX-License-Identifier: Apache-2.0
//
// Shared fixtures for the emulator's tests: a two-cluster seed, Node clients, and small helpers that do what a real
// caller does (loop on `wait` until DONE, read the error the client surfaces).

import * as compute from '@google-cloud/compute';
import { expect } from 'vitest';
import { type Emulator, type EmulatorOptions, startEmulator } from './index.ts';
import type { Seed } from './types.ts';

export const P = 'p1';
export const REGION = 'us-central1';
export const ZONE_A = 'us-central1-a';
export const ZONE_B = 'us-central1-b';
export const API = 'https://www.googleapis.com/compute/v1/';

/** Two "clusters": node-a1/a2 in zone a, node-b1/b2 in zone b, one VPC and subnet (10.0.0.0/20). */
export const SEED: Seed = {
  projects: {
    [P]: {
      networks: [{ name: 'vpc1' }, { name: 'default' }],
      subnetworks: [
        { name: 'sub1', region: REGION, network: 'vpc1', ipCidrRange: '10.0.0.0/20' },
        { name: 'sub2', region: REGION, network: 'vpc1', ipCidrRange: '10.1.0.0/24' },
        { name: 'other', region: 'europe-west1', network: 'vpc1', ipCidrRange: '10.2.0.0/24' },
      ],
      instances: [
        { name: 'node-a1', zone: ZONE_A, subnetwork: 'sub1', networkIP: '10.0.0.11', tags: ['cluster-a-node'] },
        { name: 'node-a2', zone: ZONE_A, subnetwork: 'sub1', networkIP: '10.0.0.12', tags: ['cluster-a-node'] },
        { name: 'node-b1', zone: ZONE_B, subnetwork: 'sub1', networkIP: '10.0.0.21', tags: ['cluster-b-node'] },
        { name: 'node-b2', zone: ZONE_B, subnetwork: 'sub1', networkIP: '10.0.0.22', tags: ['cluster-b-node'] },
      ],
    },
  },
};

/** All the clients a test needs, on one emulator. */
export interface Clients {
  negs: compute.NetworkEndpointGroupsClient;
  hcs: compute.RegionHealthChecksClient;
  globalHcs: compute.HealthChecksClient;
  bss: compute.RegionBackendServicesClient;
  frs: compute.ForwardingRulesClient;
  addrs: compute.AddressesClient;
  fws: compute.FirewallsClient;
  instances: compute.InstancesClient;
  zoneOps: compute.ZoneOperationsClient;
  regionOps: compute.RegionOperationsClient;
  globalOps: compute.GlobalOperationsClient;
}

/** Clients pointed at the emulator (docs/compute-api.md "The Node client on the wire"), each created on first use (a client parses the proto). */
export function clients(emu: Emulator): Clients {
  const o = emu.clientOptions();
  const make = {
    negs: () => new compute.NetworkEndpointGroupsClient(o),
    hcs: () => new compute.RegionHealthChecksClient(o),
    globalHcs: () => new compute.HealthChecksClient(o),
    bss: () => new compute.RegionBackendServicesClient(o),
    frs: () => new compute.ForwardingRulesClient(o),
    addrs: () => new compute.AddressesClient(o),
    fws: () => new compute.FirewallsClient(o),
    instances: () => new compute.InstancesClient(o),
    zoneOps: () => new compute.ZoneOperationsClient(o),
    regionOps: () => new compute.RegionOperationsClient(o),
    globalOps: () => new compute.GlobalOperationsClient(o),
  };
  const cache: Partial<Clients> = {};
  const out = {} as Clients;
  for (const k of Object.keys(make) as Array<keyof Clients>) {
    Object.defineProperty(out, k, { get: () => (cache[k] ??= make[k]() as never), enumerable: true });
  }
  return out;
}

/** Starts an emulator with {@link SEED}. */
export function start(opts: EmulatorOptions = {}): Promise<Emulator> {
  return startEmulator({ seed: structuredClone(SEED), ...opts });
}

type Op = compute.protos.google.cloud.compute.v1.IOperation;

/**
 * Takes the result of a mutating call and loops on `wait` (in the op's own scope) until DONE, as fleet-ilb does
 * (docs/compute-api.md "The Node client on the wire"). Returns the final operation, error or not.
 */
export async function done(c: Clients, call: Promise<unknown>): Promise<Op> {
  const [lro] = (await call) as [{ latestResponse: Op }];
  let op = lro.latestResponse;
  for (let i = 0; op.status !== 'DONE'; i++) {
    if (i > 100) throw new Error('operation never finished');
    const name = op.name!;
    if (op.zone) [op] = await c.zoneOps.wait({ project: P, zone: op.zone.split('/').pop()!, operation: name });
    else if (op.region) [op] = await c.regionOps.wait({ project: P, region: op.region.split('/').pop()!, operation: name });
    else [op] = await c.globalOps.wait({ project: P, operation: name });
  }
  return op;
}

/** Like {@link done} but throws when the operation failed. */
export async function ok(c: Clients, call: Promise<unknown>): Promise<Op> {
  const op = await done(c, call);
  if (op.error?.errors?.length) throw new Error(`operation failed: ${JSON.stringify(op.error.errors)}`);
  return op;
}

/** What `@google-cloud/compute` surfaces for a synchronous error. */
export interface ClientError {
  code: number;
  httpStatusCode: number;
  message: string;
  /** The raw JSON body (gax 6.17 keeps it on a symbol). */
  raw?: { error?: { code: number; message: string; errors?: Array<{ reason: string; message: string; domain: string }> } };
}

/** Awaits a call that must fail synchronously, and returns the client's error. */
export async function fails(call: Promise<unknown>): Promise<ClientError> {
  try {
    await call;
  } catch (e) {
    const err = e as ClientError & Record<symbol, unknown>;
    const raw = err[Symbol.for('google-gax.rawHttpResponsePayload')];
    let parsed: ClientError['raw'];
    try {
      parsed = typeof raw === 'string' ? JSON.parse(raw) : raw instanceof Uint8Array ? JSON.parse(Buffer.from(raw).toString()) : (raw as ClientError['raw']);
    } catch {
      parsed = undefined;
    }
    return { code: err.code, httpStatusCode: err.httpStatusCode, message: err.message, ...(parsed === undefined ? {} : { raw: parsed }) };
  }
  throw new Error('expected the call to fail');
}

/** Asserts a synchronous API error: HTTP status, `errors[].reason` on the wire, and a message pattern. */
export async function expectApiError(call: Promise<unknown>, status: number, reason: string, message: RegExp): Promise<ClientError> {
  const err = await fails(call);
  expect(err.httpStatusCode, err.message).toBe(status);
  expect(err.message).toMatch(message);
  expect(err.raw?.error?.errors?.[0]?.reason).toBe(reason);
  return err;
}

/** Asserts an operation that ended with an error code (the in-operation error form). */
export function expectOpError(op: Op, code: string, httpStatus: number, message: RegExp): void {
  expect(op.status).toBe('DONE');
  expect(op.error?.errors?.[0]?.code).toBe(code);
  expect(op.error?.errors?.[0]?.message).toMatch(message);
  expect(op.httpErrorStatusCode).toBe(httpStatus);
  expect(typeof op.httpErrorMessage).toBe('string');
}

/** Full URL of a resource path. */
export function link(path: string): string {
  return `${API}projects/${P}/${path}`;
}

/** A GCE_VM_IP NEG body. */
export function negBody(name: string): compute.protos.google.cloud.compute.v1.INetworkEndpointGroup {
  return { name, networkEndpointType: 'GCE_VM_IP', network: link('global/networks/vpc1'), subnetwork: link(`regions/${REGION}/subnetworks/sub1`) };
}

/** A TCP health check body. */
export function hcBody(name: string, port = 8080): compute.protos.google.cloud.compute.v1.IHealthCheck {
  return { name, type: 'TCP', tcpHealthCheck: { port }, checkIntervalSec: 5, timeoutSec: 5 };
}

/** An INTERNAL TCP backend service body with the given NEG backends. */
export function bsBody(name: string, hc: string, negs: Array<{ zone: string; name: string }>, protocol = 'TCP'): compute.protos.google.cloud.compute.v1.IBackendService {
  return {
    name,
    loadBalancingScheme: 'INTERNAL',
    protocol,
    healthChecks: [link(`regions/${REGION}/healthChecks/${hc}`)],
    backends: negs.map((n) => ({ group: link(`zones/${n.zone}/networkEndpointGroups/${n.name}`), balancingMode: 'CONNECTION' })),
  };
}

/** An INTERNAL forwarding rule body on an address or IP. */
export function frBody(
  name: string,
  bs: string,
  ip: string | undefined,
  ports: string[] = ['8080'],
  protocol = 'TCP',
): compute.protos.google.cloud.compute.v1.IForwardingRule {
  return {
    name,
    loadBalancingScheme: 'INTERNAL',
    IPProtocol: protocol,
    ports,
    backendService: link(`regions/${REGION}/backendServices/${bs}`),
    network: link('global/networks/vpc1'),
    subnetwork: link(`regions/${REGION}/subnetworks/sub1`),
    ...(ip === undefined ? {} : { IPAddress: ip }),
  };
}

/** A SHARED_LOADBALANCER_VIP address body. */
export function vipBody(name: string, ip?: string, purpose = 'SHARED_LOADBALANCER_VIP'): compute.protos.google.cloud.compute.v1.IAddress {
  return { name, addressType: 'INTERNAL', purpose, subnetwork: link(`regions/${REGION}/subnetworks/sub1`), ...(ip === undefined ? {} : { address: ip }) };
}
