// SPDX-License-Identifier: Apache-2.0
//
// `fleet-ilb plan` and `fleet-ilb status`: the controller's own view of a fleet, read only.
// They take the controller's flags (`--kubeconfig` of the config cluster; the members come from the
// FleetMembers and their kubeconfig Secrets, as for the controller; `--compute-endpoint`,
// `--fleet-id`, ...), watch the same caches, and run the reconcile's own translate → facts →
// render → plan (Reconciler.planGateway) with apply in dry-run mode. Nothing is written: the GCE
// client and the reconciler get a closed write fence (a write would be refused before it is sent),
// and no Kubernetes writer exists. The same GceCloud as the controller, so they work against the
// emulator and a real project alike.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ClusterClient } from '../clusters/client.ts';
import { errorMessage } from '../errors/index.ts';
import { GceCloud } from '../infra/gcp/cloud/client.ts';
import { BackendHealthMonitor, healthTargets } from '../infra/gcp/health.ts';
import { gceCloudOptions, defaultFleetId } from '../main.ts';
import { ControllerOptionsSchema, controllerUsage, parseControllerArgs, UsageRequested } from '../options.ts';
import { FleetProvider } from '../provider/index.ts';
import { Reconciler, type GatewayPlan, type Writers } from '../reconciler.ts';
import { closedFence } from '../runtime/fence.ts';
import { createLogger, type Log } from '../telemetry/logger.ts';
import { formatPlan, formatStatus, formatSweep } from './format.ts';

type Options = z.output<typeof ControllerOptionsSchema>;

/** A read-only view of the fleet: caches, the GCE client, a reconciler that plans but never writes. */
interface Session {
  provider: FleetProvider;
  reconciler: Reconciler;
  cloud: GceCloud;
  close(): Promise<void>;
}

/** Writers that refuse: plan and status must not reach any of them (a bug if they do). */
const NO_WRITERS: Writers = new Proxy({} as Writers, {
  get: (_t, name) => () => Promise.reject(new Error(`read-only command: ${String(name)} must not be called`)),
});

async function openSession(o: Options, log: Log): Promise<Session> {
  const config = o.kubeconfig === undefined ? ClusterClient.inCluster('config') : ClusterClient.fromFile('config', o.kubeconfig);
  const fleetId = o.fleetId ?? (await defaultFleetId(config));
  const provider = new FleetProvider({ config, namespace: o.namespace, fleetId, settings: { mcsImporter: o.mcsImporter }, log, onChange: () => {} });
  const cloud = new GceCloud(gceCloudOptions(o, closedFence));
  const close = async (): Promise<void> => {
    provider.stop();
    await cloud.close();
  };
  try {
    await provider.start();
    // As the controller does before its first reconcile: the config caches, then a bounded wait
    // for every member to list (one that does not answer is planned as frozen).
    const deadline = Date.now() + Math.max(o.memberSyncTimeoutMs, 5_000);
    while (!provider.configSynced()) {
      if (Date.now() > deadline) throw new Error('the config cluster did not list in time');
      await new Promise((r) => setTimeout(r, 50));
    }
    while (Date.now() < deadline && provider.members.members().some((m) => m.reachability.state === 'pending')) await new Promise((r) => setTimeout(r, 50));
  } catch (err) {
    await close();
    throw err;
  }
  const reconciler = new Reconciler({ provider, cloud, fleetId, writers: NO_WRITERS, fence: closedFence, log, sweepMinAgeMs: o.sweepMinAgeMs });
  return { provider, reconciler, cloud, close };
}

interface Parsed {
  options: Options;
  gateway?: string;
}

function usage(cmd: 'plan' | 'status'): string {
  const what =
    cmd === 'plan'
      ? 'the GCE changes the controller would make now (creates, updates with the fields that differ, deletes), for every Gateway or one; nothing is written'
      : "a Gateway's VIP, conditions, listeners and routes, members, NEGs with their endpoints and GCE health, and its GCE resources; nothing is written";
  const gw = cmd === 'plan' ? '[--gateway NAMESPACE/NAME]' : '--gateway NAMESPACE/NAME';
  const flags = controllerUsage().split('\n').slice(2).join('\n');
  return `usage: fleet-ilb ${cmd} ${gw} [controller flags]\n\n${what}.\nThe controller's flags apply (--kubeconfig, --compute-endpoint, --fleet-id, --namespace, --project, ...):\n${flags}`;
}

