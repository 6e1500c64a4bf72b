// SPDX-License-Identifier: Apache-2.0
//
// Regional forwarding rules (INTERNAL passthrough): insert (IP from a literal, a reserved address or the subnet),
// ports ≤5 xor allPorts, protocol matching the backend service, shared-VIP rules, patch of the few patchable fields,
// setLabels, delete.

import type { Engine, Mutation, Res } from '../engine.ts';
import { ApiError } from '../errors.ts';
import { type Scope, checkName, ipToInt, malformed, parseRef, resourcePath, str, sameFingerprint } from '../model.ts';
import { enumValues } from '../proto.ts';
import { addressForIp, checkInternalIp, resolveSubnet, setLabels } from './address.ts';
import { PROTOCOL_PAIRS } from './backendService.ts';
import {
  type Call,
  type Handler,
  type KindDef,
  aggregated,
  getHandler,
  labelFingerprint,
  listHandler,
  regionScopes,
  render,
  writable,
} from './common.ts';
import { allocate } from './infra.ts';
import { ipHolders } from './ips.ts';
import { deleteMutation } from './refs.ts';

export const FORWARDING_RULE: KindDef = {
  collection: 'forwardingRules',
  kind: 'compute#forwardingRule',
  type: 'ForwardingRule',
  typeWord: 'forwarding_rule',
};

/** Ports per internal forwarding rule (compute.proto `ports`: "up to five ports"). */
export const MAX_PORTS = 5;
/** Forwarding rules per SHARED_LOADBALANCER_VIP address (load-balancing quotas / multiple-forwarding-rules-same-ip). */
export const MAX_RULES_PER_SHARED_IP = 10;

/**
 * Fields `forwardingRules.patch` may change: compute.proto says "you can only patch the network_tier field"; GKE also
 * patches `allowGlobalAccess` in place (ingress-gce `patchable.go`), so both are accepted. Everything else is
 * immutable: change it by delete + re-create.
 */
export const PATCHABLE = ['networkTier', 'allowGlobalAccess'];

/** Port set of a rule: numbers, or 'all'. */
function portSet(fr: Record<string, unknown>): Set<number> | 'all' {
  if (fr.allPorts === true) return 'all';
  if (typeof fr.portRange === 'string') {
    const [a, b] = fr.portRange.split('-').map(Number);
    const s = new Set<number>();
    for (let p = a!; p <= (b ?? a!); p++) s.add(p);
    return s;
  }
  return new Set(((fr.ports as string[] | undefined) ?? []).map(Number));
}

function overlaps(a: Set<number> | 'all', b: Set<number> | 'all'): boolean {
  if (a === 'all' || b === 'all') return true;
  for (const p of a) if (b.has(p)) return true;
  return false;
}

function checkPorts(body: Record<string, unknown>, protocol: string): void {
  const ports = (body.ports as string[] | undefined) ?? [];
  const hasPorts = ports.length > 0;
  const all = body.allPorts === true;
  const range = body.portRange !== undefined;
  if ([hasPorts, all, range].filter(Boolean).length > 1) {
    // compute.proto: "The ports, portRange, and allPorts fields are mutually exclusive." [U] wording.
    throw ApiError.invalid('resource.ports', ports.join(','), 'The ports, portRange, and allPorts fields are mutually exclusive.');
  }
  if (range) {
    // Internal passthrough rules use `ports` or `allPorts` (compute.proto portRange docs). [U] wording.
    throw ApiError.invalid('resource.portRange', body.portRange, 'portRange is not supported for INTERNAL forwarding rules; use ports or allPorts.');
  }
  if (protocol === 'L3_DEFAULT' && !all) {
    throw ApiError.invalid('resource.allPorts', str(body.allPorts ?? ''), 'L3_DEFAULT forwarding rules require allPorts.');
  }
  if (!hasPorts && !all) {
    throw ApiError.invalid('resource.ports', '', 'Either ports or allPorts must be specified for INTERNAL forwarding rules.');
  }
  if (ports.length > MAX_PORTS) {
    // [U] wording; limit from compute.proto ("You can specify a list of up to five ports").
    throw ApiError.invalid('resource.ports', ports.join(','), `Too many ports specified. Maximum is ${MAX_PORTS}.`);
  }
  const seen = new Set<number>();
  for (const [i, p] of ports.entries()) {
    const n = /^\d+$/.test(p) ? Number(p) : NaN;
    if (!(n >= 1 && n <= 65535)) throw ApiError.invalid(`resource.ports[${i}]`, p, 'Port must be a number between 1 and 65535.');
    if (seen.has(n)) throw ApiError.invalid(`resource.ports[${i}]`, p, 'Duplicate port.');
    seen.add(n);
  }
}

