// SPDX-License-Identifier: Apache-2.0
//
// IR validation: the invariants apply relies on, checked before any cloud or member call
// (as Envoy Gateway's ir/xds.go Validate()). A failure here is a translate bug or an input
// translate did not foresee; the Gateway is then not programmed and its status says why.
import { isValidName } from '../naming/names.ts';
import type { GatewayIR } from './types.ts';

/** Named IR errors (sentinels: compare `code`, never the message). */
export const IRErrorCode = {
  InvalidName: 'InvalidName',
  DuplicateName: 'DuplicateName',
  TooManyForwardingRules: 'TooManyForwardingRules',
  TooManyPortsPerRule: 'TooManyPortsPerRule',
  EmptyForwardingRule: 'EmptyForwardingRule',
  PortOverlap: 'PortOverlap',
  InvalidPort: 'InvalidPort',
  UnknownGroup: 'UnknownGroup',
  TooManyNegs: 'TooManyNegs',
  DuplicateEndpointIP: 'DuplicateEndpointIP',
  ListenerWithoutRule: 'ListenerWithoutRule',
  OpenFirewall: 'OpenFirewall',
  InvalidHealthCheckPort: 'InvalidHealthCheckPort',
  MissingProject: 'MissingProject',
} as const;
export type IRErrorCode = (typeof IRErrorCode)[keyof typeof IRErrorCode];

export interface IRError {
  code: IRErrorCode;
  message: string;
}

const validPort = (p: number): boolean => Number.isInteger(p) && p >= 1 && p <= 65535;

/** Every invariant violation of one Gateway's IR (empty = valid). */
export function validate(ir: GatewayIR): IRError[] {
  const errs: IRError[] = [];
  const err = (code: IRErrorCode, message: string): void => {
    errs.push({ code, message });
  };
  if (ir.config.project === '') err(IRErrorCode.MissingProject, 'config.project is empty');

  const gceNames: Array<[string, string]> = [
    ['address', ir.address.name],
    ...ir.groups.flatMap((g): Array<[string, string]> => [
      ['backendService', g.backendService],
      ...g.negs.map((n): [string, string] => ['neg', n.name]),
    ]),
    ...ir.forwardingRules.map((f): [string, string] => ['forwardingRule', f.name]),
    ['firewall', ir.firewall.healthCheck.name],
    ...(ir.firewall.clients === undefined ? [] : [['firewall', ir.firewall.clients.name] as [string, string]]),
    ...ir.vipServices.map((v): [string, string] => ['service', v.name]),
  ];
  for (const [kind, name] of gceNames) if (!isValidName(name)) err(IRErrorCode.InvalidName, `${kind} name ${JSON.stringify(name)} is not a valid RFC 1035 name of at most 63 characters`);
  const unique = (kind: string, names: string[]): void => {
    const seen = new Set<string>();
    for (const n of names) {
      if (seen.has(n)) err(IRErrorCode.DuplicateName, `${kind} ${n} appears twice`);
      seen.add(n);
    }
  };
  unique('backendService', ir.groups.map((g) => g.backendService));
  unique('forwardingRule', ir.forwardingRules.map((f) => f.name));
  // Once per backend service (GCE: "Duplicate backend group"); NEGs are shared across groups and
  // Gateways with the same backends (docs/architecture.md "Shared NEGs").
  for (const g of ir.groups) unique(`neg (zone/name) of ${g.backendService}`, g.negs.map((n) => `${n.project}/${n.zone}/${n.name}`));
  unique('VIP Service (cluster/namespace/name)', ir.vipServices.map((v) => `${v.cluster}/${v.namespace}/${v.name}`));

  if (ir.forwardingRules.length > 10) err(IRErrorCode.TooManyForwardingRules, `${ir.forwardingRules.length} forwarding rules on one address (GCE allows 10)`);
  const groups = new Set(ir.groups.map((g) => g.id));
  const taken = new Map<string, string>();
  for (const fr of ir.forwardingRules) {
    if (fr.ports.length === 0) err(IRErrorCode.EmptyForwardingRule, `forwarding rule ${fr.name} has no port`);
    if (fr.ports.length > 5) err(IRErrorCode.TooManyPortsPerRule, `forwarding rule ${fr.name} has ${fr.ports.length} ports (GCE allows 5)`);
    if (!groups.has(fr.group)) err(IRErrorCode.UnknownGroup, `forwarding rule ${fr.name} points to unknown group ${fr.group}`);
    for (const p of fr.ports) {
      if (!validPort(p)) err(IRErrorCode.InvalidPort, `forwarding rule ${fr.name} port ${p}`);
      const k = `${fr.protocol}/${p}`;
      const other = taken.get(k);
      // GCE: two internal rules on one [IP, protocol] cannot share a port.
      if (other !== undefined) err(IRErrorCode.PortOverlap, `${k} is in forwarding rules ${other} and ${fr.name}`);
      taken.set(k, fr.name);
    }
  }
  const ruleNames = new Set(ir.forwardingRules.map((f) => f.name));
  for (const l of ir.listeners) {
    if (!ruleNames.has(l.forwardingRule)) err(IRErrorCode.ListenerWithoutRule, `listener ${l.name} has no forwarding rule`);
    if (!groups.has(l.group)) err(IRErrorCode.UnknownGroup, `listener ${l.name} points to unknown group ${l.group}`);
  }
  for (const g of ir.groups) {
    if (g.negs.length > 50) err(IRErrorCode.TooManyNegs, `backend service ${g.backendService} has ${g.negs.length} NEGs (GCE allows 50)`);
    if (!validPort(g.healthCheck.port)) err(IRErrorCode.InvalidHealthCheckPort, `health check of group ${g.id} port ${g.healthCheck.port}`);
    for (const n of g.negs) {
      const ips = new Set<string>();
      for (const e of n.endpoints) {
        // GCE: an IP appears at most once per NEG.
        if (ips.has(e.ipAddress)) err(IRErrorCode.DuplicateEndpointIP, `NEG ${n.zone}/${n.name} lists ${e.ipAddress} twice`);
        ips.add(e.ipAddress);
      }
    }
  }
  const fwRules = [ir.firewall.healthCheck, ...(ir.firewall.clients === undefined ? [] : [ir.firewall.clients])];
  for (const r of fwRules) {
    // 0.0.0.0/0 only when the user wrote it (battery H3, docs/failure-rules.md): it can only come
    // from clientSourceRanges.
    if (r.sourceRanges.includes('0.0.0.0/0') && !ir.config.firewall.clientSourceRanges.includes('0.0.0.0/0')) {
      err(IRErrorCode.OpenFirewall, `firewall ${r.name} opens 0.0.0.0/0 that ILBConfig does not ask for`);
    }
  }
  return errs;
}
