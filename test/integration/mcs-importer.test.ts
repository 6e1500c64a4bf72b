// SPDX-License-Identifier: Apache-2.0
//
// The MCS importer (KEP-1645) end to end on real kube-apiservers: config + two members,
// the controller running in this process, member kubeconfigs bound to deploy/member's RBAC and
// admission policies. No Gateway is needed: fleet-ilb maintains the ServiceImports of the config
// cluster from the members' ServiceExports on its own. What is asserted is what a user reads:
//   kubectl get serviceimport -n NS NAME -o yaml            (spec.ports/type/sessionAffinity, status.clusters)
//   kubectl --context MEMBER get serviceexport -n NS NAME   (Valid / Ready / Conflict with the spec's reasons)
// Rules (keps/sig-multicluster/1645-multi-cluster-services-api, "Constraints and Conflict Resolution"):
// ports are the union of the exported Services' ports, merged by name, then by protocol+port; a
// conflict is resolved by the ServiceExports' creationTimestamp, oldest first, and a Conflict
// condition is set on ALL exports of the service (mcs-api conformance checks both); headlessness and
// session affinity follow the same policy; the import is deleted when the last export goes. Reasons
// are the mcs-api v1beta1 constants (pkg/apis/v1beta1/serviceexport.go).
//
// creationTimestamp has one-second resolution, so "older" exports are created, then the test waits
// until the apiserver clock has moved past that second before creating the "newer" ones, and checks
// the stored timestamps really are ordered (otherwise the cluster-id tie-break would decide).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCondition, type Condition } from '../fixtures/conditions.ts';
import { Kube, waitFor, type KObject } from '../fixtures/kube.ts';
import { FLEETILB_API, waitMembersReady, type FleetMemberObject } from '../fixtures/members.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';

const MCS_V1B1 = 'multicluster.x-k8s.io/v1beta1';
const MCS_V1A1 = 'multicluster.x-k8s.io/v1alpha1';
const MANAGED_BY = 'fleetilb.io/managed-by';
const WAIT_MS = 30_000;