function parse(cmd: 'plan' | 'status', argv: string[]): Parsed | number {
  let values: { gateway?: string | undefined };
  let rest: string[];
  try {
    const r = parseArgs({ args: argv, options: { gateway: { type: 'string' } }, strict: false, allowPositionals: true, tokens: true });
    values = { gateway: typeof r.values['gateway'] === 'string' ? r.values['gateway'] : undefined };
    // Everything but --gateway goes to the controller's parser (strict there).
    const drop = new Set<number>();
    for (const t of r.tokens ?? []) {
      if (t.kind === 'option' && t.name === 'gateway') {
        drop.add(t.index);
        if (t.inlineValue === false) drop.add(t.index + 1);
      }
    }
    rest = argv.filter((_, i) => !drop.has(i));
    const options = ControllerOptionsSchema.parse({ logLevel: 'warn', ...parseControllerArgs(rest) });
    if (values.gateway !== undefined && !/^[^/]+\/[^/]+$/.test(values.gateway)) throw new Error(`--gateway: want NAMESPACE/NAME, got ${JSON.stringify(values.gateway)}`);
    if (cmd === 'status' && values.gateway === undefined) throw new Error('--gateway NAMESPACE/NAME is required');
    return { options, ...(values.gateway === undefined ? {} : { gateway: values.gateway }) };
  } catch (err) {
    if (err instanceof UsageRequested) {
      process.stdout.write(usage(cmd));
      return 0;
    }
    const msg = err instanceof z.ZodError ? z.prettifyError(err) : errorMessage(err);
    process.stderr.write(`fleet-ilb ${cmd}: ${msg}\n\n${usage(cmd)}`);
    return 2;
  }
}

async function withSession(cmd: 'plan' | 'status', argv: string[], fn: (s: Session, p: Parsed) => Promise<string[]>): Promise<number> {
  const p = parse(cmd, argv);
  if (typeof p === 'number') return p;
  const log = createLogger({ level: p.options.logLevel, destination: process.stderr });
  let session: Session;
  try {
    session = await openSession(p.options, log);
  } catch (err) {
    process.stderr.write(`fleet-ilb ${cmd}: ${errorMessage(err)}\n`);
    return 1;
  }
  try {
    process.stdout.write(`${(await fn(session, p)).join('\n')}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`fleet-ilb ${cmd}: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    await session.close();
  }
}

/** Gateways of fleet-ilb's classes (or the one asked for), sorted. */
function gatewaysOf(s: Session, one: string | undefined): string[] {
  if (one !== undefined) return [one];
  return s.provider.gatewayKeys().sort();
}

/** `fleet-ilb plan`. */
export function planMain(argv: string[]): Promise<number> {
  return withSession('plan', argv, async (s, p) => {
    const out: string[] = [];
    const keys = gatewaysOf(s, p.gateway);
    let mine = 0;
    for (const key of keys) {
      const plan = await s.reconciler.planGateway(key);
      // Gateways of other classes that we never owned: not ours to plan.
      if (p.gateway === undefined && plan.kind === 'teardown' && !(plan.gateway.metadata.finalizers ?? []).includes('fleetilb.io/cleanup')) continue;
      mine++;
      out.push(...formatPlan(key, plan));
    }
    if (mine === 0) out.push('no Gateway of a fleet-ilb class');
    // The whole fleet: also what the periodic sweep would delete.
    if (p.gateway === undefined) out.push(...formatSweep(await s.reconciler.planSweep()));
    return out;
  });
}

/** `fleet-ilb status`. */
export function statusMain(argv: string[]): Promise<number> {
  return withSession('status', argv, async (s, p) => {
    const key = p.gateway!;
    const plan: GatewayPlan = await s.reconciler.planGateway(key);
    if (plan.kind === 'absent') throw new Error(`Gateway ${key} not found`);
    let health;
    if (plan.kind === 'apply') {
      // Read now, in the caller's lane: the user is waiting.
      const reader = new BackendHealthMonitor({ cloud: s.cloud });
      reader.track(key, healthTargets(plan.ir, plan.desired));
      health = await reader.readGateway(key);
    }
    const members = s.provider.members.members().map((m) => ({
      clusterID: m.clusterID,
      fleetMember: m.fleetMember,
      state: m.reachability.state,
      frozen: m.frozen,
      ...(m.reachability.message === undefined || m.reachability.message === '' ? {} : { message: m.reachability.message }),
    }));
    return formatStatus({ key, gateway: plan.gateway, plan, ...(health === undefined ? {} : { health }), members: members.sort((a, b) => (a.clusterID < b.clusterID ? -1 : 1)) });
  });
}
