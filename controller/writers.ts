// SPDX-License-Identifier: Apache-2.0
//
// Binds the Kubernetes writers (status writer, VIP apply, Gateway finalizer and annotations) to the
// provider's caches and the member clients, in the shape the reconciler drives (reconciler.ts
// `Writers`). Every writer compares against the caches first, so a resync with nothing to do sends
// no request; every write goes through the leader fence.
import type { Gateway, GatewayClass } from './api/index.ts';
import type { ClusterClient } from './clusters/client.ts';
import { errorMessage } from './errors/index.ts';
import { ensureFinalizer, removeFinalizer, setGceAnnotations, setGceScope, syncClassFinalizer } from './gateway/index.ts';
import { CONTROLLER_NAME } from './naming/stamp.ts';
import type { DesiredGce } from './infra/gcp/desired.ts';
import { applyVip, deleteVip, vipOwnerLabels, type VipCache, type VipDeps, type VipMember } from './infra/vip/apply.ts';
import type { DesiredVip } from './infra/vip/render.ts';
import type { FleetProvider } from './provider/index.ts';
import type { GatewayRef, Writers } from './reconciler.ts';
import type { Fence } from './runtime/fence.ts';
import type { StoreReader } from './status/resources.ts';
import { gatewayStatusPart, globalStatusPart, StatusWriter, type StatusWriteResult } from './status/writer.ts';
import type { Log } from './telemetry/logger.ts';
import type { TranslateResult } from './translate/index.ts';

export interface WritersOptions {
  config: ClusterClient;
  provider: FleetProvider;
  fleetId: string;
  fence: Fence;
  log: Log;
  /** False when another MCS implementation owns ServiceImports: never prune ours then either. */
  mcsImporter: boolean;
  /** After each VIP Service / mirrored EndpointSlice write: the version it produced (runtime/ownwrites.ts). */
  onVipWritten?: VipDeps['onWritten'];
}

/** A StoreReader over a plain list (member caches expose lists). */
function listReader(list: () => readonly unknown[]): StoreReader {
  const meta = (o: unknown): { name?: string; namespace?: string } => (o as { metadata?: { name?: string; namespace?: string } }).metadata ?? {};
  return {
    list: (namespace?: string) => list().filter((o) => namespace === undefined || meta(o).namespace === namespace),
    getByName: (name: string, namespace?: string) => list().find((o) => meta(o).name === name && (namespace === undefined || meta(o).namespace === namespace)),
  };
}

/** The writers for one controller. */
export function makeWriters(o: WritersOptions): Writers {
  const { provider, fence, log } = o;
  const status = new StatusWriter({
    config: o.config,
    member: (cluster) => {
      const m = provider.members.member(cluster);
      return m === undefined || m.frozen ? undefined : provider.members.client(cluster);
    },
    fence,
    configStore: (resource) => {
      switch (resource) {
        case 'gatewayClasses':
        case 'gateways':
        case 'tcpRoutes':
        case 'udpRoutes':
        case 'serviceImports':
        case 'fleetMembers':
        case 'ilbConfigs':
        case 'healthCheckPolicies':
          return provider.store(resource);
        default:
          return undefined;
      }
    },
    memberStore: (cluster) => listReader(() => provider.members.list(cluster, 'serviceexports')),
    log,
  });
  const vipMembers = (): VipMember[] =>
    provider.members.members().map((m) => ({ cluster: m.clusterID, client: provider.members.client(m.clusterID), frozen: m.frozen }));
  const vipDeps = (): VipDeps => ({
    fence,
    members: vipMembers(),
    // The member index (provider/indexes.ts): this Gateway's objects by its uid label, others by key.
    lister: (cluster, kind): VipCache => {
      const m = provider.index.member(cluster);
      if (kind === 'services') return { owned: (uid) => m?.ownedServices(uid) ?? [], get: (key) => m?.services.get(key) };
      return { owned: (uid) => m?.ownedSlices(uid) ?? [], get: (key) => m?.slice(key) };
    },
    log,
    ...(o.onVipWritten === undefined ? {} : { onWritten: o.onVipWritten }),
  });
  const report = (what: string, r: StatusWriteResult): number => {
    for (const e of r.errors) log.warn({ target: e.target, err: errorMessage(e.error) }, `${what}: write failed`);
    // Said on every status pass while they exist: debug, or it floods the log.
    if (r.foreignServiceImports.length > 0) log.debug({ serviceImports: r.foreignServiceImports }, 'ServiceImports not created by fleet-ilb left untouched');
    if (r.errors.length > 0) throw r.errors[0]!.error;
    return r.writes;
  };
  const gatewayDeps = { client: o.config, fence };

  return {
    async gatewayStatus(result: TranslateResult, gatewayKey: string): Promise<number> {
      const [ns, name] = gatewayKey.split('/') as [string, string];
      return report('gateway status', await status.write(gatewayStatusPart(result.statuses, ns, name)));
    },
    async globalStatus(result: TranslateResult): Promise<number> {
      // Pruning ServiceImports is safe only when every member's exports are known: a member whose
      // first list has not finished would look like "no exports" (docs/failure-rules.md "Frozen
      // members").
      const allSynced = o.mcsImporter && provider.configSynced() && provider.members.members().every((m) => m.synced);
      return report('global status', await status.write(globalStatusPart(result.statuses), { pruneServiceImports: allSynced }));
    },
    async vipApply(desired: DesiredVip): Promise<{ writes: number }> {
      const r = await applyVip(desired, vipDeps());
      for (const e of r.errors) log.warn({ cluster: e.cluster, target: e.target, err: errorMessage(e.error) }, 'VIP apply failed');
      if (r.errors.length > 0) throw r.errors[0]!.error;
      return { writes: r.writes };
    },
    async vipDelete(gw: GatewayRef): Promise<{ done: boolean; pending: string[]; writes: number }> {
      const r = await deleteVip(vipOwnerLabels(o.fleetId, gw.uid), { ...vipDeps(), lister: () => undefined });
      if (r.errors.length > 0) throw r.errors[0]!.error;
      return { done: r.done, pending: r.pending, writes: r.writes };
    },
    async classFinalizers(): Promise<number> {
      // Every Gateway counts, also one being torn down: the class stays until the last one is gone.
      const used = new Set(provider.list<Gateway>('gateways').map((g) => g.spec.gatewayClassName));
      let writes = 0;
      for (const gc of provider.list<GatewayClass>('gatewayClasses')) {
        if (gc.spec.controllerName !== CONTROLLER_NAME) continue;
        if (await syncClassFinalizer(gc, used.has(gc.metadata.name), gatewayDeps)) writes++;
      }
      return writes;
    },
    ensureFinalizer: (gw: Gateway) => ensureFinalizer(gw, gatewayDeps),
    removeFinalizer: (gw: Gateway) => removeFinalizer(gw, gatewayDeps),
    setAnnotations: (gw: Gateway, desired: DesiredGce) => setGceAnnotations(gw, desired, gatewayDeps),
    setScope: (gw: Gateway, scope: { project: string; region: string }) => setGceScope(gw, scope, gatewayDeps),
  };
}
