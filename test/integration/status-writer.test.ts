// SPDX-License-Identifier: Apache-2.0
//
// The status writer and the Gateway helpers against real kube-apiservers (one config cluster, two
// members): Gateway and route parent status (another controller's entry kept), compare before write
// (a second write of the same StatusSet sends no request with the runtime's caches, and no write
// without them), conflict retry when another writer changes the object between our read and our
// write, GatewayClass / FleetMember / ILBConfig status, the MCS importer (create, update, delete,
// foreign ServiceImports untouched), ServiceExport conditions in the members, the write fence, the
// cleanup finalizer (add / remove with a stale copy) and the GCE resource annotations.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition, Gateway, RouteParentStatus, ServiceExport, ServiceImport, TCPRoute } from '../../controller/api/index.ts';
import { ClusterClient } from '../../controller/clusters/client.ts';
import { isFencedError, isTransientError } from '../../controller/errors/index.ts';
import {
  FINALIZER,
  GCE_ANNOTATIONS,
  addFinalizer,
  removeFinalizer,
  setGceAnnotations,
} from '../../controller/gateway/index.ts';
import type { DesiredGce } from '../../controller/infra/gcp/desired.ts';
import { LABEL_MANAGED_BY, MANAGED_BY_VALUE } from '../../controller/naming/labels.ts';
import { CONTROLLER_NAME } from '../../controller/naming/stamp.ts';
import { closedFence, openFence } from '../../controller/runtime/fence.ts';
import { Reflector, kubeTransport } from '../../controller/runtime/reflector.ts';
import { KubeApi, type KubeRequestEvent } from '../../controller/status/kube.ts';
import type { StoreReader } from '../../controller/status/resources.ts';
import { StatusWriter, type StatusWriterOptions, gatewayStatusPart } from '../../controller/status/writer.ts';
import type { StatusSet } from '../../controller/translate/types.ts';
import { startFleet, type Fleet } from '../harness/fleet.ts';

const T0 = '2026-01-01T00:00:00Z';
const OTHER = 'example.com/other-controller';
const GW = '/apis/gateway.networking.k8s.io/v1';
const MCS = '/apis/multicluster.x-k8s.io/v1beta1';
const FLEET = '/apis/fleetilb.io/v1alpha1';

let fleet: Fleet;
let config: ClusterClient;
let members: Map<string, ClusterClient>;
/** Uncounted, unfenced clients for the test's own setup and read-back. */
let admin: KubeApi;
let adminM: Map<string, KubeApi>;
let nsSeq = 0;
const reflectors: Reflector[] = [];

beforeAll(async () => {
  fleet = await startFleet({ members: 2 });
  config = ClusterClient.fromKubeConfig('config', fleet.config.kubeConfig());
  members = new Map(fleet.members.map((m) => [m.name, ClusterClient.fromKubeConfig(m.name, m.kubeConfig())]));
  admin = new KubeApi(config, { fence: openFence });
  adminM = new Map([...members].map(([k, c]) => [k, new KubeApi(c, { fence: openFence })]));
});

afterAll(async () => {
  for (const r of reflectors) r.stop();
  await fleet?.stop();
});

function cond(type: string, status: 'True' | 'False', reason: string, generation = 1): Condition {
  return { type, status, reason, message: `${type} is ${status}`, observedGeneration: generation, lastTransitionTime: T0 };
}

async function namespace(api: KubeApi = admin, name = `sw-${process.pid}-${++nsSeq}`): Promise<string> {
  await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}

/** A writer plus the list of requests it sent. */
function writer(opts: Partial<StatusWriterOptions> = {}): { w: StatusWriter; reqs: KubeRequestEvent[] } {
  const reqs: KubeRequestEvent[] = [];
  const w = new StatusWriter({
    config,
    member: (c) => members.get(c),
    fence: openFence,
    onRequest: (e) => reqs.push(e),
    ...opts,
  });
  return { w, reqs };
}

