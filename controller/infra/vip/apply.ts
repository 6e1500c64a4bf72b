// SPDX-License-Identifier: Apache-2.0
//
// Applies one Gateway's VIP Services (+ mirrored EndpointSlices) to the member clusters
// (docs/architecture.md "What a Gateway becomes"; docs/failure-rules.md):
// * per non-frozen member: server-side apply (field manager `fleet-ilb`, `force: true`) of each
//   desired Service and EndpointSlice, skipped client-side when the live object already holds what
//   we own (infra/vip/compare.ts), then `status.loadBalancer.ingress = [{ip: VIP, ipMode: VIP}]`
//   through `services/status` when it differs (kube-proxy and Cilium program every ingress IP of a
//   LoadBalancer Service, docs/architecture.md "What a Gateway becomes");
// * prune: Services and EndpointSlices carrying this Gateway's owner labels that are not desired
//   are deleted (uid precondition). Objects without our labels are never touched: a desired name
//   held by a foreign object is reported as a UserError naming it, not taken over;
// * frozen members (unreachable, bad credentials): no call at all; their objects stay as they were;
// * members are handled in parallel, so a slow member delays nobody else; a member that fails is
//   reported and the others still converge;
// * every write is fenced (KubeApi).
// Apiserver behaviours this relies on (checked on kube-apiserver 1.36, test/integration/vip-apply):
// a `type: LoadBalancer` Service with `loadBalancerClass`, `externalTrafficPolicy: Local`,
// `allocateLoadBalancerNodePorts: false` and a fixed `healthCheckNodePort` is accepted; a port already
// allocated in that cluster fails with HTTP 500 "failed to allocate requested HealthCheck NodePort
// N: provided port is already allocated"; `healthCheckNodePort` is immutable (422), so a new pinned
// port means delete + re-create; dropping it from the apply keeps the allocated one.
import type { EndpointSlice, KubeObject, Service } from '../../api/index.ts';
import { keyOf } from '../../api/index.ts';
import { classifyClusterError, kubeStatusOf, statusCodeOf } from '../../clusters/errors.ts';
import { UserError, errorMessage, isFencedError } from '../../errors/index.ts';
import { LABEL_FLEET, LABEL_GATEWAY_UID, LABEL_MANAGED_BY, MANAGED_BY_VALUE } from '../../naming/labels.ts';
import { labelValue } from '../../naming/names.ts';
import type { Fence } from '../../runtime/fence.ts';
import { KubeApi, type KubeTarget, type RequestHook, collectionPath, objectPath } from '../../status/kube.ts';
import { RT } from '../../status/resources.ts';
import { type Log, silentLog } from '../../telemetry/logger.ts';
import {
  FIELD_MANAGER,
  hasLabels,
  ingressMatches,
  labelSelector,
  serviceApplyBody,
  serviceMatches,
  sliceApplyBody,
  sliceMatches,
} from './compare.ts';
import type { DesiredVip } from './render.ts';

/** One member as the runtime sees it. */
export interface VipMember {
  cluster: string;
  /** Undefined when there is no usable client (treated as frozen). */
  client: KubeTarget | undefined;
  /** Unreachable or unauthorised: no call at all (docs/failure-rules.md "Frozen members"). */
  frozen: boolean;
}

/** The kinds a lister serves. */
export type VipKind = 'services' | 'endpointSlices';

/**
 * A member's cached objects of one kind, looked up, never scanned: the cost of one Gateway's VIP
 * apply does not grow with the other Gateways' objects in the member (docs/architecture.md).
 */
export interface VipCache {
  /** The objects whose `fleetilb.io/gateway-uid` label has this value (every owner label is still checked). */
  owned(gatewayUidLabel: string): readonly unknown[];
  /** One object by `namespace/name`. */
  get(key: string): unknown;
}

/** A {@link VipCache} over a plain list (tests; a member without an index). */
export function vipCacheOf(objects: readonly unknown[]): VipCache {
  const all = objects as ReadonlyArray<KubeObject>;
  return {
    owned: (uid) => all.filter((o) => o.metadata.labels?.[LABEL_GATEWAY_UID] === uid),
    get: (key) => all.find((o) => keyOf(o.metadata) === key),
  };
}

