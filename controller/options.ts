// SPDX-License-Identifier: Apache-2.0
//
// The controller's settings, declared once: the zod schema (types, validation, defaults) and one
// row per command-line flag (its option, how its text converts, its help). Everything else is
// derived from these two: the flag parser, the `FLEET_ILB_<FLAG>` environment variables, the
// `--help` text and the flag table in README.md (`fleet-ilb controller --help-markdown`; a unit test
// keeps the README in step).
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseRateLimitFlags } from './infra/gcp/cloud/ratelimit.ts';

/** The controller's settings (flags and environment), validated at the boundary. */
export const ControllerOptionsSchema = z.object({
  /** Kubeconfig of the config cluster; absent = in-cluster service account. */
  kubeconfig: z.string().optional(),
  /** Namespace of member kubeconfig Secrets and the leader Lease. */
  namespace: z.string().min(1).default('fleet-ilb-system'),
  /** Fleet id (part of every GCE name and ownership stamp). Default: the config cluster's kube-system UID. */
  fleetId: z.string().regex(/^[a-z0-9][-a-z0-9]{0,62}$/, 'fleet id: lowercase letters, digits and dashes').optional(),
  /** Compute API endpoint override, e.g. `http://127.0.0.1:8085` for the emulator. Absent = Google. */
  computeEndpoint: z.url().optional(),
  /** Default GCP project for calls that name none (each Gateway uses its ILBConfig's project). */
  project: z.string().default('unset'),
  /**
   * `host:port` of /healthz, /readyz and /metrics. Port 0 = any free port. Loopback by default: run
   * on a workstation, the controller exposes nothing; deploy/config sets `:8080` for the kubelet's
   * probes and Prometheus.
   */
  metricsAddr: z.string().regex(/^[^:]*:\d+$/).default('127.0.0.1:8080'),
  leaderElect: z.boolean().default(true),
  leaseName: z.string().default('fleet-ilb-controller'),
  leaseDurationMs: z.number().int().positive().default(15_000),
  renewDeadlineMs: z.number().int().positive().default(10_000),
  retryPeriodMs: z.number().int().positive().default(2_000),
  /** Unique per replica (pod name). */
  identity: z.string().optional(),
  workers: z.number().int().min(1).max(64).default(4),
  /** Periodic jittered resync of every Gateway; it must write nothing when nothing changed. */
  resyncPeriodMs: z.number().int().min(0).default(10 * 60_000),
  /**
   * The resync queues the Gateways evenly over this window (at most 1 s apart), so a large fleet's
   * re-reconciles do not arrive as one burst. Default: half the resync period, at most 5 min.
   */
  resyncSpreadMs: z.number().int().min(0).optional(),
  /**
   * Backend health (getHealth per backend service x NEG, one call at a time in the low lane of the
   * read budget) is read once per period, spread evenly over it. 0 = off: no BackendsHealthy condition.
   */
  healthPeriodMs: z.number().int().min(0).default(60_000),
  /**
   * Share of fleet-ilb's read budget (gceReadsPerMinute × gceQuotaShare) the backend-health reader
   * may use; when one read per backend per period would take more, the period stretches to fit
   * (infra/gcp/health.ts healthPassPeriodMs).
   */
  healthReadShare: z.number().gt(0).max(1).default(0.25),
  /** Periodic sweep of GCE resources no Gateway owns. */
  sweepPeriodMs: z.number().int().min(0).default(30 * 60_000),
  sweepMinAgeMs: z.number().int().min(0).default(10 * 60_000),
  /** How long the first reconciles wait for members that have not listed yet. */
  memberSyncTimeoutMs: z.number().int().min(0).default(30_000),
  /**
   * The project's Compute API rate quotas (requests per minute: the Quotas page of the project) and
   * the share of them fleet-ilb may use; every call waits for the shared budget
   * (infra/gcp/cloud/ratelimit.ts), resync and sweep calls yield to reconciles.
   */
  gceReadsPerMinute: z.number().int().positive().default(1500),
  gceWritesPerMinute: z.number().int().positive().default(1500),
  gceQuotaShare: z.number().gt(0).max(1).default(0.5),
  /**
   * Per-method client-side limits on top of the budget, ingress-gce's `--gce-ratelimit` format
   * separated by `;` (e.g. `*,qps,20,40;ForwardingRules.insert,qps,10,20`). Empty = the defaults of
   * infra/gcp/cloud/ratelimit.ts (5 qps per method).
   */
  gceRateLimit: z
    .string()
    .default('')
    .refine(
      (v) => {
        try {
          parseRateLimitFlags(splitRateLimits(v));
          return true;
        } catch {
          return false;
        }
      },
      { message: 'want Service.method,qps,<qps>,<burst> separated by ;' },
    ),
  /**
   * A member frozen (unreachable) this long is expired: its endpoints leave the load balancers and
   * its FleetMember gets an Event (KEP-1645 "Endpoint TTL"). 0 = never.
   */
  memberFrozenTtlMs: z.number().int().min(0).default(0),
  /**
   * A successful but EMPTY list of a member's EndpointSlices or Nodes, after that member had some, is
   * applied only when a second list this much later is empty too (ingress-gce's degraded-mode lesson,
   * battery D2: never detach a whole serving member on one answer). 0 = apply every list at once.
   */
  memberEmptyListConfirmMs: z.number().int().min(0).default(60_000),
  /**
   * Watch inactivity watchdog of every reflector, config cluster and members (runtime/reflector.ts
   * `idleTimeoutMs`: no event or bookmark this long → abort and reconnect; half-open TCP otherwise
   * holds a dead watch for ~15 min). No flag: tests shorten it (battery E1).
   */
  watchIdleTimeoutMs: z.number().int().positive().default(75_000),
  /** Periodic full relist of every reflector (runtime/reflector.ts `relistIntervalMs`; 0: off). No flag: tests shorten it (battery D1). */
  relistIntervalMs: z.number().int().min(0).default(600_000),
  /**
   * A serving member that stops answering is published unreachable (FleetMember Ready=False, the
   * Gateways' MembersReachable) only after this long (clusters/memberset.ts hysteresis). No flag:
   * tests shorten it (battery D1).
   */
  memberUnreachablePublishDelayMs: z.number().int().min(0).default(30_000),
  /** Maintain multicluster.x-k8s.io ServiceImports from the members' ServiceExports. */
  mcsImporter: z.boolean().default(true),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
});
export type ControllerOptions = z.input<typeof ControllerOptionsSchema>;
type OptionKey = keyof z.output<typeof ControllerOptionsSchema>;