async function createGateway(ns: string, name = 'web'): Promise<Gateway> {
  return admin.create<Gateway>(`${GW}/namespaces/${ns}/gateways`, {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name },
    spec: { gatewayClassName: 'fleet-ilb', listeners: [{ name: 'tcp-80', port: 80, protocol: 'TCP' }] },
  });
}

async function createRoute(ns: string, name = 'web', gateway = 'web'): Promise<TCPRoute> {
  return admin.create<TCPRoute>(`${GW}/namespaces/${ns}/tcproutes`, {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'TCPRoute',
    metadata: { name },
    spec: { parentRefs: [{ name: gateway }], rules: [{ backendRefs: [{ name: 'app', port: 80 }] }] },
  });
}

/** Another controller's entry on the route, written the way any controller would. */
async function otherControllerEntry(ns: string, route: string, parent: string): Promise<RouteParentStatus> {
  const entry: RouteParentStatus = {
    parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: ns, name: parent },
    controllerName: OTHER,
    conditions: [{ type: 'Accepted', status: 'False', reason: 'NoMatchingParent', message: 'not mine', observedGeneration: 1, lastTransitionTime: T0 }],
  };
  const cur = (await admin.get<TCPRoute>(`${GW}/namespaces/${ns}/tcproutes/${route}`))!;
  await admin.mergePatch(`${GW}/namespaces/${ns}/tcproutes/${route}/status`, {
    status: { parents: [...(cur.status?.parents ?? []), entry] },
  });
  return entry;
}

function ourEntry(ns: string, gateway: string, accepted = true): RouteParentStatus {
  return {
    // No group/kind: the CRD defaults them, and the writer must still see "unchanged" afterwards.
    parentRef: { namespace: ns, name: gateway },
    controllerName: CONTROLLER_NAME,
    conditions: [
      cond('Accepted', accepted ? 'True' : 'False', accepted ? 'Accepted' : 'NotAllowedByListeners'),
      cond('ResolvedRefs', 'True', 'ResolvedRefs'),
    ],
  };
}

function gatewayStatusSet(ns: string, vip: string, accepted = true): StatusSet {
  return {
    gatewayClasses: [],
    gateways: [
      {
        namespace: ns,
        name: 'web',
        status: {
          // No `type`: the CRD defaults it to IPAddress.
          addresses: [{ value: vip }],
          conditions: [cond('Accepted', 'True', 'Accepted'), cond('Programmed', 'True', 'Programmed')],
          listeners: [
            {
              name: 'tcp-80',
              supportedKinds: [{ kind: 'TCPRoute' }],
              attachedRoutes: 1,
              conditions: [cond('Accepted', 'True', 'Accepted'), cond('Programmed', 'True', 'Programmed')],
            },
          ],
        },
      },
    ],
    routes: [{ kind: 'TCPRoute', namespace: ns, name: 'web', parents: [ourEntry(ns, 'web', accepted)] }],
    fleetMembers: [],
    ilbConfigs: [],
    serviceImports: [],
    serviceExports: [],
  };
}

/** A reflector on one namespaced collection of the config cluster (the runtime's cache). */
async function cache(path: string): Promise<Reflector> {
  const r = new Reflector({ transport: kubeTransport(config.kubeConfig), path, cluster: 'config' });
  reflectors.push(r);
  r.start();
  expect(await r.waitForSync(30_000)).toBe(true);
  return r;
}

/** Wait until the cache holds `name` at resourceVersion `rv`. */
async function caughtUp(r: StoreReader, name: string, ns: string, rv: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const o = r.getByName(name, ns) as { metadata?: { resourceVersion?: string } } | undefined;
    if (o?.metadata?.resourceVersion === rv) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`cache never reached ${ns}/${name}@${rv}`);
}