/** Options of {@link applyVip} and {@link deleteVip}. */
export interface VipDeps {
  fence: Fence;
  /**
   * Every member of the fleet, not only those in the DesiredVip: a member that no longer serves
   * the Gateway must still be pruned.
   */
  members: readonly VipMember[];
  /**
   * The runtime's cache of a member's Services / EndpointSlices (the provider's member index);
   * undefined = not cached, LIST with the owner labels instead. Only {@link applyVip} uses it;
   * teardown always lists from the server.
   */
  lister?: (cluster: string, kind: VipKind) => VipCache | undefined;
  onRequest?: RequestHook;
  /**
   * After each write of a member object: its key (`namespace/name`) and the resourceVersion the
   * write produced, so the watch event that echoes it queues nothing (keys.ts, runtime/ownwrites.ts).
   */
  onWritten?: (cluster: string, kind: VipKind, key: string, resourceVersion: string | undefined) => void;
  /** Per-request timeout (default 15 s). */
  timeoutMs?: number;
  log?: Log;
}

/** What happened in one member. */
export interface VipMemberResult {
  cluster: string;
  outcome: 'applied' | 'frozen' | 'error';
  /** e.g. `Service app/x`, `Service app/x status`, `EndpointSlice app/x-1`. */
  applied: string[];
  /** Deleted objects, e.g. `Service app/x`. */
  pruned: string[];
  errors: Array<{ target: string; error: unknown }>;
}

/** What one apply did. */
export interface VipApplyResult {
  writes: number;
  reads: number;
  members: VipMemberResult[];
  /** Clusters left untouched because they are frozen. */
  frozen: string[];
  errors: Array<{ cluster: string; target: string; error: unknown }>;
}

/** What one teardown did. */
export interface VipDeleteResult {
  writes: number;
  reads: number;
  deleted: string[];
  /** Frozen members still holding whatever they held: teardown is not complete until they answer. */
  pending: string[];
  errors: Array<{ cluster: string; target: string; error: unknown }>;
  /** Nothing pending and no error: the finalizer may go. */
  done: boolean;
}

/**
 * The owner labels of one Gateway's member objects (same as render.ts `ownerLabels(ir)`), for
 * teardown when the Gateway and its IR are gone.
 */
export function vipOwnerLabels(fleetId: string, gatewayUid: string): Record<string, string> {
  return { [LABEL_MANAGED_BY]: MANAGED_BY_VALUE, [LABEL_FLEET]: labelValue(fleetId), [LABEL_GATEWAY_UID]: labelValue(gatewayUid) };
}

function assertOwnerLabels(labels: Record<string, string>): void {
  // A selector without these would match other Gateways' (or nobody's) objects.
  if (labels[LABEL_MANAGED_BY] !== MANAGED_BY_VALUE || !labels[LABEL_GATEWAY_UID]) {
    throw new Error(`owner labels must include ${LABEL_MANAGED_BY}=${MANAGED_BY_VALUE} and ${LABEL_GATEWAY_UID}`);
  }
}

function counters(deps: VipDeps): { hook: RequestHook; n: { writes: number; reads: number } } {
  const n = { writes: 0, reads: 0 };
  return {
    n,
    hook: (e) => {
      if (e.write) n.writes++;
      else n.reads++;
      deps.onRequest?.(e);
    },
  };
}

function apiFor(deps: VipDeps, client: KubeTarget, hook: RequestHook): KubeApi {
  return new KubeApi(client, { fence: deps.fence, onRequest: hook, ...(deps.timeoutMs === undefined ? {} : { timeoutMs: deps.timeoutMs }) });
}

/** A member-level failure: stop talking to this member for now. */
function memberDown(err: unknown): boolean {
  const k = classifyClusterError(err).kind;
  return k === 'Unreachable' || k === 'AuthFailed' || k === 'InvalidKubeconfig' || k === 'Forbidden';
}