interface IpPlan {
  /** Literal IP, or undefined for automatic allocation. */
  ip?: string;
  address?: Res;
}

/** Resolves `IPAddress` (literal IP, address URL/partial URL/name) — compute.proto ForwardingRule.IPAddress docs. */
function resolveIp(e: Engine, project: string, region: string, value: unknown): IpPlan {
  if (value === undefined) return {};
  const s = str(value);
  if (ipToInt(s) !== undefined) return { ip: s };
  const ref = parseRef(s, project, 'addresses', { bare: { kind: 'regions', name: region } });
  if (ref === undefined) throw malformed('resource.IPAddress', s);
  const address = e.must(ref.path);
  if (ref.scope.kind !== 'regions' || ref.scope.name !== region) {
    throw ApiError.invalid('resource.IPAddress', s, `Address must be in region '${region}'.`);
  }
  return { ip: str(address.data.address), address };
}

/** Validates a new internal forwarding rule against the state; returns the stored body (IP resolved at commit). */
function plan(e: Engine, c: Call, body: Record<string, unknown>, phase: 'request' | 'commit'): () => Record<string, unknown> {
  const region = c.scope.kind === 'regions' ? c.scope.name : '';
  const out: Record<string, unknown> = { ...body, description: body.description ?? '' };
  out.IPProtocol = str(out.IPProtocol ?? 'TCP').toUpperCase();
  out.loadBalancingScheme ??= 'EXTERNAL';
  const schemes = enumValues('ForwardingRule', 'loadBalancingScheme');
  if (schemes !== undefined && !schemes.includes(str(out.loadBalancingScheme))) {
    throw ApiError.invalid('resource.loadBalancingScheme', out.loadBalancingScheme, '');
  }
  if (out.loadBalancingScheme !== 'INTERNAL') {
    throw new ApiError(501, 'notImplemented', 'emulator: only INTERNAL forwarding rules are emulated');
  }
  const protocols = enumValues('ForwardingRule', 'IPProtocol') ?? [];
  if (!protocols.includes(str(out.IPProtocol))) throw ApiError.invalid('resource.IPProtocol', out.IPProtocol, '');
  checkPorts(out, str(out.IPProtocol));
  if (out.networkTier !== undefined && out.networkTier !== 'PREMIUM') {
    // Internal rules are PREMIUM tier only. [U] wording.
    throw ApiError.invalid('resource.networkTier', out.networkTier, 'INTERNAL forwarding rules support only the PREMIUM network tier.');
  }
  out.networkTier = 'PREMIUM';

  // Backend service: required for an internal passthrough rule; same region, INTERNAL, protocol matching.
  if (out.backendService === undefined) {
    throw ApiError.invalid('resource.backendService', '', 'A backend service must be specified for INTERNAL forwarding rules.');
  }
  const bsRef = parseRef(str(out.backendService), c.project, 'backendServices');
  if (bsRef === undefined) throw malformed('resource.backendService', str(out.backendService));
  if (bsRef.scope.kind !== 'regions' || bsRef.scope.name !== region) {
    throw ApiError.invalid('resource.backendService', out.backendService, `Backend service must be in region '${region}'.`);
  }
  const bs = e.must(bsRef.path);
  if (bs.data.loadBalancingScheme !== 'INTERNAL') {
    throw ApiError.invalid('resource.backendService', out.backendService, 'Backend service load balancing scheme must be INTERNAL.');
  }
  if (PROTOCOL_PAIRS[str(out.IPProtocol)] !== bs.data.protocol) {
    // [U] wording; the pairing is [C] cloud-provider-gcp / ingress-gce (delete the rule before changing protocol).
    throw ApiError.invalid(
      'resource.IPProtocol',
      out.IPProtocol,
      `Forwarding rule protocol must match the protocol of backend service '${bs.path}' (${str(bs.data.protocol)}).`,
    );
  }
  out.backendService = bs.data.selfLink;

  // Where the IP comes from, and in which subnetwork.
  const ipPlan = resolveIp(e, c.project, region, out.IPAddress);
  let subValue = out.subnetwork;
  if (subValue === undefined && ipPlan.address !== undefined) subValue = ipPlan.address.data.subnetwork;
  if (subValue === undefined) {
    // In a custom-mode VPC the subnetwork is required (compute.proto ForwardingRule.subnetwork). [U] wording.
    throw ApiError.invalid('resource.subnetwork', '', 'Subnetwork must be specified for INTERNAL forwarding rules in a custom mode network.');
  }
  const sub = resolveSubnet(e, c.project, region, subValue, 'resource.subnetwork');
  out.subnetwork = sub.data.selfLink;
  if (out.network !== undefined) {
    const netRef = parseRef(str(out.network), c.project, 'networks');
    if (netRef === undefined) throw malformed('resource.network', str(out.network));
    const net = e.must(netRef.path);
    if (net.data.selfLink !== sub.data.network) {
      throw ApiError.invalid('resource.network', out.network, 'Network must be the network of the subnetwork.');
    }
  }
  out.network = sub.data.network;
  if (ipPlan.address !== undefined && ipPlan.address.data.subnetwork !== sub.data.selfLink) {
    throw ApiError.invalid('resource.IPAddress', out.IPAddress, 'Address must be in the subnetwork of the forwarding rule.');
  }
  if (ipPlan.ip !== undefined) checkInternalIp(sub, ipPlan.ip, 'resource.IPAddress');

  const address = ipPlan.ip === undefined ? undefined : (ipPlan.address ?? addressForIp(e, sub, ipPlan.ip));
  if (address !== undefined && address.data.purpose === 'SHARED_LOADBALANCER_VIP') {
    // Shared VIP: ≤10 rules; no two rules with the same protocol may share a port (compute.proto ports docs: "two or
    // more forwarding rules cannot use the same [IPAddress, IPProtocol] pair if they share at least one port").
    const others = (ipHolders(e, sub).get(ipPlan.ip!) ?? []).filter((h) => h.kind === 'forwardingRule').map((h) => h.res);
    if (others.length >= MAX_RULES_PER_SHARED_IP) {
      // [U] wording and form.
      throw ApiError.invalid(
        'resource.IPAddress',
        ipPlan.ip,
        `An address with purpose SHARED_LOADBALANCER_VIP can be used by at most ${MAX_RULES_PER_SHARED_IP} forwarding rules.`,
      );
    }
    const mine = portSet(out);
    for (const o of others) {
      if (str(o.data.IPProtocol) === out.IPProtocol && overlaps(mine, portSet(o.data))) {
        // [C] ingress-gce forwarding_rules.go (seen for external rules; [U] for internal).
        throw ApiError.invalid(
          'resource.ports',
          ((out.ports as string[] | undefined) ?? ['all']).join(','),
          `Forwarding rule's port range is conflicting with forwarding rule '${o.path}' on IP address '${ipPlan.ip!}' and protocol '${str(out.IPProtocol)}'.`,
        );
      }
    }
  } else if (phase === 'commit' && ipPlan.ip !== undefined) {
    // A non-shared IP already used by another rule or a VM: the operation fails with IP_IN_USE_BY_ANOTHER_RESOURCE
    // (409, [C] ingress-gce forwarding_rules.go `addressAlreadyInUseMessageInternal`).
    const holders = (ipHolders(e, sub).get(ipPlan.ip) ?? []).filter((h) => h.kind !== 'address');
    if (holders.length > 0) throw ApiError.ipInUse(ipPlan.ip);
  }
  const labels = out.labels as Record<string, string> | undefined;
  return () => {
    out.IPAddress = ipPlan.ip ?? allocate(e, sub);
    out.labelFingerprint = labelFingerprint(labels);
    out.fingerprint = e.fingerprint();
    return out;
  };
}