describe('Gateway and route status', () => {
  it('writes Gateway status and our route parent entry, keeps another controller entry, then resyncs with zero requests', async () => {
    const ns = await namespace();
    await createGateway(ns);
    await createRoute(ns);
    const theirs = await otherControllerEntry(ns, 'web', 'web');
    const set = gatewayStatusSet(ns, '10.10.0.7');
    const { w, reqs } = writer();

    const first = await w.write(gatewayStatusPart(set, ns, 'web'));
    expect(first.errors).toEqual([]);
    expect(first.written).toEqual([`Gateway ${ns}/web`, `TCPRoute ${ns}/web`]);
    expect(reqs.filter((r) => r.write).length).toBe(2);

    const gw = (await admin.get<Gateway>(`${GW}/namespaces/${ns}/gateways/web`))!;
    expect(gw.status?.addresses).toEqual([{ type: 'IPAddress', value: '10.10.0.7' }]);
    expect(gw.status?.conditions?.map((c) => [c.type, c.status, c.observedGeneration])).toEqual([
      ['Accepted', 'True', 1],
      ['Programmed', 'True', 1],
    ]);
    expect(gw.status?.listeners?.[0]?.attachedRoutes).toBe(1);
    const route = (await admin.get<TCPRoute>(`${GW}/namespaces/${ns}/tcproutes/web`))!;
    expect(route.status?.parents).toHaveLength(2);
    expect(route.status?.parents[0]).toEqual(theirs);
    expect(route.status?.parents[1]?.controllerName).toBe(CONTROLLER_NAME);
    expect(route.status?.parents[1]?.parentRef).toEqual({ group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: ns, name: 'web' });
    expect(route.status?.parents[1]?.conditions.map((c) => c.type)).toEqual(['Accepted', 'ResolvedRefs']);

    // Resync without caches: reads only.
    reqs.length = 0;
    const again = await w.write(gatewayStatusPart(set, ns, 'web'));
    expect(again.errors).toEqual([]);
    expect(again.written).toEqual([]);
    expect(reqs.filter((r) => r.write)).toEqual([]);
    expect(reqs.map((r) => r.method)).toEqual(['GET', 'GET']);

    // Resync with the runtime's caches: no request at all.
    const gws = await cache(`${GW}/namespaces/${ns}/gateways`);
    const routes = await cache(`${GW}/namespaces/${ns}/tcproutes`);
    await caughtUp(gws, 'web', ns, gw.metadata.resourceVersion!);
    await caughtUp(routes, 'web', ns, route.metadata.resourceVersion!);
    const cached = writer({ configStore: (res) => (res === 'gateways' ? gws : res === 'tcpRoutes' ? routes : undefined) });
    const third = await cached.w.write(gatewayStatusPart(set, ns, 'web'));
    expect(third.errors).toEqual([]);
    expect(cached.reqs).toEqual([]);
    expect((await admin.get<Gateway>(`${GW}/namespaces/${ns}/gateways/web`))!.metadata.resourceVersion).toBe(gw.metadata.resourceVersion);
  });

  it('replaces only our entry when our status changes, and removes it when the parent no longer applies', async () => {
    const ns = await namespace();
    await createGateway(ns);
    await createRoute(ns);
    const { w } = writer();
    await w.write(gatewayStatusSet(ns, '10.10.0.8'));
    const theirs = await otherControllerEntry(ns, 'web', 'web');

    const changed = await w.write(gatewayStatusSet(ns, '10.10.0.8', false));
    expect(changed.written).toEqual([`TCPRoute ${ns}/web`]);
    let parents = (await admin.get<TCPRoute>(`${GW}/namespaces/${ns}/tcproutes/web`))!.status!.parents;
    // Ours stays in place (first, as written before theirs), updated; theirs is untouched.
    expect(parents.map((p) => p.controllerName)).toEqual([CONTROLLER_NAME, OTHER]);
    expect(parents[0]?.conditions[0]).toMatchObject({ type: 'Accepted', status: 'False', reason: 'NotAllowedByListeners' });
    expect(parents[1]).toEqual(theirs);

    const none = await w.write({ routes: [{ kind: 'TCPRoute', namespace: ns, name: 'web', parents: [] }] });
    expect(none.written).toEqual([`TCPRoute ${ns}/web`]);
    parents = (await admin.get<TCPRoute>(`${GW}/namespaces/${ns}/tcproutes/web`))!.status!.parents;
    expect(parents).toEqual([theirs]);
  });

  it('retries on conflict: another controller adds its entry between our read and our write, and it survives', async () => {
    const ns = await namespace();
    await createGateway(ns);
    await createRoute(ns);
    // Our read: the cached copy, taken before the other controller writes.
    const stale = (await admin.get<TCPRoute>(`${GW}/namespaces/${ns}/tcproutes/web`))!;
    const theirs = await otherControllerEntry(ns, 'web', 'web');
    const staleStore: StoreReader = { getByName: () => stale, list: () => [stale] };
    const { w, reqs } = writer({ configStore: (res) => (res === 'tcpRoutes' ? staleStore : undefined) });

    const r = await w.write({ routes: gatewayStatusSet(ns, '10.10.0.9').routes });
    expect(r.errors).toEqual([]);
    expect(r.conflicts).toBe(1);
    expect(r.written).toEqual([`TCPRoute ${ns}/web`]);
    // PATCH (409) → GET (fresh) → PATCH.
    expect(reqs.map((x) => `${x.method} ${x.status}`)).toEqual(['PATCH 409', 'GET 200', 'PATCH 200']);
    const parents = (await admin.get<TCPRoute>(`${GW}/namespaces/${ns}/tcproutes/web`))!.status!.parents;
    expect(parents.map((p) => p.controllerName)).toEqual([OTHER, CONTROLLER_NAME]);
    expect(parents[0]).toEqual(theirs);
  });

  it('gives up after the bounded number of attempts with a transient error, and still writes the rest', async () => {
    const ns = await namespace();
    await createGateway(ns);
    await createRoute(ns);
    const stale = (await admin.get<TCPRoute>(`${GW}/namespaces/${ns}/tcproutes/web`))!;
    await otherControllerEntry(ns, 'web', 'web');
    const staleStore: StoreReader = { getByName: () => stale, list: () => [stale] };
    const { w } = writer({ maxAttempts: 1, configStore: (res) => (res === 'tcpRoutes' ? staleStore : undefined) });
    const r = await w.write(gatewayStatusSet(ns, '10.10.0.10'));
    expect(r.written).toEqual([`Gateway ${ns}/web`]);
    expect(r.errors.map((e) => e.target)).toEqual([`TCPRoute ${ns}/web`]);
    expect(isTransientError(r.errors[0]?.error)).toBe(true);
  });

  it('a closed fence stops the writer before its first write', async () => {
    const ns = await namespace();
    await createGateway(ns);
    const { w, reqs } = writer({ fence: closedFence });
    await expect(w.write(gatewayStatusSet(ns, '10.10.0.11'))).rejects.toSatisfy(isFencedError);
    expect(reqs.filter((r) => r.write)).toEqual([]);
    const gw = (await admin.get<Gateway>(`${GW}/namespaces/${ns}/gateways/web`))!;
    expect(gw.status?.conditions?.[0]?.reason).toBe('Pending'); // the CRD's default, untouched
  });

  it('a missing target is reported, not an error', async () => {
    const ns = await namespace();
    const { w } = writer();
    const r = await w.write(gatewayStatusSet(ns, '10.10.0.12'));
    expect(r.errors).toEqual([]);
    expect(r.notFound).toEqual([`Gateway ${ns}/web`, `TCPRoute ${ns}/web`]);
  });
});