/** How a flag's text becomes its option's value. */
type Kind = 'string' | 'boolean' | 'integer' | 'number' | 'seconds';

interface Flag {
  name: string;
  option: OptionKey;
  kind: Kind;
  /** Placeholder of the value in the help (booleans: none, written `--flag=false`). */
  arg?: string;
  help: string;
  /** Shown instead of the schema's default (options without one). */
  defaultText?: string;
  /** Another environment variable read last (e.g. the pod name from the downward API). */
  envFallback?: string;
}

/** Every flag of `fleet-ilb controller`, in help order. */
export const CONTROLLER_FLAGS: readonly Flag[] = [
  { name: 'kubeconfig', option: 'kubeconfig', kind: 'string', arg: 'PATH', help: 'config cluster kubeconfig', defaultText: 'in-cluster service account' },
  { name: 'namespace', option: 'namespace', kind: 'string', arg: 'NS', help: 'controller namespace: member kubeconfig Secrets, leader Lease' },
  { name: 'fleet-id', option: 'fleetId', kind: 'string', arg: 'ID', help: 'fleet id in GCE names and ownership stamps', defaultText: "the config cluster's kube-system UID" },
  { name: 'compute-endpoint', option: 'computeEndpoint', kind: 'string', arg: 'URL', help: 'Compute API endpoint override, e.g. http://127.0.0.1:8085 (the emulator)', defaultText: 'Google' },
  { name: 'project', option: 'project', kind: 'string', arg: 'ID', help: "default GCP project (each Gateway uses its ILBConfig's project)" },
  { name: 'metrics-addr', option: 'metricsAddr', kind: 'string', arg: 'HOST:PORT', help: '/healthz, /readyz and /metrics (empty host = every interface; port 0 = any free port)' },
  { name: 'leader-elect', option: 'leaderElect', kind: 'boolean', help: 'Lease leader election (false: a single replica only)' },
  { name: 'lease-name', option: 'leaseName', kind: 'string', arg: 'NAME', help: 'leader Lease name' },
  { name: 'identity', option: 'identity', kind: 'string', arg: 'ID', help: 'this replica in the Lease', defaultText: '$POD_NAME, else host name + random suffix', envFallback: 'POD_NAME' },
  { name: 'workers', option: 'workers', kind: 'integer', arg: 'N', help: 'concurrent reconciles' },
  { name: 'resync-period', option: 'resyncPeriodMs', kind: 'seconds', arg: 'SECONDS', help: 'periodic resync of every Gateway (0: off)' },
  { name: 'resync-spread', option: 'resyncSpreadMs', kind: 'seconds', arg: 'SECONDS', help: 'the resync queues the Gateways evenly over this window, at most 1 s apart', defaultText: 'half the resync period, at most 300' },
  { name: 'health-period', option: 'healthPeriodMs', kind: 'seconds', arg: 'SECONDS', help: "read every backend's GCE health once per period, spread over it, in the low lane (0: off, no fleetilb.io/BackendsHealthy)" },
  { name: 'health-read-share', option: 'healthReadShare', kind: 'number', arg: 'FRACTION', help: "share of fleet-ilb's GCE read budget the health reader may use; with more backends than fit in --health-period at that rate, its period stretches (metric fleetilb_backend_health_period_seconds)" },
  { name: 'sweep-period', option: 'sweepPeriodMs', kind: 'seconds', arg: 'SECONDS', help: 'periodic sweep of orphaned GCE resources (0: off)' },
  { name: 'gce-reads-per-minute', option: 'gceReadsPerMinute', kind: 'integer', arg: 'N', help: "the project's Compute API read quota (requests per minute)" },
  { name: 'gce-writes-per-minute', option: 'gceWritesPerMinute', kind: 'integer', arg: 'N', help: "the project's Compute API mutation quota (requests per minute)" },
  { name: 'gce-ratelimit', option: 'gceRateLimit', kind: 'string', arg: 'LIMITS', help: "per-method limits: 'Service.method,qps,<qps>,<burst>' separated by ';' ('*' for every method)", defaultText: '5 qps, burst 10 per method' },
  { name: 'gce-quota-share', option: 'gceQuotaShare', kind: 'number', arg: 'FRACTION', help: 'share of those quotas fleet-ilb may use (resync and sweep: at most half of it, after reconciles)' },
  { name: 'member-frozen-ttl', option: 'memberFrozenTtlMs', kind: 'seconds', arg: 'SECONDS', help: 'an unreachable member is removed from the load balancers after this long, with an Event (0: never)' },
  { name: 'member-empty-list-confirm', option: 'memberEmptyListConfirmMs', kind: 'seconds', arg: 'SECONDS', help: "an empty list of a serving member's EndpointSlices or Nodes is applied only when a second list this much later is empty too (0: at once)" },
  { name: 'mcs-importer', option: 'mcsImporter', kind: 'boolean', help: 'maintain ServiceImports (false: another MCS implementation does)' },
  { name: 'log-level', option: 'logLevel', kind: 'string', arg: 'LEVEL', help: 'trace, debug, info, warn, error or silent' },
];

