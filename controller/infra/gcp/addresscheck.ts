// SPDX-License-Identifier: Apache-2.0
//
// Before fleet-ilb reserves the IP a Gateway asks for (spec.addresses type IPAddress), two reads say
// whether GCE can give it (issue 12, battery G2-06/G2-07): the subnetwork (`subnetworks.get`, its
// primary `ipCidrRange`) and the addresses already holding that IP (`addresses.list` with a filter).
// An IP outside the range, one of the range's reserved addresses, or one reserved by another address
// in the same subnetwork (another Gateway's VIP included) is `Programmed=False/AddressNotUsable`
// (Gateway API: "the address ... cannot be used by this Gateway") with no write at all. Without the
// check the address insert ran in the same wave as the health checks and NEGs, which were written
// (9 writes) before the insert failed.
//
// GCE's own rules, which the Compute API emulator encodes (test/emulator/kinds/address.ts):
//   * Address.address: "The IP address must be inside the specified subnetwork, if any" (Compute API
//     v1 reference, addresses); outside it the insert is 400 "Requested internal IP address is
//     outside the network/subnetwork range";
//   * the first two and the last two addresses of a subnet's primary range cannot be used
//     (VPC docs, "Subnets": unusable addresses in IPv4 subnet ranges);
//   * reserving an IP another address holds fails in the operation with HTTP 409
//     IP_IN_USE_BY_ANOTHER_RESOURCE (a user error, cloud/errors.ts `ipInUse`, never retried as
//     transient). The check below makes that the rare race, not the rule.
import type { GceCloud, IAddress, ISubnetwork } from './cloud/client.ts';
import { lastSegment, sameResource } from './cloud/urls.ts';

function ipToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (m === null) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + p, 0);
}

/** Pure: why `ip` cannot be reserved in `subnet` given the addresses that hold it (`self` = our own address name). */
export function requestedIpProblem(ip: string, subnet: ISubnetwork, holders: readonly IAddress[], self: string): string | undefined {
  const where = `subnetwork ${lastSegment(subnet.selfLink ?? subnet.name ?? '')}`;
  const range = subnet.ipCidrRange ?? '';
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(range);
  const n = ipToInt(ip);
  const base = m === null ? undefined : ipToInt(m[1]!);
  if (n === undefined || base === undefined || m === null) return undefined; // nothing to judge by: GCE will say
  const size = 2 ** (32 - Number(m[2]));
  const first = base - (base % size);
  if (n < first || n >= first + size) return `requested address ${ip} is outside ${where} (${range})`;
  if (n < first + 2 || n > first + size - 3) return `requested address ${ip} is one of the reserved addresses of ${where} (${range}: the first two and the last two)`;
  const other = holders.find((a) => a.address === ip && a.name !== self && (a.addressType ?? 'EXTERNAL') === 'INTERNAL' && sameResource(a.subnetwork ?? '', subnet.selfLink ?? ''));
  if (other !== undefined) return `requested address ${ip} is already reserved by address ${other.name ?? '?'} in ${where}`;
  return undefined;
}

/**
 * Reads the subnetwork and the addresses holding `ip` in `region`, and judges. Throws when a read
 * fails (the caller then plans nothing: not knowing is not "usable"). A missing subnetwork is the
 * ILBConfig's problem (controller/config/verify.ts) and is reported as such.
 */
export async function checkRequestedIp(cloud: GceCloud, q: { region: string; subnetwork: string; ip: string; self: string }): Promise<string | undefined> {
  const [subnet, holders] = await Promise.all([cloud.getSubnetwork(q.region, lastSegment(q.subnetwork)), cloud.list('address', q.region, `address = "${q.ip}"`)]);
  if (subnet === undefined) return `subnetwork ${lastSegment(q.subnetwork)} does not exist in ${q.region}`;
  return requestedIpProblem(q.ip, subnet, holders, q.self);
}
