// SPDX-License-Identifier: Apache-2.0
//
// The VIP registry: every VIP of the fleet, published in each member as the ConfigMap
// `fleet-ilb-system/fleet-ilb-vips` (data: VIP -> the Gateways that own it, `namespace/name`,
// space-separated). The member admission policy `fleet-ilb-vip-registry` (deploy/member/admission.yaml)
// reads it as its params (`paramRef.namespace` + `name`: one parameter for every request, whatever
// its namespace; https://kubernetes.io/docs/reference/kubernetes-api/definitions/param-ref-v1-admissionregistration/)
// and refuses anybody but fleet-ilb who puts one of these addresses into a Service's
// `spec.externalIPs`, `spec.loadBalancerIP` or `status.loadBalancer.ingress`: the cross-namespace
// VIP hijack (CVE-2020-8554, kubernetes/kubernetes#97076) is guarded with the default install, no
// `vipCIDRs` needed (issue 12, H4).
//
// * The VIPs: `status.addresses` of the Gateways of our classes (kept while one is torn down), and
//   the ingress IPs of this fleet's VIP Services in any member (written before the forwarding
//   rules, `beforeTraffic`, so they reach the registry before GCE sends a packet to the VIP). The
//   same set goes to every member: a VIP another member serves is hijackable here too (this
//   member's pods would reach a local impostor).
// * Only IPv4 literals are keys (a ConfigMap key is `[-._a-zA-Z0-9]+`; fleet-ilb's VIPs are IPv4).
// * The ConfigMap is created by the install (deploy/member), never by fleet-ilb: its member role may
//   only `get` and `patch` that one name (deploy/RBAC.md M8). A member without it (an older install,
//   or no deploy/member at all as in the local test fleets) is skipped and logged once.
// * Writes: server-side apply of `data` (field manager `fleet-ilb`) only when the live data differ;
//   what the member holds is remembered per client, so a publish with nothing new sends nothing and
//   a restart or resync reads each member once (`invalidate`).
import { isIPv4 } from 'node:net';
import type { Gateway, GatewayClass, KubeObject, Service } from '../../api/index.ts';
import { isFencedError } from '../../errors/index.ts';
import { LABEL_FLEET, LABEL_GATEWAY_NAME, LABEL_GATEWAY_NAMESPACE, LABEL_MANAGED_BY, MANAGED_BY_VALUE, VIP_LOAD_BALANCER_CLASS } from '../../naming/labels.ts';
import { labelValue } from '../../naming/names.ts';
import { CONTROLLER_NAME } from '../../naming/stamp.ts';
import type { Change } from '../../provider/index.ts';
import type { Fence } from '../../runtime/fence.ts';
import type { StoredObject } from '../../runtime/reflector.ts';
import { KubeApi, isNotFound, objectPath, type KubeTarget, type RequestHook, type ResourceType } from '../../status/kube.ts';
import { type Log, silentLog } from '../../telemetry/logger.ts';
import type { VipMember } from './apply.ts';
import { FIELD_MANAGER } from './compare.ts';

/** Where the registry lives in every member (deploy/member/vip-registry.yaml creates it). */
export const VIP_REGISTRY_NAMESPACE = 'fleet-ilb-system';
export const VIP_REGISTRY_NAME = 'fleet-ilb-vips';
/** The work-queue key of the publish (main.ts): one at a time, retried with backoff, leader only. */
export const VIPS_KEY = 'vips';
/** Changes within this window are published together (at most two publishes a second). */
export const VIPS_COALESCE_MS = 500;

const CONFIGMAPS: ResourceType = { group: '', version: 'v1', plural: 'configmaps', namespaced: true };

/** The registry's data: each VIP -> the Gateways (`namespace/name`, sorted, space-separated) that own it. */
export type RegistryData = Record<string, string>;

