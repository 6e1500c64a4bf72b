// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { requestedIpProblem } from './addresscheck.ts';

const SUB = { name: 'sub1', selfLink: 'https://www.googleapis.com/compute/v1/projects/p/regions/r1/subnetworks/sub1', ipCidrRange: '10.0.0.0/20' };
const OTHER_SUB = 'https://www.googleapis.com/compute/v1/projects/p/regions/r1/subnetworks/sub2';

describe('requestedIpProblem', () => {
  it('a free IP inside the range is usable', () => {
    expect(requestedIpProblem('10.0.3.9', SUB, [], 'mine')).toBeUndefined();
  });
  it('outside the primary range', () => {
    expect(requestedIpProblem('192.168.77.5', SUB, [], 'mine')).toBe('requested address 192.168.77.5 is outside subnetwork sub1 (10.0.0.0/20)');
    expect(requestedIpProblem('10.0.16.0', SUB, [], 'mine')).toMatch(/outside/);
  });
  it('the first two and the last two addresses of the range', () => {
    for (const ip of ['10.0.0.0', '10.0.0.1', '10.0.15.254', '10.0.15.255']) expect(requestedIpProblem(ip, SUB, [], 'mine')).toMatch(/reserved addresses/);
    expect(requestedIpProblem('10.0.0.2', SUB, [], 'mine')).toBeUndefined();
    expect(requestedIpProblem('10.0.15.253', SUB, [], 'mine')).toBeUndefined();
  });
  it('held by another internal address of the same subnetwork; our own address or another VPC does not count', () => {
    const other = { name: 'fl-x-store-vip', address: '10.0.3.7', addressType: 'INTERNAL', subnetwork: SUB.selfLink };
    expect(requestedIpProblem('10.0.3.7', SUB, [other], 'mine')).toBe('requested address 10.0.3.7 is already reserved by address fl-x-store-vip in subnetwork sub1');
    expect(requestedIpProblem('10.0.3.7', SUB, [{ ...other, name: 'mine' }], 'mine')).toBeUndefined();
    expect(requestedIpProblem('10.0.3.7', SUB, [{ ...other, subnetwork: OTHER_SUB }], 'mine')).toBeUndefined();
    expect(requestedIpProblem('10.0.3.7', SUB, [{ ...other, addressType: 'EXTERNAL' }], 'mine')).toBeUndefined();
  });
});
