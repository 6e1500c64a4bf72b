// SPDX-License-Identifier: Apache-2.0
//
// The reliability battery's shared pieces (docs: test/battery/README.md): how an item reports its
// row, quick vs full mode, and the loss measures read from the Compute API emulator — the stamped
// inventory, duplicate inserts, writes where none were allowed. Every item is an ordinary vitest
// file (`*.battery.test.ts`); `npm run battery` runs them all and prints one table.
import { appendFileSync } from 'node:fs';
import { beforeEach } from 'vitest';
import type { ControllerOptions } from '../../controller/main.ts';
import { decodeStamp } from '../../controller/naming/stamp.ts';
import type { AuditEntry, Emulator, Inventory } from '../emulator/index.ts';
import { GATEWAY_API } from '../fixtures/conditions.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import { CONTROLLER_NAMESPACE, memberSecretName } from '../fixtures/members.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';
import { KubeFaultProxy } from './kubeproxy.ts';

/** One row of the battery table. */
export interface BatteryRow {
  /** Battery item id, e.g. `A1`, `D2`, `G2`. */
  id: string;
  /** What the item does, in a few words. */
  what: string;
  /** Runs (seeds, inputs, kill points) executed. */
  runs: number;
  /** Fleet-ilb-stamped GCE resources left behind that no Gateway wants. */
  gceLeaks: number;
  /** GCE names inserted twice (request-id replays aside). */
  duplicates: number;
  /** Kubernetes objects left behind (VIP Services, finalizers) that should be gone. */
  kubeLeaks: number;
  /** GCE (or Kubernetes) writes where the item allows none. */
  forbiddenWrites: number;
  /** Worst time to converge after the fault ended, ms (undefined: not measured by this item). */
  convergeMs?: number;
  /** Failed checks, one line each (empty = pass). */
  failures: string[];
  /** Extra figures worth printing (e.g. Programmed-under-faults median). */
  notes?: string;
}

/** True in quick mode (`BATTERY_QUICK=1`, CI): fewer seeds and inputs, same checks. */
export function quick(): boolean {
  return process.env['BATTERY_QUICK'] === '1';
}

/** The seeds to run: `BATTERY_SEEDS` (comma list) or `quickN` / `fullN` consecutive seeds from 1. */
export function seeds(quickN: number, fullN: number): number[] {
  const env = process.env['BATTERY_SEEDS'];
  if (env !== undefined && env.trim() !== '') return env.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n));
  return Array.from({ length: quick() ? quickN : fullN }, (_, i) => i + 1);
}

/**
 * The fleet an item runs on. Alone (`npx vitest run ... file`), every item starts its own scenario
 * and {@link releaseFleet} stops it. Under `npm run battery` (`BATTERY_SHARED=1`, vitest with
 * `isolate: false`: one process, one module graph for every file) the items share ONE scenario —
 * starting a fleet is the biggest fixed cost of an item — and each leaves it as it found it (its
 * Gateways deleted, Secrets and FleetMembers restored). `controller`: the in-process controller the
 * item needs (options over the scenario's defaults), or `false` for none (an item that runs the
 * controller as a child process); the shared controller is restarted only when that changes.
 */
export async function itemFleet(opts: { controller?: Partial<ControllerOptions> | false } = {}): Promise<Scenario> {
  const want = opts.controller === false ? false : { ...baseOptions(), ...opts.controller };
  if (process.env['BATTERY_SHARED'] !== '1') return startScenario({ controller: want });
  const st = (shared ??= { scenario: startScenario({ controller: false }), controller: false, released: 0 });
  const s = await st.scenario;
  const key = want === false ? false : JSON.stringify(want);
  if (key !== st.controller) {
    await s.stopController();
    st.controller = false;
    if (want !== false) {
      await s.startController(want);
      st.controller = key;
    }
  }
  return s;
}

/** The options every item's in-process controller starts from. */
function baseOptions(): Partial<ControllerOptions> {
  // Quick mode holds an empty member list back 5 s instead of 60 (--member-empty-list-confirm): D2
  // proves the same hold-back sooner, and one set of options lets the items share one controller.
  return quick() ? { memberEmptyListConfirmMs: 5_000 } : {};
}

/** Ends an item's use of {@link itemFleet}: stops its own scenario, or the shared one after the last item (`BATTERY_SHARED_FILES`). */
export async function releaseFleet(s: Scenario | undefined): Promise<void> {
  if (process.env['BATTERY_SHARED'] !== '1') {
    await s?.stop();
    return;
  }
  if (shared === undefined) return;
  shared.released++;
  // The runner counts the files it asked vitest to run; if that count is off, the fleet harness
  // still kills the fleet when this process exits (test/harness/fleet.ts).
  if (shared.released >= Number(process.env['BATTERY_SHARED_FILES'] ?? '1')) {
    const st = shared;
    shared = undefined;
    await (await st.scenario).stop();
  }
}

