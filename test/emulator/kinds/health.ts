// SPDX-License-Identifier: Apache-2.0
//
// Endpoint health as getHealth and listNetworkEndpoints(healthStatus: SHOW) report it. GCP probes each backend at
// `VIP:hcPort` — once per forwarding rule IP — and reports health per (instance, forwardingRule, forwardingRuleIp)
// (compute.proto HealthStatus; docs/compute-api.md "Resources and fields"). The answer comes from the pluggable prober (default HEALTHY).

import type { Engine, NegEndpoint, Res } from '../engine.ts';
import { parseRef, str } from '../model.ts';
import { healthCheckPort } from './healthCheck.ts';
import { instanceUrl } from './neg.ts';

/** Backend services that list the NEG as a backend. */
function servicesUsing(e: Engine, neg: Res): Res[] {
  return e
    .all(neg.project, 'backendServices')
    .filter((b) => ((b.data.backends as Array<{ group?: string }> | undefined) ?? []).some((x) => x.group === neg.data.selfLink));
}

/** Forwarding rules pointing at a backend service. */
export function rulesOf(e: Engine, bs: Res): Res[] {
  return e
    .all(bs.project, 'forwardingRules')
    .filter((f) => f.data.backendService === bs.data.selfLink)
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

function hcOf(e: Engine, bs: Res): Res | undefined {
  const link = ((bs.data.healthChecks as string[] | undefined) ?? [])[0];
  if (link === undefined) return undefined;
  const ref = parseRef(link, bs.project, 'healthChecks');
  return ref === undefined ? undefined : e.get(ref.path);
}

function probe(e: Engine, neg: Res, ep: NegEndpoint, fr: Res | undefined, port: number | undefined): 'HEALTHY' | 'UNHEALTHY' {
  return e.probe({
    project: neg.project,
    zone: neg.scope.kind === 'zones' ? neg.scope.name : '',
    instance: ep.instance,
    ipAddress: ep.ipAddress,
    ...(fr === undefined ? {} : { forwardingRuleIp: str(fr.data.IPAddress) }),
    ...(port === undefined ? {} : { port }),
  });
}

/** `healths[]` of one endpoint for listNetworkEndpoints(SHOW): one entry per (backend service × forwarding rule). */
export function endpointHealths(e: Engine, neg: Res, ep: NegEndpoint): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const bs of servicesUsing(e, neg)) {
    const hc = hcOf(e, bs);
    const port = hc === undefined ? undefined : healthCheckPort(hc.data);
    const rules = rulesOf(e, bs);
    for (const fr of rules.length > 0 ? rules : [undefined]) {
      out.push({
        backendService: { backendService: bs.data.selfLink },
        ...(fr === undefined ? {} : { forwardingRule: { forwardingRule: fr.data.selfLink } }),
        ...(hc === undefined ? {} : { healthCheck: { healthCheck: hc.data.selfLink } }),
        healthState: probe(e, neg, ep, fr, port),
      });
    }
  }
  return out;
}

/**
 * `healthStatus[]` of getHealth for one NEG of a backend service: per endpoint × forwarding rule
 * `{forwardingRule, forwardingRuleIp, healthState, instance, ipAddress}`. [U] With no forwarding rule yet, one entry
 * per endpoint without the rule fields.
 */
export function groupHealth(e: Engine, bs: Res, neg: Res): Array<Record<string, unknown>> {
  const hc = hcOf(e, bs);
  const port = hc === undefined ? undefined : healthCheckPort(hc.data);
  const rules = rulesOf(e, bs);
  const eps = [...(neg.endpoints?.values() ?? [])].sort((a, b) => (a.instance < b.instance ? -1 : 1));
  const out: Array<Record<string, unknown>> = [];
  for (const ep of eps) {
    for (const fr of rules.length > 0 ? rules : [undefined]) {
      out.push({
        ...(fr === undefined ? {} : { forwardingRule: fr.data.selfLink, forwardingRuleIp: fr.data.IPAddress }),
        healthState: probe(e, neg, ep, fr, port),
        instance: instanceUrl(neg, ep),
        ipAddress: ep.ipAddress,
      });
    }
  }
  return out;
}