/**
 * Turn an apply error into what the user must fix, naming the Service: a health-check node port
 * already taken in that cluster (by another Gateway or anything else), or an object the apiserver
 * rejects. Others pass through (transient: the runtime retries with backoff).
 */
export function classifyApplyError(err: unknown, what: string, cluster: string): unknown {
  const code = statusCodeOf(err);
  const msg = kubeStatusOf(err)?.message ?? errorMessage(err);
  if (/provided port is already allocated|port is already allocated/i.test(msg)) {
    return new UserError('PortUnavailable', `${what} in member cluster ${cluster}: ${msg}`, { cause: err });
  }
  if (code === 422) return new UserError('Invalid', `${what} in member cluster ${cluster} was rejected: ${msg}`, { cause: err });
  return err;
}

function isHcPortImmutable(err: unknown): boolean {
  return statusCodeOf(err) === 422 && /healthCheckNodePort/.test(kubeStatusOf(err)?.message ?? '') && /immutable/.test(kubeStatusOf(err)?.message ?? '');
}

/** Owned objects of one kind in one member (cache or LIST by owner labels). */
async function owned<T extends KubeObject>(
  api: KubeApi,
  deps: VipDeps,
  cluster: string,
  kind: VipKind,
  labels: Record<string, string>,
  useLister: boolean,
): Promise<{ owned: T[]; all: VipCache | undefined }> {
  const cached = useLister ? deps.lister?.(cluster, kind) : undefined;
  if (cached !== undefined) return { owned: (cached.owned(labels[LABEL_GATEWAY_UID] ?? '') as readonly T[]).filter((o) => hasLabels(o, labels)), all: cached };
  const rt = kind === 'services' ? RT.services : RT.endpointSlices;
  return { owned: await api.list<T>(collectionPath(rt), { labelSelector: labelSelector(labels) }), all: undefined };
}

/** Apply a DesiredVip to every member (see the file comment). Throws only a FencedError. */
export async function applyVip(desired: DesiredVip, deps: VipDeps): Promise<VipApplyResult> {
  assertOwnerLabels(desired.ownerLabels);
  const log = (deps.log ?? silentLog).child({ component: 'vip-apply', gateway: `${desired.gateway.namespace}/${desired.gateway.name}` });
  const { hook, n } = counters(deps);
  const byCluster = new Map(desired.members.map((m) => [m.cluster, m]));
  const clusters = new Map<string, VipMember>(deps.members.map((m) => [m.cluster, m]));
  // A desired member the runtime does not know has no client: frozen (nothing can be done).
  for (const m of desired.members) if (!clusters.has(m.cluster)) clusters.set(m.cluster, { cluster: m.cluster, client: undefined, frozen: true });
  const work = [...clusters.values()].sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
  const results = await Promise.all(
    work.map(async (m): Promise<VipMemberResult> => {
      const want = byCluster.get(m.cluster);
      const res: VipMemberResult = { cluster: m.cluster, outcome: 'applied', applied: [], pruned: [], errors: [] };
      if (m.frozen || m.client === undefined || want?.frozen === true) {
        res.outcome = 'frozen';
        return res;
      }
      const api = apiFor(deps, m.client, hook);
      try {
        await applyMember(api, deps, m.cluster, desired.ownerLabels, want?.services ?? [], want?.endpointSlices ?? [], res);
      } catch (err) {
        if (isFencedError(err)) throw err;
        res.errors.push({ target: `member ${m.cluster}`, error: err });
      }
      if (res.errors.length > 0) {
        res.outcome = 'error';
        log.warn({ cluster: m.cluster, errors: res.errors.map((e) => `${e.target}: ${errorMessage(e.error)}`) }, 'VIP apply incomplete');
      }
      return res;
    }),
  );
  return {
    writes: n.writes,
    reads: n.reads,
    members: results,
    frozen: results.filter((r) => r.outcome === 'frozen').map((r) => r.cluster),
    errors: results.flatMap((r) => r.errors.map((e) => ({ cluster: r.cluster, ...e }))),
  };
}

