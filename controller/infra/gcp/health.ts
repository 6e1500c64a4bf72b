// SPDX-License-Identifier: Apache-2.0
//
// Backend health as GCE sees it: `regionBackendServices.getHealth` for each NEG backend of each of a
// Gateway's backend services (one entry per endpoint x forwarding rule:
// https://cloud.google.com/compute/docs/reference/rest/v1/regionBackendServices/getHealth).
//
// Health is a FACT, like the inventory's (docs/architecture.md "Feedback edges"): it is read after
// apply, kept here, and composed into the Gateway's `fleetilb.io/BackendsHealthy` condition, the
// `fleetilb_backend_endpoints` gauge and `fleet-ilb status`. It never reaches translate or render.
//
// Cost, and why it cannot crowd out a reconcile: one read per (backend service, NEG) per period, one
// call at a time, every call in the LOW lane of the shared read budget (cloud/ratelimit.ts: a low
// call waits while any reconcile call waits and takes at most half of the budget), and the periodic
// pass is spread evenly over the period like the resync (runtime/resync.ts), never a burst. A target
// whose endpoints changed (or that was never read) is read ahead of the pass, still one at a time in
// the low lane. The onChange hook fires only when the rendered summary of a Gateway changes, so a
// change of health that renders the same condition costs no reconcile and no status write.
//
// Bounded share of the read budget: every read, urgent or periodic, is at least 60 s /
// `maxReadsPerMinute` after the previous one began (main.ts sets it to --health-read-share of the
// read budget, and to the getHealth method's own per-method limit when that is lower). A fleet with
// more backends than fit in --health-period at that rate gets a longer pass: effective period =
// max(--health-period, backends / maxReadsPerMinute) ({@link healthPassPeriodMs}; at 1,000
// Gateways × 2 backend services × 9 NEGs = 18,000 reads and 1,500 reads/min × 0.5 × 0.25 = 187
// reads/min, about 96 min). Without the bound it would read at whatever the low lane leaves, i.e.
// take the resync's and sweep's share of the project quota for itself.
import type { GceCloud, IHealthStatus } from './cloud/client.ts';
import { withCallPriority } from './cloud/client.ts';
import type { DesiredGce } from './desired.ts';
import type { GatewayIR } from '../../ir/types.ts';
import { errorMessage } from '../../errors/index.ts';

/** One NEG backend of a backend service: whose it is and which instances it should hold. */
export interface HealthBackend {
  /** The NEG's full URL (the backend's `group`, the getHealth request body). */
  group: string;
  project: string;
  zone: string;
  neg: string;
  /** The member cluster the NEG's endpoints come from. */
  cluster: string;
  /** Instances apply put in the NEG (sorted); a read whose instances differ is stale. */
  instances: string[];
}

/** One backend service of a Gateway and the listeners it serves. */
export interface HealthService {
  backendService: string;
  listeners: string[];
  backends: HealthBackend[];
}

/** What to read for one Gateway. */
export interface GatewayHealthTargets {
  project: string;
  region: string;
  services: HealthService[];
}

/** How GCE judges one endpoint for one backend service: only HEALTHY serves; UNKNOWN is not yet judged. */
export type EndpointState = 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';

/** One endpoint of a NEG as getHealth reported it. */
export interface EndpointHealth {
  instance: string;
  ipAddress: string;
  state: EndpointState;
  /** The raw healthState values of its entries (one per forwarding rule), when not all HEALTHY. */
  detail?: string[];
}

/** The last read of one backend. `endpoints` undefined = never read successfully. */
export interface BackendHealth extends Omit<HealthBackend, 'instances'> {
  endpoints?: EndpointHealth[];
  /** When the last read failed (it is then unknown, not unhealthy). */
  error?: string;
  /** ms since the epoch of the last successful read. */
  readAt?: number;
}

/** The health of one Gateway's backends, as last read. */
export interface GatewayHealth {
  services: Array<{ backendService: string; listeners: string[]; backends: BackendHealth[] }>;
}

/** Per member: endpoints healthy / all endpoints read, summed over the Gateway's backend services. */
export interface MemberHealthCount {
  cluster: string;
  healthy: number;
  /** Judged and not HEALTHY (total - healthy - the ones GCE has not judged yet). */
  unhealthy: number;
  total: number;
}

/**
 * One endpoint's verdict from its getHealth entries (one per forwarding rule of the service; every
 * rule of a Gateway shares the VIP, so they agree unless a probe is in flight): HEALTHY only when
 * every entry is; UNKNOWN while GCE has not judged it (no entry, or UNKNOWN); otherwise UNHEALTHY
 * (UNHEALTHY, TIMEOUT, DRAINING: none of them receives new connections).
 */