let shared: { scenario: Promise<Scenario>; controller: string | false; released: number } | undefined;

/**
 * Timers shortened to seconds for the items that watch them fire many times (B3, D1, E1/E3):
 * resync and orphan sweep every 2 s (no minimum age), a full relist of every reflector every 45 s
 * (10 min by default; well past the watchdog, so in E1 the watchdog, not the relist, ends a dead
 * watch), the watch inactivity watchdog at 10 s (75 s), an unreachable serving member
 * published after 3 s (30 s). One set, so these items share one controller (vitest.config.ts order).
 */
export const SHORT_TIMERS: Partial<ControllerOptions> = {
  resyncPeriodMs: 2_000,
  sweepPeriodMs: 2_000,
  sweepMinAgeMs: 0,
  relistIntervalMs: 45_000,
  watchIdleTimeoutMs: 10_000,
  memberUnreachablePublishDelayMs: 3_000,
};

/**
 * Restarts the fleet's in-process controller with other options (over the quick-mode base, as
 * {@link itemFleet}), alone or on the shared fleet, e.g. for the second half of an item.
 */
export async function restartController(s: Scenario, opts: Partial<ControllerOptions>): Promise<void> {
  const want = { ...baseOptions(), ...opts };
  await s.stopController();
  if (shared !== undefined) shared.controller = false;
  await s.startController(want);
  if (shared !== undefined) shared.controller = JSON.stringify(want);
}

/**
 * Routes member `index`'s traffic from the controller through a {@link KubeFaultProxy}: its
 * kubeconfig Secret now points at the proxy (for the controller a credential rotation: a new
 * client, the old data served until the new lists succeed). Resolves once the controller watches
 * its EndpointSlices and Nodes through it. `restore()` puts the member's own kubeconfig back and
 * stops the proxy (the fleet may be shared with the next item).
 */
export async function proxyMember(s: Scenario, index: number): Promise<{ proxy: KubeFaultProxy; member: string; restore: () => Promise<void> }> {
  const m = s.fleet.members[index]!;
  const proxy = new KubeFaultProxy(m.kubeConfig());
  await proxy.start();
  const secret = await s.kube('config').get('v1', 'Secret', memberSecretName(m.name), CONTROLLER_NAMESPACE);
  const put = (data: unknown): Promise<unknown> =>
    s.kube('config').apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: memberSecretName(m.name), namespace: CONTROLLER_NAMESPACE }, data });
  const restore = async (): Promise<void> => {
    proxy.up();
    if (secret !== undefined) await put(secret['data']);
    await proxy.stop();
  };
  try {
    await put({ kubeconfig: Buffer.from(proxy.kubeconfig()).toString('base64') });
    await waitFor(() => proxy.count(MEMBER_SLICES).watches > 0 && proxy.count(MEMBER_NODES).watches > 0, 60_000, `the controller watching ${m.name} through the proxy`);
  } catch (err) {
    await restore();
    throw err;
  }
  return { proxy, member: m.name, restore };
}

/** Collection paths of a member's EndpointSlices and Nodes as the controller watches them. */
export const MEMBER_SLICES = /\/apis\/discovery\.k8s\.io\/v1\/endpointslices$/;
export const MEMBER_NODES = /\/api\/v1\/nodes$/;
/** Every collection the controller lists and watches in a member. */
export const MEMBER_COLLECTIONS = /^\/(api|apis)\//;

/** Appends the row to `BATTERY_OUT` (the runner's table) and returns it. */
export function recordRow(row: BatteryRow): BatteryRow {
  const out = process.env['BATTERY_OUT'];
  if (out !== undefined && out !== '') appendFileSync(out, `${JSON.stringify(row)}\n`);
  return row;
}

/**
 * A new row for item `id`, tracked: a test of the enclosing describe whose name matches `tests`
 * (default: every test) that FAILS without having added a failure to the row — an exception, a
 * timed-out wait, an `expect` before the row's own checks — adds its error to the row, so the table
 * never says pass for an item whose test failed. Call it inside the `describe`.
 */
export function newRow(id: string, what: string, tests?: RegExp): BatteryRow {
  const row: BatteryRow = { id, what, runs: 0, gceLeaks: 0, duplicates: 0, kubeLeaks: 0, forbiddenWrites: 0, failures: [] };
  beforeEach(({ task, onTestFailed }) => {
    if (tests !== undefined && !tests.test(task.name)) return;
    const before = row.failures.length;
    onTestFailed(({ task: t }) => {
      if (row.failures.length > before) return;
      const err = t.result?.errors?.[0];
      row.failures.push(`test "${t.name}" failed: ${(err?.message ?? 'unknown error').split('\n')[0]!.slice(0, 300)}`);
    });
  });
  return row;
}

