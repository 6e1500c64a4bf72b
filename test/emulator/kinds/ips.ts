// SPDX-License-Identifier: Apache-2.0
//
// Who holds which internal IP of a subnetwork: reserved addresses, forwarding rules and instance NICs.

import type { Engine, Res } from '../engine.ts';

/** Holder of an IP: its resource path and what kind of holder it is. */
export interface IpHolder {
  path: string;
  kind: 'address' | 'forwardingRule' | 'instance';
  res: Res;
}

/** Every IP in use in a subnetwork → its holders (an address and the rules using it both appear). */
export function ipHolders(e: Engine, sub: Res): Map<string, IpHolder[]> {
  const out = new Map<string, IpHolder[]>();
  const add = (ip: unknown, h: IpHolder): void => {
    if (typeof ip !== 'string') return;
    const l = out.get(ip);
    if (l === undefined) out.set(ip, [h]);
    else l.push(h);
  };
  const self = sub.data.selfLink;
  for (const a of e.all(sub.project, 'addresses')) {
    if (a.data.subnetwork === self) add(a.data.address, { path: a.path, kind: 'address', res: a });
  }
  for (const f of e.all(sub.project, 'forwardingRules')) {
    if (f.data.subnetwork === self) add(f.data.IPAddress, { path: f.path, kind: 'forwardingRule', res: f });
  }
  for (const i of e.all(sub.project, 'instances')) {
    for (const nic of (i.data.networkInterfaces as Array<Record<string, unknown>> | undefined) ?? []) {
      if (nic.subnetwork === self) add(nic.networkIP, { path: i.path, kind: 'instance', res: i });
    }
  }
  return out;
}

/** The set of IPs in use in a subnetwork. */
export function usedIps(e: Engine, sub: Res): Set<string> {
  return new Set(ipHolders(e, sub).keys());
}