/** What {@link registryData} reads. */
export interface RegistrySources {
  gateways: readonly Gateway[];
  classes: readonly GatewayClass[];
  /** Services of every member (only this fleet's VIP Services count). */
  memberServices: Iterable<Service>;
  fleetId: string;
}

/** The VIPs of the fleet (see the file comment). Pure. */
export function registryData(src: RegistrySources): RegistryData {
  const owners = new Map<string, Set<string>>();
  const add = (ip: string | undefined, owner: string): void => {
    if (ip === undefined || !isIPv4(ip)) return;
    let s = owners.get(ip);
    if (s === undefined) owners.set(ip, (s = new Set()));
    s.add(owner);
  };
  const ours = new Set(src.classes.filter((c) => c.spec.controllerName === CONTROLLER_NAME).map((c) => c.metadata.name));
  for (const gw of src.gateways) {
    if (!ours.has(gw.spec.gatewayClassName)) continue;
    for (const a of gw.status?.addresses ?? []) {
      if ((a.type ?? 'IPAddress') === 'IPAddress') add(a.value, `${gw.metadata.namespace ?? ''}/${gw.metadata.name}`);
    }
  }
  const fleet = labelValue(src.fleetId);
  for (const svc of src.memberServices) {
    const l = svc.metadata.labels ?? {};
    if (l[LABEL_MANAGED_BY] !== MANAGED_BY_VALUE || l[LABEL_FLEET] !== fleet || svc.spec?.loadBalancerClass !== VIP_LOAD_BALANCER_CLASS) continue;
    for (const i of svc.status?.loadBalancer?.ingress ?? []) add(i.ip, `${l[LABEL_GATEWAY_NAMESPACE] ?? ''}/${l[LABEL_GATEWAY_NAME] ?? ''}`);
  }
  const out: RegistryData = {};
  for (const ip of [...owners.keys()].sort()) out[ip] = [...owners.get(ip)!].sort().join(' ');
  return out;
}

const json = (v: unknown): string => JSON.stringify(v ?? null);
type Addressed = StoredObject & { status?: { addresses?: unknown; loadBalancer?: unknown }; spec?: { gatewayClassName?: string; controllerName?: string } };

/**
 * Whether a change can change {@link registryData} or what a member holds (main.ts queues
 * {@link VIPS_KEY} for it): a Gateway created, deleted, moved to another class or whose addresses
 * changed; a GatewayClass created, deleted or re-pointed; one of fleet-ilb's VIP Services created,
 * deleted or whose ingress changed; a member's reachability (a member back, or a new one, may hold
 * an old copy).
 */
export function registryTouched(c: Change): boolean {
  if (c.scope === 'reachability') return true;
  const o = c.object as Addressed;
  const old: Addressed | undefined = c.oldObject;
  if (c.scope === 'config') {
    if (c.resource === 'gateways') {
      return old === undefined || json(old.status?.addresses) !== json(o.status?.addresses) || old.spec?.gatewayClassName !== o.spec?.gatewayClassName;
    }
    if (c.resource === 'gatewayClasses') return old === undefined || old.spec?.controllerName !== o.spec?.controllerName;
    return false;
  }
  if (c.resource !== 'services') return false;
  const labelled = (x: Addressed | undefined): boolean => (x?.metadata as KubeObject['metadata'] | undefined)?.labels?.[LABEL_MANAGED_BY] === MANAGED_BY_VALUE;
  if (!labelled(o) && !labelled(old)) return false;
  return old === undefined || json(old.status?.loadBalancer) !== json(o.status?.loadBalancer);
}

/** What one publish did. */
export interface PublishResult {
  writes: number;
  reads: number;
  /** Members that hold the new data now (written or already equal). */
  current: string[];
  /** Members without the registry ConfigMap (not installed there): skipped. */
  absent: string[];
  errors: Array<{ cluster: string; error: unknown }>;
}

/** Options of {@link VipRegistry}. */
export interface VipRegistryOptions {
  fence: Fence;
  log?: Log;
  onRequest?: RequestHook;
  /** Per-request timeout (default 15 s). */
  timeoutMs?: number;
}