describe('GatewayClass, FleetMember and ILBConfig status', () => {
  it('writes each once, then nothing', async () => {
    const ns = await namespace();
    const gcName = `fleet-ilb-${ns}`;
    await admin.create(`${GW}/gatewayclasses`, {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GatewayClass',
      metadata: { name: gcName },
      spec: { controllerName: CONTROLLER_NAME },
    });
    await admin.create(`${FLEET}/fleetmembers`, {
      apiVersion: 'fleetilb.io/v1alpha1',
      kind: 'FleetMember',
      metadata: { name: ns },
      spec: { clusterID: ns, kubeconfigSecretRef: { name: ns } },
    });
    await admin.create(`${FLEET}/namespaces/${ns}/ilbconfigs`, {
      apiVersion: 'fleetilb.io/v1alpha1',
      kind: 'ILBConfig',
      metadata: { name: 'default' },
      spec: { project: 'net-project', region: 'europe-west1', network: 'vpc', subnetwork: 'sub' },
    });
    const set: Partial<StatusSet> = {
      gatewayClasses: [
        {
          name: gcName,
          status: { conditions: [cond('Accepted', 'True', 'Accepted'), cond('SupportedVersion', 'True', 'SupportedVersion')], supportedFeatures: [{ name: 'Gateway' }, { name: 'TCPRoute' }] },
        },
      ],
      fleetMembers: [
        {
          name: ns,
          status: { conditions: [cond('Ready', 'False', 'SecretNotFound')], nodeCount: 0, zones: [], exportCount: 0, observedGeneration: 1 },
        },
      ],
      ilbConfigs: [{ namespace: ns, name: 'default', status: { conditions: [cond('Accepted', 'True', 'Accepted')], observedGeneration: 1 } }],
    };
    const { w, reqs } = writer();
    const first = await w.write(set);
    expect(first.errors).toEqual([]);
    expect(first.written).toEqual([`GatewayClass ${gcName}`, `FleetMember ${ns}`, `ILBConfig ${ns}/default`]);
    const gc = (await admin.get<{ status: { supportedFeatures: unknown[]; conditions: Condition[] } }>(`${GW}/gatewayclasses/${gcName}`))!;
    expect(gc.status.supportedFeatures).toEqual([{ name: 'Gateway' }, { name: 'TCPRoute' }]);
    expect(gc.status.conditions.map((c) => `${c.type}=${c.status}`)).toEqual(['Accepted=True', 'SupportedVersion=True']);
    const fm = (await admin.get<{ status: { conditions: Condition[]; nodeCount: number } }>(`${FLEET}/fleetmembers/${ns}`))!;
    expect(fm.status.conditions[0]).toMatchObject({ type: 'Ready', status: 'False', reason: 'SecretNotFound' });
    const ic = (await admin.get<{ status: { conditions: Condition[]; observedGeneration: number } }>(`${FLEET}/namespaces/${ns}/ilbconfigs/default`))!;
    expect(ic.status.observedGeneration).toBe(1);

    reqs.length = 0;
    const again = await w.write(set);
    expect(again.written).toEqual([]);
    expect(reqs.filter((r) => r.write)).toEqual([]);
  });
});

