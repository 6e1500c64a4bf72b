// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import type { ILBConfig } from '../api/index.ts';
import { ILBConfigVerifier, INVALID_RECHECK_MS, OK_TTL_MS, judgeVpc, type SubnetworkFacts, type VpcReader } from './verify.ts';

const API = 'https://www.googleapis.com/compute/v1/projects/p';
const REF = { project: 'p', region: 'r1', network: 'vpc', subnetwork: 'sub' };
const SUB: SubnetworkFacts = { selfLink: `${API}/regions/r1/subnetworks/sub`, network: `${API}/global/networks/vpc`, ipCidrRange: '10.0.0.0/20' };

/** A reader over fixed networks/subnetworks that counts its calls; `fail` makes every read throw. */
function reader(nets: string[], subs: Record<string, SubnetworkFacts>): VpcReader & { calls: number; fail: boolean } {
  const r = {
    calls: 0,
    fail: false,
    getNetwork: (_p: string, name: string) => {
      r.calls++;
      if (r.fail) return Promise.reject(new Error('503 backendError'));
      return Promise.resolve(nets.includes(name) ? { selfLink: `${API}/global/networks/${name}` } : undefined);
    },
    getSubnetwork: (_p: string, region: string, name: string) => {
      r.calls++;
      if (r.fail) return Promise.reject(new Error('503 backendError'));
      return Promise.resolve(subs[`${region}/${name}`]);
    },
  };
  return r;
}

function config(name: string, spec: Record<string, unknown>): ILBConfig {
  return { apiVersion: 'fleetilb.io/v1alpha1', kind: 'ILBConfig', metadata: { name, namespace: 'fleet-ilb-system' }, spec };
}

describe('judgeVpc', () => {
  it('ok when both exist and the subnetwork is in the network', () => {
    expect(judgeVpc(REF, { selfLink: `${API}/global/networks/vpc` }, SUB)).toEqual({ state: 'ok', subnetwork: SUB });
  });
  it('names each missing resource by its path', () => {
    const v = judgeVpc(REF, undefined, undefined);
    expect(v).toEqual({ state: 'invalid', message: 'network projects/p/global/networks/vpc does not exist; subnetwork projects/p/regions/r1/subnetworks/sub does not exist' });
  });
  it('a subnetwork of another network is invalid', () => {
    const v = judgeVpc(REF, { selfLink: `${API}/global/networks/vpc` }, { ...SUB, network: `${API}/global/networks/other` });
    expect(v).toEqual({ state: 'invalid', message: 'subnetwork projects/p/regions/r1/subnetworks/sub belongs to network other, not vpc' });
  });
});

describe('ILBConfigVerifier', () => {
  it('reads once per VPC reference while ok, and again after OK_TTL_MS', async () => {
    let now = 0;
    const r = reader(['vpc'], { 'r1/sub': SUB });
    const v = new ILBConfigVerifier({ reader: r, now: () => now });
    await Promise.all([v.verdict(REF), v.verdict(REF), v.verdict(REF)]);
    expect(r.calls).toBe(2); // concurrent askers share one network + one subnetwork read
    now += OK_TTL_MS - 1;
    expect((await v.verdict(REF)).state).toBe('ok');
    expect(r.calls).toBe(2);
    now += 1;
    await v.verdict(REF);
    expect(r.calls).toBe(4);
  });

  it('re-reads an invalid verdict after INVALID_RECHECK_MS: the network created in GCE is seen', async () => {
    let now = 0;
    const nets: string[] = [];
    const r = reader(nets, { 'r1/sub': SUB });
    const v = new ILBConfigVerifier({ reader: r, now: () => now });
    expect((await v.verdict(REF)).state).toBe('invalid');
    nets.push('vpc');
    now += INVALID_RECHECK_MS - 1;
    expect((await v.verdict(REF)).state).toBe('invalid'); // cached: no read storm
    expect(r.calls).toBe(2);
    now += 1;
    expect((await v.verdict(REF)).state).toBe('ok');
  });

  it('a failed read is unknown, blocks nothing and is not cached', async () => {
    const r = reader(['vpc'], { 'r1/sub': SUB });
    r.fail = true;
    const v = new ILBConfigVerifier({ reader: r });
    expect((await v.verdict(REF)).state).toBe('unknown');
    expect(await v.problems([config('c', { project: 'p', region: 'r1', network: 'vpc', subnetwork: 'sub' })])).toEqual(new Map());
    r.fail = false;
    expect((await v.verdict(REF)).state).toBe('ok');
  });

  it('problems() keys by namespace/name, skips ILBConfigs that do not parse', async () => {
    const v = new ILBConfigVerifier({ reader: reader(['vpc'], { 'r1/sub': SUB }) });
    const got = await v.problems([
      config('good', { project: 'p', region: 'r1', network: 'vpc', subnetwork: 'sub' }),
      config('no-net', { project: 'p', region: 'r1', network: 'nope', subnetwork: 'sub' }),
      config('no-sub', { project: 'p', region: 'r1', network: 'vpc', subnetwork: 'nope' }),
      config('unparsed', { project: 'p' }),
    ]);
    expect([...got.entries()].sort()).toEqual([
      ['fleet-ilb-system/no-net', 'network projects/p/global/networks/nope does not exist'],
      ['fleet-ilb-system/no-sub', 'subnetwork projects/p/regions/r1/subnetworks/nope does not exist'],
    ]);
  });
});