/** A loss means the item failed: any leak, duplicate, forbidden write or failed check, or no run at all. */
export function lost(row: BatteryRow): boolean {
  // An item that ran nothing (its fleet did not start) proved nothing: a failure too.
  return row.runs === 0 || row.gceLeaks > 0 || row.duplicates > 0 || row.kubeLeaks > 0 || row.forbiddenWrites > 0 || row.failures.length > 0;
}

type Res = Record<string, unknown>;

/** Every GCE resource of the inventory whose description carries fleet-ilb's stamp for `fleet` (any fleet when absent). */
export function stamped(inv: Inventory, fleet?: string): Array<{ kind: string; name: string; gatewayUid: string; gateway: string }> {
  const out: Array<{ kind: string; name: string; gatewayUid: string; gateway: string }> = [];
  const kinds: Array<[string, Res[]]> = [
    ['address', inv.addresses],
    ['healthCheck', inv.healthChecks],
    ['backendService', inv.backendServices],
    ['networkEndpointGroup', inv.networkEndpointGroups],
    ['forwardingRule', inv.forwardingRules],
    ['firewall', inv.firewalls],
  ];
  for (const [kind, list] of kinds) {
    for (const r of list) {
      const s = decodeStamp(typeof r['description'] === 'string' ? r['description'] : undefined);
      if (s === undefined || (fleet !== undefined && s.fleet !== fleet)) continue;
      out.push({ kind, name: String(r['name']), gatewayUid: s.gatewayUid, gateway: s.gateway });
    }
  }
  return out;
}

/**
 * GCE names that were created twice without a delete in between, from the audit log: an insert
 * that succeeded (200, or a 409 after an applied insert: the emulator still created it) while the
 * name already existed from an earlier successful insert of ANOTHER requestId. Replays of one
 * requestId are the same insert.
 */
export function duplicateInserts(audit: readonly AuditEntry[], inv?: Inventory): string[] {
  // Operations that ended DONE with an error applied nothing (a 200 on the call does not mean applied).
  const failedOps = new Set((inv?.operations ?? []).filter((o) => o['error'] !== undefined).map((o) => String(o['name'])));
  const live = new Map<string, string | undefined>(); // resource → requestId of the insert that created it
  const dups: string[] = [];
  for (const a of audit) {
    if (a.resource === undefined || a.access !== 'write') continue;
    const verb = a.method.slice(a.method.lastIndexOf('.') + 1);
    const chaos = a.chaos ?? [];
    if (chaos.some((k) => k.startsWith('op-')) || (a.operation !== undefined && failedOps.has(a.operation))) continue;
    const applied = a.status === 200 || chaos.some((k) => k === '409-applied' || k === '404-delete' || k === 'timeout-applied');
    if (!applied) continue;
    if (verb === 'insert') {
      if (live.has(a.resource) && live.get(a.resource) !== a.requestId) dups.push(a.resource);
      live.set(a.resource, a.requestId);
    } else if (verb === 'delete') {
      live.delete(a.resource);
    }
  }
  return dups;
}

/** Audit entries after `seq` that are GCE writes (mutations). */
export function writesSince(emu: Emulator, seq: number): AuditEntry[] {
  return emu.audit().filter((a) => a.seq > seq && a.access === 'write');
}

/** The audit log's last sequence number (a mark to measure from). */
export function auditMark(emu: Emulator): number {
  return emu.audit().at(-1)?.seq ?? 0;
}

/** The firewalls stamped for Gateway `ns/name` (its last writes: Programmed=True does not wait for them). */
export function firewallsOf(emu: Emulator, ns: string, name: string): number {
  return stamped(emu.inventory()).filter((x) => x.kind === 'firewall' && x.gateway === `${ns}/${name}`).length;
}

/** Median and max of a list of numbers (undefined when empty). */
export function medianMax(xs: readonly number[]): { median?: number; max?: number } {
  if (xs.length === 0) return {};
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, max: s.at(-1)! };
}

/** A fleet-ilb Gateway with one TCP listener `tcp` on `port` that takes TCPRoutes. */
export function tcpGateway(namespace: string, name: string, port: number): KObject {
  return {
    apiVersion: GATEWAY_API,
    kind: 'Gateway',
    metadata: { name, namespace },
    spec: { gatewayClassName: 'fleet-ilb', listeners: [{ name: 'tcp', protocol: 'TCP', port, allowedRoutes: { kinds: [{ kind: 'TCPRoute' }] } }] },
  };
}

/** A TCPRoute of the same name to the `store` ServiceImport (port 8080), attached to listener `tcp` of Gateway `name`. */
export function storeRoute(namespace: string, name: string): KObject {
  return {
    apiVersion: GATEWAY_API,
    kind: 'TCPRoute',
    metadata: { name, namespace },
    spec: { parentRefs: [{ name, sectionName: 'tcp' }], rules: [{ backendRefs: [{ group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name: 'store', port: 8080 }] }] },
  };
}