interface Known {
  client: KubeTarget;
  data: RegistryData | 'absent';
}

const sameData = (a: RegistryData, b: RegistryData): boolean => {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
};

/** Publishes the registry to the members (see the file comment). */
export class VipRegistry {
  readonly #o: VipRegistryOptions;
  readonly #log: Log;
  /** What each member holds, as far as we know (per client: a new credential reads again). */
  readonly #known = new Map<string, Known>();
  /** Members already logged as without the ConfigMap (said once, not at every resync). */
  readonly #toldAbsent = new Set<string>();

  constructor(opts: VipRegistryOptions) {
    this.#o = opts;
    this.#log = (opts.log ?? silentLog).child({ component: 'vip-registry' });
  }

  /** Forget what the members hold: the next publish reads each once (the resync: drift repair). */
  invalidate(): void {
    this.#known.clear();
  }

  /**
   * Make every reachable member hold `data`. Frozen members and members without a client are left
   * alone (their copy is re-checked when they are back: {@link registryTouched}). Throws only a
   * FencedError; other failures are in `errors`.
   */
  async publish(members: readonly VipMember[], data: RegistryData): Promise<PublishResult> {
    const out: PublishResult = { writes: 0, reads: 0, current: [], absent: [], errors: [] };
    const hook: RequestHook = (e) => {
      if (e.write) out.writes++;
      else out.reads++;
      this.#o.onRequest?.(e);
    };
    const path = objectPath(CONFIGMAPS, VIP_REGISTRY_NAMESPACE, VIP_REGISTRY_NAME);
    for (const cluster of this.#known.keys()) if (!members.some((m) => m.cluster === cluster)) this.#known.delete(cluster);
    await Promise.all(
      members.map(async (m) => {
        if (m.frozen || m.client === undefined) return;
        const client = m.client;
        const api = new KubeApi(client, { fence: this.#o.fence, onRequest: hook, ...(this.#o.timeoutMs === undefined ? {} : { timeoutMs: this.#o.timeoutMs }) });
        try {
          let known = this.#known.get(m.cluster);
          if (known?.client !== client) {
            const live = await api.get<{ data?: RegistryData }>(path);
            known = { client, data: live === undefined ? 'absent' : (live.data ?? {}) };
            if (live !== undefined) this.#toldAbsent.delete(m.cluster);
            else if (!this.#toldAbsent.has(m.cluster)) {
              this.#toldAbsent.add(m.cluster);
              this.#log.info({ cluster: m.cluster }, `no ConfigMap ${VIP_REGISTRY_NAMESPACE}/${VIP_REGISTRY_NAME} in this member (deploy/member not applied, or an older install): its admission policy fleet-ilb-vip-registry has no VIPs to guard`);
            }
            this.#known.set(m.cluster, known);
          }
          if (known.data === 'absent') {
            out.absent.push(m.cluster);
            return;
          }
          if (sameData(known.data, data)) {
            out.current.push(m.cluster);
            return;
          }
          // Unknown while the write is in flight: a failure reads again next time.
          this.#known.delete(m.cluster);
          const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: VIP_REGISTRY_NAME, namespace: VIP_REGISTRY_NAMESPACE }, data };
          const res = await api.apply<{ data?: RegistryData }>(path, body, FIELD_MANAGER, true);
          this.#known.set(m.cluster, { client, data: res.data ?? {} });
          out.current.push(m.cluster);
        } catch (err) {
          if (isFencedError(err)) throw err;
          this.#known.delete(m.cluster);
          // Deleted since we read it: apply would need `create`, which the member role does not grant.
          if (isNotFound(err)) out.absent.push(m.cluster);
          else out.errors.push({ cluster: m.cluster, error: err });
        }
      }),
    );
    out.current.sort();
    out.absent.sort();
    return out;
  }
}