function insert(c: Call): Mutation {
  const e = c.engine;
  const body = writable(c.body, ['fingerprint', 'labelFingerprint', 'pscConnectionId', 'pscConnectionStatus', 'serviceName', 'baseForwardingRule']);
  const name = checkName(body.name);
  const path = resourcePath(c.project, c.scope, 'forwardingRules', name);
  const id = e.newId();
  return {
    operationType: 'insert',
    targetPath: path,
    targetId: id,
    scope: c.scope,
    prepare: (phase) => {
      if (e.get(path) !== undefined) throw ApiError.alreadyExists(path);
      const build = plan(e, c, body, phase);
      return () => {
        const data = build();
        const res = e.newRes(c.project, c.scope, 'forwardingRules', name, FORWARDING_RULE.kind, id);
        Object.assign(res.data, data);
        if (typeof data.serviceLabel === 'string') {
          // compute.proto serviceName: "<serviceLabel>.<forwardingRuleName>.il4.<region>.lb.<projectId>.internal".
          res.data.serviceName = `${data.serviceLabel}.${name}.il4.${c.scope.kind === 'regions' ? c.scope.name : ''}.lb.${c.project}.internal`;
        }
        e.put(res);
      };
    },
  };
}

/** Whether a patch value equals the current one (references compared by resource path, ports as sets). */
function sameValue(e: Engine, project: string, field: string, cur: unknown, next: unknown): boolean {
  if (['backendService', 'network', 'subnetwork'].includes(field)) {
    const coll = field === 'backendService' ? 'backendServices' : field === 'network' ? 'networks' : 'subnetworks';
    const a = parseRef(str(cur), project, coll)?.path;
    const b = parseRef(str(next), project, coll)?.path;
    return a !== undefined && a === b;
  }
  if (field === 'IPAddress') {
    if (cur === next) return true;
    const ref = parseRef(str(next), project, 'addresses');
    return ref !== undefined && e.get(ref.path)?.data.address === cur;
  }
  if (field === 'ports') {
    const a = [...((cur as string[] | undefined) ?? [])].map(Number).sort();
    const b = [...((next as string[] | undefined) ?? [])].map(Number).sort();
    return JSON.stringify(a) === JSON.stringify(b);
  }
  if (field === 'IPProtocol') return str(cur).toUpperCase() === str(next).toUpperCase();
  return JSON.stringify(cur) === JSON.stringify(next);
}