export function endpointState(states: readonly string[]): EndpointState {
  if (states.length === 0) return 'UNKNOWN';
  if (states.every((s) => s === 'HEALTHY')) return 'HEALTHY';
  if (states.some((s) => s !== 'HEALTHY' && s !== 'UNKNOWN')) return 'UNHEALTHY';
  return 'UNKNOWN';
}

/** getHealth's entries grouped by endpoint (instance), sorted. Pure. */
export function endpointsOf(statuses: readonly IHealthStatus[]): EndpointHealth[] {
  const by = new Map<string, { ip: string; states: string[] }>();
  for (const h of statuses) {
    const instance = lastSegment(h.instance ?? '');
    if (instance === '') continue;
    const e = by.get(instance) ?? { ip: h.ipAddress ?? '', states: [] };
    e.states.push(String(h.healthState ?? 'UNKNOWN'));
    by.set(instance, e);
  }
  return [...by]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([instance, e]) => {
      const state = endpointState(e.states);
      return { instance, ipAddress: e.ip, state, ...(state === 'HEALTHY' ? {} : { detail: [...new Set(e.states)].sort() }) };
    });
}

/** Per member healthy/total over every backend service of the Gateway (members sorted). Pure. */
export function memberCounts(h: GatewayHealth): MemberHealthCount[] {
  const by = new Map<string, MemberHealthCount>();
  for (const s of h.services) {
    for (const b of s.backends) {
      const c = by.get(b.cluster) ?? { cluster: b.cluster, healthy: 0, unhealthy: 0, total: 0 };
      for (const e of b.endpoints ?? []) {
        c.total++;
        if (e.state === 'HEALTHY') c.healthy++;
        else if (e.state === 'UNHEALTHY') c.unhealthy++;
      }
      by.set(b.cluster, c);
    }
  }
  return [...by.values()].sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
}

/**
 * What to read for one Gateway: each desired backend service with its listeners (from the IR's
 * backend groups) and each NEG backend with its member and the instances apply put there. Pure.
 */
export function healthTargets(ir: GatewayIR, desired: DesiredGce): GatewayHealthTargets {
  const negs = new Map(desired.negs.map((n) => [`${n.project ?? desired.project}/${n.zone}/${n.neg.name}`, n]));
  const services: HealthService[] = desired.backendServices.map((bs) => {
    const listeners = ir.groups.filter((g) => g.backendService === bs.name).flatMap((g) => g.listeners);
    const backends: HealthBackend[] = [];
    for (const b of bs.backends ?? []) {
      const group = b.group ?? '';
      const ref = negRef(group);
      if (ref === undefined) continue;
      const n = negs.get(`${ref.project}/${ref.zone}/${ref.neg}`);
      backends.push({ group, ...ref, cluster: n?.cluster ?? '', instances: (n?.endpoints ?? []).map((e) => e.instance).sort() });
    }
    return { backendService: bs.name, listeners: [...listeners].sort(), backends };
  });
  return { project: desired.project, region: desired.region, services };
}

/** project/zone/name of a NEG URL (`.../projects/P/zones/Z/networkEndpointGroups/N`). */
function negRef(url: string): { project: string; zone: string; neg: string } | undefined {
  const m = /projects\/([^/]+)\/zones\/([^/]+)\/networkEndpointGroups\/([^/]+)$/.exec(url);
  return m === null ? undefined : { project: m[1]!, zone: m[2]!, neg: m[3]! };
}

function lastSegment(url: string): string {
  const i = url.lastIndexOf('/');
  return i < 0 ? url : url.slice(i + 1);
}

/** Options of {@link BackendHealthMonitor}. */
export interface HealthMonitorOptions {
  cloud: GceCloud;
  /**
   * Renders a Gateway's health as its status would show it (the condition); `onChange` fires when
   * this string changes. Default: the per-member counts.
   */
  render?: (gwKey: string, h: GatewayHealth) => string;
  /** A Gateway's rendered health changed: the controller queues its reconcile. */
  onChange?: (gwKey: string) => void;
  /** After every read of a Gateway's backend (metrics). */
  onRead?: (gwKey: string, h: GatewayHealth) => void;
  /** A Gateway is no longer read (metrics drop its series). */
  onForget?: (gwKey: string) => void;
  /** Read failures (logged, never thrown). */
  onError?: (gwKey: string, backend: string, error: string) => void;
  /**
   * At most this many getHealth calls per minute, urgent reads included (every read starts at least
   * 60 s / this after the previous one). Default: no bound but the period's spreading.
   */
  maxReadsPerMinute?: number;
  /** At the start of each pass: how many backends it reads and how long it will take (ms). */
  onPass?: (pass: { reads: number; periodMs: number }) => void;
  now?: () => number;
}