async function applyMember(
  api: KubeApi,
  deps: VipDeps,
  cluster: string,
  labels: Record<string, string>,
  services: readonly Service[],
  slices: readonly EndpointSlice[],
  res: VipMemberResult,
): Promise<void> {
  const svc = await owned<Service>(api, deps, cluster, 'services', labels, true);
  const eps = await owned<EndpointSlice>(api, deps, cluster, 'endpointSlices', labels, true);
  // Each step records its own failure; a member-level failure (unreachable) stops the member.
  const step = async (target: string, fn: () => Promise<void>): Promise<boolean> => {
    try {
      await fn();
      return true;
    } catch (err) {
      if (isFencedError(err)) throw err;
      res.errors.push({ target, error: classifyApplyError(err, target, cluster) });
      return !memberDown(err);
    }
  };

  for (const s of services) {
    const key = keyOf(s.metadata);
    const ok = await step(`Service ${key}`, () => ensureService(api, cluster, s, labels, svc.owned, svc.all, res, (rv) => deps.onWritten?.(cluster, 'services', key, rv)));
    if (!ok) return;
  }
  for (const s of slices) {
    const key = keyOf(s.metadata);
    const ok = await step(`EndpointSlice ${key}`, () => ensureSlice(api, cluster, s, labels, eps.owned, eps.all, res, (rv) => deps.onWritten?.(cluster, 'endpointSlices', key, rv)));
    if (!ok) return;
  }
  // Prune: slices first (they point at the Services by label), then Services.
  const wantSlices = new Set(slices.map((s) => keyOf(s.metadata)));
  for (const o of eps.owned) {
    const key = keyOf(o.metadata);
    if (wantSlices.has(key)) continue;
    const ok = await step(`EndpointSlice ${key}`, () => prune(api, RT.endpointSlices, o, `EndpointSlice ${key}`, res.pruned));
    if (!ok) return;
  }
  const wantSvcs = new Set(services.map((s) => keyOf(s.metadata)));
  for (const o of svc.owned) {
    const key = keyOf(o.metadata);
    if (wantSvcs.has(key)) continue;
    const ok = await step(`Service ${key}`, () => prune(api, RT.services, o, `Service ${key}`, res.pruned));
    if (!ok) return;
  }
}

/** The live copy of a desired object: ours from the owned set, else look up the name. */
async function lookup<T extends KubeObject>(
  api: KubeApi,
  path: string,
  key: string,
  ownedList: readonly T[],
  all: VipCache | undefined,
): Promise<T | undefined> {
  const mine = ownedList.find((o) => keyOf(o.metadata) === key);
  if (mine !== undefined) return mine;
  // Not among ours: the name may be free, or held by an object that is not ours. The cache may be
  // behind (an object we created a moment ago), so ask the server when the cache does not know it.
  const cached = all?.get(key) as T | undefined;
  return cached ?? (await api.get<T>(path));
}

function foreign(what: string, cluster: string): UserError {
  return new UserError(
    'Invalid',
    `${what} in member cluster ${cluster} exists and is not managed by fleet-ilb (no owner labels of this Gateway); it is left untouched and this listener is not programmed there`,
  );
}