interface Port {
  name?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port: number;
  appProtocol?: string;
}
interface ServiceImportObj extends KObject {
  spec: { ports?: Port[]; type?: string; sessionAffinity?: string; internalTrafficPolicy?: string; trafficDistribution?: string; sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } }; ips?: string[] };
  status?: { clusters?: Array<{ cluster: string }>; conditions?: Condition[] };
}
interface ServiceExportObj extends KObject {
  status?: { conditions?: Condition[] };
}
interface SvcSpec {
  ports: Array<{ name?: string; protocol?: 'TCP' | 'UDP'; port: number; targetPort?: number }>;
  clusterIP?: 'None';
  sessionAffinity?: 'ClientIP' | 'None';
  sessionAffinityConfig?: { clientIP: { timeoutSeconds: number } };
  internalTrafficPolicy?: 'Local' | 'Cluster';
  trafficDistribution?: 'PreferClose';
  type?: 'ExternalName';
  externalName?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('MCS importer (KEP-1645): ServiceImports in the config cluster from the members’ ServiceExports', () => {
  let s: Scenario;
  let cfg: Kube;
  let a: Kube;
  let b: Kube;
  const A = 'member-a';
  const B = 'member-b';

  const ns = (k: Kube, name: string): Promise<KObject> => k.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const service = (k: Kube, namespace: string, name: string, spec: SvcSpec): Promise<KObject> =>
    k.apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace },
      spec: spec.type === 'ExternalName' ? spec : { selector: { app: name }, ...spec },
    });
  const exportIt = (k: Kube, namespace: string, name: string, apiVersion = MCS_V1B1): Promise<KObject> =>
    k.apply({ apiVersion, kind: 'ServiceExport', metadata: { name, namespace } });
  /** A Service and its ServiceExport in one member (the Service first, as an app team applies them). */
  const exportService = async (k: Kube, namespace: string, name: string, spec: SvcSpec, apiVersion = MCS_V1B1): Promise<KObject> => {
    await service(k, namespace, name, spec);
    return exportIt(k, namespace, name, apiVersion);
  };
  const getImport = (namespace: string, name: string, apiVersion = MCS_V1B1): Promise<ServiceImportObj | undefined> =>
    cfg.get<ServiceImportObj>(apiVersion, 'ServiceImport', name, namespace);
  const getExport = (k: Kube, namespace: string, name: string): Promise<ServiceExportObj | undefined> => k.get<ServiceExportObj>(MCS_V1B1, 'ServiceExport', name, namespace);

  /** Waits until the ServiceImport satisfies `ok`; the timeout message shows the last copy seen. */
  const waitImport = async (namespace: string, name: string, ok: (si: ServiceImportObj) => boolean, what: string): Promise<ServiceImportObj> => {
    let last: ServiceImportObj | undefined;
    try {
      return await waitFor(async () => {
        last = await getImport(namespace, name);
        return last !== undefined && ok(last) ? last : undefined;
      }, WAIT_MS);
    } catch (e) {
      throw new Error(`ServiceImport ${namespace}/${name}: ${what}; last seen: ${JSON.stringify({ labels: last?.metadata.labels, spec: last?.spec, status: last?.status })}`, { cause: e });
    }
  };
  /** Waits until an export's condition `type` has `status` (and `reason` if given). */
  const waitExportCondition = async (k: Kube, namespace: string, name: string, type: string, status: Condition['status'], reason?: string): Promise<Condition> => {
    let last: Condition[] | undefined;
    try {
      return await waitFor(async () => {
        last = (await getExport(k, namespace, name))?.status?.conditions;
        const c = findCondition(last, type);
        return c !== undefined && c.status === status && (reason === undefined || c.reason === reason) ? c : undefined;
      }, WAIT_MS);
    } catch (e) {
      throw new Error(`ServiceExport ${namespace}/${name} in ${k.name}: ${type}=${status}${reason === undefined ? '' : `/${reason}`} not reached; last: ${JSON.stringify(last)}`, { cause: e });
    }
  };
  /** Waits until the apiserver's seconds-resolution clock is past every timestamp in `objs`. */
  const pastCreation = async (objs: KObject[]): Promise<void> => {
    const newest = Math.max(...objs.map((o) => Date.parse(o.metadata.creationTimestamp ?? '')));
    const waitMs = newest + 1000 - Date.now() + 150;
    if (waitMs > 0) await sleep(waitMs);
  };
  const ts = (o: KObject): number => Date.parse(o.metadata.creationTimestamp ?? '');
  const names = (ports: Port[] | undefined): string[] => (ports ?? []).map((p) => `${p.name ?? ''}/${p.protocol ?? 'TCP'}/${p.port}`);

  beforeAll(async () => {
    // No example objects: every Service and ServiceExport below is this file's. The emulator is
    // started by the scenario but nothing here needs GCE.
    s = await startScenario({ apply: 'none', memberIdentity: 'least-privilege', controller: { logLevel: 'warn' } });
    cfg = s.kube('config');
    a = s.kube(A);
    b = s.kube(B);
    await waitMembersReady(s.fleet, [A, B], WAIT_MS);
  });

  afterAll(async () => {
    await s?.stop();
  });

  describe('two exports of one service', () => {
    // Older exports first (in both members, so "oldest" is not always the same cluster), then newer.
    const created: Record<string, { older: KObject; newer: KObject }> = {};

    beforeAll(async () => {
      const cases = ['union', 'port-conflict', 'proto-conflict', 'unnamed-conflict', 'type-conflict', 'affinity-conflict', 'traffic-conflict'];
      await Promise.all(cases.flatMap((n) => [ns(cfg, n), ns(a, n), ns(b, n)]));
      const older = await Promise.all([
        exportService(a, 'union', 'web', { ports: [{ name: 'http', port: 8080 }] }),
        // member-b is the oldest here: the cluster-id tie-break would pick member-a.
        exportService(b, 'port-conflict', 'web', { ports: [{ name: 'http', port: 8080 }] }),
        exportService(a, 'proto-conflict', 'dns', { ports: [{ name: 'dns', protocol: 'UDP', port: 53 }] }),
        exportService(b, 'unnamed-conflict', 'echo', { ports: [{ port: 7 }] }),
        exportService(b, 'type-conflict', 'db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }),
        exportService(a, 'affinity-conflict', 'cart', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } }, ports: [{ name: 'http', port: 8080 }] }),
        exportService(a, 'traffic-conflict', 'api', { internalTrafficPolicy: 'Local', trafficDistribution: 'PreferClose', ports: [{ name: 'http', port: 8080 }] }),
      ]);
      await pastCreation(older);
      const newer = await Promise.all([
        exportService(b, 'union', 'web', { ports: [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9090 }] }),
        exportService(a, 'port-conflict', 'web', { ports: [{ name: 'http', port: 8081 }] }),
        exportService(b, 'proto-conflict', 'dns', { ports: [{ name: 'dns', protocol: 'TCP', port: 53 }] }),
        exportService(a, 'unnamed-conflict', 'echo', { ports: [{ port: 7007 }] }),
        exportService(a, 'type-conflict', 'db', { ports: [{ name: 'pg', port: 5432 }] }),
        exportService(b, 'affinity-conflict', 'cart', { ports: [{ name: 'http', port: 8080 }] }),
        exportService(b, 'traffic-conflict', 'api', { ports: [{ name: 'http', port: 8080 }] }),
      ]);
      cases.forEach((c, i) => (created[c] = { older: older[i]!, newer: newer[i]! }));
    });

    it('the test setup really has an older and a newer export of each service', () => {
      for (const [c, { older, newer }] of Object.entries(created)) expect(ts(older), c).toBeLessThan(ts(newer));
    });

    it('ports are the union across members; no conflict; status.clusters lists both; the import is labelled as fleet-ilb’s', async () => {
      const si = await waitImport('union', 'web', (x) => x.spec.ports?.length === 2, 'two ports');
      expect(names(si.spec.ports)).toEqual(['http/TCP/8080', 'metrics/TCP/9090']);
      expect(si.spec.type).toBe('ClusterSetIP');
      expect(si.metadata.labels?.[MANAGED_BY]).toBe('fleet-ilb');
      const withStatus = await waitImport('union', 'web', (x) => (x.status?.clusters?.length ?? 0) === 2, 'status.clusters of both members');
      expect(withStatus.status?.clusters).toEqual([{ cluster: A }, { cluster: B }]);
      for (const k of [a, b]) {
        expect(await waitExportCondition(k, 'union', 'web', 'Conflict', 'False', 'NoConflicts')).toBeDefined();
        const conds = (await getExport(k, 'union', 'web'))?.status?.conditions;
        expect(findCondition(conds, 'Valid'), k.name).toMatchObject({ status: 'True', reason: 'Valid' });
        expect(findCondition(conds, 'Ready'), k.name).toMatchObject({ status: 'True', reason: 'Exported' });
      }
    });

    it('port conflict (same name, other port): the oldest export (member-b) wins; Conflict=True/PortConflict on both exports', async () => {
      const si = await waitImport('port-conflict', 'web', (x) => (x.status?.clusters?.length ?? 0) === 2, 'both clusters');
      expect(names(si.spec.ports)).toEqual(['http/TCP/8080']);
      for (const k of [a, b]) {
        const c = await waitExportCondition(k, 'port-conflict', 'web', 'Conflict', 'True', 'PortConflict');
        expect(c.message, k.name).toContain(A); // names the losing export's cluster
      }
      // Both stay exported: the newer one serves the import's port through its own `http` port.
      expect(findCondition((await getExport(a, 'port-conflict', 'web'))?.status?.conditions, 'Ready')).toMatchObject({ status: 'True', reason: 'Exported' });
    });

    it('port conflict (same name and port, other protocol): the oldest export’s protocol wins, PortConflict on both', async () => {
      const si = await waitImport('proto-conflict', 'dns', (x) => (x.status?.clusters?.length ?? 0) === 2, 'both clusters');
      expect(names(si.spec.ports)).toEqual(['dns/UDP/53']);
      for (const k of [a, b]) await waitExportCondition(k, 'proto-conflict', 'dns', 'Conflict', 'True', 'PortConflict');
    });

    it('port conflict (two single unnamed ports): the empty name is a name too; the oldest (member-b, 7) wins, PortConflict on both', async () => {
      const si = await waitImport('unnamed-conflict', 'echo', (x) => (x.status?.clusters?.length ?? 0) === 2, 'both clusters');
      expect(names(si.spec.ports)).toEqual(['/TCP/7']);
      for (const k of [a, b]) await waitExportCondition(k, 'unnamed-conflict', 'echo', 'Conflict', 'True', 'PortConflict');
    });

    it('type conflict (Headless vs ClusterSetIP): the oldest (headless, member-b) wins; Conflict=True/TypeConflict on both', async () => {
      const si = await waitImport('type-conflict', 'db', (x) => (x.status?.clusters?.length ?? 0) === 2, 'both clusters');
      expect(si.spec.type).toBe('Headless');
      for (const k of [a, b]) await waitExportCondition(k, 'type-conflict', 'db', 'Conflict', 'True', 'TypeConflict');
    });

    it('session affinity conflict: the oldest (ClientIP, 600 s) wins; Conflict=True/SessionAffinityConflict on both', async () => {
      const si = await waitImport('affinity-conflict', 'cart', (x) => (x.status?.clusters?.length ?? 0) === 2, 'both clusters');
      expect(si.spec.sessionAffinity).toBe('ClientIP');
      expect(si.spec.sessionAffinityConfig).toEqual({ clientIP: { timeoutSeconds: 600 } });
      for (const k of [a, b]) await waitExportCondition(k, 'affinity-conflict', 'cart', 'Conflict', 'True', 'SessionAffinityConflict');
    });

    it('internal traffic policy and traffic distribution follow the oldest (Local, PreferClose); both conflicts on both exports', async () => {
      const si = await waitImport('traffic-conflict', 'api', (x) => (x.status?.clusters?.length ?? 0) === 2, 'both clusters');
      expect(si.spec.internalTrafficPolicy).toBe('Local');
      expect(si.spec.trafficDistribution).toBe('PreferClose');
      for (const k of [a, b]) await waitExportCondition(k, 'traffic-conflict', 'api', 'Conflict', 'True', 'InternalTrafficPolicyConflict,TrafficDistributionConflict');
    });

    it('a Service that changes after it was exported changes the import (and clears the conflict it caused)', async () => {
      // member-a's `web` in port-conflict moves to the oldest's port: no conflict any more.
      await service(a, 'port-conflict', 'web', { ports: [{ name: 'http', port: 8080 }] });
      for (const k of [a, b]) await waitExportCondition(k, 'port-conflict', 'web', 'Conflict', 'False', 'NoConflicts');
      // member-b's `web` in union drops `metrics`: the union shrinks.
      await service(b, 'union', 'web', { ports: [{ name: 'http', port: 8080 }] });
      const si = await waitImport('union', 'web', (x) => x.spec.ports?.length === 1, 'one port after member-b dropped metrics');
      expect(names(si.spec.ports)).toEqual(['http/TCP/8080']);
    });

    it('removing the oldest export hands the import to the next one; removing the last deletes the ServiceImport', async () => {
      // type-conflict: member-b (headless) is the oldest; without it, member-a's ClusterIP Service defines the import.
      await b.delete(MCS_V1B1, 'ServiceExport', 'db', 'type-conflict');
      const si = await waitImport('type-conflict', 'db', (x) => x.spec.type === 'ClusterSetIP' && x.status?.clusters?.length === 1, 'ClusterSetIP from member-a only');
      expect(si.status?.clusters).toEqual([{ cluster: A }]);
      await waitExportCondition(a, 'type-conflict', 'db', 'Conflict', 'False', 'NoConflicts');
      await a.delete(MCS_V1B1, 'ServiceExport', 'db', 'type-conflict');
      await waitFor(async () => (await getImport('type-conflict', 'db')) === undefined, WAIT_MS, 'ServiceImport type-conflict/db deleted after its last export went');
      // The namespace and the members' Services are still there: only the import went.
      expect(await cfg.get('v1', 'Namespace', 'type-conflict')).toBeDefined();
    });
  });

  it('invalid exports: no Service → Valid=False/NoService; ExternalName → Valid=False/InvalidServiceType; no import for either', async () => {
    await Promise.all([ns(cfg, 'invalid'), ns(a, 'invalid')]);
    await exportIt(a, 'invalid', 'ghost');
    await exportService(a, 'invalid', 'ext', { type: 'ExternalName', externalName: 'example.com', ports: [] });
    await waitExportCondition(a, 'invalid', 'ghost', 'Valid', 'False', 'NoService');
    await waitExportCondition(a, 'invalid', 'ghost', 'Ready', 'False', 'Failed');
    await waitExportCondition(a, 'invalid', 'ext', 'Valid', 'False', 'InvalidServiceType');
    // The conditions above come from the same status pass that writes imports: none was created.
    expect(await getImport('invalid', 'ghost')).toBeUndefined();
    expect(await getImport('invalid', 'ext')).toBeUndefined();
    // Creating the missing Service later makes the export valid and creates the import.
    await service(a, 'invalid', 'ghost', { ports: [{ name: 'tcp', port: 7000 }] });
    await waitExportCondition(a, 'invalid', 'ghost', 'Valid', 'True', 'Valid');
    await waitImport('invalid', 'ghost', (x) => names(x.spec.ports).join() === 'tcp/TCP/7000', 'created once the Service exists');
  });

  it('an export in a namespace the config cluster does not have: no import, Ready=False/Pending (namespace sameness)', async () => {
    await ns(a, 'only-in-member');
    await exportService(a, 'only-in-member', 'api', { ports: [{ name: 'http', port: 80 }] });
    const c = await waitExportCondition(a, 'only-in-member', 'api', 'Ready', 'False', 'Pending');
    expect(c.message).toContain('only-in-member');
    expect(await getImport('only-in-member', 'api')).toBeUndefined();
    // The namespace appears: the import follows.
    await ns(cfg, 'only-in-member');
    await waitImport('only-in-member', 'api', (x) => x.status?.clusters?.length === 1, 'created once the namespace exists');
    await waitExportCondition(a, 'only-in-member', 'api', 'Ready', 'True', 'Exported');
  });

  it('a ServiceImport fleet-ilb did not create is never modified (same resourceVersion) and is reported on the exports', async () => {
    await Promise.all([ns(cfg, 'foreign'), ns(a, 'foreign'), ns(b, 'foreign')]);
    // What another MCS implementation (e.g. Submariner, Cilium) would have written: no fleet-ilb label.
    const foreign = await cfg.apply<ServiceImportObj>(
      { apiVersion: MCS_V1B1, kind: 'ServiceImport', metadata: { name: 'web', namespace: 'foreign', labels: { 'app.kubernetes.io/managed-by': 'other-mcs' } }, spec: { type: 'ClusterSetIP', ports: [{ name: 'http', protocol: 'TCP', port: 80 }], ips: ['10.96.100.1'] } },
      'other-mcs-controller',
    );
    await Promise.all([
      exportService(a, 'foreign', 'web', { ports: [{ name: 'http', port: 8080 }] }),
      exportService(b, 'foreign', 'web', { ports: [{ name: 'http', port: 8080 }, { name: 'admin', port: 9000 }] }),
    ]);
    for (const k of [a, b]) {
      const ready = await waitExportCondition(k, 'foreign', 'web', 'Ready', 'False', 'Pending');
      expect(ready.message, k.name).toMatch(/managed by another MCS implementation/);
      expect(findCondition((await getExport(k, 'foreign', 'web'))?.status?.conditions, 'Valid'), k.name).toMatchObject({ status: 'True' });
    }
    // The export conditions are written in the same status pass, after the imports: had fleet-ilb
    // touched the import, it would have done so by now. A second look after another member event
    // (a new export) covers a later pass too.
    await exportService(a, 'foreign', 'web2', { ports: [{ name: 'http', port: 8080 }] });
    await waitExportCondition(a, 'foreign', 'web2', 'Ready', 'True', 'Exported');
    const after = await getImport('foreign', 'web');
    expect(after?.metadata.resourceVersion).toBe(foreign.metadata.resourceVersion);
    expect(after?.spec).toEqual(foreign.spec);
    expect(after?.metadata.labels?.[MANAGED_BY]).toBeUndefined();
  });

  it('v1alpha1 and v1beta1: an export created through v1alpha1 is seen; the import and the export status read the same in both versions', async () => {
    await Promise.all([ns(cfg, 'alpha'), ns(a, 'alpha')]);
    const ex = await exportService(a, 'alpha', 'api', { ports: [{ name: 'grpc', port: 9000 }] }, MCS_V1A1);
    expect(ex.apiVersion).toBe(MCS_V1A1);
    const beta = await waitImport('alpha', 'api', (x) => x.status?.clusters?.length === 1, 'created from a v1alpha1 export');
    const alpha = await getImport('alpha', 'api', MCS_V1A1);
    expect(alpha?.apiVersion).toBe(MCS_V1A1);
    expect(alpha?.spec).toEqual(beta.spec);
    expect(alpha?.status?.clusters).toEqual([{ cluster: A }]);
    expect(alpha?.metadata.uid).toBe(beta.metadata.uid);
    await waitExportCondition(a, 'alpha', 'api', 'Ready', 'True', 'Exported');
    const exAlpha = await a.get<ServiceExportObj>(MCS_V1A1, 'ServiceExport', 'api', 'alpha');
    expect(findCondition(exAlpha?.status?.conditions, 'Valid')).toMatchObject({ status: 'True', reason: 'Valid' });
    expect(findCondition(exAlpha?.status?.conditions, 'Conflict')).toMatchObject({ status: 'False', reason: 'NoConflicts' });
  });

  it('with the importer switched off (mcsImporter: false) fleet-ilb creates, changes and deletes no ServiceImport and writes no export status', async () => {
    await Promise.all([ns(cfg, 'off'), ns(a, 'off'), ns(cfg, 'off-existing'), ns(a, 'off-existing')]);
    // One import fleet-ilb created while the importer was on.
    await exportService(a, 'off-existing', 'web', { ports: [{ name: 'http', port: 8080 }] });
    const existing = await waitImport('off-existing', 'web', (x) => x.status?.clusters?.length === 1, 'created while the importer is on');

    await s.stopController();
    await s.startController({ mcsImporter: false });
    const exportCount = async (): Promise<number | undefined> => (await cfg.get<FleetMemberObject>(FLEETILB_API, 'FleetMember', A))?.status?.exportCount;
    const before = await waitFor(exportCount, WAIT_MS, 'exportCount of member-a');
    // exportCount is written in the same status pass as the imports (FleetMembers first, then
    // ServiceImports, then export conditions), and a pass runs on every member export event: once
    // it shows a change, the pass that saw it has been through the imports too.
    await exportService(a, 'off', 'web', { ports: [{ name: 'http', port: 8080 }] });
    await waitFor(async () => (await exportCount()) === before + 1, WAIT_MS, 'exportCount +1 (off/web exported)');
    await a.delete(MCS_V1B1, 'ServiceExport', 'web', 'off-existing');
    await waitFor(async () => (await exportCount()) === before, WAIT_MS, 'exportCount -1 (off-existing/web unexported)');
    // ... and once more after an unrelated export, to be past any pass queued before it.
    await exportService(a, 'off', 'unrelated', { ports: [{ name: 'x', port: 1 }] });
    await waitFor(async () => (await exportCount()) === before + 1, WAIT_MS, 'exportCount +1 (off/unrelated exported)');
    expect(await getImport('off', 'web')).toBeUndefined();
    const kept = await getImport('off-existing', 'web');
    expect(kept?.metadata.resourceVersion).toBe(existing.metadata.resourceVersion);
    expect((await getExport(a, 'off', 'web'))?.status?.conditions ?? []).toEqual([]);

    // Switched back on: it catches up (creates the new one, deletes the unexported one).
    await s.stopController();
    await s.startController({});
    await waitImport('off', 'web', (x) => x.status?.clusters?.length === 1, 'created once the importer is back on');
    await waitFor(async () => (await getImport('off-existing', 'web')) === undefined, WAIT_MS, 'off-existing/web deleted once the importer is back on');
  });
});