/**
 * How long one pass over `reads` backends takes: the configured period, or longer when reading them
 * at `maxReadsPerMinute` takes longer (the rate bound wins over the period). Pure.
 */
export function healthPassPeriodMs(periodMs: number, reads: number, maxReadsPerMinute?: number): number {
  if (maxReadsPerMinute === undefined || !(maxReadsPerMinute > 0)) return periodMs;
  return Math.max(periodMs, Math.ceil((reads * 60_000) / maxReadsPerMinute));
}

interface Slot {
  targets: GatewayHealthTargets;
  /** Read results keyed by `backendService|group`. */
  results: Map<string, { endpoints?: EndpointHealth[]; error?: string; readAt?: number }>;
  rendered?: string;
}

/** A single reader of every tracked backend; see the file comment for its pacing. */
export class BackendHealthMonitor {
  readonly #o: HealthMonitorOptions;
  readonly #slots = new Map<string, Slot>();
  /** `gwKey|backendService|group` to read before the periodic pass continues. */
  readonly #urgent = new Set<string>();
  #wake: (() => void) | undefined;
  /** When the last paced read began (ms), for the rate bound. */
  #lastReadAt: number | undefined;

  constructor(opts: HealthMonitorOptions) {
    this.#o = opts;
  }

  /**
   * Sets what to read for a Gateway (after each apply). Results of backends it keeps stay; a
   * backend never read, or whose instances differ from the last read, is read ahead of the pass.
   */
  track(gwKey: string, targets: GatewayHealthTargets): void {
    const old = this.#slots.get(gwKey);
    const results = new Map<string, { endpoints?: EndpointHealth[]; error?: string; readAt?: number }>();
    for (const s of targets.services) {
      for (const b of s.backends) {
        const k = `${s.backendService}|${b.group}`;
        const prev = old?.results.get(k);
        if (prev !== undefined && old?.targets.project === targets.project && old.targets.region === targets.region) results.set(k, prev);
        const read = prev?.endpoints?.map((e) => e.instance).join(',');
        if (read !== b.instances.join(',')) this.#urgent.add(`${gwKey}|${k}`);
      }
    }
    const slot: Slot = { targets, results };
    this.#slots.set(gwKey, slot);
    // What the reconcile that tracked these targets composes now: later reads notify only when they
    // render something else.
    slot.rendered = (this.#o.render ?? defaultRender)(gwKey, this.health(gwKey)!);
    this.#wake?.();
  }

  /** Stops reading a Gateway (deleted, or no longer ours). */
  forget(gwKey: string): void {
    if (this.#slots.delete(gwKey)) this.#o.onForget?.(gwKey);
    for (const k of this.#urgent) if (k.startsWith(`${gwKey}|`)) this.#urgent.delete(k);
  }

  /** Tracked Gateways. */
  keys(): string[] {
    return [...this.#slots.keys()].sort();
  }

  /** The health as last read; undefined when the Gateway is not tracked. */
  health(gwKey: string): GatewayHealth | undefined {
    const slot = this.#slots.get(gwKey);
    if (slot === undefined) return undefined;
    return {
      services: slot.targets.services.map((s) => ({
        backendService: s.backendService,
        listeners: s.listeners,
        backends: s.backends.map(({ instances: _instances, ...b }) => {
          const r = slot.results.get(`${s.backendService}|${b.group}`);
          return { ...b, ...(r?.endpoints === undefined ? {} : { endpoints: r.endpoints }), ...(r?.error === undefined ? {} : { error: r.error }), ...(r?.readAt === undefined ? {} : { readAt: r.readAt }) };
        }),
      })),
    };
  }

  /** Reads every backend of one Gateway now, in the caller's lane (`fleet-ilb status`). */
  async readGateway(gwKey: string): Promise<GatewayHealth | undefined> {
    const slot = this.#slots.get(gwKey);
    if (slot === undefined) return undefined;
    for (const s of slot.targets.services) for (const b of s.backends) await this.#read(gwKey, s.backendService, b.group);
    return this.health(gwKey);
  }

  /**
   * Reads every tracked backend, spread evenly over `periodMs` per pass, with urgent backends
   * (new, or changed endpoints) first; one call at a time, in the low lane. Runs until `signal`.
   */
  async run(periodMs: number, signal: AbortSignal): Promise<void> {
    const now = this.#o.now ?? Date.now;
    const minGap = this.#o.maxReadsPerMinute !== undefined && this.#o.maxReadsPerMinute > 0 ? 60_000 / this.#o.maxReadsPerMinute : 0;
    let pass: string[] = [];
    let gap = 0;
    let nextAt = now();
    let passEnd = now();
    while (!signal.aborted) {
      // The rate bound holds for every read, urgent ones too.
      const wait = (this.#lastReadAt ?? -Infinity) + minGap - now();
      if (wait > 0) {
        await this.#sleep(Math.max(1, wait), signal);
        continue;
      }
      const urgent = this.#urgent.values().next();
      if (!urgent.done) {
        this.#urgent.delete(urgent.value);
        await this.#readKey(urgent.value);
        continue;
      }
      const t = now();
      if (pass.length === 0 && t >= passEnd) {
        pass = this.#allKeys();
        // The first read of a pass also waits one gap after the last read of the previous pass.
        nextAt = Math.max(t, nextAt);
        const passMs = healthPassPeriodMs(periodMs, pass.length, this.#o.maxReadsPerMinute);
        gap = pass.length > 0 ? passMs / pass.length : 0;
        passEnd = t + passMs;
        this.#o.onPass?.({ reads: pass.length, periodMs: passMs });
      }
      if (pass.length > 0 && t >= nextAt) {
        const k = pass.shift()!;
        // Read by the urgent lane within this gap: fresh enough.
        if (!this.#freshWithin(k, gap)) await this.#readKey(k);
        // The next read at least one gap after this one ended: a late read is not caught up with a
        // burst (the pass then takes a little longer than the period).
        nextAt = now() + gap;
        continue;
      }
      const until = pass.length > 0 ? nextAt : passEnd;
      await this.#sleep(Math.max(1, until - now()), signal);
    }
  }

  #allKeys(): string[] {
    const out: string[] = [];
    for (const [gwKey, slot] of [...this.#slots].sort(([a], [b]) => (a < b ? -1 : 1))) {
      for (const s of slot.targets.services) for (const b of s.backends) out.push(`${gwKey}|${s.backendService}|${b.group}`);
    }
    return out;
  }

  #freshWithin(key: string, ms: number): boolean {
    const [gwKey, bs, group] = key.split('|') as [string, string, string];
    const at = this.#slots.get(gwKey)?.results.get(`${bs}|${group}`)?.readAt;
    return at !== undefined && (this.#o.now ?? Date.now)() - at < ms;
  }

  async #readKey(key: string): Promise<void> {
    const [gwKey, bs, group] = key.split('|') as [string, string, string];
    this.#lastReadAt = (this.#o.now ?? Date.now)();
    await withCallPriority('low', () => this.#read(gwKey, bs, group));
  }

  async #read(gwKey: string, backendService: string, group: string): Promise<void> {
    const slot = this.#slots.get(gwKey);
    if (slot === undefined) return;
    const { project, region } = slot.targets;
    const k = `${backendService}|${group}`;
    try {
      const statuses = await this.#o.cloud.forProject(project).getBackendHealth(region, backendService, group);
      if (this.#slots.get(gwKey) !== slot) return; // re-tracked or forgotten meanwhile
      slot.results.set(k, { endpoints: endpointsOf(statuses), readAt: (this.#o.now ?? Date.now)() });
    } catch (err) {
      if (this.#slots.get(gwKey) !== slot) return;
      const prev = slot.results.get(k);
      // A failed read is not news about health: the last good read stands, marked with the error.
      slot.results.set(k, { ...prev, error: errorMessage(err) });
      this.#o.onError?.(gwKey, `${backendService} ${lastSegment(group)}`, errorMessage(err));
    }
    const h = this.health(gwKey);
    if (h === undefined) return;
    this.#o.onRead?.(gwKey, h);
    // Backends of this Gateway still waiting to be read first: one notification once they all are,
    // not one per backend of a new Gateway.
    for (const k of this.#urgent) if (k.startsWith(`${gwKey}|`)) return;
    const rendered = (this.#o.render ?? defaultRender)(gwKey, h);
    if (rendered !== slot.rendered) {
      slot.rendered = rendered;
      this.#o.onChange?.(gwKey);
    }
  }

  #sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        this.#wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      t.unref?.();
      this.#wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

function defaultRender(_gwKey: string, h: GatewayHealth): string {
  return memberCounts(h)
    .map((c) => `${c.cluster} ${c.healthy}/${c.total}`)
    .join(', ');
}
