// SPDX-License-Identifier: Apache-2.0
//
// ILBConfig (fleetilb.io/v1alpha1) spec schema. Validated at the boundary: the
// object stays `unknown` until `parseILBConfigSpec` succeeds; a failure becomes
// `Accepted=False/InvalidParameters` on the GatewayClass or Gateway, never a crash. Defaults follow
// crds/ (the ILBConfig CRD) and GCE's own defaults (docs/compute-api.md "Resources and fields").
import { z } from 'zod';
import type { ILBSettings } from '../ir/types.ts';

/** GCE resource name / RFC 1035 label (docs/compute-api.md "Resources and fields"). */
const gceName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must be a GCE resource name ([a-z]([-a-z0-9]*[a-z0-9])?, at most 63)');

/** An IPv4 CIDR such as 10.0.0.0/8 (GCE firewall source ranges for IPv4 ILBs). */
const ipv4Cidr = z.string().refine(isIPv4Cidr, { message: 'must be an IPv4 CIDR such as 10.0.0.0/8' });

const int = (min: number, max: number): z.ZodNumber => z.number().int().min(min).max(max);

export const ILBConfigSpecSchema = z
  .object({
    project: z.string().min(1),
    region: gceName,
    network: gceName,
    subnetwork: gceName,
    globalAccess: z.boolean().default(false),
    firewall: z
      .object({
        managed: z.boolean().default(true),
        clientSourceRanges: z.array(ipv4Cidr).default([]),
        priority: int(0, 65535).default(1000),
      })
      .strict()
      .default({ managed: true, clientSourceRanges: [], priority: 1000 }),
    healthCheck: z
      .object({
        checkIntervalSec: int(1, 300).default(5),
        timeoutSec: int(1, 300).default(5),
        healthyThreshold: int(1, 10).default(2),
        unhealthyThreshold: int(1, 10).default(2),
        udpHealthCheckNodePort: int(30000, 32767).optional(),
      })
      .strict()
      .refine((h) => h.timeoutSec <= h.checkIntervalSec, {
        message: 'timeoutSec must be <= checkIntervalSec (GCE rejects a health check otherwise)',
        path: ['timeoutSec'],
      })
      .default({ checkIntervalSec: 5, timeoutSec: 5, healthyThreshold: 2, unhealthyThreshold: 2 }),
    nodeSubsetSize: int(1, 250).default(250),
    sessionAffinity: z
      .enum(['NONE', 'CLIENT_IP', 'CLIENT_IP_PROTO', 'CLIENT_IP_PORT_PROTO', 'CLIENT_IP_NO_DESTINATION'])
      .default('NONE'),
    connectionDraining: z
      .object({ drainingTimeoutSec: int(0, 3600).default(30) })
      .strict()
      .default({ drainingTimeoutSec: 30 }),
  })
  .strict();

export type ILBConfigSpec = z.infer<typeof ILBConfigSpecSchema>;

export type ParseResult = { ok: true; spec: ILBConfigSpec } | { ok: false; message: string };

/** Validates and defaults an ILBConfig spec; the message lists every problem with its field path. */
export function parseILBConfigSpec(spec: unknown): ParseResult {
  const r = ILBConfigSpecSchema.safeParse(spec ?? {});
  if (r.success) return { ok: true, spec: r.data };
  const problems = r.error.issues.map((i) => {
    const where = i.path.length > 0 ? i.path.join('.') : 'spec';
    const what = i.code === 'invalid_type' && i.message.endsWith('received undefined') ? 'is required' : i.message;
    return `${where}: ${what}`;
  });
  return { ok: false, message: problems.join('; ') };
}

/** The IR form of a parsed spec. */
export function toSettings(source: string, s: ILBConfigSpec): ILBSettings {
  const hc: ILBSettings['healthCheck'] = {
    checkIntervalSec: s.healthCheck.checkIntervalSec,
    timeoutSec: s.healthCheck.timeoutSec,
    healthyThreshold: s.healthCheck.healthyThreshold,
    unhealthyThreshold: s.healthCheck.unhealthyThreshold,
  };
  if (s.healthCheck.udpHealthCheckNodePort !== undefined) hc.udpHealthCheckNodePort = s.healthCheck.udpHealthCheckNodePort;
  return {
    source,
    project: s.project,
    region: s.region,
    network: s.network,
    subnetwork: s.subnetwork,
    globalAccess: s.globalAccess,
    firewall: {
      managed: s.firewall.managed,
      clientSourceRanges: [...s.firewall.clientSourceRanges],
      priority: s.firewall.priority,
    },
    healthCheck: hc,
    nodeSubsetSize: s.nodeSubsetSize,
    sessionAffinity: s.sessionAffinity,
    connectionDraining: { drainingTimeoutSec: s.connectionDraining.drainingTimeoutSec },
  };
}

/** True for a dotted-quad IPv4 address with every octet 0-255 and no leading zeros. */
export function isIPv4(s: string): boolean {
  const parts = s.split('.');
  if (parts.length !== 4) return false;
  return parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

/** True for `a.b.c.d/n` with n in 0..32. */
export function isIPv4Cidr(s: string): boolean {
  const m = /^([^/]+)\/(0|[1-9][0-9]?)$/.exec(s);
  if (m === null) return false;
  return isIPv4(m[1] ?? '') && Number(m[2]) <= 32;
}