/** The environment variable of a flag: `FLEET_ILB_` + the flag in capitals, `-` as `_`. */
export function envName(flag: string): string {
  return `FLEET_ILB_${flag.toUpperCase().replaceAll('-', '_')}`;
}

function defaultOf(f: Flag): string {
  if (f.defaultText !== undefined) return f.defaultText;
  const v: unknown = ControllerOptionsSchema.parse({})[f.option];
  if (v === undefined) return 'unset';
  return f.kind === 'seconds' ? String(Number(v) / 1000) : typeof v === 'string' ? v : JSON.stringify(v);
}

function flagText(f: Flag): string {
  return f.kind === 'boolean' ? `--${f.name}=false` : `--${f.name} ${f.arg ?? 'VALUE'}`;
}

/** `fleet-ilb controller --help`. */
export function controllerUsage(): string {
  const width = Math.max(...CONTROLLER_FLAGS.map((f) => flagText(f).length)) + 2;
  const lines = CONTROLLER_FLAGS.map((f) => `  ${flagText(f).padEnd(width)} ${f.help} (default: ${defaultOf(f)})`);
  return (
    `usage: fleet-ilb controller [flags]\n\n${lines.join('\n')}\n\n` +
    `Every flag can also be set by environment: FLEET_ILB_<FLAG>, e.g. ${envName('compute-endpoint')}; a flag wins over its variable.\n`
  );
}