function patch(c: Call): Mutation {
  const e = c.engine;
  const path = resourcePath(c.project, c.scope, 'forwardingRules', c.params.forwardingRule!);
  const cur = e.must(path);
  const fingerprint = c.body.fingerprint;
  const body = writable(c.body, ['fingerprint', 'labelFingerprint']);
  for (const [k, v] of Object.entries(body)) {
    if (PATCHABLE.includes(k)) continue;
    if (!sameValue(e, c.project, k, cur.data[k], v)) {
      // Only networkTier / allowGlobalAccess can change; labels go through setLabels (compute.proto labels docs).
      // [U] wording.
      throw ApiError.invalid(`resource.${k}`, v, `Field '${k}' of a forwarding rule cannot be patched; only ${PATCHABLE.join(' and ')} can.`);
    }
  }
  if (body.networkTier !== undefined && body.networkTier !== 'PREMIUM') {
    throw ApiError.invalid('resource.networkTier', body.networkTier, 'INTERNAL forwarding rules support only the PREMIUM network tier.');
  }
  return {
    operationType: 'patch',
    targetPath: path,
    targetId: str(cur.data.id),
    scope: c.scope,
    prepare: () => {
      const res = e.must(path);
      if (fingerprint !== undefined && !sameFingerprint(fingerprint, res.data.fingerprint)) throw ApiError.conditionNotMet();
      return () => {
        for (const k of PATCHABLE) if (body[k] !== undefined) res.data[k] = body[k];
        res.data.fingerprint = e.fingerprint();
      };
    },
  };
}


const GLOBAL: Scope = { kind: 'global' };

/** Forwarding rule handlers. */
export const forwardingRuleHandlers: Record<string, Handler> = {
  'forwardingRules.get': getHandler(FORWARDING_RULE, 'forwardingRule'),
  'forwardingRules.list': listHandler(FORWARDING_RULE, 'ForwardingRuleList', 'compute#forwardingRuleList'),
  'forwardingRules.aggregatedList': (c) => ({
    value: aggregated(c, {
      aggKind: 'compute#forwardingRuleAggregatedList',
      collection: 'forwardingRules',
      field: 'forwardingRules',
      scopes: [GLOBAL, ...regionScopes(c.engine)].filter((s) => s.kind !== 'global'),
      items: (s) => c.engine.list(c.project, s, 'forwardingRules').map((r) => render(c.engine, FORWARDING_RULE, r)),
    }),
    type: 'ForwardingRuleAggregatedList',
  }),
  'forwardingRules.insert': (c) => ({ mutation: insert(c) }),
  'forwardingRules.patch': (c) => ({ mutation: patch(c) }),
  'forwardingRules.delete': (c) => ({ mutation: deleteMutation(c, FORWARDING_RULE, resourcePath(c.project, c.scope, 'forwardingRules', c.params.forwardingRule!)) }),
  'forwardingRules.setLabels': (c) => ({ mutation: setLabels(c, 'forwardingRules') }),
};
