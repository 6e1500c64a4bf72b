// SPDX-License-Identifier: Apache-2.0
//
// GatewayClass and Gateway-level checks: parameters (ILBConfig), CRD bundle version, addresses.
import type { Gateway, GatewayClass, ParametersReference } from '../../api/index.ts';
import { FLEETILB_GROUP } from '../../api/index.ts';
import type { ParseResult } from '../../config/ilbconfig.ts';
import { isIPv4, parseILBConfigSpec, toSettings } from '../../config/ilbconfig.ts';
import type { AddressRequest, ILBSettings } from '../../ir/types.ts';
import { ADDRESS_TYPE_NAME } from '../../naming/labels.ts';
import { isValidName } from '../../naming/names.ts';
import { Reason } from '../../status/conditions.ts';
import type { Ctx } from '../context.ts';
import type { Failure } from './chain.ts';

const ILBCONFIG_KIND = 'ILBConfig';

/** Parse cache: ILBConfig `namespace/name` -> result. */
export type ILBConfigResults = Map<string, ParseResult>;

/**
 * Parses every ILBConfig once. `problems`: what GCE reads found wrong with an ILBConfig that parses
 * (a network or subnetwork that does not exist, controller/config/verify.ts): judged as invalid.
 */
export function parseILBConfigs(ctx: Ctx, problems?: ReadonlyMap<string, string>): ILBConfigResults {
  const out: ILBConfigResults = new Map();
  for (const [k, c] of ctx.ilbConfigs) {
    const r = parseILBConfigSpec(c.spec);
    const p = problems?.get(k);
    out.set(k, r.ok && p !== undefined ? { ok: false, message: p } : r);
  }
  return out;
}

type Resolved = { ok: true; settings: ILBSettings } | { ok: false; failure: Failure };
export type ParamsVerdict = Resolved | { ok: 'none' };

/** Resolves a parametersRef to effective settings. */
function resolveParams(
  results: ILBConfigResults,
  ref: { group: string; kind: string; name: string },
  namespace: string | undefined,
  owner: string,
): Resolved {
  if (ref.group !== FLEETILB_GROUP || ref.kind !== ILBCONFIG_KIND) {
    return {
      ok: false,
      failure: {
        reason: Reason.InvalidParameters,
        message: `${owner} parametersRef must be ${FLEETILB_GROUP}/${ILBCONFIG_KIND}, got ${ref.group === '' ? 'core' : ref.group}/${ref.kind}`,
      },
    };
  }
  if (namespace === undefined || namespace === '') {
    return { ok: false, failure: { reason: Reason.InvalidParameters, message: `${owner} parametersRef must set a namespace (ILBConfig is namespaced)` } };
  }
  const key = `${namespace}/${ref.name}`;
  const r = results.get(key);
  if (r === undefined) {
    return { ok: false, failure: { reason: Reason.InvalidParameters, message: `ILBConfig ${key} not found` } };
  }
  if (!r.ok) return { ok: false, failure: { reason: Reason.InvalidParameters, message: `ILBConfig ${key} is invalid: ${r.message}` } };
  return { ok: true, settings: toSettings(key, r.spec) };
}

/** GatewayClass parametersRef (absent = accepted; every Gateway must then name its own ILBConfig). */
export function classParams(results: ILBConfigResults, gc: GatewayClass): ParamsVerdict {
  const ref: ParametersReference | undefined = gc.spec.parametersRef;
  if (ref === undefined) return { ok: 'none' };
  return resolveParams(results, ref, ref.namespace, 'GatewayClass');
}

/** Supported bundle versions: Gateway API v1.6 or later v1 minors (TCPRoute/UDPRoute v1 need 1.6). */
export function bundleVersionSupported(v: string): boolean {
  const m = /^v?(\d+)\.(\d+)(\.\d+)?/.exec(v);
  if (m === null) return false;
  return Number(m[1]) === 1 && Number(m[2]) >= 6;
}

/** The Gateway's effective settings: its own ILBConfig (infrastructure.parametersRef) wins over the class'. */
export function gatewayParams(
  results: ILBConfigResults,
  gw: Gateway,
  cls: { accepted: boolean; params: ParamsVerdict; name: string; message: string },
): Resolved {
  const ref = gw.spec.infrastructure?.parametersRef;
  if (ref !== undefined) {
    return resolveParams(results, ref, gw.metadata.namespace, 'Gateway spec.infrastructure');
  }
  if (cls.params.ok === true) return cls.params;
  if (cls.params.ok === false) {
    return { ok: false, failure: { reason: Reason.InvalidParameters, message: `GatewayClass ${cls.name}: ${cls.params.failure.message}` } };
  }
  return {
    ok: false,
    failure: {
      reason: Reason.InvalidParameters,
      message: `no ILBConfig: set the GatewayClass ${cls.name} parametersRef or this Gateway's spec.infrastructure.parametersRef`,
    },
  };
}

/** Gateway spec.addresses -> how the VIP is obtained (one address; IPv4 or an existing address name). */
export function gatewayAddress(gw: Gateway): { ok: true; request: AddressRequest } | { ok: false; failure: Failure } {
  const addrs = gw.spec.addresses ?? [];
  const bad = (message: string): { ok: false; failure: Failure } => ({ ok: false, failure: { reason: Reason.UnsupportedAddress, message } });
  if (addrs.length === 0) return { ok: true, request: { type: 'Auto' } };
  // An address of a type fleet-ilb does not take is named first: that is what UnsupportedAddress
  // means ("an address that was provided is a type which is not supported by the implementation",
  // GatewayReasonUnsupportedAddress; conformance GatewayStaticAddresses, first step).
  const foreign = addrs.find((x) => (x.type ?? 'IPAddress') !== 'IPAddress' && x.type !== ADDRESS_TYPE_NAME);
  if (foreign !== undefined) return bad(`address type ${foreign.type ?? ''} is not supported; use IPAddress or ${ADDRESS_TYPE_NAME}`);
  if (addrs.length > 1) return bad('only one address is supported: a Gateway is one internal VIP (one regional address)');
  const a = addrs[0];
  const type = a?.type ?? 'IPAddress';
  const value = a?.value ?? '';
  if (type === 'IPAddress') {
    if (value === '') return { ok: true, request: { type: 'Auto' } };
    if (!isIPv4(value)) return bad(`address ${value} is not an IPv4 address (internal passthrough load balancers take one IPv4 VIP)`);
    return { ok: true, request: { type: 'IPAddress', ip: value } };
  }
  if (type === ADDRESS_TYPE_NAME) {
    if (!isValidName(value)) return bad(`${ADDRESS_TYPE_NAME} ${JSON.stringify(value)} is not a valid GCE address name`);
    return { ok: true, request: { type: 'ExistingAddress', name: value } };
  }
  return bad(`address type ${type} is not supported; use IPAddress or ${ADDRESS_TYPE_NAME}`);
}