/** The flag table of README.md (`fleet-ilb controller --help-markdown`). */
export function controllerFlagsMarkdown(): string {
  const rows = CONTROLLER_FLAGS.map((f) => `| \`${flagText(f)}\` | \`${envName(f.name)}\` | ${defaultOf(f)} | ${f.help} |`);
  return ['| flag | environment | default | meaning |', '|---|---|---|---|', ...rows].join('\n') + '\n';
}

/** `--help` / `--help-markdown` was asked for. */
export class UsageRequested extends Error {
  readonly format: 'text' | 'markdown';
  constructor(format: 'text' | 'markdown') {
    super('usage requested');
    this.format = format;
  }
}

/** Parses flags, then FLEET_ILB_* environment variables, into ControllerOptions (not yet validated). */
export function parseControllerArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ControllerOptions {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' }, 'help-markdown': { type: 'boolean' } };
  // Booleans take a value (`--leader-elect=false`), so every flag is a string to parseArgs.
  for (const f of CONTROLLER_FLAGS) options[f.name] = { type: 'string' };
  const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }) as { values: Record<string, string | boolean | undefined> };
  if (values['help'] === true) throw new UsageRequested('text');
  if (values['help-markdown'] === true) throw new UsageRequested('markdown');
  const out: Record<string, unknown> = {};
  for (const f of CONTROLLER_FLAGS) {
    const raw = values[f.name];
    const text = typeof raw === 'string' ? raw : (env[envName(f.name)] ?? (f.envFallback === undefined ? undefined : env[f.envFallback]));
    if (text === undefined) continue;
    out[f.option] = convert(f, text);
  }
  return out;
}

function convert(f: Flag, text: string): unknown {
  switch (f.kind) {
    case 'string':
      return text;
    case 'boolean':
      if (['true', '1'].includes(text)) return true;
      if (['false', '0'].includes(text)) return false;
      throw new Error(`--${f.name}: expected true or false, got ${JSON.stringify(text)}`);
    case 'integer':
    case 'number':
    case 'seconds': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw new Error(`--${f.name}: expected a number, got ${JSON.stringify(text)}`);
      return f.kind === 'seconds' ? Math.round(n * 1000) : n;
    }
  }
}

/** The `;`-separated `--gce-ratelimit` value as parseRateLimitFlags takes it. */
export function splitRateLimits(v: string): string[] {
  return v.split(';').map((x) => x.trim()).filter((x) => x !== '');
}