async function ensureService(
  api: KubeApi,
  cluster: string,
  s: Service,
  labels: Record<string, string>,
  ownedList: readonly Service[],
  all: VipCache | undefined,
  res: VipMemberResult,
  written: (resourceVersion: string | undefined) => void,
): Promise<void> {
  const ns = s.metadata.namespace ?? '';
  const key = keyOf(s.metadata);
  const path = objectPath(RT.services, ns, s.metadata.name);
  const body = serviceApplyBody(s);
  let live = await lookup(api, path, key, ownedList, all);
  if (live !== undefined && !hasLabels(live, labels)) throw foreign(`Service ${key}`, cluster);
  if (live === undefined || !serviceMatches(live, body)) {
    try {
      live = await api.apply<Service>(path, body, FIELD_MANAGER, true);
    } catch (err) {
      if (live === undefined || !isHcPortImmutable(err)) throw err;
      // The pinned health-check node port changed (ILBConfig udpHealthCheckNodePort): the field is
      // immutable, so the Service is re-created with the new port (ours: uid precondition).
      await api.delete(path, live.metadata.uid ? { uid: live.metadata.uid } : {});
      live = await api.apply<Service>(path, body, FIELD_MANAGER, true);
    }
    written(live.metadata.resourceVersion);
    res.applied.push(`Service ${key}`);
  }
  if (s.status?.loadBalancer?.ingress !== undefined && !ingressMatches(live, s)) {
    const patched = await api.mergePatch<Service>(objectPath(RT.services, ns, s.metadata.name, 'status'), {
      status: { loadBalancer: { ingress: s.status.loadBalancer.ingress } },
    });
    written(patched?.metadata?.resourceVersion);
    res.applied.push(`Service ${key} status`);
  }
}

async function ensureSlice(
  api: KubeApi,
  cluster: string,
  s: EndpointSlice,
  labels: Record<string, string>,
  ownedList: readonly EndpointSlice[],
  all: VipCache | undefined,
  res: VipMemberResult,
  written: (resourceVersion: string | undefined) => void,
): Promise<void> {
  const key = keyOf(s.metadata);
  const path = objectPath(RT.endpointSlices, s.metadata.namespace ?? '', s.metadata.name);
  const body = sliceApplyBody(s);
  const live = await lookup(api, path, key, ownedList, all);
  if (live !== undefined && !hasLabels(live, labels)) throw foreign(`EndpointSlice ${key}`, cluster);
  if (live !== undefined && sliceMatches(live, body)) return;
  const applied = await api.apply<EndpointSlice>(path, body, FIELD_MANAGER, true);
  written(applied?.metadata?.resourceVersion);
  res.applied.push(`EndpointSlice ${key}`);
}

async function prune(api: KubeApi, rt: typeof RT.services | typeof RT.endpointSlices, o: KubeObject, label: string, out: string[]): Promise<void> {
  const path = objectPath(rt, o.metadata.namespace ?? '', o.metadata.name);
  // uid precondition: a same-named object created since our list is not the one we meant.
  if (await api.delete(path, o.metadata.uid ? { uid: o.metadata.uid } : {})) out.push(label);
}

/**
 * Teardown: delete every Service and EndpointSlice with `ownerLabels` in every reachable member
 * (always listed from the server, never from a cache: a leak here would outlive the Gateway).
 * Frozen members are reported as pending. Throws only a FencedError.
 */
export async function deleteVip(ownerLabels: Record<string, string>, deps: VipDeps): Promise<VipDeleteResult> {
  assertOwnerLabels(ownerLabels);
  const { hook, n } = counters(deps);
  const out: VipDeleteResult = { writes: 0, reads: 0, deleted: [], pending: [], errors: [], done: false };
  await Promise.all(
    deps.members.map(async (m) => {
      if (m.frozen || m.client === undefined) {
        out.pending.push(m.cluster);
        return;
      }
      const api = apiFor(deps, m.client, hook);
      try {
        const eps = await owned<EndpointSlice>(api, deps, m.cluster, 'endpointSlices', ownerLabels, false);
        for (const o of eps.owned) await prune(api, RT.endpointSlices, o, `${m.cluster}: EndpointSlice ${keyOf(o.metadata)}`, out.deleted);
        const svc = await owned<Service>(api, deps, m.cluster, 'services', ownerLabels, false);
        for (const o of svc.owned) await prune(api, RT.services, o, `${m.cluster}: Service ${keyOf(o.metadata)}`, out.deleted);
      } catch (err) {
        if (isFencedError(err)) throw err;
        out.errors.push({ cluster: m.cluster, target: `member ${m.cluster}`, error: err });
      }
    }),
  );
  out.pending.sort();
  out.deleted.sort();
  out.writes = n.writes;
  out.reads = n.reads;
  out.done = out.pending.length === 0 && out.errors.length === 0;
  return out;
}