describe('MCS importer', () => {
  const port = (p: number, name = `p${p}`) => ({ name, protocol: 'TCP' as const, port: p });

  it('creates, updates and deletes its ServiceImports and never touches a foreign one', async () => {
    const ns = await namespace();
    // A foreign import with a name fleet-ilb wants, and a foreign one nobody wants.
    for (const name of ['db', 'legacy']) {
      await admin.create(`${MCS}/namespaces/${ns}/serviceimports`, {
        apiVersion: 'multicluster.x-k8s.io/v1beta1',
        kind: 'ServiceImport',
        metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'gke-mcs-importer' } },
        spec: { type: 'ClusterSetIP', ports: [port(5432)], ips: ['10.200.0.1'] },
      });
    }
    // A stale one of ours (labelled) that is no longer desired.
    await admin.create(`${MCS}/namespaces/${ns}/serviceimports`, {
      apiVersion: 'multicluster.x-k8s.io/v1beta1',
      kind: 'ServiceImport',
      metadata: { name: 'gone', labels: { [LABEL_MANAGED_BY]: MANAGED_BY_VALUE } },
      spec: { type: 'ClusterSetIP', ports: [port(80)] },
    });
    const foreignBefore = (await admin.get<ServiceImport>(`${MCS}/namespaces/${ns}/serviceimports/db`))!;
    const desired = (ports: ReturnType<typeof port>[], clusters: string[]): StatusSet['serviceImports'] => [
      {
        namespace: ns,
        name: 'app',
        labels: { [LABEL_MANAGED_BY]: MANAGED_BY_VALUE },
        spec: { ports, type: 'ClusterSetIP', sessionAffinity: 'None' },
        status: { clusters: clusters.map((cluster) => ({ cluster })), conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'imported', lastTransitionTime: T0 }] },
      },
      {
        namespace: ns,
        name: 'db',
        labels: { [LABEL_MANAGED_BY]: MANAGED_BY_VALUE },
        spec: { ports: [port(5432)], type: 'ClusterSetIP', sessionAffinity: 'None' },
        status: { clusters: [{ cluster: 'member-a' }], conditions: [] },
      },
    ];
    const { w, reqs } = writer();
    const first = await w.write({ serviceImports: desired([port(8080)], ['member-a']) });
    expect(first.errors).toEqual([]);
    expect(first.written).toEqual([`ServiceImport ${ns}/app (created)`, `ServiceImport ${ns}/app`]);
    expect(first.foreignServiceImports).toEqual([`${ns}/db`]);
    // Prune lists across all namespaces: other tests' imports are not ours to judge here.
    expect(first.deleted).toContain(`${ns}/gone`);
    expect(await admin.get(`${MCS}/namespaces/${ns}/serviceimports/gone`)).toBeUndefined();
    const foreignAfter = (await admin.get<ServiceImport>(`${MCS}/namespaces/${ns}/serviceimports/db`))!;
    expect(foreignAfter.metadata.resourceVersion).toBe(foreignBefore.metadata.resourceVersion);
    expect(await admin.get(`${MCS}/namespaces/${ns}/serviceimports/legacy`)).toBeDefined();
    let app = (await admin.get<ServiceImport>(`${MCS}/namespaces/${ns}/serviceimports/app`))!;
    expect(app.metadata.labels?.[LABEL_MANAGED_BY]).toBe(MANAGED_BY_VALUE);
    expect(app.spec.ports).toEqual([port(8080)]);
    expect(app.status?.clusters).toEqual([{ cluster: 'member-a' }]);
    expect(app.status?.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True' });

    // Update: ports union grew, a second cluster exports. Spec and status are patched.
    const second = await w.write({ serviceImports: desired([port(8080), port(9090)], ['member-a', 'member-b']) });
    expect(second.errors).toEqual([]);
    expect(second.written).toEqual([`ServiceImport ${ns}/app (spec)`, `ServiceImport ${ns}/app`]);
    app = (await admin.get<ServiceImport>(`${MCS}/namespaces/${ns}/serviceimports/app`))!;
    expect(app.spec.ports.map((p) => p.port)).toEqual([8080, 9090]);
    expect(app.status?.clusters?.map((c) => c.cluster)).toEqual(['member-a', 'member-b']);

    reqs.length = 0;
    const third = await w.write({ serviceImports: desired([port(8080), port(9090)], ['member-a', 'member-b']) });
    expect(third.written).toEqual([]);
    expect(reqs.filter((r) => r.write)).toEqual([]);

    // Nothing desired in this namespace any more: ours goes, the foreign ones stay.
    const last = await w.write({ serviceImports: [] });
    expect(last.deleted).toContain(`${ns}/app`);
    expect(await admin.get(`${MCS}/namespaces/${ns}/serviceimports/app`)).toBeUndefined();
    expect(await admin.get(`${MCS}/namespaces/${ns}/serviceimports/db`)).toBeDefined();
    expect(await admin.get(`${MCS}/namespaces/${ns}/serviceimports/legacy`)).toBeDefined();
  });

  it('writes ServiceExport conditions in each member, then nothing; a member without a client is skipped', async () => {
    const ns = `sx-${process.pid}-${++nsSeq}`;
    for (const m of ['member-a', 'member-b']) {
      const api = adminM.get(m)!;
      await namespace(api, ns);
      await api.create(`/api/v1/namespaces/${ns}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'app' },
        spec: { selector: { app: 'app' }, ports: [{ port: 8080 }] },
      });
      await api.create(`${MCS}/namespaces/${ns}/serviceexports`, {
        apiVersion: 'multicluster.x-k8s.io/v1beta1',
        kind: 'ServiceExport',
        metadata: { name: 'app' },
      });
    }
    const conds = [cond('Valid', 'True', 'Valid'), cond('Ready', 'True', 'Exported'), cond('Conflict', 'False', 'NoConflicts')];
    const exports: StatusSet['serviceExports'] = ['member-a', 'member-b'].map((cluster) => ({ cluster, namespace: ns, name: 'app', generation: 1, conditions: conds }));
    const { w, reqs } = writer();
    const first = await w.write({ serviceExports: exports });
    expect(first.errors).toEqual([]);
    expect(first.written).toEqual([`ServiceExport ${ns}/app in member-a`, `ServiceExport ${ns}/app in member-b`]);
    for (const m of ['member-a', 'member-b']) {
      const ex = (await adminM.get(m)!.get<ServiceExport>(`${MCS}/namespaces/${ns}/serviceexports/app`))!;
      expect(ex.status?.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual(['Valid=True/Valid', 'Ready=True/Exported', 'Conflict=False/NoConflicts']);
    }
    expect(new Set(reqs.filter((r) => r.write).map((r) => r.cluster))).toEqual(new Set(['member-a', 'member-b']));

    reqs.length = 0;
    const again = await w.write({ serviceExports: exports });
    expect(again.written).toEqual([]);
    expect(reqs.filter((r) => r.write)).toEqual([]);

    const onlyA = writer({ member: (c) => (c === 'member-a' ? members.get(c) : undefined) });
    const changed = exports.map((e) => ({ ...e, conditions: [cond('Valid', 'True', 'Valid'), cond('Ready', 'False', 'Pending'), cond('Conflict', 'False', 'NoConflicts')] }));
    const partial = await onlyA.w.write({ serviceExports: changed });
    expect(partial.written).toEqual([`ServiceExport ${ns}/app in member-a`]);
    expect(partial.skippedMembers).toEqual(['member-b']);
    expect(onlyA.reqs.every((r) => r.cluster === 'member-a')).toBe(true);
  });
});

describe('Gateway helpers', () => {
  const helper = (reqs: KubeRequestEvent[] = []) => ({ client: config, fence: openFence, onRequest: (e: KubeRequestEvent) => reqs.push(e) });
  const path = (ns: string) => `${GW}/namespaces/${ns}/gateways/web`;

  it('adds the cleanup finalizer once, next to another controller finalizer added behind our back', async () => {
    const ns = await namespace();
    const stale = await createGateway(ns); // our cached copy: no finalizers
    await admin.jsonPatch(path(ns), [{ op: 'add', path: '/metadata/finalizers', value: ['example.com/other'] }]);
    const reqs: KubeRequestEvent[] = [];
    expect(await addFinalizer(stale, helper(reqs))).toBe(true);
    // The test on the stale resourceVersion failed (422), the helper re-read and appended.
    expect(reqs.map((r) => `${r.method} ${r.status}`)).toEqual(['PATCH 422', 'GET 200', 'PATCH 200']);
    const gw = (await admin.get<Gateway>(path(ns)))!;
    expect(gw.metadata.finalizers).toEqual(['example.com/other', FINALIZER]);

    reqs.length = 0;
    expect(await addFinalizer(gw, helper(reqs))).toBe(false);
    expect(reqs).toEqual([]);
  });

  it('removes only its finalizer, also when the array shifted since it was read', async () => {
    const ns = await namespace();
    await createGateway(ns);
    await admin.jsonPatch(path(ns), [{ op: 'add', path: '/metadata/finalizers', value: [FINALIZER, 'example.com/b'] }]);
    const stale = (await admin.get<Gateway>(path(ns)))!; // ours at index 0
    // Another writer replaces the list, putting its own entry first (ours moves to index 1).
    await admin.jsonPatch(path(ns), [{ op: 'add', path: '/metadata/finalizers/0', value: 'example.com/a' }]);
    const reqs: KubeRequestEvent[] = [];
    expect(await removeFinalizer(stale, helper(reqs))).toBe(true);
    expect(reqs.map((r) => `${r.method} ${r.status}`)).toEqual(['PATCH 422', 'GET 200', 'PATCH 200']);
    const gw = (await admin.get<Gateway>(path(ns)))!;
    expect(gw.metadata.finalizers).toEqual(['example.com/a', 'example.com/b']);
    reqs.length = 0;
    expect(await removeFinalizer(gw, helper(reqs))).toBe(false);
    expect(reqs).toEqual([]);
  });

  it('dropping the finalizer of a deleted Gateway lets it go', async () => {
    const ns = await namespace();
    const gw0 = await createGateway(ns);
    expect(await addFinalizer(gw0, helper())).toBe(true);
    await admin.delete(path(ns));
    const deleting = (await admin.get<Gateway>(path(ns)))!;
    expect(deleting.metadata.deletionTimestamp).toBeDefined();
    expect(await addFinalizer(deleting, helper())).toBe(false); // no new finalizer on a deleting object
    expect(await removeFinalizer(deleting, helper())).toBe(true);
    expect(await admin.get(path(ns))).toBeUndefined();
  });

  it('writes the GCE resource annotations only when they differ, and only its own keys', async () => {
    const ns = await namespace();
    await createGateway(ns);
    await admin.mergePatch(path(ns), { metadata: { annotations: { 'example.com/keep': 'me' } } });
    const named = (name: string) => ({ name, description: '' });
    const desired: DesiredGce = {
      project: 'p',
      region: 'europe-west1',
      gateway: { namespace: ns, name: 'web', uid: 'u' },
      address: named('fl-addr'),
      healthChecks: [named('fl-hc-tcp-80')],
      negs: ['europe-west1-b', 'europe-west1-c'].flatMap((zone) =>
        ['member-a', 'member-b'].map((cluster) => ({ zone, cluster, neg: named(`fl-neg-${cluster}`), endpoints: [], frozen: false })),
      ),
      backendServices: [named('fl-bs-tcp-80')],
      forwardingRules: [named('fl-fr-tcp-80-0'), named('fl-fr-tcp-81-0')],
      firewalls: [named('fl-fw-hc'), named('fl-fw-clients')],
    };
    const reqs: KubeRequestEvent[] = [];
    let gw = (await admin.get<Gateway>(path(ns)))!;
    expect(await setGceAnnotations(gw, desired, helper(reqs))).toBe(true);
    gw = (await admin.get<Gateway>(path(ns)))!;
    expect(gw.metadata.annotations).toEqual({
      'example.com/keep': 'me',
      [GCE_ANNOTATIONS.address]: 'fl-addr',
      [GCE_ANNOTATIONS.forwardingRules]: 'fl-fr-tcp-80-0,fl-fr-tcp-81-0',
      [GCE_ANNOTATIONS.backendServices]: 'fl-bs-tcp-80',
      [GCE_ANNOTATIONS.healthChecks]: 'fl-hc-tcp-80',
      [GCE_ANNOTATIONS.negs]: 'fl-neg-member-a,fl-neg-member-b',
      [GCE_ANNOTATIONS.firewalls]: 'fl-fw-clients,fl-fw-hc',
      // Where they live, so teardown finds them after the ILBConfig changed or is gone.
      [GCE_ANNOTATIONS.project]: 'p',
      [GCE_ANNOTATIONS.region]: 'europe-west1',
    });
    reqs.length = 0;
    expect(await setGceAnnotations(gw, desired, helper(reqs))).toBe(false);
    expect(reqs).toEqual([]);

    // The user's own address (not ours) and no firewalls: those keys go, the rest stays.
    expect(await setGceAnnotations(gw, { ...desired, addressOwned: false, firewalls: [] }, helper())).toBe(true);
    gw = (await admin.get<Gateway>(path(ns)))!;
    expect(gw.metadata.annotations?.[GCE_ANNOTATIONS.address]).toBeUndefined();
    expect(gw.metadata.annotations?.[GCE_ANNOTATIONS.firewalls]).toBeUndefined();
    expect(gw.metadata.annotations?.[GCE_ANNOTATIONS.backendServices]).toBe('fl-bs-tcp-80');
    expect(gw.metadata.annotations?.['example.com/keep']).toBe('me');
  });
});
